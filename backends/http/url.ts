/**
 * URL building and confinement for the HTTP backend. Every URL it requests
 * is built here from decoded names, each percent-encoded as one segment (so
 * `:` can never start a scheme, `%2f` never splits a segment, `?`/`#` never
 * start a query), then checked again by {@linkcode confine} before the
 * request and on every redirect target: http(s), the same origin, under the
 * scope's path, and only plain names below it.
 *
 * Paths are decoded names: `/a b.txt` is sent as `a%20b.txt`, and a path
 * `/%2e%2e` names a file literally called `%2e%2e`. `..` above the base,
 * backslashes, control characters and unpaired surrogates are refused with
 * `PermissionDeniedError`, before any request.
 *
 * @module
 */

import { PermissionDeniedError, StorageError } from "../../errors.ts";
import { assertPath } from "../../_internal/paths.ts";

/** An http(s) URL, possibly with its `//` collapsed by path joining (`https:/host/x`). */
const HTTP_URL = /^(https?):\/+/i;
/** C0 controls and DEL: never valid in a name sent to a server. */
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
// deno-lint-ignore no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f]/g;

/**
 * Parses and normalises a `baseUrl` option: http(s) only, a trailing `/`,
 * no query or fragment.
 */
export function parseBaseUrl(baseUrl: string): URL {
  const b = baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`;
  let u: URL;
  try {
    u = new URL(b);
  } catch (err) {
    throw new TypeError(`HttpBackend: invalid baseUrl '${baseUrl}'`, { cause: err });
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new TypeError(`HttpBackend: baseUrl must be http(s), got '${baseUrl}'`);
  }
  u.search = "";
  u.hash = "";
  return u;
}

/**
 * The URL `path` names: an absolute http(s) URL (which must lie under
 * `base` when there is one) or a path relative to `base`. Throws a typed
 * error for anything that would leave `base` or cannot be sent as is.
 */
export function resolveUrl(path: string, base: URL | undefined, operation: string): string {
  assertPath(path, operation);
  const abs = absoluteUrl(path);
  let origin: string;
  let prefix: string;
  let names: string[];
  let search = "";
  if (abs !== undefined) {
    let u: URL;
    try {
      u = new URL(abs);
    } catch (err) {
      throw new StorageError(operation, printable(path), "invalid URL", {
        code: "EINVAL",
        cause: err,
      });
    }
    if (base && (u.origin !== base.origin || !u.pathname.startsWith(base.pathname))) {
      throw new PermissionDeniedError(operation, path, `URL is outside baseUrl ${base.href}`);
    }
    origin = u.origin;
    prefix = base ? base.pathname : "/";
    names = urlNames(u.pathname.slice(prefix.length), operation, path);
    search = u.search;
  } else {
    if (!base) {
      throw new StorageError(operation, path, "not an absolute URL and no baseUrl is set", {
        code: "EINVAL",
      });
    }
    origin = base.origin;
    prefix = base.pathname;
    names = relativeNames(path, operation);
  }
  const href = `${origin}${prefix}${names.map(encodeSegment).join("/")}${search}`;
  confine(href, base ? base.href : `${origin}/`, operation, path);
  return href;
}

/**
 * Throws `PermissionDeniedError` unless `url` is an http(s) URL under
 * `scope` (same origin, path prefix) whose segments below it are plain
 * names. Runs before every request, redirect targets included.
 */
export function confine(url: string, scope: string, op: string, path: string): void {
  const deny = (why: string) => new PermissionDeniedError(op, printable(path), `${why} (${url})`);
  let u: URL;
  let s: URL;
  try {
    u = new URL(url);
    s = new URL(scope);
  } catch {
    throw deny("not a valid URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw deny("not an http(s) URL");
  if (u.origin !== s.origin) throw deny(`another origin than ${s.origin}`);
  if (!u.pathname.startsWith(s.pathname)) throw deny(`outside ${s.href}`);
  try {
    urlNames(u.pathname.slice(s.pathname.length), op, path);
  } catch (err) {
    throw deny(err instanceof StorageError ? err.reason : "bad path segment");
  }
}

/** One name as one URL path segment. */
export function encodeSegment(s: string): string {
  return encodeURIComponent(s);
}

/** The http(s) URL `path` is, with a collapsed `//` restored; undefined for other paths. */
function absoluteUrl(path: string): string | undefined {
  const m = HTTP_URL.exec(path);
  return m ? `${m[1]}://${path.slice(m[0].length)}` : undefined;
}

/** Why `name` (one decoded segment) cannot be sent, or undefined when it can. */
function badName(name: string): string | undefined {
  if (name === "." || name === "..") return `'${name}' segment`;
  if (name.includes("/")) return "encoded '/' in a segment";
  if (name.includes("\\")) return "backslash in a segment";
  if (CONTROL.test(name)) return "control character in a segment";
  try {
    encodeURIComponent(name);
  } catch {
    return "unpaired surrogate in a segment";
  }
  return undefined;
}

/** The names of a relative path: `.`/empty dropped, `..` resolved; above the root is refused. */
function relativeNames(path: string, op: string): string[] {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.pop() === undefined) {
        throw new PermissionDeniedError(op, path, "path escapes baseUrl");
      }
      continue;
    }
    const bad = badName(part);
    if (bad !== undefined) throw new PermissionDeniedError(op, printable(path), bad);
    out.push(part);
  }
  return out;
}

/**
 * The decoded names of a URL path (below its scope); a trailing `/` is kept
 * as a last empty name. Dot, slash, backslash or control names are refused.
 */
function urlNames(rest: string, op: string, path: string): string[] {
  const parts = rest.split("/");
  const out: string[] = [];
  for (const part of parts) {
    if (part === "") continue;
    let name: string;
    try {
      name = decodeURIComponent(part);
    } catch {
      throw new PermissionDeniedError(op, printable(path), "malformed percent-encoding");
    }
    const bad = badName(name);
    if (bad !== undefined) throw new PermissionDeniedError(op, printable(path), bad);
    out.push(name);
  }
  if (out.length > 0 && rest.endsWith("/")) out.push("");
  return out;
}

/** `path` with control characters escaped, for messages. */
function printable(path: string): string {
  return path.replace(
    CONTROLS,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}
