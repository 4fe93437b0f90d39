/**
 * The codec worker pool's crossover (issue 15, item 2): for each job (TIFF
 * Deflate/LZW/PackBits page decode, Zarr chunk decode and encode for
 * zlib/gzip/zstd/blosc, PNG decode) and a sweep of job sizes, a batch of
 * jobs run
 * - inline: one after another on this thread (the pool's thresholds at ∞),
 * - pool: all submitted at once to the worker pool (thresholds at 0),
 * - pool, one at a time: each job awaited before the next is sent, so the
 *   difference to inline is the pool's own cost per job (copying the
 *   compressed input, moving buffers, messages, the worker's colder JIT),
 *   which does not depend on how many cores are free,
 * round-robin in the same run; each figure is the median of the repetitions.
 * The ratio is inline time / pool time (> 1: the pool is faster); the
 * smallest size from which the pool stays faster is the job's crossover,
 * which `_internal/workers/pool.ts` THRESHOLDS should sit at or above. On a
 * loaded machine (no idle core) the parallel ratio cannot pass 1: read the
 * overhead column there.
 *
 * Run: deno run -A bench/codecs.ts [--quick]   |   bun bench/codecs.ts [--quick]
 * Env: BENCH_REPS (default 5, --quick 3), BENCH_BATCH_MIB (bytes of decoded
 *      data per batch, default 32, --quick 8), HCS_STORE_WORKERS (pool size).
 */
import process from "node:process";
import type { NdArray } from "../backends/base.ts";
import { decodeTiffAsync } from "../formats/tiff.ts";
import { decodePngAsync, encodePng } from "../formats/png.ts";
import { chunkEncoder, type Compression, dtypeOf, v2Compressor } from "../zarr/codec.ts";
import { chunkDecoder } from "../zarr/decode.ts";
import { closePool, configuredSize, poolStats, setThresholds } from "../_internal/workers/pool.ts";
import { buildTiff } from "../tests/_tiff_fixtures.ts";

const quick = process.argv.includes("--quick");
const REPS = Number(process.env.BENCH_REPS ?? (quick ? 3 : 5));
const BATCH = Number(process.env.BENCH_BATCH_MIB ?? (quick ? 8 : 32)) * 2 ** 20;
const SIZES = quick
  ? [16 << 10, 256 << 10, 2 << 20]
  : [16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20];
const INF = Number.POSITIVE_INFINITY;
const ALL = (v: number) => ({
  tiff: v,
  zarrDecode: v,
  zarrEncode: v,
  pngDecode: v,
  pngEncode: v,
  downsample: v,
  planeLevels: v,
});

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** uint16 pixels with the texture of a microscopy plane (smooth + noise). */
function pixels(n: number, seed: number): Uint16Array {
  const a = new Uint16Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    a[i] = 1000 + ((i % 2048) >> 2) + (x >>> 26);
  }
  return a;
}

/** A square-ish uint16 plane of about `bytes` decoded bytes. */
function plane(bytes: number): { w: number; h: number; data: Uint16Array } {
  const w = Math.max(8, Math.round(Math.sqrt(bytes / 2)));
  const h = Math.max(1, Math.round(bytes / 2 / w));
  return { w, h, data: pixels(w * h, bytes) };
}

interface Case {
  codec: string;
  /** Makes one batch's job inputs for a job size; returns the job runner. */
  make(bytes: number): Promise<() => Promise<unknown>>;
}

const tiffCase = (name: string, compression: number): Case => ({
  codec: `TIFF ${name} page decode`,
  make(bytes) {
    const { w, h, data } = plane(bytes);
    const rowsPerStrip = Math.max(1, Math.floor((64 << 10) / (w * 2)));
    const file = buildTiff([{
      width: w,
      height: h,
      data,
      bits: 16,
      format: 1,
      compression,
      rowsPerStrip,
    }]);
    return Promise.resolve(() => decodeTiffAsync(file, "/bench.tif"));
  },
});

const zarrDecodeCase = (c: Compression): Case => ({
  codec: `Zarr ${c} chunk decode`,
  async make(bytes) {
    const data = pixels(bytes / 2, 7);
    const dtype = dtypeOf(data)!;
    const spec = { name: c, level: c === "zstd" ? 1 : 5 };
    const enc = await chunkEncoder(spec, dtype);
    const stored = await enc(new Uint8Array(data.buffer));
    const dec = chunkDecoder(
      { dtype: "<u2", compressor: v2Compressor(spec, dtype), filters: null },
      2,
      "read",
      "/z",
    );
    return () => dec.decode(stored, data.length, "/z/0.0", "read");
  },
});

const zarrEncodeCase = (c: Compression): Case => ({
  codec: `Zarr ${c} chunk encode`,
  async make(bytes) {
    const data = pixels(bytes / 2, 11);
    const enc = await chunkEncoder({ name: c, level: c === "zstd" ? 1 : 5 }, dtypeOf(data)!);
    // each call gets its own chunk buffer to hand over (what a writer does)
    return () => enc(new Uint8Array(data.buffer.slice(0)), { transfer: true });
  },
});

const pngCase: Case = {
  codec: "PNG 16-bit gray decode",
  make(bytes) {
    const { w, h, data } = plane(bytes);
    const file = encodePng({ data, shape: [h, w], stride: [w, 1] } as NdArray);
    return Promise.resolve(() => decodePngAsync(file, "/bench.png"));
  },
};

const CASES: Case[] = [
  tiffCase("Deflate", 8),
  tiffCase("LZW", 5),
  tiffCase("PackBits", 32773),
  zarrDecodeCase("zlib"),
  zarrDecodeCase("zstd"),
  zarrDecodeCase("blosc"),
  zarrEncodeCase("zlib"),
  zarrEncodeCase("gzip"),
  zarrEncodeCase("zstd"),
  zarrEncodeCase("blosc"),
  pngCase,
];

async function timeBatch(
  run: () => Promise<unknown>,
  jobs: number,
  pooled: boolean,
  concurrent = pooled,
) {
  setThresholds(ALL(pooled ? 0 : INF));
  const t0 = performance.now();
  if (concurrent) await Promise.all(Array.from({ length: jobs }, run));
  else for (let j = 0; j < jobs; j++) await run();
  return performance.now() - t0;
}

const runtimeName = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
  ? "bun"
  : typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
  ? "deno"
  : "node";
const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
  ?.hardwareConcurrency;
console.log(
  `# codec worker pool crossover, ${runtimeName}, ${
    cores ?? "?"
  } cores, pool of ${configuredSize()} workers, ${
    BATCH / 2 ** 20
  } MiB decoded per batch, median of ${REPS}`,
);
console.log("# baseline: the same jobs one after another on this thread (inline)");
console.log("# ratio = inline time / pool time (> 1: the pool is faster)");
console.log(
  `${"codec".padEnd(26)}  ${"job size".padStart(9)}  ${"jobs".padStart(4)}  ${
    "inline ms".padStart(9)
  }  ${"pool ms".padStart(8)}  ratio   ${"ms/job inline".padStart(13)}  ${
    "pool cost ms/job".padStart(16)
  }`,
);
const crossovers: [string, string][] = [];
for (const c of CASES) {
  let crossover: number | undefined;
  for (const bytes of SIZES) {
    const jobs = Math.max(4, Math.round(BATCH / bytes));
    const run = await c.make(bytes);
    await timeBatch(run, Math.min(jobs, 4), false); // warm-up: codecs loaded
    await timeBatch(run, Math.min(jobs, 8), true); // warm-up: workers started
    const inline: number[] = [];
    const pool: number[] = [];
    const serial: number[] = [];
    for (let r = 0; r < REPS; r++) {
      inline.push(await timeBatch(run, jobs, false));
      pool.push(await timeBatch(run, jobs, true));
      serial.push(await timeBatch(run, jobs, true, false));
    }
    const ratio = median(inline) / median(pool);
    const perJob = median(inline) / jobs;
    const cost = (median(serial) - median(inline)) / jobs;
    if (ratio > 1) crossover ??= bytes;
    else crossover = undefined;
    console.log(
      `${c.codec.padEnd(26)}  ${`${bytes >> 10} KiB`.padStart(9)}  ${String(jobs).padStart(4)}  ${
        median(inline).toFixed(1).padStart(9)
      }  ${median(pool).toFixed(1).padStart(8)}  ${ratio.toFixed(2).padStart(5)}×  ${
        perJob.toFixed(3).padStart(13)
      }  ${cost.toFixed(3).padStart(16)}`,
    );
  }
  crossovers.push([c.codec, crossover === undefined ? "never" : `${crossover >> 10} KiB`]);
}
setThresholds();
console.log("\n# crossover (smallest size from which the pool stays faster)");
for (const [codec, at] of crossovers) console.log(`${codec.padEnd(26)}  ${at}`);
console.log(`# pool stats: ${JSON.stringify(poolStats())}`);
closePool();
