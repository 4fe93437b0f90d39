/**
 * Metadata `convert` takes from its source files: the physical pixel size a
 * TIFF records (resolution tags or ImageJ description), used when
 * `--pixel-size` is not given.
 *
 * Decision: the first plane of the plan (first well, field, channel, z)
 * decides for the whole plate — a plate is one acquisition, and checking
 * every file would read the whole input a second time. Only a size with both
 * x and y counts; ImageJ's z spacing comes along when the file has one.
 *
 * @module
 */

import { basename } from "node:path";
import type { StorageBackend } from "../backends/base.ts";
import { readTiffResolution } from "../formats/tiff_meta.ts";
import type { Registry } from "../registry/registry.ts";
import type { ConversionPlan } from "./_convert.ts";

/** Pixel size in micrometres, as `ConvertOptions.image.pixelSize` takes it. */
export interface SourcePixelSize {
  /** Micrometres per pixel along x. */
  x: number;
  /** Micrometres per pixel along y. */
  y: number;
  /** Micrometres between z planes. */
  z?: number;
}

/**
 * The pixel size the plan's first plane records, or `undefined` when it is
 * not a TIFF or records none in an absolute unit.
 */
export async function sourcePixelSize(
  registry: Registry,
  plan: ConversionPlan,
): Promise<{ pixelSize: SourcePixelSize; from: string } | undefined> {
  const first = plan.wells[0]?.files[0];
  if (!first || !/\.tiff?$/i.test(first.path)) return undefined;
  const disk = await registry.getBackend<StorageBackend>("disk");
  const bytes = await disk.load<Uint8Array>(first.path, { as: "bytes" });
  const r = readTiffResolution(bytes, first.path);
  if (r?.x === undefined || r.y === undefined) return undefined;
  const pixelSize: SourcePixelSize = { x: r.x, y: r.y };
  if (r.z !== undefined) pixelSize.z = r.z;
  return { pixelSize, from: first.path };
}

/**
 * Fills `image.pixelSize` from the source when the command line gave none
 * (`--pixel-size` overrides), and says so through `log`.
 */
export async function applySourcePixelSize(
  registry: Registry,
  plan: ConversionPlan,
  image: { pixelSize?: SourcePixelSize },
  log: (line: string) => void,
): Promise<void> {
  if (image.pixelSize !== undefined) return;
  const found = await sourcePixelSize(registry, plan);
  if (!found) return;
  image.pixelSize = found.pixelSize;
  const { x, y, z } = found.pixelSize;
  log(
    `pixel size ${x === y ? x : `${x} × ${y}`} µm${
      z === undefined ? "" : `, z spacing ${z} µm`
    } from ${basename(found.from)} (TIFF metadata; --pixel-size overrides)`,
  );
}
