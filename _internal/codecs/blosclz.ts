/**
 * BloscLZ decompression in plain JavaScript (blosc's default inner codec,
 * a FastLZ-style LZ77). Bounded like the LZ4 decoder: output into a
 * caller-sized buffer, every read and write checked.
 *
 * @module
 */
import { CorruptDataError } from "../../errors.ts";

const MAX_DISTANCE = 8191;

/** Decodes one BloscLZ stream into `dst`; returns the bytes written. */
export function blosclzDecode(src: Uint8Array, dst: Uint8Array, path = "<blosclz>"): number {
  const bad = (why: string) => new CorruptDataError("decode", path, `corrupt BloscLZ data: ${why}`);
  const iend = src.length;
  const oend = dst.length;
  if (iend === 0) throw bad("empty");
  let ip = 0;
  let op = 0;
  let ctrl = src[ip++]! & 31;
  while (true) {
    if (ctrl >= 32) {
      let len = (ctrl >>> 5) - 1;
      let distance = (ctrl & 31) << 8;
      if (len === 6) {
        let code: number;
        do {
          if (ip >= iend) throw bad("truncated match length");
          code = src[ip++]!;
          len += code;
        } while (code === 255);
      }
      if (ip >= iend) throw bad("truncated match distance");
      const code = src[ip++]!;
      distance += code;
      if (code === 255 && (ctrl & 31) === 31) {
        if (ip + 2 > iend) throw bad("truncated far distance");
        distance = ((src[ip]! << 8) | src[ip + 1]!) + MAX_DISTANCE;
        ip += 2;
      }
      len += 3;
      let ref = op - distance - 1;
      if (ref < 0) throw bad("match before the start of the output");
      if (op + len > oend) throw bad("match runs past the output");
      for (const end = op + len; op < end;) dst[op++] = dst[ref++]!;
    } else {
      const n = ctrl + 1;
      if (ip + n > iend) throw bad("literals run past the input");
      if (op + n > oend) throw bad("literals run past the output");
      dst.set(src.subarray(ip, ip + n), op);
      ip += n;
      op += n;
    }
    if (ip >= iend) return op;
    ctrl = src[ip++]!;
  }
}
