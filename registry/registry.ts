/**
 * The backend registry: a plain table of lazily-loaded entries, resolved per
 * runtime, with single-flight initialisation.
 *
 * @module
 */

import { BackendNotFoundError, StorageError } from "../errors.ts";
import type {
  AnyBackend,
  ReadOnlyBackend,
  StorageBackend,
  VirtualBackend,
} from "../backends/base.ts";
import { runtime, type RuntimeInfo } from "./runtime.ts";
import { BUILTIN_ENTRIES } from "./builtins.ts";

/** What `describeBackends()` reports per key. */
export interface BackendDescription {
  /** The registry key (lower case). */
  key: string;
  /** The chosen implementation (`"pure"`, `"ffi(deno, readv)"`, `"user"`, `"unavailable"`, …). */
  implementation: string;
  /** Why that implementation was chosen, where there is something to say. */
  reason?: string;
}

/** What a built-in entry's `plan` reports before the backend is loaded. */
export interface ImplementationPlan {
  /** The implementation that would be chosen. */
  implementation: string;
  /** Why, where there is something to say. */
  reason?: string;
}

/** A registry table entry: how to load a backend and where it runs. */
export interface BackendEntry {
  /** Registry key (case-insensitive). */
  readonly key: string;
  /** `true` if the backend runs on `rt`, otherwise the reason it does not. */
  supports(rt: RuntimeInfo): true | string;
  /** Imports and constructs the backend; called once per registry. */
  load(context: LoadContext): Promise<AnyBackend>;
  /** Which implementation `load` would choose (synchronous, no imports). */
  plan?(rt: RuntimeInfo): ImplementationPlan;
}

/** What an entry's loader receives. */
export interface LoadContext {
  /** The runtime the backend is loaded on. */
  runtime: RuntimeInfo;
  /** The registry that loads it (backends built on other backends resolve through it). */
  registry: Registry;
}

/** A backend instance, a class, or a (possibly async) factory of one. */
export type BackendProvider<T extends AnyBackend = AnyBackend> =
  | T
  | (new () => T)
  | ((context: LoadContext) => T | Promise<T>);

/**
 * The backend type each built-in key resolves to, so `getBackend("http")` is
 * read-only at compile time and `getBackend("dsik")` does not compile.
 */
export interface BuiltinBackends {
  /** In-memory directory tree. */
  memory: StorageBackend;
  /** The local filesystem. */
  disk: StorageBackend;
  /** Read-only over `fetch`. */
  http: ReadOnlyBackend;
  /** Read-only views over mapped backends. */
  virtual_workspace: ReadOnlyBackend;
  /** OME-Zarr arrays and plates. */
  zarr: StorageBackend;
  /** Object storage (S3 API), configured from `S3_*` / `AWS_*`. */
  s3: StorageBackend;
  /** The streaming sink to live viewers (writes only). */
  stream: VirtualBackend;
}

/** A built-in registry key (lower case). */
export type BuiltinBackendKey = keyof BuiltinBackends;

/** `K` when it names a built-in backend in any letter case, otherwise `never`. */
export type BuiltinKeyArg<K extends string> = Lowercase<K> extends BuiltinBackendKey ? K : never;

/** The backend type of a built-in key given in any letter case. */
export type BuiltinBackendOf<K extends string> = BuiltinBackends[
  Lowercase<K> & BuiltinBackendKey
];

/**
 * A registry key for a backend outside the built-ins, carrying that backend's
 * type: returned by `registerBackend`, or made with {@linkcode backendKey}.
 */
export type BackendKey<T extends AnyBackend = AnyBackend> = string & {
  /** Type-level only: the backend type this key resolves to. */
  readonly __hcsBackend: T;
};

/**
 * Names a key that is not a built-in (a custom backend, or a key only known
 * at run time) with the backend type the caller expects: the typed path for
 * `getBackend` beyond the built-in keys. Nothing is checked at run time.
 *
 * @example
 * ```ts
 * import { backendKey, createRegistry, type StorageBackend } from "@hcs/store";
 * import { MemoryBackend } from "@hcs/store/memory";
 * const reg = createRegistry();
 * reg.registerBackend("scratch", new MemoryBackend("scratch"));
 * const scratch = await reg.getBackend(backendKey<StorageBackend>("scratch"));
 * await scratch.ensureDirectory("/tmp");
 * ```
 */
export function backendKey<T extends AnyBackend = AnyBackend>(key: string): BackendKey<T> {
  return key as BackendKey<T>;
}

/** Backends that report the implementation they settled on after loading. */
interface SelfDescribing {
  implementation?: string;
  implementationReason?: string;
}

function isClass(fn: unknown): fn is new () => AnyBackend {
  return typeof fn === "function" && /^class[\s{]/.test(Function.prototype.toString.call(fn));
}

function providerEntry(key: string, provider: BackendProvider): BackendEntry {
  return {
    key,
    supports: () => true,
    load: async (ctx) => {
      if (isClass(provider)) return new provider();
      if (typeof provider === "function") {
        return await (provider as (c: LoadContext) => AnyBackend | Promise<AnyBackend>)(ctx);
      }
      return provider;
    },
    plan: () => ({ implementation: "user" }),
  };
}

/**
 * A registry of backends. Use {@linkcode createRegistry} for an isolated one
 * or {@linkcode storageRegistry} for the process default.
 *
 * @example
 * ```ts
 * import { createRegistry } from "@hcs/store";
 * const reg = createRegistry();
 * const mem = await reg.getBackend("MEMORY");
 * console.assert(mem.key === "memory");
 * ```
 */
export class Registry {
  #entries = new Map<string, BackendEntry>();
  #instances = new Map<string, AnyBackend>();
  #pending = new Map<string, Promise<AnyBackend>>();
  #user = new Set<string>();
  #runtime: RuntimeInfo;

  /**
   * Creates a registry over a table of entries.
   *
   * @param entries the table to start from (the built-ins by default)
   * @param rt the runtime to resolve for (detected by default)
   */
  constructor(entries: readonly BackendEntry[] = BUILTIN_ENTRIES, rt: RuntimeInfo = runtime()) {
    this.#runtime = rt;
    for (const e of entries) this.#entries.set(e.key.toLowerCase(), e);
  }

  /** The runtime this registry resolves for. */
  get runtime(): RuntimeInfo {
    return this.#runtime;
  }

  /** Keys that can be resolved on this runtime, sorted. */
  availableKeys(): string[] {
    const keys: string[] = [];
    for (const [key, entry] of this.#entries) {
      if (entry.supports(this.#runtime) === true) keys.push(key);
    }
    return keys.sort();
  }

  /**
   * Resolves a backend by key (case-insensitive). The first call imports and
   * constructs it; concurrent first calls share that one initialisation.
   * Unknown or unsupported keys throw {@linkcode BackendNotFoundError}.
   *
   * Built-in keys are typed by {@linkcode BuiltinBackends}; other keys go
   * through a {@linkcode BackendKey} (from `registerBackend` or
   * {@linkcode backendKey}). An explicit type argument narrows a built-in to a
   * concrete class (`getBackend<DiskBackend>("disk")`).
   */
  getBackend<K extends string>(key: BuiltinKeyArg<K>): Promise<BuiltinBackendOf<K>>;
  /** Resolves a custom backend through its typed key. */
  getBackend<T extends AnyBackend>(key: BackendKey<T>): Promise<T>;
  /** Resolves a built-in backend as the concrete type given explicitly. */
  getBackend<T extends AnyBackend>(
    key: BuiltinBackendKey | Uppercase<BuiltinBackendKey>,
  ): Promise<T>;
  getBackend(key: string): Promise<AnyBackend> {
    return this.#resolve(key);
  }

  #resolve<T extends AnyBackend = AnyBackend>(key: string): Promise<T> {
    if (typeof key !== "string") {
      return Promise.reject(new TypeError(`getBackend: key must be a string, got ${typeof key}`));
    }
    const k = key.toLowerCase();
    const ready = this.#instances.get(k);
    if (ready) return Promise.resolve(ready as T);
    const pending = this.#pending.get(k);
    if (pending) return pending as Promise<T>;
    const entry = this.#entries.get(k);
    if (!entry) return Promise.reject(new BackendNotFoundError(key, this.availableKeys()));
    const ok = entry.supports(this.#runtime);
    if (ok !== true) {
      return Promise.reject(
        new BackendNotFoundError(key, this.availableKeys(), `not available here (${ok})`),
      );
    }
    const p = (async () => {
      const backend = await entry.load({ runtime: this.#runtime, registry: this });
      if (!backend || typeof backend !== "object") {
        throw new StorageError("getBackend", key, "factory returned no backend", {
          code: "ERR_BACKEND_FACTORY",
        });
      }
      // A registration that replaced this entry while we loaded wins.
      if (this.#entries.get(k) === entry) this.#instances.set(k, backend);
      return backend;
    })();
    this.#pending.set(k, p);
    const settle = () => {
      if (this.#pending.get(k) === p) this.#pending.delete(k);
    };
    p.then(settle, settle);
    return p as Promise<T>;
  }

  /**
   * Adds (or replaces) a backend under `key` (case-insensitive): an instance,
   * a class, or a factory called once on first use (single-flight).
   */
  registerBackend<T extends AnyBackend>(key: string, provider: BackendProvider<T>): BackendKey<T> {
    if (typeof key !== "string" || key.trim() === "") {
      throw new TypeError("registerBackend: key must be a non-empty string");
    }
    if (provider === null || provider === undefined) {
      throw new TypeError(`registerBackend '${key}': a backend, class or factory is required`);
    }
    const k = key.toLowerCase();
    this.#entries.set(k, providerEntry(k, provider as BackendProvider));
    this.#instances.delete(k);
    this.#pending.delete(k);
    this.#user.add(k);
    if (typeof provider === "object") this.#instances.set(k, provider as AnyBackend);
    return key as BackendKey<T>;
  }

  /** Adds a table entry (used for built-ins and tests). */
  registerEntry(entry: BackendEntry): void {
    const k = entry.key.toLowerCase();
    this.#entries.set(k, entry);
    this.#instances.delete(k);
    this.#pending.delete(k);
  }

  /** Per key: the implementation chosen (or that would be chosen) and why. */
  describeBackends(): BackendDescription[] {
    const out: BackendDescription[] = [];
    for (const k of [...this.#entries.keys()].sort()) {
      const entry = this.#entries.get(k)!;
      const ok = entry.supports(this.#runtime);
      if (ok !== true) {
        out.push({ key: k, implementation: "unavailable", reason: ok });
        continue;
      }
      const inst = this.#instances.get(k) as (AnyBackend & SelfDescribing) | undefined;
      if (inst?.implementation !== undefined) {
        const d: BackendDescription = { key: k, implementation: inst.implementation };
        if (inst.implementationReason) d.reason = inst.implementationReason;
        out.push(d);
        continue;
      }
      const plan = entry.plan?.(this.#runtime) ??
        { implementation: this.#user.has(k) ? "user" : "builtin" };
      const d: BackendDescription = { key: k, implementation: plan.implementation };
      if (plan.reason) d.reason = plan.reason;
      out.push(d);
    }
    return out;
  }

  /** Clears the files of this registry's memory backend (directories stay). */
  resetMemoryBackend(): void {
    const mem = this.#instances.get("memory") as { clearFilesOnly?: () => void } | undefined;
    mem?.clearFilesOnly?.();
  }

  /** Whether `key` names an entry (supported here or not). */
  has(key: string): boolean {
    return this.#entries.has(key.toLowerCase());
  }
}

/**
 * A new registry with only the built-in entries and its own instances
 * (tests, multi-tenant servers).
 *
 * @example
 * ```ts
 * import { createRegistry, storageRegistry } from "@hcs/store";
 * const a = createRegistry();
 * console.assert(a !== storageRegistry);
 * console.assert((await a.getBackend("memory")) !== (await storageRegistry.getBackend("memory")));
 * ```
 */
export function createRegistry(): Registry {
  return new Registry();
}

/**
 * The process-wide default registry.
 *
 * @example
 * ```ts
 * import { storageRegistry } from "@hcs/store";
 * console.assert(storageRegistry.availableKeys().includes("memory"));
 * ```
 */
export const storageRegistry: Registry = new Registry();

/**
 * Resolves a backend from the default registry.
 *
 * @example
 * ```ts
 * import { getBackend } from "@hcs/store";
 * const mem = await getBackend("memory");
 * await mem.save("hello", "/greeting.txt", { overwrite: true });
 * console.assert((await mem.load("/greeting.txt")) === "hello");
 * ```
 */
export function getBackend<K extends string>(key: BuiltinKeyArg<K>): Promise<BuiltinBackendOf<K>>;
/** Resolves a custom backend from the default registry through its typed key. */
export function getBackend<T extends AnyBackend>(key: BackendKey<T>): Promise<T>;
/** Resolves a built-in backend from the default registry as the type given explicitly. */
export function getBackend<T extends AnyBackend>(
  key: BuiltinBackendKey | Uppercase<BuiltinBackendKey>,
): Promise<T>;
export function getBackend(key: string): Promise<AnyBackend> {
  return storageRegistry.getBackend(key as BackendKey);
}

/**
 * Registers a backend in the default registry.
 *
 * @example
 * ```ts
 * import { getBackend, registerBackend } from "@hcs/store";
 * import { MemoryBackend } from "@hcs/store/memory";
 * const scratch = registerBackend("scratch", () => new MemoryBackend("scratch"));
 * console.assert((await getBackend(scratch)).key === "scratch"); // typed MemoryBackend
 * ```
 */
export function registerBackend<T extends AnyBackend>(
  key: string,
  provider: BackendProvider<T>,
): BackendKey<T> {
  return storageRegistry.registerBackend(key, provider);
}

/**
 * Describes the default registry's backends.
 *
 * @example
 * ```ts
 * import { describeBackends } from "@hcs/store";
 * console.assert(describeBackends().some((d) => d.key === "memory"));
 * ```
 */
export function describeBackends(): BackendDescription[] {
  return storageRegistry.describeBackends();
}

/**
 * Clears the files of the default registry's memory backend, keeping directories.
 *
 * @example
 * ```ts
 * import { getBackend, resetMemoryBackend } from "@hcs/store";
 * const mem = await getBackend("memory");
 * await mem.ensureDirectory("/keep");
 * await mem.save("x", "/keep/x.txt", { overwrite: true });
 * resetMemoryBackend();
 * console.assert(await mem.isDir("/keep"));
 * console.assert(!(await mem.exists("/keep/x.txt")));
 * ```
 */
export function resetMemoryBackend(): void {
  storageRegistry.resetMemoryBackend();
}
