/**
 * `convert` benchmark: a 96-well × 4-field × 2-channel plate of 1024² uint16
 * TIFFs (ImageXpress names, uncompressed, microscope-like content: smooth
 * background, blobs and noise, deterministic) converted to a zstd OME-Zarr
 * plate by `hcs-store convert` (a child process, as users run it) and by
 * bench/convert_python.py (tifffile + zarr 2.13 + numcodecs, Debian's
 * /usr/bin/python3) in the same run: alternating, warm page cache (one
 * untimed warm-up each), median of N. Reports the time ratio and the average
 * cores busy of each child (user + sys CPU time of the child / its wall time,
 * from bash's `times`).
 *
 * Both outputs are checked: Python reads our NGFF 0.4 (Zarr v2) plate and
 * compares it with tifffile's pixels; we read Python's plate with our Zarr
 * reader and compare it with our TIFF decode; our 0.5 plate must equal ours.
 *
 * Usage: deno run -A bench/convert.ts [--quick] [--reps N]
 *   --quick: 12 wells (A01..A12), 2 repetitions.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { encodeTiff } from "../formats/tiff_encode.ts";
import { decodeTiff } from "../formats/tiff.ts";
import { readFile } from "node:fs/promises";
import { readArrayAt } from "../zarr/read.ts";
import { createRegistry } from "../registry/registry.ts";
import type { ZarrBackend } from "../backends/zarr.ts";
import type { StorageBackend, TypedArray } from "../backends/base.ts";
import { asPlane, planConversion, readPlanes, runConversion } from "../cli/_convert.ts";
import { buildPyramid, planLevels } from "../zarr/pyramid.ts";
import { ChannelStats } from "../zarr/omero.ts";
import { chunkEncoder, dtypeOf, rawBytes, resolveCompression } from "../zarr/codec.ts";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const repArg = args.indexOf("--reps");
const REPS = repArg >= 0 ? Number(args[repArg + 1]) : quick ? 2 : 3;
const ROWS = "ABCDEFGH";
const WELLS = quick ? 12 : 96;
const FIELDS = 4;
const CHANNELS = 2;
const SIDE = 1024;

const wells = Array.from(
  { length: WELLS },
  (_, i) => `${ROWS[Math.floor(i / 12)]}${String((i % 12) + 1).padStart(2, "0")}`,
);

/** Microscope-like plane: background gradient, bright blobs, shot-like noise. */
function makePlane(seed: number): Uint16Array {
  const out = new Uint16Array(SIDE * SIDE);
  let s = (seed * 2654435761) >>> 0;
  const cx = (seed * 97) % SIDE;
  const cy = (seed * 57) % SIDE;
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      s = (s * 1664525 + 1013904223) >>> 0;
      const cell = (((x + cx) >> 6) * 7 + ((y + cy) >> 6) * 3) % 5 === 0 ? 1800 : 0;
      const ring = ((x - cx) * (x - cx) + (y - cy) * (y - cy)) >> 12 & 7;
      out[y * SIDE + x] = 300 + ((x + 2 * y) >> 4) + cell + ring * 40 + (s >>> 25);
    }
  }
  return out;
}

/** The input folder, generated once per size (deterministic; reused by later runs). */
function inputFolder(): string {
  const dir = join(tmpdir(), `hcs-convert-bench-${WELLS}x${FIELDS}x${CHANNELS}-${SIDE}`);
  if (existsSync(join(dir, ".complete"))) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let seed = 0;
  for (const w of wells) {
    for (let f = 1; f <= FIELDS; f++) {
      for (let c = 1; c <= CHANNELS; c++) {
        const data = makePlane(seed++);
        writeFileSync(
          join(dir, `${w}_s${f}_w${c}.tif`),
          encodeTiff({ data, shape: [SIDE, SIDE], stride: [SIDE, 1] }),
        );
      }
    }
  }
  writeFileSync(join(dir, ".complete"), "");
  return dir;
}

interface Timed {
  wall: number;
  cpu: number;
}

/** Runs `cmd` under bash, timing it and reading its children's CPU time from `times`. */
function timed(cmd: string[]): Timed {
  const t0 = performance.now();
  const r = spawnSync("bash", ["-c", '"$@" >&2; s=$?; times; exit $s', "bash", ...cmd], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 1 << 24,
  });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd.join(" ")} failed (${r.status}): ${r.stderr}`);
  // `times` prints the shell's user/sys, then its children's: "0m1.234s 0m0.567s".
  const line = r.stdout.trim().split("\n").at(-1) ?? "";
  const secs = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (secs.length !== 2) throw new Error(`cannot read CPU times from '${line}'`);
  return { wall, cpu: secs[0]! + secs[1]! };
}

const deno = join(root, "node_modules", ".bin", "deno");
const input = inputFolder();
const work = join(tmpdir(), `hcs-convert-bench-out-${process.pid}`);
mkdirSync(work, { recursive: true });
const out = (name: string) => join(work, `${name}.zarr`);

/** `hcs-store convert` as users run it, with `extra` options. */
const ours = (name: string, extra: string[]) => () => [
  deno,
  "run",
  "-A",
  "cli/mod.ts",
  "convert",
  "-q",
  "--overwrite",
  ...extra,
  "--compression",
  "zstd",
  input,
  out(name),
];

const contenders: Record<string, () => string[]> = {
  "ours-0.5": ours("ours-0.5", []),
  "ours-0.4": ours("ours-0.4", ["--ngff", "0.4"]),
  python: () => ["/usr/bin/python3", join(here, "convert_python.py"), input, out("python")],
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Spot checks: each side's plate read by the other side's reader. */
async function verify(): Promise<string> {
  const probe = [wells[0]!, wells[Math.floor(WELLS / 2)]!, wells[WELLS - 1]!];
  const slashed = probe.map((w) => `${w[0]}/${w.slice(1)}`);
  const py = spawnSync(
    "/usr/bin/python3",
    [join(here, "convert_python.py"), "--verify", out("ours-0.4"), input, ...slashed],
    { encoding: "utf8" },
  );
  if (py.status !== 0) throw new Error(`Python could not verify our plate: ${py.stderr}`);
  const bytes = await (await createRegistry().getBackend<ZarrBackend>("zarr")).byteStore();
  let n = 0;
  for (const w of probe) {
    for (let f = 0; f < FIELDS; f++) {
      const arrays = await Promise.all(
        ["python", "ours-0.5"].map((who) =>
          readArrayAt(bytes, join(out(who), w[0]!, w.slice(1), String(f), "0"), "bench", 1 << 30)
        ),
      );
      for (let c = 0; c < CHANNELS; c++) {
        const file = join(input, `${w}_s${f + 1}_w${c + 1}.tif`);
        const want = decodeTiff(new Uint8Array(await readFile(file)), file).data;
        for (const a of arrays) {
          if (!a) throw new Error(`no array for ${w} field ${f}`);
          const got = a.data.subarray(c * SIDE * SIDE, (c + 1) * SIDE * SIDE);
          if (got.length !== want.length || got.some((v, i) => v !== want[i])) {
            throw new Error(`${w} field ${f} channel ${c}: plate pixels differ from ${file}`);
          }
        }
        n++;
      }
    }
  }
  return `Python read our 0.4 plate: ${py.stdout.trim()}; we read Python's and our 0.5 plate: ok ${n} planes each`;
}

/**
 * Where our time goes: the stages of one conversion of the first STAGE_WELLS
 * wells run one after another in this process (CPU ms per well, main thread):
 * read + decode, pyramid, contrast windows, zstd encode of every level, and
 * the rest of a real runConversion of the same wells (disk writes with their
 * fsyncs, metadata, staging) as its total minus the compute stages.
 */
async function stages(): Promise<string> {
  const STAGE_WELLS = 4;
  const reg = createRegistry();
  const disk = await reg.getBackend<StorageBackend>("disk");
  const plan = await planConversion(reg, input);
  plan.wells = plan.wells.slice(0, STAGE_WELLS);
  const sizes = planLevels(SIDE, SIDE, {});
  const encode = await chunkEncoder(
    resolveCompression("zstd", undefined, "bench"),
    dtypeOf(new Uint16Array(1))!,
  );
  const t = { read: 0, pyramid: 0, windows: 0, encode: 0 };
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  for (const w of plan.wells) {
    let c = cpu();
    const planes = (await readPlanes(disk, w.files.map((f) => f.path))).map((v, i) =>
      asPlane(v, w.files[i]!.path)
    );
    t.read += cpu() - c;
    c = cpu();
    const pyr = planes.map((p) => buildPyramid(p.data as TypedArray, sizes, "mean"));
    t.pyramid += cpu() - c;
    c = cpu();
    const st = new ChannelStats();
    for (const p of planes) st.add(p.data as TypedArray);
    st.window();
    t.windows += cpu() - c;
    c = cpu();
    for (const levels of pyr) for (const l of levels) await encode(rawBytes(l));
    t.encode += cpu() - c;
  }
  const c0 = cpu();
  const w0 = performance.now();
  await runConversion(reg, plan, join(work, "stages.zarr"), {
    compression: "zstd",
    image: { levels: "auto" },
  });
  const total = cpu() - c0;
  const wall = performance.now() - w0;
  const compute = t.read + t.pyramid + t.windows + t.encode;
  const per = (ms: number) => `${(ms / STAGE_WELLS).toFixed(0)}`;
  return `stages, CPU ms per well (${STAGE_WELLS} wells, one after another): read+decode ${
    per(t.read)
  }, ` +
    `pyramid ${per(t.pyramid)}, windows ${per(t.windows)}, zstd encode ${per(t.encode)}, ` +
    `rest (writes, fsync, metadata) ${per(Math.max(0, total - compute))}; ` +
    `runConversion ${per(total)} CPU ms / ${per(wall)} wall ms per well (${
      (total / wall).toFixed(2)
    } cores)`;
}

try {
  const names = Object.keys(contenders);
  // Warm the page cache and the runtimes' caches (untimed).
  for (const n of names) timed(contenders[n]!());
  const runs: Record<string, Timed[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let rep = 0; rep < REPS; rep++) {
    for (let j = 0; j < names.length; j++) {
      const n = names[(j + rep) % names.length]!;
      const t = timed(contenders[n]!());
      runs[n]!.push(t);
      console.error(
        `  ${n} rep ${rep}: ${t.wall.toFixed(2)} s wall, ${(t.cpu / t.wall).toFixed(2)} cores`,
      );
    }
  }
  const checks = await verify();
  const planes = WELLS * FIELDS * CHANNELS;
  const mib = (planes * SIDE * SIDE * 2) / (1 << 20);
  const row = (label: string, n: string) => {
    const wall = median(runs[n]!.map((t) => t.wall));
    const cores = median(runs[n]!.map((t) => t.cpu / t.wall));
    return `${label.padEnd(34)} ${wall.toFixed(2).padStart(7)} s ${
      (mib / wall).toFixed(0).padStart(5)
    } MiB/s ${cores.toFixed(2).padStart(6)} cores`;
  };
  console.log(
    `convert: ${WELLS} wells × ${FIELDS} fields × ${CHANNELS} channels of ${SIDE}² uint16 TIFFs ` +
      `(${planes} files, ${mib.toFixed(0)} MiB) → zstd level 1 OME-Zarr, pyramid to 256 px; ` +
      `median of ${REPS}, warm cache, ${process.platform} ${navigator.hardwareConcurrency} CPUs`,
  );
  console.log(`                                      wall   throughput   cores busy`);
  console.log(row("hcs-store convert (NGFF 0.5)", "ours-0.5"));
  console.log(row("hcs-store convert (NGFF 0.4)", "ours-0.4"));
  console.log(row("Python tifffile + zarr 2.13", "python"));
  const py = median(runs.python!.map((t) => t.wall));
  const ratio = (n: string) => (py / median(runs[n]!.map((t) => t.wall))).toFixed(2);
  console.log(
    `speed-up vs python (0.5): ${ratio("ours-0.5")}x, (0.4): ${ratio("ours-0.4")}x; ` +
      `ours cores busy (0.5): ${median(runs["ours-0.5"]!.map((t) => t.cpu / t.wall)).toFixed(2)}`,
  );
  console.log(`checked: ${checks}`);
  console.log(await stages());
} finally {
  rmSync(work, { recursive: true, force: true });
}
