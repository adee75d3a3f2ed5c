/**
 * Benchmark of the family-set test as a user runs it: the whole `genecontent retention` process
 * (gamma4 background fitted, then background plus the set's loss multiplier, the LRT and the
 * profile interval of theta) against the whole `genecontent fit --model gamma4` process (the
 * background fit alone, with its profile intervals, as a user would run it) on the same data,
 * same threads, alternating the two so that load from other work falls on both alike. The
 * family set is 300 families drawn with a fixed seed. Each time is the median of `--runs` runs.
 *
 * Prints a Markdown section on stdout (progress on stderr) and writes it into `--out` (default
 * `bench/results.md`) between `<!-- retention:start -->` and `<!-- retention:end -->`.
 *
 * Usage: `deno run --allow-all scripts/bench_retention.ts [--runs N] [--threads N] [--case ID]
 * [--out FILE]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ensureBenchData, run, summarize } from "./run_benchmarks.ts";
import { withMarkedSection } from "./marked_section.ts";
import { Random } from "../lib/simulate/random.ts";

const DENO = Deno.execPath();
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

function log(message: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function seconds(xs: readonly number[]): string {
  const s = summarize(xs)!;
  const f = (x: number) => `${(x / 1000).toFixed(2)} s`;
  return xs.length > 1 ? `${f(s.median)} (${f(s.min)} - ${f(s.max)})` : f(s.median);
}

if (import.meta.main) {
  const { values: v } = parseArgs({
    options: {
      runs: { type: "string", default: "3" },
      threads: { type: "string", default: "2" },
      case: { type: "string", default: "1324x25420-yule" },
      out: { type: "string", default: `${ROOT}/bench/results.md` },
    },
  });
  const runs = Number(v.runs), threads = Number(v.threads);
  const files = await ensureBenchData(v.case!);
  const families = (await Deno.readTextFile(files.pam)).split("\n").slice(1)
    .map((l) => l.slice(0, l.indexOf("\t"))).filter(Boolean);
  const rng = new Random(7);
  const picked = new Set<string>();
  while (picked.size < 300) picked.add(families[rng.int(families.length)]);
  const setFile = await Deno.makeTempFile({ suffix: ".txt" });
  await Deno.writeTextFile(setFile, [...picked].join("\n") + "\n");
  const common = ["--tree", files.tree, "--pam", files.pam, "--threads", String(threads), "--json"];
  const cli = ["run", "--allow-all", `${ROOT}/lib/cli/main.ts`];
  const fitTimes: number[] = [], retentionTimes: number[] = [];
  let last: { theta: number; p: number; logLikNull: number } | null = null;
  let fitLogLik = NaN;
  const load = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  for (let r = 0; r < runs; r++) {
    log(`run ${r + 1}/${runs}: fit --model gamma4`);
    const f = await run(DENO, [...cli, "fit", "--model", "gamma4", ...common]);
    if (f.code !== 0) throw new Error(`fit failed: ${f.stderr}`);
    fitTimes.push(f.wallMs);
    fitLogLik = JSON.parse(f.stdout).logLik;
    log(`run ${r + 1}/${runs}: retention --model gamma4`);
    const t = await run(DENO, [...cli, "retention", "--families", setFile, ...common]);
    if (t.code !== 0) throw new Error(`retention failed: ${t.stderr}`);
    retentionTimes.push(t.wallMs);
    last = JSON.parse(t.stdout);
  }
  const ratio = summarize(retentionTimes)!.median / summarize(fitTimes)!.median;
  const cpu = Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1] ?? "?";
  const section = [
    "## Family-set test (`genecontent retention`) against the background fit",
    "",
    `Run ${new Date().toISOString().slice(0, 16)} UTC on ${cpu} (${navigator.hardwareConcurrency}` +
    ` cores), load average at start ${load}; \`deno run --allow-all scripts/bench_retention.ts` +
    ` --runs ${runs} --threads ${threads}\`. Data ${v.case} (\`scripts/make_bench_data.ts\`, seed` +
    " 1); the set is 300 families drawn with seed 7. Both are whole processes (start-up, reading," +
    " fitting, printing JSON), median (min - max) of the runs, alternating.",
    "",
    "| measurement | time | ratio | target | met |",
    "|---|---|---|---|---|",
    `| \`fit --model gamma4\` (with profile intervals) | ${seconds(fitTimes)} | 1 | - | - |`,
    `| \`retention\` (gamma4 background, set loss multiplier, LRT, interval of theta) | ${
      seconds(retentionTimes)
    } | ${ratio.toFixed(2)}x the fit | <= 3x | ${ratio <= 3 ? "yes" : "no"} |`,
    "",
    `The background log-likelihood is the same in both (${fitLogLik.toFixed(4)} and ${
      last!.logLikNull.toFixed(4)
    }); theta = ${last!.theta.toFixed(4)}, p = ${last!.p.toPrecision(3)} on this random set.`,
  ].join("\n");
  console.log(section);
  const old = await Deno.readTextFile(v.out!).catch(() => "");
  await Deno.writeTextFile(v.out!, withMarkedSection(old, "retention", section));
  log(`wrote the section into ${v.out}`);
}
