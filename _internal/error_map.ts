/**
 * Runtime errors → typed storage errors, translated once at the boundary:
 * Node/Bun errno codes, Deno's `Deno.errors.*` names and HTTP statuses.
 * Re-exported by `errors.ts` (import from there).
 *
 * @module
 */

import {
  NotFoundError,
  PermissionDeniedError,
  StorageError,
  storageErrorClass,
  type StorageErrorOptions,
} from "../errors.ts";
import { isStorageErrorCode, type StorageErrorCode } from "./error_codes.ts";

/** Deno's error class names (`Deno.errors.*`) and the errno they stand for. */
const DENO_NAMES: Record<string, string> = {
  NotFound: "ENOENT",
  AlreadyExists: "EEXIST",
  IsADirectory: "EISDIR",
  NotADirectory: "ENOTDIR",
  DirectoryNotEmpty: "ENOTEMPTY",
  PermissionDenied: "EACCES",
  NotCapable: "EACCES",
};

const REASONS: Record<string, string> = {
  ENOENT: "no such file or directory",
  EEXIST: "already exists",
  EISDIR: "is a directory",
  ENOTDIR: "not a directory",
  ENOTEMPTY: "directory not empty",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ELOOP: "too many levels of symbolic links",
  ENAMETOOLONG: "file name too long",
  ENOSPC: "no space left on device",
  EXDEV: "cross-device link",
  EINVAL: "invalid argument",
  EBUSY: "resource busy",
};

/** A minimal view of an HTTP response, enough to map its status. */
export interface HttpStatusLike {
  /** The HTTP status code. */
  status: number;
  /** The HTTP status text, if any. */
  statusText?: string;
}

/**
 * Maps an HTTP status to a storage error: 404/410 → {@linkcode NotFoundError},
 * 401/403 → {@linkcode PermissionDeniedError}, anything else →
 * {@linkcode StorageError} carrying the status.
 *
 * @example
 * ```ts
 * import { httpStatusError, NotFoundError } from "@hcs/store/errors";
 * console.assert(httpStatusError({ status: 404 }, "load", "https://x/a") instanceof NotFoundError);
 * console.assert(httpStatusError({ status: 503 }, "load", "https://x/a").status === 503);
 * ```
 */
export function httpStatusError(
  response: HttpStatusLike,
  operation: string,
  path: string,
): StorageError {
  const { status } = response;
  const text = `HTTP ${status}${response.statusText ? ` ${response.statusText}` : ""}`;
  if (status === 404 || status === 410) {
    return new NotFoundError(operation, path, `no such file (${text})`, {
      status,
      cause: response,
    });
  }
  if (status === 401 || status === 403) {
    return new PermissionDeniedError(operation, path, `permission denied (${text})`, {
      status,
      cause: response,
    });
  }
  return new StorageError(operation, path, text, {
    code: `HTTP_${status}` as const,
    status,
    cause: response,
  });
}

/**
 * Translates any runtime error into a {@linkcode StorageError} for
 * `operation` on `path`. Already-typed storage errors pass through unchanged;
 * Node/Bun errno errors (`err.code`), Deno errors (`Deno.errors.*` by name)
 * and HTTP-status-like objects are mapped; anything else becomes a generic
 * `StorageError` with the original as `cause`.
 *
 * @example
 * ```ts
 * import { NotFoundError, toStorageError } from "@hcs/store/errors";
 * const nodeErr = Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" });
 * const e = toStorageError(nodeErr, "load", "/a.tif");
 * console.assert(e instanceof NotFoundError && e.cause === nodeErr);
 * ```
 */
export function toStorageError(err: unknown, operation: string, path: string): StorageError {
  if (err instanceof StorageError) return err;
  if (typeof err === "object" && err !== null) {
    const rec = err as { code?: unknown; name?: unknown; status?: unknown; errno?: unknown };
    let code = typeof rec.code === "string" ? rec.code : undefined;
    if (code === undefined && typeof rec.name === "string") code = DENO_NAMES[rec.name];
    if (code !== undefined) {
      const Cls = storageErrorClass(code);
      const reason = REASONS[code] ?? (err instanceof Error ? err.message : code);
      if (Cls) return new Cls(operation, path, reason, { cause: err });
      return new StorageError(operation, path, reason, {
        code: isStorageErrorCode(code) ? code : "EIO",
        cause: err,
      });
    }
    if (typeof rec.status === "number" && !(err instanceof Error)) {
      return httpStatusError(err as HttpStatusLike, operation, path);
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  return new StorageError(operation, path, message, { cause: err });
}

/**
 * The same failure told again for another operation, path or reason: a new
 * error of the same class, with the same `code`, `status` and class-specific
 * fields, and the original as `cause`. Used where a layer adds context (a
 * retry count, the virtual path that needed a source, the file being decoded).
 *
 * @example
 * ```ts
 * import { NotFoundError, restate } from "@hcs/store/errors";
 * const inner = new NotFoundError("load", "/src/a.tif");
 * const outer = restate(inner, "load", "/virtual/a.tif", `source: ${inner.reason}`);
 * console.assert(outer instanceof NotFoundError && outer.cause === inner);
 * console.assert(outer.message === "load '/virtual/a.tif': source: no such file or directory");
 * ```
 */
export function restate(
  err: StorageError,
  operation: string,
  path: string,
  reason: string,
): StorageError {
  const options: StorageErrorOptions & { code: StorageErrorCode } = { code: err.code, cause: err };
  if (err.status !== undefined) options.status = err.status;
  const out = new StorageError(operation, path, reason, options);
  Object.setPrototypeOf(out, Object.getPrototypeOf(err));
  out.name = err.name;
  const own = out as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(err)) if (!(k in own)) own[k] = v;
  return out;
}
