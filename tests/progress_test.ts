// The progress line: silent when disabled (stderr not a terminal) and during the first second,
// then one self-overwriting line, cleared at the end.
import assert from "node:assert/strict";
import { ProgressLine } from "../lib/cli/progress.ts";

Deno.test("progress is silent when disabled and before its delay", () => {
  const written: string[] = [];
  const off = new ProgressLine({ enabled: false, delayMs: 0, write: (t) => written.push(t) });
  off.update("x");
  off.done();
  const early = new ProgressLine({ enabled: true, delayMs: 60_000, write: (t) => written.push(t) });
  early.update("x");
  early.done();
  assert.deepEqual(written, []);
});

Deno.test("after the delay, progress overwrites one line and clears it when done", async () => {
  const written: string[] = [];
  const p = new ProgressLine({ enabled: true, delayMs: 0, write: (t) => written.push(t) });
  await new Promise((r) => setTimeout(r, 5));
  p.update("fit: 3 likelihood evaluations");
  p.update("throttled: drawn at most ten times a second");
  p.done();
  assert.equal(written.length, 2);
  const clearLine = "\r\x1b[2K";
  assert.ok(written[0].startsWith(clearLine), JSON.stringify(written[0]));
  assert.match(written[0].slice(clearLine.length), /^fit: 3 likelihood evaluations \(\d+\.\d s\)$/);
  assert.equal(written[1], "\r\x1b[2K");
});
