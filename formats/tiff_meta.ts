/**
 * Physical pixel size of a TIFF, in micrometres per pixel, from the first
 * IFD's XResolution/YResolution and ResolutionUnit (2 inch, 3 cm) or an ImageJ
 * ImageDescription (`unit=micron`, `spacing=2`), where X/YResolution count
 * pixels per ImageJ's `unit` (which then wins over ResolutionUnit, as in
 * ImageJ itself).
 *
 * Decisions: metadata is advisory, so anything odd (not a TIFF, bad offsets,
 * zero or signed-negative rationals, unknown units, sizes outside 1e-5..1e9
 * µm) gives `undefined` for that value instead of an error — never a guess.
 * ResolutionUnit 1 or absent (the TIFF default, inch, is what most non-
 * microscopy writers leave with a dummy 72 dpi) counts as "no unit".
 *
 * @module
 */

import { type Entry, Reader } from "./tiff_reader.ts";

/** Pixel size read from a TIFF's metadata; each axis only when the file states it. */
export interface TiffResolution {
  /** Micrometres per pixel along x. */
  x?: number;
  /** Micrometres per pixel along y. */
  y?: number;
  /** Micrometres between z planes (ImageJ `spacing`). */
  z?: number;
  /** Always micrometres (values are converted). */
  unit: "micrometer";
}

const TAG = { DESCRIPTION: 270, X_RES: 282, Y_RES: 283, RES_UNIT: 296 } as const;
/** Accepted sizes in micrometres: 10 pm to 1 km. */
const MIN_UM = 1e-5;
const MAX_UM = 1e9;
/** ImageJ descriptions are short; longer ones are read only this far. */
const MAX_DESCRIPTION = 64 * 1024;

/** Micrometres per unit as an integer ratio [mul, div], so conversions round once. */
const UNITS = new Map<string, readonly [number, number]>();
const UNIT_NAMES: [string, readonly [number, number]][] = [
  ["micron microns um \u00b5m \u03bcm \\u00b5m micrometer micrometre micrometers micrometres", [
    1,
    1,
  ]],
  ["nm nanometer nanometre nanometers nanometres", [1, 1000]],
  ["angstrom \u00e5 \\u00c5 \\u00e5", [1, 10_000]],
  ["mm millimeter millimetre millimeters millimetres", [1000, 1]],
  ["cm centimeter centimetre centimeters centimetres", [10_000, 1]],
  ["m meter metre meters metres", [1_000_000, 1]],
  ["inch inches in", [25_400, 1]],
];
for (const [names, ratio] of UNIT_NAMES) for (const n of names.split(" ")) UNITS.set(n, ratio);
const RES_UNIT: Record<number, readonly [number, number]> = { 2: [25_400, 1], 3: [10_000, 1] };

function bounded(v: number): number | undefined {
  return Number.isFinite(v) && v >= MIN_UM && v <= MAX_UM ? v : undefined;
}

/** A positive RATIONAL (or SRATIONAL) tag value as [numerator, denominator]. */
function rational(r: Reader, e: Entry | undefined): [number, number] | undefined {
  if (!e || e.count < 1 || (e.type !== 5 && e.type !== 10)) return undefined;
  r.check(e.at, 8, "rational");
  const num = e.type === 5 ? r.dv.getUint32(e.at, r.le) : r.dv.getInt32(e.at, r.le);
  const den = e.type === 5 ? r.dv.getUint32(e.at + 4, r.le) : r.dv.getInt32(e.at + 4, r.le);
  return num > 0 && den > 0 ? [num, den] : undefined;
}

/** ImageJ's `key=value` lines, when the description is an ImageJ one. */
function imagejFields(r: Reader, e: Entry | undefined): Map<string, string> | undefined {
  if (!e || e.type !== 2 || e.count < 7) return undefined;
  const n = Math.min(e.count, MAX_DESCRIPTION);
  r.check(e.at, n, "description");
  const text = new TextDecoder("utf-8", { fatal: false }).decode(r.bytes.subarray(e.at, e.at + n));
  if (!text.startsWith("ImageJ=")) return undefined;
  const out = new Map<string, string>();
  for (const line of text.split(/[\r\n\0]+/)) {
    const eq = line.indexOf("=");
    if (eq > 0) out.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  }
  return out;
}

/**
 * The physical pixel size a TIFF's first page records, in micrometres, or
 * `undefined` when it records none in an absolute unit (or anything about it
 * is malformed). Never throws for odd metadata; work is bounded by one IFD
 * and at most 64 KiB of description.
 *
 * @example
 * ```ts
 * import { encodeTiff } from "@hcs/store/formats";
 * import { readTiffResolution } from "./tiff_meta.ts";
 * const plain = encodeTiff({ data: new Uint8Array(4), shape: [2, 2], stride: [2, 1] });
 * console.assert(readTiffResolution(plain, "a.tif") === undefined);
 * ```
 */
export function readTiffResolution(bytes: Uint8Array, path: string): TiffResolution | undefined {
  try {
    const r = new Reader(bytes, path, 0);
    const first = r.big ? r.u64(8) : r.u32(4);
    if (first === 0) return undefined;
    const { entries } = r.ifd(first, Math.floor(bytes.length / (r.big ? 20 : 12)));
    const ij = imagejFields(r, entries.get(TAG.DESCRIPTION));
    let ratio: readonly [number, number] | undefined;
    const ijUnit = ij?.get("unit");
    if (ijUnit !== undefined) {
      ratio = UNITS.get(ijUnit.toLowerCase());
    } else {
      const ru = entries.get(TAG.RES_UNIT);
      const unit = ru ? r.ints(ru, TAG.RES_UNIT, 1)[0] : undefined;
      ratio = unit === undefined ? undefined : RES_UNIT[unit];
    }
    if (!ratio) return undefined;
    const [mul, div] = ratio;
    // pixels per unit = num/den → µm per pixel = mul·den / (div·num); both
    // products stay below 2^53, so the result is the correctly rounded ratio.
    const size = (q: [number, number] | undefined) =>
      q === undefined ? undefined : bounded((mul * q[1]) / (div * q[0]));
    const out: TiffResolution = { unit: "micrometer" };
    const x = size(rational(r, entries.get(TAG.X_RES)));
    const y = size(rational(r, entries.get(TAG.Y_RES)));
    const spacing = ij?.get("spacing");
    const z = spacing !== undefined && /^[+]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(spacing)
      ? bounded((Number(spacing) * mul) / div)
      : undefined;
    if (x !== undefined) out.x = x;
    if (y !== undefined) out.y = y;
    if (z !== undefined) out.z = z;
    return x === undefined && y === undefined && z === undefined ? undefined : out;
  } catch {
    return undefined;
  }
}
