/**
 * Cost of atomic JSON (issue 6, item 2), in one run on one machine:
 *
 * - baseline: a plain `writeFile` of the JSON (neither atomic nor durable);
 * - `atomicWriteJson(…, { lock: false })`: temp file + fsync + rename + dir fsync;
 * - `withFileLock` around nothing: the lock protocol alone (acquire + release);
 * - `atomicUpdateJson`: lock + read + parse + atomic write;
 * - contention: 4 processes (2 Deno + 2 Bun) updating one counter, total rate.
 *
 * Prints time per operation and the ratio to the baseline.
 *
 * Run: deno run -A bench/atomic_json.ts [--quick]   (or: bun bench/atomic_json.ts)
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { atomicUpdateJson, atomicWriteJson } from "../json/atomic.ts";
import { withFileLock } from "../lock/file_lock.ts";

const quick = process.argv.includes("--quick");
const N = quick ? 50 : 200;
const repo = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "hcs-bench-json-"));
const value = { wells: Array.from({ length: 96 }, (_, i) => `W${i}`), count: 0 };

async function perOp(fn: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 5; i++) await fn(i);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await fn(i);
  return ((performance.now() - t0) / N) * 1000; // µs
}

function contention(file: string, updates: number): Promise<number> {
  const fixture = join(repo, "tests", "fixtures", "json_incrementer.ts");
  const bin = join(repo, "node_modules", ".bin");
  const kids = [
    [join(bin, "deno"), ["run", "-A", fixture]],
    [join(bin, "bun"), [fixture]],
    [join(bin, "deno"), ["run", "-A", fixture]],
    [join(bin, "bun"), [fixture]],
  ] as const;
  const t0 = performance.now();
  return Promise.all(kids.map(([cmd, pre]) =>
    new Promise<void>((resolve, reject) => {
      const c = spawn(cmd, [...pre, "increment", file, String(updates)], { stdio: "ignore" });
      c.on("error", reject);
      c.on("close", (code) => code === 0 ? resolve() : reject(new Error(`exit ${code}`)));
    })
  )).then(() => performance.now() - t0);
}

try {
  const f = join(dir, "state.json");
  const text = JSON.stringify(value, null, 2);
  const rows: Array<[string, number]> = [];
  rows.push(["writeFile (baseline, not atomic)", await perOp(() => writeFile(f, text))]);
  rows.push([
    "atomicWriteJson, lock: false",
    await perOp(() => atomicWriteJson(f, value, { lock: false })),
  ]);
  rows.push(["withFileLock(noop)", await perOp(() => withFileLock(f, () => undefined))]);
  rows.push([
    "atomicUpdateJson",
    await perOp(() =>
      atomicUpdateJson(f, (c) => ({ ...c, count: c.count + 1 }), { defaultValue: value })
    ),
  ]);
  const base = rows[0]![1];
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  console.log(`runtime: ${g.Deno ? "deno" : g.Bun ? "bun" : "node"}, ${N} ops each`);
  console.log("operation                          µs/op    ratio to baseline");
  for (const [name, us] of rows) {
    console.log(`${name.padEnd(34)} ${us.toFixed(0).padStart(6)}    ${(us / base).toFixed(2)}x`);
  }
  const per = quick ? 25 : 100;
  const c = join(dir, "counter.json");
  const ms = await contention(c, per);
  const final = JSON.parse(readFileSync(c, "utf8")).count as number;
  const single = rows[3]![1];
  console.log(
    `contention: 4 processes (2 deno + 2 bun) x ${per} updates -> count ${final} (expected ${
      4 * per
    }) in ${ms.toFixed(0)} ms wall (process start-up included), ${
      ((ms * 1000) / (4 * per)).toFixed(0)
    } µs/update = ${((ms * 1000) / (4 * per) / single).toFixed(2)}x a single process's update`,
  );
  if (final !== 4 * per) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
