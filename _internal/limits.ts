/**
 * Resource limits shared by every decoder and transport: one decoded-size
 * budget (`maxDecodedBytes`) for TIFF, PNG, NPY, Zarr arrays and HTTP bodies.
 *
 * The check runs before allocating, from sizes the input declares; decoders
 * must also stop inflating as soon as their output would pass what the
 * declared image needs.
 *
 * @module
 */
import { LimitExceededError } from "../errors.ts";

/** Default decoded-size budget: 1 GiB per decoded value (array, image, body). */
export const DEFAULT_MAX_DECODED_BYTES: number = 2 ** 30;

/** Options every decoding entry point accepts. */
export interface DecodeLimits {
  /** Largest decoded value in bytes; default {@linkcode DEFAULT_MAX_DECODED_BYTES}. */
  maxDecodedBytes?: number;
}

/** The effective budget for `opts`, validated. */
export function decodedBudget(opts: DecodeLimits | undefined): number {
  const v = opts?.maxDecodedBytes;
  if (v === undefined) return DEFAULT_MAX_DECODED_BYTES;
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`maxDecodedBytes must be a non-negative integer, got ${v}`);
  }
  return v;
}

/**
 * Throws {@linkcode LimitExceededError} when `bytes` (possibly a non-safe
 * number from hostile metadata) exceeds `budget`.
 */
export function checkDecodedSize(
  bytes: number,
  budget: number,
  operation: string,
  path: string,
  what = "decoded value",
): void {
  if (!(bytes <= budget)) {
    throw new LimitExceededError(
      operation,
      path,
      `${what} needs ${bytes} bytes, over the maxDecodedBytes budget of ${budget}`,
    );
  }
}
