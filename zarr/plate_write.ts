/**
 * Writing one well of an OME-Zarr plate: the well is staged in a hidden
 * group (with an owner record, see `leftovers.ts`), moved into place, and
 * then added to the plate metadata by a read-modify-write that never drops
 * another writer's well.
 *
 * Decision: the metadata update picks the strongest primitive the typed
 * store offers — compare-and-swap (`loadVersioned` → merge →
 * `saveIfVersion`, retried on conflict; what object storage gives), else a
 * cross-process lock (disk), else only the in-process mutex (memory).
 *
 * @module
 */

import { AlreadyExistsError, StorageError } from "../errors.ts";
import { basename, dirname, join } from "../_internal/paths.ts";
import { cStrides } from "../_internal/ndarray.ts";
import type { TypedStore } from "./capabilities.ts";
import { type ChunkEncoder, chunkEncoder, type CompressionSpec, rawBytes } from "./codec.ts";
import { chunkKey, jsonBytes, parseJson, writeArrayInto, writeGroupInto } from "./array.ts";
import { internalPathHidden, swapInto } from "./array_write.ts";
import {
  contiguous,
  type NgffVersion,
  type PlateAxis,
  type PlateBatch,
  type PlateOptions,
  validatePlateBatch,
} from "./batch.ts";
import {
  fieldArrayAttrs,
  groupAttributes,
  imageAttrs,
  parsePlate,
  plateAttrs,
  plateState,
  wellAttrs,
} from "./ngff.ts";
import { orphanedWell, OWNER_FILE, ownerRecord, stagingName, sweepStaging } from "./leftovers.ts";
import { readManyOptional, readOptional, ZarrStoreAdapter } from "./store.ts";
import { runJob, wouldOffload } from "../_internal/workers/pool.ts";
import { reportedCores } from "../_internal/cores.ts";
import type { TypedArray } from "../backends/base.ts";
import { buildPyramid, type DownsampleMode, type LevelOptions, planLevels } from "./pyramid.ts";
import {
  type ChannelInfo,
  ChannelStats,
  type PixelSize,
  resolvePixelSize,
  withImageMetadata,
} from "./omero.ts";

/** Pyramid and image-metadata options of a plate write (see `pyramid.ts`, `omero.ts`). */
export interface ImageWriteOptions {
  /** Pyramid levels "0".."n": a count, or `"auto"` (until one tile). Default 1. */
  levels?: number | "auto" | undefined;
  /** Smallest side a pyramid level may have (default 1). */
  minLevelSize?: number | undefined;
  /** `"auto"` levels stop when the coarsest fits this tile (default 256). */
  tileSize?: number | undefined;
  /** `"mean"` (intensity, default) or `"nearest"` (labels) downsampling. */
  downsample?: DownsampleMode | undefined;
  /** Physical pixel size (µm, or `{ x, y, z?, unit }`). */
  pixelSize?: PixelSize | undefined;
  /** Channel names and colours for the `omero` block. */
  channels?: readonly ChannelInfo[] | undefined;
  /** The caller gives the planes up (their buffers may be moved to codec workers). */
  transferPlanes?: boolean | undefined;
  /** The store path `polystore_output_paths` records (default the store written to). */
  recordStoreAs?: string | undefined;
}

function levelOptions(o: ImageWriteOptions): LevelOptions {
  const out: LevelOptions = {};
  if (o.levels !== "auto") out.levels = o.levels ?? 1;
  if (o.minLevelSize !== undefined) out.minLevelSize = o.minLevelSize;
  if (o.tileSize !== undefined) out.tileSize = o.tileSize;
  return out;
}

/** Throws (before anything is written) for bad pyramid/metadata options. */
function checkImageOptions(o: ImageWriteOptions, batch: PlateBatch, op: string): ImageWriteOptions {
  planLevels(batch.height, batch.width, levelOptions(o));
  if (o.pixelSize !== undefined) resolvePixelSize(o.pixelSize);
  if (o.downsample !== undefined && o.downsample !== "mean" && o.downsample !== "nearest") {
    throw new TypeError(`${op}: downsample must be "mean" or "nearest"`);
  }
  for (const [i, c] of (o.channels ?? []).entries()) {
    if (c.color !== undefined && !/^[0-9A-Fa-f]{6}$/.test(c.color)) {
      throw new RangeError(`${op}: channel ${i} colour must be RRGGBB hex, got '${c.color}'`);
    }
  }
  if (o.recordStoreAs !== undefined && typeof o.recordStoreAs !== "string") {
    throw new TypeError(`${op}: recordStoreAs must be a path`);
  }
  const { levels, minLevelSize, tileSize, downsample, pixelSize, channels } = o;
  const { transferPlanes, recordStoreAs } = o;
  return {
    levels,
    minLevelSize,
    tileSize,
    downsample,
    pixelSize,
    channels,
    transferPlanes,
    recordStoreAs,
  };
}

/** How often a compare-and-swap metadata update is retried before `EBUSY`. */
export const CAS_ATTEMPTS = 100;

/** A checked well write. */
export interface WellWrite {
  /** The validated batch. */
  batch: PlateBatch;
  /** NGFF version (0.5: Zarr v3, 0.4: Zarr v2). */
  version: NgffVersion;
  /** One chunk per plane or per field array. */
  chunking: "plane" | "well";
  /** Codec. */
  compression: CompressionSpec;
  /** Its encoder. */
  encode: ChunkEncoder;
  /** Replace an existing well. */
  overwrite: boolean;
  /** Plate name for new plate metadata. */
  plateName?: string | undefined;
  /** Pyramid levels and image metadata. */
  image: ImageWriteOptions;
}

/** What a plate `saveBatch` asked for, with the backend's defaults filled in. */
export interface WellRequest extends ImageWriteOptions {
  /** Plate row. */
  row: string;
  /** Plate column. */
  column: string | number;
  /** Leading axes. */
  axes?: readonly PlateAxis[] | undefined;
  /** Per plane: its index on each axis. */
  coordinates?: readonly (readonly number[])[] | undefined;
  /** NGFF version. */
  ngff: unknown;
  /** Plate chunking. */
  chunks: unknown;
  /** Codec. */
  compression: CompressionSpec;
  /** Replace an existing well. */
  overwrite?: boolean | undefined;
  /** Plate name for new plate metadata. */
  plateName?: string | undefined;
}

/**
 * Checks a plate batch (one store directory, axes, coordinates, planes,
 * NGFF version, chunking) and prepares its encoder; nothing is written.
 */
export async function planWell(
  planes: readonly unknown[],
  paths: readonly string[],
  r: WellRequest,
  op: string,
): Promise<{ store: string; write: WellWrite }> {
  const opts: PlateOptions = { row: r.row, column: r.column };
  if (r.axes !== undefined) opts.axes = r.axes;
  if (r.coordinates !== undefined) opts.coordinates = r.coordinates;
  if (!Array.isArray(paths) || paths.length === 0 || typeof paths[0] !== "string") {
    validatePlateBatch(planes, paths, opts, "", op);
  }
  const store = dirname(paths[0]!);
  for (const p of paths) {
    if (typeof p === "string" && dirname(p) !== store) {
      throw new RangeError(
        `${op} '${p}': every path of a plate batch must be in one store directory ('${store}')`,
      );
    }
  }
  const batch = validatePlateBatch(planes, paths, opts, store, op);
  if (r.ngff !== "0.5" && r.ngff !== "0.4") {
    throw new TypeError(`${op} '${store}': ngff must be "0.5" or "0.4"`);
  }
  if (r.chunks !== "plane" && r.chunks !== "well") {
    throw new TypeError(`${op} '${store}': plate chunks must be "plane" or "well"`);
  }
  const image = checkImageOptions(r, batch, op);
  const encode = await chunkEncoder(r.compression, batch.dtype);
  return {
    store,
    write: {
      batch,
      version: r.ngff,
      chunking: r.chunks,
      compression: r.compression,
      encode,
      overwrite: r.overwrite === true,
      plateName: r.plateName,
      image,
    },
  };
}

/** In-process mutexes, per byte store and key. */
const mutexes = new WeakMap<object, Map<string, Promise<unknown>>>();

function withMutex<T>(owner: object, key: string, fn: () => Promise<T>): Promise<T> {
  let map = mutexes.get(owner);
  if (!map) mutexes.set(owner, map = new Map());
  const prev = map.get(key) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.then(() => undefined, () => undefined);
  map.set(key, tail);
  void tail.then(() => {
    if (map.get(key) === tail) map.delete(key);
  });
  return run;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Read-modify-write of one metadata file: `merge` maps the current bytes
 * (undefined when absent) to the new ones and may run several times (once per
 * compare-and-swap attempt), so it must be pure.
 */
export function updateMetadata(
  ts: TypedStore,
  path: string,
  merge: (current: Uint8Array | undefined) => Uint8Array,
  op: string,
): Promise<void> {
  // Updates that queue behind a running one of the same file are combined
  // into the next read-modify-write (one lock, one write for all of them);
  // a merge that throws fails its own caller only.
  let queued = combining.get(ts.bytes);
  if (!queued) combining.set(ts.bytes, queued = new Map());
  const waiting = queued.get(path);
  return new Promise<void>((resolve, reject) => {
    const me: Merge = { merge, resolve, reject };
    if (waiting) {
      waiting.push(me);
      return;
    }
    const batch = [me];
    const map = queued;
    map.set(path, batch);
    void withMutex(ts.bytes, path, async () => {
      if (map.get(path) === batch) map.delete(path); // later arrivals start the next batch
      let failed = new Map<Merge, unknown>();
      const all = (current: Uint8Array | undefined): Uint8Array => {
        failed = new Map();
        let bytes = current;
        for (const m of batch) {
          try {
            bytes = m.merge(bytes);
          } catch (err) {
            failed.set(m, err);
          }
        }
        if (failed.size === batch.length) throw failed.get(batch[0]!);
        return bytes!;
      };
      try {
        await updateOnce(ts, path, all, op);
      } catch (err) {
        for (const m of batch) m.reject(failed.get(m) ?? err);
        return;
      }
      for (const m of batch) {
        if (failed.has(m)) m.reject(failed.get(m));
        else m.resolve();
      }
    });
  });
}

interface Merge {
  merge: (current: Uint8Array | undefined) => Uint8Array;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Metadata updates waiting to be combined, per byte store and path. */
const combining = new WeakMap<object, Map<string, Merge[]>>();

async function updateOnce(
  ts: TypedStore,
  path: string,
  merge: (current: Uint8Array | undefined) => Uint8Array,
  op: string,
): Promise<void> {
  const s = ts.writer!;
  const cas = ts.cas;
  if (cas) {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const cur = await cas.loadVersioned(path);
      const next = merge(cur?.bytes);
      if ((await cas.saveIfVersion(next, path, cur?.version ?? null)) !== false) return;
      await sleep(Math.random() * Math.min(50, 2 ** attempt));
    }
    throw new StorageError(
      op,
      path,
      `metadata kept changing: gave up after ${CAS_ATTEMPTS} compare-and-swap attempts`,
      { code: "EBUSY" },
    );
  }
  const run = async () => {
    const cur = await readOptional(s, path);
    await s.save(merge(cur), path, { overwrite: true });
  };
  if (ts.locker) await ts.locker.withLock(path, run);
  else await run();
}

/** Creates `path` with `bytes` unless it exists (create-if-absent where the store has CAS). */
async function ensureFile(ts: TypedStore, path: string, bytes: Uint8Array): Promise<void> {
  if (ts.cas) {
    if (!(await ts.cas.loadVersioned(path))) await ts.cas.saveIfVersion(bytes, path, null);
    return;
  }
  if (!(await readOptional(ts.bytes, path))) {
    await ts.writer!.save(bytes, path, { overwrite: true });
  }
}

/**
 * Writes one well into the plate at `store` and lists it in the plate
 * metadata. Refuses to mix NGFF versions in one store and to replace a
 * complete well without `overwrite`; cleans abandoned staging groups first.
 */
export async function writePlateWell(
  ts: TypedStore,
  store: string,
  w: WellWrite,
  op: string,
): Promise<void> {
  const s = ts.writer!;
  const { batch, version } = w;
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
  // Leftovers of killed writers go first; a well they left behind may be rewritten.
  await sweepStaging(s, store);
  const wellExists = await s.exists(wellPath);
  if (wellExists && !w.overwrite && !(await orphanedWell(s, wellPath))) {
    throw new AlreadyExistsError(op, wellPath, "well already exists (use overwrite)");
  }

  // Everything is checked: write the well into a staging group, then move it into place.
  const owner = await ownerRecord();
  const tmp = join(store, stagingName(batch.row, batch.column, owner));
  const adapter = new ZarrStoreAdapter(s, tmp, s);
  try {
    await s.ensureDirectory(join(store, batch.row));
    const [name, b] = version === "0.5"
      ? ["zarr.json", jsonBytes({ zarr_format: 3, node_type: "group", attributes: {} })]
      : [".zgroup", jsonBytes({ zarr_format: 2 })];
    await ensureFile(ts, join(store, batch.row, name), b);
    await s.ensureDirectory(tmp);
    await s.save(jsonBytes(owner), join(tmp, OWNER_FILE), { overwrite: true });
    const recorded = w.image.recordStoreAs;
    const recordAs = recorded === undefined || recorded === store
      ? undefined
      : (p: string) => (p.startsWith(`${store}/`) ? recorded + p.slice(store.length) : p);
    await writeWellInto(
      adapter,
      batch,
      version,
      w.compression,
      w.chunking,
      w.encode,
      w.image,
      recordAs,
    );
    await adapter.flush(op);
    await swapInto(s, tmp, wellPath, wellExists, op);
  } catch (err) {
    await s.deleteAll(tmp).catch(() => {});
    // Name the user's plate, not the internal staging group.
    throw internalPathHidden(err, op, store);
  }

  // Plate metadata: wells are merged, never dropped.
  const metaPath = join(store, version === "0.5" ? "zarr.json" : ".zattrs");
  if (version === "0.4") {
    await ensureFile(ts, join(store, ".zgroup"), jsonBytes({ zarr_format: 2 }));
  }
  await updateMetadata(ts, metaPath, (current) => {
    const json = current ? parseJson(current, metaPath, op) : undefined;
    const attrs = json === undefined ? {} : groupAttributes(json, version === "0.5" ? 3 : 2);
    const state = plateState(parsePlate(attrs, op, metaPath), w.plateName ?? basename(store));
    state.wells.push({ row: batch.row, column: batch.column });
    state.fieldCount = Math.max(state.fieldCount, batch.fieldCount);
    const next = { ...attrs, ...plateAttrs(state, version) };
    return jsonBytes(
      version === "0.5" ? { zarr_format: 3, node_type: "group", attributes: next } : next,
    );
  }, op);
  // The plate lists the well now: it is no longer a writer's leftover.
  await s.delete(join(wellPath, OWNER_FILE)).catch(() => {});
}

/**
 * Chunk encodes a well write keeps in flight: twice the cores plus one, so a
 * pool-backed encoder always has queued work while the calling thread builds
 * the next pyramid. The well's pixels are in memory already (the batch), and
 * its encoded chunks are buffered until `flush` anyway, so this bounds the
 * encoder's queue, not the well's memory.
 */
export const ENCODES_IN_FLIGHT: number = 2 * (reportedCores() ?? 2) + 1;

/**
 * Runs async jobs with at most `limit` in flight, in the order queued; after
 * the first failure no queued job starts, and {@linkcode Encodes.drain}
 * waits for the started ones and throws that first failure.
 */
class Encodes {
  readonly #limit: number;
  #running = 0;
  #queue: (() => void)[] = [];
  #all: Promise<void>[] = [];
  #failed: { err: unknown } | undefined;

  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  add(job: () => Promise<void>): void {
    const run = async () => {
      while (this.#running >= this.#limit) {
        await new Promise<void>((resolve) => this.#queue.push(resolve));
      }
      if (this.#failed) return;
      this.#running++;
      try {
        await job();
      } catch (err) {
        this.#failed ??= { err };
      } finally {
        this.#running--;
        this.#queue.shift()?.();
      }
    };
    this.#all.push(run());
  }

  /** Like `add`, and resolves when this job has finished (or was skipped after a failure). */
  run(job: () => Promise<void>): Promise<void> {
    this.add(job);
    return this.#all[this.#all.length - 1]!;
  }

  async drain(): Promise<void> {
    await Promise.all(this.#all);
    if (this.#failed) throw this.#failed.err;
  }
}

/**
 * Buffers a whole well (groups, field arrays of every level, chunks) into
 * `adapter`. Chunk encodes are issued as soon as a plane's pyramid exists and
 * run concurrently (at most {@linkcode ENCODES_IN_FLIGHT}); metadata is
 * written in order, chunk keys as their encodes finish.
 */
async function writeWellInto(
  adapter: ZarrStoreAdapter,
  batch: PlateBatch,
  version: NgffVersion,
  compression: CompressionSpec,
  chunking: "plane" | "well",
  encode: ChunkEncoder,
  image: ImageWriteOptions,
  recordAs?: (path: string) => string,
): Promise<void> {
  const encodes = new Encodes(ENCODES_IN_FLIGHT);
  // `owned`: the writer made these bytes (pyramid levels, well chunks) or the
  // caller gave its planes up, so the encoder may move them to a worker.
  const chunk = (key: string, raw: Uint8Array, owned: boolean) =>
    encodes.add(async () => adapter.set(key, await encode(raw, { transfer: owned })));
  const lead = batch.arrayAxes.map((a) => a.size);
  const dims = [...batch.arrayAxes.map((a) => a.name), "y", "x"];
  const leadStride = cStrides(lead);
  const sizes = planLevels(batch.height, batch.width, levelOptions(image));
  const ci = batch.arrayAxes.findIndex((a) => a.type === "channel");
  const channelCount = ci >= 0 ? batch.arrayAxes[ci]!.size : 1;
  const mode = image.downsample ?? "mean";
  const pixelSize = image.pixelSize === undefined ? undefined : resolvePixelSize(image.pixelSize);
  try {
    await writeGroupInto(adapter, "", version, wellAttrs(batch.fieldCount, version));
    const fields: Promise<void>[] = [];
    for (let f = 0; f < batch.fieldCount; f++) {
      const mine = batch.planes.filter((p) => p.field === f);
      // Contrast windows from this field's data, per channel, computed while writing.
      const stats = Array.from({ length: channelCount }, () => new ChannelStats());
      const pyramids: TypedArray[][] = [];
      // Planes handed to a worker whole (histogram, pyramid, chunks there).
      const offloaded: Promise<void>[] = [];
      for (const p of mine) {
        const data = contiguous(p.plane).subarray(0, batch.height * batch.width) as TypedArray;
        const channel = stats[ci >= 0 ? p.coords[ci]! : 0]!;
        if (
          chunking === "plane" && image.transferPlanes === true && ownsBuffer(data) &&
          ChannelStats.countable(data) &&
          wouldOffload("planeLevels", data.byteLength)
        ) {
          offloaded.push(encodes.run(async () => {
            const like = data.subarray(0, 0);
            const r = await runJob("planeLevels", { data, sizes, mode, spec: compression }, {
              weight: data.byteLength,
              prepare: (a) => ({ args: a, transfer: [a.data.buffer as ArrayBuffer] }),
            });
            channel.addCounts(r.counts!, like);
            for (const [l, bytes] of r.chunks.entries()) {
              await adapter.set(`/${f}/${l}/${chunkKey(version, [...p.coords, 0, 0])}`, bytes);
            }
          }));
          continue;
        }
        channel.add(data);
        const levels = buildPyramid(data, sizes, mode);
        pyramids.push(levels);
        if (chunking === "plane") {
          // Every level of this plane exists now: its encodes can start.
          for (const [l, level] of levels.entries()) {
            const owned = l > 0 || image.transferPlanes === true;
            chunk(`/${f}/${l}/${chunkKey(version, [...p.coords, 0, 0])}`, rawBytes(level), owned);
          }
        }
      }
      // The field's metadata needs its windows: written once its planes are counted,
      // while the next field's planes are already being worked on.
      fields.push(Promise.all(offloaded).then(() => writeField(f, mine, stats, pyramids)));
    }
    await Promise.all(fields);
  } catch (err) {
    // Started encodes finish before the caller deletes the staging group.
    await encodes.drain().catch(() => {});
    throw err;
  }
  await encodes.drain();

  async function writeField(
    f: number,
    mine: PlateBatch["planes"],
    stats: ChannelStats[],
    pyramids: TypedArray[][],
  ): Promise<void> {
    const labels = ci >= 0 ? batch.arrayAxes[ci]!.values : [];
    const attrs = withImageMetadata(imageAttrs(batch, f, version), {
      levels: sizes.length,
      ...(pixelSize ? { pixelSize } : {}),
      windows: stats.map((s) => s.window()),
      ...(image.channels ? { channels: image.channels } : {}),
      labels: labels.every((v, i) => v === String(i)) ? [] : labels,
    });
    await writeGroupInto(adapter, String(f), version, attrs);
    for (const [l, [h, w]] of sizes.entries()) {
      const shape = [...lead, h, w];
      const chunks = chunking === "well" ? shape : [...lead.map(() => 1), h, w];
      await writeArrayInto(
        adapter,
        `${f}/${l}`,
        shape,
        chunks,
        batch.dtype,
        compression,
        version,
        l === 0 ? fieldArrayAttrs(batch, f, recordAs) : {},
        dims,
      );
      if (chunking === "well" && mine.length > 0) {
        const all = new batch.dtype.ctor(shape.reduce((a, b) => a * b, 1));
        for (const [i, p] of mine.entries()) {
          const off = p.coords.reduce((a, c, k) => a + c * leadStride[k]!, 0) * h * w;
          (all as Uint8Array).set(pyramids[i]![l]! as Uint8Array, off);
        }
        chunk(`/${f}/${l}/${chunkKey(version, shape.map(() => 0))}`, rawBytes(all), true);
      }
    }
  }
}

/** True when `a` is the whole of an ArrayBuffer, so it can be moved to a worker. */
function ownsBuffer(a: TypedArray): boolean {
  return a.byteOffset === 0 && a.buffer instanceof ArrayBuffer &&
    a.byteLength === a.buffer.byteLength;
}
