/**
 * A convert's claim on an output that lives in object storage, where no file
 * lock exists: a lease object beside the staging prefix, created only if
 * absent and kept alive by a heartbeat, both through the store's
 * compare-and-swap (`saveIfVersion`), so two conversions never write into one
 * staging prefix.
 *
 * Decision: a lease is taken over when its holder provably died on this host
 * (pid gone) or its heartbeat is older than {@linkcode LEASE_STALE_MS}; a live
 * holder elsewhere keeps it. Release deletes the lease only while it is still
 * ours.
 *
 * @module
 */

import type { ConditionalWriter, StorageBackend } from "../backends/base.ts";
import { abandoned, type OwnerRecord, ownerRecord } from "../zarr/leftovers.ts";

/** How often a holder refreshes its lease. */
export const LEASE_HEARTBEAT_MS = 5_000;
/** A lease without a heartbeat for this long is stale. */
export const LEASE_STALE_MS = 60_000;

interface LeaseRecord extends OwnerRecord {
  token: string;
}

/** A held lease. */
export interface Lease {
  /** Stops the heartbeat and deletes the lease if it is still ours. */
  release(): Promise<void>;
}

/** True when `b` offers the compare-and-swap a lease needs. */
export function canLease(b: StorageBackend): b is StorageBackend & ConditionalWriter {
  const caps = (b as { capabilities?: { compareAndSwap?: boolean } }).capabilities;
  return caps?.compareAndSwap === true;
}

function parse(bytes: Uint8Array): Partial<LeaseRecord> {
  try {
    const j = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    return typeof j === "object" && j !== null ? j as Partial<LeaseRecord> : {};
  } catch {
    return {};
  }
}

async function stale(rec: Partial<LeaseRecord>, now: number): Promise<boolean> {
  if (typeof rec.time !== "number" || now - rec.time > LEASE_STALE_MS) return true;
  return await abandoned(rec, now);
}

/**
 * Takes the lease at `path`; resolves to undefined when a live holder has it.
 */
export async function takeLease(
  b: StorageBackend & ConditionalWriter,
  path: string,
): Promise<Lease | undefined> {
  const token = crypto.randomUUID();
  const bytes = async () =>
    new TextEncoder().encode(JSON.stringify({ ...(await ownerRecord()), token }));
  let version: string | false = await b.saveIfVersion(await bytes(), path, null);
  if (version === false) {
    const cur = await b.loadVersioned(path);
    if (cur === undefined) version = await b.saveIfVersion(await bytes(), path, null);
    else if (await stale(parse(cur.bytes), Date.now())) {
      version = await b.saveIfVersion(await bytes(), path, cur.version);
    }
  }
  if (version === false) return undefined;
  let mine: string | false = version;
  let beat: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    beat = beat.then(async () => {
      if (mine === false) return;
      mine = await b.saveIfVersion(await bytes(), path, mine).catch(() => mine);
    });
  }, LEASE_HEARTBEAT_MS);
  return {
    async release() {
      clearInterval(timer);
      await beat;
      const cur = await b.loadVersioned(path).catch(() => undefined);
      if (cur !== undefined && parse(cur.bytes).token === token) await b.delete(path);
    },
  };
}
