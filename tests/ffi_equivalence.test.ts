/**
 * Equivalence: for random sets of files (0 B to 16 MiB, random names with
 * spaces and Unicode) and random chunk bounds, the FFI reader, the pure
 * reader and `fs.readFileSync` return identical bytes.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import fc from "fast-check";
import { createBulkReader, NativeReader, PureReader } from "../ffi/mod.ts";
import type { BulkReader } from "../ffi/types.ts";
import { runtime } from "../registry/runtime.ts";

const choice = await createBulkReader(runtime());
const ffiSkip: string | false = choice.reader instanceof NativeReader
  ? false
  : `FFI reader not available: ${choice.reason ?? choice.implementation}`;

const NAME_CHARS = ["a", "Z", "0", " ", "-", "_", ".", "é", "ß", "日", "本", "Ω", "🧫", "🔬", "'"];

interface FileSpec {
  name: string;
  size: number;
  seed: number;
}

const fileArb: fc.Arbitrary<FileSpec> = fc.record({
  name: fc.array(fc.constantFrom(...NAME_CHARS), { minLength: 1, maxLength: 10 })
    .map((a) => a.join("")),
  size: fc.oneof(
    { weight: 3, arbitrary: fc.constant(0) },
    { weight: 10, arbitrary: fc.integer({ min: 1, max: 4200 }) },
    { weight: 6, arbitrary: fc.integer({ min: 4200, max: 1 << 20 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1 << 20, max: 16 << 20 }) },
  ),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
});

function content(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i += 4) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x;
    out[i + 1] = x >>> 8;
    out[i + 2] = x >>> 16;
    out[i + 3] = x >>> 24;
  }
  return out;
}

/** Writes the files (index-prefixed so names are unique) and returns their paths. */
function writeAll(dir: string, files: FileSpec[]): string[] {
  return files.map((f, i) => {
    const p = nodePath.join(dir, `${i} ${f.name}`);
    fs.writeFileSync(p, content(f.size, f.seed));
    return p;
  });
}

async function property(
  make: (opts: { chunkFiles: number; chunkBytes: number }) => Promise<BulkReader>,
  compareTo: (paths: string[]) => Promise<Uint8Array[]>,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fileArb, { minLength: 1, maxLength: 14 }),
      fc.integer({ min: 1, max: 20 }),
      fc.integer({ min: 1, max: 32 << 20 }),
      async (files, chunkFiles, chunkBytes) => {
        const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-eq-"));
        try {
          const paths = writeAll(dir, files);
          const reader = await make({ chunkFiles, chunkBytes });
          const got = await reader.readFiles(paths, "loadBatch");
          const want = await compareTo(paths);
          assert.equal(got.length, paths.length);
          for (let i = 0; i < paths.length; i++) {
            assert.equal(got[i]!.length, files[i]!.size, paths[i]!);
            assert.ok(
              Buffer.from(got[i]!).equals(Buffer.from(want[i]!)),
              `bytes differ: ${paths[i]}`,
            );
          }
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      },
    ),
    { numRuns: 12, seed: 20261125, endOnFailure: true },
  );
}

describe("reader equivalence on random files", () => {
  it("pure reader = fs.readFileSync (0 B .. 16 MiB, Unicode names, random chunks)", async () => {
    await property(
      (o) => Promise.resolve(new PureReader(o)),
      (paths) => Promise.resolve(paths.map((p) => new Uint8Array(fs.readFileSync(p)))),
    );
  });

  it("FFI reader = pure reader (0 B .. 16 MiB, Unicode names, random chunks)", {
    skip: ffiSkip,
  }, async () => {
    const pure = new PureReader();
    await property(
      // Mix in the off-thread helpers (Deno; ignored on Bun) by chunk count.
      async (o) =>
        (await createBulkReader(runtime(), {
          ...o,
          prefaultOffThread: o.chunkFiles % 2 === 0,
          parallel: o.chunkFiles % 3 === 0 ? { minBytes: 1 << 20 } : false,
        })).reader,
      (paths) => pure.readFiles(paths, "loadBatch"),
    );
  });

  it("a fixed set with the extremes: 0 B, 16 MiB, spaces and emoji in names", {
    skip: ffiSkip,
  }, async () => {
    const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-eq-"));
    try {
      const paths = writeAll(dir, [
        { name: "empty file", size: 0, seed: 1 },
        { name: "big 🔬 plate.bin", size: 16 << 20, seed: 2 },
        { name: "日本 語", size: 65536, seed: 3 },
        { name: " lead and trail ", size: 1, seed: 4 },
      ]);
      const ffi = await choice.reader.readFiles(paths, "loadBatch");
      const pure = await new PureReader().readFiles(paths, "loadBatch");
      for (let i = 0; i < paths.length; i++) {
        assert.ok(Buffer.from(ffi[i]!).equals(Buffer.from(pure[i]!)), paths[i]!);
        assert.ok(Buffer.from(ffi[i]!).equals(fs.readFileSync(paths[i]!)), paths[i]!);
      }
      assert.equal(ffi[1]!.length, 16 << 20);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
