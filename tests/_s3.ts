/**
 * Test helper: one real Ceph RADOS Gateway per test process (Bun runs every
 * file in one process and evaluates this module once), started by the
 * project's scripts/s3/start.sh in a fresh temp dir on a free port, and
 * stopped — exactly it, by its recorded PIDs — when the process exits (a
 * per-file `after` would stop it under the next file's feet), by a detached
 * watchdog if the process dies without running its exit handlers. Where it
 * cannot start, `s3Skip` carries the reason (printed once; a failure under
 * CI=true via `peerSkip`).
 */
import { execFile, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { S3Backend, type S3BackendOptions } from "../backends/s3.ts";
import { S3Client } from "../backends/s3/client.ts";
import { peerSkip } from "./_peers.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const START = join(root, "scripts/s3/start.sh");
const STOP = join(root, "scripts/s3/stop.sh");

/** A running gateway. */
export interface Gateway {
  dir: string;
  port: number;
  env: Record<string, string>;
  /** Backend options for this gateway (path style, us-east-1). */
  options: S3BackendOptions;
  /** SIGKILLs radosgw (only it: the OSD keeps the objects). */
  killGateway(): void;
  /** Relaunches radosgw via start.sh (objects survive). */
  restart(): Promise<void>;
  /** Stops everything and removes the directory. */
  stop(): void;
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => ok(port));
    });
  });
}

function run(cmd: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((done) => {
    execFile(cmd, args, { timeout: 180_000 }, (error, out, err) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      done({ code, out: String(out), err: String(err) });
    });
  });
}

function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^(S3_[A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

/** Starts a gateway, or resolves to why it cannot run here. */
export async function startGateway(): Promise<Gateway | string> {
  if (spawnSync("bash", ["-c", "command -v radosgw"]).status !== 0) {
    return "radosgw is not installed (Debian: apt-get install radosgw ceph-mon ceph-osd)";
  }
  const base = mkdtempSync(join(tmpdir(), "hcs-s3-"));
  const dir = join(base, "rgw");
  let port = await freePort();
  // the daemons' own ports are 6789-6799 and 6800-7300; keep the gateway elsewhere
  for (let i = 0; i < 20 && port >= 6789 && port <= 7300; i++) port = await freePort();
  const r = await run("bash", [START, dir, String(port)]);
  if (r.code !== 0) {
    spawnSync("bash", [STOP, dir]);
    rmSync(base, { recursive: true, force: true });
    const tail = r.err.trim().split("\n").slice(-6).join(" | ");
    return `scripts/s3/start.sh failed (${tail})`;
  }
  const env = parseEnv(readFileSync(join(dir, "env"), "utf8"));
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    spawnSync("bash", [STOP, dir], { stdio: "ignore" });
    rmSync(base, { recursive: true, force: true });
  };
  process.once("exit", stop); // Bun, Node
  (globalThis as { addEventListener?: (t: string, f: () => void) => void }).addEventListener?.(
    "unload",
    stop, // Deno runs no process "exit" handlers after its tests
  );
  // and if this process dies without either (SIGKILL, a crash), a watchdog stops it
  spawn("bash", [
    "-c",
    `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; exec bash "$0" "$1"`,
    STOP,
    dir,
  ], { detached: true, stdio: "ignore" }).unref();
  const pidOf = (name: string): number | undefined => {
    try {
      for (const line of readFileSync(join(dir, "pids"), "utf8").split("\n")) {
        const [pid, n] = line.trim().split(" ");
        if (n === name) return Number(pid);
      }
    } catch {
      // no pids file: nothing running
    }
    return undefined;
  };
  return {
    dir,
    port,
    env,
    options: {
      endpoint: env.S3_ENDPOINT!,
      region: env.S3_REGION!,
      credentials: {
        accessKeyId: env.S3_ACCESS_KEY_ID!,
        secretAccessKey: env.S3_SECRET_ACCESS_KEY!,
      },
      forcePathStyle: true,
    },
    killGateway() {
      const pid = pidOf("radosgw");
      if (pid) process.kill(pid, "SIGKILL");
    },
    async restart() {
      const r2 = await run("bash", [START, dir, String(port)]);
      if (r2.code !== 0) throw new Error(`restart failed: ${r2.err}`);
    },
    stop,
  };
}

/** The gateway for this test file (or the skip reason), started once at import. */
export const gateway: Gateway | string = await startGateway();

/** `skip` value for `describe`: false when the gateway runs. */
export const s3Skip: string | false = peerSkip(
  "ceph gateway",
  typeof gateway === "string" ? gateway : undefined,
);

/** A backend on this file's gateway (throws if it is not running). */
export function s3Backend(extra: Partial<S3BackendOptions> = {}): S3Backend {
  if (typeof gateway === "string") throw new Error(gateway);
  return new S3Backend({ ...gateway.options, ...extra });
}

let n = 0;
/** A fresh bucket name for one test. */
export function bucketName(tag = "t"): string {
  return `hcs-${tag}-${Date.now().toString(36)}-${(n++).toString(36)}-${
    Math.random().toString(36).slice(2, 8)
  }`.toLowerCase();
}

/** The signed-request client on this file's gateway, no retries (for raw S3 calls). */
export function rawClient(): S3Client {
  if (typeof gateway === "string") throw new Error(gateway);
  return new S3Client({
    endpoint: new URL(String(gateway.options.endpoint)),
    region: gateway.options.region,
    credentials: gateway.options.credentials,
    forcePathStyle: true,
    fetch: (i, init) => fetch(i, init),
    retries: 0,
    retryDelayMs: 1,
    maxRetryDelayMs: 1,
    timeoutMs: 30_000,
    signal: undefined,
  });
}
