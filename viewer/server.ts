/**
 * The viewer's local HTTP server (`node:http`, so it runs under Deno, Bun and
 * Node): the page at `/`, the plate's files read-only under `/plate/…` (with
 * byte ranges, the layout the HTTP backend reads), and the live channel
 * (`/live/events` SSE to viewers, `/live/push` from `stream` sinks in other
 * processes, `/live/viewers` SSE of the viewer count for those sinks), and
 * `/decoded/<array>?c=i.j` for chunks whose codec the page lacks (zstd, blosc).
 *
 * Confinement: every request path is split and percent-decoded segment by
 * segment; empty, `.`/`..` segments and ones holding `/`, `\` or NUL are
 * refused, and on a disk source the real path (symlinks resolved) must stay
 * inside the plate's real path. Requests whose `Host` is not 127.0.0.1 /
 * localhost are refused (DNS rebinding), requests carrying a foreign `Origin`
 * are refused, `/live/push` takes only `application/json` (no cross-site
 * simple POSTs), and no CORS headers are sent, so other web sites can neither
 * read the plate nor inject frames through a visitor's browser.
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { realpath } from "node:fs/promises";
import type { BackendBase, DataSource, RangeReader, StatResult } from "../backends/base.ts";
import { StorageError } from "../errors.ts";
import { join, normalize } from "../_internal/paths.ts";
import { defaultHub, type LiveFrame, type LiveHub } from "./live.ts";
import { PAGE_HTML } from "./page.ts";
import { VIEWER_JS } from "./client.ts";
import { decodeChunk } from "./decoded.ts";

// The contract types this entry's API refers to, so it documents them on its own.
export type * from "../backends/base.ts";
export type { LiveClientStats, LiveConnection, LiveFrame, LiveHub, PlaneCoords } from "./live.ts";

/** A source the server can read: any backend with `load` (ranges and `stat` used if present). */
export type ViewerSource =
  & BackendBase
  & Pick<DataSource, "load">
  & Partial<RangeReader>
  & { stat?(path: string): Promise<StatResult> };

/** Options of {@linkcode startViewer}. */
export interface ViewerOptions {
  /** Where the plate's bytes come from (disk, memory, http, s3…). */
  source: ViewerSource;
  /** The plate's path in `source` (its root group). */
  root: string;
  /** TCP port on 127.0.0.1 (default 0: any free port). */
  port?: number;
  /** The live hub (default: the process hub); `false` disables the live endpoints. */
  live?: LiveHub | false;
  /** Resolve symlinks and refuse paths whose real location leaves the plate (default: disk sources). */
  confineRealpath?: boolean;
  /** Largest `/live/push` body (default 16 MiB). */
  maxPushBytes?: number;
  /** Largest file (or range) held in memory to answer one request (default 256 MiB). */
  maxServeBytes?: number;
}

/** A running viewer server. */
export interface ViewerServer {
  /** `http://127.0.0.1:<port>/`. */
  readonly url: string;
  /** The bound port. */
  readonly port: number;
  /** The live hub (undefined when disabled). */
  readonly hub: LiveHub | undefined;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/** Splits and decodes a request path into safe segments, or undefined if any is unsafe. */
export function safeSegments(rawPath: string): string[] | undefined {
  const out: string[] = [];
  for (const part of rawPath.split("/")) {
    let seg: string;
    try {
      seg = decodeURIComponent(part);
    } catch {
      return undefined;
    }
    if (seg === "" || seg === "." || seg === ".." || /[/\\\0]/.test(seg)) return undefined;
    out.push(seg);
  }
  return out;
}

function parseRange(h: string | undefined, size: number): [number, number] | "bad" | undefined {
  if (!h) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (!m || (m[1] === "" && m[2] === "")) return h.includes(",") ? undefined : "bad";
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0) return "bad";
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return "bad";
  return [start, end];
}

const TYPES: Record<string, string> = {
  json: "application/json",
  zattrs: "application/json",
  zgroup: "application/json",
  zarray: "application/json",
  zmetadata: "application/json",
};

/**
 * Starts the viewer server on 127.0.0.1.
 *
 * @example
 * ```ts ignore
 * import { startViewer } from "./server.ts";
 * import { DiskBackend } from "../backends/disk.ts";
 * const v = await startViewer({ source: new DiskBackend(), root: "/data/plate.zarr" });
 * console.log(`open ${v.url}`);
 * await v.close();
 * ```
 */
export async function startViewer(options: ViewerOptions): Promise<ViewerServer> {
  const { source } = options;
  const root = normalize(options.root);
  const hub = options.live === false ? undefined : (options.live ?? defaultHub());
  const confine = options.confineRealpath ?? source.key === "disk";
  const maxPush = options.maxPushBytes ?? 16 * 2 ** 20;
  const maxServe = options.maxServeBytes ?? 256 * 2 ** 20;
  const realRoot = confine ? await realpath(root) : root;
  const sockets = new Set<Socket>();
  let port = 0;

  const inside = async (full: string): Promise<boolean> => {
    if (!confine) return true;
    try {
      const r = await realpath(full);
      return r === realRoot || r.startsWith(realRoot.endsWith("/") ? realRoot : `${realRoot}/`);
    } catch {
      return false;
    }
  };

  const servePlate = async (req: IncomingMessage, res: ServerResponse, rel: string) => {
    const segs = rel === "" ? [] : safeSegments(rel);
    if (!segs || segs.length === 0) return text(res, 404, "not found");
    const full = join(root, ...segs);
    if (!(await inside(full))) return text(res, 404, "not found");
    const ext = segs[segs.length - 1]!.split(".").pop() ?? "";
    const headers: Record<string, string> = {
      "content-type": TYPES[ext] ?? "application/octet-stream",
      "accept-ranges": "bytes",
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
    };
    let size: number | undefined;
    let whole: Uint8Array | undefined;
    if (source.stat) {
      const st = await source.stat(full);
      if (st.type === "missing" || st.type === "directory") return text(res, 404, "not found");
      if (st.type === "file") size = st.size;
    }
    // Memory stays bounded: a file too big to hold is served only in ranges, and only
    // from a source that can read ranges.
    const rangeHeader = req.headers.range;
    if (size !== undefined && size > maxServe && !(source.loadRange && rangeHeader)) {
      return text(res, 413, `file is over ${maxServe} bytes; request a byte range`);
    }
    if (size === undefined || !source.loadRange) {
      whole = await source.load<Uint8Array>(full, { as: "bytes" });
      size = whole.length;
    }
    const range = parseRange(rangeHeader, size);
    if (range === "bad") {
      res.writeHead(416, { ...headers, "content-range": `bytes */${size}` });
      return res.end();
    }
    const [start, end] = range ?? [0, size - 1];
    const length = Math.max(0, end - start + 1);
    if (!whole && length > maxServe) return text(res, 413, `range is over ${maxServe} bytes`);
    if (range) headers["content-range"] = `bytes ${start}-${end}/${size}`;
    headers["content-length"] = String(length);
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === "HEAD") return res.end();
    let body: Uint8Array;
    if (whole) body = whole.subarray(start, start + length);
    else if (length === 0) body = new Uint8Array(0);
    else body = await source.loadRange!(full, start, length);
    res.end(body);
  };

  const serveDecoded = async (res: ServerResponse, rel: string, query: string) => {
    const segs = safeSegments(rel);
    const c = new URLSearchParams(query).get("c") ?? "";
    if (!segs || !/^(\d+(\.\d+)*)?$/.test(c)) return text(res, 404, "not found");
    const dir = join(root, ...segs);
    if (!(await inside(dir))) return text(res, 404, "not found");
    const coords = c === "" ? [] : c.split(".").map(Number);
    const bytes = await decodeChunk(source, dir, coords, inside);
    res.writeHead(200, {
      "content-type": "application/octet-stream",
      "content-length": String(bytes.length),
      "cache-control": "no-cache",
    });
    res.end(bytes);
  };

  const serveEvents = (res: ServerResponse) => {
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
    res.write(": hcs-store live\n\n");
    hub!.attach(res);
  };

  const serveViewerCount = (res: ServerResponse) => {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const stop = hub!.watch((n) => res.write(`data: ${n}\n\n`));
    res.on("close", stop);
  };

  const servePush = async (req: IncomingMessage, res: ServerResponse) => {
    const parts: Uint8Array[] = [];
    let n = 0;
    for await (const chunk of req as AsyncIterable<Uint8Array>) {
      n += chunk.length;
      if (n > maxPush) return text(res, 413, "frame too large");
      parts.push(chunk);
    }
    let frame: LiveFrame;
    try {
      const body = new TextDecoder().decode(concat(parts, n));
      frame = JSON.parse(body);
      if (typeof frame?.path !== "string" || !Array.isArray(frame.shape)) throw new Error();
    } catch {
      return text(res, 400, "bad frame");
    }
    hub!.publish(frame);
    res.writeHead(204).end();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "");
    if (host !== "127.0.0.1" && host !== "localhost" && host !== "[::1]") {
      return text(res, 403, "forbidden host");
    }
    const [raw = "/", query = ""] = (req.url ?? "/").split("?", 2);
    const method = req.method ?? "GET";
    // Browsers send Origin on cross-site requests: only our own page may talk to us.
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://127.0.0.1:${port}`) {
      return text(res, 403, "forbidden origin");
    }
    if (raw === "/live/push" && hub) {
      if (method !== "POST") return text(res, 405, "method not allowed");
      // application/json cannot be sent cross-site without a preflight (which we refuse).
      if (!/^application\/json\b/.test(req.headers["content-type"] ?? "")) {
        return text(res, 415, "frames are application/json");
      }
      return await servePush(req, res);
    }
    if (method !== "GET" && method !== "HEAD") return text(res, 405, "method not allowed");
    if (raw === "/" || raw === "/index.html") {
      return send(res, 200, "text/html; charset=utf-8", PAGE_HTML, method);
    }
    if (raw === "/viewer.js") return send(res, 200, "text/javascript", VIEWER_JS, method);
    if (raw === "/live/events" && hub) return serveEvents(res);
    if (raw === "/live/viewers" && hub) return serveViewerCount(res);
    if (raw.startsWith("/plate/")) return await servePlate(req, res, raw.slice(7));
    if (raw.startsWith("/decoded/")) return await serveDecoded(res, raw.slice(9), query);
    return text(res, 404, "not found");
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      const code = err instanceof StorageError ? err.code : "";
      const status = code === "ENOENT" || code === "EISDIR" || code === "ENOTDIR"
        ? 404
        : code === "EACCES" || code === "EPERM"
        ? 403
        : code === "EINVAL"
        ? 400
        : code === "ERR_LIMIT_EXCEEDED"
        ? 413
        : 500;
      if (!res.headersSent) text(res, status, status === 404 ? "not found" : String(err));
      else res.destroy();
    });
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    hub,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(body + "\n");
}

function send(res: ServerResponse, status: number, type: string, body: string, method: string) {
  const bytes = new TextEncoder().encode(body);
  res.writeHead(status, {
    "content-type": type,
    "content-length": String(bytes.length),
    "cache-control": "no-cache",
  });
  res.end(method === "HEAD" ? undefined : bytes);
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
