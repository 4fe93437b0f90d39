/**
 * The HTTP backend's listings: a directory is answered by the nearest
 * manifest at or above it (a {@linkcode VirtualTree} of its `files`/`dirs`),
 * else by its Zarr metadata (consolidated metadata and NGFF children of it
 * and its ancestors). Runtime-neutral; requests go through {@linkcode ListingIO}.
 *
 * Lookups are cached per URL as promises (concurrent calls share one request;
 * a failed lookup is dropped so it is retried). Within `baseUrl` no lookup
 * climbs above it; a manifest naming a path both as a file and as a
 * directory is refused as corrupt.
 *
 * @module
 */

import { NotADirectoryError, NotFoundError, StorageError } from "../../errors.ts";
import { normalize } from "../../_internal/paths.ts";
import type { ListEntry } from "../../_internal/listing.ts";
import { VirtualTree } from "../../_internal/vtree.ts";
import { ngffChildren } from "../../zarr/ngff.ts";
import { safeRelPath } from "../../zarr/paths.ts";
import { encodeSegment } from "./url.ts";

/** The requests the listing makes, provided by the backend's transport. */
export interface ListingIO {
  /** GET a JSON document; undefined on 404/410. */
  json(op: string, path: string, url: string, signal: AbortSignal | undefined): Promise<unknown>;
  /** True for a 2xx answer, false for 404/410. */
  head(op: string, path: string, url: string, signal: AbortSignal | undefined): Promise<boolean>;
}

/** What a Zarr metadata lookup learned about one directory. */
interface ZarrNode {
  kind: "group" | "array";
  /** Metadata file names present in the directory. */
  files: string[];
  /** Relative paths of descendant nodes known from this node's metadata. */
  descendants: string[];
  /** For consolidated v2 metadata: relative paths of metadata files below. */
  descendantFiles: string[];
}

/** Manifest and Zarr lookups of one backend, with their caches. */
export class HttpListing {
  readonly #base: URL | undefined;
  readonly #manifest: string;
  readonly #io: ListingIO;
  #manifests = new Map<string, Promise<VirtualTree | null>>();
  #zarr = new Map<string, Promise<ZarrNode | null>>();

  /**
   * Listings under `base` with manifests named `manifest`.
   *
   * @param base the backend's `baseUrl`, if any
   * @param manifest the manifest file name
   * @param io the transport's JSON GET and HEAD
   */
  constructor(base: URL | undefined, manifest: string, io: ListingIO) {
    this.#base = base;
    this.#manifest = manifest;
    this.#io = io;
  }

  /** Drops cached manifests and Zarr metadata. */
  clear(): void {
    this.#manifests.clear();
    this.#zarr.clear();
  }

  /** A `readDir(rel)` for `dir` (resolved to `resolved`), from a manifest or a Zarr hierarchy. */
  async dirReader(
    dir: string,
    resolved: string,
    op: string,
    signal: AbortSignal | undefined,
  ): Promise<(rel: string) => Promise<ListEntry[]>> {
    const url = dirUrl(resolved);
    const found = await this.#findManifest(url, op, dir, signal, true);
    if (found) {
      const { tree, rel: base } = found;
      const kind = tree.kind(base);
      if (kind !== "dir") {
        if (kind === "file") throw new NotADirectoryError(op, dir);
        throw new NotFoundError(op, dir);
      }
      return (rel) => Promise.resolve(tree.entries(joinRel(base, rel)));
    }
    const root = await this.#zarrNode(url, op, dir, signal);
    if (!root) {
      const head = await this.#io.head(op, dir, url.slice(0, -1), signal);
      if (head) throw new NotADirectoryError(op, dir);
      throw new NotFoundError(op, dir, "no manifest or Zarr metadata here");
    }
    return async (rel) => {
      const u = rel === "" ? url : `${url}${rel.split("/").map(encodeSegment).join("/")}/`;
      const node = await this.#zarrNode(u, op, dir, signal);
      const entries = new Map<string, ListEntry["kind"]>();
      if (!node) return [];
      for (const f of node.files) entries.set(f, "file");
      const known = await this.#zarrKnown(u, op, dir, signal);
      for (const d of known.dirs) entries.set(d.split("/")[0]!, "dir");
      for (const f of known.files) {
        const parts = f.split("/");
        entries.set(parts[0]!, parts.length === 1 ? "file" : "dir");
      }
      return [...entries].map(([name, kind]) => ({ name, kind }));
    };
  }

  /** `"file"` or `"dir"` for `path` (resolved to `url`); `NotFoundError` if missing. */
  async classify(
    path: string,
    url: string,
    op: string,
    signal: AbortSignal | undefined,
  ): Promise<"file" | "dir"> {
    const asDir = dirUrl(url);
    const found = await this.#findManifest(asDir, op, path, signal, false);
    if (found) {
      const kind = found.tree.kind(found.rel);
      if (kind) return kind;
      throw new NotFoundError(op, path);
    }
    if (!url.endsWith("/") && await this.#io.head(op, path, url, signal)) return "file";
    if (await this.#loadManifest(asDir, op, path, signal)) return "dir";
    if (await this.#zarrNode(asDir, op, path, signal)) return "dir";
    throw new NotFoundError(op, path);
  }

  /** Descendants of the Zarr node at `url` known from it and its Zarr ancestors. */
  async #zarrKnown(
    url: string,
    op: string,
    path: string,
    signal: AbortSignal | undefined,
  ): Promise<{ dirs: string[]; files: string[] }> {
    const dirs: string[] = [];
    const files: string[] = [];
    let cur = url;
    let prefix = "";
    for (let depth = 0; depth < 64; depth++) {
      const node = await this.#zarrNode(cur, op, path, signal);
      if (!node) break;
      for (const d of node.descendants) {
        if (prefix === "") dirs.push(d);
        else if (d.startsWith(`${prefix}/`)) dirs.push(d.slice(prefix.length + 1));
      }
      for (const f of node.descendantFiles) {
        if (prefix === "") files.push(f);
        else if (f.startsWith(`${prefix}/`)) files.push(f.slice(prefix.length + 1));
      }
      // Never above baseUrl: nothing outside it is requested.
      const parent = cur === this.#base?.href ? undefined : parentDirUrl(cur);
      if (!parent) break;
      const name = decodeURIComponent(cur.slice(parent.length, -1));
      prefix = prefix === "" ? name : `${name}/${prefix}`;
      cur = parent;
    }
    return { dirs, files };
  }

  /** Zarr metadata of the directory at `url` (ends with `/`), cached; null if none. */
  #zarrNode(
    url: string,
    op: string,
    path: string,
    signal: AbortSignal | undefined,
  ): Promise<ZarrNode | null> {
    let p = this.#zarr.get(url);
    if (!p) {
      p = this.#readZarrNode(url, op, path, signal);
      this.#zarr.set(url, p);
      p.catch(() => this.#zarr.delete(url));
    }
    return p;
  }

  async #readZarrNode(
    url: string,
    op: string,
    path: string,
    signal: AbortSignal | undefined,
  ): Promise<ZarrNode | null> {
    const json = (name: string) => this.#io.json(op, path, `${url}${name}`, signal);
    const v3 = await json("zarr.json");
    if (v3 !== undefined) {
      const meta = asRecord(v3);
      const kind = meta.node_type === "array" ? "array" : "group";
      const descendants = new Set<string>();
      const where = `${path} (${url}zarr.json)`;
      const cm = asRecord(asRecord(meta.consolidated_metadata).metadata);
      for (const key of Object.keys(cm)) addWithParents(descendants, key, op, where);
      for (const d of ngffChildren(meta.attributes, op, where)) {
        addWithParents(descendants, d, op, where);
      }
      return { kind, files: ["zarr.json"], descendants: [...descendants], descendantFiles: [] };
    }
    let kind: "group" | "array" | undefined;
    const files: string[] = [];
    if (await json(".zgroup") !== undefined) {
      kind = "group";
      files.push(".zgroup");
    } else if (await json(".zarray") !== undefined) {
      kind = "array";
      files.push(".zarray");
    } else return null;
    const descendants = new Set<string>();
    const descendantFiles: string[] = [];
    const attrs = await json(".zattrs");
    if (attrs !== undefined) {
      files.push(".zattrs");
      const where = `${path} (${url}.zattrs)`;
      for (const d of ngffChildren(attrs, op, where)) addWithParents(descendants, d, op, where);
    }
    if (kind === "group") {
      const zm = await json(".zmetadata");
      if (zm !== undefined) {
        files.push(".zmetadata");
        for (const key of Object.keys(asRecord(asRecord(zm).metadata))) {
          const i = key.lastIndexOf("/");
          if (i < 0) continue;
          addWithParents(descendants, key.slice(0, i), op, `${path} (${url}.zmetadata)`);
          descendantFiles.push(
            safeRelPath(key, ".zmetadata key", op, `${path} (${url}.zmetadata)`, 64),
          );
        }
      }
    }
    return { kind, files, descendants: [...descendants], descendantFiles };
  }

  /** Finds the nearest manifest at (if `self`) or above `url`; null if none. */
  async #findManifest(
    url: string,
    op: string,
    path: string,
    signal: AbortSignal | undefined,
    self: boolean,
  ): Promise<{ tree: VirtualTree; rel: string } | null> {
    const start = url;
    // Inside baseUrl, manifests are looked for up to baseUrl; elsewhere up to the host root.
    const stop = this.#base && url.startsWith(this.#base.href) ? this.#base.href : undefined;
    if (!self && url === stop) return null;
    let cur: string | undefined = self ? url : parentDirUrl(url);
    while (cur) {
      const tree = await this.#loadManifest(cur, op, path, signal);
      if (tree) {
        const rel = decodeURIComponent(start.slice(cur.length)).replace(/\/$/, "");
        return { tree, rel };
      }
      if (cur === stop) break;
      cur = parentDirUrl(cur);
    }
    return null;
  }

  #loadManifest(
    url: string,
    op: string,
    path: string,
    signal: AbortSignal | undefined,
  ): Promise<VirtualTree | null> {
    let p = this.#manifests.get(url);
    if (!p) {
      p = (async () => {
        const murl = `${url}${encodeSegment(this.#manifest)}`;
        const doc = await this.#io.json(op, path, murl, signal);
        if (doc === undefined) return null;
        return parseManifest(doc, op, murl);
      })();
      this.#manifests.set(url, p);
      p.catch(() => this.#manifests.delete(url));
    }
    return p;
  }
}

/** The URL of a directory: with a trailing `/`, no query or fragment. */
export function dirUrl(url: string): string {
  const u = new URL(url);
  u.search = "";
  u.hash = "";
  return u.href.endsWith("/") ? u.href : `${u.href}/`;
}

/** The parent directory URL of a directory URL, or undefined at the host root. */
export function parentDirUrl(url: string): string | undefined {
  const u = new URL(url);
  if (u.pathname === "/" || u.pathname === "") return undefined;
  const trimmed = u.pathname.replace(/\/$/, "");
  u.pathname = trimmed.slice(0, trimmed.lastIndexOf("/") + 1);
  return u.href;
}

function joinRel(a: string, b: string): string {
  if (a === "") return b;
  if (b === "") return a;
  return `${a}/${b}`;
}

/**
 * The tree of a manifest document `{ "files": [...], "dirs"?: [...] }`
 * fetched from `url`: entries are relative to its directory, parents are
 * implied, a `files` entry ending in `/` is a directory, duplicates are
 * harmless; anything else malformed is `ERR_CORRUPT_DATA`.
 */
export function parseManifest(doc: unknown, op: string, url: string): VirtualTree {
  const bad = (why: string) =>
    new StorageError(op, url, `invalid manifest: ${why}`, { code: "ERR_CORRUPT_DATA" });
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw bad('expected an object { "files": [...], "dirs"?: [...] }');
  }
  const rec = doc as { files?: unknown; dirs?: unknown };
  if (!Array.isArray(rec.files)) throw bad('"files" must be an array of strings');
  if (rec.dirs !== undefined && !Array.isArray(rec.dirs)) {
    throw bad('"dirs" must be an array of strings');
  }
  const tree = new VirtualTree();
  const add = (conflict: string | undefined) => {
    if (conflict !== undefined) throw bad(conflict);
  };
  const clean = (entry: unknown): string => {
    if (typeof entry !== "string") throw bad("entries must be strings");
    const n = normalize(`/${entry}`).slice(1);
    if (n === "" || n.startsWith("..")) throw bad(`entry '${entry}' is outside the manifest`);
    return n;
  };
  for (const d of (rec.dirs ?? []) as unknown[]) add(tree.addDir(clean(d)));
  for (const f of rec.files as unknown[]) {
    const n = clean(f);
    if (typeof f === "string" && f.endsWith("/")) add(tree.addDir(n));
    else if (tree.kind(n) !== "file") add(tree.addFile(n));
  }
  return tree;
}

function asRecord(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? v as Record<string, unknown>
    : {};
}

/** Adds a metadata-named descendant and its parents; unsafe names are refused (NGFF model rules). */
function addWithParents(set: Set<string>, rel: string, op: string, where: string): void {
  const parts = safeRelPath(rel, "metadata child path", op, where, 64).split("/");
  for (let i = 1; i <= parts.length; i++) set.add(parts.slice(0, i).join("/"));
}
