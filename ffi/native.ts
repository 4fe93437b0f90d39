/**
 * The FFI bulk reader and the zero-copy `mmap` handle, written once over
 * {@linkcode LibcCalls} — the few libc calls that the Deno and Bun bindings
 * (`deno.ts`, `bun.ts`) provide.
 *
 * @module
 */

import { StorageError, UnsupportedOperationError } from "../errors.ts";
import { assertPath } from "../_internal/paths.ts";
import type { BulkReader, MappedFiles } from "./types.ts";
import {
  type Arena,
  type BatchOptions,
  errnoError,
  type FileOps,
  KIND_DIRECTORY,
  type OffThread,
  type ParallelReads,
  readBatch,
  readBatchAsync,
} from "./batch.ts";
import { type LibcTarget, MAX_FILE_BYTES, S_IFDIR, S_IFMT, S_IFREG } from "./libc.ts";

/** What a runtime binding provides (every call synchronous). */
export interface LibcCalls {
  /** `open(pathz, flags)` → fd or -1. */
  open(path: Uint8Array, flags: number): number;
  /** `fstat(fd, buf)` → 0 or -1. */
  fstat(fd: number, buf: Uint8Array): number;
  /** `readv(fd, iov, count)` → bytes read or -1. */
  readv(fd: number, iov: Uint8Array, count: number): number;
  /** `readv` on another thread (Deno `nonblocking`), where the runtime has it. */
  readvAsync?(fd: number, iov: Uint8Array, count: number): Promise<number>;
  /** `close(fd)`. */
  close(fd: number): number;
  /** `getrlimit(resource, buf)` → 0 or -1 (`buf`: two u64, soft then hard). */
  getrlimit?(resource: number, buf: Uint8Array): number;
  /** The calling thread's `errno`. */
  errno(): number;
  /** Address of `bytes[0]` (the buffer must not move: an off-heap `ArrayBuffer`). */
  addressOf(bytes: Uint8Array): number;
  /** `mmap(NULL, length, prot, flags, fd, 0)` → address, or -1 on failure. */
  mmap(length: number, prot: number, flags: number, fd: number): number;
  /** `munmap(address, length)` → 0 or -1. */
  munmap(address: number, length: number): number;
  /** `madvise(address, length, advice)` → 0 or -1. */
  madvise(address: number, length: number, advice: number): number;
  /** `madvise` on another thread (Deno `nonblocking`), where the runtime has it. */
  madviseAsync?(address: number, length: number, advice: number): Promise<number>;
  /** An `ArrayBuffer` over `length` bytes of native memory at `address` (no copy). */
  arrayBufferAt(address: number, length: number): ArrayBuffer;
}

const PAGE = 4096;
/** Arenas at least this large are prefaulted (where the OS can). */
const PREFAULT_MIN_BYTES = 1 << 20;
const TWO32 = 4294967296;
const EINTR = 4;
const ENXIO = 6;
/** Default most files open at once per chunk (`BatchOptions.chunkFiles`). */
const DEFAULT_CHUNK_FILES = 512;
/** Descriptors left to the rest of the process: a chunk opens at most a quarter of the limit. */
const DESCRIPTOR_SHARE = 4;

/** What a non-regular file is, from the `S_IFMT` bits of its mode. */
function kindName(type: number): string {
  switch (type) {
    case 0o010000:
      return "a FIFO";
    case 0o020000:
      return "a character device";
    case 0o060000:
      return "a block device";
    case 0o140000:
      return "a socket";
  }
  return "not a regular file";
}

/**
 * The refusal of anything that is not a regular file or a directory (FIFO,
 * socket, device): reading one could block forever or never end.
 */
function specialFileError(operation: string, path: string, what: string): StorageError {
  const reason = what === "not a regular file" ? what : `${what}, not a regular file`;
  return new UnsupportedOperationError(operation, path, `${reason}; refusing to read it`);
}

/** `FileOps` over libc: `open`/`fstat`/`readv`/`close`, errno mapped to typed errors. */
export class NativeOps implements FileOps {
  #libc: LibcCalls;
  #target: LibcTarget;
  #path = new Uint8Array(1024);
  #stat: Uint8Array;
  #statView: DataView;
  #iov = new Uint8Array(new ArrayBuffer(64), 0, 16);
  #iov32 = new Uint32Array(this.#iov.buffer, 0, 4);
  #encoder = new TextEncoder();
  #prefault: number;

  /**
   * Operations over a bound libc.
   *
   * @param libc the bound calls
   * @param target the platform constants
   * @param prefault fault fresh arenas in with one `madvise` (where supported)
   */
  constructor(libc: LibcCalls, target: LibcTarget, prefault = false) {
    this.#libc = libc;
    this.#target = target;
    this.#prefault = prefault ? target.populateWrite ?? 0 : 0;
    this.#stat = new Uint8Array(new ArrayBuffer(Math.max(target.stat.size, 256)));
    this.#statView = new DataView(this.#stat.buffer);
  }

  #fail(operation: string, path: string): never {
    const errno = this.#libc.errno();
    throw errnoError(this.#target.errnoNames[errno] ?? `errno ${errno}`, operation, path);
  }

  /** The path as NUL-terminated UTF-8 in a reused buffer. */
  #encode(path: string, operation: string): Uint8Array {
    assertPath(path, operation); // NUL bytes never reach C
    const need = path.length * 3 + 1;
    if (this.#path.length < need) this.#path = new Uint8Array(need * 2);
    const { written } = this.#encoder.encodeInto(path, this.#path);
    this.#path[written] = 0;
    return this.#path;
  }

  open(path: string, operation: string): number {
    const fd = this.#libc.open(this.#encode(path, operation), this.#target.openFlags);
    if (fd < 0) {
      // ENXIO (6 on Linux and macOS): `open` of a Unix socket, or of a device
      // with no driver behind it.
      if (this.#libc.errno() === ENXIO) {
        throw specialFileError(operation, path, "a socket (or a device with no driver)");
      }
      this.#fail(operation, path);
    }
    return fd;
  }

  stat(fd: number, path: string, operation: string): number {
    if (this.#libc.fstat(fd, this.#stat) !== 0) this.#fail(operation, path);
    const layout = this.#target.stat;
    const mode = layout.modeBytes === 2
      ? this.#statView.getUint16(layout.mode, true)
      : this.#statView.getUint32(layout.mode, true);
    const type = mode & S_IFMT;
    if (type === S_IFDIR) return KIND_DIRECTORY;
    // Checked on the open descriptor (no check/open race); the open itself
    // did not block, as it used O_NONBLOCK.
    if (type !== S_IFREG) throw specialFileError(operation, path, kindName(type));
    const lo = this.#statView.getUint32(layout.stSize, true);
    const hi = this.#statView.getInt32(layout.stSize + 4, true);
    return hi * TWO32 + lo;
  }

  read(
    fd: number,
    arena: Arena,
    offset: number,
    length: number,
    path: string,
    operation: string,
  ): number {
    if (offset < 0 || length < 0 || offset + length > arena.bytes.length) {
      throw new RangeError(`${operation} '${path}': read outside the arena`);
    }
    const address = arena.address + offset;
    this.#iov32[0] = address % TWO32;
    this.#iov32[1] = Math.floor(address / TWO32);
    this.#iov32[2] = Math.min(length, MAX_FILE_BYTES);
    this.#iov32[3] = 0;
    for (;;) {
      const n = this.#libc.readv(fd, this.#iov, 1);
      if (n >= 0) return n;
      if (this.#libc.errno() !== EINTR) this.#fail(operation, path);
    }
  }

  close(fd: number): void {
    this.#libc.close(fd);
  }

  /** The soft `RLIMIT_NOFILE` (open descriptors allowed), or undefined if unknown/unlimited. */
  descriptorLimit(): number | undefined {
    const getrlimit = this.#libc.getrlimit;
    if (!getrlimit) return undefined;
    const buf = new Uint8Array(new ArrayBuffer(16));
    if (getrlimit(this.#target.rlimitNofile, buf) !== 0) return undefined;
    const dv = new DataView(buf.buffer);
    const hi = dv.getUint32(4, true);
    const soft = hi * TWO32 + dv.getUint32(0, true);
    // RLIM_INFINITY is all ones; anything this large is no limit for us.
    return hi >= 0x7fffffff || soft <= 0 ? undefined : soft;
  }

  /** Whether reads can run on other threads. */
  get canReadParallel(): boolean {
    return this.#libc.readvAsync !== undefined;
  }

  /** One read on another thread; -1 on failure (errno stays there). */
  async readParallel(fd: number, arena: Arena, offset: number, length: number): Promise<number> {
    const readvAsync = this.#libc.readvAsync;
    if (!readvAsync || offset < 0 || length < 0 || offset + length > arena.bytes.length) return -1;
    // Its own iovec, off the JS heap (never moved), alive until the read ends.
    const iov = new Uint8Array(new ArrayBuffer(16));
    const iov32 = new Uint32Array(iov.buffer);
    const address = arena.address + offset;
    iov32[0] = address % TWO32;
    iov32[1] = Math.floor(address / TWO32);
    iov32[2] = Math.min(length, MAX_FILE_BYTES);
    return await readvAsync(fd, iov, 1);
  }

  alloc(bytes: number, lazy = false): Arena {
    const n = Math.max(bytes, 0);
    // Over-allocate by a page and start at the first page boundary (a large
    // `new Uint8Array(n)` lands a few bytes past one, where copies are slow).
    // `PAGE` extra bytes also keep the buffer off the V8 heap, so it never moves.
    return this.arenaIn(new ArrayBuffer(n + PAGE), n, !lazy);
  }

  /** Whether arenas can be prefaulted on another thread. */
  get canPrefaultAsync(): boolean {
    return this.#prefault !== 0 && this.#libc.madviseAsync !== undefined;
  }

  /** Prefaults `arena.bytes[from…to]` (whole pages inside it) on another thread. */
  async prefaultAsync(arena: Arena, from: number, to: number): Promise<void> {
    const madviseAsync = this.#libc.madviseAsync;
    if (!madviseAsync || this.#prefault === 0) return;
    const start = Math.ceil((arena.address + from) / PAGE) * PAGE;
    const end = arena.address + Math.min(to, arena.bytes.length);
    if (end - start < PAGE) return;
    await madviseAsync(start, end - start, this.#prefault);
  }

  /**
   * An arena of `n` bytes inside `buffer` (at least `n + 4096` bytes long);
   * `fresh` buffers are prefaulted (recycled ones already are).
   */
  arenaIn(buffer: ArrayBuffer, n: number, fresh = true): Arena {
    const raw = new Uint8Array(buffer);
    if (raw.length < n + PAGE) throw new RangeError(`arena buffer too small for ${n} bytes`);
    const base = this.#libc.addressOf(raw);
    const pad = (PAGE - (base % PAGE)) % PAGE;
    const address = base + pad;
    // A fresh arena's pages fault in one by one on first write (page faults
    // cost more than the copy); one MADV_POPULATE_WRITE faults them in bulk.
    // Best effort: an old kernel says EINVAL and the reads fault as usual.
    if (fresh && this.#prefault && n >= PREFAULT_MIN_BYTES) {
      this.#libc.madvise(address, n, this.#prefault);
    }
    return { bytes: raw.subarray(pad, pad + n), address };
  }

  /** Maps one file read-only; `[address, length]`, `[0, 0]` for an empty file. */
  map(path: string, operation: string): [number, number] {
    const fd = this.open(path, operation);
    try {
      const size = this.stat(fd, path, operation);
      if (size === KIND_DIRECTORY) throw errnoError("EISDIR", operation, path);
      if (size > MAX_FILE_BYTES) {
        throw new StorageError(
          operation,
          path,
          `file is ${size} bytes; mapping is limited to 2 GiB`,
          {
            code: "EFBIG",
          },
        );
      }
      if (size === 0) return [0, 0];
      const address = this.#libc.mmap(size, this.#target.protRead, this.#target.mapFlags, fd);
      if (address === -1) this.#fail(operation, path);
      return [address, size];
    } finally {
      this.#libc.close(fd);
    }
  }

  /** Unmaps what {@linkcode map} mapped. */
  unmap(address: number, length: number): void {
    if (length > 0) this.#libc.munmap(address, length);
  }

  /** The bound calls (for the mapped-files handle). */
  get libc(): LibcCalls {
    return this.#libc;
  }
}

/** Detaches `buffer` so that every view over it reads as empty; false if impossible. */
function detach(buffer: ArrayBuffer): boolean {
  const b = buffer as ArrayBuffer & { transfer?: (n?: number) => ArrayBuffer; detached?: boolean };
  try {
    if (typeof b.transfer === "function") b.transfer(0);
    else structuredClone(b, { transfer: [b] });
  } catch {
    return false;
  }
  return b.detached === true || b.byteLength === 0;
}

/**
 * Memory-mapped files (see {@linkcode MappedFiles}): views come only from
 * {@linkcode MappedFiles.get}; `release()` detaches every view it handed out
 * and then unmaps, so a stale view reads as empty instead of touching freed
 * memory.
 */
class NativeMappedFiles implements MappedFiles {
  readonly paths: readonly string[];
  #ops: NativeOps;
  #maps: Array<[number, number]>;
  #buffers: Array<ArrayBuffer | undefined>;
  #released = false;
  #operation: string;

  constructor(ops: NativeOps, paths: readonly string[], maps: Array<[number, number]>, op: string) {
    this.#ops = ops;
    this.paths = paths;
    this.#maps = maps;
    this.#buffers = new Array(maps.length);
    this.#operation = op;
  }

  get length(): number {
    return this.#maps.length;
  }

  get released(): boolean {
    return this.#released;
  }

  get(index: number): Uint8Array {
    if (this.#released) {
      throw new StorageError(
        this.#operation,
        this.paths[index] ?? String(index),
        "mapping released",
        {
          code: "ERR_RELEASED",
        },
      );
    }
    const m = this.#maps[index];
    if (!Number.isInteger(index) || m === undefined) {
      throw new RangeError(`MappedFiles.get: index ${index} out of range 0..${this.length - 1}`);
    }
    if (m[1] === 0) return new Uint8Array(0);
    const buffer = this.#buffers[index] ??= this.#ops.libc.arrayBufferAt(m[0], m[1]);
    return new Uint8Array(buffer);
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    for (let i = 0; i < this.#maps.length; i++) {
      const [address, length] = this.#maps[i]!;
      const buffer = this.#buffers[i];
      // Unmap only what no live view can reach: a buffer that cannot be
      // detached keeps its mapping (leaked, but never a dangling view).
      if (buffer === undefined || detach(buffer)) this.#ops.unmap(address, length);
      this.#buffers[i] = undefined;
    }
    this.#maps = [];
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/** Moves `buffer`'s memory to a new `ArrayBuffer`, detaching every view of the old one. */
function moveBuffer(buffer: ArrayBuffer): ArrayBuffer | undefined {
  const b = buffer as ArrayBuffer & { transfer?: () => ArrayBuffer };
  try {
    return typeof b.transfer === "function"
      ? b.transfer()
      : structuredClone(b, { transfer: [b] }) as ArrayBuffer;
  } catch {
    return undefined;
  }
}

/**
 * Arena buffers kept for reuse after a lease is released: their pages are
 * already faulted in, so the next batch writes straight into them.
 */
export class ArenaPool {
  #free: ArrayBuffer[] = [];
  #bytes = 0;
  #max: number;

  /**
   * An empty pool.
   *
   * @param maxBytes most bytes kept for reuse (more are left to the GC)
   */
  constructor(maxBytes: number) {
    this.#max = maxBytes;
  }

  /** Bytes currently kept for reuse. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The smallest kept buffer of at least `n` bytes, taken out of the pool. */
  take(n: number): ArrayBuffer | undefined {
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const len = this.#free[i]!.byteLength;
      if (len >= n && (best < 0 || len < this.#free[best]!.byteLength)) best = i;
    }
    if (best < 0) return undefined;
    const [buf] = this.#free.splice(best, 1);
    this.#bytes -= buf!.byteLength;
    return buf;
  }

  /** Drops kept buffers (to the GC) until at most `maxBytes` remain. */
  trim(maxBytes: number): void {
    while (this.#bytes > maxBytes && this.#free.length > 0) {
      this.#bytes -= this.#free.pop()!.byteLength;
    }
  }

  /** Keeps `buffer` for reuse if there is room. */
  give(buffer: ArrayBuffer): void {
    if (this.#bytes + buffer.byteLength > this.#max) return;
    this.#free.push(buffer);
    this.#bytes += buffer.byteLength;
  }
}

/** Views into leased arenas; `release()` detaches them and recycles the arenas. */
class LeasedFiles implements MappedFiles {
  readonly paths: readonly string[];
  #views: Uint8Array[];
  #buffers: ArrayBuffer[];
  #pool: ArenaPool;
  #operation: string;
  #released = false;

  constructor(
    paths: readonly string[],
    views: Uint8Array[],
    buffers: ArrayBuffer[],
    pool: ArenaPool,
    operation: string,
  ) {
    this.paths = paths;
    this.#views = views;
    this.#buffers = buffers;
    this.#pool = pool;
    this.#operation = operation;
  }

  get length(): number {
    return this.paths.length;
  }

  get released(): boolean {
    return this.#released;
  }

  get(index: number): Uint8Array {
    if (this.#released) {
      const path = this.paths[index] ?? String(index);
      throw new StorageError(this.#operation, path, "lease released", { code: "ERR_RELEASED" });
    }
    const v = this.#views[index];
    if (!Number.isInteger(index) || v === undefined) {
      throw new RangeError(`LeasedFiles.get: index ${index} out of range 0..${this.length - 1}`);
    }
    return v;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    recycle(this.#buffers, this.#pool);
    this.#buffers = [];
    this.#views = [];
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/** Detaches every view of `buffers` (by moving their memory) and pools the moved buffers. */
function recycle(buffers: ArrayBuffer[], pool: ArenaPool): void {
  for (const b of buffers) {
    const moved = moveBuffer(b);
    if (moved !== undefined) pool.give(moved);
  }
}

/** Maps `paths` read-only (all or nothing: on error, what was mapped is unmapped). */
export function mapFiles(ops: NativeOps, paths: readonly string[], operation: string): MappedFiles {
  for (const p of paths) assertPath(p, operation);
  const maps: Array<[number, number]> = [];
  try {
    for (const p of paths) maps.push(ops.map(p, operation));
  } catch (err) {
    for (const [address, length] of maps) ops.unmap(address, length);
    throw err;
  }
  return new NativeMappedFiles(ops, [...paths], maps, operation);
}

/** Options of {@linkcode NativeReader}. */
export interface NativeReaderOptions extends BatchOptions {
  /**
   * Read large files on other threads, a few at a time (Deno `nonblocking`
   * symbols; Bun FFI is synchronous; ignored there). `true` means files of
   * 4 MiB and more, 2 reads in flight. Default off: each such call costs
   * ~13–50 µs, and it only pays when a core is idle (see bench/ffi.ts).
   */
  parallel?: boolean | { minBytes?: number; concurrency?: number };
  /**
   * With `prefault`, populate the second half of each arena on another
   * thread while this one reads into the first (Deno `nonblocking` only):
   * the kernel's page zeroing then runs on a second core. Default off:
   * bench/ffi.ts on 2 vCPUs measured 3–15% less wall time for 12–30% more
   * CPU time.
   */
  prefaultOffThread?: boolean;
  /** Most bytes of released lease arenas kept for reuse (default 1 GiB). */
  poolBytes?: number;
  /**
   * Prefault each fresh arena of 1 MiB or more with one
   * `madvise(MADV_POPULATE_WRITE)` (Linux ≥ 5.14; default true): one call
   * instead of a page fault per 4 KiB page (bench/ffi.ts: ~5–10% less CPU).
   */
  prefault?: boolean;
}

/** The FFI bulk reader over a runtime binding. */
export class NativeReader implements BulkReader {
  /** `ffi(deno, readv)` or `ffi(bun, readv)`. */
  readonly implementation: string;
  #ops: NativeOps;
  #options: BatchOptions;
  #offThread: OffThread | undefined;
  #pool: ArenaPool;

  /**
   * A reader over a bound (and probed) libc; see `createBulkReader`.
   *
   * @param implementation the name `describeBackends()` shows
   * @param libc the bound calls
   * @param target the platform constants
   * @param options chunking, prefaulting and test hooks
   */
  constructor(
    implementation: string,
    libc: LibcCalls,
    target: LibcTarget,
    options: NativeReaderOptions = {},
  ) {
    this.implementation = implementation;
    this.#ops = new NativeOps(libc, target, options.prefault ?? true);
    this.#options = options;
    this.#pool = new ArenaPool(options.poolBytes ?? 2 ** 30);
    const ops = this.#ops;
    const helpers: OffThread = {};
    const parallel = options.parallel;
    if (parallel && ops.canReadParallel) {
      const tuning = parallel === true ? {} : parallel;
      const reads: ParallelReads = {
        read: (fd, arena, offset, length) => ops.readParallel(fd, arena, offset, length),
        minBytes: tuning.minBytes ?? 4 << 20,
        concurrency: Math.max(1, tuning.concurrency ?? 2),
      };
      helpers.parallel = reads;
    }
    if (options.prefaultOffThread === true && ops.canPrefaultAsync) {
      helpers.prefault = (arena, from, to) => ops.prefaultAsync(arena, from, to);
    }
    if (helpers.parallel || helpers.prefault) this.#offThread = helpers;
  }

  /**
   * Reads every file whole; results are views into per-chunk page-aligned
   * arenas. Large files go to other threads where the runtime allows it.
   */
  readFiles(paths: readonly string[], operation: string): Promise<Uint8Array[]> {
    if (this.#offThread) {
      return readBatchAsync(this.#ops, paths, operation, this.#bounded(), this.#offThread);
    }
    try {
      return Promise.resolve(readBatch(this.#ops, paths, operation, this.#bounded()));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The same as {@linkcode readFiles}, synchronously. */
  readFilesSync(paths: readonly string[], operation: string): Uint8Array[] {
    return readBatch(this.#ops, paths, operation, this.#bounded());
  }

  /**
   * The batch options with `chunkFiles` bounded by the descriptor limit
   * (`getrlimit(RLIMIT_NOFILE)`, asked per batch: it can change): a chunk
   * opens at most a quarter of it, leaving the rest to the process, so
   * `ulimit -n 64` reads in chunks of 16 files instead of failing with EMFILE.
   */
  #bounded(): BatchOptions {
    const limit = this.#ops.descriptorLimit();
    const wanted = this.#options.chunkFiles ?? DEFAULT_CHUNK_FILES;
    if (limit === undefined) return this.#options;
    const cap = Math.max(1, Math.floor(limit / DESCRIPTOR_SHARE));
    return wanted <= cap ? this.#options : { ...this.#options, chunkFiles: cap };
  }

  /** Whether special files (FIFOs, sockets, devices) are refused by the reader itself: yes, on the descriptor. */
  get refusesSpecialFiles(): boolean {
    return true;
  }

  /**
   * Reads the files into arenas recycled from released leases (new ones
   * when none fits), behind a handle with an explicit release; see
   * {@linkcode MappedFiles} for the rules. Released arenas (up to
   * `poolBytes`, default 1 GiB) are kept for the next lease, so a loop of
   * lease/release writes into memory that is already faulted in.
   */
  leaseFiles(paths: readonly string[], operation: string): Promise<MappedFiles> {
    const native = this.#ops;
    const pool = this.#pool;
    const used: ArrayBuffer[] = [];
    const leasing: FileOps = {
      open: (p, op) => native.open(p, op),
      stat: (fd, p, op) => native.stat(fd, p, op),
      read: (fd, arena, offset, length, p, op) => native.read(fd, arena, offset, length, p, op),
      close: (fd) => native.close(fd),
      alloc(bytes) {
        const n = Math.max(bytes, 0);
        const pooled = pool.take(n + PAGE);
        const buffer = pooled ?? new ArrayBuffer(n + PAGE);
        used.push(buffer);
        return native.arenaIn(buffer, n, pooled === undefined);
      },
    };
    try {
      const views = readBatch(leasing, paths, operation, this.#bounded());
      return Promise.resolve(new LeasedFiles([...paths], views, used, pool, operation));
    } catch (err) {
      recycle(used, pool); // nothing was handed out; keep the memory
      return Promise.reject(err);
    }
  }

  /** Bytes of released lease arenas kept for reuse. */
  get pooledBytes(): number {
    return this.#pool.bytes;
  }

  /** Lets the garbage collector have kept lease arenas until at most `maxBytes` (default 0) remain. */
  trimPool(maxBytes = 0): void {
    this.#pool.trim(maxBytes);
  }

  /** Maps the files read-only (zero copy); see {@linkcode MappedFiles} for the rules. */
  mapFiles(paths: readonly string[], operation: string): Promise<MappedFiles> {
    try {
      return Promise.resolve(mapFiles(this.#ops, paths, operation));
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
