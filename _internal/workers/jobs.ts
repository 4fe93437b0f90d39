/**
 * The job table of the codec worker pool: each job is one pure function that
 * the pool runs either inline (small jobs, no workers, edge runtimes) or in a
 * worker (`worker.ts` imports this same table), so the serial and parallel
 * paths are the same code. A job returns its value and the buffers to move
 * back (never copied); errors cross as plain records and are rebuilt as the
 * same typed error class, code, operation and path.
 *
 * Decision: outputs the caller can size (TIFF pages) are allocated by the
 * caller with `allocBytes` and moved in with the input, so large decoded
 * arrays come from the same allocator (huge pages) whichever thread fills
 * them.
 *
 * @module
 */

import * as errors from "../../errors.ts";
import type { NdArray, TypedArray } from "../../backends/base.ts";
import { loadNativeZlib } from "../native_zlib.ts";
import type { ChunkDecoder } from "../../zarr/decode.ts";
import type { ChunkEncoder, CompressionSpec, DtypeInfo } from "../../zarr/codec.ts";
import type { DownsampleArgs } from "../../zarr/pyramid.ts";
import type { PlaneLevels, PlaneLevelsArgs } from "../../zarr/plane_job.ts";

// Codec modules load on a job's first use, so a worker that only ever decodes
// TIFF starts without Zarr, PNG or WASM code (worker start-up is paid again
// after every idle timeout on Deno, whose workers cannot be unref'd).
// Inflating waits for native zlib, which a fresh worker is still importing
// when its first job arrives (fflate would do that job 4–6× slower).
const tiffModule = () => loadNativeZlib().then(() => import("../../formats/tiff.ts"));
const pngModule = () => loadNativeZlib().then(() => import("../../formats/png.ts"));
const zarrDecodeModule = () => import("../../zarr/decode.ts");
const zarrCodecModule = () => import("../../zarr/codec.ts");
const pureCodecsModule = () => import("../codecs/zarrita_pure.ts");
const pyramidModule = () => import("../../zarr/pyramid.ts");
const planeJobModule = () => import("../../zarr/plane_job.ts");

/** A job's value and the buffers to move (not copy) with it. */
export interface JobOutput<R> {
  /** What the job produced. */
  value: R;
  /** Buffers of `value` to transfer to the other side. */
  transfer: ArrayBuffer[];
}

/** Arguments of the `tiff` job: decode every page of `bytes` into `out`. */
export interface TiffJobArgs {
  /** The encoded bytes (moved to the worker). */
  bytes: Uint8Array;
  /** The path errors name. */
  path: string;
  /** The decoded-size budget, enforced again in the worker. */
  maxDecodedBytes: number;
  /** The output, exactly the decoded size (allocated by the caller). */
  out: Uint8Array;
}

/** Arguments of the `zarrDecode` job. */
export interface ZarrDecodeArgs {
  /** The array metadata as stored (`.zarray` / `zarr.json`). */
  raw: Record<string, unknown>;
  /** Zarr format version. */
  version: 2 | 3;
  /** Whether the caller's zarrita registry had the pure-JS zstd/blosc decoders installed. */
  pure: boolean;
  /** The stored chunk. */
  encoded: Uint8Array;
  /** Elements the chunk holds. */
  elements: number;
  /** The chunk's path (errors name it). */
  key: string;
  /** The operation errors name. */
  op: string;
  /** The path errors name. */
  path: string;
}

/** Arguments of the `zarrEncode` job. */
export interface ZarrEncodeArgs {
  /** Compressor and level. */
  spec: CompressionSpec;
  /** Bytes per element (blosc shuffles by it). */
  dtypeSize: number;
  /** The encoded bytes (moved to the worker). */
  bytes: Uint8Array;
}

/** Arguments of the `pngDecode` job. */
export interface PngDecodeArgs {
  /** The encoded bytes (moved to the worker). */
  bytes: Uint8Array;
  /** The path errors name. */
  path: string;
  /** The decoded-size budget, enforced again in the worker. */
  maxDecodedBytes: number;
}

/** Arguments of the `pngEncode` job. */
export interface PngEncodeArgs {
  /** The image to encode (its pixel buffer moved to the worker). */
  value: NdArray;
  /** The path errors name. */
  path: string;
}

/** Every job: name → (arguments, value). */
export interface Jobs {
  /** TIFF pages decoded into a caller-allocated buffer; both buffers come back. */
  tiff: [TiffJobArgs, { out: Uint8Array; input: Uint8Array }];
  /** One Zarr chunk decoded to elements. */
  zarrDecode: [ZarrDecodeArgs, TypedArray];
  /** One Zarr chunk's bytes compressed. */
  zarrEncode: [ZarrEncodeArgs, Uint8Array];
  /** PNG bytes decoded. */
  pngDecode: [PngDecodeArgs, NdArray];
  /** An image encoded as PNG. */
  pngEncode: [PngEncodeArgs, Uint8Array];
  /** One pyramid level from the one above (which comes back too). */
  downsample: [DownsampleArgs, { out: TypedArray; data: TypedArray }];
  /** One plane of a plate write: histogram, pyramid and every level's chunk. */
  planeLevels: [PlaneLevelsArgs, PlaneLevels];
}

/** A job's name. */
export type JobName = keyof Jobs;

const own = (v: ArrayBufferView): ArrayBuffer[] =>
  v.buffer instanceof ArrayBuffer ? [v.buffer] : [];

const decoders = new Map<string, ChunkDecoder>();
const encoders = new Map<string, Promise<ChunkEncoder>>();

function cached<V>(m: Map<string, V>, key: string, make: () => V): V {
  let v = m.get(key);
  if (v === undefined) {
    if (m.size > 64) m.clear();
    m.set(key, v = make());
  }
  return v;
}

/** The job functions (used inline and in workers alike). */
export const JOBS: { [K in JobName]: (a: Jobs[K][0]) => Promise<JobOutput<Jobs[K][1]>> } = {
  async tiff(a) {
    const { decodeTiffInto } = await tiffModule();
    decodeTiffInto(a.bytes, a.path, { maxDecodedBytes: a.maxDecodedBytes }, a.out);
    // The input goes back too, so the caller can recycle its staging copy.
    const input = a.bytes;
    const transfer = own(a.out);
    if (input.buffer !== a.out.buffer) transfer.push(...own(input));
    return { value: { out: a.out, input }, transfer };
  },
  async zarrDecode(a) {
    // Decode as the caller would: its registry may or may not have the pure decoders.
    const pureCodecs = await pureCodecsModule();
    if (a.pure) pureCodecs.installPureDecoders();
    else pureCodecs.uninstallPureDecoders();
    const { inlineChunkDecoder } = await zarrDecodeModule();
    const dec = cached(
      decoders,
      `${a.version}:${a.pure}:${JSON.stringify(a.raw)}`,
      () => inlineChunkDecoder(a.raw, a.version, a.op, a.path),
    );
    const value = await dec.decode(a.encoded, a.elements, a.key, a.op);
    return { value, transfer: own(value) };
  },
  async zarrEncode(a) {
    const { dtypeBySize, inlineChunkEncoder } = await zarrCodecModule();
    const enc = await cached(
      encoders,
      `${a.spec.name}:${a.spec.level}:${a.dtypeSize}`,
      () => inlineChunkEncoder(a.spec, dtypeBySize(a.dtypeSize) as DtypeInfo),
    );
    const value = await enc(a.bytes);
    return { value, transfer: own(value) };
  },
  async pngDecode(a) {
    const { decodePng } = await pngModule();
    const value = decodePng(a.bytes, a.path, { maxDecodedBytes: a.maxDecodedBytes });
    return { value, transfer: own(value.data) };
  },
  async pngEncode(a) {
    const { encodePng } = await pngModule();
    const value = encodePng(a.value, a.path);
    return { value, transfer: own(value) };
  },
  async downsample(a) {
    const { downsampleJob } = await pyramidModule();
    const value = downsampleJob(a);
    return { value, transfer: [...own(value.out), ...own(value.data)] };
  },
  async planeLevels(a) {
    const { planeLevels } = await planeJobModule();
    const value = await planeLevels(a);
    // Uncompressed level 0 is the input's own buffer: list each buffer once.
    const buffers = new Set([
      ...value.chunks.flatMap(own),
      ...(value.counts ? own(value.counts) : []),
    ]);
    return { value, transfer: [...buffers] };
  },
};

/** An error as it crosses between threads. */
export interface ErrorRecord {
  /** Error class name. */
  name: string;
  /** Full message. */
  message: string;
  /** StorageError operation. */
  operation?: string;
  /** StorageError path. */
  path?: string;
  /** StorageError reason. */
  reason?: string;
  /** StorageError code. */
  code?: string;
  /** HTTP status, where there was one. */
  status?: number;
}

/** The plain record of an error (class name, code, operation, path, reason). */
export function errorRecord(err: unknown): ErrorRecord {
  if (err instanceof errors.StorageError) {
    const r: ErrorRecord = {
      name: err.name,
      message: err.message,
      operation: err.operation,
      path: err.path,
      reason: err.reason,
      code: err.code,
    };
    if (err.status !== undefined) r.status = err.status;
    return r;
  }
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: "Error", message: String(err) };
}

type StorageCtor = new (
  op: string,
  path: string,
  reason: string,
  options?: { code?: string; status?: number },
) => errors.StorageError;

const BUILTIN: Record<string, ErrorConstructor> = {
  TypeError,
  RangeError,
  SyntaxError,
  Error,
};

/** The error an {@linkcode errorRecord} stands for: same class, code, operation, path and reason. */
export function reviveError(r: ErrorRecord): Error {
  if (r.operation !== undefined && r.path !== undefined && r.reason !== undefined) {
    const exported = (errors as unknown as Record<string, unknown>)[r.name];
    const Cls = typeof exported === "function" &&
        (exported === errors.StorageError ||
          (exported as { prototype: unknown }).prototype instanceof errors.StorageError)
      ? exported as StorageCtor
      : errors.StorageError as unknown as StorageCtor;
    const options: { code?: string; status?: number } = {};
    if (r.code !== undefined) options.code = r.code;
    if (r.status !== undefined) options.status = r.status;
    const e = new Cls(r.operation, r.path, r.reason, options);
    if (r.code !== undefined && e.code !== r.code) {
      Object.defineProperty(e, "code", { value: r.code, enumerable: true });
    }
    return e;
  }
  const Ctor = BUILTIN[r.name] ?? Error;
  const e = new Ctor(r.message);
  if (!(r.name in BUILTIN)) e.name = r.name;
  return e;
}
