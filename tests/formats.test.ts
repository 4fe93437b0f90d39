// Unit tests of the codecs behind formats/mod.ts: npy, tiff, png, csv (and
// the corrupt-input contract of json). Runs on Deno and Bun.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { encode as encodePngLib } from "fast-png";
import { decode as decodeWithTiffPackage } from "tiff";
import { LimitExceededError, StorageError, UnsupportedFormatError } from "../errors.ts";
import { crc32 } from "./_png.ts";
import type { NdArray, StorageValue, TypedArray } from "../backends/base.ts";
import {
  decodeForPath,
  decodeTiff,
  encodeForPath,
  encodeTiff,
  readNpyHeader,
  supportedExtensions,
} from "../formats/mod.ts";
import { buildTiff, type PageSpec } from "./_tiff_fixtures.ts";

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const F16 =
  (globalThis as unknown as { Float16Array?: new (n: number) => TypedArray }).Float16Array;

function cStrides(shape: number[]): number[] {
  const s: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

function nd<T extends TypedArray>(data: T, shape: number[]): NdArray<T> {
  return { data, shape, stride: cStrides(shape) };
}

/** Deterministic pseudo-random fill suited to each element type. */
function filled(Ctor: new (n: number) => TypedArray, n: number, seed = 1): TypedArray {
  const a = new Ctor(n) as unknown as { [i: number]: number | bigint; length: number };
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    if (a instanceof BigInt64Array) a[i] = BigInt(x) * -3n - BigInt(i) * (1n << 40n);
    else if (a instanceof BigUint64Array) a[i] = (BigInt(x) << 30n) + BigInt(i);
    else if (a instanceof Float32Array || a instanceof Float64Array) {
      a[i] = (x / 7) * (i % 2 ? -1 : 1);
    } else if (F16 && a instanceof F16) a[i] = (x % 2000) / 8 - 100;
    else a[i] = x; // integer arrays wrap modulo their width
  }
  return a as unknown as TypedArray;
}

const INT_CTORS = [
  Uint8Array,
  Int8Array,
  Uint16Array,
  Int16Array,
  Uint32Array,
  Int32Array,
  BigUint64Array,
  BigInt64Array,
] as const;
const ALL_CTORS: (new (n: number) => TypedArray)[] = [
  ...INT_CTORS,
  Float32Array,
  Float64Array,
  ...(F16 ? [F16] : []),
];

function assertSameArray(actual: StorageValue, expected: NdArray): void {
  const a = actual as NdArray;
  assert.ok(a && typeof a === "object" && "data" in a, "not an array value");
  assert.equal(a.data.constructor, expected.data.constructor);
  assert.deepEqual(a.shape, expected.shape);
  assert.deepEqual(a.stride, cStrides(expected.shape));
  assert.deepEqual(
    Array.from(a.data as ArrayLike<unknown>),
    Array.from(expected.data as ArrayLike<unknown>),
  );
}

function assertStorageError(fn: () => unknown, path: string, re?: RegExp): StorageError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof StorageError, `expected a StorageError, got ${String(caught)}`);
  assert.equal(caught.path, path);
  assert.ok(caught.message.startsWith(`load '${path}': `), caught.message);
  if (re) assert.match(caught.message, re);
  return caught;
}

/** An .npy file built by hand (independent of the encoder). */
function npyBytes(dict: string, body: Uint8Array, version = 1): Uint8Array {
  const pre = version === 1 ? 10 : 12;
  let header = dict;
  while ((pre + header.length + 1) % 64) header += " ";
  header += "\n";
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(pre + h.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, h.length, true);
  else dv.setUint32(8, h.length, true);
  out.set(h, pre);
  out.set(body, pre + h.length);
  return out;
}

describe("registry", () => {
  it("registers npy, tif, tiff, png and csv next to json and txt", () => {
    for (const ext of [".npy", ".tif", ".tiff", ".png", ".csv", ".json", ".txt"]) {
      assert.ok(supportedExtensions().includes(ext), ext);
    }
  });
  it("refuses strings and JSON values for array formats with UnsupportedFormatError", () => {
    for (const p of ["/a.npy", "/a.tif", "/a.png"]) {
      assert.throws(() => encodeForPath("text", p, "save"), UnsupportedFormatError);
      assert.throws(() => encodeForPath({ a: 1 }, p, "save"), (e: unknown) => {
        assert.ok(e instanceof UnsupportedFormatError);
        assert.ok(e.message.startsWith(`save '${p}': `), e.message);
        return true;
      });
    }
  });
  it("matches extensions case-insensitively", () => {
    const img = nd(new Uint16Array([1, 2, 3, 4]), [2, 2]);
    assertSameArray(decodeForPath(encodeForPath(img, "/A.TIF", "save"), "/b.Tiff", "load"), img);
  });
});

describe("npy", () => {
  for (const Ctor of ALL_CTORS) {
    it(`round-trips ${Ctor.name} in shapes [2,3], [5], [] and [0,4]`, () => {
      for (const shape of [[2, 3], [5], [], [0, 4]]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const img = nd(filled(Ctor, n, n + 7), shape);
        const bytes = encodeForPath(img, "/x/a.npy", "save");
        const h = readNpyHeader(bytes);
        assert.equal(h.dataOffset % 64, 0);
        assert.deepEqual(h.shape, shape);
        assert.equal(h.fortranOrder, false);
        assertSameArray(decodeForPath(bytes, "/x/a.npy", "load"), img);
      }
    });
  }

  it("writes NumPy dtype strings and returns a view when aligned", () => {
    const bytes = encodeForPath(nd(new Int16Array([1, -2]), [2]), "/a.npy", "save");
    assert.equal(readNpyHeader(bytes).descr, HOST_LE ? "<i2" : ">i2");
    const back = decodeForPath(bytes, "/a.npy", "load") as NdArray;
    assert.equal(back.data.buffer, bytes.buffer, "expected a zero-copy view");
    // misaligned copy of the same file still decodes (with a copy)
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    const b2 = decodeForPath(shifted, "/a.npy", "load") as NdArray;
    assert.notEqual(b2.data.buffer, shifted.buffer);
    assert.deepEqual(Array.from(b2.data as Int16Array), [1, -2]);
  });

  it("gathers strided (non C-order) input", () => {
    // a 3x2 view of a 2x3 array (transposed): element [i][j] = base[j*3 + i]
    const base = new Uint8Array([1, 2, 3, 4, 5, 6]);
    const t = { data: base, shape: [3, 2], stride: [1, 3] };
    assertSameArray(
      decodeForPath(encodeForPath(t, "/t.npy", "save"), "/t.npy", "load"),
      nd(new Uint8Array([1, 4, 2, 5, 3, 6]), [3, 2]),
    );
  });

  it("reads big-endian data into native arrays", () => {
    const body = new Uint8Array([0x01, 0x02, 0xff, 0xfe, 0x00, 0x10]);
    const a = decodeForPath(
      npyBytes("{'descr': '>u2', 'fortran_order': False, 'shape': (3,), }", body),
      "/be.npy",
      "load",
    );
    assertSameArray(a, nd(new Uint16Array([0x0102, 0xfffe, 0x0010]), [3]));
    const f = new Uint8Array(8);
    new DataView(f.buffer).setFloat64(0, -1.25, false);
    assertSameArray(
      decodeForPath(
        npyBytes("{'descr': '>f8', 'fortran_order': False, 'shape': (), }", f),
        "/be.npy",
        "load",
      ),
      nd(new Float64Array([-1.25]), []),
    );
  });

  it("transposes Fortran-order files to C order", () => {
    // C-order value at [i][j][k] is 100i + 10j + k; Fortran stores i fastest.
    const shape = [2, 3, 4];
    const f = new Int32Array(24);
    const c = new Int32Array(24);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        for (let k = 0; k < 4; k++) {
          f[i + 2 * (j + 3 * k)] = 100 * i + 10 * j + k;
          c[(i * 3 + j) * 4 + k] = 100 * i + 10 * j + k;
        }
      }
    }
    const bytes = npyBytes(
      "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3, 4), }",
      new Uint8Array(f.buffer),
    );
    assertSameArray(decodeForPath(bytes, "/f.npy", "load"), nd(c, shape));
  });

  it("reads bool as Uint8Array and format versions 2 and 3", () => {
    const dict = "{'descr': '|b1', 'fortran_order': False, 'shape': (2, 2), }";
    for (const v of [1, 2, 3]) {
      const a = decodeForPath(npyBytes(dict, new Uint8Array([1, 0, 0, 1]), v), "/b.npy", "load");
      assertSameArray(a, nd(new Uint8Array([1, 0, 0, 1]), [2, 2]));
    }
  });

  it("reads bool bytes other than 0/1 as 1, as NumPy does (Fortran order too)", () => {
    for (const order of ["False", "True"]) {
      const dict = `{'descr': '|b1', 'fortran_order': ${order}, 'shape': (2, 3), }`;
      const raw = new Uint8Array([0, 2, 255, 1, 0, 0x80]);
      const a = decodeForPath(npyBytes(dict, raw), "/b.npy", "load") as NdArray;
      const want = order === "False" ? [0, 1, 1, 1, 0, 1] : [0, 1, 0, 1, 1, 1];
      assert.deepEqual(Array.from(a.data as Uint8Array), want, order);
      assert.deepEqual(Array.from(raw), [0, 2, 255, 1, 0, 0x80], "input left alone");
    }
  });

  it("honours maxDecodedBytes (LimitExceededError before any copy)", () => {
    const dict = "{'descr': '<u2', 'fortran_order': True, 'shape': (10, 100), }";
    const bytes = npyBytes(dict, new Uint8Array(2000));
    assert.equal(
      (decodeForPath(bytes, "/l.npy", "load", { maxDecodedBytes: 2000 }) as NdArray)
        .data.length,
      1000,
    );
    assert.throws(
      () => decodeForPath(bytes, "/l.npy", "load", { maxDecodedBytes: 1999 }),
      (e: unknown) => e instanceof LimitExceededError && e.message.startsWith("load '/l.npy': "),
    );
  });

  it("refuses complex, object, string and structured dtypes with UnsupportedFormatError", () => {
    for (
      const descr of ["'<c8'", "'<c16'", "'|O'", "'<U3'", "[('a', '<i4'), ('b', '<f8')]"]
    ) {
      const bytes = npyBytes(
        `{'descr': ${descr}, 'fortran_order': False, 'shape': (1,), }`,
        new Uint8Array(16),
      );
      assert.throws(() => decodeForPath(bytes, "/c.npy", "load"), (e: unknown) => {
        assert.ok(e instanceof UnsupportedFormatError, `${descr}: ${e}`);
        assert.ok(e.message.startsWith("load '/c.npy': "), e.message);
        return true;
      });
    }
  });

  it("refuses truncated, padded and malformed files with a StorageError naming path and operation", () => {
    const good = encodeForPath(nd(new Float32Array([1, 2, 3, 4]), [2, 2]), "/a.npy", "save");
    assertStorageError(
      () => decodeForPath(good.subarray(0, good.length - 1), "/d/t.npy", "load"),
      "/d/t.npy",
      /size mismatch|truncated/,
    );
    const padded = new Uint8Array(good.length + 4);
    padded.set(good);
    assertStorageError(
      () => decodeForPath(padded, "/d/t.npy", "load"),
      "/d/t.npy",
      /size mismatch/,
    );
    assertStorageError(
      () => decodeForPath(good.subarray(0, 20), "/d/t.npy", "load"),
      "/d/t.npy",
      /truncated npy header/,
    );
    assertStorageError(
      () => decodeForPath(new Uint8Array(5), "/d/t.npy", "load"),
      "/d/t.npy",
      /magic/,
    );
    const huge = npyBytes(
      "{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000, 100000), }",
      new Uint8Array(8),
    );
    assertStorageError(() => decodeForPath(huge, "/d/t.npy", "load"), "/d/t.npy", /truncated/);
  });
});

/** Overwrites the inline value of a tag in the first IFD of a little-endian classic TIFF. */
function patchTag(tiff: Uint8Array, tag: number, value: number): void {
  const dv = new DataView(tiff.buffer, tiff.byteOffset);
  const ifd = dv.getUint32(4, true);
  for (let k = 0; k < dv.getUint16(ifd, true); k++) {
    const e = ifd + 2 + k * 12;
    if (dv.getUint16(e, true) !== tag) continue;
    if (dv.getUint16(e + 2, true) === 3) dv.setUint16(e + 8, value, true);
    else dv.setUint32(e + 8, value, true);
    return;
  }
  throw new Error(`tag ${tag} not found`);
}

describe("tiff", () => {
  const SUPPORTED = [
    Uint8Array,
    Int8Array,
    Uint16Array,
    Int16Array,
    Uint32Array,
    Int32Array,
    BigUint64Array,
    BigInt64Array,
    Float32Array,
    Float64Array,
  ];
  for (const Ctor of SUPPORTED) {
    it(`round-trips ${Ctor.name} planes and stacks (shape kept, zero-copy)`, () => {
      for (const shape of [[3, 5], [4, 3, 5], [1, 3, 5], [2, 2, 3, 5]]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const img = nd(filled(Ctor, n, n), shape);
        const bytes = encodeForPath(img, "/s.tif", "save");
        const back = decodeForPath(bytes, "/s.tif", "load") as NdArray;
        assertSameArray(back, img);
        assert.equal(back.data.buffer, bytes.buffer, "expected a view over the input");
      }
    });
  }

  it("copies (correctly) when the input is misaligned", () => {
    const img = nd(filled(Float64Array, 12, 3), [3, 4]);
    const bytes = encodeTiff(img);
    const shifted = new Uint8Array(bytes.length + 3).subarray(3);
    shifted.set(bytes);
    const back = decodeTiff(shifted);
    assert.notEqual(back.data.buffer, shifted.buffer);
    assertSameArray(back, img);
  });

  const page = (
    Ctor: new (n: number) => TypedArray,
    bits: number,
    format: number,
    extra: Partial<PageSpec> = {},
  ) => {
    const data = filled(Ctor, 37 * 29, bits + format);
    return { spec: { width: 37, height: 29, data, bits, format, ...extra } as PageSpec, data };
  };
  const layouts: [string, Partial<PageSpec>][] = [
    ["one strip", {}],
    ["strips of 4 rows", { rowsPerStrip: 4 }],
    ["16x16 tiles", { tile: [16, 16] }],
    ["Deflate (8)", { compression: 8, rowsPerStrip: 5 }],
    ["Adobe Deflate (32946) tiles", { compression: 32946, tile: [16, 32] }],
    ["PackBits", { compression: 32773, rowsPerStrip: 7 }],
    ["LZW", { compression: 5, rowsPerStrip: 7 }],
    ["LZW + predictor on tiles", { compression: 5, predictor: 2, tile: [16, 16] }],
    ["Deflate + horizontal predictor", { compression: 8, predictor: 2, rowsPerStrip: 8 }],
    ["PackBits + predictor on tiles", { compression: 32773, predictor: 2, tile: [16, 16] }],
  ];
  for (const littleEndian of [true, false]) {
    for (const [name, layout] of layouts) {
      it(`decodes ${littleEndian ? "little" : "big"}-endian ${name} for every integer type`, () => {
        for (
          const [Ctor, bits, format] of [
            [Uint8Array, 8, 1],
            [Int8Array, 8, 2],
            [Uint16Array, 16, 1],
            [Int16Array, 16, 2],
            [Uint32Array, 32, 1],
            [Int32Array, 32, 2],
            [BigUint64Array, 64, 1],
          ] as const
        ) {
          const { spec, data } = page(Ctor, bits, format, layout);
          const bytes = buildTiff([spec, { ...spec, data: data.slice().reverse() }], {
            littleEndian,
          });
          const stacked = new Ctor(2 * data.length) as TypedArray;
          (stacked as Uint8Array).set(data as Uint8Array);
          (stacked as Uint8Array).set(data.slice().reverse() as Uint8Array, data.length);
          assertSameArray(decodeForPath(bytes, "/l.tif", "load"), nd(stacked, [2, 29, 37]));
        }
      });
    }
  }

  it("LZW: the test encoder agrees with the tiff package, and long strips (12-bit codes, clears) decode", () => {
    // 8 and 16-bit LZW is what the npm tiff package decodes: an independent check of the fixture.
    for (const [Ctor, bits] of [[Uint8Array, 8], [Uint16Array, 16]] as const) {
      const data = filled(Ctor, 300 * 290, bits);
      const spec: PageSpec = { width: 290, height: 300, data, bits, format: 1, compression: 5 };
      const bytes = buildTiff([spec]);
      const [byLibrary] = decodeWithTiffPackage(bytes);
      assert.deepEqual(Array.from(byLibrary!.data), Array.from(data as Uint8Array));
      assertSameArray(decodeTiff(bytes), nd(data, [300, 290]));
    }
    const smooth = new Uint8Array(256 * 256).map((_, i) => ((i >> 8) + (i & 255)) >> 2);
    const spec: PageSpec = {
      width: 256,
      height: 256,
      data: smooth,
      bits: 8,
      format: 1,
      compression: 5,
    };
    assertSameArray(decodeTiff(buildTiff([spec])), nd(smooth, [256, 256]));
  });

  it("decodes float32/float64 with the floating-point predictor (3), both byte orders", () => {
    for (const littleEndian of [true, false]) {
      for (const [Ctor, bits] of [[Float32Array, 32], [Float64Array, 64]] as const) {
        const { spec, data } = page(Ctor, bits, 3, {
          compression: 8,
          predictor: 3,
          rowsPerStrip: 6,
        });
        assertSameArray(
          decodeForPath(buildTiff([spec], { littleEndian }), "/p.tif", "load"),
          nd(data, [29, 37]),
        );
      }
    }
  });

  it("decodes BigTIFF", () => {
    const { spec, data } = page(Uint16Array, 16, 1, { rowsPerStrip: 10 });
    assertSameArray(decodeTiff(buildTiff([spec], { bigTiff: true })), nd(data, [29, 37]));
  });

  it("big-endian uncompressed files come back as native copies", () => {
    const { spec, data } = page(Uint16Array, 16, 1);
    const bytes = buildTiff([spec, spec], { littleEndian: false });
    const back = decodeTiff(bytes);
    assert.notEqual(back.data.buffer, bytes.buffer);
    const both = new Uint16Array(2 * data.length);
    both.set(data as Uint16Array);
    both.set(data as Uint16Array, data.length);
    assertSameArray(back, nd(both, [2, 29, 37]));
  });

  it("refuses pages of different size or type with a clear StorageError", () => {
    const a = page(Uint16Array, 16, 1).spec;
    const small = { ...a, width: 10, height: 10, data: new Uint16Array(100) };
    const e = assertStorageError(
      () => decodeForPath(buildTiff([a, small]), "/m.tif", "load"),
      "/m.tif",
      /pages differ.*page 1 is 10×10 uint16/,
    );
    assert.equal(e.code, "ERR_TIFF_PAGES_DIFFER");
    const f = { ...a, bits: 32, format: 3, data: new Float32Array(37 * 29) };
    assertStorageError(
      () => decodeForPath(buildTiff([a, f]), "/m.tif", "load"),
      "/m.tif",
      /uint16.*float32/,
    );
  });

  it("skips reduced-resolution pages", () => {
    const { spec, data } = page(Uint8Array, 8, 1);
    const thumb: PageSpec = {
      width: 4,
      height: 4,
      data: new Uint8Array(16),
      bits: 8,
      format: 1,
      extra: [[254, 4, [1]]],
    };
    assertSameArray(decodeTiff(buildTiff([spec, thumb])), nd(data, [29, 37]));
  });

  it("refuses loops, bad offsets, huge sizes and truncation with StorageError", () => {
    const { spec } = page(Uint16Array, 16, 1);
    assertStorageError(
      () => decodeForPath(buildTiff([spec, spec], { loopTo: 0 }), "/x.tif", "load"),
      "/x.tif",
      /loops/,
    );
    const good = buildTiff([spec]);
    assertStorageError(
      () => decodeForPath(good.subarray(0, good.length - 10), "/x.tif", "load"),
      "/x.tif",
    );
    assertStorageError(() => decodeForPath(good.subarray(0, 100), "/x.tif", "load"), "/x.tif");
    const huge = buildTiff([spec]);
    patchTag(huge, 256, 65535);
    patchTag(huge, 257, 65535);
    const e = assertStorageError(() => decodeForPath(huge, "/x.tif", "load"), "/x.tif", /budget/);
    assert.ok(e instanceof LimitExceededError, String(e));
    const compressed = buildTiff([{ ...spec, compression: 8 }]);
    for (const tag of [256, 257, 278]) patchTag(compressed, tag, 20000);
    assertStorageError(
      () => decodeForPath(compressed, "/x.tif", "load"),
      "/x.tif",
      /cannot hold/,
    );
    assertStorageError(
      () => decodeForPath(new TextEncoder().encode("II*\0garbage"), "/x.tif", "load"),
      "/x.tif",
    );
  });

  it("refuses files whose pages share strip arrays to announce more chunks than bytes", () => {
    // 1×1 tiles of a 64×64 image, every tile pointing at the same byte, 20 pages
    // sharing one offsets and one counts array.
    const tiles = 64 * 64;
    const pages = 20;
    const offsetsAt = 16;
    const countsAt = offsetsAt + tiles * 4;
    const ifdAt = countsAt + tiles * 4;
    const ifdSize = 2 + 7 * 12 + 4;
    const b = new Uint8Array(ifdAt + pages * ifdSize);
    const dv = new DataView(b.buffer);
    b.set([0x49, 0x49, 42, 0]);
    dv.setUint32(4, ifdAt, true);
    b[8] = 0x7f;
    for (let k = 0; k < tiles; k++) {
      dv.setUint32(offsetsAt + 4 * k, 8, true);
      dv.setUint32(countsAt + 4 * k, 1, true);
    }
    for (let p = 0; p < pages; p++) {
      const at = ifdAt + p * ifdSize;
      const tags = [[256, 4, 1, 64], [257, 4, 1, 64], [258, 3, 1, 8], [322, 3, 1, 1], [
        323,
        3,
        1,
        1,
      ], [
        324,
        4,
        tiles,
        offsetsAt,
      ], [325, 4, tiles, countsAt]];
      dv.setUint16(at, tags.length, true);
      tags.forEach(([tag, type, count, v], k) => {
        const e = at + 2 + 12 * k;
        dv.setUint16(e, tag!, true);
        dv.setUint16(e + 2, type!, true);
        dv.setUint32(e + 4, count!, true);
        if (type === 3) dv.setUint16(e + 8, v!, true);
        else dv.setUint32(e + 8, v!, true);
      });
      dv.setUint32(at + ifdSize - 4, p + 1 < pages ? at + ifdSize : 0, true);
    }
    // one page of it is a valid (if odd) file
    const one = b.slice();
    new DataView(one.buffer).setUint32(ifdAt + ifdSize - 4, 0, true);
    assertSameArray(decodeTiff(one), nd(new Uint8Array(tiles).fill(0x7f), [64, 64]));
    assertStorageError(() => decodeForPath(b, "/t.tif", "load"), "/t.tif", /more strips\/tiles/);
  });

  it("loads chunky multi-sample pages as [h, w, s] (predictor per sample)", () => {
    const data = filled(Uint16Array, 4 * 5 * 3, 9);
    for (
      const extra of [{}, { compression: 8, predictor: 2 }, { tile: [16, 16] as [number, number] }]
    ) {
      const rgb: PageSpec = {
        width: 5,
        height: 4,
        data,
        bits: 16,
        format: 1,
        samples: 3,
        ...extra,
      };
      assertSameArray(decodeTiff(buildTiff([rgb])), nd(data, [4, 5, 3]));
    }
  });

  it("refuses 12-bit samples, JPEG and 1-D/empty arrays with UnsupportedFormatError", () => {
    const odd: PageSpec = { width: 4, height: 2, data: new Uint8Array(12), bits: 12, format: 1 };
    assert.throws(() => decodeForPath(buildTiff([odd]), "/r.tif", "load"), UnsupportedFormatError);
    const jpeg = buildTiff([{ width: 4, height: 2, data: new Uint8Array(8), bits: 8, format: 1 }]);
    patchTag(jpeg, 259, 7);
    assert.throws(
      () => decodeForPath(jpeg, "/j.tif", "load"),
      (e: unknown) => e instanceof UnsupportedFormatError && /compression 7/.test(e.message),
    );
    assert.throws(
      () => encodeForPath(nd(new Uint8Array(3), [3]), "/o.tif", "save"),
      UnsupportedFormatError,
    );
    assert.throws(
      () => encodeForPath(nd(new Uint8Array(0), [0, 3]), "/o.tif", "save"),
      UnsupportedFormatError,
    );
  });
});

describe("png", () => {
  for (const [Ctor, depth] of [[Uint8Array, 8], [Uint16Array, 16]] as const) {
    it(`round-trips ${depth}-bit gray, gray+alpha, RGB and RGBA`, () => {
      for (const shape of [[5, 7], [5, 7, 2], [5, 7, 3], [5, 7, 4]]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const img = nd(filled(Ctor, n, n), shape);
        assertSameArray(decodeForPath(encodeForPath(img, "/i.png", "save"), "/i.png", "load"), img);
      }
      const one = nd(filled(Ctor, 35, 2), [5, 7, 1]);
      assertSameArray(
        decodeForPath(encodeForPath(one, "/i.png", "save"), "/i.png", "load"),
        nd(one.data, [5, 7]),
      );
    });
  }

  it("expands palette images to RGB and 1/2/4-bit gray to one byte per pixel", () => {
    const pal = encodePngLib({
      width: 2,
      height: 1,
      data: new Uint8Array([1, 0]),
      depth: 8,
      channels: 1,
      palette: [[10, 20, 30], [40, 50, 60]],
    });
    assertSameArray(
      decodeForPath(pal, "/p.png", "load"),
      nd(new Uint8Array([40, 50, 60, 10, 20, 30]), [1, 2, 3]),
    );
    const bits = encodePngLib({
      width: 5,
      height: 2,
      data: new Uint8Array([0b1001_1100, 0b0100_0000, 0b0000_0000, 0b1100_0000]),
      depth: 2,
      channels: 1,
    });
    assertSameArray(
      decodeForPath(bits, "/b.png", "load"),
      nd(new Uint8Array([2, 1, 3, 0, 1, 0, 0, 0, 0, 3]), [2, 5]),
    );
  });

  it("refuses other element types and shapes with UnsupportedFormatError", () => {
    assert.throws(
      () => encodeForPath(nd(new Float32Array(4), [2, 2]), "/f.png", "save"),
      UnsupportedFormatError,
    );
    assert.throws(
      () => encodeForPath(nd(new Uint8Array(4), [4]), "/f.png", "save"),
      UnsupportedFormatError,
    );
    assert.throws(
      () => encodeForPath(nd(new Uint8Array(20), [2, 2, 5]), "/f.png", "save"),
      UnsupportedFormatError,
    );
  });

  it("refuses corrupt data (CRC, truncation, huge IHDR) with StorageError", () => {
    const good = encodeForPath(nd(filled(Uint8Array, 64, 1), [8, 8]), "/g.png", "save");
    const flipped = good.slice();
    flipped[good.length - 20]! ^= 0x40; // inside IDAT
    assertStorageError(() => decodeForPath(flipped, "/g.png", "load"), "/g.png");
    assertStorageError(
      () => decodeForPath(good.subarray(0, good.length - 13), "/g.png", "load"),
      "/g.png",
      /truncated|IEND|past the end/,
    );
    const huge = good.slice();
    new DataView(huge.buffer).setUint32(16, 1 << 30);
    new DataView(huge.buffer).setUint32(29, crc32(huge.subarray(12, 29))); // a valid IHDR
    assertStorageError(() => decodeForPath(huge, "/g.png", "load"), "/g.png", /more than/);
  });
});

describe("csv", () => {
  const dec = (s: string) => decodeForPath(new TextEncoder().encode(s), "/t.csv", "load");
  const enc = (v: StorageValue) => new TextDecoder().decode(encodeForPath(v, "/t.csv", "save"));

  it("round-trips quotes, commas, newlines and CRLF inside fields", () => {
    const rows = [
      { well: "A01", note: 'say "hi", then\r\nleave', n: "1" },
      { well: "B10", note: "", n: "line1\nline2" },
    ];
    const text = enc(rows);
    assert.equal(text.split("\r\n")[0], "well,note,n");
    assert.deepEqual(dec(text), rows);
  });

  it("writes numbers and booleans as text and loads every value as a string", () => {
    assert.deepEqual(dec(enc([{ a: 1, b: true, c: null }])), [{ a: "1", b: "true", c: "" }]);
  });

  it("uses the union of keys as the header, in first-seen order", () => {
    assert.equal(enc([{ a: "1" }, { b: "2", a: "3" }]), "a,b\r\n1,\r\n3,2\r\n");
  });

  it("tolerates LF and CR line ends, a BOM, a missing final newline and blank lines", () => {
    assert.deepEqual(dec("\ufeffx,y\n1,2\n\n3,4"), [{ x: "1", y: "2" }, { x: "3", y: "4" }]);
    assert.deepEqual(dec("x,y\r1,2\r"), [{ x: "1", y: "2" }]);
    assert.deepEqual(dec("x,y\r\n1,\r\n"), [{ x: "1", y: "" }]);
    assert.deepEqual(dec("x,y\n1\n"), [{ x: "1", y: "" }]);
  });

  it("keeps empty values of a one-column table and a __proto__ column", () => {
    const rows = [{ only: "" }, { only: "v" }];
    assert.deepEqual(dec(enc(rows)), rows);
    const odd = dec("__proto__,b\n1,2\n") as Record<string, string>[];
    assert.equal(Object.getPrototypeOf(odd[0]), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(odd[0], "__proto__")?.value, "1");
  });

  it("refuses unterminated quotes, too many fields and duplicate headers", () => {
    assertStorageError(() => dec('a,b\n"x,1\n'), "/t.csv", /unterminated/);
    assertStorageError(() => dec("a,b\n1,2,3\n"), "/t.csv", /3 fields/);
    assertStorageError(() => dec("a,a\n1,2\n"), "/t.csv", /duplicate/);
    assertStorageError(() => dec('a\n"x"y\n'), "/t.csv", /after a quoted/);
  });

  it("refuses values that are not arrays of row objects", () => {
    assert.throws(() => encodeForPath({ a: 1 }, "/t.csv", "save"), UnsupportedFormatError);
    assert.throws(() => encodeForPath([1, 2], "/t.csv", "save"), UnsupportedFormatError);
    assert.throws(
      () => encodeForPath(nd(new Uint8Array(1), [1]), "/t.csv", "save"),
      UnsupportedFormatError,
    );
  });
});

describe("json", () => {
  it("turns corrupt JSON into a StorageError naming the path", () => {
    assertStorageError(
      () => decodeForPath(new TextEncoder().encode('{"a": '), "/m.json", "load"),
      "/m.json",
    );
    assertStorageError(
      () => decodeForPath(new Uint8Array([0xff, 0xfe]), "/m.json", "load"),
      "/m.json",
    );
  });
});
