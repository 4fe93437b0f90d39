// A hand-built zlib stream of `n` zero bytes at DEFLATE's largest ratio
// (~1032:1): one dynamic-Huffman block where "length 258, distance 1" costs
// two bits, so a 1 GiB stream is ~1 MiB and takes milliseconds to build
// (fflate takes ~20 s to compress 1 GiB of zeros here).

class Bits {
  bytes: Uint8Array;
  pos = 0;
  constructor(capacityBits: number) {
    this.bytes = new Uint8Array(Math.ceil(capacityBits / 8) + 8);
  }
  /** A value LSB first (header fields, extra bits). */
  value(v: number, n: number): void {
    for (let k = 0; k < n; k++) this.bit((v >> k) & 1);
  }
  /** A Huffman code, first bit first. */
  code(bits: string): void {
    for (const b of bits) this.bit(b === "1" ? 1 : 0);
  }
  bit(b: number): void {
    if (b) this.bytes[this.pos >> 3]! |= 1 << (this.pos & 7);
    this.pos++;
  }
}

/** A zlib stream that inflates to exactly `1 + 258 * pairs` zero bytes. */
export function zeroBomb(pairs: number): Uint8Array {
  const w = new Bits(400 + 2 * pairs);
  w.value(0x78, 8);
  w.value(0x01, 8); // CMF/FLG: deflate, 32 KiB window; 0x7801 % 31 === 0
  w.value(1, 1); // BFINAL
  w.value(2, 2); // dynamic Huffman
  w.value(286 - 257, 5); // HLIT
  w.value(2 - 1, 5); // HDIST: two distance codes, one bit each
  w.value(18 - 4, 4); // HCLEN: code-length codes up to symbol 1 in the RFC order
  // Code-length code lengths in the order 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1:
  // symbol 18 → 1 bit ("0"), symbols 1 and 2 → 2 bits ("10", "11").
  const order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1];
  for (const s of order) w.value(s === 18 ? 1 : s === 1 || s === 2 ? 2 : 0, 3);
  const cl: Record<number, string> = { 18: "0", 1: "10", 2: "11" };
  const zeros = (n: number) => {
    while (n > 0) {
      const run = Math.min(138, n);
      w.code(cl[18]!);
      w.value(run - 11, 7);
      n -= run;
    }
  };
  // Literal/length lengths: 0 → 2, 256 → 2, 285 → 1; distance lengths 1, 1.
  w.code(cl[2]!);
  zeros(255);
  w.code(cl[2]!);
  zeros(28);
  w.code(cl[1]!);
  w.code(cl[1]!);
  w.code(cl[1]!);
  // Codes: 285 → "0", literal 0 → "10", end of block → "11"; distance 1 → "0".
  w.code("10");
  w.pos += 2 * pairs; // (285, distance 1) pairs: all zero bits
  w.code("11");
  const n = 1 + 258 * pairs;
  const out = w.bytes.slice(0, Math.ceil(w.pos / 8) + 4);
  const adler = (((n % 65521) << 16) | 1) >>> 0; // all bytes zero: a = 1, b = n mod 65521
  new DataView(out.buffer).setUint32(out.length - 4, adler);
  return out;
}
