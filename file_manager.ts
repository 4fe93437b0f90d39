/**
 * {@linkcode FileManager}: one object that routes every storage operation to
 * a backend named explicitly in each call — no implicit fallback, no guessing
 * from paths — plus directory helpers built on the backend contract
 * (`listImageFiles`, `findFileRecursive`, `collectDirsAndFiles`,
 * `mirrorDirectoryWithSymlinks`).
 *
 * Each method takes its path arguments, then the backend name, then an
 * options object: `save(data, path, "disk", { overwrite: true })`. The
 * directory helpers validate their base directory first on backends with
 * `requiresFilesystemValidation` (as the reference does), not on generated
 * namespaces.
 *
 * This module imports no `node:*` module (it only talks to the registry).
 *
 * @module
 */

import type {
  AnyBackend,
  BackendResolver,
  ListOptions,
  LoadOptions,
  SaveOptions,
  StatResult,
  StorageValue,
  SymlinkOptions,
} from "./backends/base.ts";
import { type Fn, mirrorTree, type Route, walkDirs } from "./_internal/tree_ops.ts";
import { restate, StorageError, UnsupportedOperationError } from "./errors.ts";
import { type ByteSource, forEachFileBytes } from "./_internal/leased_bytes.ts";

export type { BackendResolver };

/** Options passed through to a backend; backends may accept more than the contract's. */
export type PassThrough<T> = T & { [option: string]: unknown };

/**
 * The extensions {@linkcode FileManager.listImageFiles} keeps by default.
 *
 * @example
 * ```ts
 * import { DEFAULT_IMAGE_EXTENSIONS } from "@hcs/store";
 * console.assert(DEFAULT_IMAGE_EXTENSIONS.includes(".tif"));
 * ```
 */
export const DEFAULT_IMAGE_EXTENSIONS: readonly string[] = Object.freeze([
  ".tif",
  ".tiff",
  ".png",
  ".bmp",
  ".gif",
  ".jpg",
  ".jpeg",
]);

/** Options of {@linkcode FileManager.listImageFiles}. */
export interface ListImageFilesOptions {
  /** Extensions to keep (default {@linkcode DEFAULT_IMAGE_EXTENSIONS}), case-insensitive. */
  extensions?: Iterable<string>;
  /** Descend into subdirectories, breadth-first (default false, as `listFiles`). */
  recursive?: boolean;
  /** Glob on the file name. */
  pattern?: string;
}

/** Options of {@linkcode FileManager.collectDirsAndFiles}. */
export interface CollectOptions {
  /** Descend into subdirectories (default true). */
  recursive?: boolean;
}

/** What {@linkcode FileManager.collectDirsAndFiles} returns. */
export interface DirsAndFiles {
  /** Directories below the start directory (full paths, breadth-first, natural order). */
  dirs: string[];
  /** Files below it, as `listFiles` reports them (full paths, breadth-first). */
  files: string[];
}

/** Options of {@linkcode FileManager.mirrorDirectoryWithSymlinks}. */
export interface MirrorOptions {
  /** Mirror subdirectories too (default true). */
  recursive?: boolean;
  /**
   * Replace symlinks that already exist at a link path, and leave regular
   * files and directories there alone (the reference's
   * `overwrite_symlinks_only`). Default false: any existing entry at a link
   * path is an {@linkcode AlreadyExistsError} before anything is created.
   * Regular files and directories are never replaced either way.
   */
  overwriteSymlinksOnly?: boolean;
}

/** Digest algorithms {@linkcode FileManager.hash} accepts (Web Crypto names). */
export const HASH_ALGORITHMS: readonly string[] = ["SHA-256", "SHA-1", "SHA-384", "SHA-512"];

/** Options of {@linkcode FileManager.hash}. */
export interface HashOptions {
  /** A Web Crypto digest name (default `SHA-256`); see {@linkcode HASH_ALGORITHMS}. */
  algorithm?: string;
  /** Bytes read per batch (default 64 MiB). */
  batchBytes?: number;
}

function toHex(buf: ArrayBuffer): string {
  let s = "";
  for (const b of new Uint8Array(buf)) s += b.toString(16).padStart(2, "0");
  return s;
}

type Method =
  | "save"
  | "saveBatch"
  | "load"
  | "loadBatch"
  | "listFiles"
  | "listDir"
  | "exists"
  | "isFile"
  | "isDir"
  | "delete"
  | "deleteAll"
  | "ensureDirectory"
  | "createSymlink"
  | "isSymlink"
  | "move"
  | "copy"
  | "stat";

/**
 * Routes storage operations to registry backends by an explicit name.
 *
 * Every method takes the backend name right after its path arguments; a
 * missing or non-string name is a `TypeError`, an unknown one a
 * `BackendNotFoundError` listing the available backends (from the registry).
 * An operation the named backend does not implement (e.g. `save` on the
 * read-only `http` backend) throws an `UnsupportedOperationError`
 * (`ERR_UNSUPPORTED_OPERATION`).
 *
 * @example
 * ```ts
 * import { createRegistry } from "@hcs/store";
 * import { FileManager } from "@hcs/store/file-manager";
 *
 * const fm = new FileManager(createRegistry());
 * await fm.ensureDirectory("/plate/images", "memory");
 * await fm.save("hello", "/plate/images/a.txt", "memory");
 * console.assert((await fm.load("/plate/images/a.txt", "memory")) === "hello");
 * console.assert((await fm.listFiles("/plate", "memory", { recursive: true })).length === 1);
 * ```
 */
export class FileManager {
  readonly #registry: BackendResolver;

  /**
   * Creates a file manager that resolves backend names through `registry`.
   *
   * @param registry the registry that resolves backend names (e.g. `createRegistry()`
   *   or `storageRegistry`)
   */
  constructor(registry: BackendResolver) {
    if (
      typeof registry !== "object" || registry === null ||
      typeof (registry as { getBackend?: unknown }).getBackend !== "function"
    ) {
      throw new TypeError("FileManager: a registry (with getBackend) is required");
    }
    this.#registry = registry;
  }

  /** Resolves `backend` and the method `method` on it. */
  async #route(
    backend: unknown,
    method: Method,
    path: string,
  ): Promise<{ fn: Fn; target: AnyBackend }> {
    if (typeof backend !== "string" || backend.trim() === "") {
      throw new TypeError(
        `FileManager.${method}: a backend name (e.g. "disk", "memory") is required after the path arguments, got ${
          backend === "" ? "an empty string" : typeof backend
        }`,
      );
    }
    const target = await this.#registry.getBackend(backend);
    const fn = (target as unknown as Record<string, unknown>)[method];
    if (typeof fn !== "function") {
      throw new UnsupportedOperationError(
        method,
        path,
        `backend '${backend}' does not support ${method}`,
      );
    }
    return { fn: fn as Fn, target };
  }

  async #call<R>(
    backend: string,
    method: Method,
    path: string,
    args: readonly unknown[],
  ): Promise<R> {
    const { fn, target } = await this.#route(backend, method, path);
    return await fn.apply(target, args as unknown[]) as R;
  }

  /**
   * Saves `data` at `path` on `backend`; never replaces unless `{ overwrite: true }`.
   *
   * @example
   * ```ts
   * import { createRegistry } from "@hcs/store";
   * import { FileManager } from "@hcs/store/file-manager";
   * const fm = new FileManager(createRegistry());
   * await fm.save({ a: 1 }, "/cfg.json", "memory");
   * await fm.save({ a: 2 }, "/cfg.json", "memory", { overwrite: true });
   * ```
   */
  save(
    data: StorageValue,
    path: string,
    backend: string,
    options?: PassThrough<SaveOptions>,
  ): Promise<void> {
    return this.#call(backend, "save", path, [data, path, options]);
  }

  /**
   * Saves `data[i]` at `paths[i]` on `backend`, all or nothing.
   *
   * @example
   * ```ts
   * import { createRegistry } from "@hcs/store";
   * import { FileManager } from "@hcs/store/file-manager";
   * const fm = new FileManager(createRegistry());
   * await fm.saveBatch(["a", "b"], ["/a.txt", "/b.txt"], "memory");
   * ```
   */
  saveBatch(
    data: readonly StorageValue[],
    paths: readonly string[],
    backend: string,
    options?: PassThrough<SaveOptions>,
  ): Promise<void> {
    return this.#call(backend, "saveBatch", String(paths?.[0] ?? ""), [data, paths, options]);
  }

  /**
   * Loads the value at `path` from `backend`.
   *
   * @example
   * ```ts
   * import { createRegistry } from "@hcs/store";
   * import { FileManager } from "@hcs/store/file-manager";
   * const fm = new FileManager(createRegistry());
   * await fm.save("x", "/x.txt", "memory");
   * const bytes = await fm.load<Uint8Array>("/x.txt", "memory", { as: "bytes" });
   * console.assert(bytes.length === 1);
   * ```
   */
  load<T = StorageValue>(
    path: string,
    backend: string,
    options?: PassThrough<LoadOptions>,
  ): Promise<T> {
    return this.#call(backend, "load", path, [path, options]);
  }

  /**
   * Loads many paths from `backend`, in request order.
   *
   * @example
   * ```ts
   * import { createRegistry } from "@hcs/store";
   * import { FileManager } from "@hcs/store/file-manager";
   * const fm = new FileManager(createRegistry());
   * await fm.saveBatch(["a", "b"], ["/a.txt", "/b.txt"], "memory");
   * console.assert((await fm.loadBatch(["/b.txt", "/a.txt"], "memory"))[0] === "b");
   * ```
   */
  loadBatch<T = StorageValue>(
    paths: readonly string[],
    backend: string,
    options?: PassThrough<LoadOptions>,
  ): Promise<T[]> {
    return this.#call(backend, "loadBatch", String(paths?.[0] ?? ""), [paths, options]);
  }

  /**
   * Full paths of the files under `dir` on `backend` (breadth-first, natural order).
   *
   * @example
   * ```ts
   * import { createRegistry } from "@hcs/store";
   * import { FileManager } from "@hcs/store/file-manager";
   * const fm = new FileManager(createRegistry());
   * await fm.ensureDirectory("/d/sub", "memory");
   * await fm.saveBatch(["1", "2"], ["/d/img10.txt", "/d/sub/img2.txt"], "memory");
   * const all = await fm.listFiles("/d", "memory", { recursive: true });
   * console.assert(all.join() === "/d/img10.txt,/d/sub/img2.txt");
   * ```
   */
  listFiles(dir: string, backend: string, options?: PassThrough<ListOptions>): Promise<string[]> {
    return this.#call(backend, "listFiles", dir, [dir, options]);
  }

  /**
   * Entry names of directory `path` on `backend`, natural order.
   */
  listDir(path: string, backend: string): Promise<string[]> {
    return this.#call(backend, "listDir", path, [path]);
  }

  /**
   * Whether `path` exists on `backend` (false for missing paths and broken links).
   */
  exists(path: string, backend: string): Promise<boolean> {
    return this.#call(backend, "exists", path, [path]);
  }

  /**
   * True for a file; `IsADirectoryError` for a directory; `NotFoundError` if missing.
   */
  isFile(path: string, backend: string): Promise<boolean> {
    return this.#call(backend, "isFile", path, [path]);
  }

  /**
   * True for a directory; `NotADirectoryError` for a file; `NotFoundError` if missing.
   */
  isDir(path: string, backend: string): Promise<boolean> {
    return this.#call(backend, "isDir", path, [path]);
  }

  /**
   * Removes a file, a symlink or an empty directory on `backend`.
   */
  delete(path: string, backend: string): Promise<void> {
    return this.#call(backend, "delete", path, [path]);
  }

  /**
   * Removes `path` recursively on `backend`.
   */
  deleteAll(path: string, backend: string): Promise<void> {
    return this.#call(backend, "deleteAll", path, [path]);
  }

  /**
   * Creates a directory and its parents on `backend`.
   *
   * @example
   * ```ts
   * import { createRegistry } from "@hcs/store";
   * import { FileManager } from "@hcs/store/file-manager";
   * const fm = new FileManager(createRegistry());
   * await fm.ensureDirectory("/a/b/c", "memory");
   * ```
   */
  ensureDirectory(path: string, backend: string): Promise<void> {
    return this.#call(backend, "ensureDirectory", path, [path]);
  }

  /**
   * Creates `link` pointing at `target` on `backend`.
   *
   * @example
   * ```ts
   * import { createRegistry } from "@hcs/store";
   * import { FileManager } from "@hcs/store/file-manager";
   * const fm = new FileManager(createRegistry());
   * await fm.save("x", "/x.txt", "memory");
   * await fm.createSymlink("/x.txt", "/l.txt", "memory");
   * console.assert(await fm.isSymlink("/l.txt", "memory"));
   * ```
   */
  createSymlink(
    target: string,
    link: string,
    backend: string,
    options?: PassThrough<SymlinkOptions>,
  ): Promise<void> {
    return this.#call(backend, "createSymlink", link, [target, link, options]);
  }

  /**
   * True only for a symlink on `backend`.
   */
  isSymlink(path: string, backend: string): Promise<boolean> {
    return this.#call(backend, "isSymlink", path, [path]);
  }

  /**
   * Moves a file or tree on `backend`; refuses an existing destination.
   *
   * @example
   * ```ts
   * import { createRegistry } from "@hcs/store";
   * import { FileManager } from "@hcs/store/file-manager";
   * const fm = new FileManager(createRegistry());
   * await fm.save("x", "/a.txt", "memory");
   * await fm.move("/a.txt", "/b.txt", "memory");
   * ```
   */
  move(src: string, dst: string, backend: string): Promise<void> {
    return this.#call(backend, "move", src, [src, dst]);
  }

  /**
   * Copies a file or tree on `backend`; refuses an existing destination.
   */
  copy(src: string, dst: string, backend: string): Promise<void> {
    return this.#call(backend, "copy", src, [src, dst]);
  }

  /**
   * Digests of whole files on `backend`, hex, in request order
   * (`crypto.subtle.digest`; algorithm `SHA-256` by default, or `SHA-1`,
   * `SHA-384`, `SHA-512`). The bytes never escape, so on the disk backend
   * with the FFI reader they are read into recycled arenas (`leaseFiles`),
   * batches of at most 64 MiB (two held at once),
   * else through `loadBatch`.
   *
   * @example
   * ```ts
   * import { createRegistry } from "@hcs/store";
   * import { FileManager } from "@hcs/store/file-manager";
   * const fm = new FileManager(createRegistry());
   * await fm.save(new TextEncoder().encode("abc"), "/abc.bin", "memory");
   * const [hex] = await fm.hash(["/abc.bin"], "memory");
   * console.assert(hex!.startsWith("ba7816bf"));
   * ```
   */
  async hash(
    paths: readonly string[],
    backend: string,
    options: HashOptions = {},
  ): Promise<string[]> {
    if (!Array.isArray(paths) || paths.some((p) => typeof p !== "string")) {
      throw new TypeError("FileManager.hash: paths must be an array of strings");
    }
    const algorithm = options.algorithm ?? "SHA-256";
    if (!HASH_ALGORITHMS.includes(algorithm)) {
      throw new TypeError(
        `FileManager.hash: algorithm must be one of ${
          HASH_ALGORITHMS.join(", ")
        }, got '${algorithm}'`,
      );
    }
    const { target } = await this.#route(backend, "loadBatch", String(paths[0] ?? ""));
    const out = new Array<string>(paths.length);
    await forEachFileBytes(target as unknown as ByteSource, paths, async (bytes, _p, i) => {
      out[i] = toHex(await crypto.subtle.digest(algorithm, bytes as Uint8Array<ArrayBuffer>));
    }, options.batchBytes === undefined ? {} : { batchBytes: options.batchBytes });
    return out;
  }

  /**
   * Describes `path` on `backend` without following a final symlink.
   */
  stat(path: string, backend: string): Promise<StatResult> {
    return this.#call(backend, "stat", path, [path]);
  }

  /**
   * Image files under `dir` on `backend`: `listFiles` filtered by extension
   * (default `.tif .tiff .png .bmp .gif .jpg .jpeg`, case-insensitive), with
   * an optional name `pattern`; breadth-first when `recursive`.
   *
   * @example
   * ```ts
   * import { createRegistry } from "@hcs/store";
   * import { FileManager } from "@hcs/store/file-manager";
   * const fm = new FileManager(createRegistry());
   * await fm.ensureDirectory("/p", "memory");
   * await fm.saveBatch(["x", "y"], ["/p/a.TIF", "/p/notes.txt"], "memory");
   * console.assert((await fm.listImageFiles("/p", "memory")).join() === "/p/a.TIF");
   * ```
   */
  async listImageFiles(
    dir: string,
    backend: string,
    options: ListImageFilesOptions = {},
  ): Promise<string[]> {
    const list: ListOptions = { extensions: options.extensions ?? DEFAULT_IMAGE_EXTENSIONS };
    if (options.recursive !== undefined) list.recursive = options.recursive;
    if (options.pattern !== undefined) list.pattern = options.pattern;
    await this.#validateDir(backend, dir, "listImageFiles");
    return await this.#call(backend, "listFiles", dir, [dir, list]);
  }

  /**
   * `requiresFilesystemValidation`, as in the reference: on a backend with a
   * real filesystem namespace the base directory of a directory helper must
   * be an existing directory (`isDir`: `NotFoundError` / `NotADirectoryError`
   * before any listing or write); generated namespaces (HTTP, virtual
   * workspaces) are not validated — their listings answer directly.
   */
  async #validateDir(backend: string, dir: string, op: string): Promise<void> {
    const { fn, target } = await this.#route(backend, "isDir", dir).catch(() => ({
      fn: undefined,
      target: undefined,
    }));
    if (fn === undefined || target?.requiresFilesystemValidation !== true) return;
    try {
      await fn.call(target, dir);
    } catch (err) {
      throw err instanceof StorageError ? restate(err, op, err.path, err.reason) : err;
    }
  }

  /**
   * The first file named exactly `filename` under `dir` (recursively) on
   * `backend`, or `undefined` if there is none. "First" is the order of a
   * recursive `listFiles`: shallower files before deeper ones, natural path
   * order within a depth; symlinked directories are not descended into.
   *
   * @example
   * ```ts
   * import { createRegistry } from "@hcs/store";
   * import { FileManager } from "@hcs/store/file-manager";
   * const fm = new FileManager(createRegistry());
   * await fm.ensureDirectory("/r/a/b", "memory");
   * await fm.save("{}", "/r/a/b/meta.json", "memory");
   * console.assert((await fm.findFileRecursive("/r", "meta.json", "memory")) === "/r/a/b/meta.json");
   * console.assert((await fm.findFileRecursive("/r", "none.json", "memory")) === undefined);
   * ```
   */
  async findFileRecursive(
    dir: string,
    filename: string,
    backend: string,
  ): Promise<string | undefined> {
    if (typeof filename !== "string" || filename === "" || filename.includes("/")) {
      throw new TypeError("findFileRecursive: filename must be a non-empty name without '/'");
    }
    await this.#validateDir(backend, dir, "findFileRecursive");
    const files = await this.#call<string[]>(backend, "listFiles", dir, [dir, {
      recursive: true,
    }]);
    return files.find((f) => f === filename || f.endsWith(`/${filename}`));
  }

  /**
   * Directories and files under `dir` on `backend`: `files` is what a
   * `listFiles` reports (files, symlinks to files, broken symlinks), `dirs`
   * `dir` itself first (as the reference does), then every directory below
   * it, breadth-first in natural order, empty ones included. Symlinks to
   * directories are in neither list and are not descended into. `recursive`
   * defaults to true.
   *
   * @example
   * ```ts
   * import { createRegistry } from "@hcs/store";
   * import { FileManager } from "@hcs/store/file-manager";
   * const fm = new FileManager(createRegistry());
   * await fm.ensureDirectory("/c/x/y", "memory");
   * await fm.save("1", "/c/x/f.txt", "memory");
   * const { dirs, files } = await fm.collectDirsAndFiles("/c", "memory");
   * console.assert(dirs.join() === "/c,/c/x,/c/x/y" && files.join() === "/c/x/f.txt");
   * ```
   */
  async collectDirsAndFiles(
    dir: string,
    backend: string,
    options: CollectOptions = {},
  ): Promise<DirsAndFiles> {
    const recursive = options.recursive ?? true;
    await this.#validateDir(backend, dir, "collectDirsAndFiles");
    const files = await this.#call<string[]>(backend, "listFiles", dir, [dir, { recursive }]);
    const dirs = await walkDirs((m, p) => this.#route(backend, m as Method, p), dir, recursive);
    return { dirs: [dir, ...dirs], files };
  }

  /**
   * Recreates the directory tree of `src` under `dst` on `backend`, with a
   * symlink in `dst` for every file of `src` (as `listFiles` reports them).
   * Returns how many links it created (replaced links included).
   *
   * - `dst` and its subdirectories are created as needed (`ensureDirectory`);
   *   empty source directories are mirrored too.
   * - An entry that already exists at a link path throws
   *   {@linkcode AlreadyExistsError} (checked for every link before anything
   *   is created) — unless `overwriteSymlinksOnly` is true: then existing
   *   symlinks are replaced, and regular files and directories are left
   *   alone and not counted. A regular file or directory is never replaced.
   * - Broken symlinks in `src` are skipped.
   * - Link targets: with an absolute `src`, the source file's path as listed;
   *   with a relative `src` (and `dst`), the path relative to the link's
   *   directory, so the links resolve the same way the backend resolves
   *   relative paths.
   * - `recursive` defaults to true; false mirrors only `src`'s own files.
   *
   * @example
   * ```ts
   * import { createRegistry } from "@hcs/store";
   * import { FileManager } from "@hcs/store/file-manager";
   * const fm = new FileManager(createRegistry());
   * await fm.ensureDirectory("/src/w1", "memory");
   * await fm.saveBatch(["a", "b"], ["/src/a.tif", "/src/w1/b.tif"], "memory");
   * const n = await fm.mirrorDirectoryWithSymlinks("/src", "/dst", "memory");
   * console.assert(n === 2 && (await fm.load("/dst/w1/b.tif", "memory")) === "b");
   * const again = await fm.mirrorDirectoryWithSymlinks("/src", "/dst", "memory", {
   *   overwriteSymlinksOnly: true,
   * });
   * console.assert(again === 2);
   * ```
   */
  async mirrorDirectoryWithSymlinks(
    src: string,
    dst: string,
    backend: string,
    options: MirrorOptions = {},
  ): Promise<number> {
    const op = "mirrorDirectoryWithSymlinks";
    const recursive = options.recursive ?? true;
    const replaceLinks = options.overwriteSymlinksOnly === true;
    if (typeof src !== "string" || typeof dst !== "string") {
      throw new TypeError(`${op}: src and dst must be strings`);
    }
    const absolute = src.startsWith("/");
    if (!absolute && dst.startsWith("/")) {
      throw new TypeError(
        `${op}: a relative src ('${src}') with an absolute dst ('${dst}') is ambiguous; pass an absolute src`,
      );
    }
    await this.#validateDir(backend, src, op);
    const route: Route = (method, path) => this.#route(backend, method as Method, path);
    return await mirrorTree(route, src, dst, { recursive, replaceLinks, absolute, op });
  }
}

// The contract types this entry's API refers to, so it documents them on its own.
export * from "./backends/base.ts";
