/**
 * The capability-typed byte store under a Zarr hierarchy: what the backend
 * can do (write, stat, compare-and-swap, a cross-process lock) is decided
 * once, when the store is built, into typed fields that are present only
 * when the capability is — so the Zarr code never duck-types a backend.
 *
 * Decision: backends that declare `capabilities` (`CapableBackend`, every
 * built-in one) are believed; for a third-party backend that declares none,
 * {@linkcode capabilitiesOf} derives them from its methods — the only place
 * in the Zarr module allowed to inspect a backend. Nothing is inferred from
 * a registry key.
 *
 * @module
 */

import type {
  CapableBackend,
  ConditionalWriter,
  CrossProcessLocker,
  StatResult,
  StorageBackend,
  StoreCapabilities,
} from "../backends/base.ts";
import type { ByteStore } from "./store.ts";

/** A byte store with its capabilities resolved into typed handles. */
export interface TypedStore {
  /** The backend (read side: load, loadBatch, exists, isFile, isDir, listDir). */
  readonly bytes: ByteStore;
  /** What it can do. */
  readonly caps: StoreCapabilities;
  /** The writable backend, when `caps.write`. */
  readonly writer?: StorageBackend;
  /** `stat`, when the backend has one (symlinks are reported, not followed). */
  readonly stat?: (path: string) => Promise<StatResult>;
  /** Compare-and-swap, when `caps.compareAndSwap`. */
  readonly cas?: ConditionalWriter;
  /** A lock excluding other processes, when `caps.crossProcessLock`. */
  readonly locker?: CrossProcessLocker;
}

type Loose = Partial<Record<string, unknown>>;

function fn(b: Loose, ...names: string[]): boolean {
  return names.every((n) => typeof b[n] === "function");
}

/**
 * What `backend` can do: its declared `capabilities`, or, for a backend
 * that declares none yet, what its methods show.
 */
export function capabilitiesOf(backend: ByteStore): StoreCapabilities {
  const declared = (backend as Partial<CapableBackend>).capabilities;
  if (declared) return declared;
  const b = backend as unknown as Loose;
  const write = fn(b, "save", "saveBatch", "ensureDirectory", "delete", "deleteAll", "move");
  return {
    read: fn(b, "load", "loadBatch"),
    write,
    list: fn(b, "listDir"),
    rangeRead: fn(b, "loadRange"),
    atomicCreate: false,
    compareAndSwap: fn(b, "loadVersioned", "saveIfVersion"),
    crossProcessLock: fn(b, "withLock"),
  };
}

/** Builds the typed store of `backend` (capabilities checked once, here). */
export function typedStore(backend: ByteStore): TypedStore {
  const caps = capabilitiesOf(backend);
  const b = backend as unknown as Loose;
  const out: {
    -readonly [K in keyof TypedStore]: TypedStore[K];
  } = { bytes: backend, caps };
  if (caps.write) out.writer = backend as StorageBackend;
  if (fn(b, "stat")) {
    const s = backend as StorageBackend;
    out.stat = (p) => s.stat(p);
  }
  if (caps.compareAndSwap) out.cas = backend as unknown as ConditionalWriter;
  if (caps.crossProcessLock) {
    out.locker = backend as unknown as CrossProcessLocker;
  }
  return out;
}
