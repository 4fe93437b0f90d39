/**
 * Zarr backend over a memory byte store: single arrays (every dtype, 2–5
 * dimensions, every compression, both Zarr formats), plates (round trip,
 * listings, names, chunk reads), bad input, corrupt metadata, plain-path
 * delegation, registry wiring, and the shared conformance suite.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { conformance } from "./conformance.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { type Compression, ZarrBackend } from "../backends/zarr.ts";
import type { LoadOptions, NdArray, StorageValue, TypedArray } from "../backends/base.ts";
import { AlreadyExistsError, CorruptDataError, NotFoundError, StorageError } from "../errors.ts";
import { createRegistry } from "../registry/registry.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function nd<T extends TypedArray>(data: T, shape: number[]): NdArray<T> {
  const stride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return { data, shape, stride };
}

const CTORS: [string, (n: number) => TypedArray][] = [
  ["int8", (n) => Int8Array.from({ length: n }, (_, i) => (i % 255) - 127)],
  ["uint8", (n) => Uint8Array.from({ length: n }, (_, i) => (i * 7) % 256)],
  ["int16", (n) => Int16Array.from({ length: n }, (_, i) => i * 31 - 20000)],
  ["uint16", (n) => Uint16Array.from({ length: n }, (_, i) => (i * 977) % 65536)],
  ["int32", (n) => Int32Array.from({ length: n }, (_, i) => i * 100_003 - 2 ** 30)],
  ["uint32", (n) => Uint32Array.from({ length: n }, (_, i) => (i * 2_654_435_761) >>> 0)],
  ["int64", (n) => BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * -(2n ** 40n) + 7n)],
  ["uint64", (n) => BigUint64Array.from({ length: n }, (_, i) => BigInt(i) * 2n ** 50n + 3n)],
  ["float32", (n) => Float32Array.from({ length: n }, (_, i) => i / 3 - 5)],
  ["float64", (n) => Float64Array.from({ length: n }, (_, i) => Math.sin(i) * 1e10)],
];
const COMPRESSIONS: Compression[] = ["none", "gzip", "zlib", "zstd", "blosc"];
const SHAPES = [[5, 7], [3, 4, 6], [2, 3, 4, 5], [2, 1, 3, 4, 5]];

function sameArray(a: NdArray, b: NdArray, msg = "") {
  assert.deepEqual(a.shape, b.shape, msg);
  assert.equal(a.data.constructor, b.data.constructor, msg);
  assert.deepEqual([...a.data as unknown as number[]], [...b.data as unknown as number[]], msg);
}

/** A memory store that records every path read and every loadBatch call. */
class CountingMemory extends MemoryBackend {
  reads: string[] = [];
  batches: string[][] = [];
  override load<T = StorageValue>(path: string, options?: LoadOptions): Promise<T> {
    this.reads.push(path);
    return super.load<T>(path, options);
  }
  override loadBatch<T = StorageValue>(paths: readonly string[], options?: LoadOptions) {
    this.batches.push([...paths]);
    return Promise.all(paths.map((p) => super.load<T>(p, options)));
  }
}

function plateBatch(fields: number, channels: number, h = 6, w = 5, seed = 0) {
  const planes: NdArray<Uint16Array>[] = [];
  const paths: string[] = [];
  const coordinates: number[][] = [];
  for (let f = 0; f < fields; f++) {
    for (let c = 0; c < channels; c++) {
      planes.push(
        nd(Uint16Array.from({ length: h * w }, (_, i) => seed * 1000 + f * 100 + c * 10 + i), [
          h,
          w,
        ]),
      );
      paths.push(`/plate/images/A01_s${f + 1}_w${c + 1}.tif`);
      coordinates.push([f, c]);
    }
  }
  const axes = [{ name: "field", role: "image" as const }, { name: "channel", type: "channel" }];
  return { planes, paths, coordinates, axes };
}

describe("zarr: single arrays", () => {
  it("round-trips every numeric dtype in 2..5 dimensions, Zarr v3 and v2", async () => {
    for (const ngff of ["0.5", "0.4"] as const) {
      const z = new ZarrBackend({ store: new MemoryBackend(), ngff });
      for (const [k, [name, make]] of CTORS.entries()) {
        const shape = SHAPES[k % SHAPES.length]!;
        const a = nd(make(shape.reduce((x, y) => x * y, 1)), shape);
        const path = `/${name}_${ngff}.zarr`;
        await z.save(a, path);
        sameArray(await z.load<NdArray>(path), a, `${name} ${ngff}`);
      }
    }
  });

  it("round-trips every compression with edge chunks, both formats, and writes the codec", async () => {
    for (const ngff of ["0.5", "0.4"] as const) {
      for (const compression of COMPRESSIONS) {
        const mem = new MemoryBackend();
        const z = new ZarrBackend({ store: mem, ngff, compression });
        const a = nd(Uint16Array.from({ length: 3 * 10 * 9 }, (_, i) => (i * 37) % 1000), [
          3,
          10,
          9,
        ]);
        await z.save(a, "/a.zarr", { chunks: [2, 4, 4] });
        sameArray(await z.load<NdArray>("/a.zarr"), a, `${compression} ${ngff}`);
        const metaName = ngff === "0.5" ? "zarr.json" : ".zarray";
        const meta = JSON.parse(dec.decode(await mem.load(`/a.zarr/${metaName}`, { as: "bytes" })));
        const chunks = ngff === "0.5" ? meta.chunk_grid.configuration.chunk_shape : meta.chunks;
        assert.deepEqual(chunks, [2, 4, 4]);
        if (ngff === "0.5") {
          const names = meta.codecs.map((c: { name: string }) => c.name);
          const want: Record<Compression, string[]> = {
            none: ["bytes"],
            gzip: ["bytes", "gzip"],
            zlib: ["bytes", "numcodecs.zlib"],
            zstd: ["bytes", "zstd"],
            blosc: ["bytes", "blosc"],
          };
          assert.deepEqual(names, want[compression]);
        } else {
          assert.equal(meta.compressor?.id ?? "none", compression);
          assert.equal(meta.dimension_separator, "/");
        }
        // 2 x 3 x 3 chunks, edge ones included.
        const files = await mem.listFiles("/a.zarr", { recursive: true });
        assert.equal(files.filter((f) => !/zarr\.json|\.zarray|\.zattrs/.test(f)).length, 18);
      }
    }
  });

  it("chooses one chunk for small arrays and plane chunks for big ones", async () => {
    const mem = new MemoryBackend();
    const z = new ZarrBackend({ store: mem, compression: "none" });
    await z.save(nd(new Uint8Array(24), [2, 3, 4]), "/small.zarr");
    const small = JSON.parse(dec.decode(await mem.load("/small.zarr/zarr.json", { as: "bytes" })));
    assert.deepEqual(small.chunk_grid.configuration.chunk_shape, [2, 3, 4]);
    await z.save(nd(new Uint16Array(3 * 512 * 700), [3, 512, 700]), "/big.zarr");
    const big = JSON.parse(dec.decode(await mem.load("/big.zarr/zarr.json", { as: "bytes" })));
    assert.deepEqual(big.chunk_grid.configuration.chunk_shape, [1, 512, 700]);
  });

  it("refuses an existing target unless overwrite, and replaces it with overwrite", async () => {
    const mem = new MemoryBackend();
    const z = new ZarrBackend({ store: mem });
    const a = nd(new Float32Array([1, 2, 3, 4]), [2, 2]);
    const b = nd(new Float32Array([9, 8, 7, 6, 5, 4]), [3, 2]);
    await z.save(a, "/x.zarr");
    await assert.rejects(z.save(b, "/x.zarr"), AlreadyExistsError);
    sameArray(await z.load<NdArray>("/x.zarr"), a);
    await z.save(b, "/x.zarr", { overwrite: true });
    sameArray(await z.load<NdArray>("/x.zarr"), b);
    assert.deepEqual(await mem.listDir("/"), ["x.zarr"], "no temporary directories left");
  });

  it("needs the parent directory and rejects bad chunk shapes before writing", async () => {
    const mem = new MemoryBackend();
    const z = new ZarrBackend({ store: mem });
    await assert.rejects(z.save(nd(new Uint8Array(4), [2, 2]), "/no/such/x.zarr"), NotFoundError);
    await assert.rejects(
      z.save(nd(new Uint8Array(4), [2, 2]), "/x.zarr", { chunks: [2] }),
      RangeError,
    );
    await assert.rejects(
      z.save(nd(new Uint8Array(4), [2, 2]), "/x.zarr", { compression: "lzma" as Compression }),
      TypeError,
    );
    assert.deepEqual(await mem.listDir("/"), []);
  });

  it("a mixed batch (arrays and files) is all or nothing", async () => {
    const mem = new MemoryBackend();
    const z = new ZarrBackend({ store: mem });
    await z.save("keep", "/b.txt");
    const a = nd(new Uint8Array([1, 2, 3, 4]), [2, 2]);
    await assert.rejects(
      z.saveBatch([a, "x", a], ["/a.zarr", "/b.txt", "/c.zarr"]),
      AlreadyExistsError,
    );
    assert.deepEqual(await mem.listDir("/"), ["b.txt"]);
    await assert.rejects(z.saveBatch([a, "x"], ["/d.zarr", "/no/e.txt"]), NotFoundError);
    assert.deepEqual(await mem.listDir("/"), ["b.txt"]);
    await z.saveBatch([a, "y", a], ["/a.zarr", "/b.txt", "/c.zarr"], { overwrite: true });
    assert.equal(await z.load("/b.txt"), "y");
    sameArray(await z.load<NdArray>("/c.zarr"), a);
  });

  it("lists an array as one file; exists/isFile are true for it", async () => {
    const mem = new MemoryBackend();
    const z = new ZarrBackend({ store: mem });
    await mem.ensureDirectory("/d/sub");
    await z.save(nd(new Uint8Array(4), [2, 2]), "/d/x.zarr");
    await z.save("hello", "/d/sub/n.txt");
    assert.deepEqual(await z.listFiles("/d", { recursive: true }), ["/d/x.zarr", "/d/sub/n.txt"]);
    assert.equal(await z.exists("/d/x.zarr"), true);
    assert.equal(await z.isFile("/d/x.zarr"), true);
    assert.equal(await z.load("/d/sub/n.txt"), "hello");
    await z.delete("/d/x.zarr");
    assert.equal(await z.exists("/d/x.zarr"), false);
  });

  it("loads as bytes: the little-endian element bytes", async () => {
    const z = new ZarrBackend({ store: new MemoryBackend() });
    await z.save(nd(new Uint16Array([1, 258]), [1, 2]), "/b.zarr");
    assert.deepEqual(await z.load("/b.zarr", { as: "bytes" }), new Uint8Array([1, 0, 2, 1]));
  });
});

describe("zarr: plates (NGFF 0.5 on Zarr v3 by default)", () => {
  it("writes plate → row → column → field → 0 and loads planes by virtual name in request order", async () => {
    for (const ngff of ["0.5", "0.4"] as const) {
      for (const chunks of ["plane", "well"] as const) {
        const mem = new MemoryBackend();
        const z = new ZarrBackend({ store: mem, ngff, chunks });
        const b = plateBatch(3, 2);
        await z.saveBatch(b.planes, b.paths, {
          row: "A",
          column: "01",
          axes: b.axes,
          coordinates: b.coordinates,
        });
        const order = [5, 0, 3, 1, 4, 2];
        const got = await z.loadBatch<NdArray>(order.map((i) => b.paths[i]!));
        order.forEach((i, k) => sameArray(got[k]!, b.planes[i]!, `${ngff}/${chunks} plane ${i}`));
        const g = ngff === "0.5" ? "zarr.json" : ".zgroup";
        for (const p of ["", "/A", "/A/01", "/A/01/0", "/A/01/2"]) {
          assert.ok(await mem.exists(`/plate/images${p}/${g}`), `group ${p}`);
        }
        const a = ngff === "0.5" ? "zarr.json" : ".zarray";
        const arr = JSON.parse(
          dec.decode(await mem.load(`/plate/images/A/01/1/0/${a}`, { as: "bytes" })),
        );
        const cs = ngff === "0.5" ? arr.chunk_grid.configuration.chunk_shape : arr.chunks;
        assert.deepEqual(cs, chunks === "plane" ? [1, 6, 5] : [2, 6, 5]);
        assert.deepEqual(arr.shape, [2, 6, 5]);
      }
    }
  });

  it("the same name twice in one batch gives two equal, independent planes", async () => {
    const z = new ZarrBackend({ store: new MemoryBackend() });
    await z.save(nd(new Uint8Array([1, 2]), [1, 2]), "/p/a.tif", { row: "A", column: "1" });
    const [x, y] = await z.loadBatch<NdArray>(["/p/a.tif", "/p/a.tif"]);
    sameArray(x!, y!);
    x!.data[0] = 99;
    assert.equal(y!.data[0], 1);
  });

  it("reads each chunk once, with one loadBatch of chunk files", async () => {
    for (const chunks of ["plane", "well"] as const) {
      const mem = new CountingMemory();
      const z = new ZarrBackend({ store: mem, chunks });
      const b = plateBatch(2, 3);
      await z.saveBatch(b.planes, b.paths, {
        row: "B",
        column: "3",
        axes: b.axes,
        coordinates: b.coordinates,
      });
      mem.reads = [];
      mem.batches = [];
      const got = await z.loadBatch<NdArray>(b.paths);
      got.forEach((g, i) => sameArray(g, b.planes[i]!));
      const isChunk = (p: string) => /\/c\/\d/.test(p);
      const chunkBatches = mem.batches.filter((x) => x.some(isChunk));
      assert.equal(chunkBatches.length, 1, "one batched read of chunks");
      const chunkReads = [...mem.reads, ...mem.batches.flat()].filter(isChunk);
      assert.equal(new Set(chunkReads).size, chunkReads.length, "no chunk read twice");
      assert.equal(chunkReads.length, chunks === "plane" ? 6 : 2);
    }
  });

  it("reuses the plate index while metadata is unchanged, and sees other writers' changes", async () => {
    const mem = new CountingMemory();
    const reader = new ZarrBackend({ store: mem });
    const writer = new ZarrBackend({ store: mem });
    const wells = ["1", "2", "3", "4", "5", "6", "7", "8"];
    for (const c of wells) {
      await writer.saveBatch(
        [nd(new Uint8Array([Number(c), 0]), [1, 2]), nd(new Uint8Array([Number(c), 1]), [1, 2])],
        [`/p/A${c}_0.tif`, `/p/A${c}_1.tif`],
        { row: "A", column: c },
      );
    }
    const metaReads = () => [...mem.reads, ...mem.batches.flat()].filter((p) => !/\/c\/\d/.test(p));
    const first = await reader.loadBatch<NdArray>(["/p/A3_1.tif"]);
    assert.deepEqual([...first[0]!.data], [3, 1]);
    const cold = metaReads().length;
    mem.reads = [];
    mem.batches = [];
    const again = await reader.loadBatch<NdArray>(["/p/A5_0.tif", "/p/A5_1.tif"]);
    assert.deepEqual(again.map((a) => [...a.data]), [[5, 0], [5, 1]]);
    const warm = metaReads();
    assert.ok(cold >= 1 + 8 + 16, `cold read the whole plate (${cold})`);
    assert.ok(warm.length <= 3, `warm read the root and the two arrays only: ${warm}`);
    // Another writer replaces well 5 with new names and values: seen at once.
    await writer.saveBatch([nd(new Uint8Array([50, 50]), [1, 2])], ["/p/new5.tif"], {
      row: "A",
      column: "5",
      overwrite: true,
    });
    await assert.rejects(reader.loadBatch(["/p/A5_0.tif"]), NotFoundError);
    assert.deepEqual([...(await reader.load<NdArray>("/p/new5.tif")).data], [50, 50]);
    // Same names, new values: the chunks are read fresh.
    await writer.saveBatch([nd(new Uint8Array([60, 60]), [1, 2])], ["/p/new5.tif"], {
      row: "A",
      column: "5",
      overwrite: true,
    });
    assert.deepEqual([...(await reader.load<NdArray>("/p/new5.tif")).data], [60, 60]);
    // A new well.
    await writer.save(nd(new Uint8Array([9, 9]), [1, 2]), "/p/B1.tif", { row: "B", column: "1" });
    assert.equal(await reader.exists("/p/B1.tif"), true);
    assert.equal((await reader.listFiles("/p")).length, 8 * 2 - 2 + 1 + 1);
  });

  it("lists virtual names (pattern and extension filters apply); exists/isFile are true for them", async () => {
    const z = new ZarrBackend({ store: new MemoryBackend() });
    const b = plateBatch(2, 2);
    await z.saveBatch(b.planes, b.paths, {
      row: "A",
      column: "01",
      axes: b.axes,
      coordinates: b.coordinates,
    });
    assert.deepEqual(await z.listFiles("/plate/images"), [...b.paths].sort());
    assert.deepEqual(await z.listFiles("/plate/images", { pattern: "*_w2*" }), [
      "/plate/images/A01_s1_w2.tif",
      "/plate/images/A01_s2_w2.tif",
    ]);
    assert.deepEqual(await z.listFiles("/plate/images", { extensions: [".png"] }), []);
    assert.equal((await z.listFiles("/plate/images", { extensions: new Set(["TIF"]) })).length, 4);
    assert.deepEqual(await z.listFiles("/plate", { recursive: true }), [...b.paths].sort());
    assert.deepEqual(
      await z.listDir("/plate/images"),
      b.paths.map((p) => p.split("/").pop()!).sort(),
    );
    for (const p of b.paths) {
      assert.equal(await z.exists(p), true);
      assert.equal(await z.isFile(p), true);
    }
    assert.equal(await z.exists("/plate/images/nope.tif"), false);
    await assert.rejects(z.load("/plate/images/nope.tif"), NotFoundError);
    await assert.rejects(z.loadBatch([b.paths[0]!, "/plate/images/nope.tif"]), NotFoundError);
    await assert.rejects(z.delete(b.paths[0]!), StorageError);
  });

  it("keeps 1536-well names (rows A..AF, columns 1..48, padded or not) and lists every well once", async () => {
    const mem = new MemoryBackend();
    const z = new ZarrBackend({ store: mem });
    const wells: [string, string][] = [
      ["AF", "48"],
      ["A", "1"],
      ["B", "01"],
      ["Z", "12"],
      [
        "AA",
        "2",
      ],
      ["A", "01"],
      ["P", "24"],
    ];
    for (const [row, column] of wells) {
      await z.save(
        nd(new Uint8Array([row.length, Number(column)]), [1, 2]),
        `/p/${row}${column}.tif`,
        {
          row,
          column,
        },
      );
    }
    const root = JSON.parse(dec.decode(await mem.load("/p/zarr.json", { as: "bytes" })));
    const plate = root.attributes.ome.plate;
    assert.equal(root.attributes.ome.version, "0.5");
    assert.deepEqual(plate.rows.map((r: { name: string }) => r.name), [
      "A",
      "B",
      "P",
      "Z",
      "AA",
      "AF",
    ]);
    assert.deepEqual(plate.columns.map((c: { name: string }) => c.name), [
      "01",
      "1",
      "2",
      "12",
      "24",
      "48",
    ]);
    assert.equal(plate.wells.length, wells.length);
    for (const [row, column] of wells) {
      const w = plate.wells.filter((x: { path: string }) => x.path === `${row}/${column}`);
      assert.equal(w.length, 1, `${row}/${column} once`);
      assert.equal(plate.rows[w[0].rowIndex].name, row);
      assert.equal(plate.columns[w[0].columnIndex].name, column);
      const [v] = await z.loadBatch<NdArray>([`/p/${row}${column}.tif`]);
      assert.deepEqual([...v!.data], [row.length, Number(column)]);
    }
  });

  it("concurrent saveBatch calls into one plate leave every well listed exactly once", async () => {
    const mem = new MemoryBackend();
    const z = new ZarrBackend({ store: mem });
    const rows = ["A", "B", "C", "D"];
    const cols = ["1", "2", "3", "4", "5", "6"];
    await Promise.all(
      rows.flatMap((r) =>
        cols.map((c) =>
          z.saveBatch([nd(new Uint8Array([r.charCodeAt(0), Number(c)]), [1, 2])], [
            `/conc/${r}${c}.tif`,
          ], { row: r, column: c })
        )
      ),
    );
    const plate = JSON.parse(dec.decode(await mem.load("/conc/zarr.json", { as: "bytes" })))
      .attributes.ome.plate;
    const paths = plate.wells.map((w: { path: string }) => w.path).sort();
    assert.deepEqual(paths, rows.flatMap((r) => cols.map((c) => `${r}/${c}`)).sort());
    const all = await z.loadBatch<NdArray>(
      rows.flatMap((r) => cols.map((c) => `/conc/${r}${c}.tif`)),
    );
    assert.equal(all.length, 24);
    assert.deepEqual([...all[7]!.data], ["B".charCodeAt(0), 2]);
  });

  it("two concurrent writes of the same well: one wins, the other is AlreadyExistsError, nothing half-written", async () => {
    const mem = new MemoryBackend();
    const z = new ZarrBackend({ store: mem });
    const results = await Promise.allSettled(
      [1, 2].map((v) =>
        z.saveBatch([nd(new Uint8Array([v, v]), [1, 2])], [`/p/w${v}.tif`], {
          row: "A",
          column: "1",
        })
      ),
    );
    assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
    const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    assert.ok(failed.reason instanceof AlreadyExistsError, String(failed.reason));
    const names = await z.listFiles("/p");
    assert.equal(names.length, 1);
    const v = Number(names[0]!.match(/w(\d)/)![1]);
    assert.deepEqual([...(await z.load<NdArray>(names[0]!)).data], [v, v]);
    assert.deepEqual((await mem.listDir("/p")).filter((n) => n.startsWith(".")), []);
    const plate = JSON.parse(dec.decode(await mem.load("/p/zarr.json", { as: "bytes" })))
      .attributes.ome.plate;
    assert.equal(plate.wells.length, 1);
  });

  it("refuses to replace a well unless overwrite; overwrite replaces it and keeps it listed once", async () => {
    const mem = new MemoryBackend();
    const z = new ZarrBackend({ store: mem });
    const one = nd(new Uint8Array([1, 1]), [1, 2]);
    const two = nd(new Uint8Array([2, 2]), [1, 2]);
    await z.save(one, "/p/a.tif", { row: "A", column: "1" });
    await assert.rejects(z.save(two, "/p/b.tif", { row: "A", column: "1" }), AlreadyExistsError);
    assert.equal(await z.exists("/p/b.tif"), false);
    await z.save(two, "/p/b.tif", { row: "A", column: "1", overwrite: true });
    assert.deepEqual([...(await z.load<NdArray>("/p/b.tif")).data], [2, 2]);
    await assert.rejects(z.load("/p/a.tif"), NotFoundError);
    const plate = JSON.parse(dec.decode(await mem.load("/p/zarr.json", { as: "bytes" })))
      .attributes.ome.plate;
    assert.equal(plate.wells.length, 1);
    assert.deepEqual(
      (await mem.listDir("/p")).filter((n) => n.startsWith(".")),
      [],
      "no temporary groups left behind",
    );
  });

  it("default axes: plane i is field i; the arrays are 2-D", async () => {
    const mem = new MemoryBackend();
    const z = new ZarrBackend({ store: mem, ngff: "0.4" });
    const planes = [0, 1, 2].map((f) => nd(new Int32Array([f, -f, f * 3, 7]), [2, 2]));
    await z.saveBatch(planes, ["/s/f0.tif", "/s/f1.tif", "/s/f2.tif"], { row: "C", column: 7 });
    const well = JSON.parse(dec.decode(await mem.load("/s/C/7/.zattrs", { as: "bytes" })));
    assert.deepEqual(well.well.images.map((i: { path: string }) => i.path), ["0", "1", "2"]);
    const attrs = JSON.parse(dec.decode(await mem.load("/s/C/7/2/0/.zattrs", { as: "bytes" })));
    assert.deepEqual(attrs.polystore_filename_map, { "f2.tif": [] });
    assert.deepEqual(attrs.polystore_image_coordinate, { field: "2" });
    const got = await z.loadBatch<NdArray>(["/s/f2.tif", "/s/f0.tif"]);
    sameArray(got[0]!, planes[2]!);
    sameArray(got[1]!, planes[0]!);
  });

  it("moves and copies a whole plate store; planes load from the new place", async () => {
    const z = new ZarrBackend({ store: new MemoryBackend() });
    const b = plateBatch(1, 2);
    await z.saveBatch(b.planes, b.paths, {
      row: "A",
      column: "01",
      axes: b.axes,
      coordinates: b.coordinates,
    });
    await z.ensureDirectory("/other");
    await z.copy("/plate/images", "/other/copy");
    await z.move("/plate/images", "/other/moved");
    assert.equal(await z.exists("/plate/images/A01_s1_w1.tif"), false);
    for (const d of ["/other/copy", "/other/moved"]) {
      const got = await z.loadBatch<NdArray>([`${d}/A01_s1_w2.tif`]);
      sameArray(got[0]!, b.planes[1]!);
    }
    await z.createSymlink("/other/copy", "/other/link");
    assert.equal(await z.isSymlink("/other/link"), true);
    sameArray(await z.load<NdArray>("/other/link/A01_s1_w1.tif"), b.planes[0]!);
  });
});

describe("zarr: bad input is refused before anything is written", () => {
  const planes = () => [nd(new Uint16Array(4), [2, 2]), nd(new Uint16Array(4), [2, 2])];
  const paths = ["/bad/images/a.tif", "/bad/images/b.tif"];
  const cases: [
    string,
    () => [unknown[], string[], Record<string, unknown>],
    (e: unknown) => boolean,
  ][] = [
    ["mismatched lengths", () => [planes(), paths.slice(0, 1), {}], (e) => e instanceof RangeError],
    [
      "coordinates outside the declared axes",
      () => [planes(), paths, {
        axes: [{ name: "field", role: "image", size: 1 }],
        coordinates: [[0], [1]],
      }],
      (e) => e instanceof RangeError && /outside axis 'field'/.test((e as Error).message),
    ],
    [
      "coordinates of the wrong rank",
      () => [planes(), paths, {
        axes: [{ name: "field", role: "image" }],
        coordinates: [[0, 1], [1, 0]],
      }],
      (e) => e instanceof RangeError,
    ],
    [
      "planes of different shapes",
      () => [[nd(new Uint16Array(4), [2, 2]), nd(new Uint16Array(6), [2, 3])], paths, {}],
      (e) => e instanceof RangeError && /differs/.test((e as Error).message),
    ],
    [
      "planes of different dtypes",
      () => [[nd(new Uint16Array(4), [2, 2]), nd(new Float32Array(4), [2, 2])], paths, {}],
      (e) => e instanceof TypeError && /dtype/.test((e as Error).message),
    ],
    [
      "duplicate coordinates",
      () => [planes(), paths, {
        axes: [{ name: "field", role: "image" }],
        coordinates: [[0], [0]],
      }],
      (e) => e instanceof StorageError && (e as StorageError).code === "EEXIST",
    ],
    [
      "duplicate paths",
      () => [planes(), [paths[0]!, paths[0]!], {}],
      (e) => e instanceof StorageError && (e as StorageError).code === "EEXIST",
    ],
    [
      "a 3-D plane",
      () => [[nd(new Uint16Array(8), [2, 2, 2])], paths.slice(0, 1), {}],
      (e) => e instanceof RangeError,
    ],
    ["a non-array plane", () => [["text"], paths.slice(0, 1), {}], (e) => e instanceof TypeError],
    [
      "paths in two directories",
      () => [planes(), [paths[0]!, "/bad/other/b.tif"], {}],
      (e) => e instanceof RangeError,
    ],
    [
      "an invalid row name",
      () => [planes(), paths, { row: "A/B" }],
      (e) => e instanceof TypeError,
    ],
    [
      "axes out of NGFF order (space before channel)",
      () => [planes(), paths, {
        axes: [{ name: "z", type: "space" }, { name: "c", type: "channel" }],
        coordinates: [[0, 0], [0, 1]],
      }],
      (e) => e instanceof RangeError && /orders axes/.test((e as Error).message),
    ],
    [
      "two channel-or-custom axes",
      () => [planes(), paths, {
        axes: [{ name: "c", type: "channel" }, { name: "angle" }],
        coordinates: [[0, 0], [0, 1]],
      }],
      (e) => e instanceof RangeError && /at most one channel/.test((e as Error).message),
    ],
    [
      "too many array axes",
      () => [planes(), paths, {
        axes: [{ name: "t" }, { name: "c" }, { name: "z" }, { name: "q" }],
        coordinates: [[0, 0, 0, 0], [0, 0, 0, 1]],
      }],
      (e) => e instanceof RangeError,
    ],
  ];
  for (const [name, make, check] of cases) {
    it(name, async () => {
      const mem = new MemoryBackend();
      const z = new ZarrBackend({ store: mem });
      const [p, ps, extra] = make();
      await assert.rejects(
        z.saveBatch(p as StorageValue[], ps, { row: "A", column: "1", ...extra }),
        (e) => {
          assert.ok(check(e), `${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
          return true;
        },
      );
      assert.deepEqual(await mem.listDir("/"), [], "nothing written");
    });
  }

  it("a corrupt zarr.json or .zarray is a typed error naming the file", async () => {
    for (const ngff of ["0.5", "0.4"] as const) {
      const mem = new MemoryBackend();
      const z = new ZarrBackend({ store: mem, ngff });
      await z.save(nd(new Uint8Array([1, 2]), [1, 2]), "/p/a.tif", { row: "A", column: "1" });
      await z.save(nd(new Uint8Array([1, 2]), [1, 2]), "/x.zarr");
      const arr = ngff === "0.5" ? "zarr.json" : ".zarray";
      await mem.save(enc.encode("{ not json"), `/p/A/1/0/0/${arr}`, { overwrite: true });
      await assert.rejects(z.load("/p/a.tif"), (e) => {
        assert.ok(e instanceof StorageError);
        assert.equal(e.code, "ERR_CORRUPT_DATA");
        assert.match(e.message, new RegExp(`/p/A/1/0/0/\\${arr}`));
        return true;
      });
      await mem.save(
        enc.encode(JSON.stringify({ zarr_format: 3, node_type: "array", shape: [2] })),
        `/x.zarr/zarr.json`,
        {
          overwrite: true,
        },
      );
      if (ngff === "0.4") {
        await mem.save(
          enc.encode(JSON.stringify({ zarr_format: 2, shape: [1, 2], chunks: [0, 2] })),
          "/x.zarr/.zarray",
          {
            overwrite: true,
          },
        );
        await mem.delete("/x.zarr/zarr.json");
      }
      await assert.rejects(
        z.load("/x.zarr"),
        (e) => e instanceof CorruptDataError && e.code === "ERR_CORRUPT_DATA",
      );
    }
  });

  it("a corrupt chunk is a typed error, not garbage", async () => {
    const mem = new MemoryBackend();
    const z = new ZarrBackend({ store: mem, compression: "zlib" });
    await z.save(nd(new Uint16Array(16), [4, 4]), "/p/a.tif", { row: "A", column: "1" });
    await mem.save(new Uint8Array([1, 2, 3, 4, 5]), "/p/A/1/0/0/c/0/0", { overwrite: true });
    // A bad chunk is corrupt data (naming the chunk), not corrupt metadata.
    await assert.rejects(
      z.load("/p/a.tif"),
      (e) => e instanceof CorruptDataError && e.path === "/p/A/1/0/0/c/0/0",
    );
  });

  it("does not mix NGFF versions in one store", async () => {
    const mem = new MemoryBackend();
    const z = new ZarrBackend({ store: mem });
    await z.save(nd(new Uint8Array(2), [1, 2]), "/p/a.tif", { row: "A", column: "1" });
    await assert.rejects(
      z.save(nd(new Uint8Array(2), [1, 2]), "/p/b.tif", { row: "A", column: "2", ngff: "0.4" }),
      (e) => e instanceof StorageError && e.code === "EINVAL",
    );
    assert.equal(await mem.exists("/p/A/2"), false);
  });
});

describe("zarr: byte store and registry", () => {
  it("plain paths go to the byte store unchanged", async () => {
    const mem = new MemoryBackend();
    const z = new ZarrBackend({ store: mem });
    await z.ensureDirectory("/d");
    await z.save({ a: 1 }, "/d/meta.json");
    await z.saveBatch(["x", "y"], ["/d/x.txt", "/d/y.txt"]);
    assert.deepEqual(await mem.load("/d/meta.json"), { a: 1 });
    assert.deepEqual(await z.loadBatch(["/d/y.txt", "/d/x.txt"]), ["y", "x"]);
    assert.deepEqual(await z.listDir("/d"), ["meta.json", "x.txt", "y.txt"]);
  });

  it("a read-only byte store refuses writes with EROFS", async () => {
    const mem = new MemoryBackend();
    const writer = new ZarrBackend({ store: mem });
    await writer.save(nd(new Uint8Array([5, 6]), [1, 2]), "/p/a.tif", { row: "A", column: "1" });
    const readOnly = {
      key: "ro",
      requiresFilesystemValidation: false as const,
      load: mem.load.bind(mem),
      loadBatch: mem.loadBatch.bind(mem),
      listFiles: mem.listFiles.bind(mem),
      exists: mem.exists.bind(mem),
      isFile: mem.isFile.bind(mem),
      isDir: mem.isDir.bind(mem),
      listDir: mem.listDir.bind(mem),
    };
    const z = new ZarrBackend({ store: readOnly });
    assert.deepEqual([...(await z.load<NdArray>("/p/a.tif")).data], [5, 6]);
    await assert.rejects(
      z.save(nd(new Uint8Array(2), [1, 2]), "/p/b.tif", { row: "A", column: "2" }),
      (e) => e instanceof StorageError && e.code === "EROFS",
    );
  });

  it("the registry key 'zarr' gives a ZarrBackend whose default store is the registry's disk", async () => {
    const reg = createRegistry();
    const z = await reg.getBackend<ZarrBackend>("ZARR");
    assert.ok(z instanceof ZarrBackend);
    assert.equal(z.key, "zarr");
    assert.equal(z.ngff, "0.5");
    const store = await z.byteStore();
    assert.equal(store.key, "disk");
    assert.equal(store, await reg.getBackend("disk"));
  });
});

conformance("zarr over memory", async () => {
  const backend = new ZarrBackend({ store: new MemoryBackend() });
  await backend.ensureDirectory("/root");
  return { backend, root: "/root" };
});
