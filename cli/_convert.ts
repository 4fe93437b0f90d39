/**
 * Folder of microscope planes → OME-Zarr plate: file-name patterns (with the
 * ImageXpress and Operetta presets), the conversion plan (`--dry-run` prints
 * it) and the conversion itself through the registry's `disk` and `zarr`
 * backends. `cli convert`, `cli cp … zarr:…` and the demo all use this.
 *
 * @module
 */

import { basename, join } from "node:path";
import { NotADirectoryError, StorageError, UnsupportedOperationError } from "../errors.ts";
import type { NdArray, StorageBackend, StorageValue, TypedArray } from "../backends/base.ts";
import { isNdArray } from "../backends/base.ts";
import { naturalCompare } from "../_internal/listing.ts";
import { join as posixJoin } from "../_internal/paths.ts";
import { dtypeOf } from "../zarr/codec.ts";
import { decodeForPath } from "../formats/mod.ts";
import type { MappedFiles } from "../ffi/types.ts";
import type { Registry } from "../registry/registry.ts";
import { CliError, UsageError } from "./_shared.ts";
import { reportedCores } from "../_internal/cores.ts";

/** A named file-name pattern. */
export interface Preset {
  /** Preset name (`imagexpress`, `operetta`). */
  name: string;
  /** What it matches, for help and plans. */
  example: string;
  /** The pattern, with named groups well|row+column, field, channel, z. */
  pattern: RegExp;
}

/** The built-in presets. */
export const PRESETS: readonly Preset[] = [
  {
    name: "imagexpress",
    example: "A01_s1_w1.tif (optional plate prefix, _z3 suffix)",
    pattern:
      /^(?:.*_)?(?<well>[A-Z]{1,2}\d{1,3})_s(?<field>\d+)_w(?<channel>\d+)(?:_z(?<z>\d+))?(?:_?[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12})?\.(?:tiff?|png)$/i,
  },
  {
    name: "operetta",
    example: "r01c01f01p01-ch1sk1fk1fl1.tiff",
    pattern:
      /^r(?<row>\d{1,2})c(?<column>\d{1,3})f(?<field>\d+)p(?<z>\d+)-ch(?<channel>\d+)sk\d+fk\d+fl\d+\.(?:tiff?|png)$/i,
  },
];

/** Extensions `convert` reads. */
export const PLANE_EXTENSIONS: readonly string[] = [".tif", ".tiff", ".png"];

/** Compression names the Zarr backend accepts. */
export const COMPRESSIONS: readonly string[] = ["none", "gzip", "zlib", "zstd", "blosc"];

/** One input file and where it goes. */
export interface PlaneFile {
  /** Full path of the input file. */
  path: string;
  /** Its file name (also its virtual name inside the plate). */
  name: string;
  /** Plate row (`A`). */
  row: string;
  /** Plate column, as written in the name (`01`). */
  column: string;
  /** Field label from the name. */
  field: string;
  /** Channel label from the name. */
  channel: string;
  /** Z label from the name (undefined when the name has none). */
  z?: string;
}

/** One well's files, in (field, channel, z) order, with their coordinates. */
export interface WellPlan {
  /** Row name. */
  row: string;
  /** Column name. */
  column: string;
  /** Files, sorted. */
  files: PlaneFile[];
  /** Per file: `[field, channel, z]` indices (or `[field, channel]` without z). */
  coordinates: number[][];
}

/** What `convert` will do. */
export interface ConversionPlan {
  /** The input folder. */
  input: string;
  /** Preset used (`custom` for `--pattern`). */
  preset: string;
  /** The pattern's source text. */
  pattern: string;
  /** Files that did not match the pattern. */
  skipped: string[];
  /** Rows, plate order. */
  rows: string[];
  /** Columns, plate order. */
  columns: string[];
  /** Wells, plate order. */
  wells: WellPlan[];
  /** Field labels, sorted. */
  fields: string[];
  /** Channel labels, sorted. */
  channels: string[];
  /** Z labels, sorted (empty when the pattern has no z). */
  zs: string[];
  /** Number of planes. */
  planes: number;
  /** Element type of the first file's plane. */
  dtype: string;
  /** Shape of the first file's plane. */
  shape: number[];
}

/** Turns a row number (1 → A, 27 → AA) or letters into the row name. */
export function rowName(raw: string): string {
  if (/^\d+$/.test(raw)) {
    let n = Number(raw);
    if (n < 1) throw new CliError(`row number must be ≥ 1, got '${raw}'`);
    let s = "";
    while (n > 0) {
      const r = (n - 1) % 26;
      s = String.fromCharCode(65 + r) + s;
      n = Math.floor((n - 1) / 26);
    }
    return s;
  }
  return raw.toUpperCase();
}

function compareRows(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Compiles `--pattern` (a regex with named groups); a bad one is a usage error. */
export function compilePattern(source: string): RegExp {
  let re: RegExp;
  try {
    re = new RegExp(source);
  } catch (err) {
    throw new UsageError(
      `--pattern is not a valid regular expression: ${(err as Error).message}`,
      "convert",
    );
  }
  const groups = new Set([...source.matchAll(/\(\?<([A-Za-z_]\w*)>/g)].map((m) => m[1]!));
  if (!groups.has("well") && !(groups.has("row") && groups.has("column"))) {
    throw new UsageError(
      "--pattern needs a named group 'well' (e.g. (?<well>[A-P]\\d{2})) or both 'row' and 'column'",
      "convert",
    );
  }
  return re;
}

/** Matches one file name; undefined when it does not match. */
export function matchName(re: RegExp, name: string, path: string): PlaneFile | undefined {
  const m = re.exec(name);
  if (!m) return undefined;
  const g = m.groups ?? {};
  let row: string;
  let column: string;
  if (g.well !== undefined) {
    const w = /^([A-Za-z]+)(\d+)$/.exec(g.well);
    if (!w) throw new CliError(`cannot read a well from '${g.well}' in '${name}'`);
    row = w[1]!.toUpperCase();
    column = w[2]!;
  } else {
    row = rowName(g.row ?? "");
    column = g.column ?? "";
  }
  if (row === "" || column === "") throw new CliError(`cannot read a well from '${name}'`);
  const f: PlaneFile = {
    path,
    name,
    row,
    column,
    field: g.field ?? "1",
    channel: g.channel ?? "1",
  };
  if (g.z !== undefined) f.z = g.z;
  return f;
}

/** The preset that matches most of `names` (undefined when none matches any). */
export function detectPreset(names: readonly string[]): Preset | undefined {
  let best: Preset | undefined;
  let bestCount = 0;
  for (const p of PRESETS) {
    const n = names.filter((x) => p.pattern.test(x)).length;
    if (n > bestCount) {
      best = p;
      bestCount = n;
    }
  }
  return best;
}

/** The dtype name of an array's elements. */
export function dtypeName(data: TypedArray): string {
  return dtypeOf(data)?.v3 ?? data.constructor.name;
}

/** A decoded file as a 2-D plane (a leading axis of length 1 is dropped). */
export function asPlane(value: StorageValue, path: string): NdArray {
  if (!isNdArray(value)) {
    throw new CliError(`${path}: not an image plane`);
  }
  let { shape, stride } = value;
  while (shape.length > 2 && shape[0] === 1) {
    shape = shape.slice(1);
    stride = stride.slice(1);
  }
  if (shape.length !== 2) {
    throw new CliError(
      `${path}: expected a 2-D grayscale plane, got shape [${value.shape.join(", ")}]`,
    );
  }
  return { data: value.data, shape, stride };
}

/** Options of {@linkcode planConversion}. */
export interface PlanOptions {
  /** A preset name (`imagexpress`, `operetta`); detected when neither this nor `pattern`. */
  preset?: string;
  /** A custom regex source with named groups. */
  pattern?: string;
  /** Already-decoded planes by path (the demo passes its batch; skips reading the first file). */
  preloaded?: ReadonlyMap<string, NdArray>;
}

/** Lists `input`, matches names, groups wells and reads the first plane's dtype/shape. */
export async function planConversion(
  registry: Registry,
  input: string,
  options: PlanOptions = {},
): Promise<ConversionPlan> {
  const disk = await registry.getBackend<StorageBackend>("disk");
  if (!(await disk.isDir(input))) {
    throw new NotADirectoryError("convert", input);
  }
  const paths = await disk.listFiles(input, { extensions: PLANE_EXTENSIONS });
  if (paths.length === 0) {
    throw new CliError(`'${input}': no .tif, .tiff or .png files in this folder`);
  }
  const names = paths.map((p) => basename(p));
  let re: RegExp;
  let presetName: string;
  if (options.pattern !== undefined) {
    re = compilePattern(options.pattern);
    presetName = "custom";
  } else if (options.preset !== undefined) {
    const p = PRESETS.find((x) => x.name === options.preset!.toLowerCase());
    if (!p) {
      throw new UsageError(
        `unknown preset '${options.preset}' (use ${PRESETS.map((x) => x.name).join(" or ")})`,
        "convert",
      );
    }
    re = p.pattern;
    presetName = p.name;
  } else {
    const p = detectPreset(names);
    if (!p) {
      throw new CliError(
        `'${input}': no file name matches a preset (${
          PRESETS.map((x) => `${x.name}: ${x.example}`).join("; ")
        }); give --pattern`,
      );
    }
    re = p.pattern;
    presetName = p.name;
  }
  const files: PlaneFile[] = [];
  const skipped: string[] = [];
  paths.forEach((p, i) => {
    const f = matchName(re, names[i]!, p);
    if (f) files.push(f);
    else skipped.push(p);
  });
  if (files.length === 0) {
    throw new CliError(`'${input}': no file name matches the pattern ${re.source}`);
  }
  const hasZ = files.some((f) => f.z !== undefined);
  if (hasZ) { for (const f of files) f.z ??= "1"; }
  const fields = [...new Set(files.map((f) => f.field))].sort(naturalCompare);
  const channels = [...new Set(files.map((f) => f.channel))].sort(naturalCompare);
  const zs = hasZ ? [...new Set(files.map((f) => f.z!))].sort(naturalCompare) : [];
  const byWell = new Map<string, PlaneFile[]>();
  const seen = new Map<string, string>();
  for (const f of files) {
    const key = `${f.row}/${f.column}`;
    const planeKey = `${key}|${f.field}|${f.channel}|${f.z}`;
    const other = seen.get(planeKey);
    if (other !== undefined) {
      throw new CliError(
        `'${input}': '${other}' and '${f.name}' are the same plane (well ${f.row}${f.column}, field ${f.field}, channel ${f.channel}${
          hasZ ? `, z ${f.z}` : ""
        })`,
      );
    }
    seen.set(planeKey, f.name);
    const list = byWell.get(key) ?? [];
    list.push(f);
    byWell.set(key, list);
  }
  const perWell = fields.length * channels.length * Math.max(1, zs.length);
  const wells: WellPlan[] = [];
  for (const list of byWell.values()) {
    const { row, column } = list[0]!;
    if (list.length !== perWell) {
      throw new CliError(
        `'${input}': well ${row}${column} has ${list.length} of ${perWell} planes (${fields.length} fields × ${channels.length} channels${
          hasZ ? ` × ${zs.length} z` : ""
        })`,
      );
    }
    const idx = (f: PlaneFile) => {
      const c = [fields.indexOf(f.field), channels.indexOf(f.channel)];
      if (hasZ) c.push(zs.indexOf(f.z!));
      return c;
    };
    list.sort((a, b) => {
      const ia = idx(a);
      const ib = idx(b);
      return ia[0]! - ib[0]! || ia[1]! - ib[1]! || (ia[2] ?? 0) - (ib[2] ?? 0);
    });
    wells.push({ row, column, files: list, coordinates: list.map(idx) });
  }
  wells.sort((a, b) => compareRows(a.row, b.row) || naturalCompare(a.column, b.column));
  const rows = [...new Set(wells.map((w) => w.row))].sort(compareRows);
  const columns = [...new Set(wells.map((w) => w.column))].sort(naturalCompare);
  const first = wells[0]!.files[0]!;
  const sample = options.preloaded?.get(first.path) ??
    asPlane(await disk.load(first.path), first.path);
  return {
    input,
    preset: presetName,
    pattern: re.source,
    skipped,
    rows,
    columns,
    wells,
    fields,
    channels,
    zs,
    planes: files.length,
    dtype: dtypeName(sample.data),
    shape: [...sample.shape],
  };
}

/** The plan in words (what `--dry-run` prints). */
export function describePlan(plan: ConversionPlan, output: string): string[] {
  const lines = [
    `input:    ${plan.input}`,
    `preset:   ${plan.preset}  (${plan.pattern})`,
    `output:   ${output}`,
    `planes:   ${plan.planes} (${plan.skipped.length} files skipped)`,
    `wells:    ${plan.wells.length}  ${plan.wells.map((w) => w.row + w.column).join(" ")}`,
    `rows:     ${plan.rows.join(" ")}`,
    `columns:  ${plan.columns.join(" ")}`,
    `fields:   ${plan.fields.length}  (${plan.fields.join(", ")})`,
    `channels: ${plan.channels.length}  (${plan.channels.join(", ")})`,
    `z:        ${plan.zs.length === 0 ? "none" : `${plan.zs.length}  (${plan.zs.join(", ")})`}`,
    `plane:    ${plan.dtype} [${plan.shape.join(", ")}] (from ${
      basename(plan.wells[0]!.files[0]!.path)
    })`,
  ];
  for (const s of plan.skipped.slice(0, 5)) lines.push(`skipped:  ${basename(s)}`);
  if (plan.skipped.length > 5) lines.push(`skipped:  … ${plan.skipped.length - 5} more`);
  return lines;
}

/** Options of {@linkcode runConversion}. */
export interface ConvertOptions {
  /** NGFF version of the plate. Default the backend's (0.5). */
  ngff?: "0.5" | "0.4";
  /** Compression name (`none`, `gzip`, `zlib`, `zstd`, `blosc`). */
  compression?: string;
  /** Replace an existing output. */
  overwrite?: boolean;
  /** Already-decoded planes by input path (no re-read). */
  preloaded?: ReadonlyMap<string, NdArray>;
  /** Called after each well with its plane count, bytes and `row/column`. */
  onWell?: (planes: number, bytes: number, well: string) => void;
  /** Wells (`row/column`) already in the plate: not read, not written. */
  skip?: ReadonlySet<string>;
  /** Plate name stored in the metadata (default the output folder's name). */
  plateName?: string;
  /** Replace wells that are already there (a staging folder's half-done ones). */
  replaceWells?: boolean;
  /** The plate path recorded in `polystore_output_paths` (the final name of a staged plate). */
  recordOutputAs?: string;
  /** Checked between wells: once aborted, the conversion throws `signal.reason`. */
  signal?: AbortSignal;
  /**
   * The byte store the plate is written to (an S3 backend, …); default the
   * registry's `zarr` backend, which writes to the local disk.
   */
  store?: StorageBackend;
  /** Pyramid levels and pixel size, passed to the Zarr backend as given (viewer hook). */
  image?: { levels?: number | "auto"; pixelSize?: { x: number; y: number; z?: number } };
}

/** What a conversion did. */
export interface ConversionResult {
  /** The plate directory. */
  output: string;
  /** Wells written. */
  wells: number;
  /** Planes written. */
  planes: number;
  /** Bytes of decoded pixel data written. */
  bytes: number;
  /** The virtual paths, one per input file (`<output>/<file name>`). */
  virtualPaths: string[];
}

/**
 * Decoded pixel bytes a conversion keeps in flight by default (wells read
 * ahead plus wells being encoded and written): 256 MiB. A well is the unit,
 * so at least one well is in flight whatever its size.
 */
export const CONVERT_BYTES_IN_FLIGHT: number = 256 * 1024 * 1024;

/** Wells in flight at most by default: the cores plus one (and at least 2), budget permitting. */
export function defaultWellsInFlight(): number {
  return Math.max(2, (reportedCores() ?? 2) + 1);
}

/**
 * Wells a conversion of `plan` runs at once: as many as fit in `budget`
 * bytes of decoded planes (at least 1), at most `limit`.
 */
export function wellsInFlight(
  plan: Pick<ConversionPlan, "wells" | "shape" | "dtype">,
  budget: number = CONVERT_BYTES_IN_FLIGHT,
  limit: number = defaultWellsInFlight(),
): number {
  const perWell = plan.wells[0]?.files.length ?? 1;
  const size = dtypeSize(plan.dtype);
  const wellBytes = Math.max(1, perWell * plan.shape.reduce((a, b) => a * b, 1) * size);
  return Math.max(1, Math.min(limit, Math.floor(budget / wellBytes)));
}

function dtypeSize(name: string): number {
  const m = /(\d+)$/.exec(name);
  return m ? Math.max(1, Number(m[1]) / 8) : 8;
}

/** A reader that may hand out leased (recycled) arenas: the disk backend with the FFI reader. */
interface LeasingReader {
  leaseFiles(paths: readonly string[]): Promise<MappedFiles>;
}

function canLease(b: StorageBackend): b is StorageBackend & LeasingReader {
  return typeof (b as Partial<LeasingReader>).leaseFiles === "function";
}

/**
 * Decoded planes of `paths`, read through a lease where the disk backend
 * offers one (the file bytes never escape: they are decoded into fresh
 * arrays and the arena goes back for the next batch), else `loadBatch`.
 */
export async function readPlanes(
  disk: StorageBackend,
  paths: readonly string[],
): Promise<StorageValue[]> {
  if (paths.length === 0) return [];
  if (canLease(disk)) {
    let lease: MappedFiles | undefined;
    try {
      lease = await disk.leaseFiles(paths);
    } catch (err) {
      if (!(err instanceof UnsupportedOperationError)) throw err;
    }
    if (lease) {
      // try/finally, not `using`: Node 22's type stripping has no `using` yet.
      try {
        return paths.map((p, i) => {
          const bytes = lease.get(i);
          const value = decodeForPath(bytes, p, "loadBatch");
          // A decoder may return a view of its input; that must not outlive the lease.
          if (isNdArray(value) && value.data.buffer === bytes.buffer) {
            return { ...value, data: value.data.slice() as TypedArray };
          }
          return value;
        });
      } finally {
        lease.release();
      }
    }
  }
  return await disk.loadBatch(paths);
}

/** Tuning of the conversion pipeline (tests use it to compare serial and parallel runs). */
export interface PipelineOptions {
  /** Decoded bytes in flight (default {@linkcode CONVERT_BYTES_IN_FLIGHT}). */
  bytesInFlight?: number;
  /** Wells in flight at most (default {@linkcode defaultWellsInFlight}); 1 = one well at a time. */
  wellsInFlight?: number;
}

/**
 * Writes the plan's planes as an OME-Zarr plate at `output`, one `saveBatch`
 * per well, as a pipeline: up to {@linkcode wellsInFlight} wells are read,
 * decoded, encoded and written at once (each well's chunk encodes run
 * concurrently inside the Zarr backend), so a pool-backed codec has work
 * queued while another well waits on the disk. Wells are started in plan
 * order; on a failure or an abort no new well starts, the wells already
 * writing finish (each is atomic), and the error of the earliest failed well
 * is thrown (the abort reason when aborted). `virtualPaths` keep plan order.
 */
export async function runConversion(
  registry: Registry,
  plan: ConversionPlan,
  output: string,
  options: ConvertOptions & PipelineOptions = {},
): Promise<ConversionResult> {
  const disk = await registry.getBackend<StorageBackend>("disk");
  type PlateWriter = {
    saveBatch(planes: NdArray[], paths: string[], options: Record<string, unknown>): Promise<void>;
  };
  const zarrBackend = options.store === undefined
    ? await registry.getBackend("zarr") as unknown as PlateWriter
    : new (await import("../backends/zarr.ts")).ZarrBackend({
      store: options.store,
    }) as unknown as PlateWriter;
  const joinPath = options.store === undefined || options.store.key === "disk" ? join : posixJoin;
  const hasZ = plan.zs.length > 0;
  const axes: Record<string, unknown>[] = [
    { name: "field", role: "image", values: plan.fields },
    { name: "channel", type: "channel", values: plan.channels },
  ];
  if (hasZ) axes.push({ name: "z", type: "space", values: plan.zs });
  const result: ConversionResult = { output, wells: 0, planes: 0, bytes: 0, virtualPaths: [] };
  const read = async (well: WellPlan): Promise<NdArray[]> => {
    const missing = well.files.filter((f) => !options.preloaded?.has(f.path));
    const loaded = await readPlanes(disk, missing.map((f) => f.path));
    const byPath = new Map<string, NdArray>();
    missing.forEach((f, i) => byPath.set(f.path, asPlane(loaded[i]!, f.path)));
    return well.files.map((f) => options.preloaded?.get(f.path) ?? byPath.get(f.path)!);
  };
  const skip = options.skip ?? new Set<string>();
  const todo = plan.wells.filter((w) => !skip.has(`${w.row}/${w.column}`));
  const aborted = () => options.signal?.aborted === true;
  const write = async (well: WellPlan, planes: NdArray[]): Promise<string[]> => {
    let bytes = 0;
    for (const [i, p] of planes.entries()) {
      const f = well.files[i]!;
      if (dtypeName(p.data) !== plan.dtype || p.shape.join() !== plan.shape.join()) {
        throw new CliError(
          `'${f.path}': ${dtypeName(p.data)} [${
            p.shape.join(", ")
          }] differs from the first plane's ${plan.dtype} [${plan.shape.join(", ")}]`,
        );
      }
      bytes += p.data.byteLength;
    }
    const virtualPaths = well.files.map((f) => joinPath(output, f.name));
    const opts: Record<string, unknown> = {
      row: well.row,
      column: well.column,
      axes,
      coordinates: well.coordinates,
    };
    if (options.ngff !== undefined) opts.ngff = options.ngff;
    if (options.compression !== undefined) opts.compression = options.compression;
    if (options.plateName !== undefined) opts.plateName = options.plateName;
    if (options.replaceWells) opts.overwrite = true;
    if (options.recordOutputAs !== undefined) opts.recordStoreAs = options.recordOutputAs;
    Object.assign(opts, options.image);
    // Planes this conversion decoded itself are its own to give up: the
    // writer may move them to codec workers (level-0 chunks then compress
    // off-thread). Preloaded planes belong to the caller and stay intact.
    opts.transferPlanes = well.files.every((f) => !options.preloaded?.has(f.path));
    try {
      await zarrBackend.saveBatch(planes, virtualPaths, opts);
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw new CliError(`'${output}': ${(err as Error).message}`);
    }
    result.wells++;
    result.planes += planes.length;
    result.bytes += bytes;
    options.onWell?.(planes.length, bytes, `${well.row}/${well.column}`);
    return virtualPaths;
  };

  const slots = wellsInFlight(
    plan,
    options.bytesInFlight ?? CONVERT_BYTES_IN_FLIGHT,
    options.wellsInFlight ?? defaultWellsInFlight(),
  );
  const written: (string[] | undefined)[] = new Array(todo.length);
  const failures: { index: number; err: unknown }[] = [];
  let next = 0;
  const stopped = () => failures.length > 0 || aborted();
  // Each lane takes the next well in plan order: read → decode → encode → write.
  const lane = async () => {
    while (!stopped() && next < todo.length) {
      const index = next++;
      const well = todo[index]!;
      try {
        const planes = await read(well);
        // A well read but not yet written is dropped when the run stops meanwhile.
        if (stopped()) return;
        written[index] = await write(well, planes);
      } catch (err) {
        failures.push({ index, err });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(slots, todo.length) }, lane));
  if (failures.length > 0) {
    throw failures.reduce((a, b) => (b.index < a.index ? b : a)).err;
  }
  if (aborted() && written.includes(undefined)) throw options.signal!.reason;
  for (const v of written) if (v) result.virtualPaths.push(...v);
  return result;
}
