/**
 * The disk reader decision table: which bulk reader the registry's `disk`
 * backend uses for which batch shape, per runtime, from measurements
 * (bench/disk_bytes.ts), not from runtime names. Plain data and one pure
 * function, so `planDisk` can say what would be chosen without importing FFI
 * code, and `ffi/mod.ts` builds exactly that.
 *
 * What the measurements say (2 vCPUs, warm page cache, ratios to the
 * runtime's own read + `Promise.all` in the same run, median of interleaved
 * GC-separated blocks; `deno run -A --v8-flags=--expose-gc
 * bench/disk_bytes.ts` and `bun bench/disk_bytes.ts`): the FFI reader's cost
 * per file is the lowest (one thread, no promise per file), so it wins for
 * small files; the runtime's reads run on its thread pool, so they win once
 * the copy itself dominates. The crossover lies between 8 and 16 KiB per
 * file on Bun and between 32 and 64 KiB on Deno (whose per-call cost is
 * higher); the registry dispatches per batch on the mean file size.
 * See docs/design.md "Disk reader choice".
 *
 * @module
 */

/** A measured crossover for one runtime with FFI loaded. */
export interface DiskReaderRule {
  /** Batches whose mean file size is below this (bytes) go to the FFI reader; the rest to the runtime reader. */
  readonly thresholdBytes: number;
  /** The FFI reader's implementation name. */
  readonly ffi: string;
  /** The runtime reader's implementation name. */
  readonly runtime: string;
  /** The measurements behind the threshold (ratios to the runtime's read + `Promise.all`). */
  readonly measured: string;
}

const COMMAND = "bench/disk_bytes.ts, 2 shared vCPUs, two sweeps";

/**
 * The decision table, per runtime with FFI loaded (`HCS_STORE_FFI` unset).
 * Elsewhere: `HCS_STORE_FFI=0`, Deno without `--allow-ffi`, Node and
 * platforms without libc bindings read with the pure reader;
 * `HCS_STORE_FFI=1` forces the FFI reader for every batch.
 *
 * @example
 * ```ts
 * import { DISK_READER_TABLE } from "./disk_choice.ts";
 * console.assert(DISK_READER_TABLE.bun.thresholdBytes > 0);
 * ```
 */
export const DISK_READER_TABLE: { readonly bun: DiskReaderRule; readonly deno: DiskReaderRule } = {
  // Between 8 KiB (FFI wins) and 16 KiB (runtime wins or ties).
  bun: {
    thresholdBytes: 12 * 1024,
    ffi: "ffi(bun, readv)",
    runtime: "runtime(bun, Bun.file)",
    measured: "4 KiB files: ffi 0.57–0.67× vs runtime 0.83–1.15×; 8 KiB: ffi 0.76–0.91× vs " +
      "1.06–1.24×; 16 KiB: runtime 1.17–1.49× vs ffi 1.10–2.13×; 64 KiB: runtime 0.85–1.09× vs " +
      "ffi 0.69–1.52×; 256 KiB: runtime 0.68–0.83× vs ffi 1.07–1.52×; 1 MiB: runtime " +
      `0.53–0.80× vs ffi 0.99–1.05×, of Bun.file().arrayBuffer()+Promise.all (${COMMAND})`,
  },
  // Between 32 KiB (FFI wins) and 64 KiB (runtime ahead, within noise).
  deno: {
    thresholdBytes: 48 * 1024,
    ffi: "ffi(deno, readv)",
    runtime: "runtime(deno, Deno.readFile)",
    measured: "4 KiB files: ffi 0.20–0.43× vs runtime 0.39–0.84×; 32 KiB: ffi 0.90–1.05× vs " +
      "1.24–1.31×; 64 KiB: runtime median 0.81× (0.61–1.21) vs ffi 0.93× (0.73–1.31); " +
      "256 KiB: runtime 0.83–1.09× vs ffi 1.26–1.70×; 1 MiB: runtime 0.94–1.27× vs ffi " +
      `1.80–3.44×, of Deno.readFile+Promise.all (${COMMAND})`,
  },
};

/** What {@linkcode diskReaderPlan} decides. */
export interface DiskReaderPlan {
  /** `"pure"`, `"ffi"` (every batch) or `"dispatch"` (per batch by mean file size). */
  readonly kind: "pure" | "ffi" | "dispatch";
  /** The implementation name `describeBackends()` shows. */
  readonly implementation: string;
  /** Why. */
  readonly reason?: string;
  /** The rule applied, for `"dispatch"`. */
  readonly rule?: DiskReaderRule;
}

function kib(bytes: number): string {
  return bytes >= 1 << 20 ? `${bytes / (1 << 20)} MiB` : `${bytes / 1024} KiB`;
}

/**
 * The plan for a runtime where FFI is available (`ffi: true`) or not (then
 * `ffiReason` says why), under the `HCS_STORE_FFI` switch value `env`.
 *
 * @example
 * ```ts
 * import { diskReaderPlan } from "./disk_choice.ts";
 * console.assert(diskReaderPlan("bun", true, undefined).kind === "dispatch");
 * console.assert(diskReaderPlan("bun", true, "1").implementation === "ffi(bun, readv)");
 * console.assert(diskReaderPlan("deno", true, "0").implementation === "pure");
 * ```
 */
export function diskReaderPlan(
  runtime: string,
  ffi: boolean,
  env: string | undefined,
  ffiReason = `${runtime} has no FFI`,
): DiskReaderPlan {
  if (env === "0") return { kind: "pure", implementation: "pure", reason: "HCS_STORE_FFI=0" };
  const rule = runtime === "bun" || runtime === "deno" ? DISK_READER_TABLE[runtime] : undefined;
  if (!ffi || rule === undefined) {
    const reason = env === "1" ? `HCS_STORE_FFI=1, but ${ffiReason}` : ffiReason;
    return { kind: "pure", implementation: "pure", reason };
  }
  if (env === "1") {
    return { kind: "ffi", implementation: rule.ffi, reason: "forced by HCS_STORE_FFI=1" };
  }
  const t = kib(rule.thresholdBytes);
  return {
    kind: "dispatch",
    implementation: `${rule.ffi} + ${rule.runtime}`,
    reason: `per batch by mean file size (8 files sampled): ${rule.ffi} below ${t}, ` +
      `${rule.runtime} from ${t} (${rule.measured})`,
    rule,
  };
}
