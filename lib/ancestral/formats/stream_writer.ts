/**
 * Streaming text output under the project's safe-output rules (`lib/cli/output.ts`): the target
 * is checked before anything is written and again just before the rename (never an input, an
 * existing file only with `force`, the folder must exist), the text goes to a temporary file in
 * the same folder and is renamed into place at the end, so an interrupted or failed run leaves
 * no half-written file. A name ending in `.gz` is gzip-compressed on the way
 * (`CompressionStream("gzip")`, by default in a worker, `gzip_worker.ts`, so that compressing
 * runs on another core while this thread formats the next chunks); `-` streams to stdout. Text is buffered into chunks of about
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
  /**
   * Compress in a worker (default true), so compressing runs on another core while this thread
   * formats the next chunks; `false` compresses on this thread.
   */
  readonly gzipWorker?: boolean;
}

/** Where encoded chunks go: a stream on this thread, or the gzip worker. */
interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
  /** Finishes the data (flushes compression, closes the file; releases stdout). */
  close(): Promise<void>;
  abort(reason: unknown): Promise<void>;
}

function streamSink(
  stream: WritableStream<Uint8Array>,
  piped: Promise<void> | null,
  closeStream: boolean,
): ByteSink {
  const writer = stream.getWriter();
  return {
    write: (bytes) => writer.write(bytes),
    async close() {
      if (!closeStream) {
        writer.releaseLock();
        return;
      }
      await writer.close();
      if (piped) await piped;
    },
    async abort(reason) {
      if (!closeStream) {
        writer.releaseLock();
        return;
      }
      await writer.abort(reason).catch(() => {});
      if (piped) await piped.catch(() => {});
    },
  };
}

/** Chunks sent to the gzip worker and not yet written: bounds the memory they hold. */
const WORKER_WINDOW = 3;

async function workerSink(path: string): Promise<ByteSink> {
  const worker = new Worker(new URL("./gzip_worker.ts", import.meta.url).href, { type: "module" });
  // The "open" request below is answered, or the worker fails to start (reported as an error
  // event, which rejects it).
  // Every request gets one reply, in order.
  const replies: { resolve: () => void; reject: (e: Error) => void }[] = [];
  let failure: Error | null = null;
  const fail = (e: Error) => {
    failure ??= e;
    for (const r of replies.splice(0)) r.reject(e);
  };
  worker.onmessage = (e: MessageEvent<{ ok: boolean; message?: string }>) => {
    const r = replies.shift();
    if (e.data.ok) r?.resolve();
    else {
      const err = new Error(e.data.message);
      r?.reject(err);
      fail(err);
    }
  };
  worker.onerror = (e: ErrorEvent) => {
    e.preventDefault();
    fail(new Error(`gzip worker: ${e.message}`));
  };
  const request = (message: unknown, transfer: Transferable[] = []): Promise<void> => {
    if (failure) return Promise.reject(failure);
    const p = new Promise<void>((resolve, reject) => replies.push({ resolve, reject }));
    worker.postMessage(message, transfer);
    return p;
  };
  let inFlight: Promise<void>[] = [];
  let terminated = false;
  const terminate = () => {
    terminated = true;
    worker.terminate();
  };
  try {
    await request({ op: "open", path });
  } catch (e) {
    terminate();
    throw e;
  }
  return {
    async write(bytes) {
      inFlight.push(request({ op: "chunk", bytes }, [bytes.buffer as ArrayBuffer]));
      if (inFlight.length >= WORKER_WINDOW) await inFlight.shift();
    },
    async close() {
      try {
        await Promise.all(inFlight);
        inFlight = [];
        await request({ op: "close" });
      } finally {
        terminate();
      }
    },
    async abort() {
      if (terminated) return; // closed already: the caller removes the file
      await Promise.allSettled(inFlight);
      inFlight = [];
      await request({ op: "abort" }).catch(() => {});
      terminate();
    },
  };
}

/** A text output being written; {@linkcode TextOutput.close} makes it appear. */
export interface TextOutput {
  /** Appends text (buffered; awaits the file when a chunk is full). */
  write(text: string): Promise<void>;
  /**
   * Appends bytes as they are, after the buffered text: compressed like text when the output
   * is gzip, otherwise written unchanged (an output opened with `gzip: false` takes gzip members
   * made elsewhere). The bytes may be reused once the promise resolves.
   */
  writeBytes(bytes: Uint8Array): Promise<void>;
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
  let sink: ByteSink;
  if (planned.stdout) {
    sink = streamSink(Deno.stdout.writable, null, false);
  } else {
    temp = `${dirname(planned.path!)}/.${basename(planned.path!)}.${crypto.randomUUID()}.tmp`;
    try {
      // A worker that cannot start (a compiled program without the worker module included,
      // a host that refuses workers) falls back to compressing on this thread.
      const viaWorker = gzip && (options.gzipWorker ?? true)
        ? await workerSink(temp).catch(async () => {
          await Deno.remove(temp!).catch(() => {});
          return null;
        })
        : null;
      if (viaWorker) {
        sink = viaWorker;
      } else {
        const file = await Deno.open(temp, { createNew: true, write: true });
        if (gzip) {
          const gz = new CompressionStream("gzip");
          const piped = gz.readable.pipeTo(file.writable);
          piped.catch(() => {}); // awaited in close(); an abort rejects it on purpose
          sink = streamSink(gz.writable as WritableStream<Uint8Array>, piped, true);
        } else {
          sink = streamSink(file.writable, null, true);
        }
      }
    } catch (e) {
      if (temp) await Deno.remove(temp).catch(() => {});
      throw cannotWrite(flag, planned.display, e);
    }
  }
  const writer = sink;
  let pending: string[] = [];
  let pendingChars = 0;
  let bytes = 0;
  let state: "open" | "closed" | "aborted" = "open";

  const flush = async () => {
    if (pendingChars === 0) return;
    const chunk = encoder.encode(pending.join(""));
    pending = [];
    pendingChars = 0;
    bytes += chunk.length; // before the write: a chunk sent to the worker is detached
    await writer.write(chunk);
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
    async writeBytes(chunk: Uint8Array) {
      if (state !== "open") throw new Error(`Output '${planned.display}' is already ${state}.`);
      try {
        await flush();
        bytes += chunk.length;
        // The gzip worker takes its chunks' buffers: it gets a copy.
        await writer.write(gzip ? chunk.slice() : chunk);
      } catch (e) {
        await output.abort();
        throw cannotWrite(flag, planned.display, e);
      }
    },
    async close() {
      if (state !== "open") throw new Error(`Output '${planned.display}' is already ${state}.`);
      try {
        await flush();
        await writer.close();
        if (planned.stdout) {
          state = "closed";
          return;
        }
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
      await writer.abort(new Error("aborted")).catch(() => {});
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
