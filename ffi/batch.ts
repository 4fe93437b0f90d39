/**
 * The bulk-read algorithm shared by the pure-TypeScript reader and the FFI
 * readers, written once over a small {@linkcode FileOps} interface so every
 * implementation has the same semantics:
 *
 * 1. all paths are validated first (a NUL byte never reaches C);
 * 2. per bounded chunk (at most `chunkFiles` files and about `chunkBytes`
 *    bytes): open every file and query its size (`fstat`), allocate one
 *    page-aligned arena with a 64-byte-aligned slot per file, read each file
 *    into its slot, close it; results are `Uint8Array` views into the arena;
 * 3. each read asks for one byte more than the size: a file that grew reads
 *    `size + 1`, one that shrank reads short; either is re-read from a fresh
 *    descriptor until a read and the size after it agree (or reported with
 *    code `ERR_SIZE_CHANGED`), never returned short or padded;
 * 4. every descriptor opened is closed on every path, errors included;
 * 5. errors are the same typed `StorageError`s as the rest of the library
 *    (`NotFoundError`, `IsADirectoryError`, …), naming the operation and path;
 *    files over 2 GiB are refused (code `EFBIG`).
 *
 * @module
 */

import { mapLimit } from "../_internal/pool.ts";
import { StorageError, toStorageError } from "../errors.ts";
import { assertPath } from "../_internal/paths.ts";
import { MAX_FILE_BYTES } from "./libc.ts";

/** A page-aligned buffer the reads land in. */
export interface Arena {
  /** The arena's bytes, starting on a page boundary. */
  readonly bytes: Uint8Array;
  /** Address of `bytes[0]` where the implementation knows it (FFI), else 0. */
  readonly address: number;
}

/** `stat` result: a size for regular files, or the kind of thing found. */
export const KIND_DIRECTORY: number = -1;
/** `stat` result for something that is neither a file nor a directory. */
export const KIND_OTHER: number = -2;

/** The primitive file operations an implementation provides. */
export interface FileOps {
  /** Opens `path` read-only; throws a typed error. */
  open(path: string, operation: string): number;
  /** Size of a regular file, or {@linkcode KIND_DIRECTORY} / {@linkcode KIND_OTHER}. */
  stat(fd: number, path: string, operation: string): number;
  /** One read at the current position into `arena.bytes[offset…offset+length]`; 0 at EOF. */
  read(fd: number, arena: Arena, offset: number, length: number, path: string, op: string): number;
  /** Closes; never throws. */
  close(fd: number): void;
  /**
   * A zero-filled, page-aligned arena of at least `bytes` bytes; `lazy`:
   * leave its pages to fault in on use (someone else prefaults them).
   */
  alloc(bytes: number, lazy?: boolean): Arena;
}

/** Tuning and test hooks of a reader. */
export interface BatchOptions {
  /** Most files opened at once per chunk (default 512). */
  chunkFiles?: number;
  /**
   * Arena bytes per chunk before a new chunk starts (default 32 MiB; a file
   * larger than this gets an arena of its own). Views keep their whole
   * arena alive, so smaller chunks also bound what one kept view retains;
   * on bench/ffi.ts's file sets no speed difference showed from 2 to 256 MiB.
   */
  chunkBytes?: number;
  /** How many times a file that changes size is re-read before giving up (default 3). */
  retries?: number;
  /**
   * Test hook: called right after a file's size is known and before it is
   * read (`attempt` 0 is the batch read, 1… the re-reads).
   */
  afterSize?: (path: string, attempt: number) => void;
  /**
   * Test hook: called in a re-read after reading to EOF and before the size
   * is queried again to confirm it (`attempt` 1…).
   */
  afterRead?: (path: string, attempt: number) => void;
}

const DEFAULT_CHUNK_FILES = 512;
const DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024;
const SLOT_ALIGN = 64;

/** Rounds `n` up to a multiple of 64. */
function slot(size: number): number {
  return (size + 1 + SLOT_ALIGN - 1) & ~(SLOT_ALIGN - 1);
}

/** The `EFBIG` error of a file past the 2 GiB bulk-read limit (every bulk reader's). */
export function tooLarge(path: string, size: number, operation: string): StorageError {
  return new StorageError(
    operation,
    path,
    `file is ${size} bytes; bulk reads are limited to ${MAX_FILE_BYTES} bytes (2 GiB)`,
    { code: "EFBIG" },
  );
}

/** The error for a file that kept changing size while it was read. */
export function sizeChangedError(
  path: string,
  expected: number,
  got: number,
  operation: string,
): StorageError {
  return new StorageError(
    operation,
    path,
    `file changed size while being read (size said ${expected} bytes, read ${got})`,
    { code: "ERR_SIZE_CHANGED" },
  );
}

/** Maps an errno code to the library's typed error for `path`. */
export function errnoError(code: string, operation: string, path: string): StorageError {
  return toStorageError(
    Object.assign(new Error(`${code}: ${operation} '${path}'`), { code }),
    operation,
    path,
  );
}

/** Checks a size from `stat`, throwing the typed error a non-file deserves. */
function checkSize(size: number, path: string, operation: string): void {
  if (size === KIND_DIRECTORY) throw errnoError("EISDIR", operation, path);
  if (size > MAX_FILE_BYTES) throw tooLarge(path, size, operation);
}

/**
 * Reads one file from a fresh descriptor until EOF, growing the buffer as
 * needed, then checks the size again. Used for files whose size changed
 * during the batch read and for non-regular files (whose size says nothing).
 */
function rereadWhole(
  ops: FileOps,
  path: string,
  operation: string,
  options: BatchOptions,
): Uint8Array {
  const attempts = Math.max(1, (options.retries ?? 3) + 1);
  let expected = 0;
  let got = 0;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const fd = ops.open(path, operation);
    try {
      const before = ops.stat(fd, path, operation);
      checkSize(before, path, operation);
      options.afterSize?.(path, attempt);
      let arena = ops.alloc(Math.max(before, 0) + 4096);
      got = 0;
      for (;;) {
        if (got === arena.bytes.length) {
          if (got >= MAX_FILE_BYTES) throw tooLarge(path, got, operation);
          const bigger = ops.alloc(Math.min(arena.bytes.length * 2, MAX_FILE_BYTES + 1));
          bigger.bytes.set(arena.bytes);
          arena = bigger;
        }
        const n = ops.read(fd, arena, got, arena.bytes.length - got, path, operation);
        if (n === 0) break;
        got += n;
      }
      options.afterRead?.(path, attempt);
      const after = ops.stat(fd, path, operation);
      expected = after;
      // Pseudo-files (procfs, sysfs) report size 0 before and after: what was
      // read is their content.
      const pseudo = before === 0 && after === 0;
      if (after === KIND_OTHER || after === got || pseudo) return arena.bytes.subarray(0, got);
    } finally {
      ops.close(fd);
    }
  }
  throw sizeChangedError(path, expected, got, operation);
}

/** Opens and sizes files from `start` until the chunk is full; returns the end index. */
function openChunk(
  ops: FileOps,
  paths: readonly string[],
  start: number,
  operation: string,
  limits: { files: number; bytes: number },
  fds: number[],
  sizes: number[],
): { end: number; total: number } {
  let end = start;
  let total = 0;
  while (end < paths.length && end - start < limits.files && total < limits.bytes) {
    const path = paths[end]!;
    const fd = ops.open(path, operation);
    fds.push(fd);
    const size = ops.stat(fd, path, operation);
    checkSize(size, path, operation);
    sizes.push(size);
    if (size >= 0) total += slot(size);
    end++;
  }
  return { end, total };
}

/**
 * Reads one regular file of `size` bytes into its slot (after `first` bytes
 * already read there, if a parallel read did the first call), checking it
 * against the size; a file that changed is re-read whole.
 */
function readSlot(
  ops: FileOps,
  fd: number,
  arena: Arena,
  offset: number,
  size: number,
  path: string,
  operation: string,
  options: BatchOptions,
  first?: number,
): Uint8Array {
  // Ask for one byte more than the size: a short read of a regular file
  // is EOF, so `size` back means exactly the file, `size + 1` means it grew.
  let got = first ?? ops.read(fd, arena, offset, size + 1, path, operation);
  while (got > 0 && got < size) {
    const n = ops.read(fd, arena, offset + got, size + 1 - got, path, operation);
    if (n === 0) break;
    got += n;
  }
  return got === size
    ? arena.bytes.subarray(offset, offset + size)
    : rereadWhole(ops, path, operation, options);
}

function limitsOf(options: BatchOptions): { files: number; bytes: number } {
  return {
    files: Math.max(1, options.chunkFiles ?? DEFAULT_CHUNK_FILES),
    bytes: Math.max(1, options.chunkBytes ?? DEFAULT_CHUNK_BYTES),
  };
}

/**
 * Reads every file whole with `ops`, in request order, chunk by chunk. See
 * the module documentation for the guarantees.
 *
 * @example
 * ```ts ignore
 * const bytes = readBatch(pureOps, ["/data/a.bin", "/data/b.bin"], "loadBatch");
 * ```
 */
export function readBatch(
  ops: FileOps,
  paths: readonly string[],
  operation: string,
  options: BatchOptions = {},
): Uint8Array[] {
  for (const p of paths) assertPath(p, operation);
  const limits = limitsOf(options);
  const out: Uint8Array[] = new Array(paths.length);
  const fds: number[] = [];
  const sizes: number[] = [];
  let start = 0;
  while (start < paths.length) {
    fds.length = 0;
    sizes.length = 0;
    let end = start;
    try {
      const opened = openChunk(ops, paths, start, operation, limits, fds, sizes);
      end = opened.end;
      if (options.afterSize) {
        for (let i = start; i < end; i++) options.afterSize(paths[i]!, 0);
      }
      const arena = ops.alloc(opened.total);
      let offset = 0;
      for (let i = 0; i < fds.length; i++) {
        const path = paths[start + i]!;
        const size = sizes[i]!;
        if (size < 0) {
          // Not a regular file: its size says nothing; read until EOF.
          out[start + i] = rereadWhole(ops, path, operation, options);
          continue;
        }
        out[start + i] = readSlot(ops, fds[i]!, arena, offset, size, path, operation, options);
        offset += slot(size);
      }
    } finally {
      for (const fd of fds) ops.close(fd);
    }
    start = end;
  }
  return out;
}

/** Reads issued off the JavaScript thread (Deno `nonblocking` symbols). */
export interface ParallelReads {
  /**
   * One read at the current position into the arena, on another thread;
   * resolves to the byte count, or -1 on any failure (errno is not
   * available there: the file is then re-read synchronously).
   */
  read(fd: number, arena: Arena, offset: number, length: number): Promise<number>;
  /** Files at least this large are read in parallel. */
  minBytes: number;
  /** Reads in flight at once. */
  concurrency: number;
}

/** Work another thread can do while this one reads (Deno `nonblocking` symbols). */
export interface OffThread {
  /** Large files read on other threads, a few at a time. */
  parallel?: ParallelReads;
  /**
   * Faults in `arena.bytes[from…to]` on another thread. Arenas are then
   * allocated lazily (`alloc(n, true)`), the first half of each is faulted
   * in by this thread's reads while the other thread populates the rest.
   */
  prefault?: (arena: Arena, from: number, to: number) => Promise<void>;
}

/** Arenas smaller than this are not split between threads. */
const SPLIT_MIN_BYTES = 2 << 20;

/**
 * {@linkcode readBatch} with help from other threads ({@linkcode OffThread}):
 * same results and guarantees; the reads and every check stay on this thread
 * except the large-file reads of `parallel`.
 */
export async function readBatchAsync(
  ops: FileOps,
  paths: readonly string[],
  operation: string,
  options: BatchOptions,
  helpers: OffThread,
): Promise<Uint8Array[]> {
  for (const p of paths) assertPath(p, operation);
  const limits = limitsOf(options);
  const { parallel, prefault } = helpers;
  const out: Uint8Array[] = new Array(paths.length);
  const fds: number[] = [];
  const sizes: number[] = [];
  let start = 0;
  while (start < paths.length) {
    fds.length = 0;
    sizes.length = 0;
    let end = start;
    let populating: Promise<void> | undefined;
    const inFlight: Promise<void>[] = [];
    try {
      const opened = openChunk(ops, paths, start, operation, limits, fds, sizes);
      end = opened.end;
      if (options.afterSize) {
        for (let i = start; i < end; i++) options.afterSize(paths[i]!, 0);
      }
      const split = prefault !== undefined && opened.total >= SPLIT_MIN_BYTES;
      const arena = ops.alloc(opened.total, split);
      const offsets: number[] = [];
      const large: number[] = [];
      let offset = 0;
      let half = sizes.length;
      for (let i = 0; i < sizes.length; i++) {
        offsets.push(offset);
        const size = sizes[i]!;
        if (half === sizes.length && offset >= opened.total / 2) half = i;
        if (parallel && size >= parallel.minBytes) large.push(i);
        if (size >= 0) offset += slot(size);
      }
      if (split) {
        // Never rejects: a failed prefault only means the reads fault as usual.
        populating = prefault(arena, offsets[half] ?? opened.total, opened.total).catch(() => {});
        inFlight.push(populating);
      }
      const first = new Map<number, number>();
      if (parallel && large.length > 0) {
        const reads = mapLimit(large, Math.max(1, parallel.concurrency), async (i) => {
          let got: number;
          try {
            got = await parallel.read(fds[i]!, arena, offsets[i]!, sizes[i]! + 1);
          } catch {
            got = -1; // never leave a read in flight on a descriptor about to close
          }
          first.set(i, got);
        });
        inFlight.push(reads.then(() => {}));
        await reads;
      }
      for (let i = 0; i < fds.length; i++) {
        if (i === half && populating) await populating;
        const path = paths[start + i]!;
        const size = sizes[i]!;
        const got = first.get(i);
        if (size < 0 || (got !== undefined && got < 0)) {
          out[start + i] = rereadWhole(ops, path, operation, options);
          continue;
        }
        out[start + i] = readSlot(
          ops,
          fds[i]!,
          arena,
          offsets[i]!,
          size,
          path,
          operation,
          options,
          got,
        );
      }
    } finally {
      // Nothing may still run on another thread over these descriptors or
      // this arena once the chunk is left (the helpers never reject).
      await Promise.all(inFlight);
      for (const fd of fds) ops.close(fd);
    }
    start = end;
  }
  return out;
}
