/**
 * {@linkcode SizeDispatchReader}: per batch, one of two bulk readers by the
 * batch's mean file size — the FFI arena reader for small files (its cost
 * per file is the lowest), the runtime's thread-pooled reader for larger
 * ones (its copies run on other cores). The crossover is measured
 * (bench/disk_bytes.ts; the table is in registry/disk_choice.ts).
 *
 * The mean comes from a sample of up to 8 files spread over the batch
 * (`open O_NONBLOCK` + `fstat` + `close` each, a few µs): batches are
 * usually homogeneous, and either reader returns the same bytes and errors,
 * so a mixed batch only costs speed. A sample that fails (missing file,
 * special file) is skipped; the chosen reader reports it.
 *
 * @module
 */

import { assertPath } from "../_internal/paths.ts";
import type { ReadGate } from "./runtime_reader.ts";
import type { BulkReader, MappedFiles } from "./types.ts";

/** Files sampled per batch for the mean size. */
const SAMPLE = 8;

/** Options of {@linkcode SizeDispatchReader}. */
export interface SizeDispatchOptions {
  /** Reads batches whose mean sampled file size is below `thresholdBytes`. */
  small: BulkReader;
  /** Reads the others. */
  large: BulkReader;
  /** The crossover (bytes per file). */
  thresholdBytes: number;
  /** Descriptor operations for the size sample (the FFI ops). */
  gate: ReadGate;
  /** `leaseFiles` / `mapFiles` go here (default: whichever of the two has them, `small` first). */
  delegate?: BulkReader;
}

/**
 * Chooses the reader per batch by mean file size; see the module
 * documentation.
 *
 * @example
 * ```ts ignore
 * const reader = new SizeDispatchReader({ small: ffi, large: runtime, thresholdBytes: 32 << 10, gate });
 * const bytes = await reader.readFiles(paths, "loadBatch");
 * console.log(reader.lastChoice); // the implementation that read it
 * ```
 */
export class SizeDispatchReader implements BulkReader {
  /** `"<small> + <large>"`, e.g. `"ffi(bun, readv) + runtime(bun, Bun.file)"`. */
  readonly implementation: string;
  /** The threshold in bytes per file. */
  readonly thresholdBytes: number;
  /** Which reader read the last batch (its implementation), if any. */
  lastChoice: string | undefined;
  #small: BulkReader;
  #large: BulkReader;
  #gate: ReadGate;

  /**
   * A dispatching reader over two readers.
   *
   * @param options the two readers, the threshold and the sampling gate
   */
  constructor(options: SizeDispatchOptions) {
    this.#small = options.small;
    this.#large = options.large;
    this.#gate = options.gate;
    this.thresholdBytes = options.thresholdBytes;
    this.implementation = `${options.small.implementation} + ${options.large.implementation}`;
    const d = options.delegate ??
      (options.small.leaseFiles || options.small.mapFiles ? options.small : options.large);
    if (d.leaseFiles) this.leaseFiles = (paths, op) => d.leaseFiles!(paths, op);
    if (d.mapFiles) this.mapFiles = (paths, op) => d.mapFiles!(paths, op);
  }

  /** Leased arenas, through the FFI reader. */
  leaseFiles?: (paths: readonly string[], operation: string) => Promise<MappedFiles>;
  /** Zero-copy mappings, through the FFI reader. */
  mapFiles?: (paths: readonly string[], operation: string) => Promise<MappedFiles>;

  /** True when both readers refuse special files themselves. */
  get refusesSpecialFiles(): boolean {
    return this.#small.refusesSpecialFiles === true && this.#large.refusesSpecialFiles === true;
  }

  /** The reader a batch of `paths` would go to. */
  pick(paths: readonly string[], operation: string): BulkReader {
    for (const p of paths) assertPath(p, operation);
    const n = Math.min(SAMPLE, paths.length);
    let total = 0;
    let seen = 0;
    for (let k = 0; k < n; k++) {
      const path = paths[Math.floor((k * paths.length) / n)]!;
      let fd: number;
      try {
        fd = this.#gate.open(path, operation);
      } catch {
        continue;
      }
      try {
        const size = this.#gate.stat(fd, path, operation);
        if (size >= 0) {
          total += size;
          seen++;
        }
      } catch {
        // a special file: the chosen reader refuses it
      } finally {
        this.#gate.close(fd);
      }
    }
    // Nothing sized (all missing?): the small-file reader, whose errors come first in order.
    if (seen === 0) return this.#small;
    return total / seen < this.thresholdBytes ? this.#small : this.#large;
  }

  /** Reads every file whole with the reader the batch's mean size picks. */
  readFiles(paths: readonly string[], operation: string): Promise<Uint8Array[]> {
    let reader: BulkReader;
    try {
      if (paths.length === 0) return Promise.resolve([]);
      reader = this.pick(paths, operation);
    } catch (err) {
      return Promise.reject(err);
    }
    this.lastChoice = reader.implementation;
    return reader.readFiles(paths, operation);
  }
}
