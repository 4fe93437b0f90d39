/**
 * Zarr trust boundary: hostile plate metadata cannot read outside the plate
 * (memory, HTTP, `cli cp -r`), huge declared grids fail fast against
 * `maxDecodedBytes`, chunks that inflate past or decode short of their shape
 * are `CorruptDataError`s naming the chunk, and non-numeric v2 dtypes are
 * refused instead of loading as numbers.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync, zlibSync } from "fflate";
import { inflateCapped } from "../zarr/decode.ts";
import { MAX_CHUNKS_PER_READ } from "../zarr/read.ts";
import { MAX_NGFF_ENTRIES } from "../zarr/ngff.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { DiskBackend } from "../backends/disk.ts";
import { HttpBackend } from "../backends/http.ts";
import { ZarrBackend } from "../backends/zarr.ts";
import type { LoadOptions, NdArray, StorageValue } from "../backends/base.ts";
import {
  CorruptDataError,
  LimitExceededError,
  StorageError,
  UnsupportedFormatError,
} from "../errors.ts";
import { peerSkip, PYTHON, pythonMissing } from "./_peers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const repo = fileURLToPath(new URL("..", import.meta.url));

/** A memory store that records every path it is asked to read. */
class Recording extends MemoryBackend {
  reads: string[] = [];
  override load<T = StorageValue>(path: string, options?: LoadOptions): Promise<T> {
    this.reads.push(path);
    return super.load<T>(path, options);
  }
  override loadBatch<T = StorageValue>(paths: readonly string[], options?: LoadOptions) {
    this.reads.push(...paths);
    return super.loadBatch<T>(paths, options);
  }
}

function plane(v: number, h = 4, w = 4): NdArray<Uint16Array> {
  return { data: new Uint16Array(h * w).fill(v), shape: [h, w], stride: [w, 1] };
}

async function plate(mem: MemoryBackend, ngff: "0.5" | "0.4" = "0.5"): Promise<ZarrBackend> {
  const z = new ZarrBackend({ store: mem, ngff });
  await mem.ensureDirectory("/p.zarr");
  await z.saveBatch([plane(1), plane(2)], ["/p.zarr/a.tif", "/p.zarr/b.tif"], {
    row: "A",
    column: "1",
  });
  return new ZarrBackend({ store: mem, ngff });
}

// deno-lint-ignore no-explicit-any
type J = Record<string, any>;

async function editJson(
  mem: MemoryBackend,
  path: string,
  edit: (j: J) => void,
): Promise<void> {
  const j = JSON.parse(dec.decode(await mem.load<Uint8Array>(path, { as: "bytes" })));
  edit(j);
  await mem.save(enc.encode(JSON.stringify(j)), path, { overwrite: true });
}

const attrs = (j: J, v: "0.5" | "0.4") => (v === "0.5" ? j.attributes.ome : j);

const HOSTILE = ["../../../../x", "0/../../..", "/etc", "a\\b", "http:/h/x", "%2e%2e", "a//b", ""];

describe("zarr trust: metadata paths stay inside the plate", () => {
  for (const ngff of ["0.5", "0.4"] as const) {
    const wellMeta = ngff === "0.5" ? "/p.zarr/A/1/zarr.json" : "/p.zarr/A/1/.zattrs";
    const rootMeta = ngff === "0.5" ? "/p.zarr/zarr.json" : "/p.zarr/.zattrs";
    const arrMeta = ngff === "0.5" ? "/p.zarr/A/1/0/0/zarr.json" : "/p.zarr/A/1/0/0/.zattrs";

    it(`NGFF ${ngff}: a hostile well images[].path is a CorruptDataError; nothing outside is read`, async () => {
      for (const bad of HOSTILE) {
        const mem = new Recording();
        const z = await plate(mem, ngff);
        await mem.ensureDirectory("/x/0");
        await mem.save(enc.encode("{}"), "/x/0/zarr.json");
        await editJson(mem, wellMeta, (j) => {
          attrs(j, ngff).well.images[0].path = bad;
        });
        mem.reads = [];
        await assert.rejects(z.load("/p.zarr/a.tif"), (e) => {
          assert.ok(e instanceof CorruptDataError, String(e));
          assert.equal(e.path, wellMeta);
          assert.match(e.message, /images\[0\]\.path/);
          return true;
        });
        await assert.rejects(z.listFiles("/p.zarr"), CorruptDataError);
        for (const r of mem.reads) assert.ok(r.startsWith("/p.zarr/"), `read outside: ${r}`);
      }
    });

    it(`NGFF ${ngff}: hostile plate wells[].path and filename-map keys are refused; listFiles never escapes`, async () => {
      const mem = new Recording();
      const z = await plate(mem, ngff);
      await editJson(mem, rootMeta, (j) => {
        attrs(j, ngff).plate.wells.push({ path: "../../x/y", rowIndex: 0, columnIndex: 0 });
      });
      mem.reads = [];
      await assert.rejects(z.load("/p.zarr/a.tif"), (e) => {
        assert.ok(e instanceof CorruptDataError);
        assert.match(e.message, /wells\[1\]\.path/);
        return true;
      });
      for (const r of mem.reads) assert.ok(r.startsWith("/p.zarr/"), `read outside: ${r}`);

      const mem2 = new Recording();
      const z2 = await plate(mem2, ngff);
      await editJson(mem2, arrMeta, (j) => {
        const a = ngff === "0.5" ? j.attributes : j;
        a.polystore_filename_map["../loot.txt"] = [];
      });
      await assert.rejects(z2.listFiles("/p.zarr"), (e) => {
        assert.ok(e instanceof CorruptDataError);
        assert.match(e.message, /loot/);
        return true;
      });
      // A plate write merging into hostile metadata is refused too (nothing re-published).
      await assert.rejects(
        z.save(plane(3), "/p.zarr/c.tif", { row: "B", column: "2" }),
        CorruptDataError,
      );
    });
  }

  it("over HTTP: a hostile plate makes no request outside the plate", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hcs-zarr-trust-"));
    const requests: string[] = [];
    const server = createServer((req, res) => {
      requests.push(req.url ?? "");
      const url = new URL(req.url ?? "/", "http://x");
      try {
        const body = readFileSync(join(dir, decodeURIComponent(url.pathname)));
        res.writeHead(200, { "content-length": body.length });
        res.end(req.method === "HEAD" ? undefined : body);
      } catch {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const store = join(dir, "srv", "p.zarr");
      const w = new ZarrBackend({ store: new DiskBackend() });
      await w.saveBatch([plane(1)], [`${store}/a.tif`], { row: "A", column: "1" });
      writeFileSync(join(dir, "loot.json"), "{}");
      const wm = join(store, "A", "1", "zarr.json");
      const j = JSON.parse(readFileSync(wm, "utf8"));
      j.attributes.ome.well.images[0].path = "../../../loot";
      writeFileSync(wm, JSON.stringify(j));
      const port = (server.address() as { port: number }).port;
      const z = new ZarrBackend({
        store: new HttpBackend({ baseUrl: `http://127.0.0.1:${port}/srv/` }),
      });
      await assert.rejects(z.load("/p.zarr/a.tif"), CorruptDataError);
      assert.ok(requests.length > 0);
      for (const r of requests) assert.ok(r.startsWith("/srv/p.zarr/"), `request outside: ${r}`);
      // The HTTP listing reads NGFF children through the same model: refused, not followed.
      requests.length = 0;
      const http = new HttpBackend({ baseUrl: `http://127.0.0.1:${port}/srv/` });
      await assert.rejects(http.listFiles("/p.zarr", { recursive: true }), CorruptDataError);
      for (const r of requests) assert.ok(r.startsWith("/srv/"), `request outside the base: ${r}`);
    } finally {
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("cli cp -r of a hostile plate writes nothing outside its destination", {
    timeout: 120_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "hcs-zarr-cp-"));
    try {
      const store = join(dir, "src", "p.zarr");
      const z = new ZarrBackend({ store: new DiskBackend() });
      const p = { data: new Uint16Array(4).fill(7), shape: [2, 2], stride: [2, 1] };
      await z.saveBatch([p, p], [`${store}/a.tif`, `${store}/b.tif`], { row: "A", column: "1" });
      const deno = join(repo, "node_modules", ".bin", "deno");
      const env = { ...process.env, NO_COLOR: "1" };
      const am = join(store, "A", "1", "0", "0", "zarr.json");
      const j = JSON.parse(readFileSync(am, "utf8"));
      j.attributes.polystore_filename_map["../../loot.tif"] = [];
      writeFileSync(am, JSON.stringify(j));
      const out = join(dir, "dst", "inner");
      const r = spawnSync(
        deno,
        ["run", "-A", join(repo, "cli", "mod.ts"), "cp", "-r", `zarr:${store}`, out],
        { env, encoding: "utf8", timeout: 60_000 },
      );
      assert.notEqual(r.status, 0, r.stdout);
      assert.match(r.stderr, /loot/);
      assert.equal(existsSync(join(dir, "loot.tif")), false);
      assert.equal(existsSync(join(dir, "dst", "loot.tif")), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function rawArray(
  mem: MemoryBackend,
  meta: Record<string, unknown>,
  chunks: Record<string, Uint8Array> = {},
  v: 2 | 3 = 2,
): Promise<void> {
  await mem.ensureDirectory("/a.zarr");
  await mem.save(
    enc.encode(JSON.stringify(meta)),
    v === 2 ? "/a.zarr/.zarray" : "/a.zarr/zarr.json",
  );
  for (const [k, b] of Object.entries(chunks)) {
    await mem.ensureDirectory(join("/a.zarr", k, ".."));
    await mem.save(b, `/a.zarr/${k}`);
  }
}

const v2 = (o: Record<string, unknown>) => ({
  zarr_format: 2,
  order: "C",
  fill_value: 0,
  filters: null,
  compressor: null,
  dtype: "<u2",
  ...o,
});
const v3 = (o: Record<string, unknown>) => ({
  zarr_format: 3,
  node_type: "array",
  data_type: "uint16",
  chunk_grid: { name: "regular", configuration: { chunk_shape: [1] } },
  chunk_key_encoding: { name: "default", configuration: { separator: "/" } },
  fill_value: 0,
  codecs: [{ name: "bytes", configuration: { endian: "little" } }],
  ...o,
});

describe("zarr trust: sizes are bounded before allocating", () => {
  it("a 154-byte .zarray with shape [2**40], chunks [1] fails fast with LimitExceededError (v2 and v3)", async () => {
    for (const v of [2, 3] as const) {
      const mem = new MemoryBackend();
      await rawArray(
        mem,
        v === 2 ? v2({ shape: [2 ** 40], chunks: [1] }) : v3({ shape: [2 ** 40] }),
        {},
        v,
      );
      const z = new ZarrBackend({ store: mem });
      const t = performance.now();
      await assert.rejects(z.load("/a.zarr"), LimitExceededError);
      assert.ok(performance.now() - t < 1000);
      // Listing the directory holding it never enumerates its grid.
      assert.deepEqual(await z.listFiles("/"), ["/a.zarr"]);
    }
  });

  it("non-safe-integer products and a chunk bigger than the budget are refused; the budget is configurable", async () => {
    const mem = new MemoryBackend();
    await rawArray(mem, v2({ shape: [2 ** 30, 2 ** 30, 2 ** 30], chunks: [1, 1, 1] }));
    await assert.rejects(new ZarrBackend({ store: mem }).load("/a.zarr"), LimitExceededError);
    const m2 = new MemoryBackend();
    await rawArray(m2, v2({ shape: [4], chunks: [2 ** 40] }));
    await assert.rejects(new ZarrBackend({ store: m2 }).load("/a.zarr"), LimitExceededError);
    const m3 = new MemoryBackend();
    await rawArray(m3, v2({ shape: [64], chunks: [64] }));
    assert.equal((await new ZarrBackend({ store: m3 }).load<NdArray>("/a.zarr")).data.length, 64);
    await assert.rejects(
      new ZarrBackend({ store: m3, maxDecodedBytes: 100 }).load("/a.zarr"),
      LimitExceededError,
    );
    await assert.rejects(
      new ZarrBackend({ store: m3 }).load("/a.zarr", { maxDecodedBytes: 100 }),
      LimitExceededError,
    );
  });

  it("a small array split into more than MAX_CHUNKS_PER_READ chunks is refused; just under it reads in bounded time", async () => {
    const mem = new MemoryBackend();
    await rawArray(mem, v2({ shape: [MAX_CHUNKS_PER_READ + 1], chunks: [1], dtype: "|u1" }));
    const t0 = performance.now();
    await assert.rejects(new ZarrBackend({ store: mem }).load("/a.zarr"), LimitExceededError);
    assert.ok(performance.now() - t0 < 500);
    const m2 = new MemoryBackend();
    await rawArray(
      m2,
      v2({ shape: [MAX_CHUNKS_PER_READ], chunks: [1], dtype: "|u1", fill_value: 3 }),
    );
    const t1 = performance.now();
    const got = await new ZarrBackend({ store: m2 }).load<NdArray>("/a.zarr");
    assert.equal(got.data.length, MAX_CHUNKS_PER_READ);
    assert.equal(got.data[MAX_CHUNKS_PER_READ - 1], 3, "missing chunks are the fill value");
    assert.ok(performance.now() - t1 < 10_000, `${performance.now() - t1} ms`);
  });

  it("a plate listing more than MAX_NGFF_ENTRIES wells is refused before any well is read", async () => {
    const mem = new Recording();
    const z = await plate(mem);
    await editJson(mem, "/p.zarr/zarr.json", (j) => {
      const wells = j.attributes.ome.plate.wells;
      for (let i = 0; i <= MAX_NGFF_ENTRIES; i++) wells.push({ path: `R${i}/1` });
    });
    mem.reads = [];
    await assert.rejects(z.load("/p.zarr/a.tif"), LimitExceededError);
    assert.ok(!mem.reads.some((r) => r.startsWith("/p.zarr/R")), "no well metadata read");
  });

  it("a plate plane bigger than the budget is refused before its chunks are read", async () => {
    const mem = new Recording();
    const z = await plate(mem);
    mem.reads = [];
    const small = new ZarrBackend({ store: mem, maxDecodedBytes: 16 });
    await assert.rejects(small.load("/p.zarr/a.tif"), LimitExceededError);
    assert.ok(!mem.reads.some((r) => /\/c\//.test(r)), "no chunk read");
    assert.equal((await z.load<NdArray>("/p.zarr/a.tif")).data[0], 1);
  });
});

describe("zarr trust: chunks decode to exactly their shape", () => {
  it("a zlib chunk inflating past the chunk size stops early with CorruptDataError naming the chunk", async () => {
    const mem = new MemoryBackend();
    const bomb = zlibSync(new Uint8Array(16 << 20)); // 16 MiB of zeros for an 8 KiB chunk
    await rawArray(
      mem,
      v2({ shape: [4096], chunks: [4096], compressor: { id: "zlib", level: 1 } }),
      {
        "0": bomb,
      },
    );
    const t = performance.now();
    await assert.rejects(new ZarrBackend({ store: mem }).load("/a.zarr"), (e) => {
      assert.ok(e instanceof CorruptDataError, String(e));
      assert.equal(e.path, "/a.zarr/0");
      assert.match(e.message, /past the expected 8192 bytes/);
      return true;
    });
    assert.ok(performance.now() - t < 2000);
  });

  it("the pure-JS inflate (runtimes without DecompressionStream) is capped too", () => {
    const fail = (why: string): never => {
      throw new CorruptDataError("load", "/k", why);
    };
    const ok = new Uint8Array(8192).map((_, i) => i % 251);
    assert.deepEqual(inflateCapped(deflateSync(ok), 8192, fail), ok);
    const t = performance.now();
    assert.throws(
      () => inflateCapped(deflateSync(new Uint8Array(16 << 20)), 8192, fail),
      /past the expected 8192 bytes/,
    );
    assert.ok(performance.now() - t < 2000);
    assert.throws(
      () => inflateCapped(deflateSync(ok).subarray(0, 100), 8192, fail),
      CorruptDataError,
    );
  });

  it("an uncompressed chunk of 10 bytes for an 8 KiB chunk is CorruptDataError, never 5 values then zeros", async () => {
    for (const v of [2, 3] as const) {
      const mem = new MemoryBackend();
      const meta = v === 2 ? v2({ shape: [4096], chunks: [4096] }) : v3({
        shape: [4096],
        chunk_grid: { name: "regular", configuration: { chunk_shape: [4096] } },
      });
      await rawArray(mem, meta, { [v === 2 ? "0" : "c/0"]: new Uint8Array(10).fill(1) }, v);
      await assert.rejects(new ZarrBackend({ store: mem }).load("/a.zarr"), (e) => {
        assert.ok(e instanceof CorruptDataError, String(e));
        assert.match(e.path, /\/a\.zarr\/(c\/)?0$/);
        assert.match(e.message, /10 bytes, the chunk shape needs 8192/);
        return true;
      });
    }
  });

  it("gzip, zstd and blosc chunks that declare or produce the wrong size are CorruptDataError", async () => {
    const z = new ZarrBackend({ store: new MemoryBackend() });
    for (const compression of ["gzip", "zstd", "blosc", "zlib"] as const) {
      const mem = new MemoryBackend();
      const w = new ZarrBackend({ store: mem, ngff: "0.4", compression });
      await w.save({ data: new Uint16Array(64).fill(3), shape: [64], stride: [1] }, "/big.zarr");
      await w.save({ data: new Uint16Array(8).fill(3), shape: [8], stride: [1] }, "/small.zarr");
      // The 128-byte chunk under 16-byte chunk metadata.
      await mem.save(await mem.load<Uint8Array>("/big.zarr/0", { as: "bytes" }), "/small.zarr/0", {
        overwrite: true,
      });
      const r = new ZarrBackend({ store: mem });
      await assert.rejects(r.load("/small.zarr"), (e) => {
        assert.ok(e instanceof CorruptDataError, `${compression}: ${e}`);
        assert.equal(e.path, "/small.zarr/0");
        return true;
      });
    }
    void z;
  });
});

describe("zarr trust: dtypes outside the table are refused", () => {
  it("|S1, <U4, >U4, <f2, |O and object dtypes are UnsupportedFormatError naming the dtype", async () => {
    for (const dtype of ["|S1", "<U4", ">U4", "<f2", "|O", "<c8", "|V8", "<M8[ns]"]) {
      const mem = new MemoryBackend();
      await rawArray(mem, v2({ shape: [3], chunks: [3], dtype }), {
        "0": new Uint8Array(12).fill(49),
      });
      await assert.rejects(new ZarrBackend({ store: mem }).load("/a.zarr"), (e) => {
        assert.ok(e instanceof UnsupportedFormatError, `${dtype}: ${e}`);
        assert.ok(e.message.includes(JSON.stringify(dtype)), e.message);
        return true;
      });
    }
    const mem = new MemoryBackend();
    await rawArray(mem, v3({ shape: [3], data_type: "string" }), {}, 3);
    await assert.rejects(new ZarrBackend({ store: mem }).load("/a.zarr"), UnsupportedFormatError);
  });

  it("big-endian and bool v2 arrays decode to the right values", async () => {
    const mem = new MemoryBackend();
    const be = new Uint8Array([0x01, 0x02, 0xff, 0xfe]);
    await rawArray(mem, v2({ shape: [2], chunks: [2], dtype: ">u2" }), { "0": be });
    assert.deepEqual([...(await new ZarrBackend({ store: mem }).load<NdArray>("/a.zarr")).data], [
      0x0102,
      0xfffe,
    ]);
    const m2 = new MemoryBackend();
    await rawArray(m2, v2({ shape: [3], chunks: [3], dtype: "|b1" }), {
      "0": new Uint8Array([0, 7, 1]),
    });
    assert.deepEqual([...(await new ZarrBackend({ store: m2 }).load<NdArray>("/a.zarr")).data], [
      0,
      1,
      1,
    ]);
  });

  it("every refusal is a StorageError", () => {
    assert.ok(new CorruptDataError("x", "/y") instanceof StorageError);
  });
});

describe("zarr trust: zarr-python's fixed-width bytes and unicode arrays", () => {
  const missing = pythonMissing(["zarr", "numpy", "numcodecs"]);
  it(
    "|S1 and <U4 arrays (every compressor) are refused with UnsupportedFormatError, never numbers",
    {
      skip: peerSkip("python zarr", missing),
    },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "hcs-zarr-dtypes-"));
      try {
        const script = `
import sys, os, numpy as np, numcodecs, zarr
d = sys.argv[1]
for dt, values in (("|S1", [b"a", b"b", b"c"]), ("<U4", ["ab", "c", "dddd"])):
    for comp in (None, numcodecs.Zlib(), numcodecs.GZip(), numcodecs.Zstd(), numcodecs.Blosc()):
        name = dt[1:] + "-" + (comp.codec_id if comp else "none") + ".zarr"
        a = zarr.open_array(os.path.join(d, name), mode="w", shape=(3,), chunks=(3,), dtype=dt, compressor=comp)
        a[:] = np.array(values, dtype=dt)
`;
        const r = spawnSync(PYTHON, ["-c", script, dir], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        const z = new ZarrBackend({ store: new DiskBackend() });
        const names = readdirSync(dir).sort();
        assert.equal(names.length, 10);
        for (const name of names) {
          await assert.rejects(z.load(join(dir, name)), (e) => {
            assert.ok(e instanceof UnsupportedFormatError, `${name}: ${e}`);
            assert.match(e.message, name.startsWith("S1") ? /"\|S1"/ : /"<U4"/);
            return true;
          });
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
