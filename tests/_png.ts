// A tiny PNG writer for tests, independent of the library's decoder and of
// fast-png: chunks + CRC, zlib via fflate, every filter type, Adam7, 1..16-bit
// packing, optional PLTE/tRNS. Used to build PngSuite-like files whose
// expected values are the pixels they were made from.
import { zlibSync } from "fflate";

const table = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 as PNG uses it. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = table[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One chunk: length, type, data, CRC. */
export function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let k = 0; k < 4; k++) out[4 + k] = type.charCodeAt(k);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** IHDR data. */
export function ihdr(w: number, h: number, depth: number, colorType: number, interlace = 0) {
  const d = new Uint8Array(13);
  const dv = new DataView(d.buffer);
  dv.setUint32(0, w);
  dv.setUint32(4, h);
  d.set([depth, colorType, 0, 0, interlace], 8);
  return d;
}

/** Options of {@linkcode makePng}. */
export interface PngSpec {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  /** Samples in row-major order, `channels` per pixel (palette: indices). */
  samples: ArrayLike<number>;
  interlace?: boolean;
  /** PLTE entries (r, g, b). */
  palette?: readonly (readonly [number, number, number])[];
  /** tRNS data bytes. */
  trns?: Uint8Array;
  /** Extra chunks before IDAT. */
  before?: Uint8Array[];
  /** Split the zlib stream over this many IDAT chunks. */
  idatChunks?: number;
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const PASSES = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

/** Packs one row of samples into bytes at `depth` bits each. */
function packRow(samples: number[], depth: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((samples.length * depth) / 8));
  samples.forEach((v, i) => {
    if (depth === 16) {
      out[2 * i] = v >> 8;
      out[2 * i + 1] = v & 0xff;
    } else if (depth === 8) out[i] = v;
    else {
      const bit = i * depth;
      out[bit >> 3]! |= v << (8 - depth - (bit % 8));
    }
  });
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Filters a row with `kind` (0..4) against `prev`. */
function filterRow(kind: number, row: Uint8Array, prev: Uint8Array, bpp: number): Uint8Array {
  const out = new Uint8Array(row.length + 1);
  out[0] = kind;
  for (let i = 0; i < row.length; i++) {
    const a = i >= bpp ? row[i - bpp]! : 0;
    const b = prev[i]!;
    const c = i >= bpp ? prev[i - bpp]! : 0;
    const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][kind]!;
    out[i + 1] = (row[i]! - pred) & 0xff;
  }
  return out;
}

/** The raw (filtered, pre-zlib) image data of `spec`, cycling through all five filters. */
export function rawImageData(spec: PngSpec): Uint8Array {
  const ch = CHANNELS[spec.colorType]!;
  const bpp = Math.max(1, (ch * spec.depth) >> 3);
  const passes = spec.interlace ? PASSES : [[0, 0, 1, 1]];
  const rows: Uint8Array[] = [];
  let filter = 0;
  for (const [x0, y0, dx, dy] of passes as [number, number, number, number][]) {
    const pw = Math.ceil((spec.width - x0) / dx);
    const ph = Math.ceil((spec.height - y0) / dy);
    if (pw <= 0 || ph <= 0) continue;
    let prev: Uint8Array = new Uint8Array(Math.ceil((pw * ch * spec.depth) / 8));
    for (let r = 0; r < ph; r++) {
      const y = y0 + r * dy;
      const s: number[] = [];
      for (let c = 0; c < pw; c++) {
        const x = x0 + c * dx;
        for (let k = 0; k < ch; k++) s.push(spec.samples[(y * spec.width + x) * ch + k]!);
      }
      const row = packRow(s, spec.depth);
      rows.push(filterRow(filter++ % 5, row, prev, bpp));
      prev = row;
    }
  }
  return concat(rows);
}

/** A complete PNG file for `spec`. */
export function makePng(spec: PngSpec): Uint8Array {
  const z = zlibSync(rawImageData(spec), { level: 6 });
  const parts = spec.idatChunks ?? 1;
  const idat: Uint8Array[] = [];
  const step = Math.ceil(z.length / parts);
  for (let at = 0; at < z.length; at += step) idat.push(chunk("IDAT", z.subarray(at, at + step)));
  const plte = spec.palette
    ? [chunk("PLTE", new Uint8Array(spec.palette.flatMap((e) => [...e])))]
    : [];
  const trns = spec.trns ? [chunk("tRNS", spec.trns)] : [];
  return concat([
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk(
      "IHDR",
      ihdr(spec.width, spec.height, spec.depth, spec.colorType, spec.interlace ? 1 : 0),
    ),
    ...(spec.before ?? []),
    ...plte,
    ...trns,
    ...idat,
    chunk("IEND", new Uint8Array(0)),
  ]);
}

/** Deterministic pseudo-random samples below `2 ** depth`. */
export function randomSamples(n: number, depth: number, seed: number): number[] {
  const out: number[] = [];
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out.push((x >>> 8) % 2 ** depth);
  }
  return out;
}
