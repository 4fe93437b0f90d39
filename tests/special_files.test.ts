// Special files (issue 10 item 6): load/loadBatch of a FIFO without a
// writer, a Unix socket and /dev/zero are refused with a typed error before
// any read, on every read path (the disk backend's default reader, the pure
// bulk reader, FFI), under Deno and Bun, and the event loop keeps running.
// Each case runs in a child process, so a read that blocks fails the test
// (by the child's timeout) instead of freezing it.
import { it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as nodePath from "node:path";
import process from "node:process";
import { commandMissing, describePeer, peerSkip } from "./_peers.ts";
import { scriptRuntimes } from "./_runtimes.ts";

const ROOT = nodePath.resolve(import.meta.dirname ?? ".", "..");
const PROBE = nodePath.join(ROOT, "tests/fixtures/special_probe.ts");
const RUNTIMES = scriptRuntimes(PROBE);
const skip = process.platform !== "linux"
  ? "special-file tests need Linux (/dev/zero, mkfifo)"
  : peerSkip("mkfifo", commandMissing("mkfifo"));

interface Probe {
  skip?: string;
  implementation: string;
  ticks: number;
  results: { op: string; path: string; error: string; message: string; ms: number }[];
}

describePeer(skip)("special files are refused before reading", () => {
  const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-special-"));
  const fifo = nodePath.join(dir, "pipe.tif");
  const sock = nodePath.join(dir, "sock.txt");
  const regular = nodePath.join(dir, "a.txt");
  fs.writeFileSync(regular, "hello");
  let server: net.Server | undefined;

  it("setup: a FIFO with no writer and a listening Unix socket", async () => {
    assert.equal(spawnSync("mkfifo", [fifo]).status, 0);
    server = net.createServer();
    await new Promise<void>((resolve) => server!.listen(sock, resolve));
    assert.ok(fs.statSync(fifo).isFIFO() && fs.statSync(sock).isSocket());
  });

  for (const [name, argv] of RUNTIMES) {
    // Node has no FFI: its read paths are the default and the pure reader.
    for (const mode of name === "node" ? ["default", "pure"] : ["default", "pure", "ffi"]) {
      it(`${name}, ${mode} reader: FIFO, socket, /dev/zero → UnsupportedOperationError, loop alive`, () => {
        const t0 = performance.now();
        const r = spawnSync(argv[0]!, [...argv.slice(1), mode, regular, fifo, sock, "/dev/zero"], {
          encoding: "utf8",
          timeout: 30_000,
          killSignal: "SIGKILL",
          cwd: ROOT,
        });
        const wall = performance.now() - t0;
        assert.equal(r.status, 0, `child blocked or failed (${r.signal ?? r.status}): ${r.stderr}`);
        const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as Probe;
        if (out.skip) {
          assert.ok(!process.env.CI, out.skip);
          console.log(`skipping: ${out.skip}`);
          return;
        }
        console.log(
          `${name} ${mode} reader (${out.implementation}): child ${
            wall.toFixed(0)
          } ms, ${out.ticks} ticks`,
        );
        assert.equal(out.results.length, 9);
        for (const res of out.results) {
          const what = res.path === fifo
            ? /a FIFO/
            : res.path === sock
            ? /a socket/
            : /a character device/;
          assert.equal(
            res.error,
            "UnsupportedOperationError",
            `${res.op} ${res.path}: ${res.message}`,
          );
          assert.match(res.message, what);
          assert.ok(res.message.includes(`'${res.path}'`), res.message);
          assert.ok(res.ms < 2000, `${res.op} ${res.path} took ${res.ms} ms`);
        }
        assert.ok(out.ticks > 0, "the timer never fired: the event loop was blocked");
      });
    }
  }

  it("teardown", async () => {
    await new Promise<void>((resolve) => server ? server.close(() => resolve()) : resolve());
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
