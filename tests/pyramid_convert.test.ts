/**
 * `hcs-store convert` writes pyramids by default and the physical pixel size
 * from `--pixel-size` / `--z-spacing`; `--levels 1` turns pyramids off.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../cli/mod.ts";
import { DiskBackend } from "../backends/disk.ts";

let dir = "";
const PATTERN = "^(?<well>[A-P]\\d{2})_f(?<field>\\d+)_c(?<channel>\\d+)\\.tif$";

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "hcs-pyrconv-"));
  const disk = new DiskBackend();
  await disk.ensureDirectory(join(dir, "in"));
  for (const well of ["A01", "B02"]) {
    for (const c of [0, 1]) {
      const data = Uint16Array.from({ length: 600 * 300 }, (_, i) => (i * (c + 1)) % 4096);
      await disk.save(
        { data, shape: [600, 300], stride: [300, 1] },
        join(dir, "in", `${well}_f0_c${c}.tif`),
      );
    }
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<number> {
  return await main(args, { out: () => {}, err: () => {} });
}

function fieldMeta(out: string) {
  return JSON.parse(readFileSync(join(out, "A", "01", "0", "zarr.json"), "utf8")).attributes.ome;
}

describe("convert: pyramids and pixel size", () => {
  it("on by default: levels down to one tile, pixel size and unit on the axes", async () => {
    const out = join(dir, "auto.zarr");
    assert.equal(
      await run([
        "convert",
        "-q",
        "--pattern",
        PATTERN,
        "--pixel-size",
        "0.65",
        join(dir, "in"),
        out,
      ]),
      0,
    );
    const ms = fieldMeta(out).multiscales[0];
    assert.deepEqual(ms.datasets.map((d: { path: string }) => d.path), ["0", "1", "2"]);
    assert.deepEqual(ms.datasets[1].coordinateTransformations[0].scale, [1, 1.3, 1.3]);
    const lvl2 = JSON.parse(readFileSync(join(out, "A", "01", "0", "2", "zarr.json"), "utf8"));
    assert.deepEqual(lvl2.shape, [2, 150, 75]);
    assert.equal(ms.axes.at(-1).unit, "micrometer");
    assert.equal(fieldMeta(out).omero.channels.length, 2);
  });
  it("--levels 1 writes only level 0; bad values are usage errors", async () => {
    const out = join(dir, "one.zarr");
    assert.equal(
      await run(["convert", "-q", "--pattern", PATTERN, "--levels", "1", join(dir, "in"), out]),
      0,
    );
    assert.equal(fieldMeta(out).multiscales[0].datasets.length, 1);
    assert.equal(await run(["convert", "--levels", "0", join(dir, "in"), join(dir, "x.zarr")]), 2);
    assert.equal(
      await run(["convert", "--pixel-size", "-1", join(dir, "in"), join(dir, "x.zarr")]),
      2,
    );
    assert.equal(
      await run(["convert", "--z-spacing", "2", join(dir, "in"), join(dir, "x.zarr")]),
      2,
    );
  });
});
