/**
 * An exclusive, cross-process, cross-runtime file lock built on `node:fs`
 * only (no FFI, no `flock`), so Deno, Bun and Node processes that lock the
 * same path exclude each other.
 *
 * ## Protocol (identical on every runtime)
 *
 * The lock of `path` is the file `<path>.lock`. Its content is a JSON record
 * naming the holder: `{ v, token, pid, host, boot?, start?, pidns?, runtime,
 * operation, acquiredAt }`, where `token` is random and unique to one
 * acquisition. A lock file never changes content in place: every lock file
 * is written completely under a private candidate name first and then put in
 * place atomically, so a reader sees a complete record or nothing.
 *
 * - **Acquire (free lock)**: write a candidate `<lock>.<token>.<n>.tmp`, then
 *   `link(candidate, <lock>)`. `link` fails with `EEXIST` if the lock exists,
 *   so exactly one process wins, and the lock appears with its full content.
 * - **Release**: the holder takes the *gate* of its own token (see below),
 *   checks that `<lock>` still holds its token, unlinks `<lock>`, then
 *   unlinks the gate. A lock file is only ever removed by the process whose
 *   token it holds; waiters never unlink a lock.
 * - **Gate**: `<lock>.gate-<id>` (`id` = the holder's token) is itself a lock
 *   taken with the same protocol. The rule is: the content of `<lock>` may
 *   change away from token `T` only by the process that holds gate `T`, and
 *   only after re-reading `<lock>` under the gate and finding `T` still there.
 *   Tokens are never reused, so once `<lock>` has moved on from `T` no gate
 *   holder can act on it again, and a gate can be removed freely.
 * - **Stale takeover**: a waiter that finds `<lock>` held by a dead process
 *   takes gate `T`, re-reads `<lock>`, and if it still holds `T`, `rename`s
 *   its own complete candidate over it — the lock goes from the dead holder
 *   to the new one in one atomic step, never through "free". Two waiters
 *   that both see the same dead holder race for the gate; one wins, the
 *   other goes back to waiting. A gate left by a process that died inside
 *   this short window is itself taken over the same way (bounded depth).
 *
 * Unlike the Python reference (which `flock`s a lock file and unlinks it on
 * release, so a waiter can lock a different inode than the holder), mutual
 * exclusion here is the existence of one directory entry, and it is never
 * removed while another process may hold it.
 *
 * ## Stale policy
 *
 * A holder is **dead** (its lock is taken over at the next poll, i.e. within
 * about 25 ms) when its record names this host (`os.hostname()`) and the same
 * pid namespace (`/proc/self/ns/pid`, where readable), and:
 * - its boot id (`/proc/sys/kernel/random/boot_id`) differs from ours, or
 * - `/proc/<pid>/stat` shows a zombie, or a different process start time
 *   than the one recorded (pid reuse), or
 * - `process.kill(pid, 0)` fails with `ESRCH` (or, where it cannot be
 *   called, `/proc/<pid>` is missing).
 *
 * A holder on this host whose process is alive is **never** taken over,
 * however long it holds the lock: waiters get {@linkcode LockTimeoutError}.
 * When liveness cannot be checked (another host sharing the filesystem; a
 * holder whose pid namespace differs from ours or cannot be compared — Deno
 * reads `/proc` only with `-A`, so a Deno waiter without it cannot compare
 * with a Bun/Node/`deno -A` holder, and vice versa; a Deno waiter without
 * `--allow-run`; an unreadable record), the lock is stale once its file's
 * mtime is older than `staleMs` (default 30 s). Holders refresh the mtime every `staleMs / 3` while they
 * hold the lock, so a live holder is not taken over on those grounds either
 * unless it stops running its event loop for longer than `staleMs`.
 *
 * ## Timeout policy
 *
 * Waiters poll with jittered exponential backoff (1 ms doubling to 25 ms) and
 * throw {@linkcode LockTimeoutError} once `timeoutMs` (default 30 s) has passed
 * without acquiring. `timeoutMs: 0` tries exactly once. The lock is not
 * re-entrant: a nested `withFileLock` on the same path inside `fn` waits for
 * itself and times out.
 *
 * A process killed with SIGKILL can leave behind a candidate
 * (`*.tmp`) or gate file next to the lock; they are small, never block
 * anyone, and are not cleaned up automatically.
 *
 * @module
 */

import { readFileSync, readlinkSync } from "node:fs";
import { link, open, rename, unlink, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import process from "node:process";
import { setInterval as nodeSetInterval } from "node:timers";
import { LockTimeoutError, StorageError, toStorageError } from "../errors.ts";

/** Options of {@linkcode withFileLock}. */
export interface FileLockOptions {
  /** How long to wait for the lock before throwing `LockTimeoutError`, in ms (default 30 000). */
  timeoutMs?: number;
  /**
   * Age (by lock-file mtime) after which a lock whose holder's liveness cannot
   * be checked (another host, no permission) is considered stale, in ms
   * (default 30 000). Holders on this host whose pid is alive are never stale.
   */
  staleMs?: number;
  /** The operation named in errors (default `"withFileLock"`). */
  operation?: string;
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
  counter: number;
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

interface HostInfo {
  host: string;
  boot: string | undefined;
  /** Whether `/proc/<pid>/stat` is readable here (Linux with permission). */
  proc: boolean;
  /** This process's start time from `/proc/self/stat`, field 22. */
  start: string | undefined;
  /** This process's pid namespace (`/proc/self/ns/pid` link), where readable. */
  pidns: string | undefined;
  runtime: string;
}

let hostInfo: HostInfo | undefined;

function quietRead(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Fields of `/proc/<pid>/stat` after the command name: [state, ppid, …]. */
function procStat(text: string): string[] {
  return text.slice(text.lastIndexOf(")") + 2).trim().split(" ");
}

function info(): HostInfo {
  if (hostInfo) return hostInfo;
  let host: string;
  try {
    host = hostname();
  } catch {
    host = quietRead("/proc/sys/kernel/hostname")?.trim() || "unknown-host";
  }
  const boot = quietRead("/proc/sys/kernel/random/boot_id")?.trim() || undefined;
  const self = quietRead("/proc/self/stat");
  let pidns: string | undefined;
  try {
    pidns = readlinkSync("/proc/self/ns/pid");
  } catch {
    pidns = undefined;
  }
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  hostInfo = {
    host,
    boot,
    proc: self !== undefined,
    start: self === undefined ? undefined : procStat(self)[19],
    pidns,
    runtime: g.Deno ? "deno" : g.Bun ? "bun" : "node",
  };
  return hostInfo;
}

function errCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

async function unlinkQuiet(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (errCode(err) !== "ENOENT") throw err;
  }
}

/** A short, filename-safe id for content that has no token (FNV-1a, 32 bit). */
function contentId(raw: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < raw.length; i++) {
    h ^= raw.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `x${h.toString(16).padStart(8, "0")}`;
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

/** true = alive, false = dead, undefined = cannot tell from here. */
function pidAlive(pid: number, start: string | undefined): boolean | undefined {
  if (info().proc) {
    const stat = quietRead(`/proc/${pid}/stat`);
    if (stat !== undefined) {
      const fields = procStat(stat);
      if (fields[0] === "Z" || fields[0] === "X") return false;
      if (start !== undefined && fields[19] !== undefined && fields[19] !== start) return false;
      return true;
    }
    // Missing from /proc: dead, unless /proc hides other users' processes
    // (hidepid), which the signal check below tells apart.
    return signalAlive(pid) ?? false;
  }
  return signalAlive(pid);
}

/** `kill(pid, 0)`: true = exists, false = no such process, undefined = cannot check. */
function signalAlive(pid: number): boolean | undefined {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    const code = errCode(err);
    if (code === "ESRCH") return false;
    if (code === "EPERM") return true;
    return undefined;
  }
}

/** Whether the holder seen in a lock file may be taken over. */
function isStale(seen: Seen, staleMs: number): boolean {
  const rec = seen.record;
  const me = info();
  if (
    seen.token !== undefined && rec && typeof rec.pid === "number" && Number.isInteger(rec.pid) &&
    rec.pid > 0 && rec.host === me.host
  ) {
    if (typeof rec.boot === "string" && me.boot !== undefined && rec.boot !== me.boot) return true;
    // A pid means something only inside the pid namespace it came from.
    const ns = typeof rec.pidns === "string" ? rec.pidns : undefined;
    if (ns !== me.pidns) return Date.now() - seen.mtimeMs > staleMs;
    const alive = pidAlive(rec.pid, typeof rec.start === "string" ? rec.start : undefined);
    if (alive !== undefined) return !alive;
  }
  return Date.now() - seen.mtimeMs > staleMs;
}

/**
 * One attempt to hold `file` with the claimant's record: "held" or "busy".
 * Takes over a stale holder through its gate (see the module doc).
 */
async function attempt(file: string, me: Claimant, depth: number): Promise<"held" | "busy"> {
  const candidate = `${file}.${me.token}.${me.counter++}.tmp`;
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
    if (depth >= MAX_GATE_DEPTH || !isStale(seen, me.staleMs)) return "busy";
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

/** Releases `file` if it still holds our token; false if it was taken from us. */
async function release(file: string, me: Claimant): Promise<boolean> {
  const gate = `${file}.gate-${me.token}`;
  if ((await attempt(gate, me, 1)) !== "held") return false;
  try {
    const now = await readLock(file);
    if (now === undefined || now.raw !== me.record) return false;
    await unlink(file);
    return true;
  } finally {
    await unlinkQuiet(gate);
  }
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
 * @param fn the critical section
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
  fn: () => Promise<T> | T,
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
  const me: Claimant = { token, record: JSON.stringify(record), staleMs, counter: 0 };
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

  // Heartbeat: keeps the lock fresh for waiters that can only judge by mtime.
  const beat = nodeSetInterval(() => {
    const now = new Date();
    utimes(file, now, now).catch(() => {});
  }, Math.max(50, Math.min(staleMs / 3, 2 ** 31 - 1)));
  beat.unref?.();

  let failed = false;
  try {
    return await fn();
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    clearInterval(beat);
    try {
      const released = await release(file, me);
      if (!released && !failed) {
        // deno-lint-ignore no-unsafe-finally
        throw new StorageError(
          operation,
          path,
          "the lock was taken over by another process while held (stale policy)",
          { code: "ERR_LOCK_LOST" },
        );
      }
    } catch (err) {
      // deno-lint-ignore no-unsafe-finally
      if (!failed) throw toStorageError(err, operation, path);
    }
  }
}
