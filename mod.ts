/**
 * hcs-store: one storage contract (save / load / batches / listings /
 * filesystem operations) over disk, memory, OME-Zarr, HTTP and virtual
 * workspaces, with a registry that picks the implementation fitting the
 * runtime.
 *
 * This entry loads no backend: each one is imported on first
 * {@linkcode getBackend} call, so `node:fs`, `zarrita` and FFI code are only
 * loaded by programs that use them.
 *
 * @example
 * ```ts
 * import { getBackend, NotFoundError } from "@hcs/store";
 *
 * const store = await getBackend("memory");
 * await store.ensureDirectory("/plate");
 * await store.save({ hello: "world" }, "/plate/meta.json", { overwrite: true });
 * console.assert((await store.listFiles("/plate"))[0] === "/plate/meta.json");
 * await store.load("/plate/missing.json").catch((e) => console.assert(e instanceof NotFoundError));
 * ```
 *
 * @module
 */

export * from "./core.ts";
export {
  type BackendResolver,
  type CollectOptions,
  DEFAULT_IMAGE_EXTENSIONS,
  type DirsAndFiles,
  FileManager,
  HASH_ALGORITHMS,
  type HashOptions,
  type ListImageFilesOptions,
  type MirrorOptions,
  type PassThrough,
} from "./file_manager.ts";
export {
  atomicUpdateJson,
  type AtomicUpdateJsonOptions,
  atomicWriteJson,
  type AtomicWriteJsonOptions,
} from "./json/lazy.ts";
