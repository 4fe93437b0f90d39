/**
 * `hcs-store cp`: copies files and trees between backends.
 *
 * @module
 */

import type { AnyBackend, StorageBackend, StorageValue } from "../../backends/base.ts";
import { basename, dirname, join } from "../../_internal/paths.ts";
import { type ByteSource, forEachFileBytes } from "../../_internal/leased_bytes.ts";
import { CONVERT_OPTIONS, convertCommand } from "./convert.ts";
import {
  backendAt,
  backendFor,
  CliError,
  type Command,
  type CommandContext,
  helpText,
  humanBytes,
  type Location,
  location,
  parse,
  Progress,
  UsageError,
  type Values,
  withOrigin,
} from "../_shared.ts";

const HELP = `hcs-store cp — copy files between backends

Usage: hcs-store cp [options] [BACKEND:]SRC [BACKEND:]DST

BACKEND is a registry key (disk, memory, zarr, http, …); a bare path is on
disk. Files are copied byte for byte (raw bytes, no re-encoding), except out
of a zarr plate, whose virtual files are decoded and re-encoded by DST's
extension. If DST is an existing directory, SRC is copied into it.

Copying a folder of planes to zarr:OUT.zarr converts it into an OME-Zarr plate
(the same as 'hcs-store convert'; --preset, --pattern, --ngff, --compression
apply). The memory backend lives only as long as this process, so copying into
memory: is useful mainly to check that a tree loads.

Options:
  -r, --recursive         copy directories and everything below them
  -f, --overwrite         replace existing files (an existing plate, for zarr:)
      --json              print {copied, bytes, seconds} (or the conversion summary)
      --preset NAME       for zarr: destinations (see 'hcs-store convert --help')
      --pattern REGEX     for zarr: destinations
      --ngff VERSION      for zarr: destinations: 0.5 | 0.4
      --compression NAME  for zarr: destinations
      --resume            for zarr: destinations: finish an interrupted conversion
  -q, --quiet             no progress bar
  -v, --verbose           stack traces on failure
  -h, --help              this help

Examples:
  hcs-store cp disk:./a.tif memory:/a.tif
  hcs-store cp -r ./plate1 ./backup/plate1
  hcs-store cp -r ./MyPlate zarr:./MyPlate.zarr

Exit status: 0 ok, 1 failure (missing source, existing destination…), 2 usage error.`;

function writable(b: AnyBackend): b is StorageBackend {
  return typeof (b as Partial<StorageBackend>).ensureDirectory === "function" &&
    typeof (b as Partial<StorageBackend>).save === "function";
}

async function isDirectory(b: AnyBackend, path: string): Promise<boolean> {
  const isDir = (b as Partial<StorageBackend>).isDir;
  if (typeof isDir !== "function") return false;
  try {
    return await isDir.call(b, path);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOTDIR" || code === "ENOENT") return false;
    throw err;
  }
}

/** The `cp` command. */
export const cp: Command = {
  name: "cp",
  summary: "copy files and trees between backends (disk → memory → zarr)",
  help: HELP,
  async run(ctx: CommandContext): Promise<number> {
    const { values, positionals } = parse("cp", ctx.args, {
      ...CONVERT_OPTIONS,
      recursive: { type: "boolean", short: "r" },
      json: { type: "boolean" },
    });
    if (values.help) {
      ctx.out(helpText(HELP, ctx.program));
      return 0;
    }
    if (positionals.length !== 2) {
      throw new UsageError(`cp takes a source and a destination (got ${positionals.length})`, "cp");
    }
    const src = location(positionals[0]!);
    const dst = location(positionals[1]!);
    if (dst.backend === "zarr") {
      if (src.backend !== "disk") {
        throw new UsageError("a zarr: destination takes a folder of planes on disk", "cp");
      }
      return await convertCommand(ctx, values, src.path, dst, "cp");
    }
    for (const k of ["preset", "pattern", "ngff", "compression", "resume"]) {
      if (values[k] !== undefined) {
        throw new UsageError(`--${k} applies only to a zarr: destination`, "cp");
      }
    }
    const at = await backendAt(ctx.registry, src, "cp");
    const sb = at.backend;
    src.path = at.path;
    try {
      return await copyFiles(ctx, values, sb, src, dst);
    } catch (err) {
      throw withOrigin(err, at.origin);
    }
  },
};

/** Copies SRC (on `sb`, already resolved) to DST. */
async function copyFiles(
  ctx: CommandContext,
  values: Values,
  sb: AnyBackend,
  src: Location,
  dst: Location,
): Promise<number> {
  const db = await backendFor(ctx.registry, dst.backend, "cp");
  if (!writable(db)) throw new UsageError(`backend '${dst.backend}' is read-only`, "cp");
  const overwrite = values.overwrite === true;
  const decode = src.backend === "zarr";
  const srcIsDir = await isDirectory(sb, src.path);
  let target = dst.path;
  if (await isDirectory(db, dst.path)) target = join(dst.path, basename(src.path));
  // Pairs of (source file, destination file).
  const pairs: [string, string][] = [];
  const tree = srcIsDir || (decode && values.recursive === true);
  if (tree) {
    if (!values.recursive) {
      throw new CliError(`'${src.path}' is a directory (use -r to copy it)`);
    }
    const files = await sb.listFiles(src.path, { recursive: true });
    for (const f of files) {
      const rel = f.slice(src.path.length).replace(/^\/+/, "");
      pairs.push([f, join(target, rel)]);
    }
  } else {
    pairs.push([src.path, target]);
  }
  if (dst.backend === "memory") {
    ctx.log("note: the memory backend does not outlive this process");
  }
  const bar = new Progress("cp", pairs.length, "files", ctx.quiet);
  const t0 = performance.now();
  let bytes = 0;
  try {
    const made = new Set<string>();
    const ensure = async (d: string) => {
      if (made.has(d)) return;
      await db.ensureDirectory(d);
      made.add(d);
    };
    if (tree) await ensure(target);
    if (!decode) {
      // Bytes only pass through: leased arenas where the source has them. A
      // destination that may keep the value it is given (memory) gets a copy.
      const keeps = db.key !== "disk" && db.key !== "s3";
      await forEachFileBytes(
        sb as unknown as ByteSource,
        pairs.map((p) => p[0]),
        async (b, _, i) => {
          const to = pairs[i]![1];
          if (tree) await ensure(dirname(to));
          await db.save(keeps ? b.slice() : b, to, { overwrite });
          bytes += b.byteLength;
          bar.tick(1, b.byteLength);
        },
        { concurrency: 4 },
      );
    }
    for (const [from, to] of decode ? pairs : []) {
      if (tree) await ensure(dirname(to));
      const value: StorageValue = await sb.load(from);
      await db.save(value, to, { overwrite });
      const n = value instanceof Uint8Array
        ? value.byteLength
        : (value as { data?: ArrayBufferView }).data?.byteLength ?? 0;
      bytes += n;
      bar.tick(1, n);
    }
  } finally {
    bar.end();
  }
  const secs = (performance.now() - t0) / 1000;
  if (values.json) {
    ctx.out(JSON.stringify({ copied: pairs.length, bytes, seconds: Number(secs.toFixed(3)) }));
  } else {
    ctx.out(
      `copied ${pairs.length} file${pairs.length === 1 ? "" : "s"} (${humanBytes(bytes)}) in ${
        secs.toFixed(2)
      } s → ${dst.backend}:${target}`,
    );
  }
  return 0;
}
