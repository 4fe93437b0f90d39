// The HTTP backend against real servers on 127.0.0.1 started here: a
// node:http file server (ranges, HEAD, auth, slow and flaky routes) and a raw
// node:net server for malformed responses (truncated bodies, wrong ranges).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { gzipSync } from "node:zlib";
import { HttpBackend } from "../backends/http.ts";
import {
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  PermissionDeniedError,
  StorageError,
} from "../errors.ts";
import { createRegistry } from "../registry/registry.ts";
import { naturalSort } from "../_internal/listing.ts";

const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v));

/** Deterministic pseudo-random bytes. */
function bytesOf(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const BIG = bytesOf(100_000, 7);
const files = new Map<string, Uint8Array>([
  ["/data/hello.txt", enc.encode("hello world")],
  ["/data/meta.json", json({ a: 1, b: [1, 2] })],
  ["/data/big.bin", BIG],
  ["/data/name with space.txt", enc.encode("spaced")],
  // a manifest at /m: files anywhere below, one empty dir
  [
    "/m/index.json",
    json({
      files: ["img10.txt", "img2.txt", "a.txt", "._junk.txt", "sub/b.json", "sub/deep/c.txt"],
      dirs: ["empty"],
    }),
  ],
  ["/m/a.txt", enc.encode("A")],
  ["/m/img2.txt", enc.encode("2")],
  ["/m/img10.txt", enc.encode("10")],
  ["/m/sub/b.json", json({ b: true })],
  ["/m/sub/deep/c.txt", enc.encode("C")],
  ["/bad/index.json", enc.encode("{ not json")],
  // "a" both a file and a directory; a duplicate (harmless)
  ["/conflict/index.json", json({ files: ["a", "a/b.txt"] })],
  ["/dup/index.json", json({ files: ["x.txt", "./x.txt", "d/"], dirs: ["d"] })],
]);

// A Zarr v3 OME plate (NGFF 0.5): plate → A → 1 → field 0 → resolution 0.
const zarr3: Record<string, unknown> = {
  "/z3/plate.zarr/zarr.json": {
    zarr_format: 3,
    node_type: "group",
    attributes: {
      ome: {
        version: "0.5",
        plate: {
          rows: [{ name: "A" }],
          columns: [{ name: "1" }, { name: "2" }],
          wells: [{ path: "A/1", rowIndex: 0, columnIndex: 0 }, {
            path: "A/2",
            rowIndex: 0,
            columnIndex: 1,
          }],
        },
      },
    },
  },
  "/z3/plate.zarr/A/zarr.json": { zarr_format: 3, node_type: "group", attributes: {} },
  "/z3/plate.zarr/A/1/zarr.json": {
    zarr_format: 3,
    node_type: "group",
    attributes: { ome: { version: "0.5", well: { images: [{ path: "0" }, { path: "1" }] } } },
  },
  "/z3/plate.zarr/A/2/zarr.json": {
    zarr_format: 3,
    node_type: "group",
    attributes: { ome: { version: "0.5", well: { images: [{ path: "0" }] } } },
  },
  "/z3/plate.zarr/A/1/0/zarr.json": {
    zarr_format: 3,
    node_type: "group",
    attributes: { ome: { version: "0.5", multiscales: [{ datasets: [{ path: "0" }] }] } },
  },
  "/z3/plate.zarr/A/1/0/0/zarr.json": {
    zarr_format: 3,
    node_type: "array",
    shape: [2, 2],
    data_type: "uint8",
  },
};
for (const [k, v] of Object.entries(zarr3)) files.set(k, json(v));
files.set("/z3/plate.zarr/A/1/0/0/c/0/0", new Uint8Array([1, 2, 3, 4]));

// A Zarr v2 hierarchy with consolidated metadata.
files.set("/z2/.zgroup", json({ zarr_format: 2 }));
files.set("/z2/.zattrs", json({}));
files.set(
  "/z2/.zmetadata",
  json({
    zarr_consolidated_format: 1,
    metadata: {
      ".zgroup": { zarr_format: 2 },
      "grp/.zgroup": { zarr_format: 2 },
      "grp/arr/.zarray": { zarr_format: 2, shape: [4] },
      "grp/arr/.zattrs": {},
    },
  }),
);
files.set("/z2/grp/.zgroup", json({ zarr_format: 2 }));
files.set("/z2/grp/arr/.zarray", json({ zarr_format: 2, shape: [4] }));
files.set("/z2/grp/arr/.zattrs", json({}));
files.set("/z2/grp/arr/0", new Uint8Array([9, 9, 9, 9]));

interface Log {
  method: string;
  url: string;
  range?: string;
}

let server: Server;
let raw: NetServer;
let base = "";
let rawBase = "";
const log: Log[] = [];
const flakyCount = new Map<string, number>();
/** Called when a /slow/ request reaches the server. */
let onSlow: (() => void) | undefined;
let inFlight = 0;
let maxInFlight = 0;
const sockets = new Set<Socket>();

function send(req: IncomingMessage, res: ServerResponse, body: Uint8Array): void {
  const range = /^bytes=(\d+)-(\d+)?$/.exec(req.headers.range ?? "");
  if (range && !req.url?.startsWith("/norange/")) {
    const start = Number(range[1]);
    const end = Math.min(
      range[2] !== undefined ? Number(range[2]) : body.length - 1,
      body.length - 1,
    );
    if (start >= body.length) {
      res.writeHead(416, { "content-range": `bytes */${body.length}` });
      res.end();
      return;
    }
    const part = body.subarray(start, end + 1);
    res.writeHead(206, {
      "content-range": `bytes ${start}-${end}/${body.length}`,
      "content-length": String(part.length),
    });
    res.end(req.method === "HEAD" ? undefined : part);
    return;
  }
  res.writeHead(200, { "content-length": String(body.length) });
  res.end(req.method === "HEAD" ? undefined : body);
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://x");
  const path = decodeURIComponent(url.pathname);
  const entry: Log = { method: req.method ?? "GET", url: path };
  if (req.headers.range) entry.range = req.headers.range;
  log.push(entry);
  inFlight++;
  maxInFlight = Math.max(maxInFlight, inFlight);
  res.on("close", () => inFlight--);
  const notFound = () => {
    res.writeHead(404, { "content-length": "0" });
    res.end();
  };
  if (path.startsWith("/slow/")) {
    onSlow?.();
    const t = setTimeout(() => send(req, res, enc.encode("late")), 5000);
    res.on("close", () => clearTimeout(t));
    return;
  }
  if (path.startsWith("/delay/")) {
    // /delay/<ms>/<n>.txt answers "<n>" after <ms>
    const [, , ms, name] = path.split("/");
    setTimeout(() => send(req, res, enc.encode(name!.replace(/\.txt$/, ""))), Number(ms));
    return;
  }
  if (path.startsWith("/flaky/")) {
    // /flaky/<n>/...: the first <n> requests for this path answer 503
    const n = Number(path.split("/")[2]);
    const seen = flakyCount.get(path) ?? 0;
    flakyCount.set(path, seen + 1);
    if (seen < n) {
      res.writeHead(503, { "content-length": "0" });
      res.end();
      return;
    }
    send(req, res, enc.encode(`ok after ${seen}`));
    return;
  }
  if (path.startsWith("/status/")) {
    const status = Number(path.split("/")[2]);
    res.writeHead(status, { "content-length": "0" });
    res.end();
    return;
  }
  if (path.startsWith("/auth/")) {
    if (req.headers.authorization !== "Bearer good") {
      res.writeHead(401, { "content-length": "0" });
      res.end();
      return;
    }
    send(req, res, enc.encode("secret"));
    return;
  }
  if (path === "/gz/hello.txt") {
    // compressed on the wire: Content-Length counts gzip bytes, not the text
    const gz = gzipSync(Buffer.from("hello ".repeat(500)));
    res.writeHead(200, { "content-encoding": "gzip", "content-length": String(gz.length) });
    res.end(req.method === "HEAD" ? undefined : gz);
    return;
  }
  if (path === "/nohead/x.txt") {
    if (req.method === "HEAD") {
      res.writeHead(405, { "content-length": "0" });
      res.end();
      return;
    }
    send(req, res, enc.encode("x"));
    return;
  }
  const p = path.startsWith("/norange/") ? path.slice("/norange".length) : path;
  const body = files.get(p);
  if (!body) return notFound();
  send(req, res, body);
}

// Raw responses: /trunc (Content-Length 100, 50 bytes, close), /shortrange
// (206 claiming 100 bytes of range but carrying 50 with a matching
// Content-Length), /trunc206 (206 with Content-Length 100 and 40 bytes).
function handleRaw(sock: Socket): void {
  sockets.add(sock);
  sock.on("close", () => sockets.delete(sock));
  let buf = "";
  sock.on("data", (d) => {
    buf += d.toString("latin1");
    if (!buf.includes("\r\n\r\n")) return;
    const path = buf.split(" ")[1] ?? "/";
    log.push({ method: "RAW", url: path });
    const body = Buffer.from(bytesOf(100, 3));
    if (path === "/trunc") {
      sock.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n");
      sock.write(body.subarray(0, 50));
      sock.end();
    } else if (path === "/shortrange") {
      sock.write(
        "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-49/100\r\n" +
          "Content-Length: 50\r\nConnection: close\r\n\r\n",
      );
      sock.end(body.subarray(0, 50));
    } else if (path === "/trunc206") {
      sock.write(
        "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-99/100\r\n" +
          "Content-Length: 100\r\nConnection: close\r\n\r\n",
      );
      sock.write(body.subarray(0, 40));
      sock.end();
    } else {
      sock.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
  });
  sock.on("error", () => {});
}

function listen(s: Server | NetServer): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      resolve(typeof a === "object" && a ? a.port : 0);
    });
  });
}

before(async () => {
  server = createServer(handle);
  raw = createNetServer(handleRaw);
  base = `http://127.0.0.1:${await listen(server)}`;
  rawBase = `http://127.0.0.1:${await listen(raw)}`;
});

after(async () => {
  for (const s of sockets) s.destroy();
  server.closeAllConnections?.();
  await new Promise((r) => server.close(() => r(undefined)));
  await new Promise((r) => raw.close(() => r(undefined)));
});

const fast = { retryDelayMs: 5, timeoutMs: 5000 };
const requestsFor = (prefix: string) => log.filter((l) => l.url.startsWith(prefix)).length;

async function rejectsWith<E extends StorageError>(
  p: Promise<unknown>,
  cls: new (...args: never[]) => E,
  check?: (e: E) => void,
): Promise<E> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    check?.(err as E);
    return err as E;
  }
  assert.fail(`expected ${cls.name}, but it resolved`);
}

describe("http backend: reads", () => {
  it("loads and decodes by extension, relative to baseUrl", async () => {
    const h = new HttpBackend({ baseUrl: `${base}/data`, ...fast });
    assert.equal(h.key, "http");
    assert.equal(h.requiresFilesystemValidation, false);
    assert.equal(await h.load("/hello.txt"), "hello world");
    assert.deepEqual(await h.load("meta.json"), { a: 1, b: [1, 2] });
    assert.equal(await h.load("/name with space.txt"), "spaced");
    const b = await h.load<Uint8Array>("/big.bin", { as: "bytes" });
    assert.deepEqual(b, BIG);
  });

  it("loads absolute URLs without a baseUrl and refuses relative ones", async () => {
    const h = new HttpBackend(fast);
    assert.equal(await h.load(`${base}/data/hello.txt`), "hello world");
    await rejectsWith(h.load("/data/hello.txt"), StorageError, (e) => {
      assert.equal(e.code, "EINVAL");
    });
  });

  it("loadBatch keeps request order and bounds concurrency", async () => {
    const h = new HttpBackend({ baseUrl: base, concurrency: 3, ...fast });
    // later paths answer faster, so completion order differs from request order
    const paths = Array.from({ length: 12 }, (_, i) => `/delay/${(12 - i) * 15}/${i}.txt`);
    maxInFlight = 0;
    const got = await h.loadBatch<string>(paths);
    assert.deepEqual(got, paths.map((_, i) => String(i)));
    assert.ok(maxInFlight <= 3, `max in flight ${maxInFlight}`);
    assert.ok(maxInFlight >= 2, `batch should run requests concurrently (saw ${maxInFlight})`);
  });

  it("loadBatch fails with the first error", async () => {
    const h = new HttpBackend({ baseUrl: base, ...fast });
    await rejectsWith(
      h.loadBatch(["/data/hello.txt", "/data/missing.txt", "/data/meta.json"]),
      NotFoundError,
      (e) => assert.equal(e.path, "/data/missing.txt"),
    );
  });

  it("loadBatch throws the first failure in time, not an abort it caused", async () => {
    const h = new HttpBackend({ baseUrl: base, concurrency: 2, ...fast });
    // the slow first request is aborted by the fast 404 of the second
    await rejectsWith(
      h.loadBatch(["/delay/2000/0.txt", "/data/missing.txt"]),
      NotFoundError,
      (e) => assert.equal(e.path, "/data/missing.txt"),
    );
  });

  it("range reads: 206 slices, 200 full bodies are sliced, past EOF is an error", async () => {
    const h = new HttpBackend({ baseUrl: base, ...fast });
    const before = log.length;
    assert.deepEqual(await h.loadRange("/data/big.bin", 1000, 64), BIG.slice(1000, 1064));
    assert.equal(log[before]?.range, "bytes=1000-1063");
    assert.deepEqual(await h.loadRange("/data/big.bin", 99_990, 10), BIG.slice(99_990));
    assert.deepEqual(await h.loadRange("/norange/data/big.bin", 5, 7), BIG.slice(5, 12));
    assert.deepEqual(await h.loadRange("/data/big.bin", 3, 0), new Uint8Array(0));
    // file ends before offset + length: never short data
    await rejectsWith(h.loadRange("/data/big.bin", 99_990, 20), StorageError, (e) => {
      assert.equal(e.code, "ERR_TRUNCATED");
    });
    await rejectsWith(h.loadRange("/norange/data/big.bin", 99_990, 20), StorageError);
    await rejectsWith(h.loadRange("/data/big.bin", 200_000, 4), StorageError, (e) => {
      assert.equal(e.status, 416);
    });
    await rejectsWith(h.loadRange("/data/nope.bin", 0, 4), NotFoundError);
    await assert.rejects(h.loadRange("/data/big.bin", -1, 4), RangeError);
  });
});

describe("http backend: statuses and retries", () => {
  it("404 → NotFoundError, 401/403 → PermissionDeniedError, not retried", async () => {
    const h = new HttpBackend({ baseUrl: base, retries: 3, ...fast });
    const n0 = requestsFor("/data/none.txt");
    await rejectsWith(h.load("/data/none.txt"), NotFoundError, (e) => {
      assert.equal(e.status, 404);
      assert.match(e.message, /^load '\/data\/none\.txt': /);
    });
    assert.equal(requestsFor("/data/none.txt") - n0, 1);
    await rejectsWith(h.load("/auth/x.txt"), PermissionDeniedError, (e) => {
      assert.equal(e.status, 401);
    });
    await rejectsWith(h.load("/status/403/x.txt"), PermissionDeniedError, (e) => {
      assert.equal(e.status, 403);
    });
    const n1 = requestsFor("/status/400/");
    await rejectsWith(
      h.load("/status/400/x.txt"),
      StorageError,
      (e) => assert.equal(e.status, 400),
    );
    assert.equal(requestsFor("/status/400/") - n1, 1);
  });

  it("injectable headers (static or per request) authenticate", async () => {
    const a = new HttpBackend({
      baseUrl: base,
      headers: { authorization: "Bearer good" },
      ...fast,
    });
    assert.equal(await a.load("/auth/s.txt"), "secret");
    let calls = 0;
    const b = new HttpBackend({
      baseUrl: base,
      headers: () => {
        calls++;
        return new Headers({ authorization: "Bearer good" });
      },
      ...fast,
    });
    assert.equal(await b.load("/auth/s.txt"), "secret");
    assert.equal(calls, 1);
  });

  it("injectable fetch sees every request", async () => {
    const seen: string[] = [];
    const h = new HttpBackend({
      baseUrl: base,
      fetch: (input, init) => {
        seen.push(String(input));
        return fetch(input, init);
      },
      ...fast,
    });
    assert.equal(await h.load("/data/hello.txt"), "hello world");
    assert.deepEqual(seen, [`${base}/data/hello.txt`]);
  });

  it("intermittent 503s are retried until success", async () => {
    const h = new HttpBackend({ baseUrl: base, retries: 3, ...fast });
    assert.equal(await h.load("/flaky/2/a.txt"), "ok after 2");
    assert.equal(flakyCount.get("/flaky/2/a.txt"), 3);
  });

  it("bounded retries fail with the status and the attempt count", async () => {
    const h = new HttpBackend({ baseUrl: base, retries: 2, ...fast });
    await rejectsWith(h.load("/flaky/10/b.txt"), StorageError, (e) => {
      assert.equal(e.status, 503);
      assert.match(e.message, /HTTP 503.*after 3 attempts/);
    });
    assert.equal(flakyCount.get("/flaky/10/b.txt"), 3);
    const none = new HttpBackend({ baseUrl: base, retries: 0, ...fast });
    await rejectsWith(none.load("/status/500/c.txt"), StorageError, (e) => {
      assert.equal(e.status, 500);
    });
  });

  it("network errors are StorageErrors after bounded retries", async () => {
    // a port that was just closed: connection refused
    const s = createNetServer();
    const port = await listen(s);
    await new Promise((r) => s.close(() => r(undefined)));
    const h = new HttpBackend({ baseUrl: `http://127.0.0.1:${port}`, retries: 1, ...fast });
    await rejectsWith(h.load("/a.txt"), StorageError, (e) => {
      assert.equal(e.status, undefined);
      assert.match(e.message, /network error.*after 2 attempts/);
    });
  });
});

describe("http backend: timeouts, aborts, truncation", () => {
  it("a slow server times out (each attempt), then fails", async () => {
    const h = new HttpBackend({ baseUrl: base, timeoutMs: 400, retries: 1, retryDelayMs: 5 });
    const n0 = requestsFor("/slow/");
    const t0 = Date.now();
    await rejectsWith(h.load("/slow/a.txt"), StorageError, (e) => {
      assert.equal(e.code, "ETIMEDOUT");
    });
    assert.ok(Date.now() - t0 < 3500, "gave up long before the server answered");
    assert.equal(requestsFor("/slow/") - n0, 2);
  });

  it("a per-call signal aborts, without retrying", async () => {
    const h = new HttpBackend({ baseUrl: base, retries: 3, ...fast });
    const ctl = new AbortController();
    const n0 = requestsFor("/slow/");
    onSlow = () => ctl.abort(); // abort once the request is in flight
    try {
      await rejectsWith(h.load("/slow/b.txt", { signal: ctl.signal }), StorageError, (e) => {
        assert.equal(e.code, "ABORT_ERR");
      });
    } finally {
      onSlow = undefined;
    }
    assert.equal(requestsFor("/slow/") - n0, 1);
    // already aborted: no request at all
    await rejectsWith(h.load("/data/hello.txt", { signal: ctl.signal }), StorageError, (e) => {
      assert.equal(e.code, "ABORT_ERR");
    });
  });

  it("a backend-wide signal aborts every call, batches included", async () => {
    const ctl = new AbortController();
    const h = new HttpBackend({ baseUrl: base, signal: ctl.signal, ...fast });
    setTimeout(() => ctl.abort(new Error("shutdown")), 100);
    await rejectsWith(h.loadBatch(["/slow/c.txt", "/slow/d.txt"]), StorageError, (e) => {
      assert.equal(e.code, "ABORT_ERR");
    });
    await rejectsWith(h.exists("/data/hello.txt"), StorageError, (e) => {
      assert.equal(e.code, "ABORT_ERR");
    });
  });

  it("a body shorter than Content-Length is an error, never short data", async () => {
    const h = new HttpBackend({ baseUrl: rawBase, retries: 1, ...fast });
    const n0 = requestsFor("/trunc");
    await rejectsWith(h.load("/trunc", { as: "bytes" }), StorageError, (e) => {
      assert.ok(!(e instanceof NotFoundError));
    });
    assert.equal(requestsFor("/trunc") - n0, 2, "truncation is retried once, then fails");
    await rejectsWith(h.loadRange("/trunc206", 0, 100), StorageError);
  });

  it("the length check is the backend's own, whatever the runtime's fetch does", async () => {
    // a fetch that hands back a body shorter than its Content-Length without failing
    let calls = 0;
    const h = new HttpBackend({
      baseUrl: base,
      retries: 1,
      ...fast,
      fetch: async (input, init) => {
        calls++;
        const r = await fetch(input, init);
        const full = new Uint8Array(await r.arrayBuffer());
        return new Response(full.slice(0, full.length - 1), {
          status: r.status,
          headers: { "content-length": String(full.length) },
        });
      },
    });
    await rejectsWith(h.load("/data/big.bin", { as: "bytes" }), StorageError, (e) => {
      assert.equal(e.code, "ERR_TRUNCATED");
      assert.match(e.message, /99999 of 100000 bytes/);
    });
    assert.equal(calls, 2);
  });

  it("compressed transfer (Content-Encoding: gzip) is not mistaken for truncation", async () => {
    const h = new HttpBackend({ baseUrl: base, ...fast });
    assert.equal(await h.load("/gz/hello.txt"), "hello ".repeat(500));
  });

  it("a range response shorter than the requested range is an error", async () => {
    const h = new HttpBackend({ baseUrl: rawBase, retries: 0, ...fast });
    await rejectsWith(h.loadRange("/shortrange", 0, 100), StorageError, (e) => {
      assert.equal(e.code, "ERR_TRUNCATED");
      assert.match(e.message, /50 of 100 bytes|range 0-49/);
    });
  });
});

describe("http backend: listings", () => {
  it("manifest: listDir, listFiles (BFS, natural order, filters), exists/isFile/isDir", async () => {
    const h = new HttpBackend({ baseUrl: base, ...fast });
    assert.deepEqual(
      await h.listDir("/m"),
      naturalSort(["a.txt", "empty", "img10.txt", "img2.txt", "sub", "._junk.txt"]),
    );
    assert.deepEqual(await h.listDir("/m/sub"), ["b.json", "deep"]);
    assert.deepEqual(await h.listFiles("/m"), ["/m/a.txt", "/m/img2.txt", "/m/img10.txt"]);
    assert.deepEqual(await h.listFiles("/m", { recursive: true }), [
      "/m/a.txt",
      "/m/img2.txt",
      "/m/img10.txt",
      "/m/sub/b.json",
      "/m/sub/deep/c.txt",
    ]);
    assert.deepEqual(await h.listFiles("/m", { recursive: true, extensions: ["JSON"] }), [
      "/m/sub/b.json",
    ]);
    assert.deepEqual(await h.listFiles("/m", { pattern: "img*" }), ["/m/img2.txt", "/m/img10.txt"]);
    assert.deepEqual(await h.listFiles("/m/empty"), []);
    assert.equal(await h.isDir("/m/sub/deep"), true);
    assert.equal(await h.isFile("/m/sub/deep/c.txt"), true);
    assert.equal(await h.exists("/m/empty"), true);
    assert.equal(await h.exists("/m/nope.txt"), false);
    await rejectsWith(h.isFile("/m/sub"), IsADirectoryError);
    await rejectsWith(h.isDir("/m/a.txt"), NotADirectoryError);
    await rejectsWith(h.isFile("/m/missing.txt"), NotFoundError);
    await rejectsWith(h.listDir("/m/a.txt"), NotADirectoryError);
    await rejectsWith(h.listDir("/m/missing"), NotFoundError);
    // the manifest's answers come from one cached request
    assert.ok(log.filter((l) => l.url === "/m/index.json").length <= 2);
  });

  it("listDir on a manifest dir lists entries in natural order", async () => {
    const h = new HttpBackend({ baseUrl: `${base}/m`, ...fast });
    assert.deepEqual(
      await h.listDir("/"),
      naturalSort(["._junk.txt", "a.txt", "empty", "img2.txt", "img10.txt", "sub"]),
    );
    assert.equal(
      (await h.listDir("/")).indexOf("img2.txt") + 1,
      (await h.listDir("/")).indexOf("img10.txt"),
    );
  });

  it("a custom manifest name and an invalid manifest", async () => {
    const h = new HttpBackend({ baseUrl: base, ...fast });
    await rejectsWith(h.listDir("/bad"), StorageError, (e) => {
      assert.equal(e.code, "ERR_CORRUPT_DATA");
    });
    const other = new HttpBackend({ baseUrl: base, manifest: "files.json", ...fast });
    await rejectsWith(other.listDir("/m"), NotFoundError);
  });

  it("a manifest naming a path as both a file and a directory is corrupt", async () => {
    const h = new HttpBackend({ baseUrl: base, ...fast });
    for (const op of [h.listDir("/conflict"), h.isFile("/conflict/a")]) {
      await rejectsWith(op, StorageError, (e) => {
        assert.equal(e.code, "ERR_CORRUPT_DATA");
        assert.match(e.message, /'a' is both a file and a directory/);
      });
    }
    // duplicates and a directory named twice are harmless
    assert.deepEqual(await h.listDir("/dup"), ["d", "x.txt"]);
    assert.equal(await h.isFile("/dup/x.txt"), true);
  });

  it("Zarr v3 hierarchy: children from OME plate/well/multiscales metadata", async () => {
    const h = new HttpBackend({ baseUrl: `${base}/z3`, ...fast });
    assert.deepEqual(await h.listDir("/plate.zarr"), ["A", "zarr.json"]);
    assert.deepEqual(await h.listDir("/plate.zarr/A"), ["1", "2", "zarr.json"]);
    assert.deepEqual(await h.listDir("/plate.zarr/A/1"), ["0", "1", "zarr.json"]);
    assert.deepEqual(await h.listFiles("/plate.zarr", { recursive: true }), [
      "/plate.zarr/zarr.json",
      "/plate.zarr/A/zarr.json",
      "/plate.zarr/A/1/zarr.json",
      "/plate.zarr/A/2/zarr.json",
      "/plate.zarr/A/1/0/zarr.json",
      "/plate.zarr/A/1/0/0/zarr.json",
    ]);
    assert.equal(await h.isDir("/plate.zarr/A/1/0/0"), true);
    assert.equal(await h.isFile("/plate.zarr/A/1/0/0/c/0/0"), true);
    await rejectsWith(h.isFile("/plate.zarr/A/1"), IsADirectoryError);
    assert.equal(await h.exists("/plate.zarr/B"), false);
    assert.deepEqual(
      await h.load("/plate.zarr/A/1/0/0/c/0/0", { as: "bytes" }),
      new Uint8Array([1, 2, 3, 4]),
    );
  });

  it("Zarr v2 hierarchy: children and files from consolidated .zmetadata", async () => {
    const h = new HttpBackend({ baseUrl: base, ...fast });
    assert.deepEqual(await h.listDir("/z2"), [".zattrs", ".zgroup", ".zmetadata", "grp"]);
    assert.deepEqual(await h.listFiles("/z2/grp", { recursive: true }), [
      "/z2/grp/.zgroup",
      "/z2/grp/arr/.zarray",
      "/z2/grp/arr/.zattrs",
    ]);
    assert.equal(await h.isDir("/z2/grp/arr"), true);
    assert.equal(await h.isFile("/z2/grp/arr/0"), true);
  });

  it("without manifest or Zarr metadata: HEAD decides files; listings are NotFound", async () => {
    const h = new HttpBackend({ baseUrl: base, ...fast });
    assert.equal(await h.isFile("/data/hello.txt"), true);
    assert.equal(await h.exists("/data/missing.txt"), false);
    await rejectsWith(h.listDir("/data"), NotFoundError);
    await rejectsWith(h.listDir("/data/hello.txt"), NotADirectoryError);
    // a server that refuses HEAD: one-byte GET instead
    assert.equal(await h.isFile("/nohead/x.txt"), true);
  });
});

describe("http backend: registry", () => {
  it("is a built-in entry, supported here", async () => {
    const reg = createRegistry();
    assert.ok(reg.availableKeys().includes("http"));
    const h = await reg.getBackend<HttpBackend>("HTTP");
    assert.ok(h instanceof HttpBackend);
    assert.equal(await h.load(`${base}/data/hello.txt`), "hello world");
  });
});
