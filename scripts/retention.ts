/**
 * The family-set retention test as a script: the same analysis as `genecontent retention`
 * (`retentionAnalysis` in `lib/cli/commands/retention.ts`), printed as JSON without the
 * command's output planning.
 *
 * Usage: deno task retention --tree T --pam P --families F [--model M] [--effect loss|gain|both]
 *          [--alternative less|greater|two-sided] [--level P] [--bootstrap N --seed S]
 *          [--clade TAXA | --node LABEL [--stem] | --classes FILE --column C --class NAME]
 *          [--random-sets N]
 *
 * Relative paths are relative to the folder the task is run from.
 *
 * @module
 */

import { readFamilySets } from "../lib/effects/inputs.ts";
import { GenecontentError } from "../lib/errors.ts";
import { enterCallerFolder } from "../lib/cli/main.ts";
import { parseCommandLine } from "../lib/cli/options.ts";
import {
  effectCommandSettings,
  prepareEffectData,
  randomSetsOption,
  RETENTION_HELP,
  RETENTION_OPTIONS,
  retentionAnalysis,
  retentionLineage,
} from "../lib/cli/commands/retention.ts";

async function run(args: string[]): Promise<number> {
  const { values: v, given } = parseCommandLine(args, RETENTION_OPTIONS, "retention");
  if (v.help) {
    console.log(RETENTION_HELP);
    return 0;
  }
  if (v.families === undefined) {
    throw new GenecontentError("scripts/retention.ts needs --families FILE.");
  }
  const settings = effectCommandSettings(v, given, true);
  const data = await prepareEffectData(v, "retention", settings.model);
  const familySets = await readFamilySets(v.families, data.dataset.patterns.familyNames);
  const { lineage } = await retentionLineage(v, data.dataset);
  const report = await retentionAnalysis(
    data.dataset,
    data.factory,
    data.setup,
    familySets,
    settings,
    lineage,
    (stage) => console.error(`retention: ${stage}`),
    randomSetsOption(v),
  );
  console.log(JSON.stringify({ ...report.json, backend: data.factory.name }, null, 2));
  return 0;
}

if (import.meta.main) {
  try {
    enterCallerFolder((name) => Deno.env.get(name));
    Deno.exit(await run(Deno.args));
  } catch (e) {
    if (!(e instanceof GenecontentError)) throw e;
    console.error(`retention: error: ${e.message}`);
    Deno.exit(2);
  }
}
