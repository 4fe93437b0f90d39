/**
 * How a test runs one fixture script as a child under each runtime: Deno,
 * Bun, and Node ≥ 22.18 (type stripping, the pure `node:fs` read path, with a
 * resolve hook for the source's `npm:` specifiers).
 */
import * as nodePath from "node:path";

const ROOT = nodePath.resolve(import.meta.dirname ?? ".", "..");

/** `[runtime, argv]` for running `script` (an absolute path) under Deno, Bun and Node. */
export function scriptRuntimes(script: string): [string, string[]][] {
  const bin = (name: string) => nodePath.join(ROOT, "node_modules/.bin", name);
  return [
    ["deno", [bin("deno"), "run", "-A", script]],
    ["bun", [bin("bun"), script]],
    [
      "node",
      [
        bin("node"),
        "--import",
        nodePath.join(ROOT, "tests/fixtures/node_npm_specifiers.mjs"),
        script,
      ],
    ],
  ];
}
