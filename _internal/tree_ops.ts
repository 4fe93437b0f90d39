/**
 * The tree walks behind `FileManager`'s directory helpers, over any backend
 * reached through a router (`route(method, path)` → the bound method): the
 * breadth-first directory walk and the symlink mirror (conflicts are all
 * found before anything is created). No `node:*`.
 *
 * @module
 */

import type { AnyBackend, StatResult } from "../backends/base.ts";
import { AlreadyExistsError, NotFoundError, PermissionDeniedError } from "../errors.ts";
import { joinListed, normalize } from "./paths.ts";
import { naturalSort } from "./listing.ts";

/** A backend method, unbound. */
// deno-lint-ignore no-explicit-any
export type Fn = (...args: any[]) => Promise<any>;

/** Resolves a method of the backend in use (`UnsupportedOperationError` if it lacks it). */
export type Route = (method: string, path: string) => Promise<{ fn: Fn; target: AnyBackend }>;

async function call<R>(route: Route, method: string, path: string, args: unknown[]): Promise<R> {
  const { fn, target } = await route(method, path);
  return await fn.apply(target, args) as R;
}

/** Path of `to` relative to directory `from`; both relative to the same base. */
function relativePath(from: string, to: string, operation: string): string {
  const f = normalize(from).split("/").filter((s) => s !== "" && s !== ".");
  const t = normalize(to).split("/").filter((s) => s !== "" && s !== ".");
  let i = 0;
  while (i < f.length && i < t.length && f[i] === t[i]) i++;
  const up = f.slice(i);
  if (up.includes("..")) {
    throw new TypeError(
      `${operation}: cannot express '${to}' relative to '${from}'; pass absolute paths`,
    );
  }
  const rel = [...up.map(() => ".."), ...t.slice(i)].join("/");
  return rel === "" ? "." : rel;
}

/** Strips the `dir` prefix that `listFiles` put in front of a listed path. */
function relativeToListed(dir: string, listed: string): string {
  if (dir === "" || dir === ".") return listed;
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  return listed.startsWith(prefix) ? listed.slice(prefix.length) : listed;
}

/**
 * `listed` relative to `dir`, refused unless it lies below `dir` in plain
 * names: a backend's listing must not walk a mirror out of its tree.
 */
function confinedRel(dir: string, listed: string, op: string): string {
  const rel = relativeToListed(dir, listed);
  const outside = dir !== "" && dir !== "." && rel === listed;
  if (outside || rel.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw new PermissionDeniedError(op, listed, `listed entry is not below '${dir}'`);
  }
  return rel;
}

/** Real directories below `dir`, breadth-first, natural order within a depth. */
export async function walkDirs(route: Route, dir: string, recursive: boolean): Promise<string[]> {
  const listDir = await route("listDir", dir);
  const stat = await route("stat", dir).catch(() => undefined);
  const isDir = await route("isDir", dir);
  const out: string[] = [];
  let level = [dir];
  while (level.length > 0) {
    const next: string[] = [];
    for (const d of level) {
      const names = naturalSort(
        (await listDir.fn.call(listDir.target, d) as string[]).filter((n) => !n.startsWith("._")),
      );
      for (const name of names) {
        if (name === "" || name === "." || name === ".." || name.includes("/")) {
          throw new PermissionDeniedError("listDir", d, `entry '${name}' is not a plain name`);
        }
        const child = joinListed(d, name);
        let directory: boolean;
        if (stat) {
          directory = ((await stat.fn.call(stat.target, child)) as StatResult).type ===
            "directory";
        } else {
          directory = await (isDir.fn.call(isDir.target, child) as Promise<boolean>).catch(
            () => false,
          );
        }
        if (directory) next.push(child);
      }
    }
    out.push(...next);
    if (!recursive) break;
    level = next;
  }
  return out;
}

/** How {@linkcode mirrorTree} links. */
export interface MirrorPlan {
  /** Mirror subdirectories too. */
  recursive: boolean;
  /** Replace existing symlinks (and leave other entries alone) instead of failing. */
  replaceLinks: boolean;
  /** Link targets are the listed (absolute) paths, else relative to each link. */
  absolute: boolean;
  /** The operation named in errors. */
  op: string;
}

/** `FileManager.mirrorDirectoryWithSymlinks` after its argument checks: the count of links made. */
export async function mirrorTree(
  route: Route,
  src: string,
  dst: string,
  how: MirrorPlan,
): Promise<number> {
  const { recursive, replaceLinks, absolute, op } = how;
  const files = await call<string[]>(route, "listFiles", src, [src, { recursive }]);
  const dirs = recursive ? await walkDirs(route, src, true) : [];
  const ensure = await route("ensureDirectory", dst);
  const stat = await route("stat", dst);
  const link = await route("createSymlink", dst);
  const exists = await route("exists", dst);

  // Every conflict is found before anything is created.
  const plan: { file: string; linkPath: string; overwrite: boolean }[] = [];
  for (const file of files) {
    const linkPath = joinListed(dst, confinedRel(src, file, op));
    const present = (await stat.fn.call(stat.target, linkPath)) as StatResult;
    if (present.type === "missing") {
      plan.push({ file, linkPath, overwrite: false });
    } else if (!replaceLinks) {
      throw new AlreadyExistsError(
        op,
        linkPath,
        `already exists (a ${present.type}); pass { overwriteSymlinksOnly: true } to replace existing symlinks`,
      );
    } else if (present.type === "symlink") {
      plan.push({ file, linkPath, overwrite: true });
    }
  }
  await ensure.fn.call(ensure.target, dst);
  for (const d of dirs) {
    await ensure.fn.call(ensure.target, joinListed(dst, confinedRel(src, d, op)));
  }
  let created = 0;
  for (const { file, linkPath, overwrite } of plan) {
    const parent = linkPath.includes("/") ? linkPath.slice(0, linkPath.lastIndexOf("/")) : ".";
    const target = absolute ? file : relativePath(parent, file, op);
    try {
      await link.fn.call(link.target, target, linkPath, { overwrite });
    } catch (err) {
      // A broken symlink in the source has nothing to point at: skip it.
      if (err instanceof NotFoundError && !(await exists.fn.call(exists.target, file))) continue;
      throw err;
    }
    created++;
  }
  return created;
}
