/**
 * The pure-TypeScript bulk reader: synchronous open/fstat/read/close into one
 * page-aligned arena per bounded chunk, views per file — Deno's own file API
 * on Deno (its `node:fs` layer costs several times more per call), `node:fs`
 * on Bun and Node. It is what the disk backend uses wherever FFI is not
 * available (or `HCS_STORE_FFI=0`).
 *
 * The arena is a `WebAssembly.Memory` buffer where the runtime allows it
 * (its storage starts on a page boundary, which keeps the kernel's copy fast;
 * a large `new Uint8Array(n)` lands a few bytes past one), else an
 * `ArrayBuffer`.
 *
 * @module
 */

import * as fs from "node:fs";
import { toStorageError } from "../errors.ts";
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

/** Options of {@linkcode PureReader}. */
export interface PureReaderOptions extends BatchOptions {
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
  #ops: FileOps;
  #options: BatchOptions;

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
  }

  /** Reads every file whole; results are views into per-chunk arenas. */
  readFiles(paths: readonly string[], operation: string): Promise<Uint8Array[]> {
    try {
      return Promise.resolve(readBatch(this.#ops, paths, operation, this.#options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The same as {@linkcode readFiles}, synchronously. */
  readFilesSync(paths: readonly string[], operation: string): Uint8Array[] {
    return readBatch(this.#ops, paths, operation, this.#options);
  }
}
