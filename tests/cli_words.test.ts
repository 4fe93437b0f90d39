// The CLI speaks the user's language: errors name what could not be done to
// which path (never internal operation names), `file://` URLs are disk paths,
// `zarr:http://…` reads a plate over HTTP (a real server on 127.0.0.1), help
// shows a program name that runs, and the demo's `next:` hints run as printed.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as http from "node:http";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { AddressInfo } from "node:net";
import { createRegistry } from "../registry/registry.ts";
import type { NdArray, StorageBackend } from "../backends/base.ts";
import { location } from "../cli/_shared.ts";
import { programName } from "../cli/mod.ts";

const root = nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), "..");
const entry = nodePath.join(root, "cli", "mod.ts");
const isBun = "Bun" in globalThis;
const pre = isBun ? [entry] : ["run", "-A", entry];

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Async, so the HTTP server in this process keeps answering. */
function cli(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...pre, ...args], { cwd: root });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

const INTERNAL =
  /\b(isDir|isFile|load|loadBatch|stat|listDir|listFiles|getBackend|saveBatch|info) '/;

function oneLine(r: Run, status: number, pattern: RegExp): void {
  assert.equal(r.status, status, r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(lines[0]!, INTERNAL, "no internal operation names");
}

let tmp = "";
let server: http.Server | undefined;
let base = "";
const PLANE = (c: number) => new Uint16Array(24 * 32).map((_, i) => (i * 3 + c * 1000) & 0xffff);

before(async () => {
  tmp = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-cli-words-"));
  server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const file = nodePath.join(tmp, nodePath.normalize(rel));
    if (!file.startsWith(tmp) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    const body = fs.readFileSync(file);
    res.writeHead(200, { "content-length": body.length });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function makePlate(): Promise<string> {
  const src = nodePath.join(tmp, "src");
  const disk = await createRegistry().getBackend<StorageBackend>("disk");
  await disk.ensureDirectory(src);
  const planes: NdArray[] = [1, 2].map((c) => ({
    data: PLANE(c),
    shape: [24, 32],
    stride: [32, 1],
  }));
  await disk.saveBatch(planes, [1, 2].map((c) => nodePath.join(src, `B02_s1_w${c}.tif`)));
  const plate = nodePath.join(tmp, "web.zarr");
  const r = await cli(["convert", "--quiet", src, plate]);
  assert.equal(r.status, 0, r.stderr);
  return plate;
}

describe("cli: errors in the user's words", () => {
  it("a missing path: 'cannot access …: no such file or directory', for every command", async () => {
    const gone = nodePath.join(tmp, "nonexistent");
    const q = gone.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    for (const args of [["ls"], ["info"], ["preview"], ["cp"]]) {
      const a = args[0] === "cp" ? ["cp", gone, nodePath.join(tmp, "x")] : [...args, gone];
      oneLine(
        await cli(a),
        1,
        new RegExp(`^hcs-store ${args[0]}: cannot access '${q}': no such file or directory$`),
      );
    }
    oneLine(
      await cli(["convert", gone, nodePath.join(tmp, "o.zarr")]),
      1,
      new RegExp(`^hcs-store convert: cannot access '${q}'`),
    );
    oneLine(await cli(["ls", "nosuch:/x"]), 2, /^hcs-store ls: unknown backend 'nosuch' \(/);
  });

  it("a folder given as a file and a file given as a plate say so and how to fix it", async () => {
    const f = nodePath.join(tmp, "plain.txt");
    fs.writeFileSync(f, "x");
    oneLine(await cli(["cp", tmp, nodePath.join(tmp, "copy")]), 1, /is a directory \(use -r/);
    oneLine(await cli(["info", f]), 1, /plain\.txt'.*not a directory/);
  });
});

describe("cli: locations", () => {
  it("file:// URLs are disk paths, also after a backend prefix", async () => {
    assert.deepEqual(location("file:///data/a.tif"), { backend: "disk", path: "/data/a.tif" });
    assert.deepEqual(location("zarr:file:///data/p.zarr"), {
      backend: "zarr",
      path: "/data/p.zarr",
    });
    assert.deepEqual(location("file:///data/a%20b.tif").path, "/data/a b.tif");
    assert.deepEqual(location("zarr:http://h:1/p.zarr"), {
      backend: "zarr",
      path: "http://h:1/p.zarr",
    });
    const dir = nodePath.join(tmp, "urls");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(nodePath.join(dir, "hello.txt"), "hi");
    const r = await cli(["ls", pathToFileURL(dir).href]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "hello.txt");
    oneLine(await cli(["ls", "file://remote-host/x"]), 2, /not a local file URL/);
  });

  it("zarr:http://… lists and copies a plate over HTTP (not a disk path)", async () => {
    const plate = await makePlate();
    const url = `${base}/${nodePath.basename(plate)}`;
    const ls = await cli(["ls", `zarr:${url}`]);
    assert.equal(ls.status, 0, ls.stderr);
    const names = ls.stdout.trim().split("\n");
    assert.ok(names.includes("B02_s1_w1.tif") && names.includes("B02_s1_w2.tif"), ls.stdout);
    const out = nodePath.join(tmp, "fetched.tif");
    const cp = await cli(["cp", `zarr:${url}/B02_s1_w2.tif`, out]);
    assert.equal(cp.status, 0, cp.stderr);
    const disk = await createRegistry().getBackend<StorageBackend>("disk");
    const back = await disk.load<NdArray>(out);
    assert.deepEqual([...(back.data as Uint16Array)], [...PLANE(2)]);
    // Missing plate: the error names the URL the user typed.
    oneLine(
      await cli(["ls", `zarr:${base}/missing.zarr`]),
      1,
      new RegExp(`cannot access '${base.replace(/[.]/g, "\\.")}/missing\\.zarr'`),
    );
    // info reads the plate over HTTP too (the NGFF model is on byte stores, not node:fs).
    const info = await cli(["info", `zarr:${url}`]);
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, /^format: +NGFF 0\.[45]/m);
  });
});

describe("cli: program name and demo hints that run", () => {
  it("help shows how this process was started; an installed command is hcs-store", async () => {
    const r = await cli(["ls", "--help"]);
    const exe = isBun ? "bun" : "deno";
    const expected = isBun
      ? `node_modules/.bin/bun cli/mod.ts ls`
      : `node_modules/.bin/deno run -A cli/mod.ts ls`;
    assert.match(r.stdout, new RegExp(`^Usage: ${expected.replace(/[./]/g, "\\$&")} `, "m"));
    assert.ok(fs.existsSync(nodePath.join(root, "node_modules", ".bin", exe)));
    assert.equal(programName(["node", "/usr/local/bin/hcs-store"], "/tmp"), "hcs-store");
    assert.equal(
      programName(["node", "/p/node_modules/@hcs/store/dist/cli/mod.js"], "/p"),
      "hcs-store",
    );
    assert.equal(
      programName(["deno", "jsr:@hcs/store/cli"], "/tmp"),
      "deno run -A jsr:@hcs/store/cli",
    );
  });

  it("the demo's next: lines run as printed from the checkout, without Deno on PATH", {
    timeout: 180_000,
  }, () => {
    const out = nodePath.join(tmp, "demo");
    const d = spawnSync(process.execPath, [
      ...(isBun ? [] : ["run", "-A"]),
      nodePath.join(root, "demo.ts"),
      "--out",
      out,
    ], { cwd: root, encoding: "utf8", timeout: 170_000 });
    assert.equal(d.status, 0, d.stdout + d.stderr);
    const next = d.stdout.split("\nnext:\n")[1]!.split("\n\n")[0]!.split("\n")
      .map((l) => l.trim()).filter(Boolean);
    assert.ok(next.length >= 2, d.stdout);
    for (const line of next) {
      assert.doesNotMatch(line, /deno task/);
      const r = spawnSync("/bin/sh", ["-c", line], {
        cwd: root,
        encoding: "utf8",
        env: { ...process.env, PATH: "/usr/bin:/bin" },
        timeout: 60_000,
      });
      assert.equal(r.status, 0, `${line}\n${r.stderr}`);
    }
  });
});
