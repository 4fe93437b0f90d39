/**
 * Zarr array and group metadata (v2 and v3): parsing with typed errors and
 * chunk keys (reading), and the write side — metadata documents (v3 through
 * zarrita's `create`, v2 by hand), default chunking, and splitting an n-d
 * array into encoded chunks. Chunk decoding is in `decode.ts`.
 *
 * @module
 */

import * as zarr from "npm:zarrita@^0.7.5";
import { CorruptDataError, type StorageError } from "../errors.ts";
import { cStrides, gatherC, indexGrid } from "../_internal/ndarray.ts";
import type { NdArray, TypedArray } from "../backends/base.ts";
import {
  type ChunkEncoder,
  type CompressionSpec,
  type DtypeInfo,
  rawBytes,
  v2Compressor,
  v3Codecs,
} from "./codec.ts";
import type { NgffVersion } from "./batch.ts";
import type { ZarrStoreAdapter } from "./store.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** JSON bytes of a metadata object (2-space indent, as zarr-python writes). */
export function jsonBytes(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value, null, 2));
}

/** Parses a metadata file; a corrupt one is a `CorruptDataError` (code `ERR_CORRUPT_DATA`). */
export function parseJson(bytes: Uint8Array, path: string, operation: string): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (err) {
    throw corrupt(operation, path, "is not valid JSON", err);
  }
}

/** The typed error for corrupt Zarr metadata. */
export function corrupt(op: string, path: string, reason: string, cause?: unknown): StorageError {
  return new CorruptDataError(op, path, `corrupt Zarr metadata: ${reason}`, { cause });
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
  /** The stored metadata document (`zarr.json` or `.zarray`), for the chunk decoder. */
  raw: Record<string, unknown>;
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
    raw: m,
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
    raw: m,
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

/** Every chunk grid coordinate of an in-memory array being written (its size bounds the grid). */
export function chunkGrid(shape: readonly number[], chunks: readonly number[]): number[][] {
  return indexGrid(shape.map((s, i) => Math.ceil(s / chunks[i]!)));
}

/** A C-contiguous version of an n-d array (the kernel's one gather). */
function cOrder(a: NdArray): TypedArray {
  return gatherC(a.data, a.shape, a.stride);
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

/** Default chunk shape: leading axes 1, the last two whole up to 2048, or everything when small. */
export function defaultChunks(shape: readonly number[], itemSize: number): number[] {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n * itemSize <= 1 << 20) return shape.map((s) => Math.max(1, s));
  return shape.map((s, i) => i >= shape.length - 2 ? Math.max(1, Math.min(s, 2048)) : 1);
}

/** The key of a chunk (relative to its array) as this module writes it. */
export function chunkKey(version: NgffVersion, coords: readonly number[]): string {
  return version === "0.5" ? ["c", ...coords].join("/") : coords.length ? coords.join("/") : "0";
}

/** Buffers array metadata at store key `dir` (v3 via zarrita's `create`, v2 by hand). */
export async function writeArrayInto(
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

/** Buffers group metadata (with `attributes`) at store key `dir`. */
export async function writeGroupInto(
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
