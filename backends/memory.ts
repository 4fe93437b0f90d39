/**
 * The memory backend: a real directory tree held in maps, so listings cost
 * what they return, not the size of the store.
 *
 * Values are stored by reference (no copy on `save`, as in the reference);
 * `copy` clones them. Relative paths are taken from the root `/`.
 *
 * @example
 * ```ts
 * import { MemoryBackend } from "@hcs/store/memory";
 * const mem = new MemoryBackend();
 * await mem.ensureDirectory("/plate/A01");
 * await mem.save({ data: new Uint16Array(4), shape: [2, 2], stride: [2, 1] }, "/plate/A01/f0.tif");
 * console.assert((await mem.listFiles("/plate", { recursive: true }))[0] === "/plate/A01/f0.tif");
 * ```
 *
 * @module
 */

import {
  AlreadyExistsError,
  DirectoryNotEmptyError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  StorageError,
} from "../errors.ts";
import {
  AbstractStorageBackend,
  type ConditionalWriter,
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
import { assertPath, normalize } from "../_internal/paths.ts";
import { breadthFirst, type ListEntry, naturalSort } from "../_internal/listing.ts";
import { assertStorable, checkBatch, valueToBytes } from "../_internal/values.ts";

interface DirNode {
  kind: "dir";
  children: Map<string, Node>;
}
interface FileNode {
  kind: "file";
  value: StorageValue;
  /** Changes on every write of this path (the `ConditionalWriter` token). */
  version: number;
}

/** Versions are unique across every memory store of the process. */
let lastVersion = 0;

function fileNode(value: StorageValue): FileNode {
  return { kind: "file", value, version: ++lastVersion };
}
interface LinkNode {
  kind: "symlink";
  target: string;
}
type Node = DirNode | FileNode | LinkNode;

/** Result of walking to a path: the entry (if any) and its parent directory. */
interface Walk {
  node: Node | undefined;
  /** Parent directory, undefined if it does not exist (or for the root). */
  parent: DirNode | undefined;
  name: string;
  /** Canonical segments of the entry (intermediate symlinks resolved). */
  segs: string[];
  /** True when the path ended at a symlink that was followed but is broken. */
  broken?: boolean;
}

const MAX_LINKS = 40;

/**
 * The one error path of this backend: a tree operation runs synchronously
 * and whatever it throws (always a typed `StorageError` or a `TypeError`)
 * becomes the returned promise's rejection, never a synchronous throw.
 */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err);
  }
}

/** A range request must be non-negative safe integers. */
function checkRange(offset: number, length: number, op: string): void {
  for (const [name, v] of [["offset", offset], ["length", length]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(`${op}: ${name} must be a non-negative integer, got ${v}`);
    }
  }
}

function newDir(): DirNode {
  return { kind: "dir", children: new Map() };
}

function cloneNode(node: Node): Node {
  if (node.kind === "file") {
    return fileNode(typeof node.value === "object" ? structuredClone(node.value) : node.value);
  }
  if (node.kind === "symlink") return { kind: "symlink", target: node.target };
  const dir = newDir();
  for (const [name, child] of node.children) dir.children.set(name, cloneNode(child));
  return dir;
}

/**
 * An in-memory {@linkcode AbstractStorageBackend} with directories, files and
 * symlinks.
 *
 * @example
 * ```ts
 * import { MemoryBackend } from "@hcs/store/memory";
 * const mem = new MemoryBackend();
 * await mem.save("a", "/a.txt");
 * await mem.createSymlink("/a.txt", "/link.txt");
 * console.assert((await mem.load("/link.txt")) === "a");
 * ```
 */
export class MemoryBackend extends AbstractStorageBackend
  implements RangeReader, ConditionalWriter {
  /** Registry key. */
  readonly key: string;
  /**
   * Everything, within one process: reads, writes and listings of its own
   * tree, range reads, atomic create-if-absent and compare-and-swap (a
   * version counter); no cross-process lock (nothing is shared).
   */
  readonly capabilities: StoreCapabilities = Object.freeze({
    read: true,
    write: true,
    list: true,
    rangeRead: true,
    atomicCreate: true,
    compareAndSwap: true,
    crossProcessLock: false,
  });
  /** How this backend stores its tree. */
  readonly implementation: string = "tree";
  #root: DirNode = newDir();

  /**
   * Creates an empty store.
   *
   * @param key the registry key (default `"memory"`)
   */
  constructor(key = "memory") {
    super();
    this.key = key;
  }

  #segments(path: string, op: string): string[] {
    assertPath(path, op);
    const n = normalize(path.startsWith("/") ? path : `/${path}`);
    return n === "/" ? [] : n.slice(1).split("/");
  }

  #canonical = (path: string): string => this.#segments(path, "saveBatch").join("/");

  /** Resolves `segs`; intermediate symlinks are always followed, the last one if `follow`. */
  #walk(segs: string[], follow: boolean, op: string, path: string, depth = 0): Walk {
    if (depth > MAX_LINKS) {
      throw new StorageError(op, path, "too many levels of symbolic links", { code: "ELOOP" });
    }
    let cur: Node = this.#root;
    let curSegs: string[] = [];
    if (segs.length === 0) return { node: cur, parent: undefined, name: "", segs: [] };
    for (let i = 0; i < segs.length; i++) {
      const name = segs[i]!;
      const last = i === segs.length - 1;
      if (cur.kind !== "dir") throw new NotADirectoryError(op, path);
      const dir: DirNode = cur;
      const child = dir.children.get(name);
      if (!child) {
        if (last) return { node: undefined, parent: dir, name, segs: [...curSegs, name] };
        return { node: undefined, parent: undefined, name, segs: [...curSegs, name] };
      }
      if (child.kind === "symlink" && (!last || follow)) {
        const targetSegs = this.#linkTarget(child.target, curSegs);
        const r = this.#walk(targetSegs, true, op, path, depth + 1);
        if (!r.node) {
          if (last) {
            return { node: undefined, parent: dir, name, segs: [...curSegs, name], broken: true };
          }
          return { node: undefined, parent: undefined, name, segs: r.segs };
        }
        cur = r.node;
        curSegs = r.segs;
        if (last) return { node: cur, parent: dir, name, segs: curSegs };
        continue;
      }
      if (last) return { node: child, parent: dir, name, segs: [...curSegs, name] };
      cur = child;
      curSegs = [...curSegs, name];
    }
    /* c8 ignore next */
    throw new StorageError(op, path, "unreachable");
  }

  #linkTarget(target: string, linkDirSegs: string[]): string[] {
    const abs = target.startsWith("/") ? target : `/${[...linkDirSegs, target].join("/")}`;
    const n = normalize(abs);
    return n === "/" ? [] : n.slice(1).split("/");
  }

  #get(path: string, follow: boolean, op: string): Walk {
    return this.#walk(this.#segments(path, op), follow, op, path);
  }

  /** The parent directory for creating `path`; throws if it is missing. */
  #parentFor(path: string, op: string): Walk & { parent: DirNode } {
    const w = this.#get(path, false, op);
    if (w.segs.length === 0) throw new AlreadyExistsError(op, path, "is the root directory");
    if (!w.parent) throw new NotFoundError(op, path, "parent directory does not exist");
    return w as Walk & { parent: DirNode };
  }

  #checkTarget(w: Walk, path: string, op: string, overwrite: boolean): void {
    if (!w.node && !w.broken && !w.parent?.children.has(w.name)) return;
    const existing = w.parent?.children.get(w.name);
    if (existing?.kind === "dir") throw new IsADirectoryError(op, path);
    if (!overwrite) throw new AlreadyExistsError(op, path);
  }

  /** Saves a value; `{ overwrite: true }` replaces an existing file or link. */
  save(data: StorageValue, path: string, options: SaveOptions = {}): Promise<void> {
    return settle(() => {
      assertStorable(data, "save", path);
      const w = this.#parentFor(path, "save");
      this.#checkTarget(w, path, "save", options.overwrite === true);
      w.parent.children.set(w.name, fileNode(data));
      return;
    });
  }

  /** Saves every value or none: all targets are checked before the first write. */
  saveBatch(
    data: readonly StorageValue[],
    paths: readonly string[],
    options: SaveOptions = {},
  ): Promise<void> {
    return settle(() => {
      checkBatch(data, paths, "saveBatch", this.#canonical);
      const targets = paths.map((p, i) => {
        assertStorable(data[i], "saveBatch", p);
        const w = this.#parentFor(p, "saveBatch");
        this.#checkTarget(w, p, "saveBatch", options.overwrite === true);
        return w;
      });
      targets.forEach((w, i) => w.parent.children.set(w.name, fileNode(data[i]!)));
      return;
    });
  }

  /** Loads a value (through symlinks); `{ as: "bytes" }` gives its raw bytes. */
  load<T = StorageValue>(path: string, options: LoadOptions = {}): Promise<T> {
    return settle(() => {
      const w = this.#get(path, true, "load");
      if (!w.node) throw new NotFoundError("load", path, "no such file");
      if (w.node.kind === "dir") throw new IsADirectoryError("load", path);
      const value = w.node.kind === "file" ? w.node.value : undefined;
      if (value === undefined) throw new NotFoundError("load", path, "no such file");
      return (options.as === "bytes" ? valueToBytes(value, "load", path) : value) as T;
    });
  }

  #dirNode(path: string, op: string): DirNode {
    const w = this.#get(path, true, op);
    if (!w.node) throw new NotFoundError(op, path, "no such directory");
    if (w.node.kind !== "dir") throw new NotADirectoryError(op, path);
    return w.node;
  }

  /** Breadth-first file listing; cost proportional to the subtree listed. */
  async listFiles(dir: string, options: ListOptions = {}): Promise<string[]> {
    const top = this.#dirNode(dir, "listFiles");
    const dirs = new Map<string, DirNode>([["", top]]);
    return await breadthFirst(dir, (rel) => {
      const node = dirs.get(rel)!;
      const entries: ListEntry[] = [];
      for (const [name, child] of node.children) {
        let kind: ListEntry["kind"] = "file";
        if (child.kind === "dir") {
          kind = "dir";
          if (options.recursive) dirs.set(rel === "" ? name : `${rel}/${name}`, child);
        } else if (child.kind === "symlink") {
          kind = this.#linkPointsAtDir(child, rel, dir) ? "skip" : "file";
        }
        entries.push({ name, kind });
      }
      return entries;
    }, options);
  }

  #linkPointsAtDir(link: LinkNode, rel: string, dir: string): boolean {
    const base = this.#segments(dir, "listFiles");
    const dirSegs = this.#walk(base, true, "listFiles", dir).segs;
    const linkDir = rel === "" ? dirSegs : [...dirSegs, ...rel.split("/")];
    try {
      const r = this.#walk(this.#linkTarget(link.target, linkDir), true, "listFiles", dir);
      return r.node?.kind === "dir";
    } catch {
      return false;
    }
  }

  /** True for a file (through symlinks). */
  isFile(path: string): Promise<boolean> {
    return settle(() => {
      const w = this.#get(path, true, "isFile");
      if (!w.node) throw new NotFoundError("isFile", path);
      if (w.node.kind === "dir") throw new IsADirectoryError("isFile", path);
      return true;
    });
  }

  /** True for a directory (through symlinks). */
  isDir(path: string): Promise<boolean> {
    return settle(() => {
      const w = this.#get(path, true, "isDir");
      if (!w.node) throw new NotFoundError("isDir", path);
      if (w.node.kind !== "dir") throw new NotADirectoryError("isDir", path);
      return true;
    });
  }

  /** Entry names in natural order. */
  listDir(path: string): Promise<string[]> {
    return settle(() => {
      return naturalSort([...this.#dirNode(path, "listDir").children.keys()]);
    });
  }

  /** Removes a file, a symlink or an empty directory. */
  delete(path: string): Promise<void> {
    return settle(() => {
      const w = this.#get(path, false, "delete");
      if (w.segs.length === 0) {
        throw new StorageError("delete", path, "cannot delete the root", { code: "EBUSY" });
      }
      if (!w.node && !w.broken) throw new NotFoundError("delete", path);
      const node = w.parent!.children.get(w.name)!;
      if (node.kind === "dir" && node.children.size > 0) {
        throw new DirectoryNotEmptyError("delete", path);
      }
      w.parent!.children.delete(w.name);
      return;
    });
  }

  /** Removes a path and everything below it. */
  deleteAll(path: string): Promise<void> {
    return settle(() => {
      const w = this.#get(path, false, "deleteAll");
      if (w.segs.length === 0) {
        throw new StorageError("deleteAll", path, "cannot delete the root", { code: "EBUSY" });
      }
      if (!w.node && !w.broken) throw new NotFoundError("deleteAll", path);
      w.parent!.children.delete(w.name);
      return;
    });
  }

  /** Creates a directory and its parents. */
  ensureDirectory(path: string): Promise<void> {
    return settle(() => {
      const segs = this.#segments(path, "ensureDirectory");
      for (let i = 1; i <= segs.length; i++) {
        const w = this.#walk(segs.slice(0, i), true, "ensureDirectory", path);
        if (w.node) {
          if (w.node.kind !== "dir") throw new NotADirectoryError("ensureDirectory", path);
          continue;
        }
        if (w.broken) {
          throw new AlreadyExistsError("ensureDirectory", path, "a broken symlink is in the way");
        }
        w.parent!.children.set(w.name, newDir());
      }
      return;
    });
  }

  /** Creates `link` → `target` (target stored as written, resolved from the link's directory). */
  createSymlink(target: string, link: string, options: SymlinkOptions = {}): Promise<void> {
    return settle(() => {
      assertPath(target, "createSymlink");
      const w = this.#parentFor(link, "createSymlink");
      const parentSegs = w.segs.slice(0, -1);
      const t = this.#walk(this.#linkTarget(target, parentSegs), true, "createSymlink", target);
      if (!t.node) throw new NotFoundError("createSymlink", target, "link target does not exist");
      this.#checkTarget(w, link, "createSymlink", options.overwrite === true);
      w.parent.children.set(w.name, { kind: "symlink", target });
      return;
    });
  }

  /** True only for a symlink. */
  isSymlink(path: string): Promise<boolean> {
    return settle(() => {
      try {
        return this.#get(path, false, "isSymlink").node?.kind === "symlink";
      } catch (err) {
        if (err instanceof NotADirectoryError || err instanceof NotFoundError) return false;
        throw err;
      }
    });
  }

  #transfer(src: string, dst: string, op: "move" | "copy"): void {
    const s = this.#get(src, op === "copy", op);
    if (s.segs.length === 0) {
      throw new StorageError(op, src, "cannot move or copy the root", { code: "EBUSY" });
    }
    const srcNode = op === "copy" ? s.node : s.parent?.children.get(s.name);
    if (!srcNode) throw new NotFoundError(op, src);
    const d = this.#parentFor(dst, op);
    if (d.parent.children.has(d.name)) throw new AlreadyExistsError(op, dst);
    if (srcNode.kind === "dir") {
      const dstSegs = d.segs;
      const srcSegs = op === "copy" ? s.segs : s.segs;
      if (dstSegs.length > srcSegs.length && srcSegs.every((x, i) => dstSegs[i] === x)) {
        throw new StorageError(op, dst, `cannot ${op} a directory into itself`, { code: "EINVAL" });
      }
    }
    if (op === "move") {
      s.parent!.children.delete(s.name);
      d.parent.children.set(d.name, srcNode);
    } else {
      d.parent.children.set(d.name, cloneNode(srcNode));
    }
  }

  /** Moves a file, link or tree (O(1)); refuses an existing destination. */
  move(src: string, dst: string): Promise<void> {
    return settle(() => {
      this.#transfer(src, dst, "move");
      return;
    });
  }

  /**
   * Copies a file or tree (values cloned). A symlink given as `src` is
   * followed; symlinks inside a tree are copied as links.
   */
  copy(src: string, dst: string): Promise<void> {
    return settle(() => {
      this.#transfer(src, dst, "copy");
      return;
    });
  }

  /** Describes a path without following a final symlink. */
  stat(path: string): Promise<StatResult> {
    return settle(() => {
      let w: Walk;
      try {
        w = this.#get(path, false, "stat");
      } catch (err) {
        if (err instanceof NotADirectoryError) {
          return { type: "missing", path, exists: false };
        }
        throw err;
      }
      const node = w.node;
      if (!node) return { type: "missing", path, exists: false };
      if (node.kind === "symlink") {
        let exists = false;
        try {
          exists = this.#get(path, true, "stat").node !== undefined;
        } catch {
          exists = false;
        }
        return { type: "symlink", path, exists, target: node.target };
      }
      if (node.kind === "dir") return { type: "directory", path, exists: true };
      const result: StatResult = { type: "file", path, exists: true };
      const v = node.value;
      if (v instanceof Uint8Array) result.size = v.byteLength;
      return result;
    });
  }

  /** The file node at `path` (through symlinks), or undefined when absent. */
  #fileAt(path: string, op: string): FileNode | undefined {
    const w = this.#get(path, true, op);
    if (w.node?.kind === "dir") throw new IsADirectoryError(op, path);
    return w.node?.kind === "file" ? w.node : undefined;
  }

  /**
   * Bytes `[offset, offset + length)` of the file's raw bytes (fewer only at
   * its end); a copy, never a view of the stored value.
   */
  loadRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    return settle(() => {
      const op = "loadRange";
      checkRange(offset, length, op);
      const node = this.#fileAt(path, op);
      if (!node) throw new NotFoundError(op, path, "no such file");
      const bytes = valueToBytes(node.value, op, path);
      return bytes.slice(
        Math.min(offset, bytes.byteLength),
        Math.min(offset + length, bytes.byteLength),
      );
    });
  }

  /** The file's raw bytes and its version token; undefined when absent. */
  loadVersioned(path: string): Promise<VersionedBytes | undefined> {
    return settle(() => {
      const node = this.#fileAt(path, "loadVersioned");
      if (!node) return undefined;
      return {
        bytes: valueToBytes(node.value, "loadVersioned", path),
        version: `m${node.version}`,
      };
    });
  }

  /**
   * Writes `bytes` only if the file's version is still `expected` (`null`:
   * only if absent); the new version, or `false` when another write came
   * first. Check and write are one synchronous step.
   */
  saveIfVersion(bytes: Uint8Array, path: string, expected: string | null): Promise<string | false> {
    return settle(() => {
      const op = "saveIfVersion";
      if (!(bytes instanceof Uint8Array)) throw new TypeError(`${op}: bytes must be a Uint8Array`);
      const w = this.#parentFor(path, op);
      const existing = w.parent.children.get(w.name);
      if (existing?.kind === "dir") throw new IsADirectoryError(op, path);
      const current = this.#fileAt(path, op);
      if (
        expected === null
          ? existing !== undefined
          : current === undefined || `m${current.version}` !== expected
      ) {
        return false;
      }
      const node = fileNode(bytes);
      w.parent.children.set(w.name, node);
      return `m${node.version}`;
    });
  }

  /** Removes every file and symlink, keeping the directory tree. */
  clearFilesOnly(): void {
    const stack: DirNode[] = [this.#root];
    while (stack.length) {
      const dir = stack.pop()!;
      for (const [name, child] of dir.children) {
        if (child.kind === "dir") stack.push(child);
        else dir.children.delete(name);
      }
    }
  }

  /** Removes everything, directories included. */
  clear(): void {
    this.#root = newDir();
  }
}

// The contract types (and base class) this entry's API refers to, so it documents them on its own.
export * from "./base.ts";
