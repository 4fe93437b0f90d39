/**
 * The runtime-neutral core shared by the main entry (`mod.ts`) and the edge
 * entry (`edge.ts`): typed errors, the contract types and the registry. It
 * imports no backend, no `node:*` and no `bun:*` module.
 *
 * @example
 * ```ts
 * import { createRegistry, NotFoundError } from "@hcs/store";
 * const reg = createRegistry();
 * const mem = await reg.getBackend("memory");
 * await mem.load("/missing.txt").catch((e) => console.assert(e instanceof NotFoundError));
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export type {
  AnyBackend,
  BackendBase,
  BackendResolver,
  CapableBackend,
  ConditionalWriter,
  CrossProcessLocker,
  DataSink,
  DataSource,
  FilesystemOps,
  JsonValue,
  ListOptions,
  LiteralPath,
  LoadBytesOptions,
  LoadedValue,
  LoadOptions,
  NdArray,
  RangeReader,
  ReadOnlyBackend,
  SaveOptions,
  StatResult,
  StorageBackend,
  StorageValue,
  StoreCapabilities,
  SymlinkOptions,
  TypedArray,
  VersionedBytes,
  VirtualBackend,
} from "./backends/base.ts";
export {
  AbstractStorageBackend,
  CAPABILITY_METHODS,
  checkCapabilities,
  isNdArray,
} from "./backends/base.ts";
export {
  type BackendDescription,
  type BackendEntry,
  type BackendKey,
  backendKey,
  type BackendProvider,
  type BuiltinBackendKey,
  type BuiltinBackendOf,
  type BuiltinBackends,
  type BuiltinKeyArg,
  createRegistry,
  describeBackends,
  getBackend,
  type ImplementationPlan,
  type LoadContext,
  registerBackend,
  Registry,
  resetMemoryBackend,
  storageRegistry,
} from "./registry/registry.ts";
export { runtime, type RuntimeInfo, type RuntimeName } from "./registry/runtime.ts";
