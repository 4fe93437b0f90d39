/**
 * The storage contract: the interfaces every backend implements, the value
 * types they store, and the option objects they take.
 *
 * - {@linkcode DataSink}: `save` / `saveBatch`.
 * - {@linkcode DataSource}: `load` / `loadBatch` / listings / existence tests.
 * - {@linkcode ReadOnlyBackend}: a source with a registry key.
 * - {@linkcode StorageBackend}: source + sink + filesystem operations.
 * - {@linkcode VirtualBackend}: a sink whose reads go through generated listings.
 *
 * @module
 */

import { IsADirectoryError, NotADirectoryError, NotFoundError } from "../errors.ts";

/** Every typed array an {@linkcode NdArray} may hold. */
export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/**
 * An n-dimensional array in C order: the same shape as zarrita's `Chunk`, so
 * values pass to `zarr.set` unchanged. `stride` is in elements.
 */
export interface NdArray<T extends TypedArray = TypedArray> {
  /** The elements, C order. */
  data: T;
  /** Extent of each axis, slowest first. */
  shape: number[];
  /** Elements to step per axis (C order: `[…, shape[n-1], 1]`). */
  stride: number[];
}

/** A JSON value. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/**
 * Everything a backend stores: arrays, raw bytes, text, JSON values and CSV
 * rows (arrays of row objects, themselves JSON values).
 */
export type StorageValue = NdArray | Uint8Array | string | JsonValue;

/** Options of `save` / `saveBatch`. Backends may accept more. */
export interface SaveOptions {
  /** Replace an existing target (atomically). Default false: `AlreadyExistsError`. */
  overwrite?: boolean;
}

/** Options of `load` / `loadBatch`. Backends may accept more. */
export interface LoadOptions {
  /**
   * `"bytes"` returns the raw bytes of any file (the pure-I/O path);
   * `"value"` (default) decodes by extension.
   */
  as?: "bytes" | "value";
  /**
   * Largest decoded value in bytes (TIFF, PNG, NPY, …); default 1 GiB
   * (`DEFAULT_MAX_DECODED_BYTES`). Over it, a `LimitExceededError`.
   */
  maxDecodedBytes?: number;
}

/** Options of `listFiles`. */
export interface ListOptions {
  /** Glob on the file name (`*`, `?`, `[abc]`, `[!abc]`). */
  pattern?: string;
  /** Extensions to keep, case-insensitive, with or without the dot. */
  extensions?: Iterable<string>;
  /** Descend into subdirectories (breadth-first). Default false. */
  recursive?: boolean;
}

/** Options of `createSymlink`. */
export interface SymlinkOptions {
  /** Replace an existing entry at the link path. Default false. */
  overwrite?: boolean;
}

/** What `stat` reports about a path (symlinks are not followed). */
export interface StatResult {
  /** Kind of the entry itself. */
  type: "file" | "directory" | "symlink" | "missing";
  /** The path that was asked about. */
  path: string;
  /** Whether the path resolves to something (false for a broken symlink). */
  exists: boolean;
  /** For symlinks: the stored target, as written. */
  target?: string;
  /** For files: size in bytes, where the backend knows it. */
  size?: number;
}

/** What every backend has: a registry key and whether paths need validating. */
export interface BackendBase {
  /** The registry key (`"disk"`, `"memory"`, `"zarr"`, …). */
  readonly key: string;
  /**
   * True for backends with a real filesystem-like namespace: `FileManager`'s
   * directory helpers then check their base directory with `isDir` first.
   */
  readonly requiresFilesystemValidation: boolean;
  /** Which implementation this instance is (e.g. `"ffi(deno, readv)"`). */
  readonly implementation?: string;
}

/** Writes values. */
export interface DataSink {
  /** Saves one value at `path`. Never replaces unless `{ overwrite: true }`. */
  save(data: StorageValue, path: string, options?: SaveOptions): Promise<void>;
  /** Saves `data[i]` at `paths[i]`; all or nothing. */
  saveBatch(
    data: readonly StorageValue[],
    paths: readonly string[],
    options?: SaveOptions,
  ): Promise<void>;
}

/** `load` options asking for the raw bytes. */
export type LoadBytesOptions = LoadOptions & { as: "bytes" };

/** The value type a path's extension decodes to (built-in formats), else `StorageValue`. */
export type LoadedValue<P extends string> = P extends `${string}.${"npy" | "tif" | "tiff" | "png"}`
  ? NdArray
  : P extends `${string}.json` ? JsonValue
  : P extends `${string}.txt` ? string
  : StorageValue;

/** `P` when it is a string literal type (so `load<string>(…)` keeps its meaning), else `never`. */
export type LiteralPath<P extends string> = string extends P ? never : P;

/** Reads values and lists what exists. */
export interface DataSource {
  /** Loads the raw bytes at `path`. */
  load(path: string, options: LoadBytesOptions): Promise<Uint8Array>;
  /** Loads the value at `path`, typed by its extension where the path is a literal. */
  load<P extends string>(path: LiteralPath<P>, options?: LoadOptions): Promise<LoadedValue<P>>;
  /** Loads the value at `path` (decoded by extension, or raw bytes with `{ as: "bytes" }`). */
  load<T = StorageValue>(path: string, options?: LoadOptions): Promise<T>;
  /** Loads the raw bytes of many paths, in request order. */
  loadBatch(paths: readonly string[], options: LoadBytesOptions): Promise<Uint8Array[]>;
  /** Loads many paths, results in request order. */
  loadBatch<T = StorageValue>(paths: readonly string[], options?: LoadOptions): Promise<T[]>;
  /** Full paths of files under `dir`, breadth-first, natural order within a depth. */
  listFiles(dir: string, options?: ListOptions): Promise<string[]>;
  /** True if `path` resolves to a file or directory. Never throws for a missing path. */
  exists(path: string): Promise<boolean>;
  /** True for a file; `IsADirectoryError` for a directory; `NotFoundError` if missing. */
  isFile(path: string): Promise<boolean>;
  /** True for a directory; `NotADirectoryError` for a file; `NotFoundError` if missing. */
  isDir(path: string): Promise<boolean>;
  /** Entry names of a directory, natural order. */
  listDir(path: string): Promise<string[]>;
}

/** A read-only backend (HTTP, virtual workspace, …). */
export interface ReadOnlyBackend extends BackendBase, DataSource {
  /** Always false for read-only backends. */
  readonly requiresFilesystemValidation: false;
}

/** The filesystem operations of a full storage backend. */
export interface FilesystemOps {
  /** Removes a file, a symlink or an empty directory. */
  delete(path: string): Promise<void>;
  /** Removes a path recursively. */
  deleteAll(path: string): Promise<void>;
  /** Creates a directory and its parents; a no-op if it exists. */
  ensureDirectory(path: string): Promise<void>;
  /** Creates `link` pointing at `target`. */
  createSymlink(target: string, link: string, options?: SymlinkOptions): Promise<void>;
  /** True only for a symlink (false for files, directories and missing paths). */
  isSymlink(path: string): Promise<boolean>;
  /** Moves a file or a whole tree; refuses an existing destination. */
  move(src: string, dst: string): Promise<void>;
  /** Copies a file or a whole tree; refuses an existing destination. */
  copy(src: string, dst: string): Promise<void>;
  /** Describes `path` without following a final symlink. */
  stat(path: string): Promise<StatResult>;
}

/** A full read/write backend with a filesystem-like namespace. */
export interface StorageBackend extends BackendBase, DataSource, DataSink, FilesystemOps {}

/** A backend that writes values and reads through generated listings. */
export interface VirtualBackend extends BackendBase, DataSink {
  /** Loads the raw bytes of a virtual path. */
  load(path: string, options: LoadBytesOptions): Promise<Uint8Array>;
  /** Loads a virtual path, typed by its extension where the path is a literal. */
  load<P extends string>(path: LiteralPath<P>, options?: LoadOptions): Promise<LoadedValue<P>>;
  /** Loads a virtual path. */
  load<T = StorageValue>(path: string, options?: LoadOptions): Promise<T>;
  /** Loads the raw bytes of many virtual paths, in request order. */
  loadBatch(paths: readonly string[], options: LoadBytesOptions): Promise<Uint8Array[]>;
  /** Loads many virtual paths, in request order. */
  loadBatch<T = StorageValue>(paths: readonly string[], options?: LoadOptions): Promise<T[]>;
  /** Lists virtual file names under `dir`. */
  listFiles(dir: string, options?: ListOptions): Promise<string[]>;
}

/** Any backend the registry can hold. */
export type AnyBackend = StorageBackend | ReadOnlyBackend | VirtualBackend;

/**
 * What resolves backends by registry key — a `Registry` fits. The one
 * interface `FileManager`, the virtual workspace and the Zarr backend take.
 */
export interface BackendResolver {
  /** Resolves a backend by key; throws `BackendNotFoundError` for unknown keys. */
  getBackend<T extends AnyBackend = AnyBackend>(key: string): Promise<T>;
}

/**
 * Base class for full backends. It derives `exists()` from `isFile`/`isDir`
 * (as the reference does) and `loadBatch` from `load`; subclasses implement
 * the rest.
 *
 * @example A subclass only has to supply the primitive operations
 * ```ts
 * import { AbstractStorageBackend } from "@hcs/store";
 * console.assert(typeof AbstractStorageBackend.prototype.exists === "function");
 * ```
 */
export abstract class AbstractStorageBackend implements StorageBackend {
  /** The registry key. */
  abstract readonly key: string;
  /** Full backends validate paths. */
  readonly requiresFilesystemValidation: boolean = true;

  abstract save(data: StorageValue, path: string, options?: SaveOptions): Promise<void>;
  abstract saveBatch(
    data: readonly StorageValue[],
    paths: readonly string[],
    options?: SaveOptions,
  ): Promise<void>;
  abstract load<T = StorageValue>(path: string, options?: LoadOptions): Promise<T>;
  abstract listFiles(dir: string, options?: ListOptions): Promise<string[]>;
  abstract isFile(path: string): Promise<boolean>;
  abstract isDir(path: string): Promise<boolean>;
  abstract listDir(path: string): Promise<string[]>;
  abstract delete(path: string): Promise<void>;
  abstract deleteAll(path: string): Promise<void>;
  abstract ensureDirectory(path: string): Promise<void>;
  abstract createSymlink(target: string, link: string, options?: SymlinkOptions): Promise<void>;
  abstract isSymlink(path: string): Promise<boolean>;
  abstract move(src: string, dst: string): Promise<void>;
  abstract copy(src: string, dst: string): Promise<void>;
  abstract stat(path: string): Promise<StatResult>;

  /** Loads each path with `load`, in order. */
  loadBatch<T = StorageValue>(paths: readonly string[], options?: LoadOptions): Promise<T[]> {
    return Promise.all(paths.map((p) => this.load<T>(p, options)));
  }

  /** True if `isFile` or `isDir` says so; false for missing paths, broken links and link loops. */
  async exists(path: string): Promise<boolean> {
    try {
      return await this.isFile(path);
    } catch (err) {
      if (err instanceof IsADirectoryError) return true;
      if (err instanceof NotFoundError || err instanceof NotADirectoryError) return false;
      if ((err as { code?: unknown })?.code === "ELOOP") return false;
      throw err;
    }
  }
}

/**
 * True for an {@linkcode NdArray}-shaped value (`data` typed array, `shape`, `stride`).
 *
 * @example
 * ```ts
 * import { isNdArray } from "@hcs/store";
 * console.assert(isNdArray({ data: new Uint8Array(4), shape: [2, 2], stride: [2, 1] }));
 * console.assert(!isNdArray(new Uint8Array(4)));
 * ```
 */
export function isNdArray(value: unknown): value is NdArray {
  return typeof value === "object" && value !== null && ArrayBuffer.isView(
    (value as { data?: unknown }).data,
  ) && Array.isArray((value as { shape?: unknown }).shape) &&
    Array.isArray((value as { stride?: unknown }).stride);
}

/** Byte-range reads: `length` bytes at `offset`; never short unless the file ends. */
export interface RangeReader {
  /** Reads `[offset, offset + length)` of `path` (fewer bytes only at end of file). */
  loadRange(
    path: string,
    offset: number,
    length: number,
    options?: { signal?: AbortSignal },
  ): Promise<Uint8Array>;
}

/** Bytes read together with an opaque version token (an ETag, an mtime+size+inode). */
export interface VersionedBytes {
  /** The object's bytes. */
  bytes: Uint8Array;
  /** Opaque token that changes whenever the bytes change. */
  version: string;
}

/**
 * Conditional writes: create-if-absent and compare-and-swap on one object.
 * Object storage offers this without any lock (`If-None-Match: *`,
 * `If-Match: <etag>`), which is what keeps plate metadata whole when many
 * machines write wells at once.
 */
export interface ConditionalWriter {
  /** Reads `path` with its version; `undefined` when absent. */
  loadVersioned(path: string): Promise<VersionedBytes | undefined>;
  /**
   * Writes `bytes` only if the current version is `expected` (`null`: only if
   * absent). Resolves to the new version, or `false` when another writer won.
   */
  saveIfVersion(bytes: Uint8Array, path: string, expected: string | null): Promise<string | false>;
}

/** A lock that excludes other processes (and, on one host, other machines' NFS writers where noted). */
export interface CrossProcessLocker {
  /** Runs `fn` holding an exclusive lock named after `path`. */
  withLock<T>(path: string, fn: () => Promise<T>): Promise<T>;
}

/**
 * What a byte store can do, declared by the backend rather than guessed
 * (`"stat" in b`, `key === "disk"`). Checked once where a store is built; a
 * flag that is true promises the matching interface above is implemented.
 */
export interface StoreCapabilities {
  /** `load`/`loadBatch`/`exists`/`isFile`/`isDir`. */
  readonly read: boolean;
  /** `save`/`saveBatch`/`ensureDirectory`/`delete`. */
  readonly write: boolean;
  /** `listFiles`/`listDir` come from the store itself. */
  readonly list: boolean;
  /** {@linkcode RangeReader}. */
  readonly rangeRead: boolean;
  /** `save` without overwrite is an atomic create-if-absent. */
  readonly atomicCreate: boolean;
  /** {@linkcode ConditionalWriter}. */
  readonly compareAndSwap: boolean;
  /** {@linkcode CrossProcessLocker}. */
  readonly crossProcessLock: boolean;
}

/** A backend that declares its capabilities. */
export interface CapableBackend {
  /** What this backend can do. */
  readonly capabilities: StoreCapabilities;
}

/** The methods each capability flag promises (what {@linkcode checkCapabilities} verifies). */
export const CAPABILITY_METHODS: Readonly<Record<keyof StoreCapabilities, readonly string[]>> =
  Object.freeze({
    read: ["load", "loadBatch", "exists", "isFile", "isDir"],
    write: ["save", "saveBatch", "ensureDirectory", "delete"],
    list: ["listFiles", "listDir"],
    rangeRead: ["loadRange"],
    atomicCreate: ["save"],
    compareAndSwap: ["loadVersioned", "saveIfVersion"],
    crossProcessLock: ["withLock"],
  });

/**
 * The capabilities `store` declares, checked once (where a store is built):
 * every flag that is true must have its methods, else a `TypeError` naming
 * what is missing. `undefined` when the store declares none — callers then
 * assume only the contract it is typed as, never guess from its methods.
 *
 * @example
 * ```ts
 * import { checkCapabilities } from "@hcs/store";
 * import { MemoryBackend } from "@hcs/store/memory";
 * console.assert(checkCapabilities(new MemoryBackend(), "example")?.compareAndSwap === true);
 * ```
 */
export function checkCapabilities(store: object, where: string): StoreCapabilities | undefined {
  const caps = (store as Partial<CapableBackend>).capabilities;
  if (caps === undefined) return undefined;
  const rec = store as Record<string, unknown>;
  for (const [flag, methods] of Object.entries(CAPABILITY_METHODS)) {
    const value = caps[flag as keyof StoreCapabilities];
    if (typeof value !== "boolean") {
      throw new TypeError(`${where}: capabilities.${flag} must be a boolean, got ${typeof value}`);
    }
    if (!value) continue;
    const missing = methods.filter((m) => typeof rec[m] !== "function");
    if (missing.length > 0) {
      throw new TypeError(
        `${where}: the store declares ${flag} but has no ${missing.join(", ")}`,
      );
    }
  }
  return caps;
}
