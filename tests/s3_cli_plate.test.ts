// OME-Zarr plates on S3 through the CLI, as a person runs it: real CLI
// processes (on the runtime running this file) configured only by S3_*
// variables convert a TIFF folder into s3://…/p.zarr, read it back with
// info / preview / cp zarr:s3://…, refuse to replace it without --overwrite,
// and finish an interrupted (SIGINT) conversion with --resume.
import { after, it } from "node:test";
import { describePeer } from "./_peers.ts";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { decode as decodePng } from "fast-png";
import { createRegistry } from "../registry/registry.ts";
import type { NdArray, StorageBackend } from "../backends/base.ts";
import { ownerRecord } from "../zarr/leftovers.ts";
import { bucketName, type Gateway, gateway, s3Backend, s3Skip } from "./_s3.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const entry = join(root, "cli/mod.ts");
const isBun = "Bun" in globalThis;
// The runtime's own binary, so a signal reaches the CLI itself and not a wrapper.
const pre = isBun ? [entry] : ["run", "-A", entry];
const work = mkdtempSync(join(tmpdir(), "hcs-s3-cli-plate-"));
const src = join(work, "src");
const ROWS = ["A", "B"];
const COLS = 6;
const SIZE = 48;
const WELLS = ROWS.length * COLS;

after(() => {
  rmSync(work, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `onStart` gets the child (to signal it). */
function cli(args: string[], onStart?: (pid: number) => void): Promise<Run> {
  const env = { ...process.env, ...(gateway as Gateway).env, NO_COLOR: "1" };
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [...pre, ...args], { cwd: work, env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", fail);
    child.on("close", (status) => done({ status, stdout, stderr }));
    onStart?.(child.pid!);
  });
}

function pixel(i: number, well: number, f: number, c: number): number {
  return (i * 7 + well * 13 + c * 101 + f * 1009) & 0xffff;
}

let made: Promise<void> | undefined;
/** The input folder (2 fields × 2 channels per well), written by the library itself. */
function makeSource(): Promise<void> {
  made ??= (async () => {
    const disk = await createRegistry().getBackend<StorageBackend>("disk");
    await disk.ensureDirectory(src);
    const planes: NdArray[] = [];
    const paths: string[] = [];
    let w = 0;
    for (const r of ROWS) {
      for (let col = 1; col <= COLS; col++, w++) {
        for (let f = 1; f <= 2; f++) {
          for (let c = 1; c <= 2; c++) {
            const data = new Uint16Array(SIZE * SIZE);
            for (let i = 0; i < data.length; i++) data[i] = pixel(i, w, f, c);
            planes.push({ data, shape: [SIZE, SIZE], stride: [SIZE, 1] });
            paths.push(join(src, `${r}${String(col).padStart(2, "0")}_s${f}_w${c}.tif`));
          }
        }
      }
    }
    await disk.saveBatch(planes, paths);
  })();
  return made;
}

async function keysOf(bucket: string): Promise<string[]> {
  return await s3Backend().listFiles(`/${bucket}`, { recursive: true });
}

describePeer(s3Skip)("OME-Zarr plates on S3 through the CLI", () => {
  it("convert into s3://, then info, preview, cp zarr:s3://… and a refused second convert", async () => {
    await makeSource();
    const bucket = bucketName("cliplate");
    const url = `s3://${bucket}/p.zarr`;
    let r = await cli(["convert", "-q", "--json", src, url]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).wells, WELLS);
    assert.equal(JSON.parse(r.stdout).output, url);
    const keys = await keysOf(bucket);
    assert.ok(keys.some((k) => k === `/${bucket}/p.zarr/zarr.json`), keys.join(", "));
    assert.ok(
      !keys.some((k) => /\.partial|\.lock|hcs-zarr-tmp|\.hcs-convert/.test(k)),
      keys.join(),
    );

    // Virtual paths recorded under the staging name were moved to the final one.
    const metas = await Promise.all(
      keys.filter((k) => k.endsWith("zarr.json")).map(async (k) =>
        new TextDecoder().decode(await s3Backend().load<Uint8Array>(k, { as: "bytes" }))
      ),
    );
    assert.ok(metas.every((t) => !t.includes(".partial")), "no metadata names the staging prefix");
    assert.ok(metas.some((t) => t.includes(`/${bucket}/p.zarr/A01_s1_w1.tif`)), "final names");

    r = await cli(["info", url]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^wells: +12 +A01 A02 A03 A04 A05 A06 B01 B02 B03 B04 B05 B06$/m);
    r = await cli(["info", "--json", `zarr:${url}`]);
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { wells: unknown[]; shape: number[]; dtype: string };
    assert.equal(info.wells.length, WELLS);
    assert.equal(info.dtype, "uint16");
    assert.deepEqual(info.shape.slice(-2), [SIZE, SIZE]);

    // The preview of the S3 plate is the preview of the same plate on disk.
    r = await cli(["convert", "-q", src, join(work, "p.zarr")]);
    assert.equal(r.status, 0, r.stderr);
    r = await cli(["preview", "-q", "--json", url, "-o", join(work, "s3.png")]);
    assert.equal(r.status, 0, r.stderr);
    const reported = JSON.parse(r.stdout) as { width: number; height: number; wells: number };
    assert.equal(reported.wells, WELLS);
    r = await cli(["preview", "-q", join(work, "p.zarr"), "-o", join(work, "disk.png")]);
    assert.equal(r.status, 0, r.stderr);
    const png = decodePng(readFileSync(join(work, "s3.png")));
    const ref = decodePng(readFileSync(join(work, "disk.png")));
    assert.deepEqual([png.width, png.height], [reported.width, reported.height]);
    assert.deepEqual([png.width, png.height], [ref.width, ref.height]);
    assert.ok(png.width > SIZE * COLS && png.height > SIZE * ROWS.length);
    assert.deepEqual(png.data, ref.data);

    // One virtual plane out of the S3 plate, decoded and re-encoded as a TIFF on disk.
    r = await cli(["cp", "-q", `zarr:${url}/B02_s2_w1.tif`, join(work, "plane.tif")]);
    assert.equal(r.status, 0, r.stderr);
    const disk = await createRegistry().getBackend<StorageBackend>("disk");
    const plane = await disk.load<NdArray>(join(work, "plane.tif"));
    assert.deepEqual(plane.shape, [SIZE, SIZE]);
    const w = COLS + 1; // B02
    assert.deepEqual(
      [...plane.data],
      Array.from({ length: SIZE * SIZE }, (_, i) => pixel(i, w, 2, 1)),
    );
    r = await cli(["ls", `zarr:${url}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /B02_s2_w1\.tif/);

    // cp into zarr:s3://… is the same conversion.
    r = await cli(["cp", "-q", "-r", src, `zarr:s3://${bucket}/q.zarr`]);
    assert.equal(r.status, 0, r.stderr);
    r = await cli(["info", "--json", `s3://${bucket}/q.zarr`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).wells.length, WELLS);

    r = await cli(["convert", "-q", src, url]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /already exists.*--overwrite/);

    // --overwrite replaces it: the old plate is moved aside on the store, then removed.
    r = await cli(["convert", "-q", "--overwrite", "--compression", "zstd", src, url]);
    assert.equal(r.status, 0, r.stderr);
    r = await cli(["info", "--json", url]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(JSON.parse(r.stdout).codec, /zstd/);
    assert.ok(!(await keysOf(bucket)).some((k) => /\.old-|\.partial/.test(k)));
  });

  it("SIGINT after the first well keeps the staging prefix; --resume completes every well", async () => {
    await makeSource();
    const bucket = bucketName("cliresume");
    const url = `s3://${bucket}/p.zarr`;
    const s3 = s3Backend();
    const stagedMeta = `/${bucket}/.p.zarr.partial/zarr.json`;
    let sentAfterWell = false;
    let poll: ReturnType<typeof setInterval> | undefined;
    const r = await cli(["convert", "-q", src, url], (pid) => {
      let busy = false;
      // The staging plate's metadata appears once the first well is complete.
      poll = setInterval(async () => {
        if (busy || sentAfterWell) return;
        busy = true;
        try {
          if (await s3.exists(stagedMeta)) {
            sentAfterWell = true;
            process.kill(pid, "SIGINT");
          }
        } catch {
          // the bucket is not there yet
        } finally {
          busy = false;
        }
      }, 5);
    });
    clearInterval(poll);
    assert.ok(sentAfterWell, `the conversion ended before it could be interrupted: ${r.stderr}`);
    assert.equal(r.status, 130, r.stderr);
    assert.match(r.stderr, /interrupted \(SIGINT\) after \d+ of 12 wells.*--resume/);
    assert.equal(await s3.exists(`/${bucket}/p.zarr`), false, "no plate that looks whole");
    assert.equal(await s3.exists(`/${bucket}/.p.zarr.partial`), true, "the build is kept");
    assert.equal(await s3.exists(`/${bucket}/.p.zarr.partial.lock`), false, "lease released");

    const half = await cli(["info", url]);
    assert.equal(half.status, 1);
    assert.match(
      half.stderr,
      /no such plate; an unfinished conversion .*\.p\.zarr\.partial.*--resume/,
    );

    let again = await cli(["convert", "-q", src, url]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /was not finished.*--resume.*--overwrite/);

    again = await cli(["convert", "-q", "--resume", "--json", src, url]);
    assert.equal(again.status, 0, again.stderr);
    const res = JSON.parse(again.stdout) as { wells: number; resumedWells: number };
    assert.equal(res.wells, WELLS);
    assert.ok(res.resumedWells > 0 && res.resumedWells < WELLS, again.stdout);
    const info = await cli(["info", "--json", url]);
    assert.equal(info.status, 0, info.stderr);
    const wells = (JSON.parse(info.stdout) as { wells: { path: string }[] }).wells;
    assert.equal(new Set(wells.map((x) => x.path)).size, WELLS);
    assert.ok(!(await keysOf(bucket)).some((k) => /\.partial|\.lock|hcs-zarr-tmp/.test(k)));
    // A plane written after the resume reads back as written.
    const out = await cli(["cp", "-q", `zarr:${url}/A06_s1_w2.tif`, join(work, "a06.tif")]);
    assert.equal(out.status, 0, out.stderr);
    const disk = await createRegistry().getBackend<StorageBackend>("disk");
    const plane = await disk.load<NdArray>(join(work, "a06.tif"));
    assert.deepEqual(
      [...plane.data],
      Array.from({ length: SIZE * SIZE }, (_, i) => pixel(i, 5, 1, 2)),
    );
  });

  it("a live convert's lease keeps a second one out; a dead holder's lease is taken over", async () => {
    await makeSource();
    const bucket = bucketName("clilease");
    const url = `s3://${bucket}/p.zarr`;
    const s3 = s3Backend();
    await s3.ensureDirectory(`/${bucket}`);
    const lease = `/${bucket}/.p.zarr.partial.lock`;
    const record = async (pid: number) =>
      new TextEncoder().encode(JSON.stringify({ ...(await ownerRecord()), pid, token: "other" }));
    // Held by this test process: alive, on this host, heartbeat now.
    await s3.save(await record(process.pid), lease);
    let r = await cli(["convert", "-q", src, url]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /another convert is writing 's3:\/\/.*p\.zarr' right now/);
    assert.equal(await s3.exists(`/${bucket}/p.zarr`), false);
    assert.equal(await s3.exists(`/${bucket}/.p.zarr.partial`), false, "nothing was staged");
    // Held by a process that has exited.
    const gone = spawnSync(process.execPath, ["--version"]).pid;
    await s3.save(await record(gone), lease, { overwrite: true });
    r = await cli(["convert", "-q", src, url]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await s3.exists(lease), false, "the lease is released");
    r = await cli(["info", "--json", url]);
    assert.equal(JSON.parse(r.stdout).wells.length, WELLS);
  });
});
