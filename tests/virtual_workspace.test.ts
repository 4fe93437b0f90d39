// The virtual-workspace backend over memory and disk sources, resolved
// through an isolated registry.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VirtualWorkspaceBackend } from "../backends/virtual_workspace.ts";
import { MemoryBackend } from "../backends/memory.ts";
import type {
  AnyBackend,
  JsonValue,
  LoadOptions,
  NdArray,
  StorageBackend,
} from "../backends/base.ts";
import { createRegistry, type Registry } from "../registry/registry.ts";
import {
  BackendNotFoundError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  StorageError,
  StorageResolutionError,
} from "../errors.ts";
import { registerFormat } from "../formats/mod.ts";

// A test codec for disk sources: "<z> <y> <x>\n" then uint8 data, decoded to an NdArray.
registerFormat({
  name: "vwstack",
  extensions: [".vwstack"],
  arrayFormat: true,
  encode: () => {
    throw new Error("test codec is read-only");
  },
  decode: (bytes) => {
    const nl = bytes.indexOf(10);
    const shape = new TextDecoder().decode(bytes.subarray(0, nl)).split(" ").map(Number);
    return {
      data: bytes.slice(nl + 1),
      shape,
      stride: [shape[1]! * shape[2]!, shape[2]!, 1],
    };
  },
});

/** A memory backend that counts how often each path is read. */
class CountingMemory extends MemoryBackend {
  reads = new Map<string, number>();
  batches = 0;
  override load<T>(path: string, options?: LoadOptions): Promise<T> {
    this.reads.set(path, (this.reads.get(path) ?? 0) + 1);
    return super.load<T>(path, options);
  }
  override loadBatch<T>(paths: readonly string[], options?: LoadOptions): Promise<T[]> {
    this.batches++;
    return super.loadBatch<T>(paths, options);
  }
}

function stack(z: number, y: number, x: number): NdArray<Uint16Array> {
  const data = new Uint16Array(z * y * x).map((_, i) => i * 7 + 1);
  return { data, shape: [z, y, x], stride: [y * x, x, 1] };
}

async function setup(): Promise<
  { reg: Registry; mem: CountingMemory; vw: VirtualWorkspaceBackend }
> {
  const reg = createRegistry();
  const mem = new CountingMemory();
  reg.registerBackend("memory", mem);
  await mem.ensureDirectory("/src");
  await mem.ensureDirectory("/plate");
  await mem.save(stack(3, 2, 4), "/src/A01_stack.tif");
  await mem.save("notes", "/src/notes.txt");
  await mem.save({ version: 1, mappings: mappingsV1() }, "/plate/virtual_workspace.json");
  const vw = new VirtualWorkspaceBackend({ registry: reg, metadataBackend: "memory" });
  return { reg, mem, vw };
}

function mappingsV1(): Record<string, JsonValue> {
  return {
    "A01/f0.tif": { backend: "memory", path: "/src/A01_stack.tif", index: [0] },
    "A01/f1.tif": { backend: "memory", path: "/src/A01_stack.tif", index: [1] },
    "A01/f2.tif": { backend: "memory", path: "/src/A01_stack.tif", index: [2] },
    "A01/f10.tif": { backend: "MEMORY", path: "../src/A01_stack.tif", index: [2, 1] },
    "notes.txt": { backend: "memory", path: "../src/notes.txt" },
  };
}

describe("virtual workspace over memory", () => {
  it("loads mapped names, slicing leading-axis indices", async () => {
    const { vw } = await setup();
    assert.equal(vw.key, "virtual_workspace");
    assert.equal(vw.requiresFilesystemValidation, false);
    const src = stack(3, 2, 4);
    const f1 = await vw.load<NdArray>("/plate/A01/f1.tif");
    assert.deepEqual(f1.shape, [2, 4]);
    assert.deepEqual(f1.stride, [4, 1]);
    assert.deepEqual([...f1.data], [...src.data.subarray(8, 16)]);
    const row = await vw.load<NdArray>("/plate/A01/f10.tif");
    assert.deepEqual(row.shape, [4]);
    assert.deepEqual([...row.data], [...src.data.subarray(20, 24)]);
    assert.equal(await vw.load("/plate/notes.txt"), "notes");
    assert.deepEqual(
      await vw.load("/plate/notes.txt", { as: "bytes" }),
      new TextEncoder().encode("notes"),
    );
  });

  it("slices non-contiguous sources by copying", async () => {
    const { mem, vw } = await setup();
    // a [2, 3] array stored transposed: stride [1, 2] over data of a [3, 2] C array
    const t = { data: new Int32Array([0, 10, 1, 11, 2, 12]), shape: [2, 3], stride: [1, 2] };
    await mem.save(t, "/src/t.npy");
    await mem.save(
      {
        version: 1,
        mappings: {
          ...mappingsV1(),
          "t1.npy": { backend: "memory", path: "/src/t.npy", index: [1] },
        },
      },
      "/plate/virtual_workspace.json",
      { overwrite: true },
    );
    const v = await vw.load<NdArray>("/plate/t1.npy");
    assert.deepEqual(v.shape, [3]);
    assert.deepEqual([...v.data], [10, 11, 12]);
  });

  it("loadBatch keeps order and loads each source once", async () => {
    const { mem, vw } = await setup();
    const paths = [
      "/plate/A01/f2.tif",
      "/plate/notes.txt",
      "/plate/A01/f0.tif",
      "/plate/A01/f1.tif",
    ];
    const got = await vw.loadBatch<NdArray | string>(paths);
    const src = stack(3, 2, 4);
    assert.deepEqual([...(got[0] as NdArray).data], [...src.data.subarray(16, 24)]);
    assert.equal(got[1], "notes");
    assert.deepEqual([...(got[2] as NdArray).data], [...src.data.subarray(0, 8)]);
    assert.deepEqual([...(got[3] as NdArray).data], [...src.data.subarray(8, 16)]);
    assert.equal(mem.reads.get("/src/A01_stack.tif"), 1);
    assert.equal(mem.reads.get("/src/notes.txt"), 1);
    assert.equal(mem.batches, 1, "one batch per source backend");
  });

  it("listings and existence are over the virtual names", async () => {
    const { vw } = await setup();
    assert.deepEqual(await vw.listDir("/plate"), ["A01", "notes.txt"]);
    assert.deepEqual(await vw.listDir("/plate/A01"), ["f0.tif", "f1.tif", "f2.tif", "f10.tif"]);
    assert.deepEqual(await vw.listFiles("/plate"), ["/plate/notes.txt"]);
    assert.deepEqual(await vw.listFiles("/plate", { recursive: true, pattern: "f1*" }), [
      "/plate/A01/f1.tif",
      "/plate/A01/f10.tif",
    ]);
    assert.deepEqual(await vw.listFiles("/plate/A01", { extensions: ["TIF"] }), [
      "/plate/A01/f0.tif",
      "/plate/A01/f1.tif",
      "/plate/A01/f2.tif",
      "/plate/A01/f10.tif",
    ]);
    assert.equal(await vw.exists("/plate"), true);
    assert.equal(await vw.exists("/plate/A01/f0.tif"), true);
    assert.equal(await vw.exists("/plate/A01/f3.tif"), false);
    assert.equal(await vw.exists("/elsewhere/x.tif"), false);
    assert.equal(await vw.isDir("/plate/A01"), true);
    assert.equal(await vw.isFile("/plate/A01/f0.tif"), true);
    await assert.rejects(vw.isFile("/plate/A01"), IsADirectoryError);
    await assert.rejects(vw.isDir("/plate/notes.txt"), NotADirectoryError);
    await assert.rejects(vw.isFile("/plate/missing.tif"), NotFoundError);
    await assert.rejects(vw.listDir("/plate/notes.txt"), NotADirectoryError);
    await assert.rejects(vw.listFiles("/plate/nope"), NotFoundError);
  });

  it("unmapped names → NotFoundError; directories → IsADirectoryError", async () => {
    const { vw } = await setup();
    await assert.rejects(vw.load("/plate/A01/f3.tif"), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.match(e.message, /^load '\/plate\/A01\/f3\.tif': /);
      return true;
    });
    await assert.rejects(vw.load("/nowhere/a.tif"), NotFoundError);
    await assert.rejects(vw.load("/plate/A01"), IsADirectoryError);
    await assert.rejects(vw.loadBatch(["/plate/A01/f0.tif", "/plate/zz.tif"]), NotFoundError);
  });

  it("reloads when the metadata file changes", async () => {
    const { mem, vw } = await setup();
    assert.equal(await vw.exists("/plate/B02/f0.tif"), false);
    await mem.save("other", "/src/other.txt");
    await mem.save(
      {
        version: 1,
        mappings: { "B02/f0.tif": { backend: "memory", path: "/src/other.txt" } },
      },
      "/plate/virtual_workspace.json",
      { overwrite: true },
    );
    assert.equal(await vw.load("/plate/B02/f0.tif"), "other");
    await assert.rejects(vw.load("/plate/A01/f0.tif"), NotFoundError);
    assert.deepEqual(await vw.listDir("/plate"), ["B02"]);
  });

  it("a mapping to another virtual workspace → StorageResolutionError", async () => {
    const { reg, mem, vw } = await setup();
    reg.registerBackend("vw2", vw);
    await mem.save(
      {
        version: 1,
        mappings: {
          "a.tif": { backend: "virtual_workspace", path: "/plate/A01/f0.tif" },
          "b.tif": { backend: "vw2", path: "/plate/A01/f0.tif" },
          "c.tif": { backend: "nosuch", path: "/x" },
        },
      },
      "/plate/virtual_workspace.json",
      { overwrite: true },
    );
    await assert.rejects(vw.load("/plate/a.tif"), StorageResolutionError);
    await assert.rejects(vw.load("/plate/b.tif"), StorageResolutionError);
    await assert.rejects(vw.load("/plate/c.tif"), BackendNotFoundError);
  });

  it("bad metadata, bad indices and byte reads of sliced names are typed errors", async () => {
    const { mem, vw } = await setup();
    await assert.rejects(vw.load("/plate/A01/f0.tif", { as: "bytes" }), StorageError);
    await mem.save(
      {
        version: 1,
        mappings: {
          "big.tif": { backend: "memory", path: "/src/A01_stack.tif", index: [3] },
          "txt.tif": { backend: "memory", path: "/src/notes.txt", index: [0] },
        },
      },
      "/plate/virtual_workspace.json",
      { overwrite: true },
    );
    await assert.rejects(vw.load("/plate/big.tif"), StorageResolutionError);
    await assert.rejects(vw.load("/plate/txt.tif"), StorageResolutionError);
    await mem.save({ version: 2, mappings: {} }, "/plate/virtual_workspace.json", {
      overwrite: true,
    });
    await assert.rejects(vw.load("/plate/big.tif"), (e: unknown) => {
      assert.ok(e instanceof StorageError);
      assert.equal(e.code, "ERR_CORRUPT_DATA");
      return true;
    });
    await mem.save("{ nope", "/plate/virtual_workspace.json", { overwrite: true });
    await assert.rejects(vw.listDir("/plate"), StorageError);
    await mem.save(
      { version: 1, mappings: { "../up.tif": { backend: "memory", path: "/x" } } },
      "/plate/virtual_workspace.json",
      { overwrite: true },
    );
    await assert.rejects(vw.listDir("/plate"), StorageError);
  });

  it("a missing source names the virtual path and the source", async () => {
    const { mem, vw } = await setup();
    await mem.save(
      {
        version: 1,
        mappings: { "gone.tif": { backend: "memory", path: "/src/gone.tif" } },
      },
      "/plate/virtual_workspace.json",
      { overwrite: true },
    );
    await assert.rejects(vw.load("/plate/gone.tif"), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.equal(e.path, "/plate/gone.tif");
      assert.match(e.message, /\/src\/gone\.tif/);
      return true;
    });
  });

  it("is a built-in registry entry bound to its registry", async () => {
    const reg = createRegistry();
    const mem = await reg.getBackend<StorageBackend>("memory");
    await mem.ensureDirectory("/p");
    await mem.save("v", "/v.txt");
    await mem.save(
      { version: 1, mappings: { "x.txt": { backend: "memory", path: "/v.txt" } } },
      "/p/virtual_workspace.json",
    );
    const vw = await reg.getBackend<AnyBackend & VirtualWorkspaceBackend>("virtual_workspace");
    assert.ok(vw instanceof VirtualWorkspaceBackend);
    const bound = new VirtualWorkspaceBackend({ registry: reg, metadataBackend: "memory" });
    assert.equal(await bound.load("/p/x.txt"), "v");
  });
});

describe("virtual workspace over disk", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "hcs-vw-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("maps virtual names to planes of disk files, metadata on disk", async () => {
    const reg = createRegistry();
    const header = new TextEncoder().encode("2 2 3\n");
    const planes = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const file = new Uint8Array([...header, ...planes]);
    await writeFile(join(dir, "stack.vwstack"), file);
    await writeFile(join(dir, "raw.bin"), new Uint8Array([42, 43]));
    const plate = join(dir, "plate");
    const disk = await reg.getBackend<StorageBackend>("disk");
    await disk.ensureDirectory(plate);
    const meta = {
      version: 1,
      mappings: {
        "A01/f0.vwstack": { backend: "disk", path: "../stack.vwstack", index: [0] },
        "A01/f1.vwstack": { backend: "disk", path: join(dir, "stack.vwstack"), index: [1] },
        "raw.bin": { backend: "disk", path: "../raw.bin" },
      },
    };
    await writeFile(join(plate, "virtual_workspace.json"), JSON.stringify(meta));
    const vw = await reg.getBackend<VirtualWorkspaceBackend>("virtual_workspace");
    const [f1, f0] = await vw.loadBatch<NdArray>([
      join(plate, "A01/f1.vwstack"),
      join(plate, "A01/f0.vwstack"),
    ]);
    const raw = await vw.load<Uint8Array>(join(plate, "raw.bin"), { as: "bytes" });
    // .bin has no codec: a decoded load is a typed error naming the virtual path
    await assert.rejects(vw.load(join(plate, "raw.bin")), StorageError);
    assert.deepEqual(f0!.shape, [2, 3]);
    assert.deepEqual([...f0!.data], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...f1!.data], [7, 8, 9, 10, 11, 12]);
    assert.deepEqual([...raw], [42, 43]);
    assert.deepEqual(await vw.listFiles(plate, { recursive: true }), [
      join(plate, "raw.bin"),
      join(plate, "A01/f0.vwstack"),
      join(plate, "A01/f1.vwstack"),
    ]);
    // the metadata file changes on disk: the next access sees it
    await writeFile(
      join(plate, "virtual_workspace.json"),
      JSON.stringify({
        version: 1,
        mappings: { "only.bin": { backend: "disk", path: "../raw.bin" } },
      }),
    );
    assert.deepEqual(await vw.listFiles(plate, { recursive: true }), [join(plate, "only.bin")]);
    await assert.rejects(vw.load(join(plate, "A01/f0.vwstack")), NotFoundError);
  });
});
