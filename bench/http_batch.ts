/**
 * HTTP backend batch reads against a local server with a fixed per-request
 * latency (standing in for a remote object store): `loadBatch` at several
 * concurrency bounds vs a sequential `fetch` loop (the baseline) and vs an
 * unbounded `Promise.all` of raw fetches (the practical limit). Every
 * HttpBackend read is length-checked; the raw fetches are not.
 *
 * Run: deno run -A bench/http_batch.ts [--quick]   (or: bun bench/http_batch.ts)
 */
import { createServer } from "node:http";
import { HttpBackend } from "../backends/http.ts";

const quick = (globalThis as { process?: { argv: string[] } }).process?.argv.includes("--quick") ??
  false;
const FILES = quick ? 64 : 256;
const SIZE = 64 * 1024;
const LATENCY_MS = 5;

const body = new Uint8Array(SIZE).map((_, i) => (i * 31) & 0xff);
const server = createServer((_req, res) => {
  setTimeout(() => {
    res.writeHead(200, { "content-length": String(SIZE) });
    res.end(body);
  }, LATENCY_MS);
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
const addr = server.address();
const base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/`;
const paths = Array.from({ length: FILES }, (_, i) => `/f${i}.bin`);
const urls = paths.map((p) => base + p.slice(1));

async function best(fn: () => Promise<number>, runs = quick ? 2 : 3): Promise<number> {
  let min = Infinity;
  await fn(); // warm-up
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const bytes = await fn();
    const dt = performance.now() - t0;
    if (bytes !== FILES * SIZE) throw new Error(`read ${bytes} bytes, expected ${FILES * SIZE}`);
    min = Math.min(min, dt);
  }
  return min;
}

const sum = (xs: Uint8Array[]) => xs.reduce((a, b) => a + b.length, 0);

const rows: [string, number][] = [];
rows.push([
  "sequential fetch loop (baseline)",
  await best(async () => {
    let n = 0;
    for (const u of urls) n += (await (await fetch(u)).arrayBuffer()).byteLength;
    return n;
  }),
]);
for (const concurrency of [1, 8, 32]) {
  const h = new HttpBackend({ baseUrl: base, concurrency });
  rows.push([
    `HttpBackend.loadBatch concurrency ${concurrency}`,
    await best(async () => sum(await h.loadBatch<Uint8Array>(paths, { as: "bytes" }))),
  ]);
}
rows.push([
  "unbounded Promise.all(fetch) (limit)",
  await best(async () =>
    sum(
      await Promise.all(
        urls.map(async (u) => new Uint8Array(await (await fetch(u)).arrayBuffer())),
      ),
    )
  ),
]);
server.close();

const baseline = rows[0]![1];
console.log(
  `${FILES} files × ${SIZE / 1024} KiB, server latency ${LATENCY_MS} ms/request, best of runs`,
);
for (const [name, ms] of rows) {
  console.log(
    `${name.padEnd(40)} ${ms.toFixed(1).padStart(8)} ms   speed-up ×${(baseline / ms).toFixed(2)}`,
  );
}
