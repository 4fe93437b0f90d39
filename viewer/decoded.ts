/**
 * Server-side chunk decoding for codecs the page does not carry (zstd, blosc:
 * WASM decoders are too big for a small offline page). `/decoded/<array>?c=i.j.k`
 * answers one chunk's elements as little-endian bytes, decoded by zarrita with
 * the same codecs the Zarr backend writes. The chunk's declared size is
 * checked against a budget before anything is decoded.
 *
 * @module
 */
import * as zarr from "npm:zarrita@^0.7.5";
import { LimitExceededError, NotFoundError, StorageError } from "../errors.ts";
import { join } from "../_internal/paths.ts";
import type { BackendBase, DataSource } from "../backends/base.ts";

/** What decoding needs of a source. */
export type DecodeSource = BackendBase & Pick<DataSource, "load">;

/**
 * Decodes chunk `coords` of the array at `dir` (a confined path in `source`).
 * `allowed(path)` is asked for every key zarrita reads (metadata and chunk).
 */
export async function decodeChunk(
  source: DecodeSource,
  dir: string,
  coords: readonly number[],
  allowed: (path: string) => Promise<boolean>,
  maxBytes = 256 * 2 ** 20,
): Promise<Uint8Array> {
  const store = {
    async get(key: string): Promise<Uint8Array | undefined> {
      const p = join(dir, key.replace(/^\//, ""));
      if (!(await allowed(p))) return undefined;
      try {
        return await source.load<Uint8Array>(p, { as: "bytes" });
      } catch (err) {
        if (err instanceof NotFoundError || (err as StorageError)?.code === "ENOENT") {
          return undefined;
        }
        throw err;
      }
    },
  };
  let arr: zarr.Array<zarr.DataType, zarr.Readable>;
  try {
    arr = await zarr.open(zarr.root(store), { kind: "array" });
  } catch (err) {
    throw new NotFoundError("decode", dir, `no Zarr array: ${(err as Error).message}`);
  }
  if (
    coords.length !== arr.shape.length ||
    !coords.every((c, i) => Number.isInteger(c) && c >= 0 && c * arr.chunks[i]! < arr.shape[i]!)
  ) {
    throw new StorageError("decode", dir, `chunk [${coords}] is outside the chunk grid`, {
      code: "EINVAL",
    });
  }
  const n = arr.chunks.reduce((a, b) => a * b, 1);
  const per = (arr.dtype.match(/\d+/)?.[0] ? Number(arr.dtype.match(/\d+/)![0]) / 8 : 1) || 1;
  if (!(n * per <= maxBytes)) {
    throw new LimitExceededError("decode", dir, `chunk needs ${n * per} bytes, over ${maxBytes}`);
  }
  const chunk = await arr.getChunk([...coords]);
  const data = chunk.data as unknown as ArrayBufferView;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
