/**
 * Streaming text output under the project's safe-output rules (`lib/cli/output.ts`): the target
 * is checked before anything is written and again just before the rename (never an input, an
 * existing file only with `force`, the folder must exist), the text goes to a temporary file in
 * the same folder and is renamed into place at the end, so an interrupted or failed run leaves
 * no half-written file. A name ending in `.gz` is gzip-compressed on the way
 * (`CompressionStream("gzip")`); `-` streams to stdout. Text is buffered into chunks of about
 * `chunkChars` characters, so memory stays bounded whatever the size of the table.
 *
 * @module
 */

import { basename, dirname } from "node:path";
import { GenecontentError } from "../../errors.ts";
import { planOutputs } from "../../cli/output.ts";

/** Options of {@linkcode openTextOutput} and {@linkcode writeTextOutput}. */
export interface TextOutputOptions {
  /** The option that names the output, for messages (default `--out`). */
  readonly flag?: string;
  /** Replace an existing file (never an input). */
  readonly force?: boolean;
  /** Files the run reads, by role: none of them is ever written. */
  readonly inputs?: Readonly<Record<string, string | undefined>>;
  /** Compress with gzip; default: when the file name ends in `.gz` (never for stdout). */
  readonly gzip?: boolean;
  /** Characters buffered before a chunk is encoded and written (default 1 << 20). */
  readonly chunkChars?: number;
  /** When given, written as JSON to `FILE.provenance.json` (temporary file and rename too). */
  readonly provenance?: unknown;
}

/** A text output being written; {@linkcode TextOutput.close} makes it appear. */
export interface TextOutput {
  /** Appends text (buffered; awaits the file when a chunk is full). */
  write(text: string): Promise<void>;
  /** Flushes, finishes the compression, checks the target again and renames into place. */
  close(): Promise<void>;
  /** Drops everything written so far (removes the temporary file). Safe to call twice. */
  abort(): Promise<void>;
  /** Uncompressed bytes written so far (flushed chunks only). */
  readonly bytes: number;
  /** Whether the output is gzip-compressed. */
  readonly gzip: boolean;
}

const encoder = new TextEncoder();

function cannotWrite(flag: string, shown: string, e: unknown): GenecontentError {
  if (e instanceof GenecontentError) return e;
  const why = e instanceof Error ? e.message : String(e);
  return new GenecontentError(`Cannot write ${flag} file '${shown}': ${why}`);
}

/**
 * Opens a streamed text output: `path` (gzip when it ends in `.gz`) or `-` for stdout. The
 * target is checked at once with the rules of `planOutputs`; nothing appears under its name
 * until {@linkcode TextOutput.close}.
 *
 * @example
 * ```ts
 * import { openTextOutput } from "./stream_writer.ts";
 * const dir = await Deno.makeTempDir();
 * const out = await openTextOutput(`${dir}/t.tsv`);
 * await out.write("a\tb\n");
 * await out.close();
 * console.assert((await Deno.readTextFile(`${dir}/t.tsv`)) === "a\tb\n");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function openTextOutput(
  path: string,
  options: TextOutputOptions = {},
): Promise<TextOutput> {
  const flag = options.flag ?? "--out";
  const force = options.force ?? false;
  const inputs = options.inputs ?? {};
  const chunkChars = options.chunkChars ?? 1 << 20;
  const withProvenance = options.provenance !== undefined && path !== "-";
  const plan = async () =>
    (await planOutputs([{ flag, value: path, provenance: withProvenance }], { inputs, force }))
      .get(flag)!;
  const planned = await plan();
  const gzip = !planned.stdout && (options.gzip ?? path.endsWith(".gz"));

  let temp: string | null = null;
  let sidecarTemp: string | null = null;
  let sink: WritableStream<Uint8Array> | WritableStream<BufferSource>;
  let piped: Promise<void> | null = null;
  if (planned.stdout) {
    sink = Deno.stdout.writable;
  } else {
    temp = `${dirname(planned.path!)}/.${basename(planned.path!)}.${crypto.randomUUID()}.tmp`;
    try {
      const file = await Deno.open(temp, { createNew: true, write: true });
      if (gzip) {
        const gz = new CompressionStream("gzip");
        piped = gz.readable.pipeTo(file.writable);
        piped.catch(() => {}); // awaited in close(); an abort rejects it on purpose
        sink = gz.writable;
      } else {
        sink = file.writable;
      }
    } catch (e) {
      throw cannotWrite(flag, planned.display, e);
    }
  }
  const writer = (sink as WritableStream<Uint8Array>).getWriter();
  let pending: string[] = [];
  let pendingChars = 0;
  let bytes = 0;
  let state: "open" | "closed" | "aborted" = "open";

  const flush = async () => {
    if (pendingChars === 0) return;
    const chunk = encoder.encode(pending.join(""));
    pending = [];
    pendingChars = 0;
    await writer.write(chunk);
    bytes += chunk.length;
  };
  const removeTemps = async () => {
    for (const t of [temp, sidecarTemp]) if (t) await Deno.remove(t).catch(() => {});
  };
  const output: TextOutput = {
    get bytes() {
      return bytes;
    },
    gzip,
    async write(text: string) {
      if (state !== "open") throw new Error(`Output '${planned.display}' is already ${state}.`);
      pending.push(text);
      pendingChars += text.length;
      if (pendingChars >= chunkChars) {
        try {
          await flush();
        } catch (e) {
          await output.abort();
          throw cannotWrite(flag, planned.display, e);
        }
      }
    },
    async close() {
      if (state !== "open") throw new Error(`Output '${planned.display}' is already ${state}.`);
      try {
        await flush();
        if (planned.stdout) {
          writer.releaseLock();
          state = "closed";
          return;
        }
        await writer.close();
        if (piped) await piped;
        if (withProvenance) {
          sidecarTemp = `${temp}.provenance`;
          await Deno.writeTextFile(
            sidecarTemp,
            JSON.stringify(options.provenance, null, 2) + "\n",
            { createNew: true },
          );
        }
        // Checked again: a file may have appeared since the output was opened.
        await plan();
        await Deno.rename(temp!, planned.path!);
        if (sidecarTemp) await Deno.rename(sidecarTemp, planned.provenancePath!);
        state = "closed";
      } catch (e) {
        state = "aborted";
        await writer.abort(e).catch(() => {});
        await removeTemps();
        throw cannotWrite(flag, planned.display, e);
      }
    },
    async abort() {
      if (state !== "open") return;
      state = "aborted";
      pending = [];
      pendingChars = 0;
      if (planned.stdout) {
        writer.releaseLock();
        return;
      }
      await writer.abort(new Error("aborted")).catch(() => {});
      if (piped) await piped.catch(() => {});
      await removeTemps();
    },
  };
  return output;
}

/**
 * Writes one output by streaming: opens it ({@linkcode openTextOutput}), lets `produce` write
 * into it, and closes it; when `produce` throws, the temporary file is removed and the error
 * passed on, so the target is either complete or untouched.
 *
 * @example
 * ```ts
 * import { writeTextOutput } from "./stream_writer.ts";
 * const dir = await Deno.makeTempDir();
 * await writeTextOutput(`${dir}/x.txt.gz`, async (out) => {
 *   for (let i = 0; i < 3; i++) await out.write(`${i}\n`);
 * });
 * const bytes = await Deno.readFile(`${dir}/x.txt.gz`);
 * console.assert(bytes[0] === 0x1f && bytes[1] === 0x8b);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeTextOutput<T>(
  path: string,
  produce: (out: TextOutput) => Promise<T> | T,
  options: TextOutputOptions = {},
): Promise<T> {
  const out = await openTextOutput(path, options);
  let result: T;
  try {
    result = await produce(out);
  } catch (e) {
    await out.abort();
    throw e;
  }
  await out.close();
  return result;
}
