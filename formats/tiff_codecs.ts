/**
 * The strip/tile codecs of the TIFF decoder: PackBits, LZW (written here, see
 * `lzw`), Deflate (capped streaming inflate, `inflate.ts`) and the horizontal
 * and floating-point predictors. Every decoder writes at most the bytes its
 * strip needs, whatever the compressed data says.
 *
 * @module
 */

import { CorruptDataError, UnsupportedFormatError } from "../errors.ts";
import { arrayClass, type ElementType, HOST_LITTLE_ENDIAN } from "../_internal/ndarray.ts";
import { hasZlibHeader, inflateAtMost } from "./inflate.ts";

function corrupt(path: string, reason: string): CorruptDataError {
  return new CorruptDataError("decode", path, reason);
}

function unsupported(path: string, reason: string): UnsupportedFormatError {
  return new UnsupportedFormatError("decode", path, reason);
}

function packBits(src: Uint8Array, expected: number, path: string): Uint8Array {
  const out = new Uint8Array(expected);
  let i = 0;
  let o = 0;
  while (o < expected && i < src.length) {
    const n = src[i++]!;
    if (n < 128) {
      const len = Math.min(n + 1, expected - o);
      if (i + len > src.length) {
        throw corrupt(path, "PackBits literal run past the end of its strip");
      }
      out.set(src.subarray(i, i + len), o);
      i += n + 1;
      o += len;
    } else if (n > 128) {
      if (i >= src.length) throw corrupt(path, "PackBits repeat run past the end of its strip");
      const len = Math.min(257 - n, expected - o);
      out.fill(src[i++]!, o, o + len);
      o += len;
    } // 128: no-op
  }
  if (o < expected) throw corrupt(path, `PackBits strip decodes to ${o} bytes, needs ${expected}`);
  return out;
}

const LZW_CLEAR = 256;
const LZW_EOI = 257;
const lzwPrefix = new Int16Array(4096);
const lzwSuffix = new Uint8Array(4096);
const lzwFirst = new Uint8Array(4096);
const lzwLength = new Uint16Array(4096);
for (let c = 0; c < 256; c++) {
  lzwPrefix[c] = -1;
  lzwSuffix[c] = c;
  lzwFirst[c] = c;
  lzwLength[c] = 1;
}

/**
 * TIFF LZW (MSB-first codes of 9..12 bits, "early change", as libtiff
 * writes), decoding into exactly `expected` bytes.
 *
 * Written here rather than taken from the `tiff` package: its decoder builds
 * a JavaScript array per code and takes ~2 s (Deno) / ~0.5 s (Bun) for one
 * 2048×2048 uint16 plane, against a few tens of ms for this table-based one;
 * it also keeps its table in module state that a corrupt strip can leave
 * inconsistent. The old-style (pre-TIFF 6) LSB-first variant is refused.
 */
function lzw(src: Uint8Array, expected: number, path: string): Uint8Array {
  if (src.length >= 2 && src[0] === 0 && (src[1]! & 1) === 1) {
    throw unsupported(path, "old-style (LSB-first) TIFF LZW is not supported");
  }
  const out = new Uint8Array(expected);
  const n = src.length;
  const totalBits = n * 8;
  let bit = 0;
  let width = 9;
  let free = 258;
  let old = -1;
  let o = 0;
  while (o < expected && bit + width <= totalBits) {
    const p = bit >>> 3;
    const word = (src[p]! << 16) | ((src[p + 1] ?? 0) << 8) | (src[p + 2] ?? 0);
    const code = (word >>> (24 - (bit & 7) - width)) & ((1 << width) - 1);
    bit += width;
    if (code === LZW_EOI) break;
    if (code === LZW_CLEAR) {
      width = 9;
      free = 258;
      old = -1;
      continue;
    }
    if (old < 0) {
      if (code > 255) throw corrupt(path, `LZW data is corrupt (code ${code} after a clear)`);
      out[o++] = code;
      old = code;
      continue;
    }
    if (code > free || free >= 4096) {
      throw corrupt(path, `LZW data is corrupt (code ${code}, table size ${free})`);
    }
    // New entry: the old string + first byte of the current one (or of the
    // old one, for the code being defined right now: the KwKwK case).
    lzwPrefix[free] = old;
    lzwSuffix[free] = code === free ? lzwFirst[old]! : lzwFirst[code]!;
    lzwFirst[free] = lzwFirst[old]!;
    lzwLength[free] = lzwLength[old]! + 1;
    free++;
    // Emit the string of `code`, last byte first; clip at the output's end.
    const len = lzwLength[code]!;
    let c = code;
    for (let k = o + len - 1; k >= o; k--) {
      if (k < expected) out[k] = lzwSuffix[c]!;
      c = lzwPrefix[c]!;
    }
    o += len;
    old = code;
    if (free === (1 << width) - 1 && width < 12) width++;
  }
  if (o < expected) throw corrupt(path, `LZW strip decodes to ${o} bytes, needs ${expected}`);
  return out;
}

/**
 * Decompresses one strip/tile into `expected` bytes (`compression`: 1 none,
 * 5 LZW, 8/32946 Deflate, 32773 PackBits). Deflate may produce up to `cap`
 * bytes (a writer may pad a last strip to full size) and stops there.
 */
export function decompress(
  compression: number,
  src: Uint8Array,
  expected: number,
  cap: number,
  path: string,
): Uint8Array {
  switch (compression) {
    case 1:
      return src.slice(0, expected);
    case 5:
      return lzw(src, expected, path);
    case 8:
    case 32946:
      return inflateAtMost([src], expected, cap, hasZlibHeader(src), path, "TIFF Deflate strip");
    case 32773:
      return packBits(src, expected, path);
  }
  throw new UnsupportedFormatError("decode", path, `TIFF compression ${compression}`);
}

/**
 * Undoes the floating-point predictor: bytes differenced with a distance of
 * `stride` (samples per pixel), then stored as byte planes, MSB first.
 */
export function unpredictFloat(
  src: Uint8Array,
  rows: number,
  cols: number,
  size: number,
  stride: number,
): Uint8Array {
  const out = new Uint8Array(src.length);
  const rowBytes = cols * size;
  for (let y = 0; y < rows; y++) {
    const base = y * rowBytes;
    for (let k = base + stride; k < base + rowBytes; k++) {
      src[k] = (src[k]! + src[k - stride]!) & 0xff;
    }
    for (let x = 0; x < cols; x++) {
      for (let b = 0; b < size; b++) {
        const msbFirst = src[base + b * cols + x]!;
        out[base + x * size + (HOST_LITTLE_ENDIAN ? size - 1 - b : b)] = msbFirst;
      }
    }
  }
  return out;
}

/** Undoes horizontal differencing on native-order integers, row by row. */
export function unpredictHorizontal(
  chunk: Uint8Array,
  type: ElementType,
  rows: number,
  cols: number,
  stride: number,
) {
  const Ctor = arrayClass(type)!;
  const a = new Ctor(chunk.buffer, chunk.byteOffset, rows * cols) as { [i: number]: number };
  for (let y = 0; y < rows; y++) {
    const base = y * cols;
    for (let x = stride; x < cols; x++) a[base + x] = a[base + x]! + a[base + x - stride]!;
  }
}
