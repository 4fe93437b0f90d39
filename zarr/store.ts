/**
 * The key/value view of a Zarr hierarchy: keys (`/A/1/0/zarr.json`) map to
 * paths under a root directory of any byte store. Reads can be prefetched in
 * one `loadBatch` (so the disk backend's bulk reader serves a whole plate
 * read); writes are buffered and flushed in one `saveBatch`.
 *
 * No `node:*` import here: this module runs on edge runtimes over HTTP.
 *
 * @module
 */

import { NotADirectoryError, NotFoundError, StorageError } from "../errors.ts";
import type { ReadOnlyBackend, StorageBackend } from "../backends/base.ts";
import { dirname, join } from "../_internal/paths.ts";
import { mapLimit } from "../_internal/pool.ts";

/** Folders `flush` creates at once. */
const ENSURE_DIRS_IN_FLIGHT = 16;

/** Most keys one `prefetch` asks the byte store for in one `loadBatch`. */
const PREFETCH_BATCH = 1024;

/** The byte store under a Zarr hierarchy: a full backend, or a read-only one (HTTP). */
export type ByteStore = StorageBackend | ReadOnlyBackend;

/** True for errors that mean "nothing there". */
export function isMissing(err: unknown): boolean {
  return err instanceof NotFoundError || err instanceof NotADirectoryError;
}

/** Reads `path` as bytes; `undefined` when it does not exist. */
export async function readOptional(
  store: ByteStore,
  path: string,
): Promise<Uint8Array | undefined> {
  try {
    return await store.load<Uint8Array>(path, { as: "bytes" });
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

/**
 * Reads many paths with one `loadBatch`; where some are missing, falls back to
 * reading them one by one and reports the missing ones as `undefined`.
 */
export async function readManyOptional(
  store: ByteStore,
  paths: readonly string[],
): Promise<(Uint8Array | undefined)[]> {
  if (paths.length === 0) return [];
  try {
    return await store.loadBatch<Uint8Array>(paths, { as: "bytes" });
  } catch (err) {
    if (!isMissing(err)) throw err;
    return await Promise.all(paths.map((p) => readOptional(store, p)));
  }
}

/**
 * A zarrita-compatible store (`get`/`set`) rooted at a directory of a
 * backend. `prefetch` fills a read cache with one batched read; `set` only
 * buffers, and `flush` writes the buffer with one `saveBatch`.
 *
 * @example
 * ```ts
 * import { MemoryBackend } from "@hcs/store/memory";
 * import { ZarrStoreAdapter } from "./store.ts";
 * const mem = new MemoryBackend();
 * await mem.ensureDirectory("/s");
 * const store = new ZarrStoreAdapter(mem, "/s", mem);
 * await store.set("/zarr.json", new TextEncoder().encode("{}"));
 * await store.flush();
 * console.assert((await store.get("/zarr.json"))?.length === 2);
 * ```
 */
export class ZarrStoreAdapter {
  /** The backend holding the bytes. */
  readonly backend: ByteStore;
  /** The directory of the backend that is the store's root. */
  readonly root: string;
  /** Where `flush` writes (absent for a read-only store). */
  readonly writer: StorageBackend | undefined;
  #cache = new Map<string, Uint8Array | undefined>();
  #pending = new Map<string, Uint8Array>();
  #reads = 0;

  /**
   * @param backend the byte store
   * @param root the directory that holds the Zarr hierarchy
   * @param writer the writable backend `flush` uses (the typed store's `writer`)
   */
  constructor(backend: ByteStore, root: string, writer?: StorageBackend) {
    this.backend = backend;
    this.root = root;
    this.writer = writer;
  }

  /** How many keys were read from the backend (not from the cache). */
  get reads(): number {
    return this.#reads;
  }

  /** The backend path of a store key. */
  pathOf(key: string): string {
    const k = key.startsWith("/") ? key.slice(1) : key;
    return k === "" ? this.root : join(this.root, k);
  }

  /** Reads a key (from the write buffer, the prefetch cache, or the backend). */
  async get(key: string): Promise<Uint8Array | undefined> {
    const pending = this.#pending.get(key);
    if (pending) return pending;
    if (this.#cache.has(key)) return this.#cache.get(key);
    this.#reads++;
    return await readOptional(this.backend, this.pathOf(key));
  }

  /** Seeds the read cache (bytes already read elsewhere). */
  prime(key: string, bytes: Uint8Array | undefined): void {
    this.#cache.set(key, bytes);
  }

  /** Reads every key not yet cached with one batched backend read. */
  async prefetch(keys: readonly string[]): Promise<void> {
    const todo = [...new Set(keys)].filter((k) => !this.#cache.has(k) && !this.#pending.has(k));
    if (todo.length === 0) return;
    this.#reads += todo.length;
    // In batches: a batch with missing keys falls back to single reads, and
    // some stores' batch cost grows faster than linearly with its size.
    for (let i = 0; i < todo.length; i += PREFETCH_BATCH) {
      const part = todo.slice(i, i + PREFETCH_BATCH);
      const got = await readManyOptional(this.backend, part.map((k) => this.pathOf(k)));
      part.forEach((k, j) => this.#cache.set(k, got[j]));
    }
  }

  /** Drops cached reads (not pending writes). */
  clearCache(): void {
    this.#cache.clear();
  }

  /** Buffers a write; nothing reaches the backend before `flush`. */
  set(key: string, bytes: Uint8Array): Promise<void> {
    this.#pending.set(key, bytes);
    return Promise.resolve();
  }

  /** Keys waiting to be written. */
  pendingKeys(): string[] {
    return [...this.#pending.keys()];
  }

  /**
   * Writes every buffered key: the directories they need first, then one
   * `saveBatch` with `{ overwrite: true }`.
   */
  async flush(operation = "saveBatch"): Promise<void> {
    if (this.#pending.size === 0) return;
    const backend = this.writer;
    if (!backend) {
      throw new StorageError(operation, this.root, "the byte store is read-only", {
        code: "EROFS",
      });
    }
    const keys = [...this.#pending.keys()];
    const paths = keys.map((k) => this.pathOf(k));
    // Only the deepest folders are asked for (ensureDirectory makes their
    // parents), several at once: a well's chunk folders one by one cost a
    // convert more than its chunk writes.
    const dirs = new Set(paths.map((p) => dirname(p)));
    const parents = new Set<string>();
    for (const d of dirs) {
      for (let p = dirname(d); p !== "/" && p !== "." && !parents.has(p); p = dirname(p)) {
        parents.add(p);
      }
    }
    const leaves = [...dirs].filter((d) => !parents.has(d)).sort();
    await mapLimit(leaves, ENSURE_DIRS_IN_FLIGHT, (d) => backend.ensureDirectory(d));
    const values = keys.map((k) => this.#pending.get(k)!);
    await backend.saveBatch(values, paths, { overwrite: true });
    keys.forEach((k, i) => this.#cache.set(k, values[i]));
    this.#pending.clear();
  }
}
