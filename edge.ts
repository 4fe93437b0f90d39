/**
 * The edge entry point of hcs-store: the core (typed errors, the contract
 * types, the registry), the memory backend, the HTTP backend, the S3 backend
 * and the Zarr backend, with nothing that imports `node:*` or `bun:*`. It runs on
 * Cloudflare workerd, Deno Deploy, browsers, and of course Deno, Bun and Node.
 *
 * Registry entries stay lazy: the `disk` backend, its FFI bulk reader and
 * the cross-process file lock are reached through `import()` alone, never on
 * a runtime without a filesystem, so a bundler keeps them external (the
 * README's "Bundling for the edge" gives the command; tests/edge_workerd.test.ts
 * runs it and the bundle in workerd).
 *
 * Importing this entry replaces zarrita's zstd and blosc chunk decoders with
 * pure-JS ones (`_internal/codecs/`): the default ones compile WebAssembly at
 * run time, which workerd forbids. Encoding still uses the WebAssembly codecs.
 *
 * @example Read a plane of an OME-Zarr plate served over HTTP
 * ```ts
 * import { HttpBackend, ZarrBackend } from "@hcs/store/edge";
 * const http = new HttpBackend({ baseUrl: "https://example.org/data/", retries: 2 });
 * const zarr = new ZarrBackend({ store: http });
 * console.assert(zarr.key === "zarr");
 * // const plane = await zarr.load("/plate/images/A01_f0.tif");
 * ```
 *
 * @module
 */

import { installPureDecoders } from "./_internal/codecs/zarrita_pure.ts";

installPureDecoders();

export * from "./core.ts";
export { MemoryBackend } from "./backends/memory.ts";
export {
  HttpBackend,
  type HttpBackendOptions,
  type HttpHeaders,
  type HttpListOptions,
  type HttpLoadOptions,
} from "./backends/http.ts";
export {
  S3Backend,
  type S3BackendOptions,
  type S3CallOptions,
  type S3Credentials,
  type S3LoadOptions,
  type S3SaveOptions,
} from "./backends/s3.ts";
export type { ByteStore } from "./zarr/store.ts";
export {
  type BackendResolver,
  type ChannelInfo,
  type Compression,
  type DownsampleMode,
  type NgffVersion,
  type PixelSize,
  type PlateAxis,
  ZarrBackend,
  type ZarrBackendOptions,
  type ZarrLoadOptions,
  type ZarrSaveOptions,
} from "./backends/zarr.ts";
