// A minimal TIFF writer for limit tests: one uint8/uint16 page whose strips
// point at given data blobs (so strips can share or reuse data).

/**
 * A little-endian classic TIFF of one uint8/uint16 page with the given strips:
 * `blobs` are laid out after the header; each strip points at a blob by index.
 */
export function stripTiff(
  width: number,
  height: number,
  bits: 8 | 16,
  compression: number,
  rowsPerStrip: number,
  blobs: Uint8Array[],
  strips: number[],
): Uint8Array {
  const blobAt: number[] = [];
  let at = 8;
  for (const b of blobs) {
    blobAt.push(at);
    at += b.length + (b.length & 1);
  }
  const arraysAt = at;
  at += strips.length * 8;
  const ifdAt = at;
  const tags: [number, number, number, number][] = [
    [256, 4, 1, width],
    [257, 4, 1, height],
    [258, 3, 1, bits],
    [259, 3, 1, compression],
    [273, 4, strips.length, strips.length === 1 ? blobAt[strips[0]!]! : arraysAt],
    [277, 3, 1, 1],
    [278, 4, 1, rowsPerStrip],
    [
      279,
      4,
      strips.length,
      strips.length === 1 ? blobs[strips[0]!]!.length : arraysAt + strips.length * 4,
    ],
  ];
  const out = new Uint8Array(ifdAt + 2 + tags.length * 12 + 4);
  const dv = new DataView(out.buffer);
  out.set([0x49, 0x49]);
  dv.setUint16(2, 42, true);
  dv.setUint32(4, ifdAt, true);
  blobs.forEach((b, k) => out.set(b, blobAt[k]!));
  strips.forEach((blob, k) => {
    dv.setUint32(arraysAt + 4 * k, blobAt[blob]!, true);
    dv.setUint32(arraysAt + 4 * (strips.length + k), blobs[blob]!.length, true);
  });
  dv.setUint16(ifdAt, tags.length, true);
  tags.forEach(([tag, type, count, value], k) => {
    const e = ifdAt + 2 + 12 * k;
    dv.setUint16(e, tag, true);
    dv.setUint16(e + 2, type, true);
    dv.setUint32(e + 4, count, true);
    if (type === 3) dv.setUint16(e + 8, value, true);
    else dv.setUint32(e + 8, value, true);
  });
  return out;
}
