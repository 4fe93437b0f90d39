/**
 * The TIFF encoder. No maintained npm library writes 16/32-bit integer and
 * float grayscale multi-page TIFF (`tiff` only decodes; `utif` writes 8-bit
 * RGBA; `geotiff`'s writer is single-image and geo-oriented), so this is a
 * small baseline writer: uncompressed, one strip per page, host byte order,
 * pixel data first and the IFDs after it (a stack reads back as one
 * zero-copy view), and a tifffile-style `{"shape": [...]}` description so
 * NumPy/tifffile see the same shape.
 *
 * @module
 */

import type { NdArray } from "../backends/base.ts";
import { UnsupportedFormatError } from "../errors.ts";
import { bytesOf, HOST_LITTLE_ENDIAN, toContiguous } from "../_internal/ndarray.ts";

const T = {
  WIDTH: 256,
  LENGTH: 257,
  BITS: 258,
  COMPRESSION: 259,
  DESCRIPTION: 270,
  STRIP_OFFSETS: 273,
  SAMPLES: 277,
  ROWS_PER_STRIP: 278,
  STRIP_COUNTS: 279,
  PLANAR: 284,
  SAMPLE_FORMAT: 339,
} as const;

/**
 * Encodes a 2-D array as a one-page TIFF, or a 3-D (or higher) array as
 * pages of its last two axes (the leading axes flattened, the full shape kept
 * in a tifffile-style description). Uncompressed, one strip per page, host
 * byte order. Element types: uint8/16/32/64, int8/16/32/64, float32/64 (and
 * float16 where the runtime has `Float16Array`).
 *
 * @example
 * ```ts
 * import { encodeTiff } from "@hcs/store/formats";
 * const bytes = encodeTiff({ data: new Int16Array([-1, 1]), shape: [1, 2], stride: [2, 1] });
 * console.assert(bytes[0] === 0x49 && bytes[2] === 42); // "II", 42
 * ```
 */
export function encodeTiff(value: NdArray, path = "<tiff>"): Uint8Array {
  const { data, shape, type } = toContiguous(value);
  if (shape.length < 2) {
    throw new UnsupportedFormatError(
      "encode",
      path,
      `TIFF holds 2-D planes or stacks of them, got shape [${shape.join(", ")}]`,
    );
  }
  const h = shape[shape.length - 2]!;
  const w = shape[shape.length - 1]!;
  const n = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  if (h < 1 || w < 1 || n < 1) {
    throw new UnsupportedFormatError("encode", path, "TIFF cannot hold an empty image");
  }
  const planeBytes = w * h * type.size;
  const pixels = bytesOf(data);
  const desc = new TextEncoder().encode(`{"shape": [${shape.join(", ")}]}\0`);
  const nTags = 12;
  const ifdBytes = 2 + nTags * 12 + 4;
  let at = 8 + pixels.length;
  at += at & 1;
  const ifd0 = at;
  const descAt = ifd0 + n * ifdBytes;
  const total = descAt + desc.length;
  if (total > 0xffffffff) {
    throw new UnsupportedFormatError("encode", path, "array too large for a classic TIFF (4 GiB)");
  }
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  const le = HOST_LITTLE_ENDIAN;
  out.set(le ? [0x49, 0x49] : [0x4d, 0x4d]);
  dv.setUint16(2, 42, le);
  dv.setUint32(4, ifd0, le);
  out.set(pixels, 8);
  out.set(desc, descAt);
  const format = type.kind === "u" ? 1 : type.kind === "i" ? 2 : 3;
  for (let p = 0; p < n; p++) {
    const base = ifd0 + p * ifdBytes;
    const tags: [number, number, number, number][] = [
      [T.WIDTH, 4, 1, w],
      [T.LENGTH, 4, 1, h],
      [T.BITS, 3, 1, type.size * 8],
      [T.COMPRESSION, 3, 1, 1],
      [262, 3, 1, 1], // PhotometricInterpretation: BlackIsZero
      [T.DESCRIPTION, 2, p === 0 ? desc.length : 1, p === 0 ? descAt : 0],
      [T.STRIP_OFFSETS, 4, 1, 8 + p * planeBytes],
      [T.SAMPLES, 3, 1, 1],
      [T.ROWS_PER_STRIP, 4, 1, h],
      [T.STRIP_COUNTS, 4, 1, planeBytes],
      [T.PLANAR, 3, 1, 1],
      [T.SAMPLE_FORMAT, 3, 1, format],
    ];
    dv.setUint16(base, nTags, le);
    tags.forEach(([tag, t, count, v], k) => {
      const e = base + 2 + k * 12;
      dv.setUint16(e, tag, le);
      dv.setUint16(e + 2, t, le);
      dv.setUint32(e + 4, count, le);
      if (t === 3) dv.setUint16(e + 8, v, le);
      else dv.setUint32(e + 8, v, le);
    });
    dv.setUint32(base + 2 + nTags * 12, p + 1 < n ? base + ifdBytes : 0, le);
  }
  return out;
}
