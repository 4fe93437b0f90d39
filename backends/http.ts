/**
 * The HTTP backend: a read-only {@linkcode ReadOnlyBackend} over `fetch`, with
 * range reads, bounded-concurrency batches, retries with exponential backoff,
 * timeouts and `AbortSignal`s. It imports nothing runtime-specific, so it runs
 * on Deno, Bun, Node and edge runtimes (Deno Deploy, Cloudflare workerd).
 *
 * Paths are absolute URLs (`https://host/plate/a.tif`) or paths relative to
 * `baseUrl` (a leading `/` is taken from `baseUrl`, not from the host root:
 * with `baseUrl: "https://host/data/"`, `/plate/a.tif` is
 * `https://host/data/plate/a.tif`).
 *
 * Errors: 404/410 → `NotFoundError`, 401/403 → `PermissionDeniedError`, other
 * statuses → `StorageError` with `status` set. 5xx, 408, 429, network errors,
 * timeouts and truncated bodies are retried (`retries` times, delays
 * `retryDelayMs · 2^attempt` with jitter); everything else fails at once. A
 * body shorter than its `Content-Length` (or than the requested range) is an
 * error, never short data. An abort (backend-wide or per call) throws a
 * `StorageError` with code `ABORT_ERR` and is never retried.
 *
 * Listings (`listDir`, `listFiles`, `isDir`, …) come from:
 * 1. a **manifest**: a JSON file (default `index.json`) in a directory that
 *    describes the whole subtree below that directory:
 *    ```json
 *    { "files": ["a.tif", "sub/b.tif"], "dirs": ["empty"] }
 *    ```
 *    `files` are paths relative to the manifest's directory (`/`-separated;
 *    parents are implied directories); the optional `dirs` lists directories
 *    that hold no file. The manifest file itself is not listed. The nearest
 *    manifest at or above a path answers for it, authoritatively.
 * 2. otherwise a **Zarr hierarchy**: a directory holding `zarr.json` (v3) or
 *    `.zgroup`/`.zarray` (v2) is a directory; its metadata files are its
 *    files; its children come from consolidated metadata (`zarr.json`
 *    `consolidated_metadata`, v2 `.zmetadata`) or from OME-NGFF attributes of
 *    it and its ancestors (plate wells, well images, multiscale datasets).
 *    Chunks are not listed (a server cannot say which exist), but `exists`,
 *    `isFile` and `load` work on them.
 * 3. otherwise, for single paths, a `HEAD` request: a URL that answers 2xx is
 *    a file.
 *
 * Manifests and Zarr metadata used for listings are cached per instance;
 * {@linkcode HttpBackend.clearCache} drops the cache.
 *
 * @example
 * ```ts
 * import { HttpBackend } from "@hcs/store/http";
 * const http = new HttpBackend({ baseUrl: "https://example.org/plates/", retries: 2 });
 * console.assert(http.key === "http" && http.requiresFilesystemValidation === false);
 * // const plane = await http.load("/P1/A01_f0.tif");
 * // const head = await http.loadRange("/P1/A01_f0.tif", 0, 8);
 * ```
 *
 * @module
 */

import {
  httpStatusError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  restate,
  StorageError,
} from "../errors.ts";
import type { ListOptions, LoadOptions, ReadOnlyBackend, StorageValue } from "./base.ts";
import { assertPath, normalize } from "../_internal/paths.ts";
import { breadthFirst, type ListEntry, naturalSort } from "../_internal/listing.ts";
import { decodeForPath } from "../formats/mod.ts";

/** Headers, or a function giving them per request (e.g. a refreshed token). */
export type HttpHeaders = HeadersInit | (() => HeadersInit | Promise<HeadersInit>);

/** Options of {@linkcode HttpBackend}. */
export interface HttpBackendOptions {
  /** Base URL that relative paths are resolved against (a trailing `/` is added). */
  baseUrl?: string;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
  /** Extra request headers (auth), or a function returning them per request. */
  headers?: HttpHeaders;
  /** How many times a retryable failure is retried (default 3; 0 disables). */
  retries?: number;
  /** First backoff delay in ms, doubled per attempt (default 100). */
  retryDelayMs?: number;
  /** Longest backoff delay in ms (default 5000). */
  maxRetryDelayMs?: number;
  /** Per-attempt timeout in ms, body included (default 30000; 0 disables). */
  timeoutMs?: number;
  /** Most requests `loadBatch` keeps in flight (default 8). */
  concurrency?: number;
  /** Aborts every request of this backend. */
  signal?: AbortSignal;
  /** Manifest file name looked up in directories (default `"index.json"`). */
  manifest?: string;
}

/** Per-call options of the HTTP backend's reads. */
export interface HttpLoadOptions extends LoadOptions {
  /** Aborts this call (in addition to the backend-wide signal). */
  signal?: AbortSignal;
}

/** Per-call options of the HTTP backend's listings. */
export interface HttpListOptions extends ListOptions {
  /** Aborts this call (in addition to the backend-wide signal). */
  signal?: AbortSignal;
}

/** A parsed manifest: directory (relative, `""` = manifest dir) → entries. */
interface Tree {
  dirs: Map<string, { files: Set<string>; dirs: Set<string> }>;
}

/** What a Zarr metadata lookup learned about one directory. */
interface ZarrNode {
  kind: "group" | "array";
  /** Metadata file names present in the directory. */
  files: string[];
  /** Relative paths of descendant nodes known from this node's metadata. */
  descendants: string[];
  /** For consolidated v2 metadata: relative paths of metadata files below. */
  descendantFiles: string[];
}

interface Attempt {
  response: Response;
  bytes: Uint8Array | undefined;
}

const ABSOLUTE = /^[a-z][a-z0-9+.-]*:\/\//i;
const COLLAPSED = /^(https?):\/+/i;
const RETRY_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

/**
 * Read-only backend over HTTP(S) `fetch`. See the module documentation for
 * path resolution, errors, retries and listings.
 *
 * @example
 * ```ts
 * import { HttpBackend } from "@hcs/store/http";
 * const http = new HttpBackend({
 *   baseUrl: "https://example.org/data",
 *   headers: () => ({ authorization: "Bearer token" }),
 *   timeoutMs: 10_000,
 * });
 * console.assert(http.url("/plate/a.tif") === "https://example.org/data/plate/a.tif");
 * ```
 */
export class HttpBackend implements ReadOnlyBackend {
  /** Registry key. */
  readonly key: string = "http";
  /** Read-only backends do not validate paths as a filesystem. */
  readonly requiresFilesystemValidation: false = false;
  /** Which implementation this is. */
  readonly implementation: string = "fetch";

  readonly #base: URL | undefined;
  readonly #fetch: typeof fetch;
  readonly #headers: HttpHeaders | undefined;
  readonly #retries: number;
  readonly #delay: number;
  readonly #maxDelay: number;
  readonly #timeout: number;
  readonly #concurrency: number;
  readonly #signal: AbortSignal | undefined;
  readonly #manifest: string;
  #manifests = new Map<string, Promise<Tree | null>>();
  #zarr = new Map<string, Promise<ZarrNode | null>>();

  /**
   * Creates an HTTP backend.
   *
   * @param options base URL, fetch, headers, retries, timeouts, concurrency, signal, manifest name
   */
  constructor(options: HttpBackendOptions = {}) {
    if (options.baseUrl !== undefined) {
      const b = options.baseUrl.endsWith("/") ? options.baseUrl : `${options.baseUrl}/`;
      try {
        this.#base = new URL(b);
      } catch (err) {
        throw new TypeError(`HttpBackend: invalid baseUrl '${options.baseUrl}'`, { cause: err });
      }
    }
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new TypeError("HttpBackend: no fetch available");
    this.#fetch = options.fetch ? f : (input, init) => globalThis.fetch(input, init);
    this.#headers = options.headers;
    this.#retries = nonNegative(options.retries ?? 3, "retries");
    this.#delay = nonNegative(options.retryDelayMs ?? 100, "retryDelayMs");
    this.#maxDelay = nonNegative(options.maxRetryDelayMs ?? 5000, "maxRetryDelayMs");
    this.#timeout = nonNegative(options.timeoutMs ?? 30_000, "timeoutMs");
    this.#concurrency = Math.max(1, Math.floor(options.concurrency ?? 8));
    this.#signal = options.signal;
    this.#manifest = options.manifest ?? "index.json";
    if (this.#manifest === "" || this.#manifest.includes("/")) {
      throw new TypeError("HttpBackend: manifest must be a plain file name");
    }
  }

  /** Drops cached manifests and Zarr metadata. */
  clearCache(): void {
    this.#manifests.clear();
    this.#zarr.clear();
  }

  /**
   * The URL a path resolves to.
   *
   * @example
   * ```ts
   * import { HttpBackend } from "@hcs/store/http";
   * const h = new HttpBackend({ baseUrl: "http://127.0.0.1:8000/root/" });
   * console.assert(h.url("a/b.txt") === "http://127.0.0.1:8000/root/a/b.txt");
   * ```
   */
  url(path: string, operation = "url"): string {
    assertPath(path, operation);
    let p = path;
    if (COLLAPSED.test(p) && !ABSOLUTE.test(p)) p = p.replace(COLLAPSED, "$1://");
    if (ABSOLUTE.test(p)) return new URL(p).href;
    if (!this.#base) {
      throw new StorageError(operation, path, "not an absolute URL and no baseUrl is set", {
        code: "EINVAL",
      });
    }
    const rel = normalize(p.startsWith("/") ? p : `/${p}`).slice(1);
    if (rel.startsWith("..")) {
      throw new StorageError(operation, path, "path escapes baseUrl", { code: "EINVAL" });
    }
    return new URL(rel.split("/").map(encodeSegment).join("/"), this.#base).href;
  }

  // ---------------------------------------------------------------- reads

  /** Loads a file, decoded by extension, or raw with `{ as: "bytes" }`. */
  async load<T = StorageValue>(path: string, options: HttpLoadOptions = {}): Promise<T> {
    const url = this.url(path, "load");
    const bytes = await this.#get("load", path, url, options.signal);
    if (options.as === "bytes") return bytes as T;
    return decodeForPath(bytes, urlPathname(url), "load") as T;
  }

  /**
   * Loads many files with at most `concurrency` requests in flight; results
   * in request order. The first failure aborts the rest and is thrown.
   */
  async loadBatch<T = StorageValue>(
    paths: readonly string[],
    options: HttpLoadOptions = {},
  ): Promise<T[]> {
    if (!Array.isArray(paths)) throw new TypeError("loadBatch: paths must be an array");
    const urls = paths.map((p) => this.url(p, "loadBatch"));
    const inner = new AbortController();
    const joined = options.signal ? anySignal([options.signal, inner.signal]) : undefined;
    const signal = joined?.signal ?? inner.signal;
    const out = new Array<T>(paths.length);
    let next = 0;
    let failure: { err: unknown } | undefined;
    const worker = async () => {
      while (failure === undefined && next < paths.length) {
        const i = next++;
        try {
          const bytes = await this.#get("load", paths[i]!, urls[i]!, signal);
          out[i] = (options.as === "bytes"
            ? bytes
            : decodeForPath(bytes, urlPathname(urls[i]!), "load")) as T;
        } catch (err) {
          if (failure === undefined) {
            failure = { err };
            inner.abort(err);
          }
        }
      }
    };
    const n = Math.min(this.#concurrency, paths.length);
    try {
      await Promise.all(Array.from({ length: n }, worker));
    } finally {
      joined?.dispose();
    }
    if (failure !== undefined) throw failure.err;
    return out;
  }

  /**
   * Reads `length` bytes at `offset` with an HTTP range request. A `206`
   * must carry exactly the range asked for; a `200` (server ignores ranges)
   * is checked in full and sliced. Fewer bytes than asked (the file ends
   * before `offset + length`) is an error, never short data.
   *
   * @example
   * ```ts
   * import { HttpBackend } from "@hcs/store/http";
   * const h = new HttpBackend({ baseUrl: "https://example.org/" });
   * // const magic = await h.loadRange("/a.tif", 0, 4);
   * console.assert(typeof h.loadRange === "function");
   * ```
   */
  async loadRange(
    path: string,
    offset: number,
    length: number,
    options: { signal?: AbortSignal } = {},
  ): Promise<Uint8Array> {
    const url = this.url(path, "loadRange");
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new RangeError(`loadRange '${path}': offset must be a non-negative integer`);
    }
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(`loadRange '${path}': length must be a non-negative integer`);
    }
    if (length === 0) return new Uint8Array(0);
    const end = offset + length - 1;
    const { response, bytes } = await this.#request(
      "loadRange",
      path,
      url,
      "GET",
      options.signal,
      { range: `bytes=${offset}-${end}` },
      (res, body) => {
        if (res.status === 206) {
          const cr = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(
            res.headers.get("content-range") ?? "",
          );
          if (
            cr && (Number(cr[1]) !== offset || Number(cr[2]) - Number(cr[1]) + 1 !== body.length)
          ) {
            return `server sent range ${cr[1]}-${cr[2]} for ${offset}-${end}`;
          }
          if (body.length !== length) {
            return `range read returned ${body.length} of ${length} bytes`;
          }
        } else if (body.length < offset + length) {
          return `file has ${body.length} bytes, range ends at ${offset + length}`;
        }
        return undefined;
      },
    );
    if (response.status === 416) {
      throw new StorageError("loadRange", path, `range ${offset}-${end} not satisfiable`, {
        code: "ERANGE",
        status: 416,
      });
    }
    const b = bytes!;
    return response.status === 206 ? b : b.slice(offset, offset + length);
  }

  // ------------------------------------------------------------ existence

  /** True if `path` is a file or a directory; false if missing. */
  async exists(path: string): Promise<boolean> {
    try {
      await this.#classify(path, "exists");
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  /** True for a file; `IsADirectoryError` for a directory; `NotFoundError` if missing. */
  async isFile(path: string): Promise<boolean> {
    const kind = await this.#classify(path, "isFile");
    if (kind === "dir") throw new IsADirectoryError("isFile", path);
    return true;
  }

  /** True for a directory; `NotADirectoryError` for a file; `NotFoundError` if missing. */
  async isDir(path: string): Promise<boolean> {
    const kind = await this.#classify(path, "isDir");
    if (kind === "file") throw new NotADirectoryError("isDir", path);
    return true;
  }

  /** Entry names of a directory (from its manifest or Zarr metadata), natural order. */
  async listDir(path: string, options: { signal?: AbortSignal } = {}): Promise<string[]> {
    const read = await this.#dirReader(path, "listDir", options.signal);
    return naturalSort((await read("")).map((e) => e.name));
  }

  /** Files under `dir`, breadth-first, natural order; see the module docs for sources. */
  async listFiles(dir: string, options: HttpListOptions = {}): Promise<string[]> {
    const read = await this.#dirReader(dir, "listFiles", options.signal);
    const listed = dir.endsWith("/") && dir.length > 1 ? dir.slice(0, -1) : dir;
    return await breadthFirst(listed, read, options);
  }

  // ------------------------------------------------------------- listings

  /** A `readDir(rel)` for `dir`, from a manifest or a Zarr hierarchy. */
  async #dirReader(
    dir: string,
    op: string,
    signal: AbortSignal | undefined,
  ): Promise<(rel: string) => Promise<ListEntry[]>> {
    const url = dirUrl(this.url(dir, op));
    const found = await this.#findManifest(url, op, dir, signal, true);
    if (found) {
      const { tree, rel: base } = found;
      const node = tree.dirs.get(base);
      if (!node) {
        if (fileInTree(tree, base)) throw new NotADirectoryError(op, dir);
        throw new NotFoundError(op, dir);
      }
      return (rel) => {
        const n = tree.dirs.get(joinRel(base, rel));
        if (!n) return Promise.resolve([]);
        return Promise.resolve([
          ...[...n.files].map((name): ListEntry => ({ name, kind: "file" })),
          ...[...n.dirs].map((name): ListEntry => ({ name, kind: "dir" })),
        ]);
      };
    }
    const root = await this.#zarrNode(url, op, dir, signal);
    if (!root) {
      const head = await this.#head(op, dir, url.slice(0, -1), signal);
      if (head) throw new NotADirectoryError(op, dir);
      throw new NotFoundError(op, dir, "no manifest or Zarr metadata here");
    }
    return async (rel) => {
      const u = rel === "" ? url : `${url}${rel.split("/").map(encodeSegment).join("/")}/`;
      const node = await this.#zarrNode(u, op, dir, signal);
      const entries = new Map<string, ListEntry["kind"]>();
      if (!node) return [];
      for (const f of node.files) entries.set(f, "file");
      const known = await this.#zarrKnown(u, op, dir, signal);
      for (const d of known.dirs) entries.set(d.split("/")[0]!, "dir");
      for (const f of known.files) {
        const parts = f.split("/");
        entries.set(parts[0]!, parts.length === 1 ? "file" : "dir");
      }
      return [...entries].map(([name, kind]) => ({ name, kind }));
    };
  }

  /** Descendants of the Zarr node at `url` known from it and its Zarr ancestors. */
  async #zarrKnown(
    url: string,
    op: string,
    path: string,
    signal: AbortSignal | undefined,
  ): Promise<{ dirs: string[]; files: string[] }> {
    const dirs: string[] = [];
    const files: string[] = [];
    let cur = url;
    let prefix = "";
    for (let depth = 0; depth < 64; depth++) {
      const node = await this.#zarrNode(cur, op, path, signal);
      if (!node) break;
      for (const d of node.descendants) {
        if (prefix === "") dirs.push(d);
        else if (d.startsWith(`${prefix}/`)) dirs.push(d.slice(prefix.length + 1));
      }
      for (const f of node.descendantFiles) {
        if (prefix === "") files.push(f);
        else if (f.startsWith(`${prefix}/`)) files.push(f.slice(prefix.length + 1));
      }
      const parent = parentDirUrl(cur);
      if (!parent) break;
      const name = decodeURIComponent(cur.slice(parent.length, -1));
      prefix = prefix === "" ? name : `${name}/${prefix}`;
      cur = parent;
    }
    return { dirs, files };
  }

  /** Zarr metadata of the directory at `url` (ends with `/`), cached; null if none. */
  #zarrNode(
    url: string,
    op: string,
    path: string,
    signal: AbortSignal | undefined,
  ): Promise<ZarrNode | null> {
    let p = this.#zarr.get(url);
    if (!p) {
      p = this.#readZarrNode(url, op, path, signal);
      this.#zarr.set(url, p);
      p.catch(() => this.#zarr.delete(url));
    }
    return p;
  }

  async #readZarrNode(
    url: string,
    op: string,
    path: string,
    signal: AbortSignal | undefined,
  ): Promise<ZarrNode | null> {
    const v3 = await this.#json(op, path, `${url}zarr.json`, signal);
    if (v3 !== undefined) {
      const meta = asRecord(v3);
      const kind = meta.node_type === "array" ? "array" : "group";
      const descendants = new Set<string>();
      const cm = asRecord(asRecord(meta.consolidated_metadata).metadata);
      for (const key of Object.keys(cm)) addWithParents(descendants, key);
      for (const d of omeChildren(asRecord(asRecord(meta.attributes).ome))) {
        addWithParents(descendants, d);
      }
      for (const d of omeChildren(asRecord(meta.attributes))) addWithParents(descendants, d);
      return { kind, files: ["zarr.json"], descendants: [...descendants], descendantFiles: [] };
    }
    let kind: "group" | "array" | undefined;
    const files: string[] = [];
    if (await this.#json(op, path, `${url}.zgroup`, signal) !== undefined) {
      kind = "group";
      files.push(".zgroup");
    } else if (await this.#json(op, path, `${url}.zarray`, signal) !== undefined) {
      kind = "array";
      files.push(".zarray");
    } else return null;
    const descendants = new Set<string>();
    const descendantFiles: string[] = [];
    const attrs = await this.#json(op, path, `${url}.zattrs`, signal);
    if (attrs !== undefined) {
      files.push(".zattrs");
      const a = asRecord(attrs);
      for (const d of omeChildren(a)) addWithParents(descendants, d);
      for (const d of omeChildren(asRecord(a.ome))) addWithParents(descendants, d);
    }
    if (kind === "group") {
      const zm = await this.#json(op, path, `${url}.zmetadata`, signal);
      if (zm !== undefined) {
        files.push(".zmetadata");
        for (const key of Object.keys(asRecord(asRecord(zm).metadata))) {
          const i = key.lastIndexOf("/");
          if (i < 0) continue;
          addWithParents(descendants, key.slice(0, i));
          descendantFiles.push(key);
        }
      }
    }
    return { kind, files, descendants: [...descendants], descendantFiles };
  }

  /** Finds the nearest manifest at (if `self`) or above `url`; null if none. */
  async #findManifest(
    url: string,
    op: string,
    path: string,
    signal: AbortSignal | undefined,
    self: boolean,
  ): Promise<{ tree: Tree; rel: string } | null> {
    const start = url;
    // Inside baseUrl, manifests are looked for up to baseUrl; elsewhere up to the host root.
    const stop = this.#base && url.startsWith(this.#base.href) ? this.#base.href : undefined;
    if (!self && url === stop) return null;
    let cur: string | undefined = self ? url : parentDirUrl(url);
    while (cur) {
      const tree = await this.#loadManifest(cur, op, path, signal);
      if (tree) {
        const rel = decodeURIComponent(start.slice(cur.length)).replace(/\/$/, "");
        return { tree, rel };
      }
      if (cur === stop) break;
      cur = parentDirUrl(cur);
    }
    return null;
  }

  #loadManifest(
    url: string,
    op: string,
    path: string,
    signal: AbortSignal | undefined,
  ): Promise<Tree | null> {
    let p = this.#manifests.get(url);
    if (!p) {
      p = (async () => {
        const murl = `${url}${encodeSegment(this.#manifest)}`;
        const doc = await this.#json(op, path, murl, signal);
        if (doc === undefined) return null;
        return parseManifest(doc, op, murl);
      })();
      this.#manifests.set(url, p);
      p.catch(() => this.#manifests.delete(url));
    }
    return p;
  }

  /** `"file"` or `"dir"`; `NotFoundError` if missing. */
  async #classify(path: string, op: string): Promise<"file" | "dir"> {
    const url = this.url(path, op);
    const asDir = dirUrl(url);
    const found = await this.#findManifest(asDir, op, path, undefined, false);
    if (found) {
      const { tree, rel } = found;
      if (rel === "" || tree.dirs.has(rel)) return "dir";
      if (fileInTree(tree, rel)) return "file";
      throw new NotFoundError(op, path);
    }
    if (!url.endsWith("/") && await this.#head(op, path, url, undefined)) return "file";
    if (await this.#loadManifest(asDir, op, path, undefined)) return "dir";
    if (await this.#zarrNode(asDir, op, path, undefined)) return "dir";
    throw new NotFoundError(op, path);
  }

  // ----------------------------------------------------------- transport

  /** GET a JSON document; undefined on 404/410. */
  async #json(
    op: string,
    path: string,
    url: string,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    let bytes: Uint8Array;
    try {
      bytes = await this.#get(op, path, url, signal);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
    try {
      return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch (err) {
      throw new StorageError(op, path, `invalid JSON in ${url}`, {
        code: "ERR_CORRUPT_DATA",
        cause: err,
      });
    }
  }

  /** HEAD (GET of one byte where HEAD is refused): true for 2xx, false for 404/410. */
  async #head(op: string, path: string, url: string, signal: AbortSignal | undefined) {
    try {
      const { response } = await this.#request(op, path, url, "HEAD", signal, {}, undefined, [
        405,
        501,
      ]);
      if (response.status !== 405 && response.status !== 501) return true;
      await this.#request(op, path, url, "GET", signal, { range: "bytes=0-0" });
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  async #get(op: string, path: string, url: string, signal: AbortSignal | undefined) {
    const { bytes } = await this.#request(op, path, url, "GET", signal, {});
    return bytes!;
  }

  /**
   * One idempotent request with retries. Resolves with a 2xx response (body
   * read and length-checked for GET) or a status listed in `pass`; throws a
   * typed error otherwise. `check` may reject a body (returns a reason),
   * which counts as a retryable failure.
   */
  async #request(
    op: string,
    path: string,
    url: string,
    method: "GET" | "HEAD",
    callSignal: AbortSignal | undefined,
    extra: Record<string, string>,
    check?: (res: Response, body: Uint8Array) => string | undefined,
    pass: number[] = [],
  ): Promise<Attempt> {
    const signals = [this.#signal, callSignal].filter((s): s is AbortSignal => s !== undefined);
    const outer = signals.length ? anySignal(signals) : undefined;
    try {
      for (let attempt = 0;; attempt++) {
        throwIfAborted(outer?.signal, op, path);
        const r = await this.#attempt(op, path, url, method, outer?.signal, extra, check, pass);
        if (!(r instanceof StorageError)) return r;
        const failure = r;
        if (attempt >= this.#retries) {
          if (this.#retries === 0) throw failure;
          throw withAttempts(failure, attempt + 1);
        }
        const base = Math.min(this.#maxDelay, this.#delay * 2 ** attempt);
        await sleep(base * (0.75 + Math.random() * 0.25), outer?.signal, op, path);
      }
    } finally {
      outer?.dispose();
    }
  }

  /** One attempt; returns a retryable failure as a value, throws final ones. */
  async #attempt(
    op: string,
    path: string,
    url: string,
    method: "GET" | "HEAD",
    outer: AbortSignal | undefined,
    extra: Record<string, string>,
    check: ((res: Response, body: Uint8Array) => string | undefined) | undefined,
    pass: number[],
  ): Promise<Attempt | StorageError> {
    const ctl = new AbortController();
    let timedOut = false;
    const onOuter = () => ctl.abort(outer?.reason);
    if (outer) {
      if (outer.aborted) onOuter();
      else outer.addEventListener("abort", onOuter, { once: true });
    }
    const timer = this.#timeout > 0
      ? setTimeout(() => {
        timedOut = true;
        ctl.abort(new Error(`timed out after ${this.#timeout} ms`));
      }, this.#timeout)
      : undefined;
    const abortError = (err: unknown): StorageError => {
      if (timedOut) {
        return new StorageError(op, path, `timed out after ${this.#timeout} ms (${url})`, {
          code: "ETIMEDOUT",
          cause: err,
        });
      }
      return new StorageError(op, path, "aborted", { code: "ABORT_ERR", cause: outer?.reason });
    };
    try {
      const headers = new Headers(await this.#resolveHeaders());
      for (const [k, v] of Object.entries(extra)) headers.set(k, v);
      let response: Response;
      try {
        response = await this.#fetch(url, { method, headers, signal: ctl.signal });
      } catch (err) {
        if (ctl.signal.aborted) {
          const e = abortError(err);
          if (timedOut) return e;
          throw e;
        }
        return new StorageError(op, path, `network error: ${message(err)} (${url})`, {
          code: "ECONNRESET",
          cause: err,
        });
      }
      const status = response.status;
      if (pass.includes(status) || (status === 416 && extra.range !== undefined)) {
        await cancel(response);
        return { response, bytes: new Uint8Array(0) };
      }
      if (status < 200 || status > 299) {
        await cancel(response);
        const e = httpStatusError(response, op, path);
        if (RETRY_STATUS.has(status)) return e;
        throw e;
      }
      if (method === "HEAD") return { response, bytes: undefined };
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(await response.arrayBuffer());
      } catch (err) {
        if (ctl.signal.aborted) {
          const e = abortError(err);
          if (timedOut) return e;
          throw e;
        }
        return new StorageError(op, path, `body read failed: ${message(err)} (${url})`, {
          code: "ECONNRESET",
          cause: err,
          status,
        });
      }
      const declared = declaredLength(response);
      if (declared !== undefined && bytes.length !== declared) {
        return new StorageError(
          op,
          path,
          `truncated body: ${bytes.length} of ${declared} bytes (${url})`,
          { code: "ERR_TRUNCATED", status },
        );
      }
      const bad = check?.(response, bytes);
      if (bad !== undefined) {
        return new StorageError(op, path, `${bad} (${url})`, { code: "ERR_TRUNCATED", status });
      }
      return { response, bytes };
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      outer?.removeEventListener("abort", onOuter);
    }
  }

  async #resolveHeaders(): Promise<HeadersInit | undefined> {
    const h = this.#headers;
    return typeof h === "function" ? await h() : h;
  }
}

// ------------------------------------------------------------------ helpers

function nonNegative(n: number, name: string): number {
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0) {
    throw new TypeError(`HttpBackend: ${name} must be a non-negative number`);
  }
  return n;
}

function message(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
    return `${err.message}${cause}`;
  }
  return String(err);
}

function encodeSegment(s: string): string {
  return encodeURIComponent(s).replace(/%40/g, "@").replace(/%3A/gi, ":");
}

function urlPathname(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname);
  } catch {
    return url;
  }
}

/** The URL of a directory: with a trailing `/`, no query or fragment. */
function dirUrl(url: string): string {
  const u = new URL(url);
  u.search = "";
  u.hash = "";
  return u.href.endsWith("/") ? u.href : `${u.href}/`;
}

/** The parent directory URL of a directory URL, or undefined at the host root. */
function parentDirUrl(url: string): string | undefined {
  const u = new URL(url);
  if (u.pathname === "/" || u.pathname === "") return undefined;
  const trimmed = u.pathname.replace(/\/$/, "");
  u.pathname = trimmed.slice(0, trimmed.lastIndexOf("/") + 1);
  return u.href;
}

function joinRel(a: string, b: string): string {
  if (a === "") return b;
  if (b === "") return a;
  return `${a}/${b}`;
}

function fileInTree(tree: Tree, rel: string): boolean {
  const i = rel.lastIndexOf("/");
  const dir = i < 0 ? "" : rel.slice(0, i);
  return tree.dirs.get(dir)?.files.has(rel.slice(i + 1)) ?? false;
}

function parseManifest(doc: unknown, op: string, url: string): Tree {
  const bad = (why: string) =>
    new StorageError(op, url, `invalid manifest: ${why}`, { code: "ERR_CORRUPT_DATA" });
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw bad('expected an object { "files": [...], "dirs"?: [...] }');
  }
  const rec = doc as { files?: unknown; dirs?: unknown };
  if (!Array.isArray(rec.files)) throw bad('"files" must be an array of strings');
  if (rec.dirs !== undefined && !Array.isArray(rec.dirs)) {
    throw bad('"dirs" must be an array of strings');
  }
  const tree: Tree = { dirs: new Map([["", { files: new Set(), dirs: new Set() }]]) };
  const ensureDir = (rel: string) => {
    const parts = rel.split("/");
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join("/");
      if (!tree.dirs.has(d)) {
        tree.dirs.set(d, { files: new Set(), dirs: new Set() });
        const parent = parts.slice(0, i - 1).join("/");
        tree.dirs.get(parent)!.dirs.add(parts[i - 1]!);
      }
    }
  };
  const clean = (entry: unknown): string => {
    if (typeof entry !== "string") throw bad("entries must be strings");
    const n = normalize(`/${entry}`).slice(1);
    if (n === "" || n.startsWith("..")) throw bad(`entry '${entry}' is outside the manifest`);
    return n;
  };
  for (const d of (rec.dirs ?? []) as unknown[]) ensureDir(clean(d));
  for (const f of rec.files as unknown[]) {
    const raw = f;
    const n = clean(f);
    if (typeof raw === "string" && raw.endsWith("/")) {
      ensureDir(n);
      continue;
    }
    const i = n.lastIndexOf("/");
    const dir = i < 0 ? "" : n.slice(0, i);
    if (dir !== "") ensureDir(dir);
    tree.dirs.get(dir)!.files.add(n.slice(i + 1));
  }
  return tree;
}

function asRecord(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? v as Record<string, unknown>
    : {};
}

function paths(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  const out: string[] = [];
  for (const item of list) {
    const p = asRecord(item).path;
    if (typeof p === "string" && p !== "") {
      const n = normalize(`/${p}`).slice(1);
      if (n !== "" && !n.startsWith("..")) out.push(n);
    }
  }
  return out;
}

/** Child node paths named by OME-NGFF attributes (plate wells, well images, datasets). */
function omeChildren(attrs: Record<string, unknown>): string[] {
  const out = [
    ...paths(asRecord(attrs.plate).wells),
    ...paths(asRecord(attrs.well).images),
  ];
  const ms = attrs.multiscales;
  if (Array.isArray(ms)) { for (const m of ms) out.push(...paths(asRecord(m).datasets)); }
  return out;
}

function addWithParents(set: Set<string>, rel: string): void {
  const n = normalize(`/${rel}`).slice(1);
  if (n === "" || n.startsWith("..")) return;
  const parts = n.split("/");
  for (let i = 1; i <= parts.length; i++) set.add(parts.slice(0, i).join("/"));
}

function declaredLength(res: Response): number | undefined {
  const enc = res.headers.get("content-encoding");
  if (enc && enc.toLowerCase() !== "identity") return undefined;
  const cl = res.headers.get("content-length");
  if (cl === null || !/^\d+$/.test(cl.trim())) return undefined;
  return Number(cl);
}

async function cancel(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // the body may already be closed; nothing to free
  }
}

function withAttempts(err: StorageError, attempts: number): StorageError {
  return restate(err, err.operation, err.path, `${err.reason} (after ${attempts} attempts)`);
}

function throwIfAborted(signal: AbortSignal | undefined, op: string, path: string): void {
  if (signal?.aborted) {
    throw new StorageError(op, path, "aborted", { code: "ABORT_ERR", cause: signal.reason });
  }
}

function sleep(
  ms: number,
  signal: AbortSignal | undefined,
  op: string,
  path: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new StorageError(op, path, "aborted", { code: "ABORT_ERR", cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(new StorageError(op, path, "aborted", { code: "ABORT_ERR", cause: signal?.reason }));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A signal that aborts when any input does (AbortSignal.any is not everywhere). */
function anySignal(signals: AbortSignal[]): { signal: AbortSignal; dispose(): void } {
  const ctl = new AbortController();
  const cleanups: (() => void)[] = [];
  for (const s of signals) {
    if (s.aborted) {
      ctl.abort(s.reason);
      break;
    }
    const on = () => ctl.abort(s.reason);
    s.addEventListener("abort", on, { once: true });
    cleanups.push(() => s.removeEventListener("abort", on));
  }
  return { signal: ctl.signal, dispose: () => cleanups.forEach((c) => c()) };
}

// The contract types (and base class) this entry's API refers to, so it documents them on its own.
export * from "./base.ts";
