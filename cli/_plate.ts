/**
 * Reads an OME-Zarr plate on the local filesystem straight from its NGFF
 * metadata (0.5 on Zarr v3, 0.4 on Zarr v2) with zarrita: what `info` reports
 * and the planes `preview` draws. Independent of how the plate was written, so
 * plates from other tools work too.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import * as zarr from "npm:zarrita@^0.7.5";
import { NotFoundError, StorageError, toStorageError } from "../errors.ts";
import type { NdArray, TypedArray } from "../backends/base.ts";

type AbsolutePath = `/${string}`;

/** A zarrita store over a local directory. */
class LocalStore {
  #root: string;
  constructor(root: string) {
    this.#root = root;
  }
  async get(key: AbsolutePath): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(join(this.#root, key)));
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      throw toStorageError(err, "read", join(this.#root, key));
    }
  }
}

/** An axis of a field's multiscale image. */
export interface AxisInfo {
  /** Axis name (`c`, `z`, `y`, `x`, …). */
  name: string;
  /** NGFF axis type (`channel`, `space`, `time`), where given. */
  type?: string;
}

/** One well of a plate. */
export interface WellInfo {
  /** Path inside the plate (`A/01`). */
  path: string;
  /** Row name (`A`). */
  row: string;
  /** Column name as stored (`01`). */
  column: string;
  /** Index into the plate's rows. */
  rowIndex: number;
  /** Index into the plate's columns. */
  columnIndex: number;
  /** Field group paths (`0`, `1`, …). */
  fields: string[];
}

/** What `info` reports about a plate. */
export interface PlateInfo {
  /** The plate directory. */
  path: string;
  /** NGFF version from the metadata (`0.5`, `0.4`). */
  ngff: string;
  /** Zarr format of the store (2 or 3). */
  zarrFormat: 2 | 3;
  /** Plate name, if stored. */
  name?: string;
  /** Row names, in plate order. */
  rows: string[];
  /** Column names, in plate order. */
  columns: string[];
  /** Wells, in metadata order. */
  wells: WellInfo[];
  /** Most fields in any well. */
  fieldCount: number;
  /** Axes of the first field's image. */
  axes: AxisInfo[];
  /** Element type of the first field's full-resolution array. */
  dtype: string;
  /** Shape of that array. */
  shape: number[];
  /** Chunk shape of that array. */
  chunks: number[];
  /** The compression chain, in words (`zstd(level=1)`, `none`). */
  codec: string;
  /** Files in the plate directory. */
  fileCount: number;
  /** Bytes of those files on disk. */
  sizeBytes: number;
}

type Json = Record<string, unknown>;

async function readJson(path: string): Promise<Json | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw toStorageError(err, "read", path);
  }
  try {
    return JSON.parse(text) as Json;
  } catch {
    throw new StorageError("read", path, "not valid JSON", { code: "EINVAL" });
  }
}

/** NGFF attributes of a group (`ome` block on v3, top-level `.zattrs` on v2). */
async function groupAttrs(dir: string): Promise<{ attrs: Json; zarrFormat: 2 | 3 } | undefined> {
  const v3 = await readJson(join(dir, "zarr.json"));
  if (v3) {
    const attributes = (v3.attributes ?? {}) as Json;
    const ome = (attributes.ome ?? attributes) as Json;
    return { attrs: ome, zarrFormat: 3 };
  }
  const v2 = await readJson(join(dir, ".zattrs"));
  if (v2) return { attrs: v2, zarrFormat: 2 };
  return undefined;
}

interface RawPlate {
  rows?: { name: string }[];
  columns?: { name: string }[];
  wells?: { path: string; rowIndex?: number; columnIndex?: number }[];
  field_count?: number;
  name?: string;
  version?: string;
}

interface Multiscale {
  axes?: (string | { name: string; type?: string })[];
  datasets?: { path: string }[];
  version?: string;
}

/** Opens the plate metadata; a folder that is not a plate throws a clear `StorageError`. */
async function plateMeta(
  path: string,
): Promise<{ plate: RawPlate; attrs: Json; zarrFormat: 2 | 3 }> {
  try {
    const st = await lstat(path);
    if (!st.isDirectory()) {
      throw new StorageError("info", path, "not a directory (expected an OME-Zarr plate)", {
        code: "ENOTDIR",
      });
    }
  } catch (err) {
    if (err instanceof StorageError) throw err;
    throw toStorageError(err, "info", path);
  }
  const g = await groupAttrs(path);
  const plate = g?.attrs.plate as RawPlate | undefined;
  if (!g || !plate || !Array.isArray(plate.wells)) {
    throw new StorageError("info", path, "not an OME-Zarr plate (no plate metadata)", {
      code: "EINVAL",
    });
  }
  return { plate, attrs: g.attrs, zarrFormat: g.zarrFormat };
}

function splitWellPath(p: string): [string, string] {
  const parts = p.split("/").filter((s) => s !== "");
  return [parts[0] ?? "", parts[1] ?? ""];
}

async function wellsOf(path: string, plate: RawPlate): Promise<WellInfo[]> {
  const rows = (plate.rows ?? []).map((r) => r.name);
  const cols = (plate.columns ?? []).map((c) => c.name);
  return await Promise.all((plate.wells ?? []).map(async (w) => {
    const [row, column] = splitWellPath(w.path);
    const g = await groupAttrs(join(path, w.path));
    const images = ((g?.attrs.well as { images?: { path: string }[] } | undefined)?.images ?? [])
      .map((i) => i.path);
    return {
      path: w.path,
      row,
      column,
      rowIndex: w.rowIndex ?? rows.indexOf(row),
      columnIndex: w.columnIndex ?? cols.indexOf(column),
      fields: images,
    };
  }));
}

async function fieldImage(
  plateDir: string,
  well: WellInfo,
  field: string,
): Promise<{ axes: AxisInfo[]; array: zarr.Array<zarr.DataType, LocalStore>; arrayPath: string }> {
  const fieldDir = join(plateDir, well.path, field);
  const g = await groupAttrs(fieldDir);
  const ms = (g?.attrs.multiscales as Multiscale[] | undefined)?.[0];
  const dataset = ms?.datasets?.[0]?.path;
  if (!ms || dataset === undefined) {
    throw new StorageError("read", fieldDir, "no multiscales metadata in this field", {
      code: "EINVAL",
    });
  }
  const axes: AxisInfo[] = (ms.axes ?? []).map((a) => {
    if (typeof a === "string") return { name: a };
    const out: AxisInfo = { name: a.name };
    if (a.type !== undefined) out.type = a.type;
    return out;
  });
  const store = new LocalStore(plateDir);
  const arrayPath = `/${well.path}/${field}/${dataset}`.replace(/\/+/g, "/");
  let array: zarr.Array<zarr.DataType, LocalStore>;
  try {
    array = await zarr.open(zarr.root(store).resolve(arrayPath), { kind: "array" });
  } catch (err) {
    if (err instanceof StorageError) throw err;
    throw new StorageError("read", join(plateDir, arrayPath), (err as Error).message, {
      code: "EINVAL",
      cause: err,
    });
  }
  if (axes.length === 0) {
    const names = ["t", "c", "z", "y", "x"].slice(5 - array.shape.length);
    for (const n of names) axes.push({ name: n });
  }
  return { axes, array, arrayPath };
}

async function codecOf(plateDir: string, arrayPath: string, zarrFormat: 2 | 3): Promise<string> {
  const dir = join(plateDir, arrayPath);
  if (zarrFormat === 3) {
    const meta = await readJson(join(dir, "zarr.json"));
    const codecs = (meta?.codecs ?? []) as { name: string; configuration?: Json }[];
    const parts = codecs.filter((c) => c.name !== "bytes" && c.name !== "transpose").map((c) => {
      const cfg = c.configuration ?? {};
      const inner = c.name === "blosc" ? cfg.cname : cfg.level;
      return inner === undefined
        ? c.name
        : `${c.name}(${c.name === "blosc" ? "" : "level="}${String(inner)})`;
    });
    return parts.length ? parts.join(" + ") : "none";
  }
  const meta = await readJson(join(dir, ".zarray"));
  const comp = meta?.compressor as Json | null | undefined;
  if (!comp) return "none";
  const id = String(comp.id);
  if (id === "blosc") return `blosc(${String(comp.cname)})`;
  return comp.level === undefined ? id : `${id}(level=${String(comp.level)})`;
}

/** Files and bytes under `dir` (symlinks counted, not followed). */
export async function diskUsage(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else {
        files++;
        bytes += (await lstat(p)).size;
      }
    }
  }
  return { files, bytes };
}

/**
 * Everything `info` shows about the plate at `path` (a local directory).
 *
 * @example
 * ```ts ignore
 * const info = await readPlateInfo("/data/plate.zarr");
 * console.log(info.wells.length, info.dtype, info.shape);
 * ```
 */
export async function readPlateInfo(path: string): Promise<PlateInfo> {
  const { plate, attrs, zarrFormat } = await plateMeta(path);
  const wells = await wellsOf(path, plate);
  const first = wells.find((w) => w.fields.length > 0);
  if (!first) throw new NotFoundError("info", path, "the plate has no fields");
  const { axes, array, arrayPath } = await fieldImage(path, first, first.fields[0]!);
  const usage = await diskUsage(path);
  const info: PlateInfo = {
    path,
    ngff: String(plate.version ?? attrs.version ?? "unknown"),
    zarrFormat,
    rows: (plate.rows ?? []).map((r) => r.name),
    columns: (plate.columns ?? []).map((c) => c.name),
    wells,
    fieldCount: plate.field_count ?? Math.max(...wells.map((w) => w.fields.length)),
    axes,
    dtype: String(array.dtype),
    shape: [...array.shape],
    chunks: [...array.chunks],
    codec: await codecOf(path, arrayPath, zarrFormat),
    fileCount: usage.files,
    sizeBytes: usage.bytes,
  };
  if (plate.name !== undefined) info.name = plate.name;
  return info;
}

/** Which plane of each field to draw. */
export interface PlaneSelection {
  /** Field index within the well (0-based). */
  field: number;
  /** Channel index (0-based). */
  channel: number;
  /** Z index (0-based); default the middle plane. */
  z?: number;
}

/** One well's plane, ready to draw. */
export interface WellPlane {
  /** The well. */
  well: WellInfo;
  /** Its `y × x` plane, or undefined when the well lacks the field. */
  plane?: NdArray;
}

/**
 * Reads one `y × x` plane per well (field, channel and z as selected).
 * `onWell` is called after each well with the number of wells (for progress).
 */
export async function readWellPlanes(
  path: string,
  sel: PlaneSelection,
  onWell: (total: number) => void = () => {},
): Promise<{ rows: string[]; columns: string[]; planes: WellPlane[] }> {
  const { plate } = await plateMeta(path);
  const wells = await wellsOf(path, plate);
  const planes: WellPlane[] = [];
  for (const well of wells) {
    const field = well.fields[sel.field];
    if (field === undefined) {
      planes.push({ well });
      onWell(wells.length);
      continue;
    }
    const { axes, array } = await fieldImage(path, well, field);
    const selection: (number | null)[] = array.shape.map((n, i) => {
      if (i >= array.shape.length - 2) return null;
      const ax = axes[i];
      const isChannel = ax?.type === "channel" || ax?.name === "c" || ax?.name === "channel";
      const isZ = ax?.name === "z";
      let idx = 0;
      if (isChannel) idx = sel.channel;
      else if (isZ) idx = sel.z ?? Math.floor(n / 2);
      if (idx >= n) {
        throw new StorageError(
          "preview",
          join(path, well.path, field),
          `${isChannel ? "channel" : ax?.name ?? `axis ${i}`} ${idx} out of range (0..${n - 1})`,
          { code: "ERANGE" },
        );
      }
      return idx;
    });
    const chunk = await zarr.get(array, selection);
    const data = chunk.data as unknown;
    if (!ArrayBuffer.isView(data)) {
      throw new StorageError("preview", join(path, well.path), `unsupported dtype ${array.dtype}`, {
        code: "EINVAL",
      });
    }
    planes.push({
      well,
      plane: { data: data as TypedArray, shape: [...chunk.shape], stride: [...chunk.stride] },
    });
    onWell(wells.length);
  }
  return {
    rows: (plate.rows ?? []).map((r) => r.name),
    columns: (plate.columns ?? []).map((c) => c.name),
    planes,
  };
}
