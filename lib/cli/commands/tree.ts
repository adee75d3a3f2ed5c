/**
 * `genecontent tree`: a tree from the PAM alone. Distances between genomes (Jaccard or Hamming,
 * missing cells excluded pair by pair), neighbour joining or UPGMA, optional rooting (midpoint
 * or outgroup), and optionally the branch lengths refitted under a gain/loss model.
 *
 * @module
 */

import { resolve } from "node:path";
import { GenecontentError } from "../../errors.ts";
import { fitBranchLengths } from "../../fit/branch_lengths.ts";
import { type BackendChoice, chooseBackend } from "../../likelihood/choose_backend.ts";
import { formatModel, modelParameters, parseModel } from "../../model/description.ts";
import { formatNewick } from "../../newick/format.ts";
import { unobservedTaxa } from "../../pam/matrix.ts";
import { compressPatternsByColumn } from "../../pam/patterns.ts";
import { PamFileError, type PamOrientation, readPamWithDigest } from "../../pam/read.ts";
import { makeProvenance } from "../../provenance.ts";
import { quoteValue } from "../../text/decode.ts";
import { type FlatTree, flatTreeFromParents, totalLength } from "../../tree/flat_tree.ts";
import type { DistanceMetric } from "../../tree_building/distances.ts";
import { chooseTreeBackend } from "../../tree_building/native.ts";
import type { TreeMethod } from "../../tree_building/nj.ts";
import { midpointRoot, outgroupRoot } from "../../tree_building/rooting.ts";
import {
  choiceOption,
  cpuCores,
  numberOption,
  parseCommandLine,
  refuseConflicts,
  required,
} from "../options.ts";
import { expectationsFactory } from "../model_setup.ts";
import { planOutputs, printJson } from "../output.ts";
import { ProgressLine } from "../progress.ts";

/** Options of `tree`. */
export const TREE_OPTIONS = {
  pam: { type: "string" },
  orientation: { type: "string" },
  binarize: { type: "boolean" },
  method: { type: "string" },
  distance: { type: "string" },
  root: { type: "string" },
  outgroup: { type: "string" },
  "optimize-branch-lengths": { type: "boolean" },
  model: { type: "string" },
  backend: { type: "string" },
  threads: { type: "string" },
  json: { type: "boolean" },
  out: { type: "string" },
  force: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * What a tree inferred from the PAM means for what is fitted on it, as the help and every
 * JSON result state it.
 */
export const CONDITIONAL_NOTE =
  "This tree is inferred from the same PAM: rates, intervals and tests fitted on it are " +
  "conditional on it (they treat its topology, and its branch lengths, as known and do not " +
  "account for its uncertainty), and the data are used twice.";

/** Help text of `tree`. */
export const TREE_HELP = `genecontent tree: a tree of the genomes from the PAM alone

Usage: genecontent tree --pam FILE [--method nj|upgma] [--distance jaccard|hamming]
       [--root midpoint | --outgroup TAXA] [--optimize-branch-lengths [--model M]]
       [--out tree.nwk] [--json]

Distances between genomes count the families observed (not missing) in both: Jaccard is
(families present in exactly one) / (families present in at least one), Hamming is (present
in exactly one) / (observed in both). A pair of genomes with no family observed in both, or
(Jaccard) none present in either, is an error naming the two genomes. Branch lengths are in
units of the distance; with --optimize-branch-lengths they are refitted under the model, and
rates fitted on the tree are then per unit branch length of that fitted tree.

${CONDITIONAL_NOTE.replace(/(.{1,92})( |$)/g, "$1\n").trimEnd()}

Tree:
  --method NAME          nj (default: neighbour joining, Saitou and Nei with Studier and
                         Keppler's Q; unrooted, written with a root of three children unless
                         rooted below; a negative branch length is set to 0 and added to its
                         sister branch) or upgma (average linkage: rooted, ultrametric)
  --distance NAME        jaccard (default) or hamming
  --root WHERE           none (default) or midpoint: the middle of the longest path between
                         two genomes
  --outgroup TAXA        comma-separated genomes that form a clade of the unrooted tree: the
                         root goes half-way along their stem; not with --root
Branch lengths:
  --optimize-branch-lengths
                         refit every branch length (topology kept) jointly with the model's
                         parameters by maximum likelihood; the fitted tree keeps the distance
                         tree's total length
  --model NAME           the model for --optimize-branch-lengths (default null; any of
                         genecontent fit's, e.g. gamma4 or mixture2+error); needs it
Input (relative paths are relative to the folder you run genecontent in):
  --pam FILE             presence/absence matrix: TSV/CSV (either orientation), Roary or
                         Panaroo gene_presence_absence.csv or .Rtab, PPanGGOLiN matrix.csv
  --orientation WHICH    families-as-rows or families-as-columns for a plain table (auto, the
                         default, knows only the Roary, Panaroo, PPanGGOLiN and Rtab layouts)
  --binarize             treat non-negative integer counts as presence (> 0)
Computation:
  --backend NAME         auto (default: native if it loads, else TypeScript), native or ts;
                         both give the same numbers
  --threads N            native worker threads (default 0: one per CPU core; capped to the
                         cores; not with --backend ts)
Output:
  --out FILE             write the tree (Newick) to FILE, with the whole JSON result in
                         FILE.provenance.json; '-' for stdout (the default without --json)
  --json                 print the whole result as JSON (with provenance) on stdout
  --force                let --out (and its .provenance.json) replace existing files; an
                         input file is never replaced
  -h, --help             this help

Output: the Newick tree; --json: method, distance, root, outgroup, rooted, nGenomes,
nFamilies, negativeLengthsSetToZero, newick, backend, threads, seconds (distances, tree),
branchLengths (null, or optimized, model, backend, totalLength, startLogLik, logLik,
converged, iterations, evaluations, parameters), units, conditional (the note above) and
provenance.`;

/** Reads the PAM, refusing what a tree cannot be built from. */
async function readInput(path: string, orientation: PamOrientation, binarize: boolean) {
  let read;
  try {
    read = await readPamWithDigest(path, { orientation, binarize });
  } catch (e) {
    if (!(e instanceof PamFileError)) throw e;
    if (e.cause instanceof Deno.errors.NotFound) {
      throw new GenecontentError(`Cannot read PAM file '${path}': no such file.`);
    }
    throw new GenecontentError(
      `Cannot read PAM file '${path}': ${(e.cause as Error)?.message ?? e.cause}`,
    );
  }
  const { pam } = read;
  const names = (xs: readonly string[]) =>
    xs.slice(0, 10).map((x) => quoteValue(x)).join(", ") +
    (xs.length > 10 ? `, ... (${xs.length} in all)` : "");
  if (pam.taxa.length < 3) {
    throw new GenecontentError(
      `PAM file '${path}' has ${pam.taxa.length} genome(s) (${names(pam.taxa)}): a tree needs ` +
        "at least 3 (with 2 there is a single branch and nothing to infer).",
    );
  }
  const unobserved = unobservedTaxa(pam);
  if (unobserved.length > 0) {
    throw new GenecontentError(
      `PAM file '${path}': ${unobserved.length === 1 ? "genome" : "genomes"} ` +
        `${names(unobserved)} ${unobserved.length === 1 ? "has" : "have"} every cell missing, ` +
        "so no distance to any other genome is defined; drop " +
        `${unobserved.length === 1 ? "it" : "them"} from the PAM.`,
    );
  }
  return read;
}

/**
 * Refuses families present in no genome before a branch-length fit: the likelihood conditions
 * every family on at least one present genome, so such a family has probability 0.
 */
function refuseAbsentFamilies(
  states: Uint8Array,
  families: readonly string[],
  nGenomes: number,
  path: string,
): void {
  const absent: string[] = [];
  for (let f = 0; f < families.length; f++) {
    const row = states.subarray(f * nGenomes, (f + 1) * nGenomes);
    if (!row.includes(1)) absent.push(families[f]);
  }
  if (absent.length === 0) return;
  const shown = absent.slice(0, 10).map((x) => quoteValue(x)).join(", ");
  throw new GenecontentError(
    `PAM file '${path}': ${absent.length} ${absent.length === 1 ? "family is" : "families are"} ` +
      `present in no genome (${shown}${absent.length > 10 ? ", ..." : ""}), but ` +
      "--optimize-branch-lengths conditions every family on at least one present genome; " +
      "remove them from the PAM (the Jaccard distances do not change) or leave out --optimize-branch-lengths.",
  );
}

/**
 * Runs `tree` with its arguments; returns the exit status.
 *
 * @example
 * ```ts ignore
 * import { treeCommand } from "./tree.ts";
 * await treeCommand(["--pam", "examples/pam.tsv", "--orientation", "families-as-rows"]);
 * ```
 */
export async function treeCommand(args: string[]): Promise<number> {
  const { values: v, given } = parseCommandLine(args, TREE_OPTIONS, "tree");
  if (v.help) {
    console.log(TREE_HELP);
    return 0;
  }
  refuseConflicts(given, [
    ["root", "outgroup", "--outgroup says where the root goes"],
  ], "tree");
  const optimize = v["optimize-branch-lengths"] === true;
  if (v.model !== undefined && !optimize) {
    throw new GenecontentError(
      "--model is the model of --optimize-branch-lengths: give both, or neither.",
    );
  }
  const pamPath = resolve(required(v.pam, "--pam", "tree"));
  const method = choiceOption<TreeMethod>(v.method ?? "nj", "--method", ["nj", "upgma"]);
  const metric = choiceOption<DistanceMetric>(v.distance ?? "jaccard", "--distance", [
    "jaccard",
    "hamming",
  ]);
  const rootChoice = choiceOption(v.root ?? "none", "--root", ["none", "midpoint"]);
  const outgroup = v.outgroup === undefined
    ? null
    : v.outgroup.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (outgroup !== null && outgroup.length === 0) {
    throw new GenecontentError(
      `--outgroup needs comma-separated genome names; got '${v.outgroup}'.`,
    );
  }
  const orientation = choiceOption<PamOrientation>(v.orientation ?? "auto", "--orientation", [
    "auto",
    "families-as-rows",
    "families-as-columns",
  ]);
  const backendChoice = choiceOption<BackendChoice>(v.backend ?? "auto", "--backend", [
    "auto",
    "native",
    "ts",
  ]);
  if (backendChoice === "ts" && v.threads !== undefined) {
    throw new GenecontentError(
      "Options --threads and --backend ts cannot be used together: the TypeScript backend " +
        "runs on one thread (see 'genecontent tree --help').",
    );
  }
  let threads = numberOption(v.threads ?? "0", "--threads", { min: 0, integer: true });
  if (threads > cpuCores()) {
    console.error(
      `genecontent: --threads ${threads} is more than the ${cpuCores()} CPU core(s) of this ` +
        `machine; using ${cpuCores()}.`,
    );
    threads = cpuCores();
  }
  const model = optimize ? parseModel(v.model ?? "null") : null;
  const out = v.out ?? (v.json ? undefined : "-");
  const plan = await planOutputs([
    { flag: "--json", value: v.json ? "-" : undefined, provenance: false },
    { flag: "--out", value: out },
  ], { inputs: { PAM: pamPath }, force: v.force ?? false });

  const read = await readInput(pamPath, orientation, v.binarize ?? false);
  const { pam } = read;
  for (const notice of pam.notices) console.error(`genecontent: ${notice}`);
  const nGenomes = pam.taxa.length, nFamilies = pam.families.length;
  const backend = await chooseTreeBackend(backendChoice, { threads });
  const t0 = performance.now();
  const distances = backend.distances(pam.states, nGenomes, nFamilies, metric, pam.taxa, pamPath);
  const t1 = performance.now();
  const built = backend.buildTree(nGenomes, distances, method);
  const t2 = performance.now();
  let tree: FlatTree = flatTreeFromParents(pam.taxa, built.parent, built.branchLength);
  if (rootChoice === "midpoint") tree = midpointRoot(tree);
  if (outgroup !== null) tree = outgroupRoot(tree, outgroup);
  const rooted = method === "upgma" || rootChoice === "midpoint" || outgroup !== null;

  let branchLengths = null;
  let likelihoodBackend: { name: string; libraryPath: string | null } | null = null;
  if (optimize) {
    refuseAbsentFamilies(pam.states, pam.families, nGenomes, pamPath);
    const patterns = compressPatternsByColumn(
      pam.states,
      nFamilies,
      nGenomes,
      Int32Array.from({ length: nGenomes }, (_, i) => i),
      pam.families,
      { inPlace: true },
    );
    const factory = expectationsFactory(await chooseBackend(backendChoice, { threads }));
    likelihoodBackend = { name: factory.name, libraryPath: factory.libraryPath ?? null };
    const progress = new ProgressLine();
    const fit = fitBranchLengths(tree, patterns, factory, model!, undefined, {
      onEvaluation: (logLik, n) =>
        progress.update(`branch lengths: ${n} evaluations, logLik ${logLik.toFixed(3)}`),
    });
    progress.done();
    tree = fit.tree;
    branchLengths = {
      optimized: true,
      model: formatModel(model!),
      backend: factory.name,
      totalLength: fit.totalLength,
      startLogLik: fit.startLogLik,
      logLik: fit.logLik,
      converged: fit.converged,
      iterations: fit.iterations,
      evaluations: fit.evaluations,
      parameters: Object.fromEntries(
        modelParameters(model!).map((spec, i) => [spec.name, fit.values[i]]),
      ),
      note: "rates are per unit branch length of the fitted tree, whose total length is held " +
        "at the distance tree's",
    };
  }
  const newick = formatNewick(tree);
  const provenance = makeProvenance({
    command: "tree",
    backend: backend.name,
    nativeLibrary: backend.libraryPath ?? likelihoodBackend?.libraryPath ?? null,
    threads: backend.threads,
    inputs: [{ role: "pam", path: pamPath, sha256: read.sha256, bytes: read.bytes }],
    options: {
      method,
      distance: metric,
      root: outgroup !== null ? "outgroup" : rootChoice,
      outgroup,
      orientation,
      binarize: v.binarize ?? false,
      optimizeBranchLengths: optimize,
      model: model === null ? null : formatModel(model),
      backend: backendChoice,
      threads,
    },
  });
  const result = {
    method,
    distance: metric,
    root: outgroup !== null ? "outgroup" : rootChoice,
    outgroup,
    rooted,
    nGenomes,
    nFamilies,
    negativeLengthsSetToZero: built.clamped,
    newick,
    backend: backend.name,
    threads: backend.threads,
    seconds: { distances: (t1 - t0) / 1000, tree: (t2 - t1) / 1000 },
    branchLengths,
    units: {
      branchLengths: optimize
        ? "fitted under the model (rates per unit branch length of the fitted tree)"
        : `${metric} distance (path lengths between genomes approximate their distances)`,
    },
    conditional: CONDITIONAL_NOTE,
    provenance,
  };
  await plan.write("--out", newick + "\n", result);
  if (v.json) printJson(result);
  else {
    console.error(
      `# genecontent tree: ${method === "nj" ? "neighbour joining" : "UPGMA"} on ${metric} ` +
        `distances, ${nGenomes} genomes x ${nFamilies} families, ${
          rooted ? "rooted" : "unrooted"
        }, ${backend.name} backend; total length ${totalLength(tree).toPrecision(6)}` +
        (built.clamped > 0 ? `; ${built.clamped} negative length(s) set to 0` : "") +
        (out !== "-" ? `; written to ${out}` : ""),
    );
    console.error(`# ${CONDITIONAL_NOTE}`);
  }
  return 0;
}
