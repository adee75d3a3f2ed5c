/**
 * `genecontent lineage`: are genes gained or lost at a different rate in a lineage (a clade, a
 * class of branches, or along a tip covariate)? Likelihood-ratio tests of lineage effects on
 * every family's rates, over a background model (`lib/effects/likelihood_ratio.ts`).
 *
 * @module
 */

import { nodeIds } from "../../ancestral/node_ids.ts";
import {
  branchClasses,
  cladeDesign,
  classDesigns,
  covariateDesign,
  type LineageDesign,
} from "../../effects/branches.ts";
import { readMetadataTable, tipCovariate } from "../../effects/inputs.ts";
import { type EffectPart, testEffectParts } from "../../effects/likelihood_ratio.ts";
import { GenecontentError } from "../../errors.ts";
import { formatModel } from "../../model/description.ts";
import type { Effect, EffectChannel, EffectSetup } from "../../model/effects.ts";
import { makeProvenance } from "../../provenance.ts";
import type { InputRecord } from "../../provenance.ts";
import { windowText } from "../model_setup.ts";
import { parseCommandLine, refuseConflicts } from "../options.ts";
import { planOutputs, printJson, toTsv } from "../output.ts";
import { ProgressLine } from "../progress.ts";
import {
  backgroundJson,
  EFFECT_COMMON_HELP,
  EFFECT_COMMON_OPTIONS,
  EFFECT_INPUT_HELP,
  effectCommandSettings,
  effectJson,
  formatEffectsText,
  prepareEffectData,
  testJson,
} from "./retention.ts";

/** Options of `lineage`. */
export const LINEAGE_OPTIONS = {
  ...EFFECT_COMMON_OPTIONS,
  clade: { type: "string" },
  node: { type: "string" },
  stem: { type: "boolean" },
  classes: { type: "string" },
  covariate: { type: "string" },
  column: { type: "string" },
  reference: { type: "string" },
} as const;

/** Help text of `lineage`. */
export const LINEAGE_HELP =
  `genecontent lineage: are genes gained or lost at a different rate in a lineage?

Usage: genecontent lineage --tree FILE --pam FILE (--clade TAXA [--stem] | --node LABEL [--stem]
         | --classes FILE --column C | --covariate FILE --column C) [--effect loss|gain|both]
         [--model M] [--json] [--out-tsv FILE]

Every family has the background model's rates (per unit branch length), with its loss (or
gain) rate multiplied by exp(theta x) on each branch: x = 1 on the lineage's branches (0
elsewhere and at the root), or the centred covariate on terminal branches. exp(theta) > 1:
faster on the lineage (for loss: genes lost faster there). Each effect is tested by a
likelihood-ratio test against the background alone (chi2, or chi-bar-square one-sided), and all
effects jointly.

Lineage (give one):
  --clade TAXA           the clade of the most recent common ancestor of these genomes
                         (comma-separated tip names)
  --node LABEL           the clade below this node: an internal label (unique, not a number)
                         or a node id (node<i>) as 'genecontent ancestral' writes them
  --stem                 include the clade's stem branch (the branch above its ancestor);
                         without it, only the branches inside the clade
  --classes FILE         branch classes from a TSV with a header (first column: genome or
                         node id): naming only genomes, the internal nodes' classes are the
                         joint maximum-likelihood reconstruction under the equal-rates Mk
                         model with its rate fitted on the tree (ties to the class first in
                         the file); naming every branch (node ids), the file's classes are
                         used. A branch has the class of the node below it. One effect per
                         class but the reference
  --covariate FILE       a numeric tip covariate from a TSV with a header (first column:
                         genome), centred by its mean over the genomes, on terminal branches
  --column C             the column of --classes or --covariate, by its header name
  --reference CLASS      the reference class of --classes (default: the first in the file)
${EFFECT_COMMON_HELP}
${EFFECT_INPUT_HELP}

Output (text, or --json): model, lineage (kind, description, and for classes the rule, the
classes, the reference and each node's class; for a covariate its mean), effects (each: name,
channel, estimate theta, interval (profile likelihood at --level, open ends flagged), multiplier
exp(theta) and multiplierInterval, p, lrt, df, reference (chi2(1) or chibar2(0,1)), and
branches: the node ids (as 'genecontent ancestral' writes them) of the branches it applies to),
joint (the test of every effect together: lrt, df, p, reference, bootstrapP, logLikNull,
logLikAlt, aic, bic), background (the alternative's background parameters), nFamilies, nGenomes,
backend, provenance. --out-tsv FILE: one row per effect: effect, channel, estimate, lower,
upper, multiplier, multiplierLower, multiplierUpper, p, lrt, df, reference, nBranches.`;

/** A lineage design named for its effects. */
interface NamedDesign extends LineageDesign {
  /** The effect name's stem, e.g. `lineage`, `class[host]`. */
  readonly base: string;
}

function effectName(base: string, channel: EffectChannel, both: boolean): string {
  if (!both) return base;
  const c = channel === "gain" ? "Gain" : "Loss";
  const at = base.indexOf("[");
  return at < 0 ? `${base}${c}` : `${base.slice(0, at)}${c}${base.slice(at)}`;
}

/**
 * The effects of lineage designs on every family: one per design and channel, each tested on
 * its own.
 *
 * @example
 * ```ts
 * import { lineageEffects } from "./lineage.ts";
 * const d = { base: "lineage", design: Float64Array.of(1, 0, 0), branches: [0], description: "" };
 * const { setup, parts } = lineageEffects([d], ["gain", "loss"]);
 * console.assert(setup.effects.map((e) => e.name).join() === "lineageGain,lineageLoss");
 * console.assert(parts.length === 2 && setup.groups === null);
 * ```
 */
export function lineageEffects(
  designs: readonly (LineageDesign & { readonly base: string })[],
  channels: readonly EffectChannel[],
): { setup: EffectSetup; parts: EffectPart[] } {
  const both = channels.length > 1;
  const effects: Effect[] = [];
  for (const d of designs) {
    for (const channel of channels) {
      effects.push({
        name: effectName(d.base, channel, both),
        description: `log multiplier of every family's ${channel} rate on ${d.description}`,
        channel,
        sets: null,
        design: d.design,
      });
    }
  }
  return {
    setup: { effects, groups: null },
    parts: effects.map((e) => ({ label: e.name, tested: [e.name] })),
  };
}

/**
 * Runs `lineage` with its arguments; returns the exit status.
 *
 * @example
 * ```ts ignore
 * import { lineageCommand } from "./lineage.ts";
 * await lineageCommand(["--tree", "t.nwk", "--pam", "p.tsv", "--clade", "a,b", "--json"]);
 * ```
 */
export async function lineageCommand(args: string[]): Promise<number> {
  const { values: v, given } = parseCommandLine(args, LINEAGE_OPTIONS, "lineage");
  if (v.help) {
    console.log(LINEAGE_HELP);
    return 0;
  }
  refuseConflicts(given, [
    ["min-present", "no-ascertainment", "--no-ascertainment is the same as --min-present 0"],
    ["max-present", "no-ascertainment", "--no-ascertainment conditions on nothing"],
  ], "lineage");
  const kinds = ["clade", "node", "classes", "covariate"].filter((k) => given.has(k));
  if (kinds.length !== 1) {
    throw new GenecontentError(
      kinds.length === 0
        ? "'genecontent lineage' needs a lineage: --clade TAXA, --node LABEL, --classes FILE " +
          "--column C or --covariate FILE --column C (see --help)."
        : `Give one lineage; got ${kinds.map((k) => `--${k}`).join(" and ")}.`,
    );
  }
  const kind = kinds[0];
  const table = kind === "classes" || kind === "covariate";
  if (table && v.column === undefined) {
    throw new GenecontentError(`--${kind} needs --column C, the header name of its column.`);
  }
  if (!table && v.column !== undefined) {
    throw new GenecontentError("--column chooses the column of --classes or --covariate.");
  }
  if (v.stem && table) {
    throw new GenecontentError("--stem belongs to a clade: use it with --clade or --node.");
  }
  if (v.reference !== undefined && kind !== "classes") {
    throw new GenecontentError("--reference names the reference class of --classes.");
  }
  const settings = effectCommandSettings(v, given);
  const plan = await planOutputs([
    { flag: "--json", value: v.json ? "-" : undefined, provenance: false },
    { flag: "--out-tsv", value: v["out-tsv"] },
  ], {
    inputs: {
      tree: v.tree,
      PAM: v.pam,
      completeness: v.completeness,
      classes: v.classes,
      covariate: v.covariate,
    },
    force: v.force ?? false,
  });
  const data = await prepareEffectData(v, "lineage", settings.model);
  const { dataset, factory } = data;
  const tree = dataset.tree;
  const ids = nodeIds(tree);
  const dropped = dataset.droppedTips;
  let designs: NamedDesign[];
  let lineage: Record<string, unknown>;
  let extraInput: InputRecord | null = null;
  if (kind === "clade" || kind === "node") {
    const clade = cladeDesign(
      tree,
      kind === "clade" ? { taxa: v.clade!.split(",") } : { node: v.node! },
      v.stem ?? false,
      ids,
    );
    designs = [{ ...clade, base: "lineage" }];
    lineage = {
      kind: "clade",
      description: clade.description,
      mrca: ids[clade.mrca],
      stem: clade.stem,
      tips: clade.tips,
    };
  } else if (kind === "classes") {
    const read = await readMetadataTable(v.classes!, v.column!, "classes");
    extraInput = read.input;
    const bc = branchClasses(tree, read.table, dropped, ids);
    const reference = v.reference ?? bc.classes[0];
    designs = classDesigns(tree, bc, reference).map((d) => ({ ...d, base: `class[${d.class}]` }));
    lineage = {
      kind: "classes",
      column: v.column,
      source: bc.source,
      rule: bc.rule,
      classes: bc.classes,
      reference,
      mk: bc.mk,
      nodeClass: Object.fromEntries(
        ids.slice(0, -1).map((id, u) => [id, bc.classes[bc.ofNode[u]]]),
      ),
    };
  } else {
    const read = await readMetadataTable(v.covariate!, v.column!, "covariate");
    extraInput = read.input;
    const d = covariateDesign(tree, tipCovariate(read.table, tree.tipNames, dropped), v.column!);
    designs = [{ ...d, base: "covariate" }];
    lineage = { kind: "covariate", column: v.column, mean: d.mean, description: d.description };
  }
  const { setup, parts } = lineageEffects(designs, settings.channels);
  const progress = new ProgressLine();
  const tests = await testEffectParts(
    {
      tree,
      patterns: dataset.patterns,
      factory,
      window: data.setup.window,
      completeness: data.setup.completeness,
    },
    settings.model,
    setup,
    parts,
    {
      alternative: settings.alternative,
      level: settings.level,
      bootstrap: settings.bootstrap,
      onProgress: (s) => progress.update(`lineage: ${s}`),
    },
  );
  progress.done();
  const branchesOf = new Map(
    setup.effects.map((e, i) => [e.name, designs[Math.floor(i / settings.channels.length)]]),
  );
  const effects = tests.joint.effects.map((e, i) => {
    const r = tests.parts[i].result;
    const { lrt, df, p, reference, bootstrapP } = testJson(r);
    return {
      ...effectJson(e),
      p,
      lrt,
      df,
      reference,
      bootstrapP,
      branches: branchesOf.get(e.name)!.branches.map((u) => ids[u]),
    };
  });
  const result = {
    model: formatModel(settings.model),
    effect: settings.channels.length > 1 ? "both" : settings.channels[0],
    alternative: settings.alternative,
    lineage,
    effects,
    joint: testJson(tests.joint),
    background: backgroundJson(tests.joint.altFit),
    converged: tests.joint.altFit.converged && tests.joint.nullFit.converged,
    warnings: [...tests.joint.nullFit.warnings, ...tests.joint.altFit.warnings],
    level: settings.level,
    units: { rates: "per unit branch length", logLik: "natural log", theta: "log multiplier" },
    ascertainment: windowText(data.setup.window),
    nFamilies: dataset.patterns.familyNames.length,
    nGenomes: tree.nTips,
    backend: factory.name,
    pruned: data.pruned,
    provenance: makeProvenance({
      command: "lineage",
      backend: factory.name,
      nativeLibrary: factory.libraryPath ?? null,
      threads: data.load.threads as number,
      inputs: [
        ...dataset.inputs,
        ...(data.setup.completenessInput ? [data.setup.completenessInput] : []),
        ...(extraInput ? [extraInput] : []),
      ],
      options: {
        model: formatModel(settings.model),
        lineage: kind,
        clade: v.clade ?? null,
        node: v.node ?? null,
        stem: v.stem ?? false,
        column: v.column ?? null,
        reference: v.reference ?? null,
        channels: settings.channels,
        alternative: settings.alternative,
        level: settings.level,
        bootstrap: settings.bootstrap,
        window: data.setup.window,
        ...data.load,
      },
    }),
  };
  for (const w of result.warnings) console.error(`genecontent: warning: ${w}`);
  await plan.write(
    "--out-tsv",
    toTsv(
      [
        "effect",
        "channel",
        "estimate",
        "lower",
        "upper",
        "multiplier",
        "multiplierLower",
        "multiplierUpper",
        "p",
        "lrt",
        "df",
        "reference",
        "nBranches",
      ],
      effects.map((e) => [
        e.name,
        e.channel,
        e.estimate,
        e.interval?.[0] ?? null,
        e.interval?.[1] ?? null,
        e.multiplier,
        e.multiplierInterval?.[0] ?? null,
        e.multiplierInterval?.[1] ?? null,
        e.p,
        e.lrt,
        e.df,
        e.reference,
        e.branches.length,
      ]),
    ),
    result,
  );
  if (v.json) printJson(result);
  else {
    const say = plan.stdoutTaken ? console.error : console.log;
    const list = tests.parts.length > 1
      ? [...tests.parts, { label: "all effects jointly", result: tests.joint }]
      : tests.parts;
    say(formatEffectsText(
      `genecontent lineage: model ${formatModel(settings.model)}, ${
        designs.map((d) => d.description).join("; ")
      }; ${dataset.patterns.familyNames.length} families x ${tree.nTips} genomes, ` +
        `${windowText(data.setup.window)}`,
      tests.joint.effects,
      list,
      settings.level,
    ));
  }
  return 0;
}
