/**
 * Zarr plate benchmark: write then read a plate of 4 wells × 4 fields ×
 * 2 channels of 1024×1024 uint16 planes (zlib level 1, one chunk per plane)
 * with the Zarr backend on the disk store — NGFF 0.5 (Zarr v3) and the
 * OpenHCS 0.4 layout (Zarr v2) — and with Python zarr 2.13 (Debian, under
 * /usr/bin/python3) writing and reading the same data with the same codec and
 * chunks in the same run. Prints both ratios (ours / Python; < 1 is faster).
 * A third row writes NGFF 0.5 with `transferPlanes: true` (the caller gives
 * its planes up, so level 0 compresses on the codec workers; the copies it
 * gives up are made before the clock starts).
 *
 * Usage: deno run -A bench/zarr.ts [--quick] [--codec zlib|zstd]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { ZarrBackend } from "../backends/zarr.ts";
import type { NdArray } from "../backends/base.ts";
import { createRegistry } from "../registry/registry.ts";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const codecArg = args.indexOf("--codec");
const codec = (codecArg >= 0 ? args[codecArg + 1] : "zlib") as "zlib" | "zstd";
const WELLS = quick ? 2 : 4;
const FIELDS = quick ? 2 : 4;
const CHANNELS = 2;
const SIDE = quick ? 512 : 1024;
const REPS = quick ? 1 : 5;
const ROWS = ["A", "B", "C", "D"];

/** Microscope-like data: smooth background, blobs, noise (compresses ~2-3x with zlib). */
function makePlane(seed: number): Uint16Array {
  const out = new Uint16Array(SIDE * SIDE);
  let s = seed * 2654435761 >>> 0;
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      s = (s * 1664525 + 1013904223) >>> 0;
      const blob = ((x >> 5) + (y >> 5) + seed) % 7 === 0 ? 3000 : 0;
      out[y * SIDE + x] = 400 + ((x + y) >> 3) + blob + (s >>> 26);
    }
  }
  return out;
}

const planes: Uint16Array[] = [];
for (let i = 0; i < WELLS * FIELDS * CHANNELS; i++) planes.push(makePlane(i));
const totalMiB = (planes.length * SIDE * SIDE * 2) / (1 << 20);

function wellBatch(store: string, w: number, own = false) {
  const data: NdArray[] = [];
  const paths: string[] = [];
  const coordinates: number[][] = [];
  for (let f = 0; f < FIELDS; f++) {
    for (let c = 0; c < CHANNELS; c++) {
      const plane = planes[(w * FIELDS + f) * CHANNELS + c]!;
      data.push({
        data: own ? plane.slice() : plane,
        shape: [SIDE, SIDE],
        stride: [SIDE, 1],
      });
      paths.push(`${store}/${ROWS[w]}01_s${f}_w${c}.tif`);
      coordinates.push([f, c]);
    }
  }
  return { data, paths, coordinates };
}

const dir = mkdtempSync(join(tmpdir(), "hcs-zarr-bench-"));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const reg = createRegistry();
const disk = await (await reg.getBackend<ZarrBackend>("zarr")).byteStore();

/** One write + read of the plate with the Zarr backend. */
async function ours(
  ngff: "0.5" | "0.4",
  rep: number,
  transferPlanes = false,
): Promise<{ write: number; read: number }> {
  const z = new ZarrBackend({ store: disk, ngff, compression: codec, level: 1, chunks: "plane" });
  const store = join(dir, `ours-${ngff}${transferPlanes ? "-t" : ""}-${rep}`, "images");
  const batches = Array.from({ length: WELLS }, (_, w) => wellBatch(store, w, transferPlanes));
  const t0 = performance.now();
  for (let w = 0; w < WELLS; w++) {
    const b = batches[w]!;
    await z.saveBatch(b.data, b.paths, {
      ...(transferPlanes ? { transferPlanes } : {}),
      row: ROWS[w]!,
      column: "01",
      axes: [{ name: "field", role: "image" }, { name: "channel", type: "channel" }],
      coordinates: b.coordinates,
    });
  }
  const t1 = performance.now();
  const names = await z.listFiles(store);
  const got = await z.loadBatch<NdArray<Uint16Array>>(names);
  const t2 = performance.now();
  if (got.length !== planes.length) throw new Error("read back the wrong number of planes");
  const probe = wellBatch(store, WELLS - 1).paths[3]!;
  const k = names.indexOf(probe);
  const want = planes[(WELLS - 1) * FIELDS * CHANNELS + 3]!;
  if (got[k]!.data[12345 % want.length] !== want[12345 % want.length]) {
    throw new Error("read back wrong data");
  }
  console.error(
    `  ours ngff ${ngff}${transferPlanes ? " transferPlanes" : ""} (${
      disk.implementation ?? disk.key
    }) rep ${rep}: write ${(t1 - t0).toFixed(0)} ms, read ${(t2 - t1).toFixed(0)} ms`,
  );
  return { write: t1 - t0, read: t2 - t1 };
}

const PY = String.raw`
import json, sys, time
import numpy as np
import zarr
from numcodecs import Zlib, Zstd
raw, out, wells, fields, channels, side, reps, codec = sys.argv[1:9]
wells, fields, channels, side, reps = map(int, (wells, fields, channels, side, reps))
data = np.fromfile(raw, dtype="<u2").reshape(wells, fields, channels, side, side)
comp = Zlib(level=1) if codec == "zlib" else Zstd(level=1)
rows = "ABCD"
writes, reads = [], []
for r in range(reps):
    t0 = time.perf_counter()
    store = zarr.DirectoryStore(f"{out}/py-{r}/images", dimension_separator="/")
    root = zarr.group(store=store)
    for w in range(wells):
        well = root.require_group(rows[w]).create_group("01")
        well.attrs["well"] = {"images": [{"path": str(f)} for f in range(fields)], "version": "0.4"}
        for f in range(fields):
            g = well.create_group(str(f))
            a = g.create_dataset("0", shape=(channels, side, side), chunks=(1, side, side), dtype="<u2", compressor=comp)
            a[...] = data[w, f]
            a.attrs["polystore_filename_map"] = {f"{rows[w]}01_s{f}_w{c}.tif": [c] for c in range(channels)}
    root.attrs["plate"] = {"wells": [{"path": f"{rows[w]}/01"} for w in range(wells)], "version": "0.4"}
    t1 = time.perf_counter()
    root = zarr.open_group(store=store, mode="r")
    got = []
    for wdesc in root.attrs["plate"]["wells"]:
        well = root[wdesc["path"]]
        for img in well.attrs["well"]["images"]:
            a = well[img["path"]]["0"]
            for name, coords in a.attrs["polystore_filename_map"].items():
                got.append(a[tuple(coords)])
    t2 = time.perf_counter()
    assert len(got) == wells * fields * channels
    writes.append((t1 - t0) * 1000)
    reads.append((t2 - t1) * 1000)
json.dump({"write": sorted(writes)[len(writes) // 2], "read": sorted(reads)[len(reads) // 2], "zarr": zarr.__version__}, sys.stdout)
`;

const raw = join(dir, "planes.u16");
{
  const all = new Uint8Array(planes.length * SIDE * SIDE * 2);
  planes.forEach((p, i) => all.set(new Uint8Array(p.buffer), i * SIDE * SIDE * 2));
  writeFileSync(raw, all);
}

/** One write + read of the same plate by Python zarr (timed inside Python). */
function python(rep: number): { write: number; read: number; zarr: string } {
  const r = spawnSync(
    "/usr/bin/python3",
    [
      "-c",
      PY,
      raw,
      join(dir, `py${rep}`),
      ...[WELLS, FIELDS, CHANNELS, SIDE, 1].map(String),
      codec,
    ],
    { encoding: "utf8", maxBuffer: 1 << 20 },
  );
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout);
  console.error(
    `  python rep ${rep}: write ${out.write.toFixed(0)} ms, read ${out.read.toFixed(0)} ms`,
  );
  return out;
}

try {
  // Interleave the three contenders, rotating the order per repetition, so
  // that drift in machine load hits them alike; report medians.
  const runs: Record<"v5" | "v5t" | "v4" | "py", { write: number; read: number }[]> = {
    v5: [],
    v5t: [],
    v4: [],
    py: [],
  };
  let zarrVersion = "";
  const jobs: [keyof typeof runs, (rep: number) => Promise<{ write: number; read: number }>][] = [
    ["v5", (rep) => ours("0.5", rep)],
    ["v5t", (rep) => ours("0.5", rep, true)],
    ["v4", (rep) => ours("0.4", rep)],
    ["py", (rep) => {
      const r = python(rep);
      zarrVersion = r.zarr;
      return Promise.resolve(r);
    }],
  ];
  for (let rep = 0; rep < REPS; rep++) {
    for (let j = 0; j < jobs.length; j++) {
      const [name, fn] = jobs[(j + rep) % jobs.length]!;
      runs[name].push(await fn(rep));
    }
  }
  const med = (xs: { write: number; read: number }[]) => ({
    write: median(xs.map((x) => x.write)),
    read: median(xs.map((x) => x.read)),
  });
  const v5 = med(runs.v5);
  const v5t = med(runs.v5t);
  const v4 = med(runs.v4);
  const py = { ...med(runs.py), zarr: zarrVersion };
  const fmt = (ms: number) =>
    `${ms.toFixed(0).padStart(6)} ms ${(totalMiB / (ms / 1000)).toFixed(0).padStart(5)} MiB/s`;
  console.log(
    `Zarr plate: ${WELLS} wells × ${FIELDS} fields × ${CHANNELS} channels of ${SIDE}×${SIDE} uint16 ` +
      `(${totalMiB.toFixed(0)} MiB), ${codec} level 1, one chunk per plane; median of ${REPS}`,
  );
  console.log(`                                     write                      read`);
  console.log(`hcs-store zarr NGFF 0.5 (v3)    ${fmt(v5.write)}   ${fmt(v5.read)}`);
  console.log(`hcs-store zarr NGFF 0.5, transfer${fmt(v5t.write)}   ${fmt(v5t.read)}`);
  console.log(`hcs-store zarr NGFF 0.4 (v2)    ${fmt(v4.write)}   ${fmt(v4.read)}`);
  console.log(`Python zarr ${py.zarr.padEnd(18)} ${fmt(py.write)}   ${fmt(py.read)}`);
  console.log(
    `ratio ours/python (v3): write ${(v5.write / py.write).toFixed(2)}, read ${
      (v5.read / py.read).toFixed(2)
    }`,
  );
  console.log(
    `ratio ours/python (v3, transferPlanes): write ${(v5t.write / py.write).toFixed(2)}, read ${
      (v5t.read / py.read).toFixed(2)
    }`,
  );
  console.log(
    `ratio ours/python (v2): write ${(v4.write / py.write).toFixed(2)}, read ${
      (v4.read / py.read).toFixed(2)
    }`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
