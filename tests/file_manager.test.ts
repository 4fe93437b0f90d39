/**
 * FileManager: explicit routing by backend name and the directory helpers,
 * on the memory backend and on the disk backend (both from a fresh registry).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_IMAGE_EXTENSIONS, FileManager } from "../file_manager.ts";
import { createRegistry } from "../registry/registry.ts";
import { MemoryBackend } from "../backends/memory.ts";
import type { StorageBackend } from "../backends/base.ts";
import {
  AlreadyExistsError,
  BackendNotFoundError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  UnsupportedOperationError,
} from "../errors.ts";

interface Env {
  fm: FileManager;
  name: string;
  root: string;
  teardown(): void;
}

const setups: Array<[string, () => Promise<Env>]> = [
  ["memory", async () => {
    const fm = new FileManager(createRegistry());
    await fm.ensureDirectory("/fm", "memory");
    return { fm, name: "memory", root: "/fm", teardown: () => {} };
  }],
  ["disk", () => {
    const root = mkdtempSync(join(tmpdir(), "hcs-fm-"));
    const fm = new FileManager(createRegistry());
    return Promise.resolve({
      fm,
      name: "disk",
      root,
      teardown: () => rmSync(root, { recursive: true, force: true }),
    });
  }],
];

for (const [label, setup] of setups) {
  const run = (fn: (e: Env) => Promise<void>) => async () => {
    const env = await setup();
    try {
      await fn(env);
    } finally {
      env.teardown();
    }
  };

  describe(`FileManager on ${label}`, () => {
    it(
      "routes every StorageBackend operation to the named backend",
      run(async ({ fm, name, root }) => {
        const p = (s: string) => `${root}/${s}`;
        await fm.ensureDirectory(p("d/e"), name);
        assert.equal(await fm.isDir(p("d/e"), name), true);
        await fm.save("hello", p("d/a.txt"), name);
        await assert.rejects(fm.save("again", p("d/a.txt"), name), AlreadyExistsError);
        await fm.save("replaced", p("d/a.txt"), name, { overwrite: true });
        assert.equal(await fm.load(p("d/a.txt"), name), "replaced");
        const bytes = await fm.load<Uint8Array>(p("d/a.txt"), name, { as: "bytes" });
        assert.equal(new TextDecoder().decode(bytes), "replaced");
        await fm.saveBatch([{ k: 1 }, "t"], [p("d/b.json"), p("d/e/c.txt")], name);
        assert.deepEqual(await fm.loadBatch([p("d/e/c.txt"), p("d/b.json")], name), ["t", {
          k: 1,
        }]);
        assert.deepEqual(await fm.listDir(p("d"), name), ["a.txt", "b.json", "e"]);
        assert.deepEqual(await fm.listFiles(p("d"), name, { recursive: true }), [
          p("d/a.txt"),
          p("d/b.json"),
          p("d/e/c.txt"),
        ]);
        assert.deepEqual(await fm.listFiles(p("d"), name, { extensions: ["JSON"] }), [
          p("d/b.json"),
        ]);
        assert.equal(await fm.exists(p("d/a.txt"), name), true);
        assert.equal(await fm.exists(p("nope"), name), false);
        assert.equal(await fm.isFile(p("d/a.txt"), name), true);
        await assert.rejects(fm.isFile(p("d"), name), IsADirectoryError);
        await assert.rejects(fm.isDir(p("d/a.txt"), name), NotADirectoryError);
        await fm.createSymlink(p("d/a.txt"), p("link.txt"), name);
        assert.equal(await fm.isSymlink(p("link.txt"), name), true);
        assert.equal(await fm.isSymlink(p("d/a.txt"), name), false);
        assert.equal(await fm.load(p("link.txt"), name), "replaced");
        const st = await fm.stat(p("link.txt"), name);
        assert.equal(st.type, "symlink");
        assert.equal(st.target, p("d/a.txt"));
        await fm.createSymlink(p("d/e/c.txt"), p("link.txt"), name, { overwrite: true });
        assert.equal(await fm.load(p("link.txt"), name), "t");
        await fm.copy(p("d"), p("d2"), name);
        await fm.move(p("d2"), p("d3"), name);
        assert.equal(await fm.exists(p("d2"), name), false);
        assert.equal(await fm.load(p("d3/e/c.txt"), name), "t");
        await fm.delete(p("d3/e/c.txt"), name);
        await fm.delete(p("d3/e"), name);
        await fm.deleteAll(p("d3"), name);
        assert.equal((await fm.stat(p("d3"), name)).type, "missing");
      }),
    );

    it(
      "listImageFiles keeps the default image extensions, case-insensitively",
      run(async ({ fm, name, root }) => {
        await fm.ensureDirectory(`${root}/p/w1`, name);
        const names = [
          "a.tif",
          "b.TIFF",
          "c.png",
          "d.bmp",
          "e.gif",
          "f.JPG",
          "g.jpeg",
          "h.txt",
          "i.npy",
          "tif",
        ];
        await fm.saveBatch(
          names.map((n) => new Uint8Array([n.length])),
          names.map((n) => `${root}/p/${n}`),
          name,
        );
        await fm.save(new Uint8Array([1]), `${root}/p/w1/img2.tif`, name);
        await fm.save(new Uint8Array([1]), `${root}/p/w1/img10.tif`, name);
        const top = await fm.listImageFiles(`${root}/p`, name);
        assert.deepEqual(top, names.slice(0, 7).map((n) => `${root}/p/${n}`));
        const all = await fm.listImageFiles(`${root}/p`, name, { recursive: true });
        assert.deepEqual(all.slice(7), [`${root}/p/w1/img2.tif`, `${root}/p/w1/img10.tif`]);
        assert.deepEqual(
          await fm.listImageFiles(`${root}/p`, name, { recursive: true, pattern: "img*" }),
          [`${root}/p/w1/img2.tif`, `${root}/p/w1/img10.tif`],
        );
        assert.deepEqual(
          await fm.listImageFiles(`${root}/p`, name, { extensions: new Set(["npy", ".TXT"]) }),
          [`${root}/p/h.txt`, `${root}/p/i.npy`],
        );
        assert.deepEqual(DEFAULT_IMAGE_EXTENSIONS, [
          ".tif",
          ".tiff",
          ".png",
          ".bmp",
          ".gif",
          ".jpg",
          ".jpeg",
        ]);
      }),
    );

    it(
      "findFileRecursive returns the shallowest match (natural order within a depth) or undefined",
      run(async ({ fm, name, root }) => {
        for (const d of ["r/a10/deep", "r/a2", "r/b"]) {
          await fm.ensureDirectory(`${root}/${d}`, name);
        }
        await fm.saveBatch(
          ["deep", "a10", "a2", "other"],
          [
            `${root}/r/a10/deep/meta.json`,
            `${root}/r/a10/meta.json`,
            `${root}/r/a2/meta.json`,
            `${root}/r/b/x.json`,
          ],
          name,
        );
        assert.equal(
          await fm.findFileRecursive(`${root}/r`, "meta.json", name),
          `${root}/r/a2/meta.json`,
        );
        assert.equal(
          await fm.findFileRecursive(`${root}/r/a10`, "meta.json", name),
          `${root}/r/a10/meta.json`,
        );
        assert.equal(await fm.findFileRecursive(`${root}/r`, "missing.json", name), undefined);
        // A name that only matches as a suffix is not a match.
        assert.equal(await fm.findFileRecursive(`${root}/r`, "eta.json", name), undefined);
        // Symlinked directories are not searched.
        await fm.ensureDirectory(`${root}/s`, name);
        await fm.createSymlink(`${root}/r/a10/deep`, `${root}/s/linked`, name);
        assert.equal(await fm.findFileRecursive(`${root}/s`, "meta.json", name), undefined);
        await assert.rejects(fm.findFileRecursive(`${root}/r`, "a/b", name), TypeError);
        await assert.rejects(fm.findFileRecursive(`${root}/nope`, "x", name), NotFoundError);
      }),
    );

    it(
      "collectDirsAndFiles returns the base directory first, then every directory (empty ones too) and every file, breadth-first",
      run(async ({ fm, name, root }) => {
        const c = `${root}/c`;
        for (const d of ["x10/z", "x2", "empty"]) await fm.ensureDirectory(`${c}/${d}`, name);
        await fm.saveBatch(
          ["1", "2", "3"],
          [`${c}/top.txt`, `${c}/x2/f.txt`, `${c}/x10/z/g.txt`],
          name,
        );
        await fm.createSymlink(`${c}/x2`, `${c}/dirlink`, name);
        await fm.createSymlink(`${c}/top.txt`, `${c}/filelink`, name);
        const all = await fm.collectDirsAndFiles(c, name);
        assert.deepEqual(all.dirs, [c, `${c}/empty`, `${c}/x2`, `${c}/x10`, `${c}/x10/z`]);
        assert.deepEqual(all.files, [
          `${c}/filelink`,
          `${c}/top.txt`,
          `${c}/x2/f.txt`,
          `${c}/x10/z/g.txt`,
        ]);
        const flat = await fm.collectDirsAndFiles(c, name, { recursive: false });
        assert.deepEqual(flat.dirs, [c, `${c}/empty`, `${c}/x2`, `${c}/x10`]);
        // An empty base is still listed.
        assert.deepEqual((await fm.collectDirsAndFiles(`${c}/empty`, name)).dirs, [`${c}/empty`]);
        assert.deepEqual(flat.files, [`${c}/filelink`, `${c}/top.txt`]);
        await assert.rejects(fm.collectDirsAndFiles(`${c}/top.txt`, name), NotADirectoryError);
      }),
    );

    it(
      "mirrorDirectoryWithSymlinks links every file, creates directories, counts links",
      run(async ({ fm, name, root }) => {
        const src = `${root}/src`;
        const dst = `${root}/out/dst`;
        for (const d of ["w1/f0", "w2", "empty"]) await fm.ensureDirectory(`${src}/${d}`, name);
        await fm.saveBatch(
          ["a", "b", "c"],
          [`${src}/a.txt`, `${src}/w1/f0/b.txt`, `${src}/w2/c.txt`],
          name,
        );
        await fm.ensureDirectory(`${root}/out`, name);
        const n = await fm.mirrorDirectoryWithSymlinks(src, dst, name);
        assert.equal(n, 3);
        for (
          const [rel, v] of [["a.txt", "a"], ["w1/f0/b.txt", "b"], ["w2/c.txt", "c"]] as const
        ) {
          assert.equal(await fm.isSymlink(`${dst}/${rel}`, name), true, rel);
          assert.equal((await fm.stat(`${dst}/${rel}`, name)).target, `${src}/${rel}`);
          assert.equal(await fm.load(`${dst}/${rel}`, name), v);
        }
        assert.equal(await fm.isDir(`${dst}/empty`, name), true);
        // Running again onto the links fails and changes nothing ...
        await fm.ensureDirectory(`${src}/late`, name);
        await assert.rejects(
          fm.mirrorDirectoryWithSymlinks(src, dst, name),
          (e) => e instanceof AlreadyExistsError && e.path === `${dst}/a.txt`,
        );
        assert.equal(await fm.exists(`${dst}/late`, name), false);
        // ... unless existing symlinks may be replaced.
        assert.equal(
          await fm.mirrorDirectoryWithSymlinks(src, dst, name, { overwriteSymlinksOnly: true }),
          3,
        );
        assert.equal(await fm.isDir(`${dst}/late`, name), true);
        // Non-recursive mirrors only the top level.
        assert.equal(
          await fm.mirrorDirectoryWithSymlinks(src, `${root}/flat`, name, { recursive: false }),
          1,
        );
        assert.deepEqual(await fm.listDir(`${root}/flat`, name), ["a.txt"]);
      }),
    );

    it(
      "mirrorDirectoryWithSymlinks: existing entries are AlreadyExistsError; overwriteSymlinksOnly replaces links only",
      run(async ({ fm, name, root }) => {
        const src = `${root}/src`;
        const dst = `${root}/dst`;
        await fm.ensureDirectory(src, name);
        await fm.ensureDirectory(dst, name);
        await fm.saveBatch(["A", "B", "C"], [`${src}/a.txt`, `${src}/b.txt`, `${src}/c.txt`], name);
        await fm.save("mine", `${dst}/a.txt`, name); // a regular file in the way
        await fm.save("elsewhere", `${root}/other.txt`, name);
        await fm.createSymlink(`${root}/other.txt`, `${dst}/b.txt`, name); // a foreign link
        // Default: an existing entry fails the call before anything is created.
        await assert.rejects(
          fm.mirrorDirectoryWithSymlinks(src, dst, name),
          (e) => e instanceof AlreadyExistsError && e.path === `${dst}/a.txt`,
        );
        await fm.delete(`${dst}/a.txt`, name);
        await assert.rejects(
          fm.mirrorDirectoryWithSymlinks(src, dst, name),
          (e) => e instanceof AlreadyExistsError && e.path === `${dst}/b.txt`,
        );
        assert.equal(await fm.exists(`${dst}/a.txt`, name), false);
        assert.equal(await fm.exists(`${dst}/c.txt`, name), false);
        assert.equal((await fm.stat(`${dst}/b.txt`, name)).target, `${root}/other.txt`);
        await fm.save("mine", `${dst}/a.txt`, name);
        // overwriteSymlinksOnly: the link (b) is replaced, c is created, the regular file (a) is left.
        assert.equal(
          await fm.mirrorDirectoryWithSymlinks(src, dst, name, { overwriteSymlinksOnly: true }),
          2,
        );
        assert.equal(await fm.isSymlink(`${dst}/a.txt`, name), false);
        assert.equal(await fm.load(`${dst}/c.txt`, name), "C");
        assert.equal(await fm.load(`${dst}/a.txt`, name), "mine");
        assert.equal((await fm.stat(`${dst}/b.txt`, name)).target, `${src}/b.txt`);
        assert.equal(await fm.load(`${dst}/b.txt`, name), "B");
        assert.equal(await fm.load(`${root}/other.txt`, name), "elsewhere");
      }),
    );

    it(
      "mirrorDirectoryWithSymlinks skips broken links in the source and needs an existing source",
      run(async ({ fm, name, root }) => {
        const src = `${root}/src`;
        await fm.ensureDirectory(src, name);
        await fm.save("x", `${root}/gone.txt`, name);
        await fm.createSymlink(`${root}/gone.txt`, `${src}/broken.txt`, name);
        await fm.delete(`${root}/gone.txt`, name);
        await fm.save("ok", `${src}/ok.txt`, name);
        assert.equal(await fm.mirrorDirectoryWithSymlinks(src, `${root}/dst`, name), 1);
        assert.deepEqual(await fm.listDir(`${root}/dst`, name), ["ok.txt"]);
        await assert.rejects(
          fm.mirrorDirectoryWithSymlinks(`${root}/missing`, `${root}/d2`, name),
          NotFoundError,
        );
        await assert.rejects(
          fm.mirrorDirectoryWithSymlinks("rel/src", `${root}/d3`, name),
          TypeError,
        );
      }),
    );
  });
}

describe("FileManager routing", () => {
  it("requires a registry", () => {
    assert.throws(() => new FileManager(undefined as never), TypeError);
    assert.throws(() => new FileManager({} as never), TypeError);
  });

  it("a missing or non-string backend argument is a TypeError, and nothing is written", async () => {
    const reg = createRegistry();
    const fm = new FileManager(reg);
    const mem = await reg.getBackend("memory");
    const call = fm as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    await assert.rejects(call.save!.call(fm, "x", "/a.txt"), TypeError);
    await assert.rejects(call.save!.call(fm, "x", "/a.txt", { overwrite: true }), TypeError);
    await assert.rejects(call.save!.call(fm, "x", "/a.txt", ""), TypeError);
    await assert.rejects(call.load!.call(fm, "/a.txt", 1), TypeError);
    await assert.rejects(call.move!.call(fm, "/a", "/b"), TypeError);
    await assert.rejects(call.createSymlink!.call(fm, "/a", "/b", null), TypeError);
    await assert.rejects(call.listImageFiles!.call(fm, "/", undefined), TypeError);
    await assert.rejects(
      call.mirrorDirectoryWithSymlinks!.call(fm, "/a", "/b", { recursive: true }),
      TypeError,
    );
    assert.equal(await mem.exists("/a.txt"), false);
    assert.deepEqual(await mem.listDir("/"), []);
  });

  it("an unknown backend name throws BackendNotFoundError listing what exists", async () => {
    const reg = createRegistry();
    reg.registerBackend("scratch", new MemoryBackend("scratch"));
    const fm = new FileManager(reg);
    await assert.rejects(fm.save("x", "/a.txt", "gcs"), (err: unknown) => {
      assert.ok(err instanceof BackendNotFoundError);
      assert.equal(err.code, "ERR_BACKEND_NOT_FOUND");
      assert.ok(err.available.includes("memory") && err.available.includes("scratch"));
      assert.match(err.message, /gcs.*available backends: .*memory.*scratch/);
      return true;
    });
    await assert.rejects(fm.listImageFiles("/", "nope"), BackendNotFoundError);
    await assert.rejects(fm.findFileRecursive("/", "a", "nope"), BackendNotFoundError);
  });

  it("no fallback: each call reaches only the backend it names (case-insensitive)", async () => {
    const reg = createRegistry();
    const scratch = new MemoryBackend("scratch");
    reg.registerBackend("scratch", scratch);
    const fm = new FileManager(reg);
    await fm.save("in scratch", "/x.txt", "SCRATCH");
    assert.equal(await scratch.load("/x.txt"), "in scratch");
    assert.equal(await fm.exists("/x.txt", "memory"), false);
    await assert.rejects(fm.load("/x.txt", "memory"), NotFoundError);
    // A path that looks like a disk path still goes to the named backend.
    const diskLike = join(tmpdir(), `hcs-fm-not-on-disk-${Date.now()}.txt`);
    await fm.ensureDirectory(tmpdir(), "memory");
    await fm.save("mem", diskLike, "memory");
    assert.equal(existsSync(diskLike), false);
    assert.equal(await fm.load(diskLike, "memory"), "mem");
  });

  it("passes arguments and options through unchanged, in contract order", async () => {
    const calls: Array<[string, unknown[]]> = [];
    const inner = new MemoryBackend("spy");
    const spy = new Proxy(inner, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== "function" || typeof prop !== "string") return v;
        return (...args: unknown[]) => {
          calls.push([prop, args]);
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as StorageBackend;
    const reg = createRegistry();
    reg.registerBackend("spy", spy);
    const fm = new FileManager(reg);
    const opt = { overwrite: true, extra: "kept" };
    await fm.ensureDirectory("/d", "spy");
    await fm.save("v", "/d/a.txt", "spy", opt);
    await fm.saveBatch(["w"], ["/d/b.txt"], "spy", opt);
    await fm.load("/d/a.txt", "spy", { as: "bytes" });
    await fm.loadBatch(["/d/a.txt"], "spy");
    await fm.listFiles("/d", "spy", { recursive: true });
    await fm.createSymlink("/d/a.txt", "/d/l", "spy", { overwrite: false });
    await fm.move("/d/b.txt", "/d/c.txt", "spy");
    await fm.copy("/d/c.txt", "/d/e.txt", "spy");
    const top = calls.filter(([m]) => m !== "exists" && m !== "isFile");
    assert.deepEqual(top.map(([m, a]) => [m, a]), [
      ["ensureDirectory", ["/d"]],
      ["save", ["v", "/d/a.txt", opt]],
      ["saveBatch", [["w"], ["/d/b.txt"], opt]],
      ["load", ["/d/a.txt", { as: "bytes" }]],
      ["loadBatch", [["/d/a.txt"], undefined]],
      ["listFiles", ["/d", { recursive: true }]],
      ["createSymlink", ["/d/a.txt", "/d/l", { overwrite: false }]],
      ["move", ["/d/b.txt", "/d/c.txt"]],
      ["copy", ["/d/c.txt", "/d/e.txt"]],
    ]);
    assert.equal(top[1]![1][2], opt, "the options object itself is passed");
  });

  it("mirrorDirectoryWithSymlinks with relative paths writes links relative to their directory", async () => {
    const fm = new FileManager(createRegistry());
    await fm.ensureDirectory("rsrc/w", "memory");
    await fm.save("deep", "rsrc/w/a.txt", "memory");
    assert.equal(await fm.mirrorDirectoryWithSymlinks("rsrc", "out/rdst", "memory"), 1);
    assert.equal((await fm.stat("out/rdst/w/a.txt", "memory")).target, "../../../rsrc/w/a.txt");
    assert.equal(await fm.load("/out/rdst/w/a.txt", "memory"), "deep");
  });

  it("an operation the named backend lacks throws UnsupportedOperationError", async () => {
    const reg = createRegistry();
    const readOnly = {
      key: "ro",
      requiresFilesystemValidation: false as const,
      load: () => Promise.resolve("only reads"),
      listDir: () => Promise.resolve([]),
    };
    reg.registerBackend("ro", readOnly as never);
    const fm = new FileManager(reg);
    assert.equal(await fm.load("/x", "ro"), "only reads");
    await assert.rejects(fm.save("x", "/x", "ro"), (err: unknown) => {
      assert.ok(err instanceof UnsupportedOperationError);
      assert.equal(err.code, "ERR_UNSUPPORTED_OPERATION");
      assert.equal(err.message, "save '/x': backend 'ro' does not support save");
      return true;
    });
  });
});

describe("FileManager honours requiresFilesystemValidation", () => {
  /** A backend that records calls; its namespace has no `/gone` directory. */
  function spy(validate: boolean) {
    const calls: string[] = [];
    const b = {
      key: validate ? "fs" : "generated",
      requiresFilesystemValidation: validate,
      isDir: (p: string) => {
        calls.push(`isDir ${p}`);
        return p === "/gone"
          ? Promise.reject(new NotFoundError("isDir", p))
          : Promise.resolve(true);
      },
      listFiles: (p: string) => {
        calls.push(`listFiles ${p}`);
        return Promise.resolve([]);
      },
      listDir: () => Promise.resolve([]),
      stat: (p: string) => Promise.resolve({ type: "directory", path: p, exists: true }),
      ensureDirectory: () => Promise.resolve(),
      createSymlink: () => Promise.resolve(),
      exists: () => Promise.resolve(true),
    };
    return { b, calls };
  }

  it("a filesystem backend's base directory is checked first, errors naming the helper", async () => {
    const { b, calls } = spy(true);
    const reg = createRegistry();
    reg.registerBackend("fs", b as never);
    const fm = new FileManager(reg);
    for (
      const call of [
        () => fm.listImageFiles("/gone", "fs"),
        () => fm.findFileRecursive("/gone", "a.json", "fs"),
        () => fm.collectDirsAndFiles("/gone", "fs"),
        () => fm.mirrorDirectoryWithSymlinks("/gone", "/dst", "fs"),
      ]
    ) {
      calls.length = 0;
      await assert.rejects(call(), (e) => e instanceof NotFoundError && e.path === "/gone");
      assert.deepEqual(calls, ["isDir /gone"], "nothing listed after a failed validation");
    }
    await assert.rejects(
      fm.collectDirsAndFiles("/gone", "fs"),
      /^NotFoundError: collectDirsAndFiles/,
    );
    calls.length = 0;
    assert.deepEqual(await fm.listImageFiles("/here", "fs"), []);
    assert.deepEqual(calls, ["isDir /here", "listFiles /here"]);
  });

  it("a generated namespace is not validated: its listing answers directly", async () => {
    const { b, calls } = spy(false);
    const reg = createRegistry();
    reg.registerBackend("generated", b as never);
    const fm = new FileManager(reg);
    assert.deepEqual(await fm.listImageFiles("/gone", "generated"), []);
    assert.equal(await fm.findFileRecursive("/gone", "a.json", "generated"), undefined);
    assert.deepEqual(calls, ["listFiles /gone", "listFiles /gone"]);
  });
});
