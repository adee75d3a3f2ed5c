/**
 * Benchmark of `genecontent report` against the fits it reports, written into
 * `bench/results.md` (the section between `<!-- report:start -->` and `<!-- report:end -->`):
 *
 * - the whole `genecontent report --model gamma4` process (fits of null and gamma4 with 95%
 *   intervals, ancestral sums, spectrum, per-family screen, genome diagnostics, figures, HTML);
 * - the whole `genecontent fit --compare null,gamma4` process (the same two fits with the same
 *   intervals, the comparison): the part of the report's work that is model fitting.
 *
 * The target is a report within 3x the time of the fits. Each time is the median of `--runs`
 * runs, alternating the two commands so that load from other work on the machine falls on both
 * alike; the report's own per-step times (from its `--json` summary) are given too.
 *
 * Usage: `deno run --allow-all scripts/bench_report.ts [--runs N] [--threads N] [--case ID]
 * [--out FILE]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ensureBenchData, run, summarize } from "./run_benchmarks.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const DENO = Deno.execPath();

/** Start marker of the section of `bench/results.md` this script writes. */
export const REPORT_SECTION_START = "<!-- report:start -->";
/** End marker of that section. */
export const REPORT_SECTION_END = "<!-- report:end -->";

function log(message: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function fmt(xs: readonly number[]): string {
  const s = summarize(xs)!;
  const f = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  return `${f(s.median)} (${f(s.min)} - ${f(s.max)})`;
}

/**
 * Replaces (or appends) the marked report section of a results file.
 *
 * @example
 * ```ts
 * import { withReportSection } from "./bench_report.ts";
 * const t = withReportSection("# R\n", "x");
 * console.assert(withReportSection(t, "y").includes("\ny\n") && !withReportSection(t, "y").includes("\nx\n"));
 * ```
 */
export function withReportSection(results: string, section: string): string {
  const block = `${REPORT_SECTION_START}\n${section.trim()}\n${REPORT_SECTION_END}`;
  const a = results.indexOf(REPORT_SECTION_START);
  const b = results.indexOf(REPORT_SECTION_END);
  if (a >= 0 && b > a) {
    return results.slice(0, a) + block + results.slice(b + REPORT_SECTION_END.length);
  }
  return results.trimEnd() + "\n\n" + block + "\n";
}

interface Timed {
  readonly wallMs: number;
  readonly json: Record<string, unknown>;
}

async function genecontent(args: string[]): Promise<Timed> {
  const t0 = performance.now();
  const r = await run(DENO, [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-ffi",
    `${ROOT}/lib/cli/main.ts`,
    ...args,
  ]);
  const wallMs = performance.now() - t0;
  if (r.code !== 0) {
    throw new Error(`genecontent ${args.join(" ")} failed (status ${r.code}):\n${r.stderr}`);
  }
  return { wallMs, json: JSON.parse(r.stdout) };
}

if (import.meta.main) {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "3" },
      threads: { type: "string", default: "2" },
      case: { type: "string", default: "1324x25420-yule" },
      out: { type: "string", default: `${ROOT}/bench/results.md` },
    },
    strict: true,
  });
  const runs = Number(v.runs), threads = String(Number(v.threads));
  const started = performance.now();
  const load = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  const load0 = load();
  const files = await ensureBenchData(v.case!);
  const dir = await Deno.makeTempDir({ prefix: "gc_bench_report_" });
  const common = ["--tree", files.tree, "--pam", files.pam, "--threads", threads, "--json"];
  const reports: Timed[] = [], fits: Timed[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      // Alternate which goes first, so a burst of load does not always hit the same one.
      const order = i % 2 === 0 ? ["report", "fit"] : ["fit", "report"];
      for (const which of order) {
        log(`run ${i + 1}/${runs}: ${which}`);
        if (which === "report") {
          reports.push(
            await genecontent([
              "report",
              ...common,
              "--model",
              "gamma4",
              "--out",
              `${dir}/report.html`,
              "--force",
            ]),
          );
        } else fits.push(await genecontent(["fit", ...common, "--compare", "null,gamma4"]));
      }
    }
    const html = await Deno.stat(`${dir}/report.html`);
    const rMed = summarize(reports.map((r) => r.wallMs))!.median;
    const fMed = summarize(fits.map((r) => r.wallMs))!.median;
    const ratio = rMed / fMed;
    const steps = reports.map((r) => r.json.steps as Record<string, number>);
    const stepNames = Object.keys(steps[0]);
    const stepMedian = (k: string) => summarize(steps.map((s) => s[k] * 1000))!.median / 1000;
    const last = reports[reports.length - 1].json;
    const commit = (await run("git", ["rev-parse", "--short", "HEAD"])).stdout.trim();
    const L: string[] = [];
    L.push("## The report");
    L.push("");
    L.push(
      `Produced by \`deno run --allow-all scripts/bench_report.ts --runs ${runs} --threads ` +
        `${threads}\` on ${new Date().toISOString().slice(0, 19)}Z at commit ${commit}, case ` +
        `${v.case}, in ${((performance.now() - started) / 60000).toFixed(1)} minutes; load ` +
        `average ${load0} at the start and ${load()} at the end (the machine was shared, so ` +
        "times are noisy; the two commands alternate).",
    );
    L.push("");
    L.push("| measurement | time | ratio | target | met |");
    L.push("|---|---|---|---|---|");
    L.push(
      `| \`genecontent fit --compare null,gamma4\` (95% intervals), whole process | ${
        fmt(fits.map((r) => r.wallMs))
      } | 1 | - | - |`,
    );
    L.push(
      `| \`genecontent report --model gamma4\`, whole process | ${
        fmt(reports.map((r) => r.wallMs))
      } | ${ratio.toFixed(2)}x the fits | <= 3x | ${ratio <= 3 ? "yes" : "no"} |`,
    );
    L.push("");
    L.push(
      `Report steps (median seconds): ${
        stepNames.map((k) => `${k} ${stepMedian(k).toFixed(2)}`).join(", ")
      }; HTML file ${(html.size / 1e6).toFixed(1)} MB; sections: ${
        JSON.stringify(last.sections)
      }; backend ${last.backend}.`,
    );
    const out = v.out!;
    const old = await Deno.readTextFile(out).catch(() => "# Benchmark results\n");
    await Deno.writeTextFile(out, withReportSection(old, L.join("\n")));
    console.log(L.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
