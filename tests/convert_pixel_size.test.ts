/**
 * `hcs-store convert` without `--pixel-size` takes the plate's pixel size
 * (and ImageJ's z spacing) from the first source TIFF's metadata;
 * `--pixel-size` overrides it; sources without a physical size keep scale 1.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../cli/mod.ts";
import { encodeTiff } from "../formats/tiff.ts";
import { describePeer, peerSkip, PYTHON, pythonMissing } from "./_peers.ts";
import { type TagSpec, tiffWithTags } from "./_tiff_res.ts";

let dir = "";
const W = 48;
const H = 40;
const PATTERN = "^(?<well>[A-P]\\d{2})_f(?<field>\\d+)_c(?<channel>\\d+)(?:_z(?<z>\\d+))?\\.tif$";

function plane(seed: number): Uint16Array {
  return Uint16Array.from({ length: W * H }, (_, i) => (i * 7 + seed * 131) % 4096);
}

function writeFolder(name: string, tags: TagSpec[], zs: number[] = []): string {
  const folder = join(dir, name);
  mkdirSync(folder, { recursive: true });
  let seed = 0;
  for (const well of ["A01", "B02"]) {
    for (const c of [0, 1]) {
      for (const z of zs.length ? zs : [-1]) {
        const file = `${well}_f0_c${c}${z < 0 ? "" : `_z${z}`}.tif`;
        writeFileSync(join(folder, file), tiffWithTags(W, H, plane(seed++), tags));
      }
    }
  }
  return folder;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), "hcs-convpx-"));
  // 200000/13 px per cm = 0.65 µm per pixel.
  writeFolder("cm", [[282, 5, [200000, 13]], [283, 5, [200000, 13]], [296, 3, [3]]]);
  // ImageJ: 40/13 px per micron = 0.325 µm, z spacing 2 µm (ResolutionUnit none).
  const ij = "ImageJ=1.54f\nimages=2\nslices=2\nunit=micron\nspacing=2\nloop=false\n";
  writeFolder("ij", [[270, 2, ij], [282, 5, [40, 13]], [283, 5, [40, 13]], [296, 3, [1]]], [1, 2]);
  // No physical size at all (our own encoder writes no resolution tags).
  const plain = join(dir, "plain");
  mkdirSync(plain);
  for (const f of ["A01_f0_c0.tif", "A01_f0_c1.tif"]) {
    writeFileSync(join(plain, f), encodeTiff({ data: plane(1), shape: [H, W], stride: [W, 1] }));
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function convert(args: string[]): Promise<{ code: number; err: string[] }> {
  const err: string[] = [];
  const code = await main(["convert", "--pattern", PATTERN, ...args], {
    out: () => {},
    err: (l: string) => err.push(l),
  });
  return { code, err };
}

/** A level's scale (default level 0) and the axes of well A01 field 0, in either NGFF layout. */
function level0(
  out: string,
  ngff: "0.5" | "0.4" = "0.5",
  level = 0,
): { scale: number[]; units: unknown[] } {
  const field = join(out, "A", "01", "0");
  const ms = ngff === "0.5"
    ? JSON.parse(readFileSync(join(field, "zarr.json"), "utf8")).attributes.ome.multiscales[0]
    : JSON.parse(readFileSync(join(field, ".zattrs"), "utf8")).multiscales[0];
  return {
    scale: ms.datasets[level].coordinateTransformations[0].scale,
    units: ms.axes.map((a: { unit?: string }) => a.unit),
  };
}

describe("convert: pixel size from the source TIFFs", () => {
  it("resolution tags in px/cm become the plate's scale in micrometres", async () => {
    const out = join(dir, "cm.zarr");
    const r = await convert(["--levels", "1", join(dir, "cm"), out]);
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.deepEqual(level0(out), {
      scale: [1, 0.65, 0.65],
      units: [undefined, "micrometer", "micrometer"],
    });
    assert.ok(r.err.some((l) => /pixel size 0\.65 µm from A01_f0_c0\.tif/.test(l)), r.err.join());
  });
  it("pyramid levels scale the source's pixel size; the 0.4 layout gets it too", async () => {
    const out = join(dir, "cm04.zarr");
    assert.equal((await convert(["--ngff", "0.4", "--levels", "2", join(dir, "cm"), out])).code, 0);
    assert.deepEqual(level0(out, "0.4").scale, [1, 0.65, 0.65]);
    assert.deepEqual(level0(out, "0.4", 1).scale, [1, 1.3, 1.3]);
  });
  it("an ImageJ description gives x/y in its unit and the z spacing", async () => {
    const out = join(dir, "ij.zarr");
    assert.equal((await convert(["--levels", "1", join(dir, "ij"), out])).code, 0);
    assert.deepEqual(level0(out), {
      scale: [1, 2, 0.325, 0.325],
      units: [undefined, "micrometer", "micrometer", "micrometer"],
    });
  });
  it("--pixel-size (and --z-spacing) override the source", async () => {
    const out = join(dir, "override.zarr");
    const args = ["--levels", "1", "--pixel-size", "0.5", "--z-spacing", "3", join(dir, "ij"), out];
    const r = await convert(args);
    assert.equal(r.code, 0);
    assert.deepEqual(level0(out).scale, [1, 3, 0.5, 0.5]);
    assert.ok(!r.err.some((l) => /TIFF metadata/.test(l)));
    const out2 = join(dir, "override2.zarr");
    assert.equal((await convert(["--pixel-size", "2", join(dir, "cm"), out2])).code, 0);
    assert.deepEqual(level0(out2).scale, [1, 2, 2]);
  });
  it("sources without a physical size keep scale 1 and no unit", async () => {
    const out = join(dir, "plain.zarr");
    const r = await convert(["--levels", "1", join(dir, "plain"), out]);
    assert.equal(r.code, 0);
    assert.deepEqual(level0(out), { scale: [1, 1, 1], units: [undefined, undefined, undefined] });
    assert.ok(!r.err.some((l) => /TIFF metadata/.test(l)));
  });
});

const WRITE = `
import sys, numpy as np, tifffile
d = sys.argv[1]
for c in (0, 1):
    a = (np.arange(40 * 48, dtype=np.uint16).reshape(40, 48) * (c + 1)) % 4096
    tifffile.imwrite(f'{d}/A01_f0_c{c}.tif', a, imagej=True,
                     metadata={'unit': 'um'}, resolution=(1 / 0.325, 1 / 0.325))
`;

describePeer(peerSkip("python-tifffile", pythonMissing(["tifffile", "numpy"])))(
  "convert: pixel size from tifffile-written ImageJ TIFFs",
  () => {
    it("1/0.325 px per µm becomes scale 0.325", async () => {
      const src = join(dir, "py");
      mkdirSync(src);
      const w = spawnSync(PYTHON, ["-c", WRITE, src], { encoding: "utf8" });
      assert.equal(w.status, 0, w.stderr);
      const out = join(dir, "py.zarr");
      assert.equal((await convert(["--levels", "1", src, out])).code, 0);
      const { scale } = level0(out);
      assert.equal(scale[0], 1);
      for (const s of scale.slice(1)) assert.ok(Math.abs(s - 0.325) < 1e-9, `${s}`);
    });
  },
);
