/**
 * `genecontent simulate`: a PAM simulated under any model on a given tree, with the truth
 * behind it; `genecontent simulate-tree`: random (Yule, coalescent) and regular (caterpillar,
 * star) trees.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { GenecontentError } from "../../errors.ts";
import { readTree } from "../../load_dataset.ts";
import { formatModel, modelParameters } from "../../model/description.ts";
import { readCompleteness } from "../../model/tip_error.ts";
import type { EffectSetup } from "../../model/effects.ts";
import { readFamilySets } from "../../effects/inputs.ts";
import { formatNewick } from "../../newick/format.ts";
import { type InputRecord, inputRecord, makeProvenance } from "../../provenance.ts";
import { encodePamTsv, simulatedFamilyName } from "../../simulate/pam_tsv.ts";
import { type ModelSimulation, simulateModel } from "../../simulate/model.ts";
import { Random } from "../../simulate/random.ts";
import { caterpillarTree, coalescentTree, starTree, yuleTree } from "../../simulate/trees.ts";
import type { FlatTree } from "../../tree/flat_tree.ts";
import { VERSION } from "../../version.ts";
import {
  ASCERTAINMENT_HELP,
  ASCERTAINMENT_OPTIONS,
  ascertainmentOption,
  MODEL_HELP,
  MODEL_OPTIONS,
  modelOption,
  modelValuesOption,
} from "../model_options.ts";
import { choiceOption, numberOption, parseCommandLine, required } from "../options.ts";
import { planOutputs } from "../output.ts";

/** Options of `simulate`. */
export const SIMULATE_OPTIONS = {
  tree: { type: "string" },
  ...MODEL_OPTIONS,
  ...ASCERTAINMENT_OPTIONS,
  families: { type: "string" },
  seed: { type: "string" },
  missing: { type: "string" },
  events: { type: "boolean" },
  "family-set": { type: "string" },
  theta: { type: "string" },
  effect: { type: "string" },
  out: { type: "string" },
  force: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Help text of `simulate`. */
export const SIMULATE_HELP = `genecontent simulate: a PAM simulated under a model, with its truth

Usage: genecontent simulate --tree FILE --model NAME --gain G --loss L [model options]
         --families N --seed S --out DIR [options]

Each family draws its rate category, mixture class or the invariant class, then evolves on the
tree: the root from the stationary distribution, each branch by the exact jump process (gains
and losses are counted). Cells are then recorded: missing at rate --missing, else a truly absent
cell is recorded present with probability falsePresence (+error), a truly present cell of genome
i is recorded absent with probability 1 - (1 - falseAbsence) c_i (c_i from --completeness, 1 if
not given; falseAbsence 0 without +error). Families whose recorded present count is outside
the ascertainment window are discarded and counted, until N are kept.

Input:
  --tree FILE            rooted Newick tree with branch lengths (relative paths are relative
                         to the folder you run genecontent in)
${MODEL_HELP}
${ASCERTAINMENT_HELP}
Simulation:
  --families N           number of families to keep (rows of the PAM), >= 1
  --seed S               seed (a whole number): the same seed gives byte-identical pam.tsv and
                         truth.json on every machine
  --missing F            probability that a cell is missing (written '?'), in [0, 1); default 0
Effect (known truth for 'genecontent retention' and 'genecontent screen'):
  --family-set FILE      families whose rate is multiplied: one id per line (fam1 .. famN as
                         written to pam.tsv, zero-padded to one width), or family<TAB>set rows
                         (every listed set gets the same multiplier)
  --theta T              the multiplier exp(T) on the set's rate, on every branch and at the
                         root prior (T real, a negative one written --theta=-0.5; 0 is
                         the background model)
  --effect loss|gain     the rate multiplied (default loss)
Output:
  --out DIR              folder to write into (created if needed):
                           DIR/pam.tsv         families as rows: header 'family' then the genome
                                               names; rows fam1 .. famN; cells 0, 1 or ? (missing)
                           DIR/truth.json      model, parameters (rates per unit branch length),
                                               window, counts (kept, simulated, discarded below
                                               and above the window, recorded cells changed),
                                               components with weights and rates, per branch
                                               (node, name, parent, length) the true gains and
                                               losses summed over kept families, per family
                                               (row order) its component and true gains and
                                               losses; with --family-set also the effect
                                               (name, rate, theta, multiplier, sets) and per
                                               family its set (null: in no set)
                           DIR/provenance.json version, input file digests, options, time
                           DIR/events.tsv      with --events: family, node, branch, gains,
                                               losses for every branch of every family with an
                                               event
  --events               also write DIR/events.tsv
  --force                replace existing files in DIR
  -h, --help             this help`;

/** Options of `simulate-tree`. */
export const SIMULATE_TREE_OPTIONS = {
  shape: { type: "string" },
  tips: { type: "string" },
  seed: { type: "string" },
  height: { type: "string" },
  prefix: { type: "string" },
  out: { type: "string" },
  force: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Help text of `simulate-tree`. */
export const SIMULATE_TREE_HELP = `genecontent simulate-tree: a random or regular tree

Usage: genecontent simulate-tree --shape SHAPE --tips N [--seed S] --out FILE [options]

Shapes (tips g1 .. gN, branch lengths in the units of the rates, per unit branch length):
  yule         random pure-birth tree (needs --seed), ultrametric
  coalescent   random Kingman coalescent tree (needs --seed), ultrametric
  caterpillar  the ladder (((g1,g2),g3),...,gN), every branch of length height / (N - 1)
  star         every tip directly below the root, every branch of length height

Options:
  --shape SHAPE          yule, coalescent, caterpillar or star
  --tips N               number of tips, >= 2
  --seed S               seed (a whole number) of the random shapes
  --height H             root-to-tip height, > 0 (default 1)
  --prefix P             tip name prefix (default g)
  --out FILE             Newick file to write ('-' for stdout)
  --force                replace an existing FILE
  -h, --help             this help`;

/**
 * Reads a whole-number option that may be negative (a seed).
 */
function seedOption(text: string, flag: string): number {
  const v = numberOption(text, flag, { integer: true });
  if (!Number.isSafeInteger(v)) {
    throw new GenecontentError(
      `${flag} must be a whole number within +-(2^53 - 1); got '${text}'.`,
    );
  }
  return v;
}

/** The name of the branch above `node`: the tip's name, the internal label, or null. */
function branchName(tree: FlatTree, node: number): string | null {
  return node < tree.nTips ? tree.tipNames[node] : tree.internalLabels[node - tree.nTips];
}

/**
 * JSON with 2-space indentation, except arrays of numbers, which stay on one line (the
 * per-family arrays would otherwise take one line per family).
 */
function jsonCompactArrays(value: unknown): string {
  const arrays: string[] = [];
  const text = JSON.stringify(value, (_key, v) => {
    if (
      (Array.isArray(v) && v.every((x) => typeof x === "number")) ||
      ArrayBuffer.isView(v)
    ) {
      arrays.push(JSON.stringify(Array.from(v as ArrayLike<number>)));
      return `\u0000${arrays.length - 1}\u0000`;
    }
    return v;
  }, 2);
  return text.replace(/"\\u0000(\d+)\\u0000"/g, (_m, i) => arrays[Number(i)]) + "\n";
}

/**
 * The truth of a simulation as written to `truth.json` (a function of the inputs and the seed
 * only, so that it is byte-identical across runs).
 *
 * @example
 * ```ts
 * import { parseModel } from "../../model/description.ts";
 * import { simulateModel } from "../../simulate/model.ts";
 * import { starTree } from "../../simulate/trees.ts";
 * import { simulationTruth } from "./simulate.ts";
 * const tree = starTree(3, 1);
 * const sim = simulateModel(tree, parseModel("null"), { gain: 1, loss: 1 }, { nFamilies: 5, seed: 1 });
 * const truth = simulationTruth(sim, tree, { seed: 1, inputs: [], completeness: null });
 * console.assert(truth.counts.families === 5 && truth.branches.length === 3);
 * ```
 */
export function simulationTruth(
  sim: ModelSimulation,
  tree: FlatTree,
  context: {
    readonly seed: number;
    readonly inputs: readonly InputRecord[];
    readonly completeness: Float64Array | null;
  },
) {
  const kept = new Array(sim.components.length).fill(0);
  for (const c of sim.component) kept[c]++;
  let gains = 0, losses = 0;
  for (let v = 0; v < tree.nNodes; v++) {
    gains += sim.branchGains[v];
    losses += sim.branchLosses[v];
  }
  const specs = modelParameters(sim.model);
  return {
    tool: "genecontent",
    version: VERSION,
    command: "simulate",
    model: sim.modelName,
    parameters: sim.parameters,
    parameterUnits: Object.fromEntries(specs.map((p) => [p.name, p.units || "none"])),
    seed: context.seed,
    ascertainment: sim.ascertainment,
    missing: sim.missing,
    completeness: context.completeness === null
      ? null
      : Object.fromEntries(tree.tipNames.map((g, i) => [g, context.completeness![i]])),
    inputs: context.inputs,
    counts: {
      families: sim.nFamilies,
      genomes: sim.nTips,
      simulated: sim.nSimulated,
      discarded: sim.nBelowWindow + sim.nAboveWindow,
      belowWindow: sim.nBelowWindow,
      aboveWindow: sim.nAboveWindow,
      missingCells: sim.nMissingCells,
      falsePresentCells: sim.nFalsePresentCells,
      falseAbsentCells: sim.nFalseAbsentCells,
    },
    components: sim.components.map((c, i) => ({
      index: i,
      label: c.label,
      weight: c.weight,
      invariant: c.invariant,
      gain: c.gain,
      loss: c.loss,
      rateMultiplier: c.rateMultiplier,
      keptFamilies: kept[i],
    })),
    totals: { gains, losses },
    branches: Array.from({ length: tree.nNodes - 1 }, (_, v) => ({
      node: v,
      name: branchName(tree, v),
      parent: tree.parent[v],
      length: tree.branchLength[v],
      gains: sim.branchGains[v],
      losses: sim.branchLosses[v],
    })),
    families: {
      note: "row order of pam.tsv (fam1 first); component indexes into components",
      component: Array.from(sim.component),
      gains: Array.from(sim.familyGains),
      losses: Array.from(sim.familyLosses),
      ...(sim.familySet
        ? { set: Array.from(sim.familySet, (s) => (s < 0 ? null : sim.sets![s])) }
        : {}),
    },
    ...(sim.effects
      ? {
        effects: sim.effects.map((e) => ({
          name: e.name,
          description: e.description,
          rate: e.channel,
          theta: e.theta,
          multiplier: Math.exp(e.theta),
          sets: e.sets,
          design: e.design === null ? null : Array.from(e.design),
        })),
        sets: sim.sets!.map((name, i) => ({
          name,
          keptFamilies: sim.groupCounts!.kept[i + 1],
          simulated: sim.groupCounts!.simulated[i + 1],
        })),
      }
      : {}),
  };
}

/** Writes bytes to `path` through a temporary file in the same folder and a rename. */
async function writeBytesAtomically(path: string, shown: string, bytes: Uint8Array) {
  const temp = join(dirname(path), `.${crypto.randomUUID()}.tmp`);
  try {
    await Deno.writeFile(temp, bytes, { createNew: true });
    await Deno.rename(temp, path);
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    const why = e instanceof Error ? e.message : String(e);
    throw new GenecontentError(`Cannot write '${shown}': ${why}`);
  }
}

/**
 * Runs `simulate` with its arguments; returns the exit status.
 *
 * @example
 * ```ts ignore
 * import { simulateCommand } from "./simulate.ts";
 * await simulateCommand(["--tree", "t.nwk", "--gain", "0.1", "--loss", "1", "--families", "100",
 *   "--seed", "1", "--out", "sim"]);
 * ```
 */
export async function simulateCommand(args: string[]): Promise<number> {
  const { values: v } = parseCommandLine(args, SIMULATE_OPTIONS, "simulate");
  if (v.help) {
    console.log(SIMULATE_HELP);
    return 0;
  }
  const treePath = required(v.tree, "--tree", "simulate");
  const outDir = required(v.out, "--out", "simulate");
  const nFamilies = numberOption(required(v.families, "--families", "simulate"), "--families", {
    min: 1,
    integer: true,
    max: 1e9,
  });
  const seed = seedOption(required(v.seed, "--seed", "simulate"), "--seed");
  const missing = numberOption(v.missing ?? "0", "--missing", { min: 0 });
  if (!(missing < 1)) {
    throw new GenecontentError(`--missing must be a probability below 1; got '${v.missing}'.`);
  }
  const model = modelOption(v);
  const values = modelValuesOption(model, v);
  if (values === null) {
    throw new GenecontentError(
      `'genecontent simulate' needs the values of every parameter of model ${formatModel(model)}: ${
        modelParameters(model).map((p) => p.name).join(", ")
      } (see --help).`,
    );
  }
  const { tree, input } = await readTree(treePath);
  const window = ascertainmentOption(v, tree.nTips);
  const inputs: InputRecord[] = [input];
  let effects: EffectSetup | undefined;
  let theta = 0;
  const channel = choiceOption(v.effect ?? "loss", "--effect", ["loss", "gain"]);
  if ((v["family-set"] === undefined) !== (v.theta === undefined)) {
    throw new GenecontentError(
      "--family-set and --theta go together: give both (the families and their multiplier " +
        "exp(theta)), or neither.",
    );
  }
  if (v.effect !== undefined && v["family-set"] === undefined) {
    throw new GenecontentError("--effect needs --family-set FILE and --theta T.");
  }
  if (v["family-set"] !== undefined) {
    theta = numberOption(v.theta!, "--theta");
    const names = Array.from({ length: nFamilies }, (_, f) => simulatedFamilyName(f, nFamilies));
    const sets = await readFamilySets(v["family-set"], names);
    inputs.push(sets.input);
    const setNames = sets.groups.sets;
    effects = {
      effects: [{
        name: "theta",
        description: `log multiplier of the ${channel} rate of ${
          setNames.length === 1 ? `set '${setNames[0]}'` : `sets ${setNames.join(", ")}`
        }`,
        channel,
        sets: setNames.map((_, i) => i),
        design: null,
      }],
      groups: sets.groups,
    };
  }
  let completeness: Float64Array | null = null;
  if (v.completeness !== undefined) {
    completeness = await readCompleteness(v.completeness, tree.tipNames);
    inputs.push(
      await inputRecord("completeness", v.completeness, await Deno.readFile(v.completeness)),
    );
  }
  try {
    await Deno.mkdir(outDir, { recursive: true });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new GenecontentError(`--out '${outDir}': cannot create the folder: ${why}`);
  }
  const files = [
    { flag: "--out pam.tsv", value: join(outDir, "pam.tsv"), provenance: false },
    { flag: "--out truth.json", value: join(outDir, "truth.json"), provenance: false },
    { flag: "--out provenance.json", value: join(outDir, "provenance.json"), provenance: false },
    ...(v.events
      ? [{ flag: "--out events.tsv", value: join(outDir, "events.tsv"), provenance: false }]
      : []),
  ];
  const planInputs = {
    tree: treePath,
    completeness: v.completeness,
    ...(v["family-set"] !== undefined ? { familySet: v["family-set"] } : {}),
  };
  await planOutputs(files, { inputs: planInputs, force: v.force ?? false });

  const t0 = performance.now();
  const sim = simulateModel(tree, model, values, {
    nFamilies,
    seed,
    ascertainment: window,
    missing,
    completeness: completeness ?? undefined,
    recordEvents: v.events ?? false,
    ...(effects ? { effects, effectValues: [theta] } : {}),
  });
  const simulatedMs = performance.now() - t0;
  const pam = encodePamTsv(tree.tipNames, sim.states, sim.nFamilies);
  const truth = simulationTruth(sim, tree, { seed, inputs, completeness });
  const provenance = makeProvenance({
    command: "simulate",
    backend: "ts",
    threads: 1,
    inputs,
    options: {
      model: sim.modelName,
      parameters: sim.parameters,
      families: nFamilies,
      seed,
      ascertainment: window,
      missing,
      events: v.events ?? false,
      ...(effects
        ? { familySet: v["family-set"], theta, effect: channel, sets: effects.groups!.sets }
        : {}),
      out: outDir,
    },
  });

  // Checked again just before writing: a file may have appeared meanwhile.
  const plan = await planOutputs(files, { inputs: planInputs, force: v.force ?? false });
  await writeBytesAtomically(plan.get("--out pam.tsv")!.path!, files[0].value, pam);
  await plan.write("--out truth.json", jsonCompactArrays(truth));
  await plan.write("--out provenance.json", JSON.stringify(provenance, null, 2) + "\n");
  if (v.events) {
    const ev = sim.events!;
    const lines = ["family\tnode\tbranch\tgains\tlosses"];
    for (let k = 0; k < ev.family.length; k++) {
      lines.push(
        `${simulatedFamilyName(ev.family[k], sim.nFamilies)}\t${ev.node[k]}\t${
          branchName(tree, ev.node[k]) ?? "NA"
        }\t${ev.gains[k]}\t${ev.losses[k]}`,
      );
    }
    await plan.write("--out events.tsv", lines.join("\n") + "\n");
  }
  const discarded = sim.nBelowWindow + sim.nAboveWindow;
  console.log(
    `genecontent simulate: ${sim.nFamilies} families x ${sim.nTips} genomes under ` +
      `${sim.modelName} (${sim.nSimulated} simulated, ${discarded} discarded by the window ` +
      `[${window.minPresent}, ${window.maxPresent ?? sim.nTips}]; ${truth.totals.gains} gains, ` +
      `${truth.totals.losses} losses) in ${(simulatedMs / 1000).toFixed(2)} s; wrote ` +
      `${files.map((f) => f.value).join(", ")}.`,
  );
  return 0;
}

/**
 * Runs `simulate-tree` with its arguments; returns the exit status.
 *
 * @example
 * ```ts ignore
 * import { simulateTreeCommand } from "./simulate.ts";
 * await simulateTreeCommand(["--shape", "yule", "--tips", "50", "--seed", "1", "--out", "t.nwk"]);
 * ```
 */
export async function simulateTreeCommand(args: string[]): Promise<number> {
  const { values: v } = parseCommandLine(args, SIMULATE_TREE_OPTIONS, "simulate-tree");
  if (v.help) {
    console.log(SIMULATE_TREE_HELP);
    return 0;
  }
  const shape = choiceOption(required(v.shape, "--shape", "simulate-tree"), "--shape", [
    "yule",
    "coalescent",
    "caterpillar",
    "star",
  ]);
  const nTips = numberOption(required(v.tips, "--tips", "simulate-tree"), "--tips", {
    min: 2,
    integer: true,
    max: 1e7,
  });
  const height = numberOption(v.height ?? "1", "--height", { min: 0, exclusiveMin: true });
  const prefix = v.prefix ?? "g";
  if (prefix === "" || /[\s(),:;'[\]]/.test(prefix)) {
    throw new GenecontentError(
      `--prefix must be non-empty, without spaces or Newick punctuation ( ) , : ; ' [ ]; got ` +
        `'${prefix}'.`,
    );
  }
  const out = required(v.out, "--out", "simulate-tree");
  const random = shape === "yule" || shape === "coalescent";
  if (random && v.seed === undefined) {
    throw new GenecontentError(`--shape ${shape} is random: give --seed S.`);
  }
  if (!random && v.seed !== undefined) {
    throw new GenecontentError(`--seed does not apply to --shape ${shape}, which is not random.`);
  }
  const plan = await planOutputs([{ flag: "--out", value: out, provenance: false }], {
    inputs: {},
    force: v.force ?? false,
  });
  let tree: FlatTree;
  if (shape === "yule") {
    tree = yuleTree(nTips, new Random(seedOption(v.seed!, "--seed")), { height, prefix });
  } else if (shape === "coalescent") {
    tree = coalescentTree(nTips, new Random(seedOption(v.seed!, "--seed")), { height, prefix });
  } else if (shape === "caterpillar") {
    tree = caterpillarTree(nTips, height / (nTips - 1), { prefix });
  } else {
    tree = starTree(nTips, height, { prefix });
  }
  await plan.write("--out", formatNewick(tree) + "\n");
  if (!plan.stdoutTaken) {
    console.log(`genecontent simulate-tree: ${shape} tree of ${nTips} tips written to ${out}.`);
  }
  return 0;
}
