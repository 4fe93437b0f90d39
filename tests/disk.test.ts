import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as nodePath from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { conformance } from "./conformance.ts";
import { DiskBackend, PureBulkReader, TEMP_PREFIX } from "../backends/disk.ts";
import {
  AlreadyExistsError,
  IsADirectoryError,
  NotFoundError,
  PermissionDeniedError,
  StorageError,
  UnsupportedFormatError,
} from "../errors.ts";
import type { BulkReader } from "../ffi/types.ts";
import { createRegistry } from "../registry/registry.ts";
import { tempPathFor } from "../_internal/atomic_file.ts";
import { hostTag } from "../_internal/liveness.ts";

const repo = nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), "..");
const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
const text = (s: string) => new TextEncoder().encode(s);

async function tempRoot(): Promise<string> {
  return await fsp.mkdtemp(nodePath.join(os.tmpdir(), "hcs-disk-"));
}

/** Runs `fn` with a fresh temp directory, removed afterwards. */
function withDir(fn: (dir: string, disk: DiskBackend) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = await tempRoot();
    try {
      await fn(dir, new DiskBackend());
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  };
}

/** Raw directory entries that are temp files of the disk backend. */
async function temps(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir)).filter((n) => n.startsWith(TEMP_PREFIX));
}

conformance("disk", async () => {
  const root = await tempRoot();
  return {
    backend: new DiskBackend(),
    root,
    teardown: () => fsp.rm(root, { recursive: true, force: true }),
  };
});

describe("disk backend specifics", () => {
  it(
    "permission denied (chmod 000) → PermissionDeniedError on every runtime",
    withDir(async (dir, disk) => {
      const locked = `${dir}/locked`;
      await fsp.mkdir(locked);
      await fsp.writeFile(`${locked}/a.txt`, "secret");
      await fsp.chmod(locked, 0o000);
      try {
        let deniedHere = false;
        try {
          await fsp.readdir(locked);
        } catch {
          deniedHere = true;
        }
        if (deniedHere) {
          await assert.rejects(disk.load(`${locked}/a.txt`), PermissionDeniedError);
          await assert.rejects(disk.loadBatch([`${locked}/a.txt`]), PermissionDeniedError);
          await assert.rejects(disk.listDir(locked), PermissionDeniedError);
          await assert.rejects(disk.listFiles(locked), PermissionDeniedError);
          await assert.rejects(disk.save("x", `${locked}/b.txt`), PermissionDeniedError);
          return;
        }
        // Running as root: chmod denies nothing here, so run the same
        // operations in a child process that has dropped the DAC capabilities (setpriv).
        const getuid = (process as { getuid?: () => number }).getuid;
        if (getuid?.() !== 0 || spawnSync("setpriv", ["--version"]).status !== 0) {
          console.log("permission test skipped: chmod does not deny and setpriv is unavailable");
          return;
        }
        await fsp.chmod(dir, 0o755);
        const probe = nodePath.join(repo, "tests", "fixtures", "disk_permission_probe.ts");
        const runtimeArgs = isDeno ? ["run", "-A", probe, locked] : [probe, locked];
        // Root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH is denied by
        // mode bits like anyone else, yet can still reach the checkout and
        // the runtime binary wherever they are (a 0700 temp dir included).
        const r = spawnSync("setpriv", [
          "--bounding-set=-dac_override,-dac_read_search",
          "--inh-caps=-dac_override,-dac_read_search",
          process.execPath,
          ...runtimeArgs,
        ], { cwd: repo, encoding: "utf8", timeout: 30_000 });
        assert.equal(r.status, 0, `probe failed: ${r.stderr}`);
        const result = JSON.parse(r.stdout.trim().split("\n").pop()!);
        assert.deepEqual(result, {
          load: "PermissionDeniedError",
          loadBatch: "PermissionDeniedError",
          listDir: "PermissionDeniedError",
          listFiles: "PermissionDeniedError",
          save: "PermissionDeniedError",
        });
      } finally {
        await fsp.chmod(locked, 0o755);
      }
    }),
  );

  it(
    "failed saves leave no temp file (bad value, existing target, directory, missing parent)",
    withDir(async (dir, disk) => {
      await disk.save("keep", `${dir}/a.txt`);
      await fsp.mkdir(`${dir}/d`);
      await assert.rejects(disk.save({ x: 1 }, `${dir}/b.xyz`), UnsupportedFormatError);
      await assert.rejects(
        disk.save(undefined as unknown as string, `${dir}/c.txt`),
        TypeError,
      );
      await assert.rejects(disk.save("new", `${dir}/a.txt`), AlreadyExistsError);
      await assert.rejects(disk.save("new", `${dir}/d`, { overwrite: true }), IsADirectoryError);
      await assert.rejects(disk.save("new", `${dir}/missing/x.txt`), NotFoundError);
      await assert.rejects(
        disk.saveBatch(["1", "2"], [`${dir}/n1.txt`, `${dir}/a.txt`]),
        AlreadyExistsError,
      );
      assert.deepEqual(await temps(dir), []);
      assert.deepEqual((await fsp.readdir(dir)).sort(), ["a.txt", "d"]);
      assert.equal(await fsp.readFile(`${dir}/a.txt`, "utf8"), "keep");
    }),
  );

  it(
    "concurrent saves to one new path: exactly one wins, the rest AlreadyExistsError, no temps",
    withDir(async (dir, disk) => {
      const n = 16;
      const results = await Promise.allSettled(
        Array.from({ length: n }, (_, i) => disk.save(`writer ${i}`, `${dir}/race.txt`)),
      );
      const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
      assert.equal(won.length, 1);
      for (const r of results) {
        if (r.status === "rejected") assert.ok(r.reason instanceof AlreadyExistsError);
      }
      assert.equal(await disk.load(`${dir}/race.txt`), `writer ${won[0]}`);
      assert.deepEqual(await fsp.readdir(dir), ["race.txt"]);
    }),
  );

  it(
    "unknown extension → UnsupportedFormatError naming it and the supported ones",
    withDir(async (dir, disk) => {
      await assert.rejects(disk.save({ a: 1 }, `${dir}/v.xyz`), (err: unknown) => {
        assert.ok(err instanceof UnsupportedFormatError);
        assert.match(err.message, /^save '.*v\.xyz': .*\.xyz/);
        assert.match(err.message, /\.json/);
        assert.match(err.message, /\.txt/);
        return true;
      });
      // Raw bytes are written whatever the extension; decoding needs a codec.
      await disk.save(text("raw"), `${dir}/r.xyz`);
      assert.deepEqual(await disk.load(`${dir}/r.xyz`, { as: "bytes" }), text("raw"));
      await assert.rejects(disk.load(`${dir}/r.xyz`), UnsupportedFormatError);
    }),
  );

  it(
    "saveBatch failing while publishing removes the files it already created",
    withDir(async (dir, disk) => {
      // real/a.txt and alias/a.txt are one file under two spellings, so the
      // pre-checks pass and the second publish fails (link: EEXIST) after
      // the first files of the batch were published.
      await fsp.mkdir(`${dir}/real`);
      await fsp.symlink("real", `${dir}/alias`);
      await fsp.mkdir(`${dir}/out`);
      await assert.rejects(
        disk.saveBatch(
          ["1", "2", "3", "4"],
          [`${dir}/out/n1.txt`, `${dir}/real/a.txt`, `${dir}/out/n2.txt`, `${dir}/alias/a.txt`],
        ),
        AlreadyExistsError,
      );
      assert.deepEqual(await fsp.readdir(`${dir}/out`), []);
      assert.deepEqual(await fsp.readdir(`${dir}/real`), []);
    }),
  );

  it(
    "saveBatch with an unencodable value in the middle writes nothing",
    withDir(async (dir, disk) => {
      await assert.rejects(
        disk.saveBatch(["a", { b: 1 }, "c"], [`${dir}/a.txt`, `${dir}/b.xyz`, `${dir}/c.txt`]),
        UnsupportedFormatError,
      );
      assert.deepEqual(await fsp.readdir(dir), []);
    }),
  );

  it(
    "saveBatch with overwrite replaces existing files and creates new ones",
    withDir(async (dir, disk) => {
      await disk.save("old", `${dir}/a.txt`);
      await disk.saveBatch(["A", "B"], [`${dir}/a.txt`, `${dir}/b.txt`], { overwrite: true });
      assert.deepEqual(await disk.loadBatch([`${dir}/a.txt`, `${dir}/b.txt`]), ["A", "B"]);
      assert.deepEqual(await temps(dir), []);
    }),
  );

  it(
    "paths with a NUL byte are rejected before touching the filesystem",
    withDir(async (dir, disk) => {
      const bad = `${dir}/a\0b.txt`;
      const ops: Array<() => Promise<unknown>> = [
        () => disk.save("x", bad),
        () => disk.saveBatch(["x"], [bad]),
        () => disk.load(bad),
        () => disk.loadBatch([`${dir}/ok.txt`, bad]),
        () => disk.listFiles(bad),
        () => disk.listDir(bad),
        () => disk.isFile(bad),
        () => disk.delete(bad),
        () => disk.deleteAll(bad),
        () => disk.ensureDirectory(bad),
        () => disk.createSymlink(bad, `${dir}/l`),
        () => disk.createSymlink(`${dir}`, bad),
        () => disk.move(bad, `${dir}/m`),
        () => disk.copy(`${dir}`, bad),
        () => disk.stat(bad),
      ];
      for (const op of ops) {
        await assert.rejects(op(), (err: unknown) => {
          assert.ok(err instanceof StorageError, String(err));
          assert.equal(err.code, "EINVAL");
          assert.match(err.message, /NUL/);
          return true;
        });
      }
      assert.deepEqual(await fsp.readdir(dir), []);
    }),
  );

  it(
    "listFiles does not scan sibling subtrees: a 10-entry dir in a big tree lists 10",
    withDir(async (dir, disk) => {
      await fsp.mkdir(`${dir}/small`);
      for (let i = 0; i < 10; i++) await fsp.writeFile(`${dir}/small/f${i}.txt`, "x");
      for (let d = 0; d < 20; d++) {
        await fsp.mkdir(`${dir}/big${d}/deep`, { recursive: true });
        await Promise.all(
          Array.from(
            { length: 100 },
            (_, i) => fsp.writeFile(`${dir}/big${d}/deep/g${i}.txt`, "y"),
          ),
        );
      }
      const files = await disk.listFiles(`${dir}/small`, { recursive: true });
      assert.deepEqual(files, Array.from({ length: 10 }, (_, i) => `${dir}/small/f${i}.txt`));
      assert.equal((await disk.listFiles(dir, { recursive: true })).length, 10 + 20 * 100);
    }),
  );

  it(
    "symlink loops do not hang listings; loops are not files that exist",
    withDir(async (dir, disk) => {
      await fsp.mkdir(`${dir}/a/b`, { recursive: true });
      await fsp.writeFile(`${dir}/a/b/x.txt`, "x");
      await fsp.symlink("..", `${dir}/a/b/up`);
      await fsp.symlink(dir, `${dir}/a/root`);
      await fsp.symlink("self", `${dir}/self`);
      await fsp.symlink("p2", `${dir}/p1`);
      await fsp.symlink("p1", `${dir}/p2`);
      assert.deepEqual(await disk.listFiles(dir, { recursive: true }), [
        `${dir}/p1`,
        `${dir}/p2`,
        `${dir}/self`,
        `${dir}/a/b/x.txt`,
      ]);
      assert.equal(await disk.exists(`${dir}/self`), false);
      assert.equal(await disk.exists(`${dir}/p1`), false);
      await assert.rejects(disk.load(`${dir}/p1`), (err: unknown) => {
        assert.ok(err instanceof StorageError);
        assert.equal(err.code, "ELOOP");
        return true;
      });
      assert.deepEqual(await disk.stat(`${dir}/self`), {
        type: "symlink",
        path: `${dir}/self`,
        exists: false,
        target: "self",
      });
    }),
  );

  it(
    "temp files are hidden from listDir and listFiles",
    withDir(async (dir, disk) => {
      await fsp.writeFile(`${dir}/${TEMP_PREFIX}x.txt.1.abcd`, "partial");
      await disk.save("v", `${dir}/x.txt`);
      assert.deepEqual(await disk.listDir(dir), ["x.txt"]);
      assert.deepEqual(await disk.listFiles(dir), [`${dir}/x.txt`]);
    }),
  );

  it(
    "removeStaleTempFiles removes a dead writer's temp at once, keeps live and young ones",
    withDir(async (dir, disk) => {
      // A real process that has exited: its pid is provably dead on this host.
      const gone = spawnSync(process.execPath, isDeno ? ["eval", "0"] : ["-e", "0"]);
      assert.equal(gone.status, 0);
      const dead = tempPathFor(`${dir}/a.txt`).replace(`.${process.pid}.`, `.${gone.pid}.`);
      const live = tempPathFor(`${dir}/b.txt`);
      const unscoped = `${dir}/${TEMP_PREFIX}c.txt.1.abcdef012345`;
      for (const p of [dead, live, unscoped]) await fsp.writeFile(p, "partial");
      const hasScope = hostTag() !== undefined;
      assert.equal(await disk.removeStaleTempFiles(dir), hasScope ? 1 : 0);
      const left = (await temps(dir)).sort();
      const want = [live, unscoped].concat(hasScope ? [] : [dead]);
      assert.deepEqual(left, want.map((p) => nodePath.basename(p)).sort());
      // Old enough, whoever wrote them: gone.
      const old = new Date(Date.now() - 7_200_000);
      for (const p of want) await fsp.utimes(p, old, old);
      assert.equal(await disk.removeStaleTempFiles(dir), want.length);
      assert.deepEqual(await temps(dir), []);
    }),
  );

  it(
    "overwrite through a symlink path replaces the link, not its target",
    withDir(async (dir, disk) => {
      await disk.save("target", `${dir}/t.txt`);
      await disk.createSymlink("t.txt", `${dir}/l.txt`);
      await assert.rejects(disk.save("new", `${dir}/l.txt`), AlreadyExistsError);
      await disk.save("new", `${dir}/l.txt`, { overwrite: true });
      assert.equal(await disk.isSymlink(`${dir}/l.txt`), false);
      assert.equal(await disk.load(`${dir}/l.txt`), "new");
      assert.equal(await disk.load(`${dir}/t.txt`), "target");
    }),
  );

  it(
    "overwrite keeps the replaced file's permission bits",
    withDir(async (dir, disk) => {
      await disk.save("old", `${dir}/a.txt`);
      await fsp.chmod(`${dir}/a.txt`, 0o640);
      await disk.save("new", `${dir}/a.txt`, { overwrite: true });
      assert.equal((await fsp.stat(`${dir}/a.txt`)).mode & 0o777, 0o640);
    }),
  );

  it(
    "move and copy refuse a directory into itself; copy keeps links inside a tree as links",
    withDir(async (dir, disk) => {
      await disk.ensureDirectory(`${dir}/src/sub`);
      await disk.save("x", `${dir}/src/sub/x.txt`);
      await disk.createSymlink("sub/x.txt", `${dir}/src/rel-link`);
      await assert.rejects(disk.move(`${dir}/src`, `${dir}/src/sub/in`), /into itself/);
      await assert.rejects(disk.copy(`${dir}/src`, `${dir}/src/sub/in`), /into itself/);
      assert.deepEqual(await disk.listDir(`${dir}/src/sub`), ["x.txt"]);
      await disk.copy(`${dir}/src`, `${dir}/dst`);
      assert.equal(await disk.isSymlink(`${dir}/dst/rel-link`), true);
      assert.equal((await disk.stat(`${dir}/dst/rel-link`)).target, "sub/x.txt");
      assert.deepEqual(await disk.load(`${dir}/dst/rel-link`, { as: "bytes" }), text("x"));
      // A symlink given as src is followed.
      await disk.copy(`${dir}/src/rel-link`, `${dir}/copied.txt`);
      assert.equal(await disk.isSymlink(`${dir}/copied.txt`), false);
      assert.equal(await disk.load(`${dir}/copied.txt`), "x");
      assert.deepEqual(await temps(dir), []);
    }),
  );

  it(
    "move across filesystems (EXDEV) copies then deletes: files, trees and symlinks",
    withDir(async (dir, disk) => {
      // /dev/shm is a tmpfs on Linux; Deno needs --allow-all to touch /dev.
      let other: string | undefined;
      let why = "/dev/shm is on the same filesystem";
      try {
        const shm = await fsp.stat("/dev/shm");
        if (shm.isDirectory() && shm.dev !== (await fsp.stat(dir)).dev) {
          other = await fsp.mkdtemp("/dev/shm/hcs-disk-");
        }
      } catch (err) {
        why = String(err).split("\n")[0]!;
      }
      if (other === undefined) {
        console.log(`EXDEV move test skipped: ${why}`);
        return;
      }
      try {
        await disk.save("f", `${dir}/f.txt`);
        await disk.ensureDirectory(`${dir}/tree/sub`);
        await disk.save("t", `${dir}/tree/sub/t.txt`);
        await disk.createSymlink("sub/t.txt", `${dir}/tree/link`);
        await disk.createSymlink("f.txt", `${dir}/lf`);
        await disk.move(`${dir}/f.txt`, `${other}/f.txt`);
        await disk.move(`${dir}/tree`, `${other}/tree`);
        await disk.move(`${dir}/lf`, `${other}/lf`);
        assert.deepEqual(await disk.listDir(dir), []);
        assert.equal(await disk.load(`${other}/f.txt`), "f");
        assert.equal(await disk.load(`${other}/tree/sub/t.txt`), "t");
        assert.equal((await disk.stat(`${other}/tree/link`)).target, "sub/t.txt");
        assert.deepEqual(await disk.load(`${other}/tree/link`, { as: "bytes" }), text("t"));
        assert.equal((await disk.stat(`${other}/lf`)).target, "f.txt");
        await disk.save("x", `${dir}/x.txt`);
        await assert.rejects(disk.move(`${dir}/x.txt`, `${other}/f.txt`), AlreadyExistsError);
        assert.equal(await disk.load(`${dir}/x.txt`), "x");
        assert.deepEqual(await temps(other), []);
      } finally {
        await fsp.rm(other, { recursive: true, force: true });
      }
    }),
  );

  it(
    "load and loadBatch read through the injected BulkReader (one call per batch)",
    withDir(async (dir) => {
      const calls: Array<{ paths: readonly string[]; operation: string }> = [];
      const pure = new PureBulkReader();
      const reader: BulkReader = {
        implementation: "test-reader",
        readFiles(paths, operation) {
          calls.push({ paths, operation });
          return pure.readFiles(paths, operation);
        },
      };
      const disk = new DiskBackend({ reader, implementationReason: "injected by the test" });
      assert.equal(disk.implementation, "test-reader");
      assert.equal(disk.implementationReason, "injected by the test");
      await disk.saveBatch(["a", { b: 2 }], [`${dir}/a.txt`, `${dir}/b.json`]);
      assert.deepEqual(await disk.loadBatch([`${dir}/a.txt`, `${dir}/b.json`]), ["a", { b: 2 }]);
      assert.deepEqual(await disk.load(`${dir}/a.txt`, { as: "bytes" }), text("a"));
      assert.deepEqual(calls, [
        { paths: [`${dir}/a.txt`, `${dir}/b.json`], operation: "loadBatch" },
        { paths: [`${dir}/a.txt`], operation: "load" },
      ]);
      const plain = new DiskBackend();
      assert.equal(plain.implementation, "pure");
      assert.equal(plain.implementationReason, undefined);
    }),
  );

  it(
    "loadBatch as bytes returns plain Uint8Arrays in request order",
    withDir(async (dir, disk) => {
      const names = Array.from({ length: 100 }, (_, i) => `${dir}/f${i}.bin`);
      await disk.saveBatch(names.map((_, i) => new Uint8Array([i, i + 1])), names);
      const got = await disk.loadBatch<Uint8Array>([...names].reverse(), { as: "bytes" });
      got.forEach((b, j) => {
        const i = 99 - j;
        assert.equal(Object.getPrototypeOf(b), Uint8Array.prototype);
        assert.deepEqual(b, new Uint8Array([i, i + 1]));
      });
    }),
  );

  it("the registry's disk entry loads a DiskBackend", async () => {
    const reg = createRegistry();
    const disk = await reg.getBackend("DISK");
    assert.ok(disk instanceof DiskBackend);
    assert.equal(disk.key, "disk");
  });
});
