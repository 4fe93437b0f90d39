// scripts/s3/start.sh and stop.sh themselves: a second start on a running
// cluster only re-prints its settings (same daemons), and stop.sh never
// touches a directory start.sh did not make.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Gateway, gateway, s3Backend, s3Skip } from "./_s3.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

describe("scripts/s3", () => {
  it("stop.sh refuses a directory that start.sh did not make", () => {
    const d = mkdtempSync(join(tmpdir(), "hcs-not-s3-"));
    try {
      writeFileSync(join(d, "pids"), `${process.pid} radosgw\n`);
      const r = spawnSync("bash", [join(root, "scripts/s3/stop.sh"), d], { encoding: "utf8" });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /not made by start\.sh/);
      assert.ok(existsSync(join(d, "pids")), "nothing removed");
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it(
    "start.sh on a running cluster re-prints its settings and starts nothing",
    { skip: s3Skip },
    async () => {
      const g = gateway as Gateway;
      const before = readFileSync(join(g.dir, "pids"), "utf8");
      const t0 = performance.now();
      const r = spawnSync("bash", [join(root, "scripts/s3/start.sh"), g.dir, String(g.port)], {
        encoding: "utf8",
      });
      const ms = performance.now() - t0;
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, readFileSync(join(g.dir, "env"), "utf8"));
      assert.match(r.stdout, new RegExp(`^S3_ENDPOINT=http://127\\.0\\.0\\.1:${g.port}$`, "m"));
      assert.equal(readFileSync(join(g.dir, "pids"), "utf8"), before, "no daemon relaunched");
      assert.ok(ms < 5000, `${ms.toFixed(0)} ms`);
      assert.ok(Array.isArray(await s3Backend().listDir("/")));
    },
  );
});
