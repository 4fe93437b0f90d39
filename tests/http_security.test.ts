// The HTTP backend as an attacker's target, against real servers on
// 127.0.0.1: hostile paths must never reach another URL than one under
// baseUrl, redirects never leave the origin (nor carry headers there),
// bodies never pass the maxDecodedBytes budget or come back short, and
// 1.5 GiB bombs fail fast with bounded memory in a child process.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import * as nodePath from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { HttpBackend } from "../backends/http.ts";
import {
  LimitExceededError,
  NotFoundError,
  PermissionDeniedError,
  StorageError,
} from "../errors.ts";

const enc = new TextEncoder();
const GZ_BOMB = gzipSync(new Uint8Array(10 * 2 ** 20));

interface Seen {
  url: string;
  headers: IncomingMessage["headers"];
}

/** A node:http server on 127.0.0.1 that records every request. */
class Recorder {
  seen: Seen[] = [];
  base = "";
  readonly server: Server;
  constructor(handler: (req: IncomingMessage, res: ServerResponse) => void) {
    this.server = createServer((req, res) => {
      this.seen.push({ url: req.url ?? "", headers: req.headers });
      handler(req, res);
    });
  }
  async start(): Promise<void> {
    this.base = `http://127.0.0.1:${await listen(this.server)}`;
  }
  stop(): Promise<void> {
    this.server.closeAllConnections?.();
    return new Promise((r) => this.server.close(() => r()));
  }
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

function reply(res: ServerResponse, status: number, body = "", headers = {}): void {
  res.writeHead(status, { "content-length": String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

/** Redirect targets, by index; functions because the ports are known only later. */
const locations: (() => string)[] = [];

// Server A holds the data under /data/ and a secret outside it; B is
// another origin that must never be asked anything.
const other = new Recorder((_req, res) => reply(res, 200, "OTHER ORIGIN"));
const main = new Recorder((req, res) => {
  const url = req.url ?? "/";
  if (url === "/data/hello.txt") return reply(res, 200, "hello");
  if (url === "/data/gzip-bomb.bin") {
    // ~10 KiB on the wire, 10 MiB once the runtime's fetch inflates it
    res.writeHead(200, { "content-encoding": "gzip", "content-length": String(GZ_BOMB.length) });
    return void res.end(GZ_BOMB);
  }
  if (url === "/secret" || url === "/data-secret") return reply(res, 200, "SECRET");
  const m = /^\/data\/redir\/(\d{3})\/(\d+)\.txt$/.exec(url);
  if (m) {
    // /data/redir/<status>/<i>: redirect to the i-th Location of `locations`
    return reply(res, Number(m[1]), "", { location: locations[Number(m[2])]!() });
  }
  const chain = /^\/data\/chain\/(\d+)\.txt$/.exec(url);
  if (chain) {
    // /data/chain/<n>: n redirects in all, then the file
    const n = Number(chain[1]);
    const location = n <= 1 ? "/data/hello.txt" : `/data/chain/${n - 1}.txt`;
    return reply(res, 302, "", { location });
  }
  reply(res, 404);
});

// Raw responses for the body checks: /raw/<name>.
let raw: NetServer;
let rawBase = "";
const rawSockets = new Set<Socket>();
const rawEvents: string[] = [];
const BODY = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
const bodyPart = (a: number, b: number) => new Uint8Array(BODY.subarray(a, b));
const ranges = [
  "bytes 10-19/100",
  "bytes 10-19/*",
  "none", // no Content-Range at all
  "bytes=10-19/100", // not the header's syntax
  "bytes 0-9/100", // another range
  "bytes 10-19/15", // past the total it claims
  "bytes 19-10/100", // backwards
  "bytes 10-29/100", // more than asked (and than sent)
  "garbage",
];

function handleRaw(sock: Socket): void {
  rawSockets.add(sock);
  sock.on("close", () => rawSockets.delete(sock));
  sock.on("error", () => {});
  let buf = "";
  sock.on("data", (d) => {
    if (buf.includes("\r\n\r\n")) return;
    buf += d.toString("latin1");
    if (!buf.includes("\r\n\r\n")) return;
    const path = buf.split(" ")[1] ?? "/";
    const head = (status: string, headers: string[]) =>
      sock.write(`HTTP/1.1 ${status}\r\n${[...headers, "Connection: close"].join("\r\n")}\r\n\r\n`);
    if (path === "/raw/declared-over") {
      // declares 1 MB, sends nothing for a while: the client must not wait for it
      head("200 OK", ["Content-Length: 1000000"]);
      const t = setTimeout(() => sock.end(Buffer.alloc(1_000_000)), 3000);
      sock.on("close", () => {
        clearTimeout(t);
        rawEvents.push("declared-over closed");
      });
    } else if (path === "/raw/chunked-endless") {
      // 100-byte chunks every 10 ms, never ending
      head("200 OK", ["Transfer-Encoding: chunked"]);
      let sent = 0;
      const t = setInterval(() => {
        sent += 100;
        sock.write(`64\r\n${"x".repeat(100)}\r\n`);
      }, 10);
      sock.on("close", () => {
        clearInterval(t);
        rawEvents.push(`chunked-endless closed after ${sent}`);
      });
    } else if (path === "/raw/200-endless") {
      // a server that ignores Range and streams forever
      head("200 OK", ["Transfer-Encoding: chunked"]);
      sock.write(`${BODY.length.toString(16)}\r\n`);
      sock.write(BODY);
      sock.write("\r\n");
      const t = setInterval(() => sock.write("3e8\r\n" + "y".repeat(1000) + "\r\n"), 5);
      sock.on("close", () => clearInterval(t));
    } else if (path.startsWith("/raw/206/")) {
      // /raw/206/<i>: 10 bytes (10..19) with the i-th Content-Range of `ranges`
      const cr = ranges[Number(path.slice("/raw/206/".length))] ?? "none";
      const headers = ["Content-Length: 10"];
      if (cr !== "none") headers.push(`Content-Range: ${cr}`);
      head("206 Partial Content", headers);
      sock.end(BODY.subarray(10, 20));
    } else if (path === "/raw/slow-body") {
      // headers and 10 bytes, then silence
      head("200 OK", ["Content-Length: 100"]);
      sock.write(BODY.subarray(0, 10));
    } else if (path === "/raw/stall") {
      // accepts, never answers
    } else {
      head("404 Not Found", ["Content-Length: 0"]);
      sock.end();
    }
  });
}

before(async () => {
  await main.start();
  await other.start();
  raw = createNetServer(handleRaw);
  rawBase = `http://127.0.0.1:${await listen(raw)}`;
});

after(async () => {
  for (const s of rawSockets) s.destroy();
  await main.stop();
  await other.stop();
  await new Promise((r) => raw.close(() => r(undefined)));
});

const fast = { retries: 0, timeoutMs: 5000 };
const secretHeaders = { authorization: "Bearer top-secret", "x-api-key": "k-123" };

async function outcome(p: Promise<unknown>): Promise<unknown> {
  try {
    return await p;
  } catch (err) {
    return err;
  }
}

async function rejectsWith<E extends StorageError>(
  p: Promise<unknown>,
  cls: new (...args: never[]) => E,
  check?: (e: E) => void,
): Promise<E> {
  const r = await outcome(p);
  assert.ok(r instanceof cls, `expected ${cls.name}, got ${r instanceof Error ? r.stack : r}`);
  check?.(r as E);
  return r as E;
}

describe("http security: URL confinement", () => {
  it("scheme-like first segments stay under baseUrl (no local file, no other host)", async () => {
    const h = new HttpBackend({ baseUrl: `${main.base}/data/`, headers: secretHeaders, ...fast });
    const n0 = main.seen.length;
    const hostile = [
      "/file:/etc/hostname",
      "file:/etc/hostname",
      "/file:///etc/hostname",
      "/http:/secret",
      `/http:/${other.base.slice("http://".length)}/x`,
      `/https:/${other.base.slice("http://".length)}/x`,
      `//${other.base.slice("http://".length)}/x`,
      "/javascript:alert(1)",
      "/data:text/plain,SECRET",
    ];
    for (const p of hostile) {
      const r = await outcome(h.load(p, { as: "bytes" }));
      assert.ok(r instanceof StorageError, `${p}: expected a StorageError, got ${String(r)}`);
      assert.ok(r instanceof NotFoundError, `${p}: the server under /data/ answers 404: ${r}`);
      const u = new URL(h.url(p));
      assert.equal(u.origin, main.base, p);
      assert.ok(u.pathname.startsWith("/data/"), `${p} → ${u.href}`);
    }
    const seen = main.seen.slice(n0);
    assert.equal(seen.length, hostile.length);
    for (const s of seen) assert.ok(s.url.startsWith("/data/"), s.url);
    assert.equal(other.seen.length, 0, "the other origin got no request");
  });

  it("dot segments, encoded dots/slashes, backslashes, NUL and controls", async () => {
    const h = new HttpBackend({ baseUrl: `${main.base}/data/`, headers: secretHeaders, ...fast });
    const n0 = main.seen.length;
    // refused before any request
    for (
      const p of [
        "/../secret",
        "../secret",
        "a/../../secret",
        "/a/b/../../../data-secret",
        "/..\\secret",
        "\\..\\..\\secret",
        "/a\0b",
        "/a\nb",
        "/a\rHost: x",
        "/a\u007fb",
        "/\ud800",
        `${main.base}/secret`,
        `${main.base}/data/../secret`,
        `${main.base}/data/%2e%2e/secret`,
        `${main.base}/data/%2E%2e%2fsecret`,
        `${main.base}/data/a%5c..%5c..%5csecret`,
        `${other.base}/data/x`,
        `${main.base.replace("http:", "https:")}/data/x`,
      ]
    ) {
      const r = await outcome(h.load(p));
      assert.ok(r instanceof StorageError, `${JSON.stringify(p)}: got ${String(r)}`);
      assert.ok(!(r instanceof NotFoundError), `${JSON.stringify(p)} must not reach a server`);
    }
    assert.equal(main.seen.length, n0, "no request for refused paths");
    // names that only look dangerous are sent as literal names under /data/
    for (const p of ["/%2e%2e/secret", "/..%2fsecret", "/%2F%2Fhost/x", "/a?b#c", "/ünï/ö.txt"]) {
      await rejectsWith(h.load(p), NotFoundError);
    }
    const seen = main.seen.slice(n0);
    assert.equal(seen.length, 5);
    for (const s of seen) assert.ok(s.url.startsWith("/data/"), s.url);
    assert.deepEqual(seen.map((s) => decodeURIComponent(s.url)), [
      "/data/%2e%2e/secret",
      "/data/..%2fsecret",
      "/data/%2F%2Fhost/x",
      "/data/a?b#c",
      "/data/ünï/ö.txt",
    ]);
    // a path that climbs and comes back down stays inside
    assert.equal(await h.load("/x/../hello.txt"), "hello");
    assert.equal(other.seen.length, 0);
  });

  it("listings and existence tests of hostile paths stay under baseUrl", async () => {
    const h = new HttpBackend({ baseUrl: `${main.base}/data/`, headers: secretHeaders, ...fast });
    const n0 = main.seen.length;
    const p = `/http:/${other.base.slice("http://".length)}/x`;
    assert.equal(await h.exists(p), false);
    await rejectsWith(h.listDir(p), NotFoundError);
    await rejectsWith(h.loadRange(p, 0, 4), NotFoundError);
    await rejectsWith(h.loadBatch(["/hello.txt", p]), NotFoundError);
    await rejectsWith(h.isDir("/../secret"), PermissionDeniedError);
    for (const s of main.seen.slice(n0)) assert.ok(s.url.startsWith("/data/"), s.url);
    assert.equal(other.seen.length, 0);
  });

  it("without baseUrl only http(s) URLs are read", async () => {
    const h = new HttpBackend(fast);
    assert.equal(await h.load(`${main.base}/data/hello.txt`), "hello");
    for (const p of ["file:///etc/hostname", "/etc/hostname", "data:text/plain,x"]) {
      await rejectsWith(h.load(p), StorageError);
    }
    assert.throws(() => new HttpBackend({ baseUrl: "file:///etc/" }), TypeError);
  });
});

describe("http security: redirects", () => {
  /** The path (under /data/) of a redirect with `status` to `target` (`B/…`: the other origin). */
  const rel = (status: number, target: string) => {
    locations.push(() => target.startsWith("B/") ? `${other.base}/${target.slice(2)}` : target);
    return `/redir/${status}/${locations.length - 1}.txt`;
  };

  it("same-origin redirects under baseUrl are followed (301, 302, 303, 307, 308)", async () => {
    const h = new HttpBackend({ baseUrl: `${main.base}/data/`, headers: secretHeaders, ...fast });
    for (const status of [301, 302, 303, 307, 308]) {
      assert.equal(await h.load(rel(status, "/data/hello.txt")), "hello");
    }
    assert.equal(await h.load(rel(302, "../../hello.txt")), "hello"); // relative Location
    const n0 = main.seen.length;
    assert.equal(await h.load("/chain/5.txt"), "hello"); // 5 hops: the default cap
    // same origin: every hop carries the configured headers
    const hops = main.seen.slice(n0);
    assert.equal(hops.length, 6);
    for (const hop of hops) {
      assert.equal(hop.headers.authorization, "Bearer top-secret");
      assert.equal(hop.headers["x-api-key"], "k-123");
    }
  });

  it("a redirect to another origin is refused; headers never go there", async () => {
    const h = new HttpBackend({ baseUrl: `${main.base}/data/`, headers: secretHeaders, ...fast });
    await rejectsWith(h.load(rel(302, "B/x")), PermissionDeniedError, (e) => {
      assert.equal(e.status, 302);
      assert.match(e.message, /another origin/);
    });
    for (const status of [301, 303, 307, 308]) {
      await rejectsWith(h.load(rel(status, "B/y")), PermissionDeniedError);
    }
    // protocol-relative and scheme-changing Locations are other origins too
    await rejectsWith(h.load(rel(302, `//${other.base.slice(7)}/z`)), PermissionDeniedError);
    await rejectsWith(h.load(rel(302, "file:///etc/hostname")), PermissionDeniedError);
    // without baseUrl the scope is the origin of the URL asked for
    const noBase = new HttpBackend({ headers: secretHeaders, ...fast });
    await rejectsWith(noBase.load(`${main.base}/data${rel(307, "B/x")}`), PermissionDeniedError);
    assert.equal(other.seen.length, 0, "the other origin got no request at all");
  });

  it("a same-origin redirect outside baseUrl is refused", async () => {
    const h = new HttpBackend({ baseUrl: `${main.base}/data/`, headers: secretHeaders, ...fast });
    const n0 = main.seen.length;
    await rejectsWith(h.load(rel(302, "/secret")), PermissionDeniedError);
    await rejectsWith(h.load(rel(302, "/data/%2e%2e/secret")), PermissionDeniedError);
    await rejectsWith(h.load(rel(302, "/data-secret")), PermissionDeniedError);
    assert.ok(main.seen.slice(n0).every((s) => s.url.startsWith("/data/")));
  });

  it("hops are capped; redirects: 'none' follows none", async () => {
    const h = new HttpBackend({ baseUrl: `${main.base}/data/`, ...fast });
    const n0 = main.seen.length;
    await rejectsWith(h.load("/chain/6.txt"), StorageError, (e) => {
      assert.equal(e.code, "ERR_REDIRECT");
      assert.match(e.message, /more than 5 redirects/);
    });
    assert.equal(main.seen.length - n0, 6);
    const two = new HttpBackend({ baseUrl: `${main.base}/data/`, maxRedirects: 2, ...fast });
    assert.equal(await two.load("/chain/2.txt"), "hello");
    await rejectsWith(
      two.load("/chain/3.txt"),
      StorageError,
      (e) => assert.equal(e.code, "ERR_REDIRECT"),
    );
    const none = new HttpBackend({ baseUrl: `${main.base}/data/`, redirects: "none", ...fast });
    const n1 = main.seen.length;
    await rejectsWith(none.load(rel(302, "/data/hello.txt")), StorageError, (e) => {
      assert.equal(e.code, "ERR_REDIRECT");
      assert.equal(e.status, 302);
    });
    assert.equal(main.seen.length - n1, 1, "no second request");
    assert.throws(
      () => new HttpBackend({ redirects: "any" as unknown as "none" }),
      TypeError,
    );
  });
});

describe("http security: bodies", () => {
  it("a declared Content-Length over the budget fails before the body is read", async () => {
    const h = new HttpBackend({ baseUrl: rawBase, maxDecodedBytes: 1000, ...fast });
    const t0 = Date.now();
    await rejectsWith(h.load("/raw/declared-over", { as: "bytes" }), LimitExceededError, (e) => {
      assert.equal(e.code, "ERR_LIMIT_EXCEEDED");
      assert.match(e.message, /maxDecodedBytes budget of 1000/);
    });
    assert.ok(Date.now() - t0 < 2000, "did not wait for the body");
  });

  it("a chunked body is aborted as soon as it passes the budget", async () => {
    const h = new HttpBackend({ baseUrl: rawBase, maxDecodedBytes: 1000, ...fast });
    const t0 = Date.now();
    await rejectsWith(h.load("/raw/chunked-endless", { as: "bytes" }), LimitExceededError);
    const ms = Date.now() - t0;
    assert.ok(ms < 2000, `${ms} ms`);
    // the connection is dropped: the server stops sending shortly after 1000 bytes
    for (let i = 0; i < 100 && !rawEvents.some((e) => e.startsWith("chunked-endless")); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const ev = rawEvents.find((e) => e.startsWith("chunked-endless"));
    assert.ok(ev, "the server saw the connection close");
    assert.ok(Number(ev.split(" ").pop()) < 5000, ev);
  });

  it("a compressed body is bounded by its inflated size, not its Content-Length", async () => {
    const h = new HttpBackend({ baseUrl: `${main.base}/data/`, maxDecodedBytes: 2 ** 20, ...fast });
    await rejectsWith(h.load("/gzip-bomb.bin", { as: "bytes" }), LimitExceededError);
    const roomy = new HttpBackend({ baseUrl: `${main.base}/data/`, ...fast });
    const all = await roomy.load<Uint8Array>("/gzip-bomb.bin", { as: "bytes" });
    assert.equal(all.length, 10 * 2 ** 20);
  });

  it("budgets per call (load, loadBatch, loadRange) and validation", async () => {
    const h = new HttpBackend({ baseUrl: `${main.base}/data/`, ...fast });
    assert.equal(await h.load("/hello.txt"), "hello");
    await rejectsWith(h.load("/hello.txt", { maxDecodedBytes: 4 }), LimitExceededError);
    await rejectsWith(h.loadBatch(["/hello.txt"], { maxDecodedBytes: 4 }), LimitExceededError);
    const n0 = main.seen.length;
    await rejectsWith(h.loadRange("/hello.txt", 0, 5, { maxDecodedBytes: 4 }), LimitExceededError);
    assert.equal(main.seen.length, n0, "an over-budget range is refused before any request");
    assert.deepEqual(
      await h.loadRange("/hello.txt", 1, 3, { maxDecodedBytes: 4 }),
      enc.encode("ell"),
    );
    const small = new HttpBackend({ baseUrl: `${main.base}/data/`, maxDecodedBytes: 4, ...fast });
    await rejectsWith(small.load("/hello.txt"), LimitExceededError);
    assert.equal(await small.load("/hello.txt", { maxDecodedBytes: 5 }), "hello");
    assert.throws(() => new HttpBackend({ maxDecodedBytes: -1 }), RangeError);
  });

  it("a body longer than its Content-Length is an error, never cut silently", async () => {
    const h = new HttpBackend({
      baseUrl: `${main.base}/data/`,
      ...fast,
      fetch: () =>
        Promise.resolve(
          new Response(new Uint8Array(20), { status: 200, headers: { "content-length": "10" } }),
        ),
    });
    await rejectsWith(h.load("/x.bin", { as: "bytes" }), StorageError, (e) => {
      assert.equal(e.code, "ERR_CORRUPT_DATA");
      assert.match(e.message, /longer than its Content-Length/);
    });
  });

  it("a 206 whose Content-Range does not match the request is refused", async () => {
    const h = new HttpBackend({ baseUrl: rawBase, ...fast });
    const at = (cr: string) => `/raw/206/${ranges.indexOf(cr)}`;
    assert.deepEqual(await h.loadRange(at("bytes 10-19/100"), 10, 10), bodyPart(10, 20));
    assert.deepEqual(await h.loadRange(at("bytes 10-19/*"), 10, 10), bodyPart(10, 20));
    for (const cr of ranges.slice(2)) {
      await rejectsWith(h.loadRange(at(cr), 10, 10), StorageError, (e) => {
        assert.ok(!(e instanceof NotFoundError));
        assert.match(e.code, /ERR_CORRUPT_DATA|ERR_TRUNCATED/, cr);
      });
    }
  });

  it("a 200 to a range read is read only up to the range", async () => {
    const h = new HttpBackend({ baseUrl: rawBase, maxDecodedBytes: 1000, ...fast });
    const t0 = Date.now();
    assert.deepEqual(await h.loadRange("/raw/200-endless", 20, 30), bodyPart(20, 50));
    assert.ok(Date.now() - t0 < 2000);
  });
});

describe("http security: headers", () => {
  it("a failing headers callback is a typed error, and no request is sent", async () => {
    const h = new HttpBackend({
      baseUrl: `${main.base}/data/`,
      headers: () => Promise.reject(new Error("token refresh failed")),
      ...fast,
    });
    const n0 = main.seen.length;
    await rejectsWith(h.load("/hello.txt"), StorageError, (e) => {
      assert.match(e.message, /token refresh failed/);
    });
    assert.equal(main.seen.length, n0);
  });
});

describe("http security: timeouts and signals on every request", () => {
  it("a body that stalls times out; a stalled server times out", async () => {
    const h = new HttpBackend({ baseUrl: rawBase, retries: 0, timeoutMs: 300 });
    for (const p of ["/raw/slow-body", "/raw/stall"]) {
      const t0 = Date.now();
      await rejectsWith(h.load(p, { as: "bytes" }), StorageError, (e) => {
        assert.equal(e.code, "ETIMEDOUT");
      });
      assert.ok(Date.now() - t0 < 2000);
    }
    await rejectsWith(
      h.exists("/raw/stall"),
      StorageError,
      (e) => assert.equal(e.code, "ETIMEDOUT"),
    );
    await rejectsWith(h.loadRange("/raw/slow-body", 0, 50), StorageError, (e) => {
      assert.equal(e.code, "ETIMEDOUT");
    });
  });

  it("a per-call signal aborts exists, isFile, isDir, listDir, listFiles, loadRange", async () => {
    const h = new HttpBackend({ baseUrl: rawBase, retries: 0, timeoutMs: 0 });
    const calls: [string, (s: AbortSignal) => Promise<unknown>][] = [
      ["exists", (signal) => h.exists("/raw/stall", { signal })],
      ["isFile", (signal) => h.isFile("/raw/stall", { signal })],
      ["isDir", (signal) => h.isDir("/raw/stall", { signal })],
      ["listDir", (signal) => h.listDir("/raw/stall", { signal })],
      ["listFiles", (signal) => h.listFiles("/raw/stall", { signal })],
      ["loadRange", (signal) => h.loadRange("/raw/slow-body", 0, 50, { signal })],
      ["load", (signal) => h.load("/raw/slow-body", { signal })],
    ];
    for (const [name, call] of calls) {
      const ctl = new AbortController();
      setTimeout(() => ctl.abort(), 100);
      const t0 = Date.now();
      await rejectsWith(
        call(ctl.signal),
        StorageError,
        (e) => assert.equal(e.code, "ABORT_ERR", name),
      );
      assert.ok(Date.now() - t0 < 2000, name);
    }
  });
});

// ------------------------------------------------------------------- bombs

const repo = nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), "..");
const client = nodePath.join(repo, "tests", "fixtures", "http_bomb_client.ts");
const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
const GiB = 2 ** 30;

interface Measured {
  ok: boolean;
  name?: string;
  code?: string;
  ms: number;
  peakKiB: number;
}

function runClient(url: string, budget?: number): Promise<Measured> {
  const extra = budget === undefined ? [] : [String(budget)];
  const args = isDeno ? ["run", "-A", client, url, ...extra] : [client, url, ...extra];
  const child = spawn(process.execPath, args, { cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
  const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(guard);
      const line = out.trim().split("\n").pop() ?? "";
      try {
        resolve(JSON.parse(line) as Measured);
      } catch {
        reject(new Error(`client exited ${code}: ${out}\n${err}`));
      }
    });
  });
}

describe("http security: 1.5 GiB bombs in a child process", () => {
  let bomb: Server;
  let bombBase = "";
  const chunk = Buffer.alloc(1 << 20, 7);
  before(async () => {
    bomb = createServer((req, res) => {
      const total = 1.5 * GiB;
      res.writeHead(200, req.url === "/declared" ? { "content-length": String(total) } : {});
      let sent = 0;
      let closed = false;
      res.on("close", () => (closed = true));
      const pump = () => {
        while (!closed && sent < total) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        if (!closed) res.end();
      };
      pump();
    });
    bombBase = `http://127.0.0.1:${await listen(bomb)}`;
  });
  after(async () => {
    bomb.closeAllConnections?.();
    await new Promise((r) => bomb.close(() => r(undefined)));
  });

  it("declared 1.5 GiB, default 1 GiB budget: typed error < 2 s, peak RSS < 300 MB", async () => {
    const m = await runClient(`${bombBase}/declared`);
    console.log(
      `declared 1.5 GiB body: ${m.name} in ${m.ms.toFixed(0)} ms, peak RSS ${
        (m.peakKiB / 1024).toFixed(0)
      } MiB`,
    );
    assert.equal(m.ok, false);
    assert.equal(m.code, "ERR_LIMIT_EXCEEDED");
    assert.ok(m.ms < 2000, `${m.ms} ms`);
    assert.ok(m.peakKiB > 0 && m.peakKiB < 300 * 1024, `${m.peakKiB} KiB`);
  });

  it("chunked 1.5 GiB, 64 MiB budget: typed error < 2 s, peak RSS < 300 MB", async () => {
    // the default 1 GiB budget would itself hold 1 GiB, so this case uses 64 MiB
    const m = await runClient(`${bombBase}/chunked`, 64 * 2 ** 20);
    console.log(
      `chunked 1.5 GiB body (64 MiB budget): ${m.name} in ${m.ms.toFixed(0)} ms, peak RSS ${
        (m.peakKiB / 1024).toFixed(0)
      } MiB`,
    );
    assert.equal(m.ok, false);
    assert.equal(m.code, "ERR_LIMIT_EXCEEDED");
    assert.ok(m.ms < 2000, `${m.ms} ms`);
    assert.ok(m.peakKiB > 0 && m.peakKiB < 300 * 1024, `${m.peakKiB} KiB`);
  });
});
