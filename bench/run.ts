/**
 * `deno task bench`: runs every benchmark in bench/ (each prints its own
 * ratios against a baseline measured in the same run), under Deno and, where
 * a benchmark supports it, Bun, and writes bench/report.md with the machine
 * and runtime versions.
 *
 * Usage: deno run -A bench/run.ts [--quick] [name …]
 */
import { spawnSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const bin = join(root, "node_modules", ".bin");
const args = Deno.args;
const quick = args.includes("--quick");
const only = args.filter((a) => !a.startsWith("--"));

/** Benchmarks that also run under Bun. */
const BUN_TOO = new Set(["memory_listing", "ffi", "disk_bytes"]);

const scripts = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.startsWith("_"))
  .map((f) => f.replace(/\.ts$/, ""))
  .filter((n) => only.length === 0 || only.includes(n))
  .sort();

function version(cmd: string, flag = "--version"): string {
  const r = spawnSync(join(bin, cmd), [flag], { encoding: "utf8" });
  return (r.stdout || r.stderr || "").split("\n")[0]!.trim();
}

const sections: string[] = [];
for (const name of scripts) {
  const runners: [string, string[]][] = [[join(bin, "deno"), [
    "run",
    "-A",
    join(here, `${name}.ts`),
  ]]];
  if (BUN_TOO.has(name)) runners.push([join(bin, "bun"), [join(here, `${name}.ts`)]]);
  for (const [cmd, cmdArgs] of runners) {
    const rt = cmd.endsWith("bun") ? "bun" : "deno";
    console.log(`\n### ${name} (${rt})`);
    const r = spawnSync(cmd, [...cmdArgs, ...(quick ? ["--quick"] : [])], {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...Deno.env.toObject(), NO_COLOR: "1" },
    });
    const out = (r.stdout ?? "").trimEnd();
    console.log(out);
    sections.push(
      `## ${name} (${rt})\n\n\`\`\`\n${out}\n\`\`\`\n${
        r.status === 0 ? "" : `\nexit status ${r.status}\n`
      }`,
    );
  }
}

const cpu = cpus();
const header = [
  "# hcs-store benchmark report",
  "",
  `Generated ${new Date().toISOString()} by \`deno task bench${quick ? " --quick" : ""}\`.`,
  "",
  `- machine: ${cpu.length} × ${cpu[0]?.model ?? "unknown CPU"}, ${
    (totalmem() / 2 ** 30).toFixed(1)
  } GiB`,
  `- ${version("deno").split(" ").slice(0, 2).join(" ")}, bun ${version("bun")}`,
  "",
  "Every figure is a ratio against a baseline measured in the same run.",
  "",
].join("\n");
writeFileSync(join(here, "report.md"), `${header}\n${sections.join("\n")}`);
console.log(`\nwrote ${join(here, "report.md")}`);
