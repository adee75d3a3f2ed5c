/**
 * A progress line on stderr for long operations: shown only when stderr is a terminal and only
 * after the operation has run for a second; cleared when done.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * A single, self-overwriting progress line.
 *
 * @example
 * ```ts
 * import { ProgressLine } from "./progress.ts";
 * const p = new ProgressLine({ enabled: false });
 * p.update("fit: 10 evaluations");
 * p.done();
 * ```
 */
export class ProgressLine {
  #enabled: boolean;
  #start = performance.now();
  #shown = false;
  #lastDraw = Number.NEGATIVE_INFINITY; // the first update after the delay always draws

  /** `enabled` defaults to whether stderr is a terminal. */
  constructor(
    options: { enabled?: boolean; delayMs?: number; write?: (text: string) => void } = {},
  ) {
    this.#enabled = options.enabled ?? Deno.stderr.isTerminal();
    this.#delay = options.delayMs ?? 1000;
    this.#write = options.write ?? ((text) => Deno.stderr.writeSync(encoder.encode(text)));
  }

  #delay: number;
  #write: (text: string) => void;

  /** Replaces the line's text (redrawn at most ten times a second). */
  update(text: string): void {
    if (!this.#enabled) return;
    const now = performance.now();
    if (now - this.#start < this.#delay || now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    this.#shown = true;
    const seconds = ((now - this.#start) / 1000).toFixed(1);
    this.#write(`\r\x1b[2K${text} (${seconds} s)`);
  }

  /** Clears the line. */
  done(): void {
    if (this.#shown) this.#write("\r\x1b[2K");
    this.#shown = false;
  }
}
