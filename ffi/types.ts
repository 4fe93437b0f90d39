/**
 * The runtime-neutral interface of bulk file readers: the FFI readers (Deno,
 * Bun) and the pure-TypeScript reader implement it.
 *
 * @module
 */

/** Reads whole files in bulk. */
export interface BulkReader {
  /** Implementation name, e.g. `"ffi(deno, pread)"` or `"pure"`. */
  readonly implementation: string;
  /**
   * Reads every file whole, results in request order. Errors are typed
   * storage errors naming the path and `operation`.
   */
  readFiles(paths: readonly string[], operation: string): Promise<Uint8Array[]>;
}
