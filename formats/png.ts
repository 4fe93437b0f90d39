/**
 * PNG codec over the npm package `fast-png` (encode and decode).
 *
 * Arrays: gray `[h, w]`, gray+alpha / RGB / RGBA `[h, w, c]` with c = 2, 3, 4
 * (`[h, w, 1]` is written as gray). `Uint8Array` (or `Uint8ClampedArray`)
 * data is 8-bit, `Uint16Array` data is 16-bit. On decode, palette images are
 * expanded to RGB(A) and 1/2/4-bit gray to one `Uint8Array` value per pixel.
 *
 * Before `fast-png` sees the bytes, the signature, the chunk layout and the
 * IHDR are checked, and an image whose pixels could not come from the
 * compressed data present (DEFLATE expands at most ~1032:1) is refused
 * before anything is allocated; chunk CRCs are verified.
 *
 * @example
 * ```ts
 * import { decodePng, encodePng } from "@hcs/store/formats";
 * const img = { data: new Uint16Array([0, 1000, 65535, 7]), shape: [2, 2], stride: [2, 1] };
 * const back = decodePng(encodePng(img));
 * console.assert(back.data instanceof Uint16Array && back.data[2] === 65535);
 * ```
 *
 * @module
 */

import { convertIndexedToRgb, decode, encode } from "npm:fast-png@^8.0.0";
import type { NdArray, TypedArray } from "../backends/base.ts";
import { StorageError, UnsupportedFormatError } from "../errors.ts";
import type { FormatCodec } from "./mod.ts";
import { cStrides, requireArray, toContiguous } from "../_internal/ndarray.ts";

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Upper bound on the expansion ratio of a DEFLATE stream. */
const MAX_INFLATE_RATIO = 1032;
/** Refuse decoded images larger than this (bytes). */
const MAX_PIXEL_BYTES = 2 ** 32;

function corrupt(path: string, reason: string): StorageError {
  return new StorageError("decode", path, reason, { code: "ERR_CORRUPT_DATA" });
}

/**
 * Encodes a gray, gray+alpha, RGB or RGBA array (8-bit or 16-bit) as PNG.
 *
 * @example
 * ```ts
 * import { encodePng } from "@hcs/store/formats";
 * const rgb = { data: new Uint8Array(2 * 3 * 3), shape: [2, 3, 3], stride: [9, 3, 1] };
 * console.assert(encodePng(rgb)[1] === 0x50); // "P" of the PNG signature
 * ```
 */
export function encodePng(value: NdArray, path = "<png>"): Uint8Array {
  const { data, shape, type } = toContiguous(value);
  if (type.kind !== "u" || (type.size !== 1 && type.size !== 2)) {
    throw new UnsupportedFormatError(
      "encode",
      path,
      `PNG holds 8-bit (Uint8Array) or 16-bit (Uint16Array) data, got ${data.constructor.name}`,
    );
  }
  let channels: number;
  if (shape.length === 2) channels = 1;
  else if (shape.length === 3 && shape[2]! >= 1 && shape[2]! <= 4) channels = shape[2]!;
  else {
    throw new UnsupportedFormatError(
      "encode",
      path,
      `PNG holds [h, w] or [h, w, c] arrays with c in 1..4, got shape [${shape.join(", ")}]`,
    );
  }
  const [height, width] = shape as [number, number];
  if (height < 1 || width < 1) {
    throw new UnsupportedFormatError("encode", path, "PNG cannot hold an empty image");
  }
  const pixels = data instanceof Uint8ClampedArray
    ? new Uint8Array(data.buffer, data.byteOffset, data.length)
    : data as Uint8Array | Uint16Array;
  return encode({ width, height, data: pixels, depth: type.size === 1 ? 8 : 16, channels });
}

/** Walks the chunks: checks the signature, IHDR and layout, returns the IHDR fields and IDAT size. */
function inspect(bytes: Uint8Array, path: string) {
  if (bytes.length < 8 + 25 || SIGNATURE.some((b, k) => bytes[k] !== b)) {
    throw corrupt(path, "not a PNG file (bad signature or too short)");
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (dv.getUint32(8) !== 13 || type(12) !== "IHDR") throw corrupt(path, "PNG lacks its IHDR");
  const width = dv.getUint32(16);
  const height = dv.getUint32(20);
  const depth = bytes[24]!;
  const colorType = bytes[25]!;
  const interlace = bytes[28]!;
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[colorType];
  if (!channels || ![1, 2, 4, 8, 16].includes(depth) || width === 0 || height === 0) {
    throw corrupt(path, `PNG header is invalid (color type ${colorType}, depth ${depth})`);
  }
  if (interlace > 1) throw corrupt(path, `PNG interlace method ${interlace} is invalid`);
  let idat = 0;
  let at = 8;
  let sawEnd = false;
  while (at + 12 <= bytes.length) {
    const len = dv.getUint32(at);
    if (len > bytes.length - at - 12) {
      throw corrupt(path, "PNG chunk runs past the end of the file");
    }
    const t = type(at + 4);
    if (t === "IDAT") idat += len;
    at += 12 + len;
    if (t === "IEND") {
      sawEnd = true;
      break;
    }
  }
  if (!sawEnd) throw corrupt(path, "PNG is truncated (no IEND chunk)");
  if (idat === 0) throw corrupt(path, "PNG has no image data");
  const rowBytes = Math.ceil((width * channels * depth) / 8) + 1;
  const raw = rowBytes * height * (interlace ? 2 : 1);
  if (raw > MAX_INFLATE_RATIO * idat + 1024) {
    throw corrupt(
      path,
      `PNG announces ${width}×${height} pixels, more than its ${idat} bytes of data can hold`,
    );
  }
  if (width * height * channels * Math.max(1, depth / 8) > MAX_PIXEL_BYTES) {
    throw corrupt(path, `PNG of ${width}×${height} pixels is too large`);
  }
  return { width, height, depth, channels };
}

/** Unpacks 1/2/4-bit samples (rows padded to whole bytes) to one byte each. */
function unpackBits(packed: Uint8Array, width: number, height: number, depth: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const rowBytes = Math.ceil((width * depth) / 8);
  const mask = (1 << depth) - 1;
  const perByte = 8 / depth;
  for (let y = 0; y < height; y++) {
    const row = y * rowBytes;
    for (let x = 0; x < width; x++) {
      const byte = packed[row + Math.floor(x / perByte)]!;
      const shift = 8 - depth * ((x % perByte) + 1);
      out[y * width + x] = (byte >> shift) & mask;
    }
  }
  return out;
}

/**
 * Decodes PNG bytes to `[h, w]` (gray) or `[h, w, c]` (gray+alpha, RGB, RGBA).
 * Throws `StorageError` for corrupt or truncated input.
 *
 * @example
 * ```ts
 * import { decodePng, encodePng } from "@hcs/store/formats";
 * const ga = { data: new Uint8Array([1, 2, 3, 4]), shape: [1, 2, 2], stride: [4, 2, 1] };
 * console.assert(decodePng(encodePng(ga)).shape.join() === "1,2,2");
 * ```
 */
export function decodePng(bytes: Uint8Array, path = "<png>"): NdArray {
  const info = inspect(bytes, path);
  let png: ReturnType<typeof decode>;
  try {
    png = decode(bytes, { checkCrc: true });
  } catch (err) {
    throw corrupt(path, `PNG data is corrupt (${err instanceof Error ? err.message : err})`);
  }
  const { width, height } = png;
  if (width !== info.width || height !== info.height) throw corrupt(path, "PNG size mismatch");
  let data: TypedArray;
  let channels = png.channels;
  if (png.palette) {
    data = convertIndexedToRgb(png) as TypedArray;
    channels = data.length / (width * height);
  } else if (png.depth < 8) {
    data = unpackBits(png.data as Uint8Array, width * channels, height, png.depth);
  } else {
    data = png.data as TypedArray;
  }
  if (data instanceof Uint8ClampedArray) {
    data = new Uint8Array(data.buffer, data.byteOffset, data.length);
  }
  const shape = channels === 1 ? [height, width] : [height, width, channels];
  if (!Number.isInteger(channels) || data.length !== width * height * channels) {
    throw corrupt(path, `PNG decoded to ${data.length} samples, expected ${shape.join("×")}`);
  }
  return { data, shape, stride: cStrides(shape) };
}

/**
 * The PNG codec as registered in `formats/mod.ts`.
 *
 * @example
 * ```ts
 * import { pngFormat } from "@hcs/store/formats";
 * console.assert(pngFormat.extensions.includes(".png") && pngFormat.arrayFormat === true);
 * ```
 */
export const pngFormat: FormatCodec = {
  name: "png",
  extensions: [".png"],
  arrayFormat: true,
  encode: (value, path) => encodePng(requireArray(value, "png", path), path),
  decode: (bytes, path) => decodePng(bytes, path),
};
