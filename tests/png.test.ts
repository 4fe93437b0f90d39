// PNG decoding of PngSuite-like files (Adam7 at every depth, palettes with
// tRNS, truecolour with a suggested PLTE), the decode budget and capped
// inflate. Files are built by tests/_png.ts from known pixels, so the expected
// values are the pixels themselves; where ImageMagick is installed, its
// decoding of the same files is compared too (an independent decoder).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { zlibSync } from "fflate";
import { CorruptDataError, LimitExceededError } from "../errors.ts";
import type { NdArray } from "../backends/base.ts";
import { decodeForPath, decodePng } from "../formats/mod.ts";
import { chunk, concat, ihdr, makePng, type PngSpec, randomSamples } from "./_png.ts";
import { commandMissing, peerSkip, PYTHON, pythonMissing } from "./_peers.ts";

const CONVERT = "/usr/bin/convert"; // Debian imagemagick;
const noConvert = peerSkip("ImageMagick", commandMissing(CONVERT, ["-version"]));
const noPil = peerSkip("Python PIL", pythonMissing(["PIL", "numpy"]));

/** Pillow's decoding of `png`, converted to `mode` (None: as decoded), as a flat list. */
function pillow(png: Uint8Array, mode: string): number[] {
  const dir = mkdtempSync(join(tmpdir(), "hcs-png-"));
  try {
    const file = join(dir, "in.png");
    writeFileSync(file, png);
    const code = [
      "import sys, json, numpy as np",
      "from PIL import Image",
      "im = Image.open(sys.argv[1])",
      "m = sys.argv[2]",
      "a = np.asarray(im if m == 'None' else im.convert(m))",
      "print(json.dumps(a.astype(np.int64).ravel().tolist()))",
    ].join("\n");
    const r = spawnSync(PYTHON, ["-c", code, file, mode], { encoding: "utf8", maxBuffer: 1 << 26 });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as number[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** ImageMagick's decoding of `png` as raw samples (`map`: gray, rgb, rgba; MSB first at 16 bits). */
function magick(png: Uint8Array, map: string, depth: 8 | 16): number[] {
  const dir = mkdtempSync(join(tmpdir(), "hcs-png-"));
  try {
    const file = join(dir, "in.png");
    writeFileSync(file, png);
    const r = spawnSync(CONVERT, [file, "-depth", String(depth), "-endian", "MSB", `${map}:-`], {
      maxBuffer: 1 << 26,
    });
    assert.equal(r.status, 0, String(r.stderr));
    const b = new Uint8Array(r.stdout);
    if (depth === 8) return Array.from(b);
    const out: number[] = [];
    for (let i = 0; i + 1 < b.length; i += 2) out.push((b[i]! << 8) | b[i + 1]!);
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function values(a: NdArray): number[] {
  return Array.from(a.data as ArrayLike<number>);
}

const SIZES = [[1, 1], [3, 2], [13, 11], [32, 32], [33, 9]] as const;

describe("png: PngSuite-like files", () => {
  for (const depth of [1, 2, 4, 8, 16]) {
    it(`Adam7 gray at ${depth} bits decodes to the pixels it was made from`, () => {
      for (const [w, h] of SIZES) {
        const samples = randomSamples(w * h, depth, w * 31 + depth);
        const png = makePng({ width: w, height: h, depth, colorType: 0, samples, interlace: true });
        const img = decodePng(png, "/adam7.png");
        assert.deepEqual(img.shape, [h, w]);
        assert.equal(img.data.constructor, depth === 16 ? Uint16Array : Uint8Array);
        assert.deepEqual(values(img), samples, `${w}×${h} at ${depth} bits`);
      }
    });
  }

  for (const depth of [1, 2, 4, 8]) {
    it(`palette at ${depth} bits (plain and Adam7, with tRNS) expands to RGB/RGBA`, () => {
      const n = 2 ** depth;
      const palette = Array.from({ length: n }, (_, i) => [i * 3 % 256, 255 - i, i * 7 % 256]) as [
        number,
        number,
        number,
      ][];
      for (const interlace of [false, true]) {
        for (const trns of [undefined, new Uint8Array([0, 128])]) {
          const [w, h] = [13, 11];
          const idx = randomSamples(w * h, depth, depth + 5);
          const spec: PngSpec = { width: w, height: h, depth, colorType: 3, samples: idx, palette };
          spec.interlace = interlace;
          if (trns) spec.trns = trns;
          const img = decodePng(makePng(spec), "/p.png");
          const ch = trns ? 4 : 3;
          const want = idx.flatMap((i) =>
            trns ? [...palette[i]!, i < trns.length ? trns[i]! : 255] : [...palette[i]!]
          );
          assert.deepEqual(img.shape, [h, w, ch]);
          assert.deepEqual(values(img), want);
        }
      }
    });
  }

  it("truecolour with a suggested PLTE ignores it (8-bit RGB, pp0n2c16, pp0n6a08)", () => {
    const palette: [number, number, number][] = [[0, 0, 0], [40, 40, 40], [80, 80, 80]];
    const cases: PngSpec[] = [
      { width: 1, height: 1, depth: 8, colorType: 2, samples: [0, 1, 2], palette },
      // pp0n2c16: 16-bit RGB with a palette; pp0n6a08: 8-bit RGBA with a palette
      { width: 32, height: 32, depth: 16, colorType: 2, samples: randomSamples(3072, 16, 3) },
      { width: 32, height: 32, depth: 8, colorType: 6, samples: randomSamples(4096, 8, 4) },
    ];
    cases[1]!.palette = palette;
    cases[2]!.palette = palette;
    for (const spec of cases) {
      const img = decodePng(makePng(spec), "/tc.png");
      assert.deepEqual(values(img), Array.from(spec.samples), `colour type ${spec.colorType}`);
    }
  });

  it("cross-checks with ImageMagick (an independent decoder)", { skip: noConvert }, () => {
    for (const depth of [1, 2, 4]) {
      const samples = randomSamples(13 * 11, depth, depth);
      const png = makePng({ width: 13, height: 11, depth, colorType: 0, samples, interlace: true });
      const ours = values(decodePng(png, "/x.png")).map((v) => v * 255 / (2 ** depth - 1));
      assert.deepEqual(ours, magick(png, "gray", 8), `Adam7 gray ${depth}`);
    }
    const rgb16 = makePng({
      width: 32,
      height: 32,
      depth: 16,
      colorType: 2,
      samples: randomSamples(3072, 16, 9),
      palette: [[1, 2, 3]],
      interlace: true,
    });
    assert.deepEqual(values(decodePng(rgb16, "/x.png")), magick(rgb16, "rgb", 16));
    const pal = makePng({
      width: 9,
      height: 7,
      depth: 4,
      colorType: 3,
      samples: randomSamples(63, 4, 2),
      palette: Array.from(
        { length: 16 },
        (_, i) => [i * 16, 200 - i, i] as [number, number, number],
      ),
      trns: new Uint8Array([10, 20, 30]),
      interlace: true,
    });
    assert.deepEqual(values(decodePng(pal, "/x.png")), magick(pal, "rgba", 8));
  });

  it("cross-checks with Pillow (an independent decoder)", { skip: noPil }, () => {
    const palette = Array.from({ length: 256 }, (_, i) =>
      [i, (i * 5) % 256, 255 - i] as [
        number,
        number,
        number,
      ]);
    const cases: [PngSpec, string][] = [
      [{
        width: 17,
        height: 9,
        depth: 8,
        colorType: 3,
        samples: randomSamples(153, 8, 1),
        palette,
        trns: new Uint8Array([5, 6, 7]),
        interlace: true,
      }, "RGBA"],
      [{
        width: 17,
        height: 9,
        depth: 8,
        colorType: 6,
        samples: randomSamples(612, 8, 2),
        palette,
        interlace: true,
      }, "RGBA"],
      [
        {
          width: 17,
          height: 9,
          depth: 8,
          colorType: 2,
          samples: randomSamples(459, 8, 3),
          palette,
        },
        "RGB",
      ],
      [{
        width: 17,
        height: 9,
        depth: 16,
        colorType: 0,
        samples: randomSamples(153, 16, 4),
        interlace: true,
      }, "None"],
      [{
        width: 17,
        height: 9,
        depth: 8,
        colorType: 4,
        samples: randomSamples(306, 8, 5),
        interlace: true,
      }, "LA"],
    ];
    for (const [spec, mode] of cases) {
      const png = makePng(spec);
      assert.deepEqual(
        values(decodePng(png, "/x.png")),
        pillow(png, mode),
        `colour type ${spec.colorType}`,
      );
    }
  });

  it("reads image data split over several IDAT chunks", () => {
    const samples = randomSamples(64 * 64 * 3, 8, 11);
    const png = makePng({ width: 64, height: 64, depth: 8, colorType: 2, samples, idatChunks: 7 });
    assert.deepEqual(values(decodePng(png, "/s.png")), samples);
  });
});

describe("png: limits", () => {
  const header = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

  it("stops inflating at the size the image needs (1×1 image, 16 MiB of IDAT output)", () => {
    const bomb = concat([
      header,
      chunk("IHDR", ihdr(1, 1, 8, 0)),
      chunk("IDAT", zlibSync(new Uint8Array(16 << 20), { level: 9 })),
      chunk("IEND", new Uint8Array(0)),
    ]);
    const t0 = performance.now();
    assert.throws(() => decodeForPath(bomb, "/b.png", "load"), (err: unknown) => {
      assert.ok(err instanceof CorruptDataError, String(err));
      assert.match(err.message, /^load '\/b\.png': .*inflates past the 2 bytes/);
      return true;
    });
    assert.ok(performance.now() - t0 < 1000, "took too long");
  });

  it("refuses sizes over the PNG maximum of 2^31 - 1 (valid CRC)", () => {
    for (const [w, h] of [[1, 2 ** 31], [2 ** 31, 1], [0, 1]]) {
      const bad = concat([
        header,
        chunk("IHDR", ihdr(w!, h!, 8, 0)),
        chunk("IDAT", zlibSync(new Uint8Array(2))),
        chunk("IEND", new Uint8Array(0)),
      ]);
      assert.throws(() => decodePng(bad, "/h.png"), /PNG size .* is invalid/);
    }
  });

  it("refuses short image data", () => {
    const short = concat([
      header,
      chunk("IHDR", ihdr(4, 4, 8, 0)),
      chunk("IDAT", zlibSync(new Uint8Array(10))),
      chunk("IEND", new Uint8Array(0)),
    ]);
    assert.throws(() => decodePng(short, "/s.png"), CorruptDataError);
  });

  it("honours maxDecodedBytes before allocating", () => {
    const png = makePng({
      width: 8,
      height: 8,
      depth: 8,
      colorType: 2,
      samples: new Array(192).fill(1),
    });
    assert.equal(decodePng(png, "/m.png", { maxDecodedBytes: 192 }).data.length, 192);
    assert.throws(
      () => decodeForPath(png, "/m.png", "load", { maxDecodedBytes: 191 }),
      (err: unknown) => err instanceof LimitExceededError && /maxDecodedBytes/.test(err.message),
    );
  });
});
