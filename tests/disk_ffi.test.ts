/**
 * The disk backend with the bulk readers plugged in: the whole conformance
 * suite with the FFI reader active and again with the pure reader, the
 * registry's choice per runtime (describeBackends), HCS_STORE_FFI=0, and
 * permission errors as an unprivileged user.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { conformance } from "./conformance.ts";
import { DiskBackend } from "../backends/disk.ts";
import { createBulkReader, NativeReader, PureReader, SizeDispatchReader } from "../ffi/mod.ts";
import { DISK_READER_TABLE } from "../registry/disk_choice.ts";
import { createRegistry } from "../registry/registry.ts";
import { runtime } from "../registry/runtime.ts";
import { NotFoundError, UnsupportedOperationError } from "../errors.ts";

const repo = nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), "..");
const probe = nodePath.join(repo, "tests", "fixtures", "ffi_probe.ts");
const rt = runtime();
const isDeno = rt.name === "deno";
const choice = await createBulkReader(rt);
const ffiReader = choice.reader instanceof NativeReader ? choice.reader : undefined;
const ffiSkip: string | false = ffiReader
  ? false
  : `FFI reader not available: ${choice.reason ?? choice.implementation}`;
const denoFfiGranted = isDeno &&
  (globalThis as { Deno?: { permissions: { querySync(d: { name: string }): { state: string } } } })
      .Deno?.permissions.querySync({ name: "ffi" }).state === "granted";

function tempRoot(): string {
  return fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-diskffi-"));
}

if (ffiReader) {
  conformance("disk+ffi", () => {
    const root = tempRoot();
    return Promise.resolve({
      backend: new DiskBackend({ reader: ffiReader, implementation: ffiReader.implementation }),
      root,
      teardown: () => fs.rmSync(root, { recursive: true, force: true }),
    });
  });
} else {
  describe("conformance: disk+ffi", () => {
    it("the whole suite with the FFI reader", { skip: ffiSkip }, () => {});
  });
}

conformance("disk+pure", () => {
  const root = tempRoot();
  return Promise.resolve({
    backend: new DiskBackend({ reader: new PureReader(), implementation: "pure" }),
    root,
    teardown: () => fs.rmSync(root, { recursive: true, force: true }),
  });
});

/** Runs the probe fixture with this runtime; returns its last stdout line as JSON. */
function runProbe(
  args: string[],
  options: { env?: Record<string, string>; runtimeFlags?: string[]; prefix?: string[] } = {},
): unknown {
  const flags = options.runtimeFlags ?? (isDeno ? ["run", "-A"] : []);
  const r = spawnSync(
    options.prefix?.[0] ?? process.execPath,
    [
      ...(options.prefix ? [...options.prefix.slice(1), process.execPath] : []),
      ...flags,
      probe,
      ...args,
    ],
    { cwd: repo, encoding: "utf8", timeout: 60_000, env: { ...process.env, ...options.env } },
  );
  assert.equal(r.status, 0, `probe failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

describe("registry picks the disk reader per runtime", () => {
  it("describeBackends() names the reader in use, and why when it is not FFI", async () => {
    const reg = createRegistry();
    const planned = reg.describeBackends().find((d) => d.key === "disk")!;
    const disk = await reg.getBackend<DiskBackend>("disk");
    const loaded = reg.describeBackends().find((d) => d.key === "disk")!;
    assert.equal(loaded.implementation, planned.implementation);
    assert.equal(disk.implementation, loaded.implementation);
    if (process.env.HCS_STORE_FFI === "0") {
      assert.deepEqual(loaded, { key: "disk", implementation: "pure", reason: "HCS_STORE_FFI=0" });
      assert.ok(disk.reader instanceof PureReader);
    } else if (rt.name === "bun" || (isDeno && denoFfiGranted)) {
      // The measured table (registry/disk_choice.ts): per batch by size,
      // FFI for small files, the runtime's reads for larger ones.
      const rule = DISK_READER_TABLE[rt.name as "bun" | "deno"];
      if (process.env.HCS_STORE_FFI === "1") {
        assert.equal(loaded.implementation, rule.ffi);
        assert.ok(disk.reader instanceof NativeReader);
      } else {
        assert.equal(loaded.implementation, `${rule.ffi} + ${rule.runtime}`);
        assert.match(loaded.reason ?? "", /bench\/disk_bytes\.ts/);
        assert.ok(disk.reader instanceof SizeDispatchReader);
      }
    } else if (isDeno) {
      assert.deepEqual(loaded, {
        key: "disk",
        implementation: "pure",
        reason: "ffi permission not granted",
      });
      assert.ok(disk.reader instanceof PureReader);
    }
    // Whatever was chosen reads and decodes.
    const root = tempRoot();
    try {
      await disk.saveBatch(["a", { b: [1, 2] }, new Uint8Array([9, 8, 7])], [
        `${root}/a.txt`,
        `${root}/b.json`,
        `${root}/c.bin`,
      ]);
      assert.deepEqual(await disk.loadBatch([`${root}/b.json`, `${root}/a.txt`]), [
        { b: [1, 2] },
        "a",
      ]);
      assert.deepEqual(
        await disk.load(`${root}/c.bin`, { as: "bytes" }),
        new Uint8Array([9, 8, 7]),
      );
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("HCS_STORE_FFI=0 forces the pure reader (child process)", () => {
    const out = runProbe(["describe"], { env: { HCS_STORE_FFI: "0" } });
    assert.deepEqual(out, {
      key: "disk",
      implementation: "pure",
      reason: "HCS_STORE_FFI=0",
      reader: "PureReader",
    });
  });

  it("HCS_STORE_FFI=1 forces FFI where the runtime allows it (child process)", () => {
    const out = runProbe(["describe"], { env: { HCS_STORE_FFI: "1" } });
    const expected = rt.name === "bun" ? "ffi(bun, readv)" : "ffi(deno, readv)";
    assert.deepEqual(out, {
      key: "disk",
      implementation: expected,
      reason: "forced by HCS_STORE_FFI=1",
      reader: "NativeReader",
    });
  });

  it(
    "Deno without --allow-ffi gets pure, with the reason (child process, never prompts)",
    { skip: isDeno ? false : "Deno only" },
    () => {
      const out = runProbe(["describe"], {
        env: { HCS_STORE_FFI: "1" },
        runtimeFlags: ["run", "--allow-read", "--allow-write", "--allow-env", "--no-prompt"],
      });
      assert.deepEqual(out, {
        key: "disk",
        implementation: "pure",
        reason: "HCS_STORE_FFI=1, but ffi permission not granted",
        reader: "PureReader",
      });
    },
  );
});

describe("permission errors as root without DAC capabilities", () => {
  const asRoot = process.getuid?.() === 0;
  const setpriv = asRoot && spawnSync("setpriv", ["--version"]).status === 0;
  it(
    "pure and FFI readers throw PermissionDeniedError and leak no descriptor (2,000 loads each)",
    {
      skip: !asRoot
        ? "covered in tests/ffi.test.ts when not root"
        : !setpriv
        ? "setpriv not available"
        : false, // the child runs with -A (Deno) or on Bun: FFI is available there
    },
    () => {
      const dir = tempRoot();
      try {
        fs.chmodSync(dir, 0o755);
        const file = `${dir}/locked.bin`;
        fs.writeFileSync(file, "secret");
        fs.chmodSync(file, 0o000);
        const out = runProbe(["permission", file], {
          // root without the DAC capabilities: denied by mode bits, yet able
          // to reach the checkout and the runtime binary wherever they are
          prefix: [
            "setpriv",
            "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search",
          ],
        }) as Record<string, { outcomes: string[]; before: number; after: number }>;
        const expected = rt.name === "bun" ? "ffi(bun, readv)" : "ffi(deno, readv)";
        assert.equal(out.ffiImplementation as unknown, expected);
        for (const name of ["pure", "ffi"]) {
          assert.deepEqual(out[name], {
            outcomes: ["PermissionDeniedError EACCES"],
            before: 0,
            after: 0,
          });
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe("disk backend zero-copy mode (mapFiles) and leased arenas (leaseFiles)", () => {
  it("FFI reader: views equal loadBatch bytes, released views are detached", {
    skip: ffiSkip,
  }, async () => {
    const root = tempRoot();
    try {
      const disk = new DiskBackend({ reader: ffiReader! });
      const paths = [`${root}/a.bin`, `${root}/b c.bin`, `${root}/empty.bin`];
      await disk.saveBatch([
        new Uint8Array(200_000).map((_, i) => i * 7),
        new Uint8Array([1, 2, 3]),
        new Uint8Array(0),
      ], paths);
      const bytes = await disk.loadBatch<Uint8Array>(paths, { as: "bytes" });
      const mapped = await disk.mapFiles(paths);
      const views = paths.map((_, i) => mapped.get(i));
      views.forEach((v, i) => assert.deepEqual(v, bytes[i]));
      mapped[Symbol.dispose]();
      mapped.release();
      assert.ok(views.every((v) => v.length === 0));
      assert.throws(() => mapped.get(0));
      const lease = await disk.leaseFiles(paths);
      const leased = paths.map((_, i) => lease.get(i));
      leased.forEach((v, i) => assert.deepEqual(v, bytes[i]));
      lease.release();
      assert.ok(leased.every((v) => v.length === 0));
      await assert.rejects(disk.mapFiles([`${root}/missing`]), NotFoundError);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("pure reader: mapFiles and leaseFiles reject with UnsupportedOperationError", async () => {
    const disk = new DiskBackend({ reader: new PureReader(), implementation: "pure" });
    await assert.rejects(
      disk.mapFiles(["/tmp/x"]),
      (e: unknown) =>
        e instanceof UnsupportedOperationError && e.code === "ERR_UNSUPPORTED_OPERATION",
    );
    await assert.rejects(
      disk.leaseFiles(["/tmp/x"]),
      (e: unknown) =>
        e instanceof UnsupportedOperationError && e.code === "ERR_UNSUPPORTED_OPERATION",
    );
  });
});
