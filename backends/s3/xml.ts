/**
 * The few S3 XML documents the backend reads and writes, parsed by pattern:
 * S3 responses are flat, namespaced-once documents, and neither Deno nor
 * workerd has a `DOMParser`. Listing keys are requested URL-encoded
 * (`encoding-type=url`), so control characters in keys survive.
 *
 * @module
 */

import { CorruptDataError } from "../../errors.ts";

/** Inner texts of every `<name>…</name>` (non-nested) in `xml`. */
export function blocks(xml: string, name: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`, "g");
  for (let m = re.exec(xml); m; m = re.exec(xml)) out.push(m[1]!);
  return out;
}

/** The unescaped text of the first `<name>` element, or undefined. */
export function field(xml: string, name: string): string | undefined {
  const b = blocks(xml, name)[0];
  return b === undefined ? undefined : unescapeXml(b);
}

/** Replaces the five XML entities and numeric references. */
export function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_, e: string) => {
    if (e === "amp") return "&";
    if (e === "lt") return "<";
    if (e === "gt") return ">";
    if (e === "quot") return '"';
    if (e === "apos") return "'";
    const n = e.startsWith("#x") ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return String.fromCodePoint(n);
  });
}

/** Escapes text for an XML element body. */
export function escapeXml(s: string): string {
  return s.replace(
    /[<>&"']/g,
    (c) =>
      c === "<"
        ? "&lt;"
        : c === ">"
        ? "&gt;"
        : c === "&"
        ? "&amp;"
        : c === '"'
        ? "&quot;"
        : "&apos;",
  );
}

/** One page of ListObjectsV2. */
export interface ListPage {
  keys: { key: string; size: number }[];
  prefixes: string[];
  next: string | undefined;
}

/** Parses a ListObjectsV2 response listed with `encoding-type=url`. */
export function parseListPage(xml: string, op: string, path: string): ListPage {
  if (!xml.includes("<ListBucketResult")) {
    throw new CorruptDataError(op, path, "not a ListObjectsV2 response");
  }
  const urlEncoded = field(xml, "EncodingType") === "url";
  const key = (s: string) => {
    const t = unescapeXml(s);
    if (!urlEncoded) return t;
    try {
      return decodeURIComponent(t.replace(/\+/g, "%20"));
    } catch {
      throw new CorruptDataError(op, path, `listing has a malformed key '${t}'`);
    }
  };
  const keys = blocks(xml, "Contents").map((c) => {
    const k = blocks(c, "Key")[0];
    const size = Number(field(c, "Size") ?? "0");
    if (k === undefined || !Number.isSafeInteger(size) || size < 0) {
      throw new CorruptDataError(op, path, "listing entry without a key or a valid size");
    }
    return { key: key(k), size };
  });
  const prefixes = blocks(xml, "CommonPrefixes").map((c) => key(blocks(c, "Prefix")[0] ?? ""));
  const truncated = field(xml, "IsTruncated") === "true";
  const next = truncated ? field(xml, "NextContinuationToken") : undefined;
  if (truncated && !next) {
    throw new CorruptDataError(op, path, "truncated listing without a continuation token");
  }
  return { keys, prefixes, next };
}

/** Bucket names of a ListBuckets response. */
export function parseBuckets(xml: string): string[] {
  return blocks(xml, "Bucket").map((b) => field(b, "Name") ?? "").filter((n) => n !== "");
}

/** The body of a DeleteObjects request (quiet: only failures are reported). */
export function deleteObjectsBody(keys: readonly string[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet>${
    keys.map((k) => `<Object><Key>${escapeXml(k)}</Key></Object>`).join("")
  }</Delete>`;
}

/** Failed keys of a DeleteObjects response, with their error codes. */
export function deleteErrors(xml: string): { key: string; code: string }[] {
  return blocks(xml, "Error").map((e) => ({
    key: field(e, "Key") ?? "",
    code: field(e, "Code") ?? "?",
  }));
}

/** The body of CompleteMultipartUpload. */
export function completeBody(parts: readonly { n: number; etag: string }[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload>${
    parts.map((p) =>
      `<Part><PartNumber>${p.n}</PartNumber><ETag>${escapeXml(p.etag)}</ETag></Part>`
    ).join("")
  }</CompleteMultipartUpload>`;
}
