/**
 * Memory-backend listing cost vs store size (issue: foundation, item 7).
 *
 * For stores of 10^3..10^6 entries, times `listFiles` and `listDir` of one
 * 10-entry directory and prints the time per call and the ratio to the 10^3
 * store. Alongside, a flat-map prefix scan (what the Python reference does)
 * over the same keys shows the linear cost we avoid.
 *
 * Run: deno run -A bench/memory_listing.ts   (or: bun bench/memory_listing.ts)
 */
import { MemoryBackend } from "../backends/memory.ts";

const sizes = (globalThis as { process?: { argv: string[] } }).process?.argv.includes("--quick")
  ? [1e3, 1e4, 1e5]
  : [1e3, 1e4, 1e5, 1e6];

function timePerCall(fn: () => unknown, minMs = 300): number {
  // warm up, then run until minMs has passed
  for (let i = 0; i < 50; i++) fn();
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
    t = performance.now();
  }
  return ((t - t0) / n) * 1000; // µs
}

async function timeAsync(fn: () => Promise<unknown>, minMs = 300): Promise<number> {
  for (let i = 0; i < 50; i++) await fn();
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs) {
    for (let i = 0; i < 50; i++) await fn();
    n += 50;
    t = performance.now();
  }
  return ((t - t0) / n) * 1000;
}

interface Row {
  size: number;
  listFiles: number;
  listDir: number;
  flatScan: number;
}

const rows: Row[] = [];
for (const size of sizes) {
  const mem = new MemoryBackend();
  const flat = new Map<string, unknown>();
  await mem.ensureDirectory("/plate/target");
  const target = Array.from({ length: 10 }, (_, i) => `/plate/target/img${i}.tif`);
  await mem.saveBatch(target.map(() => "x"), target);
  for (const p of target) flat.set(p, "x");
  const perDir = 1000;
  for (let d = 0; d * perDir < size - 10; d++) {
    const dir = `/plate/w${d}`;
    await mem.ensureDirectory(dir);
    const n = Math.min(perDir, size - 10 - d * perDir);
    const paths = Array.from({ length: n }, (_, i) => `${dir}/f${i}.tif`);
    await mem.saveBatch(paths.map(() => "x"), paths);
    for (const p of paths) flat.set(p, "x");
  }
  const listFiles = await timeAsync(() => mem.listFiles("/plate/target"));
  const listDir = await timeAsync(() => mem.listDir("/plate/target"));
  const flatScan = timePerCall(() => {
    const out: string[] = [];
    for (const k of flat.keys()) if (k.startsWith("/plate/target/")) out.push(k);
    return out;
  }, 200);
  rows.push({ size, listFiles, listDir, flatScan });
}

const base = rows[0]!;
const fmt = (x: number) => x.toFixed(2).padStart(9);
console.log("memory backend: listing a 10-entry directory inside a store of N entries");
console.log("        N | listFiles µs | ratio | listDir µs | ratio | flat scan µs | ratio");
for (const r of rows) {
  console.log(
    `${String(r.size).padStart(9)} | ${fmt(r.listFiles)}    | ${
      (r.listFiles / base.listFiles).toFixed(2)
    }  | ${fmt(r.listDir)}  | ${(r.listDir / base.listDir).toFixed(2)}  | ${fmt(r.flatScan)}    | ${
      (r.flatScan / base.flatScan).toFixed(1)
    }`,
  );
}
const last = rows[rows.length - 1]!;
console.log(
  `target: ratio ≤ 1.5 at ${last.size}: listFiles ${
    (last.listFiles / base.listFiles).toFixed(2)
  }, listDir ${(last.listDir / base.listDir).toFixed(2)}`,
);
