/**
 * The demo (`npm install && npm run demo`, or `deno task demo`): a small
 * synthetic plate, end to end, with no network and no set-up.
 *
 * 1. generates 2×3 wells × 2 fields × 2 channels of 512×512 uint16 images
 *    with cell-like blobs and noise (fixed seed) and saves them as TIFFs
 *    (ImageXpress names, `A01_s1_w1.tif`) in `demo-output/images/`;
 * 2. loads all of them in one `loadBatch` through the registry's `disk`
 *    backend (the FFI fast path where the runtime allows it; it says which);
 * 3. converts them into an OME-Zarr plate (`demo-output/plate.zarr`) with the
 *    same code as `hcs-store convert`;
 * 4. reads every plane back by its virtual name and checks it bit for bit;
 * 5. writes a preview montage (`demo-output/preview.png`);
 * 6. prints timings and where the outputs are.
 *
 * Usage: deno run -A demo.ts [--out DIR]   (also: bun demo.ts)
 *
 * @module
 */

import { existsSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { NdArray, StorageBackend, VirtualBackend } from "./backends/base.ts";
import { createRegistry } from "./registry/registry.ts";
import { planConversion, runConversion } from "./cli/_convert.ts";
import { writePreview } from "./cli/commands/preview.ts";
import { humanBytes } from "./cli/_shared.ts";

const ROWS = ["A", "B"];
const COLUMNS = ["01", "02", "03"];
const FIELDS = 2;
const CHANNELS = 2;
const SIZE = 512;
const SEED = 20261125;

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

function addBlob(img: Float64Array, cy: number, cx: number, sigma: number, amp: number): void {
  const r = Math.ceil(3 * sigma);
  const k = -1 / (2 * sigma * sigma);
  for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(SIZE - 1, cy + r); y++) {
    const dy = (y - cy) ** 2;
    for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(SIZE - 1, cx + r); x++) {
      img[y * SIZE + x]! += amp * Math.exp((dy + (x - cx) ** 2) * k);
    }
  }
}

/**
 * One field's two channels: nuclei (small bright blobs) and cytoplasm (wider,
 * dimmer blobs around them), on a background with Gaussian noise. The cell
 * count grows along the plate so wells look different in the preview.
 */
function syntheticField(wellIndex: number, field: number): NdArray<Uint16Array>[] {
  const rand = prng(SEED + wellIndex * 101 + field * 7);
  const cells = 25 + wellIndex * 12 + Math.floor(rand() * 8);
  const nuclei = new Float64Array(SIZE * SIZE);
  const cyto = new Float64Array(SIZE * SIZE);
  for (let i = 0; i < cells; i++) {
    const cy = 12 + rand() * (SIZE - 24);
    const cx = 12 + rand() * (SIZE - 24);
    addBlob(nuclei, cy, cx, 3.5 + rand() * 3, 900 + rand() * 1400);
    addBlob(
      cyto,
      cy + gaussian(rand) * 3,
      cx + gaussian(rand) * 3,
      9 + rand() * 7,
      250 + rand() * 450,
    );
  }
  return [nuclei, cyto].map((img, c) => {
    const data = new Uint16Array(SIZE * SIZE);
    const bg = c === 0 ? 110 : 160;
    for (let i = 0; i < data.length; i++) {
      const v = bg + img[i]! + gaussian(rand) * (8 + Math.sqrt(img[i]!) * 0.8);
      data[i] = v < 0 ? 0 : v > 65535 ? 65535 : Math.round(v);
    }
    return { data, shape: [SIZE, SIZE], stride: [SIZE, 1] };
  });
}

function sameArray(a: NdArray, b: NdArray): boolean {
  if (a.shape.join() !== b.shape.join()) return false;
  if (a.data.constructor !== b.data.constructor || a.data.length !== b.data.length) return false;
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/**
 * How to run the CLI from the current directory with what `npm install`
 * provides (Deno from npm under node_modules/.bin; no Deno on PATH needed).
 */
export function cliCommand(checkout: string, cwd: string = process.cwd()): string {
  const rel = (p: string) => {
    const r = relative(cwd, p);
    return r === "" || r.startsWith("..") || isAbsolute(r) ? p : r;
  };
  const local = join(checkout, "node_modules", ".bin", "deno");
  const deno = existsSync(local) ? rel(local) : "deno";
  return `${deno} run -A ${rel(join(checkout, "cli", "mod.ts"))}`;
}

function ms(t0: number): number {
  return performance.now() - t0;
}

async function demo(): Promise<number> {
  const args = process.argv.slice(2);
  const outIdx = args.indexOf("--out");
  const here = dirname(fileURLToPath(import.meta.url));
  const outDir = resolve(
    outIdx >= 0 && args[outIdx + 1] ? args[outIdx + 1]! : join(here, "demo-output"),
  );
  const imagesDir = join(outDir, "images");
  const plateDir = join(outDir, "plate.zarr");
  const previewPath = join(outDir, "preview.png");
  const registry = createRegistry();
  const disk = await registry.getBackend<StorageBackend>("disk");
  const timings: [string, number, string][] = [];

  console.log("hcs-store demo: a synthetic 2×3-well plate, end to end\n");

  // 1. Generate and save TIFFs.
  let t0 = performance.now();
  const planes: NdArray<Uint16Array>[] = [];
  const paths: string[] = [];
  let wellIndex = 0;
  for (const row of ROWS) {
    for (const column of COLUMNS) {
      for (let f = 1; f <= FIELDS; f++) {
        const channels = syntheticField(wellIndex, f);
        for (let c = 1; c <= CHANNELS; c++) {
          planes.push(channels[c - 1]!);
          paths.push(join(imagesDir, `${row}${column}_s${f}_w${c}.tif`));
        }
      }
      wellIndex++;
    }
  }
  timings.push(["generate", ms(t0), `${planes.length} planes of ${SIZE}×${SIZE} uint16`]);
  if (await disk.exists(outDir)) await disk.deleteAll(outDir);
  await disk.ensureDirectory(imagesDir);
  t0 = performance.now();
  await disk.saveBatch(planes, paths);
  const tiffBytes = (await Promise.all(paths.map((p) => disk.stat(p))))
    .reduce((n, s) => n + (s.size ?? 0), 0);
  timings.push(["save TIFFs", ms(t0), `${humanBytes(tiffBytes)} in ${imagesDir}`]);

  // 2. One batch through the disk backend.
  const diskLine = registry.describeBackends().find((d) => d.key === "disk");
  console.log(
    `disk backend: ${diskLine?.implementation ?? "?"}${
      diskLine?.reason ? ` (${diskLine.reason})` : ""
    }`,
  );
  t0 = performance.now();
  const loaded = await disk.loadBatch<NdArray>(paths);
  const loadMs = ms(t0);
  const tiffOk = loaded.every((p, i) => sameArray(p, planes[i]!));
  timings.push([
    "loadBatch",
    loadMs,
    `${paths.length} TIFFs decoded, ${humanBytes(tiffBytes / (loadMs / 1000))}/s, ${
      tiffOk ? "identical to what was saved" : "DIFFERENT from what was saved"
    }`,
  ]);

  // 3. Convert (the code path of `hcs-store convert`).
  t0 = performance.now();
  const preloaded = new Map(paths.map((p, i) => [p, loaded[i]!] as const));
  const plan = await planConversion(registry, imagesDir, { preloaded });
  const result = await runConversion(registry, plan, plateDir, { preloaded });
  timings.push([
    "convert",
    ms(t0),
    `${result.wells} wells, ${plan.fields.length} fields, ${plan.channels.length} channels (${plan.preset} names) → OME-Zarr`,
  ]);

  // 4. Read back by virtual name.
  const zarrBackend = await registry.getBackend<VirtualBackend>("zarr");
  t0 = performance.now();
  const virtualPaths = paths.map((p) => join(plateDir, p.slice(imagesDir.length + 1)));
  const back = await zarrBackend.loadBatch<NdArray>(virtualPaths);
  const exact = back.filter((p, i) => sameArray(p, planes[i]!)).length;
  timings.push(["read back", ms(t0), `${exact}/${planes.length} planes bit-exact by virtual name`]);

  // 5. Preview.
  t0 = performance.now();
  const pv = await writePreview(registry, plateDir, previewPath, {
    field: 0,
    tile: 160,
    gap: 4,
    low: 0.1,
    high: 99.9,
    overwrite: true,
  });
  timings.push([
    "preview",
    ms(t0),
    `${pv.image.width}×${pv.image.height} PNG, field 0, ${
      pv.channels.map((c) => c.name).join(" + ")
    } in colour`,
  ]);

  // 6. Summary.
  const usage = await (await import("./cli/_plate.ts")).diskUsage(plateDir);
  console.log("");
  for (const [step, t, what] of timings) {
    console.log(`  ${step.padEnd(10)} ${`${t.toFixed(0)} ms`.padStart(8)}  ${what}`);
  }
  const total = timings.reduce((n, [, t]) => n + t, 0);
  console.log(`  ${"total".padEnd(10)} ${`${total.toFixed(0)} ms`.padStart(8)}`);
  console.log("\noutputs:");
  console.log(`  TIFF planes  ${imagesDir}/`);
  console.log(`  OME-Zarr     ${plateDir}  (${humanBytes(usage.bytes)} in ${usage.files} files)`);
  console.log(`  preview      ${previewPath}`);
  console.log("\nnext:");
  const cli = cliCommand(here);
  console.log(`  ${cli} info ${plateDir}`);
  console.log(`  ${cli} ls -l ${imagesDir}`);
  console.log(`  ${cli} preview --field 1 --overwrite -o ${previewPath} ${plateDir}`);
  const ok = tiffOk && exact === planes.length;
  console.log(ok ? "\ndemo ok" : "\ndemo FAILED: planes differ");
  return ok ? 0 : 1;
}

if (import.meta.main) {
  try {
    process.exitCode = await demo();
  } catch (err) {
    console.error(`demo: ${(err as Error).message}`);
    if (process.argv.includes("--verbose")) console.error((err as Error).stack);
    process.exitCode = 1;
  }
}
