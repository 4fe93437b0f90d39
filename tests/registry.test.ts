import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { DISK_READER_TABLE } from "../registry/disk_choice.ts";
import {
  backendKey,
  BackendNotFoundError,
  createRegistry,
  describeBackends,
  getBackend,
  registerBackend,
  Registry,
  resetMemoryBackend,
  storageRegistry,
} from "../mod.ts";
import type { AnyBackend, BackendEntry } from "../mod.ts";
import { MemoryBackend } from "../backends/memory.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const deno = `${root}node_modules/.bin/deno`;
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

function countingEntry(key: string, delayMs = 20): { entry: BackendEntry; calls: () => number } {
  let calls = 0;
  return {
    calls: () => calls,
    entry: {
      key,
      supports: () => true,
      load: async () => {
        calls++;
        await tick(delayMs);
        return new MemoryBackend(key);
      },
    },
  };
}

describe("registry", () => {
  it("getBackend is case-insensitive and returns one instance", async () => {
    const reg = createRegistry();
    const a = await reg.getBackend("memory");
    const b = await reg.getBackend("MeMoRy");
    assert.equal(a, b);
    assert.equal(a.key, "memory");
  });

  it("concurrent first calls initialise once (single flight)", async () => {
    const reg = new Registry([]);
    const { entry, calls } = countingEntry("slow");
    reg.registerEntry(entry);
    const all = await Promise.all(
      Array.from({ length: 25 }, (_, i) => reg.getBackend(backendKey(i % 2 ? "SLOW" : "slow"))),
    );
    assert.equal(calls(), 1);
    assert.ok(all.every((b) => b === all[0]));
  });

  it("single flight applies to user factories too", async () => {
    const reg = createRegistry();
    let calls = 0;
    reg.registerBackend("Remote", async () => {
      calls++;
      await tick(20);
      return new MemoryBackend("remote");
    });
    const [a, b, c] = await Promise.all([
      reg.getBackend(backendKey("remote")),
      reg.getBackend(backendKey("REMOTE")),
      reg.getBackend(backendKey("Remote")),
    ]);
    assert.equal(calls, 1);
    assert.ok(a === b && b === c);
  });

  it("a failing factory rejects every waiter and is retried on the next call", async () => {
    const reg = createRegistry();
    let calls = 0;
    reg.registerBackend("flaky", async () => {
      calls++;
      await tick(5);
      if (calls === 1) throw new Error("connection refused");
      return new MemoryBackend("flaky");
    });
    const results = await Promise.allSettled([
      reg.getBackend(backendKey("flaky")),
      reg.getBackend(backendKey("flaky")),
    ]);
    assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
    assert.equal(calls, 1);
    assert.equal((await reg.getBackend(backendKey("flaky"))).key, "flaky");
    assert.equal(calls, 2);
  });

  it("unknown key → BackendNotFoundError listing what is available", async () => {
    const reg = createRegistry();
    await assert.rejects(reg.getBackend(backendKey("gcs")), (err: unknown) => {
      assert.ok(err instanceof BackendNotFoundError);
      assert.equal(err.code, "ERR_BACKEND_NOT_FOUND");
      assert.match(err.message, /gcs/);
      assert.match(err.message, /memory/);
      assert.ok(err.available.includes("memory"));
      return true;
    });
  });

  it("an entry unsupported on this runtime is not available, with its reason", async () => {
    const reg = new Registry([]);
    reg.registerEntry({
      key: "nowhere",
      supports: () => "needs a GPU",
      load: () => Promise.reject(new Error("never")),
    });
    await assert.rejects(reg.getBackend(backendKey("nowhere")), (err: unknown) => {
      assert.ok(err instanceof BackendNotFoundError);
      assert.match(err.message, /needs a GPU/);
      return true;
    });
    assert.deepEqual(reg.describeBackends(), [{
      key: "nowhere",
      implementation: "unavailable",
      reason: "needs a GPU",
    }]);
  });

  it("registerBackend takes instances, classes and factories; keys case-insensitive", async () => {
    const reg = createRegistry();
    const inst = new MemoryBackend("inst");
    reg.registerBackend("Inst", inst);
    class Custom extends MemoryBackend {
      constructor() {
        super("custom");
      }
    }
    reg.registerBackend("CUSTOM", Custom);
    reg.registerBackend("fact", () => new MemoryBackend("fact"));
    assert.equal(await reg.getBackend(backendKey("inst")), inst);
    assert.ok((await reg.getBackend(backendKey("custom"))) instanceof Custom);
    assert.equal((await reg.getBackend(backendKey("FACT"))).key, "fact");
    assert.throws(() => reg.registerBackend("", inst), TypeError);
  });

  it("createRegistry is isolated and starts with built-ins only", async () => {
    registerBackend("only-in-default", () => new MemoryBackend("only-in-default"));
    const reg = createRegistry();
    await assert.rejects(reg.getBackend(backendKey("only-in-default")), BackendNotFoundError);
    assert.equal((await getBackend(backendKey("only-in-default"))).key, "only-in-default");
    assert.notEqual(await reg.getBackend("memory"), await storageRegistry.getBackend("memory"));
  });

  it("describeBackends says per key which implementation and why", () => {
    const reg = createRegistry();
    reg.registerBackend("mine", () => new MemoryBackend("mine"));
    const d = reg.describeBackends();
    assert.ok(Array.isArray(d));
    const mem = d.find((x) => x.key === "memory");
    assert.ok(mem && typeof mem.implementation === "string");
    assert.deepEqual(d.find((x) => x.key === "mine"), { key: "mine", implementation: "user" });
    for (const x of d) assert.equal(typeof x.key, "string");
    assert.ok(describeBackends().some((x) => x.key === "memory"));
  });

  it("resetMemoryBackend clears files and keeps directories", async () => {
    const mem = await getBackend("memory");
    await mem.ensureDirectory("/reg-test/sub");
    await mem.save("x", "/reg-test/sub/a.txt", { overwrite: true });
    resetMemoryBackend();
    assert.equal(await mem.isDir("/reg-test/sub"), true);
    assert.equal(await mem.exists("/reg-test/sub/a.txt"), false);
  });

  it("registering over a key replaces the cached instance", async () => {
    const reg = createRegistry();
    const a: AnyBackend = new MemoryBackend("k");
    const b: AnyBackend = new MemoryBackend("k");
    reg.registerBackend("k", a);
    assert.equal(await reg.getBackend(backendKey("k")), a);
    reg.registerBackend("k", b);
    assert.equal(await reg.getBackend(backendKey("k")), b);
  });
});

describe("lazy loading of the main entry", () => {
  it("mod.ts's static module graph has no node:, npm:, bun:, FFI or backend modules", () => {
    const r = spawnSync(deno, ["info", "--json", `${root}mod.ts`], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    type Dep = { code?: { specifier: string }; isDynamic?: boolean };
    const graph = JSON.parse(r.stdout) as {
      roots: string[];
      modules: { specifier: string; dependencies?: Dep[] }[];
    };
    const bySpec = new Map(graph.modules.map((m) => [m.specifier, m]));
    // Static closure: follow only non-dynamic code imports from the root.
    const seen = new Set<string>();
    const stack = [...graph.roots];
    while (stack.length) {
      const spec = stack.pop()!;
      if (seen.has(spec)) continue;
      seen.add(spec);
      for (const d of bySpec.get(spec)?.dependencies ?? []) {
        if (d.code && !d.isDynamic) stack.push(d.code.specifier);
      }
    }
    const specs = [...seen];
    assert.ok(specs.some((s) => s.endsWith("/mod.ts")));
    assert.ok(specs.some((s) => s.endsWith("/registry/registry.ts")));
    // The memory backend is reachable, but only through a dynamic import.
    assert.ok(graph.modules.some((m) => m.specifier.endsWith("/backends/memory.ts")));
    const bad = specs.filter((s) =>
      /^(node|npm|bun):/.test(s) || s.includes("/ffi/") || /\/backends\/(?!base\.ts|_)/.test(s) ||
      s.includes("zarrita")
    );
    assert.deepEqual(bad, []);
  });

  it("imports and runs with no permissions at all in Deno", () => {
    const r = spawnSync(deno, [
      "run",
      "--no-prompt",
      "--no-config",
      `${root}tests/fixtures/no_permissions.ts`,
    ], {
      encoding: "utf8",
      cwd: root,
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
    assert.equal(out.loaded, "hello");
    assert.ok(out.keys.includes("memory"));
  });
});

describe("disk reader choice follows the measured table; HCS_STORE_FFI forces (child processes)", () => {
  const probe = `${root}tests/fixtures/ffi_probe.ts`;
  const bun = `${root}node_modules/.bin/bun`;
  type Out = {
    implementation: string;
    reason?: string;
    reader: string;
    small: string;
    large: string;
  };
  const run = (argv: string[], ffi: string): Out => {
    const dir = mkdtempSync(join(tmpdir(), "hcs-reg-disk-"));
    try {
      // "" rather than deleting the key: Deno's child_process merges env.
      const r = spawnSync(argv[0]!, [...argv.slice(1), probe, "dispatch", dir], {
        encoding: "utf8",
        cwd: root,
        timeout: 60_000,
        env: { ...process.env, HCS_STORE_FFI: ffi },
      });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout.trim().split("\n").pop()!) as Out;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const table = DISK_READER_TABLE;
  for (const [name, argv] of [["deno", [deno, "run", "-A"]], ["bun", [bun]]] as const) {
    const rule = table[name];
    it(`${name}: unset → per batch by size (FFI for 4 KiB files, runtime reads for 1 MiB), reason cites the bench`, () => {
      const out = run([...argv], "");
      assert.equal(out.reader, "SizeDispatchReader");
      assert.equal(out.implementation, `${rule.ffi} + ${rule.runtime}`);
      assert.match(out.reason ?? "", /per batch by mean file size .*bench\/disk_bytes\.ts/);
      assert.equal(out.small, rule.ffi);
      assert.equal(out.large, rule.runtime);
    });
    it(`${name}: HCS_STORE_FFI=1 → FFI for every batch`, () => {
      const out = run([...argv], "1");
      assert.equal(out.reader, "NativeReader");
      assert.equal(out.implementation, rule.ffi);
      assert.equal(out.reason, "forced by HCS_STORE_FFI=1");
      assert.equal(out.small, rule.ffi);
      assert.equal(out.large, rule.ffi);
    });
    it(`${name}: HCS_STORE_FFI=0 → pure for every batch`, () => {
      const out = run([...argv], "0");
      assert.equal(out.reader, "PureReader");
      assert.deepEqual([out.implementation, out.reason, out.small, out.large], [
        "pure",
        "HCS_STORE_FFI=0",
        "pure",
        "pure",
      ]);
    });
  }
  it("deno without --allow-ffi: HCS_STORE_FFI=1 cannot force FFI and says why", () => {
    const out = run(
      [deno, "run", "--allow-read", "--allow-write", "--allow-env", "--no-prompt"],
      "1",
    );
    assert.equal(out.reader, "PureReader");
    assert.equal(out.implementation, "pure");
    assert.equal(out.reason, "HCS_STORE_FFI=1, but ffi permission not granted");
  });
});
