/**
 * Private helpers shared by the array codecs (npy, tiff, png): element types,
 * C-order strides, validation of `NdArray` values and byte-order handling.
 * Pure TypeScript (no `node:*`), so the codecs run on edge runtimes too.
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

/** The typed-array constructor for an element type, or undefined if the runtime lacks it. */
export function arrayClass(t: ElementType): AnyCtor | undefined {
  switch (`${t.kind}${t.size}`) {
    case "u1":
      return Uint8Array;
    case "i1":
      return Int8Array;
    case "u2":
      return Uint16Array;
    case "i2":
      return Int16Array;
    case "u4":
      return Uint32Array;
    case "i4":
      return Int32Array;
    case "u8":
      return BigUint64Array;
    case "i8":
      return BigInt64Array;
    case "f2":
      return Float16Ctor;
    case "f4":
      return Float32Array;
    case "f8":
      return Float64Array;
  }
  return undefined;
}

/** The element type of a typed array, or undefined for a view that is not one. */
export function elementTypeOf(data: ArrayBufferView): ElementType | undefined {
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) {
    return { kind: "u", size: 1 };
  }
  if (data instanceof Int8Array) return { kind: "i", size: 1 };
  if (data instanceof Uint16Array) return { kind: "u", size: 2 };
  if (data instanceof Int16Array) return { kind: "i", size: 2 };
  if (data instanceof Uint32Array) return { kind: "u", size: 4 };
  if (data instanceof Int32Array) return { kind: "i", size: 4 };
  if (data instanceof BigUint64Array) return { kind: "u", size: 8 };
  if (data instanceof BigInt64Array) return { kind: "i", size: 8 };
  if (data instanceof Float32Array) return { kind: "f", size: 4 };
  if (data instanceof Float64Array) return { kind: "f", size: 8 };
  if (Float16Ctor && data instanceof Float16Ctor) return { kind: "f", size: 2 };
  return undefined;
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
  // Gather a strided view into a fresh C-ordered array.
  const Ctor = data.constructor as AnyCtor;
  const out = new Ctor(new ArrayBuffer(count * type.size), 0, count) as TypedArray;
  const src = data as unknown as ArrayLike<number>;
  const dst = out as unknown as { [i: number]: number };
  const idx = new Array<number>(shape.length).fill(0);
  let off = 0;
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
  return { data: out, shape: [...shape], type };
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
