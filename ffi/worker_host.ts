/**
 * Starts one codec worker on whatever this runtime offers and gives the pool
 * one shape for all of them: Deno and Bun's global `Worker`, Node's
 * `node:worker_threads` (loaded with `import()`, so nothing reachable from
 * `edge.ts` imports `node:*` statically), or nothing (edge runtimes: the pool
 * then runs every job inline).
 *
 * Decisions: under Node the worker is started from a few lines of `eval`
 * bootstrap that give it web-style `postMessage`/`onmessage` globals before
 * importing the entry, so `_internal/workers/worker.ts` is the same module on
 * every runtime. `ref`/`unref` are real where the runtime has them (Node,
 * Bun); a Deno `Worker` always keeps the process alive, so the pool
 * terminates idle workers instead.
 *
 * @module
 */

/** A started worker, runtime-neutral. */
export interface WorkerHandle {
  /** Sends a message, moving the listed buffers (they are detached here). */
  post(message: unknown, transfer: ArrayBuffer[]): void;
  /** Stops the worker at once. */
  terminate(): void;
  /** Lets (false) or stops (true) the worker keeping the process alive, where the runtime can. */
  hold(keepAlive: boolean): void;
  /** Whether `hold(false)` really lets the process exit (Node, Bun). */
  readonly canUnref: boolean;
}

/** Callbacks of a started worker. */
export interface WorkerEvents {
  /** A message from the worker. */
  message(data: unknown): void;
  /** The worker failed (uncaught error, failed to load, exited). */
  error(err: unknown): void;
}

/** How the host starts workers here, or why it cannot. */
export interface WorkerHost {
  /** `"web"` (global `Worker`), `"node"` (`worker_threads`) or `"none"`. */
  readonly kind: "web" | "node" | "none";
  /** CPU cores the runtime reports where `navigator.hardwareConcurrency` is missing (Node 20). */
  readonly cores?: number;
  /** Starts a worker running the module at `url`; undefined when kind is `"none"`. */
  start(url: URL, events: WorkerEvents): WorkerHandle | undefined;
}

interface WebWorkerLike {
  postMessage(m: unknown, transfer: ArrayBuffer[]): void;
  terminate(): void;
  onmessage: ((e: { data: unknown }) => void) | null;
  onerror: ((e: { message?: string; error?: unknown; preventDefault?(): void }) => void) | null;
  ref?(): void;
  unref?(): void;
}
type WebWorkerCtor = new (url: URL | string, options: { type: "module" }) => WebWorkerLike;

interface NodeWorkerLike {
  postMessage(m: unknown, transfer: ArrayBuffer[]): void;
  terminate(): Promise<number>;
  on(event: string, fn: (arg: unknown) => void): void;
  ref(): void;
  unref(): void;
}
type NodeWorkerCtor = new (code: string, options: { eval: true }) => NodeWorkerLike;

/** Node-style bootstrap: web-style globals, then the entry module. */
function nodeBootstrap(url: URL): string {
  return [
    // (the specifier is split so edge bundles carry no "node:" string)
    `const { parentPort } = require(["node", "worker_threads"].join(":"));`,
    `globalThis.postMessage = (m, t) => parentPort.postMessage(m, t);`,
    // Messages that arrive while the entry is still loading wait for its onmessage.
    `const early = [];`,
    `parentPort.on("message", (data) => globalThis.onmessage ? globalThis.onmessage({ data }) : early.push(data));`,
    `import(${
      JSON.stringify(url.href)
    }).then(() => { for (const data of early.splice(0)) globalThis.onmessage({ data }); },`,
    `  (e) => { setImmediate(() => { throw e; }); });`,
  ].join("\n");
}

let host: Promise<WorkerHost> | undefined;

/**
 * The worker host of this runtime (probed once).
 *
 * @example
 * ```ts
 * import { workerHost } from "./worker_host.ts";
 * const h = await workerHost();
 * console.assert(["web", "node", "none"].includes(h.kind));
 * ```
 */
export function workerHost(): Promise<WorkerHost> {
  host ??= probe();
  return host;
}

/** A Node built-in by a computed specifier (edge bundlers never follow it; one import site). */
function builtin(name: string): Promise<unknown> {
  return import(["node", name].join(":"));
}

async function probe(): Promise<WorkerHost> {
  const g = globalThis as {
    Worker?: WebWorkerCtor;
    Deno?: unknown;
    Bun?: unknown;
    process?: { versions?: { node?: string } };
  };
  const isNode = typeof g.process?.versions?.node === "string" && g.Deno === undefined &&
    g.Bun === undefined;
  if (!isNode && typeof g.Worker === "function") return webHost(g.Worker);
  if (isNode) {
    try {
      const m = await builtin("worker_threads") as { Worker?: NodeWorkerCtor };
      let cores: number | undefined;
      try {
        const os = await builtin("os") as { availableParallelism?: () => number };
        cores = os.availableParallelism?.();
      } catch {
        cores = undefined;
      }
      if (typeof m.Worker === "function") return nodeHost(m.Worker, cores);
    } catch {
      // fall through: no workers
    }
  }
  return { kind: "none", start: () => undefined };
}

function webHost(Ctor: WebWorkerCtor): WorkerHost {
  return {
    kind: "web",
    start(url, events) {
      const w = new Ctor(url, { type: "module" });
      w.onmessage = (e) => events.message(e.data);
      w.onerror = (e) => {
        e.preventDefault?.();
        events.error(e.error ?? new Error(e.message ?? "worker failed"));
      };
      const canUnref = typeof w.unref === "function";
      return {
        post: (m, t) => w.postMessage(m, t),
        terminate: () => w.terminate(),
        hold: (keep) => (keep ? w.ref?.() : w.unref?.()),
        canUnref,
      };
    },
  };
}

function nodeHost(Ctor: NodeWorkerCtor, cores: number | undefined): WorkerHost {
  return {
    kind: "node",
    ...(cores !== undefined ? { cores } : {}),
    start(url, events) {
      const w = new Ctor(nodeBootstrap(url), { eval: true });
      w.on("message", (d) => events.message(d));
      w.on("error", (e) => events.error(e));
      w.on("exit", (code) => events.error(new Error(`worker exited (code ${code})`)));
      return {
        post: (m, t) => w.postMessage(m, t),
        terminate: () => void w.terminate().catch(() => {}),
        hold: (keep) => (keep ? w.ref() : w.unref()),
        canUnref: true,
      };
    },
  };
}

/**
 * Lets a timer not keep the process alive where the runtime allows it
 * (Node and Bun timers have `unref()`; Deno has `Deno.unrefTimer`).
 *
 * @example
 * ```ts
 * import { unrefTimer } from "./worker_host.ts";
 * const t = setTimeout(() => {}, 10);
 * unrefTimer(t);
 * clearTimeout(t);
 * ```
 */
export function unrefTimer(timer: unknown): void {
  const t = timer as { unref?: () => void };
  if (typeof t?.unref === "function") {
    t.unref();
    return;
  }
  const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
  if (typeof timer === "number" && typeof deno?.unrefTimer === "function") deno.unrefTimer(timer);
}
