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

  it("a missing peer skips with one printed reason, and fails the run under CI=true", {
    timeout: 300_000,
  }, () => {
    const run = (ci: boolean) => {
      const results = mkdtempSync(join(tmpdir(), "hcs-peer-probe-"));
      try {
        const env: Record<string, string | undefined> = {
          ...process.env,
          HCS_TEST_RESULTS: results,
        };
        // Set either way: Deno's child_process merges `env` into the parent's, so a
        // deleted key would still reach the child from a CI=true parent.
        env.CI = ci ? "true" : "false";
        return spawnSync("node", [
          join(root, "scripts", "test-all.mjs"),
          "tests/fixtures/peer_probe.ts",
        ], {
          cwd: root,
          env,
          encoding: "utf8",
          timeout: 300_000,
        });
      } finally {
        rmSync(results, { recursive: true, force: true });
      }
    };
    const local = run(false);
    assert.equal(local.status, 0, local.stdout + local.stderr);
    assert.equal(local.stdout.trimEnd().split("\n").pop(), "3 passed, 0 failed, 3 skipped");
    const reasons = local.stdout.match(/^skipping probe-peer tests: .*$/gm) ?? [];
    assert.equal(reasons.length, 3, "one reason per runtime run");
    const ci = run(true);
    assert.notEqual(ci.status, 0, "CI=true with a missing peer must fail");
    assert.match(ci.stdout, /[1-9]\d* failed/);
    assert.match(ci.stdout + ci.stderr, /CI=true requires probe-peer unavailable/);
  });

  it("tests reach Python only through tests/_peers.ts", () => {
    const dir = join(root, "tests");
    const offenders: string[] = [];
    for (const f of readdirSync(dir).filter((n) => n.endsWith(".ts") && n !== "_peers.ts")) {
      const text = readFileSync(join(dir, f), "utf8");
      if (/["'`]\/usr\/bin\/python3?["'`]|spawn(?:Sync)?\(\s*["'`]python3?["'`]/.test(text)) {
        offenders.push(`tests/${f}`);
      }
    }
    assert.deepEqual(offenders, [], "use PYTHON and pythonMissing() from tests/_peers.ts");
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
