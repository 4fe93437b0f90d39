/**
 * CSV codec (RFC 4180): an array of row objects ↔ text.
 *
 * - Encoding: the header is the union of the rows' keys in first-seen order;
 *   fields holding `"`, `,`, CR or LF are quoted (quotes doubled); records end
 *   with CRLF; `null`/`undefined` become empty fields, objects are written as
 *   JSON, everything else with `String()`; in a one-column table an empty
 *   field is written `""` so that it does not read back as a blank line.
 * - Decoding: the first record is the header; every value loads as a string;
 *   LF, CRLF and CR line ends are accepted, a UTF-8 BOM is skipped, a final
 *   line end is optional, blank lines are skipped. A record with more fields
 *   than the header, a duplicate header name or an unterminated quote is
 *   refused (`StorageError`); missing trailing fields load as `""`.
 *
 * Hand-written: the format is tiny and a dependency would cost more than it
 * saves.
 *
 * @example
 * ```ts
 * import { decodeCsv, encodeCsv } from "@hcs/store/formats";
 * const text = encodeCsv([{ well: "A01", note: "a, \"b\"" }]);
 * console.assert(text === 'well,note\r\nA01,"a, ""b"""\r\n');
 * console.assert(decodeCsv(text)[0]?.note === 'a, "b"');
 * ```
 *
 * @module
 */

import { StorageError, UnsupportedFormatError } from "../errors.ts";
import type { FormatCodec } from "./mod.ts";

/** A CSV row: header name → field. */
export type CsvRow = Record<string, string>;

function field(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * Encodes an array of row objects as RFC 4180 text (CRLF line ends, a header
 * record first). An empty array gives an empty string. Throws
 * `UnsupportedFormatError` for anything that is not an array of plain objects.
 *
 * @example
 * ```ts
 * import { encodeCsv } from "@hcs/store/formats";
 * console.assert(encodeCsv([{ a: 1 }, { b: "x\ny" }]) === 'a,b\r\n1,\r\n,"x\ny"\r\n');
 * ```
 */
export function encodeCsv(rows: unknown, path = "<csv>"): string {
  if (!Array.isArray(rows)) {
    throw new UnsupportedFormatError("encode", path, "csv holds an array of row objects");
  }
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    if (typeof row !== "object" || row === null || Array.isArray(row) || ArrayBuffer.isView(row)) {
      throw new UnsupportedFormatError("encode", path, "every csv row must be a plain object");
    }
    for (const k of Object.keys(row)) {
      if (!seen.has(k)) {
        seen.add(k);
        keys.push(k);
      }
    }
  }
  if (rows.length === 0) return "";
  // With one column an empty field would make a blank line, which the
  // decoder skips: quote it instead.
  const cell = keys.length === 1 ? (v: unknown) => field(v) || '""' : field;
  const lines = [keys.map(cell).join(",")];
  for (const row of rows as Record<string, unknown>[]) {
    lines.push(keys.map((k) => cell(row[k])).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

/** Splits RFC 4180 text into records of fields. */
function parseRecords(text: string, path: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let i = 0;
  const n = text.length;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  let atRecordStart = true;
  while (i < n) {
    if (atRecordStart && (text[i] === "\n" || text[i] === "\r")) {
      i += text[i] === "\r" && text[i + 1] === "\n" ? 2 : 1; // blank line
      continue;
    }
    atRecordStart = false;
    let value: string;
    if (text[i] === '"') {
      let j = i + 1;
      let out = "";
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) throw new StorageError("decode", path, "unterminated quoted csv field");
        out += text.slice(j, q);
        if (text[q + 1] === '"') {
          out += '"';
          j = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      value = out;
      const c = text[i];
      if (c !== undefined && c !== "," && c !== "\r" && c !== "\n") {
        throw new StorageError("decode", path, `unexpected character after a quoted csv field`);
      }
    } else {
      let j = i;
      while (j < n && text[j] !== "," && text[j] !== "\r" && text[j] !== "\n") j++;
      value = text.slice(i, j);
      i = j;
    }
    record.push(value);
    const c = text[i];
    if (c === ",") {
      i++;
      if (i >= n) record.push("");
    } else {
      if (c === "\r") i += text[i + 1] === "\n" ? 2 : 1;
      else if (c === "\n") i++;
      records.push(record);
      record = [];
      atRecordStart = true;
    }
  }
  if (record.length) records.push(record);
  return records;
}

/**
 * Decodes RFC 4180 text (or its UTF-8 bytes) into row objects whose values are strings.
 *
 * @example
 * ```ts
 * import { decodeCsv } from "@hcs/store/formats";
 * const rows = decodeCsv("x,y\n1,2\r\n3,4");
 * console.assert(rows.length === 2 && rows[1]?.y === "4");
 * ```
 */
export function decodeCsv(input: string | Uint8Array, path = "<csv>"): CsvRow[] {
  let text: string;
  if (typeof input === "string") text = input;
  else {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(input);
    } catch {
      throw new StorageError("decode", path, "csv is not valid UTF-8");
    }
  }
  const records = parseRecords(text, path);
  const header = records[0];
  if (!header) return [];
  if (new Set(header).size !== header.length) {
    throw new StorageError("decode", path, "duplicate csv header names");
  }
  const rows: CsvRow[] = [];
  for (let r = 1; r < records.length; r++) {
    const rec = records[r]!;
    if (rec.length > header.length) {
      throw new StorageError(
        "decode",
        path,
        `csv record ${r + 1} has ${rec.length} fields, the header has ${header.length}`,
      );
    }
    // fromEntries defines own properties, so a "__proto__" column stays a column.
    rows.push(Object.fromEntries(header.map((name, k) => [name, rec[k] ?? ""])));
  }
  return rows;
}

/**
 * The CSV codec as registered in `formats/mod.ts`.
 *
 * @example
 * ```ts
 * import { csvFormat } from "@hcs/store/formats";
 * console.assert(csvFormat.extensions.includes(".csv") && !csvFormat.arrayFormat);
 * ```
 */
export const csvFormat: FormatCodec = {
  name: "csv",
  extensions: [".csv"],
  encode: (value, path) => new TextEncoder().encode(encodeCsv(value, path)),
  decode: (bytes, path) => decodeCsv(bytes, path),
};
