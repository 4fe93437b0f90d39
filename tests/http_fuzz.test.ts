// Property tests of the HTTP backend against real servers on 127.0.0.1:
// random hostile path strings never make it request anything but URLs under
// baseUrl on its one origin (a second origin must see nothing), and random
// malformed responses (bad status, truncation, wrong Content-Length, bad
// Content-Range, chunked or close-delimited bodies, slow bodies) end in the
// exact bytes or a typed StorageError, within a bounded time.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { posix } from "node:path";
import fc from "fast-check";
import { HttpBackend } from "../backends/http.ts";
import { StorageError } from "../errors.ts";

function listen(s: Server | NetServer): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      resolve(typeof a === "object" && a ? a.port : 0);
    });
  });
}

const seenMain: string[] = [];
const seenOther: string[] = [];
let main: Server;
let other: Server;
let mainBase = "";
let otherHost = "";

describe("http fuzz: random paths stay under baseUrl", () => {
  before(async () => {
    main = createServer((req, res) => {
      seenMain.push(req.url ?? "");
      const body = req.url === "/data/ok.txt" ? "ok" : "";
      res.writeHead(body ? 200 : 404, { "content-length": String(body.length) });
      res.end(body);
    });
    other = createServer((req, res) => {
      seenOther.push(req.url ?? "");
      res.writeHead(200, { "content-length": "5" });
      res.end("LEAK!");
    });
    mainBase = `http://127.0.0.1:${await listen(main)}`;
    otherHost = `127.0.0.1:${await listen(other)}`;
  });
  after(async () => {
    main.closeAllConnections?.();
    other.closeAllConnections?.();
    await new Promise((r) => main.close(() => r(undefined)));
    await new Promise((r) => other.close(() => r(undefined)));
  });

  it("every request is on the one origin, under /data/, even after naive decoding", {
    timeout: 60_000,
  }, async () => {
    const fragment = fc.oneof(
      fc.constantFrom(
        "..",
        ".",
        "/",
        "//",
        "\\",
        "%2e",
        "%2E%2e",
        "%2f",
        "%5c",
        "%00",
        "%",
        ":",
        "http:",
        "https:",
        "file:",
        "?",
        "#",
        "@",
        "\0",
        "\n",
        "\r",
        "\u007f",
        "ü",
        "\u202e",
        "\ud800",
        "😀",
        "ok.txt",
        "data",
      ),
      fc.constant(otherHost),
      fc.string({ maxLength: 4 }),
      fc.string({ unit: "binary", maxLength: 3 }),
    );
    const path = fc.tuple(
      fc.constantFrom("", "/", "//", "/data/", `${mainBase}/`, `${mainBase}/data/`, "http:/"),
      fc.array(fragment, { maxLength: 8 }),
    ).map(([prefix, parts]) => prefix + parts.join(""));
    const h = new HttpBackend({
      baseUrl: `${mainBase}/data/`,
      headers: { authorization: "Bearer secret" },
      retries: 0,
      timeoutMs: 5000,
    });
    await fc.assert(
      fc.asyncProperty(path, fc.constantFrom("load", "exists", "loadRange"), async (p, op) => {
        const before = seenMain.length;
        let result: unknown;
        try {
          if (op === "load") result = await h.load(p, { as: "bytes" });
          else if (op === "exists") result = await h.exists(p);
          else result = await h.loadRange(p, 0, 2);
        } catch (err) {
          assert.ok(err instanceof StorageError, `${JSON.stringify(p)}: ${String(err)}`);
        }
        if (result instanceof Uint8Array) {
          assert.equal(new TextDecoder().decode(result), "ok");
        }
        for (const url of seenMain.slice(before)) {
          assert.ok(url.startsWith("/data/"), `${JSON.stringify(p)} requested ${url}`);
          // a server that percent-decodes once and normalises stays inside too
          const decoded = decodeURIComponent(url.split("?")[0]!);
          assert.ok(!decoded.split("/").includes(".."), `${JSON.stringify(p)} → ${decoded}`);
          assert.ok(posix.normalize(decoded).startsWith("/data/"), decoded);
          assert.ok(!decoded.includes("\\"), decoded);
        }
        assert.equal(seenOther.length, 0, `${JSON.stringify(p)} reached the other origin`);
      }),
      { numRuns: 300 },
    );
  });
});

// --------------------------------------------------------------- responses

/** The "file" every fuzzed response is cut from. */
const FILE = Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff);

interface Spec {
  /** Status code sent (some are garbage). */
  status: number;
  /** Honest 206 for a range, or the whole file as a 200. */
  partial: boolean;
  /** Framing: Content-Length (possibly wrong), chunked, or close-delimited. */
  framing: "length" | "chunked" | "close";
  /** Added to the real length in Content-Length; "junk" sends a non-number. */
  lengthDelta: number | "junk";
  /** Content-Range variant for 206s. */
  range: "exact" | "star" | "shifted" | "short" | "long" | "junk" | "missing";
  /** Bytes of the honest body actually sent (truncation). */
  cut: number;
  /** Chunked: whether the final 0-chunk is sent. */
  terminated: boolean;
  /** Delay between 16-byte pieces, ms. */
  delayMs: number;
  /** For 3xx: where the Location header points. */
  location: "honest" | "other" | "missing" | "junk";
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** An honest server's answer at /fz/honest.bin: 206 to a range, 200 otherwise. */
function honestSpec(ranged: boolean): Spec {
  return {
    status: ranged ? 206 : 200,
    partial: true,
    framing: "length",
    lengthDelta: 0,
    range: "exact",
    cut: 1000,
    terminated: true,
    delayMs: 0,
    location: "missing",
  };
}

const specs = new Map<string, Spec>();
const sockets = new Set<Socket>();
let raw: NetServer;
let rawBase = "";

function serve(sock: Socket, spec: Spec, rangeHeader: string | undefined): void {
  const m = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader ?? "");
  const start = m ? Number(m[1]) : 0;
  const end = m ? Math.min(Number(m[2]), FILE.length - 1) : FILE.length - 1;
  const honest = spec.partial && m ? FILE.subarray(start, end + 1) : FILE;
  const body = honest.subarray(0, Math.min(spec.cut, honest.length));
  const headers = ["Connection: close"];
  if (REDIRECTS.has(spec.status) && spec.location !== "missing") {
    const to = {
      honest: "/fz/honest.bin",
      other: "http://127.0.0.1:9/fz/x.bin",
      junk: "http://[::1",
    };
    headers.push(`Location: ${to[spec.location]}`);
  }
  if (spec.framing === "length") {
    const cl = spec.lengthDelta === "junk" ? "12abc" : String(honest.length + spec.lengthDelta);
    headers.push(`Content-Length: ${cl}`);
  } else if (spec.framing === "chunked") headers.push("Transfer-Encoding: chunked");
  if (spec.partial && m) {
    const total = FILE.length;
    const cr = {
      exact: `bytes ${start}-${end}/${total}`,
      star: `bytes ${start}-${end}/*`,
      shifted: `bytes ${start + 1}-${end + 1}/${total}`,
      short: `bytes ${start}-${end - 1}/${total}`,
      long: `bytes ${start}-${end + 1}/${total}`,
      junk: `bytes=${start}-${end}`,
      missing: undefined,
    }[spec.range];
    if (cr !== undefined) headers.push(`Content-Range: ${cr}`);
  }
  sock.write(`HTTP/1.1 ${spec.status} X\r\n${headers.join("\r\n")}\r\n\r\n`);
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < body.length; i += 16) pieces.push(body.subarray(i, i + 16));
  const send = () => {
    if (sock.destroyed) return;
    const piece = pieces.shift();
    if (piece === undefined) {
      if (spec.framing === "chunked" && spec.terminated) sock.write("0\r\n\r\n");
      sock.end();
      return;
    }
    if (spec.framing === "chunked") {
      sock.write(`${piece.length.toString(16)}\r\n`);
      sock.write(piece);
      sock.write("\r\n");
    } else sock.write(piece);
    if (spec.delayMs > 0) setTimeout(send, spec.delayMs);
    else send();
  };
  send();
}

describe("http fuzz: random responses from a real server", () => {
  before(async () => {
    raw = createNetServer((sock) => {
      sockets.add(sock);
      sock.on("close", () => sockets.delete(sock));
      sock.on("error", () => {});
      let buf = "";
      sock.on("data", (d) => {
        if (buf.includes("\r\n\r\n")) return;
        buf += d.toString("latin1");
        if (!buf.includes("\r\n\r\n")) return;
        const path = buf.split(" ")[1] ?? "/";
        const range = /\r\nrange: *([^\r]*)/i.exec(buf)?.[1];
        const spec = path === "/fz/honest.bin" ? honestSpec(range !== undefined) : specs.get(path);
        if (!spec) sock.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        else serve(sock, spec, range);
      });
    });
    rawBase = `http://127.0.0.1:${await listen(raw)}`;
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => raw.close(() => r(undefined)));
  });

  it(
    "each outcome is the exact bytes or a typed error, in bounded time",
    { timeout: 60_000 },
    async () => {
      const spec: fc.Arbitrary<Spec> = fc.record({
        status: fc.constantFrom(
          200,
          200,
          206,
          206,
          204,
          299,
          301,
          302,
          307,
          304,
          404,
          416,
          500,
          0,
          99,
          600,
        ),
        location: fc.constantFrom("honest", "honest", "other", "missing", "junk"),
        partial: fc.boolean(),
        framing: fc.constantFrom("length", "chunked", "close"),
        lengthDelta: fc.oneof(
          fc.constant(0),
          fc.constant(0),
          fc.integer({ min: -20, max: 20 }),
          fc.constant("junk" as const),
        ),
        range: fc.constantFrom(
          "exact",
          "exact",
          "star",
          "shifted",
          "short",
          "long",
          "junk",
          "missing",
        ),
        cut: fc.oneof(fc.constant(1000), fc.integer({ min: 0, max: 70 })),
        terminated: fc.boolean(),
        delayMs: fc.constantFrom(0, 0, 0, 0, 0, 5, 5, 400),
      });
      const request = fc.oneof(
        fc.constant({ kind: "load" as const, offset: 0, length: 0 }),
        fc.record({
          kind: fc.constant("range" as const),
          offset: fc.integer({ min: 0, max: 70 }),
          length: fc.integer({ min: 1, max: 40 }),
        }),
      );
      const timeoutMs = 300;
      const h = new HttpBackend({ baseUrl: rawBase, retries: 0, timeoutMs, maxDecodedBytes: 1000 });
      let id = 0;
      const outcomes = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(spec, request, async (s, r) => {
          const path = `/fz/${id++}.bin`;
          specs.set(path, s);
          const t0 = Date.now();
          let got: Uint8Array | undefined;
          try {
            got = r.kind === "load"
              ? await h.load<Uint8Array>(path, { as: "bytes" })
              : await h.loadRange(path, r.offset, r.length);
          } catch (err) {
            assert.ok(err instanceof StorageError, `${JSON.stringify(s)}: ${String(err)}`);
            outcomes.set(err.code, (outcomes.get(err.code) ?? 0) + 1);
          } finally {
            specs.delete(path);
          }
          const ms = Date.now() - t0;
          assert.ok(ms < timeoutMs + 1500, `${ms} ms for ${JSON.stringify(s)}`);
          if (got === undefined) return;
          if (REDIRECTS.has(s.status)) {
            // only the same-origin redirect may succeed, with the honest target's bytes
            assert.equal(s.location, "honest", JSON.stringify(s));
            const want = r.kind === "range" ? FILE.slice(r.offset, r.offset + r.length) : FILE;
            assert.deepEqual(got, want, JSON.stringify(s));
            outcomes.set("redirected", (outcomes.get("redirected") ?? 0) + 1);
            return;
          }
          outcomes.set("ok", (outcomes.get("ok") ?? 0) + 1);
          if (r.kind === "range") {
            // a range read returns exactly the file's bytes there, whatever was sent
            assert.deepEqual(got, FILE.slice(r.offset, r.offset + r.length), JSON.stringify(s));
          } else {
            // a whole load returns a prefix of the file that the framing vouches for:
            // Content-Length n ≤ what was sent, or a complete chunked / close-delimited body
            assert.ok(s.status >= 200 && s.status <= 299, JSON.stringify(s));
            const sent = Math.min(s.cut, FILE.length);
            if (s.status === 204) {
              // 204 has no body by definition: an empty file, never bytes
              assert.equal(got.length, 0, JSON.stringify(s));
            } else if (s.framing === "length") {
              assert.notEqual(s.lengthDelta, "junk");
              assert.equal(got.length, FILE.length + (s.lengthDelta as number), JSON.stringify(s));
              assert.ok(got.length <= sent, JSON.stringify(s));
            } else {
              if (s.framing === "chunked") assert.ok(s.terminated, JSON.stringify(s));
              assert.equal(got.length, sent, JSON.stringify(s));
            }
            assert.deepEqual(got, FILE.slice(0, got.length));
          }
        }),
        { numRuns: 200 },
      );
      // the generator reaches both outcomes
      assert.ok((outcomes.get("ok") ?? 0) > 10, JSON.stringify([...outcomes]));
      assert.ok(outcomes.size > 3, JSON.stringify([...outcomes]));
      assert.ok((outcomes.get("redirected") ?? 0) > 0, JSON.stringify([...outcomes]));
      console.log(`outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    },
  );
});
