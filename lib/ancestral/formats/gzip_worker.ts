/**
 * The worker behind gzip outputs of `stream_writer.ts`: it compresses the chunks it is sent
 * (`CompressionStream("gzip")`) and writes them to a file it creates, so that compressing runs on
 * another core while the main thread formats the next chunks. Every request gets exactly one
 * reply, in order: `{ ok: true }` or `{ ok: false, message }`.
 *
 * Requests: `{ op: "open", path }` (create the file, failing if it exists),
 * `{ op: "chunk", bytes }`, `{ op: "close" }` (finish the gzip stream and close the file),
 * `{ op: "abort" }` (drop the stream and close the file; the caller removes it).
 *
 * @module
 */

/// <reference lib="deno.worker" />

type Request =
  | { op: "open"; path: string }
  | { op: "chunk"; bytes: Uint8Array }
  | { op: "close" }
  | { op: "abort" };

let writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
let piped: Promise<void> | null = null;
let queue: Promise<void> = Promise.resolve();

async function handle(req: Request): Promise<void> {
  switch (req.op) {
    case "open": {
      const file = await Deno.open(req.path, { createNew: true, write: true });
      const gz = new CompressionStream("gzip");
      piped = gz.readable.pipeTo(file.writable);
      piped.catch(() => {});
      writer = (gz.writable as WritableStream<Uint8Array>).getWriter();
      return;
    }
    case "chunk":
      await writer!.write(req.bytes);
      return;
    case "close":
      await writer!.close();
      await piped;
      return;
    case "abort":
      await writer?.abort(new Error("aborted")).catch(() => {});
      await piped?.catch(() => {});
      return;
  }
}

self.onmessage = (e: MessageEvent<Request>) => {
  // Requests are handled one after another, in the order they arrive.
  queue = queue.then(() => handle(e.data)).then(
    () => self.postMessage({ ok: true }),
    (err) =>
      self.postMessage({ ok: false, message: err instanceof Error ? err.message : `${err}` }),
  );
};
