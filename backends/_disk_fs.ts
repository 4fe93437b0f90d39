/**
 * Filesystem steps of the disk backend over `node:fs`, each mapping runtime
 * errors to typed storage errors in one place ({@linkcode fsCall}, like Deno
 * std's `fs/_map_error.ts`) instead of a try block per method.
 *
 * @module
 */

import * as fsp from "node:fs/promises";
import { constants as fsConstants, type Stats } from "node:fs";
import * as nodePath from "node:path";
import {
  AlreadyExistsError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  StorageError,
  toStorageError,
  UnsupportedOperationError,
} from "../errors.ts";
import {
  errCode,
  fsyncDir,
  isTempName,
  parseTempName,
  removeOrphanedTemps,
  tempPathFor,
  writeDurable,
} from "../_internal/atomic_file.ts";
import { assertPath } from "../_internal/paths.ts";
import type { ListEntry } from "../_internal/listing.ts";
import type { StorageValue, VersionedBytes } from "./base.ts";
import { decodeForPath, formatFor } from "../formats/mod.ts";
import type { DecodeLimits } from "../_internal/limits.ts";
import type { BulkReader } from "../ffi/types.ts";
import { withFileLock } from "../lock/file_lock.ts";

/** errno codes of `link()` on filesystems without hard links. */
export const NO_HARDLINKS: ReadonlySet<string> = new Set([
  "EPERM",
  "ENOTSUP",
  "EOPNOTSUPP",
  "ENOSYS",
  "EMLINK",
]);

/** Kind of an existing entry, from `lstat` (no link following). */
export type EntryKind = "file" | "dir" | "symlink" | "other" | "missing";

/** ENOENT or ENOTDIR: the path is not there. */
export function isMissing(err: unknown): boolean {
  const c = errCode(err);
  return c === "ENOENT" || c === "ENOTDIR";
}

/** Awaits `p`, ignoring failure (cleanup steps). */
export async function ignore(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch {
    // best effort
  }
}

/** Runs one filesystem step of `op` on `path`; any runtime error becomes a typed storage error. */
export async function fsCall<T>(op: string, path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toStorageError(err, op, path);
  }
}

/** `lstat` (`follow` false) or `stat`; undefined when missing (`missing` codes), else mapped errors. */
export async function statOr(
  path: string,
  op: string,
  follow: boolean,
  missing: (err: unknown) => boolean = isMissing,
): Promise<Stats | undefined> {
  try {
    return follow ? await fsp.stat(path) : await fsp.lstat(path);
  } catch (err) {
    if (missing(err)) return undefined;
    throw toStorageError(err, op, path);
  }
}

const enoent = (err: unknown) => errCode(err) === "ENOENT";

/** What `lstat` says `path` is. */
export async function entryKind(path: string, op: string): Promise<EntryKind> {
  const s = await statOr(path, op, false, enoent);
  if (s === undefined) return "missing";
  if (s.isSymbolicLink()) return "symlink";
  if (s.isDirectory()) return "dir";
  return s.isFile() ? "file" : "other";
}

/** Throws unless the parent directory of `path` exists (following links). */
export async function checkParent(path: string, op: string): Promise<void> {
  let s: Stats;
  try {
    s = await fsp.stat(nodePath.dirname(path));
  } catch (err) {
    if (errCode(err) === "ENOENT") {
      throw new NotFoundError(op, path, "parent directory does not exist", { cause: err });
    }
    throw toStorageError(err, op, path);
  }
  if (!s.isDirectory()) throw new NotADirectoryError(op, path, "parent is not a directory");
}

/** Throws unless `path` is a directory (following links). */
export async function requireDir(path: string, op: string): Promise<void> {
  const s = await fsCall(op, path, () => fsp.stat(path));
  if (!s.isDirectory()) throw new NotADirectoryError(op, path);
}

/** Writes a durable hidden temp file next to `path`; returns its name. */
export async function stage(
  path: string,
  bytes: Uint8Array,
  op: string,
  mode?: number,
): Promise<string> {
  const tmp = tempPathFor(path);
  try {
    await writeDurable(tmp, bytes, mode);
    return tmp;
  } catch (err) {
    await ignore(fsp.unlink(tmp));
    if (errCode(err) === "ENOENT") {
      throw new NotFoundError(op, path, "parent directory does not exist", { cause: err });
    }
    throw toStorageError(err, op, path);
  }
}

/** Publishes `tmp` at `path` without replacing anything (atomic create-if-absent). */
export async function publishNew(tmp: string, path: string, op: string): Promise<void> {
  try {
    await fsp.link(tmp, path);
    return;
  } catch (err) {
    const code = errCode(err);
    if (code === "EEXIST") throw new AlreadyExistsError(op, path, "already exists", { cause: err });
    if (!NO_HARDLINKS.has(code ?? "")) throw toStorageError(err, op, path);
  }
  // No hard links here (some network/FUSE filesystems): check, then rename.
  // The window between the check and the rename is not race-free.
  if ((await entryKind(path, op)) !== "missing") throw new AlreadyExistsError(op, path);
  await fsCall(op, path, () => fsp.rename(tmp, path));
}

/** Refuses to move/copy directory `src` to `dst` inside itself. */
export async function refuseIntoItself(src: string, dst: string, op: string): Promise<void> {
  const srcReal = await fsCall(op, src, () => fsp.realpath(src));
  const parent = nodePath.dirname(dst);
  const dstReal = nodePath.join(
    await fsCall(op, parent, () => fsp.realpath(parent)),
    nodePath.basename(dst),
  );
  if (dstReal === srcReal || dstReal.startsWith(srcReal.endsWith("/") ? srcReal : srcReal + "/")) {
    throw new StorageError(op, dst, `cannot ${op} a directory into itself`, { code: "EINVAL" });
  }
}

/** Checks a move/copy destination: absent, with an existing parent directory. */
export async function checkDestination(dst: string, op: string): Promise<void> {
  await checkParent(dst, op);
  if ((await entryKind(dst, op)) !== "missing") throw new AlreadyExistsError(op, dst);
}

/**
 * Copies a file, symlink or tree to an absent `dst`: `top: "follow"` follows a
 * symlink given as `src`; links inside a tree are copied as links. A file is
 * copied to a temp and published without replacing; a failed tree copy
 * removes what it created.
 */
export async function copyAny(
  src: string,
  dst: string,
  op: string,
  top: "follow" | "link",
): Promise<void> {
  const s = await fsCall(op, src, () => top === "follow" ? fsp.stat(src) : fsp.lstat(src));
  await checkDestination(dst, op);
  if (s.isSymbolicLink()) {
    await fsCall(op, dst, async () => fsp.symlink(await fsp.readlink(src), dst));
    return;
  }
  if (!s.isDirectory()) {
    const tmp = tempPathFor(dst);
    try {
      try {
        await fsp.copyFile(src, tmp, fsConstants.COPYFILE_EXCL);
        const fh = await fsp.open(tmp, "r+");
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
      } catch (err) {
        throw toStorageError(err, op, isMissing(err) ? src : dst);
      }
      await publishNew(tmp, dst, op);
    } finally {
      await ignore(fsp.unlink(tmp));
    }
    return;
  }
  await refuseIntoItself(src, dst, op);
  await fsCall(op, dst, () => fsp.mkdir(dst));
  try {
    await copyTree(src, dst, op);
  } catch (err) {
    await ignore(fsp.rm(dst, { recursive: true, force: true }));
    throw toStorageError(err, op, src);
  }
}

async function copyTree(src: string, dst: string, op: string): Promise<void> {
  const entries = await fsCall(op, src, () => fsp.readdir(src, { withFileTypes: true }));
  for (const e of entries) {
    const name = String(e.name);
    if (isTempName(name)) continue;
    const from = nodePath.join(src, name);
    const to = nodePath.join(dst, name);
    await fsCall(op, from, async () => {
      const s = await fsp.lstat(from);
      if (s.isSymbolicLink()) await fsp.symlink(await fsp.readlink(from), to);
      else if (s.isDirectory()) {
        await fsp.mkdir(to);
        await copyTree(from, to, op);
      } else if (s.isFile()) await fsp.copyFile(from, to, fsConstants.COPYFILE_EXCL);
      // sockets, FIFOs and devices are not copied
    });
  }
}

/** Throws unless the link target `resolved` (as given: `target`) exists. */
export async function checkLinkTarget(resolved: string, target: string, op: string): Promise<void> {
  try {
    await fsp.stat(resolved);
  } catch (err) {
    if (isMissing(err)) {
      throw new NotFoundError(op, target, "link target does not exist", { cause: err });
    }
    throw toStorageError(err, op, target);
  }
}

/**
 * Decodes file bytes by the extension of `path`; when that extension has no
 * codec and `path` is a symlink (`link` → `a.txt`), by its target's extension.
 */
export async function decodeFile(
  bytes: Uint8Array,
  path: string,
  op: string,
  limits: DecodeLimits = {},
): Promise<StorageValue> {
  if (formatFor(path) === undefined) {
    let real: string | undefined;
    try {
      real = await fsp.realpath(path);
    } catch {
      real = undefined;
    }
    if (real !== undefined && formatFor(real) !== undefined) {
      return decodeForPath(bytes, real, op, limits);
    }
  }
  return decodeForPath(bytes, path, op, limits);
}

/**
 * Refuses FIFOs, sockets and devices before a reader that does not check
 * them itself (`BulkReader.refusesSpecialFiles`) opens them: opening a FIFO
 * without a writer blocks, `/dev/zero` never ends. One async `stat` per path
 * (following symlinks, as the read does); missing paths and directories are
 * left to the reader's own errors. A path swapped for a FIFO between this
 * check and the open is not caught here (the FFI readers have no such window).
 */
export async function refuseSpecialFiles(
  reader: BulkReader,
  paths: readonly string[],
  operation: string,
): Promise<void> {
  if (reader.refusesSpecialFiles) return;
  await Promise.all(paths.map(async (p) => {
    let st: Stats;
    try {
      st = await fsp.stat(p);
    } catch {
      return;
    }
    if (st.isFile() || st.isDirectory()) return;
    throw new UnsupportedOperationError(
      operation,
      p,
      `${specialKind(st)}, not a regular file; refusing to read it`,
    );
  }));
}

function specialKind(st: Stats): string {
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  return "a special file";
}

/** `RangeReader.loadRange` on a regular file (through symlinks). */
export async function readRange(
  path: string,
  offset: number,
  length: number,
  op: string,
): Promise<Uint8Array> {
  assertPath(path, op);
  for (const [name, v] of [["offset", offset], ["length", length]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(`${op}: ${name} must be a non-negative integer, got ${v}`);
    }
  }
  return await fsCall(op, path, async () => {
    const fh = await fsp.open(path, "r");
    try {
      const st = await fh.stat();
      if (st.isDirectory()) throw new IsADirectoryError(op, path);
      if (!st.isFile()) {
        throw new UnsupportedOperationError(op, path, "not a regular file; no byte ranges");
      }
      const n = Math.max(0, Math.min(length, st.size - offset));
      const out = new Uint8Array(n);
      let got = 0;
      while (got < n) {
        const { bytesRead } = await fh.read(out, got, n - got, offset + got);
        if (bytesRead === 0) break; // truncated meanwhile
        got += bytesRead;
      }
      return got === n ? out : out.slice(0, got);
    } finally {
      await fh.close();
    }
  });
}

/** `ConditionalWriter.loadVersioned`: bytes and version from one open file. */
export async function readVersioned(
  path: string,
  op: string,
): Promise<VersionedBytes | undefined> {
  assertPath(path, op);
  return await fsCall(op, path, async () => {
    let fh;
    try {
      fh = await fsp.open(path, "r");
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    try {
      const st = await fh.stat({ bigint: true });
      if (st.isDirectory()) throw new IsADirectoryError(op, path);
      const bytes = new Uint8Array(await fh.readFile());
      return { bytes, version: versionOf(st) };
    } finally {
      await fh.close();
    }
  });
}

/** `ConditionalWriter.saveIfVersion` under the file lock (check, stage, guarded rename). */
export async function writeIfVersion(
  bytes: Uint8Array,
  path: string,
  expected: string | null,
  op: string,
): Promise<string | false> {
  assertPath(path, op);
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${op}: bytes must be a Uint8Array`);
  return await withFileLock(path, async (lock) => {
    const current = await statOr(path, op, true);
    if (current?.isDirectory()) throw new IsADirectoryError(op, path);
    const version = current === undefined
      ? null
      : versionOf(await fsCall(op, path, () => fsp.stat(path, { bigint: true })));
    if (version !== expected) return false;
    await checkParent(path, op);
    const tmp = await stage(path, bytes, op);
    try {
      await lock.guard(() => fsCall(op, path, () => fsp.rename(tmp, path)));
    } finally {
      await ignore(fsp.unlink(tmp));
    }
    await fsCall(op, path, () => fsyncDir(nodePath.dirname(path)));
    return versionOf(await fsCall(op, path, () => fsp.stat(path, { bigint: true })));
  }, { operation: op });
}

/** `DiskBackend.removeStaleTempFiles`: dead writers at once, the rest by age. */
export async function removeStaleTemps(
  dir: string,
  olderThanMs: number,
  op: string,
): Promise<number> {
  assertPath(dir, op);
  const names = (await fsCall(op, dir, () => fsp.readdir(dir))).map(String);
  const targets = new Set<string>();
  let removed = 0;
  const cutoff = Date.now() - olderThanMs;
  for (const n of names) {
    if (!isTempName(n)) continue;
    const owner = parseTempName(n);
    if (owner?.tag !== undefined) {
      targets.add(owner.name);
      continue;
    }
    // Temp names without a writer scope (older versions): age decides.
    const full = nodePath.join(dir, n);
    try {
      const s = await fsp.lstat(full);
      if (s.mtimeMs > cutoff) continue;
      await fsp.unlink(full);
      removed++;
    } catch {
      // raced with its writer or another cleaner
    }
  }
  for (const name of targets) {
    removed += await removeOrphanedTemps(nodePath.join(dir, name), olderThanMs);
  }
  return removed;
}

/** A version token from a bigint stat: changes with every replace or in-place write. */
function versionOf(
  st: { dev: bigint; ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint },
): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** A directory entry's listing kind; symlinks are files unless they point at a directory. */
export async function listKind(
  e: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean },
  full: string,
): Promise<ListEntry["kind"]> {
  let link = e.isSymbolicLink();
  if (!link && e.isFile()) return "file";
  if (!link && e.isDirectory()) return "dir";
  if (!link) {
    // Unknown dirent type on some filesystems: ask lstat.
    try {
      const s = await fsp.lstat(full);
      if (s.isFile()) return "file";
      if (s.isDirectory()) return "dir";
      link = s.isSymbolicLink();
    } catch {
      return "skip";
    }
    if (!link) return "skip";
  }
  try {
    return (await fsp.stat(full)).isDirectory() ? "skip" : "file";
  } catch {
    return "file"; // broken link or link loop
  }
}
