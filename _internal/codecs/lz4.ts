/**
 * LZ4 block decompression in plain JavaScript (the format inside blosc
 * chunks), for runtimes that cannot compile WebAssembly at run time.
 * Decodes into a caller-sized buffer and refuses any sequence that would
 * read or write outside it, so a hostile block cannot grow memory.
 *
 * @module
 */
import { CorruptDataError } from "../../errors.ts";

/**
 * Decodes one LZ4 block (no frame header) from `src` into `dst` and returns
 * the number of bytes written. Throws `CorruptDataError` on a malformed block.
 */
export function lz4DecodeBlock(src: Uint8Array, dst: Uint8Array, path = "<lz4 block>"): number {
  const bad = (why: string) => new CorruptDataError("decode", path, `corrupt LZ4 block: ${why}`);
  let ip = 0;
  let op = 0;
  const iend = src.length;
  const oend = dst.length;
  if (iend === 0) throw bad("empty");
  while (true) {
    const token = src[ip++]!;
    let lit = token >>> 4;
    if (lit === 15) {
      let b: number;
      do {
        if (ip >= iend) throw bad("truncated literal length");
        b = src[ip++]!;
        lit += b;
      } while (b === 255);
    }
    if (ip + lit > iend) throw bad("literals run past the input");
    if (op + lit > oend) throw bad("literals run past the output");
    dst.set(src.subarray(ip, ip + lit), op);
    ip += lit;
    op += lit;
    if (ip === iend) return op; // the last sequence has literals only
    if (ip + 2 > iend) throw bad("truncated match offset");
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op) throw bad("match offset outside the output");
    let len = token & 15;
    if (len === 15) {
      let b: number;
      do {
        if (ip >= iend) throw bad("truncated match length");
        b = src[ip++]!;
        len += b;
      } while (b === 255);
    }
    len += 4;
    if (op + len > oend) throw bad("match runs past the output");
    let ref = op - offset;
    if (offset >= len) {
      dst.copyWithin(op, ref, ref + len);
      op += len;
    } else {
      for (const end = op + len; op < end;) dst[op++] = dst[ref++]!;
    }
  }
}
