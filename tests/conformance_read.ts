/**
 * The read half of the conformance suite: what every backend that reads must
 * do (loads, batches, listings, existence tests, typed errors), over one
 * fixture tree ({@linkcode READ_TREE}) that the backend's runner seeds however
 * it can — with the backend's own `save`, a disk tree served over HTTP, a
 * virtual workspace mapping. Writable backends run it from `conformance()`.
 *
 *   readConformance("http", async () => ({ backend, root, teardown }), flags);
 *
 * The fixture is set up once per suite (reads never change it).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { IsADirectoryError, NotADirectoryError, NotFoundError, StorageError } from "../errors.ts";
import {
  CAPABILITY_METHODS,
  checkCapabilities,
  type ListOptions,
  type LoadOptions,
  type NdArray,
  type StorageValue,
  type StoreCapabilities,
} from "../backends/base.ts";

/** The read operations the read half uses (every backend has them). */
export interface Readable {
  key: string;
  load<T = StorageValue>(path: string, options?: LoadOptions): Promise<T>;
  loadBatch<T = StorageValue>(paths: readonly string[], options?: LoadOptions): Promise<T[]>;
  listFiles(dir: string, options?: ListOptions): Promise<string[]>;
  listDir(path: string): Promise<string[]>;
  exists(path: string): Promise<boolean>;
  isFile(path: string): Promise<boolean>;
  isDir(path: string): Promise<boolean>;
}

/** What a read runner hands the suite: a backend whose `root` holds {@linkcode READ_TREE}. */
export interface ReadFixture {
  backend: Readable;
  /** The directory holding the tree, without trailing slash. */
  root: string;
  teardown?: () => Promise<void> | void;
}

/** What the backend can show of the tree, where backends differ. */
export interface ReadFlags {
  /** `load` of a directory is `IsADirectoryError` (default true). */
  directoryLoadError?: boolean;
}

const arr = (): NdArray<Uint16Array> => ({
  data: Uint16Array.from([1, 2, 3, 4, 5, 65535]),
  shape: [2, 3],
  stride: [3, 1],
});

/**
 * The fixture tree, relative path → value. `values/` holds one file of each
 * kind; `tree/` is the listing tree of the write half (natural order,
 * extensions, patterns, an AppleDouble `._` file, three depths).
 */
export const READ_TREE: ReadonlyArray<readonly [string, StorageValue]> = [
  ["values/raw.bin", new Uint8Array([0, 1, 255])],
  ["values/note.txt", "héllo\nworld"],
  ["values/meta.json", { a: [1, 2, { b: null }], s: "x" }],
  ["values/plane.npy", arr()],
  ["tree/img10.tif.txt", "1"],
  ["tree/img2.TXT", "2"],
  ["tree/._img1.txt", "3"],
  ["tree/notes.md.json", "4"],
  ["tree/sub/a1.txt", "5"],
  ["tree/sub2/a0.txt", "6"],
  ["tree/sub/deeper/z.txt", "7"],
  ["tree/sub/b.json", "8"],
];

/** The directories of {@linkcode READ_TREE}, parents first. */
export const READ_DIRS: readonly string[] = [
  "values",
  "tree",
  "tree/sub",
  "tree/sub2",
  "tree/sub/deeper",
];

/** Seeds {@linkcode READ_TREE} under `root` with a backend's own operations. */
export async function seedReadTree(
  b: {
    ensureDirectory(path: string): Promise<void>;
    saveBatch(data: readonly StorageValue[], paths: readonly string[]): Promise<void>;
  },
  root: string,
): Promise<void> {
  for (const d of READ_DIRS) await b.ensureDirectory(`${root}/${d}`);
  await b.saveBatch(READ_TREE.map(([, v]) => v), READ_TREE.map(([rel]) => `${root}/${rel}`));
}

/**
 * A backend that declares `capabilities` (frozen booleans) has the
 * interface behind every flag it sets; one that declares none passes.
 */
export function assertCapabilitiesHonest(b: object): void {
  const caps = checkCapabilities(b, (b as { key?: string }).key ?? "backend");
  if (caps === undefined) return;
  assert.ok(Object.isFrozen(caps));
  assert.deepEqual(Object.keys(caps).sort(), Object.keys(CAPABILITY_METHODS).sort());
  if (!caps.write) {
    assert.equal(
      typeof (b as { save?: unknown }).save,
      "undefined",
      "write: false but save exists",
    );
  }
}

/** Asserts `p` rejects with an instance of `cls` whose message names `path` (if given). */
export async function rejects(
  p: Promise<unknown>,
  cls: abstract new (...a: never[]) => Error,
  path?: string,
) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(
      err instanceof cls,
      `expected ${cls.name}, got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`,
    );
    if (path !== undefined) {
      assert.ok(
        (err as Error).message.includes(path),
        `message '${(err as Error).message}' names '${path}'`,
      );
    }
    return true;
  });
}

/** Registers the read-half tests for one backend. */
export function readConformance(
  name: string,
  setup: () => Promise<ReadFixture>,
  flags: ReadFlags = {},
): void {
  let fixture: Promise<ReadFixture> | undefined;
  const get = () => (fixture ??= setup());
  const run = (fn: (b: Readable, p: (rel?: string) => string) => Promise<void>) => async () => {
    const fx = await get();
    await fn(fx.backend, (rel = "") => (rel ? `${fx.root}/${rel}` : fx.root));
  };

  describe(`conformance (read): ${name}`, () => {
    after(async () => {
      if (fixture) await (await fixture).teardown?.();
    });

    it(
      "declared capabilities are honest (read and list, if declared, are true)",
      run((b) => {
        assertCapabilitiesHonest(b);
        const caps = (b as { capabilities?: StoreCapabilities }).capabilities;
        if (caps) assert.ok(caps.read && caps.list);
        return Promise.resolve();
      }),
    );

    it(
      "loads bytes, text, JSON and arrays",
      run(async (b, p) => {
        assert.equal(typeof b.key, "string");
        assert.deepEqual(
          await b.load(p("values/raw.bin"), { as: "bytes" }),
          new Uint8Array([0, 1, 255]),
        );
        assert.equal(await b.load(p("values/note.txt")), "héllo\nworld");
        assert.deepEqual(await b.load(p("values/meta.json")), { a: [1, 2, { b: null }], s: "x" });
        const a = await b.load<NdArray>(p("values/plane.npy"));
        assert.ok(a.data instanceof Uint16Array);
        assert.deepEqual(Array.from(a.data), [1, 2, 3, 4, 5, 65535]);
        assert.deepEqual(a.shape, [2, 3]);
        assert.deepEqual(a.stride, [3, 1]);
        assert.deepEqual(
          await b.load(p("values/note.txt"), { as: "bytes" }),
          new TextEncoder().encode("héllo\nworld"),
        );
      }),
    );

    it(
      "load of a missing file → NotFoundError naming path and operation",
      run(async (b, p) => {
        await assert.rejects(b.load(p("values/nope.txt")), (err: unknown) => {
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
      { skip: flags.directoryLoadError === false ? "backend cannot tell" : false },
      run(async (b, p) => {
        await rejects(b.load(p("tree/sub")), IsADirectoryError, p("tree/sub"));
      }),
    );

    it(
      "rejects paths with a NUL byte",
      run(async (b, p) => {
        await assert.rejects(b.load(p("a\0b.txt")), StorageError);
      }),
    );

    it(
      "loadBatch keeps order; a missing member rejects with NotFoundError; empty is fine",
      run(async (b, p) => {
        const names = ["tree/img10.tif.txt", "tree/img2.TXT", "tree/sub/a1.txt"].map((n) => p(n));
        assert.deepEqual(await b.loadBatch(names), ["1", "2", "5"]);
        assert.deepEqual(await b.loadBatch([names[2]!, names[0]!]), ["5", "1"]);
        await rejects(
          b.loadBatch([names[0]!, p("tree/gone.txt")]),
          NotFoundError,
          p("tree/gone.txt"),
        );
        assert.deepEqual(await b.loadBatch([]), []);
      }),
    );

    it(
      "lists full paths, natural order, top level only by default",
      run(async (b, p) => {
        assert.deepEqual(await b.listFiles(p("tree")), [
          p("tree/img2.TXT"),
          p("tree/img10.tif.txt"),
          p("tree/notes.md.json"),
        ]);
      }),
    );

    it(
      "recursive is breadth-first: shallower first, natural path order; skips ._ files",
      run(async (b, p) => {
        assert.deepEqual(await b.listFiles(p("tree"), { recursive: true }), [
          p("tree/img2.TXT"),
          p("tree/img10.tif.txt"),
          p("tree/notes.md.json"),
          p("tree/sub/a1.txt"),
          p("tree/sub/b.json"),
          p("tree/sub2/a0.txt"),
          p("tree/sub/deeper/z.txt"),
        ]);
      }),
    );

    it(
      "extensions (case-insensitive, with or without dot, array or Set) and patterns",
      run(async (b, p) => {
        const want = [
          p("tree/img2.TXT"),
          p("tree/img10.tif.txt"),
          p("tree/sub/a1.txt"),
          p("tree/sub2/a0.txt"),
          p("tree/sub/deeper/z.txt"),
        ];
        const t = p("tree");
        assert.deepEqual(await b.listFiles(t, { recursive: true, extensions: [".txt"] }), want);
        assert.deepEqual(
          await b.listFiles(t, { recursive: true, extensions: new Set(["TXT"]) }),
          want,
        );
        assert.deepEqual(await b.listFiles(t, { extensions: ["json"] }), [p("tree/notes.md.json")]);
        assert.deepEqual(await b.listFiles(t, { recursive: true, pattern: "img*" }), [
          p("tree/img2.TXT"),
          p("tree/img10.tif.txt"),
        ]);
        assert.deepEqual(await b.listFiles(t, { recursive: true, pattern: "a?.txt" }), [
          p("tree/sub/a1.txt"),
          p("tree/sub2/a0.txt"),
        ]);
        assert.deepEqual(await b.listFiles(t, { recursive: true, pattern: "[ab]*.json" }), [
          p("tree/sub/b.json"),
        ]);
      }),
    );

    it(
      "listDir gives names in natural order, directories included",
      run(async (b, p) => {
        assert.deepEqual(await b.listDir(p("tree/sub")), ["a1.txt", "b.json", "deeper"]);
        assert.deepEqual(await b.listDir(p("values")), [
          "meta.json",
          "note.txt",
          "plane.npy",
          "raw.bin",
        ]);
      }),
    );

    it(
      "missing dir → NotFoundError; a file → NotADirectoryError",
      run(async (b, p) => {
        await rejects(b.listFiles(p("nope")), NotFoundError, p("nope"));
        await rejects(b.listFiles(p("values/note.txt")), NotADirectoryError);
        await rejects(b.listDir(p("nope")), NotFoundError);
        await rejects(b.listDir(p("values/note.txt")), NotADirectoryError);
      }),
    );

    it(
      "isFile/isDir: true on the right kind, typed errors on the wrong kind or a missing path",
      run(async (b, p) => {
        assert.equal(await b.isFile(p("values/note.txt")), true);
        assert.equal(await b.isDir(p("tree/sub/deeper")), true);
        await rejects(b.isFile(p("tree")), IsADirectoryError);
        await rejects(b.isDir(p("values/note.txt")), NotADirectoryError, p("values/note.txt"));
        await rejects(b.isFile(p("nope")), NotFoundError, p("nope"));
        await rejects(b.isDir(p("nope")), NotFoundError, p("nope"));
      }),
    );

    it(
      "exists never throws for missing paths",
      run(async (b, p) => {
        assert.equal(await b.exists(p("values/note.txt")), true);
        assert.equal(await b.exists(p("tree/sub")), true);
        assert.equal(await b.exists(p("nope")), false);
        assert.equal(await b.exists(p("nope/deeper/x")), false);
        assert.equal(await b.exists(p("values/note.txt/below")), false);
      }),
    );
  });
}
