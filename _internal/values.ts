/**
 * Value helpers shared by backends: validation and the raw-bytes view of a
 * stored value.
 *
 * @module
 */

import { AlreadyExistsError, StorageError } from "../errors.ts";
import { isNdArray, type StorageValue } from "../backends/base.ts";

const encoder = new TextEncoder();

/** Throws a TypeError for values no backend can store (undefined, functions, symbols). */
export function assertStorable(value: unknown, operation: string, path: string): void {
  const t = typeof value;
  if (value === undefined || t === "function" || t === "symbol") {
    throw new TypeError(`${operation} '${path}': cannot store a value of type ${t}`);
  }
}

/** The raw bytes a value is stored as, where there is one obvious encoding. */
export function valueToBytes(value: StorageValue, operation: string, path: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return encoder.encode(value);
  if (isNdArray(value)) {
    const d = value.data;
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  }
  try {
    return encoder.encode(JSON.stringify(value));
  } catch (err) {
    throw new StorageError(operation, path, "value has no byte representation", { cause: err });
  }
}

/** Checks batch arguments before anything is written: lengths and duplicates. */
export function checkBatch(
  data: readonly unknown[],
  paths: readonly string[],
  operation: string,
  canonical: (p: string) => string,
): string[] {
  if (!Array.isArray(data) || !Array.isArray(paths)) {
    throw new TypeError(`${operation}: data and paths must be arrays`);
  }
  if (data.length !== paths.length) {
    throw new RangeError(
      `${operation}: ${data.length} values but ${paths.length} paths; lengths must match`,
    );
  }
  const seen = new Set<string>();
  const out: string[] = [];
  for (const p of paths) {
    const c = canonical(p);
    if (seen.has(c)) {
      throw new AlreadyExistsError(operation, p, "path appears twice in one batch");
    }
    seen.add(c);
    out.push(c);
  }
  return out;
}
