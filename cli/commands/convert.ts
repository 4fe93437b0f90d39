/**
 * `hcs-store convert`: a folder of microscope TIFF/PNG planes → an OME-Zarr plate.
 *
 * @module
 */

import type { StorageBackend } from "../../backends/base.ts";
import {
  COMPRESSIONS,
  type ConversionPlan,
  describePlan,
  planConversion,
  prepareOutput,
  PRESETS,
  runConversion,
} from "../_convert.ts";
import {
  type Command,
  type CommandContext,
  humanBytes,
  location,
  parse,
  Progress,
  str,
  UsageError,
  type Values,
} from "../_shared.ts";

const HELP = `hcs-store convert — a folder of TIFF/PNG planes to an OME-Zarr plate

Usage: hcs-store convert [options] INPUT_DIR OUTPUT.zarr

Each file name gives the plane's well, field, channel and z through a regular
expression with named groups: well (e.g. A01) or row + column, and optionally
field, channel and z. Presets:
${PRESETS.map((p) => `  ${p.name.padEnd(12)} ${p.example}`).join("\n")}
Without --preset or --pattern, the preset matching most file names is used.
Rows given as numbers become letters (1 → A, 27 → AA); columns keep their text.
Every well must hold every field × channel × z plane. The plate holds one
array per field: [channel, (z,) y, x]; each plane keeps its file name as a
virtual path (OUTPUT.zarr/<file name>).

Options:
      --preset NAME       ${PRESETS.map((p) => p.name).join(" | ")}
      --pattern REGEX     custom pattern, e.g. '^(?<well>[A-P]\\d{2})_f(?<field>\\d+)_c(?<channel>\\d+)\\.tif$'
      --ngff VERSION      0.5 (Zarr v3, default) | 0.4 (Zarr v2, OpenHCS layout)
      --compression NAME  ${COMPRESSIONS.join(" | ")} (default: the zarr backend's)
      --levels N|auto     pyramid levels "0".."n" (default auto: 2x down until 256 px; 1 = none)
      --pixel-size UM     physical pixel size in micrometres (y = x), e.g. 0.65
      --z-spacing UM      distance between z planes in micrometres (needs --pixel-size)
      --dry-run           print the plan (wells, fields, channels, z, dtype, shape); write nothing
      --overwrite         replace an existing OUTPUT
      --json              print the plan / result as JSON
  -q, --quiet             no progress bar
  -v, --verbose           stack traces on failure
  -h, --help              this help

Examples:
  hcs-store convert --dry-run ./MyPlate ./MyPlate.zarr
  hcs-store convert --preset operetta --compression zstd ./Images ./plate.zarr

Exit status: 0 ok, 1 failure (missing input, unreadable file, output exists…), 2 usage error.`;

/** Options for the conversion taken from parsed values (shared with `cp … zarr:`). */
export const CONVERT_OPTIONS = {
  preset: { type: "string" },
  pattern: { type: "string" },
  ngff: { type: "string" },
  compression: { type: "string" },
  overwrite: { type: "boolean", short: "f" },
  levels: { type: "string" },
  "pixel-size": { type: "string" },
  "z-spacing": { type: "string" },
} as const;

/** `--levels`, `--pixel-size`, `--z-spacing`: pyramids are on (`auto`) unless `--levels 1`. */
export function imageSettings(
  values: Values,
  command: string,
): { levels: number | "auto"; pixelSize?: { x: number; y: number; z?: number } } {
  const lv = str(values, "levels") ?? "auto";
  const levels = lv === "auto" ? "auto" : Number(lv);
  if (levels !== "auto" && !(Number.isInteger(levels) && levels >= 1 && levels <= 32)) {
    throw new UsageError(`--levels must be auto or an integer 1..32, got '${lv}'`, command);
  }
  const num = (name: string): number | undefined => {
    const v = str(values, name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!(Number.isFinite(n) && n > 0)) {
      throw new UsageError(`--${name} must be a positive number, got '${v}'`, command);
    }
    return n;
  };
  const px = num("pixel-size");
  const z = num("z-spacing");
  if (z !== undefined && px === undefined) {
    throw new UsageError("--z-spacing needs --pixel-size", command);
  }
  const out: { levels: number | "auto"; pixelSize?: { x: number; y: number; z?: number } } = {
    levels,
  };
  if (px !== undefined) out.pixelSize = z === undefined ? { x: px, y: px } : { x: px, y: px, z };
  return out;
}

/** Validated `--ngff` and `--compression`. */
export function conversionSettings(
  values: Values,
  command: string,
): { ngff?: "0.5" | "0.4"; compression?: string } {
  const out: { ngff?: "0.5" | "0.4"; compression?: string } = {};
  const ngff = str(values, "ngff");
  if (ngff !== undefined) {
    if (ngff !== "0.5" && ngff !== "0.4") {
      throw new UsageError(`--ngff must be 0.5 or 0.4, got '${ngff}'`, command);
    }
    out.ngff = ngff;
  }
  const comp = str(values, "compression");
  if (comp !== undefined) {
    if (!COMPRESSIONS.includes(comp)) {
      throw new UsageError(
        `--compression must be one of ${COMPRESSIONS.join(", ")}, got '${comp}'`,
        command,
      );
    }
    out.compression = comp;
  }
  if (str(values, "preset") !== undefined && str(values, "pattern") !== undefined) {
    throw new UsageError("give --preset or --pattern, not both", command);
  }
  const preset = str(values, "preset");
  if (preset !== undefined && !PRESETS.some((p) => p.name === preset.toLowerCase())) {
    throw new UsageError(
      `unknown preset '${preset}' (use ${PRESETS.map((p) => p.name).join(" or ")})`,
      command,
    );
  }
  return out;
}

/** A plan as JSON (without the per-file list, which can be long). */
export function planJson(plan: ConversionPlan, output: string): Record<string, unknown> {
  return {
    input: plan.input,
    output,
    preset: plan.preset,
    pattern: plan.pattern,
    planes: plan.planes,
    skipped: plan.skipped,
    rows: plan.rows,
    columns: plan.columns,
    wells: plan.wells.map((w) => ({
      row: w.row,
      column: w.column,
      files: w.files.map((f) => f.name),
    })),
    fields: plan.fields,
    channels: plan.channels,
    z: plan.zs,
    dtype: plan.dtype,
    shape: plan.shape,
  };
}

/** Plans and runs a conversion, with progress and a summary; used by `convert` and `cp`. */
export async function convertCommand(
  ctx: CommandContext,
  values: Values,
  input: string,
  output: string,
  command: string,
): Promise<number> {
  const settings = conversionSettings(values, command);
  const image = imageSettings(values, command);
  const planOpts: { preset?: string; pattern?: string } = {};
  const preset = str(values, "preset");
  const pattern = str(values, "pattern");
  if (preset !== undefined) planOpts.preset = preset;
  if (pattern !== undefined) planOpts.pattern = pattern;
  const dryRun = values["dry-run"] === true;
  const plan = await planConversion(ctx.registry, input, planOpts);
  if (dryRun) {
    if (values.json) ctx.out(JSON.stringify({ dryRun: true, ...planJson(plan, output) }, null, 2));
    else {
      ctx.out("dry run: nothing written");
      for (const line of describePlan(plan, output)) ctx.out(line);
    }
    return 0;
  }
  await prepareOutput(ctx.registry, output, values.overwrite === true, command);
  if (plan.skipped.length) {
    ctx.log(`${plan.skipped.length} file(s) do not match the pattern and are skipped`);
  }
  const bar = new Progress(command, plan.planes, "planes", ctx.quiet);
  const t0 = performance.now();
  const convertOpts: Parameters<typeof runConversion>[3] = {
    ...settings,
    image,
    onWell: (n, bytes) => bar.tick(n, bytes),
  };
  let result;
  try {
    result = await runConversion(ctx.registry, plan, output, convertOpts);
  } catch (err) {
    // The output did not exist before (prepareOutput saw to that): a failed
    // conversion leaves no half-written plate behind.
    const disk = await ctx.registry.getBackend<StorageBackend>("disk");
    await disk.deleteAll(output).catch(() => {});
    throw err;
  } finally {
    bar.end();
  }
  const secs = (performance.now() - t0) / 1000;
  if (values.json) {
    ctx.out(JSON.stringify(
      {
        output,
        preset: plan.preset,
        wells: result.wells,
        planes: result.planes,
        fields: plan.fields.length,
        channels: plan.channels.length,
        z: plan.zs.length,
        dtype: plan.dtype,
        shape: plan.shape,
        bytes: result.bytes,
        seconds: Number(secs.toFixed(3)),
      },
      null,
      2,
    ));
  } else {
    ctx.out(
      `converted ${result.planes} planes (${result.wells} wells, ${plan.fields.length} fields, ${plan.channels.length} channels${
        plan.zs.length ? `, ${plan.zs.length} z` : ""
      }, ${humanBytes(result.bytes)}) in ${secs.toFixed(2)} s → ${output}`,
    );
  }
  return 0;
}

/** The `convert` command. */
export const convert: Command = {
  name: "convert",
  summary: "a folder of TIFF/PNG planes → an OME-Zarr plate (--dry-run plans)",
  help: HELP,
  async run(ctx: CommandContext): Promise<number> {
    const { values, positionals } = parse("convert", ctx.args, {
      ...CONVERT_OPTIONS,
      "dry-run": { type: "boolean", short: "n" },
      json: { type: "boolean" },
    });
    if (values.help) {
      ctx.out(HELP);
      return 0;
    }
    if (positionals.length !== 2) {
      throw new UsageError(
        `convert takes an input folder and an output plate (got ${positionals.length} argument${
          positionals.length === 1 ? "" : "s"
        })`,
        "convert",
      );
    }
    const input = location(positionals[0]!);
    const output = location(positionals[1]!);
    for (const l of [input, output]) {
      if (l.backend !== "disk" && l.backend !== "zarr") {
        throw new UsageError(
          `convert reads and writes local folders, not ${l.backend}:`,
          "convert",
        );
      }
    }
    if (input.backend !== "disk") {
      throw new UsageError("convert's input is a folder of planes on disk", "convert");
    }
    return await convertCommand(ctx, values, input.path, output.path, "convert");
  },
};
