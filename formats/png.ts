/**
 * PNG codec: encoding over the npm package `fast-png`, decoding in
 * `png_decode.ts` (why: see there).
 *
 * Arrays: gray `[h, w]`, gray+alpha / RGB / RGBA `[h, w, c]` with c = 2, 3, 4
 * (`[h, w, 1]` is written as gray). `Uint8Array` (or `Uint8ClampedArray`)
 * data is 8-bit, `Uint16Array` data is 16-bit. On decode, palette images are
 * expanded to RGB(A) and 1/2/4-bit gray to one `Uint8Array` value per pixel.
 *
 * Decoding checks the declared size against the `maxDecodedBytes` budget
 * before allocating, refuses an image whose pixels could not come from the
 * compressed data present (DEFLATE expands at most ~1032:1), and stops
 * inflating as soon as the output would pass what the image needs.
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

import { encode } from "npm:fast-png@^8.0.0";
import type { NdArray } from "../backends/base.ts";
import { UnsupportedFormatError } from "../errors.ts";
import type { FormatCodec } from "./mod.ts";
import { requireArray, toContiguous } from "../_internal/ndarray.ts";
import type { DecodeLimits } from "../_internal/limits.ts";
import { decodePngBytes } from "./png_decode.ts";
import { decodedBudget } from "../_internal/limits.ts";
import { runJob } from "../_internal/workers/pool.ts";

/** Decoded bytes a PNG header declares (0 when there is no readable IHDR): the job's weight. */
function declaredBytes(b: Uint8Array): number {
  if (b.length < 29) return 0;
  const dv = new DataView(b.buffer, b.byteOffset, 29);
  const width = dv.getUint32(16);
  const height = dv.getUint32(20);
  const depth = b[24]!;
  const channels = [1, 0, 3, 3, 2, 0, 4][b[25]!] ?? 1;
  return width * height * channels * Math.max(1, depth / 8);
}

/** Whether `v` is the whole of a plain `ArrayBuffer` (so it can be moved). */
function wholeBuffer(v: ArrayBufferView): boolean {
  return v.byteOffset === 0 && v.buffer instanceof ArrayBuffer &&
    v.byteLength === v.buffer.byteLength;
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

/**
 * Decodes PNG bytes to `[h, w]` (gray) or `[h, w, c]` (gray+alpha, RGB, RGBA;
 * palette images expand to RGB or RGBA). Throws `CorruptDataError` for
 * corrupt or truncated input and `LimitExceededError` when the image needs
 * more than `options.maxDecodedBytes` (default 1 GiB).
 *
 * @example
 * ```ts
 * import { decodePng, encodePng } from "@hcs/store/formats";
 * const ga = { data: new Uint8Array([1, 2, 3, 4]), shape: [1, 2, 2], stride: [4, 2, 1] };
 * console.assert(decodePng(encodePng(ga)).shape.join() === "1,2,2");
 * ```
 */
export function decodePng(bytes: Uint8Array, path = "<png>", options?: DecodeLimits): NdArray {
  return decodePngBytes(bytes, path, options);
}

/** Options of {@linkcode decodePngAsync} and {@linkcode encodePngAsync}. */
export interface PngAsyncOptions extends DecodeLimits {
  /**
   * The caller gives up the input (bytes to decode, pixels to encode): when
   * it is the whole of its buffer, that buffer is moved to the worker
   * (detached here) instead of copied.
   */
  transferInput?: boolean;
}

/**
 * Like {@linkcode decodePng}, decoded on the codec worker pool when the
 * image is large enough; same result and errors. The compressed input is
 * copied for the worker unless `transferInput` lets it be moved.
 *
 * @example
 * ```ts
 * import { decodePngAsync, encodePng } from "@hcs/store/formats";
 * const img = { data: new Uint8Array([9, 8, 7, 6]), shape: [2, 2], stride: [2, 1] };
 * console.assert((await decodePngAsync(encodePng(img))).data[3] === 6);
 * ```
 */
export function decodePngAsync(
  bytes: Uint8Array,
  path = "<png>",
  options?: PngAsyncOptions,
): Promise<NdArray> {
  const maxDecodedBytes = decodedBudget(options);
  const move = options?.transferInput === true && wholeBuffer(bytes);
  return runJob("pngDecode", { bytes, path, maxDecodedBytes }, {
    weight: declaredBytes(bytes),
    prepare: (a) => {
      const input = move ? a.bytes : a.bytes.slice();
      return { args: { ...a, bytes: input }, transfer: [input.buffer as ArrayBuffer] };
    },
  });
}

/**
 * Like {@linkcode encodePng}, encoded on the codec worker pool when the
 * image is large and `transferInput` lets its pixel buffer be moved there
 * (pixels are never copied for a worker: without it, encoding is inline).
 *
 * @example
 * ```ts
 * import { encodePngAsync } from "@hcs/store/formats";
 * const img = { data: new Uint8Array([1, 2, 3, 4]), shape: [2, 2], stride: [2, 1] };
 * console.assert((await encodePngAsync(img))[1] === 0x50);
 * ```
 */
export function encodePngAsync(
  value: NdArray,
  path = "<png>",
  options: { transferInput?: boolean } = {},
): Promise<Uint8Array> {
  const move = options.transferInput === true && wholeBuffer(value.data);
  return runJob("pngEncode", { value, path }, {
    weight: value.data.byteLength,
    ...(move ? {} : { inline: true }),
    prepare: (a) => ({ args: a, transfer: [a.value.data.buffer as ArrayBuffer] }),
  });
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
  decode: (bytes, path, options) => decodePng(bytes, path, options),
  decodeAsync: (bytes, path, options) => decodePngAsync(bytes, path, options),
};
