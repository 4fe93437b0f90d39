/**
 * `hcs-store preview`: a PNG montage of a plate, wells at their plate positions.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { encode as encodePng } from "npm:fast-png@^8.0.0";
import { AlreadyExistsError } from "../../errors.ts";
import type { NdArray, StorageBackend } from "../../backends/base.ts";
import type { Registry } from "../../registry/registry.ts";
import { readChannelMeta } from "../_channels.ts";
import {
  DEFAULT_PALETTE,
  type Montage,
  montage,
  type MontageChannel,
  type MontageTile,
  type Rgb,
} from "../_montage.ts";
import { defaultStore, plateLocation, readPlateInfo, readWellPlanes } from "../_plate.ts";
import type { ByteStore } from "../../zarr/store.ts";
import {
  backendFor,
  CliError,
  type Command,
  type CommandContext,
  helpText,
  int,
  location,
  parse,
  Progress,
  str,
  UsageError,
} from "../_shared.ts";

const HELP = `hcs-store preview — a PNG montage of an OME-Zarr plate

Usage: hcs-store preview [options] PLATE.zarr

Draws one field per well at the well's plate position: row letters and column
numbers in the margins, a grey grid between wells, empty wells (or wells
without the chosen field) cross-hatched grey. Each tile is shrunk by area
averaging. Every channel is drawn in its colour (the plate's omero colours,
else green, magenta, cyan, yellow, red, blue) and they add up; each channel's
--low..--high percentiles over all wells together map to black..full colour,
so bright wells look bright. A legend names the channels (from the plate's
metadata). One channel alone is drawn in grey.

Options:
  -o, --output FILE   the PNG to write (default: <plate name>_preview.png next to the plate)
      --channel LIST  channel indices, 0-based, e.g. 0 or 0,2 (default: all, up to 6)
      --field N       field index within each well, 0-based (default 0)
      --well NAME     only this well (e.g. B03), drawn alone with its labels
      --z N           z index, 0-based (default the middle plane)
      --tile PX       longer side of a tile in pixels (default 128)
      --gap PX        grid line width between tiles (default 2)
      --low P         percentile mapped to black, per channel (default 0.1)
      --high P        percentile mapped to full colour, per channel (default 99.9)
      --overwrite     replace an existing output file
      --json          print {output, width, height, wells, emptyWells, channels, ranges, layout}
  -q, --quiet         no progress bar
  -v, --verbose       stack traces on failure
  -h, --help          this help

Exit status: 0 ok, 1 failure (no such plate, well, channel, field or z: nothing written), 2 usage error.`;

function percentOption(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0 || n > 100) {
    throw new UsageError(`--${name} must be a percentile between 0 and 100, got '${v}'`, "preview");
  }
  return n;
}

function channelList(v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  const parts = v.split(",").map((p) => p.trim());
  if (parts.some((p) => !/^\d+$/.test(p))) {
    throw new UsageError(`--channel takes indices like 0 or 0,2, got '${v}'`, "preview");
  }
  return [...new Set(parts.map(Number))];
}

/** Options of {@linkcode writePreview}. */
export interface PreviewOptions {
  /** Channel indices (0-based); default all, up to 6. */
  channels?: number[];
  /** Only this well (`B03`, `B/03`); default every well. */
  well?: string;
  /** Field index (0-based). */
  field: number;
  /** Z index; default the middle plane. */
  z?: number;
  /** Longer side of a tile. */
  tile: number;
  /** Grid line width between tiles. */
  gap: number;
  /** Percentile mapped to black. */
  low: number;
  /** Percentile mapped to full colour. */
  high: number;
  /** Replace an existing output. */
  overwrite: boolean;
  /** Called after each well is read, with the number of wells to read. */
  onWell?: (total: number) => void;
}

/** What {@linkcode writePreview} drew. */
export interface PreviewResult {
  /** The picture. */
  image: Montage;
  /** Wells drawn with data. */
  wells: number;
  /** Grid cells drawn hatched (no well, or no such field). */
  emptyWells: number;
  /** The channels drawn: index, legend name, colour. */
  channels: { index: number; name: string; color: string }[];
}

/** PNG bytes of an RGB montage. */
export function pngBytes(img: Montage): Uint8Array {
  return encodePng({ width: img.width, height: img.height, data: img.data, channels: 3, depth: 8 });
}

const hex = (c: Rgb) => c.map((v) => v.toString(16).padStart(2, "0")).join("").toUpperCase();

/** Reads the plate, lays out the montage and writes the PNG through the disk backend. */
export async function writePreview(
  registry: Registry,
  plate: string,
  output: string,
  options: PreviewOptions,
  source?: ByteStore,
): Promise<PreviewResult> {
  const store = source ?? await defaultStore();
  const info = await readPlateInfo(plate, store);
  const chAxis = info.axes.findIndex((a) =>
    a.type === "channel" || a.name === "c" || a.name === "channel"
  );
  const nChannels = chAxis >= 0 ? info.shape[chAxis] ?? 1 : 1;
  const wanted = options.channels ??
    Array.from({ length: Math.min(6, nChannels) }, (_, i) => i);
  for (const c of wanted) {
    if (c >= nChannels) {
      throw new CliError(
        `'${plate}': no channel ${c} (the plate has ${nChannels}: use --channel 0..${
          nChannels - 1
        })`,
      );
    }
  }
  let wells = info.wells;
  if (options.well !== undefined) {
    const m = /^([A-Za-z]+)\/?(\d+)$/.exec(options.well.trim());
    const one = m &&
      wells.find((w) =>
        w.row.toUpperCase() === m[1]!.toUpperCase() &&
        (w.column === m[2] || Number(w.column) === Number(m[2]))
      );
    if (!one) {
      const names = wells.slice(0, 12).map((w) => w.row + w.column).join(", ");
      throw new CliError(
        `'${plate}': no well ${options.well} on this plate (it has ${names}${
          wells.length > 12 ? ", …" : ""
        }); nothing written`,
      );
    }
    wells = [one];
  }
  const maxFields = Math.max(0, ...wells.map((w) => w.fields.length));
  const withField = wells.filter((w) => w.fields[options.field] !== undefined);
  if (withField.length === 0) {
    throw new CliError(
      `'${plate}': no well${
        options.well !== undefined ? ` ${options.well}` : ""
      } has field ${options.field} (wells have ${maxFields} field${
        maxFields === 1 ? "" : "s"
      }: use --field 0..${maxFields - 1}); nothing written`,
    );
  }
  const disk = await registry.getBackend<StorageBackend>("disk");
  if (!options.overwrite && await disk.exists(output)) {
    throw new AlreadyExistsError(
      "preview",
      output,
      "already exists (use --overwrite to replace it)",
    );
  }
  const firstWell = withField[0]!;
  const meta = await readChannelMeta(
    store,
    plate,
    firstWell.path,
    firstWell.fields[options.field]!,
  );
  const channels: MontageChannel[] = wanted.map((c, k) => {
    const ch: MontageChannel = {
      color: meta.colors[c] ?? DEFAULT_PALETTE[k % DEFAULT_PALETTE.length]!,
    };
    const name = meta.names[c];
    if (name !== undefined) ch.name = name;
    return ch;
  });
  // One pass over the wells per channel; progress counts every well read.
  const perWell = new Map<string, NdArray[]>();
  let rows: string[] = info.rows;
  let columns: string[] = info.columns;
  const total = info.wells.length * wanted.length;
  const only = options.well !== undefined ? wells[0]! : undefined;
  for (const c of wanted) {
    const sel: { field: number; channel: number; z?: number } = {
      field: options.field,
      channel: c,
    };
    if (options.z !== undefined) sel.z = options.z;
    const res = await readWellPlanes(plate, sel, () => options.onWell?.(total), store);
    rows = only ? [only.row] : res.rows;
    columns = only ? [only.column] : res.columns;
    for (const p of res.planes) {
      if (!p.plane || p.well.rowIndex < 0 || p.well.columnIndex < 0) continue;
      if (only && p.well.path !== only.path) continue;
      const key = only ? "0/0" : `${p.well.rowIndex}/${p.well.columnIndex}`;
      const list = perWell.get(key) ?? [];
      list.push(p.plane);
      perWell.set(key, list);
    }
  }
  const tiles: MontageTile[] = [];
  for (const [key, planes] of perWell) {
    if (planes.length !== wanted.length) continue;
    const [row, column] = key.split("/").map(Number) as [number, number];
    tiles.push({ row, column, planes });
  }
  if (tiles.length === 0) {
    throw new CliError(`'${plate}': no well has data for this selection; nothing written`);
  }
  const image = montage(tiles, rows, columns, channels, options);
  await disk.save(pngBytes(image), output, { overwrite: options.overwrite });
  return {
    image,
    wells: tiles.length,
    emptyWells: rows.length * columns.length - tiles.length,
    channels: wanted.map((index, k) => ({
      index,
      name: channels[k]!.name ?? `C${index}`,
      color: hex(wanted.length === 1 ? [255, 255, 255] : channels[k]!.color),
    })),
  };
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
      well: { type: "string" },
      z: { type: "string" },
      tile: { type: "string" },
      gap: { type: "string" },
      low: { type: "string" },
      high: { type: "string" },
      overwrite: { type: "boolean", short: "f" },
      json: { type: "boolean" },
    });
    if (values.help) {
      ctx.out(helpText(HELP, ctx.program));
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError("preview takes one plate path", "preview");
    const loc = location(positionals[0]!);
    const where = await plateLocation(
      { getBackend: (k) => backendFor(ctx.registry, k, "preview") },
      loc,
    );
    const opts: PreviewOptions = {
      field: int(values, "field", "preview", 0),
      tile: int(values, "tile", "preview", 128, 1),
      gap: int(values, "gap", "preview", 2),
      low: percentOption(str(values, "low"), "low", 0.1),
      high: percentOption(str(values, "high"), "high", 99.9),
      overwrite: values.overwrite === true,
    };
    const well = str(values, "well");
    if (well !== undefined) opts.well = well;
    const channels = channelList(str(values, "channel"));
    if (channels !== undefined) opts.channels = channels;
    if (opts.low >= opts.high) throw new UsageError("--low must be below --high", "preview");
    if (str(values, "z") !== undefined) opts.z = int(values, "z", "preview", 0);
    const outArg = str(values, "output");
    // Beside a plate on the local disk; in the working directory for one elsewhere.
    const name = `${
      basename(loc.path.replace(/\/+$/, "")).replace(/\.(ome\.)?zarr$/i, "")
    }_preview.png`;
    const output = outArg !== undefined
      ? location(outArg).path
      : join(where.store === undefined ? dirname(loc.path) : process.cwd(), name);
    const bar = new Progress("preview", 0, "wells", ctx.quiet);
    opts.onWell = (total) => {
      bar.total = total;
      bar.tick();
    };
    let res;
    try {
      res = await writePreview(ctx.registry, where.path, output, opts, where.store);
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
          emptyWells: res.emptyWells,
          field: opts.field,
          channels: res.channels.map((c, k) => ({ ...c, range: image.ranges[k] })),
          layout: image.layout,
        },
        null,
        2,
      ));
    } else {
      ctx.out(
        `wrote ${output} (${image.width}×${image.height}, ${res.wells} wells, ${res.emptyWells} empty, field ${opts.field}, ${
          res.channels.map((c) => `${c.name} #${c.color}`).join(" + ")
        })`,
      );
    }
    return 0;
  },
};
