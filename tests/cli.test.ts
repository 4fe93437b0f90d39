// The CLI as a person runs it: real processes (`deno run -A cli/mod.ts …`),
// real TIFF files (written by the library's encoder), real exit codes and output.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as http from "node:http";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import { fileURLToPath } from "node:url";
import { decode as decodePng } from "fast-png";
import { createRegistry } from "../registry/registry.ts";
import { encodeForPath } from "../formats/mod.ts";
import { detectPreset, matchName, PRESETS, rowName } from "../cli/_convert.ts";
import { location } from "../cli/_shared.ts";
import { tileSize } from "../cli/_montage.ts";
import type { NdArray, StorageBackend, VirtualBackend } from "../backends/base.ts";
import { writeCliPlanes } from "./fixtures/cli_planes.ts";
import { peerSkip, PYTHON, pythonMissing } from "./_peers.ts";

const root = nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), "..");
const deno = nodePath.join(root, "node_modules", ".bin", "deno");
const bun = nodePath.join(root, "node_modules", ".bin", "bun");
const entry = nodePath.join(root, "cli", "mod.ts");
const env = { ...process.env, NO_COLOR: "1" };

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], runtime: "deno" | "bun" = "deno"): Run {
  const cmd = runtime === "deno" ? deno : bun;
  const argv = runtime === "deno" ? ["run", "-A", entry, ...args] : [entry, ...args];
  const r = spawnSync(cmd, argv, { cwd: root, env, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Like {@linkcode cli}, without blocking this process (for servers it runs). */
function cliAsync(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(deno, ["run", "-A", entry, ...args], { cwd: root, env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** Exit status and a single `hcs-store: …` line on stderr, no stack trace. */
function assertOneLineError(r: Run, status: number, pattern: RegExp): void {
  assert.equal(r.status, status, `exit status (stderr: ${r.stderr})`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^hcs-store( [a-z]+)?: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

let tmp = "";
let ix = "";
let op = "";

before(() => {
  tmp = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-cli-"));
  writeCliPlanes(tmp);
  ix = nodePath.join(tmp, "ix");
  op = nodePath.join(tmp, "op");
});

after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("cli: help and usage", () => {
  it("--help at the top level and on every command exits 0 and prints usage to stdout", () => {
    const top = cli(["--help"]);
    assert.equal(top.status, 0, top.stderr);
    for (const c of ["ls", "cp", "convert", "info", "preview", "bench"]) {
      assert.match(top.stdout, new RegExp(`^  ${c} `, "m"));
      const r = cli([c, "--help"]);
      assert.equal(r.status, 0, `${c} --help: ${r.stderr}`);
      assert.match(
        r.stdout,
        new RegExp(`^Usage: node_modules/\\.bin/deno run -A cli/mod\\.ts ${c} `, "m"),
      );
      assert.match(r.stdout, /Exit status: 0 ok, 1 failure/);
      assert.equal(r.stderr, "");
    }
    assert.equal(cli(["--version"]).stdout.trim(), "0.1.0");
    const h = cli(["help", "convert"]);
    assert.equal(h.status, 0);
    assert.match(h.stdout, /imagexpress/);
    assert.match(h.stdout, /operetta/);
  });

  it("runs under Bun too", () => {
    const r = cli(["convert", "--help"], "bun");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Usage: node_modules\/\.bin\/bun cli\/mod\.ts convert /m);
    const dry = cli(["convert", "--dry-run", "--json", op, nodePath.join(tmp, "bun.zarr")], "bun");
    assert.equal(dry.status, 0, dry.stderr);
    assert.equal(JSON.parse(dry.stdout).planes, 32);
    assert.equal(fs.existsSync(nodePath.join(tmp, "bun.zarr")), false);
  });

  it("bad arguments exit 2 with one line naming the problem", () => {
    const none = cli([]);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /Usage: node_modules\/\.bin\/deno run -A cli\/mod\.ts \[--verbose\]/);
    assertOneLineError(cli(["frobnicate"]), 2, /unknown command 'frobnicate'/);
    assertOneLineError(cli(["--bogus"]), 2, /unknown option '--bogus'/);
    assertOneLineError(cli(["convert", "--bogus", ix, "x.zarr"]), 2, /--bogus/);
    assertOneLineError(cli(["convert", ix]), 2, /input folder and an output plate/);
    assertOneLineError(
      cli(["convert", "--ngff", "0.3", ix, "x.zarr"]),
      2,
      /--ngff must be 0\.5 or 0\.4/,
    );
    assertOneLineError(
      cli(["convert", "--compression", "lz4", ix, "x.zarr"]),
      2,
      /--compression must be one of/,
    );
    assertOneLineError(cli(["convert", "--preset", "nikon", ix, "x.zarr"]), 2, /unknown preset/);
    assertOneLineError(cli(["convert", "--pattern", "([", ix, "x.zarr"]), 2, /not a valid regular/);
    assertOneLineError(cli(["convert", "--pattern", "^(?<field>\\d)", ix, "x.zarr"]), 2, /'well'/);
    assertOneLineError(cli(["preview", "--tile", "big", "p.zarr"]), 2, /--tile must be a whole/);
    assertOneLineError(cli(["preview", "--low", "150", "p.zarr"]), 2, /--low must be a percentile/);
    assertOneLineError(cli(["ls", "nosuchbackend:/x"]), 2, /nosuchbackend/);
    assertOneLineError(cli(["cp", "a"]), 2, /source and a destination/);
  });

  it("--verbose adds the stack trace to the one-line error", () => {
    const r = cli(["--verbose", "info", nodePath.join(tmp, "missing.zarr")]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^hcs-store( [a-z]+)?: /);
    assert.match(r.stderr, /\n\s+at /);
  });
});

describe("cli: failures exit 1 with a clear line", () => {
  it("a missing input folder", () => {
    const missing = nodePath.join(tmp, "no-such-folder");
    const out = nodePath.join(tmp, "never.zarr");
    const r = cli(["convert", missing, out]);
    assertOneLineError(r, 1, /no-such-folder/);
    assert.match(r.stderr, /no such file or directory/);
    assert.equal(fs.existsSync(out), false);
  });

  it("an output below a regular file (unwritable), leaving nothing behind", () => {
    const file = nodePath.join(tmp, "a-file.txt");
    fs.writeFileSync(file, "not a directory");
    const r = cli(["convert", ix, nodePath.join(file, "out.zarr")]);
    assertOneLineError(r, 1, /a-file\.txt/);
    assert.match(r.stderr, /not a directory/);
    assert.equal(fs.readFileSync(file, "utf8"), "not a directory");
  });

  it("an existing output is refused without --overwrite", () => {
    const out = nodePath.join(tmp, "exists.zarr");
    fs.mkdirSync(out);
    fs.writeFileSync(nodePath.join(out, "keep.txt"), "x");
    assertOneLineError(cli(["convert", ix, out]), 1, /already exists \(use --overwrite/);
    assert.equal(fs.readFileSync(nodePath.join(out, "keep.txt"), "utf8"), "x");
  });

  it("info on a folder that is not a plate, ls on a missing path", () => {
    assertOneLineError(cli(["info", ix]), 1, /not an OME-Zarr plate/);
    assertOneLineError(cli(["ls", nodePath.join(tmp, "nope")]), 1, /nope/);
  });
});

describe("cli: convert", () => {
  it("--dry-run prints the plan and writes nothing", () => {
    const out = nodePath.join(tmp, "dry.zarr");
    const r = cli(["convert", "--dry-run", ix, out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^preset: +imagexpress/m);
    assert.match(r.stdout, /^wells: +4 +A01 A02 B01 B03$/m);
    assert.match(r.stdout, /^fields: +2 /m);
    assert.match(r.stdout, /^channels: +2 /m);
    assert.match(r.stdout, /^z: +none$/m);
    assert.match(r.stdout, /^plane: +uint16 \[24, 32\]/m);
    assert.match(r.stdout, /^skipped: +notes\.tif$/m);
    assert.equal(fs.existsSync(out), false);
    const j = cli(["convert", "-n", "--json", "--preset", "operetta", op, out]);
    assert.equal(j.status, 0, j.stderr);
    const plan = JSON.parse(j.stdout);
    assert.equal(plan.dryRun, true);
    assert.deepEqual(plan.rows, ["A", "B"]);
    assert.deepEqual(plan.columns, ["01", "02"]);
    assert.deepEqual(plan.fields, ["01", "02"]);
    assert.deepEqual(plan.channels, ["1", "2"]);
    assert.deepEqual(plan.z, ["01", "02"]);
    assert.equal(plan.planes, 32);
    assert.deepEqual(plan.shape, [16, 16]);
    assert.equal(fs.existsSync(out), false);
  });

  it("ImageXpress names (detected) → NGFF 0.5 plate; info --json figures; planes intact", async () => {
    const out = nodePath.join(tmp, "ix.zarr");
    const r = cli(["convert", "--compression", "zstd", ix, out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /converted 16 planes \(4 wells, 2 fields, 2 channels/);
    assert.equal(r.stderr.trim(), "1 file(s) do not match the pattern and are skipped");
    const i = cli(["info", "--json", out]);
    assert.equal(i.status, 0, i.stderr);
    const info = JSON.parse(i.stdout);
    assert.equal(info.ngff, "0.5");
    assert.equal(info.zarrFormat, 3);
    assert.deepEqual(info.rows, ["A", "B"]);
    assert.deepEqual(info.columns, ["01", "02", "03"]);
    assert.deepEqual(
      info.wells.map((w: { row: string; column: string }) => w.row + w.column),
      ["A01", "A02", "B01", "B03"],
    );
    assert.ok(info.wells.every((w: { fields: string[] }) => w.fields.length === 2));
    assert.equal(info.fieldCount, 2);
    assert.equal(info.dtype, "uint16");
    assert.deepEqual(info.shape, [2, 24, 32]);
    assert.match(info.codec, /zstd/);
    assert.deepEqual(info.axes.map((a: { name: string }) => a.name).slice(-2), ["y", "x"]);
    assert.ok(info.sizeBytes > 0 && info.fileCount > 0);
    const text = cli(["info", out]);
    assert.match(text.stdout, /^dtype: +uint16$/m);
    // Every plane comes back by its file name, equal to the TIFF Python wrote.
    const reg = createRegistry();
    const disk = await reg.getBackend<StorageBackend>("disk");
    const zarr = await reg.getBackend<VirtualBackend>("zarr");
    const names = fs.readdirSync(ix).filter((n) => n !== "notes.tif").sort();
    const back = await zarr.loadBatch<NdArray>(names.map((n) => nodePath.join(out, n)));
    const orig = await disk.loadBatch<NdArray>(names.map((n) => nodePath.join(ix, n)));
    back.forEach((b, k) => {
      assert.deepEqual(b.shape, [24, 32]);
      assert.deepEqual([...b.data], [...orig[k]!.data], names[k]!);
    });
  });

  it("Operetta names → NGFF 0.4 plate that Python's zarr reads plane for plane", {
    skip: peerSkip("python-zarr", pythonMissing(["zarr", "tifffile", "numpy"])),
  }, () => {
    const out = nodePath.join(tmp, "op.zarr");
    const r = cli(["convert", "--preset", "operetta", "--ngff", "0.4", op, out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /converted 32 planes \(4 wells, 2 fields, 2 channels, 2 z/);
    const info = JSON.parse(cli(["info", "--json", out]).stdout);
    assert.equal(info.ngff, "0.4");
    assert.equal(info.zarrFormat, 2);
    assert.deepEqual(info.shape, [2, 2, 16, 16]);
    // Field f, channel c, plane p of well B02 against the TIFF it came from.
    const py = spawnSync(PYTHON, [
      "-c",
      `
import sys, zarr, tifffile, numpy as np
root = zarr.open_group(sys.argv[1], mode="r")
wells = [w["path"] for w in root.attrs["plate"]["wells"]]
assert wells == ["A/01", "A/02", "B/01", "B/02"], wells
for f in (1, 2):
    arr = root["B/02/%d/0" % (f - 1)][...]
    assert arr.shape == (2, 2, 16, 16), arr.shape
    for c in (1, 2):
        for p in (1, 2):
            t = tifffile.imread("%s/r02c02f%02dp%02d-ch%dsk1fk1fl1.tiff" % (sys.argv[2], f, p, c))
            assert np.array_equal(arr[c - 1, p - 1], t), (f, c, p)
print("ok")
`,
      out,
      op,
    ], { encoding: "utf8" });
    assert.equal(py.status, 0, py.stderr);
    assert.equal(py.stdout.trim(), "ok");
  });

  it("a custom --pattern with row/column groups", () => {
    const dir = nodePath.join(tmp, "custom");
    fs.mkdirSync(dir);
    for (const n of fs.readdirSync(op).filter((n) => /f01p01-ch1/.test(n))) {
      const m = /^r(\d\d)c(\d\d)/.exec(n)!;
      fs.copyFileSync(nodePath.join(op, n), nodePath.join(dir, `plate_R${m[1]}_C${m[2]}.tif`));
    }
    const r = cli([
      "convert",
      "--dry-run",
      "--json",
      "--pattern",
      "^plate_R(?<row>\\d+)_C(?<column>\\d+)\\.tif$",
      dir,
      nodePath.join(tmp, "custom.zarr"),
    ]);
    assert.equal(r.status, 0, r.stderr);
    const plan = JSON.parse(r.stdout);
    assert.equal(plan.preset, "custom");
    assert.deepEqual(plan.wells.map((w: { row: string; column: string }) => w.row + w.column), [
      "A01",
      "A02",
      "B01",
      "B02",
    ]);
    assert.deepEqual(plan.fields, ["1"]);
    // Names matching no preset are a clear failure without --pattern.
    assertOneLineError(cli(["convert", dir, nodePath.join(tmp, "c2.zarr")]), 1, /give --pattern/);
  });
});

describe("cli: convert failures leave nothing behind", () => {
  it("a plane of another shape in the last well: exit 1, no plate left", () => {
    const dir = nodePath.join(tmp, "mixed");
    fs.mkdirSync(dir);
    for (const n of fs.readdirSync(ix).filter((n) => n !== "notes.tif")) {
      fs.copyFileSync(nodePath.join(ix, n), nodePath.join(dir, n));
    }
    const odd: NdArray = { data: new Uint16Array(100), shape: [10, 10], stride: [10, 1] };
    fs.writeFileSync(nodePath.join(dir, "B03_s2_w2.tif"), encodeForPath(odd, "x.tif", "save"));
    const out = nodePath.join(tmp, "mixed.zarr");
    const r = cli(["convert", dir, out]);
    assertOneLineError(
      r,
      1,
      /B03_s2_w2\.tif.*\[10, 10\] differs from the first plane's uint16 \[24, 32\]/,
    );
    assert.equal(fs.existsSync(out), false);
  });

  it("a well with a plane missing, or two files for one plane: exit 1 before writing", () => {
    const dir = nodePath.join(tmp, "holes");
    fs.mkdirSync(dir);
    for (const n of fs.readdirSync(ix).filter((n) => n !== "A02_s2_w1.tif")) {
      fs.copyFileSync(nodePath.join(ix, n), nodePath.join(dir, n));
    }
    const out = nodePath.join(tmp, "holes.zarr");
    assertOneLineError(cli(["convert", dir, out]), 1, /well A02 has 3 of 4 planes/);
    assert.equal(fs.existsSync(out), false);
    fs.copyFileSync(nodePath.join(ix, "A02_s1_w1.tif"), nodePath.join(dir, "Plate7_A02_s2_w1.tif"));
    fs.copyFileSync(nodePath.join(ix, "A02_s1_w1.tif"), nodePath.join(dir, "A02_s2_w1.TIF"));
    assertOneLineError(
      cli(["convert", dir, out]),
      1,
      /are the same plane \(well A02, field 2, channel 1\)/,
    );
    assert.equal(fs.existsSync(out), false);
  });
});

describe("cli internals", () => {
  it("row numbers become plate row letters up to 1536-well plates", () => {
    assert.deepEqual(["1", "01", "8", "16", "26", "27", "32"].map(rowName), [
      "A",
      "A",
      "H",
      "P",
      "Z",
      "AA",
      "AF",
    ]);
    assert.equal(rowName("b"), "B");
  });

  it("presets read wells, fields, channels and z from real-world names", () => {
    const ixp = PRESETS.find((p) => p.name === "imagexpress")!.pattern;
    const opp = PRESETS.find((p) => p.name === "operetta")!.pattern;
    const a = matchName(ixp, "Plate_1_AF48_s12_w3_z4.TIF", "/p")!;
    assert.deepEqual([a.row, a.column, a.field, a.channel, a.z], ["AF", "48", "12", "3", "4"]);
    const g = matchName(ixp, "B02_s1_w2A1B2C3D4-0000-1111-2222-333344445555.tif", "/p")!;
    assert.deepEqual([g.row, g.column, g.field, g.channel, g.z], ["B", "02", "1", "2", undefined]);
    assert.equal(matchName(ixp, "B02_s1_w2_thumb.tif", "/p"), undefined);
    const o = matchName(opp, "r16c24f09p03-ch4sk1fk1fl1.tiff", "/p")!;
    assert.deepEqual([o.row, o.column, o.field, o.channel, o.z], ["P", "24", "09", "4", "03"]);
    assert.equal(detectPreset(["r01c01f01p01-ch1sk1fk1fl1.tiff", "x.tif"])?.name, "operetta");
    assert.equal(detectPreset(["A01_s1_w1.tif"])?.name, "imagexpress");
    assert.equal(detectPreset(["image_001.tif"]), undefined);
  });

  it("locations: backend prefixes, bare paths on disk, URLs on http", () => {
    assert.deepEqual(location("memory:a/b"), { backend: "memory", path: "/a/b" });
    assert.deepEqual(location("/x/y"), { backend: "disk", path: "/x/y" });
    assert.deepEqual(location("DISK:/x"), { backend: "disk", path: "/x" });
    assert.equal(location("zarr:rel.zarr").path, nodePath.resolve("rel.zarr"));
    assert.deepEqual(location("https://h/a.tif"), { backend: "http", path: "https://h/a.tif" });
    assert.deepEqual(location("http:https://h/a"), { backend: "http", path: "https://h/a" });
    assert.deepEqual(location("x", "memory"), { backend: "memory", path: "/x" });
  });

  it("montage tiles keep the aspect ratio", () => {
    assert.deepEqual(tileSize([24, 32], 16), [12, 16]);
    assert.deepEqual(tileSize([2, 64, 32], 16), [16, 8]);
  });
});

describe("cli: convert PNG planes", () => {
  it("16-bit PNGs with a custom pattern (field and channel groups) convert plane for plane", async () => {
    const dir = nodePath.join(tmp, "png");
    fs.mkdirSync(dir);
    const planes = new Map<string, Uint16Array>();
    let seed = 1;
    for (const well of ["C05", "D07"]) {
      for (const f of [0, 1]) {
        for (const c of ["DAPI", "GFP"]) {
          const data = new Uint16Array(10 * 14).map(() =>
            (seed = (seed * 48271) % 2147483647) & 0xffff
          );
          const name = `${well}-f${f}-${c}.png`;
          planes.set(name, data);
          const value: NdArray = { data, shape: [10, 14], stride: [14, 1] };
          fs.writeFileSync(nodePath.join(dir, name), encodeForPath(value, name, "save"));
        }
      }
    }
    const out = nodePath.join(tmp, "png.zarr");
    const pattern = "^(?<well>[A-P]\\d\\d)-f(?<field>\\d)-(?<channel>\\w+)\\.png$";
    const r = cli(["convert", "--pattern", pattern, "--ngff", "0.4", dir, out]);
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(cli(["info", "--json", out]).stdout);
    assert.deepEqual(info.rows, ["C", "D"]);
    assert.deepEqual(info.columns, ["05", "07"]);
    assert.deepEqual(info.shape, [2, 10, 14]);
    assert.equal(info.dtype, "uint16");
    const zarr = await createRegistry().getBackend<VirtualBackend>("zarr");
    const names = [...planes.keys()];
    const back = await zarr.loadBatch<NdArray>(names.map((n) => nodePath.join(out, n)));
    back.forEach((b, i) => assert.deepEqual([...b.data], [...planes.get(names[i]!)!], names[i]!));
  });
});

describe("cli: preview", () => {
  it("writes a PNG of the expected size with the bright well at its plate position", () => {
    const plate = nodePath.join(tmp, "ix.zarr");
    assert.ok(fs.existsSync(plate), "the ImageXpress conversion test runs first");
    const png = nodePath.join(tmp, "preview.png");
    const r = cli(["preview", "--tile", "16", "--gap", "2", "--json", "-o", png, plate]);
    assert.equal(r.status, 0, r.stderr);
    const meta = JSON.parse(r.stdout);
    const img = decodePng(fs.readFileSync(png));
    // Planes are 24×32 (h×w): tiles 12×16 on a 2 × 3 grid with 2-pixel lines, after the margins.
    const l = meta.layout;
    assert.deepEqual([l.tileHeight, l.tileWidth, l.gap], [12, 16, 2]);
    assert.ok(img.width >= l.left + 3 * 16 + 4 * 2);
    assert.ok(img.height >= l.top + 2 * 12 + 3 * 2);
    assert.equal(meta.width, img.width);
    assert.equal(meta.wells, 4);
    assert.equal(meta.emptyWells, 2);
    assert.equal(img.channels, 3);
    const px = img.data as Uint8Array;
    const mean = (row: number, col: number) => {
      let s = 0;
      for (let y = 0; y < 12; y++) {
        for (let x = 0; x < 16; x++) {
          const o = ((l.top + 2 + row * 14 + y) * img.width + l.left + 2 + col * 18 + x) * 3;
          s += px[o]!;
        }
      }
      return s / (12 * 16);
    };
    assert.ok(mean(1, 2) > 200, `B03 is bright: ${mean(1, 2)}`);
    for (const [row, col] of [[0, 0], [0, 1], [1, 0]] as const) {
      assert.ok(mean(row, col) < 40, `well ${row},${col} is dim: ${mean(row, col)}`);
    }
    // The same file again needs --overwrite.
    assertOneLineError(cli(["preview", "-o", png, plate]), 1, /already exists/);
    assertOneLineError(cli(["preview", "--channel", "5", "-o", `${png}2`, plate]), 1, /channel 5/);
  });
});

describe("cli: ls and cp", () => {
  it("ls -l --json reports names, types and sizes", () => {
    const r = cli(["ls", "-l", "--json", `disk:${ix}`]);
    assert.equal(r.status, 0, r.stderr);
    const entries = JSON.parse(r.stdout) as { name: string; type: string; size: number }[];
    assert.equal(entries.length, 17);
    assert.equal(entries[0]!.name, "A01_s1_w1.tif");
    for (const e of entries) {
      assert.equal(e.type, "file");
      assert.equal(e.size, fs.statSync(nodePath.join(ix, e.name)).size);
    }
    const long = cli(["ls", "-l", ix]);
    assert.match(long.stdout, /^file +\d+ +[\d.]+ KiB +A01_s1_w1\.tif$/m);
    const rec = JSON.parse(cli(["ls", "-R", "--json", tmp]).stdout) as { name: string }[];
    assert.ok(rec.some((e) => e.name === "ix/B03_s2_w2.tif"));
  });

  it("ls on a plate through the zarr backend lists its virtual file names", () => {
    const plate = nodePath.join(tmp, "ix.zarr");
    const r = cli(["ls", `zarr:${plate}`]);
    assert.equal(r.status, 0, r.stderr);
    const names = r.stdout.trim().split("\n").map((l) => nodePath.basename(l));
    assert.equal(names.length, 16);
    assert.ok(names.includes("B03_s2_w1.tif"));
  });

  it("cp copies bytes exactly, refuses to overwrite, copies trees and converts into zarr:", () => {
    const src = nodePath.join(ix, "A02_s1_w2.tif");
    const dst = nodePath.join(tmp, "copy.tif");
    const r = cli(["cp", src, `disk:${dst}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(fs.readFileSync(dst), fs.readFileSync(src));
    assertOneLineError(cli(["cp", src, dst]), 1, /already exists/);
    assert.equal(cli(["cp", "-f", src, dst]).status, 0);
    assertOneLineError(cli(["cp", ix, nodePath.join(tmp, "tree")]), 1, /use -r/);
    const tree = cli(["cp", "-r", "--json", ix, nodePath.join(tmp, "tree")]);
    assert.equal(tree.status, 0, tree.stderr);
    assert.equal(JSON.parse(tree.stdout).copied, 17);
    assert.deepEqual(fs.readdirSync(nodePath.join(tmp, "tree")).sort(), fs.readdirSync(ix).sort());
    const mem = cli(["cp", "-r", ix, "memory:/scratch"]);
    assert.equal(mem.status, 0, mem.stderr);
    assert.match(mem.stdout, /copied 17 files/);
    const z = cli([
      "cp",
      "-r",
      "--preset",
      "imagexpress",
      ix,
      `zarr:${nodePath.join(tmp, "cp.zarr")}`,
    ]);
    assert.equal(z.status, 0, z.stderr);
    assert.match(z.stdout, /converted 16 planes/);
    const back = cli([
      "cp",
      "-r",
      `zarr:${nodePath.join(tmp, "cp.zarr")}`,
      nodePath.join(tmp, "out"),
    ]);
    assert.equal(back.status, 0, back.stderr);
    assert.equal(fs.readdirSync(nodePath.join(tmp, "out")).length, 16);
  });
});

describe("cli: http sources", () => {
  it("ls and cp read from a real HTTP server (manifest listing, byte-exact copy)", async () => {
    const names = fs.readdirSync(ix).sort();
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname === "/ix/index.json") {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ files: names }));
        return;
      }
      const m = /^\/ix\/([^/]+)$/.exec(url.pathname);
      const file = m ? nodePath.join(ix, decodeURIComponent(m[1]!)) : "";
      if (!m || !fs.existsSync(file)) {
        res.statusCode = 404;
        res.end("not found");
        return;
      }
      const body = fs.readFileSync(file);
      res.setHeader("content-length", String(body.length));
      res.end(req.method === "HEAD" ? undefined : body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as { port: number }).port;
      const base = `http://127.0.0.1:${port}/ix`;
      const ls = await cliAsync(["ls", "--json", `${base}/`]);
      assert.equal(ls.status, 0, ls.stderr);
      const listed = (JSON.parse(ls.stdout) as { path: string }[]).map((e) =>
        nodePath.posix.basename(e.path)
      );
      assert.deepEqual(listed.sort(), names);
      const dst = nodePath.join(tmp, "from-http.tif");
      const cp = await cliAsync(["cp", `${base}/B03_s1_w2.tif`, dst]);
      assert.equal(cp.status, 0, cp.stderr);
      assert.deepEqual(fs.readFileSync(dst), fs.readFileSync(nodePath.join(ix, "B03_s1_w2.tif")));
      const missing = await cliAsync(["cp", `${base}/nope.tif`, nodePath.join(tmp, "nope.tif")]);
      assertOneLineError(missing, 1, /nope\.tif/);
      assert.equal(fs.existsSync(nodePath.join(tmp, "nope.tif")), false);
      const ro = await cliAsync(["cp", dst, `${base}/x.tif`]);
      assertOneLineError(ro, 2, /read-only/);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe("cli: bench", () => {
  it("--list names the benchmarks in bench/; an unknown one fails with exit 1", () => {
    const names = fs.readdirSync(nodePath.join(root, "bench"))
      .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.startsWith("_"))
      .map((f) => f.replace(/\.ts$/, ""))
      .sort();
    const r = cli(["bench", "--list"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), names);
    assertOneLineError(cli(["bench", "no_such_bench"]), 1, /no benchmark 'no_such_bench'/);
  });
});

describe("demo", () => {
  it("runs end to end and checks its planes bit for bit", () => {
    const out = nodePath.join(tmp, "demo");
    const r = spawnSync(deno, ["run", "-A", nodePath.join(root, "demo.ts"), "--out", out], {
      cwd: root,
      env,
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^disk backend: /m);
    assert.match(r.stdout, /24\/24 planes bit-exact by virtual name/);
    assert.match(r.stdout, /demo ok/);
    assert.equal(fs.readdirSync(nodePath.join(out, "images")).length, 24);
    const img = decodePng(fs.readFileSync(nodePath.join(out, "preview.png")));
    assert.ok(img.width > 0 && img.height > 0);
    const info = JSON.parse(cli(["info", "--json", nodePath.join(out, "plate.zarr")]).stdout);
    assert.equal(info.wells.length, 6);
    assert.deepEqual(info.shape, [2, 512, 512]);
  });
});

// A fresh clone of the committed tree, then exactly the README's two commands.
// It runs once per `node scripts/test-all.mjs` (in the `deno test -A` pass):
// the clone does not depend on the runtime that runs the tests. npm may use
// its cache first (npm_config_prefer_offline) so that it also works offline.
const denoNs = (globalThis as {
  Deno?: { permissions: { querySync(d: { name: string }): { state: string } } };
}).Deno;
const fullPermissions = denoNs?.permissions.querySync({ name: "ffi" }).state === "granted";

describe("fresh clone", () => {
  it(
    "git clone, then `npm install && npm run demo` succeeds",
    { skip: fullPermissions ? false : "runs once, in the deno test -A pass" },
    () => {
      const dir = nodePath.join(tmp, "clone");
      const clone = spawnSync("git", ["clone", "-q", root, dir], { encoding: "utf8" });
      assert.equal(clone.status, 0, clone.stderr);
      const r = spawnSync("sh", ["-c", "npm install && npm run demo"], {
        cwd: dir,
        env: { ...env, npm_config_prefer_offline: "true", npm_config_fund: "false" },
        encoding: "utf8",
        timeout: 300_000,
      });
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /^disk backend: /m);
      assert.match(r.stdout, /24\/24 planes bit-exact by virtual name/);
      assert.match(r.stdout, /^demo ok$/m);
      assert.ok(fs.existsSync(nodePath.join(dir, "demo-output", "preview.png")));
    },
  );
});
