/**
 * The Zarr backend (registry key `"zarr"`), via zarrita: single arrays
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
 * Nothing here imports `node:*`: the backend runs on edge runtimes over the
 * HTTP backend. zstd and blosc (WASM) are loaded only when used; gzip/zlib
 * use the runtime's native zlib where there is one, fflate elsewhere.
 *
 * Behaviour where the spec is silent:
 * - One `saveBatch` writes one whole well. The well is staged in a hidden
 *   group in the store (`.hcs-zarr-tmp-*`) and moved into place, so readers
 *   never see a half-written well; an existing well is `AlreadyExistsError`
 *   unless `{ overwrite: true }`, which swaps the new well in.
 * - Plate metadata is a read-modify-write of the root `zarr.json` (0.5) or
 *   `.zattrs` (0.4) under an in-process mutex per store and, on the disk
 *   store, the cross-process `withFileLock` (lock file `zarr.json.lock` /
 *   `.zattrs.lock` beside it). Wells are merged, never dropped; rows are
 *   ordered A..Z, AA..AF, columns by number; indices are recomputed.
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

import * as zarr from "npm:zarrita@^0.7.5";
import {
  AlreadyExistsError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  StorageError,
  UnsupportedFormatError,
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
  type TypedArray,
} from "./base.ts";
import { assertPath, basename, dirname, join, joinListed, normalize } from "../_internal/paths.ts";
import { breadthFirst, type ListEntry, nameFilter, naturalSort } from "../_internal/listing.ts";
import { checkBatch } from "../_internal/values.ts";
import {
  type ByteStore,
  isMissing,
  isWritable,
  readManyOptional,
  readOptional,
  ZarrStoreAdapter,
} from "./zarr/store.ts";
import {
  chunkEncoder,
  type Compression,
  type CompressionSpec,
  type DtypeInfo,
  dtypeOf,
  rawBytes,
  resolveCompression,
  v2Compressor,
  v3Codecs,
} from "./zarr/codec.ts";
import {
  type ArrayMeta,
  chunkGrid,
  corrupt,
  cStrides,
  encodeChunks,
  jsonBytes,
  openArray,
  parseJson,
  readArrayMeta,
  readWholeArray,
  toTypedArray,
} from "./zarr/array.ts";
import {
  ATTR_FILENAME_MAP,
  contiguous,
  fieldArrayAttrs,
  imageAttrs,
  type NgffVersion,
  plateAttrs,
  type PlateAxis,
  type PlateBatch,
  plateOf,
  plateState,
  validatePlateBatch,
  wellAttrs,
} from "./zarr/layout.ts";

export type { Compression } from "./zarr/codec.ts";
export type { ByteStore } from "./zarr/store.ts";
export type { NgffVersion, PlateAxis } from "./zarr/layout.ts";

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

interface ArrayPlan {
  value: NdArray;
  path: string;
  dtype: DtypeInfo;
  chunks: number[];
  compression: CompressionSpec;
  version: NgffVersion;
  encode: (b: Uint8Array) => Promise<Uint8Array>;
}

interface PlateEntry {
  /** Array directory, relative to the store (`A/01/0/0`). */
  dir: string;
  meta: ArrayMeta;
  coords: number[];
}

interface PlateIndex {
  store: string;
  version: 2 | 3;
  /** The root metadata bytes the index was built from. */
  root: Uint8Array;
  names: Map<string, PlateEntry>;
  /** Per array directory: its metadata keys and their bytes when indexed. */
  arrays: Map<string, { keys: string[]; bytes: (Uint8Array | undefined)[] }>;
}

/** How many plate indexes a backend keeps (most recently built). */
const INDEX_CACHE_SIZE = 8;

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const METADATA_NAMES = new Set([
  "zarr.json",
  ".zgroup",
  ".zattrs",
  ".zarray",
  ".zmetadata",
  "zarr.json.lock",
  ".zattrs.lock",
]);

/** In-process plate-metadata mutexes, per byte store and store directory. */
const plateLocks = new WeakMap<object, Map<string, Promise<unknown>>>();

function withMutex<T>(owner: object, key: string, fn: () => Promise<T>): Promise<T> {
  let map = plateLocks.get(owner);
  if (!map) plateLocks.set(owner, map = new Map());
  const prev = map.get(key) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.then(() => undefined, () => undefined);
  map.set(key, tail);
  void tail.then(() => {
    if (map.get(key) === tail) map.delete(key);
  });
  return run;
}

function randomId(): string {
  return Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
}

function isZarrPath(path: string): boolean {
  return /\.zarr\/?$/i.test(path);
}

function hasPlateOptions(options: ZarrSaveOptions | undefined): boolean {
  return options !== undefined && (options.row !== undefined || options.column !== undefined);
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
  #store: ByteStore | undefined;
  #storePromise: Promise<ByteStore> | undefined;
  readonly #registry: BackendResolver | undefined;
  #indexes = new Map<string, PlateIndex>();

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

  async #writable(op: string, path: string): Promise<StorageBackend> {
    const s = await this.byteStore();
    if (!isWritable(s)) {
      throw new StorageError(op, path, "the byte store is read-only", { code: "EROFS" });
    }
    return s;
  }

  #compression(options: ZarrSaveOptions, op: string): CompressionSpec {
    const name = options.compression ?? this.compression;
    const level = options.compression === undefined ? options.level ?? this.#level : options.level;
    return resolveCompression(name, level, op);
  }

  // ------------------------------------------------------------ plate index

  /** The root metadata of a store: `zarr.json` (v3) or `.zattrs` (v2), if any. */
  async #readRoot(
    bytes: ByteStore,
    store: string,
  ): Promise<{ version: 2 | 3; bytes: Uint8Array } | undefined> {
    const v3 = await readOptional(bytes, join(store, "zarr.json"));
    if (v3) return { version: 3, bytes: v3 };
    const v2 = await readOptional(bytes, join(store, ".zattrs"));
    return v2 ? { version: 2, bytes: v2 } : undefined;
  }

  /**
   * A plate's filename maps; undefined if `store` holds no plate. Indexes are
   * cached while the root metadata is unchanged (`fresh` forces a rebuild);
   * callers validate the arrays they use with {@linkcode ZarrBackend.#stale}.
   */
  async #plateIndex(
    bytes: ByteStore,
    store: string,
    op: string,
    fresh = false,
  ): Promise<{ index: PlateIndex; cached: boolean } | undefined> {
    const root = await this.#readRoot(bytes, store);
    if (!root) {
      this.#indexes.delete(store);
      return undefined;
    }
    const hit = this.#indexes.get(store);
    if (!fresh && hit && hit.version === root.version && sameBytes(hit.root, root.bytes)) {
      return { index: hit, cached: true };
    }
    const index = await this.#buildIndex(bytes, store, op, root.version, root.bytes);
    this.#indexes.delete(store);
    if (!index) return undefined;
    this.#indexes.set(store, index);
    while (this.#indexes.size > INDEX_CACHE_SIZE) {
      this.#indexes.delete(this.#indexes.keys().next().value!);
    }
    return { index, cached: false };
  }

  /** True if any of the arrays `dirs` changed since the index was built (one batched read). */
  async #stale(bytes: ByteStore, index: PlateIndex, dirs: Iterable<string>): Promise<boolean> {
    const keys: string[] = [];
    const want: (Uint8Array | undefined)[] = [];
    for (const d of new Set(dirs)) {
      const rec = index.arrays.get(d);
      if (!rec) return true;
      keys.push(...rec.keys);
      want.push(...rec.bytes);
    }
    const got = await readManyOptional(bytes, keys.map((k) => join(index.store, k)));
    return got.some((b, i) => !sameBytes(b, want[i]));
  }

  /** Drops cached plate indexes (all, or those at or below `path`). */
  #forget(path?: string): void {
    if (path === undefined) return this.#indexes.clear();
    const n = normalize(path);
    for (const k of [...this.#indexes.keys()]) {
      if (k === n || k.startsWith(`${n}/`) || n.startsWith(`${k}/`)) this.#indexes.delete(k);
    }
  }

  /** Reads a plate's filename maps from its root metadata down (batched per level). */
  async #buildIndex(
    bytes: ByteStore,
    store: string,
    op: string,
    version: 2 | 3,
    rootBytes: Uint8Array,
  ): Promise<PlateIndex | undefined> {
    const adapter = new ZarrStoreAdapter(bytes, store);
    const rootName = version === 3 ? "zarr.json" : ".zattrs";
    const rootJson = parseJson(rootBytes, join(store, rootName), op) as Record<string, unknown>;
    const plate = plateOf(version === 3 ? rootJson?.attributes : rootJson);
    if (!plate) return undefined;
    if (!Array.isArray(plate.wells)) {
      throw corrupt(op, join(store, rootName), "plate has no wells");
    }
    const wells = (plate.wells as { path?: unknown }[])
      .map((w) => w?.path)
      .filter((p): p is string => typeof p === "string" && /^[A-Za-z0-9]+\/[A-Za-z0-9]+$/.test(p));
    const wellMetaName = version === 3 ? "zarr.json" : ".zattrs";
    await adapter.prefetch(wells.map((w) => `/${w}/${wellMetaName}`));
    const arrays: string[] = [];
    for (const w of wells) {
      const b = await adapter.get(`/${w}/${wellMetaName}`);
      if (!b) continue;
      const json = parseJson(b, join(store, w, wellMetaName), op) as Record<string, unknown>;
      const attrs = (version === 3 ? json?.attributes : json) as
        | Record<string, unknown>
        | undefined;
      const ome = attrs?.ome as Record<string, unknown> | undefined;
      const well = (ome?.well ?? attrs?.well) as { images?: { path?: unknown }[] } | undefined;
      if (!well || !Array.isArray(well.images)) {
        throw corrupt(op, join(store, w, wellMetaName), "well has no images");
      }
      for (const img of well.images) {
        if (typeof img?.path === "string") arrays.push(`${w}/${img.path}/0`);
      }
    }
    const metaKeys = (a: string) =>
      version === 3 ? [`${a}/zarr.json`] : [`${a}/.zarray`, `${a}/.zattrs`];
    await adapter.prefetch(arrays.flatMap((a) => metaKeys(a).map((k) => `/${k}`)));
    const names = new Map<string, PlateEntry>();
    const records: PlateIndex["arrays"] = new Map();
    for (const dir of arrays) {
      const keys = metaKeys(dir);
      const raw = await Promise.all(keys.map((k) => adapter.get(`/${k}`)));
      records.set(dir, { keys, bytes: raw });
      const meta = await readArrayMeta(adapter, dir, join(store, dir), op);
      if (!meta) continue;
      const map = meta.attrs[ATTR_FILENAME_MAP];
      if (typeof map !== "object" || map === null) continue;
      for (const [name, coords] of Object.entries(map as Record<string, unknown>)) {
        if (
          !Array.isArray(coords) || coords.length !== meta.shape.length - 2 ||
          coords.some((c, i) => !Number.isInteger(c) || c < 0 || c >= meta.shape[i]!)
        ) {
          throw corrupt(
            op,
            join(store, dir),
            `filename map entry '${name}' does not fit the array`,
          );
        }
        names.set(name, { dir, meta, coords: coords as number[] });
      }
    }
    return { store, version, root: rootBytes, names, arrays: records };
  }

  /**
   * The index of `store` with every name in `names` resolved against current
   * metadata: a cached index is used only if it knows every name and the
   * arrays holding them are unchanged; otherwise it is rebuilt.
   */
  async #resolve(
    bytes: ByteStore,
    store: string,
    names: readonly string[],
    op: string,
  ): Promise<PlateIndex | undefined> {
    const r = await this.#plateIndex(bytes, store, op);
    if (!r || !r.cached) return r?.index;
    const entries = names.map((n) => r.index.names.get(n));
    if (entries.every((e) => e !== undefined)) {
      const dirs = entries.map((e) => e!.dir);
      if (!(await this.#stale(bytes, r.index, dirs))) return r.index;
    }
    return (await this.#plateIndex(bytes, store, op, true))?.index;
  }

  /** Reads the planes `entries` of one plate, each chunk read at most once (one batched read). */
  async #readPlanes(
    bytes: ByteStore,
    index: PlateIndex,
    entries: PlateEntry[],
    op: string,
  ): Promise<NdArray[]> {
    const adapter = new ZarrStoreAdapter(bytes, index.store);
    for (const e of entries) {
      const rec = index.arrays.get(e.dir)!;
      rec.keys.forEach((k, i) => adapter.prime(`/${k}`, rec.bytes[i]));
    }
    // Which chunks each plane needs.
    const needs = entries.map((e) => {
      const m = e.meta;
      const nd = m.shape.length;
      const lead = e.coords.map((c, i) => Math.floor(c / m.chunks[i]!));
      const yx = chunkGrid(m.shape.slice(nd - 2), m.chunks.slice(nd - 2));
      return yx.map((t) => [...lead, ...t]);
    });
    const keys = entries.flatMap((e, i) => needs[i]!.map((cc) => `/${e.dir}/${e.meta.keyOf(cc)}`));
    await adapter.prefetch(keys);
    const opened = new Map<string, zarr.Array<zarr.DataType, zarr.Readable>>();
    const decoded = new Map<string, Promise<{ data: TypedArray; stride: number[] }>>();
    const handedOut = new Set<string>();
    const out: NdArray[] = [];
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const path = join(index.store, e.dir);
      let arr = opened.get(e.dir);
      if (!arr) {
        arr = await openArray(adapter, e.dir, e.meta, path, op);
        opened.set(e.dir, arr);
      }
      const m = e.meta;
      const nd = m.shape.length;
      const h = m.shape[nd - 2]!;
      const w = m.shape[nd - 1]!;
      try {
        if (m.chunks[nd - 2]! >= h && m.chunks[nd - 1]! >= w) {
          // The plane lies in one chunk: decode that chunk once, slice the plane out.
          const cc = needs[i]![0]!;
          const key = `${e.dir}/${m.keyOf(cc)}`;
          let p = decoded.get(key);
          if (!p) {
            const a = arr;
            p = a.getChunk(cc).then((c) => ({
              data: toTypedArray(c.data, op, path),
              stride: c.stride,
            }));
            decoded.set(key, p);
          }
          const chunk = await p;
          let off = 0;
          e.coords.forEach((c, d) => off += (c - cc[d]! * m.chunks[d]!) * chunk.stride[d]!);
          const rowStride = chunk.stride[nd - 2]!;
          let data: TypedArray;
          if (chunk.stride[nd - 1] === 1 && rowStride === w) {
            // A chunk that is exactly the plane is handed out as is, once.
            const whole = chunk.data.length === h * w && off === 0 && !handedOut.has(key);
            if (whole) handedOut.add(key);
            data = whole ? chunk.data : chunk.data.slice(off, off + h * w) as TypedArray;
          } else {
            data = new (chunk.data.constructor as new (n: number) => TypedArray)(h * w);
            const src = chunk.data as unknown as ArrayLike<number | bigint>;
            const dst = data as unknown as { [k: number]: number | bigint };
            const cs = chunk.stride[nd - 1]!;
            for (let y = 0; y < h; y++) {
              for (let x = 0; x < w; x++) dst[y * w + x] = src[off + y * rowStride + x * cs]!;
            }
          }
          out.push({ data, shape: [h, w], stride: [w, 1] });
        } else {
          const sel = [...e.coords, null, null];
          const r = await zarr.get(arr, sel) as { data: unknown; shape: number[] };
          const data = toTypedArray(r.data, op, path);
          out.push({ data, shape: [h, w], stride: [w, 1] });
        }
      } catch (err) {
        if (err instanceof StorageError) throw err;
        throw corrupt(op, path, `cannot decode chunk: ${(err as Error)?.message ?? err}`, err);
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ reads

  /**
   * Loads values in request order: plate planes by virtual name (one batched
   * chunk read per plate, each chunk read once), Zarr arrays, and plain files
   * of the byte store.
   */
  override async loadBatch<T = StorageValue>(
    paths: readonly string[],
    options: LoadOptions = {},
  ): Promise<T[]> {
    const op = "loadBatch";
    if (!Array.isArray(paths)) throw new TypeError(`${op}: paths must be an array`);
    paths.forEach((p) => assertPath(p, op));
    if (paths.length === 0) return [];
    const bytes = await this.byteStore();
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
      indexes.set(store, await this.#resolve(bytes, store, names, op));
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
    for (const [index, list] of virtual) {
      const planes = await this.#readPlanes(bytes, index, list.map((x) => x.entry), op);
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
        for (const p of plainPaths) values.push(await this.#loadOne(bytes, p, options, err));
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
    batchError: unknown,
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
      const value = await readWholeArray(adapter, "", meta, path, op);
      return options.as === "bytes" ? rawBytes(value.data).slice() : value;
    }
    try {
      return await bytes.load(path, options);
    } catch (err) {
      if (err instanceof NotFoundError && (await this.#isPlate(bytes, dirname(path)))) {
        throw new NotFoundError(op, path, "not in any filename map of the plate");
      }
      throw err ?? batchError;
    }
  }

  async #isPlate(bytes: ByteStore, store: string): Promise<boolean> {
    try {
      return (await this.#plateIndex(bytes, store, "load")) !== undefined;
    } catch {
      return false;
    }
  }

  /** Loads one value (see {@linkcode ZarrBackend.loadBatch}). */
  async load<T = StorageValue>(path: string, options: LoadOptions = {}): Promise<T> {
    assertPath(path, "load");
    try {
      return (await this.loadBatch<T>([path], options))[0]!;
    } catch (err) {
      if (err instanceof StorageError && err.operation === "loadBatch" && err.path === path) {
        throw Object.assign(
          new (err.constructor as typeof StorageError)(
            "load",
            path,
            err.message.replace(/^loadBatch '.*?': /s, ""),
            { cause: err.cause, code: err.code },
          ),
          {},
        );
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
      const plan = await this.#planArray(data, path, options, "save");
      return await this.#writeArray(plan, options.overwrite === true, "save");
    }
    const s = await this.#writable("save", path);
    await s.save(data, path, options);
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
      const s = await this.#writable(op, paths[0] ?? "");
      return await s.saveBatch(data, paths, options);
    }
    const plans = [];
    for (let i = 0; i < paths.length; i++) {
      if (arrays[i]) plans.push(await this.#planArray(data[i] as NdArray, paths[i]!, options, op));
    }
    const s = await this.#writable(op, paths[0]!);
    const overwrite = options.overwrite === true;
    // Check every target before the first write, so a refused batch writes nothing.
    const existed = new Set<string>();
    for (const p of paths) {
      await s.isDir(dirname(p)).catch((err) => {
        throw err instanceof NotFoundError
          ? new NotFoundError(op, p, "parent directory does not exist")
          : err;
      });
      if ((await s.exists(p)) || (await s.isSymlink(p))) {
        if (!overwrite) throw new AlreadyExistsError(op, p);
        existed.add(p);
      }
    }
    const others = paths.map((_, i) => i).filter((i) => !arrays[i]);
    const created: string[] = [];
    try {
      for (const plan of plans) {
        await this.#writeArray(plan, overwrite, op);
        if (!existed.has(plan.path)) created.push(plan.path);
      }
      if (others.length) {
        await s.saveBatch(others.map((i) => data[i]!), others.map((i) => paths[i]!), options);
      }
    } catch (err) {
      // All or nothing: remove the arrays this batch created.
      for (const p of created) await s.deleteAll(p).catch(() => {});
      throw err;
    }
  }

  async #planArray(
    value: NdArray,
    path: string,
    options: ZarrSaveOptions,
    op: string,
  ): Promise<ArrayPlan> {
    const dtype = dtypeOf(value.data);
    if (!dtype) {
      throw new UnsupportedFormatError(op, path, "unsupported element type for a Zarr array");
    }
    const shape = value.shape;
    if (
      shape.length < 1 || shape.length > 32 ||
      !shape.every((s) => Number.isInteger(s) && s >= 0) ||
      value.stride.length !== shape.length
    ) {
      throw new RangeError(`${op} '${path}': invalid array shape [${shape}]`);
    }
    const n = shape.reduce((a, b) => a * b, 1);
    if (value.data.length < n && value.stride.every((s, i) => s === cStrides(shape)[i])) {
      throw new RangeError(`${op} '${path}': data holds fewer elements than shape [${shape}]`);
    }
    let chunks: number[];
    const c = options.chunks;
    if (Array.isArray(c)) {
      if (c.length !== shape.length || !c.every((x) => Number.isInteger(x) && x > 0)) {
        throw new RangeError(`${op} '${path}': chunk shape [${c}] does not fit shape [${shape}]`);
      }
      chunks = [...c];
    } else if (c === "well") {
      chunks = shape.map((s) => Math.max(1, s));
    } else if (c === "plane") {
      chunks = shape.map((s, i) => (i >= shape.length - 2 ? Math.max(1, s) : 1));
    } else if (c === undefined) {
      chunks = defaultChunks(shape, dtype.size);
    } else {
      throw new TypeError(`${op} '${path}': chunks must be "plane", "well" or a chunk shape`);
    }
    const compression = this.#compression(options, op);
    const version = options.ngff ?? this.ngff;
    if (version !== "0.5" && version !== "0.4") {
      throw new TypeError(`${op} '${path}': ngff must be "0.5" or "0.4"`);
    }
    const encode = await chunkEncoder(compression, dtype);
    return { value, path, dtype, chunks, compression, version, encode };
  }

  async #writeArray(
    plan: ArrayPlan,
    overwrite: boolean,
    op: string,
  ): Promise<void> {
    const { path, value, dtype, chunks, compression, version } = plan;
    const s = await this.#writable(op, path);
    const parent = dirname(path);
    try {
      await s.isDir(parent);
    } catch (err) {
      if (err instanceof NotFoundError) {
        throw new NotFoundError(op, path, "parent directory does not exist");
      }
      throw err;
    }
    const existed = await s.exists(path) || (await s.isSymlink(path));
    if (existed && !overwrite) throw new AlreadyExistsError(op, path);
    const tmp = join(parent, `.${basename(path)}.zarr-tmp-${randomId()}`);
    const adapter = new ZarrStoreAdapter(s, tmp);
    try {
      await writeArrayInto(adapter, "", value.shape, chunks, dtype, compression, version, {});
      for (const ch of await encodeChunks(value, chunks, dtype, plan.encode)) {
        await adapter.set(`/${chunkKey(version, ch.coords)}`, ch.bytes);
      }
      await s.ensureDirectory(tmp);
      await adapter.flush(op);
      await swapInto(s, tmp, path, existed, op);
    } catch (err) {
      await s.deleteAll(tmp).catch(() => {});
      throw err;
    }
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
    const batch = validatePlateBatch(
      planes,
      paths,
      { row: options.row!, column: options.column!, ...pick(options) },
      store,
      op,
    );
    const version = options.ngff ?? this.ngff;
    if (version !== "0.5" && version !== "0.4") {
      throw new TypeError(`${op} '${store}': ngff must be "0.5" or "0.4"`);
    }
    const chunking = options.chunks ?? this.chunks;
    if (chunking !== "plane" && chunking !== "well") {
      throw new TypeError(`${op} '${store}': plate chunks must be "plane" or "well"`);
    }
    const compression = this.#compression(options, op);
    const encode = await chunkEncoder(compression, batch.dtype);
    const s = await this.#writable(op, store);

    // Refuse to mix NGFF versions in one store, and refuse to replace a well silently.
    const wellPath = join(store, batch.row, batch.column);
    const [v3Root, v2Root] = await readManyOptional(s, [
      join(store, "zarr.json"),
      join(store, ".zgroup"),
    ]).catch(async () => [
      await readOptional(s, join(store, "zarr.json")),
      await readOptional(s, join(store, ".zgroup")),
    ]);
    if ((version === "0.5" && v2Root) || (version === "0.4" && v3Root)) {
      throw new StorageError(
        op,
        store,
        `the store holds a Zarr v${v3Root ? 3 : 2} plate; cannot add NGFF ${version} wells`,
        { code: "EINVAL" },
      );
    }
    const wellExists = await s.exists(wellPath);
    if (wellExists && options.overwrite !== true) {
      throw new AlreadyExistsError(op, wellPath, "well already exists (use overwrite)");
    }

    // Everything is checked: write the well into a temporary group, then move it into place.
    await s.ensureDirectory(join(store, batch.row));
    const rowMeta = version === "0.5"
      ? [["zarr.json", jsonBytes({ zarr_format: 3, node_type: "group", attributes: {} })]] as const
      : [[".zgroup", jsonBytes({ zarr_format: 2 })]] as const;
    for (const [name, b] of rowMeta) {
      const p = join(store, batch.row, name);
      if (!(await readOptional(s, p))) await s.save(b, p, { overwrite: true });
    }
    const tmp = join(store, `.hcs-zarr-tmp-${batch.row}${batch.column}-${randomId()}`);
    const adapter = new ZarrStoreAdapter(s, tmp);
    try {
      await writeWellInto(adapter, batch, version, compression, chunking, encode);
      await s.ensureDirectory(tmp);
      await adapter.flush(op);
      await swapInto(s, tmp, wellPath, wellExists, op);
    } catch (err) {
      await s.deleteAll(tmp).catch(() => {});
      throw err;
    }

    // Plate metadata: read-modify-write under the in-process and cross-process locks.
    this.#forget(store);
    const metaName = version === "0.5" ? "zarr.json" : ".zattrs";
    const metaPath = join(store, metaName);
    await withMutex(s, store, () =>
      this.#crossProcess(s, metaPath, async () => {
        const current = await readOptional(s, metaPath);
        let attrs: unknown = undefined;
        if (current) {
          const json = parseJson(current, metaPath, op) as Record<string, unknown>;
          attrs = version === "0.5" ? json?.attributes : json;
        }
        const state = plateState(plateOf(attrs), options.plateName ?? basename(store));
        state.wells.push({ row: batch.row, column: batch.column });
        state.fieldCount = Math.max(state.fieldCount, batch.fieldCount);
        const next = plateAttrs(state, version);
        if (version === "0.5") {
          const base = attrs && typeof attrs === "object" ? attrs as Record<string, unknown> : {};
          await s.save(
            jsonBytes({
              zarr_format: 3,
              node_type: "group",
              attributes: { ...base, ...next },
            }),
            metaPath,
            { overwrite: true },
          );
        } else {
          const base = attrs && typeof attrs === "object" ? attrs as Record<string, unknown> : {};
          const zgroup = join(store, ".zgroup");
          if (!(await readOptional(s, zgroup))) {
            await s.save(jsonBytes({ zarr_format: 2 }), zgroup, { overwrite: true });
          }
          await s.save(jsonBytes({ ...base, ...next }), metaPath, { overwrite: true });
        }
      }));
  }

  /** Runs `fn` under the cross-process file lock when the byte store is the local disk. */
  async #crossProcess<T>(s: StorageBackend, path: string, fn: () => Promise<T>): Promise<T> {
    if (s.key !== "disk") return await fn();
    const { withFileLock } = await import("../lock/file_lock.ts");
    return await withFileLock(path, fn, { timeoutMs: 60_000, operation: "saveBatch" });
  }

  // --------------------------------------------------------------- listings

  /**
   * Lists files breadth-first: in a plate store, its virtual file names (and
   * plain files beside the Zarr metadata); a `*.zarr` array directory is
   * listed as one file; everything else as the byte store lists it.
   */
  async listFiles(dir: string, options: ListOptions = {}): Promise<string[]> {
    assertPath(dir, "listFiles");
    const bytes = await this.byteStore();
    const plateNames = await this.#plateNames(bytes, dir, "listFiles");
    if (plateNames) {
      const keep = nameFilter(options);
      return naturalSort(plateNames.filter(keep)).map((n) => joinListed(dir, n));
    }
    await bytes.isDir(dir).catch((err) => {
      throw reop(err, "listFiles", dir);
    });
    return await breadthFirst(dir, async (rel) => {
      const abs = rel === "" ? dir : joinListed(dir, rel);
      if (rel !== "") {
        const names = await this.#plateNames(bytes, abs, "listFiles");
        if (names) return names.map((name) => ({ name, kind: "file" as const }));
      }
      const entries: ListEntry[] = [];
      for (const name of await bytes.listDir(abs)) {
        const child = joinListed(abs, name);
        entries.push({ name, kind: await this.#entryKind(bytes, child) });
      }
      return entries;
    }, options);
  }

  async #entryKind(bytes: ByteStore, path: string): Promise<ListEntry["kind"]> {
    const st = "stat" in bytes && typeof bytes.stat === "function"
      ? await (bytes as StorageBackend).stat(path)
      : undefined;
    if (st?.type === "symlink") {
      try {
        return (await bytes.isDir(path)) ? "skip" : "file";
      } catch {
        return "file";
      }
    }
    let isDir: boolean;
    if (st) isDir = st.type === "directory";
    else {
      try {
        isDir = await bytes.isDir(path);
      } catch {
        isDir = false;
      }
    }
    if (!isDir) return "file";
    if (isZarrPath(path) && (await this.#arrayMeta(bytes, path)) !== undefined) return "file";
    return "dir";
  }

  async #arrayMeta(bytes: ByteStore, path: string): Promise<ArrayMeta | undefined> {
    try {
      return await readArrayMeta(new ZarrStoreAdapter(bytes, path), "", path, "stat");
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  /** Virtual names plus plain files of a plate store, or undefined if `dir` is no plate. */
  async #plateNames(bytes: ByteStore, dir: string, op: string): Promise<string[] | undefined> {
    let index: PlateIndex | undefined;
    try {
      index = (await this.#plateIndex(bytes, dir, op, true))?.index;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    if (!index) return undefined;
    const names = new Set(index.names.keys());
    try {
      for (const name of await bytes.listDir(dir)) {
        if (METADATA_NAMES.has(name) || name.startsWith(".")) continue;
        if ((await this.#entryKind(bytes, joinListed(dir, name))) === "file") names.add(name);
      }
    } catch {
      // A store that cannot list (HTTP without a manifest) still has its virtual names.
    }
    return [...names];
  }

  /** Entry names: a plate store lists its virtual names; other directories as the byte store does. */
  async listDir(path: string): Promise<string[]> {
    assertPath(path, "listDir");
    const bytes = await this.byteStore();
    const names = await this.#plateNames(bytes, path, "listDir");
    if (names) return naturalSort(names);
    return await bytes.listDir(path);
  }

  /** Resolves what `path` is: a plate's virtual file, a Zarr array, or a byte-store entry. */
  async #classify(
    path: string,
    op: string,
  ): Promise<{ kind: "virtual" | "array" | "plain"; bytes: ByteStore }> {
    assertPath(path, op);
    const bytes = await this.byteStore();
    const index = await this.#resolve(bytes, dirname(path), [basename(path)], op).catch((err) => {
      if (isMissing(err)) return undefined;
      throw err;
    });
    if (index?.names.has(basename(path))) return { kind: "virtual", bytes };
    if ((await this.#arrayMeta(bytes, path)) !== undefined) return { kind: "array", bytes };
    return { kind: "plain", bytes };
  }

  /** True for plate virtual names, Zarr arrays and byte-store files. */
  async isFile(path: string): Promise<boolean> {
    const c = await this.#classify(path, "isFile");
    if (c.kind !== "plain") return true;
    return await c.bytes.isFile(path);
  }

  /** True for directories (not for Zarr arrays or virtual names, which are files here). */
  async isDir(path: string): Promise<boolean> {
    const c = await this.#classify(path, "isDir");
    if (c.kind !== "plain") throw new NotADirectoryError("isDir", path);
    return await c.bytes.isDir(path);
  }

  /** Describes a path; virtual names and arrays are files. */
  async stat(path: string): Promise<StatResult> {
    const c = await this.#classify(path, "stat");
    if (c.kind !== "plain") return { type: "file", path, exists: true };
    return await this.#full(c.bytes, "stat", path).stat(path);
  }

  #full(bytes: ByteStore, op: string, path: string): StorageBackend {
    if (!isWritable(bytes) || typeof (bytes as StorageBackend).stat !== "function") {
      throw new StorageError(op, path, "the byte store is read-only", { code: "EROFS" });
    }
    return bytes;
  }

  #noVirtual(op: string, path: string): never {
    throw new StorageError(
      op,
      path,
      "a plate plane is not a separate file; operate on the plate store directory",
      { code: "ENOTSUP" },
    );
  }

  /** Deletes a file, symlink, empty directory, or a whole Zarr array. */
  async delete(path: string): Promise<void> {
    const c = await this.#classify(path, "delete");
    if (c.kind === "virtual") this.#noVirtual("delete", path);
    const s = this.#full(c.bytes, "delete", path);
    this.#forget(path);
    if (c.kind === "array" && !(await s.isSymlink(path))) return await s.deleteAll(path);
    await s.delete(path);
  }

  /** Deletes a path recursively. */
  async deleteAll(path: string): Promise<void> {
    const c = await this.#classify(path, "deleteAll");
    if (c.kind === "virtual") this.#noVirtual("deleteAll", path);
    this.#forget(path);
    await this.#full(c.bytes, "deleteAll", path).deleteAll(path);
  }

  /** Creates a directory and its parents. */
  async ensureDirectory(path: string): Promise<void> {
    assertPath(path, "ensureDirectory");
    const s = await this.#writable("ensureDirectory", path);
    await s.ensureDirectory(path);
  }

  /** Creates a symlink in the byte store. */
  async createSymlink(target: string, link: string, options: SymlinkOptions = {}): Promise<void> {
    assertPath(link, "createSymlink");
    const s = await this.#writable("createSymlink", link);
    await s.createSymlink(target, link, options);
  }

  /** True only for symlinks of the byte store. */
  async isSymlink(path: string): Promise<boolean> {
    assertPath(path, "isSymlink");
    const s = await this.byteStore();
    if (!("isSymlink" in s) || typeof s.isSymlink !== "function") return false;
    return await s.isSymlink(path);
  }

  /** Moves a file, an array or a whole tree (a plate store included). */
  async move(src: string, dst: string): Promise<void> {
    const c = await this.#classify(src, "move");
    if (c.kind === "virtual") this.#noVirtual("move", src);
    this.#forget(src);
    this.#forget(dst);
    await this.#full(c.bytes, "move", src).move(src, dst);
  }

  /** Copies a file, an array or a whole tree (a plate store included). */
  async copy(src: string, dst: string): Promise<void> {
    const c = await this.#classify(src, "copy");
    if (c.kind === "virtual") this.#noVirtual("copy", src);
    this.#forget(dst);
    await this.#full(c.bytes, "copy", src).copy(src, dst);
  }
}

function reop(err: unknown, op: string, path: string): unknown {
  if (err instanceof NotFoundError) return new NotFoundError(op, path, "no such directory");
  if (err instanceof NotADirectoryError) return new NotADirectoryError(op, path);
  return err;
}

function pick(
  o: ZarrSaveOptions,
): { axes?: readonly PlateAxis[]; coordinates?: readonly (readonly number[])[] } {
  const out: { axes?: readonly PlateAxis[]; coordinates?: readonly (readonly number[])[] } = {};
  if (o.axes !== undefined) out.axes = o.axes;
  if (o.coordinates !== undefined) out.coordinates = o.coordinates;
  return out;
}

/** Default chunk shape: leading axes 1, the last two whole up to 2048, or everything when small. */
function defaultChunks(shape: readonly number[], itemSize: number): number[] {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n * itemSize <= 1 << 20) return shape.map((s) => Math.max(1, s));
  return shape.map((s, i) => i >= shape.length - 2 ? Math.max(1, Math.min(s, 2048)) : 1);
}

/** The key of a chunk (relative to its array) as this backend writes it. */
function chunkKey(version: NgffVersion, coords: readonly number[]): string {
  return version === "0.5" ? ["c", ...coords].join("/") : coords.length ? coords.join("/") : "0";
}

/** Buffers array metadata at store key `dir` (v3 via zarrita's `create`, v2 by hand). */
async function writeArrayInto(
  adapter: ZarrStoreAdapter,
  dir: string,
  shape: readonly number[],
  chunks: readonly number[],
  dtype: DtypeInfo,
  compression: CompressionSpec,
  version: NgffVersion,
  attributes: Record<string, unknown>,
  dimensionNames?: string[],
): Promise<void> {
  if (version === "0.5") {
    const loc = zarr.root(adapter as unknown as zarr.Mutable).resolve(dir === "" ? "/" : `/${dir}`);
    const opts: Parameters<typeof zarr.create>[1] & { shape: number[] } = {
      shape: [...shape],
      chunkShape: [...chunks],
      dtype: dtype.v3 as zarr.DataType,
      codecs: v3Codecs(compression, dtype),
      fillValue: 0 as never,
      chunkSeparator: "/",
      attributes,
    };
    if (dimensionNames) (opts as { dimensionNames?: string[] }).dimensionNames = dimensionNames;
    await zarr.create(loc, opts);
    return;
  }
  const prefix = dir === "" ? "" : `/${dir}`;
  await adapter.set(
    `${prefix}/.zarray`,
    jsonBytes({
      zarr_format: 2,
      shape,
      chunks,
      dtype: dtype.v2,
      compressor: v2Compressor(compression, dtype),
      fill_value: 0,
      order: "C",
      filters: null,
      dimension_separator: "/",
    }),
  );
  await adapter.set(`${prefix}/.zattrs`, jsonBytes(attributes));
}

async function writeGroupInto(
  adapter: ZarrStoreAdapter,
  dir: string,
  version: NgffVersion,
  attributes: Record<string, unknown>,
): Promise<void> {
  const prefix = dir === "" ? "" : `/${dir}`;
  if (version === "0.5") {
    await adapter.set(
      `${prefix}/zarr.json`,
      jsonBytes({ zarr_format: 3, node_type: "group", attributes }),
    );
  } else {
    await adapter.set(`${prefix}/.zgroup`, jsonBytes({ zarr_format: 2 }));
    await adapter.set(`${prefix}/.zattrs`, jsonBytes(attributes));
  }
}

/** Buffers a whole well (groups, field arrays, chunks) into `adapter`. */
async function writeWellInto(
  adapter: ZarrStoreAdapter,
  batch: PlateBatch,
  version: NgffVersion,
  compression: CompressionSpec,
  chunking: "plane" | "well",
  encode: (b: Uint8Array) => Promise<Uint8Array>,
): Promise<void> {
  await writeGroupInto(adapter, "", version, wellAttrs(batch.fieldCount, version));
  const lead = batch.arrayAxes.map((a) => a.size);
  const shape = [...lead, batch.height, batch.width];
  const planeSize = batch.height * batch.width;
  const chunks = chunking === "well" ? shape : [...lead.map(() => 1), batch.height, batch.width];
  const dims = [...batch.arrayAxes.map((a) => a.name), "y", "x"];
  const leadStride = cStrides(lead);
  for (let f = 0; f < batch.fieldCount; f++) {
    await writeGroupInto(adapter, String(f), version, imageAttrs(batch, f, version));
    await writeArrayInto(
      adapter,
      `${f}/0`,
      shape,
      chunks,
      batch.dtype,
      compression,
      version,
      fieldArrayAttrs(batch, f),
      dims,
    );
    const mine = batch.planes.filter((p) => p.field === f);
    if (chunking === "plane") {
      for (const p of mine) {
        const bytes = await encode(rawBytes(contiguous(p.plane)));
        await adapter.set(`/${f}/0/${chunkKey(version, [...p.coords, 0, 0])}`, bytes);
      }
    } else if (mine.length > 0) {
      const all = new batch.dtype.ctor(shape.reduce((a, b) => a * b, 1));
      for (const p of mine) {
        const off = p.coords.reduce((a, c, i) => a + c * leadStride[i]!, 0) * planeSize;
        (all as Uint8Array).set(contiguous(p.plane).subarray(0, planeSize) as Uint8Array, off);
      }
      const bytes = await encode(rawBytes(all));
      await adapter.set(`/${f}/0/${chunkKey(version, shape.map(() => 0))}`, bytes);
    }
  }
}

/** Moves the finished temporary tree `tmp` to `target`, replacing an existing one if asked. */
async function swapInto(
  s: StorageBackend,
  tmp: string,
  target: string,
  replace: boolean,
  op: string,
): Promise<void> {
  if (!replace) {
    try {
      await s.move(tmp, target);
    } catch (err) {
      if (err instanceof AlreadyExistsError) throw new AlreadyExistsError(op, target);
      throw err;
    }
    return;
  }
  const old = join(dirname(target), `.${basename(target)}.zarr-old-${randomId()}`);
  await s.move(target, old);
  try {
    await s.move(tmp, target);
  } catch (err) {
    await s.move(old, target).catch(() => {});
    throw err;
  }
  await s.deleteAll(old);
}

// The contract types (and base class) this entry's API refers to, so it documents them on its own.
export * from "./base.ts";
