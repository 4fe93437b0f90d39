/**
 * Optional test peers (Debian's Python with NumPy/tifffile/zarr, the Ceph
 * gateway, Chromium): a test whose peer is absent is skipped with one printed
 * reason, except under `CI=true`, where a missing peer is a failure.
 *
 * `HCS_TEST_PYTHON` points the interop tests at another interpreter (set it
 * to a missing path to prove the suite passes without Python).
 */
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";

const printed = new Set<string>();

/** True when running under CI (`CI=true`), where every peer must be present. */
export const inCI: boolean = (process.env.CI ?? "").toLowerCase() === "true";

/**
 * The `skip` value for `it`/`describe`: `false` when the peer is there,
 * otherwise the reason (printed once). Under CI a missing peer throws, so
 * the file fails instead of silently skipping.
 */
export function peerSkip(peer: string, missingReason: string | undefined): string | false {
  if (missingReason === undefined) return false;
  const reason = `${peer} unavailable: ${missingReason}`;
  if (inCI) throw new Error(`CI=true requires ${reason}`);
  if (!printed.has(peer)) {
    printed.add(peer);
    console.log(`skipping ${peer} tests: ${missingReason}`);
  }
  return reason;
}

/** The Python interpreter interop tests use. */
export const PYTHON: string = process.env.HCS_TEST_PYTHON ?? "/usr/bin/python3";

/** Why Python with `modules` cannot run here, or `undefined` when it can. */
export function pythonMissing(modules: readonly string[]): string | undefined {
  const r = spawnSync(PYTHON, ["-c", `import ${modules.join(", ")}`], { encoding: "utf8" });
  if (r.error) return `${PYTHON}: ${r.error.message}`;
  if (r.status !== 0) {
    const last = (r.stderr ?? "").trim().split("\n").pop() ?? `exit ${r.status}`;
    return `${PYTHON} cannot import ${modules.join(", ")} (${last})`;
  }
  return undefined;
}

/** Why `cmd` is not on this machine, or `undefined` when `cmd --version` runs. */
export function commandMissing(
  cmd: string,
  args: readonly string[] = ["--version"],
): string | undefined {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 30_000 });
  if (r.error) return `${cmd}: ${r.error.message}`;
  return undefined;
}

/**
 * `describe` for a group that needs a peer: with the peer there, the group
 * runs; without it, one skipped `it` stands for the group, so Bun and Deno
 * both count the skip (Bun does not report the tests of a skipped describe).
 */
export function describePeer(
  skip: string | false,
): (name: string, fn: () => void) => void {
  return skip ? (name) => it(name, { skip }, () => {}) : (name, fn) => describe(name, fn);
}
