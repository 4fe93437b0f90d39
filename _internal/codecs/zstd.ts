/**
 * Zstandard decompression in plain JavaScript (fzstd), bounded: the frame
 * header's declared content and window sizes are checked against the
 * caller's limit before fzstd allocates anything, and the streamed output is
 * counted so no frame can produce more than the limit.
 *
 * @module
 */
import { Decompress } from "npm:fzstd@^0.1.1";
import { CorruptDataError, LimitExceededError } from "../../errors.ts";

/** Largest window accepted beyond the limit (zstd levels ≤ 19 use ≤ 8 MiB). */
const MAX_WINDOW = 2 ** 27;

/** The declared sizes of the first frame of `src` (undefined where absent). */
export function zstdFrameSizes(
  src: Uint8Array,
  path = "<zstd>",
): { contentSize: number | undefined; windowSize: number } {
  const bad = (why: string) => new CorruptDataError("decode", path, `corrupt zstd data: ${why}`);
  if (src.length < 6) throw bad("too short for a frame header");
  if (src[0] !== 0x28 || src[1] !== 0xb5 || src[2] !== 0x2f || src[3] !== 0xfd) {
    throw bad("no zstd frame magic");
  }
  const fhd = src[4]!;
  if (fhd & 0x08) throw bad("reserved frame header bit set");
  const single = (fhd >> 5) & 1;
  const fcsFlag = fhd >> 6;
  const dictBytes = [0, 1, 2, 4][fhd & 3]!;
  let at = 5;
  let windowSize = 0;
  if (!single) {
    const wd = src[at++]!;
    const base = 2 ** (10 + (wd >> 3));
    windowSize = base + (base / 8) * (wd & 7);
  }
  at += dictBytes;
  const fcsBytes = fcsFlag === 0 ? single : 1 << fcsFlag;
  if (at + fcsBytes > src.length) throw bad("truncated frame header");
  let contentSize: number | undefined;
  if (fcsBytes > 0) {
    let v = 0;
    for (let i = fcsBytes - 1; i >= 0; i--) v = v * 256 + src[at + i]!;
    contentSize = fcsBytes === 2 ? v + 256 : v;
  }
  if (single) windowSize = contentSize ?? 0;
  return { contentSize, windowSize };
}

/**
 * Decompresses `src` (one or more zstd frames) and returns the bytes; more
 * than `limit` output bytes, or a frame declaring more, is
 * `LimitExceededError`; malformed data is `CorruptDataError`.
 */
export function zstdDecode(src: Uint8Array, limit: number, path = "<zstd>"): Uint8Array {
  const { contentSize, windowSize } = zstdFrameSizes(src, path);
  if (contentSize !== undefined && contentSize > limit) {
    throw new LimitExceededError(
      "decode",
      path,
      `zstd frame declares ${contentSize} bytes, over the limit of ${limit}`,
    );
  }
  if (windowSize > Math.max(limit, MAX_WINDOW)) {
    throw new LimitExceededError("decode", path, `zstd window of ${windowSize} bytes is too large`);
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
