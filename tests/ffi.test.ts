/**
 * The bulk readers (pure and FFI) on their own: contents, alignment, errors,
 * descriptor hygiene, size changes, huge files, zero-copy mappings. The FFI
 * tests skip with the reason where FFI is not available (Deno without
 * --allow-ffi); the pure reader is tested everywhere.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import process from "node:process";
import {
  createBulkReader,
  type MappedFiles,
  NativeReader,
  type NativeReaderOptions,
  PureReader,
} from "../ffi/mod.ts";
import type { BatchOptions } from "../ffi/batch.ts";
import type { PureReaderOptions } from "../ffi/pure.ts";
import { runtime } from "../registry/runtime.ts";
import { type LibcTarget, libcTarget } from "../ffi/libc.ts";
import {
  IsADirectoryError,
  NotFoundError,
  PermissionDeniedError,
  StorageError,
} from "../errors.ts";
import { openFds, pattern, withDir as withDirIn } from "./_files.ts";

const rt = runtime();
const choice = await createBulkReader(rt);
const ffiSkip: string | false = choice.reader instanceof NativeReader
  ? false
  : `FFI reader not available: ${choice.reason ?? choice.implementation}`;
const isRoot = process.getuid?.() === 0;
const onLinux = rt.os === "linux";
/** Deno without -A may not open /proc at all. */
const procReadable = onLinux && (() => {
  try {
    fs.readFileSync("/proc/version");
    return true;
  } catch {
    return false;
  }
})();

/** A reader of the kind under test, with options (test hooks). */
type Make = (options?: BatchOptions) => Promise<PureReader | NativeReader>;
const makePure = (options: PureReaderOptions = {}): Promise<PureReader> =>
  Promise.resolve(new PureReader(options));
const makeFfi = async (options: NativeReaderOptions = {}): Promise<NativeReader> => {
  const c = await createBulkReader(rt, options);
  if (!(c.reader instanceof NativeReader)) throw new Error(`no FFI reader: ${c.reason}`);
  return c.reader;
};

const withDir = (fn: (dir: string) => Promise<void>) => withDirIn("hcs-ffi-", fn);

/** `/proc/self/maps` lines naming `path` (live mappings of that file). */
function mappingsOf(path: string): number {
  return fs.readFileSync("/proc/self/maps", "utf8").split("\n").filter((l) => l.endsWith(path))
    .length;
}

async function rejectsWith(
  p: Promise<unknown>,
  cls: new (...a: never[]) => Error,
  code: string,
  path?: string,
): Promise<StorageError> {
  let caught: unknown;
  await assert.rejects(p, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof cls, `expected ${cls.name}, got ${String(caught)}`);
  assert.equal((caught as StorageError).code, code);
  if (path !== undefined) assert.ok((caught as Error).message.includes(path));
  return caught as StorageError;
}

function readerSuite(kind: string, make: Make, skip: string | false): void {
  describe(`bulk reader: ${kind}`, () => {
    it(
      "reads files of many sizes exactly, in request order, 64-byte aligned slots",
      { skip },
      withDir(async (dir) => {
        const sizes = [0, 1, 63, 64, 65, 4095, 4096, 4097, 65536, 100_000, 1 << 20, 0, 3];
        const paths = sizes.map((_, i) => `${dir}/f ${i} é.bin`);
        sizes.forEach((n, i) => fs.writeFileSync(paths[i]!, pattern(n, i + 1)));
        const reader = await make();
        // Duplicates and reordering are kept as asked.
        const asked = [...paths].reverse().concat([paths[3]!]);
        const got = await reader.readFiles(asked, "loadBatch");
        assert.equal(got.length, asked.length);
        for (let i = 0; i < asked.length; i++) {
          assert.deepEqual(got[i], new Uint8Array(fs.readFileSync(asked[i]!)), asked[i]!);
          assert.ok(got[i] instanceof Uint8Array);
          if (got[i]!.length > 0) assert.equal(got[i]!.byteOffset % 64, got[0]!.byteOffset % 64);
        }
        // Views over one arena per chunk: the two duplicates are distinct slots.
        assert.notEqual(got[asked.length - 1], got[paths.length - 1 - 3]);
        assert.deepEqual(await reader.readFiles([], "loadBatch"), []);
      }),
    );

    it(
      "bounded chunks: many small arenas read the same bytes as one",
      { skip },
      withDir(async (dir) => {
        const paths = Array.from({ length: 40 }, (_, i) => `${dir}/c${i}`);
        paths.forEach((p, i) => fs.writeFileSync(p, pattern(1000 + i * 37, i)));
        const one = await (await make()).readFiles(paths, "loadBatch");
        const many = await (await make({ chunkFiles: 3, chunkBytes: 2048 })).readFiles(
          paths,
          "loadBatch",
        );
        assert.deepEqual(many, one);
        // Different chunks do not share an arena.
        assert.notEqual(many[0]!.buffer, many[39]!.buffer);
        assert.equal(one[0]!.buffer, one[39]!.buffer);
      }),
    );

    it(
      "typed errors: missing → NotFoundError, directory → IsADirectoryError, NUL → EINVAL",
      { skip },
      withDir(async (dir) => {
        const reader = await make();
        fs.writeFileSync(`${dir}/ok`, "ok");
        await rejectsWith(
          reader.readFiles([`${dir}/ok`, `${dir}/missing`], "loadBatch"),
          NotFoundError,
          "ENOENT",
          `${dir}/missing`,
        );
        const e = await rejectsWith(
          reader.readFiles([`${dir}`], "load"),
          IsADirectoryError,
          "EISDIR",
        );
        assert.equal(e.message, `load '${dir}': is a directory`);
        await rejectsWith(
          reader.readFiles([`${dir}/ok/below`], "load"),
          StorageError,
          "ENOTDIR",
        );
        // A NUL byte is rejected before anything is opened (no size hook call).
        let sized = 0;
        const hooked = await make({ afterSize: () => sized++ });
        const before = onLinux ? openFds(dir) : 0;
        await rejectsWith(
          hooked.readFiles([`${dir}/ok`, `${dir}/ok\0/../x`], "loadBatch"),
          StorageError,
          "EINVAL",
        );
        assert.equal(sized, 0);
        if (onLinux) assert.equal(openFds(dir), before);
      }),
    );

    it(
      "permission denied → PermissionDeniedError",
      { skip: skip || (isRoot ? "running as root: chmod 000 does not stop root" : false) },
      withDir(async (dir) => {
        fs.writeFileSync(`${dir}/locked`, "secret");
        fs.chmodSync(`${dir}/locked`, 0o000);
        const reader = await make();
        await rejectsWith(
          reader.readFiles([`${dir}/locked`], "load"),
          PermissionDeniedError,
          "EACCES",
          `${dir}/locked`,
        );
      }),
    );

    it(
      "no descriptor leaks: 10,000 failing loads (missing, directory, permission, mid-batch)",
      { skip: skip || (onLinux ? false : "needs /proc/self/fd") },
      withDir(async (dir) => {
        fs.writeFileSync(`${dir}/good`, pattern(5000, 1));
        fs.writeFileSync(`${dir}/locked`, "x");
        fs.chmodSync(`${dir}/locked`, 0o000);
        fs.mkdirSync(`${dir}/sub`);
        const reader = await make({ chunkFiles: 3 });
        const cases: Array<[string[], string]> = [
          [[`${dir}/missing`], "ENOENT"],
          [[`${dir}/sub`], "EISDIR"],
          // mid-batch: the failing file comes after open descriptors in its chunk,
          // and in a later chunk after a whole chunk was read.
          [[`${dir}/good`, `${dir}/good`, `${dir}/nope`, `${dir}/good`], "ENOENT"],
          [[`${dir}/good`, `${dir}/good`, `${dir}/good`, `${dir}/good`, `${dir}/sub`], "EISDIR"],
          [[`${dir}/good`, `${dir}/good\0`], "EINVAL"],
        ];
        // As root chmod 000 is readable; the permission case then must succeed.
        if (!isRoot) cases.push([[`${dir}/good`, `${dir}/locked`], "EACCES"]);
        const before = openFds(dir);
        // The counter sees a descriptor into dir (so a leak would show).
        const witness = fs.openSync(`${dir}/good`, "r");
        assert.equal(openFds(dir), before + 1);
        fs.closeSync(witness);
        let failures = 0;
        for (let i = 0; i < 10_000; i++) {
          const [paths, code] = cases[i % cases.length]!;
          try {
            await reader.readFiles(paths, "load");
          } catch (err) {
            assert.equal((err as StorageError).code, code);
            failures++;
          }
        }
        assert.equal(failures, 10_000);
        assert.equal(openFds(dir), before);
      }),
    );

    it(
      "a file that grows or shrinks between size query and read is re-read, never short or padded",
      { skip },
      withDir(async (dir) => {
        const grow = `${dir}/grow`;
        const shrink = `${dir}/shrink`;
        const zero = `${dir}/zero`;
        fs.writeFileSync(grow, pattern(10_000, 1));
        fs.writeFileSync(shrink, pattern(10_000, 2));
        fs.writeFileSync(zero, new Uint8Array(0));
        const grown = pattern(10_000 + 70_000, 3);
        const shrunk = pattern(1234, 4);
        const reader = await make({
          afterSize(path, attempt) {
            if (attempt !== 0) return;
            if (path === grow) fs.writeFileSync(grow, grown);
            if (path === shrink) fs.writeFileSync(shrink, shrunk);
            if (path === zero) fs.writeFileSync(zero, "now 12 bytes");
          },
        });
        // 1.5 MiB fillers make the arena big enough (≥ 2 MiB) to be split
        // between threads where the reader does that (Deno FFI): changed
        // files sit in both halves.
        const fill1 = pattern(3 << 19, 5);
        const fill2 = pattern(3 << 19, 6);
        fs.writeFileSync(`${dir}/fill1`, fill1);
        fs.writeFileSync(`${dir}/fill2`, fill2);
        const got = await reader.readFiles(
          [grow, `${dir}/fill1`, shrink, `${dir}/fill2`, zero],
          "loadBatch",
        );
        assert.deepEqual(got[0], grown);
        assert.deepEqual(got[1], fill1);
        assert.deepEqual(got[2], shrunk);
        assert.deepEqual(got[3], fill2);
        assert.equal(new TextDecoder().decode(got[4]), "now 12 bytes");
      }),
    );

    it(
      "a file that keeps changing size is reported (ERR_SIZE_CHANGED), descriptors closed",
      { skip: skip || (onLinux ? false : "needs /proc/self/fd") },
      withDir(async (dir) => {
        const p = `${dir}/log`;
        fs.writeFileSync(p, "start");
        let n = 0;
        const reader = await make({
          retries: 2,
          afterSize(path, attempt) {
            if (path === p && attempt === 0) fs.appendFileSync(p, `line ${n++}\n`);
          },
          afterRead(path) {
            if (path === p) fs.appendFileSync(p, `line ${n++}\n`);
          },
        });
        const before = openFds(dir);
        const e = await rejectsWith(
          reader.readFiles([p], "load"),
          StorageError,
          "ERR_SIZE_CHANGED",
          p,
        );
        assert.match(e.message, /changed size while being read/);
        assert.equal(n, 4); // the batch read, then 1 + retries (2) re-reads
        assert.equal(fs.readFileSync(p, "utf8").split("\n").length, 5);
        assert.equal(openFds(dir), before);
      }),
    );

    it(
      "zero-byte files and pseudo-files (size 0, content on read)",
      { skip },
      withDir(async (dir) => {
        fs.writeFileSync(`${dir}/empty`, new Uint8Array(0));
        const reader = await make();
        const paths = [`${dir}/empty`, `${dir}/empty`];
        if (procReadable) paths.push("/proc/version");
        const got = await reader.readFiles(paths, "load");
        assert.equal(got[0]!.length, 0);
        assert.equal(got[1]!.length, 0);
        if (procReadable) assert.match(new TextDecoder().decode(got[2]), /^Linux version /);
      }),
    );

    it(
      "files over 2 GiB are refused with EFBIG (sparse file, no disk used)",
      { skip },
      withDir(async (dir) => {
        const big = `${dir}/big.raw`;
        fs.writeFileSync(`${dir}/small`, "s");
        const fd = fs.openSync(big, "w");
        fs.ftruncateSync(fd, 3 * 1024 ** 3);
        fs.closeSync(fd);
        const reader = await make();
        const before = onLinux ? openFds(dir) : 0;
        const e = await rejectsWith(
          reader.readFiles([`${dir}/small`, big], "loadBatch"),
          StorageError,
          "EFBIG",
          big,
        );
        assert.match(e.message, /3221225472 bytes/);
        if (onLinux) assert.equal(openFds(dir), before);
        if (reader instanceof NativeReader) {
          await rejectsWith(reader.mapFiles([big], "load"), StorageError, "EFBIG", big);
        }
      }),
    );
  });
}

readerSuite("pure", makePure, false);
// On Deno the pure reader uses Deno's file API; its node:fs ops run here.
readerSuite(
  "pure, node:fs",
  (o = {}) => makePure({ ...o, api: "node" }),
  rt.name === "deno" ? false : "the same as 'pure' off Deno",
);
readerSuite("ffi", makeFfi, ffiSkip);
// Every file through the other-thread reads and prefaults (Deno `nonblocking` symbols).
readerSuite(
  "ffi, parallel reads",
  (o = {}) => makeFfi({ ...o, parallel: { minBytes: 1, concurrency: 3 }, prefaultOffThread: true }),
  ffiSkip || (rt.name === "deno" ? false : "parallel reads are Deno-only (Bun FFI is synchronous)"),
);

describe("pure and FFI readers raise the same errors", () => {
  it(
    "same class, code and message for missing, directory, not-a-directory, NUL",
    { skip: ffiSkip },
    withDir(async (dir) => {
      fs.writeFileSync(`${dir}/f`, "x");
      fs.mkdirSync(`${dir}/d`);
      const pure = await makePure();
      const ffi = await makeFfi();
      for (const p of [`${dir}/missing`, `${dir}/d`, `${dir}/f/x`, `${dir}/a\0b`, ""]) {
        const outcomes = await Promise.all(
          [pure, ffi].map((r) =>
            r.readFiles([p], "loadBatch").then(
              () => "resolved",
              (e: Error & { code?: string }) => `${e.constructor.name} ${e.code} ${e.message}`,
            )
          ),
        );
        assert.notEqual(outcomes[0], "resolved");
        assert.equal(outcomes[1], outcomes[0], p);
      }
    }),
  );
});

describe("FFI reader selection", () => {
  it("createBulkReader never rejects and names its choice", async () => {
    const c = await createBulkReader(rt);
    assert.equal(c.reader.implementation, c.implementation);
    if (c.implementation === "pure") assert.ok(c.reason && c.reason.length > 0);
    else assert.match(c.implementation, /^ffi\((deno|bun), readv\)$/);
    const forced = await createBulkReader(rt, { pure: true });
    assert.equal(forced.implementation, "pure");
    const odd = await createBulkReader({ ...rt, os: "plan9" });
    if (rt.name === "deno" || rt.name === "bun") {
      assert.equal(odd.implementation, "pure");
      assert.match(odd.reason ?? "", /plan9/);
    }
  });

  it(
    "libc names are tried in order (musl and others after glibc); failures name each",
    { skip: ffiSkip },
    async () => {
      const base = libcTarget(rt.os, rt.arch);
      assert.ok(typeof base !== "string");
      const open = async (t: LibcTarget) =>
        rt.name === "deno"
          ? (await import("../ffi/deno.ts")).openDenoLibc(t)
          : await (await import("../ffi/bun.ts")).openBunLibc(t);
      const later = await open({
        ...base,
        library: "libhcs-does-not-exist.so.9",
        fallbacks: [base.library],
      });
      assert.equal(later.close(-1), -1); // a real libc call: close(-1) fails with EBADF
      await assert.rejects(
        open({ ...base, library: "libhcs-nope-1.so", fallbacks: ["libhcs-nope-2.so"] }),
        /cannot open libc \(libhcs-nope-1\.so: .*; libhcs-nope-2\.so: /,
      );
    },
  );

  it("Deno: FFI exactly when --allow-ffi is granted; Bun: always FFI", () => {
    const denoPerm = (globalThis as {
      Deno?: { permissions: { querySync(d: { name: string }): { state: string } } };
    }).Deno?.permissions.querySync({ name: "ffi" }).state;
    if (rt.name === "deno") {
      assert.equal(choice.reader instanceof NativeReader, denoPerm === "granted");
      if (denoPerm !== "granted") assert.equal(choice.reason, "ffi permission not granted");
    } else if (rt.name === "bun") {
      assert.equal(choice.implementation, "ffi(bun, readv)");
    }
  });
});

describe("zero-copy mappings (mmap)", () => {
  it(
    "views equal the file; release() detaches them, unmaps, and is safe twice",
    { skip: ffiSkip || (onLinux ? false : "needs /proc/self/maps") },
    withDir(async (dir) => {
      const a = `${dir}/a map.bin`;
      const b = `${dir}/b.bin`;
      const e = `${dir}/empty`;
      fs.writeFileSync(a, pattern(3 << 20, 7));
      fs.writeFileSync(b, pattern(5000, 8));
      fs.writeFileSync(e, new Uint8Array(0));
      const reader = await makeFfi();
      const fdsBefore = openFds(dir);
      const mapped: MappedFiles = await reader.mapFiles([a, b, e], "loadBatch");
      assert.equal(openFds(dir), fdsBefore); // descriptors closed right after mmap
      assert.equal(mappingsOf(a), 1);
      const va = mapped.get(0);
      assert.deepEqual(va, new Uint8Array(fs.readFileSync(a)));
      assert.deepEqual(mapped.get(1), new Uint8Array(fs.readFileSync(b)));
      assert.equal(mapped.get(2).length, 0);
      assert.equal(mapped.length, 3);
      assert.throws(() => mapped.get(3), RangeError);
      mapped.release();
      assert.equal(mapped.released, true);
      assert.equal(va.length, 0); // detached: a stale view cannot reach the memory
      assert.equal(va[0], undefined);
      assert.throws(
        () => mapped.get(0),
        (err: unknown) => (err as StorageError).code === "ERR_RELEASED",
      );
      assert.equal(mappingsOf(a), 0);
      mapped.release();
      mapped[Symbol.dispose]();
    }),
  );

  it(
    "an error part-way unmaps what was mapped and leaks no descriptor",
    { skip: ffiSkip || (onLinux ? false : "needs /proc") },
    withDir(async (dir) => {
      const a = `${dir}/a.bin`;
      fs.writeFileSync(a, pattern(100_000, 9));
      fs.mkdirSync(`${dir}/d`);
      const reader = await makeFfi();
      const before = openFds(dir);
      await rejectsWith(reader.mapFiles([a, `${dir}/missing`], "load"), NotFoundError, "ENOENT");
      await rejectsWith(reader.mapFiles([a, `${dir}/d`], "load"), IsADirectoryError, "EISDIR");
      await rejectsWith(reader.mapFiles([a, `${dir}/x\0`], "load"), StorageError, "EINVAL");
      assert.equal(mappingsOf(a), 0);
      assert.equal(openFds(dir), before);
    }),
  );
});

describe("leased arenas (leaseFiles)", () => {
  it(
    "views equal the files; release() detaches every view and recycles the arena",
    { skip: ffiSkip },
    withDir(async (dir) => {
      const paths = [0, 1, 5000, 300_000, 64].map((n, i) => {
        const p = `${dir}/lease ${i}.bin`;
        fs.writeFileSync(p, pattern(n, i + 11));
        return p;
      });
      const reader = await makeFfi();
      assert.equal(reader.pooledBytes, 0);
      const lease = await reader.leaseFiles(paths, "loadBatch");
      assert.equal(lease.length, paths.length);
      paths.forEach((p, i) => assert.deepEqual(lease.get(i), new Uint8Array(fs.readFileSync(p))));
      const view = lease.get(3);
      const sub = view.subarray(10, 20);
      const buffer = view.buffer;
      lease.release();
      // Every way the caller could still reach the arena is detached.
      assert.equal(view.length, 0);
      assert.equal(sub.length, 0);
      assert.equal(buffer.byteLength, 0);
      assert.throws(
        () => lease.get(0),
        (e: unknown) => (e as StorageError).code === "ERR_RELEASED",
      );
      lease[Symbol.dispose]();
      const pooled = reader.pooledBytes;
      assert.ok(pooled > 300_000, `pooled ${pooled}`);
      // The next lease takes the pooled arena instead of fresh memory.
      const again = await reader.leaseFiles(paths.slice(2), "loadBatch");
      assert.equal(reader.pooledBytes, 0);
      paths.slice(2).forEach((p, i) => {
        assert.deepEqual(again.get(i), new Uint8Array(fs.readFileSync(p)));
      });
      again.release();
      assert.equal(reader.pooledBytes, pooled);
      reader.trimPool();
      assert.equal(reader.pooledBytes, 0);
    }),
  );

  it(
    "a failing lease hands nothing out, keeps its arena, leaks no descriptor",
    { skip: ffiSkip || (onLinux ? false : "needs /proc") },
    withDir(async (dir) => {
      fs.writeFileSync(`${dir}/ok`, pattern(10_000, 1));
      // One file per chunk: the first chunk is read into an arena before the
      // second one fails.
      const reader = await makeFfi({ poolBytes: 1 << 20, chunkFiles: 1 });
      const before = openFds(dir);
      await rejectsWith(
        reader.leaseFiles([`${dir}/ok`, `${dir}/missing`], "loadBatch"),
        NotFoundError,
        "ENOENT",
      );
      await rejectsWith(
        reader.leaseFiles([`${dir}/ok`, dir], "loadBatch"),
        IsADirectoryError,
        "EISDIR",
      );
      assert.equal(openFds(dir), before);
      // Nothing was handed out, so the first chunk's arena went back to the pool.
      assert.ok(reader.pooledBytes > 0 && reader.pooledBytes <= 1 << 20);
    }),
  );
});
