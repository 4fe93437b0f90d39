/**
 * The viewer page in a real browser: Debian's Chromium, headless, driven by
 * puppeteer-core (never a downloaded browser). On generated plates it checks
 * that wells render at their grid positions (pixels of a screenshot), that
 * thumbnails come from the lowest level only, that the field view fetches
 * the right level and only the visible chunks, that channel toggles change
 * the picture, the pixel value under the cursor, the NGFF 0.4 layout, and
 * that 50 planes streamed from another process appear in the live view in
 * bounded time. Screenshots go to /tmp/viewer-shots/.
 */
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { decode as decodePng } from "fast-png";
import type { Browser, Page } from "puppeteer-core";
import { DiskBackend } from "../backends/disk.ts";
import { MemoryBackend } from "../backends/memory.ts";
import { ZarrBackend } from "../backends/zarr.ts";
import type { NdArray } from "../backends/base.ts";
import { startViewer, type ViewerServer } from "../viewer/server.ts";
import { LiveHub } from "../viewer/live.ts";
import { saveMultiscaleImage } from "../zarr/image.ts";
import { commandMissing, describePeer, peerSkip } from "./_peers.ts";

const CHROMIUM = "/usr/bin/chromium";
const skip = peerSkip("chromium", commandMissing(CHROMIUM));
const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const SHOTS = "/tmp/viewer-shots";
const N = 1024; // field size: levels 1024, 512, 256
const TILE = 256;

/** Channel plane: a ramp in x (0..4000) or zeros. */
function plane(on: boolean): NdArray {
  const data = new Uint16Array(N * N);
  if (on) {
    for (let i = 0; i < data.length; i++) data[i] = Math.floor(((i % N) / N) * 4000) + (i % 3);
  }
  return { data, shape: [N, N], stride: [N, 1] };
}
const WELLS: [string, string, boolean, boolean][] = [
  ["A", "01", true, false], // red
  ["B", "03", false, true], // green
  ["C", "02", true, true], // yellow
];

async function writePlate(root: string, ngff: "0.5" | "0.4"): Promise<void> {
  // 0.5 with zlib (decoded in the page), 0.4 with zstd (decoded by the server).
  const z = new ZarrBackend({
    store: new DiskBackend(),
    ngff,
    compression: ngff === "0.5" ? "zlib" : "zstd",
  });
  for (const [row, column, r, g] of WELLS) {
    await z.saveBatch([plane(r), plane(g)], [
      join(root, `${row}${column}_w1.tif`),
      join(root, `${row}${column}_w2.tif`),
    ], {
      row,
      column,
      axes: [{ name: "c", type: "channel", values: ["red", "green"] }],
      coordinates: [[0], [1]],
      levels: "auto",
      channels: [{ color: "FF0000" }, { color: "00FF00" }],
    });
  }
}

/** Rewrites C02's level 0 (0.5) with raw 256×256 chunks, so visibility decides what is fetched. */
function retile(root: string): void {
  const dir = join(root, "C", "02", "0", "0");
  const meta = JSON.parse(readFileSync(join(dir, "zarr.json"), "utf8"));
  meta.chunk_grid.configuration.chunk_shape = [1, TILE, TILE];
  meta.codecs = [{ name: "bytes", configuration: { endian: "little" } }];
  rmSync(join(dir, "c"), { recursive: true });
  writeFileSync(join(dir, "zarr.json"), JSON.stringify(meta));
  for (let c = 0; c < 2; c++) {
    const p = plane(true).data as Uint16Array;
    for (let by = 0; by < N / TILE; by++) {
      for (let bx = 0; bx < N / TILE; bx++) {
        const t = new Uint16Array(TILE * TILE);
        for (let y = 0; y < TILE; y++) {
          t.set(
            p.subarray((by * TILE + y) * N + bx * TILE, (by * TILE + y) * N + bx * TILE + TILE),
            y * TILE,
          );
        }
        mkdirSync(join(dir, "c", String(c), String(by)), { recursive: true });
        writeFileSync(join(dir, "c", String(c), String(by), String(bx)), new Uint8Array(t.buffer));
      }
    }
  }
}

let tmp = "";
let server: ViewerServer;
let server04: ViewerServer;
let browser: Browser;
let page: Page;
const requests: string[] = [];
const hosts = new Set<string>();

async function shot(
  name: string,
): Promise<{ px: (x: number, y: number) => [number, number, number] }> {
  const buf = await page.screenshot({ path: join(SHOTS, `${name}.png`) as `${string}.png` });
  const img = decodePng(new Uint8Array(buf));
  const ch = img.channels;
  return {
    px: (x, y) => {
      const o = (Math.round(y) * img.width + Math.round(x)) * ch;
      return [Number(img.data[o]), Number(img.data[o + 1]), Number(img.data[o + 2])];
    },
  };
}

function chunkRequests(since = 0): string[] {
  return requests.slice(since).filter((u) =>
    /\/c\/\d+\/\d+\/\d+$/.test(u) || /\/\d+\/\d+\/\d+$/.test(u)
  );
}

describePeer(skip)("viewer in Chromium", () => {
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "hcs-browser-"));
    mkdirSync(SHOTS, { recursive: true });
    for (const v of ["0.5", "0.4"] as const) {
      mkdirSync(join(tmp, `p${v}`));
      await writePlate(join(tmp, `p${v}`), v);
    }
    retile(join(tmp, "p0.5"));
    server = await startViewer({
      source: new DiskBackend(),
      root: join(tmp, "p0.5"),
      live: new LiveHub(),
    });
    server04 = await startViewer({
      source: new DiskBackend(),
      root: join(tmp, "p0.4"),
      live: false,
    });
    const { default: puppeteer } = await import("puppeteer-core");
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${mkdtempSync(join(tmp, "chrome-"))}`,
      ],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1000, height: 700, deviceScaleFactor: 1 });
    page.on("request", (r) => {
      const u = new URL(r.url());
      requests.push(u.pathname + u.search);
      hosts.add(u.host);
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await server04?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("plate grid: wells at their row/column, coloured by their channels; lowest level only", async () => {
    await page.goto(server.url);
    await page.waitForSelector("body[data-plate-ready='1']", { timeout: 30_000 });
    const grid = await page.$eval("#grid", (e) => {
      const r = e.getBoundingClientRect();
      return { x: r.left, y: r.top };
    });
    const s = await shot("plate");
    // Layout constants of the page: 24 px label column, 20 px header row, 96 px cells, 4 px gaps.
    const at = (i: number, j: number) =>
      s.px(grid.x + 28 + j * 100 + 80, grid.y + 24 + i * 100 + 48);
    const rows = ["A", "B", "C"];
    const cols = ["01", "02", "03"];
    for (const [i, r] of rows.entries()) {
      for (const [j, c] of cols.entries()) {
        const [R, G, B] = at(i, j);
        const well = WELLS.find(([wr, wc]) => wr === r && wc === c);
        const what = `${r}${c} rgb(${R},${G},${B})`;
        if (!well) assert.ok(R < 40 && G < 40 && B < 40, `empty ${what}`);
        else {
          assert.equal(R > 120, well[2], `red of ${what}`);
          assert.equal(G > 120, well[3], `green of ${what}`);
          assert.ok(B < 40, `blue of ${what}`);
        }
      }
    }
    const chunks = chunkRequests();
    assert.equal(chunks.length, 6, chunks.join("\n")); // 3 wells × 2 channels
    assert.ok(chunks.every((u) => /\/0\/2\/c\/[01]\/0\/0$/.test(u)), chunks.join("\n"));
  });

  it("field view: the fit zoom reads level 1; a channel toggle; zoom in reads only visible level-0 chunks", async () => {
    let mark = requests.length;
    await page.click("#cell-2-1"); // C02
    await page.waitForSelector("#view[data-level='1']", { timeout: 30_000 });
    let s = await shot("field-fit");
    const box = await page.$eval("#view", (e) => {
      const r = e.getBoundingClientRect();
      return { x: r.left, y: r.top };
    });
    let [R, G] = s.px(box.x + 400, box.y + 256);
    assert.ok(R > 120 && G > 120, `yellow at fit: ${R},${G}`);
    assert.deepEqual(chunkRequests(mark).sort(), [
      "/plate/C/02/0/1/c/0/0/0",
      "/plate/C/02/0/1/c/1/0/0",
    ]);

    mark = requests.length;
    const drawn = () => page.$eval("body", (b) => Number(b.dataset.drawn));
    let before = await drawn();
    await page.click(".ch-toggle[data-channel='1']");
    await page.waitForFunction((n) => Number(document.body.dataset.drawn) > n, {}, before);
    s = await shot("field-red-only");
    [R, G] = s.px(box.x + 400, box.y + 256);
    assert.ok(R > 120 && G < 40, `red only after toggling green off: ${R},${G}`);
    assert.deepEqual(chunkRequests(mark), []); // cached

    mark = requests.length;
    before = await drawn();
    await page.click("#zoom-in");
    await page.waitForSelector("#view[data-level='0']", { timeout: 30_000 });
    await page.waitForFunction((n) => Number(document.body.dataset.drawn) > n, {}, before);
    await shot("field-zoom");
    // The centre 512×512 of 1024×1024 at 256-px tiles: tiles (1..2, 1..2) of channel 0 only.
    assert.deepEqual(chunkRequests(mark).sort(), [
      "/plate/C/02/0/0/c/0/1/1",
      "/plate/C/02/0/0/c/0/1/2",
      "/plate/C/02/0/0/c/0/2/1",
      "/plate/C/02/0/0/c/0/2/2",
    ]);

    // Pixel value under the cursor: canvas centre = image (512, 512) at zoom 1.
    await page.mouse.move(box.x + 256 + 0.5, box.y + 256 + 0.5);
    const text = await page.$eval("#pixel", (e) => e.textContent ?? "");
    const want = plane(true).data[512 * N + 512];
    assert.equal(text, `x 512, y 512 (level 0): red ${want}`);
    await shot("field-pixel");
  });

  it("NGFF 0.4 (OpenHCS layout) zstd plates render the same grid, chunks decoded by the server", async () => {
    const mark = requests.length;
    await page.goto(server04.url);
    await page.waitForSelector("body[data-plate-ready='1']", { timeout: 30_000 });
    const grid = await page.$eval("#grid", (e) => {
      const r = e.getBoundingClientRect();
      return { x: r.left, y: r.top };
    });
    const s = await shot("plate-ngff04");
    const [R, G] = s.px(grid.x + 28 + 2 * 100 + 80, grid.y + 24 + 1 * 100 + 48); // B03
    assert.ok(G > 120 && R < 40, `B03 green: ${R},${G}`);
    // zstd: no raw chunk is fetched; 3 wells × 2 channels of level 2 come decoded.
    assert.deepEqual(chunkRequests(mark), []);
    const decoded = requests.slice(mark).filter((u) => u.startsWith("/decoded/")).sort();
    assert.deepEqual(decoded, [
      "/decoded/A/01/0/2?c=0.0.0",
      "/decoded/A/01/0/2?c=1.0.0",
      "/decoded/B/03/0/2?c=0.0.0",
      "/decoded/B/03/0/2?c=1.0.0",
      "/decoded/C/02/0/2?c=0.0.0",
      "/decoded/C/02/0/2?c=1.0.0",
    ]);
  });

  it("a single multiscale image at the root opens in the field view; zoom out picks level 1", async () => {
    const mem = new MemoryBackend();
    await mem.ensureDirectory("/i");
    const h = 600;
    const w = 500;
    const data = Uint16Array.from({ length: 2 * h * w }, (_, i) => i % w);
    await saveMultiscaleImage(
      mem,
      "/i/img.zarr",
      { data, shape: [2, h, w], stride: [h * w, w, 1] },
      {
        tileSize: 128,
        channels: [{ color: "FF00FF" }, { color: "00FF00" }],
      },
    );
    const s = await startViewer({ source: mem, root: "/i/img.zarr", live: false });
    try {
      let mark = requests.length;
      await page.goto(s.url);
      await page.waitForSelector("#view[data-level='0']", { timeout: 30_000 });
      // Fit: 600 px into 512 → zoom 0.853 → level 0, every 128-px tile of both channels.
      assert.equal(chunkRequests(mark).length, 2 * 5 * 4, chunkRequests(mark).join());
      assert.equal(await page.$eval("#well-name", (e) => e.textContent), "Image");
      await shot("image-fit");
      mark = requests.length;
      const before = await page.$eval("body", (b) => Number(b.dataset.drawn));
      await page.click("#zoom-out");
      await page.waitForSelector("#view[data-level='1']", { timeout: 30_000 });
      await page.waitForFunction((n) => Number(document.body.dataset.drawn) > n, {}, before);
      // Level 1 is 300×250: 3×2 tiles per channel.
      const got = chunkRequests(mark);
      assert.equal(got.length, 2 * 3 * 2, got.join());
      assert.ok(got.every((u) => u.startsWith("/plate/1/c/")), got.join());
    } finally {
      await s.close();
    }
  });

  it("z stacks: the z slider picks the plane; the pixel readout follows", async () => {
    const mem = new MemoryBackend();
    await mem.ensureDirectory("/z");
    const n = 64;
    const data = Uint16Array.from(
      { length: 3 * n * n },
      (_, i) => 100 * (Math.floor(i / (n * n)) + 1),
    );
    await saveMultiscaleImage(mem, "/z/stack.zarr", {
      data,
      shape: [1, 3, n, n],
      stride: [3 * n * n, n * n, n, 1],
    });
    const s = await startViewer({ source: mem, root: "/z/stack.zarr", live: false });
    try {
      await page.goto(s.url);
      await page.waitForSelector("#view[data-level='0']", { timeout: 30_000 });
      assert.equal(await page.$eval("#z-box", (e) => (e as HTMLElement).hidden), false);
      const box = await page.$eval("#view", (e) => {
        const r = e.getBoundingClientRect();
        return { x: r.left, y: r.top };
      });
      const readout = async () => {
        await page.mouse.move(box.x + 10, box.y + 300);
        await page.mouse.move(box.x + 256, box.y + 256);
        return await page.$eval("#pixel", (e) => e.textContent ?? "");
      };
      assert.match(await readout(), /, z 0 \(level 0\): Channel 0 100$/);
      const before = await page.$eval("body", (b) => Number(b.dataset.drawn));
      await page.$eval("#z", (e) => {
        (e as HTMLInputElement).value = "2";
        e.dispatchEvent(new Event("input"));
      });
      await page.waitForFunction((k) => Number(document.body.dataset.drawn) > k, {}, before);
      assert.match(await readout(), /, z 2 \(level 0\): Channel 0 300$/);
    } finally {
      await s.close();
    }
  });

  it("hostile metadata (a 40 GB chunk) is refused with a message, nothing fetched", async () => {
    const mem = new MemoryBackend();
    await mem.ensureDirectory("/p");
    await new ZarrBackend({ store: mem }).saveBatch([plane(true)], ["/p/A01.tif"], {
      row: "A",
      column: "01",
    });
    const key = "/p/A/01/0/0/zarr.json";
    const meta = JSON.parse(
      new TextDecoder().decode(await mem.load<Uint8Array>(key, { as: "bytes" })),
    );
    meta.shape = [200000, 200000];
    meta.chunk_grid.configuration.chunk_shape = [200000, 200000];
    await mem.save(new TextEncoder().encode(JSON.stringify(meta)), key, { overwrite: true });
    const s = await startViewer({ source: mem, root: "/p", live: false });
    try {
      const mark = requests.length;
      await page.goto(s.url);
      await page.waitForSelector("body[data-plate-ready='1']", { timeout: 30_000 });
      assert.match(await page.$eval("#status", (e) => e.textContent ?? ""), /over 256 MiB/);
      assert.deepEqual(chunkRequests(mark), []);
    } finally {
      await s.close();
    }
  });

  it("live tab: 50 planes streamed from another process appear at their wells within 30 s", async () => {
    await page.goto(`${server.url}#live`);
    await page.waitForSelector("body[data-live='1']", { timeout: 30_000 });
    const t0 = Date.now();
    const child = spawn(join(repo, "node_modules", ".bin", "deno"), [
      "run",
      "-A",
      join(repo, "tests", "fixtures", "stream_child.ts"),
      server.url,
      "50",
      "5",
    ], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    await page.waitForFunction(
      () => (window as unknown as { __live: { received: number } }).__live.received >= 50,
      {
        timeout: 30_000,
      },
    );
    const secs = (Date.now() - t0) / 1000;
    assert.equal(await exited, 0);
    assert.equal(out.trim(), "sent 50 dropped 0");
    console.log(`live: 50 planes from another process shown in ${secs.toFixed(2)} s`);
    const cells = await page.$$eval(
      ".live-cell",
      (es) => es.map((e) => [(e as HTMLElement).dataset.well, e.querySelectorAll("canvas").length]),
    );
    assert.equal(cells.length, 50); // the child writes one plane to each of 50 wells
    const b02 = cells.find(([w]) => w === "B02");
    assert.deepEqual(b02, ["B02", 1]); // plane 13: B02, field 1
    const pos = await page.$eval(
      ".live-cell[data-well='B02'] canvas",
      (c) => [(c as HTMLElement).dataset.field, (c as HTMLElement).style.left],
    );
    assert.deepEqual(pos, ["1", "50%"]); // field 1 in the right half of its well
    // Names are text, never markup: a hostile well name from a pushed frame stays inert.
    const evil = `<img src=x onerror="window.__xss=1">`;
    const pushed = await fetch(`${server.url}live/push`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        path: "/x.tif",
        shape: [1, 1],
        dtype: "uint8",
        coords: { well: evil },
      }),
    });
    assert.equal(pushed.status, 204);
    await page.waitForFunction(() =>
      (window as unknown as { __live: { received: number } }).__live.received >= 51
    );
    assert.equal(
      await page.evaluate(() => (window as unknown as { __xss?: number }).__xss),
      undefined,
    );
    assert.equal(await page.$$eval(".live-cell img", (e) => e.length), 0);
    assert.ok((await page.$eval("#live-grid", (e) => e.textContent ?? "")).includes(evil));
    await shot("live");
    // Offline: the page never asked anything of any host but its own server(s).
    assert.deepEqual([...hosts].filter((h) => !h.startsWith("127.0.0.1:")), []);
  });
});
