/**
 * `readTiffResolution`: pixel sizes in micrometres from XResolution /
 * YResolution + ResolutionUnit and from ImageJ descriptions, in files built
 * by hand here and written by Python's tifffile; hostile metadata gives
 * `undefined`, never an error or a wrong number.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readTiffResolution } from "../formats/mod.ts";
import { decodeTiff, encodeTiff } from "../formats/tiff.ts";
import { describePeer, peerSkip, PYTHON, pythonMissing } from "./_peers.ts";
import { type TagSpec, tiffWithTags } from "./_tiff_res.ts";

const px = new Uint16Array([1, 2, 3, 4]);
const tif = (extra: TagSpec[], le = true) => tiffWithTags(2, 2, px, extra, le);
const read = (b: Uint8Array) => readTiffResolution(b, "t.tif");
const X = 282;
const Y = 283;
const UNIT = 296;
const DESC = 270;

function near(actual: number | undefined, expected: number): void {
  assert.ok(
    actual !== undefined && Math.abs(actual - expected) <= 1e-9 * expected,
    `${actual} ≉ ${expected}`,
  );
}

describe("readTiffResolution: hand-built files", () => {
  it("centimetres: 200000/13 px per cm is 0.65 µm (little- and big-endian)", () => {
    for (const le of [true, false]) {
      const b = tif([[X, 5, [200000, 13]], [Y, 5, [200000, 13]], [UNIT, 3, [3]]], le);
      assert.deepEqual(decodeTiff(b).shape, [2, 2]); // a real, decodable file
      assert.deepEqual(read(b), { x: 0.65, y: 0.65, unit: "micrometer" });
    }
  });
  it("inches: 50800 px/inch is 0.5 µm; x and y kept apart", () => {
    const b = tif([[X, 5, [50800, 1]], [Y, 5, [25400, 1]], [UNIT, 3, [2]]]);
    assert.deepEqual(read(b), { x: 0.5, y: 1, unit: "micrometer" });
  });
  it("no unit (ResolutionUnit 1 or absent) is not a physical size", () => {
    assert.equal(read(tif([[X, 5, [72, 1]], [Y, 5, [72, 1]], [UNIT, 3, [1]]])), undefined);
    assert.equal(read(tif([[X, 5, [72, 1]], [Y, 5, [72, 1]]])), undefined);
    assert.equal(read(encodeTiff({ data: px, shape: [2, 2], stride: [2, 1] })), undefined);
  });
  it("ImageJ: resolution is pixels per `unit`, spacing is z; the unit wins over ResolutionUnit", () => {
    const d = "ImageJ=1.54f\nimages=3\nslices=3\nunit=micron\nspacing=2.5\nloop=false\n";
    const b = tif([[DESC, 2, d], [X, 5, [40, 13]], [Y, 5, [40, 13]], [UNIT, 3, [3]]]);
    assert.deepEqual(read(b), { x: 0.325, y: 0.325, z: 2.5, unit: "micrometer" });
    const esc = "ImageJ=1.54f\nunit=\\u00B5m\n";
    assert.deepEqual(read(tif([[DESC, 2, esc], [X, 5, [2, 1]], [Y, 5, [2, 1]]])), {
      x: 0.5,
      y: 0.5,
      unit: "micrometer",
    });
    const nm = "ImageJ=1.54f\nunit=nm\nspacing=300\n";
    assert.deepEqual(read(tif([[DESC, 2, nm], [X, 5, [1, 100]], [Y, 5, [1, 100]]])), {
      x: 0.1,
      y: 0.1,
      z: 0.3,
      unit: "micrometer",
    });
    // ImageJ without a unit line: ResolutionUnit decides, spacing in that unit.
    const noUnit = "ImageJ=1.54f\nspacing=0.0001\n";
    assert.deepEqual(read(tif([[DESC, 2, noUnit], [X, 5, [10000, 1]], [UNIT, 3, [3]]])), {
      x: 1,
      z: 1,
      unit: "micrometer",
    });
  });
  it("ImageJ unit 'pixel' or unknown means no physical size, whatever ResolutionUnit says", () => {
    for (const unit of ["pixel", "furlong", ""]) {
      const d = `ImageJ=1.54f\nunit=${unit}\nspacing=2\n`;
      assert.equal(read(tif([[DESC, 2, d], [X, 5, [2, 1]], [UNIT, 3, [3]]])), undefined, unit);
    }
  });
  it("a description that is not ImageJ's is ignored", () => {
    const d = '{"shape": [2, 2], "unit": "nm"}';
    assert.deepEqual(read(tif([[DESC, 2, d], [X, 5, [10000, 1]], [UNIT, 3, [3]]])), {
      x: 1,
      unit: "micrometer",
    });
  });
});

describe("readTiffResolution: hostile metadata gives undefined, never a throw or a wrong value", () => {
  it("zero, negative and out-of-range rationals", () => {
    const cases: [string, TagSpec][] = [
      ["zero denominator", [X, 5, [10000, 0]]],
      ["zero numerator", [X, 5, [0, 1]]],
      ["0/0", [X, 5, [0, 0]]],
      ["negative SRATIONAL", [X, 10, [-10000, 1]]],
      ["negative SRATIONAL denominator", [X, 10, [10000, -1]]],
      ["huge denominator (4e13 µm)", [X, 5, [1, 0xffffffff]]],
      ["huge numerator (2.3e-6 µm)", [X, 5, [0xffffffff, 1]]],
      ["wrong type (SHORT)", [X, 3, [10000]]],
      ["no values", [X, 5, []]],
    ];
    for (const [what, tag] of cases) {
      assert.equal(read(tif([tag, [UNIT, 3, [3]]])), undefined, what);
    }
    // A bad x does not hide a good y, and a good x is not replaced by a guess.
    assert.deepEqual(read(tif([[X, 5, [1, 0]], [Y, 5, [10000, 1]], [UNIT, 3, [3]]])), {
      y: 1,
      unit: "micrometer",
    });
  });
  it("bad spacing values are dropped, the xy size is kept", () => {
    for (const s of ["NaN", "-1", "0", "1e400", "Infinity", "2 µm", "0x10"]) {
      const d = `ImageJ=1.54f\nunit=micron\nspacing=${s}\n`;
      assert.deepEqual(read(tif([[DESC, 2, d], [X, 5, [2, 1]]])), {
        x: 0.5,
        unit: "micrometer",
      }, s);
    }
  });
  it("broken structure: not a TIFF, truncation, offsets outside the file, absurd counts", () => {
    const good = tif([[X, 5, [20000, 1]], [Y, 5, [20000, 1]], [UNIT, 3, [3]]]);
    assert.deepEqual(read(good), { x: 0.5, y: 0.5, unit: "micrometer" });
    assert.equal(read(new Uint8Array(0)), undefined);
    assert.equal(read(new TextEncoder().encode("not a tiff at all")), undefined);
    for (let n = 0; n < good.length; n += 7) {
      const r = read(good.subarray(0, n)); // truncated anywhere
      assert.ok(r === undefined || (r.x === 0.5 && r.y === 0.5), `cut at ${n}`);
    }
    const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
    const far = good.slice();
    dv(far).setUint32(4, 0x7fffffff, true); // first IFD outside
    assert.equal(read(far), undefined);
    const many = good.slice();
    dv(many).setUint16(8, 0xffff, true); // IFD claims 65535 entries
    assert.equal(read(many), undefined);
    const desc = tif([[DESC, 2, "ImageJ=1\nunit=um\n"], [X, 5, [2, 1]]]);
    // the description's count (entry 0 of the sorted IFD is tag 256; find 270)
    const d = dv(desc);
    for (let k = 0; k < d.getUint16(8, true); k++) {
      if (d.getUint16(10 + k * 12, true) === DESC) d.setUint32(10 + k * 12 + 4, 0xfffffff0, true);
    }
    assert.equal(read(desc), undefined);
  });
  it("random byte mutations never throw and never yield a value outside the accepted range", () => {
    const d = "ImageJ=1.54f\nunit=micron\nspacing=2.5\n";
    const base = tif([[DESC, 2, d], [X, 5, [40, 13]], [Y, 5, [40, 13]], [UNIT, 3, [3]]]);
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 3000; i++) {
      const b = base.slice();
      for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) {
        b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      }
      const r = read(b);
      for (const v of [r?.x, r?.y, r?.z]) {
        assert.ok(v === undefined || (Number.isFinite(v) && v >= 1e-5 && v <= 1e9), `${v}`);
      }
    }
  });
});

const WRITE = `
import sys, numpy as np, tifffile
d = sys.argv[1]
a = np.arange(64, dtype=np.uint16).reshape(8, 8)
def res(path, data, resolution, unit, **kw):
    try:
        tifffile.imwrite(path, data, resolution=resolution, resolutionunit=unit, **kw)
    except TypeError:  # older tifffile: the unit rides in the resolution tuple
        tifffile.imwrite(path, data, resolution=(*resolution, unit), **kw)
res(d + '/cm.tif', a, (1 / 0.65, 1 / 0.65), 'CENTIMETER')
res(d + '/inch.tif', a, (2540.0, 5080.0), 'INCH')
tifffile.imwrite(d + '/ij.tif', np.zeros((3, 8, 8), np.uint16), imagej=True,
                 metadata={'unit': 'um', 'spacing': 2.0, 'axes': 'ZYX'},
                 resolution=(1 / 0.325, 1 / 0.325))
tifffile.imwrite(d + '/plain.tif', a)
`;

const noTifffile = pythonMissing(["tifffile", "numpy"]);

describePeer(peerSkip("python-tifffile", noTifffile))(
  "readTiffResolution: files written by Python's tifffile",
  () => {
    let dir = "";
    before(() => {
      dir = mkdtempSync(join(tmpdir(), "hcs-tiffmeta-"));
      const r = spawnSync(PYTHON, ["-c", WRITE, dir], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
    });
    after(() => rmSync(dir, { recursive: true, force: true }));
    const at = (name: string) => readTiffResolution(readFileSync(join(dir, name)), name);

    it("resolution in px/cm (1/0.65 px per cm → 6500 µm)", () => {
      const r = at("cm.tif");
      near(r?.x, 6500);
      near(r?.y, 6500);
    });
    it("resolution in px/inch (2540 and 5080 dpi → 10 and 5 µm)", () => {
      const r = at("inch.tif");
      near(r?.x, 10);
      near(r?.y, 5);
    });
    it("ImageJ hyperstack: unit um, spacing 2, 1/0.325 px per µm", () => {
      const r = at("ij.tif");
      near(r?.x, 0.325);
      near(r?.y, 0.325);
      near(r?.z, 2);
    });
    it("tifffile's defaults carry no physical size", () => {
      assert.equal(at("plain.tif"), undefined);
    });
  },
);
