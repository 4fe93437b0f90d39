/**
 * `convert` as a pipeline: several wells in flight give byte-identical plates
 * to one well at a time (and to a plate written through the pure reader's
 * loadBatch instead of leased arenas), the in-flight count follows the byte
 * budget, a failing well stops the run with the earliest failure in plan
 * order, and an abort stops starting wells.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { DiskBackend } from "../backends/disk.ts";
import { PureReader } from "../ffi/mod.ts";
import { createRegistry, type Registry } from "../registry/registry.ts";
import {
  type ConversionPlan,
  planConversion,
  readPlanes,
  runConversion,
  wellsInFlight,
} from "../cli/_convert.ts";

let dir = "";
const SIDE = 96;
const WELLS = ["A01", "A02", "A03", "B01", "B02", "B03", "C01"];

before(async () => {
  dir = fs.mkdtempSync(join(tmpdir(), "hcs-convpipe-"));
  const disk = new DiskBackend();
  await disk.ensureDirectory(join(dir, "in"));
  let seed = 1;
  for (const w of WELLS) {
    for (const f of [1, 2]) {
      for (const c of [1, 2]) {
        const s = seed++;
        const data = Uint16Array.from(
          { length: SIDE * SIDE },
          (_, i) => (i * s * 2654435761) >>> 20,
        );
        await disk.save(
          { data, shape: [SIDE, SIDE], stride: [SIDE, 1] },
          join(dir, "in", `${w}_s${f}_w${c}.tif`),
        );
      }
    }
  }
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Every file under `root` (relative path → bytes), metadata with the plate's own path removed. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const bytes = fs.readFileSync(p);
        const text = e.name.endsWith(".json") || e.name.startsWith(".z")
          ? bytes.toString("utf8").split(root).join("<plate>")
          : bytes.toString("base64");
        out.set(relative(root, p), text);
      }
    }
  };
  walk(root);
  return out;
}

async function convert(
  reg: Registry,
  plan: ConversionPlan,
  name: string,
  opts: Parameters<typeof runConversion>[3] = {},
) {
  const out = join(dir, name);
  const r = await runConversion(reg, plan, out, { compression: "zstd", plateName: "p", ...opts });
  return { out, r };
}

describe("convert pipeline", () => {
  it("wells in flight follow the byte budget (at least one, at most the limit)", () => {
    const plan = { wells: [{ files: new Array(8) }], shape: [1024, 1024], dtype: "uint16" };
    const p = plan as unknown as ConversionPlan;
    assert.equal(wellsInFlight(p, 256 * 2 ** 20, 100), 16);
    assert.equal(wellsInFlight(p, 256 * 2 ** 20, 3), 3);
    assert.equal(wellsInFlight(p, 1, 3), 1);
  });

  it("several wells at once write the same plate as one at a time, leased or not", async () => {
    const reg = createRegistry();
    const plan = await planConversion(reg, join(dir, "in"));
    const serial = await convert(reg, plan, "serial.zarr", { wellsInFlight: 1 });
    const parallel = await convert(reg, plan, "parallel.zarr", { wellsInFlight: 4 });
    // The pure reader has no leases: planes come from loadBatch.
    const pureDisk = new DiskBackend({ reader: new PureReader(), implementation: "pure" });
    const pureReg = {
      getBackend: (key: string) =>
        key === "disk" ? Promise.resolve(pureDisk) : reg.getBackend(key as "zarr"),
    } as unknown as Registry;
    const pure = await convert(pureReg, plan, "pure.zarr", { wellsInFlight: 3 });
    const a = snapshot(serial.out);
    assert.ok(a.size > WELLS.length * 4);
    for (const other of [parallel, pure]) {
      const b = snapshot(other.out);
      assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
      for (const [k, v] of a) assert.equal(b.get(k), v, `${other.out}: ${k}`);
    }
    assert.deepEqual(
      parallel.r.virtualPaths.map((p) => relative(parallel.out, p)),
      plan.wells.flatMap((w) => w.files.map((f) => f.name)),
      "virtual paths in plan order",
    );
    assert.equal(parallel.r.wells, WELLS.length);
    assert.equal(parallel.r.planes, WELLS.length * 4);
  });

  it("readPlanes: leased reads decode to the same planes as loadBatch", async () => {
    const reg = createRegistry();
    const disk = await reg.getBackend<DiskBackend>("disk");
    const paths = fs.readdirSync(join(dir, "in")).map((n) => join(dir, "in", n));
    const leased = await readPlanes(disk, paths);
    const plain = await disk.loadBatch(paths);
    assert.deepEqual(leased, plain);
  });

  it("a failing well: the earliest failure in plan order is thrown, later wells not started", async () => {
    const reg = createRegistry();
    const plan = await planConversion(reg, join(dir, "in"));
    const broken = structuredClone(plan);
    broken.wells[2]!.files[1]!.path = join(dir, "in", "missing-2.tif");
    broken.wells[4]!.files[0]!.path = join(dir, "in", "missing-4.tif");
    let wells = 0;
    await assert.rejects(
      convert(reg, broken, "broken.zarr", { wellsInFlight: 3, onWell: () => wells++ }),
      (err: Error) => /missing-2\.tif/.test(err.message),
    );
    assert.ok(wells < WELLS.length, `${wells} wells written`);
  });

  it("an abort stops starting wells and throws its reason", async () => {
    const reg = createRegistry();
    const plan = await planConversion(reg, join(dir, "in"));
    const ac = new AbortController();
    let wells = 0;
    await assert.rejects(
      convert(reg, plan, "aborted.zarr", {
        wellsInFlight: 2,
        signal: ac.signal,
        onWell: () => {
          if (++wells === 1) ac.abort(new Error("stop please"));
        },
      }),
      /stop please/,
    );
    assert.ok(wells >= 1 && wells <= 2, `${wells} wells written (the ones in flight finish)`);
  });
});
