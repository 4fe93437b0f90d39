/**
 * OpenHCS interop with real Python (Debian's zarr 2.13 under /usr/bin/python3):
 * Python opens an NGFF 0.4 plate written here and returns every plane and
 * attribute; and a plate written by Python in the reference layout loads here
 * by virtual name with identical values.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Buffer } from "node:buffer";
import { DiskBackend } from "../backends/disk.ts";
import { type Compression, ZarrBackend } from "../backends/zarr.ts";
import type { NdArray, TypedArray } from "../backends/base.ts";
import { peerSkip, PYTHON as PY, pythonMissing } from "./_peers.ts";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));

function python(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      PY,
      [join(fixtures, script), ...args],
      { maxBuffer: 256 << 20 },
      (err, out, errOut) => {
        if (err) reject(new Error(`${script} failed: ${err.message}\n${errOut}`));
        else resolve(out);
      },
    );
  });
}

function bytesOf(a: TypedArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

const DTYPE_NAME = new Map<unknown, string>([
  [Uint8Array, "uint8"],
  [Int8Array, "int8"],
  [Uint16Array, "uint16"],
  [Int16Array, "int16"],
  [Uint32Array, "uint32"],
  [Int32Array, "int32"],
  [Float32Array, "float32"],
  [Float64Array, "float64"],
  [BigInt64Array, "int64"],
  [BigUint64Array, "uint64"],
]);

interface PyPlane {
  well?: string;
  field?: string;
  dtype: string;
  shape: number[];
  b64: string;
}

// Skips go on each test (not the describe): Bun reports no test of a skipped describe.
const skip = peerSkip("python-zarr", pythonMissing(["zarr", "numpy"]));

describe("zarr: OpenHCS 0.4 layout with Python zarr 2.13", () => {
  it("Python opens a 0.4 plate written here: every plane and attribute matches", {
    skip,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "hcs-zarr-py-"));
    try {
      const store = join(dir, "plate", "images");
      const z = new ZarrBackend({ store: new DiskBackend(), ngff: "0.4" });
      const wells: [string, string, Compression, "plane" | "well", (n: number) => TypedArray][] = [
        [
          "A",
          "01",
          "zlib",
          "plane",
          (n) => Uint16Array.from({ length: n }, (_, i) => (i * 977) % 65536),
        ],
        ["A", "02", "gzip", "well", (n) => Float32Array.from({ length: n }, (_, i) => i / 7 - 3)],
        [
          "B",
          "1",
          "zstd",
          "plane",
          (n) => Int8Array.from({ length: n }, (_, i) => (i % 250) - 120),
        ],
        ["AF", "48", "blosc", "well", (n) => Uint32Array.from({ length: n }, (_, i) => i * 65599)],
        [
          "C",
          "12",
          "none",
          "plane",
          (n) => Float64Array.from({ length: n }, (_, i) => Math.cos(i)),
        ],
      ];
      const expected = new Map<string, { plane: NdArray; well: string; field: string }>();
      const fields = 2, channels = 2, zs = 3, h = 7, w = 5;
      for (const [row, column, compression, chunks, make] of wells) {
        const planes: NdArray[] = [];
        const paths: string[] = [];
        const coordinates: number[][] = [];
        let k = 0;
        for (let f = 0; f < fields; f++) {
          for (let c = 0; c < channels; c++) {
            for (let zz = 0; zz < zs; zz++) {
              const data = make(h * w + k++).subarray(k - 1) as TypedArray;
              const plane = { data, shape: [h, w], stride: [w, 1] };
              const name = `${row}${column}_s${f}_w${c}_z${zz}.tif`;
              planes.push(plane);
              paths.push(`${store}/${name}`);
              coordinates.push([c, f, zz]);
              expected.set(name, { plane, well: `${row}/${column}`, field: String(f) });
            }
          }
        }
        await z.saveBatch(planes, paths, {
          row,
          column,
          compression,
          chunks,
          axes: [
            { name: "channel", type: "channel", values: ["DAPI", "GFP"] },
            { name: "site", role: "image" },
            { name: "z", type: "space" },
          ],
          coordinates,
        });
      }
      const py = JSON.parse(await python("zarr_py_read.py", [store]));
      // Every plane.
      assert.deepEqual(Object.keys(py.planes).sort(), [...expected.keys()].sort());
      for (const [name, e] of expected) {
        const p = py.planes[name] as PyPlane;
        assert.equal(p.dtype, DTYPE_NAME.get(e.plane.data.constructor), name);
        assert.deepEqual(p.shape, [h, w], name);
        assert.equal(p.well, e.well);
        assert.equal(p.field, e.field);
        assert.deepEqual(new Uint8Array(Buffer.from(p.b64, "base64")), bytesOf(e.plane.data), name);
      }
      // Every attribute object, as Python reads it, equals what is on disk, and means what we wrote.
      const attrsOf = (rel: string) =>
        JSON.parse(readFileSync(join(store, rel, ".zattrs"), "utf8"));
      assert.deepEqual(py.root, attrsOf(""));
      const plate = py.root.plate;
      assert.equal(plate.version, "0.4");
      assert.deepEqual(plate.wells.map((x: { path: string }) => x.path), [
        "A/01",
        "A/02",
        "B/1",
        "C/12",
        "AF/48",
      ]);
      assert.equal(plate.field_count, 2);
      for (const [row, column, compression, chunks] of wells) {
        const wp = `${row}/${column}`;
        assert.deepEqual(py.wells[wp], attrsOf(wp));
        assert.deepEqual(py.wells[wp].well.images.map((i: { path: string }) => i.path), ["0", "1"]);
        for (let f = 0; f < fields; f++) {
          const key = `${wp}/${f}`;
          assert.deepEqual(py.groups[key], attrsOf(key));
          const ms = py.groups[key].multiscales[0];
          assert.equal(ms.version, "0.4");
          assert.deepEqual(ms.axes.map((a: { name: string }) => a.name), [
            "channel",
            "z",
            "y",
            "x",
          ]);
          const arr = py.arrays[key];
          assert.deepEqual(arr.attrs, attrsOf(`${key}/0`));
          assert.deepEqual(arr.shape, [channels, zs, h, w]);
          assert.deepEqual(arr.chunks, chunks === "plane" ? [1, 1, h, w] : [channels, zs, h, w]);
          assert.equal(arr.separator, "/");
          assert.equal(arr.compressor?.id ?? "none", compression);
          const fmap = arr.attrs.polystore_filename_map;
          assert.equal(Object.keys(fmap).length, channels * zs);
          assert.deepEqual(fmap[`${row}${column}_s${f}_w1_z2.tif`], [1, 2]);
          assert.equal(arr.attrs.polystore_output_paths.length, channels * zs);
          assert.ok(arr.attrs.polystore_output_paths.every((p: string) => p.startsWith(store)));
          assert.deepEqual(arr.attrs.polystore_dimensions, {
            channel: { size: 2, values: ["DAPI", "GFP"], role: "array" },
            site: { size: 2, values: ["0", "1"], role: "hcs_image" },
            z: { size: 3, values: ["0", "1", "2"], role: "array" },
          });
          assert.deepEqual(arr.attrs.polystore_image_coordinate, { site: String(f) });
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it(
    "a plate written by Python in the reference layout loads here by virtual name, values identical",
    {
      skip,
    },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "hcs-zarr-py-"));
      try {
        const store = join(dir, "images");
        const expected = JSON.parse(await python("zarr_py_write.py", [store])) as Record<
          string,
          PyPlane
        >;
        const names = Object.keys(expected);
        assert.ok(names.length >= 15);
        const z = new ZarrBackend({ store: new DiskBackend() });
        const order = [...names].reverse();
        const got = await z.loadBatch<NdArray>(order.map((n) => `${store}/${n}`));
        order.forEach((name, k) => {
          const e = expected[name]!;
          const g = got[k]!;
          assert.equal(DTYPE_NAME.get(g.data.constructor), e.dtype, name);
          assert.deepEqual(g.shape, e.shape, name);
          assert.deepEqual(bytesOf(g.data), new Uint8Array(Buffer.from(e.b64, "base64")), name);
        });
        assert.deepEqual(await z.listFiles(store), names.map((n) => `${store}/${n}`).sort());
        assert.equal(await z.exists(`${store}/${names[3]}`), true);
        // Adding a well here to the Python-made plate keeps it a valid 0.4 plate.
        const z4 = new ZarrBackend({ store: new DiskBackend(), ngff: "0.4" });
        const plane = { data: new Uint16Array(99).fill(4), shape: [9, 11], stride: [11, 1] };
        await z4.save(plane, `${store}/D05_new.tif`, { row: "D", column: "05" });
        const py = JSON.parse(await python("zarr_py_read.py", [store]));
        assert.equal(py.root.plate.wells.length, 5);
        assert.deepEqual(py.root.ome, { version: "0.4" }, "existing root attributes are kept");
        assert.equal(
          Buffer.from(py.planes["D05_new.tif"].b64, "base64").readUInt16LE(0),
          4,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
