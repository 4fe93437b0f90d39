/**
 * The HTTP backend: a read-only {@linkcode ReadOnlyBackend} over `fetch`, with
 * range reads, bounded-concurrency batches, retries with exponential backoff,
 * timeouts and `AbortSignal`s. It imports nothing runtime-specific, so it runs
 * on Deno, Bun, Node and edge runtimes (Deno Deploy, Cloudflare workerd).
 *
 * With a `baseUrl`, nothing outside it is ever requested (redirects are
 * followed by hand and checked); listings come from a manifest or a Zarr
 * hierarchy (`http/listing.ts`), since HTTP itself cannot list. Paths,
 * errors, retries and the manifest format: see {@linkcode HttpBackend}.
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
  IsADirectoryError,
  LimitExceededError,
  NotADirectoryError,
  NotFoundError,
  StorageError,
} from "../errors.ts";
import type {
  CapableBackend,
  ListOptions,
  LoadOptions,
  RangeReader,
  ReadOnlyBackend,
  StorageValue,
  StoreCapabilities,
} from "./base.ts";
import { decodedBudget } from "../_internal/limits.ts";
import { parseBaseUrl, resolveUrl } from "./http/url.ts";
import { anySignal, type Attempt, HttpTransport, type Req } from "./http/transport.ts";
import { breadthFirst, type ListEntry, naturalSort } from "../_internal/listing.ts";
import { decodeForPath } from "../formats/mod.ts";
import { HttpListing } from "./http/listing.ts";
import { mapLimit } from "../_internal/pool.ts";

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
  /**
   * Redirect policy: `"same-origin"` (default) follows 301/302/303/307/308
   * only to the same origin and under `baseUrl`; `"none"` follows none. Any
   * other redirect is an error; headers never leave the origin.
   */
  redirects?: "same-origin" | "none";
  /** Most redirect hops per request (default 5). */
  maxRedirects?: number;
  /** Largest response body kept, in bytes (default 1 GiB, `DEFAULT_MAX_DECODED_BYTES`). */
  maxDecodedBytes?: number;
}

/** Per-call options of the HTTP backend's reads. */
export interface HttpLoadOptions extends LoadOptions {
  /** Aborts this call (in addition to the backend-wide signal). */
  signal?: AbortSignal;
  /** Body budget of this call, in bytes (default: the backend's). */
  maxDecodedBytes?: number;
}

/** Per-call options of the HTTP backend's listings. */
export interface HttpListOptions extends ListOptions {
  /** Aborts this call (in addition to the backend-wide signal). */
  signal?: AbortSignal;
}

/**
 * Read-only backend over HTTP(S) `fetch`.
 *
 * Paths are absolute http(s) URLs (`https://host/plate/a.tif`) or paths
 * relative to `baseUrl` (a leading `/` is taken from `baseUrl`, not from the
 * host root: with `baseUrl: "https://host/data/"`, `/plate/a.tif` is
 * `https://host/data/plate/a.tif`). Paths are decoded names, each sent as one
 * percent-encoded segment.
 *
 * Trust boundary (see `http/url.ts`, `http/transport.ts`): with a `baseUrl`,
 * every request, redirect hops included, stays on its origin and under its
 * path; `..` above it, backslashes, control characters and absolute URLs
 * elsewhere are `PermissionDeniedError` before any request. Redirects are
 * followed by hand: `redirects: "same-origin"` (default; same origin and
 * under `baseUrl`, at most `maxRedirects`, default 5) or `"none"`; any other
 * redirect is an error, so `headers` never reach another origin. Bodies are
 * streamed against `maxDecodedBytes` (backend option or per call; default
 * 1 GiB): a larger declared `Content-Length` fails before reading, a chunked
 * or compressed body as soon as it passes the budget (`LimitExceededError`).
 *
 * Errors: 404/410 → `NotFoundError`, 401/403 → `PermissionDeniedError`, other
 * statuses → `StorageError` with `status` set. 5xx, 408, 429, network errors,
 * timeouts and truncated bodies are retried (`retries` times, delays
 * `retryDelayMs · 2^attempt` with jitter); everything else fails at once. A
 * body shorter or longer than its `Content-Length` (or than the requested
 * range), or a `206` whose `Content-Range` is not the range asked for, is an
 * error, never short data. `timeoutMs` bounds each attempt, body included;
 * an abort (backend-wide or per call, on every method) throws a
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
 *    manifest at or above a path answers for it, authoritatively. A
 *    manifest naming a path both as a file and as a directory is corrupt
 *    (`ERR_CORRUPT_DATA`).
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
 * const http = new HttpBackend({
 *   baseUrl: "https://example.org/data",
 *   headers: () => ({ authorization: "Bearer token" }),
 *   timeoutMs: 10_000,
 * });
 * console.assert(http.url("/plate/a.tif") === "https://example.org/data/plate/a.tif");
 * ```
 */
export class HttpBackend implements ReadOnlyBackend, RangeReader, CapableBackend {
  /** Registry key. */
  readonly key: string = "http";
  /** Read-only backends do not validate paths as a filesystem. */
  readonly requiresFilesystemValidation: false = false;
  /** Reads, listings (manifest or Zarr metadata) and byte ranges; no writes. */
  readonly capabilities: StoreCapabilities = Object.freeze({
    read: true,
    write: false,
    list: true,
    rangeRead: true,
    atomicCreate: false,
    compareAndSwap: false,
    crossProcessLock: false,
  });
  /** Which implementation this is. */
  readonly implementation: string = "fetch";

  readonly #base: URL | undefined;
  readonly #transport: HttpTransport;
  readonly #concurrency: number;
  readonly #budget: number;
  readonly #listing: HttpListing;

  /**
   * Creates an HTTP backend.
   *
   * @param options base URL, fetch, headers, retries, timeouts, concurrency, signal, manifest name
   */
  constructor(options: HttpBackendOptions = {}) {
    this.#base = options.baseUrl === undefined ? undefined : parseBaseUrl(options.baseUrl);
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new TypeError("HttpBackend: no fetch available");
    this.#concurrency = Math.max(1, Math.floor(options.concurrency ?? 8));
    const manifest = options.manifest ?? "index.json";
    if (manifest === "" || manifest.includes("/")) {
      throw new TypeError("HttpBackend: manifest must be a plain file name");
    }
    const redirects = options.redirects ?? "same-origin";
    if (redirects !== "same-origin" && redirects !== "none") {
      throw new TypeError(`HttpBackend: redirects must be "same-origin" or "none"`);
    }
    this.#budget = decodedBudget(options);
    this.#transport = new HttpTransport({
      base: this.#base,
      fetch: options.fetch
        ? f
        : (input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init),
      headers: options.headers,
      retries: nonNegative(options.retries ?? 3, "retries"),
      retryDelayMs: nonNegative(options.retryDelayMs ?? 100, "retryDelayMs"),
      maxRetryDelayMs: nonNegative(options.maxRetryDelayMs ?? 5000, "maxRetryDelayMs"),
      timeoutMs: nonNegative(options.timeoutMs ?? 30_000, "timeoutMs"),
      signal: options.signal,
      redirects,
      maxRedirects: Math.floor(nonNegative(options.maxRedirects ?? 5, "maxRedirects")),
      budget: this.#budget,
    });
    this.#listing = new HttpListing(this.#base, manifest, {
      json: (op, path, url, signal) => this.#json(op, path, url, signal),
      head: (op, path, url, signal) => this.#head(op, path, url, signal),
    });
  }

  /** Drops cached manifests and Zarr metadata. */
  clearCache(): void {
    this.#listing.clear();
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
    return resolveUrl(path, this.#base, operation);
  }

  // ---------------------------------------------------------------- reads

  /** Loads a file, decoded by extension, or raw with `{ as: "bytes" }`. */
  async load<T = StorageValue>(path: string, options: HttpLoadOptions = {}): Promise<T> {
    const url = this.url(path, "load");
    const budget = this.#callBudget(options);
    const bytes = await this.#get("load", path, url, options.signal, budget);
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
    const budget = this.#callBudget(options);
    if (paths.length === 0) return [];
    const inner = new AbortController();
    const joined = options.signal ? anySignal([options.signal, inner.signal]) : undefined;
    const signal = joined?.signal ?? inner.signal;
    // The first failure (in time, not in worker order) is the one thrown: it
    // aborts the requests still in flight, whose abort errors are not news.
    let failure: { err: unknown } | undefined;
    try {
      return await mapLimit(paths, Math.min(this.#concurrency, paths.length), async (p, i) => {
        try {
          const bytes = await this.#get("load", p, urls[i]!, signal, budget);
          return (options.as === "bytes"
            ? bytes
            : decodeForPath(bytes, urlPathname(urls[i]!), "load")) as T;
        } catch (err) {
          if (failure === undefined) {
            failure = { err };
            inner.abort(err);
          }
          throw err;
        }
      });
    } catch (err) {
      throw failure === undefined ? err : failure.err;
    } finally {
      joined?.dispose();
    }
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
    options: { signal?: AbortSignal; maxDecodedBytes?: number } = {},
  ): Promise<Uint8Array> {
    const url = this.url(path, "loadRange");
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new RangeError(`loadRange '${path}': offset must be a non-negative integer`);
    }
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(`loadRange '${path}': length must be a non-negative integer`);
    }
    if (!Number.isSafeInteger(offset + length)) {
      throw new RangeError(`loadRange '${path}': offset + length is too large`);
    }
    const budget = this.#callBudget(options);
    if (length > budget) {
      throw new LimitExceededError(
        "loadRange",
        path,
        `range of ${length} bytes is over the maxDecodedBytes budget of ${budget}`,
      );
    }
    if (length === 0) return new Uint8Array(0);
    const { response, bytes } = await this.#request({
      op: "loadRange",
      path,
      url,
      method: "GET",
      signal: options.signal,
      range: [offset, length],
    });
    if (response.status === 416) {
      throw new StorageError(
        "loadRange",
        path,
        `range ${offset}-${offset + length - 1} not satisfiable`,
        { code: "ERANGE", status: 416 },
      );
    }
    return bytes!;
  }

  /** The body budget of one call: its `maxDecodedBytes`, else the backend's. */
  #callBudget(options: { maxDecodedBytes?: number }): number {
    return options.maxDecodedBytes === undefined ? this.#budget : decodedBudget(options);
  }

  // ------------------------------------------------------------ existence

  /** True if `path` is a file or a directory; false if missing. */
  async exists(path: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    try {
      await this.#classify(path, "exists", options.signal);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  /** True for a file; `IsADirectoryError` for a directory; `NotFoundError` if missing. */
  async isFile(path: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const kind = await this.#classify(path, "isFile", options.signal);
    if (kind === "dir") throw new IsADirectoryError("isFile", path);
    return true;
  }

  /** True for a directory; `NotADirectoryError` for a file; `NotFoundError` if missing. */
  async isDir(path: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const kind = await this.#classify(path, "isDir", options.signal);
    if (kind === "file") throw new NotADirectoryError("isDir", path);
    return true;
  }

  /** Entry names of a directory (from its manifest or Zarr metadata), natural order. */
  async listDir(path: string, options: { signal?: AbortSignal } = {}): Promise<string[]> {
    const read = await this.#dirReader(path, "listDir", options.signal);
    return naturalSort((await read("")).map((e) => e.name));
  }

  /** Files under `dir`, breadth-first, natural order; see {@linkcode HttpBackend} for sources. */
  async listFiles(dir: string, options: HttpListOptions = {}): Promise<string[]> {
    const read = await this.#dirReader(dir, "listFiles", options.signal);
    const listed = dir.endsWith("/") && dir.length > 1 ? dir.slice(0, -1) : dir;
    return await breadthFirst(listed, read, options);
  }

  /** `"file"` or `"dir"`; `NotFoundError` if missing. */
  async #classify(
    path: string,
    op: string,
    signal: AbortSignal | undefined,
  ): Promise<"file" | "dir"> {
    return await this.#listing.classify(path, this.url(path, op), op, signal);
  }

  /** A `readDir(rel)` for `dir`, from a manifest or a Zarr hierarchy. */
  async #dirReader(
    dir: string,
    op: string,
    signal: AbortSignal | undefined,
  ): Promise<(rel: string) => Promise<ListEntry[]>> {
    return await this.#listing.dirReader(dir, this.url(dir, op), op, signal);
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
  async #head(
    op: string,
    path: string,
    url: string,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    try {
      const { response } = await this.#request({
        op,
        path,
        url,
        method: "HEAD",
        signal,
        pass: [405, 501],
      });
      if (response.status !== 405 && response.status !== 501) return true;
      await this.#request({ op, path, url, method: "GET", signal, range: [0, 1] });
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  #request(req: Req): Promise<Attempt> {
    return this.#transport.request(req);
  }

  async #get(
    op: string,
    path: string,
    url: string,
    signal: AbortSignal | undefined,
    budget: number = this.#budget,
  ) {
    const { bytes } = await this.#request({ op, path, url, method: "GET", signal, budget });
    return bytes!;
  }
}

// ------------------------------------------------------------------ helpers

function nonNegative(n: number, name: string): number {
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0) {
    throw new TypeError(`HttpBackend: ${name} must be a non-negative number`);
  }
  return n;
}

function urlPathname(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname);
  } catch {
    return url;
  }
}

// The contract types (and base class) this entry's API refers to, so it documents them on its own.
export * from "./base.ts";
