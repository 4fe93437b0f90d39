/**
 * The runtime-neutral interface of bulk file readers: the FFI readers (Deno,
 * Bun) and the pure-TypeScript reader implement it.
 *
 * @module
 */

/** Reads whole files in bulk. */
export interface BulkReader {
  /** Implementation name, e.g. `"ffi(deno, readv)"` or `"pure"`. */
  readonly implementation: string;
  /**
   * Reads every file whole, results in request order. Errors are typed
   * storage errors naming the path and `operation`.
   */
  readFiles(paths: readonly string[], operation: string): Promise<Uint8Array[]>;
  /** Zero-copy mode, where the reader has one (FFI readers): see {@linkcode MappedFiles}. */
  mapFiles?(paths: readonly string[], operation: string): Promise<MappedFiles>;
  /**
   * Reads like `readFiles` into arenas recycled from earlier leases (no fresh
   * memory to fault in), returned as a handle with an explicit release — the
   * same rules as {@linkcode MappedFiles}. FFI readers only.
   */
  leaseFiles?(paths: readonly string[], operation: string): Promise<MappedFiles>;
}

/**
 * Views handed out under an explicit release: read-only memory-mapped files
 * (`mapFiles`, the opt-in zero-copy mode) or leased arenas (`leaseFiles`).
 *
 * The rule: views come only from {@linkcode MappedFiles.get} and are valid
 * until `release()` (or the end of a `using` block). `release()` detaches
 * every view handed out — afterwards they read as empty (`length` 0) — and
 * only then unmaps; `get()` after release throws. `release()` is safe to call
 * twice. A mapped file must not be truncated while mapped (the OS would fault
 * on the missing pages).
 *
 * @example
 * ```ts ignore
 * using mapped = await reader.mapFiles!(["/data/a.tif"], "loadBatch");
 * const bytes = mapped.get(0); // valid until the block ends
 * ```
 */
export interface MappedFiles extends Disposable {
  /** The mapped paths, in request order. */
  readonly paths: readonly string[];
  /** Number of files. */
  readonly length: number;
  /** Whether `release()` ran. */
  readonly released: boolean;
  /** A view of file `index` (zero copy); throws after release. */
  get(index: number): Uint8Array;
  /** Detaches the views handed out, then unmaps (or recycles the arena); safe to call twice. */
  release(): void;
}
