/**
 * Runtime detection, computed once per process. This is the only place
 * (with `ffi/`) that looks at runtime-specific globals.
 *
 * @module
 */

/** The runtimes hcs-store tells apart. */
export type RuntimeName = "deno" | "bun" | "node" | "workerd" | "edge" | "other";

/** What the registry knows about the running runtime. */
export interface RuntimeInfo {
  /** Which runtime this is. */
  readonly name: RuntimeName;
  /** Its version string, where it reports one. */
  readonly version: string;
  /** Whether a local filesystem (`node:fs`) is expected to work. */
  readonly hasFilesystem: boolean;
  /** Operating system (`linux`, `darwin`, `windows`, …) where known. */
  readonly os: string;
  /** CPU architecture (`x86_64`, `aarch64`, …) where known. */
  readonly arch: string;
}

interface DenoLike {
  version?: { deno?: string };
  build?: { os?: string; arch?: string };
  env?: { get(name: string): string | undefined };
  permissions?: { querySync?(d: { name: string; variable?: string }): { state: string } };
}

interface ProcessLike {
  versions?: Record<string, string | undefined>;
  platform?: string;
  arch?: string;
  env?: Record<string, string | undefined>;
}

function globals(): {
  Deno?: DenoLike;
  Bun?: unknown;
  process?: ProcessLike;
  navigator?: { userAgent?: string };
} {
  return globalThis as never;
}

function detect(): RuntimeInfo {
  const g = globals();
  const ua = typeof g.navigator?.userAgent === "string" ? g.navigator.userAgent : "";
  if (g.Deno?.version?.deno) {
    // Deno Deploy has Deno.version but no filesystem writes; DENO_DEPLOYMENT_ID marks it.
    const deploy = safeEnv("DENO_DEPLOYMENT_ID") !== undefined;
    return {
      name: deploy ? "edge" : "deno",
      version: g.Deno.version.deno,
      hasFilesystem: !deploy,
      os: g.Deno.build?.os ?? "unknown",
      arch: g.Deno.build?.arch ?? "unknown",
    };
  }
  if (g.Bun !== undefined && g.process?.versions?.bun) {
    return {
      name: "bun",
      version: g.process.versions.bun,
      hasFilesystem: true,
      os: normOs(g.process.platform),
      arch: normArch(g.process.arch),
    };
  }
  if (ua.startsWith("Cloudflare-Workers")) {
    return { name: "workerd", version: "", hasFilesystem: false, os: "unknown", arch: "unknown" };
  }
  if (g.process?.versions?.node && g.process.platform) {
    return {
      name: "node",
      version: g.process.versions.node,
      hasFilesystem: true,
      os: normOs(g.process.platform),
      arch: normArch(g.process.arch),
    };
  }
  return { name: "other", version: "", hasFilesystem: false, os: "unknown", arch: "unknown" };
}

function normOs(platform: string | undefined): string {
  return platform === "win32" ? "windows" : platform ?? "unknown";
}

function normArch(arch: string | undefined): string {
  if (arch === "x64") return "x86_64";
  if (arch === "arm64") return "aarch64";
  return arch ?? "unknown";
}

let cached: RuntimeInfo | undefined;

/**
 * The running runtime, detected once and cached.
 *
 * @example
 * ```ts
 * import { runtime } from "@hcs/store/registry";
 * console.assert(["deno", "bun", "node", "workerd", "edge", "other"].includes(runtime().name));
 * ```
 */
export function runtime(): RuntimeInfo {
  return cached ??= Object.freeze(detect());
}

/**
 * Reads an environment variable without prompting or throwing (a Deno without
 * `--allow-env` and runtimes without `process` read as unset).
 *
 * @example
 * ```ts
 * import { safeEnv } from "@hcs/store/registry";
 * console.assert(safeEnv("SURELY_NOT_SET_HCS") === undefined);
 * ```
 */
export function safeEnv(name: string): string | undefined {
  const g = globals();
  if (g.Deno?.env) {
    try {
      const state = g.Deno.permissions?.querySync?.({ name: "env", variable: name }).state;
      if (state !== undefined && state !== "granted") return undefined;
      return g.Deno.env.get(name);
    } catch {
      return undefined;
    }
  }
  return g.process?.env?.[name];
}

/**
 * Whether Deno would allow FFI without prompting (`undefined` off Deno).
 *
 * @example
 * ```ts
 * import { denoFfiPermission } from "@hcs/store/registry";
 * const state = denoFfiPermission();
 * console.assert(state === undefined || typeof state === "string");
 * ```
 */
export function denoFfiPermission(): "granted" | "denied" | "prompt" | undefined {
  const g = globals();
  if (!g.Deno?.permissions?.querySync) return undefined;
  try {
    return g.Deno.permissions.querySync({ name: "ffi" }).state as "granted" | "denied" | "prompt";
  } catch {
    return "denied";
  }
}
