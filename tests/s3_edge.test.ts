// The edge bundle on S3, for real: bundle a worker over edge.ts (no node:/bun:
// import in it), run it in Cloudflare's workerd on 127.0.0.1, and let it write
// and read objects on the real Ceph gateway.
import { after, it } from "node:test";
import assert from "node:assert/strict";
import { describePeer } from "./_peers.ts";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bucketName, type Gateway, gateway, s3Backend, s3Skip } from "./_s3.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name: string) => join(root, "node_modules", ".bin", name);
const work = mkdtempSync(join(tmpdir(), "hcs-s3-edge-"));
/** Node-only modules edge.ts reaches only through import() (see tests/edge_workerd.test.ts). */
const LAZY_NODE_ONLY = ["*disk.ts", "*file_lock.ts", "*ffi/mod.ts"];

after(() => {
  rmSync(work, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => ok(typeof a === "object" && a ? a.port : 0));
    });
  });
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    const t = setTimeout(() => child.kill("SIGKILL"), 90_000);
    child.on("error", fail);
    child.on("close", (code) => {
      clearTimeout(t);
      done({ code, out });
    });
  });
}

describePeer(s3Skip)("S3 from workerd (edge bundle)", () => {
  it("a bundled worker writes and reads objects on the gateway", async () => {
    const bundle = join(work, "worker.js");
    const build = await run(bin("bun"), [
      "build",
      "--target=browser",
      join(root, "tests/fixtures/s3_edge_worker.ts"),
      "--outfile",
      bundle,
      ...LAZY_NODE_ONLY.flatMap((m) => ["--external", m]),
    ]);
    assert.equal(build.code, 0, build.out);
    const code = readFileSync(bundle, "utf8");
    assert.deepEqual(code.match(/["'`](?:node|bun):[\w/.-]+["'`]/g) ?? [], []);
    assert.match(code, /AWS4-HMAC-SHA256/, "aws4fetch is in the bundle");

    const port = await freePort();
    writeFileSync(
      join(work, "config.capnp"),
      `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .w),
    (name = "loopback", network = (allow = ["private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const w :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "worker.js")],
  compatibilityDate = "2025-01-01",
  globalOutbound = "loopback",
);
`,
    );
    const g = gateway as Gateway;
    const bucket = bucketName("edge");
    const s3 = s3Backend();
    await s3.ensureDirectory(`/${bucket}`);
    await s3.save(Uint8Array.of(4, 5, 6), `/${bucket}/from-test.bin`);
    let workerd: ChildProcess | undefined;
    let log = "";
    try {
      workerd = spawn(bin("workerd"), ["serve", join(work, "config.capnp")], {
        cwd: work,
        stdio: ["ignore", "pipe", "pipe"],
      });
      workerd.stdout!.on("data", (d) => (log += d));
      workerd.stderr!.on("data", (d) => (log += d));
      const q = new URLSearchParams({
        endpoint: g.env.S3_ENDPOINT!,
        id: g.env.S3_ACCESS_KEY_ID!,
        secret: g.env.S3_SECRET_ACCESS_KEY!,
        bucket,
        key: "from worker ü.bin",
      });
      const payload = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) & 0xff);
      let res: Response | undefined;
      const deadline = Date.now() + 30_000;
      while (!res && Date.now() < deadline) {
        if (workerd.exitCode !== null) assert.fail(`workerd exited:\n${log}`);
        res = await fetch(`http://127.0.0.1:${port}/?${q}`, {
          method: "POST",
          body: payload,
          signal: AbortSignal.timeout(20_000),
        }).catch(() => undefined);
        if (!res) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(res, `workerd did not answer:\n${log}`);
      const body = await res.json() as Record<string, unknown>;
      assert.equal(res.status, 200, `${JSON.stringify(body)}\n${log}`);
      assert.deepEqual(body.fromTest, [4, 5, 6]);
      assert.equal(body.wrote, payload.length);
      assert.equal(body.roundTrip, true);
      assert.equal(body.duplicate, "AlreadyExistsError");
      assert.match(String(body.runtime), /Cloudflare-Workers/);
      // and what the worker wrote is on the gateway, byte for byte
      const stored = await s3.load<Uint8Array>(`/${bucket}/from worker ü.bin`, { as: "bytes" });
      assert.deepEqual(stored, payload);
    } finally {
      if (workerd && workerd.exitCode === null) {
        workerd.kill("SIGTERM");
        await new Promise((r) => {
          const t = setTimeout(() => {
            workerd!.kill("SIGKILL");
            r(undefined);
          }, 2000);
          workerd!.once("close", () => {
            clearTimeout(t);
            r(undefined);
          });
        });
      }
    }
  });
});
