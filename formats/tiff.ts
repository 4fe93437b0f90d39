/**
 * TIFF codec for grayscale image planes and stacks.
 *
 * Decisions: IFDs are parsed here, not by the npm `tiff` package (it lacks
 * several sample types, PackBits, BigTIFF and guards against loops and
 * impossible sizes); untrusted sizes are checked before allocating, and
 * strips or tiles may not reuse data (their byte counts together stay within
 * the file). Supported layouts and the fast path: `docs/design.md` ("TIFF").
 *
 * @example
 * ```ts
 * import { decodeTiff, encodeTiff } from "@hcs/store/formats";
 * const stack = { data: new Uint16Array(2 * 3 * 4).map((_, i) => i), shape: [2, 3, 4], stride: [12, 4, 1] };
 * const back = decodeTiff(encodeTiff(stack));
 * console.assert(back.shape.join() === "2,3,4" && back.data[23] === 23);
 * ```
 *
 * @module
 */

import type { NdArray, TypedArray } from "../backends/base.ts";
import { CorruptDataError, StorageError, UnsupportedFormatError } from "../errors.ts";
import type { FormatCodec } from "./mod.ts";
import {
  arrayClass,
  cStrides,
  dtypeName,
  type ElementType,
  HOST_LITTLE_ENDIAN,
  requireArray,
  swapBytes,
  typedView,
} from "../_internal/ndarray.ts";
import { checkDecodedSize, decodedBudget, type DecodeLimits } from "../_internal/limits.ts";
import { decompress, unpredictFloat, unpredictHorizontal } from "./tiff_codecs.ts";
import { encodeTiff } from "./tiff_encode.ts";
import { type Entry, Reader } from "./tiff_reader.ts";
import { allocBytes } from "../_internal/alloc.ts";
import { recycleStaging, runJob, stageCopy } from "../_internal/workers/pool.ts";

export { encodeTiff };

/** Most bytes one compressed byte can expand to, per compression (+ slack). */
const MAX_RATIO: Record<number, number> = { 5: 4096, 8: 1032, 32946: 1032, 32773: 64 };

function corrupt(path: string, reason: string): CorruptDataError {
  return new CorruptDataError("decode", path, reason);
}

function unsupported(path: string, reason: string): UnsupportedFormatError {
  return new UnsupportedFormatError("decode", path, reason);
}

/** One strip or tile of a page, in elements (a chunky pixel counts `samples` elements). */
interface Chunk {
  offset: number;
  count: number;
  /** Element index in the page of the chunk's first element. */
  dst: number;
  /** Rows stored in the chunk (tiles are stored full size). */
  rows: number;
  /** Elements per stored row. */
  cols: number;
  /** Rows and elements per row that lie inside the image. */
  copyRows: number;
  copyCols: number;
}

/** A validated page: everything needed to produce its pixels. */
interface Page {
  width: number;
  height: number;
  samples: number;
  /** `[h, w]`, `[h, w, samples]` (chunky) or `[samples, h, w]` (planar). */
  shape: number[];
  /** Elements in the page. */
  elements: number;
  /** Elements per image row in the output (w × samples when chunky). */
  pitch: number;
  /** Distance between samples a predictor differences (samples when chunky). */
  stride: number;
  type: ElementType;
  compression: number;
  predictor: number;
  /** Rows per strip (or tile length): what a full chunk holds. */
  chunkRows: number;
  chunks: Chunk[];
  description: string;
}

const T = {
  NEW_SUBFILE_TYPE: 254,
  WIDTH: 256,
  LENGTH: 257,
  BITS: 258,
  COMPRESSION: 259,
  DESCRIPTION: 270,
  STRIP_OFFSETS: 273,
  SAMPLES: 277,
  ROWS_PER_STRIP: 278,
  STRIP_COUNTS: 279,
  FILL_ORDER: 266,
  PLANAR: 284,
  PREDICTOR: 317,
  TILE_WIDTH: 322,
  TILE_LENGTH: 323,
  TILE_OFFSETS: 324,
  TILE_COUNTS: 325,
  SAMPLE_FORMAT: 339,
} as const;

function pageOf(
  r: Reader,
  entries: Map<number, Entry>,
  index: number,
  chunkBudget: number,
): Page | undefined {
  const { path } = r;
  const one = (tag: number, dflt?: number): number => {
    const e = entries.get(tag);
    if (!e || e.count === 0) {
      if (dflt === undefined) throw corrupt(path, `page ${index} lacks required tag ${tag}`);
      return dflt;
    }
    return r.ints({ ...e, count: 1 }, tag)[0]!;
  };
  if (one(T.NEW_SUBFILE_TYPE, 0) & 1) return undefined; // reduced-resolution image
  const width = one(T.WIDTH);
  const height = one(T.LENGTH);
  if (width < 1 || height < 1) throw corrupt(path, `page ${index} has size ${width}×${height}`);
  const samples = one(T.SAMPLES, 1);
  if (samples < 1 || samples > 64) {
    throw unsupported(path, `TIFF with ${samples} samples per pixel is not supported`);
  }
  const planar = samples > 1 && one(T.PLANAR, 1) === 2;
  const bitsEntry = entries.get(T.BITS);
  const allBits = bitsEntry ? r.ints(bitsEntry, T.BITS, 64) : [1];
  const bits = allBits[0] ?? 1;
  if (allBits.some((b) => b !== bits)) {
    throw unsupported(path, `TIFF samples of different sizes (${allBits}) are not supported`);
  }
  const format = one(T.SAMPLE_FORMAT, 1);
  const kind = format === 1 || format === 4 ? "u" : format === 2 ? "i" : format === 3 ? "f" : "";
  const type = { kind, size: bits / 8 } as ElementType;
  if (
    !kind || ![1, 2, 4, 8].includes(type.size) || !arrayClass(type) || (kind === "f" && bits === 8)
  ) {
    throw unsupported(
      path,
      `TIFF sample type ${bits}-bit ${
        ["", "uint", "int", "float", "void"][format] ?? `format ${format}`
      } is not supported`,
    );
  }
  if (one(T.FILL_ORDER, 1) !== 1) throw unsupported(path, "TIFF FillOrder 2 is not supported");
  const compression = one(T.COMPRESSION, 1);
  if (compression !== 1 && !MAX_RATIO[compression]) {
    throw unsupported(
      path,
      `TIFF compression ${compression} is not supported (supported: none, LZW, Deflate, PackBits)`,
    );
  }
  const predictor = one(T.PREDICTOR, 1);
  if (predictor !== 1 && predictor !== 2 && predictor !== 3) {
    throw unsupported(path, `TIFF predictor ${predictor} is not supported`);
  }
  if (predictor === 2 && kind === "f") {
    throw unsupported(path, "TIFF horizontal predictor on float data is not supported");
  }
  if (predictor === 3 && kind !== "f") {
    throw corrupt(path, "floating-point predictor on integer data");
  }
  const elements = width * height * samples;
  checkDecodedSize(
    elements * type.size,
    r.budget,
    "decode",
    path,
    `TIFF page ${index} of ${width}×${height}×${samples} ${dtypeName(type)}`,
  );
  // Chunky pixels are handled as rows of width × samples elements.
  const spp = planar ? 1 : samples;
  const planes = planar ? samples : 1;
  const pitch = width * spp;

  const tiled = entries.has(T.TILE_WIDTH) || entries.has(T.TILE_OFFSETS);
  let cw: number, ch: number, across: number, down: number;
  let offsetsEntry: Entry | undefined, countsEntry: Entry | undefined;
  if (tiled) {
    cw = one(T.TILE_WIDTH);
    ch = one(T.TILE_LENGTH);
    if (cw < 1 || ch < 1) throw corrupt(path, `invalid tile size ${cw}×${ch}`);
    across = Math.ceil(width / cw);
    down = Math.ceil(height / ch);
    offsetsEntry = entries.get(T.TILE_OFFSETS);
    countsEntry = entries.get(T.TILE_COUNTS);
  } else {
    cw = width;
    ch = Math.min(one(T.ROWS_PER_STRIP, height), height);
    if (ch < 1) throw corrupt(path, "RowsPerStrip is 0");
    across = 1;
    down = Math.ceil(height / ch);
    offsetsEntry = entries.get(T.STRIP_OFFSETS);
    countsEntry = entries.get(T.STRIP_COUNTS);
  }
  const perPlane = across * down;
  const nChunks = perPlane * planes;
  if (!offsetsEntry || offsetsEntry.count < nChunks) {
    throw corrupt(
      path,
      `page ${index} has ${offsetsEntry?.count ?? 0} data offsets, needs ${nChunks}`,
    );
  }
  // A real file spends at least a byte per strip/tile; refusing more chunks
  // than the file has bytes keeps crafted files (shared offset arrays, 1×1
  // tiles) from costing time out of proportion to their size.
  if (nChunks > chunkBudget) {
    throw corrupt(path, `page ${index} announces more strips/tiles than the file can hold`);
  }
  const chunkBytes = cw * ch * spp * type.size;
  checkDecodedSize(chunkBytes, r.budget, "decode", path, `TIFF strip/tile of ${cw}×${ch}`);
  const offsets = r.ints(offsetsEntry, tiled ? T.TILE_OFFSETS : T.STRIP_OFFSETS, Infinity, nChunks);
  let counts: number[];
  if (countsEntry) {
    if (countsEntry.count < nChunks) throw corrupt(path, "too few strip/tile byte counts");
    counts = r.ints(countsEntry, tiled ? T.TILE_COUNTS : T.STRIP_COUNTS, Infinity, nChunks);
  } else if (compression === 1) {
    counts = offsets.map((_, k) =>
      (tiled ? ch : Math.min(ch, height - Math.floor((k % perPlane) / across) * ch)) * cw * spp *
      type.size
    );
  } else throw corrupt(path, "compressed TIFF without byte counts");

  const chunks: Chunk[] = [];
  for (let k = 0; k < nChunks; k++) {
    const plane = Math.floor(k / perPlane);
    const j = k % perPlane;
    const y0 = Math.floor(j / across) * ch;
    const x0 = (j % across) * cw;
    const rows = tiled ? ch : Math.min(ch, height - y0);
    const cols = cw * spp;
    const offset = offsets[k]!;
    const count = counts[k]!;
    const need = rows * cols * type.size;
    // Empty (sparse) chunks are refused: they would let a tiny file announce
    // a huge zero-filled image.
    if (count === 0) throw corrupt(path, `page ${index}: strip/tile ${k} has no data`);
    r.check(offset, count, `data of page ${index}`);
    if (compression === 1 && count < need) {
      throw corrupt(path, `page ${index}: strip/tile ${k} holds ${count} bytes, needs ${need}`);
    }
    if (compression !== 1 && need > MAX_RATIO[compression]! * count + 1024) {
      throw corrupt(path, `page ${index}: ${count} compressed bytes cannot hold ${need}`);
    }
    chunks.push({
      offset,
      count,
      dst: plane * width * height + y0 * pitch + x0 * spp,
      rows,
      cols,
      copyRows: Math.min(rows, height - y0),
      copyCols: Math.min(cw, width - x0) * spp,
    });
  }
  const d = entries.get(T.DESCRIPTION);
  return {
    width,
    height,
    samples,
    shape: samples === 1
      ? [height, width]
      : planar
      ? [samples, height, width]
      : [height, width, samples],
    elements,
    pitch,
    stride: spp,
    type,
    compression,
    predictor,
    chunkRows: ch,
    chunks,
    description: d && index === 0 ? r.text(d) : "",
  };
}

/** Parses and validates every IFD (following the chain, refusing loops). */
function readPages(r: Reader): Page[] {
  const pages: Page[] = [];
  const seen = new Set<number>();
  let at = r.big ? r.u64(8) : r.u32(4);
  if (at === 0) throw corrupt(r.path, "TIFF has no image (first IFD offset is 0)");
  let index = 0;
  let totalBytes = 0;
  // Strip/tile data may not be counted twice: the byte counts of every
  // strip and tile together may not exceed the file size (shared or
  // overlapping ranges would let a small file decode to far more).
  let dataBytes = 0;
  let chunkBudget = r.bytes.length;
  // Entries of distinct IFDs cannot share bytes in a sound file: bounding
  // their total by the file size keeps overlapping-IFD chains linear.
  let entryBudget = Math.floor(r.bytes.length / (r.big ? 20 : 12));
  while (at !== 0) {
    if (seen.has(at)) throw corrupt(r.path, `TIFF IFD chain loops back to offset ${at}`);
    seen.add(at);
    const { entries, next, n } = r.ifd(at, entryBudget);
    entryBudget -= n;
    const page = pageOf(r, entries, index, chunkBudget);
    if (page) {
      chunkBudget -= page.chunks.length;
      totalBytes += page.elements * page.type.size;
      checkDecodedSize(totalBytes, r.budget, "decode", r.path, `TIFF stack of ${index + 1} pages`);
      for (const c of page.chunks) dataBytes += c.count;
      if (dataBytes > r.bytes.length) {
        throw corrupt(
          r.path,
          `TIFF strips/tiles share or overlap their data: their byte counts add up to more than the file's ${r.bytes.length} bytes`,
        );
      }
      pages.push(page);
    }
    index++;
    at = next;
  }
  if (pages.length === 0) throw corrupt(r.path, "TIFF has no full-resolution page");
  return pages;
}

/** Decodes a page into `out` (native byte order) at byte offset `at`. */
function decodePageInto(r: Reader, page: Page, out: Uint8Array, at: number): void {
  const { type, pitch, stride } = page;
  const size = type.size;
  for (const chunk of page.chunks) {
    const expected = chunk.rows * chunk.cols * size;
    const full = page.chunkRows * chunk.cols * size;
    const src = r.bytes.subarray(chunk.offset, chunk.offset + chunk.count);
    let native = decompress(page.compression, src, expected, Math.max(full, expected), r.path);
    if (native.byteOffset % size !== 0 || native.length !== expected) {
      native = native.slice(0, expected);
    }
    if (page.predictor === 3) {
      native = unpredictFloat(native, chunk.rows, chunk.cols, size, stride);
    } else {
      if (r.le !== HOST_LITTLE_ENDIAN) swapBytes(native, size);
      if (page.predictor === 2) {
        unpredictHorizontal(native, type, chunk.rows, chunk.cols, stride);
      }
    }
    const dst = at + chunk.dst * size;
    if (chunk.cols === pitch) {
      out.set(native.subarray(0, chunk.copyRows * pitch * size), dst);
      continue;
    }
    for (let y = 0; y < chunk.copyRows; y++) {
      const from = y * chunk.cols * size;
      out.set(native.subarray(from, from + chunk.copyCols * size), dst + y * pitch * size);
    }
  }
}

/** The byte offset of a page stored uncompressed and contiguously, if it is. */
function contiguousRange(page: Page): number | undefined {
  if (page.compression !== 1 || page.predictor !== 1) return undefined;
  const first = page.chunks[0];
  if (!first) return undefined;
  let next = first.offset;
  let dst = 0;
  for (const c of page.chunks) {
    if (c.offset !== next || c.cols !== page.pitch || c.dst !== dst) return undefined;
    next += c.copyRows * c.cols * page.type.size;
    dst += c.copyRows * c.cols;
  }
  return first.offset;
}

function shapeFromDescription(desc: string, n: number, page: number[]): number[] | undefined {
  if (!desc.startsWith("{") || !desc.includes('"shape"')) return undefined;
  try {
    const shape = (JSON.parse(desc) as { shape?: unknown }).shape;
    if (!Array.isArray(shape) || shape.length < page.length) return undefined;
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 1)) return undefined;
    const tail = shape.slice(shape.length - page.length);
    if (tail.some((d, k) => d !== page[k])) return undefined;
    const product = (shape as number[]).reduce((a, b) => a * b, 1);
    return product === n * page.reduce((a, b) => a * b, 1) ? shape as number[] : undefined;
  } catch {
    return undefined;
  }
}

/** What decoding a TIFF takes: a view of its bytes, or a buffer to fill. */
type TiffPlan = { view: NdArray } | BufferPlan;
interface BufferPlan {
  view?: undefined;
  bytes: number;
  elements: number;
  shape: number[];
  type: ElementType;
  /** Compression of the first page (the pool's weight depends on it). */
  compression: number;
}

/** Parses and checks every page; the uncompressed contiguous case becomes a view at once. */
function planTiff(
  bytes: Uint8Array,
  path: string,
  options: DecodeLimits | undefined,
): { plan: TiffPlan; r: Reader; pages: Page[]; starts: (number | undefined)[] } {
  const r = new Reader(bytes, path, decodedBudget(options));
  const pages = readPages(r);
  const p0 = pages[0]!;
  const describe = (p: Page) => `${p.shape.join("×")} ${dtypeName(p.type)}`;
  for (let k = 1; k < pages.length; k++) {
    const p = pages[k]!;
    if (describe(p) !== describe(p0)) {
      throw new StorageError(
        "decode",
        path,
        `TIFF pages differ (page 0 is ${describe(p0)}, page ${k} is ${
          describe(p)
        }); a multi-page TIFF loads as one array only when all pages share shape and sample type`,
        { code: "ERR_TIFF_PAGES_DIFFER" },
      );
    }
  }
  const { type } = p0;
  const n = pages.length;
  const plane = p0.elements;
  const planeBytes = plane * type.size;
  let shape = n === 1 ? [...p0.shape] : [n, ...p0.shape];
  shape = shapeFromDescription(p0.description, n, p0.shape) ?? shape;

  // Fast path: all pages uncompressed and back to back → one view (or one copy).
  const starts = pages.map(contiguousRange);
  const s0 = starts[0];
  if (s0 !== undefined && starts.every((s, k) => s === s0 + k * planeBytes)) {
    const data = typedView(bytes, s0, n * plane, type, r.le);
    return { plan: { view: { data, shape, stride: cStrides(shape) } }, r, pages, starts };
  }
  const compression = p0.compression;
  return {
    plan: { bytes: n * planeBytes, elements: n * plane, shape, type, compression },
    r,
    pages,
    starts,
  };
}

function fillPages(
  r: Reader,
  pages: Page[],
  starts: (number | undefined)[],
  out: Uint8Array,
): void {
  const planeBytes = pages[0]!.elements * pages[0]!.type.size;
  pages.forEach((page, k) => {
    const at = k * planeBytes;
    const s = starts[k];
    if (s !== undefined) {
      out.set(r.bytes.subarray(s, s + planeBytes), at);
      if (r.le !== HOST_LITTLE_ENDIAN) swapBytes(out.subarray(at, at + planeBytes), page.type.size);
    } else decodePageInto(r, page, out, at);
  });
}

function arrayOver(out: Uint8Array, plan: BufferPlan): NdArray {
  const Ctor = arrayClass(plan.type)!;
  const data = new Ctor(out.buffer, out.byteOffset, plan.elements) as TypedArray;
  return { data, shape: plan.shape, stride: cStrides(plan.shape) };
}

/**
 * Decodes TIFF bytes to `[h, w]` (one page) or `[pages, h, w]`. The result may
 * be a view over `bytes` (see the module notes). Throws `CorruptDataError` for
 * corrupt input, `UnsupportedFormatError` for features not supported and
 * `LimitExceededError` for images over `options.maxDecodedBytes` (default
 * 1 GiB, checked before allocating).
 *
 * @example
 * ```ts
 * import { decodeTiff, encodeTiff } from "@hcs/store/formats";
 * const bytes = encodeTiff({ data: new Float32Array([0.5, -2]), shape: [1, 2], stride: [2, 1] });
 * const img = decodeTiff(bytes);
 * console.assert(img.data instanceof Float32Array && img.data.buffer === bytes.buffer); // zero-copy
 * ```
 */
export function decodeTiff(bytes: Uint8Array, path = "<tiff>", options?: DecodeLimits): NdArray {
  const { plan, r, pages, starts } = planTiff(bytes, path, options);
  if (plan.view) return plan.view;
  const out = allocBytes(plan.bytes);
  fillPages(r, pages, starts, out);
  return arrayOver(out, plan);
}

/**
 * Decodes every page of `bytes` into `out` (exactly the decoded size, any
 * byte offset that is a multiple of the sample size): the worker half of
 * {@linkcode decodeTiffAsync}. Returns `out`.
 */
export function decodeTiffInto(
  bytes: Uint8Array,
  path: string,
  options: DecodeLimits | undefined,
  out: Uint8Array,
): Uint8Array {
  const { plan, r, pages, starts } = planTiff(bytes, path, options);
  const need = plan.view ? plan.view.data.byteLength : plan.bytes;
  if (out.length !== need) {
    throw new RangeError(`decodeTiffInto: output holds ${out.length} bytes, needs ${need}`);
  }
  if (plan.view) out.set(new Uint8Array(plan.view.data.buffer, plan.view.data.byteOffset, need));
  else fillPages(r, pages, starts, out);
  return out;
}

/**
 * Work per decoded byte relative to Deflate, for the pool's threshold:
 * PackBits decodes at close to copy speed (bench/codecs.ts), so it takes
 * 8× larger pages to pay for a worker.
 */
const WEIGHT: Record<number, number> = { 32773: 1 / 8 };

/** Options of {@linkcode decodeTiffAsync}. */
export interface DecodeTiffAsyncOptions extends DecodeLimits {
  /**
   * The caller gives up `bytes`: when they are the whole of their buffer,
   * that buffer is moved to the worker (detached here) instead of copied.
   */
  transferInput?: boolean;
}

/**
 * Like {@linkcode decodeTiff}, with compressed pages decoded on the codec
 * worker pool (`_internal/workers`) when the image is large enough to gain
 * from it; uncompressed contiguous pages stay a zero-copy view and small
 * images decode inline. Same result and same errors as `decodeTiff`. The
 * compressed input is copied for the worker (it may share its buffer with
 * other files) unless `transferInput` lets it be moved.
 *
 * @example
 * ```ts
 * import { decodeTiffAsync, encodeTiff } from "@hcs/store/formats";
 * const bytes = encodeTiff({ data: new Uint16Array([1, 2, 3]), shape: [1, 3], stride: [3, 1] });
 * const img = await decodeTiffAsync(bytes, "a.tif");
 * console.assert(img.data[2] === 3);
 * ```
 */
export async function decodeTiffAsync(
  bytes: Uint8Array,
  path = "<tiff>",
  options?: DecodeTiffAsyncOptions,
): Promise<NdArray> {
  const { plan } = planTiff(bytes, path, options);
  if (plan.view) return plan.view;
  const budget = decodedBudget(options);
  const whole = options?.transferInput === true && bytes.byteOffset === 0 &&
    bytes.buffer instanceof ArrayBuffer && bytes.byteLength === bytes.buffer.byteLength;
  let staged = false;
  const { out, input } = await runJob(
    "tiff",
    { bytes, path, maxDecodedBytes: budget, out: allocBytes(plan.bytes) },
    {
      weight: plan.bytes * (WEIGHT[plan.compression] ?? 1),
      prepare: (a) => {
        staged = !whole;
        const moved = whole ? a.bytes : stageCopy(a.bytes);
        return {
          args: { ...a, bytes: moved },
          transfer: [moved.buffer as ArrayBuffer, a.out.buffer as ArrayBuffer],
        };
      },
    },
  );
  if (staged) recycleStaging(input.buffer as ArrayBuffer);
  return arrayOver(out, plan);
}

/**
 * The TIFF codec as registered in `formats/mod.ts` (`.tif`, `.tiff`).
 *
 * @example
 * ```ts
 * import { tiffFormat } from "@hcs/store/formats";
 * console.assert(tiffFormat.extensions.includes(".tif") && tiffFormat.arrayFormat === true);
 * ```
 */
export const tiffFormat: FormatCodec = {
  name: "tiff",
  extensions: [".tif", ".tiff"],
  arrayFormat: true,
  encode: (value, path) => encodeTiff(requireArray(value, "tiff", path), path),
  decode: (bytes, path, options) => decodeTiff(bytes, path, options),
  decodeAsync: (bytes, path, options) => decodeTiffAsync(bytes, path, options),
};
