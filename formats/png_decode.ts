/**
 * The PNG decoder (the encoder stays on `fast-png`).
 *
 * Written here (as issue 10 allows) because `fast-png` 8.0 cannot be fixed
 * around: its Adam7 path treats each pixel as whole bytes (wrong at 1/2/4
 * bits), it reports a truecolour image's suggested `PLTE` as its palette (the
 * old wrapper then returned palette lookups), and it inflates the whole IDAT
 * stream before anything can check its size. Here the declared size is
 * checked against the `maxDecodedBytes` budget before anything is allocated
 * and inflating stops at exactly the bytes the image needs (`inflate.ts`).
 *
 * Values: samples as stored (1/2/4-bit gray is one unscaled byte per pixel,
 * 16-bit is a `Uint16Array`); palette images expand to RGB, or RGBA when a
 * `tRNS` chunk is present; `PLTE` in truecolour and gray images is ignored
 * (it is only a suggestion there); `tRNS` colour keys of gray/RGB images are
 * not applied (the samples are returned raw). Chunk CRCs are verified.
 *
 * @module
 */

import type { NdArray, TypedArray } from "../backends/base.ts";
import { CorruptDataError } from "../errors.ts";
import { cStrides } from "../_internal/ndarray.ts";
import { checkDecodedSize, decodedBudget, type DecodeLimits } from "../_internal/limits.ts";
import { inflateExactly } from "./inflate.ts";

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Upper bound on the expansion ratio of a DEFLATE stream. */
const MAX_INFLATE_RATIO = 1032;
/** Allowed bit depths per colour type (PNG spec table 11.1). */
const DEPTHS: Record<number, readonly number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Adam7 passes: x0, y0, dx, dy. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

let crcTable: Uint32Array | undefined;

function crc32(bytes: Uint8Array): number {
  const table = crcTable ??= (() => {
    const t = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      t[n] = c >>> 0;
    }
    return t;
  })();
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function corrupt(path: string, reason: string): CorruptDataError {
  return new CorruptDataError("decode", path, reason);
}

interface Header {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlace: number;
  channels: number;
}

interface Chunks {
  header: Header;
  idat: Uint8Array[];
  idatBytes: number;
  palette?: Uint8Array;
  alpha?: Uint8Array;
}

/** Walks and CRC-checks the chunks; returns the header, IDAT pieces, PLTE and tRNS. */
function readChunks(bytes: Uint8Array, path: string): Chunks {
  if (bytes.length < 8 + 25 || SIGNATURE.some((b, k) => bytes[k] !== b)) {
    throw corrupt(path, "not a PNG file (bad signature or too short)");
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (dv.getUint32(8) !== 13 || type(12) !== "IHDR") throw corrupt(path, "PNG lacks its IHDR");
  const colorType = bytes[25]!;
  const header: Header = {
    width: dv.getUint32(16),
    height: dv.getUint32(20),
    depth: bytes[24]!,
    colorType,
    interlace: bytes[28]!,
    channels: CHANNELS[colorType] ?? 0,
  };
  if (!DEPTHS[colorType]?.includes(header.depth)) {
    throw corrupt(path, `PNG header is invalid (color type ${colorType}, depth ${header.depth})`);
  }
  if (
    header.width === 0 || header.height === 0 || header.width > 2 ** 31 - 1 ||
    header.height > 2 ** 31 - 1
  ) {
    throw corrupt(path, `PNG size ${header.width}×${header.height} is invalid`);
  }
  if (bytes[26] !== 0 || bytes[27] !== 0) {
    throw corrupt(path, `PNG compression/filter method ${bytes[26]}/${bytes[27]} is invalid`);
  }
  if (header.interlace > 1) {
    throw corrupt(path, `PNG interlace method ${header.interlace} is invalid`);
  }
  const out: Chunks = { header, idat: [], idatBytes: 0 };
  let at = 8;
  let sawEnd = false;
  let idatDone = false;
  while (at + 12 <= bytes.length) {
    const len = dv.getUint32(at);
    if (len > bytes.length - at - 12) {
      throw corrupt(path, "PNG chunk runs past the end of the file");
    }
    const t = type(at + 4);
    const data = bytes.subarray(at + 8, at + 8 + len);
    if (crc32(bytes.subarray(at + 4, at + 8 + len)) !== dv.getUint32(at + 8 + len)) {
      throw corrupt(path, `PNG chunk ${JSON.stringify(t)} at offset ${at} has a bad CRC`);
    }
    if (t === "IDAT") {
      if (idatDone) throw corrupt(path, "PNG IDAT chunks are not consecutive");
      out.idat.push(data);
      out.idatBytes += len;
    } else if (out.idat.length > 0) idatDone = true;
    if (t === "PLTE" && colorType === 3) {
      if (len === 0 || len % 3 !== 0 || len / 3 > 2 ** header.depth) {
        throw corrupt(path, `PNG palette of ${len} bytes is invalid`);
      }
      out.palette = data;
    }
    if (t === "tRNS" && colorType === 3) out.alpha = data;
    at += 12 + len;
    if (t === "IEND") {
      sawEnd = true;
      break;
    }
  }
  if (!sawEnd) throw corrupt(path, "PNG is truncated (no IEND chunk)");
  if (out.idatBytes === 0) throw corrupt(path, "PNG has no image data");
  if (colorType === 3 && !out.palette) throw corrupt(path, "palette PNG lacks its PLTE chunk");
  if (out.alpha && out.palette && out.alpha.length > out.palette.length / 3) {
    throw corrupt(path, "PNG tRNS has more entries than the palette");
  }
  return out;
}

/** The passes of an image: [x0, y0, dx, dy, width, height] with non-empty size. */
function passesOf(h: Header): number[][] {
  const list = h.interlace ? ADAM7 : [[0, 0, 1, 1]] as const;
  const out: number[][] = [];
  for (const [x0, y0, dx, dy] of list) {
    const w = Math.ceil((h.width - x0) / dx);
    const ht = Math.ceil((h.height - y0) / dy);
    if (w > 0 && ht > 0) out.push([x0, y0, dx, dy, w, ht]);
  }
  return out;
}

function rowBytesOf(h: Header, width: number): number {
  return Math.ceil((width * h.channels * h.depth) / 8);
}

/** Undoes one row's filter in place (`prev` is the previous unfiltered row, or zeros). */
function unfilter(
  kind: number,
  row: Uint8Array,
  prev: Uint8Array,
  bpp: number,
  path: string,
): void {
  const n = row.length;
  switch (kind) {
    case 0:
      return;
    case 1:
      for (let i = bpp; i < n; i++) row[i] = (row[i]! + row[i - bpp]!) & 0xff;
      return;
    case 2:
      for (let i = 0; i < n; i++) row[i] = (row[i]! + prev[i]!) & 0xff;
      return;
    case 3:
      for (let i = 0; i < n; i++) {
        const left = i >= bpp ? row[i - bpp]! : 0;
        row[i] = (row[i]! + ((left + prev[i]!) >> 1)) & 0xff;
      }
      return;
    case 4:
      for (let i = 0; i < n; i++) {
        const a = i >= bpp ? row[i - bpp]! : 0;
        const b = prev[i]!;
        const c = i >= bpp ? prev[i - bpp]! : 0;
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        const pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        row[i] = (row[i]! + pred) & 0xff;
      }
      return;
  }
  throw corrupt(path, `PNG row filter type ${kind} is invalid`);
}

/**
 * Decodes PNG bytes to `[h, w]` (gray) or `[h, w, c]` (gray+alpha, RGB,
 * RGBA, expanded palette); see the module notes for the values returned.
 */
export function decodePngBytes(bytes: Uint8Array, path: string, options?: DecodeLimits): NdArray {
  const budget = decodedBudget(options);
  const { header: h, idat, idatBytes, palette, alpha } = readChunks(bytes, path);
  const { width, height, depth, channels } = h;
  const outChannels = palette ? (alpha ? 4 : 3) : channels;
  const sampleBytes = depth === 16 ? 2 : 1;
  const samples = width * height * outChannels;
  const passes = passesOf(h);
  let raw = 0;
  for (const p of passes) raw += (rowBytesOf(h, p[4]!) + 1) * p[5]!;
  if (raw > MAX_INFLATE_RATIO * idatBytes + 1024) {
    throw corrupt(
      path,
      `PNG announces ${width}×${height} pixels, more than its ${idatBytes} bytes of data can hold`,
    );
  }
  checkDecodedSize(samples * sampleBytes, budget, "decode", path, `PNG of ${width}×${height}`);
  const data = inflateExactly(idat, raw, true, path, "PNG image data");
  const out: TypedArray = sampleBytes === 2 ? new Uint16Array(samples) : new Uint8Array(samples);
  const dst = out as unknown as { [i: number]: number };
  const bpp = Math.max(1, (channels * depth) >> 3);
  const mask = (1 << depth) - 1;
  const nPalette = palette ? palette.length / 3 : 0;
  let at = 0;
  for (
    const [x0, y0, dx, dy, pw, ph] of passes as [number, number, number, number, number, number][]
  ) {
    const rowBytes = rowBytesOf(h, pw);
    let prev: Uint8Array = new Uint8Array(rowBytes);
    const perRow = pw * channels;
    for (let r = 0; r < ph; r++) {
      const row = data.subarray(at + 1, at + 1 + rowBytes);
      unfilter(data[at]!, row, prev, bpp, path);
      at += rowBytes + 1;
      prev = row;
      const y = y0 + r * dy;
      if (depth === 8 && dx === 1 && !palette) {
        out.set(row, y * perRow); // a full-width row of bytes: copy as is
        continue;
      }
      for (let s = 0; s < perRow; s++) {
        let v: number;
        if (depth === 8) v = row[s]!;
        else if (depth === 16) v = (row[2 * s]! << 8) | row[2 * s + 1]!;
        else {
          const bit = s * depth;
          v = (row[bit >> 3]! >> (8 - depth - (bit & 7))) & mask;
        }
        const x = x0 + Math.floor(s / channels) * dx;
        if (!palette) {
          dst[(y * width + x) * channels + (s % channels)] = v;
          continue;
        }
        if (v >= nPalette) {
          throw corrupt(path, `PNG pixel uses palette entry ${v} of ${nPalette}`);
        }
        const o = (y * width + x) * outChannels;
        dst[o] = palette[3 * v]!;
        dst[o + 1] = palette[3 * v + 1]!;
        dst[o + 2] = palette[3 * v + 2]!;
        if (alpha) dst[o + 3] = v < alpha.length ? alpha[v]! : 255;
      }
    }
  }
  const shape = outChannels === 1 ? [height, width] : [height, width, outChannels];
  return { data: out, shape, stride: cStrides(shape) };
}
