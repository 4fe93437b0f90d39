/**
 * Deno from anywhere: a script in an unrelated temp dir, run as
 * `deno run -A /tmp/…/script.ts` with that dir as cwd (so this project's
 * deno.json is not found), imports the checkout's `mod.ts` and subpath
 * entries by absolute path and uses disk (every format), Zarr, HTTP and the
 * CLI entry.
 *
 * This works because library source imports npm packages by `npm:`
 * specifiers. Deno fetches them into its cache: here an empty temp
 * `DENO_DIR`, from a loopback registry serving this checkout's node_modules
 * (tests/fixtures/npm_registry.ts), so the test is also a first run on a
 * fresh machine with no network.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type NpmRegistry, startNpmRegistry } from "./fixtures/npm_registry.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const deno = join(root, "node_modules", ".bin", "deno");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
};

/** The user's script; `ROOT` is the checkout. */
const SCRIPT = `
import { getBackend, isNdArray } from "ROOT/mod.ts";
import { supportedExtensions } from "ROOT/formats/mod.ts";
import { ZarrBackend } from "ROOT/backends/zarr.ts";
import { HttpBackend } from "ROOT/backends/http.ts";
import { main } from "ROOT/cli/mod.ts";

const dir = Deno.args[0]!;
const disk = await getBackend("disk");
const plane = { data: new Uint16Array([1, 2, 3, 400, 500, 65535]), shape: [2, 3], stride: [3, 1] };
const rgb = { data: new Uint8Array([1, 2, 3, 4, 5, 6]), shape: [1, 2, 3], stride: [6, 3, 1] };
const values: Record<string, unknown> = {
  ".csv": [{ a: "1", b: "x y" }],
  ".json": { hello: ["world", 1] },
  ".npy": plane,
  ".png": rgb,
  ".tif": plane,
  ".tiff": plane,
  ".txt": "plain text",
};
const same = (a: unknown, b: unknown) =>
  isNdArray(a) && isNdArray(b)
    ? a.shape.join() === b.shape.join() && [...a.data as Iterable<number>].join() === [...b.data as Iterable<number>].join()
    : JSON.stringify(a) === JSON.stringify(b);
let roundTrips = 0;
for (const [ext, value] of Object.entries(values)) {
  const path = dir + "/value" + ext;
  await disk.save(value as never, path, { overwrite: true });
  if (!same(await disk.load(path), value)) throw new Error("round trip failed for " + ext);
  roundTrips++;
}

const zarr = new ZarrBackend({ store: disk, compression: "zstd" });
await disk.ensureDirectory(dir + "/plate");
await zarr.saveBatch([plane], [dir + "/plate/images/A01_f0.tif"], { row: "A", column: "01" });
const back = await zarr.load(dir + "/plate/images/A01_f0.tif");
if (!same(back, plane)) throw new Error("zarr round trip failed");

const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) =>
  new Response(new TextEncoder().encode(new URL(req.url).pathname.slice(1))));
const http = new HttpBackend({ baseUrl: "http://127.0.0.1:" + server.addr.port + "/" });
const got = await http.load("hello.txt");
await server.shutdown();

const lines: string[] = [];
const cliStatus = await main(["info", "--json", dir + "/plate/images"], { out: (l) => lines.push(l), err: (l) => lines.push(l) });
console.log(JSON.stringify({
  formats: supportedExtensions(),
  roundTrips,
  zarrShape: isNdArray(back) ? back.shape : null,
  httpText: got,
  cliStatus,
  cliInfo: lines[0]!.startsWith("{") ? JSON.parse(lines.join("\\n")) : lines,
}));
`;

let work = "";
let registry: NpmRegistry | undefined;

before(async () => {
  work = mkdtempSync(join(tmpdir(), "hcs-anywhere-"));
  registry = await startNpmRegistry(root, Object.keys(pkg.dependencies));
}, { timeout: 120_000 });

after(async () => {
  await registry?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

function run(cmd: string, args: string[], cwd: string, env: Record<string, string>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env, NO_COLOR: "1" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const t = setTimeout(() => child.kill("SIGKILL"), 240_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(t);
      done({ code, stdout, stderr });
    });
  });
}

describe("deno from anywhere", () => {
  it("a script in a temp dir imports mod.ts by path: disk (every format), zarr, http, CLI", {
    timeout: 300_000,
  }, async () => {
    const dir = join(work, "x");
    const data = join(work, "data");
    const denoDir = join(work, "deno-dir");
    for (const d of [dir, data, denoDir]) mkdirSync(d);
    const script = join(dir, "script.ts");
    writeFileSync(script, SCRIPT.replaceAll("ROOT", root));
    const r = await run(deno, ["run", "-A", script, data], dir, {
      DENO_DIR: denoDir,
      NPM_CONFIG_REGISTRY: registry!.url,
      DENO_NO_UPDATE_CHECK: "1",
    });
    assert.equal(r.code, 0, `deno run failed:\n${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
    assert.deepEqual(report.formats, [".csv", ".json", ".npy", ".png", ".tif", ".tiff", ".txt"]);
    assert.equal(report.roundTrips, 7);
    assert.deepEqual(report.zarrShape, [2, 3]);
    assert.equal(report.httpText, "hello.txt");
    assert.equal(report.cliStatus, 0, JSON.stringify(report.cliInfo));
    const info = report.cliInfo as { shape: number[]; wells: unknown[] };
    assert.deepEqual(info.shape.slice(-2), [2, 3]);
    assert.equal(info.wells.length, 1);
    // The npm packages came from the loopback registry into the empty DENO_DIR.
    assert.ok(readdirSync(denoDir).length > 0, "DENO_DIR was used");
    // The same script with cwd inside the checkout (its deno.json then in view) works too.
    const data2 = join(work, "data2");
    mkdirSync(data2);
    const again = await run(deno, ["run", "-A", script, data2], root, {
      DENO_DIR: denoDir,
      NPM_CONFIG_REGISTRY: registry!.url,
      DENO_NO_UPDATE_CHECK: "1",
    });
    assert.equal(
      again.code,
      0,
      `deno run (cwd in the checkout) failed:\n${again.stdout}\n${again.stderr}`,
    );
    const second = JSON.parse(again.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
    for (const k of ["formats", "roundTrips", "zarrShape", "httpText", "cliStatus"]) {
      assert.deepEqual(second[k], report[k], k);
    }
  });
});

describe("npm: specifiers in library source", () => {
  it("each is a package.json dependency with the same range, and tsconfig.json maps it for Bun", () => {
    const tsconfig = JSON.parse(readFileSync(join(root, "tsconfig.json"), "utf8")) as {
      compilerOptions: { paths: Record<string, string[]> };
    };
    const found = new Set<string>();
    const bare: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) {
          if (
            !["node_modules", "tests", "bench", "dist", "build"].includes(e.name) &&
            !e.name.startsWith(".")
          ) {
            walk(join(d, e.name));
          }
          continue;
        }
        if (!e.name.endsWith(".ts")) continue;
        const text = readFileSync(join(d, e.name), "utf8");
        // Static imports start a line; dynamic ones may not, but never in a comment.
        const specs = [
          ...text.matchAll(
            /^(?:import|export)(?:\s+type)?\s+(?:\*(?:\s+as\s+\w+)?|\{[^}]*\}|\w+(?:\s*,\s*\{[^}]*\})?)\s+from\s+["']([^"']+)["']/gm,
          ),
          ...text.matchAll(/^(?!\s*(?:\*|\/\/)).*?\bimport\(\s*["']([^"']+)["']/gm),
        ].map((m) => m[1]!);
        for (const s of specs) {
          if (s.startsWith("npm:")) found.add(s);
          else if (!s.startsWith(".") && !s.startsWith("node:") && !s.startsWith("bun:")) {
            bare.push(`${join(d, e.name)}: ${s}`);
          }
        }
      }
    };
    walk(root);
    assert.deepEqual(
      bare,
      [],
      "library source must not use bare specifiers (Deno outside the project cannot resolve them)",
    );
    assert.ok(found.size >= 3, [...found].join());
    for (const s of found) {
      const m = /^npm:((?:@[^/@]+\/)?[^/@]+)@([^/]+)$/.exec(s);
      assert.ok(m, `unexpected npm specifier ${s}`);
      assert.equal(pkg.dependencies[m[1]!], m[2], `${s} vs package.json dependencies`);
      assert.ok(tsconfig.compilerOptions.paths[s], `${s} missing from tsconfig.json paths`);
    }
  });
});
