/**
 * The array kernel: the one dtype table, C-order strides and the one C-order
 * gather, validation of `NdArray` values and byte-order handling, shared by
 * the codecs (npy, tiff, png), Zarr and the virtual workspace. No `node:*`.
 *
 * @module
 */

import { isNdArray, type NdArray, type TypedArray } from "../backends/base.ts";
import { UnsupportedFormatError } from "../errors.ts";

/** True when this machine stores numbers little-endian. */
export const HOST_LITTLE_ENDIAN: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The element kinds the codecs know: unsigned int, signed int, float. */
export type ElementKind = "u" | "i" | "f";

/** A numeric element type: kind and size in bytes. */
export interface ElementType {
  /** `u`, `i` or `f`. */
  kind: ElementKind;
  /** Bytes per element: 1, 2, 4 or 8. */
  size: 1 | 2 | 4 | 8;
}

// deno-lint-ignore no-explicit-any
type AnyCtor = new (buffer: ArrayBufferLike, byteOffset?: number, length?: number) => any;

/** `globalThis.Float16Array` where the runtime has it. */
export const Float16Ctor: AnyCtor | undefined = (globalThis as { Float16Array?: AnyCtor })
  .Float16Array;

/** One numeric element type of the dtype table. */
export interface DtypeEntry extends ElementType {
  /** NumPy / Zarr v3 name: `uint8`, `int16`, `float32`, … */
  name: string;
  /** Its typed-array class (undefined for `float16` where the runtime lacks one). */
  ctor: AnyCtor | undefined;
}

/** The one dtype table: every numeric element type the codecs and Zarr know. */
export const DTYPES: readonly DtypeEntry[] = Object.freeze(
  [
    { name: "int8", kind: "i", size: 1, ctor: Int8Array },
    { name: "uint8", kind: "u", size: 1, ctor: Uint8Array },
    { name: "int16", kind: "i", size: 2, ctor: Int16Array },
    { name: "uint16", kind: "u", size: 2, ctor: Uint16Array },
    { name: "int32", kind: "i", size: 4, ctor: Int32Array },
    { name: "uint32", kind: "u", size: 4, ctor: Uint32Array },
    { name: "int64", kind: "i", size: 8, ctor: BigInt64Array },
    { name: "uint64", kind: "u", size: 8, ctor: BigUint64Array },
    { name: "float16", kind: "f", size: 2, ctor: Float16Ctor },
    { name: "float32", kind: "f", size: 4, ctor: Float32Array },
    { name: "float64", kind: "f", size: 8, ctor: Float64Array },
  ] as const satisfies readonly DtypeEntry[],
);

/** The typed-array constructor for an element type, or undefined if the runtime lacks it. */
export function arrayClass(t: ElementType): AnyCtor | undefined {
  return DTYPES.find((d) => d.kind === t.kind && d.size === t.size)?.ctor;
}

/** The dtype-table entry of a typed array, or undefined for a view that is not one. */
export function dtypeEntryOf(data: ArrayBufferView): DtypeEntry | undefined {
  if (data instanceof Uint8ClampedArray) return DTYPES[1];
  return DTYPES.find((d) => d.ctor !== undefined && data instanceof d.ctor);
}

/** The element type of a typed array, or undefined for a view that is not one. */
export function elementTypeOf(data: ArrayBufferView): ElementType | undefined {
  const d = dtypeEntryOf(data);
  return d ? { kind: d.kind, size: d.size } : undefined;
}

/** C-order strides (in elements) of a shape. */
export function cStrides(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    stride[i] = s;
    s *= shape[i] ?? 0;
  }
  return stride;
}

/**
 * The elements of the strided view `(data, offset, shape, stride)` in C
 * order: a subarray of `data` when the view already is C-contiguous, else a
 * gathered copy. The one C-order gather; callers have checked the bounds.
 */
export function gatherC(
  data: TypedArray,
  shape: readonly number[],
  stride: readonly number[],
  offset = 0,
): TypedArray {
  const count = shape.reduce((a, b) => a * b, 1);
  const c = cStrides(shape);
  if (shape.every((n, i) => n <= 1 || stride[i] === c[i])) {
    if (offset === 0 && data.length === count) return data;
    return data.subarray(offset, offset + count) as TypedArray;
  }
  const Ctor = data.constructor as AnyCtor;
  const out = new Ctor(new ArrayBuffer(count * data.BYTES_PER_ELEMENT), 0, count) as TypedArray;
  const src = data as unknown as ArrayLike<number>;
  const dst = out as unknown as { [i: number]: number };
  const idx = new Array<number>(shape.length).fill(0);
  let off = offset;
  for (let k = 0; k < count; k++) {
    dst[k] = src[off]!;
    for (let ax = shape.length - 1; ax >= 0; ax--) {
      idx[ax]!++;
      off += stride[ax]!;
      if (idx[ax]! < shape[ax]!) break;
      off -= idx[ax]! * stride[ax]!;
      idx[ax] = 0;
    }
  }
  return out;
}

/**
 * The number of elements of a shape; throws a RangeError for a dimension that
 * is not a non-negative safe integer or a product over `limit`.
 */
export function elementCount(shape: readonly number[], limit = Number.MAX_SAFE_INTEGER): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`invalid dimension ${d}`);
    n *= d;
    if (n > limit) throw new RangeError(`array of shape [${shape.join(", ")}] is too large`);
  }
  return n;
}

/** An array value in C order, its element type, and the elements as given. */
export interface Contiguous {
  /** A C-ordered typed array of exactly `count` elements. */
  data: TypedArray;
  /** The shape. */
  shape: number[];
  /** Element type. */
  type: ElementType;
}

/**
 * Checks that `value` is an `NdArray` and returns its elements in C order
 * (the data itself when it already is, else a gathered copy). Throws a
 * TypeError for a value that is not an array of a known element type, a
 * RangeError when shape, stride and data length disagree.
 */
export function toContiguous(value: unknown): Contiguous {
  if (!isNdArray(value)) throw new TypeError("expected an array value { data, shape, stride }");
  const { data, shape, stride } = value as NdArray;
  const type = elementTypeOf(data);
  if (!type) throw new TypeError(`unsupported element type ${data.constructor.name}`);
  const count = elementCount(shape);
  if (stride.length !== shape.length) {
    throw new RangeError(`stride [${stride}] does not match shape [${shape}]`);
  }
  const c = cStrides(shape);
  let isC = true;
  let maxIndex = 0;
  for (let i = 0; i < shape.length; i++) {
    const st = stride[i]!;
    if (!Number.isSafeInteger(st) || st < 0) throw new RangeError(`invalid stride ${st}`);
    if ((shape[i] ?? 0) > 1 && st !== c[i]) isC = false;
    maxIndex += ((shape[i] ?? 1) - 1) * st;
  }
  if (count === 0) {
    return { data: data.subarray(0, 0) as TypedArray, shape: [...shape], type };
  }
  if (maxIndex >= data.length) {
    throw new RangeError(
      `data has ${data.length} elements, shape [${shape}] with stride [${stride}] needs ${
        maxIndex + 1
      }`,
    );
  }
  if (isC) {
    if (data.length !== count) {
      throw new RangeError(`data has ${data.length} elements, shape [${shape}] needs ${count}`);
    }
    return { data, shape: [...shape], type };
  }
  return { data: gatherC(data, shape, stride), shape: [...shape], type };
}

/** Reverses the byte order of every `size`-byte element of `bytes` in place. */
export function swapBytes(bytes: Uint8Array, size: number): void {
  if (size === 1) return;
  const n = bytes.length - (bytes.length % size);
  for (let i = 0; i < n; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

/**
 * A typed array of `count` elements of type `t` read from `bytes` at
 * `offset`, stored in `littleEndian` order. Returns a view without copying
 * when the offset is aligned and the byte order is the host's; otherwise a
 * native-order copy. The caller has checked that the bytes exist.
 */
export function typedView(
  bytes: Uint8Array,
  offset: number,
  count: number,
  t: ElementType,
  littleEndian: boolean,
  allowView = true,
): TypedArray {
  const Ctor = arrayClass(t);
  if (!Ctor) throw new TypeError(`no typed array for ${t.kind}${t.size * 8} on this runtime`);
  const nbytes = count * t.size;
  const start = bytes.byteOffset + offset;
  const sameOrder = t.size === 1 || littleEndian === HOST_LITTLE_ENDIAN;
  if (allowView && sameOrder && start % t.size === 0) {
    return new Ctor(bytes.buffer, start, count) as TypedArray;
  }
  const copy = bytes.slice(offset, offset + nbytes);
  if (!sameOrder) swapBytes(copy, t.size);
  return new Ctor(copy.buffer, 0, count) as TypedArray;
}

/** The raw bytes of a typed array (a view, no copy). */
export function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A short dtype name: `uint16`, `float32`, … */
export function dtypeName(t: ElementType): string {
  return `${t.kind === "u" ? "uint" : t.kind === "i" ? "int" : "float"}${t.size * 8}`;
}

/**
 * Returns `value` as an `NdArray`, or throws `UnsupportedFormatError` naming
 * the format (for JSON values, rows, … sent to an array-only format).
 */
export function requireArray(value: unknown, format: string, path: string): NdArray {
  if (!isNdArray(value)) {
    throw new UnsupportedFormatError(
      "encode",
      path,
      `${format} holds arrays ({ data, shape, stride }) only`,
    );
  }
  return value;
}

/**
 * Every index tuple below `counts`, in C order (last axis fastest). The
 * caller bounds the product first: this materialises all of them.
 */
export function indexGrid(counts: readonly number[]): number[][] {
  if (counts.some((c) => c === 0)) return [];
  const out: number[][] = [];
  const cur = counts.map(() => 0);
  for (;;) {
    out.push([...cur]);
    let d = counts.length - 1;
    while (d >= 0) {
      if (++cur[d]! < counts[d]!) break;
      cur[d] = 0;
      d--;
    }
    if (d < 0) return out;
  }
}
