/**
 * Object-level S3 operations over {@linkcode S3Client}: HEAD/GET/PUT,
 * listings, batched deletes, server-side copies and multipart uploads. The
 * filesystem semantics (directories, parents, refusals) live in `s3.ts`.
 *
 * Conditional writes carry a random `x-amz-meta-hcs-write` id: when a
 * create-only or compare-and-swap PUT meets 412, the object's id says whether
 * an earlier attempt whose answer was lost was in fact ours.
 *
 * @module
 */

import {
  AlreadyExistsError,
  CorruptDataError,
  LimitExceededError,
  StorageError,
} from "../../errors.ts";
import { type S3Client, s3Code, type S3Response, sleep, text, utf8 } from "./client.ts";
import { completeBody, deleteErrors, deleteObjectsBody, field, parseListPage } from "./xml.ts";
import { copyRange, MAX_PART, planParts } from "./parts.ts";

/** What HEAD says about an object. */
export interface Head {
  size: number;
  etag: string;
  writeId: string | undefined;
}

/**
 * Bounded-concurrency map in order. The first failure stops new work and is
 * thrown once every started call has settled; with `abortRest` (default) it
 * also aborts the calls in flight. Writes pass false: an aborted PUT may still
 * land on the server after its cleanup ran.
 */
export async function pool<T>(
  count: number,
  limit: number,
  signal: AbortSignal | undefined,
  fn: (i: number, signal: AbortSignal) => Promise<T>,
  abortRest = true,
): Promise<T[]> {
  const out = new Array<T>(count);
  const ctl = new AbortController();
  const onOuter = () => ctl.abort(signal?.reason);
  if (signal?.aborted) onOuter();
  else signal?.addEventListener("abort", onOuter, { once: true });
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < count) {
      const i = next++;
      try {
        out[i] = await fn(i, ctl.signal);
      } catch (err) {
        if (failure === undefined) failure = { err };
        if (abortRest) ctl.abort(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  } finally {
    signal?.removeEventListener("abort", onOuter);
  }
  if (failure) throw failure.err;
  return out;
}

/** A random id for one write. */
export function writeId(): string {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** Object operations on one client. `op`/`path` name the storage call for errors. */
export class Objects {
  readonly client: S3Client;
  /** Most entries one listing collects (a server paging forever cannot exhaust memory). */
  readonly maxListed: number;
  /**
   * @param client the signed-request client
   * @param maxListed the listing bound
   */
  constructor(client: S3Client, maxListed = 10_000_000) {
    this.client = client;
    this.maxListed = maxListed;
  }

  /** HEAD an object; undefined when absent. */
  async head(
    op: string,
    path: string,
    bucket: string,
    key: string,
    signal?: AbortSignal,
  ): Promise<Head | undefined> {
    const r = await this.client.send(op, path, {
      method: "HEAD",
      bucket,
      key,
      pass: [404],
      signal,
    });
    if (r.status === 404) return undefined;
    return {
      size: Number(r.headers.get("content-length") ?? "0"),
      etag: r.headers.get("etag") ?? "",
      writeId: r.headers.get("x-amz-meta-hcs-write") ?? undefined,
    };
  }

  /** True when the bucket exists (and is ours to see). */
  async bucketExists(op: string, path: string, bucket: string, signal?: AbortSignal) {
    const r = await this.client.send(op, path, { method: "HEAD", bucket, pass: [404], signal });
    return r.status !== 404;
  }

  /** One ListObjectsV2 page. */
  async listPage(
    op: string,
    path: string,
    bucket: string,
    prefix: string,
    opts: { delimiter?: boolean; token?: string; maxKeys?: number; signal?: AbortSignal },
  ) {
    const query: Record<string, string> = { "list-type": "2", "encoding-type": "url", prefix };
    if (opts.delimiter) query.delimiter = "/";
    if (opts.token !== undefined) query["continuation-token"] = opts.token;
    if (opts.maxKeys !== undefined) query["max-keys"] = String(opts.maxKeys);
    const r = await this.client.send(op, path, {
      method: "GET",
      bucket,
      query,
      signal: opts.signal,
    });
    return parseListPage(text(r.body), op, path);
  }

  /** Every key (and, with `delimiter`, every common prefix) under `prefix`, all pages. */
  async listAll(
    op: string,
    path: string,
    bucket: string,
    prefix: string,
    delimiter: boolean,
    signal?: AbortSignal,
  ): Promise<{ keys: { key: string; size: number }[]; prefixes: string[] }> {
    const keys: { key: string; size: number }[] = [];
    const prefixes: string[] = [];
    let token: string | undefined;
    const seen = new Set<string>();
    do {
      const page = await this.listPage(op, path, bucket, prefix, {
        delimiter,
        ...(token !== undefined ? { token } : {}),
        ...(signal ? { signal } : {}),
      });
      keys.push(...page.keys);
      prefixes.push(...page.prefixes);
      if (keys.length + prefixes.length > this.maxListed) {
        throw new LimitExceededError(op, path, `listing has more than ${this.maxListed} entries`);
      }
      token = page.next;
      if (token !== undefined) {
        // a server repeating a token would page forever
        if (seen.has(token)) throw new CorruptDataError(op, path, "listing repeats a token");
        seen.add(token);
      }
    } while (token !== undefined);
    return { keys, prefixes };
  }

  /** True when anything exists under `prefix` (one key is enough). */
  async any(op: string, path: string, bucket: string, prefix: string, signal?: AbortSignal) {
    const p = await this.listPage(op, path, bucket, prefix, {
      maxKeys: 2,
      ...(signal ? { signal } : {}),
    });
    return p.keys.length > 0 ? p.keys.map((k) => k.key) : undefined;
  }

  /** GET an object; undefined when absent. `maxBytes` is checked before the body is read. */
  async get(
    op: string,
    path: string,
    bucket: string,
    key: string,
    maxBytes: number,
    signal?: AbortSignal,
    headers?: Record<string, string>,
    pass: readonly number[] = [404],
  ): Promise<S3Response | undefined> {
    const r = await this.client.send(op, path, {
      method: "GET",
      bucket,
      key,
      pass,
      maxBytes,
      signal,
      ...(headers ? { headers } : {}),
    });
    return r.status === 404 ? undefined : r;
  }

  /**
   * PUT one object. `condition`: `"absent"` (If-None-Match: *), an ETag
   * (If-Match, sent unquoted: Ceph 16 rejects the quoted form), or none.
   * Resolves to the new ETag, or `false` when the condition failed.
   */
  async put(
    op: string,
    path: string,
    bucket: string,
    key: string,
    body: Uint8Array,
    condition: "absent" | { etag: string } | undefined,
    signal?: AbortSignal,
  ): Promise<string | false> {
    const id = writeId();
    const headers: Record<string, string> = {
      "content-type": "application/octet-stream",
      "x-amz-meta-hcs-write": id,
    };
    if (condition === "absent") headers["if-none-match"] = "*";
    else if (condition) headers["if-match"] = unquote(condition.etag);
    const r = await this.client.send(op, path, {
      method: "PUT",
      bucket,
      key,
      body,
      headers,
      pass: condition ? [412] : [],
      signal,
      idempotent: condition === undefined,
    });
    if (r.status === 412) {
      // An earlier attempt may have landed before its answer was lost (ours
      // or the HTTP stack's own resend of the request): the id tells.
      const h = await this.head(op, path, bucket, key, signal);
      return h?.writeId === id ? h.etag : false;
    }
    return r.headers.get("etag") ?? (await this.head(op, path, bucket, key, signal))?.etag ?? "";
  }

  /**
   * Multipart upload of `body` (views into it, no copies); aborted on any
   * failure. `createOnly` completes with `If-None-Match: *` (a 412 there is
   * `AlreadyExistsError`; servers that ignore the header leave only the
   * caller's earlier absence check).
   */
  async putMultipart(
    op: string,
    path: string,
    bucket: string,
    key: string,
    body: Uint8Array,
    partSize: number,
    partConcurrency: number,
    createOnly: boolean,
    signal?: AbortSignal,
  ): Promise<void> {
    const init = await this.client.send(op, path, {
      method: "POST",
      bucket,
      key,
      query: { uploads: "" },
      headers: { "content-type": "application/octet-stream", "x-amz-meta-hcs-write": writeId() },
      signal,
    });
    const uploadId = field(text(init.body), "UploadId");
    if (!uploadId) throw new CorruptDataError(op, path, "CreateMultipartUpload gave no UploadId");
    try {
      const parts = planParts(body.length, partSize);
      const etags = await pool(parts.length, partConcurrency, signal, async (i, sig) => {
        const p = parts[i]!;
        const r = await this.client.send(op, path, {
          method: "PUT",
          bucket,
          key,
          query: { partNumber: String(p.n), uploadId },
          body: body.subarray(p.start, p.end),
          signal: sig,
        });
        const etag = r.headers.get("etag");
        if (!etag) throw new CorruptDataError(op, path, `part ${p.n} has no ETag`);
        return { n: p.n, etag };
      });
      const done = await this.#complete(
        op,
        path,
        bucket,
        key,
        uploadId,
        utf8(completeBody(etags)),
        signal,
        createOnly,
      );
      if (!done) throw new AlreadyExistsError(op, path);
    } catch (err) {
      await this.abortUpload(op, path, bucket, key, uploadId);
      throw err;
    }
  }

  /** Completes an upload; false when `createOnly` and the key exists (412). */
  async #complete(
    op: string,
    path: string,
    bucket: string,
    key: string,
    uploadId: string,
    body: Uint8Array,
    signal?: AbortSignal,
    createOnly = false,
  ): Promise<boolean> {
    const headers: Record<string, string> = { "content-type": "application/xml" };
    if (createOnly) headers["if-none-match"] = "*";
    const r = await this.client.send(op, path, {
      method: "POST",
      bucket,
      key,
      query: { uploadId },
      body,
      headers,
      signal,
      pass: createOnly ? [412] : [],
    });
    if (r.status === 412) return false;
    // S3 may answer 200 and still report a failure in the body
    const t = text(r.body);
    if (/<Error>/.test(t)) {
      throw new StorageError(op, path, `multipart completion failed: ${field(t, "Code")}`, {
        code: s3Code(field(t, "Code"), "EIO"),
        status: r.status,
      });
    }
    return true;
  }

  /** Aborts a multipart upload (best effort: it never throws). */
  async abortUpload(op: string, path: string, bucket: string, key: string, uploadId: string) {
    try {
      await this.client.send(op, path, {
        method: "DELETE",
        bucket,
        key,
        query: { uploadId },
        pass: [404],
      });
    } catch {
      // the original failure is what the caller reports
    }
  }

  /** Server-side copy; parts of `copyPartSize` above 5 GiB (UploadPartCopy). */
  async copy(
    op: string,
    path: string,
    from: { bucket: string; key: string; size: number },
    bucket: string,
    key: string,
    copyPartSize: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const source = `/${from.bucket}/${encodeSource(from.key)}`;
    if (from.size <= MAX_PART) {
      const r = await this.client.send(op, path, {
        method: "PUT",
        bucket,
        key,
        headers: { "x-amz-copy-source": source },
        signal,
      });
      if (/<Error>/.test(text(r.body))) {
        throw new StorageError(op, path, `copy failed: ${field(text(r.body), "Code")}`);
      }
      return;
    }
    const init = await this.client.send(op, path, {
      method: "POST",
      bucket,
      key,
      query: { uploads: "" },
      signal,
    });
    const uploadId = field(text(init.body), "UploadId");
    if (!uploadId) throw new CorruptDataError(op, path, "CreateMultipartUpload gave no UploadId");
    try {
      const parts = planParts(from.size, copyPartSize);
      const etags = await pool(parts.length, 4, signal, async (i, sig) => {
        const p = parts[i]!;
        const r = await this.client.send(op, path, {
          method: "PUT",
          bucket,
          key,
          query: { partNumber: String(p.n), uploadId },
          headers: { "x-amz-copy-source": source, "x-amz-copy-source-range": copyRange(p) },
          signal: sig,
        });
        const etag = field(text(r.body), "ETag");
        if (!etag) throw new CorruptDataError(op, path, `copied part ${p.n} has no ETag`);
        return { n: p.n, etag };
      });
      await this.#complete(op, path, bucket, key, uploadId, utf8(completeBody(etags)), signal);
    } catch (err) {
      await this.abortUpload(op, path, bucket, key, uploadId);
      throw err;
    }
  }

  /** Deletes keys with DeleteObjects, 1000 per request. */
  async deleteKeys(
    op: string,
    path: string,
    bucket: string,
    keys: readonly string[],
    signal?: AbortSignal,
  ): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const body = utf8(deleteObjectsBody(keys.slice(i, i + 1000)));
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body as BufferSource));
      const r = await this.client.send(op, path, {
        method: "POST",
        bucket,
        query: { delete: "" },
        body,
        headers: {
          "content-type": "application/xml",
          "x-amz-checksum-sha256": btoa(String.fromCharCode(...digest)),
          "x-amz-sdk-checksum-algorithm": "SHA256",
        },
        signal,
      });
      const errors = deleteErrors(text(r.body));
      if (errors.length > 0) {
        throw new StorageError(
          op,
          path,
          `${errors.length} objects not deleted (first: '${errors[0]!.key}': ${errors[0]!.code})`,
        );
      }
    }
  }

  /**
   * Deletes `keys`, retrying for up to `budgetMs` (a batch's cleanup must
   * outlast a gateway restart). Resolves to the keys it could not delete.
   */
  async deleteWithin(
    op: string,
    path: string,
    bucket: string,
    keys: readonly string[],
    budgetMs: number,
  ): Promise<string[]> {
    const deadline = Date.now() + budgetMs;
    for (;;) {
      try {
        await this.deleteKeys(op, path, bucket, keys);
        return [];
      } catch (err) {
        if (Date.now() >= deadline) return [...keys];
        if (err instanceof AlreadyExistsError) return [...keys];
        await sleep(Math.min(1000, Math.max(0, deadline - Date.now())), undefined, op, path);
      }
    }
  }
}

/** An ETag without its quotes (and without a weak `W/` marker). */
export function unquote(etag: string): string {
  return etag.replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
}

function encodeSource(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}
