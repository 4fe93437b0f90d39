/**
 * The `hcs-store` command line: `ls`, `cp`, `convert`, `info`, `preview`,
 * `view`, `hash` and `bench` over every backend of the registry.
 *
 * Run it as `hcs-store <command> …` (the npm package's command), with
 * `deno run -A jsr:@hcs/store/cli <command> …`, or in a checkout after
 * `npm install` with `node_modules/.bin/deno run -A cli/mod.ts <command> …`
 * (`bun cli/mod.ts …` under Bun); help texts show the way it was started.
 * Exit status: 0 ok, 1 failure, 2 usage error, 130/143 stopped by
 * SIGINT/SIGTERM; failures print one line `hcs-store <command>: <message>`
 * in the user's terms (stack traces with `--verbose`).
 *
 * @example Run a command in-process and get its exit status
 * ```ts
 * import { main } from "@hcs/store/cli";
 * const status = await main(["ls", "-l", "."], { out: () => {} });
 * console.assert(status === 0);
 * ```
 *
 * @module
 */

import process from "node:process";
import { existsSync } from "node:fs";
import { delimiter, isAbsolute, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { closePool } from "../_internal/workers/pool.ts";
import { bench } from "./commands/bench.ts";
import { convert } from "./commands/convert.ts";
import { cp } from "./commands/cp.ts";
import { hash } from "./commands/hash.ts";
import { info } from "./commands/info.ts";
import { ls } from "./commands/ls.ts";
import { preview } from "./commands/preview.ts";
import { view } from "./commands/view.ts";
import {
  CliError,
  type Command,
  type CommandContext,
  defaultRegistry,
  errorLine,
  helpText,
  UsageError,
} from "./_shared.ts";

/** A sub-command's name and help texts. */
export interface CommandInfo {
  /** Name, as typed. */
  readonly name: string;
  /** One-line summary (top-level help). */
  readonly summary: string;
  /** Full help text (`hcs-store <name> --help`). */
  readonly help: string;
}

const ALL: readonly Command[] = [ls, cp, convert, info, preview, view, hash, bench];

/**
 * Every sub-command, in help order.
 *
 * @example
 * ```ts
 * import { COMMANDS } from "@hcs/store/cli";
 * console.assert(COMMANDS.some((c) => c.name === "convert"));
 * ```
 */
export const COMMANDS: readonly CommandInfo[] = ALL;

const VERSION = "0.1.0";

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `hcs-store ${VERSION} — storage for high-content-screening images

Usage: hcs-store [--verbose] [--quiet] <command> [options] [arguments]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}

Paths are [BACKEND:]PATH, e.g. disk:/data/a.tif, memory:/x, zarr:./plate.zarr;
a bare path (or a file:// URL) is on disk; an http(s):// URL is on the
(read-only) http backend, and zarr:http(s)://HOST/plate.zarr reads a plate over HTTP.

Options (every command):
  -h, --help        help (also 'hcs-store <command> --help')
  -q, --quiet       no progress bars or notes on stderr
  -v, --verbose     stack traces on failure
      --version     print the version

Exit status: 0 ok, 1 failure, 2 usage error, 130/143 stopped by Ctrl-C/SIGTERM.`;
}

let stdoutClosed = false;

/** Writes a line to stdout; a closed pipe (`| head`) ends output quietly. */
function stdoutLine(line: string): void {
  if (stdoutClosed) return;
  try {
    process.stdout.write(`${line}\n`);
  } catch (err) {
    if ((err as { code?: string }).code !== "EPIPE") throw err;
    stdoutClosed = true;
  }
}

/**
 * Where {@linkcode main} writes (tests pass collectors).
 *
 * @example
 * ```ts
 * import { main, type MainIO } from "@hcs/store/cli";
 * const lines: string[] = [];
 * const io: MainIO = { out: (l) => lines.push(l), err: (l) => lines.push(l) };
 * console.assert((await main(["--version"], io)) === 0 && lines.length === 1);
 * ```
 */
export interface MainIO {
  /** Standard output, one line at a time. */
  out?: (line: string) => void;
  /** Standard error, one line at a time. */
  err?: (line: string) => void;
  /** How the program is typed, for help texts (default `hcs-store`). */
  program?: string;
}

/**
 * How to type this program again, as it was started: `hcs-store` when run
 * as the installed command (or from a package under `node_modules`), else
 * the runtime and script (`node_modules/.bin/deno run -A cli/mod.ts` in a
 * checkout), relative to the working directory.
 *
 * @example
 * ```ts
 * import { programName } from "@hcs/store/cli";
 * console.assert(programName(["node", "/usr/local/bin/hcs-store"]) === "hcs-store");
 * ```
 */
export function programName(
  argv: readonly string[] = process.argv,
  cwd: string = process.cwd(),
): string {
  const script = argv[1] ?? "";
  if (script === "" || /(^|[\\/])hcs-store(\.\w+)?$/.test(script)) return "hcs-store";
  if (/^(jsr|https?):/.test(script)) return `deno run -A ${script}`;
  let path = script.startsWith("file:") ? fileURLToPath(script) : script;
  if (/[\\/]node_modules[\\/]/.test(path)) return "hcs-store";
  const rel = relative(cwd, path);
  if (rel !== "" && !rel.startsWith("..") && !isAbsolute(rel)) {
    path = rel.includes("/") ? rel : `./${rel}`;
  }
  const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
  const local = join("node_modules", ".bin", runtime);
  const onPath = (process.env.PATH ?? "").split(delimiter)
    .some((d) => d !== "" && existsSync(join(d, runtime)));
  const exe = existsSync(join(cwd, local)) ? local : onPath ? runtime : process.execPath;
  return runtime === "deno" ? `${exe} run -A ${path}` : `${exe} ${path}`;
}

/**
 * Runs the CLI on `args` (without the program name) and resolves to the exit
 * status; it never calls `process.exit`.
 *
 * @example
 * ```ts
 * import { main } from "@hcs/store/cli";
 * const quiet = { out: () => {}, err: () => {} };
 * console.assert((await main(["--help"], quiet)) === 0);
 * console.assert((await main(["no-such-command"], quiet)) === 2);
 * ```
 */
export async function main(args: readonly string[], io: MainIO = {}): Promise<number> {
  const out = io.out ?? stdoutLine;
  const err = io.err ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const program = io.program ?? "hcs-store";
  let verbose = args.includes("--verbose") || args.includes("-v");
  const quiet = args.includes("--quiet") || args.includes("-q");
  // Global flags may come before the command.
  let i = 0;
  let help = false;
  while (i < args.length && args[i]!.startsWith("-")) {
    const a = args[i]!;
    if (a === "--help" || a === "-h") help = true;
    else if (a === "--version") {
      out(VERSION);
      return 0;
    } else if (a === "--verbose" || a === "-v") verbose = true;
    else if (a !== "--quiet" && a !== "-q") {
      err(`hcs-store: unknown option '${a}' (see '${program} --help')`);
      return 2;
    }
    i++;
  }
  const name = args[i];
  if (name === undefined) {
    if (help) {
      out(helpText(topHelp(), program));
      return 0;
    }
    err(helpText(topHelp(), program));
    return 2;
  }
  if (name === "help") {
    const which = COMMANDS.find((c) => c.name === args[i + 1]);
    out(helpText(which ? which.help : topHelp(), program));
    return 0;
  }
  const command = ALL.find((c) => c.name === name);
  if (!command) {
    err(
      `hcs-store: unknown command '${name}' (commands: ${
        COMMANDS.map((c) => c.name).join(", ")
      }; see '${program} --help')`,
    );
    return 2;
  }
  const rest = args.slice(i + 1);
  if (help) rest.unshift("--help");
  const ctx: CommandContext = {
    args: rest,
    verbose,
    quiet,
    program,
    registry: defaultRegistry(),
    out,
    log: (line: string) => {
      if (!quiet) err(line);
    },
  };
  try {
    return await command.run(ctx);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`hcs-store ${name}: ${e.message} (see '${program} ${e.command || name} --help')`);
      return 2;
    }
    err(`hcs-store ${name}: ${errorLine(e)}`);
    if (verbose && e instanceof Error && e.stack) err(e.stack);
    return e instanceof CliError ? e.status : 1;
  }
}

if (import.meta.main) {
  process.stdout.on("error", (err: { code?: string }) => {
    if (err.code === "EPIPE") stdoutClosed = true;
    else throw err;
  });
  process.exitCode = await main(process.argv.slice(2), { program: programName() });
  // Deno's workers cannot be unref'd: without this the process lingers for their idle timeout.
  closePool();
}
