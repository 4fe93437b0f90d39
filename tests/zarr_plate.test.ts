/**
 * Zarr plates on real byte stores: the disk backend (default store, bulk
 * reader used for chunk reads, wells written from several processes at once),
 * and reading over the HTTP backend from a real 127.0.0.1 server.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { DiskBackend, PureBulkReader } from "../backends/disk.ts";
import { HttpBackend } from "../backends/http.ts";
import { ZarrBackend } from "../backends/zarr.ts";
import type { NdArray } from "../backends/base.ts";
import { NotFoundError } from "../errors.ts";
import { createRegistry } from "../registry/registry.ts";
import { conformance } from "./conformance.ts";

const repo = fileURLToPath(new URL("..", import.meta.url));
const writer = join(repo, "tests", "fixtures", "zarr_well_writer.ts");
const isDeno = "Deno" in globalThis;
const BIN = {
  deno: isDeno ? process.execPath : join(repo, "node_modules", ".bin", "deno"),
  bun: isDeno ? join(repo, "node_modules", ".bin", "bun") : process.execPath,
};

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "hcs-zarr-"));
}

function runWriter(rt: "deno" | "bun", args: string[]): Promise<string> {
  const argv = rt === "deno" ? ["run", "-A", writer, ...args] : [writer, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(BIN[rt], argv, {
      cwd: repo,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${rt} writer exited ${code}: ${err}`));
    });
  });
}

function plane(v: number, h = 8, w = 6): NdArray<Uint16Array> {
  return {
    data: Uint16Array.from({ length: h * w }, (_, i) => v * 7 + i),
    shape: [h, w],
    stride: [w, 1],
  };
}

/** A bulk reader that records each batch it is asked for. */
class RecordingReader extends PureBulkReader {
  batches: string[][] = [];
  override readFiles(paths: readonly string[], operation: string): Promise<Uint8Array[]> {
    this.batches.push([...paths]);
    return super.readFiles(paths, operation);
  }
}

describe("zarr plates on disk", () => {
  it("writes and reads a plate; chunk files reach the disk bulk reader in one batch", async () => {
    const dir = tempDir();
    try {
      const reader = new RecordingReader();
      const z = new ZarrBackend({ store: new DiskBackend({ reader }) });
      const store = join(dir, "plate", "images");
      const planes = [0, 1, 2, 3].map((i) => plane(i));
      const paths = [0, 1, 2, 3].map((i) => `${store}/A01_f${i >> 1}_c${i & 1}.tif`);
      await z.saveBatch(planes, paths, {
        row: "A",
        column: "01",
        axes: [{ name: "field", role: "image" }, { name: "channel", type: "channel" }],
        coordinates: [[0, 0], [0, 1], [1, 0], [1, 1]],
      });
      reader.batches = [];
      const got = await z.loadBatch<NdArray>([...paths].reverse());
      got.forEach((g, k) => assert.deepEqual([...g.data], [...planes[3 - k]!.data]));
      const chunkBatches = reader.batches.filter((b) => b.some((p) => /\/c\/\d/.test(p)));
      assert.equal(chunkBatches.length, 1);
      assert.equal(chunkBatches[0]!.length, 4);
      assert.deepEqual(await z.listFiles(store), [...paths].sort());
      await assert.rejects(z.load(`${store}/missing.tif`), NotFoundError);
      // The plate is a real Zarr v3 hierarchy on disk.
      const root = JSON.parse(readFileSync(join(store, "zarr.json"), "utf8"));
      assert.equal(root.attributes.ome.plate.wells[0].path, "A/01");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("defaults to the registry's disk backend and creates the store directory", async () => {
    const dir = tempDir();
    try {
      const z = await createRegistry().getBackend<ZarrBackend>("zarr");
      const store = join(dir, "deep", "new", "images");
      await z.save(plane(3), `${store}/B02.tif`, { row: "B", column: "02" });
      assert.deepEqual([...(await z.load<NdArray>(`${store}/B02.tif`)).data], [...plane(3).data]);
      assert.equal((await z.byteStore()).key, "disk");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const ngff of ["0.5", "0.4"] as const) {
    it(`wells written from several processes (Deno and Bun) at once are each listed once (NGFF ${ngff})`, async () => {
      const dir = tempDir();
      try {
        const store = join(dir, "images");
        const rows = ["A", "B", "C", "D"];
        const cols = ["1", "2", "3", "4", "5"];
        const outs = await Promise.all(
          rows.map((r, i) => runWriter(i % 2 ? "bun" : "deno", [store, ngff, r, ...cols])),
        );
        outs.forEach((o) => assert.match(o, /ok 5/));
        const metaFile = ngff === "0.5" ? "zarr.json" : ".zattrs";
        const json = JSON.parse(readFileSync(join(store, metaFile), "utf8"));
        const plate = ngff === "0.5" ? json.attributes.ome.plate : json.plate;
        const wells = plate.wells.map((w: { path: string }) => w.path).sort();
        assert.deepEqual(wells, rows.flatMap((r) => cols.map((c) => `${r}/${c}`)).sort());
        for (const w of plate.wells) {
          assert.equal(
            `${plate.rows[w.rowIndex].name}/${plate.columns[w.columnIndex].name}`,
            w.path,
          );
        }
        const z = new ZarrBackend({ store: new DiskBackend() });
        const names = rows.flatMap((r) => cols.map((c) => `${store}/${r}${c}_f1.tif`));
        const got = await z.loadBatch<NdArray>(names);
        got.forEach((g, k) => {
          const r = rows[Math.floor(k / cols.length)]!;
          const c = cols[k % cols.length]!;
          assert.equal(g.data[0], r.charCodeAt(0) * 100 + Number(c) * 10 + 1);
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe("zarr plates over HTTP (read-only)", () => {
  it("loads planes by virtual name and lists them from a real 127.0.0.1 server", async () => {
    const dir = tempDir();
    const server = createServer((req, res) => {
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
    try {
      const port = (server.address() as { port: number }).port;
      for (const ngff of ["0.5", "0.4"] as const) {
        const writerZ = new ZarrBackend({ store: new DiskBackend(), ngff, compression: "gzip" });
        const store = join(dir, ngff, "images");
        const planes = [plane(1), plane(2), plane(3)];
        const names = ["x_0.tif", "x_1.tif", "x_2.tif"];
        await writerZ.saveBatch(planes, names.map((n) => `${store}/${n}`), {
          row: "H",
          column: "12",
        });
        const z = new ZarrBackend({
          store: new HttpBackend({ baseUrl: `http://127.0.0.1:${port}/` }),
        });
        const got = await z.loadBatch<NdArray>([
          `/${ngff}/images/x_2.tif`,
          `/${ngff}/images/x_0.tif`,
        ]);
        assert.deepEqual([...got[0]!.data], [...planes[2]!.data]);
        assert.deepEqual([...got[1]!.data], [...planes[0]!.data]);
        assert.deepEqual(
          await z.listFiles(`/${ngff}/images`),
          names.map((n) => `/${ngff}/images/${n}`),
        );
        assert.equal(await z.exists(`/${ngff}/images/x_1.tif`), true);
        await assert.rejects(z.load(`/${ngff}/images/nope.tif`), NotFoundError);
        await assert.rejects(
          z.save(plane(0), `/${ngff}/images/y.tif`, { row: "A", column: "1" }),
          (e) => (e as { code?: string }).code === "EROFS",
        );
      }
    } finally {
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

conformance("zarr over disk", () => {
  const root = tempDir();
  return Promise.resolve({
    backend: new ZarrBackend({ store: new DiskBackend() }),
    root,
    teardown: () => rmSync(root, { recursive: true, force: true }),
  });
});
