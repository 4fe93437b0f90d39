/**
 * The codec worker pool: runs jobs of `jobs.ts` (TIFF and PNG decode, PNG
 * encode, Zarr chunk encode/decode, pyramid downsampling) on worker threads,
 * moving buffers in and out (transfer, never a copy of pixel data).
 *
 * - Size: `navigator.hardwareConcurrency` workers, or `HCS_STORE_WORKERS=N`
 *   (`0`: everything inline). Runtimes without workers run everything inline.
 * - Lazy: no worker starts before the first job over its threshold; a worker
 *   that goes idle is unref'd (Node, Bun) and terminated after
 *   {@linkcode IDLE_MS}, so test runners and scripts exit on their own and a
 *   burst of batches a few seconds apart finds them warm. Deno's `Worker`
 *   cannot be unref'd, so there it goes after {@linkcode IDLE_MS_HELD}
 *   (its `worker_threads` workers can, but made a convert 3× slower, with
 *   5× the CPU time, when tried).
 * - Small jobs run inline: a job whose weight (bytes of work) is under its
 *   threshold in {@linkcode THRESHOLDS} never leaves the calling thread. The
 *   thresholds come from `bench/codecs.ts` (inline vs pool, per codec and
 *   size, same run): see docs/design.md, "Worker pool".
 *
 * @module
 */

import { safeEnv } from "../../registry/runtime.ts";
import { reportedCores } from "../cores.ts";
import {
  unrefTimer,
  type WorkerHandle,
  type WorkerHost,
  workerHost,
} from "../../ffi/worker_host.ts";
import type { ErrorRecord, JobName, JobOutput, Jobs } from "./jobs.ts";

/**
 * Smallest job weight (bytes: decoded bytes for decoders, input bytes for
 * encoders) that goes to a worker, per job. Measured with
 * `deno run -A bench/codecs.ts` (see docs/design.md, "Worker pool"): the
 * pool's own cost is 0.03–0.3 ms per job, so from 256 KiB (0.3–3.7 ms of
 * work per job for these codecs) the pool won in that run (1.0–1.8×, 2
 * cores), at 16 KiB it lost for most codecs (0.3–0.8×).
 */
export const THRESHOLDS: Record<JobName, number> = {
  tiff: 256 << 10,
  zarrDecode: 256 << 10,
  zarrEncode: 256 << 10,
  pngDecode: 256 << 10,
  pngEncode: 256 << 10,
  // not measured yet: a mean over 2×2 blocks is cheap per byte
  downsample: 1 << 20,
  // a plane's pyramid, histogram and chunks: at least the work of its zarrEncode
  planeLevels: 256 << 10,
};

const DEFAULT_THRESHOLDS = { ...THRESHOLDS };

/**
 * Overrides job thresholds (tests use 0 to send every job to a worker);
 * with no argument, restores the measured defaults.
 *
 * @example
 * ```ts
 * import { setThresholds, THRESHOLDS } from "./pool.ts";
 * setThresholds({ tiff: 0 });
 * console.assert(THRESHOLDS.tiff === 0);
 * setThresholds();
 * ```
 */
export function setThresholds(next?: Partial<Record<JobName, number>>): void {
  Object.assign(THRESHOLDS, next ?? DEFAULT_THRESHOLDS);
}

/** Most bytes of recycled staging buffers kept for inputs copied to workers. */
export const STAGING_MAX_BYTES = 256 << 20;
const staging: ArrayBuffer[] = [];
let stagingBytes = 0;

/**
 * A copy of `src` in a recycled staging buffer (already faulted in), for
 * an input that cannot be moved to a worker (e.g. a view into a batch
 * arena shared by many files). Give the buffer back with
 * {@linkcode recycleStaging} when the worker returns it: copying into
 * fresh memory costs page faults that, for barely compressed TIFFs, cost
 * as much as the decode itself (bench/codecs.ts, docs/design.md).
 *
 * @example
 * ```ts
 * import { recycleStaging, stageCopy } from "./pool.ts";
 * const c = stageCopy(new Uint8Array([1, 2, 3]));
 * console.assert(c.length === 3 && c[2] === 3);
 * recycleStaging(c.buffer as ArrayBuffer);
 * ```
 */
export function stageCopy(src: Uint8Array): Uint8Array {
  const n = src.length;
  let best = -1;
  for (let i = 0; i < staging.length; i++) {
    const len = staging[i]!.byteLength;
    if (len >= n && len <= 2 * n + 65536 && (best < 0 || len < staging[best]!.byteLength)) best = i;
  }
  let buf: ArrayBuffer;
  if (best >= 0) {
    buf = staging.splice(best, 1)[0]!;
    stagingBytes -= buf.byteLength;
  } else buf = new ArrayBuffer(n);
  const view = new Uint8Array(buf, 0, n);
  view.set(src);
  return view;
}

/** Keeps a staging buffer that came back from a worker for the next {@linkcode stageCopy}. */
export function recycleStaging(buf: ArrayBuffer): void {
  if (buf.byteLength === 0 || stagingBytes + buf.byteLength > STAGING_MAX_BYTES) return;
  staging.push(buf);
  stagingBytes += buf.byteLength;
}

/** How long an unref'd worker may sit idle before it is terminated (ms). */
export const IDLE_MS = 10_000;
/** The same where a worker cannot be unref'd (Deno): the process waits this long to exit. */
export const IDLE_MS_HELD = 1000;

/** Counters of the pool (for tests and `describe`-style reports). */
export interface PoolStats {
  /** Workers the pool may start (0: inline only). */
  size: number;
  /** `"web"`, `"node"` or `"none"` once probed, `"unknown"` before. */
  host: string;
  /** Workers running now. */
  running: number;
  /** Workers started since the process began. */
  started: number;
  /** Jobs run on a worker. */
  offThread: number;
  /** Jobs run on the calling thread. */
  inline: number;
}

/** Options of {@linkcode runJob}. */
export interface RunOptions<A> {
  /** Bytes of work, compared with the job's threshold (default: always off-thread when possible). */
  weight?: number;
  /**
   * Called only when the job goes to a worker, just before it is sent:
   * returns the arguments to send (e.g. with compressed inputs copied out
   * of a shared arena, an output buffer allocated) and the buffers to move.
   */
  prepare?: (args: A) => { args: A; transfer: ArrayBuffer[] };
  /** Force inline (true) or, when the pool has workers, off-thread (false). */
  inline?: boolean;
}

interface Pending {
  id: number;
  name: JobName;
  args: unknown;
  prepare: ((a: unknown) => { args: unknown; transfer: ArrayBuffer[] }) | undefined;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

interface Slot {
  handle: WorkerHandle;
  job: Pending | undefined;
  idle: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Workers the pool may start, from the environment and the cores
 * (`hostCores`: what the worker host reports where `navigator` does not).
 */
export function configuredSize(hostCores?: number): number {
  const env = safeEnv("HCS_STORE_WORKERS");
  if (env !== undefined && env.trim() !== "") {
    const n = Number(env);
    if (Number.isInteger(n) && n >= 0) return Math.min(n, 256);
  }
  return Math.min(Math.floor(reportedCores() ?? hostCores ?? 1), 64);
}

let size: number | undefined;
let host: WorkerHost | undefined;
let hostProbe: Promise<WorkerHost> | undefined;
const slots: Slot[] = [];
const queue: Pending[] = [];
let nextId = 1;
const stats = { started: 0, offThread: 0, inline: 0 };
let jobsModule: Promise<typeof import("./jobs.ts")> | undefined;

const jobs = () => (jobsModule ??= import("./jobs.ts"));

/**
 * The pool's counters.
 *
 * @example
 * ```ts
 * import { poolStats } from "./pool.ts";
 * console.assert(poolStats().offThread >= 0);
 * ```
 */
export function poolStats(): PoolStats {
  return {
    size: size ?? configuredSize(host?.cores),
    host: host?.kind ?? "unknown",
    running: slots.length,
    ...stats,
  };
}

/**
 * Whether a job of `name` with `weight` bytes would go to a worker (the
 * worker host is probed on first use; until then this answers from the
 * configured size only).
 */
export function wouldOffload(name: JobName, weight: number): boolean {
  size ??= configuredSize(host?.cores);
  return size > 0 && host?.kind !== "none" && weight >= THRESHOLDS[name];
}

/**
 * Runs job `name` inline or on a worker (see the module notes); the result
 * is the same either way, and so are errors (same class, code and path).
 *
 * @example
 * ```ts
 * import { runJob } from "./pool.ts";
 * import { encodePng } from "../../formats/png.ts";
 * const value = { data: new Uint8Array([1, 2, 3, 4]), shape: [2, 2], stride: [2, 1] };
 * const png = await runJob("pngEncode", { value, path: "a.png" }, { inline: true });
 * console.assert(png.length === encodePng(value, "a.png").length);
 * ```
 */
export async function runJob<N extends JobName>(
  name: N,
  args: Jobs[N][0],
  options: RunOptions<Jobs[N][0]> = {},
): Promise<Jobs[N][1]> {
  const off = options.inline === false
    ? (size ??= configuredSize(host?.cores)) > 0
    : options.inline !== true && wouldOffload(name, options.weight ?? Infinity);
  if (off) {
    if (!host) {
      host = await (hostProbe ??= workerHost());
      if (host.cores !== undefined) size = configuredSize(host.cores);
    }
    if (host.kind !== "none" && size! > 0) return await offThread(name, args, options.prepare);
  }
  stats.inline++;
  const table = (await jobs()).JOBS;
  const out = await (table[name] as (a: Jobs[N][0]) => Promise<JobOutput<Jobs[N][1]>>)(args);
  return out.value;
}

function offThread<N extends JobName>(
  name: N,
  args: Jobs[N][0],
  prepare: RunOptions<Jobs[N][0]>["prepare"],
): Promise<Jobs[N][1]> {
  return new Promise((resolve, reject) => {
    queue.push({
      id: nextId++,
      name,
      args,
      prepare: prepare as Pending["prepare"],
      resolve: resolve as (v: unknown) => void,
      reject,
    });
    pump();
  });
}

function pump(): void {
  while (queue.length > 0) {
    let slot = slots.find((s) => s.job === undefined);
    if (!slot && slots.length < (size ?? 0)) slot = startWorker();
    if (!slot) return;
    const job = queue.shift()!;
    dispatch(slot, job);
  }
}

function dispatch(slot: Slot, job: Pending): void {
  if (slot.idle !== undefined) clearTimeout(slot.idle);
  slot.idle = undefined;
  let args = job.args;
  let transfer: ArrayBuffer[] = [];
  try {
    if (job.prepare) ({ args, transfer } = job.prepare(args));
  } catch (err) {
    job.reject(err);
    return;
  }
  slot.job = job;
  slot.handle.hold(true);
  try {
    slot.handle.post({ id: job.id, name: job.name, args }, transfer);
  } catch (err) {
    slot.job = undefined;
    job.reject(err);
    goIdle(slot);
  }
}

function startWorker(): Slot {
  const url = new URL("./worker.ts", import.meta.url);
  const slot: Slot = {
    handle: undefined as unknown as WorkerHandle,
    job: undefined,
    idle: undefined,
  };
  const handle = host!.start(url, {
    message: (data) => onMessage(slot, data),
    error: (err) => onFailure(slot, err),
  })!;
  slot.handle = handle;
  slots.push(slot);
  stats.started++;
  return slot;
}

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: ErrorRecord;
}

function onMessage(slot: Slot, data: unknown): void {
  const reply = data as Reply;
  const job = slot.job;
  if (!job || job.id !== reply.id) return;
  slot.job = undefined;
  if (reply.ok) {
    stats.offThread++;
    job.resolve(reply.value);
  } else {
    void jobs().then((m) => job.reject(m.reviveError(reply.error!)));
  }
  if (queue.length > 0) dispatch(slot, queue.shift()!);
  else goIdle(slot);
}

function onFailure(slot: Slot, err: unknown): void {
  const at = slots.indexOf(slot);
  if (at < 0) return;
  slots.splice(at, 1);
  if (slot.idle !== undefined) clearTimeout(slot.idle);
  slot.handle.terminate();
  const job = slot.job;
  slot.job = undefined;
  if (job) job.reject(err instanceof Error ? err : new Error(`codec worker failed: ${err}`));
  pump();
}

function goIdle(slot: Slot): void {
  slot.handle.hold(false);
  const ms = slot.handle.canUnref ? IDLE_MS : IDLE_MS_HELD;
  slot.idle = setTimeout(() => {
    const at = slots.indexOf(slot);
    if (at >= 0 && slot.job === undefined) {
      slots.splice(at, 1);
      slot.handle.terminate();
    }
  }, ms);
  unrefTimer(slot.idle);
}

/**
 * Terminates every worker now (queued jobs are rejected); the next job
 * starts fresh ones. Also re-reads `HCS_STORE_WORKERS`.
 *
 * @example
 * ```ts
 * import { closePool } from "./pool.ts";
 * closePool();
 * ```
 */
export function closePool(): void {
  for (const slot of slots.splice(0)) {
    if (slot.idle !== undefined) clearTimeout(slot.idle);
    slot.handle.terminate();
    slot.job?.reject(new Error("codec worker pool closed"));
  }
  for (const job of queue.splice(0)) job.reject(new Error("codec worker pool closed"));
  size = undefined;
}
