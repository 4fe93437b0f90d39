/**
 * One plane's whole share of a plate write, as one codec-pool job: its
 * channel histogram, every pyramid level and every level's compressed chunk,
 * so the calling thread of a `convert` only reads, decodes and writes. It
 * runs the inline path's own functions (`ChannelStats.counts`,
 * `buildPyramid`, the chunk encoder), so its bytes are the inline bytes.
 *
 * Decision: the plane is moved in and not moved back; a caller that still
 * needs the pixels (per-well chunking) builds its pyramid inline instead.
 *
 * @module
 */

import type { TypedArray } from "../backends/base.ts";
import { ChannelStats } from "./omero.ts";
import { buildPyramid, type DownsampleMode } from "./pyramid.ts";
import {
  type ChunkEncoder,
  type CompressionSpec,
  dtypeBySize,
  type DtypeInfo,
  inlineChunkEncoder,
  rawBytes,
} from "./codec.ts";

/** Arguments of the `planeLevels` job. */
export interface PlaneLevelsArgs {
  /** Level 0: one plane, row-major (moved to the worker). */
  data: TypedArray;
  /** Plane size of every level, level 0 first (from `planLevels`). */
  sizes: [number, number][];
  /** How levels are downsampled. */
  mode: DownsampleMode;
  /** Chunk compression. */
  spec: CompressionSpec;
}

/** What the `planeLevels` job gives back. */
export interface PlaneLevels {
  /** The compressed chunk of each level, level 0 first. */
  chunks: Uint8Array[];
  /** The level-0 histogram for `ChannelStats.addCounts` (undefined past 16-bit types). */
  counts: Uint32Array | undefined;
}

const encoders = new Map<string, Promise<ChunkEncoder>>();

/**
 * Histogram, pyramid and compressed chunks of one plane.
 *
 * @example
 * ```ts
 * import { planeLevels } from "./plane_job.ts";
 * const r = await planeLevels({
 *   data: new Uint16Array(16).fill(3),
 *   sizes: [[4, 4], [2, 2]],
 *   mode: "mean",
 *   spec: { name: "none", level: 0 },
 * });
 * console.assert(r.chunks.length === 2 && r.counts![3] === 16);
 * ```
 */
export async function planeLevels(a: PlaneLevelsArgs): Promise<PlaneLevels> {
  const size = a.data.BYTES_PER_ELEMENT;
  const key = `${a.spec.name}:${a.spec.level}:${size}`;
  let enc = encoders.get(key);
  if (!enc) {
    enc = inlineChunkEncoder(a.spec, dtypeBySize(size) as DtypeInfo);
    encoders.set(key, enc);
  }
  const encode = await enc;
  const counts = ChannelStats.counts(a.data);
  const chunks: Uint8Array[] = [];
  for (const level of buildPyramid(a.data, a.sizes, a.mode)) {
    chunks.push(await encode(rawBytes(level)));
  }
  return { chunks, counts };
}
