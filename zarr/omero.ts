/**
 * NGFF image metadata beyond the pixels, as pure functions: physical pixel
 * sizes and units on the axes, and the `omero` block (channel names, colours
 * and contrast windows from data percentiles accumulated while writing).
 *
 * Decisions: windows are the 0.1th/99.9th percentiles, exact for 8/16-bit
 * integers (a histogram) and from a bounded deterministic sample (every k-th
 * value, at most 2^20 kept per channel) for other types; `window.min/max` is
 * the dtype's range for integers and the data range for floats.
 *
 * @module
 */
import type { TypedArray } from "../backends/base.ts";

export type { TypedArray };
import { multiscaleDatasets } from "./pyramid.ts";

/** Physical pixel size: one number (y = x, micrometres) or per axis with a unit. */
export type PixelSize = number | { x: number; y: number; z?: number; unit?: string };

/** Resolved physical sizes and unit. */
export interface PhysicalSize {
  /** Size of one pixel along x. */
  x: number;
  /** Size of one pixel along y. */
  y: number;
  /** Spacing between z planes, if given. */
  z?: number;
  /** NGFF unit name (default `"micrometer"`). */
  unit: string;
}

/** NGFF 0.4/0.5 space units (UDUNITS-2 names the schemas accept). */
const SPACE_UNITS = new Set([
  "angstrom",
  "attometer",
  "centimeter",
  "decimeter",
  "exameter",
  "femtometer",
  "foot",
  "gigameter",
  "hectometer",
  "inch",
  "kilometer",
  "megameter",
  "meter",
  "micrometer",
  "mile",
  "millimeter",
  "nanometer",
  "parsec",
  "petameter",
  "picometer",
  "terameter",
  "yard",
  "yoctometer",
  "yottameter",
  "zeptometer",
  "zettameter",
]);

/**
 * Validates and resolves a {@linkcode PixelSize}.
 *
 * @example
 * ```ts
 * import { resolvePixelSize } from "./omero.ts";
 * console.assert(resolvePixelSize(0.65).x === 0.65 && resolvePixelSize(0.65).unit === "micrometer");
 * ```
 */
export function resolvePixelSize(p: PixelSize): PhysicalSize {
  const o = typeof p === "number" ? { x: p, y: p } : p;
  const unit = (typeof p === "object" && p.unit) || "micrometer";
  for (const [k, v] of Object.entries({ x: o.x, y: o.y, z: (o as { z?: number }).z })) {
    if (v === undefined && k === "z") continue;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw new RangeError(`pixel size ${k} must be a positive finite number, got ${v}`);
    }
  }
  if (!SPACE_UNITS.has(unit)) throw new RangeError(`'${unit}' is not an NGFF space unit`);
  const out: PhysicalSize = { x: o.x, y: o.y, unit };
  const z = (o as { z?: number }).z;
  if (z !== undefined) out.z = z;
  return out;
}

/** An NGFF axis object. */
export interface NgffAxis {
  /** Axis name. */
  name: string;
  /** `space`, `channel`, `time`, or custom. */
  type?: string;
  /** Physical unit. */
  unit?: string;
}

/**
 * Level 0's scale per axis and the axes with units, given the axes of an
 * image (last two are y, x) and its pixel size; a `z` space axis gets the z
 * spacing. Without a pixel size every scale is 1 and no unit is set.
 */
export function physicalAxes(
  axes: readonly NgffAxis[],
  size: PhysicalSize | undefined,
): { axes: NgffAxis[]; scale: number[] } {
  if (!size) return { axes: axes.map((a) => ({ ...a })), scale: axes.map(() => 1) };
  const n = axes.length;
  const scale: number[] = [];
  const out = axes.map((a, i) => {
    if (i === n - 1 || i === n - 2) {
      scale.push(i === n - 1 ? size.x : size.y);
      return { ...a, unit: size.unit };
    }
    if (a.name === "z" && a.type === "space" && size.z !== undefined) {
      scale.push(size.z);
      return { ...a, unit: size.unit };
    }
    scale.push(1);
    return { ...a };
  });
  return { axes: out, scale };
}

const SAMPLE_CAP = 1 << 20;

function isSmall(data: TypedArray): boolean {
  return data instanceof Uint8Array || data instanceof Int8Array ||
    data instanceof Uint16Array || data instanceof Int16Array ||
    data instanceof Uint8ClampedArray;
}

/** Accumulates one channel's value distribution over the planes written. */
export class ChannelStats {
  #hist: Float64Array | undefined;
  #offset = 0;
  #sample: number[] = [];
  #seen = 0;
  #min = Infinity;
  #max = -Infinity;
  #integer = true;
  #range: [number, number] | undefined;

  /** Whether {@linkcode ChannelStats.counts} counts `data`'s type (8- and 16-bit integers). */
  static countable(data: TypedArray): boolean {
    return isSmall(data);
  }

  /**
   * The histogram {@linkcode ChannelStats.add} would count for `data`, for
   * 8- and 16-bit integers (undefined for other types), so it can be counted
   * on another thread and merged with {@linkcode ChannelStats.addCounts}.
   */
  static counts(data: TypedArray): Uint32Array | undefined {
    if (!ChannelStats.countable(data)) return undefined;
    const bits = data.BYTES_PER_ELEMENT * 8;
    const off = data instanceof Int8Array || data instanceof Int16Array ? 2 ** (bits - 1) : 0;
    const h = new Uint32Array(2 ** bits);
    for (let i = 0; i < data.length; i++) h[(data[i] as number) + off]!++;
    return h;
  }

  /** Adds what `ChannelStats.counts(d)` counted, as `add(d)` would; `like` is any array of d's type. */
  addCounts(counts: Uint32Array, like: TypedArray): void {
    this.#start(like);
    const h = this.#hist;
    if (!h || h.length !== counts.length) {
      throw new RangeError("channel counts do not match the channel's element type");
    }
    let n = 0;
    for (let i = 0; i < counts.length; i++) {
      h[i]! += counts[i]!;
      n += counts[i]!;
    }
    this.#seen += n;
  }

  #start(data: TypedArray): void {
    const small = isSmall(data);
    if (small && this.#seen === 0 && !this.#hist) {
      const bits = data.BYTES_PER_ELEMENT * 8;
      const signed = data instanceof Int8Array || data instanceof Int16Array;
      this.#offset = signed ? 2 ** (bits - 1) : 0;
      this.#hist = new Float64Array(2 ** bits);
      this.#range = [this.#offset === 0 ? 0 : -this.#offset, 2 ** bits - 1 - this.#offset];
    }
    if (!small && this.#range === undefined) {
      this.#integer = !(data instanceof Float32Array || data instanceof Float64Array);
      if (data instanceof Uint32Array) this.#range = [0, 2 ** 32 - 1];
      if (data instanceof Int32Array) this.#range = [-(2 ** 31), 2 ** 31 - 1];
    }
  }

  /** Adds every value of `data` (any numeric typed array). */
  add(data: TypedArray): void {
    const counts = ChannelStats.counts(data);
    if (counts) return this.addCounts(counts, data);
    this.#start(data);
    // Deterministic bounded sample: keep every k-th value, k doubling as needed.
    let step = Math.max(1, Math.ceil(data.length / SAMPLE_CAP));
    for (let i = 0; i < data.length; i++) {
      const v = Number(data[i]!);
      if (Number.isNaN(v)) continue;
      if (v < this.#min) this.#min = v;
      if (v > this.#max) this.#max = v;
      if (i % step === 0) this.#sample.push(v);
    }
    while (this.#sample.length > SAMPLE_CAP) {
      this.#sample = this.#sample.filter((_, i) => i % 2 === 0);
      step *= 2;
    }
    this.#seen += data.length;
  }

  /** The omero `window`: `start`/`end` at the `low`/`high` quantiles (0..1). */
  window(low = 0.001, high = 0.999): { min: number; max: number; start: number; end: number } {
    if (this.#hist) {
      const h = this.#hist;
      const total = this.#seen;
      const at = (q: number) => {
        const target = q * (total - 1);
        let acc = 0;
        for (let i = 0; i < h.length; i++) {
          acc += h[i]!;
          if (acc > target) return i - this.#offset;
        }
        return h.length - 1 - this.#offset;
      };
      const [min, max] = this.#range!;
      if (total === 0) return { min, max, start: min, end: max };
      return { min, max, start: at(low), end: at(high) };
    }
    const s = [...this.#sample].sort((a, b) => a - b);
    const [rmin, rmax] = this.#range ?? [this.#min, this.#max];
    if (s.length === 0) return { min: 0, max: 0, start: 0, end: 0 };
    const q = (p: number) => s[Math.min(s.length - 1, Math.round(p * (s.length - 1)))]!;
    const min = this.#integer ? rmin : this.#min;
    const max = this.#integer ? rmax : this.#max;
    return { min, max, start: q(low), end: q(high) };
  }
}

/** Default channel colours (hex RRGGBB): one channel is white. */
export function defaultColor(index: number, count: number): string {
  if (count === 1) return "FFFFFF";
  return ["00FF00", "FF00FF", "00FFFF", "FF0000", "0000FF", "FFFF00"][index % 6]!;
}

/** What the caller says about one channel. */
export interface ChannelInfo {
  /** Channel name (default `"Channel <i>"`, or the channel axis label). */
  label?: string;
  /** Colour `RRGGBB` (default: {@linkcode defaultColor}). */
  color?: string;
}

/** The `omero` block of an image with `windows.length` channels. */
export function omeroBlock(
  windows: readonly { min: number; max: number; start: number; end: number }[],
  info: readonly ChannelInfo[] = [],
  labels: readonly string[] = [],
): Record<string, unknown> {
  return {
    channels: windows.map((window, i) => {
      const color = info[i]?.color ?? defaultColor(i, windows.length);
      if (!/^[0-9A-Fa-f]{6}$/.test(color)) {
        throw new RangeError(`channel ${i}: colour must be RRGGBB hex, got '${color}'`);
      }
      return {
        label: info[i]?.label ?? labels[i] ?? `Channel ${i}`,
        color: color.toUpperCase(),
        window,
        active: true,
        coefficient: 1,
        family: "linear",
        inverted: false,
      };
    }),
    rdefs: { model: "color", defaultT: 0, defaultZ: 0 },
  };
}

/** What {@linkcode withImageMetadata} adds to a field group's attributes. */
export interface ImageMetadata {
  /** Number of pyramid levels written ("0".."n"). */
  levels: number;
  /** Physical pixel size, if known. */
  pixelSize?: PhysicalSize;
  /** Contrast windows, one per channel (omitted: no `omero` block). */
  windows?: readonly { min: number; max: number; start: number; end: number }[];
  /** Caller's channel names/colours. */
  channels?: readonly ChannelInfo[];
  /** Channel labels from the channel axis. */
  labels?: readonly string[];
}

/**
 * A copy of image group attributes (NGFF 0.4 `multiscales`, or 0.5
 * `ome.multiscales`) whose first multiscale lists every level with scaled
 * transformations and units, plus the `omero` block beside it.
 */
export function withImageMetadata(
  attrs: Record<string, unknown>,
  meta: ImageMetadata,
): Record<string, unknown> {
  const out = structuredClone(attrs);
  const holder = (out.ome ?? out) as Record<string, unknown>;
  const list = holder.multiscales as Record<string, unknown>[] | undefined;
  const ms = list?.[0];
  if (!ms) throw new TypeError("withImageMetadata: attributes hold no multiscales");
  const { axes, scale } = physicalAxes(ms.axes as NgffAxis[], meta.pixelSize);
  ms.axes = axes;
  ms.datasets = multiscaleDatasets(scale, meta.levels);
  if (meta.windows) holder.omero = omeroBlock(meta.windows, meta.channels, meta.labels);
  return out;
}
