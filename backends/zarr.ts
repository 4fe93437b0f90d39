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
 * What the byte store can do is resolved once into a typed store
 * (`zarr/capabilities.ts`). Nothing here imports `node:*`: the backend runs
 * on edge runtimes over the HTTP backend.
 *
 * Behaviour where the spec is silent:
 * - One `saveBatch` writes one whole well. The well is staged in a hidden
 *   group in the store (`.hcs-zarr-tmp-*`) and moved into place, so readers
 *   never see a half-written well; an existing well is `AlreadyExistsError`
 *   unless `{ overwrite: true }`, which swaps the new well in.
 * - Plate metadata is a read-modify-write of the root `zarr.json` (0.5) or
 *   `.zattrs` (0.4): compare-and-swap where the store has it, else under the
 *   store's cross-process lock (disk: `zarr.json.lock` beside it), always
 *   under an in-process mutex. Wells are merged, never dropped; rows are
 *   ordered A..Z, AA..AF, columns by number; indices are recomputed.
 * - Stored metadata is untrusted: paths it names are confined to the store,
 *   sizes are checked against `maxDecodedBytes` before allocating, chunks
 *   must decode to exactly their shape (`zarr/decode.ts`).
 * - Inside a plate store, names from the filename maps take precedence over
 *   physical files of the same name; `listFiles`/`listDir` there show the
 *   virtual names plus plain files beside the Zarr metadata.
 * - A Zarr array directory (`x.zarr`) behaves as one file: `isFile`, `load`,
 *   `listFiles` list it; `delete` removes the whole array.
 * - Zarr v3 zlib is written as the `numcodecs.zlib` codec (no core v3 zlib
 *   codec exists); gzip, zstd and blosc use the core v3 codec names.
 * - Default compression `zlib` level 1 (pure JS available everywhere).
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
  type AnyBackend,
  isNdArray,
  type ListOptions,
  type LoadOptions,
  type NdArray,
  type SaveOptions,
  type StatResult,
  type StorageBackend,
  type StorageValue,
  type SymlinkOptions,
} from "./base.ts";
import { assertPath, basename, dirname, normalize } from "../_internal/paths.ts";
import { naturalSort } from "../_internal/listing.ts";
import { checkBatch } from "../_internal/values.ts";
import { decodedBudget, type DecodeLimits } from "../_internal/limits.ts";
import { type TypedStore, typedStore } from "../zarr/capabilities.ts";
import { type ByteStore, isMissing, ZarrStoreAdapter } from "../zarr/store.ts";
import {
  chunkEncoder,
  type Compression,
  type CompressionSpec,
  rawBytes,
  resolveCompression,
} from "../zarr/codec.ts";
import { type ArrayMeta, readArrayMeta } from "../zarr/array.ts";
import { type NgffVersion, type PlateAxis, validatePlateBatch } from "../zarr/batch.ts";
import { type PlateEntry, type PlateIndex, PlateIndexCache } from "../zarr/index.ts";
import { readWhole } from "../zarr/read.ts";
import { planArray, writeArray, writeMixedBatch } from "../zarr/array_write.ts";
import { writePlateWell } from "../zarr/plate_write.ts";
import { arrayMetaAt, isZarrPath, listZarrFiles, plateNames } from "../zarr/listing.ts";

export type { Compression } from "../zarr/codec.ts";
export type { ByteStore } from "../zarr/store.ts";
export type { NgffVersion, PlateAxis } from "../zarr/batch.ts";

/** Something that resolves backends by key (a `Registry`). */
export interface BackendResolver {
  /** Resolves a backend by registry key. */
  getBackend(key: string): Promise<AnyBackend>;
}

/** Options of the {@linkcode ZarrBackend} constructor. */
export interface ZarrBackendOptions {
  /** The byte store (default: the registry's `"disk"` backend, resolved on first use). */
  store?: ByteStore;
  /** Where to resolve `"disk"` when no store is given (default: the process registry). */
  registry?: BackendResolver;
  /** NGFF version written by default: `"0.5"` (Zarr v3, default) or `"0.4"` (Zarr v2, OpenHCS). */
  ngff?: NgffVersion;
  /** Chunk compression (default `"zlib"`, pure JS). */
  compression?: Compression;
  /** Compression level (codec default if omitted). */
  level?: number;
  /** Plate chunking: one chunk per plane (default) or per field array (`"well"`). */
  chunks?: "plane" | "well";
  /**
   * Largest decoded value (an array or a plane) in bytes; default
   * `DEFAULT_MAX_DECODED_BYTES` (1 GiB). Also accepted per `load`/`loadBatch`.
   */
  maxDecodedBytes?: number;
}

/** Options of `save`/`saveBatch` on the Zarr backend. */
export interface ZarrSaveOptions extends SaveOptions {
  /** Plate row: makes `saveBatch` write an HCS plate well. */
  row?: string;
  /** Plate column (kept as given). */
  column?: string | number;
  /** Leading axes of a plate batch (default: one image axis `field`). */
  axes?: readonly PlateAxis[];
  /** Per plane: its index on each axis. */
  coordinates?: readonly (readonly number[])[];
  /** NGFF version for this call. */
  ngff?: NgffVersion;
  /** Compression for this call. */
  compression?: Compression;
  /** Compression level for this call. */
  level?: number;
  /** Plates: `"plane"` or `"well"`. Single arrays: also an explicit chunk shape. */
  chunks?: "plane" | "well" | readonly number[];
  /** Plate name written to new plate metadata (default: the store directory's name). */
  plateName?: string;
}

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

  #budget(options: LoadOptions & DecodeLimits): number {
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
    options: LoadOptions & DecodeLimits = {},
  ): Promise<T[]> {
    const op = "loadBatch";
    if (!Array.isArray(paths)) throw new TypeError(`${op}: paths must be an array`);
    paths.forEach((p) => assertPath(p, op));
    if (paths.length === 0) return [];
    const ts = await this.#ts();
    const bytes = ts.bytes;
    const results = new Array<unknown>(paths.length);
    const byStore = new Map<string, string[]>();
    for (const p of paths) {
      const store = dirname(p);
      let list = byStore.get(store);
      if (!list) byStore.set(store, list = []);
      list.push(basename(p));
    }
    const indexes = new Map<string, PlateIndex | undefined>();
    for (const [store, names] of byStore) {
      indexes.set(store, await this.#cache.resolve(bytes, store, names, op));
    }
    const virtual = new Map<PlateIndex, { i: number; entry: PlateEntry }[]>();
    const plain: number[] = [];
    for (let i = 0; i < paths.length; i++) {
      const p = paths[i]!;
      const index = indexes.get(dirname(p));
      const entry = index?.names.get(basename(p));
      if (index && entry) {
        let list = virtual.get(index);
        if (!list) virtual.set(index, list = []);
        list.push({ i, entry });
      } else plain.push(i);
    }
    const budget = this.#budget(options);
    for (const [index, list] of virtual) {
      const planes = await this.#cache.readPlanes(
        bytes,
        index,
        list.map((x) => x.entry),
        op,
        budget,
      );
      list.forEach((x, k) => {
        const v = planes[k]!;
        results[x.i] = options.as === "bytes" ? rawBytes(v.data).slice() : v;
      });
    }
    if (plain.length > 0) {
      const plainPaths = plain.map((i) => paths[i]!);
      let values: unknown[];
      try {
        values = await bytes.loadBatch(plainPaths, options);
      } catch (err) {
        if (!(err instanceof IsADirectoryError || err instanceof NotFoundError)) throw err;
        values = [];
        for (const p of plainPaths) values.push(await this.#loadOne(bytes, p, options, budget));
      }
      plain.forEach((i, k) => results[i] = values[k]);
    }
    return results as T[];
  }

  /** Loads one non-plate path: a Zarr array directory, else the byte store's file. */
  async #loadOne(
    bytes: ByteStore,
    path: string,
    options: LoadOptions,
    budget: number,
  ): Promise<unknown> {
    const op = "load";
    const adapter = new ZarrStoreAdapter(bytes, path);
    let meta: ArrayMeta | undefined;
    try {
      meta = await readArrayMeta(adapter, "", path, op);
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    if (meta) {
      const value = await readWhole(adapter, "", meta, path, op, budget);
      return options.as === "bytes" ? rawBytes(value.data).slice() : value;
    }
    try {
      return await bytes.load(path, options);
    } catch (err) {
      if (err instanceof NotFoundError && (await this.#isPlate(bytes, dirname(path)))) {
        throw new NotFoundError(op, path, "not in any filename map of the plate");
      }
      throw err;
    }
  }

  async #isPlate(bytes: ByteStore, store: string): Promise<boolean> {
    try {
      return (await this.#cache.index(bytes, store, "load")) !== undefined;
    } catch {
      return false;
    }
  }

  /** Loads one value (see {@linkcode ZarrBackend.loadBatch}). */
  async load<T = StorageValue>(
    path: string,
    options: LoadOptions & DecodeLimits = {},
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
    if (!Array.isArray(paths) || paths.length === 0 || typeof paths[0] !== "string") {
      validatePlateBatch(planes, paths, options as never, "", op);
    }
    const store = dirname(paths[0]!);
    for (const p of paths) {
      if (typeof p === "string" && dirname(p) !== store) {
        throw new RangeError(
          `${op} '${p}': every path of a plate batch must be in one store directory ('${store}')`,
        );
      }
    }
    const plateOpts: Parameters<typeof validatePlateBatch>[2] = {
      row: options.row!,
      column: options.column!,
    };
    if (options.axes !== undefined) plateOpts.axes = options.axes;
    if (options.coordinates !== undefined) plateOpts.coordinates = options.coordinates;
    const batch = validatePlateBatch(planes, paths, plateOpts, store, op);
    const version = ngffOf(options.ngff ?? this.ngff, op, store);
    const chunking = options.chunks ?? this.chunks;
    if (chunking !== "plane" && chunking !== "well") {
      throw new TypeError(`${op} '${store}': plate chunks must be "plane" or "well"`);
    }
    const compression = this.#compression(options, op);
    const encode = await chunkEncoder(compression, batch.dtype);
    await this.#writer(op, store);
    this.#cache.forget(store);
    try {
      await writePlateWell(await this.#ts(), store, {
        batch,
        version,
        chunking,
        compression,
        encode,
        overwrite: options.overwrite === true,
        plateName: options.plateName,
      }, op);
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

  /** Resolves what `path` is: a plate's virtual file, a Zarr array, or a byte-store entry. */
  async #classify(
    path: string,
    op: string,
  ): Promise<{ kind: "virtual" | "array" | "plain"; ts: TypedStore }> {
    assertPath(path, op);
    const ts = await this.#ts();
    const index = await this.#cache.resolve(ts.bytes, dirname(path), [basename(path)], op)
      .catch((err) => {
        if (isMissing(err)) return undefined;
        throw err;
      });
    if (index?.names.has(basename(path))) return { kind: "virtual", ts };
    if ((await arrayMetaAt(ts, path)) !== undefined) return { kind: "array", ts };
    return { kind: "plain", ts };
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
      throw new StorageError(
        op,
        path,
        "a plate plane is not a separate file; operate on the plate store directory",
        { code: "ENOTSUP" },
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
