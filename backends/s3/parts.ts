/**
 * Multipart planning under S3's limits: at most 10,000 parts, each at least
 * 5 MiB except the last and at most 5 GiB. Used for uploads above the
 * backend's threshold and for copies above 5 GiB (the largest object a
 * single CopyObject may copy).
 *
 * @module
 */

/** Smallest part S3 accepts (except the last one). */
export const MIN_PART: number = 5 * 2 ** 20;
/** Largest part, and the largest single-request copy. */
export const MAX_PART: number = 5 * 2 ** 30;
/** Most parts in one upload. */
export const MAX_PARTS = 10_000;
/** Largest object S3 stores (5 TiB). */
export const MAX_OBJECT: number = 5 * 2 ** 40;

/** One part: its number (1-based) and the byte range `[start, end)` it covers. */
export interface PartRange {
  /** Part number, from 1. */
  n: number;
  /** First byte. */
  start: number;
  /** One past the last byte. */
  end: number;
}

/**
 * Splits `size` bytes into parts of `preferred` bytes, raised where needed so
 * that no more than 10,000 parts are used. Throws a RangeError for sizes S3
 * cannot hold.
 */
export function planParts(size: number, preferred: number): PartRange[] {
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_OBJECT) {
    throw new RangeError(`cannot split ${size} bytes into S3 parts (at most 5 TiB)`);
  }
  if (!Number.isSafeInteger(preferred) || preferred < MIN_PART || preferred > MAX_PART) {
    throw new RangeError(`part size must be between 5 MiB and 5 GiB, got ${preferred}`);
  }
  const partSize = Math.max(preferred, Math.ceil(size / MAX_PARTS));
  const parts: PartRange[] = [];
  for (let start = 0, n = 1; start < size || n === 1; start += partSize, n++) {
    parts.push({ n, start, end: Math.min(size, start + partSize) });
    if (size === 0) break;
  }
  return parts;
}

/** The `x-amz-copy-source-range` header value of a part. */
export function copyRange(p: PartRange): string {
  return `bytes=${p.start}-${p.end - 1}`;
}
