/**
 * `FileOps` over the few libc calls a runtime binding provides
 * ({@linkcode LibcCalls}, bound in `deno.ts` and `bun.ts`): open, fstat,
 * readv into page-aligned arenas, and mmap.
 *
 * Special files are refused on the open descriptor (`O_NONBLOCK` open, then
 * `fstat`), so there is no check/open race and no blocking open. An arena
 * starts at the first page boundary of a buffer one page larger than asked,
 * which also keeps the buffer off the V8 heap (its address never moves).
 *
 * Huge pages: a fresh arena of {@linkcode HUGE_MIN_BYTES} or more is a plain
 * `new ArrayBuffer` 2 MiB larger than asked, started at its first 2 MiB
 * boundary, and that interior is `madvise(MADV_HUGEPAGE)`d before anything
 * touches it (then populated with `MADV_POPULATE_WRITE`). This works because
 * both runtimes hand back untouched memory for a large `new ArrayBuffer`
 * (Deno: glibc `calloc` → fresh `mmap`; Bun: mimalloc, page-aligned):
 * measured, the allocation raises RSS by nothing and first touch by all of
 * it. Mapping memory ourselves and wrapping it (`arrayBufferAt` + a
 * FinalizationRegistry → `munmap`) was rejected: Deno's wrapped buffers have
 * no deallocator, so a buffer transferred to a worker would be unmapped under
 * it when the original object is collected.
 *
 * @module
 */

import { StorageError, UnsupportedOperationError } from "../errors.ts";
import { assertPath } from "../_internal/paths.ts";
import { type Arena, errnoError, type FileOps, KIND_DIRECTORY } from "./batch.ts";
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

/** The page size arenas are aligned to. */
export const PAGE = 4096;
/** The transparent huge page size on x86_64 and aarch64 (4 KiB base pages). */
export const HUGE_PAGE = 2 << 20;
/**
 * Fresh arenas and decoded buffers at least this large get huge pages (when
 * on): NumPy's threshold, kept after bench/ffi.ts (see docs/design.md).
 */
export const HUGE_MIN_BYTES = 4 << 20;
/** Arenas at least this large are prefaulted (where the OS can). */
const PREFAULT_MIN_BYTES = 1 << 20;
const TWO32 = 4294967296;
const EINTR = 4;
const ENXIO = 6;

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
  #huge: number;

  /**
   * Operations over a bound libc.
   *
   * @param libc the bound calls
   * @param target the platform constants
   * @param prefault fault fresh arenas in with one `madvise` (where supported)
   * @param hugePages ask for transparent huge pages for fresh arenas of
   *   {@linkcode HUGE_MIN_BYTES} or more (where the OS has `MADV_HUGEPAGE`)
   */
  constructor(libc: LibcCalls, target: LibcTarget, prefault = false, hugePages = false) {
    this.#libc = libc;
    this.#target = target;
    this.#prefault = prefault ? target.populateWrite ?? 0 : 0;
    this.#huge = hugePages ? target.hugePage ?? 0 : 0;
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
    // `PAGE` extra bytes also keep the buffer off the V8 heap, so it never
    // moves. Huge-page arenas get 2 MiB extra instead, to start on a huge page.
    return this.arenaIn(this.freshBuffer(n), n, true, !lazy);
  }

  /** Whether fresh large arenas are `madvise(MADV_HUGEPAGE)`d. */
  get hugePages(): boolean {
    return this.#huge !== 0;
  }

  /**
   * Turns huge pages off (after `madvise(MADV_HUGEPAGE)` failed: a kernel
   * without transparent huge pages says EINVAL).
   */
  disableHugePages(): void {
    this.#huge = 0;
  }

  /** A fresh buffer large enough for an arena of `n` bytes (see {@linkcode arenaIn}). */
  freshBuffer(n: number): ArrayBuffer {
    return new ArrayBuffer(n + (this.#huge !== 0 && n >= HUGE_MIN_BYTES ? HUGE_PAGE : PAGE));
  }

  /**
   * Asks for huge pages over the whole 2 MiB pages of `[from, to)` (inside a
   * buffer nothing has touched yet); false when there are none or it failed.
   */
  #adviseHuge(from: number, to: number): boolean {
    const start = Math.ceil(from / HUGE_PAGE) * HUGE_PAGE;
    const end = Math.floor(to / HUGE_PAGE) * HUGE_PAGE;
    if (end <= start) return false;
    if (this.#libc.madvise(start, end - start, this.#huge) === 0) return true;
    this.disableHugePages(); // no THP in this kernel: stop asking
    return false;
  }

  /**
   * A fresh zero-filled `Uint8Array` of `bytes` bytes for decoded data (the
   * allocator installed into `_internal/alloc.ts`): huge pages over its
   * whole 2 MiB pages, prefaulted when prefaulting is on. Its `byteOffset`
   * is a multiple of 4096 (the address then is wherever the runtime put the
   * buffer's start, 16 bytes past a page on Deno).
   */
  allocZeroed(bytes: number): Uint8Array {
    const n = Math.max(bytes, 0);
    if (this.#huge === 0 || n < HUGE_MIN_BYTES) return new Uint8Array(n);
    const buffer = new ArrayBuffer(n + HUGE_PAGE);
    const raw = new Uint8Array(buffer);
    const base = this.#libc.addressOf(raw);
    const toHuge = (HUGE_PAGE - (base % HUGE_PAGE)) % HUGE_PAGE;
    const offset = toHuge - (toHuge % PAGE);
    const bytesOut = raw.subarray(offset, offset + n);
    // As in `arenaIn`, up to the last whole 2 MiB page inside the buffer.
    if (this.#adviseHuge(base + offset, base + raw.length) && this.#prefault) {
      this.#libc.madvise(base + toHuge, offset + n - toHuge, this.#prefault);
    }
    return bytesOut;
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
   * An arena of `n` bytes inside `buffer` (at least `n + 4096` bytes long).
   * A `fresh` buffer (nothing has touched it) of at least `n + 2 MiB` bytes
   * with huge pages on starts on a 2 MiB boundary and gets
   * `madvise(MADV_HUGEPAGE)` first; `populate` then prefaults it (recycled
   * buffers are already faulted in).
   */
  arenaIn(buffer: ArrayBuffer, n: number, fresh = true, populate = fresh): Arena {
    const raw = new Uint8Array(buffer);
    if (raw.length < n + PAGE) throw new RangeError(`arena buffer too small for ${n} bytes`);
    const base = this.#libc.addressOf(raw);
    const huge = fresh && this.#huge !== 0 && n >= HUGE_MIN_BYTES && raw.length >= n + HUGE_PAGE;
    const align = huge ? HUGE_PAGE : PAGE;
    const pad = (align - (base % align)) % align;
    const address = base + pad;
    // Before the first touch, or the pages already are 4 KiB ones. The range
    // ends at the last whole 2 MiB page inside the buffer, so the arena's
    // tail page is huge too when it fits (at most 2 MiB more memory).
    if (huge) this.#adviseHuge(address, base + raw.length);
    // A fresh arena's pages fault in one by one on first write (page faults
    // cost more than the copy); one MADV_POPULATE_WRITE faults them in bulk.
    // Best effort: an old kernel says EINVAL and the reads fault as usual.
    if (fresh && populate && this.#prefault && n >= PREFAULT_MIN_BYTES) {
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
