/**
 * Raw-bytes bulk read benchmark: which disk reader wins for which batch shape
 * on this runtime (the measurements behind the registry's decision table,
 * registry/builtins.ts and docs/design.md "Disk reader choice").
 *
 * Per shape (warm page cache), interleaved rounds — each round runs every
 * reader, in a rotated order, as a block of back-to-back runs after a full
 * GC (so each pays for collecting its own garbage, not its predecessor's),
 * and load on a shared machine hits all alike — then the median per-run time
 * per reader and its ratio to the baseline of the same run (ratio < 1:
 * faster):
 * - baseline: the runtime's own read + `Promise.all` (all files at once):
 *   `Deno.readFile` on Deno, `Bun.file(p).arrayBuffer()` on Bun,
 *   `fs.promises.readFile` on Node;
 * - `bare runtime read, 32 in flight`: the same call through our bounded pool,
 *   with no checks (the limit for the runtime reader);
 * - `runtime reader, gated`: {@linkcode RuntimeReader} with the FFI gate
 *   (open `O_NONBLOCK` + `fstat` per file; on Bun the read goes through that
 *   descriptor), and `ungated` (a `stat` first; no FFI);
 * - `ffi readv`: the FFI arena reader; on Deno also `ffi readv + parallel`
 *   (large-file reads on other threads, `nonblocking` symbols);
 * - `pure arena` (`PureReader`, synchronous reads into arenas) and
 *   `pure whole` (`PureBulkReader`, the plain `DiskBackend` default);
 * - `registry disk (<choice>).loadBatch`: what `getBackend("disk")` picked,
 *   through `DiskBackend.loadBatch(…, { as: "bytes" })`.
 * The first table is the headline shape (2000 × 64 KiB); then a sweep of file
 * sizes at a fixed batch size.
 *
 * Run: deno run -A bench/disk_bytes.ts [--quick]   |   bun bench/disk_bytes.ts [--quick]
 * Options (env): BENCH_FILES (2000), BENCH_SIZE_KIB (64), BENCH_REPS (rounds: 5; quick 3),
 * BENCH_BLOCK (runs per block: 4),
 * BENCH_SWEEP_KIB (4,64,256,1024,8192; quick 1024), BENCH_BATCH_MIB (128; quick 64),
 * BENCH_SWEEP=0 to skip the sweep.
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as nodePath from "node:path";
import process from "node:process";
import { createRegistry } from "../registry/registry.ts";
import { runtime } from "../registry/runtime.ts";
import { libcTarget } from "../ffi/libc.ts";
import { NativeOps, NativeReader } from "../ffi/native.ts";
import { PureBulkReader, PureReader } from "../ffi/pure.ts";
import { RuntimeReader } from "../ffi/runtime_reader.ts";
import { mapLimit } from "../_internal/pool.ts";
import type { LibcCalls } from "../ffi/ops.ts";
import type { BulkReader } from "../ffi/types.ts";

const args = (globalThis as { Deno?: { args: string[] } }).Deno?.args ?? process.argv.slice(2);
const quick = args.includes("--quick");
const env = (k: string, d: string) => process.env[k] ?? d;
const N = Number(env("BENCH_FILES", "2000"));
const SIZE = Number(env("BENCH_SIZE_KIB", "64")) * 1024;
const REPS = Number(env("BENCH_REPS", quick ? "3" : "5"));
/** Runs per reader per round, back to back (its own garbage collections included). */
const BLOCK = Number(env("BENCH_BLOCK", "4"));
const SWEEP = env("BENCH_SWEEP", "1") === "0"
  ? []
  : env("BENCH_SWEEP_KIB", quick ? "1024" : "4,64,256,1024,8192").split(",").map(Number);
const BATCH = Number(env("BENCH_BATCH_MIB", quick ? "64" : "128")) * 1024 * 1024;
/** Most files per sweep batch (4 KiB files at 128 MiB would be 32768). */
const MAX_FILES = 16384;

type G = {
  Deno?: { readFile(p: string): Promise<Uint8Array>; version: { deno: string } };
  Bun?: { file(p: string): { arrayBuffer(): Promise<ArrayBuffer> }; version: string };
};
const g = globalThis as G;
const rt = runtime();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

type Read = (paths: string[]) => Promise<ArrayLike<unknown>[] | ArrayBuffer[]>;

/** The runtime's own whole-file read of one path. */
function runtimeCall(): [string, (p: string) => Promise<unknown>] {
  if (g.Deno) {
    const D = g.Deno;
    return ["Deno.readFile", (p) => D.readFile(p)];
  }
  if (g.Bun) {
    const B = g.Bun;
    return ["Bun.file().arrayBuffer()", (p) => B.file(p).arrayBuffer()];
  }
  return ["fs.promises.readFile", (p) => fsp.readFile(p)];
}

async function loadLibc(): Promise<
  { libc: LibcCalls; target: Exclude<ReturnType<typeof libcTarget>, string> } | string
> {
  const target = libcTarget(rt.os, rt.arch);
  if (typeof target === "string") return target;
  try {
    if (rt.name === "deno") {
      return { libc: (await import("../ffi/deno.ts")).openDenoLibc(target), target };
    }
    if (rt.name === "bun") {
      return { libc: await (await import("../ffi/bun.ts")).openBunLibc(target), target };
    }
  } catch (err) {
    return `ffi unavailable: ${err instanceof Error ? err.message : err}`;
  }
  return `${rt.name} has no FFI`;
}

const [callName, call] = runtimeCall();
const native = await loadLibc();
const readers: [string, Read][] = [
  [`baseline: ${callName} + Promise.all`, (ps) => Promise.all(ps.map(call)) as Promise<[]>],
  [`bare ${callName}, 32 in flight`, (ps) => mapLimit(ps, 32, call) as Promise<[]>],
];
const add = (label: string, r: BulkReader) =>
  readers.push([label, (ps) => r.readFiles(ps, "loadBatch")]);
if (typeof native !== "string") {
  const { libc, target } = native;
  const ffi = new NativeReader(`ffi(${rt.name}, readv)`, libc, target);
  add(
    "runtime reader, gated",
    new RuntimeReader({ gate: new NativeOps(libc, target), fallback: ffi }),
  );
  add("runtime reader, ungated", new RuntimeReader({ fallback: new PureReader() }));
  add("ffi readv", ffi);
  if (rt.name === "deno") {
    add(
      "ffi readv + parallel (≥ 1 MiB, 2 in flight)",
      new NativeReader("ffi", libc, target, { parallel: { minBytes: 1 << 20, concurrency: 2 } }),
    );
  }
} else {
  add("runtime reader, ungated", new RuntimeReader({ fallback: new PureReader() }));
}
add("pure arena", new PureReader());
add("pure whole", new PureBulkReader());
const disk = await createRegistry().getBackend("disk");
const choice = (disk as { implementation?: string }).implementation ?? "?";
readers.push([
  `registry disk (${choice}).loadBatch`,
  (ps) => disk.loadBatch<Uint8Array>(ps, { as: "bytes" }),
]);

/**
 * A full garbage collection before each reader's block of runs, where the
 * runtime offers one (`Bun.gc`, or `gc` under `--v8-flags=--expose-gc`), so
 * a block pays for the collections of its own garbage (part of a reader's
 * cost: arenas, buffers) and not for the previous reader's.
 */
function collect(): void {
  const h = globalThis as { Bun?: { gc?: (force: boolean) => void }; gc?: () => void };
  if (typeof h.Bun?.gc === "function") h.Bun.gc(true);
  else if (typeof h.gc === "function") h.gc();
}

function gcAvailable(): string {
  const h = globalThis as { Bun?: { gc?: unknown }; gc?: unknown };
  return typeof h.Bun?.gc === "function" || typeof h.gc === "function" ? "yes" : "no";
}

async function shape(count: number, size: number): Promise<void> {
  const dir = await fsp.mkdtemp(nodePath.join(os.tmpdir(), "hcs-bench-disk-"));
  try {
    const paths = Array.from({ length: count }, (_, i) => `${dir}/plane_${i}.bin`);
    const payload = new Uint8Array(size);
    for (let i = 0; i < size; i++) payload[i] = (i * 31) & 0xff;
    await mapLimit(paths, 64, (p) => fsp.writeFile(p, payload));
    const times = readers.map(() => [] as number[]);
    for (const [label, read] of readers) {
      const check = await read(paths); // warm-up (and page cache), checked
      const len = (b: unknown) => (b as { byteLength: number }).byteLength;
      if (check.length !== count || check.some((b) => len(b) !== size)) {
        throw new Error(`${label}: wrong result`);
      }
    }
    for (let r = 0; r < REPS; r++) {
      for (let k = 0; k < readers.length; k++) {
        const i = (k + r) % readers.length;
        collect();
        const t0 = performance.now();
        for (let b = 0; b < BLOCK; b++) await readers[i]![1](paths);
        times[i]!.push((performance.now() - t0) / BLOCK);
      }
    }
    const ms = times.map(median);
    const base = ms[0]!;
    const kib = size / 1024;
    const label = kib >= 1024 ? `${kib / 1024} MiB` : `${kib} KiB`;
    console.log(`\n${count} files × ${label} (${((count * size) / 2 ** 20).toFixed(0)} MiB)`);
    readers.forEach(([name], i) => {
      const mbps = (count * size) / 2 ** 20 / (ms[i]! / 1000);
      console.log(
        `  ${name.padEnd(72)} ${ms[i]!.toFixed(1).padStart(8)} ms  ${
          mbps.toFixed(0).padStart(6)
        } MiB/s  ratio ${(ms[i]! / base).toFixed(2)}`,
      );
    });
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

const version = g.Deno ? `deno ${g.Deno.version.deno}` : g.Bun ? `bun ${g.Bun.version}` : "node";
console.log(
  `disk_bytes: ${version}, ${os.cpus().length} CPUs, ${REPS} interleaved rounds of ${BLOCK} runs ` +
    `(median), GC before each block: ${gcAvailable()}; ` +
    `ratio = time / baseline (${callName} + Promise.all, same run); FFI: ${
      typeof native === "string" ? native : "loaded"
    }`,
);
await shape(N, SIZE);
for (const kib of SWEEP) {
  const size = kib * 1024;
  await shape(Math.max(1, Math.min(MAX_FILES, Math.floor(BATCH / size))), size);
}
