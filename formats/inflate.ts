/**
 * Capped streaming inflate for the PNG and TIFF decoders: the output must be
 * exactly the size the image declares, and inflating stops (with a
 * `CorruptDataError`) as soon as it would pass that size — a 1 MiB stream
 * that expands to 1 GiB costs one input slice of work, not the gigabyte.
 *
 * Input is pushed to fflate's streaming `Inflate`/`Unzlib` in slices of
 * {@linkcode SLICE_BYTES}, so one push can overshoot by at most
 * ~1032 × 16 KiB (DEFLATE's largest expansion) before the check runs.
 *
 * @module
 */

import { Inflate, Unzlib } from "npm:fflate@^0.8.3";
import { CorruptDataError } from "../errors.ts";
import { inflateCappedNative, type NativeZlib, nativeZlibNow } from "../_internal/native_zlib.ts";

/** Input bytes per push (bounds the output one push can produce to ~16 MiB). */
export const SLICE_BYTES = 16384;

class Overflow extends Error {}

/**
 * Inflates `parts` (one DEFLATE or zlib stream split over several buffers,
 * e.g. PNG IDAT chunks) into exactly `expected` bytes. Throws
 * `CorruptDataError` naming `what` when the stream is corrupt, ends short,
 * or would produce more than `expected` bytes (inflating stops there).
 *
 * @example
 * ```ts
 * import { zlibSync } from "fflate";
 * import { inflateExactly } from "./inflate.ts";
 * const out = inflateExactly([zlibSync(new Uint8Array(1000).fill(7))], 1000, true, "/a", "data");
 * console.assert(out.length === 1000 && out[999] === 7);
 * ```
 */
export function inflateExactly(
  parts: readonly Uint8Array[],
  expected: number,
  zlib: boolean,
  path: string,
  what: string,
): Uint8Array {
  return inflateAtMost(parts, expected, expected, zlib, path, what);
}

/**
 * Like {@linkcode inflateExactly}, but the stream may produce between `need`
 * and `cap` bytes; the first `need` are returned. Inflating stops (with a
 * `CorruptDataError`) as soon as the output would pass `cap`.
 */
export function inflateAtMost(
  parts: readonly Uint8Array[],
  need: number,
  cap: number,
  zlib: boolean,
  path: string,
  what: string,
): Uint8Array {
  const z = nativeZlibNow();
  if (z !== undefined) return nativeAtMost(z, parts, need, cap, zlib, path, what);
  const out = new Uint8Array(need);
  let got = 0;
  const onData = (chunk: Uint8Array) => {
    if (chunk.length > cap - got) throw new Overflow();
    if (got < need) out.set(chunk.length > need - got ? chunk.subarray(0, need - got) : chunk, got);
    got += chunk.length;
  };
  const stream = zlib ? new Unzlib(onData) : new Inflate(onData);
  const last = parts.length - 1;
  try {
    if (last < 0) stream.push(new Uint8Array(0), true);
    parts.forEach((part, k) => {
      if (part.length === 0) {
        if (k === last) stream.push(part, true);
        return;
      }
      for (let at = 0; at < part.length; at += SLICE_BYTES) {
        const end = Math.min(at + SLICE_BYTES, part.length);
        stream.push(part.subarray(at, end), k === last && end === part.length);
      }
    });
  } catch (err) {
    if (err instanceof Overflow) {
      throw pastCap(path, what, cap);
    }
    throw corruptDeflate(path, what);
  }
  if (got < need) {
    throw tooShort(path, what, got, need);
  }
  return out;
}

function pastCap(path: string, what: string, cap: number): CorruptDataError {
  return new CorruptDataError(
    "decode",
    path,
    `${what} inflates past the ${cap} bytes the image needs`,
  );
}

function tooShort(path: string, what: string, got: number, need: number): CorruptDataError {
  return new CorruptDataError(
    "decode",
    path,
    `${what} inflates to ${got} bytes, the image needs ${need}`,
  );
}

function corruptDeflate(path: string, what: string): CorruptDataError {
  // One message whichever inflater ran (native zlib and fflate word their
  // errors differently; a worker and the calling thread must agree).
  return new CorruptDataError("decode", path, `${what}: Deflate data is corrupt`);
}

/**
 * {@linkcode inflateAtMost} with native zlib: `maxOutputLength` stops it at
 * `cap` bytes, so a bomb costs at most `cap` bytes and the time to make them.
 */
function nativeAtMost(
  z: NativeZlib,
  parts: readonly Uint8Array[],
  need: number,
  cap: number,
  zlib: boolean,
  path: string,
  what: string,
): Uint8Array {
  const src = parts.length === 1 ? parts[0]! : concat(parts);
  const got = inflateCappedNative(z, src, zlib ? "zlib" : "raw", cap, need);
  if (got === "past") throw pastCap(path, what, cap);
  if (got === "corrupt") throw corruptDeflate(path, what);
  if (got.length < need) throw tooShort(path, what, got.length, need);
  return got.length === need ? got : got.slice(0, need);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** True when `src` starts with a zlib header (CMF/FLG with method 8 and a valid check). */
export function hasZlibHeader(src: Uint8Array): boolean {
  return src.length >= 2 && (src[0]! & 0x0f) === 8 && ((src[0]! << 8) | src[1]!) % 31 === 0;
}
