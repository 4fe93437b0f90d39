// The edge entry, for real: bundle a worker over edge.ts into one ESM file
// with the command the README documents (no node:/bun: import in it), run it
// inside Cloudflare's workerd on 127.0.0.1, let it read planes of OME-Zarr
// plates that this test serves over HTTP (written with the Zarr backend over
// memory, one plate per compression and NGFF version), and compare checksums
// and shapes with the source planes. The same entry then runs under Deno with
// no permission but --allow-net=127.0.0.1.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type Compression,
  MemoryBackend,
  type NdArray,
  type NgffVersion,
  NotFoundError,
  ZarrBackend,
} from "../edge.ts";
import { fingerprint, readPlane } from "./fixtures/edge_read.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name: string) => join(root, "node_modules", ".bin", name);

/**
 * The bundling command from the README (the line after its
 * `edge-bundle-command` marker), split into argv. If this test finds node:/bun:
 * in the bundle, a module reachable from edge.ts imports them; lazy node-only
 * modules belong in that command's `--external` list.
 */
async function documentedBundleCommand(): Promise<string[]> {
  const readme = await readFile(join(root, "README.md"), "utf8");
  const at = readme.indexOf("<!-- edge-bundle-command");
  assert.ok(at >= 0, "README has the edge-bundle-command marker");
  const block = /```sh\n([^\n]+)\n```/.exec(readme.slice(at));
  assert.ok(block, "a sh block follows the marker");
  return [...block[1]!.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/** Every compression × NGFF version: one plate each, read back in workerd. */
const VARIANTS: { compression: Compression; ngff: NgffVersion }[] = (
  ["none", "gzip", "zlib", "zstd", "blosc"] as const
).flatMap((compression) => (["0.5", "0.4"] as const).map((ngff) => ({ compression, ngff })));
const variantPath = (v: { compression: string; ngff: string }) =>
  `/plate-${v.compression}-${v.ngff}/images/A01_f1.tif`;

function plane(seed: number, h = 48, w = 64): NdArray<Uint16Array> {
  const data = new Uint16Array(h * w);
  let x = seed * 2654435761 >>> 0 || 1;
  for (let i = 0; i < data.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = x & 0xffff;
  }
  return { data, shape: [h, w], stride: [w, 1] };
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createNetServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolvePort(port));
    });
  });
}

/** Runs a command to completion, collecting output, with a deadline. */
function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(t);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(t);
      done({ code, stdout, stderr });
    });
  });
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      done();
    }, 2000);
    child.once("close", () => {
      clearTimeout(t);
      done();
    });
    child.kill("SIGTERM");
  });
}

let server: Server;
let plateBase = "";
let work = "";
const planes = [plane(1), plane(2), plane(3)];
const names = ["A01_f0.tif", "A01_f1.tif", "A01_f2.tif"].map((n) => `/plate/images/${n}`);
const served: string[] = [];

before(async () => {
  work = await mkdtemp(join(tmpdir(), "hcs-edge-"));
  // Write the plate with the Zarr backend over memory (NGFF 0.5, Zarr v3, zlib).
  const mem = new MemoryBackend();
  await mem.ensureDirectory("/plate");
  await new ZarrBackend({ store: mem, compression: "zlib" }).saveBatch(planes, names, {
    row: "A",
    column: "01",
  });
  for (const v of VARIANTS) {
    const dir = variantPath(v).replace(/\/images\/.*/, "");
    await mem.ensureDirectory(dir);
    const z = new ZarrBackend({ store: mem, compression: v.compression, ngff: v.ngff });
    await z.saveBatch(planes, names.map((n) => n.replace("/plate/", `${dir}/`)), {
      row: "A",
      column: "01",
    });
  }
  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    served.push(path);
    mem.load<Uint8Array>(path, { as: "bytes" }).then((bytes) => {
      res.writeHead(200, { "content-length": String(bytes.length) });
      res.end(bytes);
    }, (err) => {
      res.writeHead(err instanceof NotFoundError ? 404 : 500, { "content-length": "0" });
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const a = server.address();
  plateBase = `http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}/`;
});

after(async () => {
  server?.closeAllConnections?.();
  await new Promise((r) => server ? server.close(() => r(undefined)) : r(undefined));
  if (work) await rm(work, { recursive: true, force: true });
});

describe("edge entry", () => {
  it("bundles to one ESM file without node:/bun: imports and runs in workerd", async () => {
    const bundle = join(work, "worker.js");
    const [tool, ...args] = await documentedBundleCommand();
    assert.equal(tool, "bun");
    const argv = args.map((a) =>
      a === "worker.ts"
        ? join(root, "tests/fixtures/edge_worker.ts")
        : a === "worker.js"
        ? bundle
        : a
    );
    assert.ok(
      argv.includes(bundle) && argv.some((a) => a.endsWith("edge_worker.ts")),
      args.join(" "),
    );
    const build = await run(bin("bun"), argv, 60_000);
    assert.equal(build.code, 0, `bun build failed:\n${build.stdout}\n${build.stderr}`);
    const code = await readFile(bundle, "utf8");
    const runtimeSpecifiers = code.match(/["'`](?:node|bun):[\w/.-]+["'`]/g) ?? [];
    assert.deepEqual(runtimeSpecifiers, [], "the edge bundle must not import node:* or bun:*");
    // The lazily-loaded node-only modules are only reached through import().
    for (const line of code.split("\n")) {
      if (/(?:disk|file_lock|ffi\/mod)\.ts["']/.test(line)) {
        assert.match(line, /import\(\s*["'][^"']+["']\s*\)/, `static import in bundle: ${line}`);
      }
    }

    const port = await freePort();
    const config = `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .edgeWorker),
    (name = "loopback", network = (allow = ["private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);

const edgeWorker :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "worker.js")],
  compatibilityDate = "2025-01-01",
  globalOutbound = "loopback",
);
`;
    const configPath = join(work, "config.capnp");
    await writeFile(configPath, config);
    let workerd: ChildProcess | undefined;
    let log = "";
    try {
      workerd = spawn(bin("workerd"), ["serve", configPath], {
        cwd: work,
        stdio: ["ignore", "pipe", "pipe"],
      });
      workerd.stdout!.on("data", (d) => (log += d));
      workerd.stderr!.on("data", (d) => (log += d));
      const url = `http://127.0.0.1:${port}/?base=${encodeURIComponent(plateBase)}&path=${
        encodeURIComponent(names[1]!)
      }`;
      let response: Response | undefined;
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        if (workerd.exitCode !== null) assert.fail(`workerd exited early:\n${log}`);
        try {
          response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.ok(response, `workerd did not answer on port ${port}:\n${log}`);
      const body = await response.json() as Record<string, unknown>;
      assert.equal(response.status, 200, `worker failed: ${JSON.stringify(body)}\n${log}`);
      const expected = fingerprint(planes[1]);
      assert.deepEqual(body, { ...expected, runtime: "workerd" });
      assert.notDeepEqual(expected.checksum, fingerprint(planes[0]).checksum);
      // and the worker really read the plate over HTTP from this test's server
      assert.ok(served.some((p) => p.startsWith("/plate/images/A/01/1/")), served.join(", "));
      // Every compression the Zarr backend writes, on both NGFF versions, reads in workerd.
      for (const v of VARIANTS) {
        const u = `http://127.0.0.1:${port}/?base=${encodeURIComponent(plateBase)}&path=${
          encodeURIComponent(variantPath(v))
        }`;
        const res = await fetch(u, { signal: AbortSignal.timeout(20_000) });
        const got = await res.json() as Record<string, unknown>;
        assert.equal(res.status, 200, `${v.compression}/${v.ngff}: ${JSON.stringify(got)}\n${log}`);
        assert.deepEqual(got, { ...expected, runtime: "workerd" }, `${v.compression}/${v.ngff}`);
      }
    } finally {
      await stop(workerd);
    }
  });

  it("reads the plane in this process too (Zarr over HTTP, the runtime running the tests)", async () => {
    const report = await readPlane(plateBase, names[0]!);
    const { runtime: rt, ...fp } = report;
    assert.deepEqual(fp, fingerprint(planes[0]));
    assert.ok(rt === "deno" || rt === "bun" || rt === "node", rt);
  });

  it("runs under Deno with no permission but --allow-net=127.0.0.1", async () => {
    const r = await run(bin("deno"), [
      "run",
      "--no-prompt",
      "--allow-net=127.0.0.1",
      join(root, "tests/fixtures/edge_deno.ts"),
      plateBase,
      names[2]!,
    ], 60_000);
    assert.equal(r.code, 0, `deno failed:\n${r.stdout}\n${r.stderr}`);
    const { permissions, ...body } = JSON.parse(r.stdout.trim().split("\n").pop()!);
    assert.deepEqual(body, { ...fingerprint(planes[2]), runtime: "deno" });
    for (const [name, state] of Object.entries(permissions as Record<string, string>)) {
      assert.notEqual(state, "granted", `deno had ${name} permission`);
    }
    assert.equal(Object.keys(permissions).length, 6);
  });
});
