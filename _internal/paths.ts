/**
 * POSIX path helpers without `node:path`, so the edge entry can use them.
 *
 * @module
 */

import { StorageError } from "../errors.ts";

/** Rejects paths that cannot be valid anywhere (empty, NUL byte, not a string). */
export function assertPath(path: unknown, operation: string): asserts path is string {
  if (typeof path !== "string") {
    throw new TypeError(`${operation}: path must be a string, got ${typeof path}`);
  }
  if (path.length === 0) throw new StorageError(operation, path, "empty path", { code: "EINVAL" });
  if (path.includes("\0")) {
    throw new StorageError(operation, path.replaceAll("\0", "\\0"), "path contains a NUL byte", {
      code: "EINVAL",
    });
  }
}

/** Normalises `.`/`..`/duplicate slashes; keeps a leading `/`; drops a trailing `/`. */
export function normalize(path: string): string {
  const absolute = path.startsWith("/");
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!absolute) out.push("..");
      continue;
    }
    out.push(part);
  }
  const joined = out.join("/");
  return absolute ? `/${joined}` : joined || ".";
}

/** Joins segments with `/` and normalises. */
export function join(...parts: string[]): string {
  return normalize(parts.filter((p) => p !== "").join("/"));
}

/** The parent directory of a normalised path (`/` for top-level entries). */
export function dirname(path: string): string {
  const p = normalize(path);
  const i = p.lastIndexOf("/");
  if (i < 0) return ".";
  if (i === 0) return "/";
  return p.slice(0, i);
}

/** The last segment of a path. */
export function basename(path: string): string {
  const p = normalize(path);
  return p.slice(p.lastIndexOf("/") + 1);
}

/** The extension of a name, lower-cased, with its dot (`""` if none). */
export function extname(path: string): string {
  const name = basename(path);
  const i = name.lastIndexOf(".");
  return i <= 0 ? "" : name.slice(i).toLowerCase();
}

/** Joins a directory argument and a relative name the way listings report them. */
export function joinListed(dir: string, rel: string): string {
  if (dir === "" || dir === ".") return rel;
  return dir.endsWith("/") ? dir + rel : `${dir}/${rel}`;
}
