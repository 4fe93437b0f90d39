/**
 * The Zarr backend (registry key `"zarr"`): a thin contract adapter over the
 * Zarr/OME-NGFF module in `zarr/` (model, index, reads, writes). Single arrays
 * (`save(array, "x.zarr")`) and OME-Zarr HCS plates written by
 * `saveBatch(planes, virtualPaths, { row, column, axes, coordinates })` —
 * plate → row → column → field → resolution `"0"` — with NGFF 0.5 metadata on
 * Zarr v3 by default, or the OpenHCS reference layout (NGFF 0.4 on Zarr v2,
 * `"/"` dimension separator, `polystore_*` array attributes) with
 * `ngff: "0.4"`.
 *
 * The bytes live on another backend (disk by default, memory, or HTTP for
 * reading): see {@linkcode ZarrBackendOptions.store}. Plain paths that are
 * neither inside a plate nor a Zarr array go straight to that backend.
 *
 * Decisions: what the byte store can do is resolved once into a typed
 * store (`zarr/capabilities.ts`); stored metadata is untrusted (paths
 * confined, sizes budgeted by `maxDecodedBytes`). Behaviour where the spec
 * is silent is listed in `zarr/README.md`. No `node:*` import: it runs on
 * edge runtimes over the HTTP backend.
 *
 * @example Write a plate well and read planes back by name
 * ```ts
 * import { ZarrBackend } from "@hcs/store/zarr";
 * import { MemoryBackend } from "@hcs/store/memory";
 * const zarr = new ZarrBackend({ store: new MemoryBackend() });
 * const plane = (v: number) => ({ data: new Uint16Array(4).fill(v), shape: [2, 2], stride: [2, 1] });
 * await zarr.saveBatch([plane(1), plane(2)], ["/p/images/A01_f0.tif", "/p/images/A01_f1.tif"], {
 *   row: "A",
 *   column: "01",
 * });
 * const [b] = await zarr.loadBatch(["/p/images/A01_f1.tif"]);
 * console.assert((b as { data: Uint16Array }).data[0] === 2);
 * ```
 *
 * @module
 */

import {
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  restate,
  StorageError,
  UnsupportedOperationError,
} from "../errors.ts";
import {
  AbstractStorageBackend,
  isNdArray,
  type ListOptions,
  type NdArray,
  type StatResult,
  type StorageBackend,
  type StorageValue,
  type SymlinkOptions,
} from "./base.ts";
import { assertPath, normalize } from "../_internal/paths.ts";
import { naturalSort } from "../_internal/listing.ts";
import { checkBatch } from "../_internal/values.ts";
import { decodedBudget } from "../_internal/limits.ts";
import { type TypedStore, typedStore } from "../zarr/capabilities.ts";
import type { ByteStore } from "../zarr/store.ts";
import {
  type Compression,
  type CompressionSpec,
  rawBytes,
  resolveCompression,
} from "../zarr/codec.ts";
import type { NgffVersion } from "../zarr/batch.ts";
import type {
  BackendResolver,
  ZarrBackendOptions,
  ZarrLoadOptions,
  ZarrSaveOptions,
} from "../zarr/options.ts";
import { PlateIndexCache } from "../zarr/plate_index.ts";
import { planArray, writeArray, writeMixedBatch } from "../zarr/array_write.ts";
import { planWell, writePlateWell } from "../zarr/plate_write.ts";
import {
  classify,
  isZarrPath,
  listZarrFiles,
  loadPlain,
  type PathKind,
  plateNames,
} from "../zarr/listing.ts";

export type { Compression } from "../zarr/codec.ts";
export type { ByteStore } from "../zarr/store.ts";
export type { DownsampleMode } from "../zarr/pyramid.ts";
export type { ChannelInfo, PixelSize } from "../zarr/omero.ts";
export type { NgffVersion, PlateAxis } from "../zarr/batch.ts";
export type {
  BackendResolver,
  ZarrBackendOptions,
  ZarrLoadOptions,
  ZarrSaveOptions,
} from "../zarr/options.ts";

function hasPlateOptions(options: ZarrSaveOptions | undefined): boolean {
  return options !== undefined && (options.row !== undefined || options.column !== undefined);
}

function ngffOf(v: unknown, op: string, path: string): NgffVersion {
  if (v !== "0.5" && v !== "0.4") {
    throw new TypeError(`${op} '${path}': ngff must be "0.5" or "0.4"`);
  }
  return v;
}

/**
 * The Zarr backend. See the module documentation for the layout.
 *
 * @example A single array
 * ```ts
 * import { ZarrBackend } from "@hcs/store/zarr";
 * import { MemoryBackend } from "@hcs/store/memory";
 * const z = new ZarrBackend({ store: new MemoryBackend(), compression: "gzip" });
 * await z.save({ data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3], stride: [3, 1] }, "/x.zarr");
 * const back = await z.load<{ shape: number[] }>("/x.zarr");
 * console.assert(back.shape.join() === "2,3");
 * ```
 */
export class ZarrBackend extends AbstractStorageBackend {
  /** Registry key. */
  readonly key: string = "zarr";
  /** The default NGFF version written. */
  readonly ngff: NgffVersion;
  /** The default compression. */
  readonly compression: Compression;
  /** The default plate chunking. */
  readonly chunks: "plane" | "well";
  readonly #level: number | undefined;
  readonly #maxDecoded: number;
  #store: ByteStore | undefined;
  #storePromise: Promise<ByteStore> | undefined;
  #typed: TypedStore | undefined;
  readonly #registry: BackendResolver | undefined;
  readonly #cache = new PlateIndexCache();

  /**
   * Creates a Zarr backend; nothing is read or written until first use.
   *
   * @param options byte store, registry, NGFF version, compression and chunking
   */
  constructor(options: ZarrBackendOptions = {}) {
    super();
    const ngff = options.ngff ?? "0.5";
    if (ngff !== "0.5" && ngff !== "0.4") {
      throw new TypeError(`ZarrBackend: ngff must be "0.5" or "0.4", got ${JSON.stringify(ngff)}`);
    }
    this.ngff = ngff;
    const spec = resolveCompression(options.compression ?? "zlib", options.level, "ZarrBackend");
    this.compression = spec.name;
    this.#level = options.level;
    const chunks = options.chunks ?? "plane";
    if (chunks !== "plane" && chunks !== "well") {
      throw new TypeError(`ZarrBackend: chunks must be "plane" or "well"`);
    }
    this.chunks = chunks;
    this.#store = options.store;
    this.#registry = options.registry;
    this.#maxDecoded = decodedBudget(options);
  }

  /** The byte store (resolving `"disk"` from the registry on first use). */
  byteStore(): Promise<ByteStore> {
    if (this.#store) return Promise.resolve(this.#store);
    this.#storePromise ??= (async () => {
      const reg: BackendResolver = this.#registry ??
        ((await import("../registry/registry.ts")).storageRegistry as BackendResolver);
      const s = (await reg.getBackend("disk")) as ByteStore;
      this.#store = s;
      return s;
    })();
    return this.#storePromise;
  }

  /** The byte store with its capabilities, resolved once. */
  async #ts(): Promise<TypedStore> {
    if (this.#typed) return this.#typed;
    const bytes = await this.byteStore();
    return this.#typed ??= typedStore(bytes);
  }

  async #writer(op: string, path: string): Promise<StorageBackend> {
    const w = (await this.#ts()).writer;
    if (!w) throw new StorageError(op, path, "the byte store is read-only", { code: "EROFS" });
    return w;
  }

  #budget(options: ZarrLoadOptions): number {
    return options.maxDecodedBytes === undefined ? this.#maxDecoded : decodedBudget(options);
  }

  #compression(options: ZarrSaveOptions, op: string): CompressionSpec {
    const name = options.compression ?? this.compression;
    const level = options.compression === undefined ? options.level ?? this.#level : options.level;
    return resolveCompression(name, level, op);
  }

  // ------------------------------------------------------------------ reads

  /**
   * Loads values in request order: plate planes by virtual name (one batched
   * chunk read per plate, each chunk read once), Zarr arrays, and plain files
   * of the byte store.
   */
  override async loadBatch<T = StorageValue>(
    paths: readonly string[],
    options: ZarrLoadOptions = {},
  ): Promise<T[]> {
    const op = "loadBatch";
    if (!Array.isArray(paths)) throw new TypeError(`${op}: paths must be an array`);
    paths.forEach((p) => assertPath(p, op));
    if (paths.length === 0) return [];
    const ts = await this.#ts();
    const bytes = ts.bytes;
    const results = new Array<unknown>(paths.length);
    const budget = this.#budget(options);
    const { planes, plain } = await this.#cache.readVirtual(bytes, paths, op, budget);
    for (const [i, v] of planes) results[i] = options.as === "bytes" ? rawBytes(v.data).slice() : v;
    if (plain.length > 0) {
      const plainPaths = plain.map((i) => paths[i]!);
      let values: unknown[];
      try {
        values = await bytes.loadBatch(plainPaths, options);
      } catch (err) {
        if (!(err instanceof IsADirectoryError || err instanceof NotFoundError)) throw err;
        values = [];
        for (const p of plainPaths) {
          values.push(await loadPlain(bytes, this.#cache, p, options, budget));
        }
      }
      plain.forEach((i, k) => results[i] = values[k]);
    }
    return results as T[];
  }

  /** Loads one value (see {@linkcode ZarrBackend.loadBatch}). */
  async load<T = StorageValue>(
    path: string,
    options: ZarrLoadOptions = {},
  ): Promise<T> {
    assertPath(path, "load");
    try {
      return (await this.loadBatch<T>([path], options))[0]!;
    } catch (err) {
      if (err instanceof StorageError && err.operation === "loadBatch" && err.path === path) {
        throw restate(err, "load", path, err.reason);
      }
      throw err;
    }
  }

  // ----------------------------------------------------------------- writes

  /** Saves a value: arrays to `*.zarr` paths as Zarr arrays, plate planes with `row`/`column`, others to the byte store. */
  async save(data: StorageValue, path: string, options: ZarrSaveOptions = {}): Promise<void> {
    assertPath(path, "save");
    if (hasPlateOptions(options)) return await this.saveBatch([data], [path], options);
    if (isNdArray(data) && isZarrPath(path)) {
      const plan = await this.#plan(data, path, options, "save");
      return await writeArray(
        await this.#writer("save", path),
        plan,
        options.overwrite === true,
        "save",
      );
    }
    await (await this.#writer("save", path)).save(data, path, options);
  }

  #plan(value: NdArray, path: string, options: ZarrSaveOptions, op: string) {
    return planArray(value, path, {
      chunks: options.chunks,
      compression: this.#compression(options, op),
      version: ngffOf(options.ngff ?? this.ngff, op, path),
    }, op);
  }

  /**
   * Saves a batch. With `row`/`column`, writes one well of an OME-Zarr plate
   * (the store is the directory holding `paths`); otherwise arrays to
   * `*.zarr` paths and other values to the byte store.
   */
  async saveBatch(
    data: readonly StorageValue[],
    paths: readonly string[],
    options: ZarrSaveOptions = {},
  ): Promise<void> {
    if (hasPlateOptions(options)) return await this.#savePlate(data, paths, options);
    const op = "saveBatch";
    checkBatch(data, paths, op, (p) => {
      assertPath(p, op);
      return normalize(p);
    });
    const arrays = paths.map((p, i) => isNdArray(data[i]) && isZarrPath(p));
    if (!arrays.some(Boolean)) {
      return await (await this.#writer(op, paths[0] ?? "")).saveBatch(data, paths, options);
    }
    const plans = [];
    for (let i = 0; i < paths.length; i++) {
      if (arrays[i]) plans.push(await this.#plan(data[i] as NdArray, paths[i]!, options, op));
    }
    const s = await this.#writer(op, paths[0]!);
    await writeMixedBatch(s, data, paths, arrays, plans, options, op);
  }

  async #savePlate(
    planes: readonly StorageValue[],
    paths: readonly string[],
    options: ZarrSaveOptions,
  ): Promise<void> {
    const op = "saveBatch";
    const { store, write } = await planWell(planes, paths, {
      ...options,
      row: options.row!,
      column: options.column!,
      ngff: options.ngff ?? this.ngff,
      chunks: options.chunks ?? this.chunks,
      compression: this.#compression(options, op),
    }, op);
    await this.#writer(op, store);
    this.#cache.forget(store);
    try {
      await writePlateWell(await this.#ts(), store, write, op);
    } finally {
      this.#cache.forget(store);
    }
  }

  // --------------------------------------------------------------- listings

  /**
   * Lists files breadth-first: in a plate store, its virtual file names (and
   * plain files beside the Zarr metadata); a `*.zarr` array directory is
   * listed as one file; everything else as the byte store lists it.
   */
  async listFiles(dir: string, options: ListOptions = {}): Promise<string[]> {
    assertPath(dir, "listFiles");
    return await listZarrFiles(await this.#ts(), this.#cache, dir, options);
  }

  /** Entry names: a plate store lists its virtual names; other directories as the byte store does. */
  async listDir(path: string): Promise<string[]> {
    assertPath(path, "listDir");
    const ts = await this.#ts();
    const names = await plateNames(ts, this.#cache, path, "listDir");
    if (names) return naturalSort(names);
    return await ts.bytes.listDir(path);
  }

  async #classify(path: string, op: string): Promise<{ kind: PathKind; ts: TypedStore }> {
    assertPath(path, op);
    const ts = await this.#ts();
    return { kind: await classify(ts, this.#cache, path, op), ts };
  }

  /** True for plate virtual names, Zarr arrays and byte-store files. */
  async isFile(path: string): Promise<boolean> {
    const c = await this.#classify(path, "isFile");
    if (c.kind !== "plain") return true;
    return await c.ts.bytes.isFile(path);
  }

  /** True for directories (not for Zarr arrays or virtual names, which are files here). */
  async isDir(path: string): Promise<boolean> {
    const c = await this.#classify(path, "isDir");
    if (c.kind !== "plain") throw new NotADirectoryError("isDir", path);
    return await c.ts.bytes.isDir(path);
  }

  /** Describes a path; virtual names and arrays are files. */
  async stat(path: string): Promise<StatResult> {
    const c = await this.#classify(path, "stat");
    if (c.kind !== "plain") return { type: "file", path, exists: true };
    if (!c.ts.stat) throw new UnsupportedOperationError("stat", path, "the byte store has no stat");
    return await c.ts.stat(path);
  }

  #mutable(c: { kind: string; ts: TypedStore }, op: string, path: string): StorageBackend {
    if (c.kind === "virtual") {
      throw new UnsupportedOperationError(
        op,
        path,
        "a plate plane is not a separate file; operate on the plate store directory",
      );
    }
    if (!c.ts.writer) {
      throw new StorageError(op, path, "the byte store is read-only", { code: "EROFS" });
    }
    return c.ts.writer;
  }

  /** Deletes a file, symlink, empty directory, or a whole Zarr array. */
  async delete(path: string): Promise<void> {
    const c = await this.#classify(path, "delete");
    const s = this.#mutable(c, "delete", path);
    this.#cache.forget(path);
    if (c.kind === "array" && !(await s.isSymlink(path))) return await s.deleteAll(path);
    await s.delete(path);
  }

  /** Deletes a path recursively. */
  async deleteAll(path: string): Promise<void> {
    const c = await this.#classify(path, "deleteAll");
    const s = this.#mutable(c, "deleteAll", path);
    this.#cache.forget(path);
    await s.deleteAll(path);
  }

  /** Creates a directory and its parents. */
  async ensureDirectory(path: string): Promise<void> {
    assertPath(path, "ensureDirectory");
    await (await this.#writer("ensureDirectory", path)).ensureDirectory(path);
  }

  /** Creates a symlink in the byte store. */
  async createSymlink(target: string, link: string, options: SymlinkOptions = {}): Promise<void> {
    assertPath(link, "createSymlink");
    await (await this.#writer("createSymlink", link)).createSymlink(target, link, options);
  }

  /** True only for symlinks of the byte store. */
  async isSymlink(path: string): Promise<boolean> {
    assertPath(path, "isSymlink");
    const w = (await this.#ts()).writer;
    return w ? await w.isSymlink(path) : false;
  }

  /** Moves a file, an array or a whole tree (a plate store included). */
  async move(src: string, dst: string): Promise<void> {
    const c = await this.#classify(src, "move");
    const s = this.#mutable(c, "move", src);
    this.#cache.forget(src);
    this.#cache.forget(dst);
    await s.move(src, dst);
  }

  /** Copies a file, an array or a whole tree (a plate store included). */
  async copy(src: string, dst: string): Promise<void> {
    const c = await this.#classify(src, "copy");
    const s = this.#mutable(c, "copy", src);
    this.#cache.forget(dst);
    await s.copy(src, dst);
  }
}

// The contract types (and base class) this entry's API refers to, so it documents them on its own.
export * from "./base.ts";
