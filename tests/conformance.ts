/**
 * The write half of the shared conformance suite: the §2/§10 semantics every
 * StorageBackend must have, written once, plus the capability tests a
 * backend's declared `capabilities` call for. A backend plugs in with one call:
 *
 *   conformance("disk", async () => ({ backend, root, teardown }));
 *
 * Each test gets a fresh, empty, existing directory `root` on the backend.
 * `conformance()` also runs the read half (`conformance_read.ts`) over a tree
 * the backend seeds itself; read-only backends run only that half.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  AlreadyExistsError,
  DirectoryNotEmptyError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  StorageError,
  UnsupportedOperationError,
} from "../errors.ts";
import type {
  ConditionalWriter,
  CrossProcessLocker,
  NdArray,
  RangeReader,
  StorageBackend,
  StoreCapabilities,
} from "../backends/base.ts";
import {
  assertCapabilitiesHonest,
  readConformance,
  rejects,
  seedReadTree,
} from "./conformance_read.ts";

/** What a backend's fixture hands each test. */
export interface Fixture {
  backend: StorageBackend;
  /** An existing, empty directory on the backend, without trailing slash. */
  root: string;
  teardown?: () => Promise<void> | void;
}

const bytes = (...xs: number[]) => new Uint8Array(xs);
const arr = (): NdArray<Uint16Array> => ({
  data: Uint16Array.from([1, 2, 3, 4, 5, 65535]),
  shape: [2, 3],
  stride: [3, 1],
});

/** What a backend under test can do beyond the common contract. */
export interface ConformanceFlags {
  /** Real symlinks (default true); false: `createSymlink` is `UnsupportedOperationError`. */
  symlinks?: boolean;
  /** `requiresFilesystemValidation` (default true; false for object storage). */
  filesystemValidation?: boolean;
}

/** Registers the conformance tests for one backend. */
export function conformance(
  name: string,
  setup: () => Promise<Fixture>,
  flags: ConformanceFlags = {},
): void {
  const noLinks: string | false = flags.symlinks === false ? "the backend has no symlinks" : false;
  const fsValidation = flags.filesystemValidation ?? true;
  const run =
    (fn: (b: StorageBackend, p: (rel?: string) => string) => Promise<void>) => async () => {
      const fx = await setup();
      try {
        await fn(fx.backend, (rel = "") => (rel ? `${fx.root}/${rel}` : fx.root));
      } finally {
        await fx.teardown?.();
      }
    };

  readConformance(name, async () => {
    const fx = await setup();
    await seedReadTree(fx.backend, fx.root);
    const fixture: {
      backend: StorageBackend;
      root: string;
      teardown?: () => Promise<void> | void;
    } = { backend: fx.backend, root: fx.root };
    if (fx.teardown) fixture.teardown = fx.teardown;
    return fixture;
  });

  describe(`conformance: ${name}`, () => {
    capabilityTests(run, noLinks);

    describe("contract shape", () => {
      it(
        `has a key and requiresFilesystemValidation ${fsValidation}`,
        run((b) => {
          assert.equal(typeof b.key, "string");
          assert.ok(b.key.length > 0);
          assert.equal(b.requiresFilesystemValidation, fsValidation);
          return Promise.resolve();
        }),
      );
      it(
        "without symlinks: createSymlink is UnsupportedOperationError, isSymlink false",
        { skip: noLinks === false ? "the backend has symlinks" : false },
        run(async (b, p) => {
          await b.save("x", p("f.txt"));
          await rejects(b.createSymlink(p("f.txt"), p("l")), UnsupportedOperationError, p("l"));
          assert.equal(await b.isSymlink(p("f.txt")), false);
          assert.equal(await b.exists(p("l")), false);
        }),
      );
    });

    describe("save and load", () => {
      it(
        "round-trips bytes, text, JSON and arrays",
        run(async (b, p) => {
          await b.save(bytes(0, 1, 255), p("raw.bin"));
          await b.save("héllo\nworld", p("note.txt"));
          await b.save({ a: [1, 2, { b: null }], s: "x" }, p("meta.json"));
          await b.save(arr(), p("plane.npy"));
          assert.deepEqual(await b.load(p("raw.bin"), { as: "bytes" }), bytes(0, 1, 255));
          assert.equal(await b.load(p("note.txt")), "héllo\nworld");
          assert.deepEqual(await b.load(p("meta.json")), { a: [1, 2, { b: null }], s: "x" });
          const a = await b.load<NdArray>(p("plane.npy"));
          assert.deepEqual(Array.from(a.data as Uint16Array), [1, 2, 3, 4, 5, 65535]);
          assert.ok(a.data instanceof Uint16Array);
          assert.deepEqual(a.shape, [2, 3]);
          assert.deepEqual(a.stride, [3, 1]);
        }),
      );

      it(
        "as: bytes returns the raw bytes of a text file",
        run(async (b, p) => {
          await b.save("abc", p("t.txt"));
          assert.deepEqual(
            await b.load(p("t.txt"), { as: "bytes" }),
            new TextEncoder().encode("abc"),
          );
        }),
      );

      it(
        "never replaces silently: AlreadyExistsError, old value kept",
        run(async (b, p) => {
          await b.save("old", p("a.txt"));
          await rejects(b.save("new", p("a.txt")), AlreadyExistsError, p("a.txt"));
          assert.equal(await b.load(p("a.txt")), "old");
        }),
      );

      it(
        "replaces with overwrite: true",
        run(async (b, p) => {
          await b.save("old", p("a.txt"));
          await b.save("new", p("a.txt"), { overwrite: true });
          assert.equal(await b.load(p("a.txt")), "new");
        }),
      );

      it(
        "overwrite: true does not replace a directory",
        run(async (b, p) => {
          await b.ensureDirectory(p("d"));
          await rejects(b.save("x", p("d"), { overwrite: true }), IsADirectoryError);
          assert.equal(await b.isDir(p("d")), true);
        }),
      );

      it(
        "missing parent → NotFoundError, nothing created",
        run(async (b, p) => {
          await rejects(b.save("x", p("no/such/a.txt")), NotFoundError, p("no/such/a.txt"));
          assert.equal(await b.exists(p("no")), false);
        }),
      );

      it(
        "parent that is a file → NotADirectoryError",
        run(async (b, p) => {
          await b.save("x", p("f.txt"));
          await rejects(b.save("y", p("f.txt/a.txt")), NotADirectoryError);
        }),
      );

      it(
        "load of a missing file → NotFoundError naming path and operation",
        run(async (b, p) => {
          await assert.rejects(b.load(p("nope.txt")), (err: unknown) => {
            assert.ok(err instanceof NotFoundError);
            assert.ok(err instanceof StorageError);
            assert.equal(err.code, "ENOENT");
            assert.match(err.message, /^load '.*nope\.txt': /);
            return true;
          });
        }),
      );

      it(
        "load of a directory → IsADirectoryError",
        run(async (b, p) => {
          await b.ensureDirectory(p("d"));
          await rejects(b.load(p("d")), IsADirectoryError, p("d"));
        }),
      );

      it(
        "load below a file → NotADirectoryError",
        run(async (b, p) => {
          await b.save("x", p("f.txt"));
          await rejects(b.load(p("f.txt/x.txt")), NotADirectoryError);
        }),
      );

      it(
        "rejects paths with a NUL byte",
        run(async (b, p) => {
          await assert.rejects(b.save("x", p("a\0b.txt")), StorageError);
          await assert.rejects(b.load(p("a\0b.txt")), StorageError);
        }),
      );
    });

    describe("batches", () => {
      it(
        "saveBatch/loadBatch keep order",
        run(async (b, p) => {
          const names = ["img10.txt", "img2.txt", "img1.txt"].map((n) => p(n));
          await b.saveBatch(["ten", "two", "one"], names);
          assert.deepEqual(await b.loadBatch(names), ["ten", "two", "one"]);
          assert.deepEqual(await b.loadBatch([names[2]!, names[0]!]), ["one", "ten"]);
        }),
      );

      it(
        "mismatched lengths → RangeError before any write",
        run(async (b, p) => {
          await assert.rejects(b.saveBatch(["a", "b"], [p("a.txt")]), RangeError);
          assert.deepEqual(await b.listDir(p()), []);
        }),
      );

      it(
        "the same path twice → AlreadyExistsError before any write",
        run(async (b, p) => {
          await rejects(
            b.saveBatch(["a", "b", "c"], [p("x.txt"), p("y.txt"), p("x.txt")]),
            AlreadyExistsError,
          );
          assert.deepEqual(await b.listDir(p()), []);
        }),
      );

      it(
        "an existing target fails the whole batch; no new file left",
        run(async (b, p) => {
          await b.save("keep", p("b.txt"));
          await rejects(
            b.saveBatch(["a", "b", "c"], [p("a.txt"), p("b.txt"), p("c.txt")]),
            AlreadyExistsError,
          );
          assert.deepEqual(await b.listDir(p()), ["b.txt"]);
          assert.equal(await b.load(p("b.txt")), "keep");
        }),
      );

      it(
        "a missing parent fails the whole batch",
        run(async (b, p) => {
          await rejects(b.saveBatch(["a", "b"], [p("a.txt"), p("missing/b.txt")]), NotFoundError);
          assert.deepEqual(await b.listDir(p()), []);
        }),
      );

      it(
        "saveBatch takes overwrite",
        run(async (b, p) => {
          await b.save("old", p("a.txt"));
          await b.saveBatch(["new", "b"], [p("a.txt"), p("b.txt")], { overwrite: true });
          assert.deepEqual(await b.loadBatch([p("a.txt"), p("b.txt")]), ["new", "b"]);
        }),
      );

      it(
        "loadBatch of a missing file rejects with NotFoundError",
        run(async (b, p) => {
          await b.save("a", p("a.txt"));
          await rejects(b.loadBatch([p("a.txt"), p("gone.txt")]), NotFoundError, p("gone.txt"));
        }),
      );

      it(
        "empty batches are fine",
        run(async (b) => {
          await b.saveBatch([], []);
          assert.deepEqual(await b.loadBatch([]), []);
        }),
      );
    });

    describe("listFiles and listDir", () => {
      const tree = async (b: StorageBackend, p: (r?: string) => string) => {
        await b.ensureDirectory(p("sub/deeper"));
        await b.ensureDirectory(p("sub2"));
        await b.saveBatch(
          ["1", "2", "3", "4", "5", "6", "7", "8"],
          [
            p("img10.tif.txt"),
            p("img2.TXT"),
            p("._img1.txt"),
            p("notes.md.json"),
            p("sub/a1.txt"),
            p("sub2/a0.txt"),
            p("sub/deeper/z.txt"),
            p("sub/b.json"),
          ],
        );
      };

      it(
        "lists full paths, natural order, top level only by default",
        run(async (b, p) => {
          await tree(b, p);
          assert.deepEqual(await b.listFiles(p()), [
            p("img2.TXT"),
            p("img10.tif.txt"),
            p("notes.md.json"),
          ]);
        }),
      );

      it(
        "recursive is breadth-first: shallower first, natural path order",
        run(async (b, p) => {
          await tree(b, p);
          assert.deepEqual(await b.listFiles(p(), { recursive: true }), [
            p("img2.TXT"),
            p("img10.tif.txt"),
            p("notes.md.json"),
            p("sub/a1.txt"),
            p("sub/b.json"),
            p("sub2/a0.txt"),
            p("sub/deeper/z.txt"),
          ]);
        }),
      );

      it(
        "extensions: case-insensitive, with or without dot, array or Set",
        run(async (b, p) => {
          await tree(b, p);
          const want = [
            p("img2.TXT"),
            p("img10.tif.txt"),
            p("sub/a1.txt"),
            p("sub2/a0.txt"),
            p("sub/deeper/z.txt"),
          ];
          assert.deepEqual(await b.listFiles(p(), { recursive: true, extensions: [".txt"] }), want);
          assert.deepEqual(
            await b.listFiles(p(), { recursive: true, extensions: new Set(["TXT"]) }),
            want,
          );
          assert.deepEqual(await b.listFiles(p(), { extensions: ["json"] }), [p("notes.md.json")]);
        }),
      );

      it(
        "pattern globs the file name",
        run(async (b, p) => {
          await tree(b, p);
          assert.deepEqual(await b.listFiles(p(), { recursive: true, pattern: "img*" }), [
            p("img2.TXT"),
            p("img10.tif.txt"),
          ]);
          assert.deepEqual(await b.listFiles(p(), { recursive: true, pattern: "a?.txt" }), [
            p("sub/a1.txt"),
            p("sub2/a0.txt"),
          ]);
          assert.deepEqual(await b.listFiles(p(), { recursive: true, pattern: "[ab]*.json" }), [
            p("sub/b.json"),
          ]);
        }),
      );

      it(
        "skips AppleDouble ._ files",
        run(async (b, p) => {
          await tree(b, p);
          const all = await b.listFiles(p(), { recursive: true });
          assert.ok(!all.some((f) => f.includes("._img1")));
        }),
      );

      it(
        "lists symlinks to files and broken symlinks; does not descend into linked dirs",
        { skip: noLinks },
        run(async (b, p) => {
          await tree(b, p);
          await b.createSymlink(p("img2.TXT"), p("link_to_file.txt"));
          await b.save("tmp", p("victim.txt"));
          await b.createSymlink(p("victim.txt"), p("broken.txt"));
          await b.delete(p("victim.txt"));
          await b.createSymlink(p("sub"), p("linkdir"));
          const files = await b.listFiles(p(), { recursive: true });
          assert.ok(files.includes(p("link_to_file.txt")));
          assert.ok(files.includes(p("broken.txt")));
          assert.ok(!files.some((f) => f.startsWith(p("linkdir"))));
          assert.equal(files.filter((f) => f.endsWith("a1.txt")).length, 1);
        }),
      );

      it(
        "no cycles through a symlink to an ancestor",
        { skip: noLinks },
        run(async (b, p) => {
          await b.ensureDirectory(p("a/b"));
          await b.save("x", p("a/b/x.txt"));
          await b.createSymlink(p("a"), p("a/b/up"));
          assert.deepEqual(await b.listFiles(p(), { recursive: true }), [p("a/b/x.txt")]);
        }),
      );

      it(
        "missing dir → NotFoundError; a file → NotADirectoryError",
        run(async (b, p) => {
          await b.save("x", p("f.txt"));
          await rejects(b.listFiles(p("nope")), NotFoundError, p("nope"));
          await rejects(b.listFiles(p("f.txt")), NotADirectoryError);
          await rejects(b.listDir(p("nope")), NotFoundError);
          await rejects(b.listDir(p("f.txt")), NotADirectoryError);
        }),
      );

      it(
        "listDir returns names in natural order, dirs and links included",
        { skip: noLinks },
        run(async (b, p) => {
          await b.ensureDirectory(p("d10"));
          await b.ensureDirectory(p("d9"));
          await b.saveBatch(["a", "b", "c"], [p("img10.txt"), p("img2.txt"), p("img1.txt")]);
          await b.createSymlink(p("img1.txt"), p("link"));
          assert.deepEqual(await b.listDir(p()), [
            "d9",
            "d10",
            "img1.txt",
            "img2.txt",
            "img10.txt",
            "link",
          ]);
        }),
      );

      it(
        "listDir follows a symlinked directory",
        { skip: noLinks },
        run(async (b, p) => {
          await b.ensureDirectory(p("real"));
          await b.save("x", p("real/x.txt"));
          await b.createSymlink(p("real"), p("alias"));
          assert.deepEqual(await b.listDir(p("alias")), ["x.txt"]);
        }),
      );
    });

    describe("exists, isFile, isDir", () => {
      it(
        "isFile/isDir on the right kind is true",
        run(async (b, p) => {
          await b.save("x", p("f.txt"));
          assert.equal(await b.isFile(p("f.txt")), true);
          assert.equal(await b.isDir(p()), true);
        }),
      );

      it(
        "isFile on a directory → IsADirectoryError; isDir on a file → NotADirectoryError",
        run(async (b, p) => {
          await b.save("x", p("f.txt"));
          await rejects(b.isFile(p()), IsADirectoryError);
          await rejects(b.isDir(p("f.txt")), NotADirectoryError, p("f.txt"));
        }),
      );

      it(
        "both → NotFoundError on a missing path",
        run(async (b, p) => {
          await rejects(b.isFile(p("nope")), NotFoundError, p("nope"));
          await rejects(b.isDir(p("nope")), NotFoundError, p("nope"));
        }),
      );

      it(
        "symlinks are followed",
        { skip: noLinks },
        run(async (b, p) => {
          await b.save("x", p("f.txt"));
          await b.createSymlink(p("f.txt"), p("lf"));
          await b.createSymlink(p(), p("ld"));
          assert.equal(await b.isFile(p("lf")), true);
          assert.equal(await b.isDir(p("ld")), true);
        }),
      );

      it(
        "exists never throws for missing; false for a broken symlink",
        { skip: noLinks },
        run(async (b, p) => {
          await b.save("x", p("f.txt"));
          assert.equal(await b.exists(p("f.txt")), true);
          assert.equal(await b.exists(p()), true);
          assert.equal(await b.exists(p("nope")), false);
          assert.equal(await b.exists(p("nope/deeper/x")), false);
          assert.equal(await b.exists(p("f.txt/below")), false);
          await b.createSymlink(p("f.txt"), p("l"));
          await b.delete(p("f.txt"));
          assert.equal(await b.exists(p("l")), false);
        }),
      );
    });

    describe("delete and deleteAll", () => {
      it(
        "delete removes a file, a symlink (not its target) and an empty dir",
        { skip: noLinks },
        run(async (b, p) => {
          await b.save("x", p("f.txt"));
          await b.createSymlink(p("f.txt"), p("l"));
          await b.ensureDirectory(p("d"));
          await b.delete(p("l"));
          assert.equal(await b.isFile(p("f.txt")), true);
          await b.delete(p("f.txt"));
          await b.delete(p("d"));
          assert.deepEqual(await b.listDir(p()), []);
        }),
      );

      it(
        "delete of a non-empty dir → DirectoryNotEmptyError, nothing removed",
        run(async (b, p) => {
          await b.ensureDirectory(p("d"));
          await b.save("x", p("d/f.txt"));
          await rejects(b.delete(p("d")), DirectoryNotEmptyError, p("d"));
          assert.equal(await b.load(p("d/f.txt")), "x");
        }),
      );

      it(
        "delete of a missing path → NotFoundError",
        run(async (b, p) => {
          await rejects(b.delete(p("nope")), NotFoundError, p("nope"));
        }),
      );

      it(
        "delete of a broken symlink removes it",
        { skip: noLinks },
        run(async (b, p) => {
          await b.save("x", p("f.txt"));
          await b.createSymlink(p("f.txt"), p("l"));
          await b.delete(p("f.txt"));
          await b.delete(p("l"));
          assert.deepEqual(await b.listDir(p()), []);
        }),
      );

      it(
        "deleteAll is recursive and does not follow symlinks",
        { skip: noLinks },
        run(async (b, p) => {
          await b.ensureDirectory(p("keep"));
          await b.save("k", p("keep/k.txt"));
          await b.ensureDirectory(p("d/e/f"));
          await b.save("x", p("d/e/f/x.txt"));
          await b.createSymlink(p("keep"), p("d/link"));
          await b.deleteAll(p("d"));
          assert.equal(await b.exists(p("d")), false);
          assert.equal(await b.load(p("keep/k.txt")), "k");
        }),
      );

      it(
        "deleteAll removes a single file",
        run(async (b, p) => {
          await b.save("x", p("f.txt"));
          await b.deleteAll(p("f.txt"));
          assert.equal(await b.exists(p("f.txt")), false);
        }),
      );
    });

    describe("ensureDirectory", () => {
      it(
        "creates parents and is idempotent",
        run(async (b, p) => {
          await b.ensureDirectory(p("a/b/c"));
          await b.ensureDirectory(p("a/b/c"));
          assert.equal(await b.isDir(p("a/b/c")), true);
        }),
      );

      it(
        "over a file → NotADirectoryError",
        run(async (b, p) => {
          await b.save("x", p("f.txt"));
          await rejects(b.ensureDirectory(p("f.txt")), NotADirectoryError, p("f.txt"));
          await rejects(b.ensureDirectory(p("f.txt/sub")), NotADirectoryError);
        }),
      );
    });

    describe("symlinks", () => {
      it(
        "createSymlink + isSymlink + load through the link",
        { skip: noLinks },
        run(async (b, p) => {
          await b.save({ v: 1 }, p("t.json"));
          await b.createSymlink(p("t.json"), p("l.json"));
          assert.equal(await b.isSymlink(p("l.json")), true);
          assert.deepEqual(await b.load(p("l.json")), { v: 1 });
        }),
      );

      it(
        "isSymlink is false for files, dirs and missing paths",
        run(async (b, p) => {
          await b.save("x", p("f.txt"));
          assert.equal(await b.isSymlink(p("f.txt")), false);
          assert.equal(await b.isSymlink(p()), false);
          assert.equal(await b.isSymlink(p("nope")), false);
          assert.equal(await b.isSymlink(p("nope/x/y")), false);
        }),
      );

      it(
        "missing target → NotFoundError",
        { skip: noLinks },
        run(async (b, p) => {
          await rejects(b.createSymlink(p("nope"), p("l")), NotFoundError);
          assert.equal(await b.isSymlink(p("l")), false);
        }),
      );

      it(
        "missing link parent → NotFoundError",
        { skip: noLinks },
        run(async (b, p) => {
          await b.save("x", p("f.txt"));
          await rejects(b.createSymlink(p("f.txt"), p("no/l")), NotFoundError);
        }),
      );

      it(
        "existing link path → AlreadyExistsError unless overwrite",
        { skip: noLinks },
        run(async (b, p) => {
          await b.saveBatch(["a", "b"], [p("a.txt"), p("b.txt")]);
          await b.createSymlink(p("a.txt"), p("l"));
          await rejects(b.createSymlink(p("b.txt"), p("l")), AlreadyExistsError, p("l"));
          assert.equal(await b.load(p("l")), "a");
          await b.createSymlink(p("b.txt"), p("l"), { overwrite: true });
          assert.equal(await b.load(p("l")), "b");
          await rejects(b.createSymlink(p("b.txt"), p("a.txt")), AlreadyExistsError);
          assert.equal(await b.load(p("a.txt")), "a");
        }),
      );

      it(
        "relative targets resolve from the link's directory and are stored as written",
        { skip: noLinks },
        run(async (b, p) => {
          await b.ensureDirectory(p("d"));
          await b.save("x", p("d/f.txt"));
          await b.createSymlink("f.txt", p("d/l.txt"));
          assert.equal(await b.load(p("d/l.txt")), "x");
          const s = await b.stat(p("d/l.txt"));
          assert.equal(s.type, "symlink");
          assert.equal(s.target, "f.txt");
        }),
      );
    });

    describe("move and copy", () => {
      for (const op of ["move", "copy"] as const) {
        it(
          `${op} a file`,
          run(async (b, p) => {
            await b.save("x", p("a.txt"));
            await b[op](p("a.txt"), p("b.txt"));
            assert.equal(await b.load(p("b.txt")), "x");
            assert.equal(await b.exists(p("a.txt")), op === "copy");
          }),
        );

        it(
          `${op} a whole tree`,
          run(async (b, p) => {
            await b.ensureDirectory(p("src/a/b"));
            await b.saveBatch(["1", "2"], [p("src/one.txt"), p("src/a/b/two.txt")]);
            await b.ensureDirectory(p("dst"));
            await b[op](p("src"), p("dst/tree"));
            assert.deepEqual(await b.listFiles(p("dst/tree"), { recursive: true }), [
              p("dst/tree/one.txt"),
              p("dst/tree/a/b/two.txt"),
            ]);
            assert.equal(await b.load(p("dst/tree/a/b/two.txt")), "2");
            assert.equal(await b.exists(p("src")), op === "copy");
          }),
        );

        it(
          `${op} refuses an existing destination`,
          run(async (b, p) => {
            await b.saveBatch(["a", "b"], [p("a.txt"), p("b.txt")]);
            await rejects(b[op](p("a.txt"), p("b.txt")), AlreadyExistsError, p("b.txt"));
            assert.equal(await b.load(p("b.txt")), "b");
            assert.equal(await b.load(p("a.txt")), "a");
          }),
        );

        it(
          `${op} needs the destination's parent`,
          run(async (b, p) => {
            await b.save("a", p("a.txt"));
            await rejects(b[op](p("a.txt"), p("no/b.txt")), NotFoundError);
            assert.equal(await b.load(p("a.txt")), "a");
          }),
        );

        it(
          `${op} of a missing source → NotFoundError`,
          run(async (b, p) => {
            await rejects(b[op](p("nope"), p("x")), NotFoundError, p("nope"));
          }),
        );
      }

      it(
        "copy is independent of its source",
        run(async (b, p) => {
          await b.save("a", p("a.txt"));
          await b.copy(p("a.txt"), p("b.txt"));
          await b.save("changed", p("a.txt"), { overwrite: true });
          assert.equal(await b.load(p("b.txt")), "a");
        }),
      );

      it(
        "move keeps a symlink a symlink",
        { skip: noLinks },
        run(async (b, p) => {
          await b.save("a", p("a.txt"));
          await b.createSymlink(p("a.txt"), p("l"));
          await b.move(p("l"), p("l2"));
          assert.equal(await b.isSymlink(p("l2")), true);
          assert.equal(await b.load(p("l2")), "a");
        }),
      );
    });

    describe("stat", () => {
      it(
        "reports file, directory, symlink, missing and broken links",
        { skip: noLinks },
        run(async (b, p) => {
          await b.save("x", p("f.txt"));
          await b.ensureDirectory(p("d"));
          await b.createSymlink(p("f.txt"), p("l"));
          const f = await b.stat(p("f.txt"));
          assert.equal(f.type, "file");
          assert.equal(f.exists, true);
          assert.equal(f.path, p("f.txt"));
          assert.equal((await b.stat(p("d"))).type, "directory");
          const l = await b.stat(p("l"));
          assert.deepEqual([l.type, l.exists, l.target], ["symlink", true, p("f.txt")]);
          const m = await b.stat(p("nope"));
          assert.deepEqual([m.type, m.exists], ["missing", false]);
          await b.delete(p("f.txt"));
          const broken = await b.stat(p("l"));
          assert.deepEqual([broken.type, broken.exists, broken.target], [
            "symlink",
            false,
            p("f.txt"),
          ]);
        }),
      );
    });
  });
}

type Run = (
  fn: (b: StorageBackend, p: (rel?: string) => string) => Promise<void>,
) => () => Promise<void>;

/** The capabilities a backend declares (undefined when it declares none). */
function capsOf(b: StorageBackend): StoreCapabilities | undefined {
  return (b as { capabilities?: StoreCapabilities }).capabilities;
}

/** Tests of each capability the backend declares; a declaration with nothing behind it fails. */
function capabilityTests(run: Run, noLinks: string | false): void {
  describe("declared capabilities", () => {
    it(
      "every declared capability has its interface; the flags are frozen booleans",
      run((b) => {
        assertCapabilitiesHonest(b);
        return Promise.resolve();
      }),
    );

    it(
      "rangeRead: exact ranges, short only at the end, a copy, typed errors",
      run(async (b, p) => {
        if (!capsOf(b)?.rangeRead) return;
        const r = b as unknown as RangeReader;
        await b.save(new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), p("r.bin"));
        assert.deepEqual(await r.loadRange(p("r.bin"), 2, 3), new Uint8Array([2, 3, 4]));
        assert.deepEqual(await r.loadRange(p("r.bin"), 8, 5), new Uint8Array([8, 9]));
        assert.deepEqual(await r.loadRange(p("r.bin"), 12, 4), new Uint8Array([]));
        assert.deepEqual(await r.loadRange(p("r.bin"), 0, 0), new Uint8Array([]));
        const got = await r.loadRange(p("r.bin"), 0, 2);
        got[0] = 99;
        assert.deepEqual(
          await b.load(p("r.bin"), { as: "bytes" }).then((x) => (x as Uint8Array)[0]),
          0,
        );
        if (noLinks === false) {
          await b.createSymlink(p("r.bin"), p("r.link"));
          assert.deepEqual(await r.loadRange(p("r.link"), 9, 1), new Uint8Array([9]));
        }
        await rejects(r.loadRange(p("nope.bin"), 0, 1), NotFoundError, p("nope.bin"));
        await b.ensureDirectory(p("d"));
        await rejects(r.loadRange(p("d"), 0, 1), IsADirectoryError);
        await assert.rejects(r.loadRange(p("r.bin"), -1, 2), RangeError);
        await assert.rejects(r.loadRange(p("r.bin"), 0, 1.5), RangeError);
      }),
    );

    it(
      "compareAndSwap: create-if-absent, swap on the current version only, one winner of a race",
      run(async (b, p) => {
        if (!capsOf(b)?.compareAndSwap) return;
        const c = b as unknown as ConditionalWriter;
        const f = p("cas.bin");
        assert.equal(await c.loadVersioned(f), undefined);
        const v1 = await c.saveIfVersion(new Uint8Array([1]), f, null);
        assert.equal(typeof v1, "string");
        assert.equal(await c.saveIfVersion(new Uint8Array([9]), f, null), false);
        const seen = await c.loadVersioned(f);
        assert.deepEqual(seen, { bytes: new Uint8Array([1]), version: v1 });
        const v2 = await c.saveIfVersion(new Uint8Array([2]), f, v1 as string);
        assert.equal(typeof v2, "string");
        assert.notEqual(v2, v1);
        assert.equal(await c.saveIfVersion(new Uint8Array([3]), f, v1 as string), false);
        assert.deepEqual(await b.load(f, { as: "bytes" }), new Uint8Array([2]));
        // Ten writers race from the same version: exactly one wins.
        const results = await Promise.all(
          Array.from(
            { length: 10 },
            (_, i) => c.saveIfVersion(new Uint8Array([10 + i]), f, v2 as string),
          ),
        );
        const winners = results.filter((r) => r !== false);
        assert.equal(winners.length, 1);
        const won = results.findIndex((r) => r !== false);
        assert.deepEqual(await c.loadVersioned(f), {
          bytes: new Uint8Array([10 + won]),
          version: winners[0],
        });
        await b.ensureDirectory(p("d"));
        await rejects(c.saveIfVersion(new Uint8Array([1]), p("d"), null), IsADirectoryError);
        await rejects(c.saveIfVersion(new Uint8Array([1]), p("no/such"), null), NotFoundError);
      }),
    );

    it(
      "crossProcessLock: withLock excludes concurrent sections and passes results and errors",
      run(async (b, p) => {
        if (!capsOf(b)?.crossProcessLock) return;
        const l = b as unknown as CrossProcessLocker;
        await b.save("x", p("locked.txt"));
        let inside = 0;
        let max = 0;
        const out = await Promise.all(
          Array.from({ length: 5 }, (_, i) =>
            l.withLock(p("locked.txt"), async () => {
              inside++;
              max = Math.max(max, inside);
              await new Promise((r) => setTimeout(r, 5));
              inside--;
              return i;
            })),
        );
        assert.deepEqual(out, [0, 1, 2, 3, 4]);
        assert.equal(max, 1);
        await assert.rejects(
          l.withLock(p("locked.txt"), () => Promise.reject(new RangeError("inner"))),
          RangeError,
        );
        assert.deepEqual(await b.listDir(p()), ["locked.txt"]);
      }),
    );
  });
}
