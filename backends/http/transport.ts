/**
 * The HTTP backend's transport: one idempotent request with retries,
 * per-attempt timeouts and `AbortSignal`s, manual redirects and bounded body
 * reads. Runtime-neutral (only `fetch`, `URL`, streams).
 *
 * Redirects are followed by hand (`redirect: "manual"`) so every hop is
 * checked by {@linkcode confine} before it is requested: same origin, under
 * `baseUrl`, at most `maxRedirects` hops; configured headers therefore never
 * reach another origin. Bodies are read as streams against the
 * `maxDecodedBytes` budget, never buffered past it.
 *
 * @module
 */

import {
  httpStatusError,
  LimitExceededError,
  PermissionDeniedError,
  restate,
  StorageError,
  type StorageErrorCode,
} from "../../errors.ts";
import { confine } from "./url.ts";
import { sleep, throwIfAborted } from "../../_internal/abort.ts";

/** What {@linkcode HttpTransport} needs from the backend's options. */
export interface TransportOptions {
  /** Scope of every request when set (otherwise: the origin of each request). */
  base: URL | undefined;
  fetch: typeof fetch;
  headers: HeadersInit | (() => HeadersInit | Promise<HeadersInit>) | undefined;
  retries: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  redirects: "same-origin" | "none";
  maxRedirects: number;
  /** Default body budget in bytes. */
  budget: number;
}

/** A finished request: its response and (for GET) its checked body. */
export interface Attempt {
  response: Response;
  bytes: Uint8Array | undefined;
}

/** One request as the transport sees it. */
export interface Req {
  op: string;
  path: string;
  url: string;
  method: "GET" | "HEAD";
  signal: AbortSignal | undefined;
  /** `[offset, length]` of a range read (sends `Range`, checks `Content-Range`). */
  range?: [number, number];
  /** Statuses handed back instead of thrown. */
  pass?: number[];
  /** Body budget (default: the backend's `maxDecodedBytes`). */
  budget?: number;
}

const RETRY_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

/** Requests for one {@linkcode HttpBackend}; see the module documentation. */
export class HttpTransport {
  readonly #base: URL | undefined;
  readonly #fetch: typeof fetch;
  readonly #headers: TransportOptions["headers"];
  readonly #retries: number;
  readonly #delay: number;
  readonly #maxDelay: number;
  readonly #timeout: number;
  readonly #signal: AbortSignal | undefined;
  readonly #redirects: "same-origin" | "none";
  readonly #maxRedirects: number;
  readonly #budget: number;

  /** Creates the transport from validated options. */
  constructor(o: TransportOptions) {
    this.#base = o.base;
    this.#fetch = o.fetch;
    this.#headers = o.headers;
    this.#retries = o.retries;
    this.#delay = o.retryDelayMs;
    this.#maxDelay = o.maxRetryDelayMs;
    this.#timeout = o.timeoutMs;
    this.#signal = o.signal;
    this.#redirects = o.redirects;
    this.#maxRedirects = o.maxRedirects;
    this.#budget = o.budget;
  }

  /**
   * One idempotent request with retries. Resolves with a 2xx response (body
   * read and length-checked for GET) or a status listed in `pass`; throws a
   * typed error otherwise. Truncated or mismatched bodies are retryable
   * failures; limits, confinement and redirect refusals are final.
   */
  async request(req: Req): Promise<Attempt> {
    const signals = [this.#signal, req.signal].filter((s): s is AbortSignal => s !== undefined);
    const outer = signals.length ? anySignal(signals) : undefined;
    try {
      for (let attempt = 0;; attempt++) {
        throwIfAborted(outer?.signal, req.op, req.path);
        const r = await this.#attempt(req, outer?.signal);
        if (!(r instanceof StorageError)) return r;
        const failure = r;
        if (attempt >= this.#retries) {
          if (this.#retries === 0) throw failure;
          throw withAttempts(failure, attempt + 1);
        }
        const base = Math.min(this.#maxDelay, this.#delay * 2 ** attempt);
        await sleep(base * (0.75 + Math.random() * 0.25), outer?.signal, req.op, req.path);
      }
    } finally {
      outer?.dispose();
    }
  }

  /** One attempt (redirect hops included); returns a retryable failure as a value, throws final ones. */
  async #attempt(req: Req, outer: AbortSignal | undefined): Promise<Attempt | StorageError> {
    const { op, path, method } = req;
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
    let url = req.url;
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
      let headers: Headers;
      try {
        headers = new Headers(await this.#resolveHeaders());
      } catch (err) {
        throw new StorageError(op, path, `headers option failed: ${message(err)}`, {
          code: "EINVAL",
          cause: err,
        });
      }
      if (req.range) {
        headers.set("range", `bytes=${req.range[0]}-${req.range[0] + req.range[1] - 1}`);
      }
      const scope = this.#base?.href ?? `${new URL(url).origin}/`;
      let response: Response;
      for (let hop = 0;; hop++) {
        confine(url, scope, op, path);
        try {
          response = await this.#fetch(url, {
            method,
            headers,
            signal: ctl.signal,
            redirect: "manual",
          });
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
        if (!REDIRECT_STATUS.has(response.status) && response.type !== "opaqueredirect") break;
        await cancel(response);
        url = this.#redirectTarget(response, url, scope, hop, op, path);
      }
      const status = response.status;
      if (req.pass?.includes(status) || (status === 416 && req.range !== undefined)) {
        await cancel(response);
        return { response, bytes: new Uint8Array(0) };
      }
      if (status < 200 || status > 299) {
        await cancel(response);
        const e = httpStatusError(response, op, path);
        if (RETRY_STATUS.has(status)) return e;
        throw e;
      }
      if (method === "HEAD") {
        await cancel(response);
        return { response, bytes: undefined };
      }
      const fail = (why: string, code: StorageErrorCode = "ERR_TRUNCATED") =>
        new StorageError(op, path, `${why} (${url})`, { code, status });
      let plan: BodyPlan = { skip: 0, budget: req.budget ?? this.#budget };
      if (req.range) {
        const [offset, length] = req.range;
        if (status === 206) {
          const bad = rangeMismatch(response.headers.get("content-range"), offset, length);
          if (bad !== undefined) {
            await cancel(response);
            return fail(bad.why, bad.code);
          }
          plan = { skip: 0, take: length, exact: true, budget: length };
        } else plan = { skip: offset, take: length, exact: false, budget: length };
      }
      try {
        const bytes = await readBody(response, plan, ctl.signal, fail, () =>
          new LimitExceededError(
            op,
            path,
            `response body passes the maxDecodedBytes budget of ${plan.budget} bytes (${url})`,
            { status },
          ));
        if (bytes instanceof StorageError) return bytes;
        return { response, bytes };
      } catch (err) {
        if (err instanceof StorageError) throw err;
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
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      outer?.removeEventListener("abort", onOuter);
    }
  }

  /**
   * Where a redirect leads, when it may be followed: same origin and under
   * the scope (baseUrl), at most `maxRedirects` hops, `redirects: "same-origin"`.
   */
  #redirectTarget(
    response: Response,
    from: string,
    scope: string,
    hop: number,
    op: string,
    path: string,
  ): string {
    const status = response.status;
    const refuse = (why: string) =>
      new StorageError(op, path, `${why} (${from})`, { code: "ERR_REDIRECT", status });
    if (this.#redirects === "none") {
      throw refuse(`server redirected (HTTP ${status}) and redirects are disabled`);
    }
    const location = response.headers.get("location");
    if (response.type === "opaqueredirect" || location === null) {
      throw refuse(`redirect (HTTP ${status}) without a readable Location`);
    }
    if (hop >= this.#maxRedirects) throw refuse(`more than ${this.#maxRedirects} redirects`);
    let next: URL;
    try {
      next = new URL(location, from);
    } catch {
      throw refuse(`redirect to an invalid URL`);
    }
    next.hash = "";
    const s = new URL(scope);
    if (next.origin !== s.origin) {
      throw new PermissionDeniedError(
        op,
        path,
        `redirect to another origin (${next.origin}) refused; headers are never sent there`,
        { status },
      );
    }
    confine(next.href, scope, op, path);
    return next.href;
  }

  async #resolveHeaders(): Promise<HeadersInit | undefined> {
    const h = this.#headers;
    return typeof h === "function" ? await h() : h;
  }
}

/** What a body read keeps: `skip` leading bytes dropped, then `take` bytes (or all). */
interface BodyPlan {
  skip: number;
  /** Bytes to keep; undefined = the whole body. */
  take?: number;
  /** True when the body must be exactly `take` bytes (a 206); false stops reading after them. */
  exact?: boolean;
  /** Largest body kept, in bytes. */
  budget: number;
}

/**
 * Reads a body as a stream, never holding more than the plan allows: a
 * declared `Content-Length` over the budget fails before reading, an
 * undeclared (chunked, compressed) body fails as soon as it passes it. A body
 * shorter or longer than declared or asked for is a (retryable) failure.
 */
async function readBody(
  res: Response,
  plan: BodyPlan,
  signal: AbortSignal,
  fail: (why: string, code?: StorageErrorCode) => StorageError,
  overBudget: () => StorageError,
): Promise<Uint8Array | StorageError> {
  const declared = declaredLength(res);
  const { skip, take, exact = false, budget } = plan;
  if (take === undefined && declared !== undefined && declared > budget) {
    await cancel(res);
    throw overBudget();
  }
  if (take !== undefined && declared !== undefined) {
    if (exact && declared !== take) {
      await cancel(res);
      return fail(`range read declares ${declared} of ${take} bytes`);
    }
    if (!exact && declared < skip + take) {
      await cancel(res);
      return fail(`file has ${declared} bytes, range ends at ${skip + take}`);
    }
  }
  const size = take ?? declared;
  const buf = size !== undefined ? new Uint8Array(size) : undefined;
  const chunks: Uint8Array[] = [];
  let pos = 0; // body bytes seen
  let held = 0; // bytes kept
  const reader = res.body?.getReader();
  if (reader) {
    const onAbort = () => void reader.cancel(signal.reason).catch(() => {});
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (signal.aborted) throw signal.reason;
        if (done) break;
        const start = pos;
        pos += value.length;
        const limit = size ?? budget;
        if (take === undefined || exact) {
          if (pos > limit) {
            await reader.cancel().catch(() => {});
            if (size === undefined) throw overBudget();
            return fail(
              take === undefined
                ? `body longer than its Content-Length of ${declared}`
                : `range read sent more than ${take} bytes`,
              "ERR_CORRUPT_DATA",
            );
          }
        }
        const from = Math.max(start, skip);
        const to = Math.min(pos, take === undefined ? pos : skip + take);
        if (to > from) {
          const part = value.subarray(from - start, to - start);
          if (buf) buf.set(part, held);
          else chunks.push(part);
          held += part.length;
        }
        if (take !== undefined && !exact && held === take) {
          await reader.cancel().catch(() => {});
          break;
        }
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
  if (size !== undefined && held < size) {
    if (take === undefined) return fail(`truncated body: ${held} of ${declared} bytes`);
    if (exact) return fail(`range read returned ${held} of ${take} bytes`);
    return fail(`file has ${pos} bytes, range ends at ${skip + take}`);
  }
  if (buf) return buf;
  const out = new Uint8Array(held);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Why a 206's `Content-Range` does not answer `offset`/`length`, or undefined when it does. */
function rangeMismatch(
  header: string | null,
  offset: number,
  length: number,
): { why: string; code: StorageErrorCode } | undefined {
  const end = offset + length - 1;
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/i.exec((header ?? "").trim());
  if (!m) {
    return {
      why: `206 with Content-Range '${header ?? ""}' for ${offset}-${end}`,
      code: "ERR_CORRUPT_DATA",
    };
  }
  const [s, e] = [Number(m[1]), Number(m[2])];
  const total = m[3] === "*" ? undefined : Number(m[3]);
  if (s !== offset || e < s || (total !== undefined && e >= total)) {
    return {
      why: `server sent range ${m[1]}-${m[2]}/${m[3]} for ${offset}-${end}`,
      code: "ERR_CORRUPT_DATA",
    };
  }
  if (e !== end) {
    // a prefix of what was asked: the file ends early, or the server cut it
    return { why: `server sent range ${s}-${e} for ${offset}-${end}`, code: "ERR_TRUNCATED" };
  }
  return undefined;
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

/** A signal that aborts when any input does (AbortSignal.any is not everywhere). */
export function anySignal(signals: AbortSignal[]): { signal: AbortSignal; dispose(): void } {
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

function message(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
    return `${err.message}${cause}`;
  }
  return String(err);
}
