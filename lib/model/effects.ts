/**
 * Effects: log-linear multipliers on a background model's rates for some families on some
 * branches. An effect `e` with value `theta_e` and design `x_e` (one value per tree node, the
 * node's entry standing for the branch above it and, at the root, for the root prior) multiplies
 * one rate (gain or loss) of the families it applies to by `exp(theta_e * x_{e,v})` on branch v.
 * With several effects the exponents add, so for component c of the background (a gamma
 * category, a mixture class) and a family of set g:
 *
 *     gain_{c,g,v} = gain_c exp(sum over gain effects e applying to g of theta_e x_{e,v})
 *     loss_{c,g,v} = loss_c exp(sum over loss effects e applying to g of theta_e x_{e,v})
 *
 * A design of `null` is 1 on every branch and on the root prior: the family's whole process runs
 * at the multiplied rate (a family-set effect). Lineage effects (a clade, a class of branches, a
 * tip covariate) give their design explicitly, 0 on the root prior. Annotation-error pendant
 * branches (`tip_error.ts`) are never affected. Every theta = 0 gives back the background model.
 *
 * Effects are the parameters of a test: a background model plus effects is the alternative, the
 * background alone the null (`lib/effects/likelihood_ratio.ts`). The likelihood
 * (`ModelLikelihood` with `effects`), the fitter, profile intervals and the simulator read the
 * same {@linkcode EffectSetup}.
 *
 * @example
 * ```ts
 * import { effectParameters, familyGroups } from "./effects.ts";
 * const groups = familyGroups(["a", "b", "c"], new Map([["pathway", ["b"]]]));
 * console.assert(groups.ofFamily.join() === "-1,0,-1");
 * const specs = effectParameters([{ name: "theta", description: "loss multiplier of pathway",
 *   channel: "loss", sets: [0], design: null }]);
 * console.assert(specs[0].transform === "identity" && specs[0].kind === "effect");
 * ```
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import type { ParameterSpec } from "./description.ts";

/** Which rate an effect multiplies. */
export type EffectChannel = "gain" | "loss";

/** Disjoint sets of families over the families of a PAM. */
export interface FamilyGroups {
  /** Set names; set `s` is `sets[s]`. */
  readonly sets: readonly string[];
  /** Per family (in the PAM's family order): -1 when in no set, else its set's index. */
  readonly ofFamily: Int32Array;
}

/** An effect bound to a tree and a PAM. */
export interface Effect {
  /** Its parameter name (unique among a model's parameters), e.g. `theta`, `thetaLoss[pathway]`. */
  readonly name: string;
  /** What it is, in words, for outputs and `--help`. */
  readonly description: string;
  /** The rate it multiplies. */
  readonly channel: EffectChannel;
  /** The sets it applies to (indices into {@linkcode FamilyGroups.sets}); null: every family. */
  readonly sets: readonly number[] | null;
  /**
   * `x_v` per node of the tree (without annotation-error pendants), in the tree's node order;
   * the root's entry applies to the root prior. `null`: 1 on every branch and the root prior.
   */
  readonly design: Float64Array | null;
}

/** The effects of a model and the family sets they refer to. */
export interface EffectSetup {
  /** The effects, in the order of their parameters. */
  readonly effects: readonly Effect[];
  /** The family sets (null when no effect refers to a set). */
  readonly groups: FamilyGroups | null;
}

/**
 * The free parameters the effects add to a background model, after the background's own: each
 * theta on the real line (identity working scale; theta = 0 is no effect).
 *
 * @example
 * ```ts
 * import { effectParameters } from "./effects.ts";
 * const [p] = effectParameters([{ name: "theta", description: "d", channel: "gain", sets: null,
 *   design: null }]);
 * console.assert(p.lower === -Infinity && p.upper === Infinity);
 * ```
 */
export function effectParameters(effects: readonly Effect[]): ParameterSpec[] {
  const seen = new Set<string>();
  return effects.map((e) => {
    if (seen.has(e.name)) throw new GenecontentError(`Effect '${e.name}' is given twice.`);
    seen.add(e.name);
    return {
      name: e.name,
      description: e.description,
      kind: "effect",
      units: "",
      lower: -Infinity,
      upper: Infinity,
      transform: "identity",
    };
  });
}

/**
 * Disjoint family sets over a PAM's families, from set name to member ids (exactly as written).
 * Refuses an unknown id (listing the first ten and how many), an empty set, a family in two sets
 * and a set (or all sets together) covering every family, since the background rates would then
 * not be estimable apart from the effect.
 *
 * @example
 * ```ts
 * import { familyGroups } from "./effects.ts";
 * const g = familyGroups(["f1", "f2", "f3"], new Map([["A", ["f3"]], ["B", ["f1"]]]));
 * console.assert(g.sets.join() === "A,B" && g.ofFamily.join() === "1,-1,0");
 * ```
 */
export function familyGroups(
  familyNames: readonly string[],
  sets: ReadonlyMap<string, readonly string[]>,
): FamilyGroups {
  const index = new Map<string, number>();
  familyNames.forEach((f, i) => index.set(f, i));
  const ofFamily = new Int32Array(familyNames.length).fill(-1);
  const names = [...sets.keys()];
  if (names.length === 0) throw new GenecontentError("No family set was given.");
  let covered = 0;
  names.forEach((name, s) => {
    const members = sets.get(name)!;
    if (members.length === 0) {
      throw new GenecontentError(`Family set '${name}' is empty; give at least one family.`);
    }
    const unknown = members.filter((m) => !index.has(m));
    if (unknown.length > 0) {
      const some = unknown.slice(0, 10).map((m) => `'${m}'`).join(", ");
      throw new GenecontentError(
        `${unknown.length} famil${unknown.length === 1 ? "y" : "ies"} of set '${name}' ` +
          `${unknown.length === 1 ? "is" : "are"} not in the PAM (${some}${
            unknown.length > 10 ? ", ..." : ""
          }); ids must match the PAM's family names exactly.`,
      );
    }
    for (const m of members) {
      const f = index.get(m)!;
      if (ofFamily[f] === s) continue; // listed twice in the same set
      if (ofFamily[f] >= 0) {
        throw new GenecontentError(
          `Family '${m}' is in two sets ('${names[ofFamily[f]]}' and '${name}'); sets must be ` +
            "disjoint.",
        );
      }
      ofFamily[f] = s;
      covered++;
    }
  });
  if (covered === familyNames.length) {
    throw new GenecontentError(
      `The famil${names.length === 1 ? "y set covers" : "y sets cover"} every family of the ` +
        `PAM (${familyNames.length}); the background rates need families outside them.`,
    );
  }
  return { sets: names, ofFamily };
}

/** Checks an effect setup against a tree's node count and a PAM's family count. */
export function checkEffectSetup(setup: EffectSetup, nNodes: number, nFamilies: number): void {
  const nSets = setup.groups?.sets.length ?? 0;
  if (setup.groups && setup.groups.ofFamily.length !== nFamilies) {
    throw new RangeError(
      `Family groups cover ${setup.groups.ofFamily.length} families; the PAM has ${nFamilies}.`,
    );
  }
  for (const e of setup.effects) {
    if (e.design && e.design.length !== nNodes) {
      throw new RangeError(
        `Effect ${e.name}: design has ${e.design.length} values for ${nNodes} nodes.`,
      );
    }
    if (e.design && !e.design.every(Number.isFinite)) {
      throw new GenecontentError(`Effect ${e.name}: every design value must be finite.`);
    }
    for (const s of e.sets ?? []) {
      if (!(Number.isInteger(s) && s >= 0 && s < nSets)) {
        throw new RangeError(`Effect ${e.name} refers to set ${s}; there are ${nSets} sets.`);
      }
    }
  }
}

/** Whether effect `e` applies to families of set `s` (-1: in no set). */
export function effectApplies(e: Effect, s: number): boolean {
  return e.sets === null || (s >= 0 && e.sets.includes(s));
}

/**
 * The log multipliers of one family group's rates per tree node: `log gain_{g,v} - log gain`
 * and likewise for loss, at effect values `theta` (in the order of `effects`). `null` for a
 * channel no effect touches.
 *
 * @example
 * ```ts
 * import { groupLogMultipliers } from "./effects.ts";
 * const m = groupLogMultipliers([{ name: "t", description: "", channel: "loss", sets: null,
 *   design: Float64Array.of(1, 0, 0) }], Float64Array.of(0.5), -1, 3);
 * console.assert(m.gain === null && m.loss!.join() === "0.5,0,0");
 * ```
 */
export function groupLogMultipliers(
  effects: readonly Effect[],
  theta: ArrayLike<number>,
  set: number,
  nNodes: number,
): { gain: Float64Array | null; loss: Float64Array | null } {
  let gain: Float64Array | null = null, loss: Float64Array | null = null;
  effects.forEach((e, i) => {
    if (!effectApplies(e, set)) return;
    const out = e.channel === "gain"
      ? (gain ??= new Float64Array(nNodes))
      : (loss ??= new Float64Array(nNodes));
    for (let v = 0; v < nNodes; v++) out[v] += theta[i] * (e.design ? e.design[v] : 1);
  });
  return { gain, loss };
}
