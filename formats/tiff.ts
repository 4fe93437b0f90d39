/**
 * TIFF codec for grayscale image planes and stacks.
 *
 * Decoding (`.tif` / `.tiff`):
 * - sample types uint8/16/32/64, int8/16/32/64, float32/64 (and float16 where
 *   the runtime has `Float16Array`); little- and big-endian files; classic
 *   TIFF and BigTIFF;
 * - one page → `[h, w]`; several pages → `[pages, h, w]` (pages must share
 *   shape and sample type, else a `StorageError`). Pages with several samples
 *   per pixel (not needed for HCS planes, but what tifffile writes for a
 *   `(3, h, w)` or `(4, h, w)` array unless told `photometric="minisblack"`)
 *   load as `[h, w, s]` (chunky) or `[s, h, w]` (planar), samples raw (no
 *   colour conversion, no alpha handling); a tifffile-style
 *   `{"shape": [...]}` ImageDescription on the first page restores the
 *   original shape (e.g. `[1, h, w]` or `[t, z, h, w]`); reduced-resolution
 *   pages (thumbnails, pyramid levels) are skipped;
 * - fast path: uncompressed planes stored contiguously (one strip, or strips
 *   back to back; the pages of a stack back to back) come back as a typed
 *   array VIEW over the input bytes, without a copy, when the data is aligned
 *   for its element size and in the host's byte order (else one copy);
 * - everything else (LZW, Deflate/zlib 8 and 32946, PackBits, tiles,
 *   predictors 2 and 3) is assembled here strip by strip / tile by tile.
 *
 * Why not the npm `tiff` package (image-js)? It is decode-only and, in 7.1,
 * has no uint32/int32 or signed 8/16-bit types, no PackBits, no
 * floating-point predictor, no predictor above 16 bits, no BigTIFF, no guard
 * against an IFD chain that loops (its decoder then never returns) or against
 * sizes that do not fit the file, and its LZW decoder takes ~2 s per
 * 2048×2048 uint16 plane on Deno. So the IFDs are parsed and validated here,
 * Deflate goes through `fflate` (the inflater `tiff` itself uses), and LZW and
 * PackBits — small, well-specified decoders — are written here (see `lzw`).
 *
 * Encoding: no maintained npm library writes 16/32-bit integer and float
 * grayscale multi-page TIFF (`tiff` only decodes; `utif` writes 8-bit RGBA;
 * `geotiff`'s writer is single-image and geo-oriented), so this module has a
 * small baseline encoder: uncompressed, one strip per page, host byte order
 * (little-endian on every common machine), SampleFormat for signed/float,
 * 2-D arrays → one page, 3-D arrays → pages, pixel data first and the IFDs
 * after it (so a stack reads back as one zero-copy view), and a tifffile-style
 * `{"shape": [...]}` description so NumPy/tifffile see the same shape.
 *
 * Corrupt input (bad offsets, counts, loops, truncation, sizes the data cannot
 * hold) throws a `StorageError`; nothing is allocated for a size that the file
 * could not contain.
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

import { inflateSync, unzlibSync } from "npm:fflate@^0.8.3";
import type { NdArray, TypedArray } from "../backends/base.ts";
import { StorageError, UnsupportedFormatError } from "../errors.ts";
import type { FormatCodec } from "./mod.ts";
import {
  arrayClass,
  bytesOf,
  cStrides,
  dtypeName,
  type ElementType,
  HOST_LITTLE_ENDIAN,
  requireArray,
  swapBytes,
  toContiguous,
  typedView,
} from "../_internal/ndarray.ts";

/** Refuse arrays larger than this many bytes (before allocating). */
const MAX_ARRAY_BYTES = 2 ** 32;
/** Most bytes one compressed byte can expand to, per compression (+ slack). */
const MAX_RATIO: Record<number, number> = { 5: 4096, 8: 1032, 32946: 1032, 32773: 64 };

function corrupt(path: string, reason: string): StorageError {
  return new StorageError("decode", path, reason, { code: "ERR_CORRUPT_DATA" });
}

function unsupported(path: string, reason: string): UnsupportedFormatError {
  return new UnsupportedFormatError("decode", path, reason);
}

const TYPE_SIZE: Record<number, number> = {
  1: 1,
  2: 1,
  3: 2,
  4: 4,
  5: 8,
  6: 1,
  7: 1,
  8: 2,
  9: 4,
  10: 8,
  11: 4,
  12: 8,
  13: 4,
  16: 8,
  17: 8,
  18: 8,
};

interface Entry {
  type: number;
  count: number;
  /** File offset of the values (inline values point into the entry). */
  at: number;
}

/** Reads integers and strings from the file with bounds checks. */
class Reader {
  readonly bytes: Uint8Array;
  readonly path: string;
  readonly dv: DataView;
  readonly le: boolean;
  readonly big: boolean;
  constructor(bytes: Uint8Array, path: string) {
    this.bytes = bytes;
    this.path = path;
    if (bytes.length < 8) throw corrupt(path, "not a TIFF file (too short)");
    const b0 = bytes[0];
    const b1 = bytes[1];
    if (b0 === 0x49 && b1 === 0x49) this.le = true;
    else if (b0 === 0x4d && b1 === 0x4d) this.le = false;
    else throw corrupt(path, "not a TIFF file (bad byte-order mark)");
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const magic = this.dv.getUint16(2, this.le);
    if (magic === 42) this.big = false;
    else if (magic === 43) {
      this.big = true;
      if (bytes.length < 16 || this.dv.getUint16(4, this.le) !== 8) {
        throw corrupt(path, "invalid BigTIFF header");
      }
    } else throw corrupt(path, `not a TIFF file (magic ${magic})`);
  }
  check(at: number, len: number, what: string): void {
    if (!Number.isSafeInteger(at) || at < 0 || len < 0 || at + len > this.bytes.length) {
      throw corrupt(this.path, `${what} at offset ${at} (+${len}) lies outside the file`);
    }
  }
  u16(at: number): number {
    this.check(at, 2, "value");
    return this.dv.getUint16(at, this.le);
  }
  u32(at: number): number {
    this.check(at, 4, "value");
    return this.dv.getUint32(at, this.le);
  }
  u64(at: number): number {
    this.check(at, 8, "value");
    const lo = this.dv.getUint32(at + (this.le ? 0 : 4), this.le);
    const hi = this.dv.getUint32(at + (this.le ? 4 : 0), this.le);
    const v = hi * 2 ** 32 + lo;
    if (!Number.isSafeInteger(v)) throw corrupt(this.path, `64-bit value too large at ${at}`);
    return v;
  }
  offset(at: number): number {
    return this.big ? this.u64(at) : this.u32(at);
  }
  /** Parses the IFD at `at`: its entries and the offset of the next IFD. */
  ifd(at: number, maxEntries: number): { entries: Map<number, Entry>; next: number; n: number } {
    const countSize = this.big ? 8 : 2;
    const entrySize = this.big ? 20 : 12;
    const inline = this.big ? 8 : 4;
    const n = this.big ? this.u64(at) : this.u16(at);
    this.check(at, countSize + n * entrySize + inline, `IFD with ${n} entries`);
    if (n > maxEntries) throw corrupt(this.path, `IFDs overlap (offset ${at})`);
    const entries = new Map<number, Entry>();
    for (let k = 0; k < n; k++) {
      const e = at + countSize + k * entrySize;
      const tag = this.dv.getUint16(e, this.le);
      const type = this.dv.getUint16(e + 2, this.le);
      const count = this.big ? this.u64(e + 4) : this.dv.getUint32(e + 4, this.le);
      const size = TYPE_SIZE[type];
      if (!size) continue; // unknown type: ignore the tag, as readers must
      const valueField = e + (this.big ? 12 : 8);
      const at2 = count * size <= inline ? valueField : this.offset(valueField);
      entries.set(tag, { type, count, at: at2 });
    }
    return { entries, next: this.offset(at + countSize + n * entrySize), n };
  }
  /** All values of an integer tag. */
  ints(entry: Entry, tag: number, max = Infinity, first = entry.count): number[] {
    const size = TYPE_SIZE[entry.type]!;
    if (![1, 3, 4, 8, 9, 13, 16, 17, 18].includes(entry.type)) {
      throw corrupt(this.path, `tag ${tag} has non-integer type ${entry.type}`);
    }
    if (entry.count > max) throw corrupt(this.path, `tag ${tag} has ${entry.count} values`);
    this.check(entry.at, entry.count * size, `tag ${tag} values`);
    const n = Math.min(first, entry.count);
    const out = new Array<number>(n);
    for (let k = 0; k < n; k++) {
      const p = entry.at + k * size;
      switch (entry.type) {
        case 1:
          out[k] = this.bytes[p]!;
          break;
        case 3:
          out[k] = this.dv.getUint16(p, this.le);
          break;
        case 8:
          out[k] = this.dv.getInt16(p, this.le);
          break;
        case 9:
          out[k] = this.dv.getInt32(p, this.le);
          break;
        case 4:
        case 13:
          out[k] = this.dv.getUint32(p, this.le);
          break;
        default:
          out[k] = this.u64(p);
      }
    }
    return out;
  }
  text(entry: Entry): string {
    if (entry.type !== 2 && entry.type !== 7) return "";
    this.check(entry.at, entry.count, "text");
    let end = entry.at + entry.count;
    while (end > entry.at && this.bytes[end - 1] === 0) end--;
    return new TextDecoder("utf-8", { fatal: false }).decode(this.bytes.subarray(entry.at, end));
  }
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
  if (elements * type.size > MAX_ARRAY_BYTES) {
    throw corrupt(path, `page ${index} of ${width}×${height}×${samples} is too large`);
  }
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
  if (chunkBytes > MAX_ARRAY_BYTES) throw corrupt(path, `chunk of ${cw}×${ch} is too large`);
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
      if (totalBytes > MAX_ARRAY_BYTES) throw corrupt(r.path, "TIFF stack is too large");
      pages.push(page);
    }
    index++;
    at = next;
  }
  if (pages.length === 0) throw corrupt(r.path, "TIFF has no full-resolution page");
  return pages;
}

// ---- decompression -------------------------------------------------------

function packBits(src: Uint8Array, expected: number, path: string): Uint8Array {
  const out = new Uint8Array(expected);
  let i = 0;
  let o = 0;
  while (o < expected && i < src.length) {
    const n = src[i++]!;
    if (n < 128) {
      const len = Math.min(n + 1, expected - o);
      if (i + len > src.length) {
        throw corrupt(path, "PackBits literal run past the end of its strip");
      }
      out.set(src.subarray(i, i + len), o);
      i += n + 1;
      o += len;
    } else if (n > 128) {
      if (i >= src.length) throw corrupt(path, "PackBits repeat run past the end of its strip");
      const len = Math.min(257 - n, expected - o);
      out.fill(src[i++]!, o, o + len);
      o += len;
    } // 128: no-op
  }
  if (o < expected) throw corrupt(path, `PackBits strip decodes to ${o} bytes, needs ${expected}`);
  return out;
}

function deflate(src: Uint8Array, expected: number, path: string): Uint8Array {
  const out = new Uint8Array(expected);
  let got: Uint8Array;
  try {
    const zlibHeader = src.length >= 2 && (src[0]! & 0x0f) === 8 &&
      ((src[0]! << 8) | src[1]!) % 31 === 0;
    got = zlibHeader ? unzlibSync(src, { out }) : inflateSync(src, { out });
  } catch (err) {
    throw corrupt(path, `Deflate data is corrupt (${(err as Error).message})`);
  }
  if (got.length < expected) {
    throw corrupt(path, `Deflate strip decodes to ${got.length} bytes, needs ${expected}`);
  }
  return got.buffer === out.buffer ? out : got.subarray(0, expected);
}

const LZW_CLEAR = 256;
const LZW_EOI = 257;
const lzwPrefix = new Int16Array(4096);
const lzwSuffix = new Uint8Array(4096);
const lzwFirst = new Uint8Array(4096);
const lzwLength = new Uint16Array(4096);
for (let c = 0; c < 256; c++) {
  lzwPrefix[c] = -1;
  lzwSuffix[c] = c;
  lzwFirst[c] = c;
  lzwLength[c] = 1;
}

/**
 * TIFF LZW (MSB-first codes of 9..12 bits, "early change", as libtiff
 * writes), decoding into exactly `expected` bytes.
 *
 * Written here rather than taken from the `tiff` package: its decoder builds
 * a JavaScript array per code and takes ~2 s (Deno) / ~0.5 s (Bun) for one
 * 2048×2048 uint16 plane, against a few tens of ms for this table-based one;
 * it also keeps its table in module state that a corrupt strip can leave
 * inconsistent. The old-style (pre-TIFF 6) LSB-first variant is refused.
 */
function lzw(src: Uint8Array, expected: number, path: string): Uint8Array {
  if (src.length >= 2 && src[0] === 0 && (src[1]! & 1) === 1) {
    throw unsupported(path, "old-style (LSB-first) TIFF LZW is not supported");
  }
  const out = new Uint8Array(expected);
  const n = src.length;
  const totalBits = n * 8;
  let bit = 0;
  let width = 9;
  let free = 258;
  let old = -1;
  let o = 0;
  while (o < expected && bit + width <= totalBits) {
    const p = bit >>> 3;
    const word = (src[p]! << 16) | ((src[p + 1] ?? 0) << 8) | (src[p + 2] ?? 0);
    const code = (word >>> (24 - (bit & 7) - width)) & ((1 << width) - 1);
    bit += width;
    if (code === LZW_EOI) break;
    if (code === LZW_CLEAR) {
      width = 9;
      free = 258;
      old = -1;
      continue;
    }
    if (old < 0) {
      if (code > 255) throw corrupt(path, `LZW data is corrupt (code ${code} after a clear)`);
      out[o++] = code;
      old = code;
      continue;
    }
    if (code > free || free >= 4096) {
      throw corrupt(path, `LZW data is corrupt (code ${code}, table size ${free})`);
    }
    // New entry: the old string + first byte of the current one (or of the
    // old one, for the code being defined right now: the KwKwK case).
    lzwPrefix[free] = old;
    lzwSuffix[free] = code === free ? lzwFirst[old]! : lzwFirst[code]!;
    lzwFirst[free] = lzwFirst[old]!;
    lzwLength[free] = lzwLength[old]! + 1;
    free++;
    // Emit the string of `code`, last byte first; clip at the output's end.
    const len = lzwLength[code]!;
    let c = code;
    for (let k = o + len - 1; k >= o; k--) {
      if (k < expected) out[k] = lzwSuffix[c]!;
      c = lzwPrefix[c]!;
    }
    o += len;
    old = code;
    if (free === (1 << width) - 1 && width < 12) width++;
  }
  if (o < expected) throw corrupt(path, `LZW strip decodes to ${o} bytes, needs ${expected}`);
  return out;
}

function decompress(page: Page, chunk: Chunk, src: Uint8Array, expected: number, path: string) {
  switch (page.compression) {
    case 1:
      return src.slice(0, expected);
    case 5:
      return lzw(src, expected, path);
    case 8:
    case 32946:
      return deflate(src, expected, path);
    case 32773:
      return packBits(src, expected, path);
  }
  throw unsupported(path, `TIFF compression ${page.compression} (chunk at ${chunk.offset})`);
}

/**
 * Undoes the floating-point predictor: bytes differenced with a distance of
 * `stride` (samples per pixel), then stored as byte planes, MSB first.
 */
function unpredictFloat(
  src: Uint8Array,
  rows: number,
  cols: number,
  size: number,
  stride: number,
): Uint8Array {
  const out = new Uint8Array(src.length);
  const rowBytes = cols * size;
  for (let y = 0; y < rows; y++) {
    const base = y * rowBytes;
    for (let k = base + stride; k < base + rowBytes; k++) {
      src[k] = (src[k]! + src[k - stride]!) & 0xff;
    }
    for (let x = 0; x < cols; x++) {
      for (let b = 0; b < size; b++) {
        const msbFirst = src[base + b * cols + x]!;
        out[base + x * size + (HOST_LITTLE_ENDIAN ? size - 1 - b : b)] = msbFirst;
      }
    }
  }
  return out;
}

/** Undoes horizontal differencing on native-order integers, row by row. */
function unpredictHorizontal(
  chunk: Uint8Array,
  type: ElementType,
  rows: number,
  cols: number,
  stride: number,
) {
  const Ctor = arrayClass(type)!;
  const a = new Ctor(chunk.buffer, chunk.byteOffset, rows * cols) as { [i: number]: number };
  for (let y = 0; y < rows; y++) {
    const base = y * cols;
    for (let x = stride; x < cols; x++) a[base + x] = a[base + x]! + a[base + x - stride]!;
  }
}

/** Decodes a page into `out` (native byte order) at byte offset `at`. */
function decodePageInto(r: Reader, page: Page, out: Uint8Array, at: number): void {
  const { type, pitch, stride } = page;
  const size = type.size;
  for (const chunk of page.chunks) {
    const expected = chunk.rows * chunk.cols * size;
    const src = r.bytes.subarray(chunk.offset, chunk.offset + chunk.count);
    let native: Uint8Array = decompress(page, chunk, src, expected, r.path);
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

/**
 * Decodes TIFF bytes to `[h, w]` (one page) or `[pages, h, w]`. The result may
 * be a view over `bytes` (see the module notes). Throws `StorageError` for
 * corrupt input and `UnsupportedFormatError` for features not supported.
 *
 * @example
 * ```ts
 * import { decodeTiff, encodeTiff } from "@hcs/store/formats";
 * const bytes = encodeTiff({ data: new Float32Array([0.5, -2]), shape: [1, 2], stride: [2, 1] });
 * const img = decodeTiff(bytes);
 * console.assert(img.data instanceof Float32Array && img.data.buffer === bytes.buffer); // zero-copy
 * ```
 */
export function decodeTiff(bytes: Uint8Array, path = "<tiff>"): NdArray {
  const r = new Reader(bytes, path);
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
    return { data, shape, stride: cStrides(shape) };
  }
  const out = new Uint8Array(n * planeBytes);
  pages.forEach((page, k) => {
    const at = k * planeBytes;
    const s = starts[k];
    if (s !== undefined) {
      out.set(bytes.subarray(s, s + planeBytes), at);
      if (r.le !== HOST_LITTLE_ENDIAN) swapBytes(out.subarray(at, at + planeBytes), type.size);
    } else decodePageInto(r, page, out, at);
  });
  const Ctor = arrayClass(type)!;
  return { data: new Ctor(out.buffer, 0, n * plane) as TypedArray, shape, stride: cStrides(shape) };
}

/**
 * Encodes a 2-D array as a one-page TIFF, or a 3-D (or higher) array as
 * pages of its last two axes (the leading axes flattened, the full shape kept
 * in a tifffile-style description). Uncompressed, one strip per page, host
 * byte order. Element types: uint8/16/32/64, int8/16/32/64, float32/64 (and
 * float16 where the runtime has `Float16Array`).
 *
 * @example
 * ```ts
 * import { encodeTiff } from "@hcs/store/formats";
 * const bytes = encodeTiff({ data: new Int16Array([-1, 1]), shape: [1, 2], stride: [2, 1] });
 * console.assert(bytes[0] === 0x49 && bytes[2] === 42); // "II", 42
 * ```
 */
export function encodeTiff(value: NdArray, path = "<tiff>"): Uint8Array {
  const { data, shape, type } = toContiguous(value);
  if (shape.length < 2) {
    throw new UnsupportedFormatError(
      "encode",
      path,
      `TIFF holds 2-D planes or stacks of them, got shape [${shape.join(", ")}]`,
    );
  }
  const h = shape[shape.length - 2]!;
  const w = shape[shape.length - 1]!;
  const n = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  if (h < 1 || w < 1 || n < 1) {
    throw new UnsupportedFormatError("encode", path, "TIFF cannot hold an empty image");
  }
  const planeBytes = w * h * type.size;
  const pixels = bytesOf(data);
  const desc = new TextEncoder().encode(`{"shape": [${shape.join(", ")}]}\0`);
  const nTags = 12;
  const ifdBytes = 2 + nTags * 12 + 4;
  let at = 8 + pixels.length;
  at += at & 1;
  const ifd0 = at;
  const descAt = ifd0 + n * ifdBytes;
  const total = descAt + desc.length;
  if (total > 0xffffffff) {
    throw new UnsupportedFormatError("encode", path, "array too large for a classic TIFF (4 GiB)");
  }
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  const le = HOST_LITTLE_ENDIAN;
  out.set(le ? [0x49, 0x49] : [0x4d, 0x4d]);
  dv.setUint16(2, 42, le);
  dv.setUint32(4, ifd0, le);
  out.set(pixels, 8);
  out.set(desc, descAt);
  const format = type.kind === "u" ? 1 : type.kind === "i" ? 2 : 3;
  for (let p = 0; p < n; p++) {
    const base = ifd0 + p * ifdBytes;
    const tags: [number, number, number, number][] = [
      [T.WIDTH, 4, 1, w],
      [T.LENGTH, 4, 1, h],
      [T.BITS, 3, 1, type.size * 8],
      [T.COMPRESSION, 3, 1, 1],
      [262, 3, 1, 1], // PhotometricInterpretation: BlackIsZero
      [T.DESCRIPTION, 2, p === 0 ? desc.length : 1, p === 0 ? descAt : 0],
      [T.STRIP_OFFSETS, 4, 1, 8 + p * planeBytes],
      [T.SAMPLES, 3, 1, 1],
      [T.ROWS_PER_STRIP, 4, 1, h],
      [T.STRIP_COUNTS, 4, 1, planeBytes],
      [T.PLANAR, 3, 1, 1],
      [T.SAMPLE_FORMAT, 3, 1, format],
    ];
    dv.setUint16(base, nTags, le);
    tags.forEach(([tag, t, count, v], k) => {
      const e = base + 2 + k * 12;
      dv.setUint16(e, tag, le);
      dv.setUint16(e + 2, t, le);
      dv.setUint32(e + 4, count, le);
      if (t === 3) dv.setUint16(e + 8, v, le);
      else dv.setUint32(e + 8, v, le);
    });
    dv.setUint32(base + 2 + nTags * 12, p + 1 < n ? base + ifdBytes : 0, le);
  }
  return out;
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
  decode: (bytes, path) => decodeTiff(bytes, path),
};
