/**
 * The shared kernel (`_internal/`): the C-order gather and dtype table, the
 * bounded pool, the virtual tree and the temp-name scheme of the atomic replace.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import {
  arrayClass,
  cStrides,
  dtypeName,
  DTYPES,
  elementTypeOf,
  gatherC,
} from "../_internal/ndarray.ts";
import { mapLimit } from "../_internal/pool.ts";
import { VirtualTree } from "../_internal/vtree.ts";
import { isTempName, parseTempName, tempPathFor } from "../_internal/atomic_file.ts";
import { hostTag } from "../_internal/liveness.ts";
import { checkCapabilities } from "../backends/base.ts";
import { MemoryBackend } from "../backends/memory.ts";

/** The elements of any typed array, for comparisons. */
const items = (a: unknown): Array<number | bigint> => Array.from(a as ArrayLike<number | bigint>);

describe("kernel: ndarray", () => {
  it("gatherC returns contiguous data as is (or a subarray) and gathers strided views", () => {
    const d = Uint16Array.from({ length: 12 }, (_, i) => i);
    assert.equal(gatherC(d, [3, 4], [4, 1]), d);
    const sub = gatherC(d, [2, 4], [4, 1], 4);
    assert.deepEqual(items(sub), [4, 5, 6, 7, 8, 9, 10, 11]);
    assert.equal(sub.buffer, d.buffer, "a contiguous slice is a view");
    // The transpose of a 3x4 array: shape [4, 3], stride [1, 4].
    const t = gatherC(d, [4, 3], [1, 4]);
    assert.deepEqual(items(t), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    assert.ok(t instanceof Uint16Array);
    // Every other column of rows 1..2, starting at an offset.
    assert.deepEqual(items(gatherC(d, [2, 2], [4, 2], 4)), [4, 6, 8, 10]);
    const big = BigInt64Array.from([1n, 2n, 3n, 4n]);
    assert.deepEqual(items(gatherC(big, [2, 2], [1, 2])), [1n, 3n, 2n, 4n]);
    assert.deepEqual(cStrides([2, 3, 4]), [12, 4, 1]);
  });

  it("one dtype table: names, classes and element types agree", () => {
    const names = DTYPES.map((d) => d.name);
    assert.equal(new Set(names).size, names.length);
    for (const d of DTYPES) {
      assert.equal(dtypeName(d), d.name);
      assert.equal(arrayClass(d), d.ctor);
      if (d.ctor === undefined) continue;
      const a = new d.ctor(new ArrayBuffer(8), 0, 8 / d.size);
      assert.deepEqual(elementTypeOf(a), { kind: d.kind, size: d.size });
    }
    assert.deepEqual(elementTypeOf(new Uint8ClampedArray(2)), { kind: "u", size: 1 });
    assert.equal(elementTypeOf(new DataView(new ArrayBuffer(2))), undefined);
  });
});

describe("kernel: mapLimit", () => {
  it("keeps order and never runs more than the limit at once", async () => {
    let inFlight = 0;
    let max = 0;
    const out = await mapLimit(Array.from({ length: 20 }, (_, i) => i), 3, async (x) => {
      inFlight++;
      max = Math.max(max, inFlight);
      await new Promise((r) => setTimeout(r, (x * 7) % 5));
      inFlight--;
      return x * 2;
    });
    assert.deepEqual(out, Array.from({ length: 20 }, (_, i) => i * 2));
    assert.equal(max, 3);
  });

  it("on a failure starts nothing new, waits for what runs, throws the first error", async () => {
    const started: number[] = [];
    let running = 0;
    await assert.rejects(
      mapLimit([0, 1, 2, 3, 4, 5, 6, 7], 2, async (x) => {
        started.push(x);
        running++;
        await new Promise((r) => setTimeout(r, x === 1 ? 1 : 20));
        running--;
        if (x === 1) throw new RangeError("one");
        return x;
      }),
      (e) => e instanceof RangeError && e.message === "one",
    );
    assert.equal(running, 0, "nothing still in flight after the rejection");
    assert.ok(started.length < 8, `started ${started}`);
    await assert.rejects(mapLimit([1], 0, () => Promise.resolve(1)), RangeError);
  });
});

describe("kernel: VirtualTree", () => {
  it("implies parents, lists in natural order, refuses file/directory conflicts", () => {
    const t = new VirtualTree();
    assert.equal(t.addFile("A01/f10.tif"), undefined);
    assert.equal(t.addFile("A01/f2.tif"), undefined);
    assert.equal(t.addDir("empty/deeper"), undefined);
    assert.deepEqual(t.names(""), ["A01", "empty"]);
    assert.deepEqual(t.names("A01"), ["f2.tif", "f10.tif"]);
    assert.equal(t.kind("empty/deeper"), "dir");
    assert.equal(t.kind("A01/f2.tif"), "file");
    assert.equal(t.kind("nope"), undefined);
    assert.equal(t.names("A01/f2.tif"), undefined);
    assert.match(t.addFile("A01/f2.tif") ?? "", /listed twice/);
    assert.match(t.addFile("A01/f2.tif/x") ?? "", /both a file and a directory/);
    assert.match(t.addFile("A01") ?? "", /both a file and a directory/);
    assert.deepEqual(t.entries("A01").map((e) => e.kind), ["file", "file"]);
    assert.deepEqual(t.entries("missing"), []);
  });
});

describe("kernel: temp names", () => {
  it("are hidden, carry the writer's pid and host tag, and parse back", () => {
    const p = tempPathFor("/data/plate/meta.json");
    const name = p.slice("/data/plate/".length);
    assert.ok(p.startsWith("/data/plate/"));
    assert.ok(isTempName(name));
    const owner = parseTempName(name)!;
    assert.equal(owner.name, "meta.json");
    assert.equal(owner.pid, process.pid);
    assert.match(owner.tag!, /^([0-9a-f]{8}|x)$/);
    const long = "x".repeat(200);
    assert.equal(parseTempName(tempPathFor(`/d/${long}`).slice(3))!.name, long.slice(0, 80));
    assert.equal(parseTempName("plain.json"), undefined);
    assert.deepEqual(parseTempName(".a.json.0123abcd-4567.tmp"), {
      name: "a.json",
      pid: undefined,
      tag: undefined,
    });
  });
});

describe("contract: checkCapabilities", () => {
  const none = {
    read: false,
    write: false,
    list: false,
    rangeRead: false,
    atomicCreate: false,
    compareAndSwap: false,
    crossProcessLock: false,
  };

  it("returns what a store declares, checked against its methods", () => {
    assert.equal(checkCapabilities({}, "t"), undefined);
    const mem = new MemoryBackend();
    assert.equal(checkCapabilities(mem, "t"), mem.capabilities);
    const casOnly = {
      capabilities: { ...none, compareAndSwap: true },
      loadVersioned: () => Promise.resolve(undefined),
      saveIfVersion: () => Promise.resolve(false as const),
    };
    assert.equal(checkCapabilities(casOnly, "t")?.crossProcessLock, false);
  });

  it("a flag without its interface, or a non-boolean flag, is a TypeError naming it", () => {
    assert.throws(
      () => checkCapabilities({ capabilities: { ...none, rangeRead: true } }, "zarr store"),
      (e) => e instanceof TypeError && /zarr store: .*rangeRead.*loadRange/.test(e.message),
    );
    assert.throws(
      () => checkCapabilities({ capabilities: { ...none, list: "yes" } }, "s"),
      (e) => e instanceof TypeError && /capabilities\.list must be a boolean/.test(e.message),
    );
  });
});

describe("kernel: a lock holder clears what killed contenders left", () => {
  it(
    "candidate temps of the lock and of its takeover gates, from a dead pid, go once the lock is held",
    {
      skip: hostTag() === undefined
        ? "this process cannot read /proc (Deno without --allow-all): no pid is provably dead"
        : false,
    },
    async () => {
      const fs = await import("node:fs");
      const os = await import("node:os");
      const nodePath = await import("node:path");
      const { spawnSync } = await import("node:child_process");
      const { withFileLock, lockFilePath } = await import("../lock/file_lock.ts");
      const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-gate-"));
      try {
        const target = nodePath.join(dir, "zarr.json");
        const lock = lockFilePath(target);
        // A pid that provably no longer exists: a child that has exited.
        const dead = spawnSync(process.execPath, ["--version"]).pid!;
        const asDead = (p: string) => p.replace(`.${process.pid}.`, `.${dead}.`);
        const left = [
          asDead(tempPathFor(lock)),
          asDead(tempPathFor(`${lock}.gate-3ce416b351c74db9`)),
        ];
        const alive = tempPathFor(`${lock}.gate-00ff`); // our own pid: not provably dead
        const other = asDead(tempPathFor(nodePath.join(dir, "other.json.lock")));
        for (const f of [...left, alive, other]) fs.writeFileSync(f, "x");
        await withFileLock(target, () => Promise.resolve());
        const now = fs.readdirSync(dir);
        for (const f of left) assert.ok(!now.includes(nodePath.basename(f)), `${f} left behind`);
        assert.ok(now.includes(nodePath.basename(alive)), "a live writer's temp is kept");
        assert.ok(now.includes(nodePath.basename(other)), "another lock's temps are not touched");
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
