/**
 * The `genecontent` command line: `genecontent COMMAND [options]`.
 *
 * Without arguments it prints the help and exits 0. A usage or input problem (an unknown
 * command or option, bad input) prints one `genecontent: error: ...` line on stderr and exits
 * with status 2; anything else is a bug and is shown in full with status 70.
 *
 * Relative paths are relative to the caller's folder: run as an installed command, that is the
 * working directory; run through `deno task genecontent` (which runs in the repository), the
 * task passes the caller's folder (`INIT_CWD`) as `GENECONTENT_CWD` and the command changes
 * there before anything else.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { ANCESTRAL_HELP, ANCESTRAL_OPTIONS, ancestralCommand } from "./commands/ancestral.ts";
import { BENCH_HELP, BENCH_OPTIONS, benchCommand } from "./commands/bench.ts";
import { FIT_HELP, FIT_OPTIONS, fitCommand } from "./commands/fit.ts";
import { GOF_HELP, GOF_OPTIONS, gofCommand } from "./commands/gof.ts";
import { LINEAGE_HELP, LINEAGE_OPTIONS, lineageCommand } from "./commands/lineage.ts";
import { LOGLIK_HELP, LOGLIK_OPTIONS, loglikCommand } from "./commands/loglik.ts";
import { REPORT_HELP, REPORT_OPTIONS, reportCommand } from "./commands/report.ts";
import { RETENTION_HELP, RETENTION_OPTIONS, retentionCommand } from "./commands/retention.ts";
import { SCREEN_HELP, SCREEN_OPTIONS, screenCommand } from "./commands/screen.ts";
import {
  SIMULATE_HELP,
  SIMULATE_OPTIONS,
  SIMULATE_TREE_HELP,
  SIMULATE_TREE_OPTIONS,
  simulateCommand,
  simulateTreeCommand,
} from "./commands/simulate.ts";
import { TREE_HELP, TREE_OPTIONS, treeCommand } from "./commands/tree.ts";

/** A command: how to run it, its one-line summary, and (for tests) its options and help. */
export interface CommandEntry {
  /** Runs the command with its arguments; returns the exit status. */
  readonly run: (args: string[]) => Promise<number>;
  /** One line for the top-level help. */
  readonly summary: string;
  /** The command's parser options, keyed by long name. */
  readonly options?: Readonly<Record<string, unknown>>;
  /** The command's `--help` text. */
  readonly help?: string;
}

/** The commands, by name. */
export const COMMANDS: Record<string, CommandEntry> = {
  fit: {
    run: fitCommand,
    summary: "maximum-likelihood gain and loss rates with profile intervals",
    options: FIT_OPTIONS,
    help: FIT_HELP,
  },
  loglik: {
    run: loglikCommand,
    summary: "log-likelihood of a PAM at given rates, total and per family",
    options: LOGLIK_OPTIONS,
    help: LOGLIK_HELP,
  },
  ancestral: {
    run: ancestralCommand,
    summary: "ancestral presence and expected gains/losses per branch and family",
    options: ANCESTRAL_OPTIONS,
    help: ANCESTRAL_HELP,
  },
  gof: {
    run: gofCommand,
    summary: "does the model fit: frequency spectrum, prevalence classes, genome outliers",
    options: GOF_OPTIONS,
    help: GOF_HELP,
  },
  bench: {
    run: benchCommand,
    summary: "time one likelihood evaluation on your data",
    options: BENCH_OPTIONS,
    help: BENCH_HELP,
  },
  report: {
    run: reportCommand,
    summary: "one self-contained HTML report: fits, tree with gains/losses, diagnostics",
    options: REPORT_OPTIONS,
    help: REPORT_HELP,
  },
  screen: {
    run: screenCommand,
    summary: "per-family tests of a family's own loss or gain multiplier, with FDR",
    options: SCREEN_OPTIONS,
    help: SCREEN_HELP,
  },
  retention: {
    run: retentionCommand,
    summary: "is a family set retained longer (lost more slowly) than the rest? LRT",
    options: RETENTION_OPTIONS,
    help: RETENTION_HELP,
  },
  lineage: {
    run: lineageCommand,
    summary: "are genes gained or lost faster on a clade, branch class or covariate? LRT",
    options: LINEAGE_OPTIONS,
    help: LINEAGE_HELP,
  },
  simulate: {
    run: simulateCommand,
    summary: "simulate a PAM under a model on a tree, with the true gains and losses",
    options: SIMULATE_OPTIONS,
    help: SIMULATE_HELP,
  },
  "simulate-tree": {
    run: simulateTreeCommand,
    summary: "a random (yule, coalescent) or regular (caterpillar, star) tree",
    options: SIMULATE_TREE_OPTIONS,
    help: SIMULATE_TREE_HELP,
  },
  tree: {
    run: treeCommand,
    summary: "a tree from the PAM alone: distances, neighbour joining or UPGMA, rooting",
    options: TREE_OPTIONS,
    help: TREE_HELP,
  },
};

/** The top-level help. */
export function mainHelp(): string {
  return `genecontent ${VERSION}: gene gain and loss along a phylogeny

Usage: genecontent COMMAND [options]     (genecontent COMMAND --help for its options)

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`).join("\n")}

Options:
  -h, --help   this help (also: genecontent help COMMAND)
  --version    print the version

Rates are per unit branch length of the tree; log-likelihoods are natural logarithms.
Relative paths are relative to the folder you run genecontent in. Exit status: 0 success,
2 a problem with the command line or the input (one 'genecontent: error:' line), 70 a bug.`;
}

/** The top-level help (as of module load; {@linkcode mainHelp} lists every command). */
export const MAIN_HELP: string = mainHelp();

const USAGE_HINT = "Usage: genecontent COMMAND [options]; 'genecontent --help' lists the commands.";

/**
 * Runs the command line with `args`; returns the exit status.
 *
 * @example
 * ```ts ignore
 * import { main } from "./main.ts";
 * Deno.exit(await main(["--version"]));
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "-h" || command === "--help") {
    console.log(mainHelp());
    return 0;
  }
  if (command === "--version") {
    console.log(`genecontent ${VERSION}`);
    return 0;
  }
  try {
    if (command === "help") {
      if (rest.length === 0) {
        console.log(mainHelp());
        return 0;
      }
      if (rest.length === 1 && COMMANDS[rest[0]]) return await COMMANDS[rest[0]].run(["--help"]);
      throw new GenecontentError(
        `'genecontent help' takes one command name (${Object.keys(COMMANDS).join(", ")}); ` +
          `got '${rest.join(" ")}'.`,
      );
    }
    const entry = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!entry) {
      throw new GenecontentError(
        command.startsWith("-")
          ? `Option '${command}' is not a command: give the command first, e.g. ` +
            `'genecontent fit ${command}'. Commands: ${Object.keys(COMMANDS).join(", ")}.`
          : `Unknown command '${command}'. Commands: ${Object.keys(COMMANDS).join(", ")}.`,
      );
    }
    return await entry.run(rest);
  } catch (e) {
    if (e instanceof GenecontentError) {
      console.error(`genecontent: error: ${e.message}`);
      if (!Object.hasOwn(COMMANDS, command ?? "")) console.error(USAGE_HINT);
      return 2;
    }
    console.error("genecontent: internal error (please report it with the command you ran):");
    console.error(e);
    return 70;
  }
}

/**
 * Changes to the caller's folder when `deno task genecontent` passed it as `GENECONTENT_CWD`,
 * so that relative paths mean what the caller meant; returns the folder, or `null`.
 *
 * @example
 * ```ts ignore
 * import { enterCallerFolder } from "./main.ts";
 * enterCallerFolder((name) => Deno.env.get(name));
 * ```
 */
export function enterCallerFolder(env: (name: string) => string | undefined): string | null {
  let folder: string | undefined;
  try {
    folder = env("GENECONTENT_CWD");
  } catch {
    return null; // no permission to read it: not run through the task
  }
  if (!folder) return null;
  try {
    Deno.chdir(folder);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new GenecontentError(`Cannot change to the caller's folder '${folder}': ${why}`);
  }
  return folder;
}

if (import.meta.main) {
  try {
    enterCallerFolder((name) => Deno.env.get(name));
  } catch (e) {
    console.error(`genecontent: error: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(2);
  }
  Deno.exit(await main(Deno.args));
}
