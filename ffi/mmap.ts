/**
 * Zero-copy read-only mappings of whole files (`mmap`) behind a
 * {@linkcode MappedFiles} handle.
 *
 * `release()` detaches every view it handed out before unmapping, so a stale
 * view reads as empty instead of touching freed memory; a buffer that cannot
 * be detached keeps its mapping (a leak, never a dangling view).
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import { assertPath } from "../_internal/paths.ts";
import type { MappedFiles } from "./types.ts";
import type { NativeOps } from "./ops.ts";

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
