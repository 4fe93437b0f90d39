/**
 * `hcs-store convert`: a folder of microscope TIFF/PNG planes → an OME-Zarr plate.
 *
 * @module
 */

import * as nodePath from "node:path";
import { basename as posixBasename, dirname as posixDirname } from "../../_internal/paths.ts";
import type { StorageBackend } from "../../backends/base.ts";
import { InterruptedError, watchInterrupts } from "../_interrupt.ts";
import {
  currentBootId,
  DurableCheckpoints,
  openStaging,
  publish,
  type StagingManifest,
  whileBuilding,
} from "../_staging.ts";
import { deferSync } from "../../_internal/atomic_file.ts";
import { applySourcePixelSize } from "../_source_meta.ts";
import {
  COMPRESSIONS,
  type ConversionPlan,
  describePlan,
  planConversion,
  PRESETS,
  runConversion,
} from "../_convert.ts";
import {
  backendFor,
  type Command,
  type CommandContext,
  helpText,
  humanBytes,
  type Location,
  location,
  parse,
  plateStore,
  Progress,
  str,
  UsageError,
  type Values,
} from "../_shared.ts";

const HELP = `hcs-store convert — a folder of TIFF/PNG planes to an OME-Zarr plate

Usage: hcs-store convert [options] INPUT_DIR OUTPUT.zarr

OUTPUT is a local folder or an S3 location (s3://bucket/plate.zarr, the s3
backend configured from S3_* / AWS_* variables).

Each file name gives the plane's well, field, channel and z through a regular
expression with named groups: well (e.g. A01) or row + column, and optionally
field, channel and z. Presets:
${PRESETS.map((p) => `  ${p.name.padEnd(12)} ${p.example}`).join("\n")}
Without --preset or --pattern, the preset matching most file names is used.
Rows given as numbers become letters (1 → A, 27 → AA); columns keep their text.
Every well must hold every field × channel × z plane. The plate holds one
array per field: [channel, (z,) y, x]; each plane keeps its file name as a
virtual path (OUTPUT.zarr/<file name>).

The plate is built in a hidden folder beside OUTPUT (.OUTPUT.zarr.partial) and
renamed to OUTPUT when every well is written, so OUTPUT is never half a plate
(on S3 the rename is a server-side copy of the staging prefix).
Ctrl-C (or SIGTERM) stops after the current well and keeps the partial build;
--resume finishes it, skipping the wells already written.

Options:
      --preset NAME       ${PRESETS.map((p) => p.name).join(" | ")}
      --pattern REGEX     custom pattern, e.g. '^(?<well>[A-P]\\d{2})_f(?<field>\\d+)_c(?<channel>\\d+)\\.tif$'
      --ngff VERSION      0.5 (Zarr v3, default) | 0.4 (Zarr v2, OpenHCS layout)
      --compression NAME  ${COMPRESSIONS.join(" | ")} (default: the zarr backend's)
      --levels N|auto     pyramid levels "0".."n" (default auto: 2x down until 256 px; 1 = none)
      --pixel-size UM     physical pixel size in micrometres (y = x), e.g. 0.65 (default: what
                          the first TIFF records in its resolution tags or ImageJ metadata)
      --z-spacing UM      distance between z planes in micrometres (needs --pixel-size)
      --dry-run           print the plan (wells, fields, channels, z, dtype, shape); write nothing
      --overwrite         replace an existing OUTPUT (or discard an interrupted build)
      --resume            finish an interrupted conversion, keeping the wells already written
                          (with or without --overwrite, as the interrupted command was given)
      --json              print the plan / result as JSON
  -q, --quiet             no progress bar
  -v, --verbose           stack traces on failure
  -h, --help              this help

Examples:
  hcs-store convert --dry-run ./MyPlate ./MyPlate.zarr
  hcs-store convert --preset operetta --compression zstd ./Images ./plate.zarr
  hcs-store convert ./MyPlate s3://screens/MyPlate.zarr

Exit status: 0 ok, 1 failure (missing input, unreadable file, output exists…), 2 usage error,
130 / 143 stopped by SIGINT / SIGTERM.`;

/** Options for the conversion taken from parsed values (shared with `cp … zarr:`). */
export const CONVERT_OPTIONS = {
  preset: { type: "string" },
  pattern: { type: "string" },
  ngff: { type: "string" },
  compression: { type: "string" },
  overwrite: { type: "boolean", short: "f" },
  resume: { type: "boolean" },
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
  outputAt: Location,
  command: string,
): Promise<number> {
  // The store the plate goes to: the disk (as always) or any backend the location names.
  const where = plateStore(outputAt);
  if ((where.backend !== "disk" && where.backend !== "s3") || /^https?:/i.test(where.path)) {
    throw new UsageError(
      `${command} writes a plate to a local folder or s3://bucket/plate.zarr, not ${
        /^https?:/i.test(where.path) ? "a URL" : `${where.backend}:`
      }`,
      command,
    );
  }
  const onDisk = where.backend === "disk";
  const output = where.path;
  // How the user wrote OUTPUT, for what this command prints.
  const shown = onDisk ? output : `s3:/${output}`;
  const { basename, dirname } = onDisk
    ? nodePath
    : { basename: posixBasename, dirname: posixDirname };
  const settings = conversionSettings(values, command);
  const image = imageSettings(values, command);
  const planOpts: { preset?: string; pattern?: string } = {};
  const preset = str(values, "preset");
  const pattern = str(values, "pattern");
  if (preset !== undefined) planOpts.preset = preset;
  if (pattern !== undefined) planOpts.pattern = pattern;
  const dryRun = values["dry-run"] === true;
  const plan = await planConversion(ctx.registry, input, planOpts);
  await applySourcePixelSize(ctx.registry, plan, image, ctx.log);
  if (dryRun) {
    if (values.json) ctx.out(JSON.stringify({ dryRun: true, ...planJson(plan, shown) }, null, 2));
    else {
      ctx.out("dry run: nothing written");
      for (const line of describePlan(plan, shown)) ctx.out(line);
    }
    return 0;
  }
  const resume = values.resume === true;
  const overwrite = values.overwrite === true;
  const disk = onDisk
    ? await ctx.registry.getBackend<StorageBackend>("disk")
    : await backendFor<StorageBackend>(ctx.registry, where.backend, command);
  await disk.ensureDirectory(dirname(output));
  const outputExisted = await disk.exists(output);
  // One conversion at a time per OUTPUT (a second one would write into the same staging).
  const { staging, result, t0 } = await whileBuilding(
    output,
    async () => {
      const bootId = onDisk ? currentBootId() : undefined;
      const manifest: StagingManifest = {
        ...(onDisk ? { durable: [] } : {}),
        ...(bootId ? { bootId } : {}),
        recordedAs: output,
        input: plan.input,
        pattern: plan.pattern,
        ngff: settings.ngff ?? "default",
        compression: settings.compression ?? "default",
        wells: plan.wells.map((w) => `${w.row}/${w.column}`),
        planes: plan.planes,
        dtype: plan.dtype,
        shape: plan.shape,
      };
      const staging = await openStaging(disk, output, manifest, { resume, overwrite });
      // On disk the staging folder's writes skip their one-by-one fsyncs;
      // checkpoints make finished wells durable, and all of it is durable
      // before the rename that publishes it.
      const durable = onDisk
        ? new DurableCheckpoints(
          staging.path,
          // A resumed build keeps what its manifest says (recordedAs); the boot is this one.
          { ...staging.manifest, ...(bootId ? { bootId } : {}) },
          staging.durable,
        )
        : undefined;
      // Resumed wells written without their fsyncs get them in the first checkpoint.
      for (const w of staging.done) if (!staging.durable.has(w)) durable?.well(w);
      const endDeferral = onDisk ? deferSync(staging.path) : () => {};
      if (plan.skipped.length) {
        ctx.log(`${plan.skipped.length} file(s) do not match the pattern and are skipped`);
      }
      if (staging.done.size) {
        ctx.log(`resuming: ${staging.done.size} of ${plan.wells.length} wells are already written`);
      }
      const bar = new Progress(command, plan.planes, "planes", ctx.quiet);
      const skippedPlanes = plan.wells
        .filter((w) => staging.done.has(`${w.row}/${w.column}`))
        .reduce((n, w) => n + w.files.length, 0);
      if (skippedPlanes) bar.tick(skippedPlanes);
      const t0 = performance.now();
      const interrupts = watchInterrupts();
      let written = staging.done.size;
      const convertOpts: Parameters<typeof runConversion>[3] = {
        ...settings,
        image,
        skip: staging.done,
        plateName: basename(output),
        replaceWells: true,
        // The plate's own paths name the final OUTPUT, so publishing rewrites nothing.
        recordOutputAs: output,
        signal: interrupts.signal,
        ...(onDisk ? {} : { store: disk }),
        onWell: (n, bytes, well) => {
          written++;
          durable?.well(well);
          bar.tick(n, bytes);
        },
      };
      let result: Awaited<ReturnType<typeof runConversion>>;
      try {
        try {
          result = await runConversion(ctx.registry, plan, staging.path, convertOpts);
          await durable?.finish();
        } finally {
          endDeferral();
        }
        // Still catching signals: a Ctrl-C now waits for the (short) rename instead of cutting it.
        await publish(disk, staging.path, output);
      } catch (err) {
        if (err instanceof InterruptedError) {
          // Keep what is written: --resume continues from here.
          throw new InterruptedError(
            err.signal,
            `interrupted (${err.signal}) after ${written} of ${plan.wells.length} wells; '${shown}' was not ${
              outputExisted ? "changed" : "created"
            } — run the same command with --resume to finish it (or --overwrite to start over)`,
          );
        }
        // Nothing at OUTPUT was touched; a failed fresh build leaves nothing behind.
        if (staging.done.size === 0) await disk.deleteAll(staging.path).catch(() => {});
        throw err;
      } finally {
        interrupts.dispose();
        bar.end();
      }
      return { staging, result, t0 };
    },
    onDisk ? undefined : disk,
    shown,
  );
  const secs = (performance.now() - t0) / 1000;
  if (values.json) {
    ctx.out(JSON.stringify(
      {
        output: shown,
        preset: plan.preset,
        wells: result.wells + staging.done.size,
        resumedWells: staging.done.size,
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
      `converted ${result.planes} planes (${result.wells} wells${
        staging.done.size ? ` + ${staging.done.size} written before --resume` : ""
      }, ${plan.fields.length} fields, ${plan.channels.length} channels${
        plan.zs.length ? `, ${plan.zs.length} z` : ""
      }, ${humanBytes(result.bytes)}) in ${secs.toFixed(2)} s → ${shown}`,
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
      ctx.out(helpText(HELP, ctx.program));
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
    if (input.backend !== "disk" && input.backend !== "zarr" || /^(https?|s3):/i.test(input.path)) {
      throw new UsageError(
        `convert reads a local folder of planes, not ${
          /^(https?|s3):/i.test(input.path) ? "a URL" : `${input.backend}:`
        }`,
        "convert",
      );
    }
    if (input.backend !== "disk") {
      throw new UsageError("convert's input is a folder of planes on disk", "convert");
    }
    return await convertCommand(ctx, values, input.path, output, "convert");
  },
};
