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
