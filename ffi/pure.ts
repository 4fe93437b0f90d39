/**
 * The one pure-TypeScript bulk reader, {@linkcode PureReader}, with two
 * strategies: `"arena"` (synchronous open/fstat/read/close into one
 * page-aligned arena per bounded chunk — Deno's own file API on Deno, whose
 * `node:fs` layer costs several times more per call) and `"whole"` (the
 * runtime's async whole-file read per path, a bounded number in flight; what
 * a plain `DiskBackend` uses). Arenas are `WebAssembly.Memory` buffers where
 * allowed, because their storage starts on a page boundary (faster kernel
 * copies).
 *
 * @module
 */

import * as fs from "node:fs";
import { readFile } from "node:fs/promises";
import { toStorageError } from "../errors.ts";
import { assertPath } from "../_internal/paths.ts";
import { mapLimit } from "../_internal/pool.ts";
import type { BulkReader } from "./types.ts";
import {
  type Arena,
  type BatchOptions,
  type FileOps,
  KIND_DIRECTORY,
  KIND_OTHER,
  readBatch,
} from "./batch.ts";

const WASM_PAGE = 65536;
/** Arenas at least this large come from `WebAssembly.Memory` (smaller ones are cheap either way). */
const WASM_MIN_BYTES = 1 << 20;
/** Largest arena a single `WebAssembly.Memory` can hold here (65536 pages = 4 GiB; stay below). */
const WASM_MAX_BYTES = 2 ** 31;

/** How the pure reader allocates arenas. */
export type ArenaKind = "auto" | "wasm" | "plain";

let wasmWorks: boolean | undefined;

/**
 * A zero-filled arena of at least `bytes` bytes, page-aligned where the
 * runtime offers a way (`WebAssembly.Memory`).
 */
export function pureArena(bytes: number, kind: ArenaKind = "auto"): Arena {
  const n = Math.max(bytes, 0);
  if (
    kind !== "plain" && wasmWorks !== false && (kind === "wasm" || n >= WASM_MIN_BYTES) &&
    n < WASM_MAX_BYTES
  ) {
    try {
      const pages = Math.max(1, Math.ceil(n / WASM_PAGE));
      const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
      wasmWorks = true;
      return { bytes: new Uint8Array(memory.buffer, 0, n), address: 0 };
    } catch {
      // Address space for wasm memories is limited (each reserves guard
      // regions); fall back to a plain buffer rather than fail the read.
      if (wasmWorks === undefined) wasmWorks = false;
    }
  }
  return { bytes: new Uint8Array(n), address: 0 };
}

function pureOps(arenaKind: ArenaKind): FileOps {
  return {
    open(path, operation) {
      try {
        return fs.openSync(path, "r");
      } catch (err) {
        throw toStorageError(err, operation, path);
      }
    },
    stat(fd, path, operation) {
      let st: fs.Stats;
      try {
        st = fs.fstatSync(fd);
      } catch (err) {
        throw toStorageError(err, operation, path);
      }
      if (st.isFile()) return st.size;
      return st.isDirectory() ? KIND_DIRECTORY : KIND_OTHER;
    },
    read(fd, arena, offset, length, path, operation) {
      try {
        return fs.readSync(fd, arena.bytes, offset, length, null);
      } catch (err) {
        throw toStorageError(err, operation, path);
      }
    },
    close(fd) {
      try {
        fs.closeSync(fd);
      } catch {
        // Nothing useful to do: the descriptor is gone either way.
      }
    },
    alloc: (bytes) => pureArena(bytes, arenaKind),
  };
}

/** The slice of Deno's file API the Deno ops use. */
interface DenoFile {
  statSync(): { isFile: boolean; isDirectory: boolean; size: number };
  readSync(into: Uint8Array): number | null;
  close(): void;
}

interface DenoFs {
  openSync(path: string, options: { read: true }): DenoFile;
}

/**
 * `FileOps` over Deno's own file API: on Deno the `node:fs` layer costs
 * several times more per call (its `fstatSync` above all). Handles are kept
 * in a table; the number handed out is the table slot.
 */
function denoOps(D: DenoFs, arenaKind: ArenaKind): FileOps {
  const files: Array<DenoFile | undefined> = [];
  const free: number[] = [];
  const file = (h: number): DenoFile => {
    const f = files[h];
    if (f === undefined) throw new Error(`bulk reader: handle ${h} is not open`);
    return f;
  };
  return {
    open(path, operation) {
      let f: DenoFile;
      try {
        f = D.openSync(path, { read: true });
      } catch (err) {
        throw toStorageError(err, operation, path);
      }
      const h = free.pop() ?? files.length;
      files[h] = f;
      return h;
    },
    stat(h, path, operation) {
      let st: { isFile: boolean; isDirectory: boolean; size: number };
      try {
        st = file(h).statSync();
      } catch (err) {
        throw toStorageError(err, operation, path);
      }
      if (st.isFile) return st.size;
      return st.isDirectory ? KIND_DIRECTORY : KIND_OTHER;
    },
    read(h, arena, offset, length, path, operation) {
      try {
        return file(h).readSync(arena.bytes.subarray(offset, offset + length)) ?? 0;
      } catch (err) {
        throw toStorageError(err, operation, path);
      }
    },
    close(h) {
      const f = files[h];
      if (f === undefined) return;
      files[h] = undefined;
      free.push(h);
      try {
        f.close();
      } catch {
        // Already closed: nothing to do.
      }
    },
    alloc: (bytes) => pureArena(bytes, arenaKind),
  };
}

type ReadWhole = (path: string) => Promise<Uint8Array>;

/** Files the `"whole"` strategy reads at once. */
const WHOLE_CONCURRENCY = 32;

/** Plain `Uint8Array` view of a Buffer (so results compare equal to Uint8Arrays). */
export function plainBytes(b: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(b) === Uint8Array.prototype
    ? b
    : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * The runtime's own whole-file read: `Deno.readFile` on Deno, `Bun.file().bytes()`
 * on Bun (both measurably faster than `node:fs` there, see bench/disk_bytes.ts),
 * `fs.promises.readFile` elsewhere.
 */
function nativeReadFile(): ReadWhole {
  const g = globalThis as {
    Deno?: { readFile?: ReadWhole };
    Bun?: { file?: (p: string) => { bytes?: () => Promise<Uint8Array> } };
  };
  const denoRead = g.Deno?.readFile;
  if (typeof denoRead === "function") return (p) => denoRead(p);
  const bunFile = g.Bun?.file;
  if (typeof bunFile === "function" && typeof bunFile("/").bytes === "function") {
    return (p) => bunFile(p).bytes!();
  }
  return async (p) => plainBytes(await readFile(p));
}

/** Options of {@linkcode PureReader}. */
export interface PureReaderOptions extends BatchOptions {
  /**
   * `"arena"` (default): synchronous reads into shared arenas (chunking, arena
   * kind and file API options apply). `"whole"`: the runtime's async
   * whole-file read per path, 32 in flight, each result its own buffer.
   */
  strategy?: "arena" | "whole";
  /** Arena allocation: `"auto"` (default), `"wasm"` or `"plain"`. */
  arena?: ArenaKind;
  /** File API: `"auto"` (default: Deno's own on Deno, else `node:fs`) or `"node"`. */
  api?: "auto" | "node";
}

/**
 * Bulk reader in pure TypeScript over `node:fs` (Deno, Bun, Node).
 *
 * @example
 * ```ts
 * import { PureReader } from "./pure.ts";
 * const reader = new PureReader();
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, new Uint8Array([1, 2, 3]));
 * const [bytes] = await reader.readFiles([path], "loadBatch");
 * console.assert(bytes?.length === 3);
 * ```
 */
export class PureReader implements BulkReader {
  /** Always `"pure"`. */
  readonly implementation: string = "pure";
  /** The strategy this reader uses. */
  readonly strategy: "arena" | "whole";
  #ops: FileOps;
  #options: BatchOptions;
  #whole: ReadWhole | undefined;

  /**
   * A pure reader; nothing is opened until the first read.
   *
   * @param options chunking, arena kind, file API and test hooks
   */
  constructor(options: PureReaderOptions = {}) {
    const D = (globalThis as { Deno?: Partial<DenoFs> }).Deno;
    const arena = options.arena ?? "auto";
    this.#ops = options.api !== "node" && typeof D?.openSync === "function"
      ? denoOps(D as DenoFs, arena)
      : pureOps(arena);
    this.#options = options;
    this.strategy = options.strategy ?? "arena";
    if (this.strategy === "whole") this.#whole = nativeReadFile();
  }

  /** Reads every file whole, in request order (views into per-chunk arenas with `"arena"`). */
  readFiles(paths: readonly string[], operation: string): Promise<Uint8Array[]> {
    const whole = this.#whole;
    if (whole) {
      try {
        for (const p of paths) assertPath(p, operation);
      } catch (err) {
        return Promise.reject(err);
      }
      return mapLimit(paths, WHOLE_CONCURRENCY, async (p) => {
        try {
          return plainBytes(await whole(p));
        } catch (err) {
          throw toStorageError(err, operation, p);
        }
      });
    }
    try {
      return Promise.resolve(readBatch(this.#ops, paths, operation, this.#options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The same as {@linkcode readFiles}, synchronously (always the arena strategy). */
  readFilesSync(paths: readonly string[], operation: string): Uint8Array[] {
    return readBatch(this.#ops, paths, operation, this.#options);
  }
}

/**
 * The disk backend's default reader: a {@linkcode PureReader} with the
 * `"whole"` strategy (kept under its old name).
 *
 * @example
 * ```ts
 * import { PureBulkReader } from "./pure.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.txt`, "hi");
 * const [bytes] = await new PureBulkReader().readFiles([`${dir}/a.txt`], "loadBatch");
 * console.assert(bytes?.length === 2);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class PureBulkReader extends PureReader {
  /**
   * A whole-file pure reader.
   *
   * @param options as for {@linkcode PureReader}; `strategy` defaults to `"whole"`
   */
  constructor(options: PureReaderOptions = {}) {
    super({ strategy: "whole", ...options });
  }
}
