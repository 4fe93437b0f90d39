// Test-side writer of one-page uint16 TIFFs with arbitrary extra tags
// (RATIONAL/SRATIONAL included), independent of formats/: resolution and
// ImageJ metadata tests build their files with it.

/** One tag: [tag, type, values]; RATIONAL values are flat [num, den, …]; ASCII a string. */
export type TagSpec = [number, number, number[] | string];

const SIZE: Record<number, number> = { 2: 1, 3: 2, 4: 4, 5: 8, 10: 8 };

/** A `height × width` uint16 page with `extra` tags, little- or big-endian. */
export function tiffWithTags(
  width: number,
  height: number,
  pixels: Uint16Array,
  extra: TagSpec[],
  littleEndian = true,
): Uint8Array {
  const le = littleEndian;
  const base: TagSpec[] = [
    [256, 4, [width]],
    [257, 4, [height]],
    [258, 3, [16]],
    [259, 3, [1]],
    [262, 3, [1]],
    [273, 4, [0]], // patched below
    [277, 3, [1]],
    [278, 4, [height]],
    [279, 4, [width * height * 2]],
    ...extra,
  ];
  const tags = base.sort((a, b) => a[0] - b[0]);
  const count = (t: TagSpec) =>
    typeof t[2] === "string"
      ? new TextEncoder().encode(t[2]).length + 1
      : t[1] === 5 || t[1] === 10
      ? t[2].length / 2
      : t[2].length;
  const ifdSize = 2 + tags.length * 12 + 4;
  let external = 8 + ifdSize;
  const places = tags.map((t) => {
    const bytes = count(t) * SIZE[t[1]]!;
    if (bytes <= 4) return -1;
    const at = external;
    external += bytes + (bytes % 2);
    return at;
  });
  const dataAt = external;
  const out = new Uint8Array(dataAt + pixels.length * 2);
  const dv = new DataView(out.buffer);
  out.set(le ? [0x49, 0x49] : [0x4d, 0x4d]);
  dv.setUint16(2, 42, le);
  dv.setUint32(4, 8, le);
  dv.setUint16(8, tags.length, le);
  tags.forEach((t, k) => {
    const e = 10 + k * 12;
    const values = t[0] === 273 ? [dataAt] : t[2];
    dv.setUint16(e, t[0], le);
    dv.setUint16(e + 2, t[1], le);
    dv.setUint32(e + 4, count(t), le);
    let at = places[k]! < 0 ? e + 8 : places[k]!;
    if (places[k]! >= 0) dv.setUint32(e + 8, at, le);
    if (typeof values === "string") {
      out.set(new TextEncoder().encode(values), at);
      return;
    }
    for (const v of values) {
      if (t[1] === 3) dv.setUint16(at, v, le);
      else if (t[1] === 10) dv.setInt32(at, v, le);
      else dv.setUint32(at, v, le);
      at += t[1] === 3 ? 2 : 4;
    }
  });
  pixels.forEach((v, i) => dv.setUint16(dataAt + 2 * i, v, le));
  return out;
}
