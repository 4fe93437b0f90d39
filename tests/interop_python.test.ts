// Interop with Python: arrays written here open in NumPy / tifffile with the
// same values, dtype and shape; files written by NumPy, tifffile and Pillow
// decode here identically. One Python process does all the Python work.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NdArray, TypedArray } from "../backends/base.ts";
import { decodeForPath, encodeForPath } from "../formats/mod.ts";
import { peerSkip, PYTHON, pythonMissing } from "./_peers.ts";

const F16 = (globalThis as unknown as { Float16Array?: new (n: number) => TypedArray })
  .Float16Array;

const skip = peerSkip("python-numpy", pythonMissing(["numpy", "tifffile", "PIL"]));

function dtypeOf(a: ArrayBufferView): string {
  const name = a.constructor.name.replace("Array", "").toLowerCase();
  return name.replace(/^big/, "").replace(/^int64$/, "int64").replace(/^uint64$/, "uint64");
}

function cStrides(shape: number[]): number[] {
  const s: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

function filled(Ctor: new (n: number) => TypedArray, n: number, seed: number): TypedArray {
  const a = new Ctor(n) as unknown as { [i: number]: number | bigint };
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    if (Ctor === BigInt64Array) a[i] = -(BigInt(x) << 28n) + BigInt(i);
    else if (Ctor === BigUint64Array) a[i] = (BigInt(x) << 31n) | BigInt(i);
    else if (Ctor === Float32Array || Ctor === Float64Array) a[i] = (x - 2 ** 31) / 977.25;
    else if (F16 && Ctor === F16) a[i] = ((x % 4000) - 2000) / 16;
    else a[i] = x;
  }
  return a as unknown as TypedArray;
}

const bytesB64 = (a: ArrayBufferView): string => {
  const u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let s = "";
  for (let i = 0; i < u.length; i += 0x8000) {
    s += String.fromCharCode(...u.subarray(i, i + 0x8000));
  }
  return btoa(s);
};

interface Described {
  dtype: string;
  shape: number[];
  /** base64 of the C-order little-endian bytes */
  b64: string;
}

const SCRIPT = String.raw`
import base64, json, os, sys
import numpy as np, tifffile
from PIL import Image

ours, theirs = sys.argv[1], sys.argv[2]

def describe(a):
    a = a.copy(order="C")  # (np.ascontiguousarray would make 0-d arrays 1-d)
    le = a.astype(a.dtype.newbyteorder('<')) if a.dtype.byteorder == '>' else a
    return {"dtype": "uint8" if a.dtype == np.bool_ else a.dtype.name, "shape": list(a.shape),
            "b64": base64.b64encode(le.tobytes()).decode()}

out = {"ours": {}, "theirs": {}}
for name in sorted(os.listdir(ours)):
    p = os.path.join(ours, name)
    if name.endswith(".npy"):
        a = np.load(p)
    elif name.endswith(".png"):
        a = np.asarray(Image.open(p))
        if open(p, "rb").read()[24] == 16:  # Pillow widens 16-bit gray to int32
            assert a.min() >= 0 and a.max() <= 65535
            a = a.astype("u2")
    else:
        a = tifffile.imread(p)
    out["ours"][name] = describe(a)

def npy(name, a, **kw):
    p = os.path.join(theirs, name)
    if "version" in kw:
        with open(p, "wb") as f:
            np.lib.format.write_array(f, a, version=kw["version"])
    else:
        np.save(p, a)
    out["theirs"][name] = describe(np.load(p))

rng = np.random.default_rng(7)
ints = ["u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8"]
for t in ints:
    info = np.iinfo(t)
    a = rng.integers(info.min, info.max, size=(3, 5), dtype=t, endpoint=True)
    npy(f"le_{t}.npy", a.astype("<" + t))
    npy(f"be_{t}.npy", a.astype(">" + t))
for t in ["f2", "f4", "f8"]:
    a = (rng.standard_normal((4, 3)) * 1000).astype(t)
    a[0, 0] = np.inf; a[0, 1] = -0.0
    npy(f"le_{t}.npy", a.astype("<" + t))
    npy(f"be_{t}.npy", a.astype(">" + t))
npy("bool.npy", rng.integers(0, 2, size=(2, 7)).astype(bool))
npy("fortran_i4.npy", np.asfortranarray(np.arange(2 * 3 * 4, dtype="<i4").reshape(2, 3, 4)))
npy("fortran_be_f8.npy", np.asfortranarray(np.arange(30, dtype=">f8").reshape(5, 6) / 7))
npy("scalar_f8.npy", np.array(3.25))
npy("empty_u2.npy", np.zeros((0, 4), dtype="u2"))
npy("v2_u2.npy", np.arange(6, dtype="u2").reshape(2, 3), version=(2, 0))
npy("v3_i2.npy", np.arange(6, dtype="i2").reshape(3, 2), version=(3, 0))

def tif(name, a, **kw):
    p = os.path.join(theirs, name)
    tifffile.imwrite(p, a, **kw)
    out["theirs"][name] = describe(tifffile.imread(p))

stack = rng.integers(0, 65535, size=(5, 33, 47), dtype="u2", endpoint=True)
tif("pages_u2.tif", stack)
tif("pages_be_u2.tif", stack, byteorder=">")
tif("zlib_u2.tif", stack, compression="zlib")
tif("deflate_pred_u2.tif", stack, compression="adobe_deflate", predictor=True)
tif("zlib_rows_u2.tif", stack[0], compression="zlib", rowsperstrip=5)
tif("tiled_u2.tif", stack[:2], tile=(16, 16))
tif("tiled_zlib_i2.tif", stack[:2].astype("i2"), tile=(16, 32), compression="zlib")
tif("bigtiff_u2.tif", stack[:2], bigtiff=True)
tif("float32.tif", (rng.standard_normal((3, 20, 30)) * 100).astype("f4"), photometric="minisblack")
tif("float32_be_zlib.tif", (rng.standard_normal((20, 30))).astype(">f4"), byteorder=">", compression="zlib")
tif("rgb_chunky_zlib_pred_u1.tif", rng.integers(0, 255, size=(2, 9, 11, 3), dtype="u1", endpoint=True), compression="zlib", predictor=True)
tif("planar_default_u2.tif", rng.integers(0, 65535, size=(3, 20, 21), dtype="u2", endpoint=True))
tif("uint32.tif", rng.integers(0, 2**32 - 1, size=(2, 9, 11), dtype="u4", endpoint=True))
tif("uint32_zlib_pred.tif", rng.integers(0, 2**32 - 1, size=(9, 11), dtype="u4", endpoint=True), compression="zlib", predictor=True)
tif("int32.tif", rng.integers(-2**31, 2**31 - 1, size=(9, 11), dtype="i4"))
tif("uint8.tif", rng.integers(0, 255, size=(4, 9, 11), dtype="u1", endpoint=True))
tif("int8_zlib.tif", rng.integers(-128, 127, size=(9, 11), dtype="i1"), compression="zlib")
tif("float64.tif", rng.standard_normal((6, 7)))
tif("float16.tif", (rng.standard_normal((2, 6, 7)) * 50).astype("f2"))
# separately appended pages (no shape metadata, not necessarily contiguous)
p = os.path.join(theirs, "appended_u2.tif")
for k in range(3):
    tifffile.imwrite(p, stack[k], append=True, metadata=None)
out["theirs"]["appended_u2.tif"] = describe(tifffile.imread(p))

# tifffile cannot write LZW or PackBits without imagecodecs: Pillow/libtiff does.
def pil(name, a, compression):
    p = os.path.join(theirs, name)
    Image.fromarray(a).save(p, compression=compression)
    back = np.asarray(Image.open(p))
    assert back.dtype == a.dtype and (back == a).all(), name
    out["theirs"][name] = describe(a)

pil("lzw_u1.tif", stack[0].astype("u1"), "tiff_lzw")
pil("lzw_u2.tif", stack[1], "tiff_lzw")
pil("packbits_u1.tif", (stack[2] // 4096).astype("u1"), "packbits")
pil("packbits_u2.tif", stack[3] // 4096, "packbits")
# big enough for 12-bit codes and many table clears
pil("lzw_big_u2.tif", (np.arange(300 * 400, dtype="u4").reshape(300, 400) * 2654435761 % 65521).astype("u2"), "tiff_lzw")
pil("lzw_smooth_u1.tif", (np.add.outer(np.arange(256), np.arange(320)) // 3 % 256).astype("u1"), "tiff_lzw")
pil("lzw_f4.tif", (rng.standard_normal((12, 10))).astype("f4"), "tiff_lzw")

# PNG written by Pillow
def png(name, a, mode=None):
    p = os.path.join(theirs, name)
    Image.fromarray(a, mode).save(p)
    out["theirs"][name] = describe(a)
png("gray8.png", stack[0].astype("u1"))
png("rgb8.png", rng.integers(0, 255, size=(6, 5, 3), dtype="u1"))
png("rgba8.png", rng.integers(0, 255, size=(6, 5, 4), dtype="u1"))
png("gray16.png", stack[0][:8, :9].copy(), "I;16")

json.dump(out, sys.stdout)
`;

// Skips go on each test (not the describe): Bun reports no test of a skipped describe.
describe("interop with NumPy, tifffile and Pillow", () => {
  let root = "";
  let result: { ours: Record<string, Described>; theirs: Record<string, Described> };
  const written = new Map<string, NdArray>();

  before(() => {
    if (skip) return;
    root = mkdtempSync(join(tmpdir(), "hcs-formats-interop-"));
    const ours = join(root, "ours");
    const theirs = join(root, "theirs");
    mkdirSync(ours);
    mkdirSync(theirs);
    const npyTypes: (new (n: number) => TypedArray)[] = [
      Uint8Array,
      Int8Array,
      Uint16Array,
      Int16Array,
      Uint32Array,
      Int32Array,
      BigUint64Array,
      BigInt64Array,
      Float32Array,
      Float64Array,
      ...(F16 ? [F16] : []),
    ];
    const shapes = [[3, 4], [2, 3, 4], [], [0, 3], [7]];
    for (const Ctor of npyTypes) {
      for (const shape of shapes) {
        const n = shape.reduce((a, b) => a * b, 1);
        const value = { data: filled(Ctor, n, n + 3), shape, stride: cStrides(shape) };
        const name = `${dtypeOf(value.data)}_${shape.join("x") || "scalar"}.npy`;
        writeFileSync(join(ours, name), encodeForPath(value, name, "save"));
        written.set(name, value);
      }
    }
    const tiffTypes = npyTypes; // every type we write, float16 included where the runtime has it
    for (const Ctor of tiffTypes) {
      for (const shape of [[5, 7], [3, 5, 7], [1, 5, 7]]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const value = { data: filled(Ctor, n, n + 11), shape, stride: cStrides(shape) };
        const name = `${dtypeOf(value.data)}_${shape.join("x")}.tif`;
        writeFileSync(join(ours, name), encodeForPath(value, name, "save"));
        written.set(name, value);
      }
    }
    for (
      const [Ctor, shape] of [
        [Uint8Array, [6, 7]],
        [Uint16Array, [6, 7]],
        [Uint8Array, [5, 4, 3]],
        [Uint8Array, [5, 4, 4]],
      ] as const
    ) {
      const n = shape.reduce((a: number, b: number) => a * b, 1);
      const value = { data: filled(Ctor, n, n), shape: [...shape], stride: cStrides([...shape]) };
      const name = `${dtypeOf(value.data)}_${shape.join("x")}.png`;
      writeFileSync(join(ours, name), encodeForPath(value, name, "save"));
      written.set(name, value);
    }
    const r = spawnSync(PYTHON, ["-c", SCRIPT, ours, theirs], {
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
    });
    assert.equal(r.status, 0, `python failed: ${r.stderr}`);
    result = JSON.parse(r.stdout);
  });

  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it(
    "arrays written here (.npy every dtype, .tif every TIFF dtype, .png) load identically in Python",
    {
      skip,
    },
    () => {
      assert.equal(Object.keys(result.ours).length, written.size);
      for (const [name, value] of written) {
        const py = result.ours[name];
        assert.ok(py, `python did not read ${name}`);
        assert.equal(py.dtype, dtypeOf(value.data), name);
        assert.deepEqual(py.shape, value.shape, name);
        assert.equal(py.b64, bytesB64(value.data), `${name}: values differ`);
      }
    },
  );

  it("files written by NumPy, tifffile and Pillow decode here identically", { skip }, () => {
    const names = Object.keys(result.theirs);
    assert.ok(names.length >= 50, `only ${names.length} files`);
    for (const name of names) {
      const py = result.theirs[name]!;
      const bytes = readFileSync(join(root, "theirs", name));
      const got = decodeForPath(
        new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length),
        name,
        "load",
      ) as NdArray;
      assert.equal(dtypeOf(got.data), py.dtype, name);
      assert.deepEqual(got.shape, py.shape, name);
      assert.deepEqual(got.stride, cStrides(py.shape), name);
      assert.equal(bytesB64(got.data), py.b64, `${name}: values differ`);
    }
  });
});
