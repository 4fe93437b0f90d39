/**
 * The codec worker pool (`_internal/workers`): every job gives the same
 * result off-thread as on the calling thread, byte for byte (property tests
 * over random images and chunks, every dtype and codec), and corrupt input
 * fails with the same typed error class, code and path either way. Also:
 * jobs really run on workers with `HCS_STORE_WORKERS=2`, never with `0`; the
 * `maxDecodedBytes` budget holds inside a worker; a batch read from one
 * shared arena is not detached by moving compressed files to workers.
 *
 * Thresholds are set to 0 here so that small random inputs go to workers.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { NdArray, TypedArray } from "../backends/base.ts";
import { LimitExceededError, StorageError } from "../errors.ts";
import { decodeTiff, decodeTiffAsync } from "../formats/tiff.ts";
import { decodePng, decodePngAsync, encodePng, encodePngAsync } from "../formats/png.ts";
import { decodeForPath } from "../formats/mod.ts";
import {
  chunkEncoder,
  type Compression,
  dtypeOf,
  inlineChunkEncoder,
  v2Compressor,
} from "../zarr/codec.ts";
import { chunkDecoder, inlineChunkDecoder } from "../zarr/decode.ts";
import { buildPyramid, buildPyramidAsync, planLevels } from "../zarr/pyramid.ts";
import { planeLevels } from "../zarr/plane_job.ts";
import { ChannelStats } from "../zarr/omero.ts";
import { closePool, poolStats, runJob, setThresholds } from "../_internal/workers/pool.ts";
import { buildTiff, type PageSpec } from "./_tiff_fixtures.ts";
import * as zarr from "zarrita";
import { installPureDecoders, uninstallPureDecoders } from "../_internal/codecs/zarrita_pure.ts";

const ZERO = {
  tiff: 0,
  zarrDecode: 0,
  zarrEncode: 0,
  pngDecode: 0,
  pngEncode: 0,
  downsample: 0,
  planeLevels: 0,
};
const RUNS = { numRuns: 40 };
const savedEnv = process.env.HCS_STORE_WORKERS;

function useWorkers(n: string | undefined): void {
  closePool();
  if (n === undefined) delete process.env.HCS_STORE_WORKERS;
  else process.env.HCS_STORE_WORKERS = n;
}

before(() => {
  useWorkers("2");
  setThresholds(ZERO);
});
after(() => {
  setThresholds();
  useWorkers(savedEnv);
});

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function sameArray(got: NdArray, want: NdArray): void {
  assert.equal(got.data.constructor, want.data.constructor);
  assert.deepEqual(got.shape, want.shape);
  assert.deepEqual(got.stride, want.stride);
  assert.deepEqual(bytesOf(got.data), bytesOf(want.data));
}

/**
 * Runs both; they must agree on the value or on the error (class, code, path,
 * and the message unless `sameMessage` is false).
 */
async function agree<T>(
  serial: () => T | Promise<T>,
  parallel: () => Promise<T>,
  same: (a: T, b: T) => void,
  sameMessage = true,
): Promise<void> {
  let want: { ok: true; v: T } | { ok: false; e: unknown };
  try {
    want = { ok: true, v: await serial() };
  } catch (e) {
    want = { ok: false, e };
  }
  let got: { ok: true; v: T } | { ok: false; e: unknown };
  try {
    got = { ok: true, v: await parallel() };
  } catch (e) {
    got = { ok: false, e };
  }
  if (want.ok && got.ok) return same(got.v, want.v);
  if (!want.ok && !got.ok) {
    const a = got.e as Error & { code?: string; path?: string; operation?: string };
    const b = want.e as Error & { code?: string; path?: string; operation?: string };
    assert.equal(a.constructor, b.constructor, `error class: ${a.message} vs ${b.message}`);
    assert.equal(a.name, b.name);
    if (sameMessage) assert.equal(a.message, b.message);
    assert.equal(a.code, b.code);
    assert.equal(a.path, b.path);
    assert.equal(a.operation, b.operation);
    return;
  }
  assert.fail(
    `serial ${want.ok ? "succeeded" : `threw ${(want as { e: Error }).e}`}, parallel ${
      got.ok ? "succeeded" : `threw ${(got as { e: Error }).e}`
    }`,
  );
}

// bits, format (1 uint, 2 int, 3 float), typed array class
const TIFF_TYPES: [number, number, new (b: ArrayBuffer) => TypedArray][] = [
  [8, 1, Uint8Array],
  [8, 2, Int8Array],
  [16, 1, Uint16Array],
  [16, 2, Int16Array],
  [32, 1, Uint32Array],
  [32, 2, Int32Array],
  [32, 3, Float32Array],
  [64, 3, Float64Array],
  [64, 1, BigUint64Array],
  [64, 2, BigInt64Array],
];

const tiffCase = fc.record({
  type: fc.nat(TIFF_TYPES.length - 1),
  width: fc.integer({ min: 1, max: 40 }),
  height: fc.integer({ min: 1, max: 40 }),
  compression: fc.constantFrom(5, 8, 32773),
  predictor: fc.boolean(),
  rowsPerStrip: fc.integer({ min: 1, max: 40 }),
  tiled: fc.boolean(),
  pages: fc.integer({ min: 1, max: 3 }),
  seed: fc.nat(),
  littleEndian: fc.boolean(),
  // corruption: none, cut the file short, or overwrite one byte
  damage: fc.oneof(
    fc.constant(undefined),
    fc.record({ cut: fc.double({ min: 0.3, max: 0.99, noNaN: true }) }),
    fc.record({ at: fc.double({ min: 0, max: 0.999, noNaN: true }), v: fc.nat(255) }),
  ),
});

type TiffCase = typeof tiffCase extends fc.Arbitrary<infer T> ? T : never;

function makeTiff(c: TiffCase): Uint8Array {
  const [bits, format, Ctor] = TIFF_TYPES[c.type]!;
  const size = bits / 8;
  const pages: PageSpec[] = [];
  for (let p = 0; p < c.pages; p++) {
    const raw = new Uint8Array(c.width * c.height * size);
    let x = (c.seed + p * 7919) >>> 0;
    for (let i = 0; i < raw.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      // smooth-ish data (compresses) with noise in the low bits
      raw[i] = ((i >> 3) + (x >>> 29)) & 0xff;
    }
    if (format === 3) {
      // finite floats only, so NaN payloads cannot differ
      const f = new (Ctor as unknown as new (b: ArrayBuffer) => Float32Array)(raw.buffer);
      for (let i = 0; i < f.length; i++) f[i] = ((raw[i * size]! - 128) * 1.5) / 7;
    }
    const predictor = c.predictor ? (format === 3 ? 3 : bits === 64 ? 1 : 2) : 1;
    pages.push({
      width: c.width,
      height: c.height,
      data: new Ctor(raw.buffer),
      bits,
      format,
      compression: c.compression,
      predictor,
      rowsPerStrip: c.rowsPerStrip,
      ...(c.tiled ? { tile: [16, 16] as [number, number] } : {}),
    });
  }
  const file = buildTiff(pages, { littleEndian: c.littleEndian });
  const d = c.damage;
  if (d && "cut" in d) return file.slice(0, Math.max(8, Math.floor(file.length * d.cut)));
  if (d && "at" in d) {
    // Strip/tile data lies between the header and the first IFD: damage
    // it there, so the failure comes from a codec (on the worker).
    const out = file.slice();
    const ifd = new DataView(out.buffer).getUint32(4, c.littleEndian);
    const at = 8 + Math.floor((ifd - 8) * d.at);
    out[at] = out[at]! ^ (1 + (d.v % 255));
    return out;
  }
  return file;
}
function sampleCase(): TiffCase {
  return fc.sample(tiffCase, { numRuns: 1, seed: 42 })[0]!;
}

describe("worker pool: parallel == serial", () => {
  it("TIFF (LZW, Deflate, PackBits; strips, tiles, predictors; every sample type) and corrupt TIFFs", async () => {
    const before = poolStats().offThread;
    let failures = 0;
    await fc.assert(
      fc.asyncProperty(tiffCase, async (c) => {
        const file = makeTiff(c);
        const path = `/data/case_${c.seed}.tif`;
        await agree(
          () => decodeTiff(file, path, {}),
          async () => {
            try {
              return await decodeTiffAsync(file, path, {});
            } catch (e) {
              failures++;
              throw e;
            }
          },
          sameArray,
        );
      }),
      { numRuns: 80 },
    );
    assert.ok(poolStats().offThread > before, "TIFF jobs ran on workers");
    assert.ok(failures > 0, "some damaged TIFFs failed");
  });

  it("decodeTiffAsync leaves its input usable unless told to move it; moved input is detached", async () => {
    const file = makeTiff({ ...sampleCase(), damage: undefined, compression: 8 });
    const want = decodeTiff(file, "a.tif");
    sameArray(await decodeTiffAsync(file, "a.tif"), want);
    assert.ok(file.byteLength > 0, "input still attached");
    const mine = file.slice();
    sameArray(await decodeTiffAsync(mine, "a.tif", { transferInput: true }), want);
    assert.equal(mine.byteLength, 0, "input moved to the worker");
  });

  it("uncompressed contiguous TIFFs stay zero-copy views, off the pool", async () => {
    const data = new Uint16Array(64 * 64).map((_, i) => i);
    const file = buildTiff([{ width: 64, height: 64, data, bits: 16, format: 1 }]);
    const before = poolStats();
    const img = await decodeTiffAsync(file, "u.tif");
    assert.equal(img.data.buffer, file.buffer);
    assert.equal(poolStats().offThread, before.offThread);
  });

  const pngCase = fc.record({
    width: fc.integer({ min: 1, max: 48 }),
    height: fc.integer({ min: 1, max: 48 }),
    channels: fc.integer({ min: 1, max: 4 }),
    sixteen: fc.boolean(),
    seed: fc.nat(),
    cut: fc.option(fc.double({ min: 0.2, max: 0.99, noNaN: true })),
  });

  it("PNG decode (8/16-bit, 1-4 channels) and corrupt PNGs", async () => {
    const before = poolStats().offThread;
    await fc.assert(
      fc.asyncProperty(pngCase, async (c) => {
        const n = c.width * c.height * c.channels;
        const data = c.sixteen ? new Uint16Array(n) : new Uint8Array(n);
        for (let i = 0; i < n; i++) {
          data[i] = ((i * 31 + c.seed) % 977) & (c.sixteen ? 0xffff : 0xff);
        }
        const shape = c.channels === 1 ? [c.height, c.width] : [c.height, c.width, c.channels];
        const stride = c.channels === 1 ? [c.width, 1] : [c.width * c.channels, c.channels, 1];
        let file = encodePng({ data, shape, stride });
        if (c.cut !== null) file = file.slice(0, Math.floor(file.length * c.cut));
        await agree(
          () => decodePng(file, "/p.png"),
          () => decodePngAsync(file, "/p.png"),
          sameArray,
        );
      }),
      RUNS,
    );
    assert.ok(poolStats().offThread > before, "PNG jobs ran on workers");
  });

  it("PNG encode moves the pixels to a worker only with transferInput", async () => {
    const data = new Uint16Array(32 * 20 * 3).map((_, i) => i * 13);
    const value = { data, shape: [32, 20, 3], stride: [60, 3, 1] };
    const want = encodePng(value);
    const before = poolStats().offThread;
    assert.deepEqual(await encodePngAsync(value), want);
    assert.equal(poolStats().offThread, before, "without transferInput: inline");
    assert.equal(data.length, 32 * 20 * 3);
    const mine = { ...value, data: data.slice() };
    assert.deepEqual(await encodePngAsync(mine, "x.png", { transferInput: true }), want);
    assert.equal(poolStats().offThread, before + 1);
    assert.equal(mine.data.length, 0, "pixels moved, not copied");
  });

  const ZARR_DTYPES = [
    Uint8Array,
    Int8Array,
    Uint16Array,
    Int16Array,
    Uint32Array,
    Int32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
  ] as const;
  const zarrCase = fc.record({
    dtype: fc.nat(ZARR_DTYPES.length - 1),
    compression: fc.constantFrom<Compression>("gzip", "zlib", "zstd", "blosc"),
    elements: fc.integer({ min: 1, max: 3000 }),
    seed: fc.nat(),
    damage: fc.option(
      fc.record({ at: fc.double({ min: 0, max: 0.999, noNaN: true }), v: fc.nat(255) }),
    ),
  });

  it("Zarr chunk encode and decode (gzip, zlib, zstd, blosc; every dtype) and corrupt chunks", async () => {
    const before = poolStats().offThread;
    await fc.assert(
      fc.asyncProperty(zarrCase, async (c) => {
        const Ctor = ZARR_DTYPES[c.dtype]!;
        const a = new Ctor(c.elements);
        const raw8 = bytesOf(a);
        for (let i = 0; i < raw8.length; i++) raw8[i] = ((i >> 2) * 7 + (c.seed % 13)) & 0xff;
        const dtype = dtypeOf(a)!;
        const spec = { name: c.compression, level: 1 };
        const inline = await inlineChunkEncoder(spec, dtype);
        const pooled = await chunkEncoder(spec, dtype);
        const want = await inline(raw8);
        const mine = raw8.slice();
        const got = await pooled(mine, { transfer: true });
        assert.equal(mine.byteLength, 0, "chunk moved to a worker");
        assert.deepEqual(got, want);

        const meta = { dtype: dtype.v2, compressor: v2Compressor(spec, dtype), filters: null };
        let stored = want;
        if (c.damage !== null) {
          stored = want.slice();
          stored[Math.floor(stored.length * c.damage.at)] = c.damage.v;
        }
        const serial = inlineChunkDecoder(meta, 2, "read", "/z");
        const parallel = chunkDecoder(meta, 2, "read", "/z");
        await agree(
          () => serial.decode(stored, c.elements, "/z/0.0", "read"),
          () => parallel.decode(stored, c.elements, "/z/0.0", "read"),
          (x, y) => {
            assert.equal(x.constructor, y.constructor);
            assert.deepEqual(bytesOf(x), bytesOf(y));
          },
          // The same reason text too: a worker decodes with the decoders its
          // caller has (the codec cache is keyed by zarrita's loader).
        );
      }),
      RUNS,
    );
    assert.ok(poolStats().offThread > before, "Zarr jobs ran on workers");
  });

  it("a worker decodes a Zarr chunk with the decoders its caller has now, whichever came first", async () => {
    // The pure-JS blosc/zstd decoders can be installed into zarrita's registry
    // after a first decode; a codec cached by name kept the first one, so a
    // worker and its caller could disagree on a damaged chunk (seen in a full
    // Bun run, seed 467509457: one refused it, the other decoded it).
    const PURE = Symbol.for("hcs-store.pure-decoders");
    const wasPure = (zarr.registry as unknown as { [PURE]?: unknown })[PURE] !== undefined;
    const dtype = dtypeOf(new Uint8Array(1))!;
    const spec = { name: "blosc" as const, level: 1 };
    const stored = (await inlineChunkEncoder(spec, dtype))(new Uint8Array([0]));
    const damaged = (await stored).slice();
    damaged[0] = 1; // the blosc format version byte
    const meta = { dtype: dtype.v2, compressor: v2Compressor(spec, dtype), filters: null };
    const outcome = (p: Promise<unknown>) => p.then(() => "decoded", (e: Error) => e.message);
    try {
      // This thread decodes with the WASM codecs first, fresh workers with the pure ones.
      uninstallPureDecoders();
      await outcome(inlineChunkDecoder(meta, 2, "read", "/z").decode(damaged, 1, "/z/0.0", "read"));
      closePool();
      installPureDecoders();
      await outcome(chunkDecoder(meta, 2, "read", "/z").decode(damaged, 1, "/z/0.0", "read"));
      for (const pure of [false, true, false]) {
        if (pure) installPureDecoders();
        else uninstallPureDecoders();
        const serial = inlineChunkDecoder(meta, 2, "read", "/z");
        const parallel = chunkDecoder(meta, 2, "read", "/z");
        assert.equal(
          await outcome(parallel.decode(damaged, 1, "/z/0.0", "read")),
          await outcome(serial.decode(damaged, 1, "/z/0.0", "read")),
          `pure decoders installed: ${pure}`,
        );
      }
    } finally {
      if (wasPure) installPureDecoders();
      else uninstallPureDecoders();
    }
  });

  it("pyramid levels (mean and nearest, several dtypes) match buildPyramid", async () => {
    for (
      const Ctor of [Uint8Array, Uint16Array, Int32Array, Float32Array, BigInt64Array] as const
    ) {
      for (const mode of ["mean", "nearest"] as const) {
        const data = new Ctor(2 * 37 * 45);
        const b = bytesOf(data);
        for (let i = 0; i < b.length; i++) b[i] = (i * 7919) & 0xff;
        if (data instanceof Float32Array) {
          data.forEach((
            v,
            i,
          ) => (data[i] = Number.isFinite(v) ? v : i));
        }
        const sizes: [number, number][] = [[37, 45], [19, 23], [10, 12], [5, 6]];
        const want = buildPyramid(data, sizes, mode, 2);
        const before = poolStats().offThread;
        const got = await buildPyramidAsync(data, sizes, mode, 2);
        assert.equal(got.length, want.length);
        got.forEach((g, l) => assert.deepEqual(bytesOf(g), bytesOf(want[l]!), `level ${l}`));
        assert.equal(got[0], data, "level 0 is the caller's array, untouched");
        assert.equal(poolStats().offThread, before + 2, "levels 2 and 3 were made on workers");
      }
    }
  });
});

describe("worker pool: a plate write's plane job", () => {
  it("planeLevels on a worker == histogram, buildPyramid and the inline encoder of every level", async () => {
    const before = poolStats().offThread;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          ctor: fc.constantFrom(Uint8Array, Int8Array, Uint16Array, Int16Array),
          h: fc.integer({ min: 1, max: 70 }),
          w: fc.integer({ min: 1, max: 70 }),
          seed: fc.integer(),
          name: fc.constantFrom<Compression>("none", "zlib", "zstd", "blosc"),
          mode: fc.constantFrom("mean" as const, "nearest" as const),
        }),
        async (c) => {
          const data = new c.ctor(c.h * c.w);
          let x = c.seed | 1;
          for (let i = 0; i < data.length; i++) {
            x ^= x << 13, x ^= x >>> 17, x ^= x << 5;
            data[i] = x;
          }
          const sizes = planLevels(c.h, c.w, { minLevelSize: 4 }) as [number, number][];
          const spec = { name: c.name, level: 1 };
          const enc = await inlineChunkEncoder(spec, dtypeOf(data)!);
          const want = await Promise.all(
            buildPyramid(data, sizes, c.mode).map((l) => enc(bytesOf(l).slice())),
          );
          const stats = new ChannelStats();
          stats.add(data);
          const counts = ChannelStats.counts(data)!;
          const moved = data.slice();
          const got = await runJob("planeLevels", { data: moved, sizes, mode: c.mode, spec }, {
            inline: false,
            prepare: (a) => ({ args: a, transfer: [a.data.buffer as ArrayBuffer] }),
          });
          assert.equal(moved.byteLength, 0, "the plane was moved, not copied");
          assert.equal(got.chunks.length, want.length);
          got.chunks.forEach((g, l) => assert.deepEqual(g, want[l], `level ${l}`));
          assert.deepEqual(got.counts, counts);
          const merged = new ChannelStats();
          merged.addCounts(got.counts!, data.subarray(0, 0));
          assert.deepEqual(merged.window(), stats.window());
          // The inline call of the same job agrees too.
          const inline = await planeLevels({ data: data.slice(), sizes, mode: c.mode, spec });
          inline.chunks.forEach((g, l) => assert.deepEqual(g, want[l], `inline level ${l}`));
        },
      ),
      RUNS,
    );
    assert.ok(poolStats().offThread > before, "plane jobs ran on workers");
  });

  it("ChannelStats.counts is add's histogram only for 8- and 16-bit integers", () => {
    assert.equal(ChannelStats.counts(new Float32Array(4)), undefined);
    assert.equal(ChannelStats.counts(new Int32Array(4)), undefined);
    const c = ChannelStats.counts(new Int16Array([-32768, -1, -1, 32767]))!;
    assert.equal(c.length, 65536);
    assert.deepEqual([c[0], c[32767], c[65535]], [1, 2, 1]);
    const s = new ChannelStats();
    assert.throws(() => s.addCounts(new Uint32Array(256), new Uint16Array(0)), RangeError);
  });
});

describe("worker pool: limits and switches", () => {
  it("the maxDecodedBytes budget holds inside a worker", async () => {
    const img = { data: new Uint8Array(64 * 64), shape: [64, 64], stride: [64, 1] };
    const png = encodePng(img);
    await assert.rejects(
      decodePngAsync(png, "/big.png", { maxDecodedBytes: 1000 }),
      (e: unknown) => e instanceof LimitExceededError && e.path === "/big.png",
    );
    // The worker's own check, with the main thread's plan bypassed.
    const file = makeTiff({ ...sampleCase(), damage: undefined, compression: 8 });
    const need = decodeTiff(file, "t.tif").data.byteLength;
    const before = poolStats().offThread;
    await assert.rejects(
      runJob("tiff", {
        bytes: file,
        path: "/t.tif",
        maxDecodedBytes: need - 1,
        out: new Uint8Array(need),
      }, {
        inline: false,
        prepare: (a) => {
          const copy = a.bytes.slice();
          return { args: { ...a, bytes: copy }, transfer: [copy.buffer] };
        },
      }),
      (e: unknown) => e instanceof LimitExceededError && e.path === "/t.tif",
    );
    assert.equal(poolStats().offThread, before, "a failed job is not counted as run");
  });

  it("HCS_STORE_WORKERS=0 runs every job inline; 2 starts at most two workers", async () => {
    const file = makeTiff({ ...sampleCase(), damage: undefined, compression: 8 });
    useWorkers("0");
    try {
      const before = poolStats();
      assert.equal(before.size, 0);
      await Promise.all([1, 2, 3].map(() => decodeTiffAsync(file, "a.tif")));
      const after = poolStats();
      assert.equal(after.offThread, before.offThread);
      assert.equal(after.inline, before.inline + 3);
      assert.equal(after.running, 0);
    } finally {
      useWorkers("2");
    }
    const started = poolStats().started;
    await Promise.all(Array.from({ length: 6 }, () => decodeTiffAsync(file, "a.tif")));
    const s = poolStats();
    assert.equal(s.size, 2);
    assert.ok(s.started - started <= 2 && s.running <= 2, JSON.stringify(s));
  });

  it("DiskBackend.loadBatch: compressed files decode on workers, the shared arena stays attached", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hcs-workers-"));
    try {
      const { DiskBackend } = await import("../backends/disk.ts");
      const paths: string[] = [];
      const want: NdArray[] = [];
      for (let k = 0; k < 6; k++) {
        const data = new Uint16Array(96 * 80).map((_, i) => (i * 3 + k) & 0xffff);
        const file = buildTiff([
          {
            width: 80,
            height: 96,
            data,
            bits: 16,
            format: 1,
            ...(k % 2 ? { compression: 8 } : {}),
          },
        ]);
        const p = join(dir, `f${k}.tif`);
        writeFileSync(p, file);
        paths.push(p);
        want.push(decodeForPath(file, p, "load") as NdArray);
      }
      const before = poolStats().offThread;
      const got = await new DiskBackend().loadBatch<NdArray>(paths);
      got.forEach((g, k) => sameArray(g, want[k]!));
      assert.ok(poolStats().offThread >= before + 3, "compressed files ran on workers");
      // Uncompressed results are views into the reader's arena: still readable.
      for (const k of [0, 2, 4]) assert.ok(got[k]!.data.byteLength > 0);
      await assert.rejects(
        new DiskBackend().loadBatch([join(dir, "f1.tif"), join(dir, "missing.tif")]),
        (e: unknown) => e instanceof StorageError && e.code === "ENOENT",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
