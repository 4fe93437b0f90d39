/**
 * Atomic JSON files on the local filesystem: {@linkcode atomicWriteJson}
 * replaces a file so that readers see the old or the new content, never a
 * torn file; {@linkcode atomicUpdateJson} does a read-modify-write under an
 * exclusive cross-process lock (see `lock/file_lock.ts`), so that many
 * processes — Deno, Bun and Node alike — updating one file lose no update.
 *
 * Uses `node:fs`; not part of the edge entry.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import type { JsonValue } from "../backends/base.ts";
import { CorruptDataError, StorageError, toStorageError } from "../errors.ts";
import { type HeldLock, lockFilePath, withFileLock } from "../lock/file_lock.ts";
import { errCode, removeOrphanedTemps, replaceFile } from "../_internal/atomic_file.ts";

/** Options of {@linkcode atomicWriteJson}. */
export interface AtomicWriteJsonOptions {
  /** `JSON.stringify` indentation (default 2). */
  indent?: number | string;
  /**
   * Take the file's cross-process lock while replacing it (default true), so
   * that a write is ordered with concurrent {@linkcode atomicUpdateJson} calls.
   * Do not call with `lock: true` from inside a lock on the same path.
   */
  lock?: boolean;
  /** Lock timeout in ms (default 30 000); `LockTimeoutError` after it. */
  timeoutMs?: number;
  /** Stale-lock age for holders whose liveness cannot be checked, in ms (default 30 000). */
  staleMs?: number;
}

/** Options of {@linkcode atomicUpdateJson}. */
export interface AtomicUpdateJsonOptions<T> {
  /** What the updater receives when the file does not exist (default `undefined`). */
  defaultValue?: T;
  /** Lock timeout in ms (default 30 000); `LockTimeoutError` after it. */
  timeoutMs?: number;
  /** Stale-lock age for holders whose liveness cannot be checked, in ms (default 30 000). */
  staleMs?: number;
  /** `JSON.stringify` indentation (default 2). */
  indent?: number | string;
}

function checkPath(path: unknown, operation: string): asserts path is string {
  if (typeof path !== "string") {
    throw new TypeError(`${operation}: path must be a string, got ${typeof path}`);
  }
  if (path.length === 0 || path.includes("\0")) {
    throw new StorageError(operation, path.replaceAll("\0", "\\0"), "invalid path", {
      code: "EINVAL",
    });
  }
}

/** Serialises before anything touches the disk; TypeError for non-JSON values. */
function serialize(value: unknown, indent: number | string, operation: string, path: string) {
  let text: string | undefined;
  try {
    text = JSON.stringify(value, null, indent);
  } catch (err) {
    throw new TypeError(
      `${operation} '${path}': value is not JSON-serialisable (${(err as Error).message})`,
      { cause: err },
    );
  }
  if (text === undefined) {
    throw new TypeError(`${operation} '${path}': value is not JSON-serialisable (${typeof value})`);
  }
  return `${text}\n`;
}

/**
 * Cleans temp files a killed writer left for `path`, then replaces it
 * atomically; under a lock the rename happens only while the lock is still
 * ours (`LockLostError` otherwise, nothing written).
 */
async function replaceJson(
  path: string,
  text: string,
  operation: string,
  lock: HeldLock | undefined,
): Promise<void> {
  // The file's temps and the lock's candidates (`<path>.lock` temps) of killed processes.
  await removeOrphanedTemps(path, undefined, [lockFilePath(path)]);
  try {
    await replaceFile(path, new TextEncoder().encode(text), lock ? { guard: lock.guard } : {});
  } catch (err) {
    throw toStorageError(err, operation, path);
  }
}

/**
 * Writes `value` as JSON to `path`, replacing any existing file atomically:
 * the JSON goes to a hidden temporary file in the same directory (never shown
 * by disk listings), which is fsynced and renamed over `path`, and the
 * directory is fsynced. On any error no temporary file is left behind and the
 * old file is untouched. Temp files of `path` left by a killed writer are
 * removed first: at once when their writer's pid (on this host and pid
 * namespace) is gone, otherwise once older than one hour. A lock taken over
 * while this call held it (`staleMs`) aborts with `LockLostError`, unwritten. A value that
 * JSON cannot represent throws a `TypeError` before anything is written. A
 * symlink at `path` is replaced by a regular file (as `rename` does).
 *
 * @param path the file to write (its directory must exist)
 * @param value any JSON-serialisable value
 * @param options `indent`, `lock` (default true), `timeoutMs`, `staleMs`
 *
 * @example
 * ```ts
 * import { atomicWriteJson } from "@hcs/store/json";
 * const path = `${await Deno.makeTempDir()}/state.json`;
 * await atomicWriteJson(path, { wells: ["A01", "A02"] });
 * console.assert(JSON.parse(await Deno.readTextFile(path)).wells.length === 2);
 * ```
 */
export async function atomicWriteJson(
  path: string,
  value: unknown,
  options: AtomicWriteJsonOptions = {},
): Promise<void> {
  const operation = "atomicWriteJson";
  checkPath(path, operation);
  const text = serialize(value, options.indent ?? 2, operation, path);
  if (options.lock === false) return await replaceJson(path, text, operation, undefined);
  const lockOptions: { operation: string; timeoutMs?: number; staleMs?: number } = { operation };
  if (options.timeoutMs !== undefined) lockOptions.timeoutMs = options.timeoutMs;
  if (options.staleMs !== undefined) lockOptions.staleMs = options.staleMs;
  await withFileLock(path, (lock) => replaceJson(path, text, operation, lock), lockOptions);
}

/**
 * Read-modify-write of a JSON file under an exclusive cross-process lock.
 *
 * The updater receives the parsed content, or `defaultValue` (`undefined` if
 * not given) when the file does not exist; it may be async. Its result is
 * written with {@linkcode atomicWriteJson}'s atomic replace and returned. An
 * existing file that is not valid JSON (including an empty file or invalid
 * UTF-8) throws a `CorruptDataError` (`ERR_CORRUPT_DATA`) naming the path
 * and is left exactly as it is; so is the file when the updater throws or
 * returns something JSON cannot represent (e.g. `undefined` → `TypeError`).
 * Waiting longer than `timeoutMs` for the lock throws `LockTimeoutError`.
 *
 * @param path the JSON file (its directory must exist)
 * @param updater `(current) => next`, sync or async
 * @param options `defaultValue`, `timeoutMs`, `staleMs`, `indent`
 * @returns the value written
 *
 * @example Count across processes without losing an update
 * ```ts
 * import { atomicUpdateJson } from "@hcs/store/json";
 * const path = `${await Deno.makeTempDir()}/counter.json`;
 * const n = await atomicUpdateJson(path, (c) => ({ count: c.count + 1 }), {
 *   defaultValue: { count: 0 },
 * });
 * console.assert(n.count === 1);
 * ```
 */
export function atomicUpdateJson<T = JsonValue>(
  path: string,
  updater: (current: T) => T | Promise<T>,
  options: AtomicUpdateJsonOptions<T> & { defaultValue: T },
): Promise<T>;
/**
 * Read-modify-write of a JSON file under an exclusive cross-process lock;
 * without `defaultValue`, the updater receives `undefined` for a missing file.
 *
 * @example
 * ```ts
 * import { atomicUpdateJson } from "@hcs/store/json";
 * const path = `${await Deno.makeTempDir()}/list.json`;
 * await atomicUpdateJson<string[]>(path, (c) => [...(c ?? []), "A01"]);
 * ```
 */
export function atomicUpdateJson<T = JsonValue>(
  path: string,
  updater: (current: T | undefined) => T | Promise<T>,
  options?: AtomicUpdateJsonOptions<T>,
): Promise<T>;
export async function atomicUpdateJson<T = JsonValue>(
  path: string,
  updater: (current: T | undefined) => T | Promise<T>,
  options: AtomicUpdateJsonOptions<T> = {},
): Promise<T> {
  const operation = "atomicUpdateJson";
  checkPath(path, operation);
  if (typeof updater !== "function") {
    throw new TypeError(`${operation} '${path}': updater must be a function`);
  }
  const lockOptions: { operation: string; timeoutMs?: number; staleMs?: number } = { operation };
  if (options.timeoutMs !== undefined) lockOptions.timeoutMs = options.timeoutMs;
  if (options.staleMs !== undefined) lockOptions.staleMs = options.staleMs;
  return await withFileLock(path, async (lock) => {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await readFile(path);
    } catch (err) {
      if (errCode(err) !== "ENOENT") throw toStorageError(err, operation, path);
    }
    let current: T | undefined;
    if (bytes === undefined) {
      current = options.defaultValue;
    } else {
      try {
        current = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as T;
      } catch (err) {
        throw new CorruptDataError(
          operation,
          path,
          `not valid JSON (${(err as Error).message}); file left unchanged`,
          { cause: err },
        );
      }
    }
    const next = await updater(current);
    const text = serialize(next, options.indent ?? 2, operation, path);
    await replaceJson(path, text, operation, lock);
    return next;
  }, lockOptions);
}

// The value type this entry's API refers to, so it documents it on its own.
export type { JsonValue } from "../backends/base.ts";
