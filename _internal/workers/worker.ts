/**
 * Entry of a codec worker: runs jobs of `jobs.ts` one message at a time and
 * answers `{ id, ok, value }` (moving the value's buffers back) or
 * `{ id, ok: false, error }` (a plain record the pool turns back into the
 * same typed error). Uses only web-style worker globals (`onmessage`,
 * `postMessage`); under Node, `ffi/worker_host.ts` installs them first.
 *
 * @module
 */

import { errorRecord, type JobName, JOBS } from "./jobs.ts";

interface Request {
  id: number;
  name: JobName;
  args: unknown;
}

const scope = globalThis as unknown as {
  onmessage: ((e: { data: Request }) => void) | null;
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
};

scope.onmessage = async (e) => {
  const { id, name, args } = e.data;
  try {
    const run = JOBS[name] as (a: unknown) => Promise<{ value: unknown; transfer: ArrayBuffer[] }>;
    const out = await run(args);
    scope.postMessage({ id, ok: true, value: out.value }, out.transfer);
  } catch (err) {
    scope.postMessage({ id, ok: false, error: errorRecord(err) });
  }
};
