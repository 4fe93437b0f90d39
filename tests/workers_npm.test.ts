/**
 * The codec worker pool from the npm build, under Node 22: the build ships
 * `_internal/workers/worker.js` and points the pool at it (the source's
 * `new URL("./worker.ts", …)` rewritten), a compressed TIFF decodes on a
 * `node:worker_threads` worker with `HCS_STORE_WORKERS=2` and inline with
 * `0`, with the same pixels, and the process exits on its own afterwards
 * (idle workers are unref'd).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { buildTiff } from "./_tiff_fixtures.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
// Inside the checkout, so the build's bare imports resolve from its node_modules.
const out = join(root, "build", `workers-npm-${process.pid}`);
const node = join(root, "node_modules", ".bin", "node");
const SLOW = { timeout: 300_000 };

const SCRIPT = `
import { readFileSync } from "node:fs";
import { decodeTiff, decodeTiffAsync } from "./package/esm/formats/mod.js";
import { DiskBackend } from "./package/esm/backends/disk.js";
import { poolStats } from "./package/esm/_internal/workers/pool.js";
const path = process.argv[2];
const want = decodeTiff(readFileSync(path), path);
const [a, b] = await new DiskBackend().loadBatch([path, path]);
const c = await decodeTiffAsync(new Uint8Array(readFileSync(path)), path);
const same = [a, b, c].every((x) => x.data.length === want.data.length &&
  x.data.every((v, i) => v === want.data[i]));
console.log(JSON.stringify({ same, stats: poolStats() }));
`;

describe("worker pool in the npm build (Node 22)", () => {
  let tif = "";
  before(() => {
    const r = spawnSync(node, [join(root, "scripts", "build-npm.mjs"), "--out", out], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    writeFileSync(join(out, "pool_probe.mjs"), SCRIPT);
    const data = new Uint16Array(1024 * 1024).map((_, i) => (i * 7) & 0xffff);
    tif = join(out, "plane.tif");
    writeFileSync(
      tif,
      buildTiff([{ width: 1024, height: 1024, data, bits: 16, format: 1, compression: 8 }]),
    );
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  it("ships the worker entry and points the pool at worker.js", () => {
    assert.ok(existsSync(join(out, "package", "esm", "_internal", "workers", "worker.js")));
    const pool = readFileSync(
      join(out, "package", "esm", "_internal", "workers", "pool.js"),
      "utf8",
    );
    assert.match(pool, /new URL\("\.\/worker\.js", import\.meta\.url\)/);
    assert.doesNotMatch(pool, /worker\.ts/);
  });

  for (const workers of ["2", "0"]) {
    it(
      `HCS_STORE_WORKERS=${workers}: same pixels, ${
        workers === "0" ? "inline" : "on workers"
      }, exits by itself`,
      SLOW,
      () => {
        const r = spawnSync(node, [join(out, "pool_probe.mjs"), tif], {
          cwd: out,
          encoding: "utf8",
          env: { ...process.env, HCS_STORE_WORKERS: workers },
          // a process kept alive by a worker would be killed here and fail below
          timeout: 60_000,
        });
        assert.equal(r.status, 0, `${r.stderr}${r.error ?? ""}`);
        const report = JSON.parse(r.stdout.trim().split("\n").pop()!) as {
          same: boolean;
          stats: { host: string; offThread: number; inline: number; size: number };
        };
        assert.equal(report.same, true);
        assert.equal(report.stats.size, Number(workers));
        if (workers === "0") {
          assert.equal(report.stats.offThread, 0);
          assert.equal(report.stats.inline, 3);
        } else {
          assert.equal(report.stats.host, "node");
          assert.equal(report.stats.offThread, 3);
        }
      },
    );
  }
});
