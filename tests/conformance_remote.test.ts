/**
 * The read half of the conformance suite over the backends that cannot write:
 * HTTP (a disk tree seeded with the fixture and served by a real `node:http`
 * server on 127.0.0.1, listed through a manifest) and a virtual workspace
 * (every fixture file mapped to a source on the memory backend).
 */
import { createServer, type Server } from "node:http";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, normalize } from "node:path";
import { DiskBackend } from "../backends/disk.ts";
import { HttpBackend } from "../backends/http.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { VirtualWorkspaceBackend } from "../backends/virtual_workspace.ts";
import { createRegistry } from "../registry/registry.ts";
import { READ_TREE, readConformance, seedReadTree } from "./conformance_read.ts";

/** Serves files under `dir` (GET and HEAD; 404 for anything else). */
function serve(dir: string): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const file = normalize(join(dir, path));
    let body: Uint8Array | undefined;
    try {
      if (file.startsWith(dir) && statSync(file).isFile()) body = readFileSync(file);
    } catch {
      body = undefined;
    }
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-length": String(body.byteLength) });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  return new Promise((resolve, reject) => {
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === "object" && addr ? addr.port : 0 });
    });
  });
}

readConformance("http (disk tree over node:http)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hcs-read-http-"));
  await seedReadTree(new DiskBackend(), `${dir}/fx`);
  writeFileSync(
    join(dir, "fx", "index.json"),
    JSON.stringify({ files: READ_TREE.map(([rel]) => rel) }),
  );
  const { server, port } = await serve(dir);
  return {
    backend: new HttpBackend({ baseUrl: `http://127.0.0.1:${port}/`, retries: 0 }),
    root: "/fx",
    teardown: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}, {
  // `load` is one GET: a directory URL is a 404 to the server, so NotFoundError.
  directoryLoadError: false,
});

readConformance("virtual_workspace (over memory)", async () => {
  const registry = createRegistry();
  const mem = new MemoryBackend("vwsrc");
  registry.registerBackend("vwsrc", mem);
  await mem.ensureDirectory("/src");
  await mem.ensureDirectory("/plate");
  await seedReadTree(mem, "/src");
  const mappings = Object.fromEntries(
    READ_TREE.map(([rel]) => [rel, { backend: "vwsrc", path: `/src/${rel}` }]),
  );
  await mem.save({ version: 1, mappings }, "/plate/virtual_workspace.json");
  return {
    backend: new VirtualWorkspaceBackend({ registry, metadataBackend: "vwsrc" }),
    root: "/plate",
  };
});
