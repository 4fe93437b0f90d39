/**
 * The S3 backend's view of paths as objects and prefixes: where a path points
 * (service root, bucket, key), what is there (file, directory, nothing), the
 * right error for a missing object, one directory level of a listing, the
 * recursive listing as one flat ListObjectsV2 pass, and server-side
 * move/copy of objects and trees.
 *
 * Names a listing cannot address (empty, `.`, `..`) are skipped, so keys
 * written by other tools never yield a path that resolves elsewhere.
 *
 * @module
 */

import {
  AlreadyExistsError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  StorageError,
  UnsupportedOperationError,
} from "../../errors.ts";
import type { ListOptions } from "../base.ts";
import { assertPath, normalize } from "../../_internal/paths.ts";
import { breadthFirst, type ListEntry } from "../../_internal/listing.ts";
import { text, validBucket } from "./client.ts";
import { type Head, type Objects, pool } from "./objects.ts";
import { parseBuckets } from "./xml.ts";

/** Where a path points: the service root, a bucket (`key` ""), or an object key. */
export interface Loc {
  bucket: string | undefined;
  key: string;
}

/** What is at a path. */
export type Kind = { kind: "file"; head: Head } | { kind: "dir" } | { kind: "missing" };

const COPY_PART = 512 * 2 ** 20;

/** Path resolution and probes over one object client. */
export class Namespace {
  readonly o: Objects;
  readonly bucket: string | undefined;

  /**
   * @param o the object operations
   * @param bucket the bucket the backend is rooted at, if any
   */
  constructor(o: Objects, bucket: string | undefined) {
    this.o = o;
    this.bucket = bucket;
  }

  loc(path: string, op: string): Loc {
    assertPath(path, op);
    const n = normalize(path.startsWith("/") ? path : `/${path}`);
    const segs = n === "/" ? [] : n.slice(1).split("/");
    if (this.bucket !== undefined) return { bucket: this.bucket, key: segs.join("/") };
    const bucket = segs.shift();
    if (bucket !== undefined && !validBucket(bucket)) {
      throw new StorageError(op, path, `'${bucket}' is not a valid S3 bucket name`, {
        code: "EINVAL",
      });
    }
    return { bucket, key: segs.join("/") };
  }

  objectLoc(path: string, op: string): { bucket: string; key: string } {
    const l = this.loc(path, op);
    if (l.bucket === undefined || l.key === "") throw new IsADirectoryError(op, path);
    return { bucket: l.bucket, key: l.key };
  }

  async kind(op: string, path: string, l: Loc, signal?: AbortSignal): Promise<Kind> {
    if (l.bucket === undefined) return { kind: "dir" };
    if (l.key === "") {
      return (await this.o.bucketExists(op, path, l.bucket, signal))
        ? { kind: "dir" }
        : { kind: "missing" };
    }
    const [head, children] = await Promise.all([
      this.o.head(op, path, l.bucket, l.key, signal),
      this.o.any(op, path, l.bucket, `${l.key}/`, signal).catch((err) => {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      }),
    ]);
    if (head) return { kind: "file", head };
    return children ? { kind: "dir" } : { kind: "missing" };
  }

  /** The error for a path that has no object: a directory, below a file, or missing. */
  async missing(op: string, path: string, l: Loc, signal?: AbortSignal): Promise<StorageError> {
    const k = await this.kind(op, path, l, signal);
    if (k.kind === "dir") return new IsADirectoryError(op, path);
    if (l.bucket !== undefined && l.key.includes("/")) {
      const segs = l.key.split("/");
      for (let i = 1; i < segs.length; i++) {
        if (await this.o.head(op, path, l.bucket, segs.slice(0, i).join("/"), signal)) {
          return new NotADirectoryError(op, path, "a parent is a file");
        }
      }
    }
    return new NotFoundError(op, path, "no such file");
  }

  /** Checks that the parent directory of an object exists. */
  async parentExists(op: string, path: string, l: Loc, signal?: AbortSignal): Promise<void> {
    const i = l.key.lastIndexOf("/");
    const parent: Loc = { bucket: l.bucket, key: i < 0 ? "" : l.key.slice(0, i) };
    const k = await this.kind(op, path, parent, signal);
    if (k.kind === "file") throw new NotADirectoryError(op, path, "the parent is a file");
    if (k.kind === "missing") throw new NotFoundError(op, path, "parent directory does not exist");
  }

  async level(op: string, path: string, l: Loc, signal?: AbortSignal) {
    if (l.bucket === undefined) {
      const r = await this.o.client.send(op, path, { method: "GET", signal });
      return { files: [] as string[], dirs: parseBuckets(text(r.body)), marker: true };
    }
    const prefix = l.key === "" ? "" : `${l.key}/`;
    const all = await this.o.listAll(op, path, l.bucket, prefix, true, signal);
    const files: string[] = [];
    let marker = l.key === "";
    for (const k of all.keys) {
      if (k.key === prefix) marker = true;
      else files.push(k.key.slice(prefix.length));
    }
    const dirs = all.prefixes.map((p) => p.slice(prefix.length, -1));
    return { files: files.filter(valid), dirs: dirs.filter(valid), marker };
  }

  async emptyLevel(op: string, path: string, l: Loc, signal?: AbortSignal): Promise<never> {
    const k = await this.kind(op, path, l, signal);
    if (k.kind === "file") throw new NotADirectoryError(op, path);
    throw new NotFoundError(op, path, "no such directory");
  }

  /** Checks parents and targets before the first write; returns the indices that exist. */
  async preflight(
    op: string,
    paths: readonly string[],
    locs: readonly { bucket: string; key: string }[],
    overwrite: boolean,
    signal: AbortSignal | undefined,
  ): Promise<Set<number>> {
    const groups = new Map<string, number[]>();
    locs.forEach((l, i) => {
      const j = l.key.lastIndexOf("/");
      const g = `${l.bucket}/${j < 0 ? "" : l.key.slice(0, j)}`;
      const list = groups.get(g);
      if (list) list.push(i);
      else groups.set(g, [i]);
    });
    const existed = new Set<number>();
    await pool([...groups].length, 4, signal, async (gi, sig) => {
      const members = [...groups.values()][gi]!;
      const first = locs[members[0]!]!;
      // the parent check and the target checks go out together: one round trip
      const parent = this.parentExists(op, paths[members[0]!]!, first, sig);
      if (members.length >= 8) {
        // many targets in one directory: one listing answers for all of them
        const j = first.key.lastIndexOf("/");
        const prefix = j < 0 ? "" : `${first.key.slice(0, j)}/`;
        const [, all] = await Promise.all([
          parent,
          this.o.listAll(op, paths[members[0]!]!, first.bucket, prefix, true, sig),
        ]);
        const files = new Set(all.keys.map((k) => k.key));
        const dirs = new Set(all.prefixes.map((p) => p.slice(0, -1)));
        for (const i of members) {
          const l = locs[i]!;
          if (dirs.has(l.key)) throw new IsADirectoryError(op, paths[i]!);
          if (files.has(l.key)) {
            if (!overwrite) throw new AlreadyExistsError(op, paths[i]!);
            existed.add(i);
          }
        }
        return;
      }
      const [, ...kinds] = await Promise.all([
        parent,
        ...members.map((i) => this.kind(op, paths[i]!, locs[i]!, sig)),
      ]);
      for (const [m, i] of members.entries()) {
        const k = kinds[m]!;
        if (k.kind === "dir") throw new IsADirectoryError(op, paths[i]!);
        if (k.kind === "file") {
          if (!overwrite) throw new AlreadyExistsError(op, paths[i]!);
          existed.add(i);
        }
      }
    });
    return existed;
  }

  /** Deletes what a failed batch created; returns the paths it could not remove. */
  async undo(
    op: string,
    paths: readonly string[],
    locs: readonly { bucket: string; key: string }[],
    created: number[],
    cleanupMs: number,
  ): Promise<string[]> {
    const byBucket = new Map<string, number[]>();
    for (const i of created) {
      const b = locs[i]!.bucket;
      byBucket.set(b, [...(byBucket.get(b) ?? []), i]);
    }
    const left: string[] = [];
    for (const [bucket, idx] of byBucket) {
      const failed = await this.o.deleteWithin(
        op,
        paths[idx[0]!]!,
        bucket,
        idx.map((i) => locs[i]!.key),
        cleanupMs,
      );
      if (failed.length > 0) left.push(...idx.map((i) => paths[i]!));
    }
    return left;
  }
}

/** Files under `dir`, breadth-first; recursive inside a bucket is one flat listing. */
export async function listFilesIn(
  ns: Namespace,
  dir: string,
  options: ListOptions & { signal?: AbortSignal },
): Promise<string[]> {
  const op = "listFiles";
  const l = ns.loc(dir, op);
  const signal = options.signal;
  if (l.bucket === undefined || !options.recursive) {
    return await breadthFirst(dir, async (rel) => {
      const sub: Loc = relLoc(l, rel);
      const lv = await ns.level(op, dir, sub, signal);
      if (rel === "" && !lv.marker && lv.files.length === 0 && lv.dirs.length === 0) {
        await ns.emptyLevel(op, dir, l, signal);
      }
      return [
        ...lv.files.map((name) => ({ name, kind: "file" as const })),
        ...lv.dirs.map((name) => ({ name, kind: "dir" as const })),
      ];
    }, options);
  }
  const prefix = l.key === "" ? "" : `${l.key}/`;
  const all = await ns.o.listAll(op, dir, l.bucket, prefix, false, signal);
  if (all.keys.length === 0 && l.key !== "") await ns.emptyLevel(op, dir, l, signal);
  const tree = new Map<string, Map<string, ListEntry["kind"]>>([["", new Map()]]);
  const add = (rel: string, name: string, kind: ListEntry["kind"]) => {
    let m = tree.get(rel);
    if (!m) tree.set(rel, m = new Map());
    if (kind === "dir" || !m.has(name)) m.set(name, kind);
  };
  for (const { key } of all.keys) {
    const parts = key.slice(prefix.length).split("/");
    const last = parts.pop()!;
    if (!parts.every(valid) || (last !== "" && !valid(last))) continue;
    parts.forEach((p, i) => add(parts.slice(0, i).join("/"), p, "dir"));
    if (last !== "") add(parts.join("/"), last, "file");
  }
  return await breadthFirst(
    dir,
    (rel) => [...(tree.get(rel) ?? new Map()).entries()].map(([name, kind]) => ({ name, kind })),
    options,
  );
}

/** Server-side move/copy of an object or a prefix; refuses an existing destination. */
export async function transfer(
  ns: Namespace,
  op: "move" | "copy",
  src: string,
  dst: string,
  signal: AbortSignal | undefined,
  concurrency: number,
  cleanupMs: number,
): Promise<void> {
  const s = ns.loc(src, op);
  const d = ns.loc(dst, op);
  if (s.bucket === undefined || s.key === "" || d.bucket === undefined || d.key === "") {
    throw new UnsupportedOperationError(op, src, "whole buckets cannot be moved or copied");
  }
  const sb = s.bucket;
  const db = d.bucket;
  const [sk, dk] = await Promise.all([
    ns.kind(op, src, s, signal),
    ns.kind(op, dst, d, signal),
  ]);
  if (sk.kind === "missing") throw new NotFoundError(op, src);
  if (dk.kind !== "missing") throw new AlreadyExistsError(op, dst);
  await ns.parentExists(op, dst, d, signal);
  if (sk.kind === "file") {
    await ns.o.copy(
      op,
      dst,
      { bucket: sb, key: s.key, size: sk.head.size },
      db,
      d.key,
      COPY_PART,
      signal,
    );
    if (op === "move") {
      await ns.o.client.send(op, src, { method: "DELETE", bucket: sb, key: s.key, signal });
    }
    return;
  }
  if (sb === db && (d.key + "/").startsWith(`${s.key}/`)) {
    throw new StorageError(op, dst, `cannot ${op} a directory into itself`, { code: "EINVAL" });
  }
  const all = await ns.o.listAll(op, src, sb, `${s.key}/`, false, signal);
  const done: string[] = [];
  try {
    await pool(all.keys.length, concurrency, signal, async (i, sig) => {
      const k = all.keys[i]!;
      const target = `${d.key}/${k.key.slice(s.key.length + 1)}`;
      await ns.o.copy(
        op,
        dst,
        { bucket: sb, key: k.key, size: k.size },
        db,
        target,
        COPY_PART,
        sig,
      );
      done.push(target);
    });
  } catch (err) {
    await ns.o.deleteWithin(op, dst, db, done, cleanupMs);
    throw err;
  }
  if (op === "move") await ns.o.deleteKeys(op, src, sb, all.keys.map((k) => k.key), signal);
}

export function valid(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !name.includes("/");
}

export function relLoc(l: Loc, rel: string): Loc {
  if (rel === "") return l;
  if (l.bucket === undefined) {
    const [bucket, ...rest] = rel.split("/");
    return { bucket, key: rest.join("/") };
  }
  return { bucket: l.bucket, key: l.key === "" ? rel : `${l.key}/${rel}` };
}
