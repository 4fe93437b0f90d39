/**
 * The CPU cores the runtime reports (`navigator.hardwareConcurrency`), the
 * one place every pool size and in-flight bound reads them from.
 *
 * @module
 */

/**
 * `navigator.hardwareConcurrency` as a whole number ≥ 1, or undefined where
 * the runtime does not report it (Node 20, some edge runtimes).
 *
 * @example
 * ```ts
 * import { reportedCores } from "./cores.ts";
 * const n = reportedCores();
 * console.assert(n === undefined || n >= 1);
 * ```
 */
export function reportedCores(): number | undefined {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;
  return typeof n === "number" && n >= 1 ? Math.floor(n) : undefined;
}
