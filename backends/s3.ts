/**
 * The S3 backend (`@hcs/store/s3`, registry key `"s3"`): object storage as a
 * {@linkcode StorageBackend} whose listings come from the store itself
 * (`requiresFilesystemValidation` false). Paths are `/<bucket>/<key>`, or
 * `/<key>` with the `bucket` option. Runs wherever `fetch` and WebCrypto do
 * (Deno, Bun, Node, workerd): nothing here imports `node:*`.
 *
 * Decisions: `save` is a create-only PUT (`If-None-Match: *`) and plate
 * metadata is merged by compare-and-swap on the ETag, so no lock is needed;
 * `aws4fetch` signs, this module's own `fetch` loop retries and maps errors.
 * The rest (markers, batches, copies, Ceph quirks, the client measurement)
 * is in `docs/design.md` ("Object storage").
 *
 * @example
 * ```ts
 * import { S3Backend } from "@hcs/store/s3";
 * const s3 = new S3Backend({
 *   endpoint: "http://127.0.0.1:7480",
 *   region: "us-east-1",
 *   credentials: { accessKeyId: "KEY", secretAccessKey: "SECRET" },
 * });
 * console.assert(s3.key === "s3" && s3.capabilities.compareAndSwap);
 * // await s3.ensureDirectory("/plates/P1");
 * // await s3.save({ a: 1 }, "/plates/P1/meta.json");
 * ```
 *
 * @module
 */

import {
  AlreadyExistsError,
  CorruptDataError,
  DirectoryNotEmptyError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  restate,
  StorageError,
  UnsupportedOperationError,
} from "../errors.ts";
import {
  AbstractStorageBackend,
  type CapableBackend,
  type ConditionalWriter,
  type ListOptions,
  type LoadOptions,
  type RangeReader,
  type SaveOptions,
  type StatResult,
  type StorageValue,
  type StoreCapabilities,
  type VersionedBytes,
} from "./base.ts";
import { naturalSort } from "../_internal/listing.ts";
import { assertStorable, checkBatch } from "../_internal/values.ts";
import { decodedBudget } from "../_internal/limits.ts";
import { decodeForPath, encodeForPath } from "../formats/mod.ts";
import { S3Client, validBucket } from "./s3/client.ts";
import { Objects, pool } from "./s3/objects.ts";
import { listFilesIn, Namespace, transfer } from "./s3/namespace.ts";
import { optionsFromEnv, parseEndpoint, positive, type S3BackendOptions } from "./s3/config.ts";
import { MIN_PART } from "./s3/parts.ts";

export type { S3Credentials } from "./s3/client.ts";
export { optionsFromEnv };
export type { EnvReader } from "./s3/config.ts";
export type { S3BackendOptions };
export type { PartRange } from "./s3/parts.ts";
export type {
  CapableBackend,
  ConditionalWriter,
  RangeReader,
  StoreCapabilities,
  VersionedBytes,
} from "./base.ts";
export { planParts } from "./s3/parts.ts";

/** Options of calls that only take a signal. */
export interface S3CallOptions {
  /** Aborts this call (in addition to the backend-wide signal). */
  signal?: AbortSignal;
}

/** `load`/`loadBatch` options of the S3 backend. */
export interface S3LoadOptions extends LoadOptions, S3CallOptions {}
/** `save`/`saveBatch` options of the S3 backend. */
export interface S3SaveOptions extends SaveOptions, S3CallOptions {}

/**
 * Object storage as a full backend. See the module documentation.
 *
 * @example
 * ```ts
 * import { S3Backend } from "@hcs/store/s3";
 * const s3 = new S3Backend({
 *   endpoint: "https://s3.eu-west-1.amazonaws.com",
 *   region: "eu-west-1",
 *   credentials: { accessKeyId: "AKIA…", secretAccessKey: "…" },
 *   bucket: "my-screens",
 * });
 * console.assert(s3.requiresFilesystemValidation === false);
 * ```
 */
export class S3Backend extends AbstractStorageBackend
  implements RangeReader, ConditionalWriter, CapableBackend {
  /** Registry key. */
  readonly key: string;
  /** Listings come from the object store. */
  override readonly requiresFilesystemValidation: false = false;
  /** The client library behind the requests. */
  readonly implementation: string = "aws4fetch";
  /** What object storage offers. */
  readonly capabilities: StoreCapabilities = Object.freeze({
    read: true,
    write: true,
    list: true,
    rangeRead: true,
    atomicCreate: true,
    compareAndSwap: true,
    crossProcessLock: false,
  });
  readonly #o: Objects;
  readonly #ns: Namespace;
  readonly #concurrency: number;
  readonly #threshold: number;
  readonly #partSize: number;
  readonly #partConcurrency: number;
  readonly #maxBytes: number;
  readonly #cleanupMs: number;

  /**
   * Creates the backend; no request is made until the first operation.
   *
   * @param options endpoint, region, credentials and the request policy
   */
  constructor(options: S3BackendOptions) {
    super();
    const o = options;
    if (!o || typeof o !== "object") throw new TypeError("S3Backend: options are required");
    if (typeof o.region !== "string" || o.region === "") {
      throw new TypeError("S3Backend: region is required");
    }
    const c = o.credentials;
    if (!c || typeof c.accessKeyId !== "string" || typeof c.secretAccessKey !== "string") {
      throw new TypeError("S3Backend: credentials { accessKeyId, secretAccessKey } are required");
    }
    if (o.bucket !== undefined && !validBucket(o.bucket)) {
      throw new TypeError(`S3Backend: '${o.bucket}' is not a valid bucket name`);
    }
    this.key = o.key ?? "s3";
    this.#concurrency = positive(o.concurrency, 32, "concurrency", 1);
    this.#threshold = positive(o.multipartThreshold, 64 * 2 ** 20, "multipartThreshold", MIN_PART);
    this.#partSize = positive(o.partSize, 16 * 2 ** 20, "partSize", MIN_PART);
    this.#partConcurrency = positive(o.partConcurrency, 4, "partConcurrency", 1);
    this.#maxBytes = decodedBudget(o);
    this.#cleanupMs = positive(o.cleanupTimeoutMs, 30_000, "cleanupTimeoutMs");
    this.#o = new Objects(
      new S3Client({
        endpoint: parseEndpoint(o.endpoint),
        region: o.region,
        credentials: { ...c },
        forcePathStyle: o.forcePathStyle ?? false,
        fetch: o.fetch ?? ((input, init) => fetch(input, init)),
        retries: positive(o.retries, 4, "retries"),
        retryDelayMs: positive(o.retryDelayMs, 100, "retryDelayMs"),
        maxRetryDelayMs: positive(o.maxRetryDelayMs, 20_000, "maxRetryDelayMs"),
        timeoutMs: positive(o.timeoutMs, 60_000, "timeoutMs"),
        signal: o.signal,
      }),
      positive(o.maxListEntries, 10_000_000, "maxListEntries", 1),
    );
    this.#ns = new Namespace(this.#o, o.bucket);
  }

  // ------------------------------------------------------------ writes

  /** Saves one value: create-only unless `{ overwrite: true }` (atomic replace). */
  async save(data: StorageValue, path: string, options: S3SaveOptions = {}): Promise<void> {
    await this.saveBatch([data], [path], options);
  }

  /**
   * Saves every value or none: all targets are checked first; when a write
   * fails, the objects this batch created are deleted again.
   */
  async saveBatch(
    data: readonly StorageValue[],
    paths: readonly string[],
    options: S3SaveOptions = {},
  ): Promise<void> {
    const op = paths.length === 1 && data.length === 1 ? "save" : "saveBatch";
    checkBatch(data, paths, op, (p) => {
      const l = this.#ns.loc(p, op);
      return `${l.bucket}/${l.key}`;
    });
    const signal = options.signal;
    const overwrite = options.overwrite === true;
    const locs = paths.map((p, i) => {
      assertStorable(data[i], op, p);
      return this.#ns.objectLoc(p, op);
    });
    const bodies = paths.map((p, i) => encodeForPath(data[i]!, p, op));
    const existed = await this.#ns.preflight(op, paths, locs, overwrite, signal);
    // every write started and not refused by the store may have landed: undo removes those
    const started = new Set<number>();
    try {
      await pool(paths.length, this.#concurrency, signal, async (i, sig) => {
        const l = locs[i]!;
        const p = paths[i]!;
        if (!existed.has(i)) started.add(i);
        if (bodies[i]!.length > this.#threshold) {
          if (!overwrite && await this.#o.head(op, p, l.bucket, l.key, sig)) {
            started.delete(i);
            throw new AlreadyExistsError(op, p);
          }
          await this.#o.putMultipart(
            op,
            p,
            l.bucket,
            l.key,
            bodies[i]!,
            this.#partSize,
            this.#partConcurrency,
            !overwrite,
            sig,
          );
        } else {
          const ok = await this.#o.put(
            op,
            p,
            l.bucket,
            l.key,
            bodies[i]!,
            overwrite ? undefined : "absent",
            sig,
          );
          if (ok === false) {
            started.delete(i); // someone else's object: not ours to remove
            throw new AlreadyExistsError(op, p);
          }
        }
      }, false);
    } catch (err) {
      const left = await this.#ns.undo(op, paths, locs, [...started], this.#cleanupMs);
      if (left.length > 0 && err instanceof StorageError) {
        throw restate(
          err,
          err.operation,
          err.path,
          `${err.reason}; ${left.length} objects this batch wrote could not be removed (${
            left.slice(0, 3).join(", ")
          }${left.length > 3 ? ", …" : ""})`,
        );
      }
      throw err;
    }
  }

  // ------------------------------------------------------------ reads

  async #getBytes(op: string, path: string, signal?: AbortSignal): Promise<VersionedBytes> {
    const l = this.#ns.loc(path, op);
    if (l.bucket === undefined || l.key === "") throw await this.#ns.missing(op, path, l, signal);
    const r = await this.#o.get(op, path, l.bucket, l.key, this.#maxBytes, signal);
    if (!r) throw await this.#ns.missing(op, path, l, signal);
    return { bytes: r.body, version: r.headers.get("etag") ?? "" };
  }

  /** Loads an object, decoded by extension, or its raw bytes with `{ as: "bytes" }`. */
  async load<T = StorageValue>(path: string, options: S3LoadOptions = {}): Promise<T> {
    const { bytes } = await this.#getBytes("load", path, options.signal);
    return (options.as === "bytes" ? bytes : decodeForPath(bytes, path, "load")) as T;
  }

  /** Loads many objects with bounded concurrency, in request order; the first failure aborts the rest. */
  override loadBatch<T = StorageValue>(
    paths: readonly string[],
    options: S3LoadOptions = {},
  ): Promise<T[]> {
    if (!Array.isArray(paths)) {
      return Promise.reject(new TypeError("loadBatch: paths must be an array"));
    }
    return pool(paths.length, this.#concurrency, options.signal, async (i, signal) => {
      const { bytes } = await this.#getBytes("loadBatch", paths[i]!, signal);
      return (options.as === "bytes" ? bytes : decodeForPath(bytes, paths[i]!, "loadBatch")) as T;
    });
  }

  /** Reads `[offset, offset + length)` of an object (fewer bytes only at its end). */
  async loadRange(
    path: string,
    offset: number,
    length: number,
    options: S3CallOptions = {},
  ): Promise<Uint8Array> {
    const op = "loadRange";
    if (
      !Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0
    ) {
      throw new RangeError(`${op} '${path}': offset and length must be non-negative integers`);
    }
    const l = this.#ns.loc(path, op);
    if (l.bucket === undefined || l.key === "") throw await this.#ns.missing(op, path, l);
    if (length === 0) {
      if (!(await this.#o.head(op, path, l.bucket, l.key, options.signal))) {
        throw await this.#ns.missing(op, path, l);
      }
      return new Uint8Array(0);
    }
    const range = `bytes=${offset}-${offset + length - 1}`;
    const r = await this.#o.get(
      op,
      path,
      l.bucket,
      l.key,
      Math.max(length, this.#maxBytes),
      options.signal,
      {
        range,
      },
      [404, 416],
    );
    if (!r) throw await this.#ns.missing(op, path, l, options.signal);
    if (r.status === 416) return new Uint8Array(0);
    if (r.status === 200) return r.body.slice(offset, offset + length);
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(r.headers.get("content-range") ?? "");
    if (!m || Number(m[1]) !== offset || r.body.length !== Number(m[2]) - offset + 1) {
      throw new CorruptDataError(op, path, `range response does not match ${range}`);
    }
    if (r.body.length > length) throw new CorruptDataError(op, path, "range response too long");
    if (m[3] !== "*" && r.body.length < length && Number(m[2]) + 1 !== Number(m[3])) {
      throw new CorruptDataError(op, path, "short range response before the end of the object");
    }
    return r.body;
  }

  /** Reads an object with its ETag; `undefined` when absent. */
  async loadVersioned(
    path: string,
    options: S3CallOptions = {},
  ): Promise<VersionedBytes | undefined> {
    const op = "loadVersioned";
    const l = this.#ns.objectLoc(path, op);
    const r = await this.#o.get(op, path, l.bucket, l.key, this.#maxBytes, options.signal);
    if (!r) return undefined;
    const version = r.headers.get("etag");
    if (!version) throw new CorruptDataError(op, path, "the object has no ETag");
    return { bytes: r.body, version };
  }

  /**
   * Writes only if the object's ETag is `expected` (`null`: only if absent).
   * Resolves to the new ETag, or `false` when another writer won.
   */
  async saveIfVersion(
    bytes: Uint8Array,
    path: string,
    expected: string | null,
    options: S3CallOptions = {},
  ): Promise<string | false> {
    const op = "saveIfVersion";
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`${op} '${path}': bytes expected`);
    const l = this.#ns.objectLoc(path, op);
    // Creating: the same parent / not-a-directory checks as save (a swap's object exists already).
    if (expected === null) await this.#ns.preflight(op, [path], [l], true, options.signal);
    const cond = expected === null ? "absent" as const : { etag: expected };
    try {
      return await this.#o.put(op, path, l.bucket, l.key, bytes, cond, options.signal);
    } catch (err) {
      if (expected !== null && err instanceof NotFoundError) return false;
      throw err;
    }
  }

  // ------------------------------------------------------------ listings

  /** Entry names of a directory (files and subdirectories), natural order. */
  async listDir(path: string, options: S3CallOptions = {}): Promise<string[]> {
    const l = this.#ns.loc(path, "listDir");
    const lv = await this.#ns.level("listDir", path, l, options.signal);
    if (!lv.marker && lv.files.length === 0 && lv.dirs.length === 0) {
      await this.#ns.emptyLevel("listDir", path, l, options.signal);
    }
    return naturalSort([...new Set([...lv.files, ...lv.dirs])]);
  }

  /**
   * Files under `dir`, breadth-first, natural order per depth; a recursive
   * listing inside a bucket is one flat ListObjectsV2 pass.
   */
  async listFiles(dir: string, options: ListOptions & S3CallOptions = {}): Promise<string[]> {
    return await listFilesIn(this.#ns, dir, options);
  }

  /** True for an object; `IsADirectoryError` for a prefix or bucket; `NotFoundError` if missing. */
  async isFile(path: string, options: S3CallOptions = {}): Promise<boolean> {
    const l = this.#ns.loc(path, "isFile");
    const k = await this.#ns.kind("isFile", path, l, options.signal);
    if (k.kind === "file") return true;
    if (k.kind === "dir") throw new IsADirectoryError("isFile", path);
    throw new NotFoundError("isFile", path);
  }

  /** True for a prefix or bucket; `NotADirectoryError` for an object; `NotFoundError` if missing. */
  async isDir(path: string, options: S3CallOptions = {}): Promise<boolean> {
    const l = this.#ns.loc(path, "isDir");
    const k = await this.#ns.kind("isDir", path, l, options.signal);
    if (k.kind === "dir") return true;
    if (k.kind === "file") throw new NotADirectoryError("isDir", path);
    throw new NotFoundError("isDir", path);
  }

  /** Describes a path (S3 has no symlinks). */
  async stat(path: string, options: S3CallOptions = {}): Promise<StatResult> {
    const l = this.#ns.loc(path, "stat");
    const k = await this.#ns.kind("stat", path, l, options.signal);
    if (k.kind === "file") return { type: "file", path, exists: true, size: k.head.size };
    if (k.kind === "dir") return { type: "directory", path, exists: true };
    return { type: "missing", path, exists: false };
  }

  // ------------------------------------------------------------ namespace

  /** Creates the bucket if needed and a `dir/` marker at every level below it. */
  async ensureDirectory(path: string, options: S3CallOptions = {}): Promise<void> {
    const op = "ensureDirectory";
    const l = this.#ns.loc(path, op);
    const signal = options.signal;
    if (l.bucket === undefined) return;
    const bucket = l.bucket;
    if (!(await this.#o.bucketExists(op, path, bucket, signal))) {
      await this.#o.client.send(op, path, { method: "PUT", bucket, signal });
    }
    if (l.key === "") return;
    if (await this.#o.any(op, path, bucket, `${l.key}/`, signal)) return;
    const segs = l.key.split("/");
    const levels = segs.map((_, i) => segs.slice(0, i + 1).join("/"));
    const heads = await pool(
      levels.length,
      8,
      signal,
      (i, sig) => this.#o.head(op, path, bucket, levels[i]!, sig),
    );
    if (heads.some((h) => h !== undefined)) {
      throw new NotADirectoryError(op, path, "a file is in the way");
    }
    await pool(
      levels.length,
      8,
      signal,
      (i, sig) =>
        this.#o.put(op, path, bucket, `${levels[i]!}/`, new Uint8Array(0), undefined, sig),
    );
  }

  /** Removes an object, an empty directory (its marker) or an empty bucket. */
  async delete(path: string, options: S3CallOptions = {}): Promise<void> {
    const op = "delete";
    const l = this.#ns.loc(path, op);
    const signal = options.signal;
    if (l.bucket === undefined) {
      throw new StorageError(op, path, "cannot delete the root", { code: "EBUSY" });
    }
    if (l.key === "") {
      await this.#o.client.send(op, path, { method: "DELETE", bucket: l.bucket, signal });
      return;
    }
    const [head, under] = await Promise.all([
      this.#o.head(op, path, l.bucket, l.key, signal),
      this.#o.any(op, path, l.bucket, `${l.key}/`, signal),
    ]);
    if (head) {
      await this.#o.client.send(op, path, {
        method: "DELETE",
        bucket: l.bucket,
        key: l.key,
        signal,
      });
      return;
    }
    if (!under) throw new NotFoundError(op, path);
    if (under.some((k) => k !== `${l.key}/`)) throw new DirectoryNotEmptyError(op, path);
    await this.#o.client.send(op, path, {
      method: "DELETE",
      bucket: l.bucket,
      key: `${l.key}/`,
      signal,
    });
  }

  /** Removes an object or a whole prefix (DeleteObjects, 1000 keys a request); a bucket too. */
  async deleteAll(path: string, options: S3CallOptions = {}): Promise<void> {
    const op = "deleteAll";
    const l = this.#ns.loc(path, op);
    const signal = options.signal;
    if (l.bucket === undefined) {
      throw new StorageError(op, path, "cannot delete the root", { code: "EBUSY" });
    }
    const prefix = l.key === "" ? "" : `${l.key}/`;
    const [head, all] = await Promise.all([
      l.key === "" ? undefined : this.#o.head(op, path, l.bucket, l.key, signal),
      this.#o.listAll(op, path, l.bucket, prefix, false, signal),
    ]);
    const keys = all.keys.map((k) => k.key);
    if (head) keys.push(l.key);
    if (keys.length === 0 && l.key !== "") throw new NotFoundError(op, path);
    await this.#o.deleteKeys(op, path, l.bucket, keys, signal);
    if (l.key === "") {
      await this.#o.client.send(op, path, { method: "DELETE", bucket: l.bucket, signal });
    }
  }

  /** S3 has no symbolic links: always `UnsupportedOperationError`. */
  createSymlink(_target: string, link: string): Promise<void> {
    return Promise.reject(
      new UnsupportedOperationError("createSymlink", link, "S3 has no symbolic links"),
    );
  }

  /** Always false: S3 has no symbolic links. */
  isSymlink(path: string): Promise<boolean> {
    try {
      this.#ns.loc(path, "isSymlink");
      return Promise.resolve(false);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Moves an object or a prefix (server-side copy, then delete); refuses an existing destination. */
  async move(src: string, dst: string, options: S3CallOptions = {}): Promise<void> {
    await transfer(this.#ns, "move", src, dst, options.signal, this.#concurrency, this.#cleanupMs);
  }

  /** Copies an object or a prefix server-side; refuses an existing destination. */
  async copy(src: string, dst: string, options: S3CallOptions = {}): Promise<void> {
    await transfer(this.#ns, "copy", src, dst, options.signal, this.#concurrency, this.#cleanupMs);
  }
}

/**
 * An S3 backend configured from the environment (`S3_ENDPOINT`, `S3_REGION`,
 * `S3_ACCESS_KEY_ID`, `S3_SECRET_ACCESS_KEY`, or the `AWS_*` equivalents).
 *
 * @example
 * ```ts
 * import { s3FromEnv } from "@hcs/store/s3";
 * const env: Record<string, string> = {
 *   S3_ENDPOINT: "http://127.0.0.1:7480",
 *   S3_ACCESS_KEY_ID: "k",
 *   S3_SECRET_ACCESS_KEY: "s",
 * };
 * console.assert(s3FromEnv((n) => env[n]).key === "s3");
 * ```
 */
export function s3FromEnv(env: (name: string) => string | undefined): S3Backend {
  return new S3Backend(optionsFromEnv(env));
}

// The contract types (and base class) this entry's API refers to, so it documents them on its own.
export * from "./base.ts";
