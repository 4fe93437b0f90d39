/**
 * The `Deno.dlopen` binding of the libc calls (see `libc.ts`). Opening the
 * library is done by {@linkcode openDenoLibc}, called at first use; importing
 * this module has no effect.
 *
 * @module
 */

import { LIBC_SYMBOLS, type LibcTarget, type NativeType, openFirst } from "./libc.ts";
import type { LibcCalls } from "./native.ts";

type DenoFfiType = "i32" | "buffer" | "pointer" | "usize" | "i64" | "void";

const DENO_TYPES: Record<NativeType, DenoFfiType> = {
  i32: "i32",
  buffer: "buffer",
  pointer: "pointer",
  usize: "usize",
  i64: "i64",
  void: "void",
};

interface DenoPointerApi {
  of(value: ArrayBufferView): unknown;
  value(pointer: unknown): bigint | number;
  create(value: bigint | number): unknown;
}

interface DenoFfiNamespace {
  dlopen(path: string, symbols: Record<string, unknown>): {
    symbols: Record<string, (...args: unknown[]) => unknown>;
    close(): void;
  };
  UnsafePointer: DenoPointerApi;
  UnsafePointerView: {
    new (pointer: unknown): { getInt32(offset?: number): number };
    getArrayBuffer(pointer: unknown, byteLength: number, offset?: number): ArrayBuffer;
  };
}

/**
 * Opens libc with `Deno.dlopen` and returns the bound calls. Throws (plain
 * `Error`) when Deno, FFI permission or the library is missing; the caller
 * records the message as the fallback reason.
 *
 * @example
 * ```ts ignore
 * import { libcTarget } from "./libc.ts";
 * const target = libcTarget(Deno.build.os, Deno.build.arch);
 * if (typeof target !== "string") openDenoLibc(target);
 * ```
 */
export function openDenoLibc(target: LibcTarget): LibcCalls {
  const D = (globalThis as { Deno?: DenoFfiNamespace }).Deno;
  if (typeof D?.dlopen !== "function") throw new Error("Deno.dlopen is not available");
  const symbols: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(LIBC_SYMBOLS)) {
    symbols[key] = {
      name: target.names[key as keyof typeof LIBC_SYMBOLS] ?? key,
      parameters: spec.parameters.map((t) => DENO_TYPES[t]),
      result: DENO_TYPES[spec.result],
    };
  }
  // The same readv, run on Deno's blocking thread pool (returns a Promise).
  symbols.readvAsync = {
    name: "readv",
    parameters: LIBC_SYMBOLS.readv.parameters.map((t) => DENO_TYPES[t]),
    result: DENO_TYPES[LIBC_SYMBOLS.readv.result],
    nonblocking: true,
  };
  symbols.madviseAsync = {
    name: "madvise",
    parameters: LIBC_SYMBOLS.madvise.parameters.map((t) => DENO_TYPES[t]),
    result: DENO_TYPES[LIBC_SYMBOLS.madvise.result],
    nonblocking: true,
  };
  const lib = openFirst(target, (name) => D.dlopen(name, symbols));
  const s = lib.symbols as {
    open(p: Uint8Array, flags: number): number;
    fstat(fd: number, buf: Uint8Array): number;
    readv(fd: number, iov: Uint8Array, n: number): number;
    readvAsync(fd: number, iov: Uint8Array, n: number): Promise<number>;
    close(fd: number): number;
    mmap(a: unknown, len: bigint, prot: number, flags: number, fd: number, off: bigint): unknown;
    munmap(a: unknown, len: bigint): number;
    madvise(a: unknown, len: bigint, advice: number): number;
    madviseAsync(a: unknown, len: bigint, advice: number): Promise<number>;
    getrlimit(resource: number, buf: Uint8Array): number;
    errnoLocation(): unknown;
  };
  const P = D.UnsafePointer;
  const errnoPointer = s.errnoLocation(); // per thread; FFI calls run on the JS thread
  const errnoView = new D.UnsafePointerView(errnoPointer);
  return {
    open: (p, flags) => s.open(p, flags),
    fstat: (fd, buf) => s.fstat(fd, buf),
    readv: (fd, iov, n) => s.readv(fd, iov, n),
    readvAsync: (fd, iov, n) => s.readvAsync(fd, iov, n),
    close: (fd) => s.close(fd),
    getrlimit: (resource, buf) => s.getrlimit(resource, buf),
    errno: () => errnoView.getInt32(0),
    addressOf: (bytes) => Number(P.value(P.of(bytes))),
    mmap(length, prot, flags, fd) {
      const p = s.mmap(null, BigInt(length), prot, flags, fd, 0n);
      const address = p === null ? 0 : Number(P.value(p));
      // MAP_FAILED is (void *)-1: all ones, which is not a safe integer.
      return address === 0 || address >= 2 ** 53 ? -1 : address;
    },
    munmap: (address, length) => s.munmap(P.create(BigInt(address)), BigInt(length)),
    madvise: (address, length, advice) =>
      s.madvise(P.create(BigInt(address)), BigInt(length), advice),
    madviseAsync: (address, length, advice) =>
      s.madviseAsync(P.create(BigInt(address)), BigInt(length), advice),
    arrayBufferAt: (address, length) =>
      D.UnsafePointerView.getArrayBuffer(P.create(BigInt(address)), length),
  };
}
