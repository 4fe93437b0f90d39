/**
 * Data types and compression for the Zarr backend: the mapping between typed
 * arrays and Zarr v2/v3 data types, the codec metadata each compression
 * setting writes, and the chunk encoders. gzip/zlib use the runtime's native
 * zlib where there is one (loaded dynamically) and fflate (pure JS) elsewhere;
 * zstd and blosc need numcodecs' WASM builds and are imported only when used.
 *
 * @module
 */

import { DTYPES as KERNEL_DTYPES } from "../_internal/ndarray.ts";
import { gzipSync, zlibSync } from "npm:fflate@^0.8.3";
import * as zarr from "npm:zarrita@^0.7.5";
import type { TypedArray } from "../backends/base.ts";
import { runJob, wouldOffload } from "../_internal/workers/pool.ts";
import { loadNativeZlib, nativeZstdNow, ownedBytes } from "../_internal/native_zlib.ts";

/** A compression setting of the Zarr backend. */
export type Compression = "none" | "gzip" | "zlib" | "zstd" | "blosc";

/** Every compression name accepted. */
export const COMPRESSIONS: readonly Compression[] = ["none", "gzip", "zlib", "zstd", "blosc"];

/** A numeric Zarr data type this backend reads and writes. */
export interface DtypeInfo {
  /** Zarr v3 `data_type`. */
  v3: string;
  /** Zarr v2 `dtype` (little endian). */
  v2: string;
  /** Bytes per element. */
  size: number;
  /** The typed array class. */
  ctor: new (n: number) => TypedArray;
}

/** The kernel's dtype table (`_internal/ndarray.ts`) in Zarr's names; no float16. */
const DTYPES: DtypeInfo[] = KERNEL_DTYPES.filter((d) => d.ctor && d.name !== "float16").map((
  d,
) => ({
  v3: d.name,
  v2: `${d.size === 1 ? "|" : "<"}${d.kind}${d.size}`,
  size: d.size,
  ctor: d.ctor as unknown as new (n: number) => TypedArray,
}));

/** The Zarr data type of a typed array, or undefined for unsupported ones. */
export function dtypeOf(data: ArrayBufferView): DtypeInfo | undefined {
  if (data instanceof Uint8ClampedArray) return DTYPES[1];
  return DTYPES.find((d) => data instanceof d.ctor);
}

/** Little-endian host (every platform this library targets); checked once. */
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The raw little-endian bytes of a typed array (a view where possible). */
export function rawBytes(data: TypedArray): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE || data.BYTES_PER_ELEMENT === 1) return view;
  const out = new Uint8Array(view.length);
  const n = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < view.length; i += n) {
    for (let j = 0; j < n; j++) out[i + j] = view[i + n - 1 - j]!;
  }
  return out;
}

/** A resolved compression setting. */
export interface CompressionSpec {
  /** Which compressor. */
  name: Compression;
  /** Its level (codec-specific range). */
  level: number;
}

const DEFAULT_LEVEL: Record<Compression, number> = {
  none: 0,
  gzip: 5,
  zlib: 1,
  zstd: 1,
  blosc: 5,
};

/** Validates a compression name and level; `TypeError`/`RangeError` otherwise. */
export function resolveCompression(
  name: unknown,
  level: unknown,
  operation: string,
): CompressionSpec {
  if (typeof name !== "string" || !(COMPRESSIONS as readonly string[]).includes(name)) {
    throw new TypeError(
      `${operation}: unknown compression ${JSON.stringify(name)}; use one of ${
        COMPRESSIONS.join(", ")
      }`,
    );
  }
  const c = name as Compression;
  if (level === undefined) return { name: c, level: DEFAULT_LEVEL[c] };
  const max = c === "zstd" ? 22 : 9;
  if (typeof level !== "number" || !Number.isInteger(level) || level < 0 || level > max) {
    throw new RangeError(`${operation}: ${c} level must be an integer 0..${max}, got ${level}`);
  }
  return { name: c, level };
}

/** Zarr v3 `codecs` for a data type and compression (bytes codec, then the compressor). */
export function v3Codecs(spec: CompressionSpec, dtype: DtypeInfo): zarr.CodecMetadata[] {
  const codecs: zarr.CodecMetadata[] = [
    { name: "bytes", configuration: dtype.size > 1 ? { endian: "little" } : {} },
  ];
  switch (spec.name) {
    case "gzip":
      codecs.push({ name: "gzip", configuration: { level: spec.level } });
      break;
    case "zlib":
      codecs.push({ name: "numcodecs.zlib", configuration: { level: spec.level } });
      break;
    case "zstd":
      codecs.push({ name: "zstd", configuration: { level: spec.level, checksum: false } });
      break;
    case "blosc":
      codecs.push({
        name: "blosc",
        configuration: {
          cname: "lz4",
          clevel: spec.level,
          shuffle: dtype.size > 1 ? "shuffle" : "noshuffle",
          typesize: dtype.size,
          blocksize: 0,
        },
      });
      break;
  }
  return codecs;
}

/** Zarr v2 `compressor` (numcodecs config) for a compression, `null` for none. */
export function v2Compressor(
  spec: CompressionSpec,
  dtype: DtypeInfo,
): Record<string, unknown> | null {
  switch (spec.name) {
    case "none":
      return null;
    case "gzip":
      return { id: "gzip", level: spec.level };
    case "zlib":
      return { id: "zlib", level: spec.level };
    case "zstd":
      return { id: "zstd", level: spec.level };
    case "blosc":
      return {
        id: "blosc",
        cname: "lz4",
        clevel: spec.level,
        shuffle: dtype.size > 1 ? 1 : 0,
        blocksize: 0,
      };
  }
}

/** Options of a {@linkcode ChunkEncoder} call. */
export interface ChunkEncodeOptions {
  /**
   * The caller gives up `bytes`: when they are the whole of their buffer,
   * that buffer may be moved to a worker (detached here). Without it, large
   * chunks are still encoded, but on the calling thread (chunk pixels are
   * never copied to reach a worker).
   */
  transfer?: boolean;
}

/** Encodes chunk bytes (already little-endian element bytes). */
export type ChunkEncoder = (bytes: Uint8Array, options?: ChunkEncodeOptions) => Promise<Uint8Array>;

/** The dtype entry of an element size (any one of that size: encoders only need the size). */
export function dtypeBySize(size: number): DtypeInfo | undefined {
  return DTYPES.find((d) => d.size === size);
}

interface NumcodecsCodec {
  encode(data: Uint8Array): Promise<Uint8Array> | Uint8Array;
}
interface NumcodecsCtor {
  fromConfig(config: Record<string, unknown>, meta?: unknown): NumcodecsCodec;
}

async function numcodec(name: "zstd" | "blosc"): Promise<NumcodecsCtor> {
  // zarrita's registry imports numcodecs' WASM builds on first use only.
  const load = zarr.registry.get(name);
  if (!load) throw new Error(`zarrita has no ${name} codec`);
  return (await load()) as unknown as NumcodecsCtor;
}

/**
 * The chunk encoder of a compression (loads WASM codecs lazily). Chunks of
 * at least the pool's `zarrEncode` threshold that the caller hands over
 * (`{ transfer: true }`) are compressed on the codec worker pool, with the
 * same codec implementation and the same bytes as inline.
 *
 * @example
 * ```ts
 * import { chunkEncoder, dtypeOf } from "./codec.ts";
 * const enc = await chunkEncoder({ name: "zlib", level: 1 }, dtypeOf(new Uint16Array(1))!);
 * console.assert((await enc(new Uint8Array(4096), { transfer: true }))[0] === 0x78);
 * ```
 */
export async function chunkEncoder(
  spec: CompressionSpec,
  dtype: DtypeInfo,
): Promise<ChunkEncoder> {
  const inline = await inlineChunkEncoder(spec, dtype);
  if (spec.name === "none") return inline;
  const job = { spec: { name: spec.name, level: spec.level }, dtypeSize: dtype.size };
  return (bytes, options) => {
    const move = options?.transfer === true && bytes.byteOffset === 0 &&
      bytes.buffer instanceof ArrayBuffer && bytes.byteLength === bytes.buffer.byteLength;
    if (!move || !wouldOffload("zarrEncode", bytes.length)) return inline(bytes);
    return runJob("zarrEncode", { ...job, bytes }, {
      weight: bytes.length,
      prepare: (a) => ({ args: a, transfer: [a.bytes.buffer as ArrayBuffer] }),
    });
  };
}

/** The chunk encoder of a compression on this thread (what the pool's workers run). */
export async function inlineChunkEncoder(
  spec: CompressionSpec,
  dtype: DtypeInfo,
): Promise<ChunkEncoder> {
  switch (spec.name) {
    case "none":
      return (b) => Promise.resolve(b);
    case "gzip": {
      const z = await loadNativeZlib();
      if (z) return (b) => Promise.resolve(ownedBytes(z.gzipSync(b, { level: spec.level })));
      return (b) => Promise.resolve(gzipSync(b, { level: spec.level as 1 }));
    }
    case "zlib": {
      const z = await loadNativeZlib();
      if (z) return (b) => Promise.resolve(ownedBytes(z.deflateSync(b, { level: spec.level })));
      return (b) => Promise.resolve(zlibSync(b, { level: spec.level as 1 }));
    }
    case "zstd": {
      await loadNativeZlib();
      const z = nativeZstdNow();
      if (z) return (b) => Promise.resolve(ownedBytes(z.compress(b, spec.level)));
      const codec = (await numcodec("zstd")).fromConfig({ level: spec.level });
      return async (b) => copyOut(await codec.encode(b));
    }
    case "blosc": {
      const codec = (await numcodec("blosc")).fromConfig({
        cname: "lz4",
        clevel: spec.level,
        shuffle: dtype.size > 1 ? 1 : 0,
        blocksize: 0,
      });
      return async (b) => copyOut(await codec.encode(b));
    }
  }
}

/** WASM codecs may return views into their heap; copy them out. */
function copyOut(b: Uint8Array): Uint8Array {
  return b.slice();
}
