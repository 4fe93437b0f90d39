/**
 * `hcs-store preview`: a PNG montage of a plate, wells at their plate positions.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { encode as encodePng } from "npm:fast-png@^8.0.0";
import { UnsupportedFormatError } from "../../errors.ts";
import type { NdArray, StorageBackend } from "../../backends/base.ts";
import { encodeForPath } from "../../formats/mod.ts";
import type { Registry } from "../../registry/registry.ts";
import { type Gray8, montage, type MontageTile } from "../_montage.ts";
import { readWellPlanes } from "../_plate.ts";
import {
  type Command,
  type CommandContext,
  int,
  location,
  parse,
  Progress,
  str,
  UsageError,
} from "../_shared.ts";

const HELP = `hcs-store preview — a PNG montage of an OME-Zarr plate

Usage: hcs-store preview [options] PLATE.zarr

Draws one field per well at the well's plate position (rows top to bottom,
columns left to right; wells missing from the plate stay black), each shrunk
to a tile by area averaging, and maps the --low..--high percentiles of all
tiles together to black..white (so bright wells look bright). Writes an 8-bit
grayscale PNG of width columns·tw + (columns+1)·gap and height
rows·th + (rows+1)·gap, where the tile's longer side is --tile.

Options:
  -o, --output FILE   the PNG to write (default: <plate name>_preview.png next to the plate)
      --channel N     channel index, 0-based (default 0)
      --field N       field index within each well, 0-based (default 0)
      --z N           z index, 0-based (default the middle plane)
      --tile PX       longer side of a tile in pixels (default 128)
      --gap PX        black border between tiles (default 2)
      --low P         percentile mapped to black (default 1)
      --high P        percentile mapped to white (default 99)
      --overwrite     replace an existing output file
      --json          print {output, width, height, tile, wells, range}
  -q, --quiet         no progress bar
  -v, --verbose       stack traces on failure
  -h, --help          this help

Exit status: 0 ok, 1 failure, 2 usage error.`;

function percentOption(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0 || n > 100) {
    throw new UsageError(`--${name} must be a percentile between 0 and 100, got '${v}'`, "preview");
  }
  return n;
}

/** Options of {@linkcode writePreview}. */
export interface PreviewOptions {
  /** Channel index (0-based). */
  channel: number;
  /** Field index (0-based). */
  field: number;
  /** Z index; default the middle plane. */
  z?: number;
  /** Longer side of a tile. */
  tile: number;
  /** Border between tiles. */
  gap: number;
  /** Percentile mapped to black. */
  low: number;
  /** Percentile mapped to white. */
  high: number;
  /** Replace an existing output. */
  overwrite: boolean;
  /** Called after each well is read, with the number of wells. */
  onWell?: (total: number) => void;
}

/** PNG bytes of an 8-bit picture, through the formats registry's PNG codec (fast-png if none). */
export function pngBytes(img: Gray8, path: string): Uint8Array {
  const value: NdArray = { data: img.data, shape: [img.height, img.width], stride: [img.width, 1] };
  try {
    return encodeForPath(value, path, "preview");
  } catch (err) {
    if (!(err instanceof UnsupportedFormatError)) throw err;
    return encodePng({
      width: img.width,
      height: img.height,
      data: img.data,
      channels: 1,
      depth: 8,
    });
  }
}

/** Reads the plate, lays out the montage and writes the PNG through the disk backend. */
export async function writePreview(
  registry: Registry,
  plate: string,
  output: string,
  options: PreviewOptions,
): Promise<{ image: Gray8; wells: number }> {
  const sel: { field: number; channel: number; z?: number } = {
    field: options.field,
    channel: options.channel,
  };
  if (options.z !== undefined) sel.z = options.z;
  const { rows, columns, planes } = await readWellPlanes(plate, sel, options.onWell);
  const tiles: MontageTile[] = [];
  for (const p of planes) {
    if (!p.plane || p.well.rowIndex < 0 || p.well.columnIndex < 0) continue;
    tiles.push({ row: p.well.rowIndex, column: p.well.columnIndex, plane: p.plane });
  }
  const image = montage(tiles, rows.length, columns.length, options);
  const disk = await registry.getBackend<StorageBackend>("disk");
  await disk.save(pngBytes(image, output), output, { overwrite: options.overwrite });
  return { image, wells: tiles.length };
}

/** The `preview` command. */
export const preview: Command = {
  name: "preview",
  summary: "a PNG montage of a plate (wells at plate positions, contrast-stretched)",
  help: HELP,
  async run(ctx: CommandContext): Promise<number> {
    const { values, positionals } = parse("preview", ctx.args, {
      output: { type: "string", short: "o" },
      channel: { type: "string" },
      field: { type: "string" },
      z: { type: "string" },
      tile: { type: "string" },
      gap: { type: "string" },
      low: { type: "string" },
      high: { type: "string" },
      overwrite: { type: "boolean", short: "f" },
      json: { type: "boolean" },
    });
    if (values.help) {
      ctx.out(HELP);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError("preview takes one plate path", "preview");
    const loc = location(positionals[0]!);
    if (loc.backend !== "disk" && loc.backend !== "zarr") {
      throw new UsageError(
        `preview reads plates on the local disk, not ${loc.backend}:`,
        "preview",
      );
    }
    const opts: PreviewOptions = {
      channel: int(values, "channel", "preview", 0),
      field: int(values, "field", "preview", 0),
      tile: int(values, "tile", "preview", 128, 1),
      gap: int(values, "gap", "preview", 2),
      low: percentOption(str(values, "low"), "low", 1),
      high: percentOption(str(values, "high"), "high", 99),
      overwrite: values.overwrite === true,
    };
    if (opts.low >= opts.high) throw new UsageError("--low must be below --high", "preview");
    if (str(values, "z") !== undefined) opts.z = int(values, "z", "preview", 0);
    const outArg = str(values, "output");
    const output = outArg !== undefined ? location(outArg).path : join(
      dirname(loc.path),
      `${basename(loc.path).replace(/\.(ome\.)?zarr$/i, "")}_preview.png`,
    );
    const bar = new Progress("preview", 0, "wells", ctx.quiet);
    opts.onWell = (total) => {
      bar.total = total;
      bar.tick();
    };
    let res;
    try {
      res = await writePreview(ctx.registry, loc.path, output, opts);
    } finally {
      bar.end();
    }
    const { image } = res;
    if (values.json) {
      ctx.out(JSON.stringify(
        {
          output,
          width: image.width,
          height: image.height,
          wells: res.wells,
          range: image.range,
        },
        null,
        2,
      ));
    } else {
      ctx.out(
        `wrote ${output} (${image.width}×${image.height}, ${res.wells} wells, channel ${opts.channel}, field ${opts.field}, range ${
          image.range.map((v) => Math.round(v)).join("..")
        })`,
      );
    }
    return 0;
  },
};
