/**
 * Multiscale pyramids for OME-Zarr images, as pure functions: which levels to
 * write, the 2× y/x downsample that makes level n from level n−1, and each
 * level's `coordinateTransformations`.
 *
 * Decisions where NGFF is silent:
 * - Odd sizes: a level is `ceil(h/2) × ceil(w/2)`. The last row/column of an
 *   odd input is averaged over the pixels that exist (1 or 2 instead of 4),
 *   so no data is dropped and nothing is padded.
 * - Integer means are rounded half to even (exact integer arithmetic, also for
 *   64-bit via BigInt); float means are computed in float64 and stored in the
 *   array's type. Labels (`"nearest"`) take the top-left pixel of each 2×2 block.
 * - Level l has scale `base·2^l` on y/x and translation `base·(2^l−1)/2`, so
 *   pixel centres of every level line up in physical space.
 *
 * @module
 */
import type { TypedArray } from "../backends/base.ts";

export type { TypedArray };

/** How a level is made from the one above it. */
export type DownsampleMode = "mean" | "nearest";

/** Options of {@linkcode planLevels}. */
export interface LevelOptions {
  /** Exact number of levels including level 0 (capped where a level would be 1×1 already). */
  levels?: number;
  /** Do not create a level whose smaller side would be below this (default 1). */
  minLevelSize?: number;
  /** Automatic levels stop once the coarsest level fits in `tileSize`² (default 256). */
  tileSize?: number;
}

/** Default tile the coarsest automatic level fits in. */
export const DEFAULT_TILE_SIZE = 256;

/**
 * The `[height, width]` of every level, level 0 first.
 *
 * @example
 * ```ts
 * import { planLevels } from "./pyramid.ts";
 * console.assert(JSON.stringify(planLevels(1000, 601)) ===
 *   JSON.stringify([[1000, 601], [500, 301], [250, 151]]));
 * ```
 */
export function planLevels(
  height: number,
  width: number,
  options: LevelOptions = {},
): [number, number][] {
  const { levels, minLevelSize = 1, tileSize = DEFAULT_TILE_SIZE } = options;
  for (const [k, v] of [["height", height], ["width", width]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${k} must be an integer ≥ 0`);
  }
  if (levels !== undefined && (!Number.isInteger(levels) || levels < 1 || levels > 32)) {
    throw new RangeError(`levels must be an integer in 1..32, got ${levels}`);
  }
  if (!Number.isInteger(minLevelSize) || minLevelSize < 1) {
    throw new RangeError(`minLevelSize must be an integer ≥ 1, got ${minLevelSize}`);
  }
  if (!Number.isInteger(tileSize) || tileSize < 1) {
    throw new RangeError(`tileSize must be an integer ≥ 1, got ${tileSize}`);
  }
  const out: [number, number][] = [[height, width]];
  for (;;) {
    const [h, w] = out[out.length - 1]!;
    if (levels !== undefined ? out.length >= levels : Math.max(h, w) <= tileSize) break;
    if (h <= 1 && w <= 1) break;
    const next: [number, number] = [Math.ceil(h / 2), Math.ceil(w / 2)];
    if (Math.min(next[0], next[1]) < minLevelSize) break;
    out.push(next);
  }
  return out;
}

/** Rounds the exact mean `sum / n` (n > 0) half to even. */
function meanHalfEven(sum: number, n: number): number {
  const q = Math.floor(sum / n);
  const r2 = 2 * (sum - q * n);
  return r2 > n || (r2 === n && q % 2 !== 0) ? q + 1 : q;
}

function meanHalfEvenBig(sum: bigint, n: bigint): bigint {
  let q = sum / n;
  if (sum % n !== 0n && sum < 0n) q -= 1n; // floor for negatives
  const r2 = 2n * (sum - q * n);
  return r2 > n || (r2 === n && q % 2n !== 0n) ? q + 1n : q;
}

/**
 * The mean pass of `downsample2x` for 8- and 16-bit integers, same values:
 * full 2×2 blocks sum in int32 and round half to even with shifts (the
 * common case, 3–4× faster than the general loop); edge rows and columns
 * take the general rule.
 */
function meanBlocksSmall(
  d: Uint16Array,
  out: Uint16Array,
  si: number,
  so: number,
  h: number,
  w: number,
): void {
  const oh = Math.ceil(h / 2);
  const ow = Math.ceil(w / 2);
  const fy = h >> 1;
  const fx = w >> 1;
  for (let y = 0; y < fy; y++) {
    let r0 = si + 2 * y * w;
    let r1 = r0 + w;
    let o = so + y * ow;
    for (let x = 0; x < fx; x++, r0 += 2, r1 += 2, o++) {
      const s = d[r0]! + d[r0 + 1]! + d[r1]! + d[r1 + 1]!;
      const q = s >> 2;
      const r = s & 3;
      out[o] = r > 2 || (r === 2 && (q & 1) !== 0) ? q + 1 : q;
    }
  }
  // Partial blocks: the last column (odd w) and the last row (odd h).
  for (let y = 0; y < oh; y++) {
    const ny = 2 * y + 1 < h ? 2 : 1;
    for (let x = y < fy ? fx : 0; x < ow; x++) {
      const nx = 2 * x + 1 < w ? 2 : 1;
      const r0 = si + 2 * y * w + 2 * x;
      let s = d[r0]!;
      if (nx === 2) s += d[r0 + 1]!;
      if (ny === 2) s += nx === 2 ? d[r0 + w]! + d[r0 + w + 1]! : d[r0 + w]!;
      out[so + y * ow + x] = meanHalfEven(s, ny * nx);
    }
  }
}

const FLOAT = (d: TypedArray) => d instanceof Float32Array || d instanceof Float64Array;

/**
 * Downsamples every `h × w` plane of `data` (C order, `planes` planes back to
 * back) by 2 in y and x. Returns a new array of the same type holding
 * `planes · ceil(h/2) · ceil(w/2)` elements.
 *
 * @example
 * ```ts
 * import { downsample2x } from "./pyramid.ts";
 * const d = downsample2x(new Uint8Array([1, 2, 3, 4, 5, 6]), 2, 3);
 * console.assert(d.join() === "3,4"); // (1+2+4+5)/4 = 3, (3+6)/2 = 4.5 → 4 (half to even)
 * ```
 */
export function downsample2x<T extends TypedArray>(
  data: T,
  h: number,
  w: number,
  mode: DownsampleMode = "mean",
  planes = 1,
): T {
  const oh = Math.ceil(h / 2);
  const ow = Math.ceil(w / 2);
  if (data.length < planes * h * w) {
    throw new RangeError(`downsample2x: ${data.length} elements < ${planes}×${h}×${w}`);
  }
  const out = new (data.constructor as new (n: number) => T)(planes * oh * ow);
  const big = typeof data[0] === "bigint" || data instanceof BigInt64Array ||
    data instanceof BigUint64Array;
  const float = FLOAT(data);
  const small = data instanceof Uint8Array || data instanceof Int8Array ||
    data instanceof Uint16Array || data instanceof Int16Array || data instanceof Uint8ClampedArray;
  for (let p = 0; p < planes; p++) {
    const si = p * h * w;
    const so = p * oh * ow;
    if (small && mode === "mean") {
      meanBlocksSmall(data as unknown as Uint16Array, out as unknown as Uint16Array, si, so, h, w);
      continue;
    }
    for (let y = 0; y < oh; y++) {
      const y0 = 2 * y;
      const ny = y0 + 1 < h ? 2 : 1;
      for (let x = 0; x < ow; x++) {
        const x0 = 2 * x;
        const o = so + y * ow + x;
        if (mode === "nearest") {
          out[o] = data[si + y0 * w + x0]!;
          continue;
        }
        const nx = x0 + 1 < w ? 2 : 1;
        if (big) {
          let s = 0n;
          for (let dy = 0; dy < ny; dy++) {
            for (let dx = 0; dx < nx; dx++) s += data[si + (y0 + dy) * w + x0 + dx] as bigint;
          }
          (out as unknown as bigint[])[o] = meanHalfEvenBig(s, BigInt(ny * nx));
        } else {
          const r0 = si + y0 * w + x0;
          const r1 = r0 + w;
          const d = data as unknown as number[];
          let s = d[r0]!;
          if (nx === 2) s += d[r0 + 1]!;
          if (ny === 2) s += nx === 2 ? d[r1]! + d[r1 + 1]! : d[r1]!;
          const n = ny * nx;
          (out as unknown as number[])[o] = float ? s / n : meanHalfEven(s, n);
        }
      }
    }
  }
  return out;
}

/**
 * Every level of a stack of planes: element 0 is `data` itself, element l the
 * 2× downsample of element l−1, for the sizes `planLevels` gave.
 */
export function buildPyramid<T extends TypedArray>(
  data: T,
  sizes: readonly (readonly [number, number])[],
  mode: DownsampleMode = "mean",
  planes = 1,
): T[] {
  const out: T[] = [data];
  for (let l = 1; l < sizes.length; l++) {
    const [h, w] = sizes[l - 1]!;
    out.push(downsample2x(out[l - 1]!, h, w, mode, planes));
  }
  return out;
}

/** Arguments of the pool's `downsample` job (one level from the one above). */
export interface DownsampleArgs {
  /** The level above (moved to the worker and back). */
  data: TypedArray;
  /** Its plane height. */
  h: number;
  /** Its plane width. */
  w: number;
  /** Mean or nearest. */
  mode: DownsampleMode;
  /** Planes back to back in `data`. */
  planes: number;
}

/** The `downsample` job: the level below `a.data`, and `a.data` itself (to move it back). */
export function downsampleJob(a: DownsampleArgs): { out: TypedArray; data: TypedArray } {
  return { out: downsample2x(a.data, a.h, a.w, a.mode, a.planes), data: a.data };
}

/**
 * Like {@linkcode buildPyramid}, with each level that is large enough made
 * on the codec worker pool. Levels the pyramid made itself are moved to the
 * worker and back (never copied); `data` (level 0) is moved only with
 * `transferInput` (it is then detached, and element 0 of the result is a new
 * view of the same memory), else level 1 is made on this thread. Same
 * values as `buildPyramid`.
 *
 * @example
 * ```ts
 * import { buildPyramidAsync } from "./pyramid.ts";
 * const levels = await buildPyramidAsync(new Uint8Array(16).fill(4), [[4, 4], [2, 2], [1, 1]]);
 * console.assert(levels.length === 3 && levels[2]![0] === 4);
 * ```
 */
export async function buildPyramidAsync<T extends TypedArray>(
  data: T,
  sizes: readonly (readonly [number, number])[],
  mode: DownsampleMode = "mean",
  planes = 1,
  options: { transferInput?: boolean } = {},
): Promise<T[]> {
  const { runJob } = await import("../_internal/workers/pool.ts");
  const out: T[] = [data];
  for (let l = 1; l < sizes.length; l++) {
    const [h, w] = sizes[l - 1]!;
    const src = out[l - 1]!;
    const movable = (l > 1 || options.transferInput === true) && src.byteOffset === 0 &&
      src.buffer instanceof ArrayBuffer && src.byteLength === src.buffer.byteLength;
    const r = await runJob("downsample", { data: src, h, w, mode, planes }, {
      weight: src.byteLength,
      ...(movable ? {} : { inline: true }),
      prepare: (a) => ({ args: a, transfer: [a.data.buffer as ArrayBuffer] }),
    });
    out[l - 1] = r.data as T;
    out.push(r.out as T);
  }
  return out;
}

/** One NGFF coordinate transformation. */
export type CoordinateTransformation =
  | { type: "scale"; scale: number[] }
  | { type: "translation"; translation: number[] };

/**
 * The `coordinateTransformations` of level `level`: `baseScale` (one entry per
 * axis, level 0's physical size per pixel) with the last two (y, x) multiplied
 * by `2^level`, plus the half-pixel translation that keeps pixel centres
 * aligned (only for level > 0).
 *
 * @example
 * ```ts
 * import { levelTransforms } from "./pyramid.ts";
 * const [s, t] = levelTransforms([1, 0.5, 0.5], 2);
 * console.assert(JSON.stringify(s) === '{"type":"scale","scale":[1,2,2]}');
 * console.assert(JSON.stringify(t) === '{"type":"translation","translation":[0,0.75,0.75]}');
 * ```
 */
export function levelTransforms(
  baseScale: readonly number[],
  level: number,
): CoordinateTransformation[] {
  const n = baseScale.length;
  const f = 2 ** level;
  const scale = baseScale.map((s, i) => (i >= n - 2 ? s * f : s));
  const out: CoordinateTransformation[] = [{ type: "scale", scale }];
  if (level > 0) {
    out.push({
      type: "translation",
      translation: baseScale.map((s, i) => (i >= n - 2 ? (s * (f - 1)) / 2 : 0)),
    });
  }
  return out;
}

/** The `datasets` list of a multiscales entry with `count` levels named "0".."n". */
export function multiscaleDatasets(
  baseScale: readonly number[],
  count: number,
): { path: string; coordinateTransformations: CoordinateTransformation[] }[] {
  return Array.from({ length: count }, (_, l) => ({
    path: String(l),
    coordinateTransformations: levelTransforms(baseScale, l),
  }));
}
