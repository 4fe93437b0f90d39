/**
 * The viewer server (runs under Deno and Bun alike): page and script, plate
 * bytes with ranges, confinement to the plate (dot segments, encoded
 * separators, symlinks out), Host and method checks, the HTTP backend and the
 * Zarr backend reading a plate through it, and `hcs-store view` as a real
 * child process on both runtimes.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DiskBackend } from "../backends/disk.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { HttpBackend } from "../backends/http.ts";
import { ZarrBackend } from "../backends/zarr.ts";
import type { NdArray } from "../backends/base.ts";
import { startViewer, type ViewerServer } from "../viewer/server.ts";
import { LiveHub } from "../viewer/live.ts";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
let dir = "";
let plate = "";
let server: ViewerServer;

function plane(v: number, h = 40, w = 30): NdArray {
  return {
    data: Uint16Array.from({ length: h * w }, (_, i) => v + (i % 7)),
    shape: [h, w],
    stride: [w, 1],
  };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "hcs-viewer-"));
  plate = join(dir, "plate.zarr");
  mkdirSync(plate);
  writeFileSync(join(dir, "secret.txt"), "top secret");
  const z = new ZarrBackend({ store: new DiskBackend() });
  for (const [row, column, v] of [["A", "01", 100], ["B", "02", 200]] as const) {
    await z.saveBatch([plane(v), plane(v + 1)], [
      join(plate, `${row}${column}_s0.tif`),
      join(plate, `${row}${column}_s1.tif`),
    ], { row, column, levels: 2, compression: "none" });
  }
  symlinkSync(join(dir, "secret.txt"), join(plate, "escape"));
  symlinkSync(join(plate, "zarr.json"), join(plate, "inside-link"));
  server = await startViewer({ source: new DiskBackend(), root: plate, live: new LiveHub() });
});
after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends a request line as given (no client-side path normalisation). */
function raw(path: string, host = "127.0.0.1", method = "GET"): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect(server.port, "127.0.0.1", () => {
      s.write(`${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    });
    let buf = "";
    s.on("data", (d) => (buf += d));
    s.on("error", reject);
    s.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(buf)?.[1] ?? 0)));
  });
}

describe("viewer server", () => {
  it("serves the page, its script, and plate metadata", async () => {
    const page = await fetch(server.url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>hcs-store viewer<\/title>/);
    const js = await fetch(`${server.url}viewer.js`);
    assert.equal(js.headers.get("content-type"), "text/javascript");
    assert.match(await js.text(), /DecompressionStream/);
    const meta = await (await fetch(`${server.url}plate/zarr.json`)).json();
    assert.deepEqual(meta.attributes.ome.plate.wells.map((w: { path: string }) => w.path), [
      "A/01",
      "B/02",
    ]);
    assert.equal((await fetch(`${server.url}plate/A/01/0/1/zarr.json`)).status, 200);
    assert.equal((await fetch(`${server.url}plate/nope.json`)).status, 404);
    assert.equal((await fetch(`${server.url}plate/A/01`)).status, 404); // a directory
  });

  it("answers byte ranges exactly like the file (206, suffix, open-ended, 416, HEAD)", async () => {
    const rel = "A/01/0/0/c/0/0";
    const file = readFileSync(join(plate, rel));
    const get = (range: string) => fetch(`${server.url}plate/${rel}`, { headers: { range } });
    let r = await get("bytes=10-19");
    assert.equal(r.status, 206);
    assert.equal(r.headers.get("content-range"), `bytes 10-19/${file.length}`);
    assert.deepEqual(new Uint8Array(await r.arrayBuffer()), new Uint8Array(file.subarray(10, 20)));
    r = await get("bytes=-8");
    assert.deepEqual(new Uint8Array(await r.arrayBuffer()), new Uint8Array(file.subarray(-8)));
    r = await get(`bytes=${file.length - 3}-`);
    assert.equal((await r.arrayBuffer()).byteLength, 3);
    r = await get(`bytes=${file.length}-`);
    assert.equal(r.status, 416);
    await r.body?.cancel();
    const h = await fetch(`${server.url}plate/${rel}`, { method: "HEAD" });
    assert.equal(h.headers.get("content-length"), String(file.length));
  });

  it("never serves anything outside the plate", async () => {
    for (
      const p of [
        "/plate/../secret.txt",
        "/plate/%2e%2e/secret.txt",
        "/plate/A/..%2f..%2fsecret.txt",
        "/plate/..%5csecret.txt",
        "/plate/%2fetc%2fpasswd",
        "/plate//etc/passwd",
        "/plate/escape",
        "/plate/A/%00",
        "/plate/%zz",
        "/../secret.txt",
      ]
    ) {
      assert.equal(await raw(p), 404, p);
    }
    assert.equal(await raw("/plate/inside-link"), 200); // a symlink that stays inside is fine
    assert.equal(await raw("/plate/zarr.json", "evil.example"), 403); // DNS rebinding
    assert.equal(await raw("/plate/zarr.json", "127.0.0.1", "PUT"), 405);
    assert.equal(await raw("/plate/zarr.json", "127.0.0.1", "DELETE"), 405);
    const foreign = await fetch(`${server.url}plate/zarr.json`, {
      headers: { origin: "https://evil.example" },
    });
    assert.equal(foreign.status, 403);
    await foreign.body?.cancel();
    const own = await fetch(`${server.url}plate/zarr.json`, {
      headers: { origin: server.url.replace(/\/$/, "") },
    });
    assert.equal(own.status, 200);
    await own.body?.cancel();
    // Cross-site "simple" POSTs (text/plain) cannot inject live frames.
    const frame = JSON.stringify({ path: "/x/A01.tif", shape: [1, 1], dtype: "uint8", coords: {} });
    const plain = await fetch(`${server.url}live/push`, { method: "POST", body: frame });
    assert.equal(plain.status, 415);
    await plain.body?.cancel();
    const json = await fetch(`${server.url}live/push`, {
      method: "POST",
      body: frame,
      headers: { "content-type": "application/json" },
    });
    assert.equal(json.status, 204);
    const r = await fetch(`${server.url}plate/zarr.json`);
    assert.equal(r.headers.get("access-control-allow-origin"), null);
    await r.body?.cancel();
  });

  it("the HTTP backend and the Zarr backend read the plate through it, planes intact", async () => {
    const http = new HttpBackend({ baseUrl: `${server.url}plate/`, retries: 0 });
    const z = new ZarrBackend({ store: http });
    const names = await z.listFiles("/");
    assert.ok(names.some((n) => n.endsWith("B02_s1.tif")), names.join());
    const [p] = await z.loadBatch<NdArray>(["/B02_s1.tif"]);
    assert.deepEqual([...p!.data], [...plane(201).data]);
    const head = await http.loadRange("/zarr.json", 0, 5);
    assert.deepEqual(head, new Uint8Array(readFileSync(join(plate, "zarr.json")).subarray(0, 5)));
  });

  it("/decoded/ answers zstd chunks decoded, bounded and confined", async () => {
    const mem = new MemoryBackend();
    await mem.ensureDirectory("/p");
    await new ZarrBackend({ store: mem }).saveBatch([plane(9)], ["/p/A01.tif"], {
      row: "A",
      column: "01",
      compression: "zstd",
    });
    // A hostile array declaring a 40 GB chunk.
    await mem.ensureDirectory("/p/huge");
    await mem.save(
      new TextEncoder().encode(JSON.stringify({
        zarr_format: 3,
        node_type: "array",
        shape: [200000, 200000],
        data_type: "uint8",
        chunk_grid: { name: "regular", configuration: { chunk_shape: [200000, 200000] } },
        chunk_key_encoding: { name: "default", configuration: { separator: "/" } },
        codecs: [{ name: "bytes" }],
        fill_value: 0,
      })),
      "/p/huge/zarr.json",
    );
    const s = await startViewer({ source: mem, root: "/p", live: false });
    try {
      const r = await fetch(`${s.url}decoded/A/01/0/0?c=0.0`);
      assert.equal(r.status, 200);
      const got = new Uint16Array(await r.arrayBuffer());
      assert.deepEqual([...got], [...plane(9).data]);
      const codecs = JSON.parse(
        new TextDecoder().decode(
          await mem.load<Uint8Array>("/p/A/01/0/0/zarr.json", { as: "bytes" }),
        ),
      ).codecs;
      assert.ok(JSON.stringify(codecs).includes("zstd")); // the raw chunk really is zstd
      assert.equal((await fetch(`${s.url}decoded/A/01/0/0?c=5.0`)).status, 400);
      assert.equal((await fetch(`${s.url}decoded/A/01/0/0?c=x`)).status, 404);
      assert.equal((await fetch(`${s.url}decoded/huge?c=0.0`)).status, 413);
      assert.equal((await fetch(`${s.url}decoded/nothing?c=0`)).status, 404);
    } finally {
      await s.close();
    }
    assert.equal(await raw("/decoded/..%2f..%2fsecret.txt?c=0"), 404);
  });

  it("serves a plate that is itself on HTTP (a viewer over another server)", async () => {
    const http = new HttpBackend({ baseUrl: `${server.url}plate/`, retries: 0 });
    const s = await startViewer({ source: http, root: "/", live: false });
    try {
      const a = await (await fetch(`${server.url}plate/A/01/0/1/zarr.json`)).text();
      const b = await (await fetch(`${s.url}plate/A/01/0/1/zarr.json`)).text();
      assert.equal(b, a);
      const r = await fetch(`${s.url}plate/A/01/0/0/c/0/0`, { headers: { range: "bytes=4-9" } });
      assert.equal(r.status, 206);
      const file = readFileSync(join(plate, "A/01/0/0/c/0/0"));
      assert.deepEqual(new Uint8Array(await r.arrayBuffer()), new Uint8Array(file.subarray(4, 10)));
    } finally {
      await s.close();
    }
  });

  it("memory stays bounded: a file over maxServeBytes is served only in ranges", async () => {
    const s = await startViewer({
      source: new DiskBackend(),
      root: plate,
      live: false,
      maxServeBytes: 1000,
    });
    try {
      const rel = "A/01/0/0/c/0/0"; // 2400 raw bytes
      assert.equal((await fetch(`${s.url}plate/${rel}`)).status, 413);
      const r = await fetch(`${s.url}plate/${rel}`, { headers: { range: "bytes=0-99" } });
      if (r.status === 206) assert.equal((await r.arrayBuffer()).byteLength, 100);
      else assert.equal(r.status, 413); // a source without range reads refuses instead
      const big = await fetch(`${s.url}plate/${rel}`, { headers: { range: "bytes=0-1999" } });
      assert.equal(big.status, 413);
      await big.body?.cancel();
      assert.equal((await fetch(`${s.url}plate/zarr.json`)).status, 200); // small files as usual
    } finally {
      await s.close();
    }
  });

  it("serves a plate from a non-disk source (memory) through load", async () => {
    const mem = new MemoryBackend();
    await mem.ensureDirectory("/p");
    await new ZarrBackend({ store: mem }).saveBatch([plane(5)], ["/p/A01.tif"], {
      row: "A",
      column: "01",
    });
    const s = await startViewer({ source: mem, root: "/p", live: false });
    try {
      const j = await (await fetch(`${s.url}plate/zarr.json`)).json();
      assert.equal(j.attributes.ome.plate.wells[0].path, "A/01");
      assert.equal((await fetch(`${s.url}live/events`)).status, 404); // live disabled
    } finally {
      await s.close();
    }
  });
});

for (const runtime of ["deno", "bun"] as const) {
  describe(`hcs-store view as a child process (${runtime})`, () => {
    it("serves a plate given as an http:// URL (read through the HTTP backend)", async () => {
      const { url, stop } = await startChild(runtime, `${server.url}plate/`);
      try {
        const a = await (await fetch(`${server.url}plate/B/02/zarr.json`)).text();
        assert.equal(await (await fetch(`${url}plate/B/02/zarr.json`)).text(), a);
      } finally {
        await stop();
      }
    });

    it("prints its URL, serves the plate, stops on SIGTERM with status 0", async () => {
      const bin = join(repo, "node_modules", ".bin", runtime);
      const entry = join(repo, "cli", "mod.ts");
      const args = runtime === "deno" ? ["run", "-A", entry] : [entry];
      const child = spawn(bin, [...args, "view", "--port", "0", plate], {
        env: { ...process.env, NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let err = "";
      child.stderr.on("data", (d) => (err += d));
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        const t = setTimeout(() => reject(new Error(`no URL printed; stderr: ${err}`)), 60_000);
        child.stdout.on("data", (d) => {
          out += d;
          const m = /viewer: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
          if (m) {
            clearTimeout(t);
            resolve(m[1]!);
          }
        });
      });
      const j = await (await fetch(`${url}plate/zarr.json`)).json();
      assert.equal(j.attributes.ome.plate.wells.length, 2);
      assert.equal((await fetch(`${url}plate/../secret.txt`)).status, 404);
      const code = await new Promise<string>((resolve) => {
        child.on("exit", (c, sig) => resolve(`${c} ${sig}`));
        child.kill("SIGTERM");
      });
      // Deno's node:child_process reports (null, SIGTERM) for any child it signalled,
      // even one that handled the signal and exited 0: the "stopped" line proves a clean exit.
      const parentIsDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
      assert.equal(code, parentIsDeno ? "null SIGTERM" : "0 null", err);
      assert.match(err, /viewer stopped/);
    });
  });
}

async function startChild(
  runtime: "deno" | "bun",
  target: string,
): Promise<{ url: string; stop: () => Promise<void> }> {
  const bin = join(repo, "node_modules", ".bin", runtime);
  const entry = join(repo, "cli", "mod.ts");
  const args = runtime === "deno" ? ["run", "-A", entry] : [entry];
  const child = spawn(bin, [...args, "view", "-q", "--port", "0", target], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const t = setTimeout(() => reject(new Error(`no URL printed; stderr: ${err}`)), 60_000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = /viewer: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
    child.on("exit", (c) => reject(new Error(`exited ${c}: ${err}`)));
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        child.on("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
