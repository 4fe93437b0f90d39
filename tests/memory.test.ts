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

  it("listing cost does not depend on store size (counts entries visited)", async () => {
    // Structural check: a 10-entry directory lists the same whatever else is stored,
    // and sibling subtrees are never visited (proxy: they may contain a throwing value).
    const m = new MemoryBackend();
    await m.ensureDirectory("/small");
    await m.saveBatch(
      Array.from({ length: 10 }, (_, i) => `v${i}`),
      Array.from({ length: 10 }, (_, i) => `/small/f${i}.txt`),
    );
    await m.ensureDirectory("/big");
    const n = 20000;
    await m.saveBatch(
      Array.from({ length: n }, () => "x"),
      Array.from({ length: n }, (_, i) => `/big/g${i}.txt`),
    );
    const files = await m.listFiles("/small");
    assert.equal(files.length, 10);
    assert.equal(files[2], "/small/f2.txt");
    assert.equal(files[9], "/small/f9.txt");
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
