/**
 * The format registry: which codec encodes and decodes a file, chosen by its
 * (case-insensitive) extension. Users add codecs with {@linkcode registerFormat}.
 *
 * Rules shared by every backend that stores bytes:
 * - a `Uint8Array` is written as it is, whatever the extension;
 * - a `string` is written as UTF-8 text, except to array formats, which throw
 *   `UnsupportedFormatError`;
 * - anything else goes to the codec of the extension; an unknown extension
 *   throws `UnsupportedFormatError` naming it and the supported ones.
 *
 * @example
 * ```ts
 * import { decodeForPath, encodeForPath } from "@hcs/store/formats";
 * const bytes = encodeForPath({ a: 1 }, "/x/meta.json", "save");
 * console.assert((decodeForPath(bytes, "/x/meta.json", "load") as { a: number }).a === 1);
 * ```
 *
 * @module
 */

import { CorruptDataError, restate, StorageError, UnsupportedFormatError } from "../errors.ts";
import type { StorageValue } from "../backends/base.ts";
import { extname } from "../_internal/paths.ts";
import type { DecodeLimits } from "../_internal/limits.ts";
import { csvFormat } from "./csv.ts";
import { npyFormat } from "./npy.ts";
import { pngFormat } from "./png.ts";
import { tiffFormat } from "./tiff.ts";

export type { JsonValue, NdArray, StorageValue, TypedArray } from "../backends/base.ts";
export { type DecodeLimits, DEFAULT_MAX_DECODED_BYTES } from "../_internal/limits.ts";
export { csvFormat, type CsvRow, decodeCsv, encodeCsv } from "./csv.ts";
export { decodeNpy, encodeNpy, npyFormat, type NpyHeader, readNpyHeader } from "./npy.ts";
export {
  decodePng,
  decodePngAsync,
  encodePng,
  encodePngAsync,
  type PngAsyncOptions,
  pngFormat,
} from "./png.ts";
export {
  decodeTiff,
  decodeTiffAsync,
  type DecodeTiffAsyncOptions,
  encodeTiff,
  tiffFormat,
} from "./tiff.ts";
export { readTiffResolution, type TiffResolution } from "./tiff_meta.ts";

/** A codec for one family of extensions. */
export interface FormatCodec {
  /** A short name (`"npy"`, `"tiff"`, …). */
  readonly name: string;
  /** Extensions it handles, lower case with the dot (`[".tif", ".tiff"]`). */
  readonly extensions: readonly string[];
  /** True for formats that hold arrays only (strings are refused). */
  readonly arrayFormat?: boolean;
  /** Encodes a value to file bytes; throws `UnsupportedFormatError` for values it cannot hold. */
  encode(value: StorageValue, path: string): Uint8Array;
  /**
   * Decodes file bytes; throws a `StorageError` for corrupt input and
   * `LimitExceededError` for values over `options.maxDecodedBytes`.
   */
  decode(bytes: Uint8Array, path: string, options?: DecodeLimits): StorageValue;
  /**
   * Optional asynchronous decode with the same result and errors as
   * `decode`, free to run on the codec worker pool (TIFF, PNG).
   */
  decodeAsync?(bytes: Uint8Array, path: string, options?: DecodeLimits): Promise<StorageValue>;
}

const codecs = new Map<string, FormatCodec>();

/**
 * Adds (or replaces) a codec for its extensions.
 *
 * @example
 * ```ts
 * import { registerFormat, decodeForPath } from "@hcs/store/formats";
 * registerFormat({
 *   name: "upper",
 *   extensions: [".up"],
 *   encode: (v) => new TextEncoder().encode(String(v).toUpperCase()),
 *   decode: (b) => new TextDecoder().decode(b),
 * });
 * console.assert(decodeForPath(new TextEncoder().encode("HI"), "a.UP", "load") === "HI");
 * ```
 */
export function registerFormat(codec: FormatCodec): void {
  for (const ext of codec.extensions) {
    const e = ext.toLowerCase();
    codecs.set(e.startsWith(".") ? e : `.${e}`, codec);
  }
}

/**
 * The codec for a path's extension, or undefined.
 *
 * @example
 * ```ts
 * import { formatFor } from "@hcs/store/formats";
 * console.assert(formatFor("/a/B.JSON")?.name === "json");
 * ```
 */
export function formatFor(path: string): FormatCodec | undefined {
  return codecs.get(extname(path));
}

/**
 * The extensions with a codec, sorted.
 *
 * @example
 * ```ts
 * import { supportedExtensions } from "@hcs/store/formats";
 * console.assert(supportedExtensions().includes(".json"));
 * ```
 */
export function supportedExtensions(): string[] {
  return [...codecs.keys()].sort();
}

function unsupported(operation: string, path: string): UnsupportedFormatError {
  const ext = extname(path) || "(none)";
  return new UnsupportedFormatError(
    operation,
    path,
    `unsupported extension '${ext}'; supported: ${supportedExtensions().join(", ")}`,
  );
}

const encoder = new TextEncoder();

/**
 * Encodes `value` for the file at `path` (see the module rules).
 *
 * @example
 * ```ts
 * import { encodeForPath } from "@hcs/store/formats";
 * console.assert(encodeForPath("hi", "/a.txt", "save").length === 2);
 * ```
 */
export function encodeForPath(value: StorageValue, path: string, operation: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  const codec = formatFor(path);
  if (typeof value === "string") {
    if (codec?.arrayFormat) {
      throw new UnsupportedFormatError(
        operation,
        path,
        `a string cannot be written to an array format (${codec.name})`,
      );
    }
    return encoder.encode(value);
  }
  if (!codec) throw unsupported(operation, path);
  try {
    return codec.encode(value, path);
  } catch (err) {
    throw wrap(err, operation, path, `cannot encode as ${codec.name}`);
  }
}

/**
 * Decodes the bytes of the file at `path` by its extension, within the
 * decoded-size budget of `options.maxDecodedBytes` (default 1 GiB).
 *
 * @example
 * ```ts
 * import { decodeForPath } from "@hcs/store/formats";
 * console.assert(decodeForPath(new TextEncoder().encode("x"), "/a.txt", "load") === "x");
 * ```
 */
export function decodeForPath(
  bytes: Uint8Array,
  path: string,
  operation: string,
  options?: DecodeLimits,
): StorageValue {
  const codec = formatFor(path);
  if (!codec) throw unsupported(operation, path);
  try {
    return codec.decode(bytes, path, options);
  } catch (err) {
    throw wrap(err, operation, path, `corrupt or unreadable ${codec.name} data`);
  }
}

/**
 * Like {@linkcode decodeForPath}, through the codec's `decodeAsync` where it
 * has one (TIFF and PNG decode on the codec worker pool when the image is
 * large enough); same results and errors.
 *
 * @example
 * ```ts
 * import { decodeForPathAsync } from "@hcs/store/formats";
 * console.assert((await decodeForPathAsync(new TextEncoder().encode("x"), "/a.txt", "load")) === "x");
 * ```
 */
export async function decodeForPathAsync(
  bytes: Uint8Array,
  path: string,
  operation: string,
  options?: DecodeLimits,
): Promise<StorageValue> {
  const codec = formatFor(path);
  if (!codec) throw unsupported(operation, path);
  try {
    return codec.decodeAsync
      ? await codec.decodeAsync(bytes, path, options)
      : codec.decode(bytes, path, options);
  } catch (err) {
    throw wrap(err, operation, path, `corrupt or unreadable ${codec.name} data`);
  }
}

function wrap(err: unknown, operation: string, path: string, reason: string): Error {
  if (err instanceof StorageError) {
    if (err.path === path && err.operation === operation) return err;
    // Keep the class (CorruptDataError, LimitExceededError, …) and the code.
    return restate(
      err,
      operation,
      path,
      err instanceof UnsupportedFormatError ? err.reason : `${reason}: ${err.reason}`,
    );
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new CorruptDataError(operation, path, `${reason}: ${msg}`, { cause: err });
}

const decoder = new TextDecoder("utf-8", { fatal: false });

registerFormat({
  name: "text",
  extensions: [".txt"],
  encode: (value) => encoder.encode(typeof value === "string" ? value : JSON.stringify(value)),
  decode: (bytes) => decoder.decode(bytes),
});

registerFormat({
  name: "json",
  extensions: [".json"],
  encode: (value) => encoder.encode(JSON.stringify(value)),
  decode: (bytes) => JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)),
});

for (const codec of [npyFormat, tiffFormat, pngFormat, csvFormat]) registerFormat(codec);
