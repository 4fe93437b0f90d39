/**
 * File bytes that do not escape: `cp`, hashing and `convert` read files
 * only to hand the bytes to a consumer that is done with them when its
 * promise settles. Where the source has `leaseFiles` (the disk backend with
 * the FFI reader) the bytes come in arenas recycled from earlier batches —
 * no fresh memory to fault in per batch — else from `loadBatch`.
 *
 * Decisions: files are grouped into batches of at most
 * {@linkcode LEASE_BATCH_BYTES} (by `stat` size; a larger file is a batch
 * alone) and at most two batches are held at once — the one being consumed
 * and the next one being read — so memory is bounded whatever the number of
 * files. A lease is released (its views detached) when the batch's consumers
 * have settled, also when one throws.
 *
 * @module
 */

import type { MappedFiles } from "../ffi/types.ts";
import { UnsupportedOperationError } from "../errors.ts";
import { mapLimit } from "./pool.ts";

/** Bytes of one batch at most (a larger file is leased alone): 64 MiB. */
export const LEASE_BATCH_BYTES: number = 64 * 1024 * 1024;

/** Consumers run at once within a batch by default. */
export const LEASE_CONCURRENCY = 8;

/** What {@linkcode forEachFileBytes} reads from: a backend, with `leaseFiles` where it has one. */
export interface ByteSource {
  /** Sizes for batching (a path without one is a batch alone). */
  stat?(path: string): Promise<{ size?: number | undefined }>;
  /** The fallback: whole files as fresh bytes. */
  loadBatch(paths: readonly string[], options: { as: "bytes" }): Promise<Uint8Array[]>;
  /** Recycled arenas (see {@linkcode MappedFiles}); rejecting with `UnsupportedOperationError` means "use loadBatch". */
  leaseFiles?(paths: readonly string[]): Promise<MappedFiles>;
}

/** Options of {@linkcode forEachFileBytes}. */
export interface FileBytesOptions {
  /** Bytes per batch (default {@linkcode LEASE_BATCH_BYTES}). */
  batchBytes?: number;
  /** Consumers in flight within a batch (default {@linkcode LEASE_CONCURRENCY}). */
  concurrency?: number;
  /** Use `leaseFiles` when the source has it (default true). */
  lease?: boolean;
}

/** One batch's bytes and how to give them back. */
interface Held {
  get(i: number): Uint8Array;
  release(): void;
}

/** Groups `paths` (indices) into batches of at most `limit` bytes by their sizes. */
export function batchesBySize(sizes: readonly number[], limit: number): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  let bytes = 0;
  sizes.forEach((s, i) => {
    if (cur.length > 0 && bytes + s > limit) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(i);
    bytes += s;
  });
  if (cur.length > 0) out.push(cur);
  return out;
}

/**
 * Calls `consume(bytes, path, index)` for every path (request order within a
 * batch, up to `concurrency` at once). `bytes` is valid only until the
 * consumer's promise settles: it may be a view of a leased arena that is
 * detached afterwards, so a consumer that keeps the bytes must copy them.
 * On the first failure no further batch is read, the batch's started
 * consumers are awaited, its lease is released, and that failure is thrown.
 *
 * @example
 * ```ts
 * import { forEachFileBytes } from "./leased_bytes.ts";
 * const files = new Map([["/a", new Uint8Array([1, 2])], ["/b", new Uint8Array([3])]]);
 * const source = {
 *   loadBatch: (paths: readonly string[]) => Promise.resolve(paths.map((p) => files.get(p)!)),
 * };
 * let total = 0;
 * await forEachFileBytes(source, ["/a", "/b"], (bytes) => {
 *   total += bytes.length;
 *   return Promise.resolve();
 * });
 * console.assert(total === 3);
 * ```
 */
export async function forEachFileBytes(
  source: ByteSource,
  paths: readonly string[],
  consume: (bytes: Uint8Array, path: string, index: number) => Promise<void>,
  options: FileBytesOptions = {},
): Promise<void> {
  if (paths.length === 0) return;
  const limit = options.batchBytes ?? LEASE_BATCH_BYTES;
  const concurrency = options.concurrency ?? LEASE_CONCURRENCY;
  const sizes = source.stat
    ? await mapLimit(
      paths,
      16,
      async (p) => (await source.stat!(p).catch(() => ({ size: undefined }))).size ?? limit,
    )
    : paths.map(() => 1);
  const batches = source.stat ? batchesBySize(sizes, limit) : paths.map((_, i) => [i]);
  let leasing = options.lease !== false && typeof source.leaseFiles === "function";
  const read = async (batch: number[]): Promise<Held> => {
    const ps = batch.map((i) => paths[i]!);
    if (leasing) {
      try {
        const lease = await source.leaseFiles!(ps);
        return { get: (i) => lease.get(i), release: () => lease.release() };
      } catch (err) {
        if (!(err instanceof UnsupportedOperationError)) throw err;
        leasing = false;
      }
    }
    const bytes = await source.loadBatch(ps, { as: "bytes" });
    return { get: (i) => bytes[i]!, release: () => {} };
  };
  let next: Promise<Held> | undefined = read(batches[0]!);
  for (let b = 0; b < batches.length; b++) {
    const held = await next!;
    // Read the following batch while this one is consumed: two batches at most.
    next = b + 1 < batches.length ? read(batches[b + 1]!) : undefined;
    // A failed read-ahead is thrown when its turn comes, not reported as unhandled.
    next?.catch(() => {});
    try {
      const batch = batches[b]!;
      await mapLimit(batch, concurrency, (i, k) => consume(held.get(k), paths[i]!, i));
    } catch (err) {
      if (next) await next.then((h) => h.release(), () => {});
      throw err;
    } finally {
      held.release();
    }
  }
}
