/**
 * Pure-JavaScript chunk decoders for zarrita's `zstd` and `blosc` codecs
 * (and their `numcodecs.*` Zarr v2 names). zarrita's defaults compile
 * numcodecs' WebAssembly at run time, which workerd forbids; the edge entry
 * installs these instead. Encoding still loads the WebAssembly codec (on
 * first use), so writing zstd/blosc works wherever it did before.
 *
 * Each decoder is bounded by the chunk's own size (chunk shape × element
 * size) when the data type is known, else by `DEFAULT_MAX_DECODED_BYTES`.
 *
 * @module
 */
import * as zarr from "npm:zarrita@^0.7.5";
import { DEFAULT_MAX_DECODED_BYTES } from "../limits.ts";
import { bloscDecode } from "./blosc.ts";
import { zstdDecode } from "./zstd.ts";

const ELEMENT_BYTES: Record<string, number> = {
  bool: 1,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  float16: 2,
  int32: 4,
  uint32: 4,
  float32: 4,
  int64: 8,
  uint64: 8,
  float64: 8,
};

interface ChunkMeta {
  dataType?: unknown;
  shape?: unknown;
}

/** Largest decoded size a chunk with `meta` can legitimately have. */
export function chunkLimit(meta: unknown): number {
  const m = (meta ?? {}) as ChunkMeta;
  const size = typeof m.dataType === "string" ? ELEMENT_BYTES[m.dataType] : undefined;
  if (size === undefined || !Array.isArray(m.shape)) return DEFAULT_MAX_DECODED_BYTES;
  let n = size;
  for (const d of m.shape) {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
      return DEFAULT_MAX_DECODED_BYTES;
    }
    n *= d;
  }
  return Math.min(n, DEFAULT_MAX_DECODED_BYTES);
}

type Registry = Map<string, () => Promise<unknown>>;
type Loaded = { fromConfig(config: unknown, meta: unknown): { encode(b: Uint8Array): unknown } };

const INSTALLED = Symbol.for("hcs-store.pure-decoders");

/**
 * Replaces zarrita's `zstd`/`blosc` decoders with the pure-JS ones (once per
 * process; later calls do nothing). Returns the codec names it covers.
 */
export function installPureDecoders(): string[] {
  const registry = zarr.registry as unknown as Registry & { [INSTALLED]?: string[] };
  if (registry[INSTALLED]) return registry[INSTALLED];
  const decoders = {
    zstd: (b: Uint8Array, limit: number) => zstdDecode(b, limit, "<zstd chunk>"),
    blosc: (b: Uint8Array, limit: number) => bloscDecode(b, limit, "<blosc chunk>"),
  };
  const names: string[] = [];
  const originals = new Map<string, ReturnType<Registry["get"]>>();
  for (const [name, decode] of Object.entries(decoders)) {
    for (const key of [name, `numcodecs.${name}`]) {
      const original = registry.get(key);
      originals.set(key, original);
      registry.set(key, () =>
        Promise.resolve({
          kind: "bytes_to_bytes",
          fromConfig(config: unknown, meta: unknown) {
            const limit = chunkLimit(meta);
            let encoder: Promise<{ encode(b: Uint8Array): unknown }> | undefined;
            return {
              kind: "bytes_to_bytes",
              async encode(bytes: Uint8Array): Promise<Uint8Array> {
                if (!original) throw new Error(`no ${key} encoder`);
                encoder ??= original().then((c) => (c as Loaded).fromConfig(config, meta));
                return (await (await encoder).encode(bytes)) as Uint8Array;
              },
              decode(bytes: Uint8Array): Uint8Array {
                return decode(bytes, limit);
              },
            };
          },
        }));
      names.push(key);
    }
  }
  registry[INSTALLED] = names;
  (registry as unknown as Record<symbol, unknown>)[ORIGINALS] = originals;
  return names;
}

const ORIGINALS = Symbol.for("hcs-store.pure-decoders.originals");

/**
 * Puts zarrita's own `zstd`/`blosc` codecs back (undoes
 * {@linkcode installPureDecoders}). A codec worker serves callers with and
 * without the pure decoders, and must decode each job as its caller would.
 */
export function uninstallPureDecoders(): void {
  const registry = zarr.registry as unknown as Registry & { [INSTALLED]?: string[] };
  const originals = (registry as unknown as Record<symbol, unknown>)[ORIGINALS] as
    | Map<string, ReturnType<Registry["get"]>>
    | undefined;
  if (!registry[INSTALLED] || !originals) return;
  for (const [key, original] of originals) {
    if (original) registry.set(key, original);
    else registry.delete(key);
  }
  delete registry[INSTALLED];
  delete (registry as unknown as Record<symbol, unknown>)[ORIGINALS];
}
