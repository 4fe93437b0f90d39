/**
 * Cancellation helpers shared by the network transports (HTTP, S3): one
 * `ABORT_ERR` shape for "the caller's signal fired", and a retry wait that
 * the signal cuts short.
 *
 * @module
 */
import { StorageError } from "../errors.ts";

function abortError(op: string, path: string, signal: AbortSignal | undefined): StorageError {
  return new StorageError(op, path, "aborted", { code: "ABORT_ERR", cause: signal?.reason });
}

/** Throws `ABORT_ERR` naming `op` and `path` when `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, op: string, path: string): void {
  if (signal?.aborted) throw abortError(op, path, signal);
}

/** Waits `ms`, rejecting with `ABORT_ERR` when `signal` fires. */
export function sleep(
  ms: number,
  signal: AbortSignal | undefined,
  op: string,
  path: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(op, path, signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(op, path, signal));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
