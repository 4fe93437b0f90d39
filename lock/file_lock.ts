/**
 * An exclusive, cross-process, cross-runtime file lock built on `node:fs`
 * only (no FFI, no `flock`), so Deno, Bun and Node processes that lock the
 * same path exclude each other.
 *
 * The lock of `path` is the file `<path>.lock`, holding a JSON record that
 * names the holder (random token, pid, host, boot, pid namespace). It is
 * created with `link` (exactly one winner) and moved from a dead holder to a
 * waiter with one `rename` under a per-token gate, never through "free".
 * A live holder on this host is never taken over; holders whose liveness
 * cannot be checked are stale when no heartbeat (mtime change) was seen for
 * `staleMs` — whichever way the clock points, so a future mtime is stale too.
 * A holder publishes through {@linkcode HeldLock.guard}, which re-checks
 * ownership under the gate and throws {@linkcode LockLostError} without
 * writing if the lock was taken over. Protocol, stale policy and the
 * remaining window: `docs/design.md` ("File lock").
 *
 * @module
 */

import { link, open, rename, unlink, utimes, writeFile } from "node:fs/promises";
import { setInterval as nodeSetInterval } from "node:timers";
import process from "node:process";
import { LockLostError, LockTimeoutError, toStorageError } from "../errors.ts";
import { errCode, removeOrphanedTemps, tempPathFor } from "../_internal/atomic_file.ts";
import { fnv1a, hostInfo as info, pidAlive } from "../_internal/liveness.ts";

/** Options of {@linkcode withFileLock}. */
export interface FileLockOptions {
  /** How long to wait for the lock before throwing `LockTimeoutError`, in ms (default 30 000). */
  timeoutMs?: number;
  /**
   * How long a lock whose holder's liveness cannot be checked (another host,
   * another pid namespace, no permission) may go without a heartbeat before it
   * is considered stale, in ms (default 30 000). Holders on this host whose
   * pid is alive are never stale.
   */
  staleMs?: number;
  /** The operation named in errors (default `"withFileLock"`). */
  operation?: string;
}

/** What the critical section of {@linkcode withFileLock} receives. */
export interface HeldLock {
  /** The file the lock protects. */
  readonly path: string;
  /** Throws {@linkcode LockLostError} unless the lock file still holds this holder's token. */
  assertHeld(): Promise<void>;
  /**
   * Runs `publish` (e.g. the final `rename` of a write) only after confirming,
   * under the takeover gate, that the lock is still ours, so no takeover can
   * complete between the check and `publish`. Throws {@linkcode LockLostError}
   * without calling `publish` otherwise.
   */
  guard<R>(publish: () => Promise<R>): Promise<R>;
}

/** The JSON record stored in a lock file. */
interface LockRecord {
  v: 1;
  token: string;
  pid: number;
  host: string;
  boot?: string;
  start?: string;
  pidns?: string;
  runtime: string;
  operation: string;
  acquiredAt: string;
}

/** One acquisition attempt's identity. */
interface Claimant {
  token: string;
  record: string;
  staleMs: number;
  /** Per lock/gate file: the content and mtime first seen, and when (heartbeat watch). */
  observed: Map<string, { raw: string; mtimeMs: number; since: number }>;
}

/** A lock file as read (content and mtime from the same open file). */
interface Seen {
  raw: string;
  id: string;
  token: string | undefined;
  record: Partial<LockRecord> | undefined;
  mtimeMs: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_STALE_MS = 30_000;
const MAX_POLL_MS = 25;
const MAX_GATE_DEPTH = 3;

async function unlinkQuiet(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (errCode(err) !== "ENOENT") throw err;
  }
}

/** A short, filename-safe id for content that has no token (FNV-1a, 32 bit). */
function contentId(raw: string): string {
  return `x${fnv1a(raw)}`;
}

/** Reads a lock file's content and mtime from one open descriptor; undefined if missing. */
async function readLock(file: string): Promise<Seen | undefined> {
  let handle;
  try {
    handle = await open(file, "r");
  } catch (err) {
    if (errCode(err) === "ENOENT") return undefined;
    throw err;
  }
  try {
    const st = await handle.stat();
    const raw = new TextDecoder().decode(await handle.readFile());
    let record: Partial<LockRecord> | undefined;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed === "object" && parsed !== null) record = parsed as Partial<LockRecord>;
    } catch {
      record = undefined;
    }
    const token = typeof record?.token === "string" && /^[0-9a-f]{8,64}$/.test(record.token)
      ? record.token
      : undefined;
    return { raw, id: token ?? contentId(raw), token, record, mtimeMs: st.mtimeMs };
  } finally {
    await handle.close();
  }
}

/**
 * Stale by mtime: older than `staleMs`, or — covering mtimes in the future
 * and clocks that disagree — unchanged (no heartbeat) for `staleMs` of our
 * own observation.
 */
function mtimeStale(file: string, seen: Seen, me: Claimant): boolean {
  const now = Date.now();
  if (now - seen.mtimeMs > me.staleMs) return true;
  const o = me.observed.get(file);
  if (o === undefined || o.raw !== seen.raw || o.mtimeMs !== seen.mtimeMs) {
    me.observed.set(file, { raw: seen.raw, mtimeMs: seen.mtimeMs, since: now });
    return false;
  }
  return now - o.since > me.staleMs;
}

/** Whether the holder seen in a lock file may be taken over. */
function isStale(file: string, seen: Seen, me: Claimant): boolean {
  const rec = seen.record;
  const host = info();
  if (
    seen.token !== undefined && rec && typeof rec.pid === "number" && Number.isInteger(rec.pid) &&
    rec.pid > 0 && rec.host === host.host
  ) {
    if (typeof rec.boot === "string" && host.boot !== undefined && rec.boot !== host.boot) {
      return true;
    }
    // A pid means something only inside the pid namespace it came from.
    const ns = typeof rec.pidns === "string" ? rec.pidns : undefined;
    if (ns !== host.pidns) return mtimeStale(file, seen, me);
    const alive = pidAlive(rec.pid, typeof rec.start === "string" ? rec.start : undefined);
    if (alive !== undefined) return !alive;
  }
  return mtimeStale(file, seen, me);
}

/**
 * One attempt to hold `file` with the claimant's record: "held" or "busy".
 * Takes over a stale holder through its gate (see the module doc).
 */
async function attempt(file: string, me: Claimant, depth: number): Promise<"held" | "busy"> {
  const candidate = tempPathFor(file);
  await writeFile(candidate, me.record, { flag: "wx" });
  try {
    try {
      await link(candidate, file);
      return "held";
    } catch (err) {
      if (errCode(err) !== "EEXIST") throw err;
    }
    const seen = await readLock(file);
    if (seen === undefined || seen.token === me.token) return "busy";
    if (depth >= MAX_GATE_DEPTH || !isStale(file, seen, me)) return "busy";
    const gate = `${file}.gate-${seen.id}`;
    if ((await attempt(gate, me, depth + 1)) !== "held") return "busy";
    try {
      const now = await readLock(file);
      if (now === undefined || now.raw !== seen.raw) return "busy";
      // Only the holder of gate `seen.id` may move the lock away from `seen`.
      await rename(candidate, file);
      return "held";
    } finally {
      await unlinkQuiet(gate);
    }
  } finally {
    await unlinkQuiet(candidate);
  }
}

/**
 * Runs `fn` holding our own gate after re-reading `file` and finding our
 * record there; `undefined` (fn not run) if the lock was taken from us. A
 * takeover needs this gate, so none can complete while `fn` runs.
 */
async function whileOurs<R>(
  file: string,
  me: Claimant,
  fn: () => Promise<R>,
): Promise<{ v: R } | undefined> {
  const gate = `${file}.gate-${me.token}`;
  if ((await attempt(gate, me, 1)) !== "held") return undefined;
  try {
    const now = await readLock(file);
    if (now === undefined || now.raw !== me.record) return undefined;
    return { v: await fn() };
  } finally {
    await unlinkQuiet(gate);
  }
}

/** Releases `file` if it still holds our token; false if it was taken from us. */
async function release(file: string, me: Claimant): Promise<boolean> {
  return (await whileOurs(file, me, () => unlink(file))) !== undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function checkMs(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
    throw new TypeError(`withFileLock: ${name} must be a non-negative number, got ${value}`);
  }
  return value;
}

/**
 * The lock-file path that {@linkcode withFileLock} uses for `path`.
 *
 * @example
 * ```ts
 * import { lockFilePath } from "./file_lock.ts";
 * console.assert(lockFilePath("/data/plate.json") === "/data/plate.json.lock");
 * ```
 */
export function lockFilePath(path: string): string {
  return `${path}.lock`;
}

/**
 * Runs `fn` while holding the exclusive cross-process lock of `path` (the file
 * `<path>.lock`), and releases it afterwards whether `fn` returns or throws.
 * Processes of different runtimes (Deno, Bun, Node) exclude each other. A
 * holder that died is taken over safely; a live holder on this host never is.
 * Throws {@linkcode LockTimeoutError} after `timeoutMs` without the lock.
 * See the module documentation for the protocol and the stale policy.
 *
 * @param path the file the lock protects (it need not exist; its directory must)
 * @param fn the critical section; publish its writes through `lock.guard`
 * @param options `timeoutMs`, `staleMs`, `operation`
 * @returns what `fn` returns
 *
 * @example Serialise a read-modify-write across processes
 * ```ts
 * import { withFileLock } from "./file_lock.ts";
 * import { readFile, writeFile } from "node:fs/promises";
 *
 * const path = `${await Deno.makeTempDir()}/counter.txt`;
 * await writeFile(path, "0");
 * const next = await withFileLock(path, async () => {
 *   const n = Number(await readFile(path, "utf8")) + 1;
 *   await writeFile(path, String(n));
 *   return n;
 * }, { timeoutMs: 5_000 });
 * console.assert(next === 1);
 * ```
 */
export async function withFileLock<T>(
  path: string,
  fn: (lock: HeldLock) => Promise<T> | T,
  options: FileLockOptions = {},
): Promise<T> {
  const operation = options.operation ?? "withFileLock";
  if (typeof path !== "string" || path.length === 0 || path.includes("\0")) {
    throw new TypeError(`${operation}: path must be a non-empty string without NUL bytes`);
  }
  if (typeof fn !== "function") throw new TypeError(`${operation}: fn must be a function`);
  const timeoutMs = checkMs(options.timeoutMs, "timeoutMs", DEFAULT_TIMEOUT_MS);
  const staleMs = checkMs(options.staleMs, "staleMs", DEFAULT_STALE_MS);
  const host = info();
  const token = crypto.randomUUID().replaceAll("-", "");
  const record: LockRecord = {
    v: 1,
    token,
    pid: process.pid,
    host: host.host,
    runtime: host.runtime,
    operation,
    acquiredAt: new Date().toISOString(),
  };
  if (host.boot !== undefined) record.boot = host.boot;
  if (host.start !== undefined) record.start = host.start;
  if (host.pidns !== undefined) record.pidns = host.pidns;
  const me: Claimant = { token, record: JSON.stringify(record), staleMs, observed: new Map() };
  const file = lockFilePath(path);

  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    let state: "held" | "busy";
    try {
      state = await attempt(file, me, 0);
    } catch (err) {
      throw toStorageError(err, operation, path);
    }
    if (state === "held") break;
    const left = deadline - Date.now();
    if (left <= 0) throw new LockTimeoutError(operation, path, timeoutMs);
    await sleep(Math.min(left, delay * (0.5 + Math.random())));
    delay = Math.min(delay * 2, MAX_POLL_MS);
  }

  // Holding it now: candidates and gate files that killed contenders left beside it go.
  await removeOrphanedTemps(file);

  // Heartbeat for waiters that can only judge by mtime; never touches a lock
  // that is no longer ours (a resumed holder must not keep a taker's lock fresh).
  const beat = nodeSetInterval(() => {
    readLock(file).then((now) => {
      if (now?.raw !== me.record) return;
      const t = new Date();
      return utimes(file, t, t);
    }).catch(() => {});
  }, Math.max(50, Math.min(staleMs / 3, 2 ** 31 - 1)));
  (beat as { unref?: () => void }).unref?.();

  const lost = () => new LockLostError(operation, path);
  const held: HeldLock = {
    path,
    assertHeld: async () => {
      if ((await whileOurs(file, me, () => Promise.resolve())) === undefined) throw lost();
    },
    guard: async <R>(publish: () => Promise<R>) => {
      const out = await whileOurs(file, me, publish);
      if (out === undefined) throw lost();
      return out.v;
    },
  };

  let failed = false;
  try {
    return await fn(held);
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    clearInterval(beat);
    try {
      const released = await release(file, me);
      if (!released && !failed) {
        // deno-lint-ignore no-unsafe-finally
        throw new LockLostError(
          operation,
          path,
          "the lock was taken over by another process while held (stale policy)",
        );
      }
    } catch (err) {
      // deno-lint-ignore no-unsafe-finally
      if (!failed) throw toStorageError(err, operation, path);
    }
  }
}
