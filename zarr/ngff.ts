/**
 * The OME-NGFF model (0.4 and 0.5): plate, well, multiscales and the
 * PolyStore filename map — parsed from group attributes into plain values,
 * and the attribute objects a plate write produces.
 * The backend's plate index, the HTTP listing and the CLI all read NGFF
 * through this module, so every path stored metadata names is validated in
 * one place (see `paths.ts`) before anyone joins it to a store path.
 *
 * Decision: hostile or malformed entries are `CorruptDataError`s naming the
 * metadata file and the entry; they are never skipped silently.
 *
 * @module
 */

import { CorruptDataError, LimitExceededError } from "../errors.ts";
import { safeName, safeRelPath } from "./paths.ts";
import type { NgffVersion, PlateBatch } from "./batch.ts";

/** PolyStore array attribute names (the OpenHCS reference layout). */
export const ATTR_FILENAME_MAP = "polystore_filename_map";
/** Full output paths as given to `saveBatch`. */
export const ATTR_OUTPUT_PATHS = "polystore_output_paths";
/** Per-axis size, values and role. */
export const ATTR_DIMENSIONS = "polystore_dimensions";
/** The value of the image (field) axis for this field. */
export const ATTR_IMAGE_COORDINATE = "polystore_image_coordinate";

/** Row order on a plate: by length, then alphabetically (A..Z, AA..AF). */
export function compareRows(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Column order: by numeric value, then as strings (`"1"` and `"01"` stay distinct). */
export function compareColumns(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isFinite(na) && Number.isFinite(nb) && na !== nb) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Most wells a plate, or fields a well, may list (each is read when the plate is indexed). */
export const MAX_NGFF_ENTRIES = 65536;

function bounded(list: unknown[], what: string, op: string, metaPath: string): void {
  if (list.length > MAX_NGFF_ENTRIES) {
    throw new LimitExceededError(
      op,
      metaPath,
      `${what} lists ${list.length} entries, more than ${MAX_NGFF_ENTRIES}`,
    );
  }
}

/** Metadata attribute object. */
export type Attrs = Record<string, unknown>;

function rec(v: unknown): Attrs | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? v as Attrs : undefined;
}

/** The NGFF block of group attributes: 0.5 `attributes.ome`, 0.4 the attributes themselves. */
export function omeBlock(attrs: unknown): Attrs {
  const a = rec(attrs) ?? {};
  return rec(a.ome) ?? a;
}

/** The attributes of a group's metadata document (v3 `zarr.json` or v2 `.zattrs`). */
export function groupAttributes(json: unknown, zarrFormat: 2 | 3): Attrs {
  const j = rec(json) ?? {};
  return zarrFormat === 3 ? rec(j.attributes) ?? {} : j;
}

/** One well listed by a plate. */
export interface NgffWellRef {
  /** `row/column`, validated. */
  path: string;
  /** Row name. */
  row: string;
  /** Column name. */
  column: string;
  /** Stored `rowIndex`, if an integer. */
  rowIndex?: number;
  /** Stored `columnIndex`, if an integer. */
  columnIndex?: number;
}

/** A plate, as its metadata describes it. */
export interface NgffPlate {
  /** Plate name, if stored. */
  name?: string;
  /** NGFF version (`plate.version`, else the `ome` block's, else undefined). */
  version?: string;
  /** Row names in stored order. */
  rows: string[];
  /** Column names in stored order. */
  columns: string[];
  /** Wells in stored order. */
  wells: NgffWellRef[];
  /** `field_count`, if a non-negative integer. */
  fieldCount?: number;
}

/** The raw plate object of root attributes (0.5 `ome.plate` or 0.4 `plate`), if any. */
export function rawPlate(attrs: unknown): Attrs | undefined {
  const a = rec(attrs);
  if (!a) return undefined;
  return rec(rec(a.ome)?.plate) ?? rec(a.plate);
}

function names(list: unknown, what: string, op: string, metaPath: string): string[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new CorruptDataError(op, metaPath, `plate ${what} is not a list`);
  return list.map((r, i) => safeName(rec(r)?.name, `plate ${what}[${i}].name`, op, metaPath));
}

/**
 * Parses the plate of root attributes; `undefined` when there is none.
 *
 * @param attrs the root group's attributes
 * @param op the operation (for errors)
 * @param metaPath the metadata file (for errors)
 */
export function parsePlate(attrs: unknown, op: string, metaPath: string): NgffPlate | undefined {
  const p = rawPlate(attrs);
  if (!p) return undefined;
  if (!Array.isArray(p.wells)) throw new CorruptDataError(op, metaPath, "plate has no wells list");
  bounded(p.wells, "plate wells", op, metaPath);
  const wells = p.wells.map((w, i): NgffWellRef => {
    const what = `plate wells[${i}].path`;
    const path = safeRelPath(rec(w)?.path, what, op, metaPath, 2);
    const [row, column] = path.split("/");
    if (column === undefined) {
      throw new CorruptDataError(op, metaPath, `${what} ${JSON.stringify(path)} is not row/column`);
    }
    const out: NgffWellRef = { path, row: row!, column };
    const ri = rec(w)?.rowIndex;
    const ci = rec(w)?.columnIndex;
    if (Number.isInteger(ri)) out.rowIndex = ri as number;
    if (Number.isInteger(ci)) out.columnIndex = ci as number;
    return out;
  });
  const plate: NgffPlate = {
    rows: names(p.rows, "rows", op, metaPath),
    columns: names(p.columns, "columns", op, metaPath),
    wells,
  };
  if (typeof p.name === "string") plate.name = p.name;
  const version = p.version ?? rec(rec(attrs)?.ome)?.version ?? rec(attrs)?.version;
  if (typeof version === "string") plate.version = version;
  if (Number.isSafeInteger(p.field_count) && (p.field_count as number) >= 0) {
    plate.fieldCount = p.field_count as number;
  }
  return plate;
}

/**
 * The image (field) group paths of a well's attributes, validated.
 *
 * @param attrs the well group's attributes
 * @param op the operation (for errors)
 * @param metaPath the metadata file (for errors)
 */
export function parseWellImages(attrs: unknown, op: string, metaPath: string): string[] {
  const well = rec(omeBlock(attrs).well) ?? rec(rec(attrs)?.well);
  if (!well || !Array.isArray(well.images)) {
    throw new CorruptDataError(op, metaPath, "well has no images list");
  }
  bounded(well.images, "well images", op, metaPath);
  return well.images.map((img, i) =>
    safeRelPath(rec(img)?.path, `well images[${i}].path`, op, metaPath, 4)
  );
}

/** An axis of a multiscale image. */
export interface NgffAxis {
  /** Axis name. */
  name: string;
  /** Axis type, where given. */
  type?: string;
}

/** The first multiscale image of a field group. */
export interface NgffMultiscale {
  /** Axes, in array order (may be empty when not stored). */
  axes: NgffAxis[];
  /** Dataset paths, full resolution first, validated. */
  datasets: string[];
}

/**
 * Parses the first `multiscales` entry of an image group's attributes.
 *
 * @param attrs the image group's attributes
 * @param op the operation (for errors)
 * @param metaPath the metadata file (for errors)
 */
export function parseMultiscale(attrs: unknown, op: string, metaPath: string): NgffMultiscale {
  const list = omeBlock(attrs).multiscales ?? rec(attrs)?.multiscales;
  const ms = Array.isArray(list) ? rec(list[0]) : undefined;
  if (!ms || !Array.isArray(ms.datasets) || ms.datasets.length === 0) {
    throw new CorruptDataError(op, metaPath, "no multiscales datasets in this image group");
  }
  const datasets = ms.datasets.map((d, i) =>
    safeRelPath(rec(d)?.path, `multiscales datasets[${i}].path`, op, metaPath, 4)
  );
  const axes: NgffAxis[] = (Array.isArray(ms.axes) ? ms.axes : []).map((a, i) => {
    if (typeof a === "string") return { name: a };
    const r = rec(a);
    if (typeof r?.name !== "string") {
      throw new CorruptDataError(op, metaPath, `multiscales axes[${i}] has no name`);
    }
    const out: NgffAxis = { name: r.name };
    if (typeof r.type === "string") out.type = r.type;
    return out;
  });
  return { axes, datasets };
}

/**
 * Child node paths NGFF attributes name (plate wells, well images, multiscale
 * datasets), for listings that cannot list a directory (HTTP without a
 * manifest). Unsafe entries are refused like everywhere else.
 */
export function ngffChildren(attrs: unknown, op: string, metaPath: string): string[] {
  const out: string[] = [];
  const block = omeBlock(attrs);
  const plate = parsePlate(attrs, op, metaPath);
  if (plate) out.push(...plate.wells.map((w) => w.path));
  if (rec(block.well) ?? rec(rec(attrs)?.well)) out.push(...parseWellImages(attrs, op, metaPath));
  if (Array.isArray(block.multiscales ?? rec(attrs)?.multiscales)) {
    out.push(...parseMultiscale(attrs, op, metaPath).datasets);
  }
  return out;
}

/** One filename-map entry: a virtual file name and its coordinates in the field array. */
export interface FilenameEntry {
  /** The virtual file name (one safe segment). */
  name: string;
  /** Index on each leading axis of the array. */
  coords: number[];
}

/**
 * The PolyStore filename map of an array's attributes, validated against
 * the array's shape (names are single safe segments; coordinates integers
 * inside the leading axes).
 */
export function parseFilenameMap(
  map: unknown,
  shape: readonly number[],
  op: string,
  metaPath: string,
): FilenameEntry[] {
  const m = rec(map);
  if (!m) return [];
  const out: FilenameEntry[] = [];
  for (const [name, coords] of Object.entries(m)) {
    safeName(name, "filename map entry", op, metaPath);
    if (
      !Array.isArray(coords) || coords.length !== shape.length - 2 ||
      coords.some((c, i) => !Number.isInteger(c) || c < 0 || c >= shape[i]!)
    ) {
      throw new CorruptDataError(
        op,
        metaPath,
        `filename map entry '${name}' does not fit the array`,
      );
    }
    out.push({ name, coords: coords as number[] });
  }
  return out;
}

// ------------------------------------------------------------ write side

/** NGFF axes of a field array: array axes, then y and x. */
export function ngffAxes(batch: PlateBatch): Record<string, string>[] {
  return [
    ...batch.arrayAxes.map((
      a,
    ) => (a.type === undefined ? { name: a.name } : { name: a.name, type: a.type })),
    { name: "y", type: "space" },
    { name: "x", type: "space" },
  ];
}

/** The multiscales entry of a field group. */
export function multiscales(
  batch: PlateBatch,
  field: number,
  version: NgffVersion,
): Record<string, unknown> {
  const ms: Record<string, unknown> = {
    name: `${batch.row}${batch.column}_${field}`,
    axes: ngffAxes(batch),
    datasets: [{
      path: "0",
      coordinateTransformations: [{ type: "scale", scale: ngffAxes(batch).map(() => 1) }],
    }],
  };
  if (version === "0.4") ms.version = "0.4";
  return ms;
}

/** The PolyStore attributes of field `field`'s array (`recordAs` maps each recorded output path). */
export function fieldArrayAttrs(
  batch: PlateBatch,
  field: number,
  recordAs: (path: string) => string = (p) => p,
): Record<string, unknown> {
  const mine = batch.planes.filter((p) => p.field === field);
  const map: Record<string, number[]> = {};
  for (const p of mine) map[p.name] = p.coords;
  const dims: Record<string, unknown> = {};
  for (const a of batch.axes) {
    dims[a.name] = { size: a.size, values: a.values, role: a.image ? "hcs_image" : "array" };
  }
  const imageCoord: Record<string, string> = {};
  if (batch.imageAxis >= 0) {
    const a = batch.axes[batch.imageAxis]!;
    imageCoord[a.name] = a.values[field]!;
  }
  return {
    [ATTR_FILENAME_MAP]: map,
    [ATTR_OUTPUT_PATHS]: mine.map((p) => recordAs(p.path)),
    [ATTR_DIMENSIONS]: dims,
    [ATTR_IMAGE_COORDINATE]: imageCoord,
  };
}

/** Well metadata (the inner `well` object). */
export function wellObject(fieldCount: number, version: NgffVersion): Record<string, unknown> {
  const images = Array.from(
    { length: fieldCount },
    (_, i) => ({ path: String(i), acquisition: 0 }),
  );
  return version === "0.4" ? { images, version: "0.4" } : { images };
}

/** The group attributes of a well. */
export function wellAttrs(fieldCount: number, version: NgffVersion): Record<string, unknown> {
  const well = wellObject(fieldCount, version);
  return version === "0.4" ? { well } : { ome: { version: "0.5", well } };
}

/** The group attributes of a field (image) group. */
export function imageAttrs(
  batch: PlateBatch,
  field: number,
  version: NgffVersion,
): Record<string, unknown> {
  const ms = [multiscales(batch, field, version)];
  return version === "0.4" ? { multiscales: ms } : { ome: { version: "0.5", multiscales: ms } };
}

/** A plate's wells and field count, as merged under the plate lock. */
export interface PlateState {
  name: string;
  wells: { row: string; column: string }[];
  fieldCount: number;
}

/** The (row, column) pairs and field count of a parsed plate (validated by the NGFF model). */
export function plateState(plate: NgffPlate | undefined, name: string): PlateState {
  const wells = (plate?.wells ?? []).map((w) => ({ row: w.row, column: w.column }));
  return { name: plate?.name ?? name, wells, fieldCount: plate?.fieldCount ?? 0 };
}

/** Plate root attributes listing every well exactly once, rows and columns in plate order. */
export function plateAttrs(state: PlateState, version: NgffVersion): Record<string, unknown> {
  const wells = new Map<string, { row: string; column: string }>();
  for (const w of state.wells) wells.set(`${w.row}/${w.column}`, w);
  const rows = [...new Set([...wells.values()].map((w) => w.row))].sort(compareRows);
  const columns = [...new Set([...wells.values()].map((w) => w.column))].sort(compareColumns);
  const list = [...wells.values()].sort((a, b) =>
    compareRows(a.row, b.row) || compareColumns(a.column, b.column)
  ).map((w) => ({
    path: `${w.row}/${w.column}`,
    rowIndex: rows.indexOf(w.row),
    columnIndex: columns.indexOf(w.column),
  }));
  const fieldCount = Math.max(1, state.fieldCount);
  const plate: Record<string, unknown> = {
    name: state.name,
    rows: rows.map((name) => ({ name })),
    columns: columns.map((name) => ({ name })),
    wells: list,
    field_count: fieldCount,
    acquisitions: [{ id: 0, name: "default_acquisition", maximumfieldcount: fieldCount }],
  };
  if (version === "0.4") return { plate: { ...plate, version: "0.4" } };
  return { ome: { version: "0.5", plate } };
}
