/**
 * Types that help the consumer: tests/fixtures/types_check.ts must pass
 * `deno check` — its `@ts-expect-error` lines (a misspelt built-in key, `save`
 * on a read-only backend, …) fail the check if they ever compile, and its
 * `Equal` assertions pin `getBackend`'s and `load`'s result types. The same
 * file, with one expected error removed, must fail (the check can fail).
 * And every subpath export passes `deno doc --lint` on its own.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const deno = join(root, "node_modules", ".bin", "deno");
const fixture = join(root, "tests", "fixtures", "types_check.ts");
const broken = join(root, "tests", "fixtures", `.types_check_broken_${process.pid}.ts`);

function denoRun(args: string[]) {
  const r = spawnSync(deno, args, {
    cwd: root,
    encoding: "utf8",
    timeout: 300_000,
    env: { ...process.env, NO_COLOR: "1" },
  });
  return { status: r.status, out: (r.stdout ?? "") + (r.stderr ?? "") };
}

before(() => {
  // Drop the directive above `getBackend("dsik")`: that line must then fail to compile.
  const text = readFileSync(fixture, "utf8");
  const marked = "  // @ts-expect-error a misspelt built-in key does not compile\n";
  assert.ok(text.includes(marked));
  writeFileSync(broken, text.replace(marked, ""));
});

after(() => rmSync(broken, { force: true }));

describe("consumer types", () => {
  // (Type checking takes seconds: longer than Bun's default 5 s per test.)
  it("the compile-time checks pass deno check (every @ts-expect-error is a real error)", {
    timeout: 300_000,
  }, () => {
    const r = denoRun(["check", fixture]);
    assert.equal(r.status, 0, r.out);
  });

  it('without its @ts-expect-error, getBackend("dsik") is a compile error', {
    timeout: 300_000,
  }, () => {
    const r = denoRun(["check", broken]);
    assert.notEqual(r.status, 0, r.out);
    assert.match(r.out, /"dsik"/);
  });

  it("every subpath export passes deno doc --lint on its own", { timeout: 300_000 }, () => {
    const { exports } = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")) as {
      exports: Record<string, string>;
    };
    const failures: string[] = [];
    for (const [key, file] of Object.entries(exports)) {
      const r = denoRun(["doc", "--lint", file]);
      if (r.status !== 0) failures.push(`${key} (${file}):\n${r.out}`);
    }
    assert.deepEqual(failures, []);
  });
});
