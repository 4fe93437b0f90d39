/**
 * Paths through the Zarr view of a byte store — what a path is, how it
 * loads and lists: a plate store lists its virtual names (from the NGFF
 * model's filename maps) plus plain files beside the metadata; a `*.zarr`
 * array directory is one file; everything else is the byte store's. Array
 * chunk grids are never enumerated.
 *
 * @module
 */

import type { ListOptions, LoadOptions } from "../backends/base.ts";
import { NotADirectoryError, NotFoundError } from "../errors.ts";
import { basename, dirname, joinListed } from "../_internal/paths.ts";
import { breadthFirst, type ListEntry, nameFilter, naturalSort } from "../_internal/listing.ts";
import { type ArrayMeta, readArrayMeta } from "./array.ts";
import { rawBytes } from "./codec.ts";
import type { TypedStore } from "./capabilities.ts";
import type { PlateIndex, PlateIndexCache } from "./plate_index.ts";
import { readArrayAt } from "./read.ts";
import { type ByteStore, isMissing, ZarrStoreAdapter } from "./store.ts";

const METADATA_NAMES = new Set([
  "zarr.json",
  ".zgroup",
  ".zattrs",
  ".zarray",
  ".zmetadata",
  "zarr.json.lock",
  ".zattrs.lock",
]);

/** True for a path named like a Zarr array directory (`x.zarr`). */
export function isZarrPath(path: string): boolean {
  return /\.zarr\/?$/i.test(path);
}

/** The metadata of the array at `path`, or undefined when there is none. */
export async function arrayMetaAt(ts: TypedStore, path: string): Promise<ArrayMeta | undefined> {
  try {
    return await readArrayMeta(new ZarrStoreAdapter(ts.bytes, path), "", path, "stat");
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

/** How a listing treats the entry at `path`: a file, a directory to descend, or skipped. */
async function entryKind(ts: TypedStore, path: string): Promise<ListEntry["kind"]> {
  const st = ts.stat ? await ts.stat(path) : undefined;
  if (st?.type === "symlink") {
    try {
      return (await ts.bytes.isDir(path)) ? "skip" : "file";
    } catch {
      return "file";
    }
  }
  let isDir: boolean;
  if (st) isDir = st.type === "directory";
  else {
    try {
      isDir = await ts.bytes.isDir(path);
    } catch {
      isDir = false;
    }
  }
  if (!isDir) return "file";
  if (isZarrPath(path) && (await arrayMetaAt(ts, path)) !== undefined) return "file";
  return "dir";
}

/** Virtual names plus plain files of a plate store, or undefined if `dir` is no plate. */
export async function plateNames(
  ts: TypedStore,
  cache: PlateIndexCache,
  dir: string,
  op: string,
): Promise<string[] | undefined> {
  let index: PlateIndex | undefined;
  try {
    index = (await cache.index(ts.bytes, dir, op, true))?.index;
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  if (!index) return undefined;
  const names = new Set(index.names.keys());
  try {
    for (const name of await ts.bytes.listDir(dir)) {
      if (METADATA_NAMES.has(name) || name.startsWith(".")) continue;
      if ((await entryKind(ts, joinListed(dir, name))) === "file") names.add(name);
    }
  } catch {
    // A store that cannot list (HTTP without a manifest) still has its virtual names.
  }
  return [...names];
}

/** `listFiles` of the Zarr view (breadth-first; plates and arrays as described above). */
export async function listZarrFiles(
  ts: TypedStore,
  cache: PlateIndexCache,
  dir: string,
  options: ListOptions,
): Promise<string[]> {
  const op = "listFiles";
  const names = await plateNames(ts, cache, dir, op);
  if (names) return naturalSort(names.filter(nameFilter(options))).map((n) => joinListed(dir, n));
  await ts.bytes.isDir(dir).catch((err) => {
    if (err instanceof NotFoundError) throw new NotFoundError(op, dir, "no such directory");
    if (err instanceof NotADirectoryError) throw new NotADirectoryError(op, dir);
    throw err;
  });
  return await breadthFirst(dir, async (rel) => {
    const abs = rel === "" ? dir : joinListed(dir, rel);
    if (rel !== "") {
      const inner = await plateNames(ts, cache, abs, op);
      if (inner) return inner.map((name) => ({ name, kind: "file" as const }));
    }
    const entries: ListEntry[] = [];
    for (const name of await ts.bytes.listDir(abs)) {
      entries.push({ name, kind: await entryKind(ts, joinListed(abs, name)) });
    }
    return entries;
  }, options);
}

/** What a path is in the Zarr view. */
export type PathKind = "virtual" | "array" | "plain";

/** Whether `path` is a plate's virtual file, a Zarr array, or a plain byte-store entry. */
export async function classify(
  ts: TypedStore,
  cache: PlateIndexCache,
  path: string,
  op: string,
): Promise<PathKind> {
  const index = await cache.resolve(ts.bytes, dirname(path), [basename(path)], op)
    .catch((err) => {
      if (isMissing(err)) return undefined;
      throw err;
    });
  if (index?.names.has(basename(path))) return "virtual";
  if ((await arrayMetaAt(ts, path)) !== undefined) return "array";
  return "plain";
}

/**
 * Loads a path that is no plate's virtual file: a whole Zarr array, else the
 * byte store's file (a miss inside a plate says so).
 */
export async function loadPlain(
  bytes: ByteStore,
  cache: PlateIndexCache,
  path: string,
  options: LoadOptions,
  budget: number,
): Promise<unknown> {
  const value = await readArrayAt(bytes, path, "load", budget);
  if (value) return options.as === "bytes" ? rawBytes(value.data).slice() : value;
  try {
    return await bytes.load(path, options);
  } catch (err) {
    if (err instanceof NotFoundError && (await isPlate(bytes, cache, dirname(path)))) {
      throw new NotFoundError("load", path, "not in any filename map of the plate");
    }
    throw err;
  }
}

async function isPlate(bytes: ByteStore, cache: PlateIndexCache, store: string): Promise<boolean> {
  try {
    return (await cache.index(bytes, store, "load")) !== undefined;
  } catch {
    return false;
  }
}
