/**
 * Listing rules shared by every backend: natural order, glob patterns,
 * extension filters, AppleDouble skipping.
 *
 * @module
 */

import type { ListOptions } from "../backends/base.ts";
import { joinListed } from "./paths.ts";

const collator = new Intl.Collator("en", { numeric: true, sensitivity: "variant" });

/**
 * Natural order: digit runs compare by value (`img2` < `img10`); ties are
 * broken by plain code-unit order so the order is total and stable.
 */
export function naturalCompare(a: string, b: string): number {
  const c = collator.compare(a, b);
  if (c !== 0) return c;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorts names in natural order (in place) and returns the array. */
export function naturalSort(names: string[]): string[] {
  return names.sort(naturalCompare);
}

/** Compiles an fnmatch-style glob (`*`, `?`, `[abc]`, `[!a-z]`) to a RegExp. */
export function globToRegExp(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else if (ch === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) {
        re += "\\[";
        continue;
      }
      let body = pattern.slice(i + 1, end);
      if (body.startsWith("!")) body = "^" + body.slice(1);
      re += "[" + body.replace(/\\/g, "\\\\") + "]";
      i = end;
    } else re += ch.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, "s");
}

/** A compiled name filter for `listFiles`. */
export type NameFilter = (name: string) => boolean;

/** Builds the filter for `listFiles` options (pattern, extensions, `._*`). */
export function nameFilter(options: ListOptions = {}): NameFilter {
  const re = options.pattern !== undefined ? globToRegExp(options.pattern) : undefined;
  let exts: Set<string> | undefined;
  if (options.extensions !== undefined) {
    if (typeof options.extensions === "string") {
      throw new TypeError("listFiles: extensions must be an iterable of strings, not a string");
    }
    exts = new Set();
    for (const e of options.extensions) {
      const lower = String(e).toLowerCase();
      exts.add(lower.startsWith(".") ? lower : `.${lower}`);
    }
  }
  return (name) => {
    if (name.startsWith("._")) return false;
    if (re && !re.test(name)) return false;
    if (exts) {
      const lower = name.toLowerCase();
      let ok = false;
      for (const e of exts) {
        if (lower.endsWith(e) && lower.length > e.length) {
          ok = true;
          break;
        }
      }
      if (!ok) return false;
    }
    return true;
  };
}

/** One directory entry, as a backend reports it to {@linkcode breadthFirst}. */
export interface ListEntry {
  /** Entry name. */
  name: string;
  /**
   * `file` (regular files, symlinks to files, broken symlinks), `dir` (real
   * directories, descended into) or `skip` (symlinks to directories, others).
   */
  kind: "file" | "dir" | "skip";
}

/**
 * Breadth-first listing shared by all backends: shallower files first, natural
 * path order within a depth, filters applied to names, full paths returned
 * (`dir` joined with the relative path). `readDir` gets a relative directory
 * path (`""` for `dir` itself).
 */
export async function breadthFirst(
  dir: string,
  readDir: (rel: string) => ListEntry[] | Promise<ListEntry[]>,
  options: ListOptions = {},
): Promise<string[]> {
  const keep = nameFilter(options);
  const out: string[] = [];
  let level: string[] = [""];
  while (level.length > 0) {
    const files: string[] = [];
    const next: string[] = [];
    for (const rel of level) {
      for (const e of await readDir(rel)) {
        const childRel = rel === "" ? e.name : `${rel}/${e.name}`;
        if (e.kind === "file") {
          if (keep(e.name)) files.push(childRel);
        } else if (e.kind === "dir" && options.recursive) next.push(childRel);
      }
    }
    naturalSort(files);
    for (const f of files) out.push(joinListed(dir, f));
    level = naturalSort(next);
  }
  return out;
}
