/**
 * The FFI bulk reader ({@linkcode NativeReader}): whole-file batch reads,
 * leases and mappings over a runtime's libc binding. The pieces live in
 * `ops.ts` (libc file operations), `arena.ts` (leased arenas), `mmap.ts`
 * (mappings) and `batch.ts` (the read loop); this module re-exports them.
 *
 * Each batch's chunk size is capped by the descriptor limit, asked per batch,
 * so a low `ulimit -n` reads in smaller chunks instead of failing with EMFILE.
 *
 * Huge pages (Linux): off by default, since their p99 regressed in the
 * measurements (see `hugePagesWin`); `hugePages: true` turns them on,
 * `HCS_STORE_HUGEPAGES=0`/`1` overrides both, and THP mode `never` (read
 * from sysfs through the bound libc, so no extra permission) turns them off. A reader with them on also installs its
 * allocator into `_internal/alloc.ts` (first one wins), so decoded buffers of
 * 4 MiB or more get huge pages too.
 *
 * @module
 */

import type { BulkReader, MappedFiles } from "./types.ts";
import {
  type BatchOptions,
  type FileOps,
  type OffThread,
  type ParallelReads,
  readBatch,
  readBatchAsync,
} from "./batch.ts";
import type { LibcTarget } from "./libc.ts";
import { HUGE_MIN_BYTES, type LibcCalls, NativeOps, PAGE } from "./ops.ts";
import { installLargeAllocator, largeAllocator } from "../_internal/alloc.ts";
import { safeEnv } from "../registry/runtime.ts";
import { ArenaPool, LeasedFiles, recycle } from "./arena.ts";
import { mapFiles } from "./mmap.ts";

export { ArenaPool, type LibcCalls, mapFiles, NativeOps };

/** Default most files open at once per chunk (`BatchOptions.chunkFiles`). */
const DEFAULT_CHUNK_FILES = 512;
/** Descriptors left to the rest of the process: a chunk opens at most a quarter of the limit. */
const DESCRIPTOR_SHARE = 4;

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
  /**
   * Ask for transparent huge pages (`madvise(MADV_HUGEPAGE)`, Linux) for
   * fresh arenas of 4 MiB or more, before their first touch. Default off:
   * bench/ffi.ts measured their p99 several times worse on both bindings
   * (median within noise on Deno); THP `never` disables them;
   * `HCS_STORE_HUGEPAGES=0`/`1` overrides this.
   */
  hugePages?: boolean;
}

const THP_ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled";

/**
 * Whether huge pages are on by default for a binding: off for both, from
 * bench/ffi.ts (2 CPUs, THP `madvise`, 64 × 8 MiB, ratio to a C `pread`
 * into a reused buffer, median / p99):
 * - Deno, four runs on one day (stop 19): on 3.41/13.4, 5.25/17.3,
 *   2.56/12.5, 2.48/2.56; off 3.21/4.37, 3.17/3.62, 3.25/3.60, 3.22/3.61.
 *   A quiet run of stop 18 had on winning (106 / 170 ms vs 232 / 299), but
 *   the tail regresses in three runs of four (direct compaction), and the
 *   issue's rule is that the p99 must not regress.
 * - Bun: its allocator hands back memory it already faulted in, which the
 *   advice only makes the kernel compact: 60 / 69 ms without, 226 / 1023
 *   ms with.
 */
function hugePagesWin(_implementation: string): boolean {
  return false;
}

/**
 * The kernel's transparent huge page mode (`always`, `madvise`, `never`:
 * the bracketed word of sysfs's `enabled`), read with the bound libc;
 * undefined where it cannot be read.
 */
export function transparentHugePageMode(ops: NativeOps): string | undefined {
  let fd: number;
  try {
    fd = ops.open(THP_ENABLED, "probe");
  } catch {
    return undefined;
  }
  try {
    const arena = ops.alloc(256);
    const n = ops.read(fd, arena, 0, 256, THP_ENABLED, "probe");
    const text = new TextDecoder().decode(arena.bytes.subarray(0, Math.max(n, 0)));
    return /\[(\w+)\]/.exec(text)?.[1];
  } catch {
    return undefined;
  } finally {
    ops.close(fd);
  }
}

/** The FFI bulk reader over a runtime binding. */
export class NativeReader implements BulkReader {
  /** `ffi(deno, readv)` or `ffi(bun, readv)`. */
  readonly implementation: string;
  #ops: NativeOps;
  #options: BatchOptions;
  #offThread: OffThread | undefined;
  #pool: ArenaPool;
  #thp: string | undefined;

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
    const env = safeEnv("HCS_STORE_HUGEPAGES");
    const huge = env !== "0" && target.hugePage !== undefined &&
      (env === "1" || (options.hugePages ?? hugePagesWin(implementation)));
    this.#ops = new NativeOps(libc, target, options.prefault ?? true, huge);
    this.#thp = target.hugePage !== undefined ? transparentHugePageMode(this.#ops) : undefined;
    // With THP `never`, the advice is accepted and ignored: do not claim it.
    if (this.#thp === "never") this.#ops.disableHugePages();
    if (this.#ops.hugePages && !largeAllocator().installed) {
      const ops = this.#ops;
      installLargeAllocator((n) => ops.allocZeroed(n), HUGE_MIN_BYTES);
    }
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

  /**
   * Whether fresh arenas of 4 MiB or more are `madvise(MADV_HUGEPAGE)`d
   * (false when switched off, on macOS, with THP `never`, or after the
   * kernel refused the advice).
   */
  get hugePages(): boolean {
    return this.#ops.hugePages;
  }

  /** The kernel's THP mode (`always`, `madvise`, `never`), where readable. */
  get transparentHugePages(): string | undefined {
    return this.#thp;
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
        const buffer = pooled ?? native.freshBuffer(n);
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
