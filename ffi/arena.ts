/**
 * Leased arenas: reads into buffers recycled from released leases, so a
 * lease/release loop writes into pages that are already faulted in.
 *
 * A lease's `release()` moves each buffer's memory to a new `ArrayBuffer`
 * (`transfer`), which detaches every view handed out, and pools the moved
 * buffer: stale views read as empty, never as the next lease's data.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import type { MappedFiles } from "./types.ts";

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
export class LeasedFiles implements MappedFiles {
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
export function recycle(buffers: ArrayBuffer[], pool: ArenaPool): void {
  for (const b of buffers) {
    const moved = moveBuffer(b);
    if (moved !== undefined) pool.give(moved);
  }
}
