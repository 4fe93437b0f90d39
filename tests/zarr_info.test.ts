/**
 * `info` and preview's plate loading on any byte store: a plate in memory
 * (in-process), and `hcs-store info --json URL` as a person runs it against
 * a real 127.0.0.1 server — no request leaves the plate's URL.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MemoryBackend } from "../backends/memory.ts";
import { DiskBackend } from "../backends/disk.ts";
import { ZarrBackend } from "../backends/zarr.ts";
import type { NdArray } from "../backends/base.ts";
import { readPlateInfo, readWellPlanes } from "../cli/_plate.ts";

const repo = fileURLToPath(new URL("..", import.meta.url));

function planes(n: number, h = 3, w = 4): NdArray<Uint16Array>[] {
  return Array.from({ length: n }, (_, k) => ({
    data: Uint16Array.from({ length: h * w }, (_, i) => k * 100 + i),
    shape: [h, w],
    stride: [w, 1],
  }));
}

async function writePlate(z: ZarrBackend, store: string): Promise<void> {
  for (const [row, column] of [["A", "01"], ["B", "02"]] as const) {
    await z.saveBatch(planes(4), [0, 1, 2, 3].map((i) => `${store}/${row}${column}_${i}.tif`), {
      row,
      column,
      axes: [{ name: "c", type: "channel" }, { name: "field", role: "image" }],
      coordinates: [[0, 0], [1, 0], [0, 1], [1, 1]],
    });
  }
}

/** A static file server over `dir` on 127.0.0.1 that records every request URL. */
async function serveDir(dir: string): Promise<{ server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? "");
    const url = new URL(req.url ?? "/", "http://x");
    try {
      const body = readFileSync(join(dir, decodeURIComponent(url.pathname)));
      res.writeHead(200, { "content-length": body.length });
      res.end(req.method === "HEAD" ? undefined : body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, requests };
}

describe("info and preview loading on any backend", () => {
  it("a plate in a memory store: info figures and one plane per well", async () => {
    for (const ngff of ["0.5", "0.4"] as const) {
      const mem = new MemoryBackend();
      await mem.ensureDirectory("/p.zarr");
      await writePlate(new ZarrBackend({ store: mem, ngff, compression: "gzip" }), "/p.zarr");
      const info = await readPlateInfo("/p.zarr", mem);
      assert.equal(info.ngff, ngff);
      assert.equal(info.zarrFormat, ngff === "0.5" ? 3 : 2);
      assert.deepEqual(info.rows, ["A", "B"]);
      assert.deepEqual(info.columns, ["01", "02"]);
      assert.deepEqual(info.wells.map((w) => w.fields), [["0", "1"], ["0", "1"]]);
      assert.equal(info.dtype, "uint16");
      assert.deepEqual(info.shape, [2, 3, 4]);
      assert.match(info.codec, /gzip/);
      assert.deepEqual(info.axes.map((a) => a.name), ["c", "y", "x"]);
      assert.ok((info.fileCount ?? 0) > 0);
      const got = await readWellPlanes("/p.zarr", { field: 1, channel: 1 }, undefined, mem);
      assert.equal(got.planes.length, 2);
      // Field 1, channel 1 is the fourth plane written: values 300, 301, …
      for (const p of got.planes) assert.deepEqual([...p.plane!.data].slice(0, 3), [300, 301, 302]);
    }
  });

  it("hcs-store info --json over HTTP from a real 127.0.0.1 server, no request outside the plate", {
    timeout: 120_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "hcs-zarr-info-"));
    const { server, requests } = await serveDir(dir);
    try {
      await writePlate(
        new ZarrBackend({ store: new DiskBackend(), compression: "zstd" }),
        join(dir, "p.zarr"),
      );
      const port = (server.address() as { port: number }).port;
      const url = `http://127.0.0.1:${port}/p.zarr`;
      const deno = join(repo, "node_modules", ".bin", "deno");
      const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const child = spawn(
          deno,
          ["run", "-A", join(repo, "cli", "mod.ts"), "info", "--json", url],
          {
            env: { ...process.env, NO_COLOR: "1" },
          },
        );
        let out = "";
        let err = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (err += d));
        child.on("close", (code) => resolve({ code, out, err }));
      });
      assert.equal(r.code, 0, r.err);
      const info = JSON.parse(r.out);
      assert.equal(info.path, url);
      assert.equal(info.ngff, "0.5");
      assert.deepEqual(info.wells.map((w: { path: string }) => w.path), ["A/01", "B/02"]);
      assert.equal(info.dtype, "uint16");
      assert.deepEqual(info.shape, [2, 3, 4]);
      assert.match(info.codec, /zstd/);
      assert.ok(requests.length > 0);
      for (const q of requests) assert.ok(q.startsWith("/p.zarr/"), `request outside: ${q}`);
    } finally {
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it("hcs-store preview over HTTP writes the montage in the working directory", {
    timeout: 120_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "hcs-zarr-preview-"));
    const cwd = mkdtempSync(join(tmpdir(), "hcs-zarr-preview-cwd-"));
    const { server, requests } = await serveDir(dir);
    try {
      await writePlate(
        new ZarrBackend({ store: new DiskBackend(), compression: "gzip" }),
        join(dir, "p.zarr"),
      );
      const port = (server.address() as { port: number }).port;
      const deno = join(repo, "node_modules", ".bin", "deno");
      const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const child = spawn(deno, [
          "run",
          "-A",
          join(repo, "cli", "mod.ts"),
          "preview",
          "--json",
          `zarr:http://127.0.0.1:${port}/p.zarr`,
        ], { cwd, env: { ...process.env, NO_COLOR: "1" } });
        let out = "";
        let err = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (err += d));
        child.on("close", (code) => resolve({ code, out, err }));
      });
      assert.equal(r.code, 0, r.err);
      const res = JSON.parse(r.out);
      assert.equal(res.output, join(cwd, "p_preview.png"));
      assert.equal(res.wells, 2);
      const png = await new DiskBackend().load<NdArray>(res.output);
      assert.equal(png.shape[0], res.height);
      assert.equal(png.shape[1], res.width);
      for (const q of requests) assert.ok(q.startsWith("/p.zarr/"), `request outside: ${q}`);
    } finally {
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
