/**
 * Decoded TIFF batches vs Python tifffile (issue 3, item 7; SPEC §9).
 *
 * Set A (the issue's): 64 uncompressed 2048×2048 uint16 TIFFs written by our
 * encoder (tifffile reads them identically, see tests/interop_python.test.ts).
 * Set B: 16 zlib-compressed 2048×2048 uint16 TIFFs written by tifffile.
 * With a warm page cache, each set times:
 * - `readFileSync + decodeForPath` per file (this runtime);
 * - `decodeForPath` alone on bytes already in memory (the codec's share);
 * - `decodeTiffAsync` on the same bytes, every file at once: compressed
 *   pages decode on the codec worker pool (`_internal/workers`);
 * - `DiskBackend.loadBatch(paths)` decoded, pure reader and the registry's
 *   choice (FFI where permitted), when backends/disk.ts exists; the pure
 *   one also with the pool switched off (thresholds at ∞: every decode on
 *   this thread, as before the pool), the single-threaded baseline;
 * - a Python process timing `tifffile.imread` per file (timed inside Python);
 * - set B: zlib itself, in C (bench/inflate_limit.c, compiled with `cc -lz`
 *   when a compiler and zlib.h are present), inflating the same strips into
 *   fresh outputs on 1 and 2 threads, with and without huge pages: what
 *   tifffile's own inflater (the system libz) can reach on this machine's cores.
 * Methods run round-robin; each figure is the median of the repetitions.
 * Prints each time and its ratio to tifffile (> 1 means faster than tifffile).
 *
 * Run: deno run -A bench/tiff.ts [--quick]   |   bun bench/tiff.ts [--quick]
 * Env: BENCH_REPS (default 7, --quick 3), BENCH_TIFF_FILES (default 64),
 *      BENCH_TIFF_SIZE (default 2048), HCS_STORE_WORKERS (pool size).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { NdArray, StorageValue } from "../backends/base.ts";
import { decodeForPath, decodeTiffAsync, encodeForPath } from "../formats/mod.ts";
import { configuredSize, setThresholds } from "../_internal/workers/pool.ts";

/** Runs `fn` with every decode on this thread (the pool's TIFF threshold at ∞). */
async function inline<T>(fn: () => Promise<T>): Promise<T> {
  setThresholds({ tiff: Number.POSITIVE_INFINITY });
  try {
    return await fn();
  } finally {
    setThresholds();
  }
}

const quick = process.argv.includes("--quick");
const REPS = Number(process.env.BENCH_REPS ?? (quick ? 3 : 7));
const FILES = Number(process.env.BENCH_TIFF_FILES ?? 64);
const SIZE = Number(process.env.BENCH_TIFF_SIZE ?? 2048);
const PYTHON = "/usr/bin/python3";
const runtimeName = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
  ? "bun"
  : typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
  ? "deno"
  : "node";

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** Pixel i of file k is (7i + k) mod 2^16, in every set. */
function check(value: unknown, k: number): void {
  const a = value as NdArray;
  if (a.shape[0] !== SIZE || a.shape[1] !== SIZE || !(a.data instanceof Uint16Array)) {
    throw new Error(`file ${k} decoded to [${a.shape}] ${a.data?.constructor.name}`);
  }
  const i = (k * 977) % a.data.length;
  if (a.data[i] !== ((i * 7 + k) & 0xffff)) throw new Error(`file ${k}: wrong pixel value`);
}

function python(script: string, args: string[]): string {
  const r = spawnSync(PYTHON, ["-c", script, ...args], {
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(r.stderr || String(r.error));
  return r.stdout;
}

const IMREAD = `
import json, sys, time, tifffile
reps, paths = int(sys.argv[1]), sys.argv[2:]
for p in paths: tifffile.imread(p)  # warm-up
times, kept = [], []
for r in range(reps):
    t0 = time.perf_counter()
    for p in paths:
        a = tifffile.imread(p)
        assert a.shape == (${SIZE}, ${SIZE}) and a.dtype == "uint16"
    times.append((time.perf_counter() - t0) * 1000)
    # like a batch: every array stays alive until the batch is done, so the
    # allocator cannot hand the previous file's (already faulted) memory back
    t0 = time.perf_counter()
    arrays = [tifffile.imread(p) for p in paths]
    kept.append((time.perf_counter() - t0) * 1000)
    del arrays
print(json.dumps({"times": times, "kept": kept, "version": tifffile.__version__}))
`;

type Method = { name: string; run: () => Promise<void> | void; times: number[] };

/** A baseline measured outside this runtime: a name and its median ms. */
type Limit = () => [string, number][];

async function benchSet(title: string, paths: string[], limits?: Limit): Promise<void> {
  const mib = (paths.length * SIZE * SIZE * 2) / 2 ** 20;
  console.log(`\n## ${title}: ${paths.length} files, ${mib.toFixed(0)} MiB decoded`);
  const checkAll = (values: StorageValue[]) => values.forEach(check);
  const methods: Method[] = [{
    name: "readFileSync + decodeForPath",
    times: [],
    run: () => paths.forEach((p, k) => check(decodeForPath(fs.readFileSync(p), p, "load"), k)),
  }];
  const inMemory = paths.map((p) => new Uint8Array(fs.readFileSync(p)));
  methods.push({
    name: "decodeForPath only (bytes in memory)",
    times: [],
    run: () => inMemory.forEach((b, k) => check(decodeForPath(b, paths[k]!, "load"), k)),
  });
  methods.push({
    name: `decodeTiffAsync, all at once (bytes in memory, pool of ${configuredSize()})`,
    times: [],
    run: async () =>
      checkAll(await Promise.all(inMemory.map((b, k) => decodeTiffAsync(b, paths[k]!)))),
  });
  try {
    const { DiskBackend } = await import("../backends/disk.ts");
    const pure = new DiskBackend();
    methods.push({
      name: `DiskBackend.loadBatch decoded [${pure.implementation}], pool off`,
      times: [],
      run: () => inline(async () => checkAll(await pure.loadBatch(paths))),
    });
    methods.push({
      name: `DiskBackend.loadBatch decoded [${pure.implementation}]`,
      times: [],
      run: async () => checkAll(await pure.loadBatch(paths)),
    });
    const { createRegistry } = await import("../registry/mod.ts");
    const chosen = await createRegistry().getBackend("disk") as InstanceType<typeof DiskBackend>;
    if (chosen.implementation !== pure.implementation) {
      methods.push({
        name: `DiskBackend.loadBatch decoded [${chosen.implementation}]`,
        times: [],
        run: async () => checkAll(await chosen.loadBatch(paths)),
      });
    } else if (chosen.implementationReason) {
      console.log(`# registry disk = ${chosen.implementation}: ${chosen.implementationReason}`);
    }
  } catch (err) {
    console.log(`# DiskBackend not timed: ${(err as Error).message}`);
  }

  for (const m of methods) await m.run(); // warm-up and correctness check
  for (let r = 0; r < REPS; r++) {
    for (const m of methods) {
      const t0 = performance.now();
      await m.run();
      m.times.push(performance.now() - t0);
    }
  }

  let baseline: number | undefined;
  let keptBaseline: number | undefined;
  try {
    const out = JSON.parse(python(IMREAD, [String(REPS), ...paths])) as {
      times: number[];
      kept: number[];
      version: string;
    };
    baseline = median(out.times);
    keptBaseline = median(out.kept);
    console.log(`# baseline: python tifffile ${out.version} imread per file, timed inside Python`);
  } catch (err) {
    console.log(`# python tifffile baseline unavailable: ${(err as Error).message}`);
  }

  const rows: [string, number][] = methods.map((m) => [m.name, median(m.times)]);
  if (limits) rows.push(...limits());
  if (baseline !== undefined) rows.push(["python tifffile.imread per file", baseline]);
  if (keptBaseline !== undefined) {
    rows.push(["python tifffile.imread per file, all kept", keptBaseline]);
  }
  const w = Math.max(...rows.map(([n]) => n.length));
  console.log(
    `${"method".padEnd(w)}  ${"ms/batch".padStart(9)}  ${"ms/file".padStart(8)}  ${
      "GiB/s".padStart(7)
    }  vs tifffile  vs tifffile kept`,
  );
  for (const [name, ms] of rows) {
    const gibs = mib / 1024 / (ms / 1000);
    const ratio = baseline === undefined ? "n/a" : `${(baseline / ms).toFixed(2)}×`;
    const ratioKept = keptBaseline === undefined ? "n/a" : `${(keptBaseline / ms).toFixed(2)}×`;
    console.log(
      `${name.padEnd(w)}  ${ms.toFixed(1).padStart(9)}  ${
        (ms / paths.length).toFixed(2).padStart(8)
      }  ${gibs.toFixed(2).padStart(7)}  ${ratio.padEnd(11)}  ${ratioKept}`,
    );
  }
}

/** bench/inflate_limit.c on the strips in `list`: 1 and 2 threads, 4 KiB and huge pages. */
function zlibFloor(list: string): [string, number][] {
  const exe = nodePath.join(dir, "inflate_limit");
  const src = fileURLToPath(new URL("inflate_limit.c", import.meta.url));
  const cc = spawnSync("cc", ["-O2", "-o", exe, src, "-lz", "-lpthread"], { encoding: "utf8" });
  if (cc.status !== 0) {
    console.log(`# no C zlib floor: cc ${cc.error ? "not found" : `failed: ${cc.stderr.trim()}`}`);
    return [];
  }
  const rows: [string, number][] = [];
  for (const threads of [1, 2]) {
    for (const huge of [0, 1]) {
      const r = spawnSync(exe, [list, String(REPS), String(threads), String(huge)], {
        encoding: "utf8",
      });
      if (r.status !== 0) throw new Error(`inflate_limit: ${r.stderr}`);
      const ms = median(r.stdout.trim().split("\n").map(Number));
      const pages = huge ? "huge pages" : "4 KiB pages";
      rows.push([`C libz (tifffile's inflater): read + inflate, ${threads} thr, ${pages}`, ms]);
    }
  }
  return rows;
}

const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-bench-tiff-"));
try {
  console.log(`# TIFF decode, ${SIZE}×${SIZE} uint16, ${runtimeName}, median of ${REPS}`);
  console.log("# ratio = tifffile time / method time (> 1: faster than tifffile)");
  const plain: string[] = [];
  const plane = new Uint16Array(SIZE * SIZE);
  for (let k = 0; k < FILES; k++) {
    for (let i = 0; i < plane.length; i++) plane[i] = (i * 7 + k) & 0xffff;
    const p = nodePath.join(dir, `plane_${String(k).padStart(3, "0")}.tif`);
    const value = { data: plane, shape: [SIZE, SIZE], stride: [SIZE, 1] };
    fs.writeFileSync(p, encodeForPath(value, p, "save"));
    plain.push(p);
  }
  await benchSet("A. uncompressed, one strip (our encoder)", plain);

  const zlib = plain.slice(0, Math.min(16, FILES)).map((p) => p.replace(".tif", "_zlib.tif"));
  try {
    // The strips' places, for the C floor: "path decoded strips", then "offset length" each.
    const strips = python(
      `
import sys, numpy as np, tifffile
for k, p in enumerate(sys.argv[1:]):
    a = ((np.arange(${SIZE} * ${SIZE}, dtype=np.uint32) * 7 + k) & 0xffff).astype("u2")
    tifffile.imwrite(p, a.reshape(${SIZE}, ${SIZE}), compression="zlib")
    page = tifffile.TiffFile(p).pages[0]
    print(p, a.nbytes, len(page.dataoffsets))
    for o, n in zip(page.dataoffsets, page.databytecounts): print(o, n)
`,
      zlib,
    );
    const list = nodePath.join(dir, "strips.txt");
    fs.writeFileSync(list, strips);
    await benchSet("B. zlib, tifffile's strips (written by tifffile)", zlib, () => zlibFloor(list));
  } catch (err) {
    console.log(`# set B skipped: ${(err as Error).message}`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
