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
});
