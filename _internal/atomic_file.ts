/**
 * The one atomic file replace (node-only): write a hidden temp file next to
 * the target, fsync it, publish it with `rename`/`link`, fsync the directory.
 * Used by the disk backend, `json/atomic.ts` and the file lock.
 *
 * Temp names are `.hcs-tmp.<name>.<pid>.<hosttag>.<random>`: hidden from disk
 * listings ({@linkcode isTempName}), and they carry enough to prove their
 * writer dead, so {@linkcode removeOrphanedTemps} can clean up after a killed
 * writer. fsync errors that mean "not supported here" are ignored in
 * {@linkcode fsyncDir} only; every other error is the caller's.
 *
 * Decision: a builder of a hidden tree that it publishes with one rename
 * (`convert`'s staging folder) may {@linkcode deferSync} under it: writes
 * there skip their fsyncs, and the builder makes the tree durable with
 * {@linkcode fsyncTree} before it relies on it (a checkpoint, the publish).
 *
 * @module
 */

import * as fsp from "node:fs/promises";
import * as nodePath from "node:path";
import process from "node:process";
import { hostTag, pidAlive } from "./liveness.ts";
import { mapLimit } from "./pool.ts";

/** Name prefix of every temp file this library writes before publishing. */
export const TEMP_PREFIX = ".hcs-tmp.";

/** Default age after which a temp file is removed even if its writer's liveness is unknown (1 h). */
export const ORPHAN_TEMP_AGE_MS = 3_600_000;

/** errno codes of directory fsync that mean "this OS/FS cannot", not "it failed". */
const FSYNC_UNSUPPORTED = new Set([
  "EISDIR",
  "EPERM",
  "EACCES",
  "EINVAL",
  "EBADF",
  "ENOTSUP",
  "EOPNOTSUPP",
]);

const NAME_MAX = 80;
const TEMP_RE = /^\.hcs-tmp\.(.*)\.(\d+)\.([0-9a-f]{8}|x)\.[0-9a-f]{12}$/;
/** Temp names of `json/atomic.ts` before it used this module: `.<name>.<13 chars>.tmp`. */
const LEGACY_JSON_RE = /^\.(.*)\.[0-9a-f-]{13}\.tmp$/;

/** The errno-style code of a runtime error, if any. */
export function errCode(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === "string" ? c : undefined;
}

function randomHex(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Whether a directory entry name is one of this library's temp files. */
export function isTempName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX);
}

/** A fresh hidden temp path in `target`'s directory. */
export function tempPathFor(target: string): string {
  const dir = nodePath.dirname(target);
  const name = nodePath.basename(target).slice(0, NAME_MAX);
  return nodePath.join(
    dir,
    `${TEMP_PREFIX}${name}.${process.pid}.${hostTag() ?? "x"}.${randomHex()}`,
  );
}

async function ignore(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch {
    // best effort
  }
}

const deferredRoots = new Map<string, number>();

/** Whether fsyncs of `path` are deferred: it is under a root given to {@linkcode deferSync}. */
export function syncDeferred(path: string): boolean {
  if (deferredRoots.size === 0) return false;
  const p = nodePath.resolve(path);
  for (const r of deferredRoots.keys()) if (p === r || p.startsWith(r + nodePath.sep)) return true;
  return false;
}

/**
 * Until the returned function is called, atomic writes under `root` (files
 * and directory entries) are not fsync'd one by one: they are still atomic
 * against crashes of the process, but not against power loss until the caller
 * runs {@linkcode fsyncTree}. Nested and repeated calls are counted.
 *
 * @example
 * ```ts
 * import { deferSync, syncDeferred } from "./atomic_file.ts";
 * const end = deferSync("/tmp/.plate.partial");
 * console.assert(syncDeferred("/tmp/.plate.partial/A/1/zarr.json"));
 * end();
 * console.assert(!syncDeferred("/tmp/.plate.partial/A/1/zarr.json"));
 * ```
 */
export function deferSync(root: string): () => void {
  const r = nodePath.resolve(root);
  deferredRoots.set(r, (deferredRoots.get(r) ?? 0) + 1);
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    const n = (deferredRoots.get(r) ?? 1) - 1;
    if (n > 0) deferredRoots.set(r, n);
    else deferredRoots.delete(r);
  };
}

/** fsyncs at once that {@linkcode fsyncTree} keeps in flight (the runtimes' I/O pools overlap them). */
const TREE_SYNCS = 16;

/**
 * fsyncs every file and directory under `root` (and `root` itself), deepest
 * first so a directory is flushed after its entries; entries whose path is in
 * `skip` (already durable subtrees) are left out. A missing `root` is not an
 * error; any other failure is thrown raw.
 */
export async function fsyncTree(
  root: string,
  skip: ReadonlySet<string> = new Set(),
): Promise<void> {
  const files: string[] = [];
  const dirs: string[][] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (depth === 0 && errCode(err) === "ENOENT") return;
      throw err;
    }
    (dirs[depth] ??= []).push(dir);
    await Promise.all(entries.map((e) => {
      const p = nodePath.join(dir, e.name);
      if (skip.has(p)) return undefined;
      if (e.isDirectory()) return walk(p, depth + 1);
      if (e.isFile()) files.push(p);
      return undefined;
    }));
  };
  await walk(root, 0);
  await mapLimit(files, TREE_SYNCS, (f) => syncFile(f));
  for (let d = dirs.length - 1; d >= 0; d--) {
    await mapLimit(dirs[d] ?? [], TREE_SYNCS, (p) => fsyncDir(p, true));
  }
}

/** fsyncs each of `paths` that exists (missing ones are skipped), then their directories. */
export async function fsyncFiles(paths: readonly string[]): Promise<void> {
  await mapLimit(paths, TREE_SYNCS, (f) => syncFile(f, true));
  const dirs = [...new Set(paths.map((p) => nodePath.dirname(p)))];
  await mapLimit(dirs, TREE_SYNCS, (d) => fsyncDir(d, true));
}

/** fsyncs the file at `path`; with `missingOk`, one that does not exist is skipped. */
async function syncFile(path: string, missingOk = false): Promise<void> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, "r");
  } catch (err) {
    if (missingOk && errCode(err) === "ENOENT") return;
    throw err;
  }
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Flushes a directory's entry table; ignores only "not supported here"
 * errors. Skipped under a {@linkcode deferSync} root unless `force`.
 */
export async function fsyncDir(dir: string, force = false): Promise<void> {
  if (!force && syncDeferred(dir)) return;
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, "r");
    await fh.sync();
  } catch (err) {
    if (!FSYNC_UNSUPPORTED.has(errCode(err) ?? "")) throw err;
  } finally {
    if (fh) await ignore(fh.close());
  }
}

type DenoWriteFile = (
  path: string,
  data: Uint8Array,
  options: { createNew: boolean },
) => Promise<void>;

/** `Deno.writeFile` where it exists (Deno), else undefined. */
function denoWriteFile(): DenoWriteFile | undefined {
  const d = (globalThis as { Deno?: { writeFile?: DenoWriteFile } }).Deno;
  return typeof d?.writeFile === "function" ? d.writeFile : undefined;
}

/** Writes `bytes` to a new file at `tmp` (exclusive create), optionally chmods, fsyncs (unless deferred). */
export async function writeDurable(tmp: string, bytes: Uint8Array, mode?: number): Promise<void> {
  const denoWrite = denoWriteFile();
  if (denoWrite && mode === undefined && syncDeferred(tmp)) {
    // One op on Deno's I/O threads: its node:fs open/write/close cost the
    // calling thread their syscalls (a convert's main thread spent 1.9 s of
    // 11 s in them).
    await denoWrite(tmp, bytes, { createNew: true });
    return;
  }
  const fh = await fsp.open(tmp, "wx", 0o666);
  try {
    let off = 0;
    while (off < bytes.byteLength) {
      const { bytesWritten } = await fh.write(bytes, off, bytes.byteLength - off);
      if (bytesWritten <= 0) throw new Error("write made no progress");
      off += bytesWritten;
    }
    if (mode !== undefined) await fh.chmod(mode);
    if (!syncDeferred(tmp)) await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes a durable temp file next to `target` and returns its path; nothing is left on error. */
export async function stageTemp(target: string, bytes: Uint8Array, mode?: number): Promise<string> {
  const tmp = tempPathFor(target);
  try {
    await writeDurable(tmp, bytes, mode);
    return tmp;
  } catch (err) {
    await ignore(fsp.unlink(tmp));
    throw err;
  }
}

/** Options of {@linkcode replaceFile}. */
export interface ReplaceOptions {
  /** File mode for the new file. */
  mode?: number;
  /**
   * Wraps the publishing `rename` once the temp file is durable: it must call
   * `publish` or throw, which aborts the replace (temp removed, target
   * untouched). The file lock passes `lock.guard` to re-check ownership.
   */
  guard?: (publish: () => Promise<void>) => Promise<void>;
}

/**
 * Replaces `path` atomically with `bytes`: temp + fsync, `rename` (inside
 * `guard`, if given), directory fsync. Readers see the old or the new file, never a torn
 * one; on any error the target is untouched and no temp is left. Throws raw
 * runtime errors (callers map them for their operation).
 */
export async function replaceFile(
  path: string,
  bytes: Uint8Array,
  options: ReplaceOptions = {},
): Promise<void> {
  const tmp = await stageTemp(path, bytes, options.mode);
  try {
    const publish = () => fsp.rename(tmp, path);
    if (options.guard) await options.guard(publish);
    else await publish();
  } catch (err) {
    await ignore(fsp.unlink(tmp));
    throw err;
  }
  await fsyncDir(nodePath.dirname(path));
}

/** What a temp file's name says about its writer. */
export interface TempOwner {
  /** The target's base name (truncated to 80 characters). */
  name: string;
  /** The writer's pid, if the name carries one. */
  pid: number | undefined;
  /** The writer's host tag (`x` = unknown), if the name carries one. */
  tag: string | undefined;
}

/** Parses a temp name (current or legacy json format); undefined if it is not one. */
export function parseTempName(entry: string): TempOwner | undefined {
  const m = TEMP_RE.exec(entry);
  if (m) return { name: m[1]!, pid: Number(m[2]), tag: m[3]! };
  if (entry.startsWith(TEMP_PREFIX)) {
    // `.hcs-tmp.<name>.<pid>.<random>` (disk before the host tag): no scope, age only.
    const old = /^\.hcs-tmp\.(.*)\.\d+\.[0-9a-f]{12}$/.exec(entry);
    return old ? { name: old[1]!, pid: undefined, tag: undefined } : undefined;
  }
  const legacy = LEGACY_JSON_RE.exec(entry);
  return legacy ? { name: legacy[1]!, pid: undefined, tag: undefined } : undefined;
}

/**
 * Removes temp files of `path` (same directory, same target name) left by
 * writers that are provably dead — same host tag, pid gone — or, whatever
 * their writer, older than `maxAgeMs` (default {@linkcode ORPHAN_TEMP_AGE_MS}).
 * `siblings` (paths in the same directory, e.g. the lock file) are cleaned
 * in the same pass; the temps of a lock's takeover gates (`<lock>.gate-<id>`)
 * count as the lock's.
 * Best effort: entries that vanish or cannot be removed are skipped. Returns
 * how many were removed.
 */
export async function removeOrphanedTemps(
  path: string,
  maxAgeMs: number = ORPHAN_TEMP_AGE_MS,
  siblings: readonly string[] = [],
): Promise<number> {
  const dir = nodePath.dirname(path);
  const names = new Set([path, ...siblings].map((p) => nodePath.basename(p)));
  const short = new Set([...names].map((n) => n.slice(0, NAME_MAX)));
  let entries: string[];
  try {
    entries = (await fsp.readdir(dir)).map(String);
  } catch {
    return 0;
  }
  const tag = hostTag();
  const cutoff = Date.now() - maxAgeMs;
  let removed = 0;
  for (const entry of entries) {
    const owner = parseTempName(entry);
    if (owner === undefined) continue;
    const legacy = owner.tag === undefined && !entry.startsWith(TEMP_PREFIX);
    const scope = legacy ? names : short;
    // A lock's takeover gates (`<lock>.gate-<id>`) belong to the lock.
    const gateOf = owner.name.replace(/\.gate-[0-9a-f]+$/, "");
    if (!scope.has(owner.name) && !(gateOf !== owner.name && scope.has(gateOf))) continue;
    const full = nodePath.join(dir, entry);
    try {
      const dead = tag !== undefined && owner.tag === tag && owner.pid !== undefined &&
        owner.pid !== process.pid && pidAlive(owner.pid) === false;
      if (!dead) {
        const st = await fsp.lstat(full);
        if (!st.isFile() || st.mtimeMs > cutoff) continue;
      }
      await fsp.unlink(full);
      removed++;
    } catch {
      // raced with its writer or another cleaner
    }
  }
  return removed;
}
