/**
 * Zarr array metadata (v2 and v3): parsing with typed errors, chunk keys,
 * writing metadata, splitting an n-d array into encoded chunks, and reading
 * whole arrays or single planes through zarrita with batched chunk reads.
 *
 * @module
 */

import * as zarr from "npm:zarrita@^0.7.5";
import { StorageError, UnsupportedFormatError } from "../../errors.ts";
import type { NdArray, TypedArray } from "../base.ts";
import { type ChunkEncoder, type DtypeInfo, rawBytes } from "./codec.ts";
import type { ZarrStoreAdapter } from "./store.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** JSON bytes of a metadata object (2-space indent, as zarr-python writes). */
export function jsonBytes(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value, null, 2));
}

/** Parses a metadata file; a corrupt one is a `StorageError` (code `ERR_ZARR_METADATA`). */
export function parseJson(bytes: Uint8Array, path: string, operation: string): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (err) {
    throw corrupt(operation, path, "is not valid JSON", err);
  }
}

/** The typed error for corrupt Zarr metadata. */
export function corrupt(op: string, path: string, reason: string, cause?: unknown): StorageError {
  return new StorageError(op, path, `corrupt Zarr metadata: ${reason}`, {
    code: "ERR_ZARR_METADATA",
    cause,
  });
}

/** What the backend needs to know about an array. */
export interface ArrayMeta {
  /** Zarr format. */
  version: 2 | 3;
  shape: number[];
  chunks: number[];
  /** Chunk key of chunk grid coordinates, relative to the array. */
  keyOf(coords: readonly number[]): string;
  /** User attributes (v3 `attributes`, v2 `.zattrs`). */
  attrs: Record<string, unknown>;
}

function isIntArray(x: unknown): x is number[] {
  return Array.isArray(x) && x.every((v) => Number.isInteger(v) && v >= 0);
}

/** Validates v3 array metadata (`zarr.json`). */
export function parseV3Array(json: unknown, path: string, op: string): ArrayMeta {
  const m = json as Record<string, unknown>;
  if (typeof m !== "object" || m === null || m.zarr_format !== 3 || m.node_type !== "array") {
    throw corrupt(op, path, "not a Zarr v3 array");
  }
  const grid = m.chunk_grid as { name?: unknown; configuration?: { chunk_shape?: unknown } };
  const shape = m.shape;
  const chunks = grid?.configuration?.chunk_shape;
  if (!isIntArray(shape) || !isIntArray(chunks) || chunks.length !== shape.length) {
    throw corrupt(op, path, "shape and chunk_shape must be integer lists of one length");
  }
  if (chunks.some((c) => c === 0)) throw corrupt(op, path, "chunk_shape has a zero");
  if (typeof m.data_type !== "string") throw corrupt(op, path, "data_type is missing");
  if (!Array.isArray(m.codecs)) throw corrupt(op, path, "codecs must be a list");
  const enc = (m.chunk_key_encoding ?? { name: "default" }) as {
    name?: unknown;
    configuration?: { separator?: unknown };
  };
  const sep = enc.configuration?.separator ?? (enc.name === "v2" ? "." : "/");
  if (sep !== "/" && sep !== ".") throw corrupt(op, path, "unknown chunk key separator");
  const v2Style = enc.name === "v2";
  if (!v2Style && enc.name !== "default") throw corrupt(op, path, "unknown chunk_key_encoding");
  const attrs = (m.attributes ?? {}) as Record<string, unknown>;
  return {
    version: 3,
    shape,
    chunks,
    keyOf: (c) =>
      v2Style
        ? (c.length ? c.join(sep as string) : "0")
        : ["c", ...c.map(String)].join(sep as string),
    attrs: typeof attrs === "object" && attrs !== null ? attrs : {},
  };
}

/** Validates v2 array metadata (`.zarray`, with `.zattrs` attributes). */
export function parseV2Array(json: unknown, attrs: unknown, path: string, op: string): ArrayMeta {
  const m = json as Record<string, unknown>;
  if (typeof m !== "object" || m === null || m.zarr_format !== 2) {
    throw corrupt(op, path, "not a Zarr v2 array");
  }
  const { shape, chunks } = m;
  if (!isIntArray(shape) || !isIntArray(chunks) || chunks.length !== shape.length) {
    throw corrupt(op, path, "shape and chunks must be integer lists of one length");
  }
  if (chunks.some((c) => c === 0)) throw corrupt(op, path, "chunks has a zero");
  if (typeof m.dtype !== "string") throw corrupt(op, path, "dtype must be a string");
  if (m.order !== undefined && m.order !== "C" && m.order !== "F") {
    throw corrupt(op, path, "order must be C or F");
  }
  const sep = m.dimension_separator ?? ".";
  if (sep !== "/" && sep !== ".") throw corrupt(op, path, "unknown dimension_separator");
  const a = typeof attrs === "object" && attrs !== null ? attrs as Record<string, unknown> : {};
  return {
    version: 2,
    shape,
    chunks,
    keyOf: (c) => (c.length ? c.join(sep as string) : "0"),
    attrs: a,
  };
}

/** Reads and validates the array at store key `dir` (`""` for the root), if there is one. */
export async function readArrayMeta(
  store: ZarrStoreAdapter,
  dir: string,
  path: string,
  op: string,
): Promise<ArrayMeta | undefined> {
  const k = (name: string) => (dir === "" ? `/${name}` : `/${dir}/${name}`);
  const v3 = await store.get(k("zarr.json"));
  if (v3) {
    const json = parseJson(v3, `${path}/zarr.json`, op) as Record<string, unknown>;
    if (json?.node_type !== "array") return undefined;
    return parseV3Array(json, `${path}/zarr.json`, op);
  }
  const v2 = await store.get(k(".zarray"));
  if (!v2) return undefined;
  const json = parseJson(v2, `${path}/.zarray`, op);
  const attrBytes = await store.get(k(".zattrs"));
  const attrs = attrBytes ? parseJson(attrBytes, `${path}/.zattrs`, op) : {};
  return parseV2Array(json, attrs, `${path}/.zarray`, op);
}

/** Opens an array with zarrita (metadata is read through the adapter's cache). */
export async function openArray(
  store: ZarrStoreAdapter,
  dir: string,
  meta: ArrayMeta,
  path: string,
  op: string,
): Promise<zarr.Array<zarr.DataType, zarr.Readable>> {
  try {
    const loc = zarr.root(store as unknown as zarr.Readable).resolve(dir === "" ? "/" : `/${dir}`);
    return meta.version === 3
      ? await zarr.open.v3(loc, { kind: "array" })
      : await zarr.open.v2(loc, { kind: "array", attrs: false });
  } catch (err) {
    if (err instanceof StorageError) throw err;
    throw corrupt(op, path, (err as Error)?.message ?? String(err), err);
  }
}

/** Every chunk grid coordinate of an array. */
export function chunkGrid(shape: readonly number[], chunks: readonly number[]): number[][] {
  const counts = shape.map((s, i) => Math.ceil(s / chunks[i]!));
  if (counts.some((c) => c === 0)) return [];
  const out: number[][] = [];
  const cur = counts.map(() => 0);
  for (;;) {
    out.push([...cur]);
    let d = counts.length - 1;
    while (d >= 0) {
      cur[d]!++;
      if (cur[d]! < counts[d]!) break;
      cur[d] = 0;
      d--;
    }
    if (d < 0) break;
  }
  return out;
}

/** Converts zarrita's chunk data into one of our typed arrays. */
export function toTypedArray(data: unknown, op: string, path: string): TypedArray {
  if (ArrayBuffer.isView(data) && !(data instanceof DataView)) return data as TypedArray;
  const maybeBool = data as { length?: number; get?(i: number): boolean };
  if (typeof maybeBool?.get === "function" && typeof maybeBool.length === "number") {
    const out = new Uint8Array(maybeBool.length);
    for (let i = 0; i < out.length; i++) out[i] = maybeBool.get(i) ? 1 : 0;
    return out;
  }
  throw new UnsupportedFormatError(op, path, "only numeric Zarr arrays are supported");
}

/** C-order strides (elements) of a shape. */
export function cStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Reads a whole array: every chunk fetched with one batched read, then decoded by zarrita. */
export async function readWholeArray(
  store: ZarrStoreAdapter,
  dir: string,
  meta: ArrayMeta,
  path: string,
  op: string,
): Promise<NdArray> {
  const arr = await openArray(store, dir, meta, path, op);
  const prefix = dir === "" ? "/" : `/${dir}/`;
  await store.prefetch(chunkGrid(meta.shape, meta.chunks).map((c) => prefix + meta.keyOf(c)));
  let out: { data: unknown; shape: number[]; stride: number[] };
  try {
    out = await zarr.get(arr) as typeof out;
  } catch (err) {
    if (err instanceof StorageError) throw err;
    throw corrupt(op, path, `cannot decode: ${(err as Error)?.message ?? err}`, err);
  }
  const data = toTypedArray(out.data, op, path);
  return { data, shape: out.shape, stride: out.stride ?? cStrides(out.shape) };
}

/** A C-contiguous version of an n-d array. */
function cOrder(a: NdArray): TypedArray {
  const want = cStrides(a.shape);
  const n = a.shape.reduce((x, y) => x * y, 1);
  if (a.stride.every((s, i) => s === want[i] || a.shape[i] === 1) && a.data.length >= n) {
    return a.data.length === n ? a.data : (a.data.subarray(0, n) as TypedArray);
  }
  const out = new (a.data.constructor as new (n: number) => TypedArray)(n);
  const src = a.data as unknown as ArrayLike<number | bigint>;
  const dst = out as unknown as { [i: number]: number | bigint };
  const idx = a.shape.map(() => 0);
  for (let i = 0; i < n; i++) {
    let off = 0;
    for (let d = 0; d < idx.length; d++) off += idx[d]! * a.stride[d]!;
    dst[i] = src[off]!;
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d]! < a.shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * Splits an array into chunks of `chunks` (edge chunks padded with zeros, as
 * Zarr stores them) and encodes each; returns chunk-coordinate → bytes.
 */
export async function encodeChunks(
  value: NdArray,
  chunks: readonly number[],
  dtype: DtypeInfo,
  encode: ChunkEncoder,
): Promise<{ coords: number[]; bytes: Uint8Array }[]> {
  const shape = value.shape;
  const src = cOrder(value);
  const srcStride = cStrides(shape);
  const chunkSize = chunks.reduce((a, b) => a * b, 1);
  const chunkStride = cStrides(chunks);
  const nd = shape.length;
  const out: { coords: number[]; bytes: Uint8Array }[] = [];
  for (const cc of chunkGrid(shape, chunks)) {
    const start = cc.map((c, i) => c * chunks[i]!);
    const ext = start.map((s, i) => Math.min(chunks[i]!, shape[i]! - s));
    const whole = ext.every((e, i) => e === chunks[i]);
    let data: TypedArray;
    if (whole && chunks.slice(1).every((c, i) => c === shape[i + 1])) {
      // The chunk is one contiguous run of the source.
      const off = start.reduce((a, s, i) => a + s * srcStride[i]!, 0);
      data = src.subarray(off, off + chunkSize) as TypedArray;
    } else {
      data = new dtype.ctor(chunkSize);
      const run = ext[nd - 1]!;
      const idx = ext.map(() => 0);
      const rows = ext.slice(0, -1).reduce((a, b) => a * b, 1);
      for (let r = 0; r < rows; r++) {
        let so = start[nd - 1]!;
        let doff = 0;
        for (let d = 0; d < nd - 1; d++) {
          so += (start[d]! + idx[d]!) * srcStride[d]!;
          doff += idx[d]! * chunkStride[d]!;
        }
        (data as Uint8Array).set(src.subarray(so, so + run) as Uint8Array, doff);
        for (let d = nd - 2; d >= 0; d--) {
          if (++idx[d]! < ext[d]!) break;
          idx[d] = 0;
        }
      }
    }
    out.push({ coords: cc, bytes: await encode(rawBytes(data)) });
  }
  return out;
}
