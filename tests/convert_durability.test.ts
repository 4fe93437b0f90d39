// `convert` on disk defers the fsync of each file in its staging folder and
// makes finished wells durable in checkpoints: the manifest records which
// wells a checkpoint covered and the boot the build ran in, and `--resume`
// after a reboot trusts only those wells (a torn well is written again).
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import {
  deferSync,
  fsyncDir,
  fsyncFiles,
  fsyncTree,
  syncDeferred,
  writeDurable,
} from "../_internal/atomic_file.ts";
import {
  currentBootId,
  DurableCheckpoints,
  MANIFEST,
  openStaging,
  publish,
  type StagingManifest,
  stagingPath,
} from "../cli/_staging.ts";
import { createRegistry } from "../registry/registry.ts";
import type { NdArray, StorageBackend } from "../backends/base.ts";
import { ZarrBackend } from "../backends/zarr.ts";

const tmp = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-durable-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const base: StagingManifest = {
  input: "/in",
  pattern: "p",
  ngff: "default",
  compression: "default",
  wells: ["A/01", "A/02", "B/01"],
  planes: 3,
  dtype: "uint16",
  shape: [4, 4],
};

/** A staging folder whose plate metadata lists `listed` (NGFF 0.5). */
function makeStaging(out: string, manifest: StagingManifest, listed: string[]): string {
  const staging = stagingPath(out);
  fs.mkdirSync(staging, { recursive: true });
  fs.writeFileSync(nodePath.join(staging, MANIFEST), JSON.stringify(manifest));
  const wells = listed.map((w) => ({ path: w }));
  fs.writeFileSync(
    nodePath.join(staging, "zarr.json"),
    JSON.stringify({
      zarr_format: 3,
      node_type: "group",
      attributes: { ome: { plate: { wells } } },
    }),
  );
  for (const w of listed) {
    fs.mkdirSync(nodePath.join(staging, ...w.split("/")), { recursive: true });
    fs.writeFileSync(nodePath.join(staging, ...w.split("/"), "zarr.json"), "{}");
  }
  return staging;
}

describe("convert durability: deferred fsyncs, checkpoints, resume", () => {
  it("deferSync covers its root's subtree only, counts nested calls, and ends", async () => {
    const root = nodePath.join(tmp, ".p.partial");
    assert.equal(syncDeferred(nodePath.join(root, "A")), false);
    const end1 = deferSync(root);
    const end2 = deferSync(root);
    assert.equal(syncDeferred(root), true);
    assert.equal(syncDeferred(nodePath.join(root, "A", "1", "c")), true);
    assert.equal(
      syncDeferred(`${root}.lock`),
      false,
      "a sibling with the same prefix is not under it",
    );
    end1();
    end1();
    assert.equal(syncDeferred(nodePath.join(root, "A")), true, "still held by the second call");
    end2();
    assert.equal(syncDeferred(nodePath.join(root, "A")), false);
    // Writes and directory fsyncs under a deferred root still produce whole files.
    fs.mkdirSync(root, { recursive: true });
    const end = deferSync(root);
    try {
      await writeDurable(nodePath.join(root, "f"), new Uint8Array([1, 2, 3]));
      await fsyncDir(root);
      await fsyncTree(root);
      await fsyncFiles([nodePath.join(root, "f"), nodePath.join(root, "missing")]);
    } finally {
      end();
    }
    assert.deepEqual([...fs.readFileSync(nodePath.join(root, "f"))], [1, 2, 3]);
    await fsyncTree(nodePath.join(tmp, "no-such-dir"));
    // The deferred write path (Deno: one Deno.writeFile) keeps the typed errors and leaves no temp.
    const disk = await createRegistry().getBackend<StorageBackend>("disk");
    const again = deferSync(root);
    try {
      const { NotFoundError, AlreadyExistsError } = await import("../errors.ts");
      await assert.rejects(
        disk.save(new Uint8Array(1), nodePath.join(root, "missing", "g")),
        NotFoundError,
      );
      await disk.save(new Uint8Array([9]), nodePath.join(root, "g"));
      await assert.rejects(
        disk.save(new Uint8Array(1), nodePath.join(root, "g")),
        AlreadyExistsError,
      );
      await disk.saveBatch([new Uint8Array([7]), new Uint8Array([8])], [
        nodePath.join(root, "h1"),
        nodePath.join(root, "h2"),
      ]);
    } finally {
      again();
    }
    assert.deepEqual(fs.readdirSync(root).sort(), ["f", "g", "h1", "h2"], "no temp left");
    assert.deepEqual([...fs.readFileSync(nodePath.join(root, "h2"))], [8]);
  });

  it("a checkpoint records its wells as durable in the manifest; finish covers the rest", async () => {
    const out = nodePath.join(tmp, "cp.zarr");
    const staging = makeStaging(out, { ...base, durable: [] }, ["A/01", "A/02"]);
    const cp = new DurableCheckpoints(staging, { ...base, durable: [] }, []);
    cp.well("A/01");
    await cp.finish();
    const m = JSON.parse(fs.readFileSync(nodePath.join(staging, MANIFEST), "utf8"));
    assert.deepEqual(m.durable, ["A/01"]);
    assert.equal(m.input, base.input, "the rest of the manifest is kept");
    cp.well("A/02");
    await cp.finish();
    const m2 = JSON.parse(fs.readFileSync(nodePath.join(staging, MANIFEST), "utf8"));
    assert.deepEqual(m2.durable, ["A/01", "A/02"]);
    fs.rmSync(staging, { recursive: true });
  });

  it("a checkpoint's failure is thrown by finish", async () => {
    const cp = new DurableCheckpoints(nodePath.join(tmp, "gone"), base, []);
    // Start a checkpoint at once (as after 8 wells).
    for (let i = 0; i < 6; i++) cp.well(`Z/${i}`);
    cp.well("A/01");
    cp.well("A/02");
    // The well folder is missing: fsyncTree of a missing root is fine, the manifest write is not.
    // Meanwhile the failure must not surface as an unhandled rejection (it would end the process).
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(cp.finish());
  });

  it("--resume after a reboot trusts only checkpointed wells; in the same boot, every listed one", async () => {
    const disk = await createRegistry().getBackend<StorageBackend>("disk");
    const boot = currentBootId();
    const cases: [string | undefined, string[], string[]][] = [
      // [recorded boot, durable, expected done]
      ["another-boot", ["A/01"], ["A/01"]],
      ["another-boot", [], []],
      ...(boot ? [[boot, ["A/01"], ["A/01", "A/02"]] as [string, string[], string[]]] : []),
    ];
    for (const [i, [bootId, durable, want]] of cases.entries()) {
      const out = nodePath.join(tmp, `resume${i}.zarr`);
      const recorded = { ...base, durable, ...(bootId ? { bootId } : {}) };
      makeStaging(out, recorded, ["A/01", "A/02"]);
      const s = await openStaging(disk, out, { ...base, durable: [] }, {
        resume: true,
        overwrite: false,
      });
      assert.deepEqual([...s.done].sort(), want, `boot ${bootId}, durable ${durable}`);
      assert.deepEqual([...s.durable].sort(), durable.filter((w) => want.includes(w)));
    }
    // A damaged durable list vouches for nothing (after a reboot every well is written again).
    for (const [i, bad] of [7, "A/01", { A: 1 }, [3, null]].entries()) {
      const out = nodePath.join(tmp, `damaged${i}.zarr`);
      makeStaging(out, { ...base, bootId: "another-boot", durable: bad as never }, ["A/01"]);
      const s = await openStaging(disk, out, base, { resume: true, overwrite: false });
      assert.deepEqual([...s.done], [], `durable: ${JSON.stringify(bad)}`);
    }
    // A manifest from before checkpoints (every write fsync'd) trusts every listed well.
    const out = nodePath.join(tmp, "legacy.zarr");
    makeStaging(out, base, ["A/01", "B/01"]);
    const s = await openStaging(disk, out, base, { resume: true, overwrite: false });
    assert.deepEqual([...s.done].sort(), ["A/01", "B/01"]);
    assert.deepEqual([...s.durable].sort(), ["A/01", "B/01"]);
  });
});

describe("convert publishing: recorded output paths", () => {
  it("recordStoreAs: a plate written under one name records its planes under another", async () => {
    const disk = await createRegistry().getBackend<StorageBackend>("disk");
    const z = new ZarrBackend({ store: disk });
    const built = nodePath.join(tmp, ".final.zarr.partial");
    const final = nodePath.join(tmp, "final.zarr");
    fs.mkdirSync(built, { recursive: true });
    const plane: NdArray = { data: new Uint16Array(16), shape: [4, 4], stride: [4, 1] };
    for (const [row, recordStoreAs] of [["A", final], ["B", undefined]] as const) {
      await z.saveBatch([plane], [nodePath.join(built, `${row}01_s1.tif`)], {
        row,
        column: "01",
        ...(recordStoreAs ? { recordStoreAs } : {}),
      });
    }
    const paths = (row: string) =>
      JSON.parse(fs.readFileSync(nodePath.join(built, row, "01", "0", "0", "zarr.json"), "utf8"))
        .attributes.polystore_output_paths;
    assert.deepEqual(paths("A"), [nodePath.join(final, "A01_s1.tif")]);
    assert.deepEqual(paths("B"), [nodePath.join(built, "B01_s1.tif")]);
    await assert.rejects(
      z.saveBatch([plane], [nodePath.join(built, "C01_s1.tif")], {
        row: "C",
        column: "01",
        recordStoreAs: 7 as unknown as string,
      }),
      TypeError,
    );
    fs.rmSync(built, { recursive: true });
  });

  it("publish rewrites staging-named paths only for a build that did not record its final name", async () => {
    const disk = await createRegistry().getBackend<StorageBackend>("disk");
    for (const recorded of [false, true]) {
      const out = nodePath.join(tmp, `pub-${recorded}.zarr`);
      const staging = makeStaging(out, { ...base, ...(recorded ? { recordedAs: out } : {}) }, [
        "A/01",
      ]);
      const meta = nodePath.join(staging, "A", "01", "zarr.json");
      const named = (root: string) => [nodePath.join(root, "A01_s1.tif")];
      fs.writeFileSync(
        meta,
        JSON.stringify({ attributes: { polystore_output_paths: named(staging) } }),
      );
      await publish(disk, staging, out);
      const got = JSON.parse(fs.readFileSync(nodePath.join(out, "A", "01", "zarr.json"), "utf8"))
        .attributes.polystore_output_paths;
      // A build that recorded its final name is not rewritten (its paths were already final).
      assert.deepEqual(got, recorded ? named(staging) : named(out), `recordedAs: ${recorded}`);
      assert.equal(fs.existsSync(staging), false);
    }
  });
});

describe("plate metadata updates", () => {
  it("concurrent updates of one file are combined and none is lost; a throwing merge fails only its caller", async () => {
    const { MemoryBackend } = await import("../backends/memory.ts");
    const { typedStore } = await import("../zarr/capabilities.ts");
    const { updateMetadata } = await import("../zarr/plate_write.ts");
    const disk = await createRegistry().getBackend<StorageBackend>("disk");
    const dir = fs.mkdtempSync(nodePath.join(tmp, "meta-"));
    for (
      const [name, backend, path] of [
        ["memory", new MemoryBackend(), "/m.json"],
        ["disk", disk, nodePath.join(dir, "m.json")],
      ] as const
    ) {
      let writes = 0;
      const b = backend as unknown as Record<string, (...a: unknown[]) => unknown>;
      for (const m of ["save", "saveIfVersion"]) {
        const orig = b[m]!.bind(backend);
        b[m] = (...a: unknown[]) => (writes++, orig(...a));
      }
      const ts = typedStore(backend);
      const add = (n: number) => (cur: Uint8Array | undefined) => {
        const list: number[] = cur ? JSON.parse(new TextDecoder().decode(cur)) : [];
        if (n === 13) throw new RangeError("unlucky");
        return new TextEncoder().encode(JSON.stringify([...list, n]));
      };
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, (_, n) => updateMetadata(ts, path, add(n), "test")),
      );
      const failed = results.flatMap((r, n) => (r.status === "rejected" ? [n] : []));
      assert.deepEqual(failed, [13], name);
      assert.ok(
        (results[13] as PromiseRejectedResult).reason instanceof RangeError,
        "its own error",
      );
      const final: number[] = JSON.parse(
        new TextDecoder().decode(await backend.load<Uint8Array>(path, { as: "bytes" })),
      );
      assert.deepEqual(
        final.sort((a, b) => a - b),
        Array.from({ length: 40 }, (_, n) => n).filter((n) => n !== 13),
        name,
      );
      assert.ok(writes < 20, `${name}: ${writes} writes for 40 updates (combined)`);
    }
  });
});
