#!/usr/bin/env node
// Runs the whole test suite on Deno (with and without FFI permission) and on
// Bun, then prints one summary line: "N passed, N failed, N skipped".
// Skips (missing peers, see tests/_peers.ts) are counted from each runtime's
// JUnit report; Bun reports nothing for a skipped describe(), so peers skip
// per test (tests/fresh_skip_counting.test.ts holds every file to that).
// Exits non-zero if anything failed or if any run executed no test.
// Usage: node scripts/test-all.mjs [test files or dirs…]   (default: tests/)
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "node_modules", ".bin");
const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, NO_COLOR: "1" };
// HCS_TEST_RESULTS moves the JUnit files (a nested run must not clobber an outer one's).
const out = resolve(root, process.env.HCS_TEST_RESULTS ?? ".test-results");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const targets = process.argv.slice(2);
const files = targets.length ? targets : ["tests/"];

for (const tool of ["deno", "bun"]) {
  if (!existsSync(join(bin, tool))) {
    console.error(`${tool} is not installed: run 'npm install' first`);
    process.exit(2);
  }
}

// Every module whose public symbols carry runnable @example blocks.
const docTargets = [
  "mod.ts",
  "core.ts",
  "errors.ts",
  "edge.ts",
  "file_manager.ts",
  "formats/",
  "registry/",
  "backends/",
  "cli/",
  "json/",
  "lock/",
  "ffi/",
  "zarr/",
  "viewer/",
  "_internal/",
];

// Deno without --allow-ffi still gets everything else the tests need.
const noFfi = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--allow-net",
  "--allow-sys",
];
const runs = [
  {
    name: "deno",
    cmd: "deno",
    args: ["test", "-A", "--no-check", `--junit-path=${out}/deno.xml`, ...files],
    xml: "deno.xml",
  },
  {
    name: "deno (no ffi)",
    cmd: "deno",
    args: ["test", ...noFfi, "--no-check", `--junit-path=${out}/deno-noffi.xml`, ...files],
    xml: "deno-noffi.xml",
  },
  {
    // The runnable @example blocks of every public module (only for full runs).
    name: "deno (doc examples)",
    cmd: "deno",
    args: ["test", "-A", "--doc", `--junit-path=${out}/deno-doc.xml`, ...docTargets],
    xml: "deno-doc.xml",
    skip: targets.length > 0,
  },
  {
    name: "bun",
    cmd: "bun",
    args: [
      "test",
      "--timeout=120000",
      "--reporter=junit",
      `--reporter-outfile=${out}/bun.xml`,
      ...files.map((f) => (f.startsWith(".") || f.startsWith("/") ? f : `./${f}`)),
    ],
    xml: "bun.xml",
  },
];

function count(xmlText, deno) {
  const cases = [...xmlText.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)].map(
    (m) => {
      const name = /name="([^"]*)"/.exec(m[1])?.[1] ?? "";
      const body = m[3] ?? "";
      return { name, failed: /<failure|<error/.test(body), skipped: /<skipped/.test(body) };
    },
  );
  let leaves = cases;
  if (deno) {
    // Deno reports describe() groups as test cases too; count leaves only,
    // but keep a failing group that has no failing child (e.g. a hook error).
    const names = new Set(cases.map((c) => c.name));
    const isGroup = (n) => [...names].some((o) => o.startsWith(`${n} &gt; `));
    leaves = cases.filter((c) =>
      !isGroup(c.name) ||
      (c.failed && !cases.some((o) => o.failed && o !== c && o.name.startsWith(`${c.name} &gt; `)))
    );
  }
  const failed = leaves.filter((c) => c.failed).length;
  const skipped = leaves.filter((c) => c.skipped).length;
  return { passed: leaves.length - failed - skipped, failed, skipped };
}

const total = { passed: 0, failed: 0, skipped: 0 };
let bad = false;
for (const run of runs) {
  if (run.skip) continue;
  console.log(`\n=== ${run.name}: ${run.cmd} ${run.args.join(" ")}`);
  const r = spawnSync(run.cmd, run.args, { cwd: root, env, stdio: "inherit" });
  const xmlPath = join(out, run.xml);
  const c = existsSync(xmlPath)
    ? count(readFileSync(xmlPath, "utf8"), run.cmd === "deno")
    : { passed: 0, failed: 0, skipped: 0 };
  if (r.status !== 0 && c.failed === 0) c.failed = 1; // a crash or load error counts as a failure
  console.log(
    `=== ${run.name}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped (exit ${r.status})`,
  );
  if (c.passed + c.failed + c.skipped === 0) {
    console.log(`=== ${run.name}: ran no test`);
    bad = true;
  }
  total.passed += c.passed;
  total.failed += c.failed;
  total.skipped += c.skipped;
}
if (total.failed > 0) bad = true;
console.log(`\n${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(bad ? 1 : 0);
