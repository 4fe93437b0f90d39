// Faults against the real gateway: radosgw SIGKILLed in the middle of a
// loadBatch and of a saveBatch, a 127.0.0.1 proxy answering 503 SlowDown
// with Retry-After, a proxy that cuts bodies short, a server that never
// answers, and a redirect to another origin (credentials must not follow).
import { it } from "node:test";
import assert from "node:assert/strict";
import { describePeer } from "./_peers.ts";
import { createServer, request, type Server } from "node:http";
import { LimitExceededError, StorageError } from "../errors.ts";
import { bucketName, type Gateway, gateway, s3Backend, s3Skip } from "./_s3.ts";

const gw = () => gateway as Gateway;

/** A proxy in front of the gateway; `hook` may answer a request itself. */
async function proxy(
  hook: (req: { method: string; url: string; n: number; headers: Record<string, unknown> }) =>
    | { status: number; headers: Record<string, string>; body: string }
    | "truncate"
    | "lose-response"
    | undefined,
): Promise<{ url: string; count: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server: Server = createServer((req, res) => {
    n++;
    const h = hook({ method: req.method ?? "GET", url: req.url ?? "/", n, headers: req.headers });
    if (h && typeof h === "object") {
      res.writeHead(h.status, { "content-length": String(h.body.length), ...h.headers });
      res.end(h.body);
      req.resume();
      return;
    }
    const up = request({
      host: "127.0.0.1",
      port: gw().port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    }, (ures) => {
      if (h === "lose-response") {
        // the gateway did the work; the client never hears about it
        ures.resume();
        ures.on("end", () => res.socket?.destroy());
        return;
      }
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      if (h === "truncate") {
        const chunks: Buffer[] = [];
        ures.on("data", (c: Buffer) => chunks.push(c));
        ures.on("end", () => {
          const all = Buffer.concat(chunks);
          res.write(all.subarray(0, Math.floor(all.length / 2)));
          res.socket?.destroy(); // the rest never comes
        });
      } else ures.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const a = server.address();
  const port = typeof a === "object" && a ? a.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    count: () => n,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}

const slowDown = {
  status: 503,
  headers: { "retry-after": "1", "content-type": "application/xml" },
  body: "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
};

describePeer(s3Skip)("s3 faults", () => {
  it("radosgw killed during a loadBatch: typed error, then works after restart", async () => {
    const b = `/${bucketName("kill-load")}`;
    const s3 = s3Backend();
    await s3.ensureDirectory(b);
    const paths = Array.from({ length: 60 }, (_, i) => `${b}/o${i}.bin`);
    const data = paths.map((_, i) => new Uint8Array(64 * 1024).fill(i));
    await s3.saveBatch(data, paths);
    let gets = 0;
    const killing = s3Backend({
      retries: 2,
      retryDelayMs: 20,
      concurrency: 4,
      fetch: async (input, init) => {
        const r = await fetch(input, init);
        if (init?.method === "GET" && ++gets === 10) gw().killGateway();
        return r;
      },
    });
    await assert.rejects(killing.loadBatch(paths, { as: "bytes" }), (e: unknown) => {
      assert.ok(e instanceof StorageError, String(e));
      assert.ok(e.operation === "loadBatch" && paths.includes(e.path), e.message);
      return true;
    });
    await gw().restart();
    const back = await s3Backend().loadBatch<Uint8Array>(paths, { as: "bytes" });
    assert.deepEqual(back.map((x) => x[0]), data.map((x) => x[0]));
    assert.ok(back.every((x) => x.length === 64 * 1024));
  });

  it("radosgw killed during a saveBatch: typed error, no partial batch left, next batch works", async () => {
    const b = `/${bucketName("kill-save")}`;
    const s3 = s3Backend();
    await s3.ensureDirectory(`${b}/w`);
    await s3.save("before", `${b}/w/existing.txt`);
    const paths = Array.from({ length: 80 }, (_, i) => `${b}/w/p${i}.bin`);
    const data = paths.map((_, i) => new Uint8Array(32 * 1024).fill(i));
    let puts = 0;
    let restarting: Promise<void> | undefined;
    const killing = s3Backend({
      retries: 1,
      retryDelayMs: 20,
      concurrency: 4,
      cleanupTimeoutMs: 90_000,
      fetch: async (input, init) => {
        const r = await fetch(input, init);
        if (init?.method === "PUT" && ++puts === 12) {
          gw().killGateway();
          // the gateway comes back while the batch is cleaning up after itself
          restarting = new Promise((ok) => setTimeout(ok, 300)).then(() => gw().restart());
        }
        return r;
      },
    });
    await assert.rejects(killing.saveBatch(data, paths), (e: unknown) => {
      assert.ok(e instanceof StorageError, String(e));
      assert.doesNotMatch(e.message, /could not be removed/, e.message);
      return true;
    });
    assert.ok(puts >= 12, `only ${puts} PUTs`);
    await restarting;
    assert.deepEqual(await s3.listDir(`${b}/w`), ["existing.txt"]);
    await s3.saveBatch(data, paths);
    assert.equal((await s3.listDir(`${b}/w`)).length, 81);
  });

  it("503 SlowDown with Retry-After is retried after the wait the server asked for", async () => {
    const b = `/${bucketName("slow")}`;
    await s3Backend().ensureDirectory(b);
    await s3Backend().save("ok", `${b}/x.txt`);
    const p = await proxy(({ n }) => (n === 1 ? slowDown : undefined));
    try {
      const s3 = s3Backend({ endpoint: p.url, retryDelayMs: 1, retries: 3 });
      const t0 = performance.now();
      assert.equal(await s3.load(`${b}/x.txt`), "ok");
      const ms = performance.now() - t0;
      assert.ok(ms >= 950, `retried after ${ms.toFixed(0)} ms, Retry-After asked for 1 s`);
      assert.equal(p.count(), 2);
    } finally {
      await p.close();
    }
  });

  it("503 SlowDown on every attempt → StorageError with the status after retries", async () => {
    const p = await proxy(() => ({
      ...slowDown,
      headers: { ...slowDown.headers, "retry-after": "0" },
    }));
    try {
      const s3 = s3Backend({ endpoint: p.url, retryDelayMs: 5, retries: 2 });
      await assert.rejects(s3.load("/some-bucket/x.txt"), (e: unknown) => {
        assert.ok(e instanceof StorageError);
        assert.equal(e.status, 503);
        assert.equal(e.code, "S3_SlowDown");
        assert.match(e.message, /after 3 attempts/);
        return true;
      });
      assert.equal(p.count(), 3);
    } finally {
      await p.close();
    }
  });

  it("a body cut short is retried, then a typed error: never short data", async () => {
    const b = `/${bucketName("cut")}`;
    await s3Backend().ensureDirectory(b);
    const full = new Uint8Array(300_000).fill(9);
    await s3Backend().save(full, `${b}/x.bin`);
    const p = await proxy(({ method }) => (method === "GET" ? "truncate" : undefined));
    try {
      const s3 = s3Backend({ endpoint: p.url, retryDelayMs: 5, retries: 2 });
      await assert.rejects(s3.load(`${b}/x.bin`, { as: "bytes" }), (e: unknown) => {
        assert.ok(e instanceof StorageError, String(e));
        assert.ok(["ERR_TRUNCATED", "ECONNRESET"].includes(e.code), e.code);
        return true;
      });
      assert.equal(p.count(), 3);
      await assert.rejects(s3.loadRange(`${b}/x.bin`, 0, 200_000), StorageError);
    } finally {
      await p.close();
    }
  });

  it("a create-only PUT whose answer was lost is retried without a false AlreadyExistsError", async () => {
    const b = `/${bucketName("lost")}`;
    await s3Backend().ensureDirectory(b);
    let lost = 0;
    const p = await proxy(({ method, headers }) => {
      if (method === "PUT" && headers["if-none-match"] === "*" && lost++ === 0) {
        return "lose-response";
      }
      return undefined;
    });
    try {
      const s3 = s3Backend({ endpoint: p.url, retryDelayMs: 5, retries: 2 });
      await s3.save("mine", `${b}/once.txt`);
      assert.equal(lost, 2, "the first PUT's answer was lost and the PUT was sent again");
      assert.equal(await s3.load(`${b}/once.txt`), "mine");
      // someone else's object is still refused after a lost answer
      lost = 0;
      await s3Backend().save("theirs", `${b}/taken.txt`);
      const s3b = s3Backend({ endpoint: p.url, retryDelayMs: 5, retries: 2 });
      const v = await s3b.saveIfVersion(new TextEncoder().encode("x"), `${b}/taken.txt`, null);
      assert.equal(v, false);
      assert.equal(await s3Backend().load(`${b}/taken.txt`), "theirs");
    } finally {
      await p.close();
    }
  });

  it("bodies without a Content-Length are bounded: objects by maxDecodedBytes, XML by a cap", async () => {
    const server: Server = createServer((req, res) => {
      req.resume();
      const listing = (req.url ?? "").includes("list-type=2");
      res.writeHead(200, { "content-type": "application/xml" }); // chunked: no Content-Length
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      let sent = 0;
      const total = listing ? 17 * 2 ** 20 : 8192;
      const pump = () => {
        while (sent < total) {
          sent += chunk.length;
          if (!res.write(chunk)) return res.once("drain", pump);
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const a = server.address();
    const endpoint = `http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}`;
    try {
      const s3 = s3Backend({ endpoint, maxDecodedBytes: 4096, retries: 0 });
      await assert.rejects(s3.load("/bucket/x.bin", { as: "bytes" }), LimitExceededError);
      await assert.rejects(s3.listDir("/bucket/d"), LimitExceededError);
    } finally {
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    }
  });

  it("a server that pages a listing forever is stopped at maxListEntries", async () => {
    let pages = 0;
    const server: Server = createServer((req, res) => {
      req.resume();
      pages++;
      const keys = Array.from(
        { length: 1000 },
        (_, i) => `<Contents><Key>d/k${pages}-${i}</Key><Size>1</Size></Contents>`,
      ).join("");
      const xml = `<ListBucketResult><EncodingType>url</EncodingType>${keys}` +
        `<IsTruncated>true</IsTruncated><NextContinuationToken>t${pages}</NextContinuationToken>` +
        `</ListBucketResult>`;
      res.writeHead(200, { "content-length": String(Buffer.byteLength(xml)) });
      res.end(xml);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const a = server.address();
    try {
      const s3 = s3Backend({
        endpoint: `http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}`,
        maxListEntries: 2500,
        retries: 0,
      });
      await assert.rejects(s3.listFiles("/bucket/d", { recursive: true }), LimitExceededError);
      assert.equal(pages, 3);
    } finally {
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    }
  });

  it("a server that never answers times out (typed ETIMEDOUT); a redirect is not followed", async () => {
    const hung: Server = createServer(() => {/* never answers */});
    let leaked = 0;
    const elsewhere: Server = createServer((req, res) => {
      leaked++;
      res.end();
      req.resume();
    });
    await Promise.all(
      [hung, elsewhere].map((s) => new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()))),
    );
    const port = (s: Server) => {
      const a = s.address();
      return typeof a === "object" && a ? a.port : 0;
    };
    const redirect = await proxy(() => ({
      status: 307,
      headers: { location: `http://127.0.0.1:${port(elsewhere)}/b/x.txt` },
      body: "",
    }));
    try {
      const s3 = s3Backend({
        endpoint: `http://127.0.0.1:${port(hung)}`,
        timeoutMs: 200,
        retries: 1,
      });
      await assert.rejects(s3.load("/bucket/x.txt"), (e: unknown) => {
        assert.ok(e instanceof StorageError);
        assert.equal(e.code, "ETIMEDOUT");
        return true;
      });
      await assert.rejects(
        s3Backend({ endpoint: redirect.url }).load("/bucket/x.txt"),
        (e: unknown) => e instanceof StorageError && e.status === 307,
      );
      assert.equal(leaked, 0, "a request followed the redirect to another origin");
    } finally {
      await redirect.close();
      hung.closeAllConnections?.();
      await new Promise((r) => hung.close(r));
      await new Promise((r) => elsewhere.close(r));
    }
  });
});
