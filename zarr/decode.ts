/**
 * Chunk decoding for Zarr v2 and v3 arrays with hard bounds: the dtype table
 * (anything not in it, e.g. `|S1` or `<U4`, is refused, never guessed), the
 * codec chain (zlib/gzip/zstd/blosc/lz4/crc32c), and a decoder per array
 * whose output must be exactly the chunk shape's byte size.
 *
 * Decisions: deflate (zlib/gzip) is inflated by the runtime's `node:zlib`
 * with `maxOutputLength` (else its `DecompressionStream`, else fflate's
 * streaming API, fed in small slices), so output past the expected size
 * stops the inflate at once; zstd, blosc and lz4 declare their decoded size in a header, which
 * must not exceed the expected size before the codec runs (native zstd
 * where the runtime has it, else numcodecs' WASM). `transpose` and
 * sharding are refused (`UnsupportedFormatError`) rather than half-supported.
 *
 * @module
 */

import { Inflate } from "npm:fflate@^0.8.3";
import * as zarr from "npm:zarrita@^0.7.5";
import { CorruptDataError, LimitExceededError, UnsupportedFormatError } from "../errors.ts";
import type { TypedArray } from "../backends/base.ts";
import { runJob, wouldOffload } from "../_internal/workers/pool.ts";
import {
  inflateCappedNative,
  type NativeZlib,
  nativeZlibNow,
  nativeZstdNow,
  ownedBytes,
} from "../_internal/native_zlib.ts";

/** A numeric element type as stored. */
export interface ReadDtype {
  /** The typed array it decodes into. */
  ctor: new (n: number) => TypedArray;
  /** Bytes per stored element. */
  size: number;
  /** Stored big endian. */
  big: boolean;
  /** Bool (normalised to 0/1 in a `Uint8Array`). */
  bool: boolean;
  /** The name as stored (for messages). */
  name: string;
}

const BASE: Record<string, [new (n: number) => TypedArray, number]> = {
  i1: [Int8Array, 1],
  u1: [Uint8Array, 1],
  b1: [Uint8Array, 1],
  i2: [Int16Array, 2],
  u2: [Uint16Array, 2],
  i4: [Int32Array, 4],
  u4: [Uint32Array, 4],
  i8: [BigInt64Array, 8],
  u8: [BigUint64Array, 8],
  f4: [Float32Array, 4],
  f8: [Float64Array, 8],
};
const V3: Record<string, string> = {
  bool: "b1",
  int8: "i1",
  uint8: "u1",
  int16: "i2",
  uint16: "u2",
  int32: "i4",
  uint32: "u4",
  int64: "i8",
  uint64: "u8",
  float32: "f4",
  float64: "f8",
};

/** The v2 `dtype` (`<u2`, `|u1`, `>f8`, …); anything else is `UnsupportedFormatError`. */
export function v2Dtype(dtype: unknown, op: string, path: string): ReadDtype {
  const m = typeof dtype === "string" ? /^([<>|])([iubf][1248])$/.exec(dtype) : null;
  const base = m ? BASE[m[2]!] : undefined;
  if (!m || !base || (m[1] === "|" && base[1] > 1)) {
    throw new UnsupportedFormatError(
      op,
      path,
      `Zarr dtype ${JSON.stringify(dtype)} is not supported (numeric and bool dtypes only)`,
    );
  }
  return {
    ctor: base[0],
    size: base[1],
    big: m[1] === ">",
    bool: m[2] === "b1",
    name: dtype as string,
  };
}

/** The v3 `data_type` with the endianness of its `bytes` codec. */
export function v3Dtype(dataType: unknown, big: boolean, op: string, path: string): ReadDtype {
  const k = typeof dataType === "string" ? V3[dataType] : undefined;
  const base = k ? BASE[k] : undefined;
  if (!k || !base) {
    throw new UnsupportedFormatError(
      op,
      path,
      `Zarr data_type ${JSON.stringify(dataType)} is not supported (numeric and bool types only)`,
    );
  }
  return {
    ctor: base[0],
    size: base[1],
    big: big && base[1] > 1,
    bool: k === "b1",
    name: dataType as string,
  };
}

/** Bytes → bytes decoding step; `cap` is the most output it may produce. */
type Step = (b: Uint8Array, cap: number, fail: (why: string) => never) => Promise<Uint8Array>;

const OVER = Symbol("over");

/**
 * Raw deflate with fflate (runtimes without `DecompressionStream`), fed in
 * 4 KiB slices so a bomb is stopped within one slice's output.
 */
export function inflateCapped(
  src: Uint8Array,
  cap: number,
  fail: (why: string) => never,
): Uint8Array {
  const out = new Uint8Array(cap);
  let n = 0;
  let ended = false;
  const inf = new Inflate((chunk: Uint8Array, final: boolean) => {
    if (n + chunk.length > cap) throw OVER;
    out.set(chunk, n);
    n += chunk.length;
    if (final) ended = true;
  });
  const STEP = 4096;
  try {
    if (src.length === 0) fail("empty compressed chunk");
    for (let i = 0; i < src.length; i += STEP) {
      inf.push(src.subarray(i, i + STEP), i + STEP >= src.length);
    }
  } catch (err) {
    if (err === OVER) fail(`inflates past the expected ${cap} bytes`);
    if (err instanceof CorruptDataError) throw err;
    fail(`cannot inflate: ${(err as Error)?.message ?? err}`);
  }
  if (!ended) fail("truncated deflate stream");
  return out.subarray(0, n);
}

/**
 * The runtime's native inflate (`DecompressionStream`), fed 16 KiB at a time
 * (at most ~17 MB of output per step, whatever the ratio) and read
 * concurrently, cancelled as soon as the output passes `cap`.
 */
async function inflateNative(
  src: Uint8Array,
  format: "deflate" | "gzip",
  cap: number,
  fail: (why: string) => never,
): Promise<Uint8Array> {
  const ds = new DecompressionStream(format);
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  const out = new Uint8Array(cap);
  let n = 0;
  let stop = false;
  const STEP = 16384;
  const feed = (async () => {
    for (let i = 0; i < src.length && !stop; i += STEP) {
      await writer.write(src.subarray(i, i + STEP) as Uint8Array<ArrayBuffer>);
    }
    if (!stop) await writer.close();
  })();
  feed.catch(() => {}); // a failure also errors the readable side, reported below
  let error: unknown;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (n + value.length > cap) {
        stop = true;
        break;
      }
      out.set(value, n);
      n += value.length;
    }
  } catch (err) {
    error = err;
  }
  if (stop || error !== undefined) {
    stop = true;
    await reader.cancel().catch(() => {});
    await writer.abort().catch(() => {});
    if (error === undefined) fail(`inflates past the expected ${cap} bytes`);
    fail(`cannot inflate: ${(error as Error)?.message ?? error}`);
  }
  return out.subarray(0, n);
}

const native = typeof (globalThis as { DecompressionStream?: unknown }).DecompressionStream ===
  "function";

/**
 * Inflates with the runtime's `node:zlib` in one call, stopped by
 * `maxOutputLength` one byte past `cap` (so "exactly cap" and "past cap"
 * differ): 3–5× faster than feeding `DecompressionStream` 16 KiB slices.
 */
function inflateZlibNative(
  z: NativeZlib,
  b: Uint8Array,
  format: "zlib" | "gzip",
  cap: number,
  fail: (why: string) => never,
): Uint8Array {
  const out = inflateCappedNative(z, b, format, cap, cap);
  if (out === "past") fail(`inflates past the expected ${cap} bytes`);
  // One wording whichever runtime's zlib ran (a worker and its caller must agree).
  if (out === "corrupt") fail(`cannot inflate: corrupt ${format} data`);
  return out;
}

const zlibStep: Step = (b, cap, fail) => {
  if (b.length < 2 || (b[0]! & 0x0f) !== 8 || ((b[0]! << 8) | b[1]!) % 31 !== 0 || b[1]! & 0x20) {
    fail("not a zlib stream");
  }
  const z = nativeZlibNow();
  if (z) return Promise.resolve(inflateZlibNative(z, b, "zlib", cap, fail));
  if (native) return inflateNative(b, "deflate", cap, fail);
  return Promise.resolve(inflateCapped(b.subarray(2), cap, fail));
};

const gzipStep: Step = (b, cap, fail) => {
  if (b.length < 18 || b[0] !== 0x1f || b[1] !== 0x8b || b[2] !== 8) fail("not a gzip stream");
  const flg = b[3]!;
  let p = 10;
  if (flg & 4) p += 2 + (b[p]! | (b[p + 1]! << 8));
  if (flg & 8) { while (p < b.length && b[p++] !== 0); }
  if (flg & 16) { while (p < b.length && b[p++] !== 0); }
  if (flg & 2) p += 2;
  if (p >= b.length - 8) fail("truncated gzip header");
  const isize = new DataView(b.buffer, b.byteOffset + b.length - 4, 4).getUint32(0, true);
  if (isize > cap) fail(`gzip trailer declares ${isize} bytes, more than the expected ${cap}`);
  const z = nativeZlibNow();
  if (z?.gunzipSync) return Promise.resolve(inflateZlibNative(z, b, "gzip", cap, fail));
  if (native) return inflateNative(b, "gzip", cap, fail);
  return Promise.resolve(inflateCapped(b.subarray(p, b.length - 8), cap, fail));
};

interface WasmCodec {
  decode(b: Uint8Array): Promise<Uint8Array> | Uint8Array;
}
// Keyed by zarrita's loader, not the codec's name: the pure-JS decoders can be
// installed into (and removed from) the registry after a first decode, and a
// worker decodes with whichever its caller has (a cache by name kept the first).
const wasm = new Map<unknown, Promise<WasmCodec>>();
function wasmCodec(name: "zstd" | "blosc" | "lz4"): Promise<WasmCodec> {
  const load = zarr.registry.get(name);
  if (!load) return Promise.reject(new Error(`zarrita has no ${name} codec`));
  let p = wasm.get(load);
  if (!p) {
    p = (async () => {
      const C = await load() as unknown as { fromConfig(c: unknown): WasmCodec };
      return C.fromConfig({});
    })();
    wasm.set(load, p);
  }
  return p;
}

/** Refuses a codec header that declares more bytes than the chunk can hold. */
function declaredAtMost(
  name: string,
  declared: number,
  cap: number,
  fail: (why: string) => never,
): void {
  if (declared > cap) {
    fail(`${name} header declares ${declared} bytes, more than the expected ${cap}`);
  }
}

async function runWasm(
  name: "zstd" | "blosc" | "lz4",
  b: Uint8Array,
  cap: number,
  fail: (why: string) => never,
): Promise<Uint8Array> {
  let out: Uint8Array;
  try {
    out = (await (await wasmCodec(name)).decode(b)).slice();
  } catch (err) {
    return fail(`cannot decode ${name}: ${(err as Error)?.message ?? err}`);
  }
  if (out.length > cap) fail(`decodes past the expected ${cap} bytes`);
  return out;
}

/** Frame_Content_Size of a zstd frame, or -1 when the frame does not declare it. */
function zstdContentSize(b: Uint8Array, fail: (why: string) => never): number {
  if (b.length < 6 || b[0] !== 0x28 || b[1] !== 0xb5 || b[2] !== 0x2f || b[3] !== 0xfd) {
    fail("not a zstd frame");
  }
  const fhd = b[4]!;
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const dictFlag = fhd & 3;
  let p = 5 + (single ? 0 : 1) + [0, 1, 2, 4][dictFlag]!;
  const size = fcsFlag === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fcsFlag]!;
  if (size === 0) return -1;
  if (b.length < p + size) fail("truncated zstd frame header");
  const dv = new DataView(b.buffer, b.byteOffset + p, size);
  if (size === 1) return dv.getUint8(0);
  if (size === 2) return dv.getUint16(0, true) + 256;
  if (size === 4) return dv.getUint32(0, true);
  p = dv.getUint32(4, true);
  return p * 2 ** 32 + dv.getUint32(0, true);
}

const zstdStep: Step = (b, cap, fail) => {
  const n = zstdContentSize(b, fail);
  if (n < 0) fail("zstd frame without a declared content size is refused");
  declaredAtMost("zstd", n, cap, fail);
  const z = nativeZstdNow();
  if (!z) return runWasm("zstd", b, cap, fail);
  try {
    // Later frames declare nothing we checked: the output cap bounds them.
    return Promise.resolve(ownedBytes(z.decompress(b, cap)));
  } catch (err) {
    if (err instanceof RangeError) return fail(`decodes past the expected ${cap} bytes`);
    return fail(`cannot decode zstd: ${zstdReason(err)}`);
  }
};

/** A native zstd error's reason without the runtime's prefix (Deno adds "Zstd decompress error: "). */
function zstdReason(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.replace(/^zstd decompress(ion)? error:\s*/i, "");
}

const bloscStep: Step = (b, cap, fail) => {
  if (b.length < 16) fail("truncated blosc header");
  const dv = new DataView(b.buffer, b.byteOffset, 16);
  const nbytes = dv.getUint32(4, true);
  const cbytes = dv.getUint32(12, true);
  if (cbytes !== b.length) {
    fail(`blosc header declares ${cbytes} compressed bytes, has ${b.length}`);
  }
  declaredAtMost("blosc", nbytes, cap, fail);
  // As c-blosc 1.x (Python's numcodecs) and the pure decoder: a compressed
  // chunk's compressor format byte must be 1; numcodecs.js' build does not check.
  if ((b[2]! & 2) === 0 && b[1] !== 1) fail(`blosc compressor format version ${b[1]}, not 1`);
  return runWasm("blosc", b, cap, fail);
};

const lz4Step: Step = (b, cap, fail) => {
  if (b.length < 4) fail("truncated lz4 header");
  const n = new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
  declaredAtMost("lz4", n, cap, fail);
  return runWasm("lz4", b, cap, fail);
};

const crcStep: Step = (b, _cap, fail) => {
  if (b.length < 4) fail("chunk shorter than its crc32c checksum");
  return Promise.resolve(b.subarray(0, b.length - 4));
};

const STEPS: Record<string, Step> = {
  zlib: zlibStep,
  gzip: gzipStep,
  zstd: zstdStep,
  blosc: bloscStep,
  lz4: lz4Step,
};

function stepOf(name: string, op: string, path: string): Step {
  const bare = name.startsWith("numcodecs.") ? name.slice("numcodecs.".length) : name;
  const s = bare === "crc32c" ? crcStep : STEPS[bare];
  if (!s) {
    throw new UnsupportedFormatError(
      op,
      path,
      `Zarr codec ${JSON.stringify(name)} is not supported`,
    );
  }
  return s;
}

/** How to turn one stored chunk into elements. */
export interface ChunkDecoder {
  /** Element type. */
  dtype: ReadDtype;
  /** Decodes a chunk of `elements` elements; errors name `key`. */
  decode(encoded: Uint8Array, elements: number, key: string, op: string): Promise<TypedArray>;
}

const PURE = Symbol.for("hcs-store.pure-decoders");

/**
 * The decoder of an array from its stored metadata (`.zarray` or v3
 * `zarr.json`). Unknown dtypes, filters and codecs are refused here.
 * Compressed chunks of at least the pool's `zarrDecode` threshold are
 * decoded on the codec worker pool (same codecs, same result and errors;
 * the compressed bytes are copied for the worker, the decoded ones moved
 * back).
 */
export function chunkDecoder(
  raw: Record<string, unknown>,
  version: 2 | 3,
  op: string,
  path: string,
): ChunkDecoder {
  const inline = inlineChunkDecoder(raw, version, op, path);
  const compressed = version === 2
    ? raw.compressor !== null && raw.compressor !== undefined
    : Array.isArray(raw.codecs) && raw.codecs.length > 1;
  if (!compressed) return inline;
  return {
    dtype: inline.dtype,
    decode(encoded, elements, key, op2) {
      const weight = elements * inline.dtype.size;
      if (!wouldOffload("zarrDecode", weight)) return inline.decode(encoded, elements, key, op2);
      const pure = (zarr.registry as unknown as { [PURE]?: unknown })[PURE] !== undefined;
      return runJob(
        "zarrDecode",
        { raw, version, pure, encoded, elements, key, op: op2, path },
        {
          weight,
          prepare: (a) => {
            const copy = a.encoded.slice();
            return { args: { ...a, encoded: copy }, transfer: [copy.buffer as ArrayBuffer] };
          },
        },
      );
    },
  };
}

/** {@linkcode chunkDecoder} on this thread only (what the pool's workers run). */
export function inlineChunkDecoder(
  raw: Record<string, unknown>,
  version: 2 | 3,
  op: string,
  path: string,
): ChunkDecoder {
  let dtype: ReadDtype;
  const steps: Step[] = [];
  let slack = 0;
  if (version === 2) {
    dtype = v2Dtype(raw.dtype, op, path);
    if (
      raw.filters !== undefined && raw.filters !== null &&
      !(Array.isArray(raw.filters) && raw.filters.length === 0)
    ) {
      throw new UnsupportedFormatError(op, path, "Zarr v2 filters are not supported");
    }
    const c = raw.compressor as { id?: unknown } | null | undefined;
    if (c !== null && c !== undefined) {
      if (typeof c !== "object" || typeof c.id !== "string") {
        throw new UnsupportedFormatError(op, path, "unknown Zarr v2 compressor");
      }
      steps.push(stepOf(c.id, op, path));
    }
  } else {
    const codecs = Array.isArray(raw.codecs)
      ? raw.codecs as { name?: unknown; configuration?: { endian?: unknown } }[]
      : [];
    let big = false;
    let seenBytes = false;
    for (const c of codecs) {
      const name = typeof c?.name === "string" ? c.name : "";
      if (name === "bytes") {
        if (seenBytes) throw new UnsupportedFormatError(op, path, "two bytes codecs");
        seenBytes = true;
        big = c.configuration?.endian === "big";
        continue;
      }
      if (!seenBytes) {
        throw new UnsupportedFormatError(
          op,
          path,
          `Zarr codec ${JSON.stringify(name)} is not supported`,
        );
      }
      if (name === "crc32c" || name === "numcodecs.crc32c") slack += 4;
      steps.push(stepOf(name, op, path));
    }
    if (!seenBytes) throw new UnsupportedFormatError(op, path, "no bytes codec");
    dtype = v3Dtype(raw.data_type, big, op, path);
  }
  return {
    dtype,
    async decode(encoded, elements, key, op2) {
      const expected = elements * dtype.size;
      const fail = (why: string): never => {
        throw new CorruptDataError(op2, key, `corrupt chunk: ${why}`);
      };
      let b = encoded;
      for (let i = steps.length - 1; i >= 0; i--) b = await steps[i]!(b, expected + slack, fail);
      if (b.length !== expected) {
        fail(`decodes to ${b.length} bytes, the chunk shape needs ${expected}`);
      }
      // A buffer the codec chain produced for us alone can become the array without a copy.
      return toElements(b, dtype, elements, b !== encoded);
    },
  };
}

/**
 * The decoded bytes as a typed array (a view of `b` when `own` and aligned,
 * else a copy), big-endian bytes swapped and bools normalised to 0/1.
 */
function toElements(b: Uint8Array, dtype: ReadDtype, n: number, own: boolean): TypedArray {
  let out: TypedArray;
  let view: Uint8Array;
  if (own && b.byteOffset % dtype.size === 0) {
    out = new (dtype.ctor as unknown as new (b: ArrayBuffer, o: number, n: number) => TypedArray)(
      b.buffer as ArrayBuffer,
      b.byteOffset,
      n,
    );
    view = b;
  } else {
    out = new dtype.ctor(n);
    view = new Uint8Array(out.buffer);
    view.set(b);
  }
  if (dtype.big) {
    const s = dtype.size;
    for (let i = 0; i < view.length; i += s) {
      for (let j = 0; j < s >> 1; j++) {
        const t = view[i + j]!;
        view[i + j] = view[i + s - 1 - j]!;
        view[i + s - 1 - j] = t;
      }
    }
  }
  if (dtype.bool) { for (let i = 0; i < view.length; i++) view[i] = view[i] ? 1 : 0; }
  return out;
}

/** The fill value of an array as an element (`0` for `null`). */
export function fillValue(
  raw: unknown,
  dtype: ReadDtype,
  op: string,
  path: string,
): number | bigint {
  const big = dtype.ctor === BigInt64Array || dtype.ctor === BigUint64Array;
  let v: number;
  if (raw === null || raw === undefined) v = 0;
  else if (typeof raw === "boolean") v = raw ? 1 : 0;
  else if (typeof raw === "number") v = raw;
  else if (raw === "NaN") v = NaN;
  else if (raw === "Infinity") v = Infinity;
  else if (raw === "-Infinity") v = -Infinity;
  else {throw new UnsupportedFormatError(
      op,
      path,
      `fill_value ${JSON.stringify(raw)} is not supported`,
    );}
  if (big) {
    if (!Number.isSafeInteger(v)) {
      throw new UnsupportedFormatError(
        op,
        path,
        `fill_value ${JSON.stringify(raw)} for a 64-bit integer`,
      );
    }
    return BigInt(v);
  }
  return v;
}

/**
 * Product of `dims` times `itemSize`, refusing (`LimitExceededError`) any
 * result that is not a safe integer or passes `budget`.
 */
export function boundedBytes(
  dims: readonly number[],
  itemSize: number,
  budget: number,
  op: string,
  path: string,
  what: string,
): number {
  let n = itemSize;
  for (const d of dims) {
    n *= d;
    if (!Number.isSafeInteger(n) || n > budget) {
      throw new LimitExceededError(
        op,
        path,
        `${what} of shape [${dims}] needs more than the maxDecodedBytes budget of ${budget} bytes`,
      );
    }
  }
  return n;
}

/** The v3-style name of an array's element type (`uint16`), from either format's metadata. */
export function dtypeName(raw: Record<string, unknown>, version: 2 | 3): string {
  if (version === 3) return String(raw.data_type);
  const m = /^[<>|]([iubf])([1248])$/.exec(String(raw.dtype));
  if (!m) return String(raw.dtype);
  if (m[1] === "b") return "bool";
  const kind = m[1] === "i" ? "int" : m[1] === "u" ? "uint" : "float";
  return `${kind}${Number(m[2]) * 8}`;
}
