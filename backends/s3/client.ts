/**
 * The S3 request layer: URL building, SigV4 signing (by `aws4fetch`, never
 * by hand), retries, timeouts, abort signals, and the one place where HTTP
 * statuses and S3 error codes become typed storage errors.
 *
 * - Only the configured endpoint's origin is ever contacted: bucket names are
 *   validated and keys are percent-encoded per segment, so neither can change
 *   the host or the path; redirects are never followed (`redirect: "manual"`).
 * - 5xx, 408, 429, network errors and truncated bodies are retried with
 *   exponential backoff and full jitter, waiting at least what `Retry-After`
 *   asks; a body shorter than its `Content-Length` is never returned.
 *
 * @module
 */

import { AwsV4Signer } from "npm:aws4fetch@^1.0.20";
import { sleep, throwIfAborted } from "../../_internal/abort.ts";

export { sleep };
import {
  AlreadyExistsError,
  DirectoryNotEmptyError,
  LimitExceededError,
  NotFoundError,
  PermissionDeniedError,
  restate,
  StorageError,
  type StorageErrorCode,
} from "../../errors.ts";

/** Credentials for SigV4. */
export interface S3Credentials {
  /** Access key id. */
  accessKeyId: string;
  /** Secret access key. */
  secretAccessKey: string;
  /** Session token of temporary credentials (STS). */
  sessionToken?: string;
}

/** Settings of the request layer. */
export interface ClientSettings {
  endpoint: URL;
  region: string;
  credentials: S3Credentials;
  forcePathStyle: boolean;
  fetch: typeof fetch;
  retries: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
  timeoutMs: number;
  signal: AbortSignal | undefined;
}

/** One request. `key` is the object key (undefined: the bucket; bucket undefined: the service). */
export interface S3Request {
  method: "GET" | "HEAD" | "PUT" | "POST" | "DELETE";
  bucket?: string;
  key?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Statuses handed back to the caller instead of being thrown (e.g. 404 for "absent"). */
  pass?: readonly number[];
  /** Largest body accepted (checked against Content-Length before reading). */
  maxBytes?: number;
  signal?: AbortSignal | undefined;
  /**
   * False for requests whose repetition could change the outcome (a
   * conditional PUT): they are still retried, and the caller resolves the
   * ambiguity (see `S3Backend`'s write ids).
   */
  idempotent?: boolean;
}

/** A finished request: status, headers, body (empty for HEAD), attempts used. */
export interface S3Response {
  status: number;
  headers: Headers;
  body: Uint8Array;
  attempts: number;
}

const RETRY = new Set([408, 429, 500, 502, 503, 504]);
/** Largest XML answer (a 1000-key listing page is well under 1 MiB). */
const XML_LIMIT = 16 * 2 ** 20;
/** Bytes of an error body kept (the rest is dropped). */
const ERROR_LIMIT = 64 * 1024;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** True for a name S3 accepts as a bucket (lower case, digits, `.` and `-`, 3–63 chars). */
export function validBucket(name: string): boolean {
  return BUCKET.test(name) && !name.includes("..") && !/^\d+\.\d+\.\d+\.\d+$/.test(name);
}

/** Percent-encodes a key per segment (RFC 3986 unreserved kept), `/` kept as separator. */
export function encodeKey(key: string): string {
  return key.split("/").map(rfc3986).join("/");
}

/** `encodeURIComponent` plus `!'()*`, the form SigV4 canonicalises to. */
export function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The signed-request client shared by everything in the S3 backend. */
export class S3Client {
  readonly #s: ClientSettings;
  readonly #cache = new Map<string, ArrayBuffer>();

  /** @param settings endpoint, credentials, retry and timeout policy */
  constructor(settings: ClientSettings) {
    this.#s = settings;
  }

  /** The URL of a bucket/key: path style, or virtual-hosted where allowed. */
  url(bucket: string | undefined, key: string | undefined, query?: Record<string, string>): URL {
    const base = this.#s.endpoint;
    const u = new URL(base.origin);
    const basePath = base.pathname.replace(/\/+$/, "");
    const keyPart = key === undefined ? "" : `/${encodeKey(key)}`;
    if (bucket === undefined) u.pathname = `${basePath}/`;
    else if (this.#s.forcePathStyle || bucket.includes(".") || isIpHost(base.hostname)) {
      u.pathname = `${basePath}/${bucket}${keyPart || (key === undefined ? "" : "/")}`;
    } else {
      u.hostname = `${bucket}.${base.hostname}`;
      u.pathname = `${basePath}${keyPart || "/"}`;
    }
    if (query) {
      // built by hand: URLSearchParams writes spaces as "+", which S3 reads differently
      u.search = Object.entries(query).map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`).join("&");
    }
    return u;
  }

  /**
   * Sends one request with retries; resolves with a 2xx (or `pass`) response,
   * throws a typed error otherwise. `op`/`path` name the storage operation.
   */
  async send(op: string, path: string, req: S3Request): Promise<S3Response> {
    const outer = joinSignals([this.#s.signal, req.signal]);
    try {
      for (let attempt = 0;; attempt++) {
        throwIfAborted(outer.signal, op, path);
        const r = await this.#attempt(op, path, req, outer.signal);
        if (!(r instanceof Retryable)) return { ...r, attempts: attempt + 1 };
        if (attempt >= this.#s.retries) {
          const e = r.error;
          throw attempt === 0
            ? e
            : restate(e, e.operation, e.path, `${e.reason} (after ${attempt + 1} attempts)`);
        }
        const cap = Math.min(this.#s.maxRetryDelayMs, this.#s.retryDelayMs * 2 ** attempt);
        const backoff = cap / 2 + Math.random() * (cap / 2);
        const wait = Math.min(Math.max(backoff, r.retryAfterMs), this.#s.maxRetryDelayMs);
        await sleep(wait, outer.signal, op, path);
      }
    } finally {
      outer.dispose();
    }
  }

  async #attempt(
    op: string,
    path: string,
    req: S3Request,
    outer: AbortSignal | undefined,
  ): Promise<Omit<S3Response, "attempts"> | Retryable> {
    const url = this.url(req.bucket, req.key, req.query);
    const ctl = new AbortController();
    let timedOut = false;
    const onAbort = () => ctl.abort(outer?.reason);
    if (outer?.aborted) onAbort();
    else outer?.addEventListener("abort", onAbort, { once: true });
    const timer = this.#s.timeoutMs > 0
      ? setTimeout(() => {
        timedOut = true;
        ctl.abort(new Error("timeout"));
      }, this.#s.timeoutMs)
      : undefined;
    const interrupted = (err: unknown): StorageError | Retryable => {
      if (timedOut) {
        return new Retryable(
          new StorageError(op, path, `timed out after ${this.#s.timeoutMs} ms`, {
            code: "ETIMEDOUT",
            cause: err,
          }),
        );
      }
      return new StorageError(op, path, "aborted", { code: "ABORT_ERR", cause: outer?.reason });
    };
    try {
      const headers: Record<string, string> = { "accept-encoding": "identity", ...req.headers };
      const signed = await new AwsV4Signer({
        method: req.method,
        url: url.href,
        headers,
        accessKeyId: this.#s.credentials.accessKeyId,
        secretAccessKey: this.#s.credentials.secretAccessKey,
        ...(this.#s.credentials.sessionToken !== undefined
          ? { sessionToken: this.#s.credentials.sessionToken }
          : {}),
        service: "s3",
        region: this.#s.region,
        cache: this.#cache,
      }).sign();
      let res: Response;
      try {
        res = await this.#s.fetch(signed.url.href, {
          method: req.method,
          headers: signed.headers,
          body: (req.body ?? null) as BodyInit | null,
          signal: ctl.signal,
          redirect: "manual",
        });
      } catch (err) {
        if (ctl.signal.aborted) {
          const e = interrupted(err);
          if (e instanceof Retryable) return e;
          throw e;
        }
        return new Retryable(
          new StorageError(op, path, `network error: ${describe(err)}`, {
            code: "ECONNRESET",
            cause: err,
          }),
        );
      }
      const status = res.status;
      const ok = (status >= 200 && status < 300) || (req.pass?.includes(status) ?? false);
      // every body is bounded: objects by maxBytes, XML answers and error bodies by fixed caps
      const limit = ok ? (req.maxBytes ?? XML_LIMIT) : ERROR_LIMIT;
      const cl = contentLength(res);
      if (ok && cl !== undefined && cl > limit) {
        await discard(res);
        throw new LimitExceededError(
          op,
          path,
          `response is ${cl} bytes, over the limit of ${limit} (maxDecodedBytes for objects)`,
          { status },
        );
      }
      let body: Uint8Array;
      try {
        body = req.method === "HEAD"
          ? new Uint8Array(0)
          : cl !== undefined && cl <= limit
          ? new Uint8Array(await res.arrayBuffer())
          : await readCapped(res, limit, !ok);
      } catch (err) {
        if (err instanceof OverLimit) {
          throw new LimitExceededError(op, path, `response body over the limit of ${limit}`, {
            status,
          });
        }
        if (ctl.signal.aborted) {
          const e = interrupted(err);
          if (e instanceof Retryable) return e;
          throw e;
        }
        return new Retryable(
          new StorageError(op, path, `response body cut off: ${describe(err)}`, {
            code: "ERR_TRUNCATED",
            cause: err,
            status,
          }),
        );
      }
      const declared = req.method === "HEAD" ? undefined : contentLength(res);
      if (declared !== undefined && body.length !== declared) {
        return new Retryable(
          new StorageError(op, path, `truncated response: ${body.length} of ${declared} bytes`, {
            code: "ERR_TRUNCATED",
            status,
          }),
        );
      }
      if (ok) return { status, headers: res.headers, body };
      const e = statusError(op, path, status, body, res.headers);
      if (RETRY.has(status)) return new Retryable(e, retryAfter(res.headers));
      throw e;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      outer?.removeEventListener("abort", onAbort);
    }
  }
}

/** A failure worth another attempt, with the server's requested wait. */
class Retryable {
  readonly error: StorageError;
  readonly retryAfterMs: number;
  constructor(error: StorageError, retryAfterMs = 0) {
    this.error = error;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The S3 error code and message of an XML error body, if there is one. */
export function s3ErrorOf(body: Uint8Array): { code?: string; message?: string } {
  const text = body.length > 0 && body.length < 65536 ? dec.decode(body) : "";
  const out: { code?: string; message?: string } = {};
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
  if (code) out.code = code;
  if (message) out.message = message;
  return out;
}

/** The one mapping from an S3 response to a typed error. */
/** The `S3_<Code>` error code for a server's `<Code>` (untrusted text: letters only, else `fallback`). */
export function s3Code(code: string | undefined, fallback: StorageErrorCode): StorageErrorCode {
  return code !== undefined && /^[A-Za-z]{1,64}$/.test(code) ? `S3_${code}` : fallback;
}

export function statusError(
  op: string,
  path: string,
  status: number,
  body: Uint8Array,
  headers?: Headers,
): StorageError {
  const { code, message } = s3ErrorOf(body);
  const what = `HTTP ${status}${code ? ` ${code}` : ""}${message ? `: ${message}` : ""}`;
  const opts = { status };
  if (status === 404) {
    return new NotFoundError(op, path, `no such object or bucket (${what})`, opts);
  }
  if (status === 403 || status === 401) return new PermissionDeniedError(op, path, what, opts);
  if (status === 412) {
    return new AlreadyExistsError(op, path, `precondition failed (${what})`, opts);
  }
  if (status === 409 && code === "BucketNotEmpty") {
    return new DirectoryNotEmptyError(op, path, `bucket is not empty (${what})`, opts);
  }
  if (status >= 300 && status < 400) {
    const loc = headers?.get("location");
    return new StorageError(op, path, `redirect not followed (${what}${loc ? ` → ${loc}` : ""})`, {
      code: `HTTP_${status}`,
      status,
    });
  }
  return new StorageError(op, path, what, { code: s3Code(code, `HTTP_${status}`), status });
}

function retryAfter(h: Headers): number {
  const v = h.get("retry-after");
  if (v === null) return 0;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? 0 : Math.max(0, t - Date.now());
}

function contentLength(res: Response): number | undefined {
  const v = res.headers.get("content-length");
  return v !== null && /^\d+$/.test(v.trim()) ? Number(v) : undefined;
}

class OverLimit extends Error {}

/** Reads a body of unknown length, at most `limit` bytes (or throws `OverLimit`; `truncate` keeps the head). */
async function readCapped(res: Response, limit: number, truncate: boolean): Promise<Uint8Array> {
  const reader = res.body?.getReader();
  if (!reader) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > limit) {
      await reader.cancel().catch(() => {});
      if (!truncate) throw new OverLimit();
      chunks.push(value.subarray(0, value.length - (n - limit)));
      n = limit;
      break;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // already closed: nothing to free
  }
}

function isIpHost(host: string): boolean {
  return /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.startsWith("[") || host === "localhost";
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
  }
  return String(err);
}

/** A signal that fires when any of `signals` does; `dispose` unhooks it. */
export function joinSignals(
  signals: readonly (AbortSignal | undefined)[],
): { signal: AbortSignal | undefined; dispose(): void } {
  const live = signals.filter((s): s is AbortSignal => s !== undefined);
  if (live.length === 0) return { signal: undefined, dispose: () => {} };
  if (live.length === 1) return { signal: live[0], dispose: () => {} };
  const ctl = new AbortController();
  const undo: (() => void)[] = [];
  for (const s of live) {
    if (s.aborted) {
      ctl.abort(s.reason);
      break;
    }
    const on = () => ctl.abort(s.reason);
    s.addEventListener("abort", on, { once: true });
    undo.push(() => s.removeEventListener("abort", on));
  }
  return { signal: ctl.signal, dispose: () => undo.forEach((u) => u()) };
}

/** UTF-8 bytes of a string. */
export function utf8(s: string): Uint8Array {
  return enc.encode(s);
}

/** Text of UTF-8 bytes. */
export function text(b: Uint8Array): string {
  return dec.decode(b);
}
