/**
 * Huge pages in the FFI reader (issue 15): the same bytes with them on and
 * off around the 4 MiB threshold and 2 MiB boundaries; no `MADV_HUGEPAGE`
 * when switched off (a spy over the bound libc); huge pages really obtained
 * where the kernel gives them (the arena's mapping in /proc/self/smaps); and
 * the allocator installed into `_internal/alloc.ts` (zeroed, exact length,
 * 4096-aligned `byteOffset`, advised).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import process from "node:process";
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { scriptRuntimes } from "./_runtimes.ts";
import { createBulkReader, NativeReader, type NativeReaderOptions } from "../ffi/mod.ts";
import { type LibcTarget, libcTarget } from "../ffi/libc.ts";
import { HUGE_MIN_BYTES, HUGE_PAGE, type LibcCalls, PAGE } from "../ffi/ops.ts";
import { allocBytes, installLargeAllocator, largeAllocator } from "../_internal/alloc.ts";
import { runtime } from "../registry/runtime.ts";
import { pattern } from "./_files.ts";

const rt = runtime();
const ROOT = nodePath.resolve(import.meta.dirname ?? ".", "..");
const MADV_HUGEPAGE = 14;
const MADV_POPULATE_WRITE = 23;

const choice = await createBulkReader(rt);
const ffiSkip: string | false = choice.reader instanceof NativeReader
  ? false
  : `FFI reader not available: ${choice.reason ?? choice.implementation}`;
const target: LibcTarget | undefined = (() => {
  const t = libcTarget(rt.os, rt.arch);
  return typeof t === "string" ? undefined : t;
})();
const hugeSkip: string | false = ffiSkip ||
  (target?.hugePage === undefined ? `no MADV_HUGEPAGE on ${rt.os}` : false);

/** The kernel's THP mode, or undefined where unreadable. */
function thpMode(): string | undefined {
  try {
    const text = fs.readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8");
    return /\[(\w+)\]/.exec(text)?.[1];
  } catch {
    return undefined;
  }
}
const thp = thpMode();

/** A fresh binding of libc for this runtime (the reader's own is private). */
async function bindLibc(): Promise<LibcCalls> {
  if (!target) throw new Error("no libc target");
  if (rt.name === "deno") return (await import("../ffi/deno.ts")).openDenoLibc(target);
  return await (await import("../ffi/bun.ts")).openBunLibc(target);
}

interface Advice {
  address: number;
  length: number;
  advice: number;
}

/** `libc` with every `madvise` (sync or async) recorded. */
function spy(libc: LibcCalls): { libc: LibcCalls; calls: Advice[] } {
  const calls: Advice[] = [];
  const wrapped: LibcCalls = {
    ...libc,
    madvise(address, length, advice) {
      calls.push({ address, length, advice });
      return libc.madvise(address, length, advice);
    },
  };
  const madviseAsync = libc.madviseAsync;
  if (madviseAsync) {
    wrapped.madviseAsync = (address, length, advice) => {
      calls.push({ address, length, advice });
      return madviseAsync(address, length, advice);
    };
  }
  return { libc: wrapped, calls };
}

const M = 1 << 20;
/** Sizes around the threshold and 2 MiB boundaries (and the 64-byte slots). */
const SIZES = [
  1,
  2 * M - 1,
  2 * M,
  2 * M + 1,
  HUGE_MIN_BYTES - 65,
  HUGE_MIN_BYTES - 1,
  HUGE_MIN_BYTES,
  HUGE_MIN_BYTES + 1,
  6 * M + 4095,
  8 * M,
  8 * M + 1,
  10 * M - 64,
  12 * M + 7,
];

/** `AnonHugePages` of the whole process in KiB, or undefined where unreadable. */
function anonHugeKiB(): number | undefined {
  try {
    const m = /AnonHugePages:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/smaps_rollup", "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

describe("FFI reader huge pages", () => {
  let dir = "";
  let paths: string[] = [];
  let want: Uint8Array[] = [];
  let savedEnv: string | undefined;
  before(() => {
    dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-huge-"));
    want = SIZES.map((size, i) => pattern(size, 0x9e3779b9 ^ (i * 7919)));
    paths = want.map((bytes, i) => {
      const p = nodePath.join(dir, `f${i}.bin`);
      fs.writeFileSync(p, bytes);
      return p;
    });
    savedEnv = process.env.HCS_STORE_HUGEPAGES;
    delete process.env.HCS_STORE_HUGEPAGES;
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    if (savedEnv !== undefined) process.env.HCS_STORE_HUGEPAGES = savedEnv;
  });

  async function reader(options: NativeReaderOptions): Promise<NativeReader> {
    const c = await createBulkReader(rt, options);
    if (!(c.reader instanceof NativeReader)) throw new Error(`no FFI reader: ${c.reason}`);
    return c.reader;
  }

  function assertSame(got: readonly Uint8Array[], label: string): void {
    assert.equal(got.length, want.length, label);
    for (let i = 0; i < want.length; i++) {
      assert.equal(got[i]!.length, want[i]!.length, `${label}: length of file ${i}`);
      assert.ok(Buffer.from(got[i]!).equals(want[i]!), `${label}: bytes of file ${i}`);
    }
  }

  it(
    "reads the same bytes with huge pages on and off (every read path)",
    { skip: ffiSkip },
    async () => {
      const variants: Array<[string, NativeReaderOptions]> = [];
      for (const hugePages of [true, false]) {
        for (const chunkBytes of [1, 5 * M, 32 << 20]) {
          variants.push([`huge ${hugePages}, chunk ${chunkBytes}`, { hugePages, chunkBytes }]);
        }
        variants.push([`huge ${hugePages}, no prefault`, { hugePages, prefault: false }]);
        variants.push([`huge ${hugePages}, prefault off-thread`, {
          hugePages,
          prefaultOffThread: true,
          chunkBytes: 9 * M,
        }]);
      }
      for (const [label, options] of variants) {
        const r = await reader(options);
        assertSame(await r.readFiles(paths, "loadBatch"), `${label} readFiles`);
        assertSame(r.readFilesSync(paths, "loadBatch"), `${label} readFilesSync`);
        for (let round = 0; round < 2; round++) {
          using lease = await r.leaseFiles(paths, "loadBatch");
          assertSame(
            Array.from({ length: lease.length }, (_, i) => lease.get(i)),
            `${label} leaseFiles round ${round}`,
          );
        }
      }
    },
  );

  it("switched off (option or HCS_STORE_HUGEPAGES=0): never advises MADV_HUGEPAGE", {
    skip: hugeSkip,
  }, async () => {
    const { libc, calls } = spy(await bindLibc());
    // The default follows bench/ffi.ts: off for both bindings (the p99 regressed with them).
    assert.equal(new NativeReader("ffi(deno, readv)", libc, target!).hugePages, false);
    assert.equal(new NativeReader("ffi(bun, readv)", libc, target!).hugePages, false);
    const off = new NativeReader("ffi(test)", libc, target!, { hugePages: false });
    assert.equal(off.hugePages, false);
    assertSame(await off.readFiles(paths, "loadBatch"), "off");
    assert.equal(calls.filter((c) => c.advice === MADV_HUGEPAGE).length, 0);
    assert.ok(calls.some((c) => c.advice === MADV_POPULATE_WRITE), "prefault still on");

    process.env.HCS_STORE_HUGEPAGES = "0";
    try {
      const byEnv = new NativeReader("ffi(test)", libc, target!, { hugePages: true });
      assert.equal(byEnv.hugePages, false);
      calls.length = 0;
      assertSame(byEnv.readFilesSync(paths, "loadBatch"), "env off");
      assert.equal(calls.filter((c) => c.advice === MADV_HUGEPAGE).length, 0);
    } finally {
      delete process.env.HCS_STORE_HUGEPAGES;
    }
  });

  it("switched on: advises each large fresh arena on 2 MiB boundaries before populating it", {
    skip: hugeSkip || (thp === "never" ? "THP mode is never" : false),
  }, async () => {
    const { libc, calls } = spy(await bindLibc());
    const on = new NativeReader("ffi(test)", libc, target!, { chunkBytes: 1, hugePages: true });
    assert.equal(on.hugePages, true);
    const got = on.readFilesSync(paths, "loadBatch");
    assertSame(got, "on");
    // One arena per file (chunkBytes 1): every file of 4 MiB or more got one
    // MADV_HUGEPAGE, 2 MiB-aligned, starting at the arena (the view's start).
    const huge = calls.filter((c) => c.advice === MADV_HUGEPAGE);
    const large = SIZES.filter((s) => s + 1 + 63 >= HUGE_MIN_BYTES).length;
    assert.equal(huge.length, large);
    for (let i = 0; i < got.length; i++) {
      if (SIZES[i]! + 1 + 63 < HUGE_MIN_BYTES) continue;
      const address = libc.addressOf(got[i]!);
      assert.equal(address % HUGE_PAGE, 0, `file ${i} starts on a huge page`);
      const advice = huge.find((c) => c.address === address);
      assert.ok(advice, `file ${i}: advised at its arena's start`);
      assert.equal(advice.length % HUGE_PAGE, 0);
      assert.ok(advice.length >= Math.floor(SIZES[i]! / HUGE_PAGE) * HUGE_PAGE);
      const k = calls.indexOf(advice);
      const populate = calls.findIndex((c, j) =>
        j > k && c.advice === MADV_POPULATE_WRITE && c.address === address
      );
      assert.ok(populate > k, `file ${i}: populated after the advice`);
    }
  });

  it("huge pages are really obtained (the arena's mapping in /proc/self/smaps, fresh process)", {
    skip: hugeSkip ||
      (thp === undefined || thp === "never"
        ? `THP mode ${thp ?? "unreadable"}: no huge pages to check`
        : false) ||
      (anonHugeKiB() === undefined ? "/proc/self/smaps_rollup unreadable" : false),
  }, () => {
    // In a fresh process: here, earlier tests left freed memory that the
    // allocator hands back already faulted in (4 KiB pages, but no faults).
    const big = [8, 9, 10, 11].map((i) => paths[i]!); // 6–10 MiB files, ~32 MiB
    const script = nodePath.join(dir, "probe.ts");
    const url = (p: string) => JSON.stringify(pathToFileURL(nodePath.join(ROOT, p)).href);
    fs.writeFileSync(
      script,
      `import * as fs from "node:fs";
import { createBulkReader } from ${url("ffi/mod.ts")};
import { libcTarget } from ${url("ffi/libc.ts")};
import { runtime } from ${url("registry/runtime.ts")};
const rt = runtime();
const target = libcTarget(rt.os, rt.arch);
const libc = rt.name === "deno"
  ? (await import(${url("ffi/deno.ts")})).openDenoLibc(target)
  : await (await import(${url("ffi/bun.ts")})).openBunLibc(target);
const { reader } = await createBulkReader(rt, { hugePages: true });
const rollup = () => Number(/AnonHugePages:\\s+(\\d+)/.exec(fs.readFileSync("/proc/self/smaps_rollup", "utf8"))[1]);
const before = rollup();
const got = await reader.readFiles(${JSON.stringify(big)}, "loadBatch");
const grown = rollup() - before;
const address = libc.addressOf(got[0]);
let found;
for (const block of fs.readFileSync("/proc/self/smaps", "utf8").split(/\\n(?=[0-9a-f]+-)/)) {
  const [lo, hi] = block.split(" ")[0].split("-").map((h) => parseInt(h, 16));
  if (address >= lo && address < hi) found = block;
}
const field = (name) =>
  (found ?? "").split("\\n").find((l) => l.startsWith(name + ":"))?.slice(name.length + 1).trim() ?? "";
console.log(JSON.stringify({
  hugePages: reader.hugePages,
  range: (found ?? "").split(" ")[0],
  anonHuge: parseInt(field("AnonHugePages"), 10),
  flags: field("VmFlags"),
  grown,
  sizes: got.map((b) => b.length),
}));
`,
    );
    const argv = scriptRuntimes(script).find(([name]) => name === rt.name)![1];
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    console.log(`THP ${thp}: ${r.stdout.trim()}`);
    assert.equal(out.hugePages, true);
    assert.deepEqual(out.sizes, [8, 9, 10, 11].map((i) => SIZES[i]));
    if (thp === "madvise") assert.match(out.flags, /\bhg\b/, "the arena's mapping is advised");
    // One ~32 MiB arena: all of it but the unaligned tail is in huge pages.
    assert.ok(
      out.anonHuge >= 16 * 1024,
      `AnonHugePages of the arena's mapping: ${out.anonHuge} kB`,
    );
    assert.ok(out.grown >= 16 * 1024, `process AnonHugePages grew by ${out.grown} kB`);
  });

  it(
    "allocBytes through the installed allocator: zeroed, exact length, 4096-aligned byteOffset, advised",
    {
      skip: hugeSkip || (thp === "never" ? "THP mode is never" : false),
    },
    async () => {
      const saved = largeAllocator();
      installLargeAllocator(undefined);
      try {
        const { libc, calls } = spy(await bindLibc());
        const r = new NativeReader("ffi(test)", libc, target!, { hugePages: true });
        assert.equal(r.hugePages, true);
        assert.deepEqual(largeAllocator(), { installed: true, minBytes: HUGE_MIN_BYTES });
        for (
          const n of [HUGE_MIN_BYTES - 1, HUGE_MIN_BYTES, HUGE_MIN_BYTES + 1, 8 * M, 9 * M + 123]
        ) {
          calls.length = 0;
          const b = allocBytes(n);
          assert.equal(b.length, n);
          assert.equal(b.byteOffset % PAGE, 0, `byteOffset ${b.byteOffset}`);
          let nonZero = 0;
          for (let i = 0; i < n; i++) nonZero |= b[i]!;
          assert.equal(nonZero, 0, "zero-filled");
          b[0] = 1;
          b[n - 1] = 2; // writable to its last byte
          assert.equal(b[n - 1], 2);
          const advised = calls.filter((c) => c.advice === MADV_HUGEPAGE);
          if (n < HUGE_MIN_BYTES) {
            assert.equal(advised.length, 0, `${n} bytes: below the threshold`);
            continue;
          }
          assert.equal(advised.length, 1, `${n} bytes: one MADV_HUGEPAGE`);
          const start = libc.addressOf(b);
          const a = advised[0]!;
          // Everything but (at most) the first partial page is in the advised range.
          assert.ok(
            a.address >= start && a.address - start < PAGE,
            "advised from the first huge page",
          );
          assert.equal(a.address % HUGE_PAGE, 0);
          assert.ok(a.address + a.length >= Math.floor((start + n) / HUGE_PAGE) * HUGE_PAGE);
        }
      } finally {
        installLargeAllocator(undefined);
        if (saved.installed) await reader({ hugePages: true }); // a reader reinstalls one
      }
    },
  );
});
