/**
 * Staging leftovers of plate writes: each well is staged in a hidden
 * `.hcs-zarr-tmp-<well>-<time>-<pid>-<rand>` group holding an owner record
 * (`.hcs-owner.json`: pid, host, time), moved into place, and the record is
 * removed once the plate metadata lists the well. A writer killed on the way
 * leaves either a staging group or a well that still carries its record.
 *
 * Decision: a leftover is removed (or an orphaned well replaced) only when
 * its writer is provably dead — same host, pid not alive — or the leftover
 * is older than {@linkcode STALE_STAGING_MS}. Where no pid can be checked
 * (edge runtimes, another host), only the age rule applies.
 *
 * @module
 */

import type { StorageBackend } from "../backends/base.ts";
import { join } from "../_internal/paths.ts";

/** Staging groups older than this (24 h) are removed whoever wrote them. */
export const STALE_STAGING_MS: number = 24 * 3600 * 1000;
/** Name prefix of a well staging group in a plate store. */
export const STAGING_PREFIX = ".hcs-zarr-tmp-";
/** The owner record inside a staging group (and a freshly moved well). */
export const OWNER_FILE = ".hcs-owner.json";

/** Who is writing a staging group. */
export interface OwnerRecord {
  /** Writer's pid, where the runtime has one. */
  pid?: number;
  /** Writer's host name, where known. */
  host?: string;
  /** Milliseconds since the epoch when staging began. */
  time: number;
}

interface Proc {
  pid?: number;
  kill?(pid: number, signal: number): unknown;
}
const proc = (globalThis as { process?: Proc }).process;

let hostPromise: Promise<string | undefined> | undefined;
function hostName(): Promise<string | undefined> {
  hostPromise ??= (async () => {
    try {
      const specifier = ["node", "os"].join(":"); // computed: edge bundles leave it alone
      const os = await import(specifier) as { hostname?: () => string };
      return os.hostname?.();
    } catch {
      return undefined;
    }
  })();
  return hostPromise;
}

/** This writer's owner record. */
export async function ownerRecord(now = Date.now()): Promise<OwnerRecord> {
  const r: OwnerRecord = { time: now };
  if (typeof proc?.pid === "number") r.pid = proc.pid;
  const host = await hostName();
  if (host !== undefined) r.host = host;
  return r;
}

/** The staging group name for a well (time and pid are in the name too). */
export function stagingName(row: string, column: string, owner: OwnerRecord): string {
  const rand = Math.random().toString(36).slice(2, 8);
  return `${STAGING_PREFIX}${row}${column}-${owner.time.toString(36)}-${owner.pid ?? 0}-${rand}`;
}

/** True when `pid` provably does not run on this host. */
function deadHere(pid: number): boolean {
  if (typeof proc?.kill !== "function" || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    proc.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as { code?: string }).code === "ESRCH";
  }
}

/** True when a leftover with this record may be removed. */
export async function abandoned(rec: Partial<OwnerRecord>, now = Date.now()): Promise<boolean> {
  if (typeof rec.time === "number" && now - rec.time > STALE_STAGING_MS) return true;
  if (typeof rec.pid !== "number" || typeof rec.host !== "string") return false;
  if (rec.host !== (await hostName())) return false;
  return deadHere(rec.pid);
}

async function readRecord(
  s: StorageBackend,
  dir: string,
): Promise<Partial<OwnerRecord> | undefined> {
  try {
    const b = await s.load<Uint8Array>(join(dir, OWNER_FILE), { as: "bytes" });
    const j = JSON.parse(new TextDecoder().decode(b)) as Partial<OwnerRecord>;
    return typeof j === "object" && j !== null ? j : undefined;
  } catch {
    return undefined;
  }
}

/** The record a staging-group name carries (time, pid), for groups whose record file is missing. */
function recordFromName(name: string): Partial<OwnerRecord> | undefined {
  const m = /-([0-9a-z]+)-(\d+)-[0-9a-z]+$/.exec(name);
  if (!m) return undefined;
  const time = parseInt(m[1]!, 36);
  return Number.isSafeInteger(time) ? { time } : undefined;
}

/**
 * Removes abandoned staging groups of the plate at `store`. Best effort:
 * a failure to list or delete leaves the leftover for the next write.
 */
export async function sweepStaging(s: StorageBackend, store: string): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await s.listDir(store);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(STAGING_PREFIX)) continue;
    const dir = join(store, name);
    const rec = (await readRecord(s, dir)) ?? recordFromName(name);
    if (!rec || !(await abandoned(rec))) continue;
    try {
      await s.deleteAll(dir);
      removed.push(dir);
    } catch {
      // another sweeper or the owner got there first
    }
  }
  return removed;
}

/** True when the well at `wellPath` still carries the record of a writer that is gone. */
export async function orphanedWell(s: StorageBackend, wellPath: string): Promise<boolean> {
  const rec = await readRecord(s, wellPath);
  return rec !== undefined && (await abandoned(rec));
}
