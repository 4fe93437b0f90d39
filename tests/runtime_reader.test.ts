/**
 * The runtime reader (ffi/runtime_reader.ts: the runtime's own thread-pooled
 * reads) and the size-dispatching reader (ffi/dispatch.ts) the registry
 * builds from them: the arena readers' guarantees (contents in order, the
 * same typed errors, special files refused before reading, sizes checked,
 * 2 GiB cap, no descriptor leaks), leases through the FFI reader, the
 * per-batch choice by mean size, and the whole conformance suite on a disk
 * backend reading with each. Gated variants skip where FFI is unavailable.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as nodePath from "node:path";
import process from "node:process";
import { conformance } from "./conformance.ts";
import { openFds, pattern, withDir as withDirIn } from "./_files.ts";
import { DiskBackend } from "../backends/disk.ts";
import {
  chooseDiskReader,
  createBulkReader,
  NativeReader,
  PureReader,
  RuntimeReader,
  SizeDispatchReader,
} from "../ffi/mod.ts";
import { NativeOps } from "../ffi/native.ts";
import { libcTarget } from "../ffi/libc.ts";
import type { BulkReader } from "../ffi/types.ts";
import { runtime } from "../registry/runtime.ts";
import { DISK_READER_TABLE, diskReaderPlan } from "../registry/disk_choice.ts";
import { type StorageError, UnsupportedOperationError } from "../errors.ts";

const rt = runtime();
const ffiChoice = await createBulkReader(rt);
const ffi = ffiChoice.reader instanceof NativeReader ? ffiChoice.reader : undefined;
const ffiSkip: string | false = ffi ? false : `FFI not available: ${ffiChoice.reason}`;
const onLinux = rt.os === "linux";
/** Whether this process may read /proc (Deno without --allow-all may not). */
const procReadable = (() => {
  try {
    fs.readdirSync("/proc/self/fd");
    fs.readFileSync("/proc/version");
    return true;
  } catch {
    return false;
  }
})();
const procSkip: string | false = !onLinux
  ? "needs /proc (Linux)"
  : procReadable
  ? false
  : "needs read access to /proc (Deno without --allow-all)";

/** The FFI descriptor operations (a fresh binding; the reader keeps its own private). */
async function gate(): Promise<NativeOps> {
  const target = libcTarget(rt.os, rt.arch);
  if (typeof target === "string") throw new Error(target);
  const libc = rt.name === "deno"
    ? (await import("../ffi/deno.ts")).openDenoLibc(target)
    : await (await import("../ffi/bun.ts")).openBunLibc(target);
  return new NativeOps(libc, target);
}

type Hooks = {
  afterSize?: (path: string, attempt: number) => void;
  afterRead?: (path: string, attempt: number) => void;
  retries?: number;
};
type Make = (hooks?: Hooks) => Promise<BulkReader>;

const kinds: [string, Make, string | false][] = [
  ["runtime, ungated", (h = {}) =>
    Promise.resolve(
      new RuntimeReader({
        fallback: new PureReader(h),
        ...(h.afterSize ? { afterSize: h.afterSize } : {}),
      }),
    ), false],
  ["runtime, gated", async (h = {}) =>
    new RuntimeReader({
      gate: await gate(),
      fallback: (await createBulkReader(rt, h)).reader,
      delegate: ffi!,
      ...(h.afterSize ? { afterSize: h.afterSize } : {}),
    }), ffiSkip],
  // threshold 1: every non-empty batch goes to the runtime reader; huge: to FFI
  ...([1, 2 ** 40] as const).map((t): [string, Make, string | false] => [
    `dispatch, threshold ${t}`,
    async (h = {}) => {
      const g = await gate();
      const arena = (await createBulkReader(rt, h)).reader;
      const large = new RuntimeReader({
        gate: g,
        fallback: arena,
        delegate: arena,
        ...(h.afterSize ? { afterSize: h.afterSize } : {}),
      });
      return new SizeDispatchReader({ small: arena, large, thresholdBytes: t, gate: g });
    },
    ffiSkip,
  ]),
];

const withDir = (fn: (dir: string) => Promise<void>) => withDirIn("hcs-rtreader-", fn);

const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => "resolved",
    (e: Error & { code?: string }) => `${e.constructor.name} ${e.code} ${e.message}`,
  );

/** Fails instead of hanging when a read blocks. */
function settleWithin<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

for (const [kind, make, skip] of kinds) {
  describe(`bulk reader: ${kind}`, () => {
    it(
      "reads files of many sizes exactly, in request order, duplicates kept",
      { skip },
      withDir(async (dir) => {
        const sizes = [0, 1, 63, 4096, 65536, 100_000, 1 << 20, 0, 3];
        const paths = sizes.map((_, i) => `${dir}/f ${i} é.bin`);
        sizes.forEach((n, i) => fs.writeFileSync(paths[i]!, pattern(n, i + 1)));
        const reader = await make();
        const asked = [...paths].reverse().concat([paths[3]!]);
        const got = await reader.readFiles(asked, "loadBatch");
        assert.equal(got.length, asked.length);
        for (let i = 0; i < asked.length; i++) {
          assert.ok(Object.getPrototypeOf(got[i]) === Uint8Array.prototype);
          assert.deepEqual(got[i], new Uint8Array(fs.readFileSync(asked[i]!)), asked[i]!);
        }
        assert.deepEqual(await reader.readFiles([], "loadBatch"), []);
      }),
    );

    it(
      "the same error class, code and message as the pure reader",
      { skip },
      withDir(async (dir) => {
        fs.writeFileSync(`${dir}/f`, "x");
        fs.mkdirSync(`${dir}/d`);
        const reader = await make();
        const pure = new PureReader();
        for (const p of [`${dir}/missing`, `${dir}/d`, `${dir}/f/x`, `${dir}/a\0b`, ""]) {
          const [want, got] = await Promise.all(
            [pure, reader].map((r) => outcome(r.readFiles([`${dir}/f`, p], "loadBatch"))),
          );
          assert.notEqual(want, "resolved");
          assert.equal(got, want, p);
        }
      }),
    );

    it(
      "FIFO without a writer, socket, /dev/zero: refused before reading, nothing blocks",
      { skip: skip || (onLinux ? false : "needs Linux (mkfifo, /dev/zero)") },
      withDir(async (dir) => {
        const fifo = `${dir}/pipe.tif`;
        const sock = `${dir}/sock`;
        if (spawnSync("mkfifo", [fifo]).status !== 0) throw new Error("mkfifo failed");
        const server = net.createServer();
        await new Promise<void>((resolve) => server.listen(sock, resolve));
        try {
          fs.writeFileSync(`${dir}/ok`, "ok");
          const reader = await make();
          assert.equal(reader.refusesSpecialFiles, true);
          for (
            const [p, what] of [[fifo, /a FIFO/], [sock, /a socket/], [
              "/dev/zero",
              /a character device/,
            ]] as const
          ) {
            const e = await settleWithin(
              reader.readFiles([`${dir}/ok`, p], "loadBatch").then(() => undefined, (x) => x),
              10_000,
              p,
            );
            assert.ok(e instanceof UnsupportedOperationError, `${p}: ${e}`);
            assert.match((e as Error).message, what);
            assert.ok((e as Error).message.includes(p));
          }
        } finally {
          server.close();
        }
      }),
    );

    it(
      "a file that grows or shrinks after its size is known is re-read, never short or padded",
      { skip },
      withDir(async (dir) => {
        const grow = `${dir}/grow`;
        const shrink = `${dir}/shrink`;
        fs.writeFileSync(grow, pattern(10_000, 1));
        fs.writeFileSync(shrink, pattern(100_000, 2));
        const grown = pattern(80_000, 3);
        const shrunk = pattern(1234, 4);
        // Each file changes once, the first time any reader has its size: the
        // fallback's re-read of one file may come before the other's first
        // look (a count of changes let the fallback use up the second one).
        const changed = new Set<string>();
        const reader = await make({
          afterSize(path, attempt) {
            if (attempt !== 0 || changed.has(path)) return;
            if (path === grow) fs.writeFileSync(grow, grown), changed.add(path);
            if (path === shrink) fs.writeFileSync(shrink, shrunk), changed.add(path);
          },
        });
        const got = await reader.readFiles([grow, shrink], "loadBatch");
        assert.equal(changed.size, 2);
        // Lengths first: a deepEqual diff of 100 kB arrays takes minutes to print.
        assert.deepEqual(got.map((g) => g.length), [grown.length, shrunk.length]);
        assert.deepEqual(got[0], grown);
        assert.deepEqual(got[1], shrunk);
      }),
    );

    it(
      "a file that keeps changing size is reported (ERR_SIZE_CHANGED), descriptors closed",
      { skip: skip || procSkip },
      withDir(async (dir) => {
        const p = `${dir}/log`;
        fs.writeFileSync(p, "start");
        let n = 0;
        const reader = await make({
          retries: 2,
          afterSize(path) {
            if (path === p) fs.appendFileSync(p, `line ${n++}\n`);
          },
          afterRead(path) {
            if (path === p) fs.appendFileSync(p, `line ${n++}\n`);
          },
        });
        const before = openFds(dir);
        const e = await outcome(reader.readFiles([p], "load"));
        assert.match(e, /^StorageError ERR_SIZE_CHANGED .*changed size while being read/);
        assert.ok(e.includes(p));
        assert.equal(openFds(dir), before);
      }),
    );

    it(
      "pseudo-files (size 0, content on read) and empty files",
      { skip: skip || procSkip },
      withDir(async (dir) => {
        fs.writeFileSync(`${dir}/empty`, new Uint8Array(0));
        const reader = await make();
        const got = await reader.readFiles([`${dir}/empty`, "/proc/version"], "load");
        assert.equal(got[0]!.length, 0);
        assert.match(new TextDecoder().decode(got[1]), /^Linux version /);
      }),
    );

    it(
      "files over 2 GiB are refused with EFBIG (sparse file), descriptors closed",
      { skip },
      withDir(async (dir) => {
        const big = `${dir}/big.raw`;
        fs.writeFileSync(`${dir}/small`, "s");
        const fd = fs.openSync(big, "w");
        fs.ftruncateSync(fd, 3 * 1024 ** 3);
        fs.closeSync(fd);
        const reader = await make();
        const before = procReadable ? openFds(dir) : 0;
        const e = await outcome(reader.readFiles([`${dir}/small`, big], "loadBatch"));
        assert.match(e, /^StorageError EFBIG .*3221225472 bytes/);
        assert.ok(e.includes(big));
        if (procReadable) assert.equal(openFds(dir), before);
      }),
    );

    it(
      "no descriptor leaks: 3,000 failing loads (missing, directory, special, mid-batch)",
      { skip: skip || procSkip },
      withDir(async (dir) => {
        fs.writeFileSync(`${dir}/good`, pattern(5000, 1));
        fs.mkdirSync(`${dir}/sub`);
        const reader = await make();
        const cases: Array<[string[], string]> = [
          [[`${dir}/missing`], "ENOENT"],
          [[`${dir}/sub`], "EISDIR"],
          [[`${dir}/good`, `${dir}/good`, `${dir}/nope`, `${dir}/good`], "ENOENT"],
          [[`${dir}/good`, "/dev/null"], "ERR_UNSUPPORTED_OPERATION"],
        ];
        const before = openFds(dir);
        for (let i = 0; i < 3000; i++) {
          const [paths, code] = cases[i % cases.length]!;
          await assert.rejects(reader.readFiles(paths, "load"), (err: unknown) => {
            assert.equal((err as StorageError).code, code);
            return true;
          });
        }
        assert.equal(openFds(dir), before);
      }),
    );

    it(
      "leaseFiles and mapFiles go through the FFI reader where it is loaded",
      { skip: skip || (kind === "runtime, ungated" ? "no FFI reader to delegate to" : false) },
      withDir(async (dir) => {
        const body = pattern(70_000, 9);
        fs.writeFileSync(`${dir}/a`, body);
        const reader = await make();
        assert.ok(reader.leaseFiles && reader.mapFiles);
        const leased = await reader.leaseFiles([`${dir}/a`], "leaseFiles");
        assert.deepEqual(leased.get(0), body);
        leased.release();
        using mapped = await reader.mapFiles([`${dir}/a`], "mapFiles");
        assert.deepEqual(mapped.get(0), body);
      }),
    );
  });
}

describe("size dispatch", () => {
  it(
    "sends small-file batches to FFI and larger ones to the runtime reader",
    {
      skip: ffiSkip,
    },
    withDir(async (dir) => {
      const choice = await chooseDiskReader(rt);
      const env = process.env.HCS_STORE_FFI;
      if (env === "0" || env === "1") return; // forced: tested in tests/registry.test.ts
      const reader = choice.reader;
      assert.ok(reader instanceof SizeDispatchReader, choice.implementation);
      const rule = DISK_READER_TABLE[rt.name as "bun" | "deno"];
      assert.equal(reader.thresholdBytes, rule.thresholdBytes);
      assert.equal(choice.implementation, `${rule.ffi} + ${rule.runtime}`);
      const small = Array.from({ length: 20 }, (_, i) => `${dir}/s${i}`);
      const large = Array.from({ length: 4 }, (_, i) => `${dir}/l${i}`);
      small.forEach((p, i) => fs.writeFileSync(p, pattern(rule.thresholdBytes / 8, i)));
      large.forEach((p, i) => fs.writeFileSync(p, pattern(rule.thresholdBytes * 4, i)));
      const a = await reader.readFiles(small, "loadBatch");
      assert.equal(reader.lastChoice, rule.ffi);
      const b = await reader.readFiles(large, "loadBatch");
      assert.equal(reader.lastChoice, rule.runtime);
      // A mixed batch: by the sampled mean; either way the same bytes.
      const mixed = [...small, ...large];
      const c = await reader.readFiles(mixed, "loadBatch");
      assert.deepEqual(c, [...a, ...b]);
      for (let i = 0; i < mixed.length; i++) {
        assert.deepEqual(c[i], new Uint8Array(fs.readFileSync(mixed[i]!)));
      }
      // All missing: the FFI reader reports the first.
      await assert.rejects(reader.readFiles([`${dir}/x`, `${dir}/y`], "load"), /'.*\/x'/);
    }),
  );

  it("the plan: table per runtime, HCS_STORE_FFI switches, reasons", () => {
    for (const name of ["bun", "deno"] as const) {
      const rule = DISK_READER_TABLE[name];
      const d = diskReaderPlan(name, true, undefined);
      assert.equal(d.kind, "dispatch");
      assert.equal(d.implementation, `${rule.ffi} + ${rule.runtime}`);
      assert.match(d.reason ?? "", new RegExp(`below ${rule.thresholdBytes / 1024} KiB`));
      assert.match(d.reason ?? "", /bench\/disk_bytes\.ts/);
      assert.deepEqual(diskReaderPlan(name, true, "1"), {
        kind: "ffi",
        implementation: rule.ffi,
        reason: "forced by HCS_STORE_FFI=1",
      });
      assert.deepEqual(diskReaderPlan(name, true, "0"), {
        kind: "pure",
        implementation: "pure",
        reason: "HCS_STORE_FFI=0",
      });
      assert.deepEqual(diskReaderPlan(name, false, "1", "ffi permission not granted"), {
        kind: "pure",
        implementation: "pure",
        reason: "HCS_STORE_FFI=1, but ffi permission not granted",
      });
    }
    assert.equal(diskReaderPlan("node", true, undefined).reason, "node has no FFI");
  });
});

const readersForConformance: [string, () => Promise<BulkReader>][] = [
  ["runtime-ungated", () => Promise.resolve(new RuntimeReader({ fallback: new PureReader() }))],
];
if (ffi) {
  readersForConformance.push(["registry-choice", async () => {
    const c = await chooseDiskReader(rt);
    return c.reader;
  }]);
}
for (const [name, make] of readersForConformance) {
  conformance(`disk+${name}`, async () => {
    const root = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-rtreader-conf-"));
    const reader = await make();
    return {
      backend: new DiskBackend({ reader, implementation: reader.implementation }),
      root,
      teardown: () => fs.rmSync(root, { recursive: true, force: true }),
    };
  });
}
