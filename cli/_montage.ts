/**
 * Plate montages: one tile per well at its plate position, shrunk by area
 * averaging and contrast-stretched with percentiles taken over every tile
 * together (so a bright well stays brighter than a dim one).
 *
 * @module
 */

import type { NdArray } from "../backends/base.ts";

/** How to lay out and stretch a montage. */
export interface MontageOptions {
  /** Longest side of a tile, in pixels. */
  tile: number;
  /** Black border between tiles (and around them), in pixels. */
  gap: number;
  /** Lower percentile mapped to black (0–100). */
  low: number;
  /** Upper percentile mapped to white (0–100). */
  high: number;
}

/** A tile to place: its row and column index and its `y × x` plane. */
export interface MontageTile {
  /** Row index in the plate (0-based). */
  row: number;
  /** Column index in the plate (0-based). */
  column: number;
  /** The plane (2-D, C order). */
  plane: NdArray;
}

/** An 8-bit grayscale picture. */
export interface Gray8 {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Pixels, row by row. */
  data: Uint8Array;
  /** The values mapped to 0 and 255. */
  range: [number, number];
}

/** Tile size (height, width) for planes of `shape`, the longest side being `tile`. */
export function tileSize(shape: readonly number[], tile: number): [number, number] {
  const h = shape[shape.length - 2] ?? 1;
  const w = shape[shape.length - 1] ?? 1;
  if (h >= w) return [tile, Math.max(1, Math.round((tile * w) / h))];
  return [Math.max(1, Math.round((tile * h) / w)), tile];
}

/** Area-average `plane` down (or nearest-neighbour up) to `th × tw` floats. */
export function shrink(plane: NdArray, th: number, tw: number): Float64Array {
  const h = plane.shape[plane.shape.length - 2]!;
  const w = plane.shape[plane.shape.length - 1]!;
  const sy = plane.stride[plane.stride.length - 2]!;
  const sx = plane.stride[plane.stride.length - 1]!;
  const src = plane.data as ArrayLike<number | bigint>;
  const out = new Float64Array(th * tw);
  for (let ty = 0; ty < th; ty++) {
    const y0 = Math.floor((ty * h) / th);
    const y1 = Math.max(y0 + 1, Math.floor(((ty + 1) * h) / th));
    for (let tx = 0; tx < tw; tx++) {
      const x0 = Math.floor((tx * w) / tw);
      const x1 = Math.max(x0 + 1, Math.floor(((tx + 1) * w) / tw));
      let sum = 0;
      for (let y = y0; y < y1; y++) {
        const row = y * sy;
        for (let x = x0; x < x1; x++) sum += Number(src[row + x * sx]!);
      }
      out[ty * tw + tx] = sum / ((y1 - y0) * (x1 - x0));
    }
  }
  return out;
}

/** The `p`-th percentile (0–100) of `values` (sorted copy, nearest rank). */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * (sorted.length - 1))));
  return sorted[i]!;
}

/**
 * Lays out `tiles` on a `rows × columns` grid. Picture size:
 * `columns·tw + (columns+1)·gap` by `rows·th + (rows+1)·gap`.
 */
export function montage(
  tiles: readonly MontageTile[],
  rows: number,
  columns: number,
  options: MontageOptions,
): Gray8 {
  const first = tiles[0];
  const [th, tw] = first ? tileSize(first.plane.shape, options.tile) : [options.tile, options.tile];
  const g = options.gap;
  const width = columns * tw + (columns + 1) * g;
  const height = rows * th + (rows + 1) * g;
  const small = tiles.map((t) => shrink(t.plane, th, tw));
  let total = 0;
  for (const s of small) total += s.length;
  const all = new Float64Array(total);
  let off = 0;
  for (const s of small) {
    all.set(s, off);
    off += s.length;
  }
  all.sort();
  const lo = percentile(all, options.low);
  let hi = percentile(all, options.high);
  if (hi <= lo) hi = lo + 1;
  const scale = 255 / (hi - lo);
  const data = new Uint8Array(width * height);
  tiles.forEach((t, k) => {
    const s = small[k]!;
    const top = g + t.row * (th + g);
    const left = g + t.column * (tw + g);
    for (let y = 0; y < th; y++) {
      const base = (top + y) * width + left;
      for (let x = 0; x < tw; x++) {
        const v = Math.round((s[y * tw + x]! - lo) * scale);
        data[base + x] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  });
  return { width, height, data, range: [lo, hi] };
}
