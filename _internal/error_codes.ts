/**
 * The error vocabulary as data: every `code` a `StorageError` can carry.
 * Kept apart from `errors.ts` so the list reads as one table; `errors.ts`
 * re-exports it, and the README's error table documents each code.
 *
 * @module
 */

/**
 * Every `code` a {@linkcode StorageError} can carry, as a runtime list (the
 * README's error table documents each). Runtime errno codes outside the list
 * become `EIO` (the original stays in `cause`).
 *
 * @example
 * ```ts
 * import { STORAGE_ERROR_CODES } from "@hcs/store/errors";
 * console.assert(STORAGE_ERROR_CODES.includes("ENOENT"));
 * ```
 */
export const STORAGE_ERROR_CODES = [
  // errno family (runtime errors keep their code)
  "ENOENT",
  "EEXIST",
  "EISDIR",
  "ENOTDIR",
  "ENOTEMPTY",
  "EACCES",
  "EPERM",
  "EINVAL",
  "EIO",
  "EBUSY",
  "EROFS",
  "ERANGE",
  "EFBIG",
  "ELOOP",
  "ENAMETOOLONG",
  "ENOSPC",
  "EDQUOT",
  "EXDEV",
  "EMFILE",
  "ENFILE",
  "EAGAIN",
  "ENOMEM",
  "ENXIO",
  "ENODEV",
  "EPIPE",
  "ESPIPE",
  "ETXTBSY",
  "EOVERFLOW",
  "ENOSYS",
  "ETIMEDOUT",
  "ECONNRESET",
  "ABORT_ERR",
  // library codes
  "ERR_CORRUPT_DATA",
  "ERR_UNSUPPORTED_FORMAT",
  "ERR_UNSUPPORTED_OPERATION",
  "ERR_LIMIT_EXCEEDED",
  "ERR_LOCK_LOST",
  "ERR_STORAGE_RESOLUTION",
  "ERR_BACKEND_NOT_FOUND",
  "ERR_BACKEND_FACTORY",
  "ERR_TRUNCATED",
  "ERR_REDIRECT",
  "ERR_MISSING_CONFIG",
  "ERR_SIZE_CHANGED",
  "ERR_RELEASED",
  "ERR_TIFF_PAGES_DIFFER",
] as const;

/**
 * The code of a {@linkcode StorageError}: one of {@linkcode STORAGE_ERROR_CODES},
 * `HTTP_<status>` for an HTTP status with no class of its own, or `S3_<Code>`
 * for an S3 error answer (`S3_InvalidArgument`) with no class of its own.
 */
export type StorageErrorCode =
  | typeof STORAGE_ERROR_CODES[number]
  | `HTTP_${number}`
  | `S3_${string}`;

const KNOWN_CODES: ReadonlySet<string> = new Set(STORAGE_ERROR_CODES);

/**
 * Whether `code` is a {@linkcode StorageErrorCode}.
 *
 * @example
 * ```ts
 * import { isStorageErrorCode } from "@hcs/store/errors";
 * console.assert(isStorageErrorCode("HTTP_503") && !isStorageErrorCode("ERR_NOPE"));
 * ```
 */
export function isStorageErrorCode(code: string): code is StorageErrorCode {
  return KNOWN_CODES.has(code) || /^HTTP_[1-5]\d\d$/.test(code) || /^S3_[A-Za-z]+$/.test(code);
}
