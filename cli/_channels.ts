/**
 * Channel names and colours for previews, from a plate's own metadata: the
 * NGFF `omero` block of the first field (written by most OME-Zarr tools), or
 * else the channel labels this library records (`polystore_dimensions`, the
 * labels taken from the file names at `convert`). Absent or malformed entries
 * are simply not used: a preview then falls back to `C0…` and the palette.
 *
 * @module
 */

import { join } from "../_internal/paths.ts";
import type { ByteStore } from "../zarr/store.ts";
import { readOptional } from "../zarr/store.ts";
import type { Rgb } from "./_montage.ts";

/** What the plate says about its channels (entries may be missing). */
export interface ChannelMeta {
  /** Names by channel index. */
  names: (string | undefined)[];
  /** Colours by channel index. */
  colors: (Rgb | undefined)[];
}

type Json = Record<string, unknown>;

async function attrsAt(store: ByteStore, dir: string): Promise<Json | undefined> {
  for (const [name, v3] of [["zarr.json", true], [".zattrs", false]] as const) {
    let text: string;
    try {
      const bytes = await readOptional(store, join(dir, name));
      if (bytes === undefined) continue;
      text = new TextDecoder().decode(bytes);
    } catch {
      continue;
    }
    try {
      const json = JSON.parse(text) as Json;
      const attrs = (v3 ? json.attributes : json) as Json | undefined;
      if (!attrs || typeof attrs !== "object") return undefined;
      return { ...attrs, ...((attrs.ome ?? {}) as Json) };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** `"FF00FF"` → `[255, 0, 255]`; anything else undefined. */
export function parseColor(v: unknown): Rgb | undefined {
  if (typeof v !== "string" || !/^#?[0-9a-f]{6}$/i.test(v)) return undefined;
  const n = parseInt(v.replace("#", ""), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function label(v: unknown): string | undefined {
  // Bounded: a legend line, not a place for a novel.
  return typeof v === "string" && v.trim() !== "" ? v.trim().slice(0, 24) : undefined;
}

/** Reads the channel metadata of field `field` of the well at `wellPath` in `plate` on `store`. */
export async function readChannelMeta(
  store: ByteStore,
  plate: string,
  wellPath: string,
  field: string,
): Promise<ChannelMeta> {
  const out: ChannelMeta = { names: [], colors: [] };
  const fieldDir = join(plate, wellPath, field);
  const attrs = await attrsAt(store, fieldDir);
  const omero = (attrs?.omero as { channels?: unknown } | undefined)?.channels;
  if (Array.isArray(omero)) {
    omero.slice(0, 64).forEach((c: { label?: unknown; color?: unknown } | null, i) => {
      out.names[i] = label(c?.label);
      out.colors[i] = parseColor(c?.color);
    });
  }
  if (out.names.some((n) => n !== undefined)) return out;
  const ms = (attrs?.multiscales as { datasets?: { path?: unknown }[] }[] | undefined)?.[0];
  const dataset = ms?.datasets?.[0]?.path;
  if (typeof dataset !== "string" || dataset.includes("..")) return out;
  const arrayAttrs = await attrsAt(store, join(fieldDir, dataset));
  const dims = arrayAttrs?.polystore_dimensions as Record<string, unknown> | undefined;
  const channel = dims?.channel as { values?: unknown } | undefined;
  if (Array.isArray(channel?.values)) {
    channel.values.slice(0, 64).forEach((v: unknown, i: number) => {
      // Bare numbers (ImageXpress w1, w2…) read better as "ch 1".
      const text = typeof v === "number" ? String(v) : v;
      out.names[i] = label(typeof text === "string" && /^\d+$/.test(text) ? `ch ${text}` : text);
    });
  }
  return out;
}
