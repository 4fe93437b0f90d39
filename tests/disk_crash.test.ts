/**
 * Crash safety of disk saves, with real processes: a writer (same runtime as
 * this test, `process.execPath`) saves multi-MiB files in a loop and is killed
 * with SIGKILL at a random moment; after every kill each file is either absent
 * or complete (never torn), every save the writer reported as finished is
 * there, and listings never show the writer's leftover temp files.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as nodePath from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { DiskBackend, TEMP_PREFIX } from "../backends/disk.ts";
import { checkContent } from "./fixtures/crash_writer.ts";

const repo = nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), "..");
const writer = nodePath.join(repo, "tests", "fixtures", "crash_writer.ts");
const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
const TRIALS = 50;

interface Trial {
  saved: string[];
  stderr: string;
}

/** Runs the writer; kills it with SIGKILL `delayMs` after it is ready. */
function runWriter(dir: string, trial: number, delayMs: number): Promise<Trial> {
  const args = isDeno ? ["run", "-A", writer, dir, String(trial)] : [writer, dir, String(trial)];
  const child = spawn(process.execPath, args, { cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let stderr = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    out += chunk;
    if (timer === undefined && out.startsWith("ready\n")) {
      timer = setTimeout(() => child.kill("SIGKILL"), delayMs);
    }
  });
  child.stderr.on("data", (chunk: string) => (stderr += chunk));
  const guard = setTimeout(() => child.kill("SIGKILL"), 15_000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(guard);
      if (timer !== undefined) clearTimeout(timer);
      if (signal !== "SIGKILL") {
        reject(new Error(`writer exited on its own (code ${code}, signal ${signal}): ${stderr}`));
        return;
      }
      const saved = out.split("\n").filter((l) => l.startsWith("saved ")).map((l) => l.slice(6));
      resolve({ saved, stderr });
    });
  });
}

describe("disk crash safety (SIGKILL during saves)", () => {
  it(
    `every file is absent or complete after ${TRIALS} random kills`,
    { timeout: 60_000 },
    async () => {
      const dir = await fsp.mkdtemp(nodePath.join(os.tmpdir(), "hcs-crash-"));
      const disk = new DiskBackend();
      let completed = 0;
      let checked = 0;
      let leftoverTemps = 0;
      try {
        for (let t = 0; t < TRIALS; t++) {
          const { saved } = await runWriter(dir, t, Math.floor(Math.random() * 150));
          completed += saved.length;
          const raw = await fsp.readdir(dir);
          const temps = raw.filter((n) => n.startsWith(TEMP_PREFIX));
          leftoverTemps += temps.length;
          const visible = raw.filter((n) => !n.startsWith(TEMP_PREFIX)).sort();
          // Listings hide the killed writer's temp files.
          assert.deepEqual([...(await disk.listDir(dir))].sort(), visible);
          assert.deepEqual(
            (await disk.listFiles(dir)).map((p) => nodePath.basename(p)).sort(),
            visible,
          );
          // Every save the writer finished is there, complete.
          for (const name of saved) assert.ok(visible.includes(name), `${name} was saved`);
          // Every visible file is complete and correct, never torn.
          const files = visible.map((n) => `${dir}/${n}`);
          const contents = await disk.loadBatch<Uint8Array>(files, { as: "bytes" });
          contents.forEach((bytes, i) => {
            assert.equal(checkContent(bytes), "", `trial ${t}: ${visible[i]}`);
          });
          checked += files.length;
          // Keep the directory small: drop this trial's fresh files and its temps.
          for (const n of raw) {
            if (n.startsWith("fresh-") || temps.includes(n)) {
              await fsp.unlink(`${dir}/${n}`);
            }
          }
        }
        // The trials must have exercised real writes (the test is not vacuous).
        assert.ok(completed > TRIALS / 2, `writers completed ${completed} saves`);
        console.log(
          `disk crash test: ${TRIALS} kills, ${completed} completed saves, ${checked} files ` +
            `verified, ${leftoverTemps} leftover temp files (hidden from listings)`,
        );
      } finally {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    },
  );

  it("removeStaleTempFiles removes temp files older than the cutoff only", async () => {
    const dir = await fsp.mkdtemp(nodePath.join(os.tmpdir(), "hcs-crash-"));
    try {
      const disk = new DiskBackend();
      const old = `${dir}/${TEMP_PREFIX}a.bin.1.aaaa`;
      const fresh = `${dir}/${TEMP_PREFIX}b.bin.1.bbbb`;
      await fsp.writeFile(old, "partial");
      await fsp.writeFile(fresh, "in progress");
      const hourAgo = new Date(Date.now() - 2 * 3_600_000);
      await fsp.utimes(old, hourAgo, hourAgo);
      await disk.save("x", `${dir}/x.txt`);
      assert.deepEqual(await disk.listDir(dir), ["x.txt"]);
      assert.equal(await disk.removeStaleTempFiles(dir), 1);
      assert.deepEqual((await fsp.readdir(dir)).sort(), [nodePath.basename(fresh), "x.txt"]);
      assert.equal(await disk.removeStaleTempFiles(dir, 0), 1);
      assert.deepEqual(await fsp.readdir(dir), ["x.txt"]);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
