/**
 * `hcs-store hash`: digests of files on any backend, `sha256sum`-style lines.
 * The bytes never leave the command, so they are read through leased arenas
 * where the backend has them (`FileManager.hash`).
 *
 * @module
 */

import { FileManager, HASH_ALGORITHMS } from "../../file_manager.ts";
import type { StorageBackend } from "../../backends/base.ts";
import {
  backendFor,
  CliError,
  type Command,
  type CommandContext,
  helpText,
  location,
  parse,
  str,
  UsageError,
} from "../_shared.ts";

const HELP = `hcs-store hash — digests of files (SHA-256 by default)

Usage: hcs-store hash [options] [BACKEND:]PATH…

Prints one line per file, "<hex digest>  <path>" (as sha256sum does), in the
order given; a directory needs -r and contributes its files breadth-first.

Options:
  -a, --algorithm NAME  ${HASH_ALGORITHMS.join(" | ")} (default SHA-256)
  -r, --recursive       hash the files under directories
      --json            print a JSON array of {path, algorithm, digest}
  -q, --quiet           no progress output
  -v, --verbose         stack traces on failure
  -h, --help            this help

Examples:
  hcs-store hash ./plate/A01_s1_w1.tif
  hcs-store hash -r -a SHA-512 ./plate

Exit status: 0 ok, 1 failure (e.g. missing file), 2 usage error.`;

/** The `hash` command. */
export const hash: Command = {
  name: "hash",
  summary: "digests of files (SHA-256 …), read through recycled arenas",
  help: HELP,
  async run(ctx: CommandContext): Promise<number> {
    const { values, positionals } = parse("hash", ctx.args, {
      algorithm: { type: "string", short: "a" },
      recursive: { type: "boolean", short: "r" },
      json: { type: "boolean" },
    });
    if (values.help) {
      ctx.out(helpText(HELP, ctx.program));
      return 0;
    }
    if (positionals.length === 0) throw new UsageError("hash needs at least one path", "hash");
    const raw = str(values, "algorithm") ?? "SHA-256";
    const algorithm = HASH_ALGORITHMS.find((a) => a.toLowerCase() === raw.toLowerCase());
    if (!algorithm) {
      throw new UsageError(
        `--algorithm must be one of ${HASH_ALGORITHMS.join(", ")}, got '${raw}'`,
        "hash",
      );
    }
    const fm = new FileManager(ctx.registry);
    // Consecutive paths on one backend are hashed together (one batched read).
    const groups: { backend: string; paths: string[] }[] = [];
    for (const arg of positionals) {
      const loc = location(arg);
      const b = await backendFor<StorageBackend>(ctx.registry, loc.backend, "hash");
      let files = [loc.path];
      const st = typeof b.stat === "function" ? await b.stat(loc.path) : undefined;
      if (st?.type === "directory") {
        if (!values.recursive) throw new CliError(`'${loc.path}' is a directory (use -r)`);
        files = await b.listFiles(loc.path, { recursive: true });
      }
      const last = groups.at(-1);
      if (last?.backend === loc.backend) last.paths.push(...files);
      else groups.push({ backend: loc.backend, paths: files });
    }
    const rows: { path: string; algorithm: string; digest: string }[] = [];
    for (const g of groups) {
      const digests = await fm.hash(g.paths, g.backend, { algorithm });
      g.paths.forEach((p, i) => rows.push({ path: p, algorithm, digest: digests[i]! }));
    }
    if (values.json) ctx.out(JSON.stringify(rows, null, 2));
    else for (const r of rows) ctx.out(`${r.digest}  ${r.path}`);
    return 0;
  },
};
