/**
 * The `genecontent` command line: `genecontent COMMAND [options]`.
 *
 * A user-input problem prints one `genecontent: error: ...` line and exits with status 2;
 * anything else is a bug and is shown in full with status 70.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { benchCommand } from "./commands/bench.ts";
import { fitCommand } from "./commands/fit.ts";
import { loglikCommand } from "./commands/loglik.ts";

const COMMANDS: Record<string, { run: (args: string[]) => Promise<number>; summary: string }> = {
  fit: {
    run: fitCommand,
    summary: "maximum-likelihood gain and loss rates with profile intervals",
  },
  loglik: {
    run: loglikCommand,
    summary: "log-likelihood of a PAM at given rates, total and per family",
  },
  bench: { run: benchCommand, summary: "time one likelihood evaluation on your data" },
};

/** The top-level help. */
export const MAIN_HELP = `genecontent ${VERSION}: gene gain and loss along a phylogeny

Usage: genecontent COMMAND [options]     (genecontent COMMAND --help for its options)

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`).join("\n")}

Options:
  -h, --help   this help
  --version    print the version`;

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
  if (command === undefined || command === "-h" || command === "--help" || command === "help") {
    console.log(MAIN_HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === "--version") {
    console.log(`genecontent ${VERSION}`);
    return 0;
  }
  const entry = COMMANDS[command];
  try {
    if (!entry) {
      throw new GenecontentError(
        `Unknown command '${command}'. Commands: ${Object.keys(COMMANDS).join(", ")} (see --help).`,
      );
    }
    return await entry.run(rest);
  } catch (e) {
    if (e instanceof GenecontentError) {
      console.error(`genecontent: error: ${e.message}`);
      return 2;
    }
    console.error("genecontent: internal error (please report it with the command you ran):");
    console.error(e);
    return 70;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
