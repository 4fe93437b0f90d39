/**
 * Reads an OME-Zarr plate straight from its NGFF metadata (0.5 on Zarr v3,
 * 0.4 on Zarr v2) on any byte store — disk, memory, HTTP — through the
 * shared NGFF model (`zarr/ngff.ts`) and plane reader (`zarr/read.ts`):
 * what `info` reports and the planes `preview` draws. Independent of how
 * the plate was written, so plates from other tools work too.
 *
 * Decision: the store defaults to the local disk; sizes on disk come from
 * the store's own listing and `stat`, and are omitted where it has none.
 *
 * @module
 */

import { NotFoundError, StorageError } from "../errors.ts";
import type { NdArray } from "../backends/base.ts";
import { join } from "../_internal/paths.ts";
import { DEFAULT_MAX_DECODED_BYTES } from "../_internal/limits.ts";
import { type ArrayMeta, parseJson, readArrayMeta } from "../zarr/array.ts";
import { dtypeName } from "../zarr/decode.ts";
import {
  groupAttributes,
  type NgffAxis,
  type NgffPlate,
  omeBlock,
  parseMultiscale,
  parsePlate,
  parseWellImages,
} from "../zarr/ngff.ts";
import { readPlanes } from "../zarr/read.ts";
import { s3Location } from "./_shared.ts";
import { type ByteStore, readOptional, ZarrStoreAdapter } from "../zarr/store.ts";

/** An axis of a field's multiscale image. */
export type AxisInfo = NgffAxis;

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
  /** The plate directory (or URL). */
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
  /** Files in the plate directory (absent when the store cannot list). */
  fileCount?: number;
  /** Bytes of those files (absent when the store cannot list or stat). */
  sizeBytes?: number;
}

interface Group {
  attrs: Record<string, unknown>;
  zarrFormat: 2 | 3;
  metaPath: string;
}

/** Attributes of the group at `dir` (`zarr.json` on v3, `.zattrs` on v2). */
async function groupAt(store: ByteStore, dir: string, op: string): Promise<Group | undefined> {
  for (const [name, zarrFormat] of [["zarr.json", 3], [".zattrs", 2]] as const) {
    const metaPath = join(dir, name);
    const b = await readOptional(store, metaPath);
    if (b) {
      return {
        attrs: groupAttributes(parseJson(b, metaPath, op), zarrFormat),
        zarrFormat,
        metaPath,
      };
    }
  }
  return undefined;
}

async function plateMeta(store: ByteStore, path: string, op: string) {
  let g: Group | undefined;
  try {
    g = await groupAt(store, path, op);
  } catch (err) {
    if (err instanceof StorageError && err.code === "ENOTDIR") {
      throw new StorageError(op, path, "not a directory (expected an OME-Zarr plate)", {
        code: "ENOTDIR",
      });
    }
    throw err;
  }
  const plate = g ? parsePlate(g.attrs, op, g.metaPath) : undefined;
  if (!g && !(await store.exists(path))) throw new NotFoundError(op, path);
  if (!g && !(await store.isDir(path).catch(() => false))) {
    throw new StorageError(op, path, "not a directory (expected an OME-Zarr plate)", {
      code: "ENOTDIR",
    });
  }
  if (!g || !plate) {
    throw new StorageError(op, path, "not an OME-Zarr plate (no plate metadata)", {
      code: "EINVAL",
    });
  }
  return { plate, group: g };
}

async function wellsOf(
  store: ByteStore,
  path: string,
  plate: NgffPlate,
  op: string,
): Promise<WellInfo[]> {
  return await Promise.all(plate.wells.map(async (w) => {
    const g = await groupAt(store, join(path, w.path), op);
    const fields = g ? parseWellImages(g.attrs, op, g.metaPath) : [];
    return {
      path: w.path,
      row: w.row,
      column: w.column,
      rowIndex: w.rowIndex ?? plate.rows.indexOf(w.row),
      columnIndex: w.columnIndex ?? plate.columns.indexOf(w.column),
      fields,
    };
  }));
}

interface FieldImage {
  axes: AxisInfo[];
  /** The full-resolution array, relative to the plate. */
  dir: string;
  meta: ArrayMeta;
}

async function fieldImage(
  store: ByteStore,
  plateDir: string,
  well: WellInfo,
  field: string,
  op: string,
): Promise<FieldImage> {
  const fieldDir = join(plateDir, well.path, field);
  const g = await groupAt(store, fieldDir, op);
  if (!g) {
    throw new StorageError(op, fieldDir, "no multiscales metadata in this field", {
      code: "EINVAL",
    });
  }
  const ms = parseMultiscale(g.attrs, op, g.metaPath);
  const dir = `${well.path}/${field}/${ms.datasets[0]!}`;
  const meta = await readArrayMeta(
    new ZarrStoreAdapter(store, plateDir),
    dir,
    join(plateDir, dir),
    op,
  );
  if (!meta) throw new NotFoundError(op, join(plateDir, dir), "no array at the first dataset");
  const axes = [...ms.axes];
  if (axes.length === 0) {
    for (const n of ["t", "c", "z", "y", "x"].slice(5 - meta.shape.length)) axes.push({ name: n });
  }
  return { axes, dir, meta };
}

function codecOf(meta: ArrayMeta): string {
  if (meta.version === 3) {
    const codecs = (Array.isArray(meta.raw.codecs) ? meta.raw.codecs : []) as {
      name: string;
      configuration?: Record<string, unknown>;
    }[];
    const parts = codecs.filter((c) => c.name !== "bytes" && c.name !== "transpose").map((c) => {
      const cfg = c.configuration ?? {};
      const inner = c.name === "blosc" ? cfg.cname : cfg.level;
      return inner === undefined
        ? c.name
        : `${c.name}(${c.name === "blosc" ? "" : "level="}${String(inner)})`;
    });
    return parts.length ? parts.join(" + ") : "none";
  }
  const comp = meta.raw.compressor as Record<string, unknown> | null | undefined;
  if (!comp) return "none";
  const id = String(comp.id);
  if (id === "blosc") return `blosc(${String(comp.cname)})`;
  return comp.level === undefined ? id : `${id}(level=${String(comp.level)})`;
}

/** Files and bytes under `dir` from the store's own listing and `stat`; undefined if it cannot list. */
async function usageOf(
  store: ByteStore,
  dir: string,
): Promise<{ files: number; bytes?: number } | undefined> {
  let files: string[];
  try {
    files = await store.listFiles(dir, { recursive: true });
  } catch {
    return undefined;
  }
  const stat = (store as { stat?: (p: string) => Promise<{ size?: number }> }).stat;
  if (typeof stat !== "function") return { files: files.length };
  let bytes = 0;
  for (const f of files) bytes += (await stat.call(store, f)).size ?? 0;
  return { files: files.length, bytes };
}

/** Files and bytes under `dir` on the local disk (symlinks counted, not followed). */
export async function diskUsage(dir: string): Promise<{ files: number; bytes: number }> {
  const { lstat, readdir } = await import("node:fs/promises");
  let files = 0;
  let bytes = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory()) stack.push(p);
      else {
        files++;
        bytes += (await lstat(p)).size;
      }
    }
  }
  return { files, bytes };
}

/** Where a plate is: a path on a byte store (`store` undefined: the local disk). */
export interface PlateLocation {
  /** The plate directory on `store`. */
  path: string;
  /** The byte store; undefined for the local disk. */
  store?: ByteStore;
  /** How to show the plate to the user (the path, or the URL). */
  display: string;
}

/**
 * The byte store holding the plate a command argument names: a bare path or
 * `zarr:` is the local disk, an `http(s)://` URL becomes the base of an HTTP
 * backend (so no request leaves it), any other `key:` is that registry backend.
 */
export async function plateLocation(
  registry: { getBackend(key: string): Promise<unknown> },
  loc: { backend: string; path: string },
): Promise<PlateLocation> {
  // A URL (`http://…`, `zarr:http://…`) is read over HTTP whatever the prefix.
  if (/^https?:\/\//i.test(loc.path)) {
    const { HttpBackend } = await import("../backends/http.ts");
    const base = loc.path.endsWith("/") ? loc.path : `${loc.path}/`;
    return { path: "/", store: new HttpBackend({ baseUrl: base }), display: loc.path };
  }
  // `zarr:s3://bucket/p.zarr`: the plate's bytes are on the s3 backend.
  const s3 = loc.backend === "zarr" ? s3Location(loc.path) : undefined;
  if (s3) {
    const store = await registry.getBackend("s3") as ByteStore;
    return { path: s3.path, store, display: loc.path };
  }
  if (loc.backend === "disk" || loc.backend === "zarr") {
    return { path: loc.path, display: loc.path };
  }
  const store = await registry.getBackend(loc.backend) as ByteStore;
  return { path: loc.path, store, display: loc.path };
}

let disk: Promise<ByteStore> | undefined;
/** The local disk as a byte store (created once, on first use). */
export function defaultStore(): Promise<ByteStore> {
  disk ??= import("../backends/disk.ts").then((m) => new m.DiskBackend());
  return disk;
}

/**
 * Everything `info` shows about the plate at `path` of `store` (default:
 * the local disk).
 *
 * @example
 * ```ts ignore
 * const info = await readPlateInfo("/data/plate.zarr");
 * console.log(info.wells.length, info.dtype, info.shape);
 * ```
 */
export async function readPlateInfo(path: string, store?: ByteStore): Promise<PlateInfo> {
  const op = "info";
  const s = store ?? await defaultStore();
  const { plate, group } = await plateMeta(s, path, op);
  const wells = await wellsOf(s, path, plate, op);
  const first = wells.find((w) => w.fields.length > 0);
  if (!first) throw new NotFoundError(op, path, "the plate has no fields");
  const img = await fieldImage(s, path, first, first.fields[0]!, op);
  const usage = store === undefined ? await diskUsage(path) : await usageOf(s, path);
  const info: PlateInfo = {
    path,
    ngff: plate.version ?? String(omeBlock(group.attrs).version ?? "unknown"),
    zarrFormat: group.zarrFormat,
    rows: plate.rows,
    columns: plate.columns,
    wells,
    fieldCount: plate.fieldCount ?? Math.max(...wells.map((w) => w.fields.length)),
    axes: img.axes,
    dtype: dtypeName(img.meta.raw, img.meta.version),
    shape: [...img.meta.shape],
    chunks: [...img.meta.chunks],
    codec: codecOf(img.meta),
  };
  if (usage) info.fileCount = usage.files;
  if (usage?.bytes !== undefined) info.sizeBytes = usage.bytes;
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
 * Reads one `y × x` plane per well (field, channel and z as selected) from
 * the plate at `path` of `store` (default: the local disk). `onWell` is
 * called after each well with the number of wells (for progress).
 */
export async function readWellPlanes(
  path: string,
  sel: PlaneSelection,
  onWell: (total: number) => void = () => {},
  store?: ByteStore,
): Promise<{ rows: string[]; columns: string[]; planes: WellPlane[] }> {
  const op = "preview";
  const s = store ?? await defaultStore();
  const { plate } = await plateMeta(s, path, op);
  const wells = await wellsOf(s, path, plate, op);
  const adapter = new ZarrStoreAdapter(s, path);
  const planes: WellPlane[] = [];
  for (const well of wells) {
    const field = well.fields[sel.field];
    if (field === undefined) {
      planes.push({ well });
      onWell(wells.length);
      continue;
    }
    const { axes, dir, meta } = await fieldImage(s, path, well, field, op);
    const coords = meta.shape.slice(0, -2).map((n, i) => {
      const ax = axes[i];
      const isChannel = ax?.type === "channel" || ax?.name === "c" || ax?.name === "channel";
      const isZ = ax?.name === "z";
      let idx = 0;
      if (isChannel) idx = sel.channel;
      else if (isZ) idx = sel.z ?? Math.floor(n / 2);
      if (idx >= n) {
        throw new StorageError(
          op,
          join(path, well.path, field),
          `${isChannel ? "channel" : ax?.name ?? `axis ${i}`} ${idx} out of range (0..${n - 1})`,
          { code: "ERANGE" },
        );
      }
      return idx;
    });
    const [plane] = await readPlanes(
      adapter,
      [{ dir, meta, coords }],
      op,
      DEFAULT_MAX_DECODED_BYTES,
    );
    planes.push({ well, plane: plane! });
    onWell(wells.length);
  }
  return { rows: plate.rows, columns: plate.columns, planes };
}
