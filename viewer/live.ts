/**
 * The live hub: fans preview frames from `stream` sinks out to every
 * connected viewer over Server-Sent Events, with bounded memory per client.
 *
 * Queue policy (per client): a frame is written at once while the client's
 * socket accepts data; once a write reports backpressure, later frames wait
 * in that client's queue, which holds at most `maxFrames` frames and
 * `maxBytes` bytes. When a frame would exceed either bound the OLDEST queued
 * frames are dropped (they are previews: the newest picture matters) and
 * counted in `dropped`. `publish` never waits: its cost is O(clients), so a
 * slow or stalled viewer can never hold up the pipeline.
 *
 * The hub knows nothing about HTTP servers: a client is anything with
 * `write(text): boolean` and a way to report `drain` and `close`.
 *
 * @module
 */

/** What the hub needs of a client connection (a `node:http` response fits). */
export interface LiveConnection {
  /** Writes text; false when the connection is backed up (wait for `drain`). */
  write(chunk: string): boolean;
  /** Subscribes to `drain` (room again), `close` (client gone) and `error` (write failed). */
  on(event: "drain" | "close" | "error", listener: () => void): unknown;
}

/** One preview frame as sent to viewers. */
export interface LiveFrame {
  /** Virtual path given to `save`. */
  path: string;
  /** Shape of the saved plane/array. */
  shape: number[];
  /** Data type name of the saved value (`uint16`, …). */
  dtype: string;
  /** Well row/column/field/channel/z/t parsed from the file name, where present. */
  coords: PlaneCoords;
  /** Preview: 8-bit grey, `height × width`, base64. */
  preview?: { width: number; height: number; data: string; low: number; high: number };
}

/** Coordinates parsed from a plane's name. */
export interface PlaneCoords {
  /** Well, e.g. `A01`. */
  well?: string;
  /** Row letters. */
  row?: string;
  /** Column number as written. */
  column?: string;
  /** Field (site) number as written. */
  field?: number;
  /** Channel number as written. */
  channel?: number;
  /** z index as written. */
  z?: number;
  /** Time point as written. */
  t?: number;
}

/** Options of {@linkcode LiveHub}. */
export interface LiveHubOptions {
  /** Most frames queued per client (default 32). */
  maxFrames?: number;
  /** Most bytes queued per client (default 8 MiB). */
  maxBytes?: number;
}

/** A client's counters. */
export interface LiveClientStats {
  /** Client number. */
  id: number;
  /** Frames written to the connection. */
  sent: number;
  /** Frames dropped by the queue policy. */
  dropped: number;
  /** Frames waiting now. */
  queued: number;
  /** Bytes waiting now. */
  queuedBytes: number;
  /** Waiting for `drain`. */
  blocked: boolean;
}

interface Client extends LiveClientStats {
  conn: LiveConnection;
  queue: string[];
}

/**
 * Fans frames out to SSE clients.
 *
 * @example
 * ```ts
 * import { LiveHub } from "./live.ts";
 * const hub = new LiveHub();
 * console.assert(hub.clientCount === 0);
 * hub.publish({ path: "/p/A01_s1_w1.tif", shape: [2, 2], dtype: "uint8", coords: {} }); // no-op
 * ```
 */
export class LiveHub {
  /** Per-client frame bound. */
  readonly maxFrames: number;
  /** Per-client byte bound. */
  readonly maxBytes: number;
  #clients = new Map<number, Client>();
  #next = 1;
  #seq = 0;
  #watchers = new Set<(count: number) => void>();

  /** Creates a hub with the given queue bounds. */
  constructor(options: LiveHubOptions = {}) {
    this.maxFrames = options.maxFrames ?? 32;
    this.maxBytes = options.maxBytes ?? 8 * 2 ** 20;
    if (!(Number.isInteger(this.maxFrames) && this.maxFrames >= 1)) {
      throw new RangeError("maxFrames must be an integer ≥ 1");
    }
    if (!(Number.isInteger(this.maxBytes) && this.maxBytes >= 1)) {
      throw new RangeError("maxBytes must be an integer ≥ 1");
    }
  }

  /** Number of connected viewers. */
  get clientCount(): number {
    return this.#clients.size;
  }

  /** Frames published so far (the next frame's `seq` is this + 1). */
  get published(): number {
    return this.#seq;
  }

  /** Counters of every connected client. */
  stats(): LiveClientStats[] {
    return [...this.#clients.values()].map(({ conn: _c, queue: _q, ...s }) => ({ ...s }));
  }

  /** Calls `fn` with the client count now and on every change; returns an unsubscribe. */
  watch(fn: (count: number) => void): () => void {
    this.#watchers.add(fn);
    fn(this.#clients.size);
    return () => this.#watchers.delete(fn);
  }

  /** Adds a viewer connection (already sent its SSE headers); returns its id. */
  attach(conn: LiveConnection): number {
    const id = this.#next++;
    const c: Client = {
      id,
      conn,
      queue: [],
      sent: 0,
      dropped: 0,
      queued: 0,
      queuedBytes: 0,
      blocked: false,
    };
    this.#clients.set(id, c);
    conn.on("drain", () => this.#drain(c));
    conn.on("close", () => this.detach(id));
    conn.on("error", () => this.detach(id)); // a vanished client must not crash the process
    this.#write(c, `event: hello\ndata: {"published":${this.#seq}}\n\n`);
    this.#notify();
    return id;
  }

  /** Removes a client. */
  detach(id: number): void {
    if (this.#clients.delete(id)) this.#notify();
  }

  /** Sends a frame to every client under the queue policy; never waits. */
  publish(frame: LiveFrame): void {
    if (this.#clients.size === 0) return;
    const seq = ++this.#seq;
    const text = `id: ${seq}\nevent: plane\ndata: ${JSON.stringify({ seq, ...frame })}\n\n`;
    for (const c of this.#clients.values()) {
      if (!c.blocked && c.queue.length === 0) this.#write(c, text);
      else this.#enqueue(c, text);
    }
  }

  #enqueue(c: Client, text: string): void {
    c.queue.push(text);
    c.queued++;
    c.queuedBytes += text.length;
    while (c.queue.length > 1 && (c.queued > this.maxFrames || c.queuedBytes > this.maxBytes)) {
      const old = c.queue.shift()!;
      c.queued--;
      c.queuedBytes -= old.length;
      c.dropped++;
    }
    if (c.queuedBytes > this.maxBytes) {
      // A single frame over the byte bound is dropped too.
      c.queue.length = 0;
      c.queued = 0;
      c.queuedBytes = 0;
      c.dropped++;
    }
  }

  #write(c: Client, text: string): void {
    c.sent++;
    try {
      if (!c.conn.write(text)) c.blocked = true;
    } catch {
      this.detach(c.id);
    }
  }

  #drain(c: Client): void {
    c.blocked = false;
    while (!c.blocked && c.queue.length > 0) {
      const t = c.queue.shift()!;
      c.queued--;
      c.queuedBytes -= t.length;
      this.#write(c, t);
    }
  }

  #notify(): void {
    for (const fn of this.#watchers) fn(this.#clients.size);
  }
}

let processHub: LiveHub | undefined;

/** The process-wide hub that the registry's `stream` backend and `hcs-store view` share. */
export function defaultHub(): LiveHub {
  return processHub ??= new LiveHub();
}
