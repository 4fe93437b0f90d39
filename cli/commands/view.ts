/**
 * `hcs-store view`: serves a plate read-only on 127.0.0.1 with the browser
 * viewer, until interrupted. The plate is read through its backend (disk,
 * http(s) URLs, or any registered `key:` such as s3), so the page sees the
 * same bytes a program would.
 *
 * @module
 */
import process from "node:process";
import type { ViewerSource } from "../../viewer/server.ts";
import { type Command, type CommandContext, int, location, parse, UsageError } from "../_shared.ts";
import { backendKey } from "../../registry/registry.ts";

const HELP = `hcs-store view — browse an OME-Zarr plate in the browser

Usage: hcs-store view [options] PLATE

Starts a local read-only HTTP server on 127.0.0.1, prints its URL and serves
the plate (under /plate/, with byte ranges) and a viewer page: the plate as a
grid of well thumbnails (lowest pyramid level), a well's fields, channel
toggles/colours/contrast, zoom and pan that fetch only the visible chunks of
the right level, and the pixel value under the cursor. The "Live" tab shows
planes a pipeline saves to the 'stream' backend (in this process, or in
another one started with HCS_STREAM_URL=<the printed URL>).

PLATE is a folder (disk), zarr:PATH, an http(s):// URL, or KEY:PATH for any
registered backend (e.g. s3:/bucket/plate.zarr).

Options:
      --port N     TCP port (default 0: a free one)
      --open       open the page in the default browser
      --no-live    no live endpoints
  -q, --quiet      print only the URL
  -h, --help       this help

Stops on Ctrl-C (SIGINT) or SIGTERM. Exit status: 0 ok, 1 failure, 2 usage error.`;

async function sourceFor(
  ctx: CommandContext,
  arg: string,
): Promise<{ source: ViewerSource; root: string }> {
  const loc = location(arg);
  if (loc.backend === "http") {
    const { HttpBackend } = await import("../../backends/http.ts");
    return { source: new HttpBackend({ baseUrl: loc.path }), root: "/" };
  }
  const key = loc.backend === "zarr" ? "disk" : loc.backend;
  const source = await ctx.registry.getBackend(backendKey(key)) as unknown as ViewerSource;
  if (typeof (source as { load?: unknown }).load !== "function") {
    throw new UsageError(`backend '${key}' cannot be read`, "view");
  }
  return { source, root: loc.path };
}

function openBrowser(url: string): void {
  const cmd = process.platform === "darwin"
    ? "open"
    : process.platform === "win32"
    ? "explorer"
    : "xdg-open";
  import("node:child_process").then(({ spawn }) => {
    const c = spawn(cmd, [url], { stdio: "ignore", detached: true });
    c.on("error", () => {});
    c.unref();
  });
}

/** The `view` command. */
export const view: Command = {
  name: "view",
  summary: "serve a plate on 127.0.0.1 with a browser viewer (and a live tab)",
  help: HELP,
  async run(ctx: CommandContext): Promise<number> {
    const { values, positionals } = parse("view", ctx.args, {
      port: { type: "string" },
      open: { type: "boolean" },
      "no-live": { type: "boolean" },
    });
    if (values.help) {
      ctx.out(HELP);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError(`view takes one plate (got ${positionals.length} arguments)`, "view");
    }
    const port = int(values, "port", "view", 0, 0);
    if (port > 65535) throw new UsageError(`--port must be ≤ 65535, got ${port}`, "view");
    const { source, root } = await sourceFor(ctx, positionals[0]!);
    const { startViewer } = await import("../../viewer/server.ts");
    const server = await startViewer({
      source,
      root,
      port,
      ...(values["no-live"] === true ? { live: false as const } : {}),
    });
    ctx.out(`viewer: ${server.url}`);
    ctx.log(`serving ${positionals[0]} read-only; Ctrl-C stops`);
    if (values.open === true) openBrowser(server.url);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    });
    await server.close();
    ctx.log("viewer stopped");
    return 0;
  },
};
