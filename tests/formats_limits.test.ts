// Decode limits of the TIFF and NPY codecs, in process and small: Deflate
// strips that inflate past their strip, strips sharing one data range, the
// maxDecodedBytes budget passed through decodeForPath. (The full-size bombs
// run in child processes in tests/bombs.test.ts.)
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { zlibSync } from "fflate";
import { CorruptDataError, LimitExceededError } from "../errors.ts";
import type { NdArray } from "../backends/base.ts";
import { decodeForPath, encodeNpy, encodePng, encodeTiff } from "../formats/mod.ts";
import { stripTiff } from "./_strip_tiff.ts";
import { DiskBackend } from "../backends/disk.ts";
import { createBulkReader } from "../ffi/mod.ts";
import { runtime } from "../registry/runtime.ts";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";

function random(n: number, seed: number): Uint8Array {
  const a = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    a[i] = x >>> 24;
  }
  return a;
}

describe("tiff limits", () => {
  it("a Deflate strip stops inflating at the size of a full strip (16 MiB stream, 2 KiB strip)", () => {
    const strip = zlibSync(new Uint8Array(16 << 20), { level: 9 });
    const tiff = stripTiff(32, 32, 16, 8, 32, [strip], [0]);
    const t0 = performance.now();
    assert.throws(() => decodeForPath(tiff, "/b.tif", "load"), (err: unknown) => {
      assert.ok(err instanceof CorruptDataError, String(err));
      assert.match(err.message, /^load '\/b\.tif': .*inflates past the 2048 bytes/);
      return true;
    });
    assert.ok(performance.now() - t0 < 1000, `took ${performance.now() - t0} ms`);
  });

  it("accepts a last Deflate strip padded to full size, and reads only the image's rows", () => {
    const pixels = random(8 * 10, 3);
    const padded = new Uint8Array(8 * 12);
    padded.set(pixels.subarray(64));
    const tiff = stripTiff(8, 10, 8, 8, 4, [
      zlibSync(pixels.subarray(0, 32)),
      zlibSync(pixels.subarray(32, 64)),
      zlibSync(padded.subarray(0, 32)), // 4 rows stored, 2 in the image
    ], [0, 1, 2]);
    const img = decodeForPath(tiff, "/p.tif", "load") as NdArray;
    assert.deepEqual(img.shape, [10, 8]);
    assert.deepEqual(Array.from(img.data as Uint8Array), Array.from(pixels));
  });

  it("refuses strips that share one data range once their counts pass the file size", () => {
    const row = zlibSync(random(256, 7), { level: 0 }); // a strip of 1 row, ~270 bytes
    const shared = stripTiff(256, 64, 8, 8, 1, [row], new Array(64).fill(0));
    assert.ok(64 * row.length > shared.length);
    assert.throws(() => decodeForPath(shared, "/s.tif", "load"), (err: unknown) => {
      assert.ok(err instanceof CorruptDataError, String(err));
      assert.match(err.message, /share or overlap/);
      return true;
    });
    // The same rows stored once each decode (the rule does not refuse sound files).
    const rows = Array.from({ length: 64 }, (_, k) => zlibSync(random(256, k), { level: 0 }));
    const sound = stripTiff(256, 64, 8, 8, 1, rows, rows.map((_, k) => k));
    const img = decodeForPath(sound, "/s.tif", "load") as NdArray;
    assert.deepEqual(Array.from((img.data as Uint8Array).subarray(256 * 5, 256 * 6)), [
      ...random(256, 5),
    ]);
  });

  it("honours maxDecodedBytes for a page before allocating", () => {
    const tiff = encodeTiff({ data: new Uint16Array(50 * 40), shape: [50, 40], stride: [40, 1] });
    const ok = decodeForPath(tiff, "/m.tif", "load", { maxDecodedBytes: 4000 }) as NdArray;
    assert.equal(ok.data.length, 2000);
    assert.throws(
      () => decodeForPath(tiff, "/m.tif", "load", { maxDecodedBytes: 3999 }),
      (e: unknown) => e instanceof LimitExceededError && e.message.startsWith("load '/m.tif': "),
    );
  });
});

describe("disk backend passes maxDecodedBytes to the decoders", () => {
  const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-budget-"));
  const img = { data: new Uint8Array(30 * 20), shape: [30, 20], stride: [20, 1] };
  const files: [string, Uint8Array][] = [
    ["a.tif", encodeTiff(img)],
    ["a.png", encodePng(img)],
    ["a.npy", encodeNpy(img)],
  ];
  for (const [name, bytes] of files) fs.writeFileSync(nodePath.join(dir, name), bytes);
  const paths = files.map(([name]) => nodePath.join(dir, name));

  for (const mode of ["default", "pure", "ffi"]) {
    it(`load and loadBatch (${mode} reader)`, async () => {
      let disk = new DiskBackend();
      if (mode !== "default") {
        const { reader } = await createBulkReader(runtime(), { pure: mode === "pure" });
        disk = new DiskBackend({ reader });
      }
      for (const p of paths) {
        assert.equal((await disk.load<NdArray>(p, { maxDecodedBytes: 600 })).data.length, 600);
        await assert.rejects(disk.load(p, { maxDecodedBytes: 599 }), LimitExceededError);
      }
      assert.equal((await disk.loadBatch<NdArray>(paths, { maxDecodedBytes: 600 })).length, 3);
      await assert.rejects(disk.loadBatch(paths, { maxDecodedBytes: 599 }), (e: unknown) => {
        assert.ok(e instanceof LimitExceededError, String(e));
        assert.ok(e.message.startsWith("loadBatch '"), e.message);
        return true;
      });
      // bytes are bytes: no budget applies to raw reads
      assert.equal(
        (await disk.load<Uint8Array>(paths[0]!, { as: "bytes", maxDecodedBytes: 1 })).length,
        files[0]![1].length,
      );
    });
  }

  it("cleanup", () => fs.rmSync(dir, { recursive: true, force: true }));
});
