/**
 * Bytes that do not escape (`cp`, `hash`, `convert` reads) read through
 * leased arenas: the same results as the loadBatch path, leases released
 * also when the consumer throws (views detached), and never more than two
 * batches held whatever the number of files.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import { spawnSync } from "node:child_process";
import { batchesBySize, type ByteSource, forEachFileBytes } from "../_internal/leased_bytes.ts";
import type { MappedFiles } from "../ffi/types.ts";
import { FileManager } from "../file_manager.ts";
import { createRegistry } from "../registry/registry.ts";
import { DiskBackend } from "../backends/disk.ts";
import { createBulkReader, NativeReader, PureReader } from "../ffi/mod.ts";
import { runtime } from "../registry/runtime.ts";
import { UnsupportedOperationError } from "../errors.ts";
import { main } from "../cli/mod.ts";
import { defaultRegistry } from "../cli/_shared.ts";

const choice = await createBulkReader(runtime());
const ffiReader = choice.reader instanceof NativeReader ? choice.reader : undefined;
const ffiSkip: string | false = ffiReader ? false : `no FFI reader: ${choice.implementation}`;

function files(n: number, size: (i: number) => number): Map<string, Uint8Array> {
  const m = new Map<string, Uint8Array>();
  for (let i = 0; i < n; i++) {
    m.set(`/f${i}`, new Uint8Array(size(i)).map((_, k) => (k * 31 + i) & 255));
  }
  return m;
}

/** A source with leaseFiles that counts the bytes it has leased out and not got back. */
function leasingSource(data: Map<string, Uint8Array>) {
  const state = { held: 0, maxHeld: 0, leases: 0, released: 0, views: [] as Uint8Array[] };
  const source: ByteSource = {
    stat: (p) => Promise.resolve({ size: data.get(p)?.length }),
    loadBatch: (paths) => Promise.resolve(paths.map((p) => data.get(p)!.slice())),
    leaseFiles(paths): Promise<MappedFiles> {
      const bytes = paths.map((p) => data.get(p)!.slice());
      const total = bytes.reduce((a, b) => a + b.length, 0);
      state.held += total;
      state.maxHeld = Math.max(state.maxHeld, state.held);
      state.leases++;
      let released = false;
      const lease: MappedFiles = {
        paths,
        length: paths.length,
        get released() {
          return released;
        },
        get(i) {
          if (released) throw new Error("get after release");
          state.views.push(bytes[i]!);
          return bytes[i]!;
        },
        release() {
          if (released) return;
          released = true;
          state.held -= total;
          state.released++;
          // Like the FFI arenas: views read as empty afterwards.
          for (let k = 0; k < bytes.length; k++) bytes[k] = new Uint8Array(0);
        },
        [Symbol.dispose]() {
          lease.release();
        },
      };
      return Promise.resolve(lease);
    },
  };
  return { source, state };
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("forEachFileBytes: leased batches", () => {
  it("batchesBySize groups in order, a file above the limit alone", () => {
    assert.deepEqual(batchesBySize([3, 3, 3, 10, 1], 6), [[0, 1], [2], [3], [4]]);
    assert.deepEqual(batchesBySize([], 6), []);
  });

  it("gives every file's bytes, the same with and without leases", async () => {
    const data = files(40, (i) => 1000 + i * 97);
    const { source, state } = leasingSource(data);
    const paths = [...data.keys()];
    const leased = new Array<string>(paths.length);
    const plain = new Array<string>(paths.length);
    await forEachFileBytes(source, paths, (b, p, i) => {
      assert.equal(p, paths[i]);
      leased[i] = sha(b);
      return Promise.resolve();
    }, { batchBytes: 10_000 });
    await forEachFileBytes(source, paths, (b, _p, i) => {
      plain[i] = sha(b);
      return Promise.resolve();
    }, { lease: false });
    assert.deepEqual(leased, paths.map((p) => sha(data.get(p)!)));
    assert.deepEqual(plain, leased);
    assert.ok(state.leases > 1, "several batches");
    assert.equal(state.released, state.leases, "every lease released");
  });

  it("never holds more than two batches of the bound, however many files", async () => {
    const data = files(200, () => 4096);
    const { source, state } = leasingSource(data);
    let slow = 0;
    await forEachFileBytes(source, [...data.keys()], async () => {
      // Let the read-ahead run while consumers are pending.
      if (slow++ % 7 === 0) await new Promise((r) => setTimeout(r, 1));
    }, { batchBytes: 16_384, concurrency: 3 });
    assert.ok(state.maxHeld <= 2 * 16_384, `held ${state.maxHeld} bytes at most`);
    assert.ok(state.maxHeld > 0);
    assert.equal(state.held, 0);
    assert.equal(state.leases, 50);
  });

  it("a consumer that throws: the lease is released, its views detached, the error thrown", async () => {
    const data = files(10, () => 500);
    const { source, state } = leasingSource(data);
    let kept: Uint8Array | undefined;
    await assert.rejects(
      forEachFileBytes(source, [...data.keys()], (b, _p, i) => {
        if (i === 3) {
          kept = b;
          return Promise.reject(new Error("consumer failed"));
        }
        return Promise.resolve();
      }, { batchBytes: 2000, concurrency: 1 }),
      /consumer failed/,
    );
    assert.equal(state.held, 0, "nothing leased is left out");
    assert.equal(state.released, state.leases);
    assert.ok(state.leases <= 3, "no batch read after the failure but the read-ahead");
    assert.ok(kept !== undefined && state.views.includes(kept));
  });

  it("a source whose leaseFiles is unsupported falls back to loadBatch", async () => {
    const data = files(5, () => 10);
    const source: ByteSource = {
      loadBatch: (paths) => Promise.resolve(paths.map((p) => data.get(p)!)),
      leaseFiles: (paths) =>
        Promise.reject(new UnsupportedOperationError("leaseFiles", paths[0]!, "no FFI")),
    };
    let n = 0;
    await forEachFileBytes(source, [...data.keys()], (b) => {
      n += b.length;
      return Promise.resolve();
    });
    assert.equal(n, 50);
  });

  it("FFI disk: leased views equal the bytes and are detached after a throwing consumer", {
    skip: ffiSkip,
  }, async () => {
    const root = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-lease-"));
    try {
      const disk = new DiskBackend({ reader: ffiReader! });
      const paths = Array.from({ length: 12 }, (_, i) => `${root}/f${i}.bin`);
      const content = paths.map((_, i) => new Uint8Array(30_000 + i).map((_, k) => k ^ i));
      await disk.saveBatch(content, paths);
      const views: Uint8Array[] = [];
      await assert.rejects(
        forEachFileBytes(disk, paths, (b, _p, i) => {
          assert.deepEqual(b, content[i]);
          views.push(b);
          if (i === 5) throw new Error("stop");
          return Promise.resolve();
        }, { concurrency: 1 }),
        /stop/,
      );
      assert.equal(views.length, 6);
      assert.ok(views.every((v) => v.length === 0), "views detached once released");
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("FileManager.hash and cli hash", () => {
  it("hex digests equal node:crypto's on disk (lease and pure reader) and memory", async () => {
    const root = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-hash-"));
    try {
      const paths = Array.from({ length: 30 }, (_, i) => nodePath.join(root, `f${i}.bin`));
      const content = paths.map((_, i) => new Uint8Array(i * 1000).map((_, k) => k * 13 + i));
      paths.forEach((p, i) => fs.writeFileSync(p, content[i]!));
      const want = content.map(sha);
      const reg = createRegistry();
      const fm = new FileManager(reg);
      assert.deepEqual(await fm.hash(paths, "disk"), want);
      assert.deepEqual(await fm.hash(paths, "disk", { batchBytes: 5000 }), want);
      const sha1 = await fm.hash(paths.slice(0, 3), "disk", { algorithm: "SHA-1" });
      assert.deepEqual(
        sha1,
        content.slice(0, 3).map((b) => createHash("sha1").update(b).digest("hex")),
      );
      // The pure reader has no leases: the loadBatch path, same digests.
      const pure = new DiskBackend({ reader: new PureReader(), implementation: "pure" });
      const pureFm = new FileManager(
        {
          getBackend: () => Promise.resolve(pure),
        } as unknown as ConstructorParameters<typeof FileManager>[0],
      );
      assert.deepEqual(await pureFm.hash(paths, "disk"), want);
      await fm.saveBatch(content.slice(0, 4), ["/a", "/b", "/c", "/d"], "memory");
      assert.deepEqual(await fm.hash(["/a", "/b", "/c", "/d"], "memory"), want.slice(0, 4));
      await assert.rejects(fm.hash(paths, "disk", { algorithm: "MD5" }), TypeError);
      await assert.rejects(fm.hash([nodePath.join(root, "missing")], "disk"), /missing/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("cli hash prints sha256sum lines; -r walks a directory; a directory without -r fails", async () => {
    const root = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-hashcli-"));
    try {
      fs.mkdirSync(nodePath.join(root, "d"));
      fs.writeFileSync(nodePath.join(root, "d", "x.txt"), "hello\n");
      fs.writeFileSync(nodePath.join(root, "d", "y.txt"), "world\n");
      const out: string[] = [];
      const err: string[] = [];
      const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
      assert.equal(await main(["hash", "-r", nodePath.join(root, "d")], io), 0);
      assert.deepEqual(out, [
        `${sha(new TextEncoder().encode("hello\n"))}  ${nodePath.join(root, "d", "x.txt")}`,
        `${sha(new TextEncoder().encode("world\n"))}  ${nodePath.join(root, "d", "y.txt")}`,
      ]);
      const sys = spawnSync("sha256sum", [nodePath.join(root, "d", "x.txt")], { encoding: "utf8" });
      if (sys.status === 0) assert.equal(out[0], sys.stdout.trimEnd());
      assert.equal(await main(["hash", nodePath.join(root, "d")], io), 1);
      assert.equal(await main(["hash", "-a", "MD5", nodePath.join(root, "d", "x.txt")], io), 2);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("cp through leases", () => {
  it("copies many files byte for byte to disk and to memory (which keeps its own copy)", async () => {
    const root = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-cplease-"));
    try {
      const src = nodePath.join(root, "src");
      fs.mkdirSync(nodePath.join(src, "sub"), { recursive: true });
      const names = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? `sub/f${i}` : `f${i}`));
      const content = names.map((_, i) => new Uint8Array(2000 + i * 333).map((_, k) => k + i));
      names.forEach((n, i) => fs.writeFileSync(nodePath.join(src, n), content[i]!));
      const reg = defaultRegistry(); // the one main() uses
      const io = { out: () => {}, err: () => {} };
      const dst = nodePath.join(root, "dst");
      assert.equal(await main(["cp", "-q", "-r", src, dst], io), 0);
      names.forEach((n, i) => {
        assert.deepEqual(new Uint8Array(fs.readFileSync(nodePath.join(dst, n))), content[i]);
      });
      assert.equal(await main(["cp", "-q", "-r", src, "memory:/m"], io), 0);
      const fm = new FileManager(reg);
      const back = await fm.loadBatch<Uint8Array>(
        names.map((n) => `/m/${n}`),
        "memory",
        { as: "bytes" },
      );
      back.forEach((b, i) => assert.deepEqual(b, content[i], names[i]!));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
