// The S3 backend's contract, against a real Ceph RADOS Gateway started by
// scripts/s3/start.sh (tests/_s3.ts). Each test gets its own bucket.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { describePeer } from "./_peers.ts";
import {
  AlreadyExistsError,
  DirectoryNotEmptyError,
  IsADirectoryError,
  LimitExceededError,
  NotADirectoryError,
  NotFoundError,
  PermissionDeniedError,
  StorageError,
  UnsupportedOperationError,
} from "../errors.ts";
import { S3Backend } from "../backends/s3.ts";
import type { NdArray } from "../backends/base.ts";
import { bucketName, gateway, rawClient, s3Backend, s3Skip } from "./_s3.ts";

const enc = new TextEncoder();
const arr = (): NdArray<Uint16Array> => ({
  data: Uint16Array.from([1, 2, 3, 4, 5, 65535]),
  shape: [2, 3],
  stride: [3, 1],
});

async function rejects(
  p: Promise<unknown>,
  cls: abstract new (...a: never[]) => Error,
  path?: string,
) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${(err as Error)?.name}: ${err}`);
    if (path !== undefined) {
      assert.ok((err as Error).message.includes(path), (err as Error).message);
    }
    return true;
  });
}

/** A fresh bucket with the backend. */
async function fresh(extra: Parameters<typeof s3Backend>[0] = {}) {
  const s3 = s3Backend(extra);
  const b = `/${bucketName()}`;
  await s3.ensureDirectory(b);
  return { s3, b };
}

/** Counts requests and lets a test fail chosen ones. */
function spyFetch(fail?: (method: string, url: URL) => Response | undefined) {
  const seen: { method: string; url: URL }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const f: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const method = init?.method ?? "GET";
    seen.push({ method, url });
    const canned = fail?.(method, url);
    if (canned) return canned;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      return await fetch(input, init);
    } finally {
      inFlight--;
    }
  };
  return { fetch: f, seen, max: () => maxInFlight };
}

describePeer(s3Skip)("s3 backend", () => {
  it("declares its contract: key, no filesystem validation, capabilities", () => {
    const s3 = s3Backend();
    assert.equal(s3.key, "s3");
    assert.equal(s3.requiresFilesystemValidation, false);
    assert.deepEqual(s3.capabilities, {
      read: true,
      write: true,
      list: true,
      rangeRead: true,
      atomicCreate: true,
      compareAndSwap: true,
      crossProcessLock: false,
    });
  });

  describe("save and load", () => {
    it("round-trips bytes, text, JSON, arrays (npy, tiff) and as: bytes", async () => {
      const { s3, b } = await fresh();
      await s3.save(Uint8Array.of(0, 1, 255), `${b}/raw.bin`);
      await s3.save("héllo", `${b}/t.txt`);
      await s3.save({ a: [1, "x", null] }, `${b}/m.json`);
      await s3.save(arr(), `${b}/a.npy`);
      await s3.save(arr(), `${b}/a.tif`);
      assert.deepEqual(await s3.load(`${b}/raw.bin`, { as: "bytes" }), Uint8Array.of(0, 1, 255));
      assert.equal(await s3.load(`${b}/t.txt`), "héllo");
      assert.deepEqual(await s3.load(`${b}/m.json`), { a: [1, "x", null] });
      for (const f of ["a.npy", "a.tif"]) {
        const v = await s3.load<NdArray>(`${b}/${f}`);
        assert.deepEqual([...v.data], [...arr().data], f);
        assert.deepEqual(v.shape, [2, 3]);
      }
      assert.deepEqual(await s3.load(`${b}/t.txt`, { as: "bytes" }), enc.encode("héllo"));
    });

    it("keys with spaces, Unicode, + % & ? # ( ) * ' ! round-trip and list exactly", async () => {
      const { s3, b } = await fresh();
      const name = "a b+c%20d&e?f#g(h)*i'j!ü.txt";
      await s3.save("x", `${b}/${name}`);
      assert.equal(await s3.load(`${b}/${name}`), "x");
      assert.deepEqual(await s3.listDir(b), [name]);
      await rejects(s3.load(`${b}/a b+c d&e?f#g(h)*i'j!ü.txt`), NotFoundError);
    });

    it("never replaces silently: AlreadyExistsError, old value kept; overwrite replaces", async () => {
      const { s3, b } = await fresh();
      await s3.save("old", `${b}/x.txt`);
      await rejects(s3.save("new", `${b}/x.txt`), AlreadyExistsError, `${b}/x.txt`);
      assert.equal(await s3.load(`${b}/x.txt`), "old");
      await s3.save("new", `${b}/x.txt`, { overwrite: true });
      assert.equal(await s3.load(`${b}/x.txt`), "new");
    });

    it("create-only is atomic: of 8 racing saves exactly one wins", async () => {
      const { s3, b } = await fresh();
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => s3.save(`v${i}`, `${b}/race.txt`)),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
      for (const r of results) {
        if (r.status === "rejected") {
          assert.ok(r.reason instanceof AlreadyExistsError, String(r.reason));
        }
      }
      const winner = results.findIndex((r) => r.status === "fulfilled");
      assert.equal(await s3.load(`${b}/race.txt`), `v${winner}`);
    });

    it("overwrite does not replace a directory; missing parent / file parent are refused", async () => {
      const { s3, b } = await fresh();
      await s3.ensureDirectory(`${b}/d`);
      await rejects(s3.save("x", `${b}/d`, { overwrite: true }), IsADirectoryError);
      await rejects(s3.save("x", `${b}/nope/x.txt`), NotFoundError, `${b}/nope/x.txt`);
      assert.equal(await s3.exists(`${b}/nope`), false);
      await s3.save("f", `${b}/f`);
      await rejects(s3.save("x", `${b}/f/x.txt`), NotADirectoryError);
      await rejects(s3.save("x", `/${bucketName()}/x.txt`), NotFoundError);
    });

    it("an object over maxDecodedBytes is refused from its Content-Length, before its body", async () => {
      const { s3, b } = await fresh();
      await s3.save(new Uint8Array(5000), `${b}/big.bin`);
      const small = s3Backend({ maxDecodedBytes: 4096 });
      await rejects(
        small.load(`${b}/big.bin`, { as: "bytes" }),
        LimitExceededError,
        `${b}/big.bin`,
      );
      assert.equal((await s3.load<Uint8Array>(`${b}/big.bin`, { as: "bytes" })).length, 5000);
    });

    it("load errors: missing → NotFound, directory → IsADirectory, below a file → NotADirectory", async () => {
      const { s3, b } = await fresh();
      await s3.ensureDirectory(`${b}/d`);
      await s3.save("f", `${b}/f.txt`);
      await rejects(s3.load(`${b}/missing.txt`), NotFoundError, `${b}/missing.txt`);
      await rejects(s3.load(`${b}/d`), IsADirectoryError);
      await rejects(s3.load(b), IsADirectoryError);
      await rejects(s3.load(`${b}/f.txt/x`), NotADirectoryError);
      await rejects(s3.load("/Not_A_Bucket/x"), StorageError);
    });
  });

  describe("batches", () => {
    it("saveBatch/loadBatch keep order; loadBatch concurrency is bounded", async () => {
      const spy = spyFetch();
      const { s3, b } = await fresh({ fetch: spy.fetch, concurrency: 4 });
      const paths = Array.from({ length: 40 }, (_, i) => `${b}/f${i}.json`);
      await s3.saveBatch(paths.map((_, i) => ({ i })), paths);
      const got = await s3.loadBatch<{ i: number }>(paths);
      assert.deepEqual(got.map((g) => g.i), paths.map((_, i) => i));
      assert.ok(spy.max() <= 4, `max in flight ${spy.max()}`);
      assert.ok(spy.max() >= 2, `batches ran one by one (${spy.max()})`);
    });

    it("refuses before writing: lengths, duplicates, an existing target, a missing parent", async () => {
      const { s3, b } = await fresh();
      await assert.rejects(s3.saveBatch(["a"], [`${b}/a.txt`, `${b}/b.txt`]), RangeError);
      await rejects(s3.saveBatch(["a", "b"], [`${b}/a.txt`, `${b}//a.txt`]), AlreadyExistsError);
      await s3.save("keep", `${b}/c.txt`);
      await rejects(s3.saveBatch(["1", "2"], [`${b}/new.txt`, `${b}/c.txt`]), AlreadyExistsError);
      await rejects(s3.saveBatch(["1", "2"], [`${b}/new.txt`, `${b}/no/x.txt`]), NotFoundError);
      assert.deepEqual(await s3.listDir(b), ["c.txt"]);
      await s3.saveBatch(["1", "2"], [`${b}/new.txt`, `${b}/c.txt`], { overwrite: true });
      assert.deepEqual(await s3.loadBatch([`${b}/new.txt`, `${b}/c.txt`]), ["1", "2"]);
      assert.deepEqual(await s3.loadBatch([]), []);
      await s3.saveBatch([], []);
    });

    it("a write failing mid-batch removes what the batch created", async () => {
      const bucket = bucketName();
      const spy = spyFetch((method, url) =>
        method === "PUT" && url.pathname.endsWith("/f7.txt")
          ? new Response("<Error><Code>InvalidRequest</Code></Error>", { status: 400 })
          : undefined
      );
      const s3 = s3Backend({ fetch: spy.fetch, concurrency: 3 });
      await s3.ensureDirectory(`/${bucket}`);
      await s3.save("old", `/${bucket}/f3.txt`);
      const paths = Array.from({ length: 12 }, (_, i) => `/${bucket}/f${i}.txt`);
      await rejects(
        s3.saveBatch(paths.map((_, i) => `v${i}`), paths, { overwrite: true }),
        StorageError,
        "f7.txt",
      );
      assert.ok(spy.seen.filter((r) => r.method === "PUT").length > 2, "some writes happened");
      // only the object that existed before (overwritten) remains
      assert.deepEqual(await s3.listDir(`/${bucket}`), ["f3.txt"]);
      await rejects(s3.loadBatch([`/${bucket}/f0.txt`]), NotFoundError);
    });
  });

  describe("multipart", () => {
    it("uploads large objects in parts (bounded), readable whole and by range", async () => {
      const { s3, b } = await fresh({ multipartThreshold: 5 * 2 ** 20, partSize: 5 * 2 ** 20 });
      const big = new Uint8Array(12 * 2 ** 20 + 123);
      for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
      big[big.length - 1] = 7;
      await s3.save(big, `${b}/big.bin`);
      const back = await s3.load<Uint8Array>(`${b}/big.bin`, { as: "bytes" });
      assert.equal(back.length, big.length);
      assert.deepEqual(back, big);
      const v = await s3.loadVersioned(`${b}/big.bin`);
      assert.match(v!.version, /-3"?$/, "a three-part multipart ETag");
      const r = await s3.loadRange(`${b}/big.bin`, 5 * 2 ** 20 - 2, 4);
      assert.deepEqual(r, big.subarray(5 * 2 ** 20 - 2, 5 * 2 ** 20 + 2));
      assert.equal((await s3.stat(`${b}/big.bin`)).size, big.length);
      await rejects(s3.save(big, `${b}/big.bin`), AlreadyExistsError);
    });

    it("a failed multipart upload is aborted: no upload left (ListMultipartUploads)", async () => {
      let parts = 0;
      const spy = spyFetch((method, url) => {
        if (method === "PUT" && url.searchParams.has("uploadId") && ++parts === 2) {
          return new Response("<Error><Code>InvalidRequest</Code></Error>", { status: 400 });
        }
        return undefined;
      });
      const { s3, b } = await fresh({
        fetch: spy.fetch,
        multipartThreshold: 5 * 2 ** 20,
        partSize: 5 * 2 ** 20,
        partConcurrency: 1,
      });
      await rejects(s3.save(new Uint8Array(11 * 2 ** 20), `${b}/big.bin`), StorageError);
      assert.ok(spy.seen.some((r) => r.method === "DELETE" && r.url.searchParams.has("uploadId")));
      const plain = s3Backend();
      const r = await rawClient().send("test", b, {
        method: "GET",
        bucket: b.slice(1),
        query: { uploads: "" },
      });
      const xml = new TextDecoder().decode(r.body);
      assert.match(xml, /ListMultipartUploadsResult/);
      assert.doesNotMatch(xml, /<Upload>/, xml);
      assert.equal(await plain.exists(`${b}/big.bin`), false);
    });
  });

  describe("directories and listings", () => {
    it("ensureDirectory creates the bucket and dir/ markers; idempotent; empty dirs exist", async () => {
      const s3 = s3Backend();
      const b = `/${bucketName()}`;
      assert.equal(await s3.exists(b), false);
      await s3.ensureDirectory(`${b}/x/y/z`);
      await s3.ensureDirectory(`${b}/x/y/z`);
      assert.equal(await s3.isDir(b), true);
      assert.equal(await s3.isDir(`${b}/x/y/z`), true);
      assert.deepEqual(await s3.listDir(`${b}/x/y/z`), []);
      assert.deepEqual(await s3.listDir(`${b}/x`), ["y"]);
      await s3.delete(`${b}/x/y/z`);
      assert.equal(await s3.isDir(`${b}/x/y`), true, "parents keep their own markers");
      await s3.save("f", `${b}/x/file`);
      await rejects(s3.ensureDirectory(`${b}/x/file/sub`), NotADirectoryError);
      assert.ok((await s3.listDir("/")).includes(b.slice(1)), "buckets are the root's entries");
    });

    it("lists more than 1000 keys (continuation), natural order, filters, breadth-first", async () => {
      const { s3, b } = await fresh();
      const names = Array.from({ length: 1105 }, (_, i) => `img${i}.txt`);
      await s3.saveBatch(names.map(() => "x"), names.map((n) => `${b}/${n}`));
      await s3.ensureDirectory(`${b}/sub/deeper`);
      await s3.saveBatch(["1", "2", "3"], [
        `${b}/sub/b10.csv`,
        `${b}/sub/b9.CSV`,
        `${b}/sub/._b.csv`,
      ]);
      await s3.save("x", `${b}/sub/deeper/z.txt`);
      const top = await s3.listFiles(b);
      assert.equal(top.length, 1105);
      assert.deepEqual(top.slice(0, 3), [`${b}/img0.txt`, `${b}/img1.txt`, `${b}/img2.txt`]);
      assert.equal(top[10], `${b}/img10.txt`);
      const dir = await s3.listDir(b);
      assert.equal(dir.length, 1106);
      assert.ok(dir.includes("sub"));
      const all = await s3.listFiles(b, { recursive: true });
      assert.equal(all.length, 1105 + 3);
      assert.deepEqual(all.slice(1105), [
        `${b}/sub/b9.CSV`,
        `${b}/sub/b10.csv`,
        `${b}/sub/deeper/z.txt`,
      ]);
      assert.deepEqual(await s3.listFiles(`${b}/sub`, { extensions: ["csv"] }), [
        `${b}/sub/b9.CSV`,
        `${b}/sub/b10.csv`,
      ]);
      assert.deepEqual(await s3.listFiles(b, { pattern: "img11?.txt" }), [
        ...Array.from({ length: 10 }, (_, i) => `${b}/img11${i}.txt`),
      ]);
      await rejects(s3.listFiles(`${b}/none`), NotFoundError);
      await rejects(s3.listFiles(`${b}/img1.txt`), NotADirectoryError);
      await rejects(s3.listDir(`${b}/img1.txt`), NotADirectoryError);
      // deleteAll batches DeleteObjects (1000 per request) and removes the bucket
      const spy = spyFetch();
      await s3Backend({ fetch: spy.fetch }).deleteAll(b);
      assert.equal(await s3.exists(b), false);
      const batches = spy.seen.filter((r) =>
        r.method === "POST" && r.url.searchParams.has("delete")
      );
      assert.equal(batches.length, 2, "1110 keys → two DeleteObjects requests");
    });

    it("isFile/isDir/exists/stat on files, prefixes, buckets and missing paths", async () => {
      const { s3, b } = await fresh();
      await s3.save(Uint8Array.of(1, 2, 3), `${b}/f.bin`);
      await s3.ensureDirectory(`${b}/d`);
      assert.equal(await s3.isFile(`${b}/f.bin`), true);
      assert.equal(await s3.isDir(`${b}/d`), true);
      await rejects(s3.isFile(`${b}/d`), IsADirectoryError);
      await rejects(s3.isDir(`${b}/f.bin`), NotADirectoryError);
      await rejects(s3.isFile(`${b}/m`), NotFoundError);
      await rejects(s3.isDir(`${b}/m`), NotFoundError);
      assert.equal(await s3.exists(`${b}/m`), false);
      assert.equal(await s3.exists(`${b}/d`), true);
      assert.deepEqual(await s3.stat(`${b}/f.bin`), {
        type: "file",
        path: `${b}/f.bin`,
        exists: true,
        size: 3,
      });
      assert.equal((await s3.stat(`${b}/d`)).type, "directory");
      assert.equal((await s3.stat(b)).type, "directory");
      assert.equal((await s3.stat(`${b}/m`)).type, "missing");
    });

    it("symlinks do not exist: createSymlink is unsupported, isSymlink false", async () => {
      const { s3, b } = await fresh();
      await s3.save("x", `${b}/a.txt`);
      await rejects(s3.createSymlink(`${b}/a.txt`, `${b}/l`), UnsupportedOperationError);
      assert.equal(await s3.isSymlink(`${b}/a.txt`), false);
      assert.equal(await s3.exists(`${b}/l`), false);
    });
  });

  describe("delete, move, copy", () => {
    it("delete: file, empty dir; non-empty dir and bucket → DirectoryNotEmpty; missing → NotFound", async () => {
      const { s3, b } = await fresh();
      await s3.ensureDirectory(`${b}/d/e`);
      await s3.save("x", `${b}/d/x.txt`);
      await rejects(s3.delete(`${b}/d`), DirectoryNotEmptyError);
      await rejects(s3.delete(b), DirectoryNotEmptyError);
      assert.equal(await s3.load(`${b}/d/x.txt`), "x");
      await s3.delete(`${b}/d/x.txt`);
      await s3.delete(`${b}/d/e`);
      await s3.delete(`${b}/d`);
      await rejects(s3.delete(`${b}/d`), NotFoundError);
      await s3.delete(b);
      assert.equal(await s3.exists(b), false);
      await rejects(s3.deleteAll(`${b}`), NotFoundError);
    });

    it("move/copy files and trees server-side; existing destination and self-nesting refused", async () => {
      const { s3, b } = await fresh();
      await s3.ensureDirectory(`${b}/src/sub`);
      await s3.saveBatch(["1", "2"], [`${b}/src/a.txt`, `${b}/src/sub/b.txt`]);
      await s3.copy(`${b}/src`, `${b}/cp`);
      assert.deepEqual(await s3.listFiles(`${b}/cp`, { recursive: true }), [
        `${b}/cp/a.txt`,
        `${b}/cp/sub/b.txt`,
      ]);
      await rejects(s3.copy(`${b}/src`, `${b}/cp`), AlreadyExistsError);
      await rejects(s3.move(`${b}/src/a.txt`, `${b}/cp/a.txt`), AlreadyExistsError);
      await rejects(s3.copy(`${b}/src`, `${b}/src/sub/inner`), StorageError);
      await rejects(s3.copy(`${b}/nothing`, `${b}/x`), NotFoundError);
      await s3.move(`${b}/src`, `${b}/mv`);
      assert.equal(await s3.exists(`${b}/src`), false);
      assert.equal(await s3.load(`${b}/mv/sub/b.txt`), "2");
      const other = `/${bucketName()}`;
      await s3.ensureDirectory(other);
      await s3.move(`${b}/mv/a.txt`, `${other}/a.txt`);
      assert.equal(await s3.load(`${other}/a.txt`), "1");
      assert.equal(await s3.exists(`${b}/mv/a.txt`), false);
    });
  });

  describe("ranges and compare-and-swap", () => {
    it("loadRange: inside, across the end, past the end, length 0", async () => {
      const { s3, b } = await fresh();
      const data = Uint8Array.from({ length: 100 }, (_, i) => i);
      await s3.save(data, `${b}/r.bin`);
      assert.deepEqual(await s3.loadRange(`${b}/r.bin`, 10, 5), data.subarray(10, 15));
      assert.deepEqual(await s3.loadRange(`${b}/r.bin`, 95, 50), data.subarray(95));
      assert.deepEqual(await s3.loadRange(`${b}/r.bin`, 100, 5), new Uint8Array(0));
      assert.deepEqual(await s3.loadRange(`${b}/r.bin`, 3, 0), new Uint8Array(0));
      await rejects(s3.loadRange(`${b}/none.bin`, 0, 5), NotFoundError);
    });

    it("saveIfVersion: null creates only if absent; ETag (unquoted If-Match) swaps; stale → false", async () => {
      const { s3, b } = await fresh();
      const p = `${b}/meta.json`;
      assert.equal(await s3.loadVersioned(p), undefined);
      const v1 = await s3.saveIfVersion(enc.encode("1"), p, null);
      assert.equal(typeof v1, "string");
      assert.equal(await s3.saveIfVersion(enc.encode("x"), p, null), false);
      const cur = await s3.loadVersioned(p);
      assert.equal(cur!.version, v1);
      const v2 = await s3.saveIfVersion(enc.encode("2"), p, cur!.version);
      assert.ok(v2 && v2 !== v1);
      assert.equal(await s3.saveIfVersion(enc.encode("3"), p, v1 as string), false);
      assert.equal(await s3.load(p), 2);
    });

    it("CAS counter: 6 concurrent writers × 5 increments lose no update", async () => {
      const { b } = await fresh();
      const p = `${b}/counter.json`;
      const writer = async () => {
        const s3 = s3Backend();
        for (let i = 0; i < 5; i++) {
          for (;;) {
            const cur = await s3.loadVersioned(p);
            const n = cur ? Number(new TextDecoder().decode(cur.bytes)) : 0;
            const ok = await s3.saveIfVersion(enc.encode(String(n + 1)), p, cur?.version ?? null);
            if (ok !== false) break;
          }
        }
      };
      await Promise.all(Array.from({ length: 6 }, writer));
      assert.equal(await s3Backend().load(p), 30);
    });
  });

  describe("errors, credentials, configuration", () => {
    it("a wrong secret → PermissionDeniedError; an invalid bucket name → EINVAL; abort → ABORT_ERR", async () => {
      const { b } = await fresh();
      const bad = s3Backend({
        credentials: { accessKeyId: "HCSSTORETESTKEY00001", secretAccessKey: "wrong" },
      });
      await rejects(bad.load(`${b}/x.txt`), PermissionDeniedError);
      const s3 = s3Backend();
      await assert.rejects(
        s3.load("/Bad_Bucket/x.txt"),
        (e: unknown) => e instanceof StorageError && e.code === "EINVAL",
      );
      const ctl = new AbortController();
      ctl.abort();
      await assert.rejects(
        s3.load(`${b}/x.txt`, { signal: ctl.signal }),
        (e: unknown) => e instanceof StorageError && e.code === "ABORT_ERR",
      );
    });

    it("an abort in the middle of a loadBatch stops it: ABORT_ERR, no more requests", async () => {
      const { s3, b } = await fresh();
      const paths = Array.from({ length: 60 }, (_, i) => `${b}/o${i}.txt`);
      await s3.saveBatch(paths.map(String), paths);
      const ctl = new AbortController();
      let gets = 0;
      const spy = spyFetch((method) => {
        if (method === "GET" && ++gets === 5) ctl.abort(new Error("user gave up"));
        return undefined;
      });
      const reader = s3Backend({ fetch: spy.fetch, concurrency: 2 });
      await assert.rejects(
        reader.loadBatch(paths, { signal: ctl.signal }),
        (e: unknown) => e instanceof StorageError && e.code === "ABORT_ERR",
      );
      const sent = spy.seen.length;
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(spy.seen.length, sent, "no request after the abort settled");
      assert.ok(sent < 10, `${sent} requests for an abort after the 5th`);
    });

    it("getBackend('s3') configures from the environment; missing settings name the variables", async () => {
      const { createRegistry } = await import("../registry/registry.ts");
      const names = [
        "S3_ENDPOINT",
        "S3_REGION",
        "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY",
        "S3_FORCE_PATH_STYLE",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
      ];
      const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]));
      try {
        for (const n of names) delete process.env[n];
        await assert.rejects(createRegistry().getBackend("s3"), (e: unknown) => {
          assert.ok(e instanceof StorageError);
          for (
            const v of [
              "S3_ENDPOINT",
              "AWS_ENDPOINT_URL_S3",
              "S3_ACCESS_KEY_ID",
              "AWS_SECRET_ACCESS_KEY",
            ]
          ) {
            assert.ok(e.message.includes(v), e.message);
          }
          return true;
        });
        const g = gateway as Exclude<typeof gateway, string>;
        process.env.AWS_ENDPOINT_URL_S3 = g.env.S3_ENDPOINT!;
        process.env.AWS_REGION = "us-east-1";
        process.env.AWS_ACCESS_KEY_ID = g.env.S3_ACCESS_KEY_ID!;
        process.env.AWS_SECRET_ACCESS_KEY = g.env.S3_SECRET_ACCESS_KEY!;
        const s3 = await createRegistry().getBackend("s3");
        assert.ok(s3 instanceof S3Backend);
        const b = `/${bucketName()}`;
        await s3.ensureDirectory(b);
        await s3.save("env", `${b}/e.txt`);
        assert.equal(await s3Backend().load(`${b}/e.txt`), "env");
      } finally {
        for (const n of names) {
          if (saved[n] === undefined) delete process.env[n];
          else process.env[n] = saved[n];
        }
      }
    });
  });
});

describePeer(s3Skip)("s3 rooted at one bucket", () => {
  it("with the bucket option, paths are /<key> inside that bucket", async () => {
    const bucket = bucketName("root");
    await s3Backend().ensureDirectory(`/${bucket}`);
    const rooted = s3Backend({ bucket });
    await rooted.ensureDirectory("/d");
    await rooted.save("x", "/d/a.txt");
    assert.deepEqual(await rooted.listDir("/"), ["d"]);
    assert.deepEqual(await rooted.listFiles("/", { recursive: true }), ["/d/a.txt"]);
    assert.equal(await s3Backend().load(`/${bucket}/d/a.txt`), "x");
  });
});
