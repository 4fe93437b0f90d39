// FFI loadBatch under a small descriptor limit (issue 10 item 8): a child
// run under `ulimit -n 64` loads 600 files in one batch. Before the bound,
// the FFI reader opened up to 512 files at once and failed with EMFILE.
import { it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import process from "node:process";
import { commandMissing, describePeer, inCI, peerSkip } from "./_peers.ts";

const ROOT = nodePath.resolve(import.meta.dirname ?? ".", "..");
const PROBE = nodePath.join(ROOT, "tests/fixtures/emfile_probe.ts");
const RUNTIMES: [string, string][] = [
  ["deno", `${nodePath.join(ROOT, "node_modules/.bin/deno")} run -A ${PROBE}`],
  ["bun", `${nodePath.join(ROOT, "node_modules/.bin/bun")} ${PROBE}`],
];
const skip = process.platform === "win32" ? "needs bash and ulimit" : peerSkip(
  "bash",
  commandMissing("bash"),
);

describePeer(skip)("FFI loadBatch bounds open descriptors by RLIMIT_NOFILE", () => {
  const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-emfile-"));
  let total = 0;
  for (let i = 0; i < 600; i++) {
    const body = new Uint8Array(100 + (i % 37)).fill(i & 0xff);
    total += body.length;
    fs.writeFileSync(nodePath.join(dir, `f${String(i).padStart(4, "0")}.bin`), body);
  }

  for (const [name, cmd] of RUNTIMES) {
    it(`${name}: 600 files under ulimit -n 64`, () => {
      const r = spawnSync("bash", ["-c", `ulimit -n 64 && exec ${cmd} ${dir}`], {
        encoding: "utf8",
        timeout: 60_000,
        cwd: ROOT,
      });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
      if (!String(out.implementation).startsWith("ffi")) {
        if (inCI) assert.fail(`no FFI reader: ${out.reason}`);
        console.log(`skipping: no FFI reader (${out.reason})`);
        return;
      }
      assert.equal(out.error, undefined, String(out.error));
      assert.equal(out.loaded, 600);
      assert.equal(out.bytes, total);
      assert.equal(out.same, true);
    });
  }

  it("cleanup", () => fs.rmSync(dir, { recursive: true, force: true }));
});
