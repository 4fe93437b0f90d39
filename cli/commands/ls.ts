/**
 * `hcs-store ls`: lists a directory (or a plate's virtual files) on any backend.
 *
 * @module
 */

import type { AnyBackend, StatResult, StorageBackend } from "../../backends/base.ts";
import { join } from "../../_internal/paths.ts";
import { naturalSort } from "../../_internal/listing.ts";
import {
  backendAt,
  type Command,
  type CommandContext,
  helpText,
  humanBytes,
  location,
  parse,
  str,
  UsageError,
  withOrigin,
} from "../_shared.ts";

/** One listed entry. */
export interface LsEntry {
  /** Name relative to the listed directory. */
  name: string;
  /** Full path on the backend. */
  path: string;
  /** `file`, `directory`, `symlink` (or `missing` for a broken link's target). */
  type: StatResult["type"];
  /** Bytes, where the backend knows them. */
  size?: number;
  /** For symlinks: the stored target. */
  target?: string;
}

const HELP = `hcs-store ls — list files on any backend

Usage: hcs-store ls [options] [BACKEND:]PATH

PATH is a directory or a file; BACKEND is a registry key (disk, memory, zarr,
http, …). A bare path is on --backend (default disk). On a zarr plate, ls lists
its virtual file names.

Options:
  -l, --long          type, size and name per entry
  -R, --recursive     descend into subdirectories (breadth-first)
      --json          print a JSON array of {name, path, type, size?, target?}
      --backend KEY   backend for a PATH without a prefix (default disk)
  -q, --quiet         no progress output
  -v, --verbose       stack traces on failure
  -h, --help          this help

Examples:
  hcs-store ls -l ./images
  hcs-store ls --json --recursive disk:/data/plate1
  hcs-store ls zarr:/data/plate.zarr

Exit status: 0 ok, 1 failure (e.g. missing path), 2 usage error.`;

function isFull(b: AnyBackend): b is StorageBackend {
  return typeof (b as Partial<StorageBackend>).stat === "function" &&
    typeof (b as Partial<StorageBackend>).listDir === "function";
}

async function entryFor(b: StorageBackend, path: string, name: string): Promise<LsEntry> {
  const st = await b.stat(path);
  const e: LsEntry = { name, path, type: st.type };
  if (st.size !== undefined) e.size = st.size;
  if (st.target !== undefined) e.target = st.target;
  return e;
}

/**
 * Lists `path` on `b`: directory entries (recursively when asked), or the file
 * itself. `flat` lists through `listFiles` only (read-only stores, e.g. a
 * plate over HTTP, whose entries cannot be stat'ed).
 */
export async function listEntries(
  b: AnyBackend,
  path: string,
  recursive: boolean,
  flat = false,
): Promise<LsEntry[]> {
  if (flat || !isFull(b)) {
    const files = await b.listFiles(path, { recursive });
    return files.map((f) => ({
      name: f.startsWith(path) ? f.slice(path.length).replace(/^\/+/, "") : f,
      path: f,
      type: "file" as const,
    }));
  }
  const isDir = await b.isDir(path).catch((err) => {
    if ((err as { code?: string }).code === "ENOTDIR") return false;
    throw err;
  });
  if (!isDir) return [await entryFor(b, path, path.slice(path.lastIndexOf("/") + 1))];
  const out: LsEntry[] = [];
  let level: string[] = [""];
  while (level.length) {
    const next: string[] = [];
    for (const rel of level) {
      const dir = rel === "" ? path : join(path, rel);
      for (const name of naturalSort(await b.listDir(dir))) {
        const childRel = rel === "" ? name : `${rel}/${name}`;
        const e = await entryFor(b, join(dir, name), childRel);
        out.push(e);
        if (recursive && e.type === "directory") next.push(childRel);
      }
    }
    level = next;
  }
  return out;
}

/** The `ls` command. */
export const ls: Command = {
  name: "ls",
  summary: "list files on any backend (-l sizes and types, --json)",
  help: HELP,
  async run(ctx: CommandContext): Promise<number> {
    const { values, positionals } = parse("ls", ctx.args, {
      long: { type: "boolean", short: "l" },
      recursive: { type: "boolean", short: "R" },
      json: { type: "boolean" },
      backend: { type: "string" },
    });
    if (values.help) {
      ctx.out(helpText(HELP, ctx.program));
      return 0;
    }
    if (positionals.length > 1) throw new UsageError("ls takes one path", "ls");
    const loc = location(positionals[0] ?? ".", str(values, "backend") ?? "disk");
    const { backend: b, path, origin } = await backendAt(ctx.registry, loc, "ls");
    const entries = await listEntries(b, path, values.recursive === true, origin !== undefined)
      .catch((err) => {
        throw withOrigin(err, origin);
      });
    if (values.json) {
      ctx.out(JSON.stringify(entries, null, 2));
      return 0;
    }
    for (const e of entries) {
      if (!values.long) {
        ctx.out(e.type === "directory" ? `${e.name}/` : e.name);
        continue;
      }
      const bytes = e.size === undefined ? "-" : String(e.size);
      const human = e.size === undefined ? "" : humanBytes(e.size);
      const link = e.target !== undefined ? ` -> ${e.target}` : "";
      ctx.out(`${e.type.padEnd(9)} ${bytes.padStart(12)} ${human.padStart(10)}  ${e.name}${link}`);
    }
    return 0;
  },
};
