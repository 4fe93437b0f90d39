/**
 * Writing single Zarr arrays (`save(array, "x.zarr")`): planning (dtype,
 * shape, chunking, codec) before anything is written, staging the array in a
 * hidden sibling and moving it into place, and mixed batches of arrays and
 * plain files that are all or nothing.
 *
 * @module
 */

import {
  AlreadyExistsError,
  NotFoundError,
  restate,
  StorageError,
  UnsupportedFormatError,
} from "../errors.ts";
import type { NdArray, SaveOptions, StorageBackend, StorageValue } from "../backends/base.ts";
import { basename, dirname, join } from "../_internal/paths.ts";
import { cStrides } from "../_internal/ndarray.ts";
import { chunkEncoder, type CompressionSpec, type DtypeInfo, dtypeOf } from "./codec.ts";
import { chunkKey, defaultChunks, encodeChunks, writeArrayInto } from "./array.ts";
import type { NgffVersion } from "./batch.ts";
import { ZarrStoreAdapter } from "./store.ts";

/** Resolved options of one array write. */
export interface ArrayOptions {
  /** `"plane"`, `"well"`, an explicit chunk shape, or undefined for the default. */
  chunks?: "plane" | "well" | readonly number[] | undefined;
  /** The codec. */
  compression: CompressionSpec;
  /** NGFF version, which picks the Zarr format (0.5: v3, 0.4: v2). */
  version: NgffVersion;
}

/** Everything needed to write one array, checked. */
export interface ArrayPlan {
  /** The array. */
  value: NdArray;
  /** Its target path (`*.zarr`). */
  path: string;
  /** Element type. */
  dtype: DtypeInfo;
  /** Chunk shape. */
  chunks: number[];
  /** Codec. */
  compression: CompressionSpec;
  /** NGFF version. */
  version: NgffVersion;
  /** The chunk encoder. */
  encode: (b: Uint8Array) => Promise<Uint8Array>;
}

/** A short random name part for staging directories. */
export function randomId(): string {
  return Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
}

/** Validates an array write (dtype, shape, chunks) before anything is written. */
export async function planArray(
  value: NdArray,
  path: string,
  options: ArrayOptions,
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
  const { compression, version } = options;
  const encode = await chunkEncoder(compression, dtype);
  return { value, path, dtype, chunks, compression, version, encode };
}

/** Stages the array beside its target and moves it into place (replacing only with `overwrite`). */
export async function writeArray(
  s: StorageBackend,
  plan: ArrayPlan,
  overwrite: boolean,
  op: string,
): Promise<void> {
  const { path, value, dtype, chunks, compression, version } = plan;
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
  const adapter = new ZarrStoreAdapter(s, tmp, s);
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
    throw internalPathHidden(err, op, path);
  }
}

/**
 * An I/O error on one of this module's hidden staging paths (`.x.zarr-tmp-*`,
 * `.x.zarr-old-*`, `.hcs-zarr-tmp-*`) restated on the user's `path`.
 */
export function internalPathHidden(err: unknown, op: string, path: string): unknown {
  if (err instanceof StorageError && /\/\.[^/]*(\.zarr-(tmp|old)-|hcs-zarr-tmp-)/.test(err.path)) {
    return restate(err, op, path, `${err.reason} (while staging '${path}')`);
  }
  return err;
}

/**
 * A batch of arrays (`plans`, for the indexes `isArray` marks) and plain
 * values: every target is checked before the first write, and the arrays
 * this batch created are removed again if any write fails.
 */
export async function writeMixedBatch(
  s: StorageBackend,
  data: readonly StorageValue[],
  paths: readonly string[],
  isArray: readonly boolean[],
  plans: readonly ArrayPlan[],
  options: SaveOptions,
  op: string,
): Promise<void> {
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
  const others = paths.map((_, i) => i).filter((i) => !isArray[i]);
  const created: string[] = [];
  try {
    for (const plan of plans) {
      await writeArray(s, plan, overwrite, op);
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

/** Moves the finished temporary tree `tmp` to `target`, replacing an existing one if asked. */
export async function swapInto(
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
