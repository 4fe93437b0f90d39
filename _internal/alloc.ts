/**
 * Fresh byte buffers for decoded data, with one seam for the platform: a
 * large-buffer allocator installed by `ffi/` where it loads (on Linux it asks
 * for transparent huge pages, as NumPy does for arrays of 4 MiB or more, so
 * first touch faults 2 MiB at a time). Without one, or below its threshold,
 * buffers are plain `new ArrayBuffer`s.
 *
 * Decision: the seam is a module-level hook rather than an option threaded
 * through every decoder, because decoders run in workers and on edge
 * runtimes that never load `ffi/`; they simply get plain buffers.
 *
 * @module
 */

/** Allocates a zero-filled buffer of at least `bytes` bytes; returns a view of exactly `bytes`. */
export type LargeAllocator = (bytes: number) => Uint8Array;

let large: LargeAllocator | undefined;
let largeMin = 4 << 20;

/**
 * Installs (or with `undefined`, removes) the allocator used for buffers of
 * at least `minBytes` bytes.
 *
 * @example
 * ```ts
 * import { allocBytes, installLargeAllocator } from "./alloc.ts";
 * installLargeAllocator((n) => new Uint8Array(n), 1024);
 * console.assert(allocBytes(2048).length === 2048);
 * installLargeAllocator(undefined);
 * ```
 */
export function installLargeAllocator(fn: LargeAllocator | undefined, minBytes = 4 << 20): void {
  large = fn;
  largeMin = minBytes;
}

/** Whether a large allocator is installed, and its threshold. */
export function largeAllocator(): { installed: boolean; minBytes: number } {
  return { installed: large !== undefined, minBytes: largeMin };
}

/**
 * A fresh zero-filled `Uint8Array` of `bytes` bytes (its `byteOffset` may be
 * non-zero, always a multiple of 4096 when it is).
 *
 * @example
 * ```ts
 * import { allocBytes } from "./alloc.ts";
 * const b = allocBytes(16);
 * console.assert(b.length === 16 && b[0] === 0);
 * ```
 */
export function allocBytes(bytes: number): Uint8Array {
  if (large !== undefined && bytes >= largeMin) return large(bytes);
  return new Uint8Array(bytes);
}
