/**
 * The `bun:ffi` binding of the libc calls (see `libc.ts`). `bun:ffi` is
 * imported dynamically by {@linkcode openBunLibc}, at first use.
 *
 * @module
 */

import { LIBC_SYMBOLS, type LibcTarget, type NativeType, openFirst } from "./libc.ts";
import type { LibcCalls } from "./native.ts";

const BUN_TYPES: Record<NativeType, string> = {
  i32: "i32",
  buffer: "ptr",
  pointer: "ptr",
  usize: "usize",
  i64: "i64",
  void: "void",
};

interface BunFfi {
  dlopen(path: string, symbols: Record<string, unknown>): {
    symbols: Record<string, (...args: unknown[]) => unknown>;
    close(): void;
  };
  ptr(view: ArrayBufferView): number;
  toArrayBuffer(pointer: number, offset: number, length: number): ArrayBuffer;
  read: { i32(pointer: number, offset?: number): number };
}

/**
 * Opens libc with `bun:ffi` and returns the bound calls. Throws (plain
 * `Error`) off Bun or when the library cannot be opened.
 *
 * @example
 * ```ts ignore
 * import { libcTarget } from "./libc.ts";
 * const target = libcTarget("linux", "x86_64");
 * if (typeof target !== "string") await openBunLibc(target);
 * ```
 */
export async function openBunLibc(target: LibcTarget): Promise<LibcCalls> {
  if ((globalThis as { Bun?: unknown }).Bun === undefined) throw new Error("not running on Bun");
  const specifier = "bun:ffi";
  const ffi = (await import(specifier)) as BunFfi;
  const symbols: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(LIBC_SYMBOLS)) {
    const name = target.names[key as keyof typeof LIBC_SYMBOLS] ?? key;
    symbols[name] = {
      args: spec.parameters.map((t) => BUN_TYPES[t]),
      returns: BUN_TYPES[spec.result],
    };
  }
  const lib = openFirst(target, (name) => ffi.dlopen(name, symbols));
  const pick = (key: keyof typeof LIBC_SYMBOLS) => {
    const fn = lib.symbols[target.names[key] ?? key];
    if (typeof fn !== "function") throw new Error(`libc symbol ${key} not bound`);
    return fn;
  };
  const open = pick("open") as (p: Uint8Array, flags: number) => number;
  const fstat = pick("fstat") as (fd: number, buf: Uint8Array) => number;
  const readv = pick("readv") as (fd: number, iov: Uint8Array, n: number) => number;
  const close = pick("close") as (fd: number) => number;
  const mmap = pick("mmap") as (
    a: number | null,
    len: number,
    prot: number,
    flags: number,
    fd: number,
    off: number,
  ) => number | null;
  const munmap = pick("munmap") as (a: number, len: number) => number;
  const madvise = pick("madvise") as (a: number, len: number, advice: number) => number;
  const getrlimit = pick("getrlimit") as (resource: number, buf: Uint8Array) => number;
  const errnoLocation = pick("errnoLocation") as () => number;
  const errnoAddress = errnoLocation();
  return {
    open,
    fstat,
    readv,
    close,
    getrlimit,
    errno: () => ffi.read.i32(errnoAddress, 0),
    addressOf: (bytes) => ffi.ptr(bytes),
    mmap(length, prot, flags, fd) {
      const p = mmap(null, length, prot, flags, fd, 0);
      return p === null || p === 0 || p === -1 || p >= 2 ** 53 ? -1 : p;
    },
    munmap: (address, length) => munmap(address, length),
    madvise: (address, length, advice) => madvise(address, length, advice),
    arrayBufferAt: (address, length) => ffi.toArrayBuffer(address, 0, length),
  };
}
