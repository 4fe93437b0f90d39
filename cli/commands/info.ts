/**
 * `hcs-store info`: what an OME-Zarr plate holds.
 *
 * @module
 */

import { stat } from "node:fs/promises";
import { NotFoundError } from "../../errors.ts";
import type { StorageBackend } from "../../backends/base.ts";
import { plateLocation, readPlateInfo } from "../_plate.ts";
import { stagingPath } from "../_staging.ts";
import {
  backendFor,
  type Command,
  type CommandContext,
  helpText,
  humanBytes,
  location,
  parse,
  UsageError,
} from "../_shared.ts";

const HELP = `hcs-store info — describe an OME-Zarr plate

Usage: hcs-store info [options] [BACKEND:]PLATE.zarr | URL

Prints the plate's NGFF version, rows, columns, wells (with their fields), the
axes, dtype, shape, chunks and codec of the first field's full-resolution
array, and the plate's files and size (where the store can list them). Reads
NGFF 0.5 (Zarr v3) and 0.4 (Zarr v2) plates, whoever wrote them, on the local
disk (a bare path or zarr:), over HTTP (an http(s):// URL) or on any backend.

Options:
      --json        print {path, ngff, zarrFormat, rows, columns, wells, fieldCount,
                    axes, dtype, shape, chunks, codec, fileCount, sizeBytes}
  -q, --quiet       no progress output
  -v, --verbose     stack traces on failure
  -h, --help        this help

Exit status: 0 ok, 1 failure (missing or not a plate), 2 usage error.`;

async function exists(path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false);
}

/** The `info` command. */
export const info: Command = {
  name: "info",
  summary: "a plate's wells, fields, axes, dtype, shape, codec and size on disk",
  help: HELP,
  async run(ctx: CommandContext): Promise<number> {
    const { values, positionals } = parse("info", ctx.args, { json: { type: "boolean" } });
    if (values.help) {
      ctx.out(helpText(HELP, ctx.program));
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError("info takes one plate path", "info");
    const loc = location(positionals[0]!);
    const where = await plateLocation(
      { getBackend: (k) => backendFor(ctx.registry, k, "info") },
      loc,
    );
    const read = await readPlateInfo(where.path, where.store).catch(async (err) => {
      // A plate that is still (or was interruptedly) being converted on disk: say so, and how to finish.
      // On another store (s3) the same hint, from the hidden sibling prefix there.
      const onDisk = where.store === undefined;
      const store = where.store as Partial<StorageBackend> | undefined;
      const staging = stagingPath(where.path, onDisk ? undefined : { key: store?.key ?? "" });
      const building = onDisk
        ? () => exists(staging)
        : () => typeof store?.exists === "function" && store.exists(staging).catch(() => false);
      if (
        err instanceof NotFoundError && err.path === where.path &&
        (onDisk || store?.key === "s3") &&
        await building()
      ) {
        throw new NotFoundError(
          "info",
          err.path,
          `no such plate; an unfinished conversion of it is in '${staging}' (finish it with 'hcs-store convert --resume …', or start over with --overwrite)`,
        );
      }
      throw err;
    });
    const p = { ...read, path: where.display };
    if (values.json) {
      ctx.out(JSON.stringify(p, null, 2));
      return 0;
    }
    const fieldsPerWell = [...new Set(p.wells.map((w) => w.fields.length))].join("/");
    ctx.out(`plate:    ${p.path}${p.name !== undefined ? ` (${p.name})` : ""}`);
    ctx.out(`format:   NGFF ${p.ngff}, Zarr v${p.zarrFormat}`);
    ctx.out(`rows:     ${p.rows.length}  ${p.rows.join(" ")}`);
    ctx.out(`columns:  ${p.columns.length}  ${p.columns.join(" ")}`);
    ctx.out(`wells:    ${p.wells.length}  ${p.wells.map((w) => w.row + w.column).join(" ")}`);
    ctx.out(`fields:   ${fieldsPerWell} per well (field_count ${p.fieldCount})`);
    ctx.out(`axes:     ${p.axes.map((a) => a.type ? `${a.name}:${a.type}` : a.name).join(", ")}`);
    ctx.out(`dtype:    ${p.dtype}`);
    ctx.out(`shape:    [${p.shape.join(", ")}]  chunks [${p.chunks.join(", ")}]`);
    ctx.out(`codec:    ${p.codec}`);
    if (p.fileCount !== undefined) {
      const size = p.sizeBytes === undefined ? "" : `${humanBytes(p.sizeBytes)} in `;
      ctx.out(`on disk:  ${size}${p.fileCount} files`);
    }
    return 0;
  },
};
