/**
 * Reading Zarr arrays: a whole array, or 2-D planes (the last two axes at
 * given leading coordinates) of one or more arrays, with every chunk fetched
 * in one batched read and decoded at most once.
 *
 * Decision: sizes are checked before anything is allocated or enumerated —
 * the output against `maxDecodedBytes`, each chunk against the same budget,
 * and the number of chunks one read touches against
 * {@linkcode MAX_CHUNKS_PER_READ} — so a tiny `.zarray` declaring `2**40`
 * elements fails in microseconds instead of materialising its chunk grid.
 *
 * @module
 */

import { LimitExceededError } from "../errors.ts";
import { reportedCores } from "../_internal/cores.ts";
import type { NdArray, TypedArray } from "../backends/base.ts";
import { cStrides, indexGrid } from "../_internal/ndarray.ts";
import { type ArrayMeta, readArrayMeta } from "./array.ts";
import { type ByteStore, isMissing, ZarrStoreAdapter } from "./store.ts";
import { boundedBytes, type ChunkDecoder, chunkDecoder, fillValue } from "./decode.ts";

/** Most chunks one read may touch (a documented limit; `LimitExceededError` past it). */
export const MAX_CHUNKS_PER_READ = 1 << 16;

const decoders = new WeakMap<ArrayMeta, ChunkDecoder>();

/** The (cached) chunk decoder of an array. */
export function decoderOf(meta: ArrayMeta, op: string, path: string): ChunkDecoder {
  let d = decoders.get(meta);
  if (!d) decoders.set(meta, d = chunkDecoder(meta.raw, meta.version, op, path));
  return d;
}

/** Chunk counts per axis of a region, refused past {@linkcode MAX_CHUNKS_PER_READ}. */
function chunkCounts(
  extent: readonly number[],
  chunks: readonly number[],
  op: string,
  path: string,
): number[] {
  let total = 1;
  const counts = extent.map((s, i) => Math.ceil(s / chunks[i]!));
  for (const c of counts) {
    total *= c;
    if (total > MAX_CHUNKS_PER_READ) {
      throw new LimitExceededError(
        op,
        path,
        `reading it touches more than ${MAX_CHUNKS_PER_READ} chunks (chunk shape [${chunks}])`,
      );
    }
  }
  return counts;
}

function fStrides(shape: readonly number[]): number[] {
  const s: number[] = [];
  let acc = 1;
  for (const n of shape) {
    s.push(acc);
    acc *= n;
  }
  return s;
}

/** Copies an `ext`-shaped box from `src` to `dst` (element offsets and strides). */
function copyBox(
  src: TypedArray,
  srcStride: readonly number[],
  srcOff: number,
  dst: TypedArray,
  dstStride: readonly number[],
  dstOff: number,
  ext: readonly number[],
): void {
  const nd = ext.length;
  if (nd === 0 || ext.some((e) => e === 0)) return;
  const last = nd - 1;
  const idx = new Array<number>(last).fill(0);
  const s = src as unknown as ArrayLike<number | bigint>;
  const d = dst as unknown as { [i: number]: number | bigint };
  for (;;) {
    let so = srcOff;
    let dof = dstOff;
    for (let k = 0; k < last; k++) {
      so += idx[k]! * srcStride[k]!;
      dof += idx[k]! * dstStride[k]!;
    }
    if (srcStride[last] === 1 && dstStride[last] === 1) {
      (dst as Uint8Array).set((src as Uint8Array).subarray(so, so + ext[last]!), dof);
    } else {
      for (let x = 0; x < ext[last]!; x++) {
        d[dof + x * dstStride[last]!] = s[so + x * srcStride[last]!]!;
      }
    }
    let k = last - 1;
    while (k >= 0) {
      if (++idx[k]! < ext[k]!) break;
      idx[k] = 0;
      k--;
    }
    if (k < 0) return;
  }
}

function filled(
  dec: ChunkDecoder,
  meta: ArrayMeta,
  n: number,
  op: string,
  path: string,
): TypedArray {
  const out = new dec.dtype.ctor(n);
  const f = fillValue(meta.raw.fill_value, dec.dtype, op, path);
  if (f !== 0 && f !== 0n) (out as unknown as { fill(v: unknown): void }).fill(f);
  return out;
}

function chunkStride(meta: ArrayMeta): number[] {
  return meta.version === 2 && meta.raw.order === "F"
    ? fStrides(meta.chunks)
    : cStrides(meta.chunks);
}

/**
 * Reads a whole array (store key `dir`, `""` for the adapter root) within
 * `budget` bytes.
 */
export async function readWhole(
  store: ZarrStoreAdapter,
  dir: string,
  meta: ArrayMeta,
  path: string,
  op: string,
  budget: number,
): Promise<NdArray> {
  const dec = decoderOf(meta, op, path);
  const size = dec.dtype.size;
  const total = boundedBytes(meta.shape, size, budget, op, path, "the array");
  boundedBytes(meta.chunks, size, budget, op, path, "one chunk");
  const counts = chunkCounts(meta.shape, meta.chunks, op, path);
  const n = total / size;
  const out = filled(dec, meta, n, op, path);
  const outStride = cStrides(meta.shape);
  const prefix = dir === "" ? "/" : `/${dir}/`;
  const cells = indexGrid(counts);
  await store.prefetch(cells.map((c) => prefix + meta.keyOf(c)));
  const chunkElems = meta.chunks.reduce((a, b) => a * b, 1);
  const cs = chunkStride(meta);
  for (const cc of cells) {
    const key = prefix + meta.keyOf(cc);
    const bytes = await store.get(key);
    if (!bytes) continue;
    const data = await dec.decode(bytes, chunkElems, store.pathOf(key), op);
    const start = cc.map((c, i) => c * meta.chunks[i]!);
    const ext = start.map((s, i) => Math.min(meta.chunks[i]!, meta.shape[i]! - s));
    const dstOff = start.reduce((a, s, i) => a + s * outStride[i]!, 0);
    copyBox(data, cs, 0, out, outStride, dstOff, ext);
  }
  return { data: out, shape: [...meta.shape], stride: outStride };
}

/** The whole array at `path` of `bytes`, or undefined when `path` holds no array. */
export async function readArrayAt(
  bytes: ByteStore,
  path: string,
  op: string,
  budget: number,
): Promise<NdArray | undefined> {
  const adapter = new ZarrStoreAdapter(bytes, path);
  let meta: ArrayMeta | undefined;
  try {
    meta = await readArrayMeta(adapter, "", path, op);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  return meta ? await readWhole(adapter, "", meta, path, op, budget) : undefined;
}

/** One plane to read: the array at store key `dir` and the plane's leading coordinates. */
export interface PlaneRequest {
  /** Array directory (store key). */
  dir: string;
  /** Its metadata. */
  meta: ArrayMeta;
  /** Index on each leading axis. */
  coords: number[];
}

/**
 * Reads `y × x` planes; chunks shared by several planes are fetched (one
 * batched read) and decoded once; a chunk that is exactly one plane is handed
 * out without a copy the first time.
 */
export async function readPlanes(
  store: ZarrStoreAdapter,
  requests: readonly PlaneRequest[],
  op: string,
  budget: number,
): Promise<NdArray[]> {
  const plans = requests.map((r) => {
    const m = r.meta;
    const path = store.pathOf(`/${r.dir}`);
    const dec = decoderOf(m, op, path);
    const nd = m.shape.length;
    const h = m.shape[nd - 2]!;
    const w = m.shape[nd - 1]!;
    boundedBytes([h, w], dec.dtype.size, budget, op, path, "a plane");
    boundedBytes(m.chunks, dec.dtype.size, budget, op, path, "one chunk");
    const counts = chunkCounts([h, w], m.chunks.slice(nd - 2), op, path);
    const lead = r.coords.map((c, i) => Math.floor(c / m.chunks[i]!));
    const cells = indexGrid(counts).map((t) => [...lead, ...t]);
    return { r, path, dec, h, w, cells, keys: cells.map((c) => `/${r.dir}/${m.keyOf(c)}`) };
  });
  const all = plans.reduce((a, p) => a + p.keys.length, 0);
  if (all > MAX_CHUNKS_PER_READ) {
    throw new LimitExceededError(
      op,
      store.root,
      `reading touches more than ${MAX_CHUNKS_PER_READ} chunks`,
    );
  }
  await store.prefetch(plans.flatMap((p) => p.keys));
  const decoded = new Map<string, Promise<TypedArray | undefined>>();
  // Decodes start up to DECODES_AHEAD chunks before the one being copied, so
  // the codec pool's workers all have work (bounded: decoded chunks that are
  // not a whole plane are held only until copied).
  const order = plans.flatMap((p) => p.keys.map((key) => ({ p, key })));
  let started = 0;
  const startUpTo = (end: number) => {
    for (; started < Math.min(end, order.length); started++) {
      const { p, key } = order[started]!;
      if (decoded.has(key)) continue;
      const chunkElems = p.r.meta.chunks.reduce((a, b) => a * b, 1);
      const d = store.get(key).then((b) =>
        b ? p.dec.decode(b, chunkElems, store.pathOf(key), op) : undefined
      );
      d.catch(() => {}); // awaited below in order; a failure is reported there
      decoded.set(key, d);
    }
  };
  let at = 0;
  const handedOut = new Set<string>();
  const out: NdArray[] = [];
  for (const p of plans) {
    const m = p.r.meta;
    const nd = m.shape.length;
    const chunkElems = m.chunks.reduce((a, b) => a * b, 1);
    const cs = chunkStride(m);
    const single = p.cells.length === 1;
    let plane: TypedArray | undefined;
    for (let k = 0; k < p.cells.length; k++) {
      const cc = p.cells[k]!;
      const key = p.keys[k]!;
      startUpTo(++at + DECODES_AHEAD);
      const data = await decoded.get(key)!;
      const start = cc.map((c, i) => c * m.chunks[i]!);
      // Offset of the plane's first element inside the chunk (leading axes only).
      let srcOff = 0;
      for (let i = 0; i < nd - 2; i++) srcOff += (p.r.coords[i]! - start[i]!) * cs[i]!;
      const y0 = start[nd - 2]!;
      const x0 = start[nd - 1]!;
      const ext = [Math.min(m.chunks[nd - 2]!, p.h - y0), Math.min(m.chunks[nd - 1]!, p.w - x0)];
      const exact = single && data !== undefined && chunkElems === p.h * p.w && srcOff === 0 &&
        cs[nd - 1] === 1 && cs[nd - 2] === p.w;
      if (exact && !handedOut.has(key)) {
        handedOut.add(key);
        plane = data;
        break;
      }
      plane ??= data ? new p.dec.dtype.ctor(p.h * p.w) : filled(p.dec, m, p.h * p.w, op, p.path);
      if (!data) {
        if (!single) {
          const fill = filled(p.dec, m, ext[0]! * ext[1]!, op, p.path);
          copyBox(fill, [ext[1]!, 1], 0, plane, [p.w, 1], y0 * p.w + x0, ext);
        }
        continue;
      }
      copyBox(data, cs.slice(nd - 2), srcOff, plane, [p.w, 1], y0 * p.w + x0, ext);
    }
    plane ??= filled(p.dec, m, p.h * p.w, op, p.path);
    out.push({ data: plane, shape: [p.h, p.w], stride: [p.w, 1] });
  }
  return out;
}

/** Chunk decodes a plane read keeps started ahead of the one it copies (2 × cores + 1). */
const DECODES_AHEAD: number = 2 * (reportedCores() ?? 2) + 1;
