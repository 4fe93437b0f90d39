/**
 * Options of the Zarr backend (`ZarrBackend` in `backends/zarr.ts`, which
 * re-exports these types as part of `@hcs/store/zarr`).
 *
 * @module
 */

import type { BackendResolver, LoadOptions, SaveOptions } from "../backends/base.ts";
import type { Compression } from "./codec.ts";
import type { NgffVersion, PlateAxis } from "./batch.ts";
import type { ByteStore } from "./store.ts";
import type { DownsampleMode } from "./pyramid.ts";
import type { ChannelInfo, PixelSize } from "./omero.ts";

export type { BackendResolver };

/** Options of the {@linkcode ZarrBackend} constructor. */
export interface ZarrBackendOptions {
  /** The byte store (default: the registry's `"disk"` backend, resolved on first use). */
  store?: ByteStore;
  /** Where to resolve `"disk"` when no store is given (default: the process registry). */
  registry?: BackendResolver;
  /** NGFF version written by default: `"0.5"` (Zarr v3, default) or `"0.4"` (Zarr v2, OpenHCS). */
  ngff?: NgffVersion;
  /** Chunk compression (default `"zlib"`, pure JS). */
  compression?: Compression;
  /** Compression level (codec default if omitted). */
  level?: number;
  /** Plate chunking: one chunk per plane (default) or per field array (`"well"`). */
  chunks?: "plane" | "well";
  /**
   * Largest decoded value (an array or a plane) in bytes; default
   * `DEFAULT_MAX_DECODED_BYTES` (1 GiB). Also accepted per `load`/`loadBatch`.
   */
  maxDecodedBytes?: number;
}

/** Options of `save`/`saveBatch` on the Zarr backend. */
export interface ZarrSaveOptions extends SaveOptions {
  /** Plate row: makes `saveBatch` write an HCS plate well. */
  row?: string;
  /** Plate column (kept as given). */
  column?: string | number;
  /** Leading axes of a plate batch (default: one image axis `field`). */
  axes?: readonly PlateAxis[];
  /** Per plane: its index on each axis. */
  coordinates?: readonly (readonly number[])[];
  /** NGFF version for this call. */
  ngff?: NgffVersion;
  /** Compression for this call. */
  compression?: Compression;
  /** Compression level for this call. */
  level?: number;
  /** Plates: `"plane"` or `"well"`. Single arrays: also an explicit chunk shape. */
  chunks?: "plane" | "well" | readonly number[];
  /** Plate name written to new plate metadata (default: the store directory's name). */
  plateName?: string;
  /** Plates: pyramid levels "0".."n": a count, or `"auto"` (until one tile). Default 1. */
  levels?: number | "auto";
  /** Plates: smallest side a pyramid level may have (default 1). */
  minLevelSize?: number;
  /** Plates: `"auto"` levels stop when the coarsest fits this tile (default 256). */
  tileSize?: number;
  /** Plates: `"mean"` (intensity, default) or `"nearest"` (labels) downsampling. */
  downsample?: DownsampleMode;
  /** Plates: physical pixel size (µm, or `{ x, y, z?, unit }`). */
  pixelSize?: PixelSize;
  /** Plates: channel names and colours for the `omero` block. */
  channels?: readonly ChannelInfo[];
  /**
   * Plates: the caller gives the planes up. Their buffers may be moved to the
   * codec worker pool and come back detached (`byteLength` 0), so level-0
   * chunks are compressed off-thread without a copy. Default false: the
   * caller's arrays are left intact and level 0 is compressed on this thread.
   */
  transferPlanes?: boolean;
  /**
   * Plates: the store path that each field's `polystore_output_paths`
   * records in place of the store written to (default: that store). For a
   * plate built under a staging name and renamed into place, as
   * `hcs-store convert` does, so nothing is rewritten at the rename.
   */
  recordStoreAs?: string;
}

/** Options of `load`/`loadBatch` on the Zarr backend. */
export interface ZarrLoadOptions extends LoadOptions {
  /** Largest decoded array or plane in bytes for this call (default: the backend's). */
  maxDecodedBytes?: number;
}
