/**
 * Atomic JSON and the cross-process file lock, proven with real Deno and Bun
 * processes (tests/fixtures/json_incrementer.ts), whatever runtime runs this file.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { atomicUpdateJson, atomicWriteJson } from "../json/atomic.ts";
import { lockFilePath, withFileLock } from "../lock/file_lock.ts";
import {
  CorruptDataError,
  IsADirectoryError,
  LockTimeoutError,
  NotFoundError,
  StorageError,
} from "../errors.ts";
import { DiskBackend } from "../backends/disk.ts";
import { hostTag } from "../_internal/liveness.ts";
import { commandMissing, peerSkip } from "./_peers.ts";

type Rt = "deno" | "bun" | "node";
const repo = fileURLToPath(new URL("..", import.meta.url));
const fixture = join(repo, "tests", "fixtures", "json_incrementer.ts");
const BIN: Record<Rt, string> = {
  deno: join(repo, "node_modules", ".bin", "deno"),
  bun: join(repo, "node_modules", ".bin", "bun"),
  node: "node",
};
/** The fixture bundled for Node (which cannot run TypeScript here), built on demand. */
let nodeBundle: string | undefined;

interface Exit {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

interface Child {
  pid: number;
  exited: Promise<Exit>;
  kill(signal: "SIGKILL" | "SIGSTOP" | "SIGCONT"): void;
  running(): boolean;
}

/** Starts the fixture; `prefix` (e.g. `unshare --pid --fork`) wraps the runtime. */
function run(rt: Rt, args: string[], prefix: string[] = []): Child {
  const argv = rt === "deno"
    ? ["run", "-A", fixture, ...args]
    : [rt === "node" ? nodeBundle! : fixture, ...args];
  const cmd = prefix.length > 0 ? prefix[0]! : BIN[rt];
  const child = spawn(cmd, prefix.length > 0 ? [...prefix.slice(1), BIN[rt], ...argv] : argv, {
    cwd: repo,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let stdout = "";
  let stderr = "";
  let done = false;
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<Exit>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      done = true;
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    pid: child.pid!,
    exited,
    kill: (s) => child.kill(s),
    running: () => !done,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "hcs-atomic-"));
}

/** Files in `dir` other than the expected ones (lock, temp, gate, marker leftovers). */
function leftovers(dir: string, keep: string[]): string[] {
  return readdirSync(dir).filter((n) => !keep.includes(n));
}

async function waitFor(path: string, child: Child, ms = 30_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const s = readFileSync(path, "utf8");
      if (s) return s;
    } catch {
      // not yet
    }
    if (!child.running()) {
      const e = await child.exited;
      throw new Error(`holder exited early: ${e.code} ${e.stderr}`);
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${path}`);
    await sleep(10);
  }
}

/** Starts a holder that enters atomicUpdateJson on `file` and waits forever. */
async function holder(rt: Rt, file: string): Promise<Child> {
  const ready = `${file}.ready-${rt}-${Math.random().toString(16).slice(2)}`;
  const child = run(rt, ["hold", file, ready]);
  const pid = Number(await waitFor(ready, child));
  assert.equal(pid, child.pid);
  rmSync(ready);
  return child;
}

async function killed(child: Child): Promise<void> {
  child.kill("SIGKILL");
  const e = await child.exited;
  assert.equal(e.signal, "SIGKILL");
}

interface Counter {
  count: number;
  by: Record<string, number>;
}

function readCounter(file: string): Counter {
  return JSON.parse(readFileSync(file, "utf8")) as Counter;
}

/** Runs incrementers concurrently and checks each one succeeded. */
async function incrementers(file: string, rts: Rt[], times: number): Promise<number> {
  const t0 = Date.now();
  const kids = rts.map((rt) => run(rt, ["increment", file, String(times), "60000"]));
  const exits = await Promise.all(kids.map((k) => k.exited));
  exits.forEach((e, i) => {
    assert.equal(e.code, 0, `${rts[i]} incrementer failed (${e.code}): ${e.stderr}`);
    const out = JSON.parse(e.stdout.trim().split("\n").pop()!) as { done: number };
    assert.equal(out.done, times);
  });
  return Date.now() - t0;
}

/** What the lock module writes into a lock file about this process's host. */
function hostFields(): Record<string, string> {
  const f: Record<string, string> = { host: hostname() };
  try {
    f.boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    // not Linux, or no permission (the lock module then omits it too)
  }
  try {
    f.pidns = readlinkSync("/proc/self/ns/pid");
  } catch {
    // idem
  }
  return f;
}

/** A pid that belonged to a process which has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(BIN.bun, ["-e", "0"], { stdio: "ignore" });
  const pid = child.pid!;
  await new Promise((r) => child.on("close", r));
  return pid;
}

function plantLock(path: string, record: Record<string, unknown>, ageMs = 0): string {
  const file = lockFilePath(path);
  writeFileSync(file, JSON.stringify(record));
  if (ageMs) {
    const t = new Date(Date.now() - ageMs);
    utimesSync(file, t, t);
  }
  return file;
}

const token = () => crypto.randomUUID().replaceAll("-", "");

describe("atomicUpdateJson across Deno and Bun processes", () => {
  it(
    "8 processes (4 Deno + 4 Bun) x 200 increments lose no update, twice (2nd after a SIGKILLed holder)",
    { timeout: 120_000 },
    async () => {
      const dir = tempDir();
      try {
        const file = join(dir, "counter.json");
        const mix: Rt[] = ["deno", "bun", "deno", "bun", "deno", "bun", "deno", "bun"];
        const ms1 = await incrementers(file, mix, 200);
        let c = readCounter(file);
        assert.equal(c.count, 1600);
        assert.equal(Object.keys(c.by).length, 8);
        for (const n of Object.values(c.by)) assert.equal(n, 200);
        assert.deepEqual(leftovers(dir, ["counter.json"]), []);

        // Round 2: a holder dies with SIGKILL inside the update; all 8 race to take over.
        const h = await holder("deno", file);
        await killed(h);
        assert.ok(readdirSync(dir).includes("counter.json.lock"), "the dead holder's lock remains");
        const ms2 = await incrementers(file, mix, 200);
        c = readCounter(file);
        assert.equal(c.count, 3200);
        assert.equal(Object.keys(c.by).length, 16);
        assert.deepEqual(leftovers(dir, ["counter.json"]), []);
        console.log(`8 x 200 increments: round 1 ${ms1} ms, round 2 (after SIGKILL) ${ms2} ms`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it(
    "waiters blocked by a holder proceed once it is killed with SIGKILL",
    { timeout: 120_000 },
    async () => {
      const dir = tempDir();
      try {
        const file = join(dir, "c.json");
        writeFileSync(file, JSON.stringify({ count: 5, by: {} }));
        const h = await holder("bun", file);
        // Six waiters (3 Deno, 3 Bun) are all polling when the holder dies, so
        // they race for the takeover at once; each checks that it is alone inside.
        const kids = (["deno", "bun", "deno", "bun", "deno", "bun"] as Rt[]).map((rt) =>
          run(rt, ["increment", file, "25", "60000"])
        );
        await sleep(2500);
        assert.ok(kids.every((k) => k.running()), "waiters are blocked while the holder lives");
        assert.equal(readCounter(file).count, 5);
        const t0 = Date.now();
        await killed(h);
        const exits = await Promise.all(kids.map((k) => k.exited));
        const ms = Date.now() - t0;
        for (const e of exits) assert.equal(e.code, 0, e.stderr);
        assert.equal(readCounter(file).count, 155);
        assert.deepEqual(leftovers(dir, ["c.json"]), []);
        console.log(`after SIGKILL of the holder, 6 waiters x 25 updates finished in ${ms} ms`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it("LockTimeoutError while a live process holds the lock; the file is untouched", {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir();
    try {
      const file = join(dir, "c.json");
      writeFileSync(file, '{"count":1,"by":{}}');
      const h = await holder("deno", file);
      try {
        const t0 = Date.now();
        await assert.rejects(
          atomicUpdateJson<Counter>(file, (c) => ({ ...c, count: c.count + 1 }), {
            defaultValue: { count: 0, by: {} },
            timeoutMs: 300,
          }),
          (err: unknown) => {
            assert.ok(err instanceof LockTimeoutError, String(err));
            assert.equal(err.code, "ETIMEDOUT");
            assert.equal(err.timeoutMs, 300);
            assert.ok(err.message.includes(file), err.message);
            assert.ok(err.message.startsWith("atomicUpdateJson '"), err.message);
            return true;
          },
        );
        assert.ok(Date.now() - t0 >= 300);
        assert.equal(readFileSync(file, "utf8"), '{"count":1,"by":{}}');
      } finally {
        await killed(h);
      }
      // A Bun process gets through after the Deno holder died.
      await incrementers(file, ["bun"], 3);
      assert.equal(readCounter(file).count, 4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it("Node processes use the same protocol: 2 Node + 1 Deno + 1 Bun x 100 increments", {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir();
    try {
      nodeBundle = join(dir, "json_incrementer.mjs");
      const built = await new Promise<Exit>((resolve, reject) => {
        const c = spawn(
          BIN.bun,
          ["build", fixture, "--target=node", `--outfile=${nodeBundle}`],
          { cwd: repo, stdio: ["ignore", "pipe", "pipe"] },
        );
        let err = "";
        c.stderr!.on("data", (d) => (err += d));
        c.on("error", reject);
        c.on("close", (code, signal) => resolve({ code, signal, stdout: "", stderr: err }));
      });
      assert.equal(built.code, 0, built.stderr);
      const file = join(dir, "c.json");
      await incrementers(file, ["node", "deno", "node", "bun"], 100);
      const c = readCounter(file);
      assert.equal(c.count, 400);
      assert.equal(Object.keys(c.by).filter((k) => k.startsWith("node:")).length, 2);
      assert.deepEqual(leftovers(dir, ["c.json", "json_incrementer.mjs"]), []);
    } finally {
      nodeBundle = undefined;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("atomicUpdateJson", () => {
  it("passes defaultValue (or undefined) for a missing file, awaits async updaters, returns the value", async () => {
    const dir = tempDir();
    try {
      const a = join(dir, "a.json");
      const seen: unknown[] = [];
      const v = await atomicUpdateJson<number[]>(a, async (c) => {
        seen.push(c);
        await sleep(5);
        return [...(c ?? []), 1];
      });
      assert.deepEqual(seen, [undefined]);
      assert.deepEqual(v, [1]);
      const w = await atomicUpdateJson(a, (c) => [...c, 2], { defaultValue: [] as number[] });
      assert.deepEqual(w, [1, 2]);
      assert.deepEqual(JSON.parse(readFileSync(a, "utf8")), [1, 2]);
      const b = join(dir, "b.json");
      const got = await atomicUpdateJson(b, (c) => ({ n: c.n + 1 }), { defaultValue: { n: 41 } });
      assert.deepEqual(got, { n: 42 });
      assert.deepEqual(leftovers(dir, ["a.json", "b.json"]), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (
    const [name, bytes] of [
      ["garbage", new TextEncoder().encode("{not json")],
      ["an empty file", new Uint8Array(0)],
      ["a truncated object", new TextEncoder().encode('{"count": 3')],
      ["invalid UTF-8", new Uint8Array([0x22, 0xff, 0xfe, 0x22])],
    ] as const
  ) {
    it(`never overwrites a file that is not valid JSON (${name})`, async () => {
      const dir = tempDir();
      try {
        const file = join(dir, "bad.json");
        writeFileSync(file, bytes);
        let called = false;
        await assert.rejects(
          atomicUpdateJson(file, () => {
            called = true;
            return { count: 0 };
          }, { defaultValue: { count: 0 } }),
          (err: unknown) => {
            assert.ok(err instanceof StorageError, String(err));
            assert.equal(err.code, "ERR_CORRUPT_DATA");
            assert.ok(err instanceof CorruptDataError);
            assert.ok(err.message.includes(`'${file}'`), err.message);
            return true;
          },
        );
        assert.equal(called, false);
        assert.deepEqual(new Uint8Array(readFileSync(file)), new Uint8Array(bytes));
        assert.deepEqual(leftovers(dir, ["bad.json"]), []);
        // The lock was released: an immediate (timeoutMs 0) acquisition succeeds.
        assert.equal(await withFileLock(file, () => "free", { timeoutMs: 0 }), "free");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it("leaves the file as it was when the updater throws or returns a non-JSON value", async () => {
    const dir = tempDir();
    try {
      const file = join(dir, "c.json");
      await atomicWriteJson(file, { count: 7 });
      const before = readFileSync(file, "utf8");
      await assert.rejects(
        atomicUpdateJson(file, () => {
          throw new Error("boom");
        }),
        /boom/,
      );
      await assert.rejects(atomicUpdateJson(file, () => undefined as never), TypeError);
      await assert.rejects(atomicUpdateJson(file, () => ({ n: 1n }) as never), TypeError);
      assert.equal(readFileSync(file, "utf8"), before);
      assert.deepEqual(leftovers(dir, ["c.json"]), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("maps a missing directory and a directory path to typed errors", async () => {
    const dir = tempDir();
    try {
      await assert.rejects(
        atomicUpdateJson(join(dir, "nope", "c.json"), () => 1),
        NotFoundError,
      );
      mkdirSync(join(dir, "d.json"));
      await assert.rejects(atomicUpdateJson(join(dir, "d.json"), () => 1), IsADirectoryError);
      assert.deepEqual(leftovers(dir, ["d.json"]), []);
      await assert.rejects(atomicUpdateJson(42 as never, () => 1), TypeError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("atomicWriteJson", () => {
  it("creates and atomically replaces, leaving no temporary file", async () => {
    const dir = tempDir();
    try {
      const file = join(dir, "s.json");
      await atomicWriteJson(file, { a: 1 });
      assert.equal(readFileSync(file, "utf8"), '{\n  "a": 1\n}\n');
      await atomicWriteJson(file, [1, "x"], { indent: 0 });
      assert.equal(readFileSync(file, "utf8"), '[1,"x"]\n');
      await atomicWriteJson(file, null, { lock: false });
      assert.equal(readFileSync(file, "utf8"), "null\n");
      assert.deepEqual(readdirSync(dir), ["s.json"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("on error leaves no temporary file and the target untouched", async () => {
    const dir = tempDir();
    try {
      mkdirSync(join(dir, "d.json"));
      await assert.rejects(atomicWriteJson(join(dir, "d.json"), { a: 1 }), IsADirectoryError);
      await assert.rejects(
        atomicWriteJson(join(dir, "d.json"), { a: 1 }, { lock: false }),
        IsADirectoryError,
      );
      assert.deepEqual(readdirSync(dir), ["d.json"]);
      assert.deepEqual(readdirSync(join(dir, "d.json")), []);
      const file = join(dir, "keep.json");
      writeFileSync(file, '{"keep":true}');
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      await assert.rejects(atomicWriteJson(file, circular), TypeError);
      await assert.rejects(atomicWriteJson(file, undefined), TypeError);
      await assert.rejects(atomicWriteJson(file, () => 1), TypeError);
      assert.equal(readFileSync(file, "utf8"), '{"keep":true}');
      await assert.rejects(atomicWriteJson(join(dir, "no", "x.json"), 1), NotFoundError);
      assert.deepEqual(readdirSync(dir).sort(), ["d.json", "keep.json"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("waits for the lock like an update does", async () => {
    const dir = tempDir();
    try {
      const file = join(dir, "s.json");
      const order: string[] = [];
      const held = withFileLock(file, async () => {
        order.push("hold");
        await sleep(100);
        order.push("release");
      });
      await sleep(10);
      await atomicWriteJson(file, 1).then(() => order.push("write"));
      await held;
      assert.deepEqual(order, ["hold", "release", "write"]);
      await assert.rejects(
        withFileLock(file, () => atomicWriteJson(file, 2, { timeoutMs: 50 })),
        LockTimeoutError,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("withFileLock protocol", () => {
  it("excludes concurrent sections in one process and passes results and errors through", async () => {
    const dir = tempDir();
    try {
      const path = join(dir, "x");
      let inside = 0;
      let max = 0;
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          withFileLock(path, async () => {
            inside++;
            max = Math.max(max, inside);
            await sleep(3);
            inside--;
            return i;
          })),
      );
      assert.deepEqual(results, [0, 1, 2, 3, 4, 5]);
      assert.equal(max, 1);
      await assert.rejects(
        withFileLock(path, () => {
          throw new RangeError("inner");
        }),
        RangeError,
      );
      assert.deepEqual(readdirSync(dir), [], "no lock, candidate or gate file left");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("timeoutMs 0 tries once; a nested lock on the same path times out (not re-entrant)", async () => {
    const dir = tempDir();
    try {
      const path = join(dir, "x");
      await withFileLock(path, async () => {
        await assert.rejects(
          withFileLock(path, () => 1, { timeoutMs: 0, operation: "probe" }),
          (e: unknown) => e instanceof LockTimeoutError && e.message.startsWith("probe '"),
        );
      });
      assert.equal(await withFileLock(path, () => 2, { timeoutMs: 0 }), 2);
      await assert.rejects(withFileLock(path, () => 1, { timeoutMs: -1 }), TypeError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("never removes a lock file it does not hold (a lock taken from it stays)", async () => {
    const dir = tempDir();
    try {
      const path = join(dir, "x");
      const foreign = JSON.stringify({ v: 1, token: token(), pid: process.pid, ...hostFields() });
      await assert.rejects(
        withFileLock(path, () => {
          // Simulate a takeover that happened while we held the lock.
          writeFileSync(lockFilePath(path), foreign);
        }),
        (e: unknown) => e instanceof StorageError && e.code === "ERR_LOCK_LOST",
      );
      assert.equal(readFileSync(lockFilePath(path), "utf8"), foreign);
      assert.deepEqual(readdirSync(dir), ["x.lock"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("takes over the lock of a dead pid on this host at once", async () => {
    const dir = tempDir();
    try {
      const path = join(dir, "x");
      const pid = await deadPid();
      plantLock(path, { v: 1, token: token(), pid, ...hostFields() });
      assert.equal(await withFileLock(path, () => "mine", { timeoutMs: 5_000 }), "mine");
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("20 concurrent waiters that find the same dead holder: one takes over, sections never overlap (30 rounds)", async () => {
    const dir = tempDir();
    try {
      // Repeated: a racy takeover (e.g. "unlink the stale lock, then retry")
      // shows up here within a few rounds as an overlap or ERR_LOCK_LOST.
      const dead = await deadPid();
      let max = 0;
      let done = 0;
      for (let round = 0; round < 30; round++) {
        const path = join(dir, `x${round}`);
        plantLock(path, { v: 1, token: token(), pid: dead, ...hostFields() });
        let inside = 0;
        await Promise.all(
          Array.from({ length: 20 }, () =>
            withFileLock(path, async () => {
              inside++;
              max = Math.max(max, inside);
              await sleep(1);
              inside--;
              done++;
            }, { timeoutMs: 10_000 })),
        );
      }
      assert.equal(done, 600);
      assert.equal(max, 1);
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("takes over through a gate left by a takeover that died half-way", async () => {
    const dir = tempDir();
    try {
      const path = join(dir, "x");
      const dead = await deadPid();
      const t1 = token();
      const lock = plantLock(path, { v: 1, token: t1, pid: dead, ...hostFields() });
      writeFileSync(
        `${lock}.gate-${t1}`,
        JSON.stringify({ v: 1, token: token(), pid: dead, ...hostFields() }),
      );
      assert.equal(await withFileLock(path, () => "ok", { timeoutMs: 5_000 }), "ok");
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("never takes over a live holder on this host, however old its lock file", async () => {
    const dir = tempDir();
    try {
      const path = join(dir, "x");
      const lock = plantLock(
        path,
        { v: 1, token: token(), pid: process.pid, ...hostFields() },
        3_600_000,
      );
      const before = readFileSync(lock, "utf8");
      await assert.rejects(
        withFileLock(path, () => 1, { timeoutMs: 150, staleMs: 10 }),
        LockTimeoutError,
      );
      assert.equal(readFileSync(lock, "utf8"), before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("judges unverifiable holders (other host, unreadable record) by mtime against staleMs", async () => {
    const dir = tempDir();
    try {
      for (
        const rec of [
          { v: 1, token: token(), pid: 1, host: "another-host.example" },
          "not a lock record",
        ]
      ) {
        const path = join(dir, `x${Math.random()}`);
        const write = () => {
          const file = lockFilePath(path);
          writeFileSync(file, typeof rec === "string" ? rec : JSON.stringify(rec));
          return file;
        };
        write();
        await assert.rejects(
          withFileLock(path, () => 1, { timeoutMs: 150, staleMs: 60_000 }),
          LockTimeoutError,
        );
        const file = write();
        const old = new Date(Date.now() - 120_000);
        utimesSync(file, old, old);
        assert.equal(await withFileLock(path, () => 2, { timeoutMs: 2_000, staleMs: 60_000 }), 2);
      }
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const HERE: Rt = (globalThis as { Deno?: unknown }).Deno ? "deno" : "bun";
/** A pid namespace of its own makes the holder's liveness unverifiable: mtime decides. */
const UNSHARE = ["unshare", "--pid", "--fork"];
const unshareMissing = process.platform !== "linux"
  ? "not Linux"
  : commandMissing("unshare", ["--pid", "--fork", "true"]) ??
    (spawnSync("unshare", ["--pid", "--fork", "true"]).status === 0
      ? undefined
      : "unshare --pid needs CAP_SYS_ADMIN here");

describe("lock edge cases (issue 10 item 7)", () => {
  it("a lock file whose mtime is in the future is stale after staleMs without a heartbeat", async () => {
    const dir = tempDir();
    try {
      const path = join(dir, "x");
      const file = plantLock(path, { v: 1, token: token(), pid: 1, host: "another-host.example" });
      const future = new Date(Date.now() + 3_600_000);
      utimesSync(file, future, future);
      const t0 = Date.now();
      assert.equal(
        await withFileLock(path, () => "mine", { timeoutMs: 5_000, staleMs: 300 }),
        "mine",
      );
      const ms = Date.now() - t0;
      assert.ok(ms >= 300 && ms < 4_000, `took over after ${ms} ms`);
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a future-mtime lock that keeps its heartbeat is not taken over", async () => {
    const dir = tempDir();
    try {
      const path = join(dir, "x");
      const file = plantLock(path, { v: 1, token: token(), pid: 1, host: "another-host.example" });
      const beat = setInterval(() => {
        const t = new Date(Date.now() + 3_600_000 + Math.random() * 1000);
        utimesSync(file, t, t);
      }, 50);
      try {
        await assert.rejects(
          withFileLock(path, () => 1, { timeoutMs: 800, staleMs: 300 }),
          LockTimeoutError,
        );
      } finally {
        clearInterval(beat);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a holder's heartbeat never refreshes a lock that is no longer its own", async () => {
    const dir = tempDir();
    try {
      const path = join(dir, "x");
      const file = lockFilePath(path);
      const foreign = JSON.stringify({
        v: 1,
        token: token(),
        pid: 1,
        host: "another-host.example",
      });
      const old = new Date(Date.now() - 3_600_000);
      await assert.rejects(
        withFileLock(path, async (lock) => {
          // The lock is taken from us (as a takeover would), with an old mtime.
          writeFileSync(file, foreign);
          utimesSync(file, old, old);
          await sleep(400); // > 3 heartbeats at staleMs 300
          assert.equal(Math.round(statSync(file).mtimeMs / 1000), Math.round(old.getTime() / 1000));
          await lock.assertHeld();
        }, { staleMs: 300, timeoutMs: 1_000 }),
        (e) => e instanceof StorageError && e.code === "ERR_LOCK_LOST",
      );
      assert.equal(readFileSync(file, "utf8"), foreign, "a lock not ours is never removed");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it(
    "a holder stopped past staleMs and resumed after a takeover aborts with ERR_LOCK_LOST, unwritten",
    {
      skip: peerSkip("unshare", unshareMissing),
      timeout: 60_000,
    },
    async () => {
      const dir = tempDir();
      try {
        const file = join(dir, "c.json");
        const ready = join(dir, "ready");
        const go = join(dir, "go");
        const child = run(HERE, ["paused", file, ready, go, "300"], UNSHARE);
        const hostPid = Number(await waitFor(ready, child));
        assert.ok(hostPid > 1);
        process.kill(hostPid, "SIGSTOP");
        try {
          // Another process (this one) takes over once the stopped holder's heartbeat is 300 ms old.
          const next = await atomicUpdateJson(file, () => ({ owner: "taker" }), {
            staleMs: 300,
            timeoutMs: 10_000,
          });
          assert.deepEqual(next, { owner: "taker" });
          writeFileSync(go, "");
        } finally {
          process.kill(hostPid, "SIGCONT");
        }
        const e = await child.exited;
        assert.equal(e.code, 0, e.stderr);
        assert.deepEqual(JSON.parse(e.stdout.trim().split("\n").pop()!), { code: "ERR_LOCK_LOST" });
        assert.deepEqual(JSON.parse(readFileSync(file, "utf8")), { owner: "taker" });
        assert.deepEqual(leftovers(dir, ["c.json", "ready", "go"]), []);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

// Proving a writer dead needs /proc (pid namespace, boot id); Deno without
// --allow-all cannot read it, and then leftovers go by age only (as documented).
const cannotProveDead: string | false = hostTag() === undefined
  ? "this process cannot read /proc (Deno without --allow-all): leftovers are cleaned by age only"
  : false;

describe("atomic JSON leftovers (issue 10 item 8)", () => {
  it("temp files of a killed writer are hidden from disk listings and cleaned on the next write", {
    timeout: 60_000,
    skip: cannotProveDead,
  }, async () => {
    const dir = tempDir();
    try {
      const file = join(dir, "state.json");
      const other = join(dir, "other.json");
      const ready = join(dir, "ready");
      const child = run(HERE, ["stage", file, ready]);
      const tmp = await waitFor(ready, child);
      rmSync(ready);
      await killed(child);
      assert.ok(
        readdirSync(dir).includes(tmp.slice(dir.length + 1)),
        "killed writer left its temp",
      );
      // A live writer's temp (this process) and another file's dead temp stay.
      const { stageTemp } = await import("../_internal/atomic_file.ts");
      const live = await stageTemp(file, new Uint8Array([1]));
      const otherChild = run(HERE, ["stage", other, ready]);
      const otherTmp = await waitFor(ready, otherChild);
      rmSync(ready);
      await killed(otherChild);
      const disk = new DiskBackend();
      assert.deepEqual(await disk.listFiles(dir), []);
      assert.deepEqual(await disk.listDir(dir), []);

      await atomicWriteJson(file, { n: 1 });
      const names = readdirSync(dir).sort();
      assert.deepEqual(
        names,
        [live, otherTmp].map((p) => p.slice(dir.length + 1)).concat("state.json").sort(),
      );
      assert.deepEqual(await disk.listFiles(dir), [file]);
      rmSync(live);
      rmSync(otherTmp);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lock candidates left by a killed process are cleaned on the next write too", async () => {
    const dir = tempDir();
    try {
      const file = join(dir, "state.json");
      const { tempPathFor } = await import("../_internal/atomic_file.ts");
      const dead = await deadPid();
      const candidate = tempPathFor(lockFilePath(file)).replace(`.${process.pid}.`, `.${dead}.`);
      const mine = tempPathFor(lockFilePath(file));
      for (const p of [candidate, mine]) writeFileSync(p, "{}");
      await atomicWriteJson(file, { n: 1 });
      const hasScope = (await import("../_internal/liveness.ts")).hostTag() !== undefined;
      assert.deepEqual(
        readdirSync(dir).sort(),
        [mine].concat(hasScope ? [] : [candidate]).map((p) => p.slice(dir.length + 1))
          .concat("state.json").sort(),
      );
      rmSync(mine);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("temp files whose writer cannot be judged are cleaned once older than an hour", async () => {
    const dir = tempDir();
    try {
      const file = join(dir, "state.json");
      // Another host's writer (unknown tag) and the pre-kernel json name: age decides.
      const foreign = join(dir, `.hcs-tmp.state.json.${process.pid}.0badc0de.0123456789ab`);
      const legacy = join(dir, ".state.json.0123abcd-4567.tmp");
      for (const p of [foreign, legacy]) writeFileSync(p, "{");
      await atomicUpdateJson(file, () => ({ n: 1 }));
      assert.deepEqual(
        readdirSync(dir).sort(),
        [legacy, foreign].map((p) => p.slice(dir.length + 1)).concat("state.json").sort(),
      );
      const old = new Date(Date.now() - 2 * 3_600_000);
      for (const p of [foreign, legacy]) utimesSync(p, old, old);
      await atomicUpdateJson(file, () => ({ n: 2 }));
      assert.deepEqual(readdirSync(dir), ["state.json"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
