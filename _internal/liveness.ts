/**
 * Is the process that wrote a lock record or a temp file still alive? Used
 * by the file lock and the atomic-replace cleanup (node-only: `node:fs`).
 *
 * A pid is only evidence inside the host, boot and pid namespace it came
 * from; {@linkcode hostTag} names that scope so records and temp names can
 * carry it, and anything from another scope is "cannot tell".
 *
 * @module
 */

import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import process from "node:process";

/** What identifies this process's host, boot and pid namespace. */
export interface HostInfo {
  /** `os.hostname()`. */
  host: string;
  /** `/proc/sys/kernel/random/boot_id`, where readable. */
  boot: string | undefined;
  /** Whether `/proc/<pid>/stat` is readable here (Linux with permission). */
  proc: boolean;
  /** This process's start time from `/proc/self/stat`, field 22. */
  start: string | undefined;
  /** This process's pid namespace (`/proc/self/ns/pid` link), where readable. */
  pidns: string | undefined;
  /** `deno`, `bun` or `node`. */
  runtime: string;
}

let cached: HostInfo | undefined;

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

/** This process's host, boot and namespace identity (computed once). */
export function hostInfo(): HostInfo {
  if (cached) return cached;
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
  cached = {
    host,
    boot,
    proc: self !== undefined,
    start: self === undefined ? undefined : procStat(self)[19],
    pidns,
    runtime: g.Deno ? "deno" : g.Bun ? "bun" : "node",
  };
  return cached;
}

/** FNV-1a (32 bit) of `text` as 8 hex digits. */
export function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/**
 * 8 hex digits naming this host + boot + pid namespace, or `undefined` when
 * boot id or namespace cannot be read (then no pid from here is evidence).
 */
export function hostTag(): string | undefined {
  const me = hostInfo();
  if (me.boot === undefined || me.pidns === undefined) return undefined;
  return fnv1a(`${me.host}\n${me.boot}\n${me.pidns}`);
}

/** `kill(pid, 0)`: true = exists, false = no such process, undefined = cannot check. */
function signalAlive(pid: number): boolean | undefined {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === "ESRCH") return false;
    if (code === "EPERM") return true;
    return undefined;
  }
}

/**
 * Whether `pid` (in this pid namespace) is alive: true, false (dead, a
 * zombie, or a different process than the one that started at `start`), or
 * undefined when it cannot be checked from here.
 */
export function pidAlive(pid: number, start?: string): boolean | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  if (hostInfo().proc) {
    const stat = quietRead(`/proc/${pid}/stat`);
    if (stat !== undefined) {
      const fields = procStat(stat);
      if (fields[0] === "Z" || fields[0] === "X") return false;
      if (start !== undefined && fields[19] !== undefined && fields[19] !== start) return false;
      return true;
    }
    // Missing from /proc: dead, unless /proc hides other users' processes
    // (hidepid), which the signal check tells apart.
    return signalAlive(pid) ?? false;
  }
  return signalAlive(pid);
}
