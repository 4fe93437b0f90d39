/**
 * Property tests (fast-check) of the Zarr trust boundary: random and mutated
 * `.zarray` / `zarr.json` / `.zattrs` and well/plate metadata give either a
 * `StorageError` or an array that matches its metadata (and the written
 * values when the mutation left them meaningful), in bounded time; random
 * path strings in metadata never make the byte store read outside the plate.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MemoryBackend } from "../backends/memory.ts";
import { type Compression, ZarrBackend } from "../backends/zarr.ts";
import type { LoadOptions, NdArray, StorageValue } from "../backends/base.ts";
import { StorageError } from "../errors.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Records every path the byte store is asked to read. */
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
  override exists(path: string): Promise<boolean> {
    this.reads.push(path);
    return super.exists(path);
  }
}

const BUDGET = 1 << 22;

/** A JSON value that is often hostile: huge, negative, fractional, wrong kind. */
const hostile = fc.oneof(
  fc.constantFrom(2 ** 40, 2 ** 53, -1, 0, 1.5, NaN, null, true, "", "<U4", "|S1", ">f8", "F"),
  fc.constantFrom([2 ** 40], [0], [-1], [1, 2 ** 31, 2 ** 31], [], [[]], {}, { id: "zlib" }),
  fc.constantFrom({ id: "gzip" }, { id: "blosc" }, { id: "lz4" }, [{ id: "delta" }]),
  fc.jsonValue({ maxDepth: 2 }),
);

/** Sets `value` at a random key (existing or new) of a random object in `json`. */
function mutate(json: unknown, pick: number, key: string, value: unknown): void {
  const objects: Record<string, unknown>[] = [];
  const walk = (v: unknown) => {
    if (typeof v === "object" && v !== null) {
      if (!Array.isArray(v)) objects.push(v as Record<string, unknown>);
      for (const x of Object.values(v)) walk(x);
    }
  };
  walk(json);
  const o = objects[pick % objects.length]!;
  const keys = Object.keys(o);
  const k = keys.length > 0 && pick % 3 !== 0 ? keys[pick % keys.length]! : key;
  o[k] = value;
}

async function timed<T>(p: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  const t = performance.now();
  try {
    return { value: await p };
  } catch (error) {
    return { error };
  } finally {
    assert.ok(performance.now() - t < 2000, "bounded time");
  }
}

function checkOutcome(r: { value?: unknown; error?: unknown }, what: string): void {
  if (r.error !== undefined) {
    assert.ok(r.error instanceof StorageError, `${what}: ${r.error}`);
  }
}

const COMPRESSIONS: Compression[] = ["none", "zlib", "gzip", "zstd", "blosc"];

describe("zarr fuzz: mutated metadata is a StorageError or a correct array", () => {
  it(
    "single arrays: random mutation of .zarray / zarr.json / .zattrs",
    { timeout: 120_000 },
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom("0.5", "0.4"),
          fc.constantFrom(...COMPRESSIONS),
          fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }),
          fc.constantFrom(".zarray", "zarr.json", ".zattrs"),
          fc.nat(),
          fc.string({ maxLength: 12 }),
          hostile,
          fc.boolean(),
          async (ngff, compression, shape, file, pick, key, value, identity) => {
            const mem = new Recording();
            const w = new ZarrBackend({ store: mem, ngff, compression });
            const n = shape.reduce((a, b) => a * b, 1);
            const data = Uint16Array.from({ length: n }, (_, i) => i * 3 + 1);
            const stride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
            await mem.ensureDirectory("/d");
            await w.save({ data, shape, stride }, "/d/a.zarr", {
              chunks: shape.map((s) => Math.max(1, s - 1)),
            });
            const path = `/d/a.zarr/${file}`;
            if (!identity && (await mem.exists(path))) {
              const json = JSON.parse(
                dec.decode(await mem.load<Uint8Array>(path, { as: "bytes" })),
              );
              mutate(json, pick, key, value);
              await mem.save(enc.encode(JSON.stringify(json)), path, { overwrite: true });
            }
            mem.reads = [];
            const r = new ZarrBackend({ store: mem, maxDecodedBytes: BUDGET });
            const got = await timed(r.load<NdArray>("/d/a.zarr"));
            checkOutcome(got, "load");
            // Only the array and its directory's own metadata (is /d a plate?) are read.
            for (const p of mem.reads) assert.ok(p === "/d/a.zarr" || p.startsWith("/d/"), p);
            const v = got.value;
            if (v && typeof v === "object" && "shape" in v) {
              const len = v.shape.reduce((a, b) => a * b, 1);
              assert.equal(v.data.length, len, "data matches the declared shape");
              if (identity || file === ".zattrs") {
                assert.deepEqual(v.shape, shape);
                assert.deepEqual([...v.data as Uint16Array], [...data]);
              }
            }
            checkOutcome(await timed(r.listFiles("/d", { recursive: true })), "listFiles");
          },
        ),
        { numRuns: 150 },
      );
    },
  );

  it(
    "plates: random mutation of plate, well, image and array metadata; every read stays in the plate",
    { timeout: 120_000 },
    async () => {
      const base = new MemoryBackend();
      const w = new ZarrBackend({ store: base });
      await base.ensureDirectory("/p.zarr");
      const planes = [0, 1, 2, 3].map((v) => ({
        data: new Uint16Array(6).fill(v),
        shape: [2, 3],
        stride: [3, 1],
      }));
      await w.saveBatch(planes, [0, 1, 2, 3].map((i) => `/p.zarr/x${i}.tif`), {
        row: "A",
        column: "1",
        axes: [{ name: "c", type: "channel" }, { name: "field", role: "image" }],
        coordinates: [[0, 0], [1, 0], [0, 1], [1, 1]],
      });
      const files = [
        "/p.zarr/zarr.json",
        "/p.zarr/A/1/zarr.json",
        "/p.zarr/A/1/0/zarr.json",
        "/p.zarr/A/1/0/0/zarr.json",
        "/p.zarr/A/1/1/0/zarr.json",
      ];
      const snapshot = new Map<string, Uint8Array>();
      for (const f of await base.listFiles("/p.zarr", { recursive: true })) {
        snapshot.set(f, await base.load<Uint8Array>(f, { as: "bytes" }));
      }
      const pathChars = fc.constantFrom(
        "..",
        ".",
        "/",
        "%2e",
        "%2E",
        ":",
        "\\",
        "\0",
        "a",
        "0",
        "é",
        "//",
      );
      const evilPath = fc.array(pathChars, { maxLength: 6 }).map((a) => a.join(""));
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...files),
          fc.nat(),
          fc.string({ maxLength: 8 }),
          fc.oneof(hostile, evilPath),
          fc.constantFrom("x0.tif", "x3.tif", "nope.tif"),
          async (file, pick, key, value, name) => {
            const mem = new Recording();
            for (const [p, b] of snapshot) {
              await mem.ensureDirectory(p.slice(0, p.lastIndexOf("/")));
              await mem.save(b, p);
            }
            const json = JSON.parse(dec.decode(snapshot.get(file)!));
            mutate(json, pick, key, value);
            await mem.save(enc.encode(JSON.stringify(json)), file, { overwrite: true });
            mem.reads = [];
            const r = new ZarrBackend({ store: mem, maxDecodedBytes: BUDGET });
            checkOutcome(await timed(r.load(`/p.zarr/${name}`)), "load");
            const listed = await timed(r.listFiles("/p.zarr"));
            checkOutcome(listed, "listFiles");
            for (const f of (listed.value ?? []) as string[]) {
              assert.ok(/^\/p\.zarr\/[^/]+$/.test(f) && !f.endsWith("/..") && !f.endsWith("/."), f);
            }
            for (const p of mem.reads) assert.ok(p.startsWith("/p.zarr/"), `read outside: ${p}`);
          },
        ),
        { numRuns: 200 },
      );
    },
  );

  it(
    "random path strings in well images, plate wells and filename maps never read outside the plate",
    { timeout: 120_000 },
    async () => {
      const base = new MemoryBackend();
      const w = new ZarrBackend({ store: base, ngff: "0.4" });
      await base.ensureDirectory("/p.zarr");
      await w.save({ data: new Uint8Array(4), shape: [2, 2], stride: [2, 1] }, "/p.zarr/a.tif", {
        row: "A",
        column: "1",
      });
      const snapshot = new Map<string, Uint8Array>();
      for (const f of await base.listFiles("/p.zarr", { recursive: true })) {
        snapshot.set(f, await base.load<Uint8Array>(f, { as: "bytes" }));
      }
      await fc.assert(
        fc.asyncProperty(
          fc.string({ unit: "binary", maxLength: 24 }),
          fc.constantFrom("image", "well", "map"),
          async (evil, where) => {
            const mem = new Recording();
            for (const [p, b] of snapshot) {
              await mem.ensureDirectory(p.slice(0, p.lastIndexOf("/")));
              await mem.save(b, p);
            }
            // deno-lint-ignore no-explicit-any
            const edit = async (file: string, f: (j: Record<string, any>) => void) => {
              const j = JSON.parse(dec.decode(await mem.load<Uint8Array>(file, { as: "bytes" })));
              f(j);
              await mem.save(enc.encode(JSON.stringify(j)), file, { overwrite: true });
            };
            if (where === "image") {
              await edit("/p.zarr/A/1/.zattrs", (j) => j.well.images.push({ path: evil }));
            } else if (where === "well") {
              await edit("/p.zarr/.zattrs", (j) => j.plate.wells.push({ path: evil }));
            } else {
              await edit("/p.zarr/A/1/0/0/.zattrs", (j) => j.polystore_filename_map[evil] = []);
            }
            mem.reads = [];
            const r = new ZarrBackend({ store: mem });
            checkOutcome(await timed(r.load("/p.zarr/a.tif")), "load");
            const listed = await timed(r.listFiles("/p.zarr"));
            checkOutcome(listed, "listFiles");
            for (const f of (listed.value ?? []) as string[]) {
              assert.ok(/^\/p\.zarr\/[^/\\\0]+$/.test(f) && !/\/\.\.?$/.test(f), JSON.stringify(f));
            }
            for (const p of mem.reads) assert.ok(p.startsWith("/p.zarr/"), `read outside: ${p}`);
          },
        ),
        { numRuns: 200 },
      );
    },
  );
});
