/**
 * Zstandard decompression in plain JavaScript (fzstd), bounded. Before fzstd
 * sees the data, every frame is walked (header, then block headers to the
 * frame's end; skippable frames skipped) and each frame's declared content
 * and window sizes are checked against the caller's limit, because fzstd
 * allocates a window from the header alone. The streamed output is counted
 * as well, so no input can produce more than the limit.
 *
 * @module
 */
import { Decompress } from "npm:fzstd@^0.1.1";
import { CorruptDataError, LimitExceededError } from "../../errors.ts";

/** Largest window accepted beyond the limit (zstd levels ≤ 19 use ≤ 8 MiB). */
const MAX_WINDOW = 2 ** 27;

/** What a frame header declares. */
export interface ZstdFrameInfo {
  /** Frame content size, where the header has one. */
  contentSize: number | undefined;
  /** Window size the decoder must keep. */
  windowSize: number;
  /** Byte length of the whole frame (header, blocks, checksum). */
  length: number;
}

/** Walks every frame of `src`; throws `CorruptDataError` on a malformed or truncated one. */
export function zstdFrames(src: Uint8Array, path = "<zstd>"): ZstdFrameInfo[] {
  const bad = (why: string) => new CorruptDataError("decode", path, `corrupt zstd data: ${why}`);
  const frames: ZstdFrameInfo[] = [];
  let at = 0;
  if (src.length === 0) throw bad("empty");
  while (at < src.length) {
    if (at + 8 > src.length) throw bad("truncated frame header");
    const magic = (src[at]! | (src[at + 1]! << 8) | (src[at + 2]! << 16)) + src[at + 3]! * 2 ** 24;
    if (magic >>> 4 === 0x184d2a5) { // skippable frame: magic, 4-byte size, payload
      const size = (src[at + 4]! | (src[at + 5]! << 8) | (src[at + 6]! << 16)) +
        src[at + 7]! * 2 ** 24;
      if (at + 8 + size > src.length) throw bad("truncated skippable frame");
      at += 8 + size;
      continue;
    }
    if (magic !== 0xfd2fb528) throw bad("no zstd frame magic");
    const start = at;
    const fhd = src[at + 4]!;
    if (fhd & 0x08) throw bad("reserved frame header bit set");
    const single = (fhd >> 5) & 1;
    const checksum = (fhd >> 2) & 1;
    const fcsFlag = fhd >> 6;
    at += 5;
    let windowSize = 0;
    if (!single) {
      const wd = src[at++]!;
      const base = 2 ** (10 + (wd >> 3));
      windowSize = base + (base / 8) * (wd & 7);
    }
    at += [0, 1, 2, 4][fhd & 3]!;
    const fcsBytes = fcsFlag === 0 ? single : 1 << fcsFlag;
    if (at + fcsBytes > src.length) throw bad("truncated frame header");
    let contentSize: number | undefined;
    if (fcsBytes > 0) {
      let v = 0;
      for (let i = fcsBytes - 1; i >= 0; i--) v = v * 256 + src[at + i]!;
      contentSize = fcsBytes === 2 ? v + 256 : v;
    }
    at += fcsBytes;
    if (single) windowSize = contentSize ?? 0;
    for (let last = false; !last;) {
      if (at + 3 > src.length) throw bad("truncated block header");
      const h = src[at]! | (src[at + 1]! << 8) | (src[at + 2]! << 16);
      at += 3;
      last = (h & 1) === 1;
      const type = (h >> 1) & 3;
      if (type === 3) throw bad("reserved block type");
      const size = type === 1 ? 1 : h >>> 3;
      if (at + size > src.length) throw bad("truncated block");
      at += size;
    }
    if (checksum) {
      if (at + 4 > src.length) throw bad("truncated checksum");
      at += 4;
    }
    frames.push({ contentSize, windowSize, length: at - start });
  }
  return frames;
}

/**
 * Decompresses `src` (one or more zstd frames) and returns the bytes; more
 * than `limit` output bytes, or frames declaring more, is
 * `LimitExceededError`; malformed data is `CorruptDataError`.
 */
export function zstdDecode(src: Uint8Array, limit: number, path = "<zstd>"): Uint8Array {
  let declared = 0;
  for (const f of zstdFrames(src, path)) {
    declared += f.contentSize ?? 0;
    if (declared > limit) {
      throw new LimitExceededError(
        "decode",
        path,
        `zstd frames declare ${declared} bytes, over the limit of ${limit}`,
      );
    }
    if (f.windowSize > Math.max(limit, MAX_WINDOW)) {
      throw new LimitExceededError(
        "decode",
        path,
        `zstd window of ${f.windowSize} bytes is too large`,
      );
    }
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  const stream = new Decompress((chunk) => {
    total += chunk.length;
    if (total > limit) {
      throw new LimitExceededError("decode", path, `zstd data decodes to over ${limit} bytes`);
    }
    parts.push(chunk.slice());
  });
  try {
    stream.push(src, true);
  } catch (err) {
    if (err instanceof LimitExceededError) throw err;
    throw new CorruptDataError(
      "decode",
      path,
      `corrupt zstd data: ${err instanceof Error ? err.message : err}`,
      { cause: err },
    );
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
