/**
 * Confinement of paths that come from stored Zarr/NGFF metadata (well
 * `images[].path`, plate `wells[].path`, `datasets[].path`, filename-map
 * names): they are untrusted, so each must be a plain relative path that
 * cannot leave the store it was found in.
 *
 * Decision: anything odd is refused, not repaired — `..`, `.`, empty
 * segments, a leading `/`, backslashes, NUL/control characters, `x:`
 * scheme-like prefixes and any `%xx` escape (an HTTP store would decode
 * `%2e%2e` into `..`).
 *
 * @module
 */

import { CorruptDataError } from "../errors.ts";

/** Why `p` is not a safe relative path (one or more `/`-separated segments), or undefined. */
export function unsafeReason(p: unknown, maxSegments = 16): string | undefined {
  if (typeof p !== "string") return "is not a string";
  if (p === "") return "is empty";
  if (p.length > 1024) return "is too long";
  if (p.startsWith("/")) return "is absolute";
  if (p.includes("\\")) return "contains a backslash";
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) return "contains a control character";
  if (/%[0-9a-fA-F]{2}/.test(p)) return "contains a %-escape";
  if (p.includes(":")) return "contains ':' (a scheme or drive)";
  const parts = p.split("/");
  if (parts.length > maxSegments) return "has too many segments";
  for (const s of parts) {
    if (s === "") return "has an empty segment";
    if (s === "." || s === "..") return `has a '${s}' segment`;
  }
  return undefined;
}

/**
 * Returns `p` when it is a safe relative path inside the store; otherwise a
 * {@linkcode CorruptDataError} naming the metadata file and the entry.
 *
 * @param p the value found in metadata
 * @param what which entry it is, for the message (`"well images[0].path"`)
 * @param op the operation
 * @param metaPath the metadata file it came from
 * @param segments how many segments are allowed (1 for a single name)
 */
export function safeRelPath(
  p: unknown,
  what: string,
  op: string,
  metaPath: string,
  segments = 16,
): string {
  const why = unsafeReason(p, segments);
  if (why !== undefined) {
    throw new CorruptDataError(
      op,
      metaPath,
      `${what} ${JSON.stringify(p)} ${why}; metadata paths must stay inside the store`,
    );
  }
  return p as string;
}

/** A single safe name (one segment): filename-map keys, row and column names. */
export function safeName(p: unknown, what: string, op: string, metaPath: string): string {
  return safeRelPath(p, what, op, metaPath, 1);
}
