/**
 * Raw-bytes bulk read benchmark for the disk backend.
 *
 * Writes 2000 files of 64 KiB to a temp directory, then times (warm page
 * cache, several repetitions, median):
 * - `DiskBackend.loadBatch(paths, { as: "bytes" })` with the pure reader;
 * - the registry's `disk` backend, when it chose another implementation (FFI);
 * - the runtime's own baseline: `Deno.readFile` + `Promise.all` on Deno,
 *   `Bun.file(p).arrayBuffer()` + `Promise.all` on Bun, `fs.promises.readFile`
 *   elsewhere.
 * Prints each median and its ratio to the baseline (ratio < 1: faster).
 *
 * Run: deno run -A bench/disk_bytes.ts   |   bun bench/disk_bytes.ts
 * Options (env): BENCH_FILES (2000), BENCH_SIZE_KIB (64), BENCH_REPS (7).
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as nodePath from "node:path";
import process from "node:process";
import { DiskBackend } from "../backends/disk.ts";
import { createRegistry } from "../registry/registry.ts";

const N = Number(process.env.BENCH_FILES ?? 2000);
const SIZE = Number(process.env.BENCH_SIZE_KIB ?? 64) * 1024;
const REPS = Number(process.env.BENCH_REPS ?? 7);

type G = {
  Deno?: { readFile(p: string): Promise<Uint8Array>; version: { deno: string } };
  Bun?: { file(p: string): { arrayBuffer(): Promise<ArrayBuffer> }; version: string };
};
const g = globalThis as G;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function time(
  label: string,
  fn: () => Promise<Uint8Array[] | ArrayBuffer[]>,
): Promise<{ label: string; ms: number }> {
  const check = await fn(); // warm-up (and page cache)
  if (check.length !== N || check.some((b) => b.byteLength !== SIZE)) {
    throw new Error(`${label}: wrong result`);
  }
  const runs: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const t0 = performance.now();
    await fn();
    runs.push(performance.now() - t0);
  }
  return { label, ms: median(runs) };
}

const dir = await fsp.mkdtemp(nodePath.join(os.tmpdir(), "hcs-bench-disk-"));
try {
  const paths = Array.from({ length: N }, (_, i) => `${dir}/plane_${i}.bin`);
  const payload = new Uint8Array(SIZE);
  for (let i = 0; i < SIZE; i++) payload[i] = (i * 31) & 0xff;
  for (let i = 0; i < N; i += 100) {
    await Promise.all(paths.slice(i, i + 100).map((p) => fsp.writeFile(p, payload)));
  }

  let baseline: { label: string; ms: number };
  if (g.Deno) {
    const D = g.Deno;
    baseline = await time(
      "Deno.readFile + Promise.all",
      () => Promise.all(paths.map((p) => D.readFile(p))),
    );
  } else if (g.Bun) {
    const B = g.Bun;
    baseline = await time(
      "Bun.file().arrayBuffer() + Promise.all",
      () => Promise.all(paths.map((p) => B.file(p).arrayBuffer())),
    );
  } else {
    baseline = await time(
      "fs.promises.readFile + Promise.all",
      () => Promise.all(paths.map((p) => fsp.readFile(p))),
    );
  }

  const rows = [baseline];
  const pure = new DiskBackend();
  rows.push(
    await time(
      `DiskBackend(${pure.implementation}).loadBatch as bytes`,
      () => pure.loadBatch<Uint8Array>(paths, { as: "bytes" }),
    ),
  );
  const chosen = await createRegistry().getBackend("disk");
  const impl = (chosen as { implementation?: string }).implementation ?? "?";
  if (impl !== pure.implementation) {
    rows.push(
      await time(
        `registry disk (${impl}).loadBatch as bytes`,
        () => chosen.loadBatch<Uint8Array>(paths, { as: "bytes" }),
      ),
    );
  }

  const runtime = g.Deno ? `deno ${g.Deno.version.deno}` : g.Bun ? `bun ${g.Bun.version}` : "node";
  console.log(
    `disk_bytes: ${N} files × ${
      SIZE / 1024
    } KiB, ${REPS} reps (median), ${runtime}, ${os.cpus().length} CPUs`,
  );
  for (const r of rows) {
    const mbps = (N * SIZE) / (1 << 20) / (r.ms / 1000);
    console.log(
      `  ${r.label.padEnd(52)} ${r.ms.toFixed(1).padStart(8)} ms  ${
        mbps.toFixed(0).padStart(6)
      } MiB/s  ratio ${(r.ms / baseline.ms).toFixed(2)}`,
    );
  }
} finally {
  await fsp.rm(dir, { recursive: true, force: true });
}
