/**
 * Multiscale pyramids and image metadata: level planning, the 2× downsample
 * against a reference written independently here (odd sizes, half-to-even
 * rounding, 64-bit, labels), plates written with levels/pixel size/omero
 * read back level by level through zarrita, NGFF 0.4/0.5 schema validation,
 * and Python zarr opening every level with identical values.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as zarr from "zarrita";
import Ajv2020Module from "ajv/dist/2020.js";
import { MemoryBackend } from "../backends/memory.ts";
import { ZarrBackend } from "../backends/zarr.ts";
import { ZarrStoreAdapter } from "../zarr/store.ts";
import { DiskBackend } from "../backends/disk.ts";
import type { NdArray, TypedArray } from "../backends/base.ts";
import { buildPyramid, downsample2x, levelTransforms, planLevels } from "../zarr/pyramid.ts";
import { ChannelStats, resolvePixelSize } from "../zarr/omero.ts";
import { describePeer, peerSkip, PYTHON, pythonMissing } from "./_peers.ts";

/** Reference: every output pixel is the mean of the input pixels its 2×2 block covers. */
function reference(data: ArrayLike<number>, h: number, w: number, nearest = false): number[] {
  const out: number[] = [];
  for (let y = 0; y < h; y += 2) {
    for (let x = 0; x < w; x += 2) {
      if (nearest) {
        out.push(data[y * w + x]!);
        continue;
      }
      const vals = [[y, x], [y, x + 1], [y + 1, x], [y + 1, x + 1]]
        .filter(([yy, xx]) => yy! < h && xx! < w)
        .map(([yy, xx]) => data[yy! * w + xx!]!);
      const m = vals.reduce((a, b) => a + b, 0) / vals.length;
      const f = Math.floor(m);
      const d = m - f;
      out.push(d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1);
    }
  }
  return out;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

describe("pyramid: level planning", () => {
  it("auto levels halve (ceil) until the coarsest fits a tile", () => {
    assert.deepEqual(planLevels(1000, 601), [[1000, 601], [500, 301], [250, 151]]);
    assert.deepEqual(planLevels(200, 100), [[200, 100]]);
    assert.deepEqual(planLevels(1025, 3, { tileSize: 512 }), [[1025, 3], [513, 2], [257, 1]]);
  });
  it("an explicit level count and a minimum size are honoured", () => {
    assert.equal(planLevels(64, 64, { levels: 4 }).length, 4);
    assert.deepEqual(planLevels(64, 40, { levels: 8, minLevelSize: 10 }).at(-1), [16, 10]);
    assert.deepEqual(planLevels(2, 2, { levels: 5 }), [[2, 2], [1, 1]]);
    assert.throws(() => planLevels(8, 8, { levels: 0 }), RangeError);
  });
});

describe("pyramid: 2x downsample", () => {
  for (const [h, w] of [[8, 8], [7, 5], [1, 9], [9, 1], [3, 3]] as const) {
    it(`uint16 ${h}x${w} matches the reference (odd edge: mean of the pixels that exist)`, () => {
      const r = rng(h * 31 + w);
      const d = Uint16Array.from({ length: h * w }, () => Math.floor(r() * 65536));
      assert.deepEqual([...downsample2x(d, h, w)], reference(d, h, w));
      assert.deepEqual([...downsample2x(d, h, w, "nearest")], reference(d, h, w, true));
    });
  }
  it("the 8/16-bit fast path equals the reference for every small type, odd sizes and planes", () => {
    const r = rng(99);
    for (const C of [Uint8Array, Int8Array, Uint16Array, Int16Array, Uint8ClampedArray]) {
      for (let t = 0; t < 60; t++) {
        const h = 1 + Math.floor(r() * 12);
        const w = 1 + Math.floor(r() * 12);
        const d = new C(2 * h * w);
        for (let i = 0; i < d.length; i++) d[i] = Math.floor(r() * 131072) - 65536;
        const want = [
          ...reference(d.subarray(0, h * w), h, w),
          ...reference(d.subarray(h * w), h, w),
        ];
        assert.deepEqual([...downsample2x(d, h, w, "mean", 2)], want, `${C.name} ${h}x${w}`);
      }
    }
  });
  it("rounds half to even (2.5 → 2, 3.5 → 4) and keeps negatives exact", () => {
    assert.deepEqual([...downsample2x(new Uint8Array([2, 3, 3, 4]), 1, 4)], [2, 4]);
    assert.deepEqual([...downsample2x(new Int16Array([-3, -2]), 1, 2)], [-2]);
    assert.deepEqual([...downsample2x(new Int16Array([-4, -3]), 1, 2)], [-4]);
  });
  it("float32 means are not rounded; int64 uses exact BigInt arithmetic", () => {
    assert.deepEqual([...downsample2x(new Float32Array([1, 2, 3, 5]), 2, 2)], [2.75]);
    const big = 2n ** 62n;
    const d = new BigInt64Array([big, big + 1n, big + 2n, big + 3n]);
    assert.deepEqual([...downsample2x(d, 2, 2)], [big + 2n]); // 1.5 → 2 (half to even)
  });
  it("buildPyramid chains: level n is the downsample of level n-1, plane by plane", () => {
    const r = rng(7);
    const d = Uint8Array.from({ length: 2 * 13 * 11 }, () => Math.floor(r() * 256));
    const sizes = planLevels(13, 11, { levels: 4 });
    const levels = buildPyramid(d, sizes, "mean", 2);
    for (let l = 1; l < sizes.length; l++) {
      const [h, w] = sizes[l - 1]!;
      const prev = levels[l - 1]!;
      const want = [
        ...reference(prev.subarray(0, h * w), h, w),
        ...reference(prev.subarray(h * w), h, w),
      ];
      assert.deepEqual([...levels[l]!], want, `level ${l}`);
    }
  });
  it("transformations: scale doubles on y/x, translation keeps pixel centres aligned", () => {
    assert.deepEqual(levelTransforms([1, 0.65, 0.65], 0), [{
      type: "scale",
      scale: [1, 0.65, 0.65],
    }]);
    assert.deepEqual(levelTransforms([2, 0.5, 0.25], 3), [
      { type: "scale", scale: [2, 4, 2] },
      { type: "translation", translation: [0, 1.75, 0.875] },
    ]);
  });
});

describe("omero: contrast windows", () => {
  it("uint16 windows are the exact 0.1/99.9 percentiles of every plane added", () => {
    const r = rng(3);
    const s = new ChannelStats();
    const all: number[] = [];
    for (let k = 0; k < 3; k++) {
      const d = Uint16Array.from({ length: 5000 }, () => Math.floor(r() * r() * 40000));
      s.add(d);
      all.push(...d);
    }
    all.sort((a, b) => a - b);
    const n = all.length;
    const win = s.window();
    assert.equal(win.start, all[Math.floor(0.001 * (n - 1))]);
    assert.equal(win.end, all[Math.floor(0.999 * (n - 1))]);
    assert.equal(win.min, 0);
    assert.equal(win.max, 65535);
  });
  it("float windows use the data range", () => {
    const s = new ChannelStats();
    s.add(Float32Array.from({ length: 1001 }, (_, i) => i / 10));
    const w = s.window();
    assert.deepEqual([w.min, w.max, w.start, w.end], [0, 100, 0.1, 99.9].map(Math.fround));
  });
  it("pixel sizes are validated", () => {
    assert.throws(() => resolvePixelSize(-1), RangeError);
    assert.throws(() => resolvePixelSize({ x: 1, y: 1, unit: "furlong" }), RangeError);
    assert.deepEqual(resolvePixelSize({ x: 0.5, y: 0.6, z: 2, unit: "nanometer" }), {
      x: 0.5,
      y: 0.6,
      z: 2,
      unit: "nanometer",
    });
  });
});

const H = 201;
const W = 150;

/** Two channels, two fields, deterministic content; channel 1 spans a smaller range. */
function wellPlanes(seed: number): { planes: NdArray[]; paths: string[]; coords: number[][] } {
  const r = rng(seed);
  const planes: NdArray[] = [];
  const paths: string[] = [];
  const coords: number[][] = [];
  for (let f = 0; f < 2; f++) {
    for (let c = 0; c < 2; c++) {
      const data = Uint16Array.from(
        { length: H * W },
        (_, i) => (c === 0 ? (i % W) * 100 : 1000) + Math.floor(r() * 50),
      );
      planes.push({ data, shape: [H, W], stride: [W, 1] });
      paths.push(`/p/images/A01_s${f}_w${c}.tif`);
      coords.push([f, c]);
    }
  }
  return { planes, paths, coords };
}

async function readLevel(mem: MemoryBackend, dir: string): Promise<zarr.Chunk<zarr.DataType>> {
  const adapter = new ZarrStoreAdapter(mem, "/p/images");
  const loc = zarr.root(adapter as unknown as zarr.Readable).resolve(dir);
  const arr = await zarr.open(loc, { kind: "array" });
  return await zarr.get(arr);
}

async function writeWell(
  store: MemoryBackend | DiskBackend,
  ngff: "0.5" | "0.4",
  base = "/p/images",
): Promise<void> {
  const z = new ZarrBackend({ store, ngff });
  const { planes, paths, coords } = wellPlanes(11);
  await z.saveBatch(planes, paths.map((p) => p.replace("/p/images", base)), {
    row: "A",
    column: "01",
    axes: [{ name: "field", role: "image" }, {
      name: "c",
      type: "channel",
      values: ["DAPI", "GFP"],
    }],
    coordinates: coords,
    levels: "auto",
    tileSize: 64,
    pixelSize: { x: 0.65, y: 0.65, unit: "micrometer" },
    channels: [{ color: "0000FF" }, { color: "00FF00" }],
  });
}

function imageAttrs(mem: MemoryBackend, ngff: "0.5" | "0.4", dir: string) {
  return mem.load<Uint8Array>(`/p/images/${dir}/${ngff === "0.5" ? "zarr.json" : ".zattrs"}`, {
    as: "bytes",
  }).then((b) => {
    const j = JSON.parse(new TextDecoder().decode(b));
    return ngff === "0.5" ? j.attributes.ome : j;
  });
}

describe("pyramid: plates written with levels and metadata", () => {
  for (const ngff of ["0.5", "0.4"] as const) {
    it(`NGFF ${ngff}: every level is the exact downsample of the previous stored level`, async () => {
      const mem = new MemoryBackend();
      await mem.ensureDirectory("/p/images");
      await writeWell(mem, ngff);
      const sizes = planLevels(H, W, { tileSize: 64 });
      assert.equal(sizes.length, 3); // 201x150 → 101x75 → 51x38
      const attrs = await imageAttrs(mem, ngff, "A/01/1");
      const ms = attrs.multiscales[0];
      assert.deepEqual(ms.datasets.map((d: { path: string }) => d.path), ["0", "1", "2"]);
      const [scale, shift] = ms.datasets[2].coordinateTransformations;
      assert.deepEqual(scale, { type: "scale", scale: [1, 2.6, 2.6] });
      assert.equal(shift.type, "translation");
      for (const [i, want] of [0, 0.975, 0.975].entries()) {
        assert.ok(Math.abs(shift.translation[i] - want) < 1e-12, `translation ${i}`);
      }
      assert.deepEqual(ms.axes.map((a: { unit?: string }) => a.unit ?? null), [
        null,
        "micrometer",
        "micrometer",
      ]);
      for (let l = 1; l < sizes.length; l++) {
        const prev = await readLevel(mem, `A/01/1/${l - 1}`);
        const cur = await readLevel(mem, `A/01/1/${l}`);
        const [h, w] = sizes[l - 1]!;
        assert.deepEqual(cur.shape, [2, ...sizes[l]!]);
        assert.deepEqual(prev.shape, [2, h, w]);
        const p = prev.data as Uint16Array;
        const want = [
          ...reference(p.subarray(0, h * w), h, w),
          ...reference(p.subarray(h * w), h, w),
        ];
        assert.deepEqual([...(cur.data as Uint16Array)], want, `level ${l}`);
      }
      // omero: names from the channel axis, the caller's colours, windows from the data.
      const ch = attrs.omero.channels;
      assert.deepEqual(ch.map((c: { label: string }) => c.label), ["DAPI", "GFP"]);
      assert.deepEqual(ch.map((c: { color: string }) => c.color), ["0000FF", "00FF00"]);
      const lvl0 = (await readLevel(mem, "A/01/1/0")).data as Uint16Array;
      const c1 = [...lvl0.subarray(H * W)].sort((a, b) => a - b);
      assert.equal(ch[1].window.start, c1[Math.floor(0.001 * (c1.length - 1))]);
      assert.equal(ch[1].window.end, c1[Math.floor(0.999 * (c1.length - 1))]);
      assert.ok(ch[0].window.end > 10000 && ch[1].window.end < 1100);
    });
  }

  it("z spacing: a z space axis gets its scale and unit; levels scale y/x only", async () => {
    const mem = new MemoryBackend();
    await mem.ensureDirectory("/p/images");
    const z = new ZarrBackend({ store: mem });
    const planes = [0, 1, 2].map((k) => ({
      data: new Uint8Array(8 * 6).fill(k),
      shape: [8, 6],
      stride: [6, 1],
    }));
    await z.saveBatch(planes, [0, 1, 2].map((k) => `/p/images/A01_z${k}.tif`), {
      row: "A",
      column: "01",
      axes: [{ name: "z", type: "space" }],
      coordinates: [[0], [1], [2]],
      levels: 2,
      pixelSize: { x: 0.5, y: 0.4, z: 2 },
    });
    const ms = (await imageAttrs(mem, "0.5", "A/01/0")).multiscales[0];
    assert.deepEqual(ms.axes, [
      { name: "z", type: "space", unit: "micrometer" },
      { name: "y", type: "space", unit: "micrometer" },
      { name: "x", type: "space", unit: "micrometer" },
    ]);
    assert.deepEqual(ms.datasets[0].coordinateTransformations, [{
      type: "scale",
      scale: [2, 0.4, 0.5],
    }]);
    assert.deepEqual(ms.datasets[1].coordinateTransformations[0].scale, [2, 0.8, 1]);
    const lvl = await readLevel(mem, "A/01/0/1");
    assert.deepEqual(lvl.shape, [3, 4, 3]);
    assert.deepEqual([...(lvl.data as Uint8Array)].filter((_, i) => i % 12 === 0), [0, 1, 2]);
  });

  it("bad pyramid or metadata options are refused before anything is written", async () => {
    const mem = new MemoryBackend();
    await mem.ensureDirectory("/p/images");
    const z = new ZarrBackend({ store: mem });
    const { planes } = wellPlanes(1);
    const base = { row: "A", column: "01" };
    for (
      const bad of [
        { levels: 0 },
        { levels: 2.5 },
        { minLevelSize: 0 },
        { pixelSize: -1 },
        { pixelSize: { x: 1, y: 1, unit: "parsecs" } },
        { downsample: "max" },
        { channels: [{ color: "red" }] },
      ]
    ) {
      await assert.rejects(
        z.saveBatch([planes[0]!], ["/p/images/A01.tif"], { ...base, ...bad } as never),
        (e: Error) => e instanceof RangeError || e instanceof TypeError,
        JSON.stringify(bad),
      );
    }
    assert.deepEqual(await mem.listDir("/p/images"), []);
  });

  it("the default saveBatch writes one level (pyramids are opt-in there, on in convert)", async () => {
    const mem = new MemoryBackend();
    await mem.ensureDirectory("/p/images");
    const z = new ZarrBackend({ store: mem });
    const { planes } = wellPlanes(1);
    await z.saveBatch([planes[0]!], ["/p/images/A01.tif"], { row: "A", column: "01" });
    const attrs = await imageAttrs(mem, "0.5", "A/01/0");
    assert.equal(attrs.multiscales[0].datasets.length, 1);
    assert.equal(await mem.exists("/p/images/A/01/0/1"), false);
  });
});

// The official NGFF schemas travel with the tests (tests/schemas/, licence and source noted there).
const schemas = fileURLToPath(new URL("./schemas/", import.meta.url));
type Validate = ((data: unknown) => boolean) & { errors?: unknown };
const Ajv2020 = ((Ajv2020Module as unknown as { default?: unknown }).default ??
  Ajv2020Module) as new (o: Record<string, unknown>) => {
    addSchema(s: unknown): unknown;
    getSchema(id: string): Validate | undefined;
  };

describe(
  "pyramid: metadata validates against the NGFF schemas",
  () => {
    for (const ngff of ["0.5", "0.4"] as const) {
      it(`NGFF ${ngff} image attributes with levels, units and omero`, async () => {
        const ajv = new Ajv2020({ strict: false, allErrors: true });
        for (const f of readdirSync(join(schemas, ngff))) {
          ajv.addSchema(JSON.parse(readFileSync(join(schemas, ngff, f), "utf8")));
        }
        const v = ajv.getSchema(`https://ngff.openmicroscopy.org/${ngff}/schemas/image.schema`)!;
        const mem = new MemoryBackend();
        await mem.ensureDirectory("/p/images");
        await writeWell(mem, ngff);
        const attrs = await imageAttrs(mem, ngff, "A/01/0");
        const doc = ngff === "0.5" ? { ome: attrs } : attrs;
        assert.ok(v(doc), JSON.stringify(v.errors));
        // The check can fail: a broken transformation list is refused.
        const bad = structuredClone(doc);
        const ms = (ngff === "0.5" ? bad.ome : bad).multiscales[0];
        ms.datasets[1].coordinateTransformations = [{
          type: "translation",
          translation: [0, 1, 1],
        }];
        assert.equal(v(bad), false);
      });
    }
  },
);

const pySkip = peerSkip("python-zarr", pythonMissing(["zarr", "numpy"]));
/** Zarr v3 (NGFF 0.5) needs zarr-python ≥ 3; Debian ships 2.x, which reads v2 only. */
function zarrV3Skip(): string | false {
  if (pySkip) return pySkip;
  const r = spawnSync(PYTHON, ["-c", "import zarr; print(zarr.__version__)"], { encoding: "utf8" });
  const major = Number((r.stdout ?? "").trim().split(".")[0]);
  return major >= 3 ? false : `zarr-python ${r.stdout.trim()} reads Zarr v2 only`;
}

describePeer(pySkip)("pyramid: Python zarr opens every level with identical values", () => {
  for (const ngff of ["0.5", "0.4"] as const) {
    it(`NGFF ${ngff}`, { skip: ngff === "0.5" ? zarrV3Skip() : false }, async () => {
      const dir = mkdtempSync(join(tmpdir(), "hcs-pyr-"));
      try {
        const root = join(dir, "images");
        const disk = new DiskBackend();
        await disk.ensureDirectory(root);
        await writeWell(disk, ngff, root);
        const script = `import sys, zarr, numpy as np
for l in range(3):
    a = zarr.open(sys.argv[1] + "/A/01/1/" + str(l), mode="r")
    v = np.asarray(a[...]).astype(np.int64)
    print(l, ",".join(map(str, v.shape)), int(v.sum()), int((v * np.arange(v.size).reshape(v.shape) % 9973).sum()))`;
        const r = spawnSync(PYTHON, ["-c", script, root], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        const mem = new ZarrStoreAdapter(disk, root);
        const lines: string[] = [];
        for (let l = 0; l < 3; l++) {
          const loc = zarr.root(mem as unknown as zarr.Readable).resolve(`A/01/1/${l}`);
          const c = await zarr.get(await zarr.open(loc, { kind: "array" }));
          const d = c.data as TypedArray as Uint16Array;
          let sum = 0;
          let mix = 0;
          for (let i = 0; i < d.length; i++) {
            sum += d[i]!;
            mix += (d[i]! * i) % 9973;
          }
          lines.push(`${l} ${c.shape.join(",")} ${sum} ${mix}`);
        }
        assert.deepEqual(r.stdout.trim().split("\n"), lines);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
