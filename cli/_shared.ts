/**
 * What every CLI command shares: argument parsing, usage errors, backend
 * locations (`backend:path`), output helpers and progress bars.
 *
 * @module
 */

import process from "node:process";
import { resolve as resolvePath } from "node:path";
import { parseArgs } from "node:util";
import { BackendNotFoundError, StorageError } from "../errors.ts";
import type { AnyBackend } from "../backends/base.ts";
import { backendKey, type Registry, storageRegistry } from "../registry/registry.ts";

/** A mistake in how the command was called: exit status 2. */
export class UsageError extends Error {
  /** The command whose help explains the right usage (`""` for the top level). */
  readonly command: string;
  /**
   * @param message what is wrong, in one line
   * @param command the command whose `--help` to point at
   */
  constructor(message: string, command = "") {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** A failure that is not a storage error (bad input data, nothing matched, …): exit status 1. */
export class CliError extends Error {
  /** @param message what went wrong, in one line */
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

/** Options every command accepts. */
export interface GlobalFlags {
  /** Print stack traces on failure. */
  verbose: boolean;
  /** No progress bars, no chatter on stderr. */
  quiet: boolean;
}

/** What a command gets. */
export interface CommandContext extends GlobalFlags {
  /** Arguments after the command name. */
  args: string[];
  /** The registry backends are resolved from. */
  registry: Registry;
  /** Writes a line to stdout. */
  out: (line: string) => void;
  /** Writes a line to stderr (suppressed by `--quiet`). */
  log: (line: string) => void;
}

/** A sub-command. */
export interface Command {
  /** Name, as typed. */
  name: string;
  /** One-line summary for the top-level help. */
  summary: string;
  /** Full help text. */
  help: string;
  /** Runs it; resolves to the exit status. */
  run(ctx: CommandContext): Promise<number>;
}

/** The shape `node:util` parseArgs takes for options. */
export type OptionSpec = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean; default?: string | boolean }
>;

/** Options every command understands. */
export const COMMON_OPTIONS: OptionSpec = {
  help: { type: "boolean", short: "h" },
  verbose: { type: "boolean", short: "v" },
  quiet: { type: "boolean", short: "q" },
};

/** Parsed values: strings, booleans, or lists of strings. */
export type Values = Record<string, string | boolean | string[] | undefined>;

/** Parses `args` for `command`; any mistake becomes a {@linkcode UsageError}. */
export function parse(
  command: string,
  args: string[],
  options: OptionSpec,
): { values: Values; positionals: string[] } {
  try {
    const r = parseArgs({
      args,
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (err) {
    const msg = (err as Error).message.split("\n")[0]!.replace(/\. To specify a positional.*$/, "");
    throw new UsageError(msg, command);
  }
}

/** A string option's value, or `fallback`. */
export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/** A whole-number option (`--tile 128`) checked against a minimum. */
export function int(
  values: Values,
  name: string,
  command: string,
  fallback: number,
  min = 0,
): number {
  const v = str(values, name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min) {
    throw new UsageError(`--${name} must be a whole number ≥ ${min}, got '${v}'`, command);
  }
  return Number(v);
}

/** A `backend:path` argument resolved. */
export interface Location {
  /** Registry key, lower case. */
  backend: string;
  /** The path on that backend (absolute for disk). */
  path: string;
}

/**
 * Splits `memory:/a/b` into backend and path. A bare path (or `--backend`)
 * means disk unless `defaultBackend` says otherwise. Disk and zarr paths are
 * made absolute against the cwd; an `http(s)://` URL means the http backend.
 */
export function location(arg: string, defaultBackend = "disk"): Location {
  // A URL is on the http backend, which takes absolute URLs as paths.
  if (/^https?:\/\//i.test(arg)) return { backend: "http", path: arg };
  const m = /^([A-Za-z][A-Za-z0-9_.-]+):(.*)$/.exec(arg);
  let backend = defaultBackend.toLowerCase();
  let path = arg;
  if (m) {
    backend = m[1]!.toLowerCase();
    path = m[2]!;
  }
  if (path === "") path = backend === "disk" ? "." : "/";
  // Zarr stores sit on the disk backend by default: their paths are local too.
  if (backend === "disk" || backend === "zarr") path = resolvePath(path);
  else if (backend === "http" && /^https?:\/\//i.test(path)) return { backend, path };
  else if (!path.startsWith("/")) path = `/${path}`;
  return { backend, path };
}

/** Resolves a backend by key; an unknown key is the caller's mistake (exit 2). */
export async function backendFor<T extends AnyBackend = AnyBackend>(
  registry: Registry,
  key: string,
  command: string,
): Promise<T> {
  try {
    return await registry.getBackend(backendKey<T>(key));
  } catch (err) {
    if (err instanceof BackendNotFoundError && !registry.has(key)) {
      throw new UsageError(err.message, command);
    }
    throw err;
  }
}

/** The default registry (one per process). */
export function defaultRegistry(): Registry {
  return storageRegistry;
}

/** Formats a byte count: `512 B`, `1.5 KiB`, `12.0 MiB`. */
export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** Formats seconds as `3.2s`, `4m05s`, `1h02m`. */
export function humanDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(Math.round(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** A progress bar on stderr: shown only when stderr is a TTY and not `--quiet`. */
export class Progress {
  #label: string;
  #total: number;
  #unit: string;
  #done = 0;
  #bytes = 0;
  #start = performance.now();
  #last = 0;
  #enabled: boolean;

  /**
   * @param label what is being done (`convert`, `copy`)
   * @param total how many units of work
   * @param unit the unit's name (`planes`, `files`)
   * @param quiet `--quiet` was given
   */
  constructor(label: string, total: number, unit: string, quiet: boolean) {
    this.#label = label;
    this.#total = total;
    this.#unit = unit;
    this.#enabled = !quiet && process.stderr.isTTY === true;
  }

  /** Sets the amount of work, once it is known. */
  set total(n: number) {
    this.#total = n;
  }

  /** Whether the bar is drawn at all. */
  get enabled(): boolean {
    return this.#enabled;
  }

  /** Records `n` more units done (and `bytes` more bytes, for the rate). */
  tick(n = 1, bytes = 0): void {
    this.#done += n;
    this.#bytes += bytes;
    const now = performance.now();
    if (this.#enabled && this.#total > 0 && (now - this.#last > 100 || this.#done >= this.#total)) {
      this.#last = now;
      this.#draw(now);
    }
  }

  #draw(now: number): void {
    const width = 24;
    const frac = Math.min(1, this.#done / this.#total);
    const filled = Math.round(frac * width);
    const secs = (now - this.#start) / 1000;
    const rate = secs > 0 ? this.#done / secs : 0;
    const eta = rate > 0 ? (this.#total - this.#done) / rate : Infinity;
    const byteRate = secs > 0 && this.#bytes > 0 ? ` ${humanBytes(this.#bytes / secs)}/s` : "";
    const line = `${this.#label} [${"#".repeat(filled)}${
      ".".repeat(width - filled)
    }] ${this.#done}/${this.#total} ${this.#unit} ${rate.toFixed(1)}/s${byteRate} ETA ${
      humanDuration(eta)
    }`;
    process.stderr.write(`\r${line}\x1b[K`);
  }

  /** Clears the bar's line. */
  end(): void {
    if (this.#enabled) process.stderr.write("\r\x1b[K");
  }
}

/** One line for a failure: the storage error's own message, or the error's. */
export function errorLine(err: unknown): string {
  if (err instanceof StorageError || err instanceof UsageError || err instanceof CliError) {
    return err.message;
  }
  if (err instanceof Error) return err.message.split("\n")[0] ?? String(err);
  return String(err);
}
