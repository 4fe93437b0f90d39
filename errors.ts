/**
 * Typed storage errors, identical on Deno, Bun, Node and edge runtimes.
 *
 * Every error thrown by a backend is a {@linkcode StorageError} (or a
 * `TypeError`/`RangeError` for misuse of the API). Runtime errors — Deno's
 * `Deno.errors.*`, Node/Bun errno errors, HTTP statuses — are translated once,
 * at the boundary, by {@linkcode toStorageError}.
 *
 * Messages read `<operation> '<path>': <reason>`.
 *
 * @example Catch a missing file
 * ```ts
 * import { NotFoundError, StorageError } from "@hcs/store/errors";
 *
 * const err = new NotFoundError("load", "/data/a.tif");
 * console.assert(err instanceof StorageError);
 * console.assert(err.code === "ENOENT");
 * console.assert(err.message === "load '/data/a.tif': no such file or directory");
 * ```
 *
 * @module
 */

export {
  isStorageErrorCode,
  STORAGE_ERROR_CODES,
  type StorageErrorCode,
} from "./_internal/error_codes.ts";
export {
  httpStatusError,
  type HttpStatusLike,
  restate,
  toStorageError,
} from "./_internal/error_map.ts";
import type { StorageErrorCode } from "./_internal/error_codes.ts";

/** Options shared by every storage error constructor. */
export interface StorageErrorOptions {
  /** The underlying error (runtime error, HTTP response, …). */
  cause?: unknown;
  /** HTTP status, when the failure came from an HTTP response. */
  status?: number;
}

/**
 * Base class of every storage failure. Constructed directly with a code that
 * has a class of its own (see {@linkcode toStorageError}), it is an instance of
 * that class (`ENOENT` → {@linkcode NotFoundError}, `ERR_CORRUPT_DATA` →
 * {@linkcode CorruptDataError}, …).
 *
 * @example
 * ```ts
 * import { StorageError } from "@hcs/store/errors";
 * const e = new StorageError("load", "/x", "server said 500", { code: "EIO", status: 500 });
 * console.assert(e.message === "load '/x': server said 500" && e.status === 500);
 * ```
 */
export class StorageError extends Error {
  /** Node-errno-style code (`ENOENT`, `EEXIST`, …) or an `ERR_*` code (see the README's error table). */
  readonly code: StorageErrorCode;
  /** The operation that failed (`load`, `save`, `move`, …). */
  readonly operation: string;
  /** The path the operation was applied to. */
  readonly path: string;
  /** HTTP status, for failures that came from an HTTP response. */
  readonly status: number | undefined;
  /** What went wrong, in words (the message without `<operation> '<path>': `). */
  readonly reason: string;

  /**
   * Creates the error; its message reads `<operation> '<path>': <reason>`.
   *
   * @param operation the operation that failed
   * @param path the path it failed on
   * @param reason what went wrong, in words
   * @param options `code`, `cause` and `status`
   */
  constructor(
    operation: string,
    path: string,
    reason: string,
    options: StorageErrorOptions & { code?: StorageErrorCode } = {},
  ) {
    super(`${operation} '${path}': ${reason}`, { cause: options.cause });
    this.code = options.code ?? "EIO";
    // The code decides the class: `new StorageError(…, { code: "ENOENT" })`
    // is a NotFoundError, so callers can branch with instanceof everywhere.
    const Cls = new.target === StorageError ? BY_CODE[this.code] : undefined;
    if (Cls) Object.setPrototypeOf(this, Cls.prototype);
    this.name = Cls ? Cls.name : new.target.name;
    this.operation = operation;
    this.path = path;
    this.status = options.status;
    this.reason = reason;
  }
}

/**
 * The path (or a parent of it) does not exist. Code `ENOENT`.
 *
 * @example
 * ```ts
 * import { NotFoundError } from "@hcs/store/errors";
 * console.assert(new NotFoundError("load", "/a").code === "ENOENT");
 * ```
 */
export class NotFoundError extends StorageError {
  /**
   * Creates the error; its message reads `<operation> '<path>': <reason>`.
   *
   * @param operation the operation that failed
   * @param path the path it failed on
   * @param reason what went wrong (default: "no such file or directory")
   * @param options `cause` and `status`
   */
  constructor(
    operation: string,
    path: string,
    reason: string = "no such file or directory",
    options: StorageErrorOptions = {},
  ) {
    super(operation, path, reason, { ...options, code: "ENOENT" });
  }
}

/**
 * The target exists and the operation does not replace. Code `EEXIST`.
 *
 * @example
 * ```ts
 * import { AlreadyExistsError } from "@hcs/store/errors";
 * console.assert(new AlreadyExistsError("save", "/a").code === "EEXIST");
 * ```
 */
export class AlreadyExistsError extends StorageError {
  /**
   * Creates the error; its message reads `<operation> '<path>': <reason>`.
   *
   * @param operation the operation that failed
   * @param path the path it failed on
   * @param reason what went wrong (default: "already exists")
   * @param options `cause` and `status`
   */
  constructor(
    operation: string,
    path: string,
    reason: string = "already exists",
    options: StorageErrorOptions = {},
  ) {
    super(operation, path, reason, { ...options, code: "EEXIST" });
  }
}

/**
 * A file was expected and a directory was found. Code `EISDIR`.
 *
 * @example
 * ```ts
 * import { IsADirectoryError } from "@hcs/store/errors";
 * console.assert(new IsADirectoryError("load", "/d").code === "EISDIR");
 * ```
 */
export class IsADirectoryError extends StorageError {
  /**
   * Creates the error; its message reads `<operation> '<path>': <reason>`.
   *
   * @param operation the operation that failed
   * @param path the path it failed on
   * @param reason what went wrong (default: "is a directory")
   * @param options `cause` and `status`
   */
  constructor(
    operation: string,
    path: string,
    reason: string = "is a directory",
    options: StorageErrorOptions = {},
  ) {
    super(operation, path, reason, { ...options, code: "EISDIR" });
  }
}

/**
 * A directory was expected and something else was found. Code `ENOTDIR`.
 *
 * @example
 * ```ts
 * import { NotADirectoryError } from "@hcs/store/errors";
 * console.assert(new NotADirectoryError("listDir", "/f").code === "ENOTDIR");
 * ```
 */
export class NotADirectoryError extends StorageError {
  /**
   * Creates the error; its message reads `<operation> '<path>': <reason>`.
   *
   * @param operation the operation that failed
   * @param path the path it failed on
   * @param reason what went wrong (default: "not a directory")
   * @param options `cause` and `status`
   */
  constructor(
    operation: string,
    path: string,
    reason: string = "not a directory",
    options: StorageErrorOptions = {},
  ) {
    super(operation, path, reason, { ...options, code: "ENOTDIR" });
  }
}

/**
 * A directory that must be empty is not. Code `ENOTEMPTY`.
 *
 * @example
 * ```ts
 * import { DirectoryNotEmptyError } from "@hcs/store/errors";
 * console.assert(new DirectoryNotEmptyError("delete", "/d").code === "ENOTEMPTY");
 * ```
 */
export class DirectoryNotEmptyError extends StorageError {
  /**
   * Creates the error; its message reads `<operation> '<path>': <reason>`.
   *
   * @param operation the operation that failed
   * @param path the path it failed on
   * @param reason what went wrong (default: "directory not empty")
   * @param options `cause` and `status`
   */
  constructor(
    operation: string,
    path: string,
    reason: string = "directory not empty",
    options: StorageErrorOptions = {},
  ) {
    super(operation, path, reason, { ...options, code: "ENOTEMPTY" });
  }
}

/**
 * The runtime, the OS or a server refused access. Code `EACCES`.
 *
 * @example
 * ```ts
 * import { PermissionDeniedError } from "@hcs/store/errors";
 * console.assert(new PermissionDeniedError("load", "/secret").code === "EACCES");
 * ```
 */
export class PermissionDeniedError extends StorageError {
  /**
   * Creates the error; its message reads `<operation> '<path>': <reason>`.
   *
   * @param operation the operation that failed
   * @param path the path it failed on
   * @param reason what went wrong (default: "permission denied")
   * @param options `cause` and `status`
   */
  constructor(
    operation: string,
    path: string,
    reason: string = "permission denied",
    options: StorageErrorOptions = {},
  ) {
    super(operation, path, reason, { ...options, code: "EACCES" });
  }
}

/**
 * A virtual path could not be resolved to a source (e.g. a virtual workspace
 * mapping that points at another virtual workspace).
 *
 * @example
 * ```ts
 * import { StorageResolutionError } from "@hcs/store/errors";
 * console.assert(new StorageResolutionError("load", "/v").code === "ERR_STORAGE_RESOLUTION");
 * ```
 */
export class StorageResolutionError extends StorageError {
  /**
   * Creates the error; its message reads `<operation> '<path>': <reason>`.
   *
   * @param operation the operation that failed
   * @param path the path it failed on
   * @param reason what went wrong (default: "cannot resolve storage location")
   * @param options `cause` and `status`
   */
  constructor(
    operation: string,
    path: string,
    reason: string = "cannot resolve storage location",
    options: StorageErrorOptions = {},
  ) {
    super(operation, path, reason, { ...options, code: "ERR_STORAGE_RESOLUTION" });
  }
}

/**
 * Stored bytes or metadata that cannot be decoded exactly: truncated or
 * oversized chunks, malformed JSON, inconsistent headers.
 *
 * @example
 * ```ts
 * import { CorruptDataError } from "@hcs/store/errors";
 * console.assert(new CorruptDataError("load", "/a.png").code === "ERR_CORRUPT_DATA");
 * ```
 */
export class CorruptDataError extends StorageError {
  /**
   * Creates the error; its message reads `<operation> '<path>': <reason>`.
   *
   * @param operation the operation that failed
   * @param path the path it failed on
   * @param reason what is wrong with the data (default: "corrupt data")
   * @param options `cause` and `status`
   */
  constructor(
    operation: string,
    path: string,
    reason: string = "corrupt data",
    options: StorageErrorOptions = {},
  ) {
    super(operation, path, reason, { ...options, code: "ERR_CORRUPT_DATA" });
  }
}

/**
 * The backend cannot perform this operation at all (a symlink on object
 * storage, a write on a read-only store).
 *
 * @example
 * ```ts
 * import { UnsupportedOperationError } from "@hcs/store/errors";
 * const e = new UnsupportedOperationError("createSymlink", "/b/k");
 * console.assert(e.code === "ERR_UNSUPPORTED_OPERATION");
 * ```
 */
export class UnsupportedOperationError extends StorageError {
  /**
   * Creates the error; its message reads `<operation> '<path>': <reason>`.
   *
   * @param operation the operation that failed
   * @param path the path it failed on
   * @param reason why (default: "operation not supported by this backend")
   * @param options `cause` and `status`
   */
  constructor(
    operation: string,
    path: string,
    reason: string = "operation not supported by this backend",
    options: StorageErrorOptions = {},
  ) {
    super(operation, path, reason, { ...options, code: "ERR_UNSUPPORTED_OPERATION" });
  }
}

/**
 * Decoding would need more memory than the configured `maxDecodedBytes`
 * budget (or another documented limit) allows; nothing was allocated.
 *
 * @example
 * ```ts
 * import { LimitExceededError } from "@hcs/store/errors";
 * const e = new LimitExceededError("load", "/big.zarr", "needs 1 TiB, budget 1 GiB");
 * console.assert(e.code === "ERR_LIMIT_EXCEEDED");
 * ```
 */
export class LimitExceededError extends StorageError {
  /**
   * Creates the error; its message reads `<operation> '<path>': <reason>`.
   *
   * @param operation the operation that failed
   * @param path the path it failed on
   * @param reason which limit and by how much (default: "limit exceeded")
   * @param options `cause` and `status`
   */
  constructor(
    operation: string,
    path: string,
    reason: string = "limit exceeded",
    options: StorageErrorOptions = {},
  ) {
    super(operation, path, reason, { ...options, code: "ERR_LIMIT_EXCEEDED" });
  }
}

/**
 * The data or the file extension has no codec here.
 *
 * @example
 * ```ts
 * import { UnsupportedFormatError } from "@hcs/store/errors";
 * console.assert(new UnsupportedFormatError("save", "/a.xyz").code === "ERR_UNSUPPORTED_FORMAT");
 * ```
 */
export class UnsupportedFormatError extends StorageError {
  /**
   * Creates the error; its message reads `<operation> '<path>': <reason>`.
   *
   * @param operation the operation that failed
   * @param path the path it failed on
   * @param reason what went wrong (default: "unsupported format")
   * @param options `cause` and `status`
   */
  constructor(
    operation: string,
    path: string,
    reason: string = "unsupported format",
    options: StorageErrorOptions = {},
  ) {
    super(operation, path, reason, { ...options, code: "ERR_UNSUPPORTED_FORMAT" });
  }
}

/**
 * No backend is registered (or available on this runtime) under a key.
 * Its message lists the backends that are available.
 *
 * @example
 * ```ts
 * import { BackendNotFoundError } from "@hcs/store/errors";
 * const e = new BackendNotFoundError("s3", ["disk", "memory"]);
 * console.assert(e.code === "ERR_BACKEND_NOT_FOUND");
 * console.assert(e.message.includes("disk, memory"));
 * ```
 */
export class BackendNotFoundError extends StorageError {
  /** The keys that are available in the registry that threw. */
  readonly available: readonly string[];
  /**
   * Creates the error; its message lists the available backends.
   *
   * @param key the key that was asked for
   * @param available the keys available here
   * @param reason why it is missing (default: not registered)
   */
  constructor(
    key: string,
    available: readonly string[],
    reason = "no such backend",
    options: StorageErrorOptions = {},
  ) {
    super(
      "getBackend",
      key,
      `${reason}; available backends: ${available.length ? available.join(", ") : "(none)"}`,
      { ...options, code: "ERR_BACKEND_NOT_FOUND" },
    );
    this.available = [...available];
  }
}

/**
 * A lock could not be acquired within its timeout.
 *
 * @example
 * ```ts
 * import { LockTimeoutError } from "@hcs/store/errors";
 * const e = new LockTimeoutError("atomicUpdateJson", "/a.json", 500);
 * console.assert(e.code === "ETIMEDOUT" && e.timeoutMs === 500);
 * ```
 */
export class LockTimeoutError extends StorageError {
  /** How long the caller waited, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * Creates the error; its message reads `<operation> '<path>': <reason>`.
   *
   * @param operation the operation that waited
   * @param path the file whose lock was not acquired
   * @param timeoutMs how long it waited
   */
  constructor(
    operation: string,
    path: string,
    timeoutMs: number,
    options: StorageErrorOptions = {},
  ) {
    super(operation, path, `lock not acquired within ${timeoutMs} ms`, {
      ...options,
      code: "ETIMEDOUT",
    });
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A held lock was taken over by another process (the holder stopped for
 * longer than `staleMs`); the holder's write was not published. Code
 * `ERR_LOCK_LOST`.
 *
 * @example
 * ```ts
 * import { LockLostError } from "@hcs/store/errors";
 * console.assert(new LockLostError("atomicUpdateJson", "/a.json").code === "ERR_LOCK_LOST");
 * ```
 */
export class LockLostError extends StorageError {
  /**
   * Creates the error; its message reads `<operation> '<path>': <reason>`.
   *
   * @param operation the operation that held the lock
   * @param path the file whose lock was lost
   * @param reason what happened (default: taken over, nothing written)
   * @param options `cause`
   */
  constructor(
    operation: string,
    path: string,
    reason: string = "the lock was taken over by another process while held; nothing was written",
    options: StorageErrorOptions = {},
  ) {
    super(operation, path, reason, { ...options, code: "ERR_LOCK_LOST" });
  }
}

const BY_CODE: Record<
  string,
  new (op: string, path: string, reason?: string, options?: StorageErrorOptions) => StorageError
> = {
  ENOENT: NotFoundError,
  EEXIST: AlreadyExistsError,
  EISDIR: IsADirectoryError,
  ENOTDIR: NotADirectoryError,
  ENOTEMPTY: DirectoryNotEmptyError,
  EACCES: PermissionDeniedError,
  EPERM: PermissionDeniedError,
  ERR_CORRUPT_DATA: CorruptDataError,
  ERR_UNSUPPORTED_OPERATION: UnsupportedOperationError,
  ENOTSUP: UnsupportedOperationError,
  EOPNOTSUPP: UnsupportedOperationError,
  ERR_LIMIT_EXCEEDED: LimitExceededError,
  ERR_LOCK_LOST: LockLostError,
};

/**
 * The class that a code stands for (`ENOENT` → {@linkcode NotFoundError}, …),
 * or undefined when the code has none of its own.
 *
 * @example
 * ```ts
 * import { NotFoundError, storageErrorClass } from "@hcs/store/errors";
 * console.assert(storageErrorClass("ENOENT") === NotFoundError);
 * ```
 */
export function storageErrorClass(
  code: string,
):
  | (new (op: string, path: string, reason?: string, options?: StorageErrorOptions) => StorageError)
  | undefined {
  return BY_CODE[code];
}
