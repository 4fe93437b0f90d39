// Resource bombs (issue 10 item 4), each loaded in a child process (Deno and
// Bun) through the disk backend: every case must end in a typed error within
// 2 s with a peak RSS under 300 MB. The measurements are printed.
import { it } from "node:test";
import assert from "node:assert/strict";
import { describePeer } from "./_peers.ts";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import process from "node:process";
import { zlibSync } from "fflate";
import { zeroBomb } from "./_deflate_bomb.ts";
import { chunk, concat, ihdr } from "./_png.ts";
import { stripTiff } from "./_strip_tiff.ts";
import { scriptRuntimes } from "./_runtimes.ts";

const ROOT = nodePath.resolve(import.meta.dirname ?? ".", "..");
const PROBE = nodePath.join(ROOT, "tests/fixtures/bomb_probe.ts");
const RUNTIMES = scriptRuntimes(PROBE);
const MAX_MS = 2000;
const MAX_RSS_MB = 300;
const skip = process.platform !== "linux" ? "peak RSS is read from /proc (Linux)" : false;

/** Pairs for a stream of ~1 GiB of zeros (~1 MiB compressed). */
const GIB_PAIRS = Math.floor((2 ** 30 - 1) / 258);
const SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function npy(dict: string, body: Uint8Array): Uint8Array {
  let header = dict;
  while ((10 + header.length + 1) % 64) header += " ";
  header += "\n";
  const out = new Uint8Array(10 + header.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  for (let k = 0; k < header.length; k++) out[10 + k] = header.charCodeAt(k);
  out.set(body, 10 + header.length);
  return out;
}

/** name → [file bytes (or an existing path), expected error class, message pattern]. */
function cases(): [string, Uint8Array | string, string, RegExp][] {
  const gib = zeroBomb(GIB_PAIRS);
  const stripBlob = zlibSync(new Uint8Array(16 * 16384 * 2)); // 16 rows of 16384 uint16
  return [
    [
      "png: 1×1 image, IDAT inflates to 1 GiB",
      concat([
        SIGNATURE,
        chunk("IHDR", ihdr(1, 1, 8, 0)),
        chunk("IDAT", gib),
        chunk("IEND", new Uint8Array(0)),
      ]),
      "CorruptDataError",
      /inflates past/,
    ],
    [
      "tiff: 32×32 uint16, one 1 MiB Deflate strip (1 GiB inflated)",
      stripTiff(32, 32, 16, 8, 32, [gib], [0]),
      "CorruptDataError",
      /inflates past/,
    ],
    [
      "tiff: 16384×16384 uint16, 1024 strips sharing one offset",
      stripTiff(16384, 16384, 16, 8, 16, [stripBlob], new Array(1024).fill(0)),
      "CorruptDataError",
      /share or overlap/,
    ],
    [
      "tiff: strips sharing one offset declaring 4.36 GB",
      stripTiff(65536, 33280, 16, 8, 16, [stripBlob], new Array(2080).fill(0)),
      "LimitExceededError",
      /maxDecodedBytes/,
    ],
    [
      "npy: header declares shape (2**40,) float64",
      npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }",
        new Uint8Array(8),
      ),
      "CorruptDataError",
      /truncated/,
    ],
    ["/dev/zero", "/dev/zero", "UnsupportedOperationError", /a character device/],
  ];
}

describePeer(skip)("bombs: typed error < 2 s, peak RSS < 300 MB, in child processes", () => {
  const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-bombs-"));
  const all = skip ? [] : cases();
  const files = all.map(([name, bytes], k) => {
    if (typeof bytes === "string") return bytes;
    const file = nodePath.join(
      dir,
      `bomb${k}${name.startsWith("png") ? ".png" : name.startsWith("npy") ? ".npy" : ".tif"}`,
    );
    fs.writeFileSync(file, bytes);
    return file;
  });

  for (const [runtimeName, argv] of RUNTIMES) {
    all.forEach(([name, bytes, errorClass, pattern], k) => {
      it(`${runtimeName}: ${name}`, () => {
        const t0 = performance.now();
        const r = spawnSync(argv[0]!, [...argv.slice(1), files[k]!], {
          encoding: "utf8",
          timeout: 60_000,
          killSignal: "SIGKILL",
          cwd: ROOT,
        });
        const wall = performance.now() - t0;
        assert.equal(r.status, 0, `child died (${r.signal ?? r.status}): ${r.stderr}`);
        const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as {
          implementation: string;
          error: string;
          message: string;
          ms: number;
          peakRssMB: number;
        };
        const size = typeof bytes === "string" ? "device" : `${bytes.length} B file`;
        console.log(
          `bomb ${runtimeName} [${out.implementation}] ${name} (${size}): ${out.error} in ${
            out.ms.toFixed(0)
          } ms, peak RSS ${out.peakRssMB.toFixed(0)} MB (child wall ${wall.toFixed(0)} ms)`,
        );
        assert.equal(out.error, errorClass, out.message);
        assert.match(out.message, pattern);
        assert.ok(out.ms < MAX_MS, `took ${out.ms} ms`);
        assert.ok(out.peakRssMB > 0 && out.peakRssMB < MAX_RSS_MB, `peak RSS ${out.peakRssMB} MB`);
      });
    });
  }

  it("cleanup", () => fs.rmSync(dir, { recursive: true, force: true }));
});
