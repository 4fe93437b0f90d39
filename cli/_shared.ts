/**
 * What every CLI command shares: argument parsing, usage errors, backend
 * locations (`backend:path`), output helpers and progress bars.
 *
 * @module
 */

import process from "node:process";
import { resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { BackendNotFoundError, restate, StorageError } from "../errors.ts";
import type { AnyBackend, StorageBackend } from "../backends/base.ts";
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
  /** The exit status it ends the command with (1 unless said otherwise). */
  readonly status: number;
  /**
   * @param message what went wrong, in one line
   * @param status exit status (default 1)
   */
  constructor(message: string, status = 1) {
    super(message);
    this.name = "CliError";
    this.status = status;
  }
}

/** Options every command accepts. */
export interface GlobalFlags {
  /** Print stack traces on failure. */
  verbose: boolean;
  /** No progress bars, no chatter on stderr. */
  quiet: boolean;
}

/**
 * A help text with the program name as this process was started
 * (`hcs-store`, or `node_modules/.bin/deno run -A cli/mod.ts` in a checkout),
 * so its usage lines can be pasted as they are. The title line keeps the name.
 */
export function helpText(text: string, program: string): string {
  if (program === "hcs-store") return text;
  const nl = text.indexOf("\n");
  return text.slice(0, nl) + text.slice(nl).replace(/\bhcs-store(?= )/g, program);
}

/** What a command gets. */
export interface CommandContext extends GlobalFlags {
  /** How to type the program (`hcs-store`, or how this process was started). */
  program: string;
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
 * A URL argument as a location, or undefined when `arg` is not a URL:
 * `file:///x` is the disk path `/x`, `http(s)://…` is on the http backend.
 * (The one place URL schemes are recognised.)
 */
export function urlLocation(arg: string): Location | undefined {
  if (/^https?:\/\//i.test(arg)) return { backend: "http", path: arg };
  if (/^file:/i.test(arg)) {
    try {
      return { backend: "disk", path: fileURLToPath(arg) };
    } catch (err) {
      throw new UsageError(`'${arg}' is not a local file URL (${(err as Error).message})`);
    }
  }
  return undefined;
}

/**
 * Splits `memory:/a/b` into backend and path. A bare path (or `--backend`)
 * means disk unless `defaultBackend` says otherwise. Disk and zarr paths are
 * made absolute against the cwd; URLs are read by {@linkcode urlLocation}, also
 * after a backend prefix (`zarr:http://host/plate.zarr`, `zarr:file:///p.zarr`);
 * `zarr:s3://bucket/p.zarr` keeps its URL (see {@linkcode plateStore}).
 */
export function location(arg: string, defaultBackend = "disk"): Location {
  const s3 = s3Location(arg);
  if (s3) return s3;
  const url = urlLocation(arg);
  if (url) return url;
  const m = /^([A-Za-z][A-Za-z0-9_.-]+):(.*)$/.exec(arg);
  let backend = defaultBackend.toLowerCase();
  let path = arg;
  if (m) {
    backend = m[1]!.toLowerCase();
    path = m[2]!;
    // A URL after the prefix: the backend reads it (zarr over http or s3) or it names a disk path.
    if (backend === "zarr" && s3Location(path)) return { backend, path };
    const inner = urlLocation(path);
    if (inner) return { backend, path: inner.path };
  }
  if (path === "") path = backend === "disk" ? "." : "/";
  // Zarr stores sit on the disk backend by default: their paths are local too.
  if (backend === "disk" || backend === "zarr") path = resolvePath(path);
  else if (!path.startsWith("/")) path = `/${path}`;
  return { backend, path };
}

/**
 * `s3://bucket/key` → the s3 backend's path `/bucket/key` (undefined for
 * anything else). The backend itself is configured from `S3_*`/`AWS_*`.
 */
export function s3Location(arg: string): Location | undefined {
  const m = /^s3:\/\/([^/]+)(\/.*)?$/i.exec(arg);
  if (!m) return undefined;
  return { backend: "s3", path: `/${m[1]}${m[2] ?? ""}` };
}

/**
 * The byte store under a plate location: `zarr:s3://b/k` (and `s3://b/k`) is
 * `/b/k` on s3, `zarr:/p` is `/p` on disk; other locations are returned as given.
 */
export function plateStore(loc: Location): Location {
  if (loc.backend !== "zarr") return loc;
  return s3Location(loc.path) ??
    (/^https?:\/\//i.test(loc.path) ? loc : { ...loc, backend: "disk" });
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
      throw new UsageError(`unknown backend '${key}' (${err.reason})`, command);
    }
    throw err;
  }
}

/**
 * The backend and path a location names. `zarr:` with an `http(s)://` URL is
 * a Zarr backend reading its bytes over HTTP, with an `s3://` URL one over the
 * s3 backend (the registry's `zarr` reads the disk); every other key comes
 * from the registry.
 */
export async function backendAt(
  registry: Registry,
  loc: Location,
  command: string,
): Promise<{ backend: AnyBackend; path: string; origin?: string }> {
  const s3 = loc.backend === "zarr" ? s3Location(loc.path) : undefined;
  if (s3) {
    const { ZarrBackend } = await import("../backends/zarr.ts");
    const store = await backendFor<StorageBackend>(registry, "s3", command);
    return { backend: new ZarrBackend({ store }), path: s3.path };
  }
  if (loc.backend === "zarr" && /^https?:\/\//i.test(loc.path)) {
    const url = new URL(loc.path);
    const [{ ZarrBackend }, { HttpBackend }] = await Promise.all([
      import("../backends/zarr.ts"),
      import("../backends/http.ts"),
    ]);
    const store = new HttpBackend({ baseUrl: `${url.origin}/` });
    const path = decodeURIComponent(url.pathname).replace(/\/+$/, "") || "/";
    return { backend: new ZarrBackend({ store }), path, origin: url.origin };
  }
  return { backend: await backendFor(registry, loc.backend, command), path: loc.path };
}

/** A storage error about a path under `origin` (a plate over HTTP) names the URL the user gave. */
export function withOrigin(err: unknown, origin: string | undefined): unknown {
  if (origin === undefined || !(err instanceof StorageError) || !err.path.startsWith("/")) {
    return err;
  }
  return restate(err, err.operation, origin + err.path, err.reason);
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

/**
 * The text of one progress line, at most `columns - 1` characters (the last
 * column is left free: writing into it makes some terminals wrap). The bar
 * shrinks first, then the rates and ETA are dropped, then the text is cut.
 */
export function progressLine(
  columns: number,
  label: string,
  done: number,
  total: number,
  unit: string,
  extras: readonly string[],
): string {
  const room = Math.max(1, columns - 1);
  const frac = total > 0 ? Math.min(1, done / total) : 0;
  const count = ` ${done}/${total} ${unit}`;
  for (let keep = extras.length; keep >= 0; keep--) {
    const tail = count + extras.slice(0, keep).map((e) => ` ${e}`).join("");
    const barWidth = Math.min(30, room - label.length - 3 - tail.length);
    if (barWidth >= 6 || (keep === 0 && barWidth >= 0)) {
      const filled = Math.round(frac * barWidth);
      return `${label} [${"#".repeat(filled)}${".".repeat(barWidth - filled)}]${tail}`;
    }
  }
  return `${label}${count}`.slice(0, room);
}

/**
 * A progress bar on stderr, redrawn in place (carriage return, clear to end of
 * line) and always one line: it is fitted to the terminal's current width.
 * Shown only when stderr is a terminal (not `dumb`) and not `--quiet`.
 */
export class Progress {
  #label: string;
  #total: number;
  #unit: string;
  #done = 0;
  #bytes = 0;
  #start = performance.now();
  #last = 0;
  #enabled: boolean;
  #drawn = false;

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
    this.#enabled = !quiet && process.stderr.isTTY === true && process.env.TERM !== "dumb";
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
    const secs = (now - this.#start) / 1000;
    const rate = secs > 0 ? this.#done / secs : 0;
    const eta = rate > 0 ? (this.#total - this.#done) / rate : Infinity;
    const extras = [`ETA ${humanDuration(eta)}`, `${rate.toFixed(1)}/s`];
    if (secs > 0 && this.#bytes > 0) extras.push(`${humanBytes(this.#bytes / secs)}/s`);
    const columns = process.stderr.columns || 80;
    const line = progressLine(columns, this.#label, this.#done, this.#total, this.#unit, extras);
    process.stderr.write(`\r${line}\x1b[K`);
    this.#drawn = true;
  }

  /** Clears the bar's line. */
  end(): void {
    if (this.#enabled && this.#drawn) process.stderr.write("\r\x1b[K");
  }
}

/**
 * One line for a failure, in the user's words: what could not be done to
 * which path and why (`cannot access '/x': no such file or directory`),
 * never the library's internal operation name.
 */
export function errorLine(err: unknown): string {
  if (err instanceof StorageError) {
    const where = `'${err.path}'`;
    switch (err.code) {
      case "ENOENT":
      case "EACCES":
      case "EPERM":
      case "ELOOP":
        return `cannot access ${where}: ${err.reason}`;
      case "EEXIST": {
        const line = /^(already|was) /.test(err.reason)
          ? `${where} ${err.reason}`
          : `${where}: ${err.reason}`;
        return /--overwrite|--resume/.test(line) ? line : `${line} (use --overwrite to replace it)`;
      }
      default:
        return `${where}: ${err.reason}`;
    }
  }
  if (err instanceof UsageError || err instanceof CliError) return err.message;
  if (err instanceof Error) return err.message.split("\n")[0] ?? String(err);
  return String(err);
}
