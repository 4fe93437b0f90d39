// Property-based robustness test: random bytes and mutated valid files fed to
// every decoder. A decoder must either return a well-formed value or throw a
// StorageError naming the path and operation: no hang, no crash, no array
// whose data disagrees with its shape. ≥ 10,000 cases per decoder.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { StorageError } from "../errors.ts";
import { isNdArray, type NdArray, type TypedArray } from "../backends/base.ts";
import { decodeForPath, encodeForPath } from "../formats/mod.ts";
import { decodeCsv } from "../formats/csv.ts";
import { decodeNpy } from "../formats/npy.ts";
import { decodePng } from "../formats/png.ts";
import { decodeTiff } from "../formats/tiff.ts";
import { buildTiff } from "./_tiff_fixtures.ts";

const RUNS = Math.max(
  10_000,
  Number(
    (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env
      .FUZZ_RUNS ?? 0,
  ),
);

function nd<T extends TypedArray>(data: T, shape: number[]): NdArray<T> {
  const stride: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    stride[i] = acc;
    acc *= shape[i]!;
  }
  return { data, shape, stride };
}

const ramp = <T extends TypedArray>(a: T): T => {
  const v = a as unknown as { [i: number]: number | bigint; length: number };
  for (let i = 0; i < v.length; i++) {
    v[i] = a instanceof BigInt64Array || a instanceof BigUint64Array ? BigInt(i * 7919) : i * 31;
  }
  return a;
};

function npyBytes(dict: string, body: Uint8Array): Uint8Array {
  let header = dict;
  while ((10 + header.length + 1) % 64) header += " ";
  header += "\n";
  const out = new Uint8Array(10 + header.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(new TextEncoder().encode(header), 10);
  out.set(body, 10 + header.length);
  return out;
}

// A small uint16 LZW TIFF written by Pillow/libtiff (8x8, values (i*977) % 65535).
const PIL_LZW_B64 =
  "SUkqAJwAAACAAAANEBqIDnMFkQHhUJuYLLcNIgPFkRCoTPsUswWp0Ym4aj8chAeuEgLIiIMkFQmCUoPYpscrpgtmkvjoxgsztw1K03H45E87CA9PE+sJApNCmREjVGgZItdKKhMHlOEpQBtSOxTr1Vo5Xl9ZjBbgFdtJfKNhHRjEVlBZnOdorhqolslpuitwvxyM10J52G94QEAACQAAAQMAAQAAAAgAAAABAQMAAQAAAAgAAAACAQMAAQAAABAAAAADAQMAAQAAAAUAAAAGAQMAAQAAAAEAAAARAQQAAQAAAAgAAAAWAQMAAQAAAAgAAAAXAQQAAQAAAJMAAAAcAQMAAQAAAAEAAAAAAAAA";
const fromB64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

const u16 = ramp(new Uint16Array(6 * 5));
const SEEDS: Record<string, Uint8Array[]> = {
  npy: [
    encodeForPath(nd(ramp(new Uint16Array(20)), [4, 5]), "a.npy", "save"),
    encodeForPath(nd(ramp(new Float32Array(1)), []), "a.npy", "save"),
    encodeForPath(nd(ramp(new BigInt64Array(6)), [2, 3]), "a.npy", "save"),
    npyBytes(
      "{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3), }",
      new Uint8Array(24).map((_, i) => i),
    ),
    npyBytes(
      "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }",
      new Uint8Array([1, 0, 1]),
    ),
  ],
  tif: [
    encodeForPath(nd(ramp(new Uint16Array(2 * 6 * 5)), [2, 6, 5]), "a.tif", "save"),
    encodeForPath(nd(ramp(new Float32Array(12)), [3, 4]), "a.tif", "save"),
    buildTiff([{ width: 5, height: 6, data: u16, bits: 16, format: 1, rowsPerStrip: 2 }], {
      littleEndian: false,
    }),
    buildTiff([
      { width: 5, height: 6, data: u16, bits: 16, format: 1, compression: 8, predictor: 2 },
    ]),
    buildTiff([{
      width: 5,
      height: 6,
      data: u16,
      bits: 16,
      format: 1,
      compression: 32773,
      tile: [16, 16],
    }]),
    buildTiff([{
      width: 4,
      height: 3,
      data: ramp(new Float32Array(12)),
      bits: 32,
      format: 3,
      compression: 8,
      predictor: 3,
    }], { bigTiff: true }),
    fromB64(PIL_LZW_B64),
    buildTiff([{
      width: 5,
      height: 6,
      data: ramp(new Uint8Array(5 * 6 * 3)),
      bits: 8,
      format: 1,
      samples: 3,
      compression: 5,
      predictor: 2,
      tile: [16, 16],
    }]),
  ],
  png: [
    encodeForPath(nd(ramp(new Uint8Array(6 * 5)), [6, 5]), "a.png", "save"),
    encodeForPath(nd(ramp(new Uint16Array(4 * 3 * 4)), [4, 3, 4]), "a.png", "save"),
    encodeForPath(nd(ramp(new Uint8Array(3 * 3 * 2)), [3, 3, 2]), "a.png", "save"),
  ],
  json: [new TextEncoder().encode('{"a": [1, 2.5, "x", null, true], "b": {"c": "\\u00e9"}}')],
  csv: [new TextEncoder().encode('a,b,c\r\n1,"x,y",""\r\n"q""uote",\n3,4,5\n')],
};

/** A valid seed with 1..8 random edits: bit flips, byte writes, 32-bit writes, cuts, inserts. */
function mutated(seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const edit = fc.oneof(
    fc.record({ k: fc.constant("flip"), at: fc.nat(), bit: fc.nat(7) }),
    fc.record({ k: fc.constant("byte"), at: fc.nat(), v: fc.nat(255) }),
    fc.record({
      k: fc.constant("u32"),
      at: fc.nat(),
      v: fc.constantFrom(0, 1, 0xff, 0xffff, 0x7fffffff, 0xffffffff, 8, 16),
    }),
    fc.record({ k: fc.constant("cut"), at: fc.nat() }),
    fc.record({ k: fc.constant("insert"), at: fc.nat(), v: fc.nat(255) }),
  );
  return fc.tuple(fc.constantFrom(...seeds), fc.array(edit, { minLength: 1, maxLength: 8 })).map(
    ([seed, edits]) => {
      let b = seed.slice();
      for (const e of edits) {
        if (b.length === 0) break;
        const at = e.at % b.length;
        if (e.k === "flip") b[at]! ^= 1 << (e as { bit: number }).bit;
        else if (e.k === "byte") b[at] = (e as { v: number }).v;
        else if (e.k === "u32") {
          const v = (e as { v: number }).v;
          for (let j = 0; j < 4 && at + j < b.length; j++) b[at + j] = (v >>> (8 * j)) & 0xff;
        } else if (e.k === "cut") b = b.slice(0, at);
        else {
          const n = new Uint8Array(b.length + 1);
          n.set(b.subarray(0, at));
          n[at] = (e as { v: number }).v;
          n.set(b.subarray(at), at + 1);
          b = n;
        }
      }
      return b;
    },
  );
}

function checkValue(value: unknown, ext: string): void {
  if (ext === "json" || ext === "csv") return; // any JSON value / rows
  assert.ok(isNdArray(value), "array formats must decode to an NdArray");
  const { data, shape, stride } = value as NdArray;
  const n = shape.reduce((a, b) => a * b, 1);
  assert.equal(data.length, n, `data length ${data.length} vs shape [${shape}]`);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    assert.ok(Number.isSafeInteger(shape[i]) && shape[i]! >= 0);
    assert.equal(stride[i], acc);
    acc *= shape[i]!;
  }
}

const DIRECT: Record<string, (b: Uint8Array) => unknown> = {
  npy: decodeNpy,
  tif: decodeTiff,
  png: decodePng,
  csv: decodeCsv,
};

describe("decoders under random and mutated input", () => {
  it("the seeds decode (the fuzz starts from valid files)", () => {
    for (const [ext, seeds] of Object.entries(SEEDS)) {
      for (const s of seeds) checkValue(decodeForPath(s, `/seed.${ext}`, "load"), ext);
    }
    const lzw = decodeForPath(fromB64(PIL_LZW_B64), "/l.tif", "load") as NdArray;
    assert.deepEqual(lzw.shape, [8, 8]);
    assert.deepEqual(
      Array.from(lzw.data as Uint16Array),
      Array.from({ length: 64 }, (_, i) => (i * 977) % 65535),
    );
  });

  for (const ext of Object.keys(SEEDS)) {
    it(
      `.${ext}: ${RUNS} cases → a well-formed value or a StorageError`,
      { timeout: 120_000 },
      () => {
        const path = `/fuzz/case.${ext}`;
        const input = fc.oneof(
          { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
          { weight: 4, arbitrary: mutated(SEEDS[ext]!) },
        );
        let failures = 0;
        fc.assert(
          fc.property(input, (bytes) => {
            let value: unknown;
            try {
              value = decodeForPath(bytes, path, "load");
            } catch (err) {
              failures++;
              if (!(err instanceof StorageError)) throw err;
              assert.equal(err.path, path);
              assert.ok(err.message.startsWith(`load '${path}': `), err.message);
              // the codec itself keeps to StorageError / TypeError / RangeError
              const direct = DIRECT[ext];
              if (direct) {
                try {
                  direct(bytes);
                } catch (e) {
                  assert.ok(
                    e instanceof StorageError || e instanceof TypeError || e instanceof RangeError,
                    `codec threw ${String(e)}`,
                  );
                }
              }
              return;
            }
            checkValue(value, ext);
          }),
          {
            numRuns: RUNS,
            seed: Number(
              (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env
                .FUZZ_SEED ?? 4242,
            ),
          },
        );
        assert.ok(failures > 0, "the fuzz never produced a bad input");
      },
    );
  }
});
