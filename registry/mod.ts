/**
 * The backend registry and runtime probe.
 *
 * @example
 * ```ts
 * import { createRegistry } from "@hcs/store/registry";
 * const reg = createRegistry();
 * console.assert(reg.availableKeys().includes("memory"));
 * ```
 *
 * @module
 */

export * from "./registry.ts";
export * from "./runtime.ts";
export { planDisk } from "./builtins.ts";
export { DISK_READER_TABLE, diskReaderPlan } from "./disk_choice.ts";
export type { DiskReaderPlan, DiskReaderRule } from "./disk_choice.ts";

// The contract types the registry's API refers to, so this entry documents them on its own.
export type * from "../backends/base.ts";
