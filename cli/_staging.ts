/**
 * Crash-safe publishing for `convert`: the plate is built in a hidden sibling
 * (`.NAME.partial`) and renamed to `NAME` only when every well is written, so
 * a plate at `NAME` is always whole. An interrupted build stays in the staging
 * folder with a manifest of the plan; `--resume` checks the manifest against
 * the new plan and skips the wells the plate metadata already lists (the Zarr
 * backend writes each well atomically and lists it only afterwards).
 *
 * Decision: the Zarr backend records each plane's virtual path
 * (`polystore_output_paths`) under the staging name; {@linkcode publish}
 * rewrites that prefix to the final name before the rename.
 *
 * Everything goes through the output's `StorageBackend`, so a plate on S3 is
 * staged under a hidden sibling prefix and published by the backend's `move`
 * (server-side copy). Only the lock differs: a file lock on disk, a lease
 * object (`_lease.ts`) on a store with compare-and-swap.
 *
 * @module
 */

import * as nodePath from "node:path";
import { readFileSync } from "node:fs";
import * as posixPath from "../_internal/paths.ts";
import { AlreadyExistsError, LockTimeoutError, type StorageError } from "../errors.ts";
import type { StorageBackend } from "../backends/base.ts";
import { canLease, takeLease } from "./_lease.ts";
import { fsyncFiles, fsyncTree, replaceFile } from "../_internal/atomic_file.ts";
import { CliError } from "./_shared.ts";

/** Path helpers for `b`'s paths: the OS's on disk, POSIX on every other store. */
function pathsOf(b: { readonly key: string } | undefined): typeof posixPath {
  return b === undefined || b.key === "disk" ? nodePath as unknown as typeof posixPath : posixPath;
}

/** The file in a staging folder that describes the conversion it belongs to. */
export const MANIFEST = ".hcs-convert.json";

/** What a staging folder was made from; `--resume` needs the same. */
export interface StagingManifest {
  /** The input folder. */
  input: string;
  /** The file-name pattern's source. */
  pattern: string;
  /** NGFF version asked for (`default` when not given). */
  ngff: string;
  /** Compression asked for (`default` when not given). */
  compression: string;
  /** Every well of the plan, `row/column`. */
  wells: string[];
  /** Planes in the plan. */
  planes: number;
  /** Element type and plane shape. */
  dtype: string;
  /** Plane shape. */
  shape: number[];
  /**
   * Wells made durable by a checkpoint (a disk build that deferred its
   * fsyncs); absent when every write was fsync'd as it was made.
   */
  durable?: string[];
  /**
   * The Linux boot the build ran in: a resume in the same boot trusts every
   * listed well (the page cache survived), one after a reboot only `durable`.
   */
  bootId?: string;
  /**
   * The path the plate's `polystore_output_paths` record (its final name);
   * absent in builds that recorded the staging name and so are retargeted
   * when published.
   */
  recordedAs?: string;
}

/** This boot's id (Linux `boot_id`), undefined where there is none to read. */
export function currentBootId(): string | undefined {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The hidden folder a plate at `output` (on `backend`, default the disk) is built in. */
export function stagingPath(output: string, backend?: { readonly key: string }): string {
  const { join, dirname, basename } = pathsOf(backend);
  return join(dirname(output), `.${basename(output)}.partial`);
}

function busy(output: string): CliError {
  return new CliError(
    `another convert is writing '${output}' right now (wait for it to finish, or stop it first)`,
  );
}

/**
 * Runs `fn` holding the cross-process lock of `output`'s staging folder, so
 * two conversions never write into one staging folder (a dead holder's lock is
 * taken over); a live one makes this fail at once, in words. On a store other
 * than the disk the lock is a lease object (`<staging>.lock`) where the store
 * has compare-and-swap, else (memory) there is no other process to exclude.
 * `shown` is how the user wrote the output (`s3://…`), for the message.
 */
export async function whileBuilding<T>(
  output: string,
  fn: () => Promise<T>,
  backend?: StorageBackend,
  shown: string = output,
): Promise<T> {
  if (backend !== undefined && backend.key !== "disk") {
    if (!canLease(backend)) return await fn();
    const lease = await takeLease(backend, `${stagingPath(output, backend)}.lock`);
    if (!lease) throw busy(shown);
    try {
      return await fn();
    } finally {
      await lease.release().catch(() => {});
    }
  }
  const { withFileLock } = await import("../lock/file_lock.ts");
  let started = false;
  try {
    return await withFileLock(stagingPath(output), () => {
      started = true;
      return fn();
    }, { timeoutMs: 300, operation: "convert" });
  } catch (err) {
    if (!started && err instanceof LockTimeoutError) throw busy(output);
    throw err;
  }
}

/** A staging folder ready to write into. */
export interface Staging {
  /** The folder. */
  path: string;
  /** Wells already complete in it (`row/column`); empty for a fresh build. */
  done: Set<string>;
  /** Those of `done` known to be durable (all of them unless the build deferred its fsyncs). */
  durable: Set<string>;
  /** The manifest in the folder (a resumed build's own, as it was written). */
  manifest: StagingManifest;
}

/** How to treat what is already at the output or in staging. */
export interface StagingMode {
  /** Replace an existing plate / discard an interrupted build. */
  overwrite: boolean;
  /** Continue an interrupted build. */
  resume: boolean;
}

async function readJson(disk: StorageBackend, path: string): Promise<unknown> {
  if (!(await disk.exists(path))) return undefined;
  const bytes = await disk.load<Uint8Array>(path, { as: "bytes" });
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}

/** Wells listed in the plate metadata of `dir` (NGFF 0.5 or 0.4), as `row/column`. */
export async function listedWells(disk: StorageBackend, dir: string): Promise<Set<string>> {
  const { join } = pathsOf(disk);
  const out = new Set<string>();
  const v3 = await readJson(disk, join(dir, "zarr.json")) as
    | { attributes?: { ome?: { plate?: unknown }; plate?: unknown } }
    | undefined;
  const v2 = v3 ? undefined : await readJson(disk, join(dir, ".zattrs")) as
    | { plate?: unknown }
    | undefined;
  const plate = (v3?.attributes?.ome?.plate ?? v3?.attributes?.plate ?? v2?.plate) as
    | { wells?: { path?: unknown }[] }
    | undefined;
  for (const w of plate?.wells ?? []) {
    if (typeof w.path === "string") out.add(w.path.split("/").filter(Boolean).join("/"));
  }
  return out;
}

function sameManifest(a: StagingManifest, b: StagingManifest): boolean {
  const { durable: _a, bootId: _c, recordedAs: _e, ...x } = a;
  const { durable: _b, bootId: _d, recordedAs: _f, ...y } = b;
  return JSON.stringify(x) === JSON.stringify(y);
}

/** Wells of a disk checkpoint written since the last one, at most, before the next. */
const CHECKPOINT_WELLS = 8;
/** Longest a finished well waits for its checkpoint (ms). */
const CHECKPOINT_MS = 2000;

/**
 * Durability of a staging folder on disk whose writes skip their fsyncs
 * (`deferSync`): every few wells, the wells finished since the last
 * checkpoint are fsync'd and then recorded as `durable` in the manifest,
 * which `--resume` trusts (a listed well that is not durable is written
 * again, so a power cut cannot leave a torn well behind a resumed plate);
 * {@linkcode DurableCheckpoints.finish} makes the rest durable before the
 * publish. One pass of fsyncs overlaps them, where one fsync per file
 * serialises every write on the disk's flush latency.
 */
export class DurableCheckpoints {
  readonly #staging: string;
  readonly #manifest: StagingManifest;
  readonly #durable: string[];
  #pending: string[] = [];
  #chain: Promise<void> = Promise.resolve();
  #last = Date.now();

  /** `done`: wells already durable (a resumed build's). */
  constructor(staging: string, manifest: StagingManifest, done: Iterable<string>) {
    this.#staging = staging;
    this.#manifest = manifest;
    this.#durable = [...done];
  }

  /** Notes a finished well (`row/column`); starts a checkpoint when enough are waiting. */
  well(id: string): void {
    this.#pending.push(id);
    if (this.#pending.length >= CHECKPOINT_WELLS || Date.now() - this.#last >= CHECKPOINT_MS) {
      this.#checkpoint();
    }
  }

  #checkpoint(): void {
    const wells = this.#pending.splice(0);
    this.#last = Date.now();
    if (wells.length === 0) return;
    this.#chain = this.#chain.then(async () => {
      const { join } = nodePath;
      const s = this.#staging;
      await Promise.all(wells.map((w) => fsyncTree(join(s, ...w.split("/")))));
      const rows = [...new Set(wells.map((w) => w.split("/")[0]!))];
      await fsyncFiles([
        ...["zarr.json", ".zattrs", ".zgroup"].map((n) => join(s, n)),
        ...rows.flatMap((r) => ["zarr.json", ".zgroup"].map((n) => join(s, r, n))),
      ]);
      this.#durable.push(...wells);
      const file = join(s, MANIFEST);
      const body = { ...this.#manifest, durable: this.#durable };
      await replaceFile(file, new TextEncoder().encode(JSON.stringify(body, null, 2)));
      await fsyncFiles([file]);
    });
    // A failure is thrown by `finish`; until then it must not count as unhandled
    // (a conversion that stops first never calls `finish`).
    this.#chain.catch(() => {});
  }

  /** Makes everything under the staging folder durable; throws a checkpoint's failure. */
  async finish(): Promise<void> {
    this.#checkpoint();
    await this.#chain;
    const { join } = nodePath;
    const skip = new Set(this.#durable.map((w) => join(this.#staging, ...w.split("/"))));
    await fsyncTree(this.#staging, skip);
  }
}

/** An interrupted build is in the way: name both ways out. */
function interruptedError(output: string, staging: string): StorageError {
  return new AlreadyExistsError(
    "convert",
    output,
    `was not finished: an interrupted conversion of it is in '${staging}' (use --resume to finish it, or --overwrite to start over)`,
  );
}

/**
 * Checks the output and staging locations against `mode` and returns the
 * staging folder to write into (created, with its manifest, when fresh).
 */
export async function openStaging(
  disk: StorageBackend,
  output: string,
  manifest: StagingManifest,
  mode: StagingMode,
): Promise<Staging> {
  const { join } = pathsOf(disk);
  const staging = stagingPath(output, disk);
  const outputExists = await disk.exists(output) || (await disk.stat(output)).type === "symlink";
  if (await disk.exists(staging)) {
    if (mode.resume) {
      const old = await readJson(disk, join(staging, MANIFEST)) as StagingManifest | undefined;
      if (!old || !sameManifest(old, manifest)) {
        throw new CliError(
          `'${staging}' holds an interrupted conversion of other input or settings than these (use --overwrite to start over)`,
        );
      }
      await removeLeftovers(disk, staging);
      const listed = await listedWells(disk, staging);
      // A build whose fsyncs were deferred is trusted whole only in the boot
      // it ran in (a crash of the process loses no written data); after a
      // reboot, only its checkpointed wells are.
      const sameBoot = old.bootId !== undefined && old.bootId === currentBootId();
      // A damaged `durable` (not a list of strings) vouches for no well.
      const recorded = old.durable;
      const durable = recorded === undefined ? listed : new Set(
        Array.isArray(recorded) ? recorded.filter((w): w is string => typeof w === "string") : [],
      );
      const trusted = sameBoot ? listed : durable;
      const done = new Set(manifest.wells.filter((w) => listed.has(w) && trusted.has(w)));
      return {
        path: staging,
        done,
        durable: new Set([...done].filter((w) => durable.has(w))),
        manifest: old,
      };
    }
    if (!mode.overwrite) throw interruptedError(output, staging);
    await disk.deleteAll(staging);
  } else if (outputExists && !mode.overwrite) {
    throw new AlreadyExistsError(
      "convert",
      output,
      mode.resume
        ? "already exists and is complete; nothing to resume (use --overwrite to replace it)"
        : "already exists (use --overwrite to replace it)",
    );
  }
  await disk.ensureDirectory(staging);
  await disk.save(
    new TextEncoder().encode(JSON.stringify(manifest, null, 2)),
    join(staging, MANIFEST),
    { overwrite: true },
  );
  return { path: staging, done: new Set(), durable: new Set(), manifest };
}

/** Half-written wells the Zarr backend stages (`.hcs-zarr-tmp-*`) from a killed run. */
async function removeLeftovers(b: StorageBackend, staging: string): Promise<void> {
  const { join } = pathsOf(b);
  for (const name of await b.listDir(staging)) {
    if (name.startsWith(".hcs-zarr-tmp-") || name.endsWith(".lock")) {
      const p = join(staging, name);
      if ((await b.stat(p)).type === "directory") await b.deleteAll(p);
      else await b.delete(p).catch(() => {});
    }
  }
}

/** Rewrites `polystore_output_paths` entries under `from/` to `to/` in every metadata file. */
async function retargetOutputPaths(
  b: StorageBackend,
  dir: string,
  from: string,
  to: string,
): Promise<void> {
  const { join } = pathsOf(b);
  const prefix = `${from}/`;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    for (const name of await b.listDir(d)) {
      const p = join(d, name);
      if (name !== "zarr.json" && name !== ".zattrs") {
        // Zarr v3 chunk folders hold no metadata.
        if (name !== "c" && (await b.stat(p)).type === "directory") stack.push(p);
        continue;
      }
      const text = new TextDecoder().decode(await b.load<Uint8Array>(p, { as: "bytes" }));
      if (!text.includes("polystore_output_paths")) continue;
      const json = JSON.parse(text) as Record<string, unknown>;
      const attrs = (name === "zarr.json" ? json.attributes : json) as
        | Record<string, unknown>
        | undefined;
      const paths = attrs?.polystore_output_paths;
      if (!Array.isArray(paths)) continue;
      attrs!.polystore_output_paths = paths.map((x) =>
        typeof x === "string" && x.startsWith(prefix) ? to + x.slice(from.length) : x
      );
      await b.save(new TextEncoder().encode(JSON.stringify(json, null, 2)), p, { overwrite: true });
    }
  }
}

/**
 * Turns a complete staging folder into the plate at `output`: drops the
 * manifest, retargets virtual paths, and renames it into place (an existing
 * plate, allowed by `--overwrite`, is moved aside first and removed after).
 * On object storage the rename is the backend's `move` (copy, then delete).
 */
export async function publish(
  disk: StorageBackend,
  staging: string,
  output: string,
): Promise<void> {
  const { join, dirname, basename } = pathsOf(disk);
  await removeLeftovers(disk, staging);
  // A build that recorded its final name has nothing to rewrite; an older
  // one (or one resumed from it) recorded the staging name.
  const manifest = await readJson(disk, join(staging, MANIFEST)) as StagingManifest | undefined;
  if (manifest?.recordedAs !== output) {
    await retargetOutputPaths(disk, staging, staging, output);
  }
  // Last, so a build killed before the rename can still be resumed.
  await disk.delete(join(staging, MANIFEST)).catch(() => {});
  let aside: string | undefined;
  if (await disk.exists(output) || (await disk.stat(output)).type === "symlink") {
    aside = join(dirname(output), `.${basename(output)}.old-${Date.now().toString(36)}`);
    await disk.move(output, aside);
  }
  try {
    await disk.move(staging, output);
  } catch (err) {
    if (aside) await disk.move(aside, output).catch(() => {});
    throw err;
  }
  if (aside) await disk.deleteAll(aside);
}
