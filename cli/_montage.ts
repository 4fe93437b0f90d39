/**
 * Plate montages a biologist can read: one tile per well at its plate
 * position, row letters and column numbers in the margins (built-in bitmap
 * font), a grey grid between wells, empty wells hatched (so they differ from
 * dim ones), and several channels composited in colour with a legend.
 *
 * Decisions: contrast is per channel, from percentiles over every tile of that
 * channel together (a bright well stays brighter than a dim one); colours add
 * and clip at 255; one channel alone is drawn in grey.
 *
 * @module
 */

import type { NdArray } from "../backends/base.ts";
import { ADVANCE, drawText, GLYPH_H, textWidth } from "./_font.ts";

/** An RGB colour, 0–255 each. */
export type Rgb = readonly [number, number, number];

/** Colours for channels without one in the plate: green, magenta, cyan, yellow, red, blue. */
export const DEFAULT_PALETTE: readonly Rgb[] = [
  [0, 255, 0],
  [255, 0, 255],
  [0, 255, 255],
  [255, 255, 0],
  [255, 0, 0],
  [64, 128, 255],
];

/** The picture's fixed colours. */
export const COLORS = {
  /** Margins. */
  background: [16, 16, 16] as Rgb,
  /** Lines between wells. */
  grid: [96, 96, 96] as Rgb,
  /** Row and column labels, legend text. */
  label: [235, 235, 235] as Rgb,
  /** An empty well's ground. */
  empty: [56, 56, 56] as Rgb,
  /** An empty well's hatching. */
  hatch: [128, 128, 128] as Rgb,
} as const;

/** How to lay out and stretch a montage. */
export interface MontageOptions {
  /** Longest side of a tile, in pixels. */
  tile: number;
  /** Grid line width between tiles (and around them), in pixels. */
  gap: number;
  /** Lower percentile mapped to black, per channel (0–100). */
  low: number;
  /** Upper percentile mapped to full colour, per channel (0–100). */
  high: number;
}

/** One channel of the composite. */
export interface MontageChannel {
  /** Name for the legend (undefined: `C<index>`). */
  name?: string;
  /** Its colour (ignored when it is the only channel: grey). */
  color: Rgb;
}

/** A well with data: its row and column index and one `y × x` plane per channel. */
export interface MontageTile {
  /** Row index in the plate (0-based). */
  row: number;
  /** Column index in the plate (0-based). */
  column: number;
  /** Planes (2-D, C order), in channel order. */
  planes: NdArray[];
}

/** Where things are in the picture (for `--json` and tests). */
export interface MontageLayout {
  /** x of the grid's left edge (the first grid line). */
  left: number;
  /** y of the grid's top edge. */
  top: number;
  /** Tile size. */
  tileWidth: number;
  /** Tile size. */
  tileHeight: number;
  /** Grid line width. */
  gap: number;
  /** Font scale (a glyph is 5·scale × 7·scale pixels). */
  scale: number;
  /** y of the legend's text row (undefined: no legend). */
  legendTop?: number;
}

/** An RGB picture with its layout and the per-channel value ranges used. */
export interface Montage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Pixels, RGB, row by row. */
  data: Uint8Array;
  /** Where the grid, tiles and legend are. */
  layout: MontageLayout;
  /** Per channel: the values mapped to black and to full colour. */
  ranges: [number, number][];
}

/** The top-left pixel of the tile at (row, column). */
export function tileOrigin(layout: MontageLayout, row: number, column: number): [number, number] {
  return [
    layout.left + layout.gap + column * (layout.tileWidth + layout.gap),
    layout.top + layout.gap + row * (layout.tileHeight + layout.gap),
  ];
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
 * Lays out `tiles` on the plate's `rowNames × columnNames` grid, with labels,
 * grid, hatched empty wells and (for several channels, or named ones) a legend.
 */
export function montage(
  tiles: readonly MontageTile[],
  rowNames: readonly string[],
  columnNames: readonly string[],
  channels: readonly MontageChannel[],
  options: MontageOptions,
): Montage {
  const first = tiles[0]?.planes[0];
  const [th, tw] = first ? tileSize(first.shape, options.tile) : [options.tile, options.tile];
  const g = options.gap;
  const scale = Math.max(1, Math.min(3, Math.floor(Math.min(th, tw) / 40)));
  const pad = 3 * scale;
  const rowLabel = Math.max(1, ...rowNames.map((r) => r.length));
  const left = pad + textWidth("W".repeat(rowLabel), scale) + pad;
  const top = pad + GLYPH_H * scale + pad;
  const gridW = columnNames.length * tw + (columnNames.length + 1) * g;
  const gridH = rowNames.length * th + (rowNames.length + 1) * g;
  const names = channels.map((c, i) => c.name ?? `C${i}`);
  const legend = channels.length > 1 || channels.some((c) => c.name !== undefined);
  const swatch = GLYPH_H * scale;
  const legendW = names.reduce(
    (w, n) => w + swatch + scale * 2 + textWidth(n, scale) + ADVANCE * 2 * scale,
    0,
  );
  const width = Math.max(left + gridW + pad, pad + legendW);
  const legendTop = top + gridH + pad * 2;
  const height = legend ? legendTop + GLYPH_H * scale + pad : top + gridH + pad;
  const data = new Uint8Array(width * height * 3);
  const fill = (x0: number, y0: number, w: number, h: number, c: Rgb) => {
    for (let y = y0; y < y0 + h; y++) {
      for (let x = x0; x < x0 + w; x++) {
        const o = (y * width + x) * 3;
        data[o] = c[0];
        data[o + 1] = c[1];
        data[o + 2] = c[2];
      }
    }
  };
  fill(0, 0, width, height, COLORS.background);
  fill(left, top, gridW, gridH, COLORS.grid);
  const layout: MontageLayout = { left, top, tileWidth: tw, tileHeight: th, gap: g, scale };
  if (legend) layout.legendTop = legendTop;

  // Labels: column numbers centred above, row letters right-aligned beside.
  columnNames.forEach((name, c) => {
    const [x] = tileOrigin(layout, 0, c);
    const tx = x + Math.floor((tw - textWidth(name, scale)) / 2);
    drawText(data, width, height, tx, pad, name, scale, COLORS.label);
  });
  rowNames.forEach((name, r) => {
    const [, y] = tileOrigin(layout, r, 0);
    const ty = y + Math.floor((th - GLYPH_H * scale) / 2);
    drawText(
      data,
      width,
      height,
      left - pad - textWidth(name, scale),
      ty,
      name,
      scale,
      COLORS.label,
    );
  });

  // Empty wells: hatched grey. Tiles with data overwrite their cell below.
  for (let r = 0; r < rowNames.length; r++) {
    for (let c = 0; c < columnNames.length; c++) {
      const [x0, y0] = tileOrigin(layout, r, c);
      fill(x0, y0, tw, th, COLORS.empty);
      for (let y = 0; y < th; y++) {
        for (let x = 0; x < tw; x++) {
          if ((x + y) % 6 !== 0 && (x - y + 6 * th) % 6 !== 0) continue;
          const o = ((y0 + y) * width + x0 + x) * 3;
          data[o] = COLORS.hatch[0];
          data[o + 1] = COLORS.hatch[1];
          data[o + 2] = COLORS.hatch[2];
        }
      }
    }
  }

  // Per channel: shrink every tile, then take that channel's percentiles over all tiles.
  const ranges: [number, number][] = [];
  const small = tiles.map((t) => t.planes.map((p) => shrink(p, th, tw)));
  for (let ch = 0; ch < channels.length; ch++) {
    const all = new Float64Array(small.length * th * tw);
    small.forEach((s, k) => all.set(s[ch]!, k * th * tw));
    all.sort();
    let lo = percentile(all, options.low);
    let hi = percentile(all, options.high);
    // A flat channel (one well, a blank plane) has no spread: show its level against zero.
    if (hi <= lo) [lo, hi] = hi > 0 ? [0, hi] : [lo, lo + 1];
    ranges.push([lo, hi]);
  }
  const colors = channels.length === 1 ? [[255, 255, 255] as Rgb] : channels.map((c) => c.color);
  tiles.forEach((t, k) => {
    if (t.row < 0 || t.row >= rowNames.length || t.column < 0 || t.column >= columnNames.length) {
      return;
    }
    const [x0, y0] = tileOrigin(layout, t.row, t.column);
    for (let y = 0; y < th; y++) {
      for (let x = 0; x < tw; x++) {
        let rr = 0;
        let gg = 0;
        let bb = 0;
        for (let ch = 0; ch < channels.length; ch++) {
          const [lo, hi] = ranges[ch]!;
          const v = (small[k]![ch]![y * tw + x]! - lo) / (hi - lo);
          const f = v < 0 ? 0 : v > 1 ? 1 : v;
          const col = colors[ch]!;
          rr += f * col[0];
          gg += f * col[1];
          bb += f * col[2];
        }
        const o = ((y0 + y) * width + x0 + x) * 3;
        data[o] = Math.min(255, Math.round(rr));
        data[o + 1] = Math.min(255, Math.round(gg));
        data[o + 2] = Math.min(255, Math.round(bb));
      }
    }
  });

  // Legend: a swatch in the channel's colour, then its name.
  if (legend) {
    let x = pad;
    names.forEach((name, ch) => {
      fill(x, legendTop, swatch, swatch, colors[ch]!);
      x += swatch + scale * 2;
      drawText(data, width, height, x, legendTop, name, scale, COLORS.label);
      x += textWidth(name, scale) + ADVANCE * 2 * scale;
    });
  }
  return { width, height, data, layout, ranges };
}
