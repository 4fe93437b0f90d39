/**
 * Bulk raw reads (issue 4): `DiskBackend.loadBatch(paths, { as: "bytes" })`
 * with the FFI reader and with the pure reader, leased (recycled) arenas,
 * the zero-copy mapping, and
 * the runtime's own `Deno.readFile` / `Bun.file().arrayBuffer()` +
 * `Promise.all`, against a C loop on the same files (bench/pread.c, compiled
 * with `cc` into a temp dir when a compiler is present).
 *
 * Sets: (A) 2000 × 64 KiB, (B) 64 × 8 MiB, warm page cache. Methods run
 * round-robin (one repetition of each in turn), so background load hits them
 * alike; each figure is the median, with the p99 (nearest rank: with fewer
 * than 100 repetitions, the slowest one) beside it — huge pages can stall
 * in direct compaction, which shows in the tail, not the median.
 *
 * C baselines (bench/pread.c):
 * - `C pread, reused buffer`: open/fstat/pread/close into one preallocated
 *   buffer — issue 4's baseline (the targets are ratios to it);
 * - `C pread, fresh arena`: the same into a newly mapped arena holding every
 *   file, as any loader that returns all the bytes must (page faults and the
 *   unmap included) — the like-for-like limit of `loadBatch`, 4 KiB pages;
 * - `C pread, fresh hugepage arena`: the same with the arena 2 MiB-aligned,
 *   `madvise(MADV_HUGEPAGE)`d and populated first, as the FFI reader does
 *   with huge pages on — the measured limit of fresh memory;
 * - `C pread, reused arena`: into one such arena kept across repetitions —
 *   the like-for-like limit of `leaseFiles`;
 * - `C mmap, touch each page`: mmap each file, sum one byte per 4 KiB page,
 *   unmap — the work of the zero-copy row, which touches its pages the same
 *   way (as does the leaseFiles row).
 *
 * Columns: median wall time and p99, their ratios to the C reused buffer
 * (median to median, p99 to p99), the median's ratio to the C fresh arena,
 * median process CPU time (user + system, all threads) and its ratio — on a
 * shared machine the CPU ratios move less with background load — and the
 * speed-up over the runtime's `Promise.all` baseline (wall). The header
 * prints the THP mode (`enabled`, `defrag`) and CPU count.
 *
 * Every timed run starts after a full garbage collection (Bun.gc, or V8's
 * `gc()`: under Deno the script re-runs itself with `--expose-gc`), so the
 * previous method's arenas are freed first and no method pays for another's
 * garbage: row order changed the results by 2–4× without it.
 *
 * Run: deno run -A bench/ffi.ts [--quick]   |   bun bench/ffi.ts [--quick]
 * Env: BENCH_REPS (default 15, --quick 5).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { DiskBackend } from "../backends/disk.ts";
import {
  createBulkReader,
  NativeReader,
  type NativeReaderOptions,
  PureReader,
} from "../ffi/mod.ts";
import { runtime } from "../registry/runtime.ts";

const quick = process.argv.includes("--quick");
/** A full garbage collection, where the runtime exposes one. */
const collect: (() => void) | undefined = (() => {
  const gcg = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (gcg.Bun) return () => gcg.Bun!.gc(true);
  return typeof gcg.gc === "function" ? gcg.gc : undefined;
})();
const REPS = Number(process.env.BENCH_REPS ?? (quick ? 5 : 15));
const here = nodePath.dirname(fileURLToPath(import.meta.url));
const rt = runtime();

type G = {
  Deno?: { readFile(p: string): Promise<Uint8Array> };
  Bun?: { file(p: string): { arrayBuffer(): Promise<ArrayBuffer> } };
};
const g = globalThis as G;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile `p` (0–100) of `xs`. */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** One line of sysfs (the THP mode), or "unreadable". */
function sysfs(path: string): string {
  try {
    return fs.readFileSync(path, "utf8").trim();
  } catch {
    return "unreadable";
  }
}

/** Sums one byte per 4 KiB page (faults every page in, as a consumer would). */
function touchPages(bytes: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 4096) s += bytes[i]!;
  return s;
}

function writeSet(dir: string, count: number, size: number): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) data[i] = (i >> 12) & 0xff;
  return Array.from({ length: count }, (_, i) => {
    const p = nodePath.join(dir, `plane_${i}.raw`);
    data[0] = i & 0xff;
    fs.writeFileSync(p, data);
    return p;
  });
}

/** Compiles bench/pread.c; undefined (with a note) without a compiler. */
function compileC(tmp: string): string | undefined {
  const exe = nodePath.join(tmp, "pread");
  const r = spawnSync("cc", ["-O2", "-o", exe, nodePath.join(here, "pread.c")], {
    encoding: "utf8",
  });
  if (r.status !== 0) {
    console.log(`(no C baseline: cc ${r.error ? "not found" : `failed: ${r.stderr.trim()}`})`);
    return undefined;
  }
  return exe;
}

/** Wall-clock and process CPU milliseconds of one run. */
interface Timing {
  wall: number;
  cpu: number;
}

/** Median wall/CPU and p99 wall of a method's repetitions. */
interface Summary extends Timing {
  p99: number;
}

const C_KINDS: Record<string, string> = {
  reused: "C pread, reused buffer",
  fresh: "C pread, fresh arena",
  huge: "C pread, fresh hugepage arena",
  arena: "C pread, reused arena",
  mmap: "C mmap, touch each page",
};

/** Runs the C loop (2 repetitions; the second one counts): timing per row label. */
function runC(exe: string, list: string): Map<string, Timing> {
  const r = spawnSync(exe, [list, "2"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`C baseline failed with status ${r.status}`);
  const out = new Map<string, Timing>();
  for (const line of r.stdout.trim().split("\n")) {
    const [kind, wall, cpu] = line.split(" ");
    const label = C_KINDS[kind!];
    if (label) out.set(label, { wall: Number(wall), cpu: Number(cpu) });
  }
  return out;
}

type Method = { label: string; run: () => Promise<number> };

/**
 * Round-robin: each round runs the C loop (when there is one) and every
 * method once, so load from other processes hits all of them alike.
 * Returns the median wall and CPU time per label.
 */
async function bench(
  methods: Method[],
  expectBytes: number,
  c: { exe: string; list: string } | undefined,
): Promise<Map<string, Summary>> {
  for (const m of methods) {
    const bytes = await m.run(); // warm-up, and a correctness check
    if (bytes !== expectBytes) {
      throw new Error(`${m.label}: read ${bytes} bytes, want ${expectBytes}`);
    }
  }
  const times = new Map<string, Timing[]>();
  const add = (label: string, t: Timing) => {
    if (!times.has(label)) times.set(label, []);
    times.get(label)!.push(t);
  };
  for (let r = 0; r < REPS; r++) {
    if (c) { for (const [label, t] of runC(c.exe, c.list)) add(label, t); }
    for (const m of methods) {
      collect?.();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await m.run();
      const wall = performance.now() - t0;
      const cpu = process.cpuUsage(c0);
      add(m.label, { wall, cpu: (cpu.user + cpu.system) / 1000 });
    }
  }
  return new Map(
    [...times].map(([k, v]) => [k, {
      wall: median(v.map((t) => t.wall)),
      cpu: median(v.map((t) => t.cpu)),
      p99: percentile(v.map((t) => t.wall), 99),
    }]),
  );
}

const C_REUSED = C_KINDS.reused!;
const C_FRESH = C_KINDS.fresh!;

const sum = (xs: ArrayLike<{ byteLength: number }>) => {
  let n = 0;
  for (let i = 0; i < xs.length; i++) n += xs[i]!.byteLength;
  return n;
};

/** Page sums of the touching rows (printed, so the reads cannot be optimised away). */
let touched = 0;

/** Under Deno without `gc()`: re-runs this script with `--expose-gc`; true when it did. */
function rerunWithGc(): boolean {
  const D = (globalThis as { Deno?: { execPath(): string } }).Deno;
  if (collect || !D || process.env.HCS_BENCH_FFI_CHILD) return false;
  const r = spawnSync(
    D.execPath(),
    [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      fileURLToPath(import.meta.url),
      ...process.argv.slice(2),
    ],
    { stdio: "inherit", env: { ...process.env, HCS_BENCH_FFI_CHILD: "1" } },
  );
  process.exitCode = r.status ?? 1;
  return true;
}

async function main(): Promise<void> {
  if (rerunWithGc()) return;
  const tmp = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-bench-ffi-"));
  try {
    const choice = await createBulkReader(rt);
    const ffi = choice.reader instanceof NativeReader ? choice.reader : undefined;
    console.log(
      `runtime: ${rt.name} ${rt.version}; reader: ${choice.implementation}${
        choice.reason ? ` (${choice.reason})` : ""
      }; huge pages: ${
        ffi?.hugePages ?? false
      }; ${os.cpus().length} CPUs; median and p99 of ${REPS}`,
    );
    const thp = "/sys/kernel/mm/transparent_hugepage";
    console.log(
      `THP enabled: ${sysfs(`${thp}/enabled`)}; defrag: ${
        sysfs(`${thp}/defrag`)
      }; baseline: ${C_REUSED}`,
    );
    const exe = compileC(tmp);
    const sets: Array<[string, number, number]> = [
      ["A: 2000 × 64 KiB", 2000, 64 << 10],
      ["B: 64 × 8 MiB", 64, 8 << 20],
    ];
    for (const [name, count, size] of sets) {
      const paths = writeSet(nodePath.join(tmp, name[0]!), count, size);
      const total = count * size;
      const methods: Method[] = [];
      if (ffi) {
        const disk = new DiskBackend({ reader: ffi });
        methods.push({
          label: "FFI loadBatch",
          run: async () => sum(await disk.loadBatch<Uint8Array>(paths, { as: "bytes" })),
        });
        // Variants, to show what each choice buys.
        const variants: Array<[string, NativeReaderOptions]> = [
          ["FFI loadBatch (huge pages)", { hugePages: true }],
          ["FFI loadBatch (huge pages off)", { hugePages: false }],
          ["FFI loadBatch, huge pages, no prefault", { hugePages: true, prefault: false }],
        ];
        if (rt.name === "deno") {
          variants.push(
            ["FFI loadBatch, huge pages, prefault off-thread", { prefaultOffThread: true }],
            ["FFI loadBatch, no huge pages, prefault off-thread", {
              hugePages: false,
              prefaultOffThread: true,
            }],
            ["FFI loadBatch, + parallel reads", { parallel: true }],
          );
        }
        for (const [label, options] of variants) {
          const variant = new DiskBackend({ reader: (await createBulkReader(rt, options)).reader });
          methods.push({
            label,
            run: async () => sum(await variant.loadBatch<Uint8Array>(paths, { as: "bytes" })),
          });
        }
        methods.push({
          label: "FFI leaseFiles (recycled arena), touch each page",
          run: async () => {
            const lease = await ffi.leaseFiles(paths, "loadBatch");
            let n = 0;
            for (let i = 0; i < lease.length; i++) {
              const bytes = lease.get(i);
              touched += touchPages(bytes);
              n += bytes.byteLength;
            }
            lease.release();
            return n;
          },
        });
        methods.push({
          label: "FFI zero-copy (mmap), touch each page",
          run: async () => {
            const mapped = await ffi.mapFiles(paths, "loadBatch");
            let n = 0;
            for (let i = 0; i < mapped.length; i++) {
              const bytes = mapped.get(i);
              touched += touchPages(bytes);
              n += bytes.byteLength;
            }
            mapped.release();
            return n;
          },
        });
      }
      const pureDisk = new DiskBackend({ reader: new PureReader() });
      methods.push({
        label: "pure loadBatch",
        run: async () => sum(await pureDisk.loadBatch<Uint8Array>(paths, { as: "bytes" })),
      });
      if (g.Deno) {
        const D = g.Deno;
        methods.push({
          label: "Deno.readFile + Promise.all",
          run: async () => sum(await Promise.all(paths.map((p) => D.readFile(p)))),
        });
      } else if (g.Bun) {
        const B = g.Bun;
        methods.push({
          label: "Bun.file().arrayBuffer + Promise.all",
          run: async () => sum(await Promise.all(paths.map((p) => B.file(p).arrayBuffer()))),
        });
      }
      let c: { exe: string; list: string } | undefined;
      if (exe) {
        const list = nodePath.join(tmp, `${name[0]}.list`);
        fs.writeFileSync(list, paths.join("\n") + "\n");
        c = { exe, list };
      }
      const med = await bench(methods, total, c);
      console.log(`\n${name} (${(total / 2 ** 20).toFixed(0)} MiB)`);
      const cr = med.get(C_REUSED);
      const cf = med.get(C_FRESH);
      const runtimeBase = [...med].find(([k]) => k.includes("Promise.all"))?.[1];
      const w = Math.max(...[...med.keys()].map((k) => k.length));
      const cols = [
        "wall ms",
        "p99 ms",
        "×C",
        "p99 ×C",
        "×C-fresh",
        "cpu ms",
        "cpu ×C",
        "vs Promise.all",
      ];
      console.log(`${"".padEnd(w)}  ${cols.map((c) => c.padStart(9)).join(" ")}`);
      for (const [label, t] of med) {
        const cells = [
          t.wall.toFixed(1),
          t.p99.toFixed(1),
          cr ? (t.wall / cr.wall).toFixed(2) : "-",
          cr ? (t.p99 / cr.p99).toFixed(2) : "-",
          cf ? (t.wall / cf.wall).toFixed(2) : "-",
          t.cpu.toFixed(1),
          cr ? (t.cpu / cr.cpu).toFixed(2) : "-",
          runtimeBase && !label.includes("Promise.all")
            ? `${(runtimeBase.wall / t.wall).toFixed(1)}× faster`
            : "",
        ];
        console.log(`${label.padEnd(w)}  ${cells.map((c) => c.padStart(9)).join(" ")}`);
      }
    }
    console.log(`\n(page sums of the touching rows: ${touched})`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
