/**
 * Options of the S3 backend and its configuration from the environment
 * (`S3_*` first, then the AWS SDK's standard `AWS_*` names).
 *
 * @module
 */

import { StorageError } from "../../errors.ts";
import type { S3Credentials } from "./client.ts";

/** Options of {@linkcode S3Backend}. */
export interface S3BackendOptions {
  /** The S3 endpoint, e.g. `http://127.0.0.1:7480` or `https://s3.eu-west-1.amazonaws.com`. */
  endpoint: string | URL;
  /** The signing region (`us-east-1` for Ceph and most S3-compatible servers). */
  region: string;
  /** Access key, secret and optional session token. */
  credentials: S3Credentials;
  /** Root the backend at one bucket: paths are then `/<key>` instead of `/<bucket>/<key>`. */
  bucket?: string;
  /** Address buckets as `endpoint/bucket/key` (default: virtual-hosted unless the host is an IP). */
  forcePathStyle?: boolean;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
  /** Retries of a retryable failure (5xx, 429, network, truncation). Default 4. */
  retries?: number;
  /** First backoff delay in ms, doubled per attempt, full jitter. Default 100. */
  retryDelayMs?: number;
  /** Longest wait between attempts, `Retry-After` included. Default 20000. */
  maxRetryDelayMs?: number;
  /** Per-attempt timeout in ms, body included. Default 60000; 0 disables. */
  timeoutMs?: number;
  /** Requests `loadBatch`/`saveBatch` keep in flight. Default 32 (see bench/s3.ts). */
  concurrency?: number;
  /** Objects above this size are uploaded in parts. Default 64 MiB. */
  multipartThreshold?: number;
  /** Part size of multipart uploads. Default 16 MiB (at least 5 MiB). */
  partSize?: number;
  /** Parts of one upload in flight at once (memory: the value is already in memory; no copies). */
  partConcurrency?: number;
  /** Largest object `load` reads, checked against Content-Length first. Default 1 GiB. */
  maxDecodedBytes?: number;
  /** Most entries one listing may collect before `LimitExceededError`. Default 10,000,000. */
  maxListEntries?: number;
  /** How long a failed `saveBatch` keeps retrying the removal of what it wrote. Default 30000. */
  cleanupTimeoutMs?: number;
  /** Aborts every request of this backend. */
  signal?: AbortSignal;
  /** Registry key (default `"s3"`). */
  key?: string;
}

/** Reads one variable; undefined where unset, empty, or not readable here. */
export type EnvReader = (name: string) => string | undefined;

/**
 * Backend options from the environment. Throws a `StorageError`
 * (`ERR_MISSING_CONFIG`) naming every variable that would have supplied a
 * missing setting, before any request is made.
 */
export function optionsFromEnv(env: EnvReader): S3BackendOptions {
  const pick = (...names: string[]) => {
    for (const n of names) {
      const v = env(n);
      if (v !== undefined && v.trim() !== "") return v.trim();
    }
    return undefined;
  };
  const endpointVar = pick("S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
  const region = pick("S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION");
  const accessKeyId = pick("S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID");
  const secretAccessKey = pick("S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY");
  const sessionToken = pick("S3_SESSION_TOKEN", "AWS_SESSION_TOKEN");
  const missing: string[] = [];
  if (endpointVar === undefined && region === undefined) {
    missing.push("S3_ENDPOINT or AWS_ENDPOINT_URL_S3 (or a region: S3_REGION / AWS_REGION)");
  }
  if (accessKeyId === undefined) missing.push("S3_ACCESS_KEY_ID or AWS_ACCESS_KEY_ID");
  if (secretAccessKey === undefined) {
    missing.push("S3_SECRET_ACCESS_KEY or AWS_SECRET_ACCESS_KEY");
  }
  if (missing.length > 0) {
    throw new StorageError(
      "getBackend",
      "s3",
      `S3 is not configured: set ${missing.join("; ")}`,
      { code: "ERR_MISSING_CONFIG" },
    );
  }
  const r = region ?? "us-east-1";
  const opts: S3BackendOptions = {
    endpoint: endpointVar ?? `https://s3.${r}.amazonaws.com`,
    region: r,
    credentials: {
      accessKeyId: accessKeyId!,
      secretAccessKey: secretAccessKey!,
      ...(sessionToken !== undefined ? { sessionToken } : {}),
    },
  };
  const style = pick("S3_FORCE_PATH_STYLE", "AWS_S3_FORCE_PATH_STYLE");
  if (style !== undefined) opts.forcePathStyle = /^(1|true|yes)$/i.test(style);
  const bucket = pick("S3_BUCKET");
  if (bucket !== undefined) opts.bucket = bucket;
  return opts;
}

/** Checks a user-given endpoint: http(s), no credentials, query or fragment in it. */
export function parseEndpoint(endpoint: string | URL): URL {
  let u: URL;
  try {
    u = new URL(String(endpoint));
  } catch {
    throw new TypeError(`S3Backend: endpoint '${endpoint}' is not a URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new TypeError(`S3Backend: endpoint must be http(s), got '${u.protocol}'`);
  }
  if (u.username || u.password || u.search || u.hash) {
    throw new TypeError("S3Backend: endpoint must not hold credentials, a query or a fragment");
  }
  return u;
}

/** A positive integer option, or its default. */
export function positive(v: number | undefined, fallback: number, name: string, min = 0): number {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v < min) {
    throw new TypeError(`S3Backend: ${name} must be an integer ≥ ${min}, got ${v}`);
  }
  return v;
}
