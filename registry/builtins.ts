/**
 * The built-in backend table. Each entry imports its module on first use, so a
 * program that never asks for `disk` never loads `node:fs` or FFI code.
 *
 * @module
 */

import type { BackendEntry, ImplementationPlan } from "./registry.ts";
import { denoFfiPermission, type RuntimeInfo, safeEnv } from "./runtime.ts";
import { diskReaderPlan } from "./disk_choice.ts";

/**
 * Which disk reader this runtime gets, decided without importing anything,
 * by the measured decision table (`DISK_READER_TABLE` in
 * registry/disk_choice.ts): with FFI available (Deno with `--allow-ffi`,
 * Bun, on Linux or macOS), per batch the FFI reader for small files and the
 * runtime's own thread-pooled reads for larger ones; the pure reader
 * elsewhere. `HCS_STORE_FFI=1` forces FFI, `HCS_STORE_FFI=0` pure.
 *
 * @example
 * ```ts
 * import { planDisk, runtime } from "@hcs/store/registry";
 * const plan = planDisk(runtime());
 * console.assert(plan.implementation === "pure" || plan.implementation.startsWith("ffi("));
 * ```
 */
export function planDisk(rt: RuntimeInfo): ImplementationPlan {
  const env = safeEnv("HCS_STORE_FFI");
  let why: string | undefined;
  if (rt.os !== "linux" && rt.os !== "darwin") why = `no libc bindings for ${rt.os}`;
  else if (rt.name === "deno" && denoFfiPermission() !== "granted") {
    why = "ffi permission not granted";
  } else if (rt.name !== "deno" && rt.name !== "bun") why = `${rt.name} has no FFI`;
  const plan = diskReaderPlan(rt.name, why === undefined, env, why);
  const out: ImplementationPlan = { implementation: plan.implementation };
  if (plan.reason !== undefined) out.reason = plan.reason;
  return out;
}

const filesystem = (rt: RuntimeInfo): true | string =>
  rt.hasFilesystem ? true : `no local filesystem on ${rt.name}`;

/** The built-in entries, in no particular order. */
export const BUILTIN_ENTRIES: readonly BackendEntry[] = [
  {
    key: "memory",
    supports: () => true,
    load: async () => new (await import("../backends/memory.ts")).MemoryBackend(),
    plan: () => ({ implementation: "tree" }),
  },
  {
    key: "disk",
    supports: filesystem,
    // The bulk reader is chosen here: planDisk says which by the decision
    // table; the FFI library is opened and probed inside chooseDiskReader,
    // which falls back to the pure reader with the reason on any failure.
    load: async (ctx) => {
      const { DiskBackend } = await import("../backends/disk.ts");
      const plan = planDisk(ctx.runtime);
      try {
        const { chooseDiskReader } = await import("../ffi/mod.ts");
        const pure = plan.implementation === "pure";
        const { reader, implementation, reason } = await chooseDiskReader(ctx.runtime, { pure });
        const why = pure ? plan.reason : reason;
        return new DiskBackend({
          reader,
          implementation,
          ...(why ? { implementationReason: why } : {}),
        });
      } catch (err) {
        const why = `bulk reader failed to load: ${err instanceof Error ? err.message : err}`;
        return new DiskBackend({ implementation: "pure", implementationReason: why });
      }
    },
    plan: planDisk,
  },
  {
    key: "http",
    supports: () => true,
    load: async () => new (await import("../backends/http.ts")).HttpBackend(),
    plan: () => ({ implementation: "fetch" }),
  },
  {
    key: "virtual_workspace",
    supports: () => true,
    load: async (ctx) =>
      new (await import("../backends/virtual_workspace.ts")).VirtualWorkspaceBackend({
        registry: ctx.registry,
      }),
    plan: () => ({ implementation: "mapped" }),
  },
  {
    key: "s3",
    supports: () => true,
    // configured from S3_* / AWS_* variables; missing ones are a typed error here, not later
    load: async () => (await import("../backends/s3.ts")).s3FromEnv(safeEnv),
    plan: () => ({ implementation: "aws4fetch" }),
  },
  {
    key: "stream",
    supports: () => true,
    // HCS_STREAM_URL points the sink at a viewer in another process; else the process hub.
    load: async () => {
      const { StreamBackend } = await import("../backends/stream.ts");
      const url = safeEnv("HCS_STREAM_URL");
      return new StreamBackend(url ? { url } : {});
    },
    plan: () => ({ implementation: safeEnv("HCS_STREAM_URL") ? "remote" : "in-process" }),
  },
  {
    key: "zarr",
    supports: () => true,
    load: async (ctx) =>
      new (await import("../backends/zarr.ts")).ZarrBackend({ registry: ctx.registry }),
    plan: () => ({ implementation: "zarrita" }),
  },
];
