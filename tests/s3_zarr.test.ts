// OME-Zarr plates on S3: the Zarr backend's byte store is the S3 backend on
// the real gateway. Wells go up with saveBatch and come back by virtual name
// (NGFF 0.5 and 0.4); then the concurrency proof: 4 processes (2 Deno, 2 Bun)
// × 24 wells of one plate → 96 wells in the plate metadata, several runs.
import { it } from "node:test";
import assert from "node:assert/strict";
import { describePeer } from "./_peers.ts";
import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ZarrBackend } from "../backends/zarr.ts";
import type { NdArray } from "../backends/base.ts";
import { bucketName, type Gateway, gateway, s3Backend, s3Skip } from "./_s3.ts";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const writer = join(repo, "tests/fixtures/s3_well_writer.ts");
const isDeno = "Deno" in globalThis;
const BIN = {
  deno: isDeno ? process.execPath : join(repo, "node_modules/.bin/deno"),
  bun: isDeno ? join(repo, "node_modules/.bin/bun") : process.execPath,
};

function plane(v: number, h = 16, w = 12): NdArray<Uint16Array> {
  return {
    data: Uint16Array.from({ length: h * w }, (_, i) => v * 31 + i),
    shape: [h, w],
    stride: [w, 1],
  };
}

function runWriter(rt: "deno" | "bun", args: string[]): Promise<string> {
  const argv = rt === "deno" ? ["run", "-A", writer, ...args] : [writer, ...args];
  return new Promise((ok, fail) => {
    const child = spawn(BIN[rt], argv, {
      cwd: repo,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...(gateway as Gateway).env, NO_COLOR: "1" },
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (err += d));
    child.on("error", fail);
    child.on(
      "close",
      (code) => (code === 0 ? ok(out) : fail(new Error(`${rt} writer exited ${code}: ${err}`))),
    );
  });
}

async function plateWells(store: string, ngff: "0.5" | "0.4"): Promise<string[]> {
  const s3 = s3Backend();
  const bytes = await s3.load<Uint8Array>(`${store}/${ngff === "0.5" ? "zarr.json" : ".zattrs"}`, {
    as: "bytes",
  });
  const meta = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  const attrs = (ngff === "0.5" ? meta.attributes : meta) as Record<string, unknown>;
  const ome = (attrs.ome ?? attrs) as { plate?: { wells?: { path: string }[] } };
  return (ome.plate?.wells ?? []).map((w) => w.path).sort();
}

describePeer(s3Skip)("OME-Zarr plates on S3", () => {
  for (const ngff of ["0.5", "0.4"] as const) {
    it(`NGFF ${ngff}: saveBatch of wells, loadBatch by virtual name, listFiles`, async () => {
      const b = `/${bucketName("zarr")}`;
      const s3 = s3Backend();
      await s3.ensureDirectory(`${b}/plate.zarr`);
      const z = new ZarrBackend({ store: s3, ngff });
      const names = (w: string) => [0, 1, 2].map((f) => `${b}/plate.zarr/${w}_f${f}.tif`);
      await z.saveBatch([plane(1), plane(2), plane(3)], names("A01"), { row: "A", column: "01" });
      await z.saveBatch([plane(4), plane(5), plane(6)], names("B03"), { row: "B", column: "03" });
      const got = await z.loadBatch<NdArray>([...names("B03"), names("A01")[1]!]);
      assert.deepEqual(got.map((g) => g.data[0]), [4 * 31, 5 * 31, 6 * 31, 2 * 31]);
      assert.deepEqual([...got[0]!.data], [...plane(4).data]);
      assert.deepEqual(got[0]!.shape, [16, 12]);
      const listed = await z.listFiles(`${b}/plate.zarr`);
      assert.ok(listed.includes(`${b}/plate.zarr/B03_f2.tif`), listed.join(", "));
      assert.deepEqual(await plateWells(`${b}/plate.zarr`, ngff), ["A/01", "B/03"]);
      // no staging group is left behind on the object store
      const keys = await s3.listFiles(`${b}/plate.zarr`, { recursive: true });
      assert.ok(!keys.some((k) => k.includes("hcs-zarr-tmp")), keys.join(", "));
      await assert.rejects(
        z.saveBatch([plane(7)], [`${b}/plate.zarr/A01_f0.tif`], { row: "A", column: "01" }),
      );
    });
  }

  // No lock exists across machines: plate metadata stays whole because the
  // Zarr module merges it with the store's compare-and-swap (saveIfVersion on
  // the metadata object's ETag), retrying when another writer won.
  it("4 processes (2 Deno, 2 Bun) × 24 wells of one plate → 96 wells, 3 runs", async () => {
    for (let run = 0; run < 3; run++) {
      const b = `/${bucketName("plate")}`;
      await s3Backend().ensureDirectory(`${b}/p.zarr`);
      const store = `${b}/p.zarr`;
      const cols = Array.from({ length: 12 }, (_, i) => String(i + 1).padStart(2, "0"));
      // each process writes two rows × 12 columns = 24 wells
      const jobs = [["deno", "A,E"], ["bun", "B,F"], ["deno", "C,G"], ["bun", "D,H"]] as const;
      const outs = await Promise.all(
        jobs.map(([rt, rows]) => runWriter(rt, [store, "0.5", rows, ...cols])),
      );
      assert.deepEqual(outs.map((o) => o.trim()), ["ok 24", "ok 24", "ok 24", "ok 24"]);
      const wells = await plateWells(store, "0.5");
      assert.equal(wells.length, 96, `run ${run}: ${wells.length} wells in the plate metadata`);
    }
  });
});
