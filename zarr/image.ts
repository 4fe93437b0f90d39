/**
 * Single multiscale OME-Zarr images (not plates): `saveMultiscaleImage` writes
 * an NGFF image group — `multiscales` with every level, units, `omero` — and
 * arrays "0".."n" in tiles, NGFF 0.5 (Zarr v3) or 0.4 (Zarr v2), on any
 * writable byte store. It is separate from `ZarrBackend.save(array, "x.zarr")`,
 * which keeps writing one bare array there (what `load` reads back).
 *
 * Layout decisions: the last two axes are y and x; with 3+ dimensions the
 * first is the channel axis unless `axes` says otherwise. Tiles are
 * `tileSize`² in y/x and 1 on every other axis; the group is written last, so
 * a reader never finds metadata naming levels that are not there yet.
 *
 * @module
 */
import { AlreadyExistsError } from "../errors.ts";
import type { NdArray, StorageBackend, TypedArray } from "../backends/base.ts";
import { join } from "../_internal/paths.ts";
import {
  chunkEncoder,
  type Compression,
  dtypeOf,
  resolveCompression,
  v2Compressor,
  v3Codecs,
} from "./codec.ts";
import { encodeChunks } from "./array.ts";
import { buildPyramid, type DownsampleMode, type LevelOptions, planLevels } from "./pyramid.ts";
import {
  type ChannelInfo,
  ChannelStats,
  type NgffAxis,
  type PixelSize,
  resolvePixelSize,
  withImageMetadata,
} from "./omero.ts";

export type { ChannelInfo, Compression, DownsampleMode, NdArray, NgffAxis, PixelSize };
export type { LevelOptions, StorageBackend, TypedArray };

/** Options of {@linkcode saveMultiscaleImage}. */
export interface ImageOptions extends LevelOptions {
  /** `"0.5"` (Zarr v3, default) or `"0.4"` (Zarr v2). */
  ngff?: "0.5" | "0.4";
  /** Axes, one per dimension (default: `[c,] [z,] y, x` by dimension count). */
  axes?: readonly NgffAxis[];
  /** `"mean"` (default) or `"nearest"` (labels). */
  downsample?: DownsampleMode;
  /** Physical pixel size. */
  pixelSize?: PixelSize;
  /** Channel names and colours. */
  channels?: readonly ChannelInfo[];
  /** Chunk compression (default zlib). */
  compression?: Compression;
  /** Image name in the metadata (default: the last path component). */
  name?: string;
  /** Replace an existing image. */
  overwrite?: boolean;
}

function defaultAxes(nd: number): NgffAxis[] {
  const yx: NgffAxis[] = [{ name: "y", type: "space" }, { name: "x", type: "space" }];
  if (nd === 2) return yx;
  if (nd === 3) return [{ name: "c", type: "channel" }, ...yx];
  if (nd === 4) return [{ name: "c", type: "channel" }, { name: "z", type: "space" }, ...yx];
  if (nd === 5) {
    return [{ name: "t", type: "time" }, { name: "c", type: "channel" }, {
      name: "z",
      type: "space",
    }, ...yx];
  }
  throw new RangeError(`an image has 2 to 5 dimensions, got ${nd}`);
}

const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v, null, 2));

/**
 * Writes `image` as a multiscale NGFF image group at `path` on `store`.
 *
 * @example
 * ```ts
 * import { saveMultiscaleImage } from "./image.ts";
 * import { MemoryBackend } from "../backends/memory.ts";
 * const mem = new MemoryBackend();
 * await mem.ensureDirectory("/x");
 * const data = new Uint16Array(600 * 400);
 * await saveMultiscaleImage(mem, "/x/img.zarr", { data, shape: [600, 400], stride: [400, 1] });
 * console.assert(await mem.exists("/x/img.zarr/2/zarr.json")); // 600 → 300 → 150
 * ```
 */
export async function saveMultiscaleImage(
  store: StorageBackend,
  path: string,
  image: NdArray,
  options: ImageOptions = {},
): Promise<void> {
  const op = "saveMultiscaleImage";
  const dtype = dtypeOf(image.data);
  if (!dtype) throw new TypeError(`${op} '${path}': unsupported element type`);
  const shape = [...image.shape];
  const nd = shape.length;
  const axes = options.axes ? options.axes.map((a) => ({ ...a })) : defaultAxes(nd);
  if (axes.length !== nd) {
    throw new RangeError(`${op} '${path}': ${axes.length} axes for ${nd} dimensions`);
  }
  const version = options.ngff ?? "0.5";
  const spec = resolveCompression(options.compression ?? "zlib", undefined, op);
  const encode = await chunkEncoder(spec, dtype);
  const pixelSize = options.pixelSize === undefined
    ? undefined
    : resolvePixelSize(options.pixelSize);
  const h = shape[nd - 2]!;
  const w = shape[nd - 1]!;
  const sizes = planLevels(h, w, options);
  const tile = options.tileSize ?? 256;
  if ((await store.exists(path)) && options.overwrite !== true) {
    throw new AlreadyExistsError(op, path);
  }
  if (await store.exists(path)) await store.deleteAll(path);

  // Level 0 in C order, then each level from the one above, all planes at once.
  const planes = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const base = contiguous(image, dtype.ctor);
  const levels = buildPyramid(base, sizes, options.downsample ?? "mean", planes);
  const ci = axes.findIndex((a) => a.type === "channel");
  const windows = channelWindows(base, shape, ci);

  await store.ensureDirectory(path);
  for (const [l, [lh, lw]] of sizes.entries()) {
    const lshape = [...shape.slice(0, -2), lh, lw];
    const chunks = lshape.map((s, i) => (i >= nd - 2 ? Math.max(1, Math.min(s, tile)) : 1));
    const dir = join(path, String(l));
    await store.ensureDirectory(dir);
    const meta = version === "0.5"
      ? {
        zarr_format: 3,
        node_type: "array",
        shape: lshape,
        data_type: dtype.v3,
        chunk_grid: { name: "regular", configuration: { chunk_shape: chunks } },
        chunk_key_encoding: { name: "default", configuration: { separator: "/" } },
        codecs: v3Codecs(spec, dtype),
        fill_value: 0,
        attributes: {},
        dimension_names: axes.map((a) => a.name),
      }
      : {
        zarr_format: 2,
        shape: lshape,
        chunks,
        dtype: dtype.v2,
        compressor: v2Compressor(spec, dtype),
        fill_value: 0,
        order: "C",
        filters: null,
        dimension_separator: "/",
      };
    await store.save(json(meta), join(dir, version === "0.5" ? "zarr.json" : ".zarray"), {
      overwrite: true,
    });
    const value = { data: levels[l]!, shape: lshape, stride: cStrides(lshape) };
    for (const c of await encodeChunks(value, chunks, dtype, encode)) {
      const key = version === "0.5" ? ["c", ...c.coords] : c.coords;
      const p = join(dir, ...key.map(String));
      await store.ensureDirectory(join(p, ".."));
      await store.save(c.bytes, p, { overwrite: true });
    }
  }
  const name = options.name ?? path.split("/").filter(Boolean).pop() ?? "image";
  const ms: Record<string, unknown> = { name, axes, datasets: [] };
  if (version === "0.4") ms.version = "0.4";
  const attrs = withImageMetadata(
    version === "0.4" ? { multiscales: [ms] } : { ome: { version: "0.5", multiscales: [ms] } },
    {
      levels: sizes.length,
      ...(pixelSize ? { pixelSize } : {}),
      windows,
      ...(options.channels ? { channels: options.channels } : {}),
    },
  );
  if (version === "0.5") {
    await store.save(
      json({ zarr_format: 3, node_type: "group", attributes: attrs }),
      join(path, "zarr.json"),
      {
        overwrite: true,
      },
    );
  } else {
    await store.save(json({ zarr_format: 2 }), join(path, ".zgroup"), { overwrite: true });
    await store.save(json(attrs), join(path, ".zattrs"), { overwrite: true });
  }
}

function cStrides(shape: readonly number[]): number[] {
  const out = shape.map(() => 1);
  for (let i = shape.length - 2; i >= 0; i--) out[i] = out[i + 1]! * shape[i + 1]!;
  return out;
}

function contiguous(a: NdArray, ctor: new (n: number) => TypedArray): TypedArray {
  const want = cStrides(a.shape);
  const n = a.shape.reduce((x, y) => x * y, 1);
  if (a.stride.every((s, i) => s === want[i]) && a.data.length >= n) {
    return a.data.subarray(0, n) as TypedArray;
  }
  const out = new ctor(n) as unknown as { [i: number]: number | bigint };
  const src = a.data as unknown as ArrayLike<number | bigint>;
  const idx = a.shape.map(() => 0);
  for (let k = 0; k < n; k++) {
    out[k] = src[idx.reduce((o, v, i) => o + v * a.stride[i]!, 0)]!;
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d]! < a.shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out as unknown as TypedArray;
}

function channelWindows(data: TypedArray, shape: readonly number[], ci: number) {
  const count = ci >= 0 ? shape[ci]! : 1;
  const after = ci >= 0 ? shape.slice(ci + 1).reduce((a, b) => a * b, 1) : data.length;
  const stats = Array.from({ length: count }, () => new ChannelStats());
  for (let off = 0, k = 0; off < data.length; off += after, k++) {
    stats[ci >= 0 ? k % count : 0]!.add(data.subarray(off, off + after) as TypedArray);
  }
  return stats.map((s) => s.window());
}
