/**
 * Every library source file is accepted by Node's type stripping (Node 22's
 * `module.stripTypeScriptTypes`, the same transform `node file.ts` applies):
 * no parameter properties, enums or namespaces. Runs the real Node 22 from
 * `node_modules/.bin/node` on the files, not a regex guess.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const node22 = join(root, "node_modules", ".bin", "node");
const SKIP_DIRS = new Set(["node_modules", "tests", "bench", ".git", ".test-results", "dist"]);

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name) && !e.name.startsWith(".")) sources(join(dir, e.name), out);
    } else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(join(dir, e.name));
  }
  return out;
}

/** Strips each file with Node 22; returns "path: error" lines for those refused. */
function strip(files: string[]): string[] {
  const script = `
const { stripTypeScriptTypes } = require("node:module");
const { readFileSync } = require("node:fs");
const bad = [];
for (const f of JSON.parse(process.argv[1])) {
  try { stripTypeScriptTypes(readFileSync(f, "utf8")); }
  catch (e) { bad.push(f + ": " + (e.code ?? "") + " " + String(e.message).split("\\n")[0]); }
}
console.log(JSON.stringify(bad));`;
  const r = spawnSync(node22, ["--no-warnings", "-e", script, JSON.stringify(files)], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

const skip = existsSync(node22) ? false : "node_modules/.bin/node missing: run npm install";

describe("source is type-stripping compatible (Node 22)", () => {
  it("the check refuses a parameter property, an enum and a namespace", { skip }, () => {
    const tmp = join(root, "tests", "fixtures");
    const bad = strip([
      join(tmp, "strip_bad_param.ts.txt"),
      join(tmp, "strip_bad_enum.ts.txt"),
      join(tmp, "strip_bad_namespace.ts.txt"),
    ]);
    assert.equal(bad.length, 3, bad.join("\n"));
    for (const b of bad) assert.match(b, /ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX/);
  });

  it("every .ts file outside tests/ and bench/ strips cleanly", { skip }, () => {
    const files = sources(root);
    assert.ok(files.length > 30, `found ${files.length} source files`);
    assert.ok(files.some((f) => relative(root, f) === join("formats", "tiff.ts")));
    assert.deepEqual(strip(files), []);
  });
});
