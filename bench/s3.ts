/**
 * S3 backend vs the AWS SDK v3 and boto3, in one run against one Ceph
 * gateway (S3_* from the environment, else started here with
 * scripts/s3/start.sh and stopped at the end):
 * - saveBatch / loadBatch of N × 256 KiB objects (N = 1000, 200 with --quick),
 *   median of 3 interleaved rounds per client (1 with --quick)
 *   vs SDK PutObject/GetObject in a `Promise.all` pool of the same
 *   concurrency, vs boto3 with a thread pool of that size (bench/s3_boto3.py,
 *   Debian's /usr/bin/python3);
 * - `loadBatch` at several concurrency bounds (how the default was chosen);
 * - the client evaluation: small-GET requests/s, cold import time and
 *   minified browser-bundle size of aws4fetch vs @aws-sdk/client-s3;
 * - an OME-Zarr plate (4 wells × 4 fields × 2 channels, 1024² uint16, zstd)
 *   written and read with the Zarr backend on S3 vs on the local disk.
 *
 * Run: deno run -A bench/s3.ts [--quick] [--concurrency N]
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { S3Backend } from "../backends/s3.ts";
import { ZarrBackend } from "../backends/zarr.ts";
import { DiskBackend } from "../backends/disk.ts";
import type { NdArray, StorageBackend } from "../backends/base.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const ci = argv.indexOf("--concurrency");
const C = ci >= 0 ? Number(argv[ci + 1]) : 32;
const N = quick ? 200 : 1000;
const SIZE = 256 * 1024;
const SMALL = quick ? 300 : 1500;

let env: Record<string, string> = {};
let started: string | undefined;
if (process.env.S3_ENDPOINT) {
  for (const k of ["S3_ENDPOINT", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "S3_REGION"]) {
    env[k] = process.env[k] ?? "";
  }
} else {
  started = join(mkdtempSync(join(tmpdir(), "hcs-s3-bench-")), "rgw");
  const out = execFileSync("bash", [join(root, "scripts/s3/start.sh"), started, "7599"], {
    encoding: "utf8",
    env: { ...process.env, S3_MEMSTORE_BYTES: String(6 * 2 ** 30) },
  });
  env = Object.fromEntries(out.trim().split("\n").map((l) => l.split("=", 2) as [string, string]));
}
const stop = () => {
  if (!started) return;
  spawnSync("bash", [join(root, "scripts/s3/stop.sh"), started], { stdio: "ignore" });
  rmSync(dirname(started), { recursive: true, force: true });
};

const credentials = {
  accessKeyId: env.S3_ACCESS_KEY_ID!,
  secretAccessKey: env.S3_SECRET_ACCESS_KEY!,
};
const hcs = new S3Backend({
  endpoint: env.S3_ENDPOINT!,
  region: "us-east-1",
  credentials,
  forcePathStyle: true,
  concurrency: C,
});
const sdk = new S3Client({
  endpoint: env.S3_ENDPOINT!,
  region: "us-east-1",
  forcePathStyle: true,
  credentials,
  requestChecksumCalculation: "WHEN_REQUIRED",
  responseChecksumValidation: "WHEN_REQUIRED",
  maxAttempts: 3,
});

const bucket = `bench-${Date.now().toString(36)}`;
await hcs.ensureDirectory(`/${bucket}`);
const payloads = Array.from({ length: N }, (_, i) => new Uint8Array(SIZE).fill(i & 0xff));

async function limit<T>(n: number, c: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(c, n) }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  }));
  return out;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

const rows: [string, number, string][] = [];
const mibps = (s: number) => (N * SIZE) / 2 ** 20 / s;

// --- ROUNDS interleaved rounds (hcs, SDK, hcs, SDK, ...), medians reported: a
// single pass is order-dependent (the first client to touch the gateway pays
// its warm-up). Each round writes its own prefix, so no run overwrites another.
const ROUNDS = quick ? 1 : 3;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const check = (xs: Uint8Array[]) => {
  if (xs.some((x, i) => x.length !== SIZE || x[0] !== (i & 0xff))) throw new Error("bad read");
};
const saves: number[] = [], puts: number[] = [], loads: number[] = [], gets: number[] = [];
let hcsPaths: string[] = [];
for (let r = 0; r < ROUNDS; r++) {
  await hcs.ensureDirectory(`/${bucket}/hcs${r}`);
  const paths = payloads.map((_, i) => `/${bucket}/hcs${r}/o${i}.bin`);
  saves.push(await timed(() => hcs.saveBatch(payloads, paths)));
  puts.push(
    await timed(() =>
      limit(N, C, (i) =>
        sdk.send(
          new PutObjectCommand({ Bucket: bucket, Key: `sdk${r}/o${i}.bin`, Body: payloads[i]! }),
        ))
    ),
  );
  loads.push(
    await timed(async () => check(await hcs.loadBatch<Uint8Array>(paths, { as: "bytes" }))),
  );
  gets.push(
    await timed(async () =>
      check(
        await limit(N, C, async (i) => {
          const res = await sdk.send(
            new GetObjectCommand({ Bucket: bucket, Key: `sdk${r}/o${i}.bin` }),
          );
          return await res.Body!.transformToByteArray();
        }),
      )
    ),
  );
  hcsPaths = paths;
}
const hcsSave = median(saves), sdkPut = median(puts);
const hcsLoad = median(loads), sdkGet = median(gets);

// --- boto3, same gateway, same sizes and concurrency ---
let boto: { put: number; get: number } | undefined;
const py = spawnSync("/usr/bin/python3", [
  join(root, "bench/s3_boto3.py"),
  env.S3_ENDPOINT!,
  bucket,
  String(N),
  String(SIZE),
  String(C),
  String(ROUNDS),
], { encoding: "utf8", env: { ...process.env, ...env }, timeout: 600_000 });
if (py.status === 0) boto = JSON.parse(py.stdout.trim().split("\n").pop()!);
else {console.error(
    `boto3 skipped: ${(py.stderr || py.error?.message || "").trim().split("\n").pop()}`,
  );}

rows.push([`hcs saveBatch ${N} × 256 KiB (c=${C})`, hcsSave, `${mibps(hcsSave).toFixed(0)} MiB/s`]);
rows.push([`SDK v3 PutObject pool (c=${C})`, sdkPut, `${mibps(sdkPut).toFixed(0)} MiB/s`]);
if (boto) {
  rows.push([`boto3 put_object, ${C} threads`, boto.put, `${mibps(boto.put).toFixed(0)} MiB/s`]);
}
rows.push([`hcs loadBatch ${N} × 256 KiB (c=${C})`, hcsLoad, `${mibps(hcsLoad).toFixed(0)} MiB/s`]);
rows.push([`SDK v3 GetObject pool (c=${C})`, sdkGet, `${mibps(sdkGet).toFixed(0)} MiB/s`]);
if (boto) {
  rows.push([`boto3 get_object, ${C} threads`, boto.get, `${mibps(boto.get).toFixed(0)} MiB/s`]);
}

// --- loadBatch concurrency sweep (the default) ---
const sweep: [number, number][] = [];
for (const c of [8, 16, 32, 64]) {
  const b = new S3Backend({
    endpoint: env.S3_ENDPOINT!,
    region: "us-east-1",
    credentials,
    forcePathStyle: true,
    concurrency: c,
  });
  sweep.push([c, await timed(() => b.loadBatch(hcsPaths, { as: "bytes" }))]);
}

// --- client evaluation: small requests/s, cold import, bundle size ---
await hcs.save(new Uint8Array(1024), `/${bucket}/small.bin`);
const smallHcs = await timed(() =>
  limit(SMALL, C, () => hcs.load(`/${bucket}/small.bin`, { as: "bytes" }))
);
const smallSdk = await timed(() =>
  limit(SMALL, C, async () => {
    const r = await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: "small.bin" }));
    return await r.Body!.transformToByteArray();
  })
);
const deno = join(root, "node_modules/.bin/deno");
const coldImport = (spec: string) => {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = spawnSync(deno, [
      "eval",
      `const t = performance.now(); await import("${spec}"); console.log(performance.now() - t);`,
    ], { cwd: root, encoding: "utf8" });
    times.push(Number(r.stdout.trim()));
  }
  return Math.min(...times);
};
const work = mkdtempSync(join(tmpdir(), "hcs-s3-bundle-"));
const bundleSize = (code: string) => {
  writeFileSync(join(work, "entry.ts"), code);
  const out = join(work, "out.js");
  spawnSync(join(root, "node_modules/.bin/bun"), [
    "build",
    "--target=browser",
    "--minify",
    join(work, "entry.ts"),
    "--outfile",
    out,
  ], { cwd: root, encoding: "utf8" });
  try {
    return statSync(out).size;
  } catch {
    return NaN;
  }
};
const a4fImport = coldImport("npm:aws4fetch@^1.0.20");
const sdkImport = coldImport("npm:@aws-sdk/client-s3@^3.1175.0");
const a4fBundle = bundleSize(
  `import { AwsV4Signer } from "${
    join(root, "node_modules/aws4fetch/dist/aws4fetch.esm.mjs")
  }";\nconsole.log(AwsV4Signer);`,
);
const sdkBundle = bundleSize(
  `import { S3Client, GetObjectCommand } from "${
    join(root, "node_modules/@aws-sdk/client-s3")
  }";\nconsole.log(S3Client, GetObjectCommand);`,
);
const s3Bundle = bundleSize(
  `import { S3Backend } from "${join(root, "backends/s3.ts")}";\nconsole.log(S3Backend);`,
);
rmSync(work, { recursive: true, force: true });

// --- an OME-Zarr plate on S3 vs on disk ---
const SIDE = 1024;
const planeData = Array.from({ length: 32 }, (_, p) => {
  const d = new Uint16Array(SIDE * SIDE);
  let x = (p + 1) * 2654435761 >>> 0;
  for (let i = 0; i < d.length; i++) {
    x = (x * 1664525 + 1013904223) >>> 0;
    d[i] = 400 + ((i % SIDE + (i >> 10)) >> 3) + (x >>> 26);
  }
  return d;
});
async function plate(store: StorageBackend, dir: string): Promise<{ write: number; read: number }> {
  const z = new ZarrBackend({ store, compression: "zstd", chunks: "plane" });
  await store.ensureDirectory(dir);
  const t0 = performance.now();
  for (let w = 0; w < 4; w++) {
    const data: NdArray[] = [];
    const paths: string[] = [];
    const coordinates: number[][] = [];
    for (let f = 0; f < 4; f++) {
      for (let c = 0; c < 2; c++) {
        data.push({ data: planeData[w * 8 + f * 2 + c]!, shape: [SIDE, SIDE], stride: [SIDE, 1] });
        paths.push(`${dir}/${"ABCD"[w]}01_s${f}_w${c}.tif`);
        coordinates.push([f, c]);
      }
    }
    await z.saveBatch(data, paths, {
      row: "ABCD"[w]!,
      column: "01",
      axes: [{ name: "field", role: "image" }, { name: "channel", type: "channel" }],
      coordinates,
    });
  }
  const t1 = performance.now();
  const got = await z.loadBatch<NdArray<Uint16Array>>(await z.listFiles(dir));
  const t2 = performance.now();
  if (got.length !== 32) throw new Error(`read ${got.length} planes`);
  return { write: (t1 - t0) / 1000, read: (t2 - t1) / 1000 };
}
const plateS3 = await plate(hcs, `/${bucket}/plate.zarr`);
const diskDir = mkdtempSync(join(tmpdir(), "hcs-s3-bench-disk-"));
const plateDisk = await plate(new DiskBackend(), join(diskDir, "plate.zarr"));
rmSync(diskDir, { recursive: true, force: true });

await hcs.deleteAll(`/${bucket}`);
stop();

const rt = "Deno" in globalThis ? "deno" : "bun";
const plateRow = (name: string, r: { write: number; read: number }) =>
  `| ${name} | ${r.write.toFixed(2)} | ${r.read.toFixed(2)} |`;
console.log(`\n## S3 (${rt}, Ceph RGW 16 on 127.0.0.1, ${N} × 256 KiB, concurrency ${C})\n`);
console.log("| run | seconds | throughput |\n| --- | ---: | ---: |");
for (const [name, s, t] of rows) console.log(`| ${name} | ${s.toFixed(2)} | ${t} |`);
console.log("\n| ratio | value |\n| --- | ---: |");
console.log(`| saveBatch vs SDK (time SDK / time hcs) | ${(sdkPut / hcsSave).toFixed(2)}× |`);
console.log(`| loadBatch vs SDK | ${(sdkGet / hcsLoad).toFixed(2)}× |`);
if (boto) {
  console.log(`| saveBatch vs boto3 | ${(boto.put / hcsSave).toFixed(2)}× |`);
  console.log(`| loadBatch vs boto3 | ${(boto.get / hcsLoad).toFixed(2)}× |`);
}
console.log("\n| loadBatch concurrency | seconds |\n| ---: | ---: |");
for (const [c, s] of sweep) console.log(`| ${c} | ${s.toFixed(2)} |`);
console.log(
  "\n| client | 1 KiB GETs/s | cold import (ms) | minified bundle |\n| --- | ---: | ---: | ---: |",
);
console.log(
  `| aws4fetch (hcs S3Backend) | ${(SMALL / smallHcs).toFixed(0)} | ${a4fImport.toFixed(1)} | ${
    (a4fBundle / 1024).toFixed(1)
  } KiB (S3Backend: ${(s3Bundle / 1024).toFixed(1)} KiB) |`,
);
console.log(
  `| @aws-sdk/client-s3 | ${(SMALL / smallSdk).toFixed(0)} | ${sdkImport.toFixed(1)} | ${
    (sdkBundle / 1024).toFixed(1)
  } KiB |`,
);
console.log(
  "\n| OME-Zarr plate, 4×4×2 × 1024² uint16, zstd | write s | read s |\n| --- | ---: | ---: |",
);
console.log(plateRow("on S3 (Ceph RGW, 127.0.0.1)", plateS3));
console.log(plateRow("on local disk", plateDisk));
