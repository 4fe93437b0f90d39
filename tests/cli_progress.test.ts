// Progress bars in a real pseudo-terminal (tmux) at 50 and 120 columns: one
// line, redrawn in place, never wider than the terminal; and none at all when
// stderr is not a terminal.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import { fileURLToPath } from "node:url";
import { createRegistry } from "../registry/registry.ts";
import type { NdArray, StorageBackend } from "../backends/base.ts";
import { progressLine } from "../cli/_shared.ts";
import { commandMissing, peerSkip } from "./_peers.ts";

const root = nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), "..");
const entry = nodePath.join(root, "cli", "mod.ts");
const isBun = "Bun" in globalThis;
const exe = process.execPath;
const pre = isBun ? [entry] : ["run", "-A", entry];
const skipTmux = peerSkip("tmux", commandMissing("tmux", ["-V"]));
const sockets: string[] = [];

let tmp = "";
let src = "";
let made: Promise<void> | undefined;

before(() => {
  tmp = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-cli-progress-"));
  src = nodePath.join(tmp, "src");
});

after(() => {
  for (const socket of sockets) spawnSync("tmux", ["-L", socket, "kill-server"]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** 96 wells × 2 channels, written by the library (inside a test: Bun's hooks time out at 5 s). */
function makeSource(): Promise<void> {
  made ??= (async () => {
    const disk = await createRegistry().getBackend<StorageBackend>("disk");
    await disk.ensureDirectory(src);
    const planes: NdArray[] = [];
    const paths: string[] = [];
    for (const r of "ABCDEFGH") {
      for (let col = 1; col <= 12; col++) {
        for (let f = 1; f <= 1; f++) {
          for (let c = 1; c <= 2; c++) {
            const data = new Uint16Array(256 * 256).fill(col * 100 + c);
            planes.push({ data, shape: [256, 256], stride: [256, 1] });
            paths.push(nodePath.join(src, `${r}${String(col).padStart(2, "0")}_s${f}_w${c}.tif`));
          }
        }
      }
    }
    await disk.saveBatch(planes, paths);
  })();
  return made;
}

function sh(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

const BAR = /^convert \[[#.]*\] \d+\/192 planes/;

/** Runs convert in a `width`-column tmux pane; returns every distinct screen seen. */
async function screensAt(width: number, extra: string[] = []): Promise<string[][]> {
  // One output, replaced each run: fewer files to delete at the end.
  const out = nodePath.join(tmp, "out.zarr");
  const cmd = [exe, ...pre, "convert", "--overwrite", ...extra, src, out].map(sh).join(" ");
  const session = `w${width}`;
  // One tmux server per run: a server whose last session ended may still be exiting.
  const socket = `hcs-progress-${process.pid}-${sockets.length}`;
  sockets.push(socket);
  const started = spawnSync("tmux", [
    "-L",
    socket,
    "-f",
    "/dev/null",
    "new-session",
    "-d",
    "-s",
    session,
    "-x",
    String(width),
    "-y",
    "20",
    `cd ${sh(root)} && ${cmd} >/dev/null; echo EXIT=$?; sleep 60`,
  ], { encoding: "utf8" });
  assert.equal(started.status, 0, started.stderr);
  const screens: string[][] = [];
  const seen = new Set<string>();
  const t0 = performance.now();
  try {
    while (performance.now() - t0 < 90_000) {
      // -J joins wrapped rows: a line that wrapped shows up longer than the pane.
      const cap = spawnSync("tmux", ["-L", socket, "capture-pane", "-p", "-J", "-t", session], {
        encoding: "utf8",
      });
      const lines = cap.stdout.split("\n").map((l) => l.trimEnd());
      while (lines.length && lines[lines.length - 1] === "") lines.pop();
      const key = lines.join("\n");
      if (!seen.has(key)) {
        seen.add(key);
        screens.push(lines);
      }
      if (lines.some((l) => l.startsWith("EXIT="))) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    spawnSync("tmux", ["-L", socket, "kill-server"]);
  }
  return screens;
}

describe("cli progress bars", { timeout: 300_000 }, () => {
  it("progressLine never needs more than columns - 1 characters", () => {
    const extras = ["ETA 1h02m", "123.4/s", "512.0 MiB/s"];
    for (let columns = 1; columns <= 200; columns++) {
      for (const done of [0, 17, 192]) {
        const line = progressLine(columns, "convert", done, 192, "planes", extras);
        assert.ok(line.length <= Math.max(1, columns - 1), `${columns}: '${line}'`);
      }
    }
    const wide = progressLine(120, "convert", 96, 192, "planes", extras);
    assert.match(
      wide,
      /^convert \[#{15}\.{15}\] 96\/192 planes ETA 1h02m 123\.4\/s 512\.0 MiB\/s$/,
    );
  });

  for (const width of [50, 120]) {
    it(`at ${width} columns: one progress line at a time, redrawn in place, never wrapped`, {
      skip: skipTmux,
      timeout: 120_000,
    }, async () => {
      await makeSource();
      const screens = await screensAt(width);
      const last = screens[screens.length - 1]!;
      assert.ok(last.includes("EXIT=0"), `convert finished: ${last.join("\n")}`);
      const withBar = screens.filter((s) => s.some((l) => BAR.test(l)));
      assert.ok(withBar.length >= 2, `the bar was drawn and redrawn (${withBar.length} screens)`);
      for (const s of screens) {
        assert.ok(s.filter((l) => BAR.test(l)).length <= 1, `one bar line:\n${s.join("\n")}`);
        assert.ok(s.filter((l) => l.includes("planes")).length <= 1, `no stacked copies:\n${s}`);
        for (const l of s) assert.ok(l.length <= width, `${l.length} > ${width}: '${l}'`);
      }
      // It got further between redraws, and the finished line is cleared.
      const counts = new Set(withBar.map((s) => s.find((l) => BAR.test(l))!.match(/\d+\/192/)![0]));
      assert.ok(counts.size >= 2, `progress advanced: ${[...counts].join(", ")}`);
      assert.equal(last.filter((l) => BAR.test(l)).length, 0, last.join("\n"));
      if (width === 120) {
        assert.ok(
          withBar.some((s) => s.some((l) => / ETA \S+ [\d.]+\/s/.test(l))),
          "a wide terminal shows the rate and ETA",
        );
      }
    });
  }

  it("--quiet in a terminal draws nothing", { skip: skipTmux, timeout: 120_000 }, async () => {
    await makeSource();
    const screens = await screensAt(80, ["--quiet"]);
    for (const s of screens) assert.equal(s.filter((l) => BAR.test(l)).length, 0, s.join("\n"));
    assert.ok(screens[screens.length - 1]!.includes("EXIT=0"));
  });

  it("no bar (no carriage returns, no escapes) when stderr is not a terminal", {
    timeout: 120_000,
  }, async () => {
    await makeSource();
    const r = spawnSync(exe, [
      ...pre,
      "convert",
      "--overwrite",
      src,
      nodePath.join(tmp, "out.zarr"),
    ], {
      cwd: root,
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.match(r.stdout, /^converted 192 planes/);
  });
});
