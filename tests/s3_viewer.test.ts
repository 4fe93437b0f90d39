/**
 * `hcs-store view` over object storage: a plate written to the real Ceph
 * gateway is served by the viewer's 127.0.0.1 server (through the S3
 * backend's reads and byte ranges) and read back through it, planes intact.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { HttpBackend } from "../backends/http.ts";
import { ZarrBackend } from "../backends/zarr.ts";
import type { NdArray } from "../backends/base.ts";
import { startViewer } from "../viewer/server.ts";
import { describePeer } from "./_peers.ts";
import { bucketName, s3Backend, s3Skip } from "./_s3.ts";

const plane = (v: number, h = 24, w = 20): NdArray<Uint16Array> => ({
  data: Uint16Array.from({ length: h * w }, (_, i) => v * 1000 + i),
  shape: [h, w],
  stride: [w, 1],
});

describePeer(s3Skip)("viewer over s3", () => {
  it("serves a plate stored on the gateway: metadata, byte ranges, planes intact", async () => {
    const s3 = s3Backend();
    const root = `/${bucketName("view")}/p.zarr`;
    await s3.ensureDirectory(root);
    const z = new ZarrBackend({ store: s3, compression: "zstd" });
    await z.saveBatch([plane(1), plane(2)], [`${root}/B03_f0.tif`, `${root}/B03_f1.tif`], {
      row: "B",
      column: "03",
      levels: 2,
    });
    const server = await startViewer({ source: s3, root, live: false });
    try {
      const meta = await (await fetch(`${server.url}plate/zarr.json`)).json();
      assert.deepEqual(meta.attributes.ome.plate.wells.map((w: { path: string }) => w.path), [
        "B/03",
      ]);
      const whole = new Uint8Array(
        await (await fetch(`${server.url}plate/B/03/0/zarr.json`)).arrayBuffer(),
      );
      const part = await fetch(`${server.url}plate/B/03/0/zarr.json`, {
        headers: { range: "bytes=2-9" },
      });
      assert.equal(part.status, 206);
      assert.deepEqual(new Uint8Array(await part.arrayBuffer()), whole.subarray(2, 10));
      const via = new ZarrBackend({
        store: new HttpBackend({ baseUrl: `${server.url}plate/`, retries: 0 }),
      });
      const got = await via.loadBatch<NdArray>(["/B03_f1.tif", "/B03_f0.tif"]);
      assert.deepEqual([...got[0]!.data], [...plane(2).data]);
      assert.deepEqual([...got[1]!.data], [...plane(1).data]);
    } finally {
      await server.close();
      await s3.deleteAll(root);
    }
  });
});
