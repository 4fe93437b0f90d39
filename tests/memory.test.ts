import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { conformance } from "./conformance.ts";
import { MemoryBackend } from "../backends/memory.ts";

conformance("memory", async () => {
  const backend = new MemoryBackend();
  await backend.ensureDirectory("/root");
  return { backend, root: "/root" };
});

describe("memory backend specifics", () => {
  it("clearFilesOnly removes files and links, keeps directories", async () => {
    const m = new MemoryBackend();
    await m.ensureDirectory("/a/b");
    await m.save("x", "/a/b/x.txt");
    await m.save("y", "/a/y.txt");
    await m.createSymlink("/a/y.txt", "/a/l");
    m.clearFilesOnly();
    assert.deepEqual(await m.listDir("/a"), ["b"]);
    assert.deepEqual(await m.listDir("/a/b"), []);
  });

  it("relative paths are taken from the root", async () => {
    const m = new MemoryBackend();
    await m.save("x", "a.txt");
    assert.equal(await m.load("/a.txt"), "x");
    assert.deepEqual(await m.listFiles("/"), ["/a.txt"]);
  });

  it("stores arrays by reference and copies them on copy()", async () => {
    const m = new MemoryBackend();
    const a = { data: new Float32Array([1, 2]), shape: [2], stride: [1] };
    await m.save(a, "/a.npy");
    assert.equal(await m.load("/a.npy"), a);
    await m.copy("/a.npy", "/b.npy");
    a.data[0] = 9;
    const b = await m.load<typeof a>("/b.npy");
    assert.equal(b.data[0], 1);
  });

  it("listing visits only what it returns, whatever the store size", async () => {
    // Count every Map entry iterated while listing a 10-entry directory: a flat
    // scan of the store (the reference's O(store) listing) would iterate every key.
    const build = async (extra: number) => {
      const m = new MemoryBackend();
      await m.ensureDirectory("/small");
      const small = Array.from({ length: 10 }, (_, i) => `/small/f${i}.txt`);
      await m.saveBatch(small.map((_, i) => `v${i}`), small);
      for (let d = 0; d * 1000 < extra; d++) {
        await m.ensureDirectory(`/big${d}`);
        const paths = Array.from({ length: 1000 }, (_, i) => `/big${d}/g${i}.txt`);
        await m.saveBatch(paths.map(() => "x"), paths);
      }
      return m;
    };
    const counted = async (fn: () => Promise<unknown>) => {
      const proto = Map.prototype as unknown as Record<
        string | symbol,
        (...a: unknown[]) => Iterator<unknown>
      >;
      const names: (string | symbol)[] = [Symbol.iterator, "entries", "keys", "values"];
      const saved = names.map((n) => proto[n]!);
      let yielded = 0;
      names.forEach((n, i) => {
        const orig = saved[i]!;
        proto[n] = function (this: Map<unknown, unknown>, ...a: unknown[]) {
          const it = orig.apply(this, a);
          return {
            next: () => {
              const r = it.next();
              if (!r.done) yielded++;
              return r;
            },
            [Symbol.iterator]() {
              return this;
            },
          } as Iterator<unknown>;
        };
      });
      try {
        await fn();
      } finally {
        names.forEach((n, i) => (proto[n] = saved[i]!));
      }
      return yielded;
    };
    const small = await build(0);
    const big = await build(50_000);
    const a = await counted(() => small.listFiles("/small", { recursive: true }));
    const b = await counted(() => big.listFiles("/small", { recursive: true }));
    assert.ok(a >= 10, `listing iterated ${a} entries`);
    assert.equal(b, a);
    assert.equal(
      await counted(() => big.listDir("/small")),
      await counted(() => small.listDir("/small")),
    );
    assert.equal((await big.listFiles("/small")).length, 10);
  });

  it("detects symlink loops", async () => {
    const m = new MemoryBackend();
    await m.save("x", "/t.txt");
    await m.createSymlink("/t.txt", "/a");
    await m.createSymlink("/t.txt", "/b");
    await m.createSymlink("/b", "/a", { overwrite: true });
    await m.createSymlink("/a", "/b", { overwrite: true });
    await assert.rejects(m.load("/a"), (e: unknown) => (e as { code?: string }).code === "ELOOP");
    assert.equal(await m.exists("/a"), false);
  });

  it("refuses to move a directory into itself", async () => {
    const m = new MemoryBackend();
    await m.ensureDirectory("/d/e");
    await assert.rejects(m.move("/d", "/d/e/x"), /into itself/);
    assert.equal(await m.isDir("/d/e"), true);
  });
});
