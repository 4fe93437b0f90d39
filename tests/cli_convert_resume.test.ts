// `convert` never leaves a plate that looks whole but is not: real SIGINT /
// SIGTERM sent to a real CLI process mid-conversion, then `info`, a plain
// rerun, `--resume` and `--overwrite`, checked against the input pixels.
// The child runs on the runtime running this file (Deno or Bun).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import { fileURLToPath } from "node:url";
import { createRegistry } from "../registry/registry.ts";
import type { NdArray, StorageBackend } from "../backends/base.ts";

const root = nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), "..");
const entry = nodePath.join(root, "cli", "mod.ts");
const isBun = "Bun" in globalThis;
// The runtime's own binary: `node_modules/.bin/*` may be a wrapper process that a signal would kill.
const exe = process.execPath;
const pre = isBun ? [entry] : ["run", "-A", entry];
const env = { ...process.env, NO_COLOR: "1" };

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Run {
  const r = spawnSync(exe, [...pre, ...args], {
    cwd: root,
    env,
    encoding: "utf8",
    timeout: 120_000,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

const ROWS = "ABCDEFGH";
const COLS = 12;
const FIELDS = 2;
const CHANNELS = 2;
const SIZE = 256;
const WELLS = ROWS.length * COLS;

function pixel(i: number, well: number, f: number, c: number): number {
  return (i * 7 + well * 13 + c * 101 + f * 1009) & 0xffff;
}

let tmp = "";
let src = "";

before(() => {
  tmp = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-cli-resume-"));
  src = nodePath.join(tmp, "src");
});

let made: Promise<void> | undefined;

/** The input folder, made once by the library itself (inside a test: Bun's hooks have a 5 s limit). */
function makeSource(): Promise<void> {
  made ??= writeSource();
  return made;
}

async function writeSource(): Promise<void> {
  const disk = await createRegistry().getBackend<StorageBackend>("disk");
  await disk.ensureDirectory(src);
  const planes: NdArray[] = [];
  const paths: string[] = [];
  let w = 0;
  for (const r of ROWS) {
    for (let col = 1; col <= COLS; col++, w++) {
      for (let f = 1; f <= FIELDS; f++) {
        for (let c = 1; c <= CHANNELS; c++) {
          const data = new Uint16Array(SIZE * SIZE);
          for (let i = 0; i < data.length; i++) data[i] = pixel(i, w, f, c);
          planes.push({ data, shape: [SIZE, SIZE], stride: [SIZE, 1] });
          paths.push(nodePath.join(src, `${r}${String(col).padStart(2, "0")}_s${f}_w${c}.tif`));
        }
      }
    }
  }
  await disk.saveBatch(planes, paths);
}

after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Starts `convert`, waits until its first well is written, sends `signal`, resolves on exit. */
function interruptedConvert(
  args: string[],
  output: string,
  signal: "SIGINT" | "SIGTERM" | "SIGKILL",
): Promise<Run & { sentAfterMs: number }> {
  const staging = nodePath.join(nodePath.dirname(output), `.${nodePath.basename(output)}.partial`);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(exe, [...pre, "convert", ...args, src, output], { cwd: root, env });
    let stdout = "";
    let stderr = "";
    let sentAfterMs = -1;
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    // The root metadata appears once the first well is complete.
    const poll = setInterval(() => {
      if (sentAfterMs < 0 && fs.existsSync(nodePath.join(staging, "zarr.json"))) {
        sentAfterMs = performance.now() - t0;
        process.kill(child.pid!, signal); // not child.kill: Deno then reports the signal, not the exit status
      }
    }, 2);
    child.on("close", (status, sig) => {
      clearInterval(poll);
      resolve({ status, signal: sig, stdout, stderr, sentAfterMs });
    });
  });
}

function staged(output: string): string {
  return nodePath.join(nodePath.dirname(output), `.${nodePath.basename(output)}.partial`);
}

async function assertPlateMatchesInput(output: string): Promise<void> {
  const zarr = await createRegistry().getBackend<StorageBackend>("zarr");
  const names = ["A01_s1_w1.tif", "D07_s2_w1.tif", "H12_s2_w2.tif", "E01_s1_w2.tif"];
  const wells = [0, 3 * COLS + 6, WELLS - 1, 4 * COLS];
  const fc = [[1, 1], [2, 1], [2, 2], [1, 2]];
  const got = await zarr.loadBatch<NdArray>(names.map((n) => nodePath.join(output, n)));
  got.forEach((p, k) => {
    const [f, c] = fc[k]!;
    const data = p.data as Uint16Array;
    for (const i of [0, 1, 12345, SIZE * SIZE - 1]) {
      assert.equal(data[i], pixel(i, wells[k]!, f!, c!), `${names[k]} pixel ${i}`);
    }
  });
}

describe("cli convert: interrupted, resumed, never half a plate", { timeout: 300_000 }, () => {
  it(
    "SIGINT stops cleanly (exit 130), nothing at OUTPUT, info and rerun point at --resume, --resume finishes",
    { timeout: 120_000 },
    async () => {
      await makeSource();
      const out = nodePath.join(tmp, "int.zarr");
      const r = await interruptedConvert([], out, "SIGINT");
      assert.ok(
        r.sentAfterMs >= 0,
        `the conversion ended before it could be interrupted: ${r.stderr}`,
      );
      assert.equal(r.signal, null, "the CLI handles SIGINT instead of dying of it");
      assert.equal(r.status, 130, r.stderr);
      const lines = r.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^hcs-store convert: interrupted \(SIGINT\) after \d+ of 96 wells/);
      assert.match(lines[0]!, /--resume/);
      assert.equal(fs.existsSync(out), false, "no plate that looks whole");
      assert.equal(fs.existsSync(staged(out)), true, "the partial build is kept for --resume");

      const info = cli(["info", out]);
      assert.equal(info.status, 1);
      assert.match(info.stderr, /^hcs-store info: cannot access '.*int\.zarr': no such plate;/);
      assert.match(info.stderr, /--resume/);

      const again = cli(["convert", src, out]);
      assert.equal(again.status, 1);
      assert.match(again.stderr, /was not finished/);
      assert.match(again.stderr, /--resume/);
      assert.match(again.stderr, /--overwrite/);

      const other = cli(["convert", "--resume", "--compression", "zstd", src, out]);
      assert.equal(other.status, 1, other.stderr);
      assert.match(other.stderr, /other input or settings.*--overwrite/);

      const resumed = cli(["convert", "--resume", "--json", src, out]);
      assert.equal(resumed.status, 0, resumed.stderr);
      const j = JSON.parse(resumed.stdout);
      assert.equal(j.wells, WELLS);
      assert.ok(j.resumedWells > 0 && j.resumedWells < WELLS, `resumed ${j.resumedWells}`);
      assert.equal(
        j.planes,
        (WELLS - j.resumedWells) * FIELDS * CHANNELS,
        "done wells not rewritten",
      );
      assert.equal(fs.existsSync(staged(out)), false);

      const full = cli(["info", "--json", out]);
      assert.equal(full.status, 0, full.stderr);
      assert.equal(JSON.parse(full.stdout).wells.length, WELLS);
      await assertPlateMatchesInput(out);
      // No trace of the staging name inside the published plate.
      const meta = fs.readFileSync(nodePath.join(out, "A", "01", "0", "0", "zarr.json"), "utf8");
      assert.doesNotMatch(meta, /\.partial/);
      assert.match(
        meta,
        new RegExp(`${out.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/A01_s1_w1\\.tif`),
      );
      assert.equal(
        JSON.parse(fs.readFileSync(nodePath.join(out, "zarr.json"), "utf8"))
          .attributes.ome.plate.name,
        "int.zarr",
      );
      assert.equal(fs.existsSync(nodePath.join(out, ".hcs-convert.json")), false);

      const done = cli(["convert", "--resume", src, out]);
      assert.equal(done.status, 1);
      assert.match(done.stderr, /already exists and is complete; nothing to resume.*--overwrite/);
    },
  );

  it(
    "SIGTERM during --overwrite keeps the old plate whole (exit 143); the same command with --resume swaps the new one in",
    { timeout: 120_000 },
    async () => {
      await makeSource();
      const out = nodePath.join(tmp, "term.zarr");
      const first = cli(["convert", "--quiet", src, out]);
      assert.equal(first.status, 0, first.stderr);
      const marker = nodePath.join(out, "old-plate-marker.txt");
      fs.writeFileSync(marker, "old");
      const r = await interruptedConvert(["--overwrite"], out, "SIGTERM");
      assert.ok(
        r.sentAfterMs >= 0,
        `the conversion ended before it could be interrupted: ${r.stderr}`,
      );
      assert.equal(r.signal, null, "the CLI handles SIGTERM instead of dying of it");
      assert.equal(r.status, 143, r.stderr);
      assert.match(r.stderr, /interrupted \(SIGTERM\).*--resume/);
      assert.equal(fs.existsSync(marker), true, "the old plate is untouched");
      const info = cli(["info", "--json", out]);
      assert.equal(info.status, 0, info.stderr);
      assert.equal(JSON.parse(info.stdout).wells.length, WELLS);

      // "The same command with --resume".
      const resumed = cli(["convert", "--overwrite", "--resume", "--json", src, out]);
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.ok(JSON.parse(resumed.stdout).resumedWells > 0);
      assert.equal(fs.existsSync(marker), false, "the new plate replaced the old one");
      assert.equal(fs.existsSync(staged(out)), false);
      assert.equal(fs.readdirSync(tmp).filter((n) => n.includes(".old-")).length, 0);
      await assertPlateMatchesInput(out);
      fs.rmSync(out, { recursive: true });
    },
  );
  it(
    "SIGKILL (or a second Ctrl-C) mid-well: --resume clears the half-written well and finishes",
    { timeout: 120_000 },
    async () => {
      await makeSource();
      const out = nodePath.join(tmp, "kill.zarr");
      const r = await interruptedConvert([], out, "SIGKILL");
      assert.ok(r.sentAfterMs >= 0, `the conversion ended before it could be killed: ${r.stderr}`);
      assert.equal(r.signal, "SIGKILL");
      assert.equal(fs.existsSync(out), false);
      const resumed = cli(["convert", "--resume", "--json", src, out]);
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.ok(JSON.parse(resumed.stdout).resumedWells > 0);
      const left = fs.readdirSync(out).filter((n) => n.startsWith(".") || n.endsWith(".lock"));
      assert.deepEqual(left, [], "no staging leftovers inside the plate");
      const full = cli(["info", "--json", out]);
      assert.equal(JSON.parse(full.stdout).wells.length, WELLS);
      // Resumed and fresh wells alike record their planes under the final name.
      for (const well of [["A", "01"], ["H", "12"]]) {
        const meta = nodePath.join(out, ...well, "0", "0", "zarr.json");
        const paths: string[] = JSON.parse(fs.readFileSync(meta, "utf8")).attributes
          .polystore_output_paths;
        assert.ok(paths.length > 0 && paths.every((p) => p.startsWith(`${out}${nodePath.sep}`)));
      }
      await assertPlateMatchesInput(out);
      fs.rmSync(out, { recursive: true });
    },
  );
  it("a second convert to the same OUTPUT while one runs is refused at once; the first finishes", {
    timeout: 120_000,
  }, async () => {
    await makeSource();
    const out = nodePath.join(tmp, "conc.zarr");
    const first = spawn(exe, [...pre, "convert", "--quiet", src, out], { cwd: root, env });
    let firstErr = "";
    first.stderr.on("data", (d) => (firstErr += d));
    const firstDone = new Promise<number | null>((r) => first.on("close", (code) => r(code)));
    const t0 = performance.now();
    while (!fs.existsSync(nodePath.join(staged(out), "zarr.json"))) {
      assert.ok(performance.now() - t0 < 60_000, "the first convert started writing");
      await new Promise((r) => setTimeout(r, 2));
    }
    // Async, so this process keeps polling nothing and the first child runs on.
    const second = await new Promise<Run>((resolve) => {
      const c = spawn(exe, [...pre, "convert", "--overwrite", src, out], { cwd: root, env });
      let stdout = "";
      let stderr = "";
      c.stdout.on("data", (d) => (stdout += d));
      c.stderr.on("data", (d) => (stderr += d));
      c.on("close", (status, signal) => resolve({ status, signal, stdout, stderr }));
    });
    assert.equal(second.status, 1, second.stderr);
    assert.match(second.stderr, /another convert is writing '.*conc\.zarr' right now/);
    assert.equal(await firstDone, 0, firstErr);
    assert.equal(fs.existsSync(staged(out)), false);
    await assertPlateMatchesInput(out);
    fs.rmSync(out, { recursive: true });
  });
});
