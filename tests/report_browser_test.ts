// The report of the bundled example in a real browser (Debian's chromium, installed with apt-get
// when missing), headless with the network off: no console error, no request other than the
// file itself, every figure drawn with the expected marks (one path per branch of the tree, one
// bar per spectrum class, points in the QQ and volcano plots), and a screenshot. Driven over the
// DevTools protocol (`--remote-debugging-port=0`, one WebSocket, flat sessions).
//
// The screenshot goes to a temporary folder; with GENECONTENT_UPDATE_SCREENSHOT=1 it is written
// to docs/report.png (the image the README shows).
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureDebianTool } from "./support/debian_tool.ts";
import { readTree } from "../lib/load_dataset.ts";

const mainPath = new URL("../lib/cli/main.ts", import.meta.url).pathname;
const example = (name: string) => new URL(`../examples/${name}`, import.meta.url).pathname;
const docsPng = new URL("../docs/report.png", import.meta.url).pathname;

/** A DevTools-protocol client over one WebSocket. */
class Cdp {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #listeners: ((method: string, params: Record<string, unknown>, session?: string) => void)[] = [];

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const msg = JSON.parse(String(e.data));
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`${msg.error.message} (${msg.error.code})`));
        else p?.resolve(msg.result);
      } else {
        for (const l of this.#listeners) l(msg.method, msg.params ?? {}, msg.sessionId);
      }
    };
  }

  static open(url: string): Promise<Cdp> {
    const ws = new WebSocket(url);
    return new Promise((resolve, reject) => {
      ws.onopen = () => resolve(new Cdp(ws));
      ws.onerror = () => reject(new Error(`Cannot connect to the browser at ${url}`));
    });
  }

  send<T = Record<string, unknown>>(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<T> {
    const id = this.#next++;
    this.#ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
  }

  on(l: (method: string, params: Record<string, unknown>, session?: string) => void): void {
    this.#listeners.push(l);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#ws.readyState === WebSocket.CLOSED) return resolve();
      this.#ws.onclose = () => resolve();
      this.#ws.close();
    });
  }
}

/** Reads the browser's stderr until it prints its DevTools WebSocket address. */
async function devtoolsUrl(stderr: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
    const m = /DevTools listening on (ws:\/\/\S+)/.exec(text);
    if (m) {
      // Keep draining stderr so the browser never blocks on a full pipe.
      (async () => {
        try {
          while (!(await reader.read()).done) { /* discard */ }
        } catch { /* closed */ }
      })();
      return m[1];
    }
  }
  throw new Error(`chromium printed no DevTools address:\n${text.slice(-2000)}`);
}

Deno.test("report in headless chromium, network off: no errors, no requests, every figure drawn", async () => {
  const chromium = await ensureDebianTool(
    ["chromium", "chromium-browser"],
    "chromium",
    "the report's browser test",
  );
  const dir = await Deno.makeTempDir({ prefix: "gc_report_browser_" });
  const profile = join(dir, "profile");
  let browser: Deno.ChildProcess | null = null;
  let cdp: Cdp | null = null;
  try {
    const html = join(dir, "report.html");
    const made = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "--allow-ffi",
        mainPath,
        "report",
        "--tree",
        example("tree.nwk"),
        "--pam",
        example("pam.tsv"),
        "--title",
        "genecontent report: the bundled example (200 genomes, 5,000 families)",
        "--out",
        html,
        "--json",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
    const summary = JSON.parse(new TextDecoder().decode(made.stdout));
    const fileUrl = new URL(`file://${html}`).href;

    browser = new Deno.Command(chromium, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--no-default-browser-check",
        // No way out: every host resolves to nothing and every proxy is a closed port.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        `--user-data-dir=${profile}`,
        "--remote-debugging-port=0",
        "--window-size=1280,2400",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    cdp = await Cdp.open(await devtoolsUrl(browser.stderr));
    const { targetId } = await cdp.send<{ targetId: string }>("Target.createTarget", {
      url: "about:blank",
    });
    const { sessionId } = await cdp.send<{ sessionId: string }>("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    const errors: string[] = [];
    const requests: string[] = [];
    let loaded!: () => void;
    const load = new Promise<void>((resolve) => (loaded = resolve));
    cdp.on((method, params, session) => {
      if (session !== sessionId) return;
      if (method === "Network.requestWillBeSent") {
        requests.push(String((params.request as { url: string }).url));
      } else if (method === "Runtime.consoleAPICalled") {
        if (params.type === "error" || params.type === "assert") {
          errors.push(`console.${params.type}: ${JSON.stringify(params.args)}`);
        }
      } else if (method === "Runtime.exceptionThrown") {
        errors.push(`exception: ${JSON.stringify(params.exceptionDetails)}`);
      } else if (method === "Log.entryAdded") {
        const entry = params.entry as { level: string; text: string; url?: string };
        if (entry.level === "error") errors.push(`log: ${entry.text} ${entry.url ?? ""}`);
      } else if (method === "Page.loadEventFired") loaded();
    });
    for (const domain of ["Page", "Runtime", "Log", "Network"]) {
      await cdp.send(`${domain}.enable`, {}, sessionId);
    }
    await cdp.send("Network.emulateNetworkConditions", {
      offline: true,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    }, sessionId);
    await cdp.send("Emulation.setDeviceMetricsOverride", {
      width: 1280,
      height: 2400,
      deviceScaleFactor: 1,
      mobile: false,
    }, sessionId);
    await cdp.send("Page.navigate", { url: fileUrl }, sessionId);
    await load;

    const probe = `(() => {
      const figs = {};
      for (const f of document.querySelectorAll("figure[data-figure]")) {
        const svg = f.querySelector("svg");
        const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
        figs[f.dataset.figure] = {
          width: box.width,
          height: box.height,
          branches: f.querySelectorAll("path.branch").length,
          tips: f.querySelectorAll("text.tip").length,
          bars: f.querySelectorAll("g.mark-rect.role-mark path").length,
          symbols: f.querySelectorAll("g.mark-symbol.role-mark path").length,
        };
      }
      return JSON.stringify({
        figs,
        spectrumRows: document.querySelectorAll("table.spectrum tbody tr").length,
        title: document.title,
        scripts: document.scripts.length,
      });
    })()`;
    const evaluated = await cdp.send<{ result: { value: string } }>("Runtime.evaluate", {
      expression: probe,
      returnByValue: true,
    }, sessionId);
    const page = JSON.parse(evaluated.result.value);

    assert.deepEqual(errors, [], "no console errors");
    assert.deepEqual(requests.filter((u) => u !== fileUrl), [], "no request but the file");
    assert.equal(page.scripts, 0);
    const tree = (await readTree(example("tree.nwk"))).tree;
    const figs = page.figs;
    for (const [name, f] of Object.entries(figs) as [string, { width: number; height: number }][]) {
      assert.ok(f.width > 100 && f.height > 100, `${name} is drawn (${f.width} x ${f.height})`);
    }
    assert.equal(figs.tree.branches, tree.nNodes - 1, "one path per branch");
    assert.equal(figs.tree.tips, tree.nTips, "every tip labelled");
    if (summary.sections.spectrum) {
      assert.ok(page.spectrumRows > 0);
      assert.equal(figs.spectrum.bars, page.spectrumRows, "one bar per spectrum class");
      assert.ok(figs.spectrum.symbols > 0, "expected counts drawn");
    }
    if (summary.sections.screen) {
      assert.ok(figs.qq.symbols > 0 && figs.volcano.symbols > 0, "QQ and volcano points");
    }

    const shot = await cdp.send<{ data: string }>("Page.captureScreenshot", {
      format: "png",
      clip: { x: 0, y: 0, width: 1280, height: 2400, scale: 1 },
    }, sessionId);
    const png = Uint8Array.from(atob(shot.data), (c) => c.charCodeAt(0));
    // The PNG signature, then an image of the requested size (IHDR width and height).
    assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
    const view = new DataView(png.buffer);
    assert.equal(view.getUint32(16), 1280);
    assert.equal(view.getUint32(20), 2400);
    const target = Deno.env.get("GENECONTENT_UPDATE_SCREENSHOT") === "1"
      ? docsPng
      : join(dir, "report.png");
    await Deno.writeFile(target, png);
  } finally {
    await cdp?.close();
    if (browser) {
      try {
        browser.kill("SIGTERM");
      } catch { /* already gone */ }
      await browser.status;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
