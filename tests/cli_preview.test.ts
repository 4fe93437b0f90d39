// The plate preview as a biologist reads it: decode the PNG the real CLI
// wrote and check the row/column labels in the margins, the grid, hatched
// empty wells, per-channel colours (palette, or the plate's omero colours),
// the legend, --channel and --field, and that a field that does not exist
// exits 1 without writing a picture.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import { fileURLToPath } from "node:url";
import { decode as decodePng } from "fast-png";
import { encodeForPath } from "../formats/mod.ts";
import type { NdArray } from "../backends/base.ts";
import { ADVANCE, glyph, GLYPH_H, GLYPH_W } from "../cli/_font.ts";
import { COLORS } from "../cli/_montage.ts";

const root = nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), "..");
const entry = nodePath.join(root, "cli", "mod.ts");
const isBun = "Bun" in globalThis;
const pre = isBun ? [entry] : ["run", "-A", entry];

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Run {
  const r = spawnSync(process.execPath, [...pre, ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

interface Layout {
  left: number;
  top: number;
  tileWidth: number;
  tileHeight: number;
  gap: number;
  scale: number;
  legendTop?: number;
}

interface Picture {
  width: number;
  height: number;
  px: (x: number, y: number) => [number, number, number];
}

function readPng(path: string): Picture {
  const img = decodePng(fs.readFileSync(path));
  assert.equal(img.channels, 3, "an RGB picture");
  const d = img.data as Uint8Array;
  return {
    width: img.width,
    height: img.height,
    px: (x, y) => {
      const o = (y * img.width + x) * 3;
      return [d[o]!, d[o + 1]!, d[o + 2]!];
    },
  };
}

const same = (a: readonly number[], b: readonly number[]) => a.every((v, i) => v === b[i]);

/** The label pixels in a box, cropped to their bounding box, as rows of 0/1 at font scale. */
function labelBitmap(p: Picture, x0: number, y0: number, x1: number, y1: number, scale: number) {
  let minX = Infinity, minY = Infinity, maxX = -1, maxY = -1;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      if (!same(p.px(x, y), COLORS.label)) continue;
      minX = Math.min(minX, x), maxX = Math.max(maxX, x);
      minY = Math.min(minY, y), maxY = Math.max(maxY, y);
    }
  }
  if (maxX < 0) return [];
  const rows: string[] = [];
  for (let y = minY; y <= maxY; y += scale) {
    let row = "";
    for (let x = minX; x <= maxX; x += scale) row += same(p.px(x, y), COLORS.label) ? "1" : "0";
    rows.push(row);
  }
  return rows;
}

/** What `text` looks like in the built-in font, cropped the same way. */
function expectedBitmap(text: string): string[] {
  const w = text.length * ADVANCE - 1;
  const grid = Array.from({ length: GLYPH_H }, () => Array<string>(w).fill("0"));
  [...text].forEach((ch, k) => {
    glyph(ch).forEach((bits, y) => {
      for (let x = 0; x < GLYPH_W; x++) {
        if ((bits >> (GLYPH_W - 1 - x)) & 1) grid[y]![k * ADVANCE + x] = "1";
      }
    });
  });
  let rows = grid.map((r) => r.join(""));
  while (rows[0] && !rows[0].includes("1")) rows = rows.slice(1);
  while (rows.length && !rows[rows.length - 1]!.includes("1")) rows = rows.slice(0, -1);
  const first = Math.min(...rows.map((r) => r.indexOf("1")).filter((i) => i >= 0));
  const last = Math.max(...rows.map((r) => r.lastIndexOf("1")));
  return rows.map((r) => r.slice(first, last + 1));
}

let tmp = "";
let plate = "";
const H = 40;
const W = 40;
// Per well and channel: a flat plane of this value in field 0; field 1 has them swapped.
const VALUES: Record<string, [number, number]> = {
  A01: [1000, 10], // DAPI bright, GFP dim
  A02: [10, 1000], // GFP bright
  B03: [10, 10], // dim in both: black, unlike the hatched empty wells
};

before(() => {
  tmp = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-cli-preview-"));
  const src = nodePath.join(tmp, "src");
  fs.mkdirSync(src);
  const write = (name: string, v: number) => {
    const value: NdArray = { data: new Uint16Array(H * W).fill(v), shape: [H, W], stride: [W, 1] };
    fs.writeFileSync(nodePath.join(src, name), encodeForPath(value, name, "save"));
  };
  for (const [well, [dapi, gfp]] of Object.entries(VALUES)) {
    write(`${well}-f0-DAPI.png`, dapi);
    write(`${well}-f0-GFP.png`, gfp);
    write(`${well}-f1-DAPI.png`, gfp);
    write(`${well}-f1-GFP.png`, dapi);
  }
  plate = nodePath.join(tmp, "plate.zarr");
  const pattern = "^(?<well>[A-P]\\d\\d)-f(?<field>\\d)-(?<channel>\\w+)\\.png$";
  const r = cli(["convert", "--quiet", "--pattern", pattern, src, plate]);
  assert.equal(r.status, 0, r.stderr);
  // Rows A, B and columns 01..03 are on the plate: A03, B01, B02 are empty wells.
});

after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function preview(
  name: string,
  extra: string[] = [],
): { p: Picture; meta: Record<string, unknown> } {
  const out = nodePath.join(tmp, name);
  const r = cli(["preview", "--tile", "80", "--json", "-o", out, ...extra, plate]);
  assert.equal(r.status, 0, r.stderr);
  return { p: readPng(out), meta: JSON.parse(r.stdout) };
}

function centre(l: Layout, row: number, col: number): [number, number] {
  const x = l.left + l.gap + col * (l.tileWidth + l.gap) + Math.floor(l.tileWidth / 2);
  const y = l.top + l.gap + row * (l.tileHeight + l.gap) + Math.floor(l.tileHeight / 2);
  return [x, y];
}

describe("cli preview: a montage a biologist can read", () => {
  it("labels rows and columns in the margins, draws a grid, hatches empty wells, composites channels", () => {
    const { p, meta } = preview("all.png");
    const l = meta.layout as Layout;
    assert.equal(l.tileWidth, 80);
    assert.equal(l.scale, 2);
    assert.equal(p.width, meta.width);
    assert.deepEqual(
      (meta.channels as { name: string }[]).map((c) => c.name),
      ["DAPI", "GFP"],
      "channel names from the plate",
    );
    // Colours: DAPI green, GFP magenta (default palette); the dim well is black.
    assert.deepEqual(p.px(...centre(l, 0, 0)), [0, 255, 0], "A01: DAPI only");
    assert.deepEqual(p.px(...centre(l, 0, 1)), [255, 0, 255], "A02: GFP only");
    assert.deepEqual(p.px(...centre(l, 1, 2)), [0, 0, 0], "B03: dim in both");
    // Empty wells: two greys in a hatch, never black; the grid between wells is grey.
    for (const [r, c] of [[0, 2], [1, 0], [1, 1]] as const) {
      const seen = new Set<string>();
      const x0 = l.left + l.gap + c * (l.tileWidth + l.gap);
      const y0 = l.top + l.gap + r * (l.tileHeight + l.gap);
      for (let y = y0; y < y0 + l.tileHeight; y++) {
        for (let x = x0; x < x0 + l.tileWidth; x++) seen.add(p.px(x, y).join());
      }
      assert.deepEqual([...seen].sort(), [COLORS.empty.join(), COLORS.hatch.join()].sort());
    }
    assert.equal(meta.emptyWells, 3);
    const [cx, cy] = centre(l, 0, 0);
    const gridX = l.left + l.gap + l.tileWidth; // between columns 01 and 02
    assert.deepEqual(p.px(gridX, cy), [...COLORS.grid], "grid line between A01 and A02");
    const gridY = l.top + l.gap + l.tileHeight; // between rows A and B
    assert.deepEqual(p.px(cx, gridY), [...COLORS.grid], "grid line between A01 and B01");
    // Row letters left of each row, column numbers above each column, in the font.
    ["A", "B"].forEach((name, r) => {
      const y0 = l.top + l.gap + r * (l.tileHeight + l.gap);
      const got = labelBitmap(p, 0, y0, l.left, y0 + l.tileHeight, l.scale);
      assert.deepEqual(got, expectedBitmap(name), `row label ${name}`);
    });
    ["01", "02", "03"].forEach((name, c) => {
      const x0 = l.left + l.gap + c * (l.tileWidth + l.gap);
      const got = labelBitmap(p, x0, 0, x0 + l.tileWidth, l.top, l.scale);
      assert.deepEqual(got, expectedBitmap(name), `column label ${name}`);
    });
    // Legend: a green and a magenta swatch and the names, below the grid.
    assert.ok(l.legendTop !== undefined && l.legendTop > l.top);
    const legend = (c: readonly number[]) => {
      for (let y = l.legendTop!; y < p.height; y++) {
        for (let x = 0; x < p.width; x++) if (same(p.px(x, y), c)) return true;
      }
      return false;
    };
    assert.ok(legend([0, 255, 0]) && legend([255, 0, 255]), "colour swatches");
    const text = labelBitmap(p, 0, l.legendTop!, p.width, p.height, l.scale);
    assert.ok(text.length === GLYPH_H, "legend text is one line of the font");
  });

  it("--channel 1 alone is grey; --field and --well pick; a missing field, well or channel exits 1", () => {
    const one = preview("gfp.png", ["--channel", "1"]);
    const l = one.meta.layout as Layout;
    assert.deepEqual(one.p.px(...centre(l, 0, 1)), [255, 255, 255], "A02 GFP in grey");
    assert.deepEqual(one.p.px(...centre(l, 0, 0)), [0, 0, 0], "A01 GFP dim");

    const f1 = preview("f1.png", ["--field", "1"]);
    const l1 = f1.meta.layout as Layout;
    assert.deepEqual(f1.p.px(...centre(l1, 0, 0)), [255, 0, 255], "field 1 of A01: GFP bright");
    assert.deepEqual(f1.p.px(...centre(l1, 0, 1)), [0, 255, 0], "field 1 of A02: DAPI bright");

    const a02 = preview("a02.png", ["--well", "A02"]);
    const la = a02.meta.layout as Layout;
    assert.equal(a02.meta.wells, 1);
    assert.equal(a02.meta.emptyWells, 0);
    // One well has no spread per channel: each level is shown against zero (here: both full).
    assert.deepEqual(a02.p.px(...centre(la, 0, 0)), [255, 255, 255], "A02 alone, with data");
    assert.deepEqual(labelBitmap(a02.p, 0, 0, la.left, a02.p.height, la.scale).length, GLYPH_H);
    const [, tileY] = centre(la, 0, 0);
    const rowLabel = labelBitmap(a02.p, 0, tileY - 20, la.left, tileY + 20, la.scale);
    assert.deepEqual(rowLabel, expectedBitmap("A"), "its row letter");
    const colLabel = labelBitmap(a02.p, la.left, 0, a02.p.width, la.top, la.scale);
    assert.deepEqual(colLabel, expectedBitmap("02"), "its column number");

    const missing = nodePath.join(tmp, "f5.png");
    const nowell = cli(["preview", "--well", "H12", "-o", missing, plate]);
    assert.equal(nowell.status, 1);
    assert.match(nowell.stderr, /no well H12 on this plate \(it has A01, A02, B03\)/);
    assert.equal(fs.existsSync(missing), false);
    const r = cli(["preview", "--field", "5", "-o", missing, plate]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^hcs-store preview: .*no well has field 5 .*--field 0\.\.1/);
    assert.equal(fs.existsSync(missing), false, "no all-black picture");
    const ch = cli(["preview", "--channel", "4", "-o", missing, plate]);
    assert.equal(ch.status, 1);
    assert.match(ch.stderr, /no channel 4 .*--channel 0\.\.1/);
  });

  it("uses the plate's omero channel colours and labels where it has them", () => {
    // As other OME-Zarr writers do: an omero block on each field.
    for (const well of ["A/01", "A/02", "B/03"]) {
      const f = nodePath.join(plate, well, "0", "zarr.json");
      const json = JSON.parse(fs.readFileSync(f, "utf8"));
      json.attributes.ome.omero = {
        channels: [{ label: "Hoechst", color: "0000FF" }, { label: "Actin", color: "FF0000" }],
      };
      fs.writeFileSync(f, JSON.stringify(json));
    }
    const { p, meta } = preview("omero.png");
    const l = meta.layout as Layout;
    assert.deepEqual(p.px(...centre(l, 0, 0)), [0, 0, 255], "A01 Hoechst in blue");
    assert.deepEqual(p.px(...centre(l, 0, 1)), [255, 0, 0], "A02 Actin in red");
    assert.deepEqual(
      (meta.channels as { name: string; color: string }[]).map((c) => `${c.name} ${c.color}`),
      ["Hoechst 0000FF", "Actin FF0000"],
    );
  });
});
