/**
 * {@linkcode RuntimeReader}: a bulk reader over the runtime's own
 * thread-pooled whole-file read (`Bun.file().bytes()`, `Deno.readFile`,
 * `fs.promises.readFile`), a bounded number of files in flight, with the same
 * guarantees as the arena readers of `batch.ts`: paths validated first,
 * special files refused before reading, sizes checked, 2 GiB cap, the same
 * typed errors, every descriptor closed.
 *
 * Two decisions: where an FFI binding is loaded (the `gate`), each file is
 * opened `O_NONBLOCK` and `fstat`ed on the descriptor, and on Bun the read
 * goes through that same descriptor (`Bun.file(fd)`), so there is no
 * check/open race. Without a gate (or on Deno, whose read takes only paths)
 * a `stat` comes first and a window remains, as for the plain disk backend.
 * And a file whose read disagrees with its size is not retried here: it is
 * handed to the `fallback` arena reader, whose re-read loop (and its
 * `ERR_SIZE_CHANGED`) is then the one answer for every reader.
 *
 * @module
 */

import * as fsp from "node:fs/promises";
import { StorageError, toStorageError, UnsupportedOperationError } from "../errors.ts";
import { assertPath } from "../_internal/paths.ts";
import { mapLimit } from "../_internal/pool.ts";
import { errnoError, KIND_DIRECTORY, tooLarge } from "./batch.ts";
import { MAX_FILE_BYTES } from "./libc.ts";
import { plainBytes } from "./pure.ts";
import type { BulkReader, MappedFiles } from "./types.ts";

/** The descriptor operations a gate provides (`NativeOps` has them). */
export interface ReadGate {
  /** Opens read-only, `O_NONBLOCK`; throws a typed error (a socket is refused here). */
  open(path: string, operation: string): number;
  /** Size of a regular file or `KIND_DIRECTORY`; throws for special files. */
  stat(fd: number, path: string, operation: string): number;
  /** Closes; never throws. */
  close(fd: number): void;
  /** The soft descriptor limit, if known. */
  descriptorLimit?(): number | undefined;
}

/** The reader a file whose size and read disagree is handed to (any arena reader). */
export interface FallbackReader {
  /** Reads with the arena readers' re-read loop and errors. */
  readFiles(paths: readonly string[], operation: string): Promise<Uint8Array[]>;
}

/** Options of {@linkcode RuntimeReader}. */
export interface RuntimeReaderOptions {
  /** FFI descriptor operations: open/fstat on the descriptor (no check/open race). */
  gate?: ReadGate;
  /** Re-reads files whose size changed (default: the caller's choice, required). */
  fallback: FallbackReader;
  /** `leaseFiles` / `mapFiles` go to this reader where it has them (the FFI reader). */
  delegate?: BulkReader;
  /** Files in flight at once (default 32; bench/disk_bytes.ts: 16–256 within noise). */
  concurrency?: number;
  /** Test hook: called after a file's size is known, before it is read. */
  afterSize?: (path: string, attempt: number) => void;
}

type Runtime = "bun" | "deno" | "node";
type ReadPath = (path: string) => Promise<Uint8Array>;
type ReadFd = (fd: number) => Promise<Uint8Array>;

interface RuntimeRead {
  runtime: Runtime;
  call: string;
  path: ReadPath;
  fd?: ReadFd;
}

function runtimeRead(): RuntimeRead {
  const g = globalThis as {
    Deno?: { readFile?: ReadPath };
    Bun?: { file?: (p: string | number) => { bytes?: () => Promise<Uint8Array> } };
  };
  const bunFile = g.Bun?.file;
  if (typeof bunFile === "function" && typeof bunFile("/").bytes === "function") {
    return {
      runtime: "bun",
      call: "Bun.file",
      path: (p) => bunFile(p).bytes!(),
      // Reads from the descriptor's position (0 after open) to EOF on Bun's
      // thread pool; Bun does not close a descriptor it did not open.
      fd: (fd) => bunFile(fd).bytes!(),
    };
  }
  const denoRead = g.Deno?.readFile;
  if (typeof denoRead === "function") {
    return { runtime: "deno", call: "Deno.readFile", path: (p) => denoRead(p) };
  }
  return {
    runtime: "node",
    call: "fs.readFile",
    path: async (p) => plainBytes(await fsp.readFile(p)),
  };
}

function specialKind(
  st: {
    isFIFO(): boolean;
    isSocket(): boolean;
    isCharacterDevice(): boolean;
    isBlockDevice(): boolean;
  },
): string {
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  return "not a regular file";
}

/**
 * Bulk reader over the runtime's own whole-file read (see the module
 * documentation). Each result is its own buffer.
 *
 * @example
 * ```ts
 * import { RuntimeReader } from "./runtime_reader.ts";
 * import { PureReader } from "./pure.ts";
 * const reader = new RuntimeReader({ fallback: new PureReader() });
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, new Uint8Array([1, 2, 3]));
 * const [bytes] = await reader.readFiles([path], "loadBatch");
 * console.assert(bytes?.length === 3);
 * await Deno.remove(path);
 * ```
 */
export class RuntimeReader implements BulkReader {
  /** E.g. `"runtime(bun, Bun.file)"` or `"runtime(deno, Deno.readFile)"`. */
  readonly implementation: string;
  /** Special files are refused by this reader before reading (on the descriptor with a gate). */
  readonly refusesSpecialFiles: boolean = true;
  /** Whether files are checked on an open descriptor (a gate is loaded). */
  readonly gated: boolean;
  #read: RuntimeRead;
  #gate: ReadGate | undefined;
  #fallback: FallbackReader;
  #delegate: BulkReader | undefined;
  #concurrency: number;
  #afterSize: ((path: string, attempt: number) => void) | undefined;

  /**
   * A reader over this runtime's whole-file read.
   *
   * @param options gate, fallback, delegate and concurrency
   */
  constructor(options: RuntimeReaderOptions) {
    this.#read = runtimeRead();
    this.#gate = options.gate;
    this.gated = options.gate !== undefined;
    this.#fallback = options.fallback;
    this.#delegate = options.delegate;
    this.#concurrency = Math.max(1, Math.floor(options.concurrency ?? 32));
    this.#afterSize = options.afterSize;
    this.implementation = `runtime(${this.#read.runtime}, ${this.#read.call})`;
    const d = options.delegate;
    if (d?.leaseFiles) this.leaseFiles = (paths, op) => d.leaseFiles!(paths, op);
    if (d?.mapFiles) this.mapFiles = (paths, op) => d.mapFiles!(paths, op);
  }

  /** Leased arenas, through the FFI reader (present only when it is loaded). */
  leaseFiles?: (paths: readonly string[], operation: string) => Promise<MappedFiles>;
  /** Zero-copy mappings, through the FFI reader (present only when it is loaded). */
  mapFiles?: (paths: readonly string[], operation: string) => Promise<MappedFiles>;

  /** The reader `leaseFiles`/`mapFiles` go to, if any. */
  get delegate(): BulkReader | undefined {
    return this.#delegate;
  }

  /** Reads every file whole, results in request order. */
  async readFiles(paths: readonly string[], operation: string): Promise<Uint8Array[]> {
    for (const p of paths) assertPath(p, operation);
    if (paths.length === 0) return [];
    // A quarter of the descriptor limit at most, as the FFI reader's chunks.
    const limit = this.#gate?.descriptorLimit?.();
    const n = limit === undefined
      ? this.#concurrency
      : Math.max(1, Math.min(this.#concurrency, Math.floor(limit / 4)));
    return await mapLimit(paths, n, (p) => this.#one(p, operation));
  }

  async #one(path: string, operation: string): Promise<Uint8Array> {
    const gate = this.#gate;
    let bytes: Uint8Array;
    let size: number;
    let after: number;
    if (gate) {
      const fd = gate.open(path, operation);
      try {
        size = gate.stat(fd, path, operation);
        this.#check(size, path, operation);
        this.#afterSize?.(path, 0);
        const readFd = this.#read.fd;
        try {
          bytes = await (readFd ? readFd(fd) : this.#read.path(path));
        } catch (err) {
          throw toStorageError(err, operation, path);
        }
        // Through the descriptor, a read to EOF of exactly `size` bytes is the
        // file (as the arena readers' `size + 1` read); by path (Deno) the
        // runtime opened it again, so the size is asked once more.
        after = readFd ? size : gate.stat(fd, path, operation);
      } finally {
        gate.close(fd);
      }
    } else {
      let st: Awaited<ReturnType<typeof fsp.stat>>;
      try {
        st = await fsp.stat(path);
      } catch (err) {
        throw toStorageError(err, operation, path);
      }
      if (st.isDirectory()) throw errnoError("EISDIR", operation, path);
      if (!st.isFile()) {
        throw new UnsupportedOperationError(
          operation,
          path,
          `${specialKind(st)}, not a regular file; refusing to read it`,
        );
      }
      size = st.size;
      this.#check(size, path, operation);
      this.#afterSize?.(path, 0);
      try {
        bytes = await this.#read.path(path);
      } catch (err) {
        throw toStorageError(err, operation, path);
      }
      after = size;
    }
    if (bytes.length === size && after === size) return plainBytes(bytes);
    // Grew, shrank, or a pseudo-file (size 0, content on read): the arena
    // reader's re-read loop settles it, with its typed error if it never does.
    const [again] = await this.#fallback.readFiles([path], operation);
    if (again === undefined) throw new StorageError(operation, path, "re-read returned no data");
    return again;
  }

  #check(size: number, path: string, operation: string): void {
    if (size === KIND_DIRECTORY) throw errnoError("EISDIR", operation, path);
    if (size > MAX_FILE_BYTES) throw tooLarge(path, size, operation);
  }
}
