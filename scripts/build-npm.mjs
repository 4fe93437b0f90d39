#!/usr/bin/env node
// Builds the npm package @hcs/store into build/npm/package (and, with
// --pack, the tarball build/npm/hcs-store-<version>.tgz):
//   1. copies the library's .ts files (the JSR file set: no tests/, bench/,
//      scripts/) into build/npm/stage, rewriting `npm:pkg@range` specifiers to
//      bare `pkg` (Node and bundlers resolve those from node_modules);
//      and `new URL("./x.ts", import.meta.url)` (the codec pool's worker entry)
//      to `./x.js`, which tsc does not rewrite;
//   2. compiles them with tsc (node_modules/.bin/tsc) to ESM JavaScript plus
//      .d.ts, relative `.ts` imports rewritten to `.js`;
//   3. writes a package.json generated from deno.json (name, version,
//      licence, one export per deno.json export, with types) and the root
//      package.json's runtime dependencies, plus the `hcs-store` bin.
// The dev package.json at the root stays private ("hcs-store-dev"): it installs
// Deno, Bun and the test peers, which no user of the library needs.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outAt = process.argv.indexOf("--out");
const out = outAt > 0 ? resolve(process.argv[outAt + 1]) : resolve(root, "build", "npm");
const stage = join(out, "stage");
const pkgDir = join(out, "package");
const SKIP = new Set(["node_modules", "tests", "bench", "scripts", "build", "demo-output"]);
const SKIP_FILES = new Set(["demo.ts"]);

const denoJson = JSON.parse(readFileSync(join(root, "deno.json"), "utf8"));
const devPkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

/** `npm:name@range/sub` → `name/sub` (only in import/export specifiers). */
export function rewriteNpmSpecifiers(text) {
  return text.replace(
    /(["'])npm:((?:@[^/@"']+\/)?[^/@"']+)(?:@[^/"']*)?(\/[^"']*)?\1/g,
    (_m, q, name, sub) => `${q}${name}${sub ?? ""}${q}`,
  );
}

/** `new URL("./worker.ts", import.meta.url)` → `.js` (module URLs tsc leaves alone). */
export function rewriteModuleUrls(text) {
  return text.replace(
    /new URL\((["'])(\.{1,2}\/[^"']+)\.ts\1,(\s*)import\.meta\.url\)/g,
    (_m, q, spec, ws) => `new URL(${q}${spec}.js${q},${ws}import.meta.url)`,
  );
}

function sources(dir, found = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP.has(e.name)) sources(p, found);
    } else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") && !SKIP_FILES.has(e.name)) {
      found.push(p);
    }
  }
  return found;
}

function walkFiles(dir, found = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walkFiles(p, found);
    else found.push(p);
  }
  return found;
}

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`build-npm: ${cmd} ${args.join(" ")} failed (exit ${r.status})`);
    process.exit(1);
  }
}

rmSync(out, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
const files = sources(root);
for (const f of files) {
  const dest = join(stage, relative(root, f));
  mkdirSync(dirname(dest), { recursive: true });
  writeFileSync(dest, rewriteModuleUrls(rewriteNpmSpecifiers(readFileSync(f, "utf8"))));
}
writeFileSync(join(stage, "package.json"), JSON.stringify({ type: "module" }));
writeFileSync(
  join(stage, "tsconfig.json"),
  JSON.stringify(
    {
      compilerOptions: {
        target: "es2022",
        module: "nodenext",
        moduleResolution: "nodenext",
        rewriteRelativeImportExtensions: true,
        declaration: true,
        outDir: relative(stage, join(pkgDir, "esm")),
        rootDir: ".",
        strict: true,
        noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true,
        skipLibCheck: true,
        lib: ["es2023", "dom", "dom.iterable"],
        types: ["node"],
        typeRoots: [relative(stage, join(root, "node_modules", "@types"))],
        // The sources are type-checked by `deno check` against Deno's and
        // Bun's APIs; tsc only emits JavaScript and declarations here.
        noCheck: true,
      },
      include: ["**/*.ts"],
    },
    null,
    2,
  ),
);
run(join(root, "node_modules", ".bin", "tsc"), ["-p", join(stage, "tsconfig.json")], stage);

// Declarations keep the source's `./x.ts` imports; point them at the emitted `./x.js`.
for (const f of walkFiles(join(pkgDir, "esm")).filter((f) => f.endsWith(".d.ts"))) {
  const text = readFileSync(f, "utf8");
  writeFileSync(
    f,
    text.replace(/((?:from|import)\s*\(?\s*["'])(\.{1,2}\/[^"']+)\.ts(["'])/g, "$1$2.js$3"),
  );
}

const esm = (p) => `./esm/${p.replace(/^\.\//, "").replace(/\.ts$/, "")}`;
const exportsMap = {};
for (const [key, target] of Object.entries(denoJson.exports)) {
  exportsMap[key] = { types: `${esm(target)}.d.ts`, import: `${esm(target)}.js` };
}
exportsMap["./package.json"] = "./package.json";
const pkg = {
  name: denoJson.name,
  version: denoJson.version,
  description:
    "Storage layer for high-content screening microscopy: disk, memory, OME-Zarr, HTTP and virtual workspaces behind one contract",
  license: denoJson.license,
  type: "module",
  exports: exportsMap,
  types: exportsMap["."].types,
  bin: { "hcs-store": "./bin/hcs-store.js" },
  engines: { node: ">=20" },
  files: ["esm/", "bin/", "README.md", "LICENSE"],
  dependencies: devPkg.dependencies,
};
writeFileSync(join(pkgDir, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
mkdirSync(join(pkgDir, "bin"), { recursive: true });
writeFileSync(
  join(pkgDir, "bin", "hcs-store.js"),
  `#!/usr/bin/env node
// The hcs-store command (npm bin): runs the CLI's main() on the arguments.
import process from "node:process";
import { main } from "../esm/cli/mod.js";

process.stdout.on("error", (err) => {
  if (err.code !== "EPIPE") throw err;
});
process.exitCode = await main(process.argv.slice(2));
`,
);
chmodSync(join(pkgDir, "bin", "hcs-store.js"), 0o755);
for (const f of ["README.md", "LICENSE"]) copyFileSync(join(root, f), join(pkgDir, f));
rmSync(stage, { recursive: true, force: true });

if (process.argv.includes("--pack")) {
  run("npm", ["pack", "--silent", "--pack-destination", out], pkgDir);
  const tgz = readdirSync(out).find((f) => f.endsWith(".tgz"));
  console.log(join(out, tgz));
} else {
  console.log(pkgDir);
}
