// The runtime's native zlib and Zstandard as the codecs use them: results own
// their whole buffer (so they can move to a worker without detaching a
// shared Buffer pool, whatever their size), zstd frames declare their content
// size (numcodecs 0.11 and our own reader refuse frames that do not), and
// the caps hold: past the expected size is a typed error, not a big buffer.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { deflateSync } from "fflate";
import { inflateExactly } from "../formats/inflate.ts";
import { nativeZlibNow, nativeZstdNow, ownedBytes } from "../_internal/native_zlib.ts";
import { inlineChunkEncoder } from "../zarr/codec.ts";
import { inlineChunkDecoder } from "../zarr/decode.ts";
import { CorruptDataError } from "../errors.ts";

const u16 = { name: "uint16", size: 2, ctor: Uint16Array } as never;
const owns = (b: Uint8Array) =>
  Object.getPrototypeOf(b) === Uint8Array.prototype && b.byteOffset === 0 &&
  b.buffer.byteLength === b.byteLength;

describe("native codecs", () => {
  it("are loaded on Deno, Bun and Node 22.15+ (zlib and zstd)", () => {
    assert.ok(nativeZlibNow(), "node:zlib");
    assert.ok(nativeZstdNow(), "node:zlib zstd with content size");
  });

  it("ownedBytes wraps a whole buffer and copies a view out of a pool", () => {
    const whole = new Uint8Array(8);
    assert.equal(ownedBytes(whole), whole);
    const view = ownedBytes(new Uint8Array(64).fill(3).subarray(10, 14));
    assert.ok(owns(view));
    assert.deepEqual([...view], [3, 3, 3, 3]);
  });

  it("inflate results own their buffer at every size (small ones come from Buffer pools)", () => {
    for (const n of [1, 7, 100, 4000, 70_000]) {
      const raw = new Uint8Array(n).map((_, i) => i * 13);
      const out = inflateExactly([deflateSync(raw)], n, false, "/x.tif", "strip");
      assert.ok(owns(out), `size ${n}`);
      assert.deepEqual(out, raw);
    }
  });

  it("zstd and zlib chunks round-trip through native codecs; results own their buffer", async () => {
    for (const name of ["zstd", "zlib", "gzip"] as const) {
      const enc = await inlineChunkEncoder({ name, level: 1 }, u16);
      const v2 = name === "zstd"
        ? { id: "zstd", level: 1 }
        : name === "zlib"
        ? { id: "zlib", level: 1 }
        : { id: "gzip", level: 1 };
      for (const n of [1, 3, 5000, 300_000]) {
        const data = new Uint16Array(n).map((_, i) => (i * 2654435761) >>> 20);
        const bytes = await enc(new Uint8Array(data.buffer));
        assert.ok(owns(bytes), `${name} encode of ${n}`);
        if (name === "zstd") {
          const fhd = bytes[4]!;
          assert.ok(fhd >> 6 !== 0 || ((fhd >> 5) & 1) === 1, "the frame declares its size");
        }
        const dec = inlineChunkDecoder(
          {
            zarr_format: 2,
            shape: [n],
            chunks: [n],
            dtype: "<u2",
            compressor: v2,
            fill_value: 0,
            order: "C",
            filters: null,
          },
          2,
          "load",
          "/p",
        );
        const got = await dec.decode(bytes, n, "/p/0", "load");
        assert.deepEqual(got, data, `${name} ${n}`);
        assert.equal(got.byteOffset, 0);
        assert.equal(
          got.buffer.byteLength,
          got.byteLength,
          `${name} decode of ${n} owns its buffer`,
        );
        // Declared for fewer elements than it holds: refused, typed.
        if (n > 1) {
          await assert.rejects(dec.decode(bytes, n - 1, "/p/0", "load"), CorruptDataError);
        }
      }
    }
  });
});
