/**
 * Zarr resource bombs, each loaded in a child process (the runtime running
 * this test) whose peak RSS (VmHWM) and load time are measured: a 154-byte
 * `.zarray`/`zarr.json` declaring `2**40` elements, zlib and gzip chunks
 * that inflate to 1 GiB for an 8 KiB chunk (a single array and a plate
 * plane), and a zstd frame declaring 1 GiB. Target: a typed error in under
 * 2 s with peak RSS under 300 MB. The numbers are printed.
 * (A max-ratio zlib chunk — 64 MiB of zeros at level 9 — is included too.)
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { zlibSync } from "fflate";
import { DiskBackend } from "../backends/disk.ts";
import { ZarrBackend } from "../backends/zarr.ts";

const repo = fileURLToPath(new URL("..", import.meta.url));
const fixture = join(repo, "tests", "fixtures", "zarr_bomb.ts");
const isDeno = "Deno" in globalThis;

/**
 * A raw deflate stream (one fixed-Huffman block: a literal 0, then
 * length-258/distance-1 matches) that inflates to `n` zero bytes, without
 * ever holding them: about 6.5 MB for 1 GiB.
 */
function deflateBomb(n: number): Uint8Array {
  const matches = Math.floor((n - 1) / 258);
  const out = new Uint8Array(Math.ceil((3 + 8 + matches * 13 + 7) / 8) + 8);
  let pos = 0;
  let acc = 0;
  let bits = 0;
  const put = (value: number, count: number) => {
    acc |= value << bits;
    bits += count;
    while (bits >= 8) {
      out[pos++] = acc & 0xff;
      acc >>>= 8;
      bits -= 8;
    }
  };
  const huff = (code: number, len: number) => {
    let r = 0;
    for (let i = 0; i < len; i++) r |= ((code >> i) & 1) << (len - 1 - i);
    put(r, len);
  };
  put(1, 1); // BFINAL
  put(1, 2); // BTYPE = fixed Huffman
  huff(0x30, 8); // literal 0
  // Symbol 285 (length 258, code 0xC5 in 8 bits, bit-reversed) then distance code 0 (5 zero bits).
  let match = 0;
  for (let i = 0; i < 8; i++) match |= ((0xc5 >> i) & 1) << (7 - i);
  for (let i = 0; i < matches; i++) put(match, 13);
  huff(0, 7); // end of block
  if (bits > 0) out[pos++] = acc & 0xff;
  return out.subarray(0, pos);
}

function zlibBomb(n: number): Uint8Array {
  const raw = deflateBomb(n);
  const out = new Uint8Array(raw.length + 6);
  out.set([0x78, 0x01]);
  out.set(raw, 2);
  return out; // adler32 left zero: the cap must stop it long before the trailer
}

function gzipBomb(n: number, isizeLie: number): Uint8Array {
  const raw = deflateBomb(n);
  const out = new Uint8Array(raw.length + 18);
  out.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  out.set(raw, 10);
  new DataView(out.buffer).setUint32(out.length - 4, isizeLie, true);
  return out;
}

const GiB = 2 ** 30;
const json = (o: unknown) => JSON.stringify(o);

async function makeFixtures(dir: string): Promise<Record<string, string>> {
  const cases: Record<string, string> = {};
  const arr = (name: string, file: string, meta: unknown, chunks: Record<string, Uint8Array>) => {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, file), json(meta));
    for (const [k, b] of Object.entries(chunks)) {
      mkdirSync(join(d, k, ".."), { recursive: true });
      writeFileSync(join(d, k), b);
    }
    cases[name] = d;
  };
  const v2 = (o: Record<string, unknown>) => ({
    zarr_format: 2,
    shape: [4096],
    chunks: [4096],
    dtype: "<u2",
    compressor: null,
    fill_value: 0,
    order: "C",
    filters: null,
    ...o,
  });
  arr("grid-v2.zarr", ".zarray", v2({ shape: [2 ** 40], chunks: [1], dtype: "|u1" }), {});
  arr("grid-v3.zarr", "zarr.json", {
    zarr_format: 3,
    node_type: "array",
    shape: [2 ** 40],
    data_type: "uint8",
    chunk_grid: { name: "regular", configuration: { chunk_shape: [1] } },
    chunk_key_encoding: { name: "default" },
    fill_value: 0,
    codecs: [{ name: "bytes" }],
  }, {});
  arr("zlib-1g.zarr", ".zarray", v2({ compressor: { id: "zlib", level: 1 } }), {
    "0": zlibBomb(GiB),
  });
  // Dynamic-Huffman deflate at its ~1032:1 ratio (64 MiB of zeros in ~64 KB).
  arr("zlib-maxratio.zarr", ".zarray", v2({ compressor: { id: "zlib", level: 9 } }), {
    "0": zlibSync(new Uint8Array(64 << 20), { level: 9 }),
  });
  arr("gzip-1g.zarr", ".zarray", v2({ compressor: { id: "gzip", level: 1 } }), {
    "0": gzipBomb(GiB, 8192),
  });
  const zstd = new Uint8Array(64);
  zstd.set([0x28, 0xb5, 0x2f, 0xfd, 0xa0]); // single segment, 4-byte content size
  new DataView(zstd.buffer).setUint32(5, GiB, true);
  arr("zstd-1g.zarr", ".zarray", v2({ compressor: { id: "zstd", level: 1 } }), { "0": zstd });
  // A plate whose one plane chunk (64 × 64 uint16 = 8 KiB) is a zlib bomb.
  const store = join(dir, "plate.zarr");
  const z = new ZarrBackend({ store: new DiskBackend(), compression: "zlib" });
  mkdirSync(store, { recursive: true });
  const plane = { data: new Uint16Array(4096), shape: [64, 64], stride: [64, 1] };
  await z.saveBatch([plane], [`${store}/a.tif`], { row: "A", column: "1" });
  writeFileSync(join(store, "A", "1", "0", "0", "c", "0", "0"), zlibBomb(GiB));
  cases["plate plane"] = `${store}/a.tif`;
  return cases;
}

describe("zarr bombs in child processes (peak RSS and wall time measured)", () => {
  it(
    "every bomb is a typed error in < 2 s with peak RSS < 300 MB",
    { timeout: 120_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "hcs-zarr-bomb-"));
      try {
        const cases = await makeFixtures(dir);
        const expected: Record<string, string> = {
          "grid-v2.zarr": "LimitExceededError",
          "grid-v3.zarr": "LimitExceededError",
          "zlib-1g.zarr": "CorruptDataError",
          "zlib-maxratio.zarr": "CorruptDataError",
          "gzip-1g.zarr": "CorruptDataError",
          "zstd-1g.zarr": "CorruptDataError",
          "plate plane": "CorruptDataError",
        };
        for (const [name, path] of Object.entries(cases)) {
          const cmd = process.execPath;
          const args = isDeno ? ["run", "-A", fixture, path] : [fixture, path];
          const r = spawnSync(cmd, args, {
            cwd: repo,
            encoding: "utf8",
            timeout: 60_000,
            env: { ...process.env, NO_COLOR: "1" },
          });
          assert.equal(r.status, 0, `${name}: ${r.stderr}`);
          const got = JSON.parse(r.stdout.trim().split("\n").pop()!);
          const mb = got.hwmKiB / 1024;
          console.log(
            `bomb ${name} (${
              isDeno ? "deno" : "bun"
            }): ${got.error} ${got.code} in ${got.ms} ms, peak RSS ${mb.toFixed(0)} MB`,
          );
          assert.equal(got.error, expected[name], name);
          assert.ok(got.ms < 2000, `${name}: ${got.ms} ms`);
          assert.ok(mb < 300, `${name}: peak RSS ${mb} MB`);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
