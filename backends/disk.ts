/**
 * The disk backend: every operation of the storage contract on the local
 * filesystem, over `node:fs` (the same module on Deno, Bun and Node). The
 * registry imports this module on first use only, so programs that never ask
 * for `disk` never load `node:fs`.
 *
 * Writes are crash-safe: a value is written to a hidden temp file in the
 * target's directory, fsynced, then published atomically — with `link()`
 * (create-if-absent: an existing target is never touched) or, with
 * `{ overwrite: true }`, with `rename()` (atomic replace). Readers see the old
 * file or the new one, never a torn one.
 *
 * Temp files are named `.hcs-tmp.<name>.<pid>.<random>` (see
 * {@linkcode TEMP_PREFIX}). `listFiles` and `listDir` never show them. A
 * process killed mid-write (SIGKILL, power loss) may leave one behind: it is
 * hidden from listings but not removed automatically (another process may be
 * writing it right now); {@linkcode DiskBackend.removeStaleTempFiles} removes
 * old ones on request.
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
import { constants as fsConstants } from "node:fs";
import * as nodePath from "node:path";
import process from "node:process";
import {
  AlreadyExistsError,
  DirectoryNotEmptyError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  StorageError,
  toStorageError,
} from "../errors.ts";
import {
  AbstractStorageBackend,
  type ListOptions,
  type LoadOptions,
  type SaveOptions,
  type StatResult,
  type StorageValue,
  type SymlinkOptions,
} from "./base.ts";
import { assertPath, joinListed } from "../_internal/paths.ts";
import { breadthFirst, type ListEntry, naturalSort } from "../_internal/listing.ts";
import { assertStorable, checkBatch } from "../_internal/values.ts";
import { decodeForPath, encodeForPath, formatFor } from "../formats/mod.ts";
import type { BulkReader, MappedFiles } from "../ffi/types.ts";

export type * from "../ffi/types.ts";

/**
 * Name prefix of the temp files the disk backend writes before publishing a
 * file. Entries whose name starts with it are hidden from `listFiles` and
 * `listDir`.
 *
 * @example
 * ```ts
 * import { TEMP_PREFIX } from "@hcs/store/disk";
 * console.assert(".hcs-tmp.a.txt.1.ab12".startsWith(TEMP_PREFIX));
 * ```
 */
export const TEMP_PREFIX = ".hcs-tmp.";

/** How many files the pure reader and batch writes keep in flight at once. */
const CONCURRENCY = 32;

/** errno codes of `link()` on filesystems without hard links. */
const NO_HARDLINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EMLINK"]);

function errCode(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === "string" ? c : undefined;
}

function isMissing(err: unknown): boolean {
  const c = errCode(err);
  return c === "ENOENT" || c === "ENOTDIR";
}

function randomHex(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function tempPath(target: string): string {
  const dir = nodePath.dirname(target);
  const name = nodePath.basename(target).slice(0, 80);
  return nodePath.join(dir, `${TEMP_PREFIX}${name}.${process.pid}.${randomHex()}`);
}

/** Plain `Uint8Array` view of a Buffer (so results compare equal to Uint8Arrays). */
function plainBytes(b: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(b) === Uint8Array.prototype
    ? b
    : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Runs `fn` over `items` with at most `limit` in flight; results in order. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const workers = Array.from({ length: Math.min(limit, items.length) }, worker);
  const settled = await Promise.allSettled(workers);
  const bad = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (bad) throw bad.reason;
  return out;
}

async function ignore(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch {
    // best effort
  }
}

/** Flushes a directory entry table to disk (best effort: not every OS/FS allows it). */
async function fsyncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, "r");
    await fh.sync();
  } catch {
    // best effort
  } finally {
    if (fh) await ignore(fh.close());
  }
}

/** Writes `bytes` to a new file at `tmp` (exclusive create) and fsyncs it. */
async function writeDurable(tmp: string, bytes: Uint8Array, mode?: number): Promise<void> {
  const fh = await fsp.open(tmp, "wx", 0o666);
  try {
    let off = 0;
    while (off < bytes.byteLength) {
      const { bytesWritten } = await fh.write(bytes, off, bytes.byteLength - off);
      if (bytesWritten <= 0) throw new Error("write made no progress");
      off += bytesWritten;
    }
    if (mode !== undefined) await fh.chmod(mode);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Decodes file bytes by the extension of `path`; when that extension has no
 * codec and `path` is a symlink (`link` → `a.txt`), by its target's extension.
 */
async function decodeFile(bytes: Uint8Array, path: string, op: string): Promise<StorageValue> {
  if (formatFor(path) === undefined) {
    let real: string | undefined;
    try {
      real = await fsp.realpath(path);
    } catch {
      real = undefined;
    }
    if (real !== undefined && formatFor(real) !== undefined) return decodeForPath(bytes, real, op);
  }
  return decodeForPath(bytes, path, op);
}

type ReadWhole = (path: string) => Promise<Uint8Array>;

/**
 * The runtime's own whole-file read: `Deno.readFile` on Deno, `Bun.file().bytes()`
 * on Bun (both measurably faster than `node:fs` there, see bench/disk_bytes.ts),
 * `fs.promises.readFile` elsewhere.
 */
function nativeReadFile(): ReadWhole {
  const g = globalThis as {
    Deno?: { readFile?: ReadWhole };
    Bun?: { file?: (p: string) => { bytes?: () => Promise<Uint8Array> } };
  };
  const denoRead = g.Deno?.readFile;
  if (typeof denoRead === "function") return (p) => denoRead(p);
  const bunFile = g.Bun?.file;
  if (typeof bunFile === "function" && typeof bunFile("/").bytes === "function") {
    return (p) => bunFile(p).bytes!();
  }
  return async (p) => plainBytes(await fsp.readFile(p));
}

/**
 * The pure-TypeScript {@linkcode BulkReader}: the runtime's whole-file read
 * (`Deno.readFile`, `Bun.file().bytes()`, or `fs.promises.readFile`) per path,
 * a bounded number in flight, errors mapped to typed storage errors naming
 * the path. The disk backend uses it when no faster reader is injected.
 *
 * @example
 * ```ts
 * import { PureBulkReader } from "@hcs/store/disk";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.txt`, "hi");
 * const [bytes] = await new PureBulkReader().readFiles([`${dir}/a.txt`], "loadBatch");
 * console.assert(bytes?.length === 2);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class PureBulkReader implements BulkReader {
  /** Always `"pure"`. */
  readonly implementation: string = "pure";
  #read: ReadWhole = nativeReadFile();

  /** Reads every file whole, results in request order. */
  readFiles(paths: readonly string[], operation: string): Promise<Uint8Array[]> {
    for (const p of paths) assertPath(p, operation);
    return mapLimit(paths, CONCURRENCY, async (p) => {
      try {
        return plainBytes(await this.#read(p));
      } catch (err) {
        throw toStorageError(err, operation, p);
      }
    });
  }
}

/** Options of the {@linkcode DiskBackend} constructor. */
export interface DiskBackendOptions {
  /** The bulk reader for `load`/`loadBatch` (default: {@linkcode PureBulkReader}). */
  reader?: BulkReader;
  /** Implementation name reported to `describeBackends()` (default: the reader's, or `"pure"`). */
  implementation?: string;
  /** Why this implementation was chosen (e.g. `"ffi permission not granted"`). */
  implementationReason?: string;
}

/** Kind of an existing entry, from `lstat` (no link following). */
type EntryKind = "file" | "dir" | "symlink" | "other" | "missing";

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
export class DiskBackend extends AbstractStorageBackend {
  /** Registry key. */
  readonly key: string = "disk";
  /** Which implementation reads files (`"pure"`, `"ffi(deno, pread)"`, …). */
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

  // ---------------------------------------------------------------- helpers

  async #kind(path: string, op: string): Promise<EntryKind> {
    try {
      const s = await fsp.lstat(path);
      if (s.isSymbolicLink()) return "symlink";
      if (s.isDirectory()) return "dir";
      if (s.isFile()) return "file";
      return "other";
    } catch (err) {
      if (errCode(err) === "ENOENT") return "missing";
      throw toStorageError(err, op, path);
    }
  }

  /** Throws unless the parent directory of `path` exists (following links). */
  async #checkParent(path: string, op: string): Promise<void> {
    const parent = nodePath.dirname(path);
    try {
      const s = await fsp.stat(parent);
      if (!s.isDirectory()) throw new NotADirectoryError(op, path, "parent is not a directory");
    } catch (err) {
      if (errCode(err) === "ENOENT") {
        throw new NotFoundError(op, path, "parent directory does not exist", { cause: err });
      }
      throw toStorageError(err, op, path);
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
    let s;
    try {
      s = await fsp.lstat(path);
    } catch (err) {
      if (errCode(err) === "ENOENT") return { exists: false };
      throw toStorageError(err, op, path);
    }
    if (s.isDirectory()) throw new IsADirectoryError(op, path);
    if (!overwrite) throw new AlreadyExistsError(op, path);
    return s.isFile() ? { exists: true, mode: s.mode & 0o7777 } : { exists: true };
  }

  /** Writes a durable temp file next to `path`; returns its name. */
  async #stage(path: string, bytes: Uint8Array, op: string, mode?: number): Promise<string> {
    const tmp = tempPath(path);
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
  async #publishNew(tmp: string, path: string, op: string): Promise<void> {
    try {
      await fsp.link(tmp, path);
      return;
    } catch (err) {
      const code = errCode(err);
      if (code === "EEXIST") {
        throw new AlreadyExistsError(op, path, "already exists", { cause: err });
      }
      if (!NO_HARDLINKS.has(code ?? "")) throw toStorageError(err, op, path);
    }
    // No hard links here (some network/FUSE filesystems): check, then rename.
    // The window between the check and the rename is not race-free.
    if ((await this.#kind(path, op)) !== "missing") throw new AlreadyExistsError(op, path);
    try {
      await fsp.rename(tmp, path);
    } catch (err) {
      throw toStorageError(err, op, path);
    }
  }

  async #publishReplace(tmp: string, path: string, op: string): Promise<void> {
    try {
      await fsp.rename(tmp, path);
    } catch (err) {
      throw toStorageError(err, op, path);
    }
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
    const tmp = await this.#stage(path, bytes, op, target.mode);
    try {
      if (overwrite) await this.#publishReplace(tmp, path, op);
      else await this.#publishNew(tmp, path, op);
    } finally {
      await ignore(fsp.unlink(tmp));
    }
    await fsyncDir(nodePath.dirname(path));
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
      await this.#checkParent(p, op);
      return await this.#checkSaveTarget(p, op, overwrite);
    });

    const temps: (string | undefined)[] = new Array(paths.length);
    const backups: (string | undefined)[] = new Array(paths.length);
    const published: boolean[] = new Array(paths.length).fill(false);
    let done = false;
    try {
      await mapLimit(paths, CONCURRENCY, async (p, i) => {
        temps[i] = await this.#stage(p, encoded[i]!, op, targets[i]!.mode);
      });
      if (overwrite) {
        // Hard-linked backups of the entries about to be replaced, for rollback.
        await mapLimit(paths, CONCURRENCY, async (p, i) => {
          if (!targets[i]!.exists) return;
          const b = tempPath(p);
          try {
            await fsp.link(p, b);
            backups[i] = b;
          } catch (err) {
            if (isMissing(err)) return; // gone meanwhile: nothing to restore
            if (!NO_HARDLINKS.has(errCode(err) ?? "")) throw toStorageError(err, op, p);
          }
        });
      }
      for (let i = 0; i < paths.length; i++) {
        const p = paths[i]!;
        if (overwrite) await this.#publishReplace(temps[i]!, p, op);
        else await this.#publishNew(temps[i]!, p, op);
        published[i] = true;
      }
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
    await Promise.all([...dirs].map(fsyncDir));
  }

  /**
   * Loads a value through symlinks: `{ as: "bytes" }` gives the raw bytes
   * (read by the bulk reader); otherwise the bytes are decoded by extension.
   */
  async load<T = StorageValue>(path: string, options: LoadOptions = {}): Promise<T> {
    assertPath(path, "load");
    const [bytes] = await this.reader.readFiles([path], "load");
    if (bytes === undefined) throw new StorageError("load", path, "reader returned no data");
    return (options.as === "bytes" ? bytes : await decodeFile(bytes, path, "load")) as T;
  }

  /** Loads many paths with one bulk read, results in request order. */
  override async loadBatch<T = StorageValue>(
    paths: readonly string[],
    options: LoadOptions = {},
  ): Promise<T[]> {
    if (!Array.isArray(paths)) throw new TypeError("loadBatch: paths must be an array");
    for (const p of paths) assertPath(p, "loadBatch");
    if (paths.length === 0) return [];
    const all = await this.reader.readFiles(paths, "loadBatch");
    if (all.length !== paths.length) {
      throw new StorageError(
        "loadBatch",
        paths[0]!,
        `reader returned ${all.length} results for ${paths.length} paths`,
      );
    }
    if (options.as === "bytes") return all as T[];
    return await Promise.all(all.map((b, i) => decodeFile(b, paths[i]!, "loadBatch") as T));
  }

  /**
   * Opt-in zero-copy mode: maps the files read-only (FFI readers) and returns
   * a handle whose `get(i)` views are valid until `release()` (or the end of
   * a `using` block), which detaches them; see {@linkcode MappedFiles}. With
   * a reader that cannot map (the pure one) it rejects with code
   * `ERR_UNSUPPORTED`.
   */
  mapFiles(paths: readonly string[]): Promise<MappedFiles> {
    if (!Array.isArray(paths)) {
      return Promise.reject(new TypeError("mapFiles: paths must be an array"));
    }
    if (!this.reader.mapFiles) {
      const reason =
        `zero-copy mapping needs the FFI reader (this backend reads with ${this.implementation})`;
      return Promise.reject(
        new StorageError("mapFiles", paths[0] ?? "", reason, { code: "ERR_UNSUPPORTED" }),
      );
    }
    return this.reader.mapFiles(paths, "mapFiles");
  }

  /**
   * Raw bytes of many files in arenas recycled from earlier released leases
   * (FFI readers): no fresh memory per batch. The handle's `get(i)` views are
   * valid until `release()`, which detaches them; see {@linkcode MappedFiles}.
   * With a reader that cannot lease (the pure one) it rejects with code
   * `ERR_UNSUPPORTED`.
   */
  leaseFiles(paths: readonly string[]): Promise<MappedFiles> {
    if (!Array.isArray(paths)) {
      return Promise.reject(new TypeError("leaseFiles: paths must be an array"));
    }
    if (!this.reader.leaseFiles) {
      const reason =
        `leased arenas need the FFI reader (this backend reads with ${this.implementation})`;
      return Promise.reject(
        new StorageError("leaseFiles", paths[0] ?? "", reason, { code: "ERR_UNSUPPORTED" }),
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
    await this.#requireDir(dir, op);
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
        if (name.startsWith(TEMP_PREFIX)) continue;
        out.push({ name, kind: await this.#listKind(e, nodePath.join(full, name)) });
      }
      return out;
    }, options);
  }

  async #listKind(
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

  async #requireDir(path: string, op: string): Promise<void> {
    let s;
    try {
      s = await fsp.stat(path);
    } catch (err) {
      throw toStorageError(err, op, path);
    }
    if (!s.isDirectory()) throw new NotADirectoryError(op, path);
  }

  /** Entry names of a directory (through symlinks), natural order; temp files hidden. */
  async listDir(path: string): Promise<string[]> {
    assertPath(path, "listDir");
    let names: string[];
    try {
      names = (await fsp.readdir(path)).map(String);
    } catch (err) {
      throw toStorageError(err, "listDir", path);
    }
    return naturalSort(names.filter((n) => !n.startsWith(TEMP_PREFIX)));
  }

  /** True for a file (through symlinks); throws for directories and missing paths. */
  async isFile(path: string): Promise<boolean> {
    assertPath(path, "isFile");
    let s;
    try {
      s = await fsp.stat(path);
    } catch (err) {
      throw toStorageError(err, "isFile", path);
    }
    if (s.isDirectory()) throw new IsADirectoryError("isFile", path);
    return true;
  }

  /** True for a directory (through symlinks); throws for files and missing paths. */
  async isDir(path: string): Promise<boolean> {
    assertPath(path, "isDir");
    await this.#requireDir(path, "isDir");
    return true;
  }

  // ------------------------------------------------------- filesystem ops

  /** Removes a file, a symlink (not its target) or an empty directory. */
  async delete(path: string): Promise<void> {
    const op = "delete";
    assertPath(path, op);
    const kind = await this.#kind(path, op);
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
    if ((await this.#kind(path, op)) === "missing") throw new NotFoundError(op, path);
    try {
      await fsp.rm(path, { recursive: true, force: false });
    } catch (err) {
      throw toStorageError(err, op, path);
    }
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
      if (errCode(err) === "ENOENT" && (await this.#kind(path, op)) === "symlink") {
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
    await this.#checkParent(link, op);
    const resolved = nodePath.resolve(nodePath.dirname(link), target);
    try {
      await fsp.stat(resolved);
    } catch (err) {
      if (isMissing(err)) {
        throw new NotFoundError(op, target, "link target does not exist", { cause: err });
      }
      throw toStorageError(err, op, target);
    }
    const kind = await this.#kind(link, op);
    if (kind === "dir") throw new IsADirectoryError(op, link);
    if (!options.overwrite) {
      if (kind !== "missing") throw new AlreadyExistsError(op, link);
      try {
        await fsp.symlink(target, link);
      } catch (err) {
        throw toStorageError(err, op, link);
      }
      return;
    }
    const tmp = tempPath(link);
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
    try {
      return (await fsp.lstat(path)).isSymbolicLink();
    } catch (err) {
      if (isMissing(err)) return false;
      throw toStorageError(err, "isSymlink", path);
    }
  }

  /** Checks a move/copy destination: absent, with an existing parent directory. */
  async #checkDestination(dst: string, op: string): Promise<void> {
    await this.#checkParent(dst, op);
    if ((await this.#kind(dst, op)) !== "missing") throw new AlreadyExistsError(op, dst);
  }

  /** Refuses to move/copy directory `src` to `dst` inside itself. */
  async #refuseIntoItself(src: string, dst: string, op: string): Promise<void> {
    const real = async (p: string) => {
      try {
        return await fsp.realpath(p);
      } catch (err) {
        throw toStorageError(err, op, p);
      }
    };
    const srcReal = await real(src);
    const dstReal = nodePath.join(await real(nodePath.dirname(dst)), nodePath.basename(dst));
    if (
      dstReal === srcReal || dstReal.startsWith(srcReal.endsWith("/") ? srcReal : srcReal + "/")
    ) {
      throw new StorageError(op, dst, `cannot ${op} a directory into itself`, { code: "EINVAL" });
    }
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
    const kind = await this.#kind(src, op);
    if (kind === "missing") throw new NotFoundError(op, src);
    await this.#checkDestination(dst, op);
    if (kind === "dir") await this.#refuseIntoItself(src, dst, op);
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
      await this.#copyAny(src, dst, op, kind === "symlink" ? "link" : "follow");
      try {
        await fsp.rm(src, { recursive: true, force: false });
      } catch (err2) {
        throw toStorageError(err2, op, src);
      }
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
    await this.#copyAny(src, dst, op, "follow");
  }

  async #copyAny(src: string, dst: string, op: string, top: "follow" | "link"): Promise<void> {
    let s;
    try {
      s = top === "follow" ? await fsp.stat(src) : await fsp.lstat(src);
    } catch (err) {
      throw toStorageError(err, op, src);
    }
    await this.#checkDestination(dst, op);
    if (s.isSymbolicLink()) {
      try {
        await fsp.symlink(await fsp.readlink(src), dst);
      } catch (err) {
        throw toStorageError(err, op, dst);
      }
      return;
    }
    if (!s.isDirectory()) {
      // Copy to a temp file, then publish without replacing (atomic, EXCL).
      const tmp = tempPath(dst);
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
        await this.#publishNew(tmp, dst, op);
      } finally {
        await ignore(fsp.unlink(tmp));
      }
      return;
    }
    await this.#refuseIntoItself(src, dst, op);
    try {
      await fsp.mkdir(dst);
    } catch (err) {
      throw toStorageError(err, op, dst);
    }
    try {
      await this.#copyTree(src, dst, op);
    } catch (err) {
      await ignore(fsp.rm(dst, { recursive: true, force: true }));
      throw err instanceof StorageError ? err : toStorageError(err, op, src);
    }
  }

  async #copyTree(src: string, dst: string, op: string): Promise<void> {
    let entries;
    try {
      entries = await fsp.readdir(src, { withFileTypes: true });
    } catch (err) {
      throw toStorageError(err, op, src);
    }
    for (const e of entries) {
      const name = String(e.name);
      if (name.startsWith(TEMP_PREFIX)) continue;
      const from = nodePath.join(src, name);
      const to = nodePath.join(dst, name);
      try {
        const s = await fsp.lstat(from);
        if (s.isSymbolicLink()) await fsp.symlink(await fsp.readlink(from), to);
        else if (s.isDirectory()) {
          await fsp.mkdir(to);
          await this.#copyTree(from, to, op);
        } else if (s.isFile()) await fsp.copyFile(from, to, fsConstants.COPYFILE_EXCL);
        // sockets, FIFOs and devices are not copied
      } catch (err) {
        throw toStorageError(err, op, from);
      }
    }
  }

  /** Describes `path` without following a final symlink. */
  async stat(path: string): Promise<StatResult> {
    assertPath(path, "stat");
    let s;
    try {
      s = await fsp.lstat(path);
    } catch (err) {
      if (isMissing(err)) return { type: "missing", path, exists: false };
      throw toStorageError(err, "stat", path);
    }
    if (s.isSymbolicLink()) {
      let target: string;
      try {
        target = await fsp.readlink(path);
      } catch (err) {
        throw toStorageError(err, "stat", path);
      }
      let exists = true;
      try {
        await fsp.stat(path);
      } catch {
        exists = false;
      }
      return { type: "symlink", path, exists, target };
    }
    if (s.isDirectory()) return { type: "directory", path, exists: true };
    return { type: "file", path, exists: true, size: s.size };
  }

  /**
   * Removes temp files left in `dir` by writers that were killed mid-write,
   * if they are older than `olderThanMs` (default one hour, so that writes in
   * progress in other processes are not disturbed). Returns how many it removed.
   *
   * @example
   * ```ts
   * import { DiskBackend } from "@hcs/store/disk";
   * const dir = await Deno.makeTempDir();
   * console.assert((await new DiskBackend().removeStaleTempFiles(dir)) === 0);
   * await Deno.remove(dir);
   * ```
   */
  async removeStaleTempFiles(dir: string, olderThanMs: number = 3_600_000): Promise<number> {
    const op = "removeStaleTempFiles";
    assertPath(dir, op);
    let names: string[];
    try {
      names = (await fsp.readdir(dir)).map(String);
    } catch (err) {
      throw toStorageError(err, op, dir);
    }
    let removed = 0;
    const cutoff = Date.now() - olderThanMs;
    for (const n of names) {
      if (!n.startsWith(TEMP_PREFIX)) continue;
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
    return removed;
  }
}

// The contract types (and base class) this entry's API refers to, so it documents them on its own.
export * from "./base.ts";
