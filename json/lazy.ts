/**
 * `atomicWriteJson` / `atomicUpdateJson` for the main entry: thin wrappers that
 * import `json/atomic.ts` (and with it `node:fs`) on first call only, so that
 * importing `@hcs/store` stays free of `node:*` modules.
 *
 * @module
 */

import type { JsonValue } from "../backends/base.ts";
import type { AtomicUpdateJsonOptions, AtomicWriteJsonOptions } from "./atomic.ts";

export type { AtomicUpdateJsonOptions, AtomicWriteJsonOptions };

/**
 * Replaces a JSON file atomically (temp file, fsync, rename, directory fsync),
 * under the cross-process lock. Loads the implementation on first use.
 *
 * @example
 * ```ts
 * import { atomicWriteJson } from "@hcs/store";
 * const path = `${await Deno.makeTempDir()}/state.json`;
 * await atomicWriteJson(path, { step: 1 });
 * console.assert(JSON.parse(await Deno.readTextFile(path)).step === 1);
 * ```
 */
export async function atomicWriteJson(
  path: string,
  value: unknown,
  options?: AtomicWriteJsonOptions,
): Promise<void> {
  return await (await import("./atomic.ts")).atomicWriteJson(path, value, options);
}

/**
 * Read-modify-write of a JSON file under an exclusive cross-process lock
 * (see `@hcs/store/json`). Loads the implementation on first use.
 *
 * @example
 * ```ts
 * import { atomicUpdateJson } from "@hcs/store";
 * const path = `${await Deno.makeTempDir()}/counter.json`;
 * await atomicUpdateJson(path, (n: number) => n + 1, { defaultValue: 0 });
 * console.assert((await atomicUpdateJson(path, (n: number) => n + 1, { defaultValue: 0 })) === 2);
 * ```
 */
export function atomicUpdateJson<T = JsonValue>(
  path: string,
  updater: (current: T) => T | Promise<T>,
  options: AtomicUpdateJsonOptions<T> & { defaultValue: T },
): Promise<T>;
/**
 * Read-modify-write without a default: the updater receives `undefined` for a
 * missing file.
 *
 * @example
 * ```ts
 * import { atomicUpdateJson } from "@hcs/store";
 * const path = `${await Deno.makeTempDir()}/list.json`;
 * const next = await atomicUpdateJson<string[]>(path, (cur) => [...(cur ?? []), "a"]);
 * console.assert(next.length === 1);
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
  options?: AtomicUpdateJsonOptions<T>,
): Promise<T> {
  return await (await import("./atomic.ts")).atomicUpdateJson<T>(path, updater, options);
}
