/**
 * Blosc 1.x chunk decompression in plain JavaScript, for runtimes that
 * cannot compile WebAssembly at run time (workerd): the 16-byte header, the
 * block starts, split streams, byte shuffle and bit shuffle, and the inner
 * codecs BloscLZ, LZ4/LZ4HC, zlib and zstd (hcs-store itself writes LZ4 with
 * byte shuffle). Snappy and Blosc2 frames are refused with a typed error.
 *
 * Every size comes from the untrusted header, so each is checked before use:
 * the total against the caller's limit, each block and split against the
 * header, and every inner stream must decode to exactly its declared size.
 *
 * @module
 */
import { unzlibSync } from "npm:fflate@^0.8.3";
import { CorruptDataError, LimitExceededError, UnsupportedFormatError } from "../../errors.ts";
import { blosclzDecode } from "./blosclz.ts";
import { lz4DecodeBlock } from "./lz4.ts";
import { zstdDecode } from "./zstd.ts";

const HEADER = 16;
const MEMCPYED = 0x02;
const BYTE_SHUFFLE = 0x01;
const BIT_SHUFFLE = 0x04;
const DONT_SPLIT = 0x10;
const MAX_SPLITS = 16;
const MIN_BUFFERSIZE = 128;
const CODEC_NAMES = ["blosclz", "lz4", "snappy", "zlib", "zstd"];

/** The fields of a blosc 1.x header. */
export interface BloscHeader {
  /** Format version (1 or 2 for blosc 1.x). */
  version: number;
  /** The flags byte. */
  flags: number;
  /** Element size that shuffling used. */
  typesize: number;
  /** Decompressed size. */
  nbytes: number;
  /** Bytes per block. */
  blocksize: number;
  /** Compressed size, header included. */
  cbytes: number;
}

function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 2 ** 24;
}

/** Reads and validates the header of a blosc chunk. */
export function readBloscHeader(src: Uint8Array, path = "<blosc>"): BloscHeader {
  if (src.length < HEADER) {
    throw new CorruptDataError("decode", path, "corrupt blosc data: shorter than its header");
  }
  const h: BloscHeader = {
    version: src[0]!,
    flags: src[2]!,
    typesize: src[3]!,
    nbytes: u32(src, 4),
    blocksize: u32(src, 8),
    cbytes: u32(src, 12),
  };
  if (h.version === 0 || h.version > 2) {
    throw new UnsupportedFormatError(
      "decode",
      path,
      `blosc format version ${h.version} (only blosc 1.x chunks, versions 1-2, are decoded here)`,
    );
  }
  if (h.cbytes > src.length || h.cbytes < HEADER) {
    throw new CorruptDataError(
      "decode",
      path,
      `corrupt blosc data: header says ${h.cbytes} bytes, chunk has ${src.length}`,
    );
  }
  return h;
}

/**
 * Decompresses a blosc 1.x chunk. More than `limit` decoded bytes is
 * `LimitExceededError`; malformed data `CorruptDataError`; an inner codec or
 * layout not decoded here `UnsupportedFormatError`.
 */
export function bloscDecode(src: Uint8Array, limit: number, path = "<blosc>"): Uint8Array {
  const h = readBloscHeader(src, path);
  const bad = (why: string) => new CorruptDataError("decode", path, `corrupt blosc data: ${why}`);
  if (h.nbytes > limit) {
    throw new LimitExceededError(
      "decode",
      path,
      `blosc chunk declares ${h.nbytes} bytes, over the limit of ${limit}`,
    );
  }
  const out = new Uint8Array(h.nbytes);
  if (h.nbytes === 0) return out;
  if (h.flags & MEMCPYED) {
    if (HEADER + h.nbytes > h.cbytes) throw bad("stored chunk shorter than its size");
    out.set(src.subarray(HEADER, HEADER + h.nbytes));
    return out;
  }
  // c-blosc 1.x refuses (-9) a compressed chunk whose compressor format byte
  // is not 1 (every inner codec's format is 1); a stored chunk skips the check.
  if (src[1] !== 1) throw bad(`compressor format version ${src[1]} (blosc 1.x writes 1)`);
  const { typesize, blocksize } = h;
  if (typesize === 0) throw bad("type size 0");
  if (blocksize === 0) throw bad("block size 0");
  const codec = (h.flags & 0xe0) >> 5;
  const inner = innerDecoder(codec, path);
  const byteShuffle = (h.flags & BYTE_SHUFFLE) !== 0 && typesize > 1;
  const bitShuffle = (h.flags & BIT_SHUFFLE) !== 0;
  const nblocks = Math.ceil(h.nbytes / blocksize);
  const leftover = h.nbytes % blocksize;
  if (HEADER + 4 * nblocks > h.cbytes) throw bad("block table runs past the chunk");
  const tmp = byteShuffle || bitShuffle ? new Uint8Array(Math.min(blocksize, h.nbytes)) : undefined;
  const chunk = src.subarray(0, h.cbytes);
  for (let j = 0; j < nblocks; j++) {
    const last = j === nblocks - 1 && leftover > 0;
    const bsize = last ? leftover : blocksize;
    const dest = out.subarray(j * blocksize, j * blocksize + bsize);
    const target = tmp ? tmp.subarray(0, bsize) : dest;
    const split = (h.flags & DONT_SPLIT) === 0 && typesize <= MAX_SPLITS &&
      Math.floor(bsize / typesize) >= MIN_BUFFERSIZE && !last;
    const nsplits = split ? typesize : 1;
    const neblock = Math.floor(bsize / nsplits);
    if (neblock * nsplits !== bsize) throw bad(`block ${j} does not split into ${nsplits} streams`);
    let pos = u32(chunk, HEADER + 4 * j);
    for (let s = 0; s < nsplits; s++) {
      if (pos + 4 > chunk.length) throw bad(`block ${j} runs past the chunk`);
      const csize = u32(chunk, pos);
      pos += 4;
      if (pos + csize > chunk.length) throw bad(`block ${j} runs past the chunk`);
      const part = target.subarray(s * neblock, (s + 1) * neblock);
      const data = chunk.subarray(pos, pos + csize);
      if (csize === neblock) part.set(data);
      else if (inner(data, part) !== neblock) throw bad(`block ${j} decodes to the wrong size`);
      pos += csize;
    }
    if (byteShuffle) unshuffle(typesize, target, dest);
    else if (bitShuffle) bitUnshuffle(typesize, target, dest, path);
  }
  return out;
}

type Inner = (src: Uint8Array, dst: Uint8Array) => number;

function innerDecoder(code: number, path: string): Inner {
  switch (code) {
    case 0:
      return (s, d) => blosclzDecode(s, d, path);
    case 1:
      return (s, d) => lz4DecodeBlock(s, d, path);
    case 3:
      return (s, d) => inflateZlibInto(s, d, path);
    case 4:
      return (s, d) => {
        const r = zstdDecode(s, d.length, path);
        d.set(r);
        return r.length;
      };
    default:
      throw new UnsupportedFormatError(
        "decode",
        path,
        `blosc inner codec ${CODEC_NAMES[code] ?? `#${code}`} is not decoded here`,
      );
  }
}

/**
 * Inflates a zlib stream into exactly `dst` and returns the decoded length.
 * fflate silently stops at the end of a caller-sized buffer, so it gets one
 * byte more: a stream that fills that byte decodes to more than `dst` holds
 * (the caller then sees a wrong size), without ever allocating more.
 */
export function inflateZlibInto(src: Uint8Array, dst: Uint8Array, path = "<zlib>"): number {
  let r: Uint8Array;
  try {
    r = unzlibSync(src, { out: new Uint8Array(dst.length + 1) });
  } catch (err) {
    throw new CorruptDataError("decode", path, "corrupt zlib stream in blosc chunk", {
      cause: err,
    });
  }
  if (r.length === dst.length) dst.set(r);
  return r.length;
}

/** Inverse of blosc's byte shuffle over one block. */
function unshuffle(typesize: number, src: Uint8Array, dest: Uint8Array): void {
  const n = Math.floor(src.length / typesize);
  for (let k = 0; k < typesize; k++) {
    const row = k * n;
    for (let i = 0; i < n; i++) dest[i * typesize + k] = src[row + i]!;
  }
  const done = n * typesize;
  dest.set(src.subarray(done), done);
}

/**
 * Inverse of bitshuffle over one block: the block holds one bit-plane per bit
 * of the element (byte 0's bit 0 first), each `n / 8` bytes, LSB first.
 */
function bitUnshuffle(typesize: number, src: Uint8Array, dest: Uint8Array, path: string): void {
  const n = src.length / typesize;
  if (!Number.isInteger(n) || n % 8 !== 0) {
    throw new UnsupportedFormatError(
      "decode",
      path,
      "bit-shuffled blosc block whose element count is not a multiple of 8",
    );
  }
  dest.fill(0);
  const rowBytes = n / 8;
  for (let b = 0; b < typesize; b++) {
    for (let bit = 0; bit < 8; bit++) {
      const row = (b * 8 + bit) * rowBytes;
      const mask = 1 << bit;
      for (let i = 0; i < n; i++) {
        if ((src[row + (i >> 3)]! >> (i & 7)) & 1) dest[i * typesize + b]! |= mask;
      }
    }
  }
}
