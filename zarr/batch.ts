/**
 * Validation of a plate `saveBatch` (lengths, names, axes, coordinates, plane
 * shapes and dtypes) into a {@linkcode PlateBatch}, before anything is
 * written; the NGFF metadata it turns into is in `ngff.ts`.
 *
 * @module
 */

import { StorageError, type StorageErrorCode } from "../errors.ts";
import { gatherC } from "../_internal/ndarray.ts";
import { isNdArray, type NdArray, type TypedArray } from "../backends/base.ts";
import { basename } from "../_internal/paths.ts";
import { type DtypeInfo, dtypeOf } from "./codec.ts";

/** NGFF metadata versions: 0.5 (Zarr v3) and 0.4 (Zarr v2, OpenHCS layout). */
export type NgffVersion = "0.5" | "0.4";

/** One leading axis of a plate batch. */
export interface PlateAxis {
  /** Axis name (not `x` or `y`). */
  name: string;
  /** NGFF axis type (`channel`, `time`, `space`, or a custom one). */
  type?: string;
  /** `"image"`: this axis selects the field group instead of an array dimension. */
  role?: "image" | "array";
  /** Declared extent; coordinates must be below it. Default: from `values`, else max + 1. */
  size?: number;
  /** Labels of the axis positions (stored in `polystore_dimensions`). */
  values?: readonly (string | number)[];
}

/** Options of a plate `saveBatch`. */
export interface PlateOptions {
  /** Plate row name (`A`..`AF`). */
  row: string;
  /** Plate column name, kept as given (`"01"` stays `"01"`). */
  column: string | number;
  /** Leading axes of the batch. Default: one image axis `field`. */
  axes?: readonly PlateAxis[];
  /** `coordinates[i]`: plane i's index on each axis. Default: `[[0], [1], …]`. */
  coordinates?: readonly (readonly number[])[];
}

/** A validated axis. */
export interface ResolvedAxis {
  name: string;
  type: string | undefined;
  image: boolean;
  size: number;
  values: string[];
}

/** A validated plate batch: everything needed to write without further checks. */
export interface PlateBatch {
  row: string;
  column: string;
  axes: ResolvedAxis[];
  /** Index of the image axis in `axes`, or -1. */
  imageAxis: number;
  /** Non-image axes, in order. */
  arrayAxes: ResolvedAxis[];
  /** Number of field groups. */
  fieldCount: number;
  /** Per plane: field index and array coordinates. */
  planes: { field: number; coords: number[]; name: string; path: string; plane: NdArray }[];
  height: number;
  width: number;
  dtype: DtypeInfo;
}

const NAME_RE = /^[A-Za-z0-9]+$/;

function fail(
  op: string,
  path: string,
  reason: string,
  code: StorageErrorCode = "EINVAL",
): StorageError {
  return new StorageError(op, path, reason, { code });
}

/** A C-contiguous copy (or the original when already contiguous) of a 2-D plane. */
export function contiguous(plane: NdArray): TypedArray {
  return gatherC(plane.data, plane.shape, plane.stride);
}

/**
 * Validates a plate batch (lengths, names, axes, coordinates, plane shapes and
 * dtypes) and resolves defaults. Throws before anything is written:
 * `RangeError` for lengths/out-of-range coordinates/shape mismatches,
 * `TypeError` for wrong kinds of values, `AlreadyExistsError`-coded
 * `StorageError` for duplicate names or coordinates.
 */
export function validatePlateBatch(
  planes: readonly unknown[],
  paths: readonly string[],
  options: PlateOptions,
  store: string,
  operation = "saveBatch",
): PlateBatch {
  const op = operation;
  if (!Array.isArray(planes) || !Array.isArray(paths)) {
    throw new TypeError(`${op} '${store}': planes and paths must be arrays`);
  }
  if (planes.length !== paths.length) {
    throw new RangeError(
      `${op} '${store}': ${planes.length} planes but ${paths.length} paths; lengths must match`,
    );
  }
  if (planes.length === 0) throw new RangeError(`${op} '${store}': a plate batch needs planes`);
  const row = options.row;
  const column = typeof options.column === "number" ? String(options.column) : options.column;
  if (typeof row !== "string" || !NAME_RE.test(row)) {
    throw new TypeError(`${op} '${store}': row must be letters/digits, got ${JSON.stringify(row)}`);
  }
  if (typeof column !== "string" || !NAME_RE.test(column)) {
    throw new TypeError(
      `${op} '${store}': column must be letters/digits, got ${JSON.stringify(options.column)}`,
    );
  }

  const rawAxes: readonly PlateAxis[] = options.axes ?? [{ name: "field", role: "image" }];
  if (!Array.isArray(rawAxes) || rawAxes.length === 0) {
    throw new TypeError(`${op} '${store}': axes must be a non-empty array`);
  }
  const coords: readonly (readonly number[])[] = options.coordinates ??
    planes.map((_, i) => (rawAxes.length === 1 ? [i] : []));
  if (!Array.isArray(coords) || coords.length !== planes.length) {
    throw new RangeError(
      `${op} '${store}': ${planes.length} planes but ${
        Array.isArray(coords) ? coords.length : "no"
      } coordinates; lengths must match`,
    );
  }
  const names = new Set<string>();
  let imageAxis = -1;
  rawAxes.forEach((a, i) => {
    if (typeof a !== "object" || a === null || typeof a.name !== "string" || a.name === "") {
      throw new TypeError(`${op} '${store}': axis ${i} needs a name`);
    }
    if (a.name === "x" || a.name === "y") {
      throw new TypeError(`${op} '${store}': axes cannot redeclare the pixel axis '${a.name}'`);
    }
    if (names.has(a.name)) throw new TypeError(`${op} '${store}': axis '${a.name}' appears twice`);
    names.add(a.name);
    if (a.role !== undefined && a.role !== "image" && a.role !== "array") {
      throw new TypeError(`${op} '${store}': axis '${a.name}' has unknown role '${a.role}'`);
    }
    if (a.role === "image") {
      if (imageAxis >= 0) throw new TypeError(`${op} '${store}': at most one axis has role image`);
      imageAxis = i;
    }
    if (a.type !== undefined && typeof a.type !== "string") {
      throw new TypeError(`${op} '${store}': axis '${a.name}' type must be a string`);
    }
  });
  const arrayAxisCount = rawAxes.length - (imageAxis >= 0 ? 1 : 0);
  if (arrayAxisCount > 3) {
    throw new RangeError(
      `${op} '${store}': at most 3 array axes before y, x (NGFF allows 5 dimensions)`,
    );
  }
  // NGFF axis rules: at most one time, one channel-or-custom and one more space
  // axis, ordered time, channel/custom, space (y and x come last).
  const rank = (t: string | undefined) => (t === "time" ? 0 : t === "space" ? 2 : 1);
  const arrayTypes = rawAxes.filter((_, i) => i !== imageAxis).map((a) => a.type);
  for (const r of [0, 1, 2]) {
    if (arrayTypes.filter((t) => rank(t) === r).length > 1) {
      const what = ["time", "channel or custom", "space (besides y, x)"][r];
      throw new RangeError(`${op} '${store}': NGFF allows at most one ${what} axis`);
    }
  }
  if (arrayTypes.some((t, i) => i > 0 && rank(t) < rank(arrayTypes[i - 1]))) {
    throw new RangeError(
      `${op} '${store}': NGFF orders axes time, then channel/custom, then space; got ${
        arrayTypes.map((t) => t ?? "untyped").join(", ")
      }`,
    );
  }

  // Coordinates: rank, integers, inside declared extents, unique.
  const maxSeen = rawAxes.map(() => -1);
  const seen = new Set<string>();
  coords.forEach((c, i) => {
    if (!Array.isArray(c) || c.length !== rawAxes.length) {
      throw new RangeError(
        `${op} '${paths[i]}': coordinates ${
          JSON.stringify(c)
        } do not match the ${rawAxes.length} declared axes`,
      );
    }
    c.forEach((v, k) => {
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
        throw new RangeError(
          `${op} '${paths[i]}': coordinate ${JSON.stringify(v)} on axis '${
            rawAxes[k]!.name
          }' is not a non-negative integer`,
        );
      }
      const a = rawAxes[k]!;
      const declared = a.size ?? a.values?.length;
      if (declared !== undefined && v >= declared) {
        throw new RangeError(
          `${op} '${paths[i]}': coordinate ${v} is outside axis '${a.name}' of size ${declared}`,
        );
      }
      if (v > maxSeen[k]!) maxSeen[k] = v;
    });
    const key = c.join(",");
    if (seen.has(key)) {
      throw fail(op, String(paths[i]), `duplicate coordinates ${JSON.stringify(c)}`, "EEXIST");
    }
    seen.add(key);
  });

  const axes: ResolvedAxis[] = rawAxes.map((a, k) => {
    if (a.size !== undefined && (!Number.isInteger(a.size) || a.size < 1)) {
      throw new RangeError(`${op} '${store}': axis '${a.name}' size must be a positive integer`);
    }
    if (a.values !== undefined) {
      if (!Array.isArray(a.values)) {
        throw new TypeError(`${op} '${store}': axis '${a.name}' values must be an array`);
      }
      if (a.size !== undefined && a.values.length !== a.size) {
        throw new RangeError(
          `${op} '${store}': axis '${a.name}' has size ${a.size} but ${a.values.length} values`,
        );
      }
      if (new Set(a.values.map(String)).size !== a.values.length) {
        throw new TypeError(`${op} '${store}': axis '${a.name}' has duplicate values`);
      }
    }
    const size = a.size ?? a.values?.length ?? maxSeen[k]! + 1;
    const values = a.values?.map(String) ?? Array.from({ length: size }, (_, i) => String(i));
    return { name: a.name, type: a.type, image: k === imageAxis, size, values };
  });

  // Planes: 2-D arrays of one shape and dtype; names unique.
  let shape: number[] | undefined;
  let dtype: DtypeInfo | undefined;
  const baseNames = new Set<string>();
  const out: PlateBatch["planes"] = [];
  planes.forEach((p, i) => {
    const path = paths[i];
    if (typeof path !== "string" || path === "" || path.includes("\0")) {
      throw new TypeError(`${op} '${store}': path ${i} is not a valid path`);
    }
    if (!isNdArray(p)) throw new TypeError(`${op} '${path}': a plate plane must be an array`);
    if (p.shape.length !== 2) {
      throw new RangeError(`${op} '${path}': a plane must be 2-D (y, x), got shape [${p.shape}]`);
    }
    const d = dtypeOf(p.data);
    if (!d) throw new TypeError(`${op} '${path}': unsupported element type`);
    if (!shape) {
      shape = p.shape;
      dtype = d;
    } else if (p.shape[0] !== shape[0] || p.shape[1] !== shape[1]) {
      throw new RangeError(
        `${op} '${path}': plane shape [${p.shape}] differs from [${shape}] of the first plane`,
      );
    } else if (d !== dtype) {
      throw new TypeError(
        `${op} '${path}': dtype ${d.v3} differs from ${dtype!.v3} of the first plane`,
      );
    }
    if (p.data.length < p.shape[0]! * p.shape[1]!) {
      throw new RangeError(`${op} '${path}': data is shorter than its shape`);
    }
    const name = basename(path);
    if (baseNames.has(name)) throw fail(op, path, "file name appears twice in one batch", "EEXIST");
    baseNames.add(name);
    const c = coords[i]!;
    out.push({
      field: imageAxis >= 0 ? c[imageAxis]! : 0,
      coords: c.filter((_: number, k: number) => k !== imageAxis),
      name,
      path,
      plane: p,
    });
  });
  const fieldCount = imageAxis >= 0 ? axes[imageAxis]!.size : 1;
  return {
    row,
    column,
    axes,
    imageAxis,
    arrayAxes: axes.filter((a) => !a.image),
    fieldCount,
    planes: out,
    height: shape![0]!,
    width: shape![1]!,
    dtype: dtype!,
  };
}
