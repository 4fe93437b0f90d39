/**
 * The disk backend: every operation of the storage contract on the local
 * filesystem, over `node:fs` (the same module on Deno, Bun and Node). The
 * registry imports this module on first use only, so programs that never ask
 * for `disk` never load `node:fs`.
 *
 * Writes go through the kernel's atomic replace (`_internal/atomic_file.ts`):
 * a hidden temp file (never listed), fsync, then `link()` (create-if-absent)
 * or `rename()` (with `{ overwrite: true }`), so readers see the old file or
 * the new one. Runtime errors are mapped in `_disk_fs.ts`, not per method.
 * A killed writer's temp files stay hidden; {@linkcode DiskBackend.removeStaleTempFiles}
 * removes old ones (json writes clean their own, see `docs/design.md`).
 *
 * @example
 * ```ts
 * import { DiskBackend } from "@hcs/store/disk";
 * const disk = new DiskBackend();
 * const dir = await Deno.makeTempDir();
 * await disk.save({ data: new Uint16Array([1, 2, 3, 4]), shape: [2, 2], stride: [2, 1] }, `${dir}/a.npy`);
 * console.assert((await disk.listFiles(dir))[0] === `${dir}/a.npy`);
 * await disk.deleteAll(dir);
 * ```
 *
 * @module
 */

import * as fsp from "node:fs/promises";
import * as nodePath from "node:path";
import {
  AlreadyExistsError,
  DirectoryNotEmptyError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  StorageError,
  toStorageError,
  UnsupportedOperationError,
} from "../errors.ts";
import {
  AbstractStorageBackend,
  type ConditionalWriter,
  type CrossProcessLocker,
  type ListOptions,
  type LoadOptions,
  type RangeReader,
  type SaveOptions,
  type StatResult,
  type StorageValue,
  type StoreCapabilities,
  type SymlinkOptions,
  type VersionedBytes,
} from "./base.ts";
import { assertPath, joinListed } from "../_internal/paths.ts";
import { breadthFirst, type ListEntry, naturalSort } from "../_internal/listing.ts";
import { assertStorable, checkBatch } from "../_internal/values.ts";
import { mapLimit } from "../_internal/pool.ts";
import {
  errCode,
  fsyncDir,
  isTempName,
  TEMP_PREFIX,
  tempPathFor,
} from "../_internal/atomic_file.ts";
import { decodeForPathAsync, encodeForPath, formatFor } from "../formats/mod.ts";
import type { BulkReader, MappedFiles } from "../ffi/types.ts";
import { PureBulkReader, PureReader } from "../ffi/pure.ts";
import { withFileLock } from "../lock/file_lock.ts";
import {
  checkDestination,
  checkLinkTarget,
  checkParent,
  copyAny,
  decodeFile,
  entryKind,
  fsCall,
  ignore,
  isMissing,
  listKind,
  NO_HARDLINKS,
  publishNew,
  readRange,
  readVersioned,
  refuseIntoItself,
  refuseSpecialFiles,
  removeStaleTemps,
  requireDir,
  stage,
  statOr,
  writeIfVersion,
} from "./_disk_fs.ts";

export type * from "../ffi/types.ts";
export { PureBulkReader, PureReader, TEMP_PREFIX };

/**
 * Decodes a file's bytes: by its own extension through the async codecs
 * (compressed TIFF/PNG decode on the codec worker pool, files concurrently),
 * else as `decodeFile` does (extension of the symlink target).
 */
function decodeAsync(
  bytes: Uint8Array,
  path: string,
  op: string,
  options: LoadOptions,
): Promise<StorageValue> {
  return formatFor(path) !== undefined
    ? decodeForPathAsync(bytes, path, op, options)
    : decodeFile(bytes, path, op, options);
}

/** How many files batch writes keep in flight at once. */
const CONCURRENCY = 32;

/** Options of the {@linkcode DiskBackend} constructor. */
export interface DiskBackendOptions {
  /** The bulk reader for `load`/`loadBatch` (default: {@linkcode PureBulkReader}). */
  reader?: BulkReader;
  /** Implementation name reported to `describeBackends()` (default: the reader's, or `"pure"`). */
  implementation?: string;
  /** Why this implementation was chosen (e.g. `"ffi permission not granted"`). */
  implementationReason?: string;
}

/**
 * The local-filesystem {@linkcode AbstractStorageBackend} (registry key
 * `"disk"`).
 *
 * - `save`/`saveBatch` never replace silently and write atomically (temp file,
 *   fsync, `link`/`rename`, directory fsync). A batch is all or nothing: values
 *   are encoded and every target checked before the first byte is written, all
 *   temp files are staged before any is published, and a failure while
 *   publishing rolls back what the batch created or replaced.
 * - `load(path, { as: "bytes" })` and `loadBatch` read through the injected
 *   {@linkcode BulkReader} (the FFI fast path) or the pure reader; decoded
 *   loads decode those bytes by extension.
 * - Errors are typed ({@linkcode NotFoundError}, {@linkcode AlreadyExistsError},
 *   …) and identical on Deno, Bun and Node.
 *
 * @example
 * ```ts
 * import { DiskBackend } from "@hcs/store/disk";
 * const disk = new DiskBackend();
 * const dir = await Deno.makeTempDir();
 * await disk.saveBatch(["a", "b"], [`${dir}/img10.txt`, `${dir}/img2.txt`]);
 * console.assert((await disk.listDir(dir)).join() === "img2.txt,img10.txt");
 * console.assert((await disk.loadBatch([`${dir}/img2.txt`])).join() === "b");
 * await disk.deleteAll(dir);
 * ```
 */
export class DiskBackend extends AbstractStorageBackend
  implements RangeReader, ConditionalWriter, CrossProcessLocker {
  /** Registry key. */
  readonly key: string = "disk";
  /**
   * Reads, writes and lists the filesystem; range reads; `save` without
   * overwrite is an atomic create-if-absent (`link`); compare-and-swap and the
   * cross-process lock come from the file lock (`lock/file_lock.ts`).
   */
  readonly capabilities: StoreCapabilities = Object.freeze({
    read: true,
    write: true,
    list: true,
    rangeRead: true,
    atomicCreate: true,
    compareAndSwap: true,
    crossProcessLock: true,
  });
  /** Which implementation reads files (`"pure"`, `"ffi(deno, readv)"`, …). */
  readonly implementation: string;
  /** Why that implementation was chosen, where there is something to say. */
  readonly implementationReason?: string;
  /** The reader behind `load`/`loadBatch`. */
  readonly reader: BulkReader;

  /**
   * Creates a disk backend; without options it reads with {@linkcode PureBulkReader}.
   *
   * @param options an injected bulk reader and how to describe it
   */
  constructor(options: DiskBackendOptions = {}) {
    super();
    this.reader = options.reader ?? new PureBulkReader();
    this.implementation = options.implementation ??
      (options.reader ? options.reader.implementation : "pure");
    if (options.implementationReason !== undefined) {
      this.implementationReason = options.implementationReason;
    }
  }

  /**
   * Checks a save target: a directory is never replaced; an existing entry
   * needs `overwrite`. Returns the mode to keep when replacing a regular file.
   */
  async #checkSaveTarget(
    path: string,
    op: string,
    overwrite: boolean,
  ): Promise<{ exists: boolean; mode?: number }> {
    const s = await statOr(path, op, false, (err) => errCode(err) === "ENOENT");
    if (s === undefined) return { exists: false };
    if (s.isDirectory()) throw new IsADirectoryError(op, path);
    if (!overwrite) throw new AlreadyExistsError(op, path);
    return s.isFile() ? { exists: true, mode: s.mode & 0o7777 } : { exists: true };
  }

  // ------------------------------------------------------------- save/load

  /**
   * Saves a value atomically. Without `{ overwrite: true }` an existing
   * target (file, symlink, broken symlink) throws {@linkcode AlreadyExistsError}
   * and is left untouched; with it, the entry is replaced atomically (a
   * symlink is replaced by the file, its target is not written). A directory
   * is never replaced ({@linkcode IsADirectoryError}).
   */
  async save(data: StorageValue, path: string, options: SaveOptions = {}): Promise<void> {
    const op = "save";
    assertPath(path, op);
    assertStorable(data, op, path);
    const bytes = encodeForPath(data, path, op);
    const overwrite = options.overwrite === true;
    const target = await this.#checkSaveTarget(path, op, overwrite);
    const tmp = await stage(path, bytes, op, target.mode);
    try {
      if (overwrite) await fsCall(op, path, () => fsp.rename(tmp, path));
      else await publishNew(tmp, path, op);
    } finally {
      await ignore(fsp.unlink(tmp));
    }
    await fsCall(op, path, () => fsyncDir(nodePath.dirname(path)));
  }

  /**
   * Saves `data[i]` at `paths[i]`, all or nothing: lengths, duplicates,
   * encodability, parents and targets are checked before anything is written;
   * every value is staged in a temp file before any is published; if
   * publishing fails part-way, the files this batch created are removed and
   * the ones it replaced are restored from hard-linked backups.
   */
  async saveBatch(
    data: readonly StorageValue[],
    paths: readonly string[],
    options: SaveOptions = {},
  ): Promise<void> {
    const op = "saveBatch";
    checkBatch(data, paths, op, (p) => {
      assertPath(p, op);
      return nodePath.resolve(p);
    });
    if (paths.length === 0) return;
    const overwrite = options.overwrite === true;
    const encoded = paths.map((p, i) => {
      assertStorable(data[i], op, p);
      return encodeForPath(data[i]!, p, op);
    });
    const targets = await mapLimit(paths, CONCURRENCY, async (p) => {
      await checkParent(p, op);
      return await this.#checkSaveTarget(p, op, overwrite);
    });

    const temps: (string | undefined)[] = new Array(paths.length);
    const backups: (string | undefined)[] = new Array(paths.length);
    const published: boolean[] = new Array(paths.length).fill(false);
    let done = false;
    try {
      await mapLimit(paths, CONCURRENCY, async (p, i) => {
        temps[i] = await stage(p, encoded[i]!, op, targets[i]!.mode);
      });
      if (overwrite) {
        // Hard-linked backups of the entries about to be replaced, for rollback.
        await mapLimit(paths, CONCURRENCY, async (p, i) => {
          if (!targets[i]!.exists) return;
          const b = tempPathFor(p);
          try {
            await fsp.link(p, b);
            backups[i] = b;
          } catch (err) {
            if (isMissing(err)) return; // gone meanwhile: nothing to restore
            if (!NO_HARDLINKS.has(errCode(err) ?? "")) throw toStorageError(err, op, p);
          }
        });
      }
      // Concurrently: mapLimit waits for every started publish before it
      // throws, so the rollback below sees all that were published.
      await mapLimit(paths, CONCURRENCY, async (p, i) => {
        const tmp = temps[i]!;
        if (overwrite) await fsCall(op, p, () => fsp.rename(tmp, p));
        else await publishNew(tmp, p, op);
        published[i] = true;
      });
      done = true;
    } finally {
      if (!done) {
        // Roll back in reverse: restore replaced entries, remove created ones.
        for (let i = paths.length - 1; i >= 0; i--) {
          if (!published[i]) continue;
          const p = paths[i]!;
          const b = backups[i];
          if (b !== undefined) await ignore(fsp.rename(b, p));
          else if (!targets[i]!.exists || !overwrite) await ignore(fsp.unlink(p));
        }
      }
      await Promise.all([...temps, ...backups].map((t) => t && ignore(fsp.unlink(t))));
    }
    const dirs = new Set(paths.map((p) => nodePath.dirname(p)));
    await Promise.all([...dirs].map((d) => fsCall(op, d, () => fsyncDir(d))));
  }

  /**
   * Loads a value through symlinks: `{ as: "bytes" }` gives the raw bytes
   * (read by the bulk reader); otherwise the bytes are decoded by extension.
   */
  async load<T = StorageValue>(path: string, options: LoadOptions = {}): Promise<T> {
    assertPath(path, "load");
    await refuseSpecialFiles(this.reader, [path], "load");
    const [bytes] = await this.reader.readFiles([path], "load");
    if (bytes === undefined) throw new StorageError("load", path, "reader returned no data");
    return (options.as === "bytes" ? bytes : await decodeAsync(bytes, path, "load", options)) as T;
  }

  /** Loads many paths with one bulk read, results in request order. */
  override async loadBatch<T = StorageValue>(
    paths: readonly string[],
    options: LoadOptions = {},
  ): Promise<T[]> {
    if (!Array.isArray(paths)) throw new TypeError("loadBatch: paths must be an array");
    for (const p of paths) assertPath(p, "loadBatch");
    if (paths.length === 0) return [];
    await refuseSpecialFiles(this.reader, paths, "loadBatch");
    const all = await this.reader.readFiles(paths, "loadBatch");
    if (all.length !== paths.length) {
      throw new StorageError(
        "loadBatch",
        paths[0]!,
        `reader returned ${all.length} results for ${paths.length} paths`,
      );
    }
    if (options.as === "bytes") return all as T[];
    return await Promise.all(
      all.map((b, i) => decodeAsync(b, paths[i]!, "loadBatch", options) as T),
    );
  }

  /**
   * Opt-in zero-copy mode: maps the files read-only (FFI readers) and returns
   * a handle whose `get(i)` views are valid until `release()` (or the end of
   * a `using` block), which detaches them; see {@linkcode MappedFiles}. With
   * a reader that cannot map (the pure one) it rejects with
   * {@linkcode UnsupportedOperationError}.
   */
  mapFiles(paths: readonly string[]): Promise<MappedFiles> {
    if (!Array.isArray(paths)) {
      return Promise.reject(new TypeError("mapFiles: paths must be an array"));
    }
    if (!this.reader.mapFiles) {
      const reason =
        `zero-copy mapping needs the FFI reader (this backend reads with ${this.implementation})`;
      return Promise.reject(
        new UnsupportedOperationError("mapFiles", paths[0] ?? "", reason),
      );
    }
    return this.reader.mapFiles(paths, "mapFiles");
  }

  /**
   * Raw bytes of many files in arenas recycled from earlier released leases
   * (FFI readers): no fresh memory per batch. The handle's `get(i)` views are
   * valid until `release()`, which detaches them; see {@linkcode MappedFiles}.
   * With a reader that cannot lease (the pure one) it rejects with
   * {@linkcode UnsupportedOperationError}.
   */
  leaseFiles(paths: readonly string[]): Promise<MappedFiles> {
    if (!Array.isArray(paths)) {
      return Promise.reject(new TypeError("leaseFiles: paths must be an array"));
    }
    if (!this.reader.leaseFiles) {
      const reason =
        `leased arenas need the FFI reader (this backend reads with ${this.implementation})`;
      return Promise.reject(
        new UnsupportedOperationError("leaseFiles", paths[0] ?? "", reason),
      );
    }
    return this.reader.leaseFiles(paths, "leaseFiles");
  }

  // --------------------------------------------------------------- listings

  /**
   * Full paths of files under `dir`, breadth-first, natural order within a
   * depth. Symlinks to files and broken symlinks are files; symlinked
   * directories are not descended into; temp files and `._*` are skipped.
   */
  async listFiles(dir: string, options: ListOptions = {}): Promise<string[]> {
    const op = "listFiles";
    assertPath(dir, op);
    await requireDir(dir, op);
    return breadthFirst(dir, async (rel) => {
      const full = rel === "" ? dir : joinListed(dir, rel);
      let entries;
      try {
        entries = await fsp.readdir(full, { withFileTypes: true });
      } catch (err) {
        if (rel !== "" && isMissing(err)) return []; // removed while listing
        throw toStorageError(err, op, full);
      }
      const out: ListEntry[] = [];
      for (const e of entries) {
        const name = String(e.name);
        if (isTempName(name)) continue;
        out.push({ name, kind: await listKind(e, nodePath.join(full, name)) });
      }
      return out;
    }, options);
  }

  /** Entry names of a directory (through symlinks), natural order; temp files hidden. */
  async listDir(path: string): Promise<string[]> {
    assertPath(path, "listDir");
    const names = await fsCall("listDir", path, () => fsp.readdir(path));
    return naturalSort(names.map(String).filter((n) => !isTempName(n)));
  }

  /** True for a file (through symlinks); throws for directories and missing paths. */
  async isFile(path: string): Promise<boolean> {
    assertPath(path, "isFile");
    const s = await fsCall("isFile", path, () => fsp.stat(path));
    if (s.isDirectory()) throw new IsADirectoryError("isFile", path);
    return true;
  }

  /** True for a directory (through symlinks); throws for files and missing paths. */
  async isDir(path: string): Promise<boolean> {
    assertPath(path, "isDir");
    await requireDir(path, "isDir");
    return true;
  }

  // ------------------------------------------------------- filesystem ops

  /** Removes a file, a symlink (not its target) or an empty directory. */
  async delete(path: string): Promise<void> {
    const op = "delete";
    assertPath(path, op);
    const kind = await entryKind(path, op);
    if (kind === "missing") throw new NotFoundError(op, path);
    try {
      if (kind === "dir") await fsp.rmdir(path);
      else await fsp.unlink(path);
    } catch (err) {
      if (errCode(err) === "EEXIST") throw new DirectoryNotEmptyError(op, path);
      throw toStorageError(err, op, path);
    }
  }

  /** Removes a path and everything below it; symlinks are removed, never followed. */
  async deleteAll(path: string): Promise<void> {
    const op = "deleteAll";
    assertPath(path, op);
    if ((await entryKind(path, op)) === "missing") throw new NotFoundError(op, path);
    await fsCall(op, path, () => fsp.rm(path, { recursive: true, force: false }));
  }

  /** Creates a directory and its parents; a no-op if it exists. */
  async ensureDirectory(path: string): Promise<void> {
    const op = "ensureDirectory";
    assertPath(path, op);
    try {
      await fsp.mkdir(path, { recursive: true });
    } catch (err) {
      const code = errCode(err);
      if (code !== "EEXIST" && code !== "ENOENT") throw toStorageError(err, op, path);
    }
    let s;
    try {
      s = await fsp.stat(path);
    } catch (err) {
      if (errCode(err) === "ENOENT" && (await entryKind(path, op)) === "symlink") {
        throw new AlreadyExistsError(op, path, "a broken symlink is in the way", { cause: err });
      }
      throw toStorageError(err, op, path);
    }
    if (!s.isDirectory()) throw new NotADirectoryError(op, path);
  }

  /**
   * Creates `link` → `target`. `target` is stored as written; a relative
   * target is resolved from the link's directory and must exist.
   * `{ overwrite: true }` replaces an existing file or link atomically.
   */
  async createSymlink(target: string, link: string, options: SymlinkOptions = {}): Promise<void> {
    const op = "createSymlink";
    assertPath(target, op);
    assertPath(link, op);
    await checkParent(link, op);
    await checkLinkTarget(nodePath.resolve(nodePath.dirname(link), target), target, op);
    const kind = await entryKind(link, op);
    if (kind === "dir") throw new IsADirectoryError(op, link);
    if (!options.overwrite) {
      if (kind !== "missing") throw new AlreadyExistsError(op, link);
      await fsCall(op, link, () => fsp.symlink(target, link));
      return;
    }
    const tmp = tempPathFor(link);
    try {
      await fsp.symlink(target, tmp);
      await fsp.rename(tmp, link);
    } catch (err) {
      await ignore(fsp.unlink(tmp));
      throw toStorageError(err, op, link);
    }
  }

  /** True only for a symlink (false for files, directories and missing paths). */
  async isSymlink(path: string): Promise<boolean> {
    assertPath(path, "isSymlink");
    return (await statOr(path, "isSymlink", false))?.isSymbolicLink() ?? false;
  }

  /**
   * Moves a file, symlink or whole tree; refuses an existing destination
   * ({@linkcode AlreadyExistsError}) and a missing destination parent
   * ({@linkcode NotFoundError}). Across filesystems it copies, then deletes.
   */
  async move(src: string, dst: string): Promise<void> {
    const op = "move";
    assertPath(src, op);
    assertPath(dst, op);
    const kind = await entryKind(src, op);
    if (kind === "missing") throw new NotFoundError(op, src);
    await checkDestination(dst, op);
    if (kind === "dir") await refuseIntoItself(src, dst, op);
    if (kind === "file") {
      // link + unlink never replaces a destination that appeared meanwhile.
      let linked = false;
      try {
        await fsp.link(src, dst);
        linked = true;
      } catch (err) {
        const code = errCode(err);
        if (code === "EEXIST") {
          throw new AlreadyExistsError(op, dst, "already exists", { cause: err });
        }
        if (code !== "EXDEV" && !NO_HARDLINKS.has(code ?? "")) throw toStorageError(err, op, src);
      }
      if (linked) {
        try {
          await fsp.unlink(src);
        } catch (err) {
          await ignore(fsp.unlink(dst)); // keep the source, undo the new name
          throw toStorageError(err, op, src);
        }
        return;
      }
    }
    try {
      await fsp.rename(src, dst);
    } catch (err) {
      if (errCode(err) !== "EXDEV") throw toStorageError(err, op, src);
      await copyAny(src, dst, op, kind === "symlink" ? "link" : "follow");
      await fsCall(op, src, () => fsp.rm(src, { recursive: true, force: false }));
    }
  }

  /**
   * Copies a file or a whole tree; refuses an existing destination. A symlink
   * given as `src` is followed; symlinks inside a tree are copied as links
   * (targets as written). A failed tree copy removes what it created.
   */
  async copy(src: string, dst: string): Promise<void> {
    const op = "copy";
    assertPath(src, op);
    assertPath(dst, op);
    await copyAny(src, dst, op, "follow");
  }

  /** Describes `path` without following a final symlink. */
  async stat(path: string): Promise<StatResult> {
    assertPath(path, "stat");
    const s = await statOr(path, "stat", false);
    if (s === undefined) return { type: "missing", path, exists: false };
    if (s.isSymbolicLink()) {
      const target = await fsCall("stat", path, () => fsp.readlink(path));
      const exists = (await statOr(path, "stat", true, () => true)) !== undefined;
      return { type: "symlink", path, exists, target };
    }
    if (s.isDirectory()) return { type: "directory", path, exists: true };
    return { type: "file", path, exists: true, size: s.size };
  }

  // ----------------------------------------------------------- capabilities

  /**
   * Bytes `[offset, offset + length)` of a regular file (through symlinks),
   * fewer only at its end; a directory is {@linkcode IsADirectoryError}, any
   * other non-regular file is refused before reading.
   */
  loadRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    return readRange(path, offset, length, "loadRange");
  }

  /** Runs `fn` holding the cross-process file lock of `path` (`<path>.lock`, see `lock/`). */
  withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
    assertPath(path, "withLock");
    return withFileLock(path, fn, { operation: "withLock" });
  }

  /**
   * A file's raw bytes and a version token (device, inode, size, mtime and
   * ctime in ns: every atomic replace makes a new inode); undefined when absent.
   */
  loadVersioned(path: string): Promise<VersionedBytes | undefined> {
    return readVersioned(path, "loadVersioned");
  }

  /**
   * Replaces `path` with `bytes` only if its version is still `expected`
   * (`null`: only if absent), under the file lock, so two processes can never
   * both win; the new version, or `false` when another writer came first.
   */
  saveIfVersion(bytes: Uint8Array, path: string, expected: string | null): Promise<string | false> {
    return writeIfVersion(bytes, path, expected, "saveIfVersion");
  }

  /**
   * Removes temp files left in `dir` by writers that were killed mid-write:
   * at once when the writer is provably dead (its pid, on this host and pid
   * namespace, is gone), otherwise once older than `olderThanMs` (default one
   * hour, so that writes in progress elsewhere are not disturbed). Returns how
   * many it removed.
   *
   * @example
   * ```ts
   * import { DiskBackend } from "@hcs/store/disk";
   * const dir = await Deno.makeTempDir();
   * console.assert((await new DiskBackend().removeStaleTempFiles(dir)) === 0);
   * await Deno.remove(dir);
   * ```
   */
  removeStaleTempFiles(dir: string, olderThanMs: number = 3_600_000): Promise<number> {
    return removeStaleTemps(dir, olderThanMs, "removeStaleTempFiles");
  }
}

// The contract types (and base class) this entry's API refers to, so it documents them on its own.
export * from "./base.ts";
