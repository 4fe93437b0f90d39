/**
 * The plate index: a plate's virtual file names (filename maps) resolved to
 * array directories and coordinates, built from the NGFF model and cached
 * per store while the root metadata bytes are unchanged.
 *
 * Decision: a cached index is trusted only after the arrays a read needs
 * are re-read and compared byte for byte (one batched read), so another
 * writer's change is seen without rebuilding the whole index each time.
 *
 * @module
 */

import type { NdArray } from "../backends/base.ts";
import { basename, dirname, join, normalize } from "../_internal/paths.ts";
import { type ArrayMeta, parseJson, readArrayMeta } from "./array.ts";
import {
  ATTR_FILENAME_MAP,
  groupAttributes,
  parseFilenameMap,
  parsePlate,
  parseWellImages,
} from "./ngff.ts";
import { readPlanes } from "./read.ts";
import { type ByteStore, readManyOptional, readOptional, ZarrStoreAdapter } from "./store.ts";

/** One virtual file of a plate. */
export interface PlateEntry {
  /** Array directory, relative to the store (`A/01/0/0`). */
  dir: string;
  /** The array's metadata. */
  meta: ArrayMeta;
  /** The plane's index on each leading axis. */
  coords: number[];
}

/** A plate's virtual names and the metadata they were resolved from. */
export interface PlateIndex {
  /** The plate store directory. */
  store: string;
  /** Zarr format of the plate. */
  version: 2 | 3;
  /** The root metadata bytes the index was built from. */
  root: Uint8Array;
  /** Virtual name → entry. */
  names: Map<string, PlateEntry>;
  /** Per array directory: its metadata keys and their bytes when indexed. */
  arrays: Map<string, { keys: string[]; bytes: (Uint8Array | undefined)[] }>;
}

/** How many plate indexes a cache keeps (most recently built). */
const INDEX_CACHE_SIZE = 8;

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Plate indexes of one backend, most recently built first out. */
export class PlateIndexCache {
  #indexes = new Map<string, PlateIndex>();

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
   * callers validate the arrays they use with {@linkcode PlateIndexCache.stale}.
   */
  async index(
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
    const index = await buildIndex(bytes, store, op, root.version, root.bytes);
    this.#indexes.delete(store);
    if (!index) return undefined;
    this.#indexes.set(store, index);
    while (this.#indexes.size > INDEX_CACHE_SIZE) {
      this.#indexes.delete(this.#indexes.keys().next().value!);
    }
    return { index, cached: false };
  }

  /** True if any of the arrays `dirs` changed since the index was built (one batched read). */
  async stale(bytes: ByteStore, index: PlateIndex, dirs: Iterable<string>): Promise<boolean> {
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
  forget(path?: string): void {
    if (path === undefined) return this.#indexes.clear();
    const n = normalize(path);
    for (const k of [...this.#indexes.keys()]) {
      if (k === n || k.startsWith(`${n}/`) || n.startsWith(`${k}/`)) this.#indexes.delete(k);
    }
  }

  /**
   * The index of `store` with every name in `names` resolved against current
   * metadata: a cached index is used only if it knows every name and the
   * arrays holding them are unchanged; otherwise it is rebuilt.
   */
  async resolve(
    bytes: ByteStore,
    store: string,
    names: readonly string[],
    op: string,
  ): Promise<PlateIndex | undefined> {
    const r = await this.index(bytes, store, op);
    if (!r || !r.cached) return r?.index;
    const entries = names.map((n) => r.index.names.get(n));
    if (entries.every((e) => e !== undefined)) {
      const dirs = entries.map((e) => e!.dir);
      if (!(await this.stale(bytes, r.index, dirs))) return r.index;
    }
    return (await this.index(bytes, store, op, true))?.index;
  }

  /**
   * Reads those of `paths` that are virtual files of plates (one batched
   * chunk read per plate, each chunk read once): their planes by request
   * index, and the indexes of the other (plain) paths.
   */
  async readVirtual(
    bytes: ByteStore,
    paths: readonly string[],
    op: string,
    budget: number,
  ): Promise<{ planes: Map<number, NdArray>; plain: number[] }> {
    const byStore = new Map<string, string[]>();
    for (const p of paths) {
      const store = dirname(p);
      let list = byStore.get(store);
      if (!list) byStore.set(store, list = []);
      list.push(basename(p));
    }
    const indexes = new Map<string, PlateIndex | undefined>();
    for (const [store, names] of byStore) {
      indexes.set(store, await this.resolve(bytes, store, names, op));
    }
    const virtual = new Map<PlateIndex, { i: number; entry: PlateEntry }[]>();
    const plain: number[] = [];
    paths.forEach((p, i) => {
      const index = indexes.get(dirname(p));
      const entry = index?.names.get(basename(p));
      if (!index || !entry) return plain.push(i);
      let list = virtual.get(index);
      if (!list) virtual.set(index, list = []);
      list.push({ i, entry });
    });
    const planes = new Map<number, NdArray>();
    for (const [index, list] of virtual) {
      const got = await this.readPlanes(bytes, index, list.map((x) => x.entry), op, budget);
      list.forEach((x, k) => planes.set(x.i, got[k]!));
    }
    return { planes, plain };
  }

  /** Reads the planes `entries` of one plate, each chunk read at most once (one batched read). */
  async readPlanes(
    bytes: ByteStore,
    index: PlateIndex,
    entries: PlateEntry[],
    op: string,
    budget: number,
  ): Promise<NdArray[]> {
    const adapter = new ZarrStoreAdapter(bytes, index.store);
    for (const e of entries) {
      const rec = index.arrays.get(e.dir)!;
      rec.keys.forEach((k, i) => adapter.prime(`/${k}`, rec.bytes[i]));
    }
    return await readPlanes(adapter, entries, op, budget);
  }
}

/** Reads a plate's filename maps from its root metadata down (batched per level). */
async function buildIndex(
  bytes: ByteStore,
  store: string,
  op: string,
  version: 2 | 3,
  rootBytes: Uint8Array,
): Promise<PlateIndex | undefined> {
  const adapter = new ZarrStoreAdapter(bytes, store);
  const rootName = version === 3 ? "zarr.json" : ".zattrs";
  const rootPath = join(store, rootName);
  const rootJson = parseJson(rootBytes, rootPath, op);
  const plate = parsePlate(groupAttributes(rootJson, version), op, rootPath);
  if (!plate) return undefined;
  const wells = plate.wells.map((w) => w.path);
  const wellMetaName = version === 3 ? "zarr.json" : ".zattrs";
  await adapter.prefetch(wells.map((w) => `/${w}/${wellMetaName}`));
  const arrays: string[] = [];
  for (const w of wells) {
    const b = await adapter.get(`/${w}/${wellMetaName}`);
    if (!b) continue;
    const wellPath = join(store, w, wellMetaName);
    const json = parseJson(b, wellPath, op);
    for (const img of parseWellImages(groupAttributes(json, version), op, wellPath)) {
      arrays.push(`${w}/${img}/0`);
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
    const metaPath = join(store, dir, version === 3 ? "zarr.json" : ".zattrs");
    for (const e of parseFilenameMap(meta.attrs[ATTR_FILENAME_MAP], meta.shape, op, metaPath)) {
      names.set(e.name, { dir, meta, coords: e.coords });
    }
  }
  return { store, version, root: rootBytes, names, arrays: records };
}
