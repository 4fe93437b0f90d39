/**
 * The libc surface the bulk readers use, described once for every runtime:
 * symbol signatures in neutral type names (mapped to `Deno.dlopen` and
 * `bun:ffi` types by the bindings), the library name per OS, and the
 * OS/architecture constants (open flags, `struct stat` layout, errno names).
 *
 * Signatures are chosen so that the hot calls (`open`, `fstat`, `readv`,
 * `close`) take and return only 32-bit integers and buffers: a 64-bit FFI
 * parameter or result costs ~370 ns per call in Deno. `readv` reads a file
 * from its current offset (0 after `open`) with the destination address and
 * length in memory (`struct iovec`), so no 64-bit argument is needed; its
 * `ssize_t` result is read as `i32`, which is exact because a single read is
 * capped at {@linkcode MAX_FILE_BYTES} here (Linux caps it at 0x7ffff000 too).
 *
 * @module
 */

/** Neutral FFI type names; the bindings map them to runtime types. */
export type NativeType = "i32" | "buffer" | "pointer" | "usize" | "i64" | "void";

/** One libc symbol: parameter and result types. */
export interface SymbolSpec {
  /** Parameter types in order. */
  readonly parameters: readonly NativeType[];
  /** Result type. */
  readonly result: NativeType;
}

/**
 * The libc symbols bound by both runtimes. `errnoLocation` is named per OS
 * by {@linkcode libcTarget} (`__errno_location` on glibc/musl, `__error` on
 * macOS).
 *
 * @example
 * ```ts
 * import { LIBC_SYMBOLS } from "./libc.ts";
 * console.assert(LIBC_SYMBOLS.readv.result === "i32");
 * ```
 */
export const LIBC_SYMBOLS = {
  /** `int open(const char *path, int flags)` */
  open: { parameters: ["buffer", "i32"], result: "i32" },
  /** `int fstat(int fd, struct stat *st)` */
  fstat: { parameters: ["i32", "buffer"], result: "i32" },
  /** `ssize_t readv(int fd, const struct iovec *iov, int iovcnt)`, result read as i32 */
  readv: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  /** `int close(int fd)` */
  close: { parameters: ["i32"], result: "i32" },
  /** `void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)` */
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  /** `int munmap(void *addr, size_t len)` */
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  /** `int madvise(void *addr, size_t len, int advice)` (huge pages for, and prefaulting of, a fresh arena) */
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  /** `int getrlimit(int resource, struct rlimit *rl)` (the descriptor limit) */
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  /** `int *__errno_location(void)` (glibc, musl) / `int *__error(void)` (macOS) */
  errnoLocation: { parameters: [], result: "pointer" },
} as const satisfies Record<string, SymbolSpec>;

/** Offsets into `struct stat` for the fields the readers use. */
export interface StatLayout {
  /** `sizeof(struct stat)` (a buffer at least this large is passed). */
  readonly size: number;
  /** Byte offset of `st_mode` (read as u16 on macOS, u32 elsewhere). */
  readonly mode: number;
  /** Width of `st_mode` in bytes. */
  readonly modeBytes: 2 | 4;
  /** Byte offset of `st_size` (i64). */
  readonly stSize: number;
}

/** Everything a binding needs to know about this platform's libc. */
export interface LibcTarget {
  /** Library to open (`libc.so.6`, `libSystem.B.dylib`, …). */
  readonly library: string;
  /** Names tried when `library` does not open (musl-based Linux, …). */
  readonly fallbacks: readonly string[];
  /** Real symbol names where they differ from the {@linkcode LIBC_SYMBOLS} keys. */
  readonly names: Readonly<Partial<Record<keyof typeof LIBC_SYMBOLS, string>>>;
  /**
   * `O_RDONLY | O_CLOEXEC | O_NONBLOCK` for this OS. `O_NONBLOCK` makes
   * opening a FIFO without a writer return at once (the following `fstat`
   * then refuses it); it has no effect on regular files.
   */
  readonly openFlags: number;
  /** `RLIMIT_NOFILE`, the resource number of the descriptor limit. */
  readonly rlimitNofile: number;
  /** `PROT_READ`. */
  readonly protRead: number;
  /** `MAP_PRIVATE`, plus `MAP_POPULATE` where the OS has it. */
  readonly mapFlags: number;
  /**
   * `madvise` advice that faults a range in writable in one call
   * (`MADV_POPULATE_WRITE`, Linux ≥ 5.14), where the OS has one.
   */
  readonly populateWrite?: number;
  /**
   * `madvise` advice asking for transparent huge pages over a range
   * (`MADV_HUGEPAGE`, Linux), where the OS has one; macOS has none.
   */
  readonly hugePage?: number;
  /** The `struct stat` layout. */
  readonly stat: StatLayout;
  /** errno number → Node-style code, for the errors the readers can meet. */
  readonly errnoNames: Readonly<Record<number, string>>;
}

/** `S_IFMT`, `S_IFDIR`, `S_IFREG` (the same on Linux and macOS). */
export const S_IFMT = 0o170000;
/** Directory file type bits. */
export const S_IFDIR = 0o040000;
/** Regular file type bits. */
export const S_IFREG = 0o100000;

/**
 * Largest file the bulk readers read (2 GiB − 1): one `read` returns at most
 * this much, results are read as i32, and JavaScript views stay cheap. Larger
 * files are refused with a `StorageError` (code `EFBIG`).
 */
export const MAX_FILE_BYTES = 0x7fffffff;

const LINUX_ERRNO: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  5: "EIO",
  9: "EBADF",
  12: "ENOMEM",
  13: "EACCES",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  27: "EFBIG",
  36: "ENAMETOOLONG",
  40: "ELOOP",
  75: "EOVERFLOW",
};

const DARWIN_ERRNO: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  5: "EIO",
  9: "EBADF",
  12: "ENOMEM",
  13: "EACCES",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  27: "EFBIG",
  62: "ELOOP",
  63: "ENAMETOOLONG",
  84: "EOVERFLOW",
};

/**
 * The libc target for an OS/architecture pair (as `RuntimeInfo` names them:
 * `linux`/`darwin`, `x86_64`/`aarch64`), or the reason there is none.
 *
 * @example
 * ```ts
 * import { libcTarget } from "./libc.ts";
 * const t = libcTarget("linux", "x86_64");
 * console.assert(typeof t !== "string" && t.library === "libc.so.6");
 * console.assert(typeof libcTarget("windows", "x86_64") === "string");
 * ```
 */
export function libcTarget(os: string, arch: string): LibcTarget | string {
  if (arch !== "x86_64" && arch !== "aarch64") {
    return `no libc bindings for ${os}/${arch}`;
  }
  if (os === "linux") {
    return {
      library: "libc.so.6", // glibc
      fallbacks: [`libc.musl-${arch}.so.1`, "libc.so"], // musl (Alpine), others
      names: { errnoLocation: "__errno_location" },
      openFlags: 0o2000000 | 0o4000, // O_RDONLY (0) | O_CLOEXEC | O_NONBLOCK
      rlimitNofile: 7,
      protRead: 1,
      mapFlags: 0x02 | 0x8000, // MAP_PRIVATE | MAP_POPULATE
      populateWrite: 23, // MADV_POPULATE_WRITE
      hugePage: 14, // MADV_HUGEPAGE
      // x86_64: st_dev, st_ino, st_nlink (8 each), st_mode at 24; aarch64
      // (generic layout): st_dev, st_ino, then st_mode at 16. st_size at 48 on both.
      stat: arch === "x86_64"
        ? { size: 144, mode: 24, modeBytes: 4, stSize: 48 }
        : { size: 128, mode: 16, modeBytes: 4, stSize: 48 },
      errnoNames: LINUX_ERRNO,
    };
  }
  if (os === "darwin") {
    return {
      library: "libSystem.B.dylib",
      fallbacks: ["/usr/lib/libSystem.B.dylib"],
      // x86_64 macOS keeps the 32-bit-inode fstat under the plain name.
      names: arch === "x86_64"
        ? { errnoLocation: "__error", fstat: "fstat$INODE64" }
        : { errnoLocation: "__error" },
      openFlags: 0x1000000 | 0x4, // O_RDONLY | O_CLOEXEC | O_NONBLOCK
      rlimitNofile: 8,
      protRead: 1,
      mapFlags: 0x02, // MAP_PRIVATE
      // struct stat (64-bit inode): st_dev i32, st_mode u16 at 4, …, st_size at 96.
      stat: { size: 144, mode: 4, modeBytes: 2, stSize: 96 },
      errnoNames: DARWIN_ERRNO,
    };
  }
  return `no libc bindings for ${os}`;
}

/**
 * Opens the first library of `target` that opens, with `open` (a runtime's
 * dlopen); the error names every name tried.
 *
 * @example
 * ```ts ignore
 * const lib = openFirst(target, (name) => Deno.dlopen(name, symbols));
 * ```
 */
export function openFirst<T>(target: LibcTarget, open: (name: string) => T): T {
  const failures: string[] = [];
  for (const name of [target.library, ...target.fallbacks]) {
    try {
      return open(name);
    } catch (err) {
      failures.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new Error(`cannot open libc (${failures.join("; ")})`);
}
