/**
 * Bounds-checked reading of TIFF structures: the header (byte order, classic
 * or BigTIFF), IFD entries, integer and text tag values. Every offset and
 * count is checked against the file before it is used.
 *
 * @module
 */

import { CorruptDataError } from "../errors.ts";

function corrupt(path: string, reason: string): CorruptDataError {
  return new CorruptDataError("decode", path, reason);
}

/** Bytes per value of each TIFF field type. */
export const TYPE_SIZE: Record<number, number> = {
  1: 1,
  2: 1,
  3: 2,
  4: 4,
  5: 8,
  6: 1,
  7: 1,
  8: 2,
  9: 4,
  10: 8,
  11: 4,
  12: 8,
  13: 4,
  16: 8,
  17: 8,
  18: 8,
};

export interface Entry {
  type: number;
  count: number;
  /** File offset of the values (inline values point into the entry). */
  at: number;
}

/** Reads integers and strings from the file with bounds checks. */
export class Reader {
  readonly bytes: Uint8Array;
  readonly path: string;
  readonly dv: DataView;
  readonly le: boolean;
  readonly big: boolean;
  /** The `maxDecodedBytes` budget. */
  readonly budget: number;
  constructor(bytes: Uint8Array, path: string, budget: number) {
    this.bytes = bytes;
    this.path = path;
    this.budget = budget;
    if (bytes.length < 8) throw corrupt(path, "not a TIFF file (too short)");
    const b0 = bytes[0];
    const b1 = bytes[1];
    if (b0 === 0x49 && b1 === 0x49) this.le = true;
    else if (b0 === 0x4d && b1 === 0x4d) this.le = false;
    else throw corrupt(path, "not a TIFF file (bad byte-order mark)");
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const magic = this.dv.getUint16(2, this.le);
    if (magic === 42) this.big = false;
    else if (magic === 43) {
      this.big = true;
      if (bytes.length < 16 || this.dv.getUint16(4, this.le) !== 8) {
        throw corrupt(path, "invalid BigTIFF header");
      }
    } else throw corrupt(path, `not a TIFF file (magic ${magic})`);
  }
  check(at: number, len: number, what: string): void {
    if (!Number.isSafeInteger(at) || at < 0 || len < 0 || at + len > this.bytes.length) {
      throw corrupt(this.path, `${what} at offset ${at} (+${len}) lies outside the file`);
    }
  }
  u16(at: number): number {
    this.check(at, 2, "value");
    return this.dv.getUint16(at, this.le);
  }
  u32(at: number): number {
    this.check(at, 4, "value");
    return this.dv.getUint32(at, this.le);
  }
  u64(at: number): number {
    this.check(at, 8, "value");
    const lo = this.dv.getUint32(at + (this.le ? 0 : 4), this.le);
    const hi = this.dv.getUint32(at + (this.le ? 4 : 0), this.le);
    const v = hi * 2 ** 32 + lo;
    if (!Number.isSafeInteger(v)) throw corrupt(this.path, `64-bit value too large at ${at}`);
    return v;
  }
  offset(at: number): number {
    return this.big ? this.u64(at) : this.u32(at);
  }
  /** Parses the IFD at `at`: its entries and the offset of the next IFD. */
  ifd(at: number, maxEntries: number): { entries: Map<number, Entry>; next: number; n: number } {
    const countSize = this.big ? 8 : 2;
    const entrySize = this.big ? 20 : 12;
    const inline = this.big ? 8 : 4;
    const n = this.big ? this.u64(at) : this.u16(at);
    this.check(at, countSize + n * entrySize + inline, `IFD with ${n} entries`);
    if (n > maxEntries) throw corrupt(this.path, `IFDs overlap (offset ${at})`);
    const entries = new Map<number, Entry>();
    for (let k = 0; k < n; k++) {
      const e = at + countSize + k * entrySize;
      const tag = this.dv.getUint16(e, this.le);
      const type = this.dv.getUint16(e + 2, this.le);
      const count = this.big ? this.u64(e + 4) : this.dv.getUint32(e + 4, this.le);
      const size = TYPE_SIZE[type];
      if (!size) continue; // unknown type: ignore the tag, as readers must
      const valueField = e + (this.big ? 12 : 8);
      const at2 = count * size <= inline ? valueField : this.offset(valueField);
      entries.set(tag, { type, count, at: at2 });
    }
    return { entries, next: this.offset(at + countSize + n * entrySize), n };
  }
  /** All values of an integer tag. */
  ints(entry: Entry, tag: number, max = Infinity, first = entry.count): number[] {
    const size = TYPE_SIZE[entry.type]!;
    if (![1, 3, 4, 8, 9, 13, 16, 17, 18].includes(entry.type)) {
      throw corrupt(this.path, `tag ${tag} has non-integer type ${entry.type}`);
    }
    if (entry.count > max) throw corrupt(this.path, `tag ${tag} has ${entry.count} values`);
    this.check(entry.at, entry.count * size, `tag ${tag} values`);
    const n = Math.min(first, entry.count);
    const out = new Array<number>(n);
    for (let k = 0; k < n; k++) {
      const p = entry.at + k * size;
      switch (entry.type) {
        case 1:
          out[k] = this.bytes[p]!;
          break;
        case 3:
          out[k] = this.dv.getUint16(p, this.le);
          break;
        case 8:
          out[k] = this.dv.getInt16(p, this.le);
          break;
        case 9:
          out[k] = this.dv.getInt32(p, this.le);
          break;
        case 4:
        case 13:
          out[k] = this.dv.getUint32(p, this.le);
          break;
        default:
          out[k] = this.u64(p);
      }
    }
    return out;
  }
  text(entry: Entry): string {
    if (entry.type !== 2 && entry.type !== 7) return "";
    this.check(entry.at, entry.count, "text");
    let end = entry.at + entry.count;
    while (end > entry.at && this.bytes[end - 1] === 0) end--;
    return new TextDecoder("utf-8", { fatal: false }).decode(this.bytes.subarray(entry.at, end));
  }
}
