/**
 * Every plate, well and image attribute object the Zarr backend writes
 * validates against the official OME-NGFF JSON schemas (0.5 and 0.4, copied
 * into tests/schemas/, all files of a version registered so nothing
 * is fetched), including the strict plate/well variants.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import Ajv2020Module from "ajv/dist/2020.js";
import { MemoryBackend } from "../backends/memory.ts";
import { type PlateAxis, ZarrBackend } from "../backends/zarr.ts";
import type { NdArray } from "../backends/base.ts";

const schemaRoot = fileURLToPath(new URL("./schemas/", import.meta.url));
const dec = new TextDecoder();

type Validate = ((data: unknown) => boolean) & { errors?: unknown };
interface AjvLike {
  addSchema(schema: unknown): unknown;
  getSchema(id: string): Validate | undefined;
}
// CommonJS interop differs between runtimes: take the class from `default` if it is there.
const Ajv2020 = ((Ajv2020Module as unknown as { default?: unknown }).default ??
  Ajv2020Module) as new (options: Record<string, unknown>) => AjvLike;

function validators(version: "0.5" | "0.4"): (name: string) => Validate {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const dir = join(schemaRoot, version);
  for (const f of readdirSync(dir)) {
    ajv.addSchema(JSON.parse(readFileSync(join(dir, f), "utf8")));
  }
  return (name) => {
    const v = ajv.getSchema(`https://ngff.openmicroscopy.org/${version}/schemas/${name}`);
    assert.ok(v, `schema ${version}/${name} registered`);
    return v as Validate;
  };
}

function check(v: Validate, data: unknown, what: string) {
  assert.ok(v(data), `${what}: ${JSON.stringify(v.errors, null, 1)}\n${JSON.stringify(data)}`);
}

const LAYOUTS: { name: string; axes?: PlateAxis[]; coords?: (i: number) => number[]; n: number }[] =
  [
    { name: "default field axis", n: 3 },
    {
      name: "field + channel + z",
      axes: [{ name: "field", role: "image" }, { name: "c", type: "channel" }, {
        name: "z",
        type: "space",
      }],
      coords: (i) => [i % 2, (i >> 1) % 2, i >> 2],
      n: 8,
    },
    {
      name: "time + channel, no image axis",
      axes: [{ name: "t", type: "time" }, { name: "c", type: "channel" }],
      coords: (i) => [i >> 1, i % 2],
      n: 4,
    },
    {
      name: "custom axis type",
      axes: [{ name: "site", role: "image" }, { name: "angle", type: "angle" }],
      coords: (i) => [i % 3, Math.floor(i / 3)],
      n: 6,
    },
  ];

async function writePlates(mem: MemoryBackend, ngff: "0.5" | "0.4"): Promise<string[]> {
  const z = new ZarrBackend({ store: mem, ngff });
  const stores: string[] = [];
  for (const [k, layout] of LAYOUTS.entries()) {
    const store = `/s${k}/images`;
    stores.push(store);
    for (const [row, column] of [["A", "01"], ["AF", "48"], ["C", "3"]] as const) {
      const planes: NdArray[] = [];
      const paths: string[] = [];
      for (let i = 0; i < layout.n; i++) {
        planes.push({ data: new Uint16Array(6).fill(i), shape: [2, 3], stride: [3, 1] });
        paths.push(`${store}/${row}${column}_${i}.tif`);
      }
      const options: Record<string, unknown> = { row, column };
      if (layout.axes) {
        options.axes = layout.axes;
        options.coordinates = planes.map((_, i) => layout.coords!(i));
      }
      await z.saveBatch(planes, paths, options);
    }
  }
  return stores;
}

describe("zarr: written metadata validates against the NGFF JSON schemas", () => {
  for (const version of ["0.5", "0.4"] as const) {
    it(`NGFF ${version}: every plate, well and image attribute object`, async () => {
      const schema = validators(version);
      const mem = new MemoryBackend();
      const stores = await writePlates(mem, version);
      const attrsAt = async (dir: string): Promise<Record<string, unknown>> => {
        if (version === "0.5") {
          const j = JSON.parse(dec.decode(await mem.load(`${dir}/zarr.json`, { as: "bytes" })));
          return j.attributes;
        }
        return JSON.parse(dec.decode(await mem.load(`${dir}/.zattrs`, { as: "bytes" })));
      };
      let counts = { plate: 0, well: 0, image: 0 };
      for (const store of stores) {
        const root = await attrsAt(store);
        check(schema("plate.schema"), root, `${store} plate`);
        check(schema("strict_plate.schema"), root, `${store} strict plate`);
        counts.plate++;
        const plate = (version === "0.5" ? (root.ome as { plate: unknown }).plate : root.plate) as {
          wells: { path: string }[];
        };
        assert.equal(plate.wells.length, 3);
        for (const w of plate.wells) {
          const well = await attrsAt(`${store}/${w.path}`);
          check(schema("well.schema"), well, `${store}/${w.path} well`);
          check(schema("strict_well.schema"), well, `${store}/${w.path} strict well`);
          counts.well++;
          const inner = (version === "0.5" ? (well.ome as { well: unknown }).well : well.well) as {
            images: { path: string }[];
          };
          for (const img of inner.images) {
            const image = await attrsAt(`${store}/${w.path}/${img.path}`);
            check(schema("image.schema"), image, `${store}/${w.path}/${img.path} image`);
            counts.image++;
          }
        }
      }
      assert.deepEqual(counts, { plate: 4, well: 12, image: 3 * (3 + 2 + 1 + 3) });
      counts = { plate: 0, well: 0, image: 0 };
    });
  }

  it("the validators do reject bad metadata (the check can fail)", () => {
    for (const version of ["0.5", "0.4"] as const) {
      const schema = validators(version);
      const plate = { rows: [{ name: "A" }], columns: [{ name: "1" }], wells: [] };
      const wrapped = version === "0.5" ? { ome: { version, plate } } : { plate };
      assert.equal(schema("plate.schema")(wrapped), false, `${version}: empty wells`);
      const badAxes = {
        multiscales: [{
          axes: [{ name: "c", type: "channel" }, { name: "x", type: "space" }],
          datasets: [{ path: "0", coordinateTransformations: [{ type: "scale", scale: [1, 1] }] }],
        }],
      };
      const img = version === "0.5" ? { ome: { version, ...badAxes } } : badAxes;
      assert.equal(schema("image.schema")(img), false, `${version}: one space axis`);
    }
  });
});
