/**
 * Skipped tests (a missing peer, see tests/_peers.ts) are counted as skipped
 * by `npm test` on every runtime: scripts/test-all.mjs runs a probe file with
 * one skipped test and must report it for Deno, Deno without FFI and Bun.
 * Bun's JUnit report leaves out every test of a skipped `describe()`, so no
 * test file may skip at the describe level (a static check here).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

describe("npm test counts skips", () => {
  it("each runtime's run reports the probe's skipped test, and the summary sums them", {
    timeout: 300_000,
  }, () => {
    const results = mkdtempSync(join(tmpdir(), "hcs-skip-probe-"));
    try {
      const r = spawnSync(
        process.execPath.includes("bun") || process.execPath.includes("deno")
          ? "node"
          : process.execPath,
        [join(root, "scripts", "test-all.mjs"), "tests/fixtures/skip_probe.ts"],
        {
          cwd: root,
          env: { ...process.env, HCS_TEST_RESULTS: results },
          encoding: "utf8",
          timeout: 300_000,
        },
      );
      assert.equal(r.status, 0, r.stdout + r.stderr);
      for (const run of ["deno", "deno \\(no ffi\\)", "bun"]) {
        assert.match(r.stdout, new RegExp(`^=== ${run}: 2 passed, 0 failed, 1 skipped`, "m"));
      }
      const last = r.stdout.trimEnd().split("\n").pop();
      assert.equal(last, "6 passed, 0 failed, 3 skipped");
    } finally {
      rmSync(results, { recursive: true, force: true });
    }
  });

  it("no test file skips a whole describe() (Bun would not count its tests)", () => {
    const dir = join(root, "tests");
    const offenders: string[] = [];
    const describeSkip =
      /\bdescribe(\.skip\s*\(|\(\s*(?:"[^"]*"|'[^']*'|`[^`]*`)\s*,\s*\{[^{}]*\bskip\b)/g;
    for (const f of readdirSync(dir).filter((n) => n.endsWith(".test.ts"))) {
      const text = readFileSync(join(dir, f), "utf8");
      for (const m of text.matchAll(describeSkip)) {
        const line = text.slice(0, m.index).split("\n").length;
        offenders.push(`tests/${f}:${line}`);
      }
    }
    assert.deepEqual(offenders, [], "skip each it() instead of the describe()");
  });
});
