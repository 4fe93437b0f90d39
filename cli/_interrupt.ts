/**
 * Ctrl-C and `kill`: while a long command runs, SIGINT and SIGTERM abort an
 * `AbortSignal` instead of killing the process, so the command stops at a safe
 * point (between wells), says how to continue, and exits 130 / 143 like a
 * shell does for a signal-killed program. A second signal is not caught.
 *
 * @module
 */

import process from "node:process";
import { CliError } from "./_shared.ts";

/** The command was stopped by a signal; exit status 128 + the signal's number. */
export class InterruptedError extends CliError {
  /** `SIGINT` or `SIGTERM`. */
  readonly signal: "SIGINT" | "SIGTERM";
  /**
   * @param signal the signal received
   * @param message what was stopped and how to continue
   */
  constructor(signal: "SIGINT" | "SIGTERM", message = `interrupted by ${signal}`) {
    super(message, signal === "SIGINT" ? 130 : 143);
    this.name = "InterruptedError";
    this.signal = signal;
  }
}

/** An abort signal fed by SIGINT/SIGTERM until `dispose()`. */
export interface InterruptWatch {
  /** Aborted (with an {@linkcode InterruptedError} as reason) on the first signal. */
  signal: AbortSignal;
  /** Stops listening. */
  dispose(): void;
}

/** Starts turning SIGINT/SIGTERM into an aborted signal. */
export function watchInterrupts(): InterruptWatch {
  const controller = new AbortController();
  const handlers: [string, () => void][] = [];
  const dispose = () => {
    for (const [sig, h] of handlers.splice(0)) process.off(sig, h);
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    const h = () => {
      // Stop catching: a second Ctrl-C kills at once, as users expect.
      dispose();
      controller.abort(new InterruptedError(sig));
    };
    try {
      process.on(sig, h);
      handlers.push([sig, h]);
    } catch {
      // Some platforms cannot listen for SIGTERM (Windows): Ctrl-C still works.
    }
  }
  return { signal: controller.signal, dispose };
}
