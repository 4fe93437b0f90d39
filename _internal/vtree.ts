/**
 * A virtual directory tree built from a list of file paths (a workspace
 * mapping, an HTTP manifest): parents are implied directories, and listings
 * cost what they return. Runtime-neutral.
 *
 * Paths are relative, `/`-separated and already normalised (`""` is the root).
 *
 * @module
 */

import type { ListEntry } from "./listing.ts";
import { naturalSort } from "./listing.ts";

interface Dir {
  files: Set<string>;
  dirs: Set<string>;
}

/**
 * Files and directories of a tree given as paths.
 *
 * @example
 * ```ts
 * import { VirtualTree } from "./vtree.ts";
 * const t = new VirtualTree();
 * t.addFile("A01/f0.tif");
 * t.addDir("empty");
 * console.assert(t.kind("A01") === "dir" && t.names("")!.join() === "A01,empty");
 * ```
 */
export class VirtualTree {
  readonly #dirs = new Map<string, Dir>([["", { files: new Set(), dirs: new Set() }]]);
  readonly #files = new Set<string>();

  #ensureDir(rel: string): string | undefined {
    const parts = rel.split("/");
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join("/");
      if (this.#files.has(d)) return `'${d}' is both a file and a directory`;
      if (!this.#dirs.has(d)) {
        this.#dirs.set(d, { files: new Set(), dirs: new Set() });
        this.#dirs.get(parts.slice(0, i - 1).join("/"))!.dirs.add(parts[i - 1]!);
      }
    }
    return undefined;
  }

  /** Adds a file (its parents become directories); a conflict's description, or undefined. */
  addFile(rel: string): string | undefined {
    if (rel === "") return "the root is a directory";
    const parts = rel.split("/");
    const parent = parts.slice(0, -1).join("/");
    if (parent !== "") {
      const bad = this.#ensureDir(parent);
      if (bad) return bad;
    }
    if (this.#dirs.has(rel)) return `'${rel}' is both a file and a directory`;
    if (this.#files.has(rel)) return `'${rel}' is listed twice`;
    this.#files.add(rel);
    this.#dirs.get(parent)!.files.add(parts[parts.length - 1]!);
    return undefined;
  }

  /** Adds a directory (and its parents); a conflict's description, or undefined. */
  addDir(rel: string): string | undefined {
    return rel === "" ? undefined : this.#ensureDir(rel);
  }

  /** What `rel` is in the tree. */
  kind(rel: string): "file" | "dir" | undefined {
    if (this.#dirs.has(rel)) return "dir";
    return this.#files.has(rel) ? "file" : undefined;
  }

  /** Entry names of directory `rel` in natural order; undefined if it is not a directory. */
  names(rel: string): string[] | undefined {
    const d = this.#dirs.get(rel);
    return d ? naturalSort([...d.files, ...d.dirs]) : undefined;
  }

  /** The entries of directory `rel` for `breadthFirst` (files, then directories); [] if absent. */
  entries(rel: string): ListEntry[] {
    const d = this.#dirs.get(rel);
    if (!d) return [];
    return [
      ...[...d.files].map((name): ListEntry => ({ name, kind: "file" })),
      ...[...d.dirs].map((name): ListEntry => ({ name, kind: "dir" })),
    ];
  }
}
