/**
 * `hcs-store bench`: runs the project's benchmarks (bench/run.ts).
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { CliError, type Command, type CommandContext, helpText, parse } from "../_shared.ts";

const HELP = `hcs-store bench — run the benchmarks

Usage: hcs-store bench [options] [NAME…]

Runs bench/run.ts from a checkout of hcs-store under Deno: every benchmark in
bench/ (or only the NAMEs given), each printing ratios against a baseline
measured in the same run, and writes bench/report.md.

Options:
      --quick       a quick subset (smaller sizes, fewer repetitions)
      --list        list the benchmarks and exit
  -q, --quiet       no progress output
  -v, --verbose     stack traces on failure
  -h, --help        this help

Exit status: 0 ok, 1 failure (a benchmark failed, bench/ missing), 2 usage error.`;

function benchDir(): string {
  const here = import.meta.url.startsWith("file:")
    ? dirname(fileURLToPath(import.meta.url))
    : process.cwd();
  return join(here, "..", "..", "bench");
}

function denoBinary(root: string): string {
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  if (deno) return deno.execPath();
  const local = join(root, "node_modules", ".bin", "deno");
  return existsSync(local) ? local : "deno";
}

/** The `bench` command. */
export const bench: Command = {
  name: "bench",
  summary: "run the benchmarks (bench/run.ts; --quick for a subset)",
  help: HELP,
  run(ctx: CommandContext): Promise<number> {
    const { values, positionals } = parse("bench", ctx.args, {
      quick: { type: "boolean" },
      list: { type: "boolean" },
    });
    if (values.help) {
      ctx.out(helpText(HELP, ctx.program));
      return Promise.resolve(0);
    }
    const dir = benchDir();
    const runner = join(dir, "run.ts");
    if (!existsSync(runner)) {
      throw new CliError(
        `${runner} not found (benchmarks run from a checkout of hcs-store)`,
      );
    }
    const names = readdirSync(dir)
      .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.startsWith("_"))
      .map((f) => f.replace(/\.ts$/, ""))
      .sort();
    if (values.list) {
      for (const n of names) ctx.out(n);
      return Promise.resolve(0);
    }
    for (const n of positionals) {
      if (!names.includes(n)) {
        throw new CliError(`no benchmark '${n}' (have ${names.join(", ")})`);
      }
    }
    const root = join(dir, "..");
    const args = ["run", "-A", runner, ...(values.quick ? ["--quick"] : []), ...positionals];
    const r = spawnSync(denoBinary(root), args, { cwd: root, stdio: "inherit" });
    if (r.error) throw new CliError(`cannot start deno: ${r.error.message}`);
    return Promise.resolve(r.status === 0 ? 0 : 1);
  },
};
