// Test-side TIFF writer, independent of formats/tiff.ts, used to produce the
// layouts our encoder never writes: big-endian files, several strips, tiles,
// Deflate and PackBits compression, predictors 2 and 3, BigTIFF, RGB, loops.
import { zlibSync } from "fflate";

export interface PageSpec {
  width: number;
  height: number;
  /** Elements in C order, native byte order. */
  data: ArrayBufferView;
  bits: number;
  /** 1 uint, 2 int, 3 float. */
  format: number;
  compression?: number;
  predictor?: number;
  rowsPerStrip?: number;
  tile?: [number, number];
  samples?: number;
  description?: string;
  /** Extra [tag, type, values] entries. */
  extra?: [number, number, number[]][];
}

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swap(b: Uint8Array, size: number): void {
  for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse();
}

/** PackBits encoder: runs of 3+ equal bytes as repeats, the rest as literals. */
export function packBitsEncode(src: Uint8Array): Uint8Array {
  const out: number[] = [];
  let i = 0;
  while (i < src.length) {
    let run = 1;
    while (i + run < src.length && run < 128 && src[i + run] === src[i]) run++;
    if (run >= 3) {
      out.push(257 - run, src[i]!);
      i += run;
      continue;
    }
    let lit = 0;
    while (i + lit < src.length && lit < 128) {
      if (
        i + lit + 2 < src.length && src[i + lit] === src[i + lit + 1] &&
        src[i + lit] === src[i + lit + 2]
      ) break;
      lit++;
    }
    out.push(lit - 1, ...src.subarray(i, i + lit));
    i += lit;
  }
  return new Uint8Array(out);
}

/**
 * TIFF LZW encoder (MSB-first, 9..12-bit codes, early change, Clear when the
 * table is full), following the TIFF 6.0 spec and libtiff's encoder.
 */
export function lzwEncode(src: Uint8Array): Uint8Array {
  const out: number[] = [];
  let acc = 0;
  let nacc = 0;
  let width = 9;
  const put = (code: number) => {
    acc = (acc << width) | code;
    nacc += width;
    while (nacc >= 8) {
      out.push((acc >>> (nacc - 8)) & 0xff);
      nacc -= 8;
    }
    acc &= (1 << nacc) - 1;
  };
  let dict = new Map<number, number>();
  let free = 258;
  put(256);
  if (src.length) {
    let w = src[0]!;
    for (let i = 1; i < src.length; i++) {
      const k = src[i]!;
      const hit = dict.get(w * 256 + k);
      if (hit !== undefined) {
        w = hit;
        continue;
      }
      put(w);
      dict.set(w * 256 + k, free++);
      if (free === 4094) {
        put(256);
        dict = new Map();
        free = 258;
        width = 9;
      } else if (free === 1 << width) width++;
      w = k;
    }
    put(w);
    free++;
    if (free === 1 << width && width < 12) width++;
  }
  put(257);
  if (nacc > 0) out.push((acc << (8 - nacc)) & 0xff);
  return new Uint8Array(out);
}

/** Chunk bytes (rows × cols elements) in file order, predictor applied, compressed. */
function encodeChunk(
  elems: Uint8Array,
  rows: number,
  cols: number,
  size: number,
  le: boolean,
  spec: PageSpec,
  stride = spec.samples ?? 1,
): Uint8Array {
  let b = elems.slice();
  const predictor = spec.predictor ?? 1;
  if (predictor === 2) {
    // differencing on native integers, right to left
    const view = size === 1
      ? (spec.format === 2 ? new Int8Array(b.buffer) : b)
      : size === 2
      ? new Uint16Array(b.buffer)
      : size === 4
      ? new Uint32Array(b.buffer)
      : new BigUint64Array(b.buffer);
    const a = view as unknown as { [i: number]: number };
    for (let y = 0; y < rows; y++) {
      for (let x = cols - 1; x >= stride; x--) {
        a[y * cols + x] = a[y * cols + x]! - a[y * cols + x - stride]!;
      }
    }
  }
  if (predictor === 3) {
    const out = new Uint8Array(b.length);
    for (let y = 0; y < rows; y++) {
      const base = y * cols * size;
      for (let x = 0; x < cols; x++) {
        for (let k = 0; k < size; k++) {
          // byte k counted from the most significant one
          const nativeIndex = HOST_LE ? size - 1 - k : k;
          out[base + k * cols + x] = b[base + x * size + nativeIndex]!;
        }
      }
      for (let k = base + cols * size - 1; k >= base + stride; k--) {
        out[k] = (out[k]! - out[k - stride]!) & 0xff;
      }
    }
    b = out;
  } else if (le !== HOST_LE && size > 1) swap(b, size);
  switch (spec.compression ?? 1) {
    case 1:
      return b;
    case 8:
    case 32946:
      return zlibSync(b);
    case 32773:
      return packBitsEncode(b);
    case 5:
      return lzwEncode(b);
  }
  throw new Error(`fixture cannot compress with ${spec.compression}`);
}

interface Tag {
  tag: number;
  type: number;
  values: number[] | Uint8Array;
}

const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 16: 8 };

/** Builds a TIFF (classic or BigTIFF) from page specs. */
export function buildTiff(
  pages: PageSpec[],
  opts: { littleEndian?: boolean; bigTiff?: boolean; loopTo?: number } = {},
): Uint8Array {
  const le = opts.littleEndian ?? true;
  const big = opts.bigTiff ?? false;
  const parts: Uint8Array[] = [];
  let pos = big ? 16 : 8;
  const place = (b: Uint8Array): number => {
    if (pos % 2) {
      parts.push(new Uint8Array(1));
      pos++;
    }
    const at = pos;
    parts.push(b);
    pos += b.length;
    return at;
  };
  const ifdOffsets: number[] = [];
  const ifdPatch: { at: number; next: number }[] = [];
  for (const [p, spec] of pages.entries()) {
    const size = spec.bits / 8;
    const src = new Uint8Array(spec.data.buffer, spec.data.byteOffset, spec.data.byteLength);
    const samples = spec.samples ?? 1;
    const offsets: number[] = [];
    const counts: number[] = [];
    const tags: Tag[] = [];
    if (spec.tile) {
      const [tw, th] = spec.tile;
      for (let ty = 0; ty < spec.height; ty += th) {
        for (let tx = 0; tx < spec.width; tx += tw) {
          const px = size * samples;
          const tile = new Uint8Array(tw * th * px);
          for (let y = 0; y < th && ty + y < spec.height; y++) {
            const cols = Math.min(tw, spec.width - tx);
            const from = ((ty + y) * spec.width + tx) * px;
            tile.set(src.subarray(from, from + cols * px), y * tw * px);
          }
          const enc = encodeChunk(tile, th, tw * samples, size, le, spec);
          offsets.push(place(enc));
          counts.push(enc.length);
        }
      }
      tags.push({ tag: 322, type: 3, values: [tw] }, { tag: 323, type: 3, values: [th] });
      tags.push({ tag: 324, type: 4, values: offsets }, { tag: 325, type: 4, values: counts });
    } else {
      const rps = spec.rowsPerStrip ?? spec.height;
      for (let y = 0; y < spec.height; y += rps) {
        const rows = Math.min(rps, spec.height - y);
        const rowBytes = spec.width * size * samples;
        const enc = encodeChunk(
          src.slice(y * rowBytes, (y + rows) * rowBytes),
          rows,
          spec.width * samples,
          size,
          le,
          spec,
        );
        offsets.push(place(enc));
        counts.push(enc.length);
      }
      tags.push({ tag: 273, type: 4, values: offsets }, { tag: 278, type: 4, values: [rps] });
      tags.push({ tag: 279, type: 4, values: counts });
    }
    tags.push(
      { tag: 256, type: 4, values: [spec.width] },
      { tag: 257, type: 4, values: [spec.height] },
      { tag: 258, type: 3, values: new Array(samples).fill(spec.bits) },
      { tag: 259, type: 3, values: [spec.compression ?? 1] },
      { tag: 262, type: 3, values: [samples === 3 ? 2 : 1] },
      { tag: 277, type: 3, values: [samples] },
      { tag: 339, type: 3, values: new Array(samples).fill(spec.format) },
    );
    if (spec.predictor && spec.predictor !== 1) {
      tags.push({ tag: 317, type: 3, values: [spec.predictor] });
    }
    if (spec.description !== undefined) {
      tags.push({ tag: 270, type: 2, values: new TextEncoder().encode(spec.description + "\0") });
    }
    for (const [tag, type, values] of spec.extra ?? []) tags.push({ tag, type, values });
    tags.sort((a, b) => a.tag - b.tag);
    // out-of-line values first, then the IFD
    const inline = big ? 8 : 4;
    const valueAt = new Map<Tag, number>();
    for (const t of tags) {
      const n = t.values.length * TYPE_SIZE[t.type]!;
      if (n > inline) valueAt.set(t, place(valueBytes(t, le)));
    }
    const entry = big ? 20 : 12;
    const ifd = new Uint8Array((big ? 8 : 2) + tags.length * entry + (big ? 8 : 4));
    const dv = new DataView(ifd.buffer);
    if (big) dv.setBigUint64(0, BigInt(tags.length), le);
    else dv.setUint16(0, tags.length, le);
    tags.forEach((t, k) => {
      const e = (big ? 8 : 2) + k * entry;
      dv.setUint16(e, t.tag, le);
      dv.setUint16(e + 2, t.type, le);
      if (big) dv.setBigUint64(e + 4, BigInt(t.values.length), le);
      else dv.setUint32(e + 4, t.values.length, le);
      const v = e + (big ? 12 : 8);
      const at = valueAt.get(t);
      if (at !== undefined) {
        if (big) dv.setBigUint64(v, BigInt(at), le);
        else dv.setUint32(v, at, le);
      } else ifd.set(valueBytes(t, le), v);
    });
    const at = place(ifd);
    ifdOffsets.push(at);
    ifdPatch.push({ at: at + ifd.length - (big ? 8 : 4), next: 0 });
    if (p > 0) ifdPatch[p - 1]!.next = at;
  }
  if (opts.loopTo !== undefined) ifdPatch[ifdPatch.length - 1]!.next = ifdOffsets[opts.loopTo]!;
  const out = new Uint8Array(pos);
  let k = big ? 16 : 8;
  for (const part of parts) {
    out.set(part, k);
    k += part.length;
  }
  const dv = new DataView(out.buffer);
  out.set(le ? [0x49, 0x49] : [0x4d, 0x4d]);
  if (big) {
    dv.setUint16(2, 43, le);
    dv.setUint16(4, 8, le);
    dv.setBigUint64(8, BigInt(ifdOffsets[0]!), le);
  } else {
    dv.setUint16(2, 42, le);
    dv.setUint32(4, ifdOffsets[0]!, le);
  }
  for (const { at, next } of ifdPatch) {
    if (big) dv.setBigUint64(at, BigInt(next), le);
    else dv.setUint32(at, next, le);
  }
  return out;
}

function valueBytes(t: Tag, le: boolean): Uint8Array {
  if (t.values instanceof Uint8Array) return t.values;
  const size = TYPE_SIZE[t.type]!;
  const b = new Uint8Array(t.values.length * size);
  const dv = new DataView(b.buffer);
  t.values.forEach((v, k) => {
    if (size === 1) b[k] = v;
    else if (size === 2) dv.setUint16(k * 2, v, le);
    else if (size === 4) dv.setUint32(k * 4, v, le);
    else dv.setBigUint64(k * 8, BigInt(v), le);
  });
  return b;
}
