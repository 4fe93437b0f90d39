/**
 * Test helpers for the file readers' tests: a temp folder per test,
 * deterministic file contents, and this process's open descriptors into a
 * folder (what a leak would show).
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import process from "node:process";

/** A test body run in a fresh temp folder (`prefix…`), removed afterwards. */
export function withDir(
  prefix: string,
  fn: (dir: string) => Promise<void>,
): () => Promise<void> {
  return async () => {
    const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), prefix));
    try {
      await fn(dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** Deterministic pseudo-random bytes (content differs per seed). */
export function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Open descriptors of this process that point into `dir` (where a leak from
 * these tests would point). Deno without -A may not read /proc/self; then a
 * child process (`ls -l /proc/<pid>/fd`) lists them.
 */
export function openFds(dir: string): number {
  let targets: string[];
  try {
    targets = fs.readdirSync("/proc/self/fd").map((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return ""; // closed meanwhile (the directory listing's own descriptor)
      }
    });
  } catch {
    const r = spawnSync("ls", ["-l", `/proc/${process.pid}/fd`], { encoding: "utf8" });
    // ls exits 1 when a descriptor closes while it lists (runtime-internal
    // ones come and go); what it did list is still right.
    if (r.status !== 0 && !r.stdout.includes(" -> ")) {
      throw new Error(`cannot list descriptors: ${r.stderr}`);
    }
    targets = r.stdout.split("\n").map((l) => l.split(" -> ")[1] ?? "");
  }
  return targets.filter((t) => t === dir || t.startsWith(`${dir}/`)).length;
}
