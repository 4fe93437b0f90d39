/**
 * Chooses and builds the bulk reader for this runtime: the FFI reader
 * (`Deno.dlopen` with `--allow-ffi`, or `bun:ffi`) where it loads and passes a
 * probe, else the pure-TypeScript reader, with the reason recorded
 * ({@linkcode createBulkReader}); and, for the disk backend, the reader the
 * measured decision table picks ({@linkcode chooseDiskReader}: per batch, FFI
 * for small files, the runtime's thread-pooled reads for larger ones).
 *
 * Nothing happens at import: the library is opened (and probed) inside
 * {@linkcode createBulkReader}.
 *
 * Three ways to read a batch (see `batch.ts` for the shared guarantees):
 * - `readFiles` (what `loadBatch` uses): views into fresh page-aligned arenas,
 *   one per bounded chunk; ordinary garbage-collected memory.
 * - `leaseFiles` (FFI readers): the same into arenas recycled from released
 *   leases, behind a handle; `release()` detaches every view handed out and
 *   keeps the arena, already faulted in, for the next lease.
 * - `mapFiles` (FFI readers): zero-copy `mmap` views behind a handle;
 *   `release()` detaches them, then unmaps.
 * Handles follow the rules of {@linkcode MappedFiles}: views only through
 * `get(i)`, valid until `release()` (or the end of a `using` block), which
 * is safe to call twice.
 *
 * @module
 */

import type { RuntimeInfo, RuntimeName } from "../registry/runtime.ts";
import { denoFfiPermission, safeEnv } from "../registry/runtime.ts";
import type { BulkReader, MappedFiles } from "./types.ts";
import type { BatchOptions } from "./batch.ts";
import { KIND_DIRECTORY } from "./batch.ts";
import { type LibcTarget, libcTarget } from "./libc.ts";
import { type LibcCalls, NativeOps, NativeReader, type NativeReaderOptions } from "./native.ts";
import { PureReader } from "./pure.ts";
import { RuntimeReader } from "./runtime_reader.ts";
import { SizeDispatchReader } from "./dispatch.ts";
import { diskReaderPlan } from "../registry/disk_choice.ts";

export type { BulkReader, MappedFiles };
export { NativeReader, PureReader, RuntimeReader, SizeDispatchReader };
export type { BatchOptions, NativeReaderOptions, RuntimeInfo, RuntimeName };
export type { Arena, FileOps } from "./batch.ts";

/** The reader chosen for a runtime, its name, and why. */
export interface ReaderChoice {
  /** The reader to use. */
  reader: BulkReader;
  /** Its implementation name, e.g. `"ffi(deno, readv)"` or `"pure"`. */
  implementation: string;
  /** Why: the measurements behind a dispatch, a forcing switch, or why FFI was not used. */
  reason?: string;
}

/** Options of {@linkcode createBulkReader}. */
export interface CreateReaderOptions extends NativeReaderOptions {
  /** Force the pure reader (as `HCS_STORE_FFI=0` does). */
  pure?: boolean;
}

function pure(reason: string | undefined, options: BatchOptions): ReaderChoice {
  const reader = new PureReader(options);
  const choice: ReaderChoice = { reader, implementation: reader.implementation };
  if (reason !== undefined) choice.reason = reason;
  return choice;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Checks a fresh binding before trusting it: a missing path must fail with
 * ENOENT (errno works) and `/` must stat as a directory (the `struct stat`
 * layout is right). Throws with a reason otherwise.
 */
function probe(libc: LibcCalls, target: LibcTarget): void {
  const ops = new NativeOps(libc, target);
  try {
    const fd = ops.open("/nonexistent-hcs-store-probe/x", "probe");
    ops.close(fd);
    throw new Error("probe: opening a missing path succeeded");
  } catch (err) {
    if ((err as { code?: unknown }).code !== "ENOENT") {
      throw new Error(`probe: errno not readable (${message(err)})`);
    }
  }
  const fd = ops.open("/", "probe");
  try {
    if (ops.stat(fd, "/", "probe") !== KIND_DIRECTORY) {
      throw new Error("probe: struct stat layout does not match this libc");
    }
  } finally {
    ops.close(fd);
  }
}

/** A bound, probed libc, or why there is none. */
async function openNative(
  rt: RuntimeInfo,
): Promise<{ libc: LibcCalls; target: LibcTarget } | string> {
  if (rt.name !== "deno" && rt.name !== "bun") return `${rt.name} has no FFI`;
  const target = libcTarget(rt.os, rt.arch);
  if (typeof target === "string") return target;
  try {
    let libc: LibcCalls;
    if (rt.name === "deno") {
      if (denoFfiPermission() !== "granted") return "ffi permission not granted";
      const { openDenoLibc } = await import("./deno.ts");
      libc = openDenoLibc(target);
    } else {
      const { openBunLibc } = await import("./bun.ts");
      libc = await openBunLibc(target);
    }
    probe(libc, target);
    return { libc, target };
  } catch (err) {
    return `ffi unavailable: ${message(err)}`;
  }
}

/**
 * Builds the bulk reader for `rt`. Never rejects: any failure (no permission,
 * no libc, unsupported OS, failed probe) yields the pure reader with the
 * reason. `HCS_STORE_FFI=0` (or `{ pure: true }`) forces pure.
 *
 * @example
 * ```ts
 * import { createBulkReader } from "./mod.ts";
 * import { runtime } from "../registry/runtime.ts";
 * const { reader, implementation, reason } = await createBulkReader(runtime());
 * console.assert(reader.implementation === implementation);
 * console.log(implementation, reason ?? "");
 * ```
 */
export async function createBulkReader(
  rt: RuntimeInfo,
  options: CreateReaderOptions = {},
): Promise<ReaderChoice> {
  const { pure: forcePure, ...batch } = options;
  try {
    if (forcePure) return pure("forced pure", batch);
    if (safeEnv("HCS_STORE_FFI") === "0") return pure("HCS_STORE_FFI=0", batch);
    const native = await openNative(rt);
    if (typeof native === "string") return pure(native, batch);
    const reader = new NativeReader(`ffi(${rt.name}, readv)`, native.libc, native.target, batch);
    return { reader, implementation: reader.implementation };
  } catch (err) {
    return pure(`ffi unavailable: ${message(err)}`, batch);
  }
}

/**
 * Builds the disk backend's reader by the measured decision table
 * ({@linkcode diskReaderPlan}, registry/disk_choice.ts): with FFI loaded, a
 * {@linkcode SizeDispatchReader} that sends each batch to the FFI reader
 * (small files) or to the runtime's thread-pooled reader (larger ones);
 * `HCS_STORE_FFI=1` forces the FFI reader, `HCS_STORE_FFI=0` (or
 * `{ pure: true }`) the pure one. Never rejects; the choice carries its
 * reason (the measurements, or why FFI is not used).
 *
 * @example
 * ```ts
 * import { chooseDiskReader } from "./mod.ts";
 * import { runtime } from "../registry/runtime.ts";
 * const { reader, implementation, reason } = await chooseDiskReader(runtime());
 * console.assert(reader.implementation === implementation);
 * console.log(implementation, reason ?? "");
 * ```
 */
export async function chooseDiskReader(
  rt: RuntimeInfo,
  options: CreateReaderOptions = {},
): Promise<ReaderChoice> {
  const { pure: forcePure, ...batch } = options;
  const env = safeEnv("HCS_STORE_FFI");
  if (forcePure) return pure("forced pure", batch);
  if (env === "0") return pure("HCS_STORE_FFI=0", batch);
  let native: Awaited<ReturnType<typeof openNative>>;
  try {
    native = await openNative(rt);
  } catch (err) {
    native = `ffi unavailable: ${message(err)}`;
  }
  const ok = typeof native !== "string";
  const plan = diskReaderPlan(rt.name, ok, env, ok ? undefined : native as string);
  if (typeof native === "string" || plan.kind === "pure") {
    return pure(plan.reason, batch);
  }
  const ffi = new NativeReader(`ffi(${rt.name}, readv)`, native.libc, native.target, batch);
  const withReason = (reader: BulkReader): ReaderChoice => {
    const c: ReaderChoice = { reader, implementation: reader.implementation };
    if (plan.reason !== undefined) c.reason = plan.reason;
    return c;
  };
  if (plan.kind === "ffi" || plan.rule === undefined) return withReason(ffi);
  const gate = new NativeOps(native.libc, native.target);
  const runtimeReader = new RuntimeReader({ gate, fallback: ffi, delegate: ffi });
  return withReason(
    new SizeDispatchReader({
      small: ffi,
      large: runtimeReader,
      thresholdBytes: plan.rule.thresholdBytes,
      gate,
      delegate: ffi,
    }),
  );
}
