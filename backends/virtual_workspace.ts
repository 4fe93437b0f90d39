/**
 * The virtual-workspace backend: a read-only view that maps virtual paths
 * (the file names a pipeline expects, e.g. `plate/A01_f0_c1.tif`) to sources
 * on other backends, resolved through the registry it is bound to; nothing is
 * copied or linked. The mapping is `<plate>/virtual_workspace.json`
 * (`{ "version": 1, "mappings": { "A01/f0.tif": { "backend", "path", "index"? } } }`),
 * re-read on every operation and re-parsed only when its bytes change.
 * Format and semantics: `docs/design.md` ("Virtual workspace").
 *
 * @example
 * ```ts
 * import { createRegistry } from "@hcs/store";
 * import { VirtualWorkspaceBackend } from "@hcs/store/virtual_workspace";
 * const registry = createRegistry();
 * const mem = await registry.getBackend("memory");
 * await mem.ensureDirectory("/plate");
 * await mem.save("raw", "/raw.txt");
 * await mem.save(
 *   { version: 1, mappings: { "A01/x.txt": { backend: "memory", path: "/raw.txt" } } },
 *   "/plate/virtual_workspace.json",
 * );
 * const vw = new VirtualWorkspaceBackend({ registry, metadataBackend: "memory" });
 * console.assert((await vw.load("/plate/A01/x.txt")) === "raw");
 * console.assert((await vw.listFiles("/plate", { recursive: true }))[0] === "/plate/A01/x.txt");
 * ```
 *
 * @module
 */

import {
  CorruptDataError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  restate,
  StorageError,
  StorageResolutionError,
} from "../errors.ts";
import {
  type AnyBackend,
  type BackendResolver,
  type CapableBackend,
  isNdArray,
  type ListOptions,
  type LoadOptions,
  type NdArray,
  type ReadOnlyBackend,
  type StorageValue,
  type StoreCapabilities,
} from "./base.ts";
import { assertPath, dirname, join, normalize } from "../_internal/paths.ts";
import { breadthFirst } from "../_internal/listing.ts";
import { VirtualTree } from "../_internal/vtree.ts";
import { cStrides, gatherC } from "../_internal/ndarray.ts";

/**
 * The default workspace metadata file name.
 *
 * @example
 * ```ts
 * import { VIRTUAL_WORKSPACE_FILE } from "@hcs/store/virtual_workspace";
 * console.assert(VIRTUAL_WORKSPACE_FILE.endsWith(".json"));
 * ```
 */
export const VIRTUAL_WORKSPACE_FILE = "virtual_workspace.json";

export type { BackendResolver };

/** Options of {@linkcode VirtualWorkspaceBackend}. */
export interface VirtualWorkspaceOptions {
  /** The registry that mapping backends (and the metadata backend) are resolved through. */
  registry: BackendResolver;
  /** Registry key of the backend holding the metadata files (default `"disk"`). */
  metadataBackend?: string;
  /** Metadata file name (default `virtual_workspace.json`). */
  metadataFile?: string;
}

/** One mapping of a workspace metadata file. */
export interface VirtualMapping {
  /** Registry key of the source backend. */
  backend: string;
  /** Source path on that backend (absolute, URL, or relative to the plate directory). */
  path: string;
  /** Indices along the source array's leading axes. */
  index?: number[];
}

interface Workspace {
  /** Virtual path (relative to the plate) → mapping, `path` resolved. */
  mappings: Map<string, VirtualMapping>;
  /** The virtual names as a tree (`""` = plate). */
  tree: VirtualTree;
}

interface Located {
  /** The plate directory (holds the metadata file). */
  plate: string;
  /** The path relative to the plate (`""` for the plate itself). */
  rel: string;
  ws: Workspace;
}

/**
 * Read-only backend over virtual paths mapped to sources on other backends.
 * See the module documentation for the metadata format and semantics.
 *
 * @example
 * ```ts
 * import { createRegistry } from "@hcs/store";
 * import { VirtualWorkspaceBackend } from "@hcs/store/virtual_workspace";
 * const vw = new VirtualWorkspaceBackend({ registry: createRegistry() });
 * console.assert(vw.key === "virtual_workspace" && vw.requiresFilesystemValidation === false);
 * ```
 */
export class VirtualWorkspaceBackend implements ReadOnlyBackend, CapableBackend {
  /** Registry key. */
  readonly key: string = "virtual_workspace";
  /**
   * Reads and lists its virtual names; nothing else (no writes, ranges,
   * conditional writes or locks: those belong to the sources).
   */
  readonly capabilities: StoreCapabilities = Object.freeze({
    read: true,
    write: false,
    list: true,
    rangeRead: false,
    atomicCreate: false,
    compareAndSwap: false,
    crossProcessLock: false,
  });
  /** Read-only backends do not validate paths as a filesystem. */
  readonly requiresFilesystemValidation: false = false;
  /** Which implementation this is. */
  readonly implementation: string = "mapped";

  readonly #registry: BackendResolver;
  readonly #metadataKey: string;
  readonly #file: string;
  #cache = new Map<string, { bytes: Uint8Array; ws: Workspace }>();

  /**
   * Creates a virtual-workspace backend bound to a registry.
   *
   * @param options the registry to resolve through, the metadata backend and file name
   */
  constructor(options: VirtualWorkspaceOptions) {
    if (!options || typeof options.registry?.getBackend !== "function") {
      throw new TypeError("VirtualWorkspaceBackend: a registry is required");
    }
    this.#registry = options.registry;
    this.#metadataKey = options.metadataBackend ?? "disk";
    this.#file = options.metadataFile ?? VIRTUAL_WORKSPACE_FILE;
    if (this.#file === "" || this.#file.includes("/")) {
      throw new TypeError("VirtualWorkspaceBackend: metadataFile must be a plain file name");
    }
  }

  /** Loads the source a virtual path maps to (sliced by its `index`). */
  async load<T = StorageValue>(path: string, options: LoadOptions = {}): Promise<T> {
    const [value] = await this.#loadMany([path], options, "load");
    return value as T;
  }

  /** Loads many virtual paths in order; each distinct source is loaded once. */
  loadBatch<T = StorageValue>(paths: readonly string[], options: LoadOptions = {}): Promise<T[]> {
    if (!Array.isArray(paths)) {
      return Promise.reject(new TypeError("loadBatch: paths must be an array"));
    }
    return this.#loadMany(paths, options, "loadBatch") as Promise<T[]>;
  }

  /** The mapping a virtual path resolves to (source path resolved); `NotFoundError` if unmapped. */
  async resolve(path: string): Promise<VirtualMapping & { metadata: string }> {
    const { plate, rel, ws } = await this.#locate(path, "resolve", false);
    const m = ws.mappings.get(rel);
    if (!m) throw this.#missing("resolve", path, rel, ws);
    return { ...m, ...(m.index ? { index: [...m.index] } : {}), metadata: join(plate, this.#file) };
  }

  /** True for a virtual file or directory; false if unmapped. */
  async exists(path: string): Promise<boolean> {
    try {
      await this.#kind(path, "exists");
      return true;
    } catch (err) {
      if (err instanceof NotFoundError || err instanceof NotADirectoryError) return false;
      throw err;
    }
  }

  /** True for a mapped name; `IsADirectoryError` for a virtual directory; `NotFoundError` otherwise. */
  async isFile(path: string): Promise<boolean> {
    if ((await this.#kind(path, "isFile")) === "dir") throw new IsADirectoryError("isFile", path);
    return true;
  }

  /** True for a virtual directory; `NotADirectoryError` for a mapped name; `NotFoundError` otherwise. */
  async isDir(path: string): Promise<boolean> {
    if ((await this.#kind(path, "isDir")) === "file") throw new NotADirectoryError("isDir", path);
    return true;
  }

  /** Entry names of a virtual directory, natural order. */
  async listDir(path: string): Promise<string[]> {
    const { rel, ws } = await this.#locate(path, "listDir", true);
    const names = ws.tree.names(rel);
    if (!names) {
      if (ws.mappings.has(rel)) throw new NotADirectoryError("listDir", path);
      throw new NotFoundError("listDir", path);
    }
    return names;
  }

  /** Virtual file names under `dir`, breadth-first, natural order within a depth. */
  async listFiles(dir: string, options: ListOptions = {}): Promise<string[]> {
    const { rel, ws } = await this.#locate(dir, "listFiles", true);
    if (ws.tree.kind(rel) !== "dir") {
      if (ws.mappings.has(rel)) throw new NotADirectoryError("listFiles", dir);
      throw new NotFoundError("listFiles", dir);
    }
    const listed = dir.length > 1 && dir.endsWith("/") ? dir.slice(0, -1) : dir;
    return await breadthFirst(
      listed,
      (sub) => ws.tree.entries(sub === "" ? rel : rel === "" ? sub : `${rel}/${sub}`),
      options,
    );
  }

  // ---------------------------------------------------------------- internals

  async #kind(path: string, op: string): Promise<"file" | "dir"> {
    const { rel, ws } = await this.#locate(path, op, true);
    const kind = ws.tree.kind(rel);
    if (kind === undefined) throw new NotFoundError(op, path);
    return kind;
  }

  #missing(op: string, path: string, rel: string, ws: Workspace): StorageError {
    if (ws.tree.kind(rel) === "dir") return new IsADirectoryError(op, path);
    return new NotFoundError(op, path, "no such virtual file (not mapped in the workspace)");
  }

  async #loadMany(
    paths: readonly string[],
    options: LoadOptions,
    op: string,
  ): Promise<StorageValue[]> {
    const asBytes = options.as === "bytes";
    // Resolve every path (one metadata read per plate directory per call).
    const seen = new Map<string, Promise<Located>>();
    const located = await Promise.all(paths.map((p) => {
      assertPath(p, op);
      const start = dirname(clean(p));
      let l = seen.get(start);
      if (!l) {
        l = this.#locate(p, op, false);
        seen.set(start, l);
      }
      return l.then((r) => ({ ...r, rel: relativeTo(r.plate, clean(p)) }));
    }));
    const mappings = located.map((l, i) => {
      const m = l.ws.mappings.get(l.rel);
      if (!m) throw this.#missing(op, paths[i]!, l.rel, l.ws);
      if (m.index && asBytes) {
        throw new StorageError(
          op,
          paths[i]!,
          "a mapping with an index selects part of an array and cannot be read as bytes",
          { code: "ERR_UNSUPPORTED_FORMAT" },
        );
      }
      return m;
    });
    // Group distinct sources per backend and load each backend's sources in one batch.
    const byBackend = new Map<string, { sources: string[]; first: string[] }>();
    for (let i = 0; i < mappings.length; i++) {
      const m = mappings[i]!;
      const key = m.backend.toLowerCase();
      let g = byBackend.get(key);
      if (!g) byBackend.set(key, g = { sources: [], first: [] });
      if (!g.sources.includes(m.path)) {
        g.sources.push(m.path);
        g.first.push(paths[i]!);
      }
    }
    const loaded = new Map<string, StorageValue>();
    await Promise.all([...byBackend].map(async ([key, g]) => {
      const backend = await this.#source(key, op, g.first[0]!);
      let values: StorageValue[];
      try {
        values = g.sources.length === 1
          ? [await backend.load(g.sources[0]!, options)]
          : await backend.loadBatch(g.sources, options);
      } catch (err) {
        throw wrapSourceError(err, op, paths, mappings);
      }
      g.sources.forEach((s, i) => loaded.set(`${key}\0${s}`, values[i]!));
    }));
    return mappings.map((m, i) => {
      const value = loaded.get(`${m.backend.toLowerCase()}\0${m.path}`)!;
      return m.index ? sliceLeading(value, m.index, op, paths[i]!) : value;
    });
  }

  async #source(key: string, op: string, path: string): Promise<AnyBackend> {
    if (key === this.key || key === "virtual_workspace") {
      throw new StorageResolutionError(
        op,
        path,
        `mapping points at another virtual workspace ('${key}'); sources must be real backends`,
      );
    }
    const backend = await this.#registry.getBackend(key);
    if (backend instanceof VirtualWorkspaceBackend || backend.key === "virtual_workspace") {
      throw new StorageResolutionError(
        op,
        path,
        `backend '${key}' is a virtual workspace; sources must be real backends`,
      );
    }
    return backend;
  }

  /** Finds the nearest workspace at (if `self`) or above `path` and reads it. */
  async #locate(path: string, op: string, self: boolean): Promise<Located> {
    assertPath(path, op);
    const p = clean(path);
    const meta = await this.#registry.getBackend(this.#metadataKey);
    let dir = self ? p : dirname(p);
    for (;;) {
      const file = join(dir, this.#file);
      let bytes: Uint8Array | undefined;
      try {
        bytes = await meta.load<Uint8Array>(file, { as: "bytes" });
      } catch (err) {
        if (
          !(err instanceof NotFoundError || err instanceof NotADirectoryError ||
            err instanceof IsADirectoryError)
        ) throw err;
      }
      if (bytes) return { plate: dir, rel: relativeTo(dir, p), ws: this.#parse(dir, file, bytes) };
      if (dir === "/" || dir === ".") break;
      dir = dirname(dir);
    }
    throw new NotFoundError(op, path, `no ${this.#file} at or above this path`);
  }

  #parse(plate: string, file: string, bytes: Uint8Array): Workspace {
    const hit = this.#cache.get(plate);
    if (hit && sameBytes(hit.bytes, bytes)) return hit.ws;
    const ws = parseWorkspace(plate, file, bytes);
    this.#cache.set(plate, { bytes: bytes.slice(), ws });
    return ws;
  }
}

// ------------------------------------------------------------------ helpers

function clean(path: string): string {
  return normalize(path);
}

/** `p` relative to `dir` (both normalised; `p` at or below `dir`). */
function relativeTo(dir: string, p: string): string {
  if (p === dir) return "";
  if (dir === ".") return p;
  return p.slice(dir === "/" ? 1 : dir.length + 1);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function parseWorkspace(plate: string, file: string, bytes: Uint8Array): Workspace {
  const bad = (why: string, cause?: unknown) =>
    new CorruptDataError("load", file, `invalid virtual workspace metadata: ${why}`, { cause });
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw bad("not valid JSON", err);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw bad("expected an object");
  }
  const { version, mappings } = doc as { version?: unknown; mappings?: unknown };
  if (version !== 1) throw bad(`unsupported version ${JSON.stringify(version)} (expected 1)`);
  if (typeof mappings !== "object" || mappings === null || Array.isArray(mappings)) {
    throw bad('"mappings" must be an object');
  }
  const ws: Workspace = { mappings: new Map(), tree: new VirtualTree() };
  for (const [key, raw] of Object.entries(mappings as Record<string, unknown>)) {
    const rel = normalize(`/${key}`).slice(1);
    if (rel === "" || key.split("/").includes("..") || key.includes("\0")) {
      throw bad(`virtual path '${key}' is not inside the plate`);
    }
    if (typeof raw !== "object" || raw === null) throw bad(`mapping '${key}' must be an object`);
    const m = raw as { backend?: unknown; path?: unknown; index?: unknown };
    if (typeof m.backend !== "string" || m.backend === "") {
      throw bad(`mapping '${key}': "backend" must be a registry key`);
    }
    if (typeof m.path !== "string" || m.path === "" || m.path.includes("\0")) {
      throw bad(`mapping '${key}': "path" must be a non-empty string`);
    }
    let index: number[] | undefined;
    if (m.index !== undefined) {
      if (
        !Array.isArray(m.index) ||
        !m.index.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)
      ) {
        throw bad(`mapping '${key}': "index" must be an array of non-negative integers`);
      }
      index = m.index as number[];
    }
    const source = /^[a-z][a-z0-9+.-]*:\/\//i.test(m.path) || m.path.startsWith("/")
      ? m.path
      : join(plate, m.path);
    const mapping: VirtualMapping = { backend: m.backend, path: source };
    if (index) mapping.index = index;
    const conflict = ws.tree.addFile(rel);
    if (conflict) throw bad(conflict.replace("is listed twice", "is mapped twice"));
    ws.mappings.set(rel, mapping);
  }
  return ws;
}

/** Selects `index` along the leading axes of an array (a view where contiguous). */
function sliceLeading(value: StorageValue, index: number[], op: string, path: string): NdArray {
  if (!isNdArray(value)) {
    throw new StorageResolutionError(
      op,
      path,
      "mapping has an index but its source is not an array",
    );
  }
  const { data, shape, stride } = value;
  if (index.length > shape.length) {
    throw new StorageResolutionError(
      op,
      path,
      `index [${index}] has more axes than the source shape [${shape}]`,
    );
  }
  let offset = 0;
  for (let i = 0; i < index.length; i++) {
    if (index[i]! >= shape[i]!) {
      throw new StorageResolutionError(
        op,
        path,
        `index [${index}] is out of range for the source shape [${shape}]`,
      );
    }
    offset += index[i]! * stride[i]!;
  }
  const rest = shape.slice(index.length);
  const restStride = stride.slice(index.length);
  return { data: gatherC(data, rest, restStride, offset), shape: rest, stride: cStrides(rest) };
}

/** Source errors name the virtual path that needed the source. */
function wrapSourceError(
  err: unknown,
  op: string,
  paths: readonly string[],
  mappings: VirtualMapping[],
): unknown {
  if (!(err instanceof StorageError)) return err;
  const i = mappings.findIndex((m) => m.path === err.path);
  if (i < 0) return err;
  return restate(err, op, paths[i]!, `source ${mappings[i]!.backend}:'${err.path}': ${err.reason}`);
}

// The contract types (and base class) this entry's API refers to, so it documents them on its own.
export * from "./base.ts";
