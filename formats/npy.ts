/**
 * NumPy `.npy` codec (format versions 1.0, 2.0 and 3.0), pure TypeScript.
 *
 * - dtypes: bool (loaded as `Uint8Array`), int8..int64, uint8..uint64 (64-bit
 *   as `BigInt64Array` / `BigUint64Array`), float32, float64, and float16
 *   where the runtime has `Float16Array` (otherwise `UnsupportedFormatError`);
 * - reads little- and big-endian files (big-endian data is converted to the
 *   host's order) and Fortran-order files (transposed to C order);
 * - writes C order in the host's byte order (little-endian on every common
 *   machine), version 1.0 unless the header needs 2.0;
 * - complex, object, string, datetime and structured dtypes throw
 *   `UnsupportedFormatError`.
 *
 * A decoded array may be a view over the input bytes (no copy) when the data
 * is aligned, C-ordered and in the host's byte order.
 *
 * @example
 * ```ts
 * import { decodeNpy, encodeNpy } from "@hcs/store/formats";
 * const bytes = encodeNpy({ data: new Uint16Array([1, 2, 3, 4, 5, 6]), shape: [2, 3], stride: [3, 1] });
 * const back = decodeNpy(bytes);
 * console.assert(back.shape.join() === "2,3" && back.data[5] === 6);
 * ```
 *
 * @module
 */

import type { NdArray, TypedArray } from "../backends/base.ts";
import { CorruptDataError, type StorageError, UnsupportedFormatError } from "../errors.ts";
import type { FormatCodec } from "./mod.ts";
import { checkDecodedSize, decodedBudget, type DecodeLimits } from "../_internal/limits.ts";
import {
  arrayClass,
  bytesOf,
  cStrides,
  elementCount,
  type ElementType,
  HOST_LITTLE_ENDIAN,
  requireArray,
  toContiguous,
  typedView,
} from "../_internal/ndarray.ts";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

function corrupt(path: string, reason: string): StorageError {
  return new CorruptDataError("decode", path, reason);
}

/** The parsed header of an `.npy` file. */
export interface NpyHeader {
  /** The dtype string as written (`<u2`, `|b1`, …). */
  descr: string;
  /** True when the data is in Fortran (column-major) order. */
  fortranOrder: boolean;
  /** The array shape. */
  shape: number[];
  /** Byte offset of the data in the file. */
  dataOffset: number;
}

/** Parses the Python-literal header dict `{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), }`. */
function parseHeaderDict(text: string, path: string): Omit<NpyHeader, "dataOffset"> {
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\r\n".includes(text[i]!)) i++;
  };
  const expect = (ch: string) => {
    ws();
    if (text[i] !== ch) throw corrupt(path, `npy header: expected '${ch}' at ${i}`);
    i++;
  };
  const str = (): string => {
    ws();
    const q = text[i];
    if (q !== "'" && q !== '"') throw corrupt(path, `npy header: expected a string at ${i}`);
    const end = text.indexOf(q, i + 1);
    if (end < 0) throw corrupt(path, "npy header: unterminated string");
    const s = text.slice(i + 1, end);
    i = end + 1;
    return s;
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === "'" || c === '"') return str();
    if (text.startsWith("True", i)) {
      i += 4;
      return true;
    }
    if (text.startsWith("False", i)) {
      i += 5;
      return false;
    }
    if (c === "(") {
      i++;
      const items: number[] = [];
      for (;;) {
        ws();
        if (text[i] === ")") {
          i++;
          return items;
        }
        const m = /^\d+/.exec(text.slice(i, i + 32));
        if (!m) throw corrupt(path, `npy header: bad shape entry at ${i}`);
        items.push(Number(m[0].replace(/L$/, "")));
        i += m[0].length;
        if (text[i] === "L") i++; // Python 2 longs
        ws();
        if (text[i] === ",") i++;
        else if (text[i] !== ")") throw corrupt(path, `npy header: bad shape at ${i}`);
      }
    }
    if (c === "[" || c === "{") {
      // a structured dtype: skip the nested literal (quotes respected)
      let depth = 0;
      for (; i < text.length; i++) {
        const ch = text[i]!;
        if (ch === "'" || ch === '"') {
          const end = text.indexOf(ch, i + 1);
          if (end < 0) break;
          i = end;
        } else if (ch === "[" || ch === "(" || ch === "{") depth++;
        else if (ch === "]" || ch === ")" || ch === "}") {
          if (--depth === 0) {
            i++;
            return "__structured__";
          }
        }
      }
      throw corrupt(path, "npy header: unterminated dtype list");
    }
    throw corrupt(path, `npy header: unexpected value at ${i}`);
  };
  const fields = new Map<string, unknown>();
  expect("{");
  for (;;) {
    ws();
    if (text[i] === "}") {
      i++;
      break;
    }
    const key = str();
    expect(":");
    fields.set(key, value());
    ws();
    if (text[i] === ",") i++;
    else if (text[i] !== "}") throw corrupt(path, `npy header: expected ',' or '}' at ${i}`);
  }
  const descr = fields.get("descr");
  const fortran = fields.get("fortran_order");
  const shape = fields.get("shape");
  if (descr === "__structured__") {
    throw new UnsupportedFormatError("decode", path, "structured npy dtypes are not supported");
  }
  if (typeof descr !== "string" || typeof fortran !== "boolean" || !Array.isArray(shape)) {
    throw corrupt(path, "npy header lacks descr, fortran_order or shape");
  }
  return { descr, fortranOrder: fortran, shape: shape as number[] };
}

/**
 * Reads the header of an `.npy` file (magic, version, header dict).
 *
 * @example
 * ```ts
 * import { encodeNpy, readNpyHeader } from "@hcs/store/formats";
 * const h = readNpyHeader(encodeNpy({ data: new Float32Array(6), shape: [2, 3], stride: [3, 1] }));
 * console.assert(h.descr === "<f4" && h.shape.join() === "2,3" && h.dataOffset % 64 === 0);
 * ```
 */
export function readNpyHeader(bytes: Uint8Array, path = "<npy>"): NpyHeader {
  if (bytes.length < 10 || MAGIC.some((b, k) => bytes[k] !== b)) {
    throw corrupt(path, "not an npy file (bad magic)");
  }
  const major = bytes[6]!;
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = bytes[8]! | (bytes[9]! << 8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw corrupt(path, "truncated npy header");
    headerLen = (bytes[8]! | (bytes[9]! << 8) | (bytes[10]! << 16)) + bytes[11]! * 2 ** 24;
    start = 12;
  } else {
    throw new UnsupportedFormatError(
      "decode",
      path,
      `npy format version ${major} is not supported`,
    );
  }
  if (start + headerLen > bytes.length) {
    throw corrupt(path, `truncated npy header (${headerLen} bytes announced)`);
  }
  const raw = bytes.subarray(start, start + headerLen);
  let text: string;
  try {
    text = new TextDecoder(major === 3 ? "utf-8" : "latin1", { fatal: true }).decode(raw);
  } catch {
    throw corrupt(path, "npy header is not valid text");
  }
  return { ...parseHeaderDict(text, path), dataOffset: start + headerLen };
}

interface Dtype {
  type: ElementType;
  littleEndian: boolean;
  bool: boolean;
}

function parseDescr(descr: string, path: string): Dtype {
  const m = /^([<>|=]?)([a-zA-Z?])(\d*)$/.exec(descr);
  if (!m) throw new UnsupportedFormatError("decode", path, `npy dtype '${descr}' is not supported`);
  const [, order, kind, sizeText] = m;
  const size = Number(sizeText || "0");
  const littleEndian = order === ">" ? false : order === "=" ? HOST_LITTLE_ENDIAN : true;
  if ((kind === "b" || kind === "?") && (size === 1 || sizeText === "")) {
    return { type: { kind: "u", size: 1 }, littleEndian, bool: true };
  }
  if ((kind === "i" || kind === "u") && [1, 2, 4, 8].includes(size)) {
    return { type: { kind: kind, size: size as 1 | 2 | 4 | 8 }, littleEndian, bool: false };
  }
  if (kind === "f" && [2, 4, 8].includes(size)) {
    const type: ElementType = { kind: "f", size: size as 2 | 4 | 8 };
    if (!arrayClass(type)) {
      throw new UnsupportedFormatError(
        "decode",
        path,
        "float16 npy data needs Float16Array, which this runtime lacks",
      );
    }
    return { type, littleEndian, bool: false };
  }
  const what = kind === "c"
    ? "complex"
    : kind === "O"
    ? "object"
    : kind === "f"
    ? `float${size * 8}`
    : `'${descr}'`;
  throw new UnsupportedFormatError("decode", path, `npy dtype ${what} is not supported`);
}

/** Reorders a Fortran-ordered array of `shape` into C order (a new array). */
function fortranToC(src: TypedArray, shape: readonly number[]): TypedArray {
  const n = src.length;
  const Ctor = src.constructor as new (n: number) => TypedArray;
  const out = new Ctor(n);
  const ndim = shape.length;
  if (ndim < 2) {
    (out as unknown as { set(a: ArrayLike<unknown>): void }).set(src as ArrayLike<unknown>);
    return out;
  }
  // Fortran strides: first axis fastest.
  const fStride = new Array<number>(ndim);
  let s = 1;
  for (let a = 0; a < ndim; a++) {
    fStride[a] = s;
    s *= shape[a]!;
  }
  const idx = new Array<number>(ndim).fill(0);
  const from = src as unknown as ArrayLike<number>;
  const to = out as unknown as { [i: number]: number };
  let off = 0;
  for (let k = 0; k < n; k++) {
    to[k] = from[off]!;
    for (let a = ndim - 1; a >= 0; a--) {
      idx[a]!++;
      off += fStride[a]!;
      if (idx[a]! < shape[a]!) break;
      off -= idx[a]! * fStride[a]!;
      idx[a] = 0;
    }
  }
  return out;
}

/**
 * Decodes `.npy` bytes into a C-ordered array. Throws `StorageError` for
 * corrupt or truncated input, `UnsupportedFormatError` for dtypes that
 * have no typed array here, and `LimitExceededError` when the header declares
 * more than `options.maxDecodedBytes` (default 1 GiB) of data. Bool arrays
 * hold 0/1 (any nonzero byte reads as 1, as in NumPy).
 *
 * @example
 * ```ts
 * import { decodeNpy, encodeNpy } from "@hcs/store/formats";
 * const a = decodeNpy(encodeNpy({ data: new BigInt64Array([-1n]), shape: [], stride: [] }));
 * console.assert(a.shape.length === 0 && a.data[0] === -1n);
 * ```
 */
export function decodeNpy(bytes: Uint8Array, path = "<npy>", options?: DecodeLimits): NdArray {
  const budget = decodedBudget(options);
  const header = readNpyHeader(bytes, path);
  const dtype = parseDescr(header.descr, path);
  const { shape } = header;
  const available = bytes.length - header.dataOffset;
  let count: number;
  try {
    count = elementCount(shape, Math.floor(available / dtype.type.size));
  } catch {
    throw corrupt(
      path,
      `npy data is truncated: shape (${
        shape.join(", ")
      }) of ${header.descr} needs more than the ${available} bytes present`,
    );
  }
  const nbytes = count * dtype.type.size;
  if (nbytes !== available) {
    throw corrupt(
      path,
      `npy data size mismatch: shape (${
        shape.join(", ")
      }) of ${header.descr} needs ${nbytes} bytes, file has ${available}`,
    );
  }
  checkDecodedSize(nbytes, budget, "decode", path, `npy shape (${shape.join(", ")})`);
  let data = typedView(bytes, header.dataOffset, count, dtype.type, dtype.littleEndian);
  if (dtype.bool) data = boolsOf(data as Uint8Array);
  if (header.fortranOrder && shape.length > 1) data = fortranToC(data, shape);
  return { data, shape: [...shape], stride: cStrides(shape) };
}

/** NumPy reads any nonzero bool byte as True: normalise to 0/1 (a copy only when needed). */
function boolsOf(raw: Uint8Array): Uint8Array {
  let k = 0;
  while (k < raw.length && raw[k]! <= 1) k++;
  if (k === raw.length) return raw;
  const out = raw.slice();
  for (; k < out.length; k++) if (out[k]! > 1) out[k] = 1;
  return out;
}

function descrOf(t: ElementType): string {
  const order = t.size === 1 ? "|" : HOST_LITTLE_ENDIAN ? "<" : ">";
  return `${order}${t.kind}${t.size}`;
}

/**
 * Encodes an array as `.npy` bytes (C order, host byte order, format 1.0, or
 * 2.0 for headers over 64 KiB). `Uint8Array` data is written as uint8 (there
 * is no separate bool type in JavaScript). Strided input is gathered into C
 * order first.
 *
 * @example
 * ```ts
 * import { encodeNpy } from "@hcs/store/formats";
 * const bytes = encodeNpy({ data: new Float64Array([1.5]), shape: [1], stride: [1] });
 * console.assert(new TextDecoder().decode(bytes.subarray(1, 6)) === "NUMPY");
 * ```
 */
export function encodeNpy(value: NdArray): Uint8Array {
  const { data, shape, type } = toContiguous(value);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  const dict = `{'descr': '${descrOf(type)}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - prefix;
  const body = bytesOf(data);
  const out = new Uint8Array(total + body.length);
  out.set(MAGIC, 0);
  out[6] = prefix === 10 ? 1 : 2;
  out[7] = 0;
  if (prefix === 10) {
    out[8] = headerLen & 0xff;
    out[9] = headerLen >>> 8;
  } else {
    new DataView(out.buffer).setUint32(8, headerLen, true);
  }
  const text = dict + " ".repeat(headerLen - dict.length - 1) + "\n";
  for (let k = 0; k < text.length; k++) out[prefix + k] = text.charCodeAt(k);
  out.set(body, total);
  return out;
}

/**
 * The `.npy` codec as registered in `formats/mod.ts`.
 *
 * @example
 * ```ts
 * import { npyFormat } from "@hcs/store/formats";
 * console.assert(npyFormat.extensions.includes(".npy") && npyFormat.arrayFormat === true);
 * ```
 */
export const npyFormat: FormatCodec = {
  name: "npy",
  extensions: [".npy"],
  arrayFormat: true,
  encode: (value, path) => encodeNpy(requireArray(value, "npy", path)),
  decode: (bytes, path, options) => decodeNpy(bytes, path, options),
};
