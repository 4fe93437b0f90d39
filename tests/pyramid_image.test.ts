/**
 * Single multiscale images (`saveMultiscaleImage`): every level is the exact
 * downsample of the one above (read back through zarrita), tiles of
 * `tileSize`, NGFF 0.5 and 0.4 metadata that validates, Python zarr (0.4)
 * reading every level with identical values.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as zarr from "zarrita";
import Ajv2020Module from "ajv/dist/2020.js";
import { MemoryBackend } from "../backends/memory.ts";
import { DiskBackend } from "../backends/disk.ts";
import { ZarrStoreAdapter } from "../zarr/store.ts";
import type { StorageBackend } from "../backends/base.ts";
import { saveMultiscaleImage } from "../zarr/image.ts";
import { downsample2x, planLevels } from "../zarr/pyramid.ts";
import { peerSkip, PYTHON, pythonMissing } from "./_peers.ts";

const C = 2;
const H = 301;
const W = 257;
const data = Uint16Array.from({ length: C * H * W }, (_, i) => (i * 7919) % 60000);

async function level(store: StorageBackend, root: string, l: number) {
  const a = new ZarrStoreAdapter(store, root);
  const arr = await zarr.open(zarr.root(a as unknown as zarr.Readable).resolve(String(l)), {
    kind: "array",
  });
  return { arr, chunk: await zarr.get(arr) };
}

function attrsOf(mem: MemoryBackend, root: string, ngff: "0.5" | "0.4") {
  return mem.load<Uint8Array>(`${root}/${ngff === "0.5" ? "zarr.json" : ".zattrs"}`, {
    as: "bytes",
  }).then((b) => JSON.parse(new TextDecoder().decode(b)));
}

function schemaDir(): string | undefined {
  for (const rel of ["../shared/", "../../shared/", "../../../shared/"]) {
    const d = fileURLToPath(new URL(`${rel}data/ngff-schemas/`, import.meta.url));
    if (existsSync(join(d, "0.5"))) return d;
  }
  return undefined;
}
type Validate = ((d: unknown) => boolean) & { errors?: unknown };
const Ajv2020 = ((Ajv2020Module as unknown as { default?: unknown }).default ??
  Ajv2020Module) as new (o: Record<string, unknown>) => {
    addSchema(s: unknown): unknown;
    getSchema(id: string): Validate | undefined;
  };

describe("multiscale image", () => {
  for (const ngff of ["0.5", "0.4"] as const) {
    it(`NGFF ${ngff}: levels are exact downsamples, tiled, with units and omero`, async () => {
      const mem = new MemoryBackend();
      await mem.ensureDirectory("/d");
      await saveMultiscaleImage(mem, "/d/img.zarr", {
        data,
        shape: [C, H, W],
        stride: [H * W, W, 1],
      }, {
        ngff,
        tileSize: 128,
        pixelSize: 0.325,
        channels: [{ label: "DNA" }, { label: "actin" }],
      });
      const sizes = planLevels(H, W, { tileSize: 128 });
      assert.deepEqual(sizes, [[301, 257], [151, 129], [76, 65]]);
      let prev = data as Uint16Array;
      for (let l = 0; l < sizes.length; l++) {
        const { arr, chunk } = await level(mem, "/d/img.zarr", l);
        assert.deepEqual(arr.chunks, [1, Math.min(128, sizes[l]![0]), Math.min(128, sizes[l]![1])]);
        assert.deepEqual(chunk.shape, [C, ...sizes[l]!]);
        const want = l === 0
          ? prev
          : downsample2x(prev, sizes[l - 1]![0], sizes[l - 1]![1], "mean", C);
        assert.deepEqual(chunk.data as Uint16Array, want, `level ${l}`);
        prev = chunk.data as Uint16Array;
      }
      const doc = await attrsOf(mem, "/d/img.zarr", ngff);
      const a = ngff === "0.5" ? doc.attributes.ome : doc;
      assert.deepEqual(a.multiscales[0].datasets[1].coordinateTransformations[0].scale, [
        1,
        0.65,
        0.65,
      ]);
      assert.deepEqual(a.omero.channels.map((c: { label: string }) => c.label), ["DNA", "actin"]);
      const dir = schemaDir();
      if (dir) {
        const ajv = new Ajv2020({ strict: false, allErrors: true });
        for (const f of readdirSync(join(dir, ngff))) {
          ajv.addSchema(JSON.parse(readFileSync(join(dir, ngff, f), "utf8")));
        }
        const v = ajv.getSchema(`https://ngff.openmicroscopy.org/${ngff}/schemas/image.schema`)!;
        assert.ok(v(ngff === "0.5" ? doc.attributes : doc), JSON.stringify(v.errors));
      }
      await assert.rejects(
        saveMultiscaleImage(mem, "/d/img.zarr", { data, shape: [C, H, W], stride: [H * W, W, 1] }),
        /exists/,
      );
    });
  }

  it("Python zarr (0.4) reads every level with identical values", {
    skip: peerSkip("python-zarr", pythonMissing(["zarr", "numpy"])),
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "hcs-img-"));
    try {
      const disk = new DiskBackend();
      const root = join(dir, "img.zarr");
      await saveMultiscaleImage(disk, root, { data, shape: [C, H, W], stride: [H * W, W, 1] }, {
        ngff: "0.4",
        tileSize: 128,
        compression: "zstd",
      });
      const script = `import sys, zarr, numpy as np
g = zarr.open_group(sys.argv[1], mode="r")
for d in g.attrs["multiscales"][0]["datasets"]:
    v = np.asarray(g[d["path"]][...]).astype(np.int64)
    print(d["path"], ",".join(map(str, v.shape)), int(v.sum()), int((v.ravel() * (np.arange(v.size) % 101)).sum()))`;
      const r = spawnSync(PYTHON, ["-c", script, root], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      const lines: string[] = [];
      for (let l = 0; l < 3; l++) {
        const { chunk } = await level(disk, root, l);
        const d = chunk.data as Uint16Array;
        let sum = 0;
        let mix = 0;
        for (let i = 0; i < d.length; i++) {
          sum += d[i]!;
          mix += d[i]! * (i % 101);
        }
        lines.push(`${l} ${chunk.shape.join(",")} ${sum} ${mix}`);
      }
      assert.deepEqual(r.stdout.trim().split("\n"), lines);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
