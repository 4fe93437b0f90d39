/**
 * The npm package, as a user gets it: `scripts/build-npm.mjs --pack` makes
 * `@hcs/store-<v>.tgz` (compiled ESM + .d.ts, `hcs-store` bin); it is
 * installed with npm into a fresh temp project (dependencies from a loopback
 * registry serving this checkout's node_modules, so no network), then a
 * script and the CLI (`npx hcs-store --help` / `convert` / `info`) run under
 * Node 20 (the system `node`), Node 22 (`node_modules/.bin/node`) and Bun,
 * and `tsc` type-checks a consumer importing every subpath export.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type NpmRegistry, startNpmRegistry } from "./fixtures/npm_registry.ts";
import { writeCliPlanes } from "./fixtures/cli_planes.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (n: string) => join(root, "node_modules", ".bin", n);
const denoJson = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")) as {
  version: string;
  exports: Record<string, string>;
};
const devPkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
};

let work = "";
let project = "";
let tgz = "";
let registry: NpmRegistry | undefined;
/** PATH directories that put each Node first (`node` and `npx` resolve there). */
const nodes: Record<string, string> = {};

function sh(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
) {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? project,
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    encoding: "utf8",
    timeout: 300_000,
  });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "", error: r.error };
}

/** Like sh(), without blocking this process (the loopback registry must answer). */
function shAsync(cmd: string, args: string[], cwd: string) {
  return new Promise<{ status: number | null; out: string }>((done, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, NO_COLOR: "1" } });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const t = setTimeout(() => child.kill("SIGKILL"), 300_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(t);
      done({ status, out });
    });
  });
}

function withNode(version: "20" | "22"): Record<string, string> {
  return { PATH: `${nodes[version]}${delimiter}${process.env.PATH ?? ""}` };
}

// Builds, packs and installs the package: far longer than Bun's default 5 s.
const SLOW = { timeout: 600_000 };

/**
 * Builds, packs and installs the package once, on first use from a test (a
 * before() hook would hit Bun's 5 s hook limit, which ignores `timeout`).
 */
let ready: Promise<void> | undefined;
function setup(): Promise<void> {
  ready ??= (async () => {
    work = mkdtempSync(join(tmpdir(), "hcs-npm-package-"));
    const built = sh("node", [
      join(root, "scripts", "build-npm.mjs"),
      "--pack",
      "--out",
      join(work, "out"),
    ], {
      cwd: root,
    });
    assert.equal(built.status, 0, built.stdout + built.stderr);
    tgz = built.stdout.trim().split("\n").pop()!;
    registry = await startNpmRegistry(root, Object.keys(devPkg.dependencies));
    project = join(work, "project");
    mkdirSync(project);
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module" }),
    );
    const install = await shAsync("npm", [
      "install",
      tgz,
      "--no-audit",
      "--no-fund",
      "--registry",
      registry.url,
      "--cache",
      join(work, "npm-cache"),
    ], project);
    assert.equal(install.status, 0, install.out);
    // Node 20 is the system node (the first `node` on PATH outside this checkout's
    // node_modules/.bin, which npm test puts first); Node 22 comes from the npm package `node`.
    const systemNode = (process.env.PATH ?? "").split(delimiter)
      .filter((d) => d && !resolve(d).startsWith(join(root, "node_modules")))
      .map((d) => join(d, "node"))
      .find((f) => existsSync(f));
    assert.ok(systemNode, "a system node on PATH");
    nodes["20"] = join(work, "node20");
    nodes["22"] = join(work, "node22");
    mkdirSync(nodes["20"]);
    mkdirSync(nodes["22"]);
    symlinkSync(systemNode, join(nodes["20"], "node"));
    symlinkSync(bin("node"), join(nodes["22"], "node"));
    writeCliPlanes(join(work, "planes"));
  })();
  return ready;
}

after(async () => {
  await registry?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const SCRIPT = `
import { getBackend, runtime, isNdArray } from "@hcs/store";
import { DiskBackend } from "@hcs/store/disk";
import { ZarrBackend } from "@hcs/store/zarr";
import { supportedExtensions } from "@hcs/store/formats";
import { NotFoundError } from "@hcs/store/errors";
const dir = process.argv[2];
const disk = await getBackend("disk");
const plane = { data: new Uint16Array([1, 2, 3, 400, 500, 65535]), shape: [2, 3], stride: [3, 1] };
for (const ext of [".tif", ".npy", ".png"]) {
  await disk.save(plane, dir + "/p" + ext, { overwrite: true });
  const back = await disk.load(dir + "/p" + ext);
  if (!isNdArray(back) || [...back.data].join() !== [...plane.data].join()) throw new Error(ext);
}
const zarr = new ZarrBackend({ store: new DiskBackend(), compression: "blosc" });
await disk.ensureDirectory(dir + "/plate");
await zarr.saveBatch([plane], [dir + "/plate/images/A01_f0.tif"], { row: "A", column: "01" });
const z = await zarr.load(dir + "/plate/images/A01_f0.tif");
const missing = await disk.load(dir + "/nope.txt").catch((e) => e instanceof NotFoundError);
console.log(JSON.stringify({
  runtime: runtime().name,
  implementation: disk.implementation,
  formats: supportedExtensions().length,
  zarr: isNdArray(z) ? [...z.data].join() : null,
  missing,
}));
`;

describe("npm package @hcs/store", () => {
  it(
    "the tarball holds compiled ESM and .d.ts for every subpath export, a bin, and no .ts source",
    SLOW,
    async () => {
      await setup();
      const list = sh("tar", ["tzf", tgz]).stdout.split("\n").filter(Boolean);
      assert.ok(!list.some((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")), "no .ts source");
      const installed = join(project, "node_modules", "@hcs", "store");
      const pkg = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
      assert.equal(pkg.name, "@hcs/store");
      assert.equal(pkg.version, denoJson.version);
      assert.equal(pkg.type, "module");
      assert.equal(pkg.license, "MIT");
      assert.ok(existsSync(join(installed, "LICENSE")));
      assert.deepEqual(pkg.bin, { "hcs-store": "./bin/hcs-store.js" });
      assert.deepEqual(
        Object.keys(pkg.dependencies).sort(),
        Object.keys(devPkg.dependencies).sort(),
      );
      assert.ok(!("tiff" in pkg.dependencies), "tiff is a test-only dependency");
      for (const key of Object.keys(denoJson.exports)) {
        const e = pkg.exports[key];
        assert.ok(e, `export ${key}`);
        assert.ok(existsSync(join(installed, e.import)), `${key}: ${e.import}`);
        assert.ok(existsSync(join(installed, e.types)), `${key}: ${e.types}`);
      }
      const js = readFileSync(join(installed, "esm", "formats", "png.js"), "utf8");
      assert.match(js, /from "fast-png"/);
      assert.doesNotMatch(js, /npm:/);
    },
  );

  for (const version of ["20", "22"] as const) {
    it(
      `a script runs under Node ${version}: disk formats, zarr (blosc), typed errors, pure disk`,
      SLOW,
      async () => {
        await setup();
        const data = join(work, `data-node${version}`);
        mkdirSync(data);
        writeFileSync(join(project, "script.mjs"), SCRIPT);
        const r = sh("node", ["script.mjs", data], { env: withNode(version) });
        assert.equal(r.status, 0, r.stdout + r.stderr);
        const report = JSON.parse(r.stdout.trim().split("\n").pop()!);
        assert.equal(report.runtime, "node");
        assert.equal(report.implementation, "pure");
        assert.equal(report.zarr, "1,2,3,400,500,65535");
        assert.equal(report.missing, true);
        const v = sh("node", ["--version"], { env: withNode(version) }).stdout.trim();
        assert.match(v, new RegExp(`^v${version}\\.`));
      },
    );

    it(`npx hcs-store --help / convert / info under Node ${version}`, SLOW, async () => {
      await setup();
      const env = withNode(version);
      const help = sh("npx", ["--no-install", "hcs-store", "--help"], { env });
      assert.equal(help.status, 0, help.stderr);
      assert.match(help.stdout, /^ {2}convert /m);
      const out = join(work, `op-node${version}.zarr`);
      const conv = sh("npx", [
        "--no-install",
        "hcs-store",
        "convert",
        "--quiet",
        join(work, "planes", "op"),
        out,
      ], {
        env,
      });
      assert.equal(conv.status, 0, conv.stdout + conv.stderr);
      const info = sh("npx", ["--no-install", "hcs-store", "info", "--json", out], { env });
      assert.equal(info.status, 0, info.stderr);
      const parsed = JSON.parse(info.stdout);
      assert.equal(parsed.wells.length, 4);
      const bench = sh("npx", ["--no-install", "hcs-store", "bench", "--list"], { env });
      assert.equal(bench.status, 1, "bench is not part of the published files");
      assert.match(bench.stderr, /benchmarks run from a checkout/);
    });
  }

  it("the same tarball under Bun: script (FFI disk reader) and the CLI", SLOW, async () => {
    await setup();
    const data = join(work, "data-bun");
    mkdirSync(data);
    writeFileSync(join(project, "script.mjs"), SCRIPT);
    const r = sh(bin("bun"), ["script.mjs", data]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout.trim().split("\n").pop()!);
    assert.equal(report.runtime, "bun");
    assert.match(report.implementation, /^ffi\(bun/);
    assert.equal(report.zarr, "1,2,3,400,500,65535");
    const cli = join(project, "node_modules", ".bin", "hcs-store");
    const out = join(work, "op-bun.zarr");
    const conv = sh(bin("bun"), [cli, "convert", "--quiet", join(work, "planes", "op"), out]);
    assert.equal(conv.status, 0, conv.stdout + conv.stderr);
    const info = sh(bin("bun"), [cli, "info", "--json", out]);
    assert.equal(info.status, 0, info.stderr);
    assert.equal(JSON.parse(info.stdout).wells.length, 4);
  });

  it(
    "tsc type-checks a consumer of every subpath export against the shipped .d.ts",
    SLOW,
    async () => {
      await setup();
      const imports = Object.keys(denoJson.exports).map((k, i) =>
        `import * as m${i} from "${k === "." ? "@hcs/store" : `@hcs/store/${k.slice(2)}`}";`
      );
      writeFileSync(
        join(project, "consumer.ts"),
        `${imports.join("\n")}
import { getBackend, NotFoundError } from "@hcs/store";
const mem = await getBackend("memory");
const v: unknown = await mem.load("/x").catch((e: unknown) => e instanceof NotFoundError);
// The shipped declarations keep the typed registry (each directive must mark a real error).
// @ts-expect-error a misspelt built-in key
await getBackend("dsik");
const http = await getBackend("http");
// @ts-expect-error the HTTP backend is read-only
await http.save("x", "/x.txt");
const bytes: Uint8Array = await mem.load("/a.tif", { as: "bytes" });
console.log(v, bytes, ${Object.keys(denoJson.exports).map((_, i) => `m${i}`).join(", ")});
`,
      );
      writeFileSync(
        join(project, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            target: "es2022",
            module: "nodenext",
            moduleResolution: "nodenext",
            strict: true,
            noEmit: true,
            skipLibCheck: false,
            lib: ["esnext", "dom"],
            types: [],
          },
          files: ["consumer.ts"],
        }),
      );
      // skipLibCheck is off so our .d.ts files are checked; errors inside
      // third-party declarations (numcodecs, unzipit) are theirs, not ours.
      const r = sh(bin("tsc"), ["-p", "tsconfig.json"]);
      const errors = (r.stdout + r.stderr).split("\n").filter((l) => /error TS/.test(l));
      const ours = errors.filter((l) => !/^node_modules\/(?!@hcs\/)/.test(l));
      assert.deepEqual(ours, [], r.stdout + r.stderr);
    },
  );
});

describe("npm package on the edge", () => {
  it(
    "the README's bundle command for the npm package gives one ESM file without node:/bun:",
    SLOW,
    async () => {
      await setup();
      const readme = readFileSync(join(root, "README.md"), "utf8");
      const at = readme.indexOf("<!-- edge-bundle-command-npm");
      assert.ok(at >= 0, "README has the edge-bundle-command-npm marker");
      const line = /```sh\n([^\n]+)\n```/.exec(readme.slice(at))?.[1];
      assert.ok(line, "a sh block follows the marker");
      const [tool, ...args] = [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
      assert.equal(tool, "bun");
      writeFileSync(
        join(project, "worker.ts"),
        `import { HttpBackend, ZarrBackend } from "@hcs/store/edge";
export default {
  async fetch(req: Request): Promise<Response> {
    const u = new URL(req.url);
    const zarr = new ZarrBackend({ store: new HttpBackend({ baseUrl: u.searchParams.get("base")! }) });
    return Response.json(await zarr.listFiles("/"));
  },
};
`,
      );
      const r = sh(bin("bun"), args);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const code = readFileSync(join(project, "worker.js"), "utf8");
      assert.deepEqual(code.match(/["'`](?:node|bun):[\w/.-]+["'`]/g) ?? [], []);
      assert.match(code, /blosc/i, "the pure-JS blosc decoder is in the bundle");
      // The node-only modules stay behind import() (never loaded on the edge).
      for (
        const l of code.split("\n").filter((l) => /(?:disk|file_lock|ffi\/mod)\.js["']/.test(l))
      ) {
        assert.match(l, /import\(\s*["'][^"']+["']\s*\)/, l);
      }
    },
  );
});

describe("JSR: deno publish --dry-run", () => {
  it(
    "passes with the LICENSE, no test/bench files, and only the four documented warnings",
    SLOW,
    () => {
      const r = sh(bin("deno"), ["publish", "--dry-run", "--allow-dirty"], { cwd: root });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const text = r.stdout + r.stderr;
      const files = [...text.matchAll(/^\s+file:\/\/\S+?\/([^/\s]+(?:\/\S+)?) \(/gm)].map((m) =>
        m[1]!
      );
      const rel = [...text.matchAll(/file:\/\/(\S+) \(/g)].map((m) => m[1]!.slice(root.length + 1));
      assert.ok(files.length > 0 && rel.includes("LICENSE"), rel.join(", "));
      assert.ok(rel.includes("mod.ts") && rel.includes("edge.ts"));
      for (const f of rel) assert.doesNotMatch(f, /^(tests|bench|scripts|build|node_modules)\b/, f);
      const warnings = [...text.matchAll(/warning\[([\w-]+)\][\s\S]*?-->\s*\S*?([\w/]+\.ts):/g)]
        .map((
          m,
        ) => `${m[1]} ${m[2]!.replace(/^.*?(backends|ffi|zarr|_internal)\//, "$1/")}`);
      assert.deepEqual(warnings.sort(), [
        "unanalyzable-dynamic-import _internal/native_zlib.ts",
        "unanalyzable-dynamic-import ffi/bun.ts",
        "unanalyzable-dynamic-import ffi/worker_host.ts",
        "unanalyzable-dynamic-import zarr/leftovers.ts",
      ]);
      assert.equal((text.match(/warning\[/g) ?? []).length, 4, "no other warning");
    },
  );
});
