/**
 * `deno task bench`: runs every benchmark in bench/ (each prints its own
 * ratios against a baseline measured in the same run), under Deno and, where
 * a benchmark supports it, Bun, and writes bench/report.md with the machine
 * and runtime versions.
 *
 * Usage: deno run -A bench/run.ts [--quick] [name …]
 *
 * Decision: the crossover sweep (`codecs`) always runs with `--quick` here
 * (its full sweep takes many minutes on 2 cores; run it alone for that), and
 * every benchmark is stopped after {@linkcode SCRIPT_LIMIT_S}, which the
 * report then says.
 */
import { spawnSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const bin = join(root, "node_modules", ".bin");
const args = Deno.args;
const quick = args.includes("--quick");
const only = args.filter((a) => !a.startsWith("--"));

/** Benchmarks that also run under Bun. */
const BUN_TOO = new Set([
  "memory_listing",
  "ffi",
  "disk_bytes",
  "tiff",
  "http_batch",
  "atomic_json",
]);

/** Benchmarks that always run with --quick from here (see the module notes). */
const QUICK_ALWAYS = new Set(["codecs"]);
/** Longest one benchmark may run (seconds). */
const SCRIPT_LIMIT_S = 900;

const scripts = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.startsWith("_"))
  .map((f) => f.replace(/\.ts$/, ""))
  .filter((n) => only.length === 0 || only.includes(n))
  .sort();

function version(cmd: string, flag = "--version"): string {
  const r = spawnSync(join(bin, cmd), [flag], { encoding: "utf8" });
  return (r.stdout || r.stderr || "").split("\n")[0]!.trim();
}

const sections: string[] = [];
const outputs = new Map<string, string>();
for (const name of scripts) {
  const runners: [string, string[]][] = [[join(bin, "deno"), [
    "run",
    "-A",
    join(here, `${name}.ts`),
  ]]];
  if (BUN_TOO.has(name)) runners.push([join(bin, "bun"), [join(here, `${name}.ts`)]]);
  for (const [cmd, cmdArgs] of runners) {
    const rt = cmd.endsWith("bun") ? "bun" : "deno";
    console.log(`\n### ${name} (${rt})`);
    const r = spawnSync(
      cmd,
      [...cmdArgs, ...(quick || QUICK_ALWAYS.has(name) ? ["--quick"] : [])],
      {
        cwd: root,
        encoding: "utf8",
        timeout: SCRIPT_LIMIT_S * 1000,
        stdio: ["ignore", "pipe", "inherit"],
        env: { ...Deno.env.toObject(), NO_COLOR: "1" },
      },
    );
    const out = (r.stdout ?? "").trimEnd();
    outputs.set(`${name}:${rt}`, out);
    console.log(out);
    sections.push(
      `## ${name} (${rt})\n\n\`\`\`\n${out}\n\`\`\`\n${
        r.status === 0
          ? ""
          : r.signal
          ? `\nstopped after ${SCRIPT_LIMIT_S} s (${r.signal})\n`
          : `\nexit status ${r.status}\n`
      }`,
    );
  }
}

/** One headline figure: a ratio against a baseline from the same run. */
interface Headline {
  label: string;
  value: number;
  /** What the ratio is against, and which direction is better. */
  baseline: string;
  lowerIsBetter: boolean;
  target?: string;
}

const num = (m: RegExpMatchArray | null, i = 1): number | undefined => m ? Number(m[i]) : undefined;

/** Pulls the headline ratios out of each benchmark's printed table. */
function headlines(): Headline[] {
  const out: Headline[] = [];
  const add = (h: Omit<Headline, "value">, value: number | undefined) => {
    if (value !== undefined && Number.isFinite(value)) out.push({ ...h, value });
  };
  for (const rt of ["deno", "bun"]) {
    const ffi = outputs.get(`ffi:${rt}`);
    if (ffi) {
      // bench/ffi.ts columns: wall ms, p99 ms, ×C, p99 ×C, ×C-fresh, cpu ms, cpu ×C.
      const [a = "", b = ""] = ffi.split(/\nB: /);
      const col = (text: string, row: string, i: number) =>
        num(text.match(new RegExp(`^${row}\\s+${"[\\d.]+\\s+".repeat(i)}([\\d.]+)`, "m")));
      const xc = (text: string, row: string) => col(text, row, 2);
      const p99 = (text: string, row: string) => col(text, row, 3);
      const fresh = (text: string, row: string) => col(text, row, 4);
      const cf = "C pread loop into a fresh arena, the like-for-like (lower is better)";
      add(
        { label: `${rt} A FFI loadBatch vs C fresh`, baseline: cf, lowerIsBetter: true },
        fresh(a, "FFI loadBatch"),
      );
      add(
        { label: `${rt} B FFI loadBatch vs C fresh`, baseline: cf, lowerIsBetter: true },
        fresh(b, "FFI loadBatch"),
      );
      const c = "C pread loop, reused buffer (lower is better)";
      const cp = "C pread loop, reused buffer, p99 to p99 (lower is better)";
      for (const [set, text, what] of [["A", a, "2000×64KiB"], ["B", b, "64×8MiB"]] as const) {
        add({
          label: `${rt} ${set} ${what} FFI loadBatch`,
          baseline: c,
          lowerIsBetter: true,
          target: "≤ 1.5",
        }, xc(text, "FFI loadBatch"));
        for (
          const [row, name] of [
            ["FFI loadBatch \\(huge pages\\)", "FFI loadBatch (huge pages)"],
            ["FFI loadBatch \\(huge pages off\\)", "FFI loadBatch (huge pages off)"],
            ["C pread, fresh hugepage arena", "C fresh hugepage arena (the limit)"],
          ] as const
        ) {
          add({ label: `${rt} ${set} ${name}`, baseline: c, lowerIsBetter: true }, xc(text, row));
          add(
            { label: `${rt} ${set} ${name} p99`, baseline: cp, lowerIsBetter: true },
            p99(text, row),
          );
        }
      }
      add(
        { label: `${rt} A FFI leaseFiles (touching)`, baseline: c, lowerIsBetter: true },
        xc(a, "FFI leaseFiles \\(recycled arena\\), touch each page"),
      );
      add(
        { label: `${rt} A pure loadBatch`, baseline: c, lowerIsBetter: true, target: "≤ 2" },
        xc(a, "pure loadBatch"),
      );
      // Zero-copy against the C loop doing the same work (mmap, touch each page).
      const wall = (row: string) => num(b.match(new RegExp(`^${row}\\s+([\\d.]+)`, "m")));
      const zc = wall("FFI zero-copy \\(mmap\\), touch each page");
      const cm = wall("C mmap, touch each page");
      add({
        label: `${rt} B FFI zero-copy (mmap, touching)`,
        baseline: "C mmap loop touching each page (lower is better)",
        lowerIsBetter: true,
      }, zc !== undefined && cm !== undefined ? zc / cm : undefined);
    }
    const listing = outputs.get(`memory_listing:${rt}`);
    const m = listing?.match(/listFiles ([\d.]+), listDir ([\d.]+)/);
    add({
      label: `${rt} memory listFiles, 10^6 vs 10^3 entries`,
      baseline: "same listing in a 10^3-entry store",
      lowerIsBetter: true,
      target: "≤ 1.5",
    }, num(m ?? null, 1));
    const tiff = outputs.get(`tiff:${rt}`);
    if (tiff) {
      const row = tiff.match(
        /DiskBackend\.loadBatch decoded \[ffi[^\]]*\]\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]+)×\s+([\d.]+)×/,
      );
      add({
        label: `${rt} TIFF batch vs tifffile (per file)`,
        baseline: "tifffile.imread per file (higher is better)",
        lowerIsBetter: false,
      }, num(row, 1));
      add({
        label: `${rt} TIFF batch vs tifffile (all kept)`,
        baseline: "tifffile.imread, arrays kept like a batch (higher is better)",
        lowerIsBetter: false,
      }, num(row, 2));
    }
    // zlib TIFF batch (set B) through the codec worker pool (issue 15, item 2).
    const zlibSet = tiff?.split(/\n## B\. /)[1];
    if (zlibSet) {
      const ratio = (re: RegExp) => num(zlibSet.match(re), 1);
      const on = ratio(
        /DiskBackend\.loadBatch decoded \[(?:ffi|pure)[^\]]*\]\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]+)×/,
      );
      const off = ratio(
        /DiskBackend\.loadBatch decoded \[pure\], pool off\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]+)×/,
      );
      add({
        label: `${rt} zlib TIFF batch vs tifffile (worker pool)`,
        baseline: "tifffile.imread per file (higher is better)",
        lowerIsBetter: false,
        target: "≥ 3",
      }, on);
      // The floor of tifffile's own inflater on this machine (bench/inflate_limit.c).
      for (const pages of ["4 KiB pages", "huge pages"]) {
        add(
          {
            label: `${rt} C libz floor, 2 threads, ${pages}`,
            baseline: "tifffile.imread per file (higher is better)",
            lowerIsBetter: false,
          },
          ratio(
            new RegExp(`C libz .*2 thr, ${pages}\\s+[\\d.]+\\s+[\\d.]+\\s+[\\d.]+\\s+([\\d.]+)×`),
          ),
        );
      }
      add({
        label: `${rt} zlib TIFF batch, pool on vs off`,
        baseline: "the same loadBatch with every decode on the calling thread (higher is better)",
        lowerIsBetter: false,
      }, on !== undefined && off !== undefined ? on / off : undefined);
    }
    const bytes = outputs.get(`disk_bytes:${rt}`);
    add({
      label: `${rt} disk loadBatch bytes vs readFile+Promise.all`,
      baseline: "runtime readFile + Promise.all",
      lowerIsBetter: true,
    }, num(bytes?.match(/registry disk .*ratio ([\d.]+)/) ?? null));
  }
  const zarr = outputs.get("zarr:deno");
  const z = zarr?.match(/ours\/python \(v3\): write ([\d.]+), read ([\d.]+)/);
  add({
    label: "deno Zarr plate write vs Python zarr",
    baseline: "Python zarr 2.13 (lower is better)",
    lowerIsBetter: true,
    target: "≤ 0.5",
  }, num(z ?? null, 1));
  add({
    label: "deno Zarr plate read vs Python zarr",
    baseline: "Python zarr 2.13 (lower is better)",
    lowerIsBetter: true,
    target: "≤ 0.5",
  }, num(z ?? null, 2));
  const zt = zarr?.match(/ours\/python \(v3, transferPlanes\): write ([\d.]+)/);
  add({
    label: "deno Zarr plate write (transferPlanes) vs Python zarr",
    baseline: "Python zarr 2.13 (lower is better)",
    lowerIsBetter: true,
    target: "≤ 0.5",
  }, num(zt ?? null, 1));
  // convert (bench/convert.ts): speed-up over the tifffile + zarr 2.13 script, and cores busy.
  const conv = outputs.get("convert:deno");
  const cv = conv?.match(/speed-up vs python \(0\.5\): ([\d.]+)x.*cores busy \(0\.5\): ([\d.]+)/);
  add({
    label: "deno convert plate vs Python tifffile+zarr",
    baseline: "bench/convert_python.py, same conversion (higher is better)",
    lowerIsBetter: false,
    target: "≥ 2",
  }, num(cv ?? null, 1));
  add({
    label: "deno convert cores busy",
    baseline: "CPU time / wall of the convert child (higher is better)",
    lowerIsBetter: false,
    target: "≥ 1.7",
  }, num(cv ?? null, 2));
  return out;
}

/** A horizontal bar chart of the headline ratios, with the 1.0 line marked. */
function chart(rows: Headline[]): string {
  const w = 900, barH = 18, gap = 6, left = 330, top = 40;
  const max = Math.max(2, ...rows.map((r) => r.value)) * 1.1;
  const x = (v: number) => left + (v / max) * (w - left - 70);
  const h = top + rows.length * (barH + gap) + 30;
  const esc = (t: string) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const bars = rows.map((r, i) => {
    const y = top + i * (barH + gap);
    // With a target ("≤ 1.5"), green means the target is met; otherwise
    // green means at least as good as the baseline.
    const limit = r.target ? Number(r.target.replace(/[^\d.]/g, "")) : 1;
    const good = r.lowerIsBetter ? r.value <= limit : r.value >= limit;
    return `<text x="${left - 8}" y="${y + 13}" text-anchor="end" font-size="12">${
      esc(r.label)
    }</text>` +
      `<rect x="${left}" y="${y}" width="${
        (x(r.value) - left).toFixed(1)
      }" height="${barH}" fill="${good ? "#2a9d8f" : "#e76f51"}"/>` +
      `<text x="${(x(r.value) + 4).toFixed(1)}" y="${y + 13}" font-size="12">${
        r.value.toFixed(2)
      }×</text>`;
  }).join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="22" font-size="15" font-weight="bold">hcs-store: ratios against a baseline in the same run (green: target met, or at least as good as the baseline)</text>
${bars}
<line x1="${x(1).toFixed(1)}" y1="${top - 6}" x2="${x(1).toFixed(1)}" y2="${
    h - 24
  }" stroke="#333" stroke-dasharray="4 3"/>
<text x="${x(1).toFixed(1)}" y="${h - 8}" font-size="11" text-anchor="middle">1.0 = baseline</text>
</svg>
`;
}

const heads = headlines();
const headTable = heads.length === 0 ? "" : [
  "## Headline ratios",
  "",
  "![chart](report.svg)",
  "",
  "| figure | ratio | against | target |",
  "| --- | --- | --- | --- |",
  ...heads.map((h) =>
    `| ${h.label} | ${h.value.toFixed(2)}× | ${h.baseline} | ${h.target ?? ""} |`
  ),
  "",
].join("\n");
if (heads.length > 0) writeFileSync(join(here, "report.svg"), chart(heads));

const cpu = cpus();
/** The kernel's transparent-huge-page settings (the bracketed word is the mode in force). */
function thp(name: string): string {
  try {
    return readFileSync(`/sys/kernel/mm/transparent_hugepage/${name}`, "utf8").trim();
  } catch {
    return "unknown (not Linux, or unreadable)";
  }
}
const header = [
  "# hcs-store benchmark report",
  "",
  `Generated ${new Date().toISOString()} by \`deno task bench${quick ? " --quick" : ""}\`.`,
  "",
  `- machine: ${cpu.length} × ${cpu[0]?.model ?? "unknown CPU"}, ${
    (totalmem() / 2 ** 30).toFixed(1)
  } GiB`,
  `- CPUs available: ${cpu.length}; transparent huge pages: enabled \`${
    thp("enabled")
  }\`, defrag \`${thp("defrag")}\``,
  `- ${version("deno").split(" ").slice(0, 2).join(" ")}, bun ${version("bun")}`,
  "",
  "Every figure is a ratio against a baseline measured in the same run.",
  "",
].join("\n");
writeFileSync(join(here, "report.md"), `${header}\n${headTable}\n${sections.join("\n")}`);
console.log(`\nwrote ${join(here, "report.md")}${heads.length ? " and report.svg" : ""}`);
