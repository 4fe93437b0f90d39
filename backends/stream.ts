/**
 * The `stream` sink (registry key `"stream"`): `save`/`saveBatch` push each
 * plane — its virtual path, shape, dtype, the well/field/channel/z/t parsed
 * from its file name, and an 8-bit preview — to every viewer watching
 * (`hcs-store view`, "Live" tab). It stores nothing.
 *
 * Two targets: an in-process {@linkcode LiveHub} (default: the process hub a
 * `view` server in this process uses), or `url`, a viewer server in another
 * process: the sink then follows that server's viewer count over SSE
 * (`/live/viewers`) and POSTs frames to `/live/push`.
 *
 * Cost and bounds: with no viewer connected a save returns before looking at
 * the data (a counter check). With viewers, a save builds a preview (2×
 * area-mean downsampling to at most `previewSize` px, 0.1–99.9 percentile
 * window) and hands it on without waiting: the hub's per-client queues drop
 * the oldest frames for slow viewers; the remote outbox holds at most
 * `maxPending` frames (oldest dropped) with one POST in flight. Saves before
 * the remote viewer count is known are no-ops (await `connect()` first).
 *
 * @module
 */
import { UnsupportedOperationError } from "../errors.ts";
import {
  isNdArray,
  type NdArray,
  type SaveOptions,
  type StorageValue,
  type TypedArray,
  type VirtualBackend,
} from "./base.ts";
import { defaultHub, type LiveFrame, type LiveHub, type PlaneCoords } from "../viewer/live.ts";
import { downsample2x } from "../zarr/pyramid.ts";
import { ChannelStats } from "../zarr/omero.ts";

export type {
  LiveClientStats,
  LiveConnection,
  LiveFrame,
  LiveHub,
  PlaneCoords,
} from "../viewer/live.ts";
// The contract types this entry's API refers to, so it documents them on its own.
export type * from "./base.ts";

/** Options of {@linkcode StreamBackend}. */
export interface StreamBackendOptions {
  /** In-process hub (default: the process hub, unless `url` is given). */
  hub?: LiveHub;
  /** Base URL of a viewer server in another process (`http://127.0.0.1:PORT/`). */
  url?: string;
  /** Longest side of a preview in pixels (default 256). */
  previewSize?: number;
  /** Remote target: frames waiting to be POSTed before the oldest is dropped (default 8). */
  maxPending?: number;
  /** `fetch` for the remote target (default: the global one). */
  fetch?: typeof fetch;
}

const ROW_RE = /^[A-Z]{1,2}$/;

function rowName(n: number): string {
  let s = "";
  for (let v = n; v > 0; v = Math.floor((v - 1) / 26)) {
    s = String.fromCharCode(65 + ((v - 1) % 26)) + s;
  }
  return s;
}

/**
 * Well, field, channel, z and t from a plane's file name, as microscope
 * exports write them: ImageXpress `A01_s2_w1_z3_t1.tif`, Opera/Operetta
 * `r01c02f03p04-ch1sk1fk1fl1.tiff`, and generic `A01_f0_c1_z2.tif`.
 *
 * @example
 * ```ts
 * import { parsePlaneName } from "./stream.ts";
 * const c = parsePlaneName("/plate/B03_s2_w1.tif");
 * console.assert(c.well === "B03" && c.field === 2 && c.channel === 1);
 * ```
 */
export function parsePlaneName(path: string): PlaneCoords {
  const name = path.slice(path.lastIndexOf("/") + 1).replace(/\.[A-Za-z0-9]+$/, "");
  const out: PlaneCoords = {};
  const op = /^r(\d{1,3})c(\d{1,3})f(\d{1,4})(?:p(\d{1,4}))?-ch(\d{1,3})(?:sk(\d+))?/i.exec(name);
  if (op) {
    out.row = rowName(Number(op[1]));
    out.column = op[2]!;
    out.well = `${out.row}${out.column}`;
    out.field = Number(op[3]);
    if (op[4] !== undefined) out.z = Number(op[4]);
    out.channel = Number(op[5]);
    if (op[6] !== undefined) out.t = Number(op[6]);
    return out;
  }
  const parts = name.split(/[_\-.]/);
  for (const p of parts) {
    const w = /^([A-Z]{1,2})(\d{1,3})$/.exec(p);
    if (w && out.well === undefined && ROW_RE.test(w[1]!)) {
      out.row = w[1]!;
      out.column = w[2]!;
      out.well = p;
      continue;
    }
    const k = /^(s|f|site|fld|w|c|ch|z|t)(\d+)$/i.exec(p);
    if (!k) continue;
    const v = Number(k[2]);
    const tag = k[1]!.toLowerCase();
    if (tag === "s" || tag === "f" || tag === "site" || tag === "fld") out.field ??= v;
    else if (tag === "w" || tag === "c" || tag === "ch") out.channel ??= v;
    else if (tag === "z") out.z ??= v;
    else out.t ??= v;
  }
  return out;
}

const DTYPE_NAMES: [new (n: number) => TypedArray, string][] = [
  [Uint8Array, "uint8"],
  [Uint8ClampedArray as unknown as new (n: number) => TypedArray, "uint8"],
  [Int8Array, "int8"],
  [Uint16Array, "uint16"],
  [Int16Array, "int16"],
  [Uint32Array, "uint32"],
  [Int32Array, "int32"],
  [Float32Array, "float32"],
  [Float64Array, "float64"],
  [BigInt64Array, "int64"],
  [BigUint64Array, "uint64"],
];

function dtypeName(data: TypedArray): string {
  return DTYPE_NAMES.find(([c]) => data instanceof c)?.[1] ?? "unknown";
}

/** The first plane (last two axes) of an array, C-contiguous (a view when it already is). */
function firstPlane(a: NdArray): { data: TypedArray; h: number; w: number } {
  const n = a.shape.length;
  const h = n >= 2 ? a.shape[n - 2]! : 1;
  const w = n >= 1 ? a.shape[n - 1]! : 1;
  const sy = n >= 2 ? a.stride[n - 2]! : 0;
  const sx = n >= 1 ? a.stride[n - 1]! : 0;
  if (sx === 1 && (sy === w || h === 1) && a.data.length >= h * w) {
    return { data: a.data.subarray(0, h * w) as TypedArray, h, w };
  }
  const big = a.data instanceof BigInt64Array || a.data instanceof BigUint64Array;
  const out = big
    ? new Float64Array(h * w)
    : new (a.data.constructor as new (n: number) => TypedArray)(h * w);
  const src = a.data as unknown as ArrayLike<number | bigint>;
  const dst = out as unknown as { [i: number]: number };
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) dst[y * w + x] = Number(src[y * sy + x * sx] ?? 0);
  }
  return { data: out, h, w };
}

function base64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000) as unknown as number[]);
  }
  return btoa(bin);
}

/** An 8-bit preview of an array's first plane, at most `size` px on its longer side. */
export function previewOf(a: NdArray, size = 256): NonNullable<LiveFrame["preview"]> {
  let { data, h, w } = firstPlane(a);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    data = Float64Array.from(data, Number);
  }
  while (Math.max(h, w) > size) {
    data = downsample2x(data, h, w);
    h = Math.ceil(h / 2);
    w = Math.ceil(w / 2);
  }
  const stats = new ChannelStats();
  stats.add(data);
  const win = stats.window();
  const span = Math.max(1e-12, win.end - win.start);
  const k = 255 / span;
  const out = new Uint8ClampedArray(data.length); // clamps and rounds (half to even)
  for (let i = 0; i < data.length; i++) out[i] = ((data[i] as number) - win.start) * k;
  return {
    width: w,
    height: h,
    data: base64(new Uint8Array(out.buffer)),
    low: win.start,
    high: win.end,
  };
}

/**
 * The `stream` sink.
 *
 * @example Nobody watching: saves are no-ops
 * ```ts
 * import { StreamBackend } from "./stream.ts";
 * import { LiveHub } from "../viewer/live.ts";
 * const s = new StreamBackend({ hub: new LiveHub() });
 * await s.save({ data: new Uint16Array(4), shape: [2, 2], stride: [2, 1] }, "/p/A01_s1_w1.tif");
 * console.assert(s.viewers === 0 && s.sent === 0);
 * ```
 */
export class StreamBackend implements VirtualBackend {
  /** Registry key. */
  readonly key = "stream";
  /** No filesystem namespace. */
  readonly requiresFilesystemValidation = false;
  /** Where frames go. */
  readonly implementation: string;
  #hub: LiveHub | undefined;
  #url: string | undefined;
  #fetch: typeof fetch;
  #previewSize: number;
  #maxPending: number;
  #remoteViewers = 0;
  #pending: LiveFrame[] = [];
  #inFlight: Promise<void> | undefined;
  #idle: (() => void)[] = [];
  #abort = new AbortController();
  #connected: Promise<void> | undefined;
  #sent = 0;
  #dropped = 0;
  #closed = false;

  /** Creates the sink; with `url` it starts following that server's viewer count. */
  constructor(options: StreamBackendOptions = {}) {
    this.#previewSize = options.previewSize ?? 256;
    this.#maxPending = options.maxPending ?? 8;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    if (options.url !== undefined) {
      this.#url = new URL(options.url).href.replace(/\/?$/, "/");
      this.implementation = `remote(${this.#url})`;
      this.#connected = this.#follow();
      this.#connected.catch(() => {});
    } else {
      this.#hub = options.hub ?? defaultHub();
      this.implementation = "in-process";
    }
  }

  /** Viewers connected now. */
  get viewers(): number {
    return this.#hub ? this.#hub.clientCount : this.#remoteViewers;
  }

  /** Frames handed on (to the hub, or POSTed). */
  get sent(): number {
    return this.#sent;
  }

  /** Frames the remote outbox dropped (hub drops are in the hub's client stats). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Remote target: resolves once the viewer count is known (no-op in-process). */
  async connect(): Promise<void> {
    await this.#connected;
  }

  async #follow(): Promise<void> {
    let first: (() => void) | undefined;
    let failed: ((e: unknown) => void) | undefined;
    const known = new Promise<void>((res, rej) => ((first = res), (failed = rej)));
    const loop = async () => {
      while (!this.#closed) {
        try {
          const r = await this.#fetch(`${this.#url}live/viewers`, { signal: this.#abort.signal });
          if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
          const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = "";
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            buf += value;
            let i;
            while ((i = buf.indexOf("\n\n")) >= 0) {
              const m = /^data: (\d+)/m.exec(buf.slice(0, i));
              buf = buf.slice(i + 2);
              if (m) {
                this.#remoteViewers = Number(m[1]);
                first?.();
              }
            }
          }
        } catch (err) {
          if (this.#closed) return;
          failed?.(err);
          failed = undefined;
        }
        this.#remoteViewers = 0;
        if (!this.#closed) {
          await new Promise<void>((r) => {
            const t = setTimeout(r, 500) as unknown as { unref?: () => void };
            t.unref?.(); // Node/Bun: a retry timer alone does not keep the process alive
          });
        }
      }
    };
    loop();
    await known;
  }

  /** Pushes one value to every viewer (a no-op when none is connected). */
  save(data: StorageValue, path: string, _options?: SaveOptions): Promise<void> {
    if (this.viewers === 0 || this.#closed) return Promise.resolve();
    this.#emit(this.#frame(data, path));
    return Promise.resolve();
  }

  /** Pushes every value of a batch, in order. */
  saveBatch(
    data: readonly StorageValue[],
    paths: readonly string[],
    _options?: SaveOptions,
  ): Promise<void> {
    if (data.length !== paths.length) {
      throw new RangeError(`saveBatch: ${data.length} values for ${paths.length} paths`);
    }
    if (this.viewers === 0 || this.#closed) return Promise.resolve();
    for (let i = 0; i < data.length; i++) this.#emit(this.#frame(data[i]!, paths[i]!));
    return Promise.resolve();
  }

  #frame(data: StorageValue, path: string): LiveFrame {
    const coords = parsePlaneName(path);
    if (isNdArray(data)) {
      return {
        path,
        shape: [...data.shape],
        dtype: dtypeName(data.data),
        coords,
        preview: previewOf(data, this.#previewSize),
      };
    }
    const kind = data instanceof Uint8Array ? "bytes" : typeof data === "string" ? "text" : "json";
    return { path, shape: [], dtype: kind, coords };
  }

  #emit(frame: LiveFrame): void {
    if (this.#hub) {
      this.#hub.publish(frame);
      this.#sent++;
      return;
    }
    this.#pending.push(frame);
    while (this.#pending.length > this.#maxPending) {
      this.#pending.shift();
      this.#dropped++;
    }
    this.#pump();
  }

  #pump(): void {
    if (this.#inFlight) return;
    const next = this.#pending.shift();
    if (!next) {
      for (const f of this.#idle.splice(0)) f();
      return;
    }
    this.#inFlight = this.#fetch(`${this.#url}live/push`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(next),
      signal: this.#abort.signal,
    }).then(async (r) => {
      await r.body?.cancel();
      if (r.ok) this.#sent++;
      else this.#dropped++;
    }, () => {
      this.#dropped++;
    }).finally(() => {
      this.#inFlight = undefined;
      this.#pump();
    });
  }

  /** Resolves when every frame handed to the remote outbox has been POSTed (or dropped). */
  flush(): Promise<void> {
    if (!this.#inFlight && this.#pending.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  /** Stops following the remote server; later saves are no-ops. */
  close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort();
    for (const f of this.#idle.splice(0)) f();
    return Promise.resolve();
  }

  /** The stream stores nothing: always refused. */
  load<T = StorageValue>(path: string): Promise<T> {
    return Promise.reject(
      new UnsupportedOperationError("load", path, "the stream sink stores nothing"),
    );
  }

  /** The stream stores nothing: always refused. */
  loadBatch<T = StorageValue>(paths: readonly string[]): Promise<T[]> {
    return Promise.reject(
      new UnsupportedOperationError("loadBatch", paths[0] ?? "", "the stream sink stores nothing"),
    );
  }

  /** Nothing is stored, so nothing is listed. */
  listFiles(_dir: string): Promise<string[]> {
    return Promise.resolve([]);
  }
}
