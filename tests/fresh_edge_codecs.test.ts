/**
 * The pure-JS chunk decoders the edge entry installs (blosc with every inner
 * codec and shuffle mode, zstd) decode exactly what numcodecs' WebAssembly
 * encoders (the ones the Zarr backend writes with) produce, and refuse
 * hostile input with typed errors instead of allocating or reading wrongly.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { peerSkip, PYTHON, pythonMissing } from "./_peers.ts";
import Blosc from "numcodecs/blosc";
import Zstd from "numcodecs/zstd";
import { zlibSync } from "fflate";
import { bloscDecode, inflateZlibInto, readBloscHeader } from "../_internal/codecs/blosc.ts";
import { lz4DecodeBlock } from "../_internal/codecs/lz4.ts";
import { zstdDecode, zstdFrames } from "../_internal/codecs/zstd.ts";
import { chunkLimit } from "../_internal/codecs/zarrita_pure.ts";
import { inlineChunkDecoder } from "../zarr/decode.ts";
import {
  CorruptDataError,
  LimitExceededError,
  StorageError,
  UnsupportedFormatError,
} from "../errors.ts";

const pythonSkip = peerSkip("python-numcodecs", pythonMissing(["numcodecs", "numpy"]));

/** Writes <case>.raw and <case>.blosc files with Python's numcodecs; prints the cases. */
const PY_BLOSC = `
import json, sys, numpy as np
from numcodecs import Blosc
out = sys.argv[1]
rng = np.random.default_rng(5)
cases = []
for cname in ["lz4", "lz4hc", "blosclz", "zlib", "zstd"]:
    for shuffle in (0, 1, 2):
        for dtype in ("u1", "<u2", "<u4", "<f8"):
            for n in (1, 100, 3001, 40000):
                a = (np.arange(n) // 3 + rng.integers(0, 4, n)).astype(dtype)
                bs = 4096 if n == 40000 else 0
                enc = Blosc(cname=cname, clevel=5, shuffle=shuffle, blocksize=bs).encode(a)
                name = "%s_%d_%s_%d" % (cname, shuffle, dtype.strip("<"), n)
                open("%s/%s.raw" % (out, name), "wb").write(a.tobytes())
                open("%s/%s.blosc" % (out, name), "wb").write(bytes(enc))
                cases.append({"name": name, "shuffle": shuffle, "typesize": a.itemsize})
print(json.dumps(cases))
`;

/** Compressible but not trivial data: a noisy ramp, as image rows are. */
function sample(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = ((i >> 3) & 0xff) + ((x >>> 28) & 3);
  }
  return out;
}

async function bloscEncode(
  data: Uint8Array,
  config: { cname: string; clevel: number; shuffle: number; blocksize: number },
): Promise<Uint8Array> {
  const codec = Blosc.fromConfig(config as never) as unknown as {
    encode(d: Uint8Array): Promise<Uint8Array>;
  };
  return (await codec.encode(data)).slice();
}

describe("blosc: pure-JS decoder against numcodecs' encoder", () => {
  const sizes = [0, 1, 100, 4096, 70_001, 300_000];
  for (const cname of ["lz4", "lz4hc", "blosclz", "zlib", "zstd"]) {
    it(`${cname} (WebAssembly numcodecs, as the Zarr backend writes): every shuffle mode and size`, async () => {
      let checked = 0;
      for (const shuffle of [0, 1, 2]) {
        for (const n of sizes) {
          const data = sample(n, n + shuffle);
          const enc = await bloscEncode(data, {
            cname,
            clevel: 5,
            shuffle,
            blocksize: n > 100_000 ? 16_384 : 0,
          });
          const label = `${cname} shuffle=${shuffle} n=${n}`;
          let dec: Uint8Array;
          try {
            dec = bloscDecode(enc, 1 << 24, label);
          } catch (err) {
            // Bit shuffle of a block whose element count is not a multiple of 8 is refused.
            assert.ok(err instanceof UnsupportedFormatError, `${label}: ${err}`);
            assert.equal(shuffle, 2, `${label}: only bit shuffle may be refused (${err})`);
            continue;
          }
          assert.equal(dec.length, n, label);
          assert.ok(dec.every((v, i) => v === data[i]), `${label}: bytes differ`);
          checked++;
        }
      }
      assert.ok(checked >= 15, `${cname}: ${checked} checked`);
    });
  }

  it("Python numcodecs chunks (typesizes 1/2/4/8, every cname and shuffle, leftover blocks)", {
    skip: pythonSkip,
  }, () => {
    const dir = mkdtempSync(join(tmpdir(), "hcs-blosc-py-"));
    try {
      const r = spawnSync(PYTHON, ["-c", PY_BLOSC, dir], { encoding: "utf8", timeout: 120_000 });
      assert.equal(r.status, 0, r.stderr);
      const cases = JSON.parse(r.stdout) as { name: string; shuffle: number; typesize: number }[];
      assert.ok(cases.length >= 200, `${cases.length} cases`);
      let refused = 0;
      for (const c of cases) {
        const raw = new Uint8Array(readFileSync(join(dir, `${c.name}.raw`)));
        const enc = new Uint8Array(readFileSync(join(dir, `${c.name}.blosc`)));
        assert.equal(readBloscHeader(enc).typesize, c.typesize, c.name);
        let dec: Uint8Array;
        try {
          dec = bloscDecode(enc, raw.length, c.name);
        } catch (err) {
          assert.ok(err instanceof UnsupportedFormatError && c.shuffle === 2, `${c.name}: ${err}`);
          refused++;
          continue;
        }
        assert.equal(dec.length, raw.length, c.name);
        assert.ok(dec.every((v, i) => v === raw[i]), `${c.name}: bytes differ`);
      }
      assert.ok(refused < cases.length / 6, `${refused} of ${cases.length} refused`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("what the Zarr backend writes (lz4, byte shuffle, uint16) round-trips", async () => {
    const plane = new Uint16Array(512 * 512).map((_, i) => (i * 7) & 0xffff);
    const enc = await bloscEncode(new Uint8Array(plane.buffer) as never, {
      cname: "lz4",
      clevel: 5,
      shuffle: 1,
      blocksize: 0,
    });
    const h = readBloscHeader(enc);
    assert.equal((h.flags & 0xe0) >> 5, 1, "lz4");
    const dec = bloscDecode(enc, plane.byteLength);
    assert.deepEqual(new Uint16Array(dec.buffer, 0, plane.length), plane);
  });
});

describe("zstd: pure-JS decoder against numcodecs' encoder", () => {
  it("levels 1, 3, 9, 19 over several sizes decode exactly", async () => {
    for (const level of [1, 3, 9, 19]) {
      for (const n of [0, 10, 5000, 400_000]) {
        const data = sample(n, n + level);
        const codec = Zstd.fromConfig({ level } as never) as unknown as {
          encode(d: Uint8Array): Promise<Uint8Array>;
        };
        const enc = (await codec.encode(data)).slice();
        const dec = zstdDecode(enc, n);
        assert.equal(dec.length, n);
        assert.ok(dec.every((v, i) => v === data[i]), `level ${level} n=${n}`);
      }
    }
  });
});

describe("hostile input is refused with typed errors", () => {
  it("blosc: a header declaring more than the chunk's size is LimitExceededError", async () => {
    const enc = await bloscEncode(sample(4096, 1), {
      cname: "lz4",
      clevel: 5,
      shuffle: 0,
      blocksize: 0,
    });
    assert.throws(() => bloscDecode(enc, 4095), LimitExceededError);
    const huge = enc.slice();
    new DataView(huge.buffer).setUint32(4, 0xffffffff, true);
    assert.throws(() => bloscDecode(huge, 1 << 30), LimitExceededError);
  });

  it("blosc: truncation, a bad block table and blosc2 frames are refused", async () => {
    const enc = await bloscEncode(sample(70_000, 2), {
      cname: "lz4",
      clevel: 5,
      shuffle: 1,
      blocksize: 8192,
    });
    assert.throws(() => bloscDecode(enc.subarray(0, enc.length - 10), 1 << 20), CorruptDataError);
    const table = enc.slice();
    new DataView(table.buffer).setUint32(16, enc.length + 100, true);
    assert.throws(() => bloscDecode(table, 1 << 20), CorruptDataError);
    const v3 = enc.slice();
    v3[0] = 3;
    assert.throws(() => bloscDecode(v3, 1 << 20), UnsupportedFormatError);
    const snappy = enc.slice();
    snappy[2] = (snappy[2]! & 0x1f) | (2 << 5);
    assert.throws(() => bloscDecode(snappy, 1 << 20), UnsupportedFormatError);
  });

  it("blosc: a damaged compressor format byte is refused, as numcodecs' decoder does", async () => {
    const data = Uint8Array.from({ length: 20_000 }, (_, i) => (i >> 5) & 0xff);
    for (const cname of ["lz4", "blosclz", "zlib", "zstd"]) {
      const enc = await bloscEncode(data, { cname, clevel: 5, shuffle: 1, blocksize: 0 });
      assert.equal(enc[1], 1, `${cname} writes compressor format 1`);
      assert.equal(enc[2]! & 2, 0, `${cname} compressed, not stored`);
      // The Zarr reader's own (WebAssembly) path must refuse it the same way.
      const meta = { dtype: "|u1", compressor: { id: "blosc", cname }, filters: null };
      const reader = inlineChunkDecoder(meta, 2, "load", "/z");
      for (const v of [0, 2, 255]) {
        const bad = enc.slice();
        bad[1] = v;
        assert.throws(() => bloscDecode(bad, data.length), CorruptDataError, `${cname} ${v}`);
        await assert.rejects(
          () => reader.decode(bad, data.length, "/z/0", "load"),
          CorruptDataError,
        );
        assert.deepEqual(await reader.decode(enc, data.length, "/z/0", "load"), data);
      }
    }
    // A stored (memcpyed) chunk has no compressor: c-blosc ignores the byte, and so do we.
    const stored = await bloscEncode(data, { cname: "lz4", clevel: 0, shuffle: 0, blocksize: 0 });
    stored[1] = 7;
    assert.deepEqual(bloscDecode(stored, data.length), data);
  });

  it("blosc: random corruption never escapes as anything but a StorageError", async () => {
    const data = sample(50_000, 3);
    for (const cname of ["lz4", "blosclz", "zlib", "zstd"]) {
      const enc = await bloscEncode(data, { cname, clevel: 5, shuffle: 1, blocksize: 4096 });
      let x = 12345;
      for (let k = 0; k < 300; k++) {
        const bad = enc.slice();
        for (let f = 0; f < 3; f++) {
          x = (x * 1103515245 + 12345) >>> 0;
          bad[x % bad.length]! ^= 1 << (x >>> 29);
        }
        try {
          const out = bloscDecode(bad, data.length);
          assert.ok(out.length <= data.length);
        } catch (err) {
          assert.ok(err instanceof StorageError, `${cname}: ${err}`);
        }
      }
    }
  });

  it("zlib inside blosc: a stream longer than its split is caught, not truncated", () => {
    const data = sample(2000, 9);
    const z = zlibSync(data);
    assert.equal(inflateZlibInto(z, new Uint8Array(2000)), 2000);
    assert.notEqual(inflateZlibInto(z, new Uint8Array(1000)), 1000, "overflow is reported");
    assert.notEqual(inflateZlibInto(z, new Uint8Array(3000)), 3000, "underflow is reported");
    assert.throws(
      () => inflateZlibInto(new Uint8Array([1, 2, 3]), new Uint8Array(4)),
      CorruptDataError,
    );
  });

  it("lz4: offsets before the output and overruns are CorruptDataError", () => {
    // token: 1 literal, match len 4+0, offset 5 (only 1 byte written so far)
    assert.throws(
      () => lz4DecodeBlock(new Uint8Array([0x10, 65, 5, 0]), new Uint8Array(16)),
      CorruptDataError,
    );
    // 3 literals into a 2-byte output
    assert.throws(
      () => lz4DecodeBlock(new Uint8Array([0x30, 1, 2, 3]), new Uint8Array(2)),
      CorruptDataError,
    );
    // valid: "abc" then a match of 4 from offset 3 → "abcabca"
    const out = new Uint8Array(7);
    assert.equal(lz4DecodeBlock(new Uint8Array([0x30, 97, 98, 99, 3, 0, 0x00]), out), 7);
    assert.equal(new TextDecoder().decode(out), "abcabca");
  });

  it("zstd: a frame declaring more than the limit is refused before decoding", async () => {
    const codec = Zstd.fromConfig({ level: 1 } as never) as unknown as {
      encode(d: Uint8Array): Promise<Uint8Array>;
    };
    const enc = (await codec.encode(sample(10_000, 4))).slice();
    assert.throws(() => zstdDecode(enc, 9_999), LimitExceededError);
    // A second frame declaring a huge window is refused before fzstd allocates it.
    const hostile = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xf8, 0x01, 0x00, 0x00]);
    const two = new Uint8Array(enc.length + hostile.length);
    two.set(enc);
    two.set(hostile, enc.length);
    assert.throws(() => zstdDecode(two, 1 << 20), LimitExceededError);
    // Two honest frames back to back decode to both contents.
    const both = new Uint8Array(enc.length * 2);
    both.set(enc);
    both.set(enc, enc.length);
    const data = sample(10_000, 4);
    const dec = zstdDecode(both, 20_000);
    assert.equal(dec.length, 20_000);
    assert.ok(dec.every((v, i) => v === data[i % 10_000]));
    assert.equal(zstdFrames(both).length, 2);
    assert.throws(() => zstdDecode(new Uint8Array([1, 2, 3, 4, 5, 6]), 10), CorruptDataError);
    assert.throws(() => zstdDecode(enc.subarray(0, enc.length - 5), 10_000), CorruptDataError);
  });

  it("chunk limits come from the chunk's shape and data type", () => {
    assert.equal(chunkLimit({ dataType: "uint16", shape: [1, 3, 512, 512] }), 2 * 3 * 512 * 512);
    assert.equal(chunkLimit({ dataType: "float64", shape: [10] }), 80);
    assert.equal(chunkLimit({ dataType: "string", shape: [10] }), 2 ** 30);
    assert.equal(chunkLimit(undefined), 2 ** 30);
  });
});
