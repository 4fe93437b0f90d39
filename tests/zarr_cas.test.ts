/**
 * Capability-typed byte stores under the Zarr backend: a store that
 * declares compare-and-swap but no lock (what object storage offers) keeps
 * plate metadata whole under concurrent writers — loadVersioned → merge →
 * saveIfVersion, retried on conflict — and capabilities are taken from the
 * declaration, derived only for backends that declare none.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryBackend } from "../backends/memory.ts";
import { ZarrBackend } from "../backends/zarr.ts";
import type { NdArray, StorageBackend, StoreCapabilities } from "../backends/base.ts";
import { capabilitiesOf, typedStore } from "../zarr/capabilities.ts";

const dec = new TextDecoder();

interface Shared {
  objects: Map<string, { version: number; bytes: Uint8Array }>;
  conflicts: number;
  casWrites: number;
  plainRootWrites: number;
}

const CAS_CAPS: StoreCapabilities = {
  read: true,
  write: true,
  list: true,
  rangeRead: false,
  atomicCreate: true,
  compareAndSwap: true,
  crossProcessLock: false,
};

/**
 * One writer's view of a shared memory store with conditional writes and no
 * lock. Each view is its own object, so writers share no in-process mutex:
 * only compare-and-swap keeps their metadata updates apart. `loadVersioned`
 * pauses to let other writers interleave.
 */
function casView(inner: MemoryBackend, shared: Shared, root: string): StorageBackend {
  const extra: Record<string, unknown> = {
    capabilities: CAS_CAPS,
    async loadVersioned(path: string) {
      const o = shared.objects.get(path);
      await new Promise((r) => setTimeout(r, Math.random() * 4));
      if (o) return { bytes: o.bytes, version: String(o.version) };
      if (!(await inner.exists(path))) return undefined;
      return { bytes: await inner.load<Uint8Array>(path, { as: "bytes" }), version: "0" };
    },
    async saveIfVersion(bytes: Uint8Array, path: string, expected: string | null) {
      const cur = shared.objects.get(path);
      // Objects written here are tracked in `shared`; others count as version "0" / absent.
      const ok = cur ? String(cur.version) === expected : expected === null || expected === "0";
      if (!ok) {
        shared.conflicts++;
        return false;
      }
      const version = (cur?.version ?? 0) + 1;
      shared.objects.set(path, { version, bytes }); // decided synchronously: atomic
      shared.casWrites++;
      await inner.save(bytes, path, { overwrite: true });
      return String(version);
    },
    save(data: unknown, path: string, options?: unknown) {
      if (path === root) shared.plainRootWrites++;
      return inner.save(data as Uint8Array, path, options as never);
    },
  };
  return new Proxy(inner, {
    get(target, key) {
      if (typeof key === "string" && key in extra) return extra[key];
      const v = Reflect.get(target, key);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

function plane(v: number): NdArray<Uint16Array> {
  return { data: new Uint16Array(4).fill(v), shape: [2, 2], stride: [2, 1] };
}

describe("zarr over a compare-and-swap store without locks", () => {
  it("concurrent writers of different wells: every well listed once, conflicts retried", async () => {
    for (const ngff of ["0.5", "0.4"] as const) {
      const inner = new MemoryBackend();
      await inner.ensureDirectory("/p.zarr");
      const root = ngff === "0.5" ? "/p.zarr/zarr.json" : "/p.zarr/.zattrs";
      const shared: Shared = {
        objects: new Map(),
        conflicts: 0,
        casWrites: 0,
        plainRootWrites: 0,
      };
      const wells = ["A", "B", "C", "D"].flatMap((r) =>
        ["1", "2", "3"].map((c) => [r, c] as const)
      );
      await Promise.all(wells.map(([row, column], i) => {
        const z = new ZarrBackend({ store: casView(inner, shared, root), ngff });
        return z.save(plane(i), `/p.zarr/${row}${column}.tif`, { row, column });
      }));
      const attrs = JSON.parse(dec.decode(await inner.load<Uint8Array>(root, { as: "bytes" })));
      const plate = ngff === "0.5" ? attrs.attributes.ome.plate : attrs.plate;
      assert.deepEqual(
        plate.wells.map((w: { path: string }) => w.path).sort(),
        wells.map(([r, c]) => `${r}/${c}`).sort(),
      );
      assert.ok(shared.conflicts > 0, "writers really raced (conflicts were retried)");
      assert.equal(shared.plainRootWrites, 0, "plate metadata written only by compare-and-swap");
      assert.ok(shared.casWrites >= wells.length);
      const reader = new ZarrBackend({ store: inner });
      const got = await reader.loadBatch<NdArray>(wells.map(([r, c]) => `/p.zarr/${r}${c}.tif`));
      got.forEach((g, i) => assert.equal(g.data[0], i));
    }
  });

  it("capabilities: declared ones are believed, undeclared ones derived once", () => {
    const mem = new MemoryBackend();
    assert.equal(capabilitiesOf(mem), mem.capabilities, "a built-in backend's declaration is used");
    // A third-party backend that declares nothing: derived from its methods only.
    const bare = {
      key: "disk", // a key alone proves nothing
      load: mem.load.bind(mem),
      loadBatch: mem.loadBatch.bind(mem),
      listDir: mem.listDir.bind(mem),
    } as unknown as MemoryBackend;
    const derived = capabilitiesOf(bare);
    assert.equal(derived.read, true);
    assert.equal(derived.write, false);
    assert.equal(derived.compareAndSwap, false);
    assert.equal(derived.crossProcessLock, false, "no lock is inferred from the key");
    const declared = { ...CAS_CAPS, write: false };
    const ro = Object.assign(Object.create(mem), { capabilities: declared }) as MemoryBackend;
    assert.equal(capabilitiesOf(ro), declared);
    const ts = typedStore(ro);
    assert.equal(ts.writer, undefined, "a store declaring no write gets no writer");
    assert.ok(ts.cas, "declared compare-and-swap is used");
    assert.equal(ts.locker, undefined);
  });
});
