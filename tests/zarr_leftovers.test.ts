/**
 * Leftovers of killed plate writers: staging groups whose writer is provably
 * dead (a real exited child's pid on this host) or older than
 * `STALE_STAGING_MS` are removed on the next write to the plate, live ones
 * are kept; an orphaned well (moved into place, never listed) no longer
 * blocks its own rewrite; and an I/O error (ENOSPC) during a plate write
 * names the user's plate, not the internal staging path.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import process from "node:process";
import { MemoryBackend } from "../backends/memory.ts";
import { ZarrBackend } from "../backends/zarr.ts";
import type { NdArray, SaveOptions, StorageValue } from "../backends/base.ts";
import { AlreadyExistsError, StorageError } from "../errors.ts";
import { OWNER_FILE, STAGING_PREFIX, STALE_STAGING_MS } from "../zarr/leftovers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function plane(v: number): NdArray<Uint16Array> {
  return { data: new Uint16Array(4).fill(v), shape: [2, 2], stride: [2, 1] };
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ["--version"]);
  assert.ok(typeof r.pid === "number" && r.pid > 0);
  return r.pid;
}

async function leftover(
  mem: MemoryBackend,
  name: string,
  rec: Record<string, unknown> | undefined,
): Promise<string> {
  const dir = `/p.zarr/${name}`;
  await mem.ensureDirectory(`${dir}/0/0`);
  await mem.save(enc.encode("{}"), `${dir}/zarr.json`);
  if (rec) await mem.save(enc.encode(JSON.stringify(rec)), `${dir}/${OWNER_FILE}`);
  return dir;
}

describe("zarr leftovers of killed writers", () => {
  it("the next write removes staging groups of dead or stale writers and keeps live ones", async () => {
    const mem = new MemoryBackend();
    const z = new ZarrBackend({ store: mem });
    await mem.ensureDirectory("/p.zarr");
    await z.save(plane(1), "/p.zarr/a.tif", { row: "A", column: "1" });
    const now = Date.now();
    const host = hostname();
    const dead = await leftover(mem, `${STAGING_PREFIX}B2-x-1-a`, {
      pid: deadPid(),
      host,
      time: now,
    });
    const live = await leftover(mem, `${STAGING_PREFIX}B3-x-1-b`, {
      pid: process.pid,
      host,
      time: now,
    });
    const elsewhere = await leftover(mem, `${STAGING_PREFIX}B4-x-1-c`, {
      pid: deadPid(),
      host: "another-host",
      time: now,
    });
    const stale = await leftover(mem, `${STAGING_PREFIX}B5-x-1-d`, {
      pid: process.pid,
      host,
      time: now - STALE_STAGING_MS - 1000,
    });
    const oldName = (now - STALE_STAGING_MS - 1000).toString(36);
    const noRecord = await leftover(mem, `${STAGING_PREFIX}B6-${oldName}-7-e`, undefined);
    await z.save(plane(2), "/p.zarr/b.tif", { row: "C", column: "1" });
    assert.equal(await mem.exists(dead), false, "dead writer's staging removed");
    assert.equal(await mem.exists(stale), false, "stale staging removed");
    assert.equal(await mem.exists(noRecord), false, "old staging without a record removed");
    assert.equal(await mem.exists(live), true, "a live writer's staging is kept");
    assert.equal(await mem.exists(elsewhere), true, "another host's writer cannot be proven dead");
    // No staging group of our own writes is left, and the wells carry no owner record.
    const left = (await mem.listDir("/p.zarr")).filter((n) => n.startsWith(STAGING_PREFIX));
    assert.deepEqual(left.sort(), [live, elsewhere].map((d) => d.slice("/p.zarr/".length)).sort());
    assert.equal(await mem.exists(`/p.zarr/C/1/${OWNER_FILE}`), false);
  });

  it("an orphaned well (moved into place, never listed, writer dead) no longer blocks its rewrite", async () => {
    const mem = new MemoryBackend();
    const z = new ZarrBackend({ store: mem });
    await mem.ensureDirectory("/p.zarr");
    await z.save(plane(1), "/p.zarr/a.tif", { row: "A", column: "1" });
    await z.save(plane(2), "/p.zarr/b.tif", { row: "A", column: "2" });
    // The A/2 writer "died" after moving its well into place: drop it from the plate, leave its record.
    const root = JSON.parse(
      dec.decode(await mem.load<Uint8Array>("/p.zarr/zarr.json", { as: "bytes" })),
    );
    root.attributes.ome.plate.wells = root.attributes.ome.plate.wells.filter(
      (w: { path: string }) => w.path !== "A/2",
    );
    await mem.save(enc.encode(JSON.stringify(root)), "/p.zarr/zarr.json", { overwrite: true });
    const rec = { pid: deadPid(), host: hostname(), time: Date.now() };
    await mem.save(enc.encode(JSON.stringify(rec)), `/p.zarr/A/2/${OWNER_FILE}`);
    await z.save(plane(3), "/p.zarr/c.tif", { row: "A", column: "2" });
    assert.equal((await z.load<NdArray>("/p.zarr/c.tif")).data[0], 3);
    const wells = JSON.parse(
      dec.decode(await mem.load<Uint8Array>("/p.zarr/zarr.json", { as: "bytes" })),
    )
      .attributes.ome.plate.wells.map((w: { path: string }) => w.path);
    assert.deepEqual(wells, ["A/1", "A/2"]);
    // A complete well, or one whose writer is alive, still refuses a silent replace.
    await assert.rejects(
      z.save(plane(4), "/p.zarr/d.tif", { row: "A", column: "1" }),
      AlreadyExistsError,
    );
    const liveRec = { pid: process.pid, host: hostname(), time: Date.now() };
    await mem.save(enc.encode(JSON.stringify(liveRec)), `/p.zarr/A/1/${OWNER_FILE}`);
    await assert.rejects(
      z.save(plane(4), "/p.zarr/d.tif", { row: "A", column: "1" }),
      AlreadyExistsError,
    );
  });

  it("ENOSPC while writing a well names the user's plate, not the staging path, and leaves nothing", async () => {
    class Full extends MemoryBackend {
      override saveBatch(
        data: readonly StorageValue[],
        paths: readonly string[],
        options?: SaveOptions,
      ): Promise<void> {
        const p = paths.find((x) => x.includes(STAGING_PREFIX));
        if (p) {
          return Promise.reject(
            new StorageError("saveBatch", p, "no space left on device", { code: "ENOSPC" }),
          );
        }
        return super.saveBatch(data, paths, options);
      }
    }
    const mem = new Full();
    const z = new ZarrBackend({ store: mem });
    await mem.ensureDirectory("/p.zarr");
    await assert.rejects(z.save(plane(1), "/p.zarr/a.tif", { row: "A", column: "1" }), (e) => {
      assert.ok(e instanceof StorageError);
      assert.equal(e.code, "ENOSPC");
      assert.equal(e.path, "/p.zarr");
      assert.ok(!e.message.includes(STAGING_PREFIX), e.message);
      assert.match(e.message, /no space left on device/);
      return true;
    });
    const left = (await mem.listDir("/p.zarr")).filter((n) => n.startsWith(STAGING_PREFIX));
    assert.deepEqual(left, []);
  });

  it("ENOSPC while staging a single array or replacing a well names the user's path", async () => {
    /** A store whose writes to hidden staging paths (or moves out of them) fail with ENOSPC. */
    class Full extends MemoryBackend {
      #fail(paths: readonly string[]): Promise<never> | undefined {
        const p = paths.find((x) => /\/\.[^/]*(zarr-tmp|zarr-old)/.test(x));
        if (!p) return undefined;
        return Promise.reject(
          new StorageError("write", p, "no space left on device", { code: "ENOSPC" }),
        );
      }
      override saveBatch(d: readonly StorageValue[], paths: readonly string[], o?: SaveOptions) {
        return this.#fail(paths) ?? super.saveBatch(d, paths, o);
      }
    }
    const mem = new Full();
    const z = new ZarrBackend({ store: mem });
    const arr = { data: new Uint8Array(6), shape: [2, 3], stride: [3, 1] };
    await assert.rejects(z.save(arr, "/x.zarr"), (e) => {
      assert.ok(e instanceof StorageError && e.code === "ENOSPC");
      assert.equal(e.path, "/x.zarr");
      assert.ok(!e.message.includes("zarr-tmp"), e.message);
      return true;
    });
    assert.deepEqual(await mem.listDir("/"), [], "nothing left behind");
    // Replacing a well moves the old one aside first (`.1.zarr-old-*`): that failure names the plate.
    const ok = new MemoryBackend();
    const w = new ZarrBackend({ store: ok });
    await ok.ensureDirectory("/p.zarr");
    await w.save(plane(1), "/p.zarr/a.tif", { row: "A", column: "1" });
    class FullOnMoveAside extends MemoryBackend {
      override move(src: string, dst: string) {
        if (dst.includes(".zarr-old-")) {
          return Promise.reject(
            new StorageError("move", dst, "no space left on device", { code: "ENOSPC" }),
          );
        }
        return super.move(src, dst);
      }
    }
    const full = new FullOnMoveAside();
    for (const f of await ok.listFiles("/", { recursive: true })) {
      await full.ensureDirectory(f.slice(0, f.lastIndexOf("/")));
      await full.save(await ok.load<Uint8Array>(f, { as: "bytes" }), f);
    }
    const z2 = new ZarrBackend({ store: full });
    await assert.rejects(
      z2.save(plane(2), "/p.zarr/a.tif", { row: "A", column: "1", overwrite: true }),
      (e) => {
        assert.ok(e instanceof StorageError && e.code === "ENOSPC");
        assert.equal(e.path, "/p.zarr");
        return true;
      },
    );
    assert.equal((await z2.load<NdArray>("/p.zarr/a.tif")).data[0], 1, "the old well is intact");
  });
});
