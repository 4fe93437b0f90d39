/**
 * Bounded concurrency: the one worker pool (disk batches, the pure reader,
 * FFI parallel reads; HTTP batches may use it too).
 *
 * On the first failure no new item starts, every item already started is
 * awaited (so nothing still runs on resources the caller frees next), and
 * that first error is thrown.
 *
 * @module
 */

/**
 * Runs `fn` over `items` with at most `limit` calls in flight; results in
 * item order.
 *
 * @example
 * ```ts
 * import { mapLimit } from "./pool.ts";
 * const out = await mapLimit([1, 2, 3], 2, (x) => Promise.resolve(x * 2));
 * console.assert(out.join() === "2,4,6");
 * ```
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`mapLimit: limit must be a positive integer, got ${limit}`);
  }
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const workers = Array.from({ length: Math.min(limit, items.length) }, worker);
  const settled = await Promise.allSettled(workers);
  const bad = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (bad) throw bad.reason;
  return out;
}
