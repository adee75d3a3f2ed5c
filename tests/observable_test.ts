import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { caterpillar, smallTrees } from "./support/small_trees.ts";
import { randomTopology } from "./support/random_topology.ts";
import { logProbObservableWindow, ObservableWindow } from "../lib/likelihood/observable.ts";
import { GenecontentError } from "../lib/errors.ts";
import type { Ascertainment } from "../lib/model/description.ts";
import { transitionMatrix } from "../lib/model/two_state.ts";
import { TsBackend } from "../lib/likelihood/ts_backend.ts";
import { parseNewick } from "../lib/newick/parse.ts";
import { Random } from "../lib/simulate/random.ts";
import { yuleTree } from "../lib/simulate/trees.ts";
import type { FlatTree } from "../lib/tree/flat_tree.ts";

/**
 * Brute force: enumerates every state of every node (tips included) once per rate assignment,
 * and adds each assignment's joint probability to the present-count of every mask. Per-branch
 * rates `[gain_v, loss_v]` per node (the root's pair is the root prior). Transition
 * probabilities in forms without subtraction (P01 = pi1 (1 - e^{-st}), P00 = pi0 + pi1 e^{-st}),
 * so every sum has nonnegative terms and full relative accuracy at any rates.
 * Returns `dist[m][c]`, the probability that exactly c observed tips of mask m are present.
 */
function bruteCounts(tree: FlatTree, perNode: Float64Array, masks: Uint8Array[]): number[][] {
  const { nTips, nNodes, parent, branchLength } = tree;
  if (nNodes > 16) throw new Error(`too many nodes (${nNodes}) for the brute force`);
  const P: number[][] = [];
  for (let v = 0; v < nNodes; v++) {
    const g = perNode[2 * v], l = perNode[2 * v + 1];
    const pi1 = g / (g + l), pi0 = l / (g + l);
    const t = v === nNodes - 1 ? 0 : branchLength[v];
    const E = Math.exp(-(g + l) * t), q = -Math.expm1(-(g + l) * t);
    P.push([pi0 + pi1 * E, pi1 * q, pi0 * q, pi1 + pi0 * E, pi0, pi1]);
  }
  const maskBits = masks.map((m) => m.reduce((acc, o, i) => acc + (o << i), 0));
  const dist = masks.map((m) => new Array(m.reduce((a, b) => a + b, 0) + 1).fill(0));
  const root = nNodes - 1;
  for (let a = 0; a < 2 ** nNodes; a++) {
    let joint = P[root][4 + ((a >> root) & 1)];
    for (let v = 0; v < root; v++) {
      joint *= P[v][2 * ((a >> parent[v]) & 1) + ((a >> v) & 1)];
    }
    const present = a & ((1 << nTips) - 1);
    for (let m = 0; m < masks.length; m++) {
      let x = present & maskBits[m], c = 0;
      while (x) {
        c += x & 1;
        x >>= 1;
      }
      dist[m][c] += joint;
    }
  }
  return dist;
}

/** log P(window) from a count distribution, as -log1p(C / W) (no subtraction from 1). */
function windowLog(dist: number[], w: Ascertainment): number {
  let W = 0, C = 0;
  dist.forEach((p, c) => {
    if (c >= w.minPresent && (w.maxPresent === null || c <= w.maxPresent)) W += p;
    else C += p;
  });
  return -Math.log1p(C / W);
}

/** `|actual - expected| <= tol |expected|`: relative, with no absolute floor. */
function assertRelative(actual: number, expected: number, tol: number, message: string): void {
  const ok = actual === expected || Math.abs(actual - expected) <= tol * Math.abs(expected);
  assert.ok(ok, `${message}: ${actual} vs ${expected} (rel ${(actual - expected) / expected})`);
}

function allMasks(nTips: number): Uint8Array[] {
  return Array.from(
    { length: 2 ** nTips },
    (_, m) => Uint8Array.from({ length: nTips }, (_, i) => (m >> i) & 1),
  );
}

/** Every window [K, M] and [K, none] some mask with `maxObs` observed tips can satisfy. */
function allWindows(maxObs: number): Ascertainment[] {
  const out: Ascertainment[] = [];
  for (let K = 0; K <= maxObs; K++) {
    out.push({ minPresent: K, maxPresent: null });
    for (let M = K; M <= maxObs; M++) out.push({ minPresent: K, maxPresent: M });
  }
  return out;
}

/** Per-node rates, log-uniform in [lo, hi]. */
function randomRates(nNodes: number, rng: Random, lo: number, hi: number): Float64Array {
  return Float64Array.from(
    { length: 2 * nNodes },
    () => Math.exp(Math.log(lo) + rng.next() * (Math.log(hi) - Math.log(lo))),
  );
}

function count(mask: Uint8Array): number {
  return mask.reduce((a, b) => a + b, 0);
}

/** Test trees for the brute force: the hand-written ones and random shapes up to 16 nodes. */
function bruteTrees(): { name: string; tree: FlatTree }[] {
  const out = smallTrees();
  const rng = new Random(11);
  for (let s = 0; out.length < 10; s++) {
    const tree = randomTopology(5 + (s % 2), rng);
    if (tree.nNodes <= 13) out.push({ name: `random ${s}`, tree });
  }
  return out;
}

Deno.test("transition forms without subtraction equal the library's where both are accurate", () => {
  // The brute force below and the module build P from pi and e^{-st} without subtraction; at
  // moderate rates the library's expm1 form has full accuracy too, so both agree to ~1e-16.
  for (const [g, l, t] of [[0.5, 1.5, 0.3], [2, 0.3, 1.7], [0.05, 0.2, 0.01], [1, 1, 0]]) {
    const p = transitionMatrix(g, l, t);
    const pi1 = g / (g + l), pi0 = l / (g + l), E = Math.exp(-(g + l) * t);
    assertClose(
      [pi0 + pi1 * E, pi1 * -Math.expm1(-(g + l) * t), pi1 + pi0 * E],
      [p.p00, p.p01, p.p11],
      4e-16,
      `(${g}, ${l}, ${t})`,
    );
  }
});

Deno.test("every window, every mask, per-branch rates: equals brute-force enumeration", () => {
  const rng = new Random(5);
  const seen = new Set<string>();
  for (const { name, tree } of bruteTrees()) {
    const masks = allMasks(tree.nTips);
    // Moderate rates, and extreme ones (windows then hold almost all or almost none of the mass).
    const sets = [
      randomRates(tree.nNodes, rng, 0.05, 3),
      randomRates(tree.nNodes, rng, 1e-12, 1e4),
    ];
    for (const rates of sets) {
      const dist = bruteCounts(tree, rates, masks);
      for (const window of allWindows(tree.nTips)) {
        const usable = masks.map((_, i) => i).filter((i) => count(masks[i]) >= window.minPresent);
        const engine = new ObservableWindow(tree, usable.map((i) => masks[i]), window);
        const rep = engine.representation;
        seen.add(`${rep.exactPresent > 0}/${rep.exactAbsent > 0}/${rep.middleInWindow}`);
        const r = engine.evaluate(rates, { layout: "perBranch" });
        usable.forEach((mi, j) => {
          const expected = windowLog(dist[mi], window);
          // Pruning and enumeration both add nonnegative terms only: ~1e-15 relative in W and
          // in C, so ~1e-15 relative in log P whether P is near 0 or near 1. 1e-12 relative
          // (no absolute floor) leaves 1000x margin and fails at any cancellation.
          const what = `${name}, mask ${masks[mi].join("")}, [${window.minPresent}, ${
            window.maxPresent ?? "-"
          }], rates ${rates === sets[0] ? "moderate" : "extreme"}`;
          if (expected === 0) assert.equal(r.logProb[j], 0, what);
          else assertRelative(r.logProb[j], expected, 1e-12, what);
        });
      }
    }
  }
  // All three representations were exercised: two-sided with the middle inside, and the
  // present-capped and absent-capped ones with the middle outside.
  for (
    const kind of ["true/false/true", "true/true/true", "true/false/false", "false/true/false"]
  ) {
    assert.ok(seen.has(kind), `representation ${kind} not exercised (${[...seen]})`);
  }
});

Deno.test("directional derivatives equal central differences of the brute force", () => {
  // h = 1e-5 in log-rate space: truncation ~h^2 |f'''| / 6 ~ 1e-10, rounding ~1e-16 / h ~ 1e-11
  // (log P has full relative accuracy on both sides); 1e-7 relative to max(1, |d|) catches any
  // wrong term and is far above both.
  const h = 1e-5;
  const rng = new Random(9);
  for (const { name, tree } of bruteTrees().slice(1)) {
    const masks = allMasks(tree.nTips).filter((_, i) => i % 5 === 3 || i === 2 ** tree.nTips - 1);
    const r = 2 * tree.nNodes;
    const rates = Float64Array.of(
      ...randomRates(tree.nNodes, rng, 0.05, 3),
      ...randomRates(tree.nNodes, rng, 1e-6, 20),
    );
    const tangents = Float64Array.from({ length: 4 * r }, () => 2 * rng.next() - 1);
    const nObs = Math.min(...masks.map(count));
    const windows: Ascertainment[] = [
      { minPresent: 1, maxPresent: null },
      { minPresent: Math.min(2, nObs), maxPresent: null },
      { minPresent: 1, maxPresent: Math.max(1, nObs - 1) },
      { minPresent: 0, maxPresent: 1 },
      { minPresent: 0, maxPresent: 0 },
    ];
    for (const window of windows) {
      const res = logProbObservableWindow(
        { tree, rates, layout: "perBranch", tangents, masks, window },
        true,
      );
      for (let k = 0; k < 2; k++) {
        for (let j = 0; j < 2; j++) {
          const moved = (step: number) => {
            const x = rates.slice(k * r, (k + 1) * r);
            for (let i = 0; i < r; i++) x[i] *= Math.exp(step * tangents[(2 * k + j) * r + i]);
            return bruteCounts(tree, x, masks).map((d) => windowLog(d, window));
          };
          const up = moved(h), down = moved(-h);
          masks.forEach((mask, m) => {
            const fd = (up[m] - down[m]) / (2 * h);
            const got = res.grad![(k * masks.length + m) * 2 + j];
            if (up[m] === 0 && down[m] === 0) assert.equal(got, 0);
            else assertClose(got, fd, 1e-7, `${name}, mask ${mask.join("")}, set ${k}, dir ${j}`);
          });
        }
      }
    }
  }
});

Deno.test("global layout, default tangents and several sets agree with the per-branch layout", () => {
  const rng = new Random(3);
  const tree = randomTopology(30, rng);
  const masks = [
    new Uint8Array(30).fill(1),
    Uint8Array.from({ length: 30 }, (_, i) => +(i % 7 > 0)),
  ];
  const window = { minPresent: 2, maxPresent: 27 };
  const global = Float64Array.of(0.04, 0.5, 1.2, 0.3);
  const a = logProbObservableWindow({ tree, rates: global, masks, window }, true);
  const perBranch = new Float64Array(4 * tree.nNodes);
  for (let k = 0; k < 2; k++) {
    for (let v = 0; v < tree.nNodes; v++) {
      perBranch.set(global.subarray(2 * k, 2 * k + 2), (k * tree.nNodes + v) * 2);
    }
  }
  const b = logProbObservableWindow(
    { tree, rates: perBranch, layout: "perBranch", masks, window },
    true,
  );
  // Identical arithmetic (the same rates on every node): equal to the last bit.
  assert.deepEqual(a.logProb, b.logProb);
  assert.deepEqual(a.grad, b.grad);
  // Explicit tangents (2, -1) and (0.5, 3): the derivatives are those combinations.
  const tangents = Float64Array.of(2, -1, 0.5, 3, 2, -1, 0.5, 3);
  const c = logProbObservableWindow({ tree, rates: global, tangents, masks, window }, true);
  for (let o = 0; o < 4; o++) {
    const [dg, dl] = [a.grad![2 * o], a.grad![2 * o + 1]];
    // Linear combinations of the same terms: a few ulps.
    assertClose(
      [c.grad![2 * o], c.grad![2 * o + 1]],
      [2 * dg - dl, 0.5 * dg + 3 * dl],
      1e-13,
      `${o}`,
    );
  }
  // Without gradient: the same values, no grad.
  const d = logProbObservableWindow({ tree, rates: global, masks, window });
  assert.deepEqual(d.logProb, a.logProb);
  assert.equal(d.grad, undefined);
});

Deno.test("many masks share the pruning and give the same numbers as one mask at a time", () => {
  const tree = yuleTree(300, new Random(21), { height: 1 });
  const rng = new Random(4);
  const masks: Uint8Array[] = [];
  for (let m = 0; m < 100; m++) {
    const mask = new Uint8Array(tree.nTips).fill(1);
    const changes = m % 10 === 0 ? 80 : 1 + (m % 4);
    for (let j = 0; j < changes; j++) mask[Math.floor(rng.next() * tree.nTips)] = 0;
    masks.push(mask);
  }
  const rates = Float64Array.of(0.03, 0.3, 0.5, 2);
  for (
    const window of [
      { minPresent: 1, maxPresent: null },
      { minPresent: 3, maxPresent: null },
      { minPresent: 1, maxPresent: 150 },
    ]
  ) {
    const shared = new ObservableWindow(tree, masks, window);
    // Most masks differ from the majority mask in a few tips: far fewer node visits than
    // pruning every mask over the whole tree.
    assert.ok(shared.nodeVisits < 0.2 * masks.length * tree.nNodes, `${shared.nodeVisits}`);
    const all = shared.evaluate(rates, { gradient: true });
    const sameShape = window.maxPresent === null;
    masks.forEach((mask, m) => {
      const alone = logProbObservableWindow({ tree, rates, masks: [mask], window }, true);
      for (let k = 0; k < 2; k++) {
        const o = k * masks.length + m;
        const got = [all.logProb[o], all.grad![2 * o], all.grad![2 * o + 1]];
        const want = [alone.logProb[k], alone.grad![2 * k], alone.grad![2 * k + 1]];
        // With a lower bound only, both runs use the same entries and the same products in the
        // same order: bit for bit. With an upper bound the shared run keeps more exact absent
        // counts (its masks' largest observed count sets them), so sums are grouped
        // differently: nonnegative terms, ~1e-15 relative; derivatives ~1e-14.
        if (sameShape) assert.deepEqual(got, want, `mask ${m}`);
        else assertClose(got, want, 1e-12, `mask ${m}, [1, 150]`);
      }
    });
  }
});

/** The example tree as flat arrays, for the Python reference. */
function exampleTree(): FlatTree {
  const path = new URL("../examples/tree.nwk", import.meta.url);
  return parseNewick(Deno.readTextFileSync(path), "examples/tree.nwk");
}

/**
 * Runs a Python/mpmath reference at 50 significant digits: for each case, log P(window) and its
 * derivatives with respect to log(gain) and log(loss) (central differences with step 1e-15 at
 * that precision). The probabilities come from pruning the few extreme count classes (counts of
 * present tips below K and of absent tips below observed - M) with P = expm of the rate matrix
 * in closed form, and P(window) = 1 - P(below) - P(above) (50 digits absorb the cancellation).
 */
async function mpmathReference(
  tree: FlatTree,
  cases: { gain: number; loss: number; mask: number[]; K: number; M: number | null }[],
): Promise<number[][]> {
  const program = `
import json, sys
try:
    import mpmath
except ImportError:
    sys.exit(3)
from mpmath import mp, mpf
mp.dps = 50
data = json.load(sys.stdin)
parent, length, nTips = data["parent"], [mpf(x) for x in data["length"]], data["nTips"]
n = len(parent)
children = [[] for _ in range(n)]
for v in range(n - 1):
    children[parent[v]].append(v)

def tail(lg, ll, mask, want, cap):
    # P(fewer than cap tips among the observed have state 'want'), by pruning over counts < cap.
    g, l = mp.exp(lg), mp.exp(ll)
    s = g + l
    pi = [l / s, g / s]
    vec = [None] * n
    for v in range(n):
        if v < nTips:
            if mask[v]:
                vec[v] = [[mpf(1) if x != want else mpf(0) for x in (0, 1)],
                          [mpf(1) if x == want else mpf(0) for x in (0, 1)]]
            else:
                vec[v] = [[mpf(1), mpf(1)]]
            vec[v] = vec[v][:cap]
        else:
            acc = [[mpf(1), mpf(1)]]
            for c in children[v]:
                e = mp.exp(-s * length[c])
                P = [[pi[0] + pi[1] * e, pi[1] * (1 - e)], [pi[0] * (1 - e), pi[1] + pi[0] * e]]
                msg = [[sum(P[a][b] * ent[b] for b in (0, 1)) for a in (0, 1)] for ent in vec[c]]
                out = [[mpf(0), mpf(0)] for _ in range(min(cap, len(acc) + len(msg) - 1))]
                for i, x in enumerate(acc):
                    for j, y in enumerate(msg):
                        if i + j < cap:
                            for a in (0, 1):
                                out[i + j][a] += x[a] * y[a]
                acc = out
            vec[v] = acc
    return sum(pi[a] * ent[a] for ent in vec[n - 1] for a in (0, 1))

out = []
for c in data["cases"]:
    mask, K, M = c["mask"], c["K"], c["M"]
    nObs = sum(mask)
    def logp(lg, ll):
        below = tail(lg, ll, mask, 1, K) if K > 0 else mpf(0)
        above = tail(lg, ll, mask, 0, nObs - M) if M is not None and M < nObs else mpf(0)
        return mp.log(1 - below - above)
    lg, ll = mp.log(mpf(c["gain"])), mp.log(mpf(c["loss"]))
    # Central differences: truncation ~h^2 = 1e-30; rounding 1e-50 / P / h ~ 1e-19 for P ~ 1e-16.
    h = mpf(10) ** -15
    dg = (logp(lg + h, ll) - logp(lg - h, ll)) / (2 * h)
    dl = (logp(lg, ll + h) - logp(lg, ll - h)) / (2 * h)
    out.append([mp.nstr(logp(lg, ll), 25), mp.nstr(dg, 25), mp.nstr(dl, 25)])
print(json.dumps(out))
`;
  const input = JSON.stringify({
    parent: Array.from(tree.parent),
    length: Array.from(tree.branchLength),
    nTips: tree.nTips,
    cases,
  });
  const run = async () => {
    const child = new Deno.Command("python3", {
      args: ["-c", program],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
    return await child.output();
  };
  let result = await run();
  if (result.code === 3) {
    console.log("mpmath is missing: installing it with `python3 -m pip install mpmath`.");
    const pip = await new Deno.Command("python3", { args: ["-m", "pip", "install", "mpmath"] })
      .output();
    assert.equal(pip.code, 0, new TextDecoder().decode(pip.stderr));
    result = await run();
  }
  assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  return (JSON.parse(new TextDecoder().decode(result.stdout)) as string[][]).map((r) =>
    r.map(Number)
  );
}

Deno.test("tiny gain on the 200-tip example: equals a 50-digit mpmath reference", async () => {
  const tree = exampleTree();
  const nTips = tree.nTips;
  const all = new Array(nTips).fill(1);
  const some = all.map((_, i) => (i % 17 === 3 ? 0 : 1));
  const cases: { gain: number; loss: number; mask: number[]; K: number; M: number | null }[] = [];
  for (const gain of [1e-16, 1e-15, 1e-14]) {
    cases.push({ gain, loss: 1, mask: all, K: 1, M: null });
    cases.push({ gain, loss: 1, mask: some, K: 1, M: null });
    cases.push({ gain, loss: 1, mask: all, K: 2, M: null });
    cases.push({ gain, loss: 1, mask: all, K: 1, M: nTips - 1 });
  }
  // The mirror image: loss tiny, families almost always everywhere; "at most n - 1" is rare.
  cases.push({ gain: 1, loss: 1e-15, mask: all, K: 0, M: nTips - 1 });
  cases.push({ gain: 1, loss: 1e-15, mask: some, K: 1, M: count(Uint8Array.from(some)) - 2 });
  const expected = await mpmathReference(tree, cases);
  cases.forEach((c, i) => {
    const r = logProbObservableWindow({
      tree,
      rates: Float64Array.of(c.gain, c.loss),
      masks: [Uint8Array.from(c.mask)],
      window: { minPresent: c.K, maxPresent: c.M },
    }, true);
    const what = `gain ${c.gain}, loss ${c.loss}, [${c.K}, ${c.M ?? "-"}], mask ${
      c.mask === all ? "all" : "some"
    }`;
    // log P ~ -30: ~400 nodes of a few ulps each in W and C give ~1e-14 relative in P, i.e.
    // ~1e-14 absolute in log P; 1e-12 relative leaves margin.
    assertRelative(r.logProb[0], expected[i][0], 1e-12, what);
    // Derivatives (d log P / d log gain ~ 1, d / d log loss ~ -0.1 .. -10): signed sums whose
    // cancelling terms are O(gain) smaller than the result; seen within 2e-15 of the reference
    // (itself within ~1e-18). 1e-13 relative to max(1, |d|).
    assertClose([r.grad![0], r.grad![1]], expected[i].slice(1), 1e-13, what);
  });
});

Deno.test("gain -> 0: P(at least one present) matches the first-order closed form", () => {
  // With gain g -> 0 and loss mu, a family is observable if the root is present (prior
  // g / (g + mu)) or it is gained once on a branch, at rate g, and survives pure loss down to an
  // observed tip. With h_v = P(some observed tip below v present | v present, no gains),
  // h_tip = observed, h_v = 1 - prod_c (1 - e^{-mu t_c} h_c), and the gain at height x above
  // node c reaching an observed tip with probability e^{-mu x} h_c:
  //   P = (g / mu) [h_root + sum_c h_c (1 - e^{-mu t_c})] + O(g^2).
  const tree = exampleTree();
  const { nTips, nNodes, childStart, children, branchLength } = tree;
  const mu = 1;
  for (
    const mask of [
      new Uint8Array(nTips).fill(1),
      Uint8Array.from({ length: nTips }, (_, i) => +(i % 5 > 1)),
    ]
  ) {
    const h = new Float64Array(nNodes);
    for (let i = 0; i < nTips; i++) h[i] = mask[i];
    for (let v = nTips; v < nNodes; v++) {
      let logMiss = 0; // log prod_c (1 - e^{-mu t} h_c), without cancellation
      for (let ci = childStart[v]; ci < childStart[v + 1]; ci++) {
        const c = children[ci];
        logMiss += Math.log1p(-Math.exp(-mu * branchLength[c]) * h[c]);
      }
      h[v] = -Math.expm1(logMiss);
    }
    let sum = h[nNodes - 1];
    for (let c = 0; c < nNodes - 1; c++) sum += h[c] * -Math.expm1(-mu * branchLength[c]);
    const relDiff = (g: number) => {
      const r = logProbObservableWindow({
        tree,
        rates: Float64Array.of(g, mu),
        masks: [mask],
        window: { minPresent: 1, maxPresent: null },
      });
      return Math.expm1(r.logProb[0] - Math.log(g / mu * sum));
    };
    // The O(g^2) term: relDiff(g) = c1 g + O(g^2), with c1 read off at g = 1e-8 (where it is
    // ~1e-7 and rounding ~1e-14 is negligible).
    const c1 = relDiff(1e-8) / 1e-8;
    assert.ok(Math.abs(c1) > 1 && Math.abs(c1) < 1e3, `first-order coefficient ${c1}`);
    assertRelative(relDiff(2e-8) / 2e-8, c1, 1e-6, "the relative difference is linear in g");
    for (const g of [1e-16, 1e-15, 1e-14]) {
      // What remains after the c1 g term is rounding in ~400 nodes of the pruning and the closed
      // form: ~1e-14; 1e-13 (while c1 g itself reaches ~1e-12 at g = 1e-14).
      const d = relDiff(g);
      assert.ok(Math.abs(d - c1 * g) < 1e-13, `gain ${g}: ${d} vs first order ${c1 * g}`);
    }
    // Far below: the second-order term is gone, and log P (~ -230 .. -690) equals the closed
    // form to its last few ulps (an ulp of 690 is 1.1e-13, 1.6e-16 relative): 1e-14 relative.
    for (const g of [1e-100, 1e-200, 1e-300]) {
      const r = logProbObservableWindow({
        tree,
        rates: Float64Array.of(g, mu),
        masks: [mask],
        window: { minPresent: 1, maxPresent: null },
      }, true);
      assertRelative(r.logProb[0], Math.log(g / mu) + Math.log(sum), 1e-14, `gain ${g}`);
      // d log P / d log gain -> 1 (P is proportional to gain): O(g) away from 1.
      assertClose(r.grad![0], 1, 1e-14, `gain ${g}, d / d log gain`);
    }
  }
});

Deno.test("scaling: windows holding almost all or almost none of the mass on a 4,000-tip tree", () => {
  const tree = caterpillar(4000);
  const nTips = tree.nTips;
  const mask = Uint8Array.from({ length: nTips }, (_, i) => +(i % 3 > 0));
  const nObs = count(mask);
  // References: the all-absent and all-present columns (over the observed tips) from TsBackend.
  const states = new Uint8Array(2 * nTips);
  for (let i = 0; i < nTips; i++) {
    states[i] = mask[i] ? 0 : 2;
    states[nTips + i] = mask[i] ? 1 : 2;
  }
  using backend = new TsBackend(tree, states, 2);
  const [gain, loss] = [1.5, 1.2];
  const ev = backend.evaluate(Float64Array.of(gain, loss), { gradient: true });
  const [l0, l1] = ev.logLik;
  assert.ok(l0 < -745 && l1 < -745, `both columns underflow (${l0}, ${l1})`);
  const w = (minPresent: number, maxPresent: number | null) =>
    logProbObservableWindow({
      tree,
      rates: Float64Array.of(gain, loss),
      masks: [mask],
      window: { minPresent, maxPresent },
    }, true);
  // Almost none: only "all present" / only "none present".
  const onlyAll = w(nObs, null), onlyNone = w(0, 0);
  // ~1e4 nodes of a few ulps in log-likelihoods of ~-2,000: 1e-12 relative.
  assertClose([onlyAll.logProb[0], ...onlyAll.grad!], [l1, ev.grad![2], ev.grad![3]], 1e-12, "all");
  assertClose(
    [onlyNone.logProb[0], ...onlyNone.grad!],
    [l0, ev.grad![0], ev.grad![1]],
    1e-12,
    "none",
  );
  // Almost all: [1, nObs - 1] misses exactly those two columns, log P = log1p(-(P0 + P1)),
  // a number near -1e-800 that no double holds: it must come out as -0 or a tiny negative.
  const middle = w(1, nObs - 1);
  assert.ok(middle.logProb[0] <= 0 && middle.logProb[0] > -1e-300, `${middle.logProb[0]}`);
  // On a smaller tree the complement is representable: log P = -(P0 + P1) to full relative
  // accuracy, P0 and P1 from TsBackend (each ~1e-13 relative in P from ~1e-13 absolute in log).
  const small = caterpillar(120);
  const sMask = new Uint8Array(120).fill(1);
  const sStates = new Uint8Array(240);
  sStates.fill(1, 120);
  using sBackend = new TsBackend(small, sStates, 2);
  const se = sBackend.evaluate(Float64Array.of(gain, loss), { gradient: true });
  const [p0, p1] = [Math.exp(se.logLik[0]), Math.exp(se.logLik[1])];
  const expected = -p0 - p1;
  assert.ok(expected > -1e-10, `complement ${expected}`);
  const got = logProbObservableWindow({
    tree: small,
    rates: Float64Array.of(gain, loss),
    masks: [sMask],
    window: { minPresent: 1, maxPresent: 119 },
  }, true);
  // log1p(-x) = -x (1 + x / 2 + ...) with x < 1e-10: the x / 2 term is < 1e-10 relative.
  assertRelative(got.logProb[0], expected, 1e-10, "window holding all but two columns");
  // Its derivatives are tiny too: d log P = -(P0 d log P0 + P1 d log P1) / (1 - P0 - P1), each
  // term ~1e-13 relative. Taken as dW / W, they would be rounding noise of ~1e-16 (the signed
  // terms of dW cancel down to -dC); relative 1e-10 tells the two apart.
  for (let j = 0; j < 2; j++) {
    const want = -(p0 * se.grad![j] + p1 * se.grad![2 + j]) / (1 + expected);
    assertRelative(got.grad![j], want, 1e-10, `derivative ${j} of the same window`);
  }
});

Deno.test("a window no family can pass, bad masks, rates and tangents raise GenecontentError", () => {
  const tree = smallTrees()[2].tree;
  const mask = new Uint8Array(tree.nTips).fill(1);
  const win = { minPresent: 1, maxPresent: null };
  const make = (masks: Uint8Array[], window: Ascertainment) =>
    new ObservableWindow(tree, masks, window);
  const throwsGc = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e: unknown) => e instanceof GenecontentError && re.test(e.message));
  throwsGc(() => make([mask], { minPresent: 3, maxPresent: 2 }), /\[3, 2\] is empty/);
  throwsGc(() => make([mask], { minPresent: 5, maxPresent: null }), /\(5\) exceeds .* \(4\)/);
  throwsGc(() => make([mask], { minPresent: -1, maxPresent: null }), /got -1/);
  throwsGc(() => make([mask], { minPresent: 1.5, maxPresent: null }), /got 1\.5/);
  throwsGc(() => make([mask], { minPresent: 0, maxPresent: 2.5 }), /got 2\.5/);
  throwsGc(
    () => make([mask, Uint8Array.of(1, 0, 0, 0)], { minPresent: 2, maxPresent: null }),
    /mask 1 has 1 observed tip, fewer than the minimum of 2/,
  );
  throwsGc(() => make([new Uint8Array(3)], win), /mask 0 has 3 entries but the tree has 4/);
  throwsGc(() => make([Uint8Array.of(1, 2, 1, 1)], win), /mask 0, tip 't1' has value 2/);
  const engine = make([mask], win);
  throwsGc(() => engine.evaluate(Float64Array.of(1, 0)), /loss rate in parameter set 0 .* got 0/);
  throwsGc(
    () => engine.evaluate(Float64Array.of(1, 1, NaN, 1)),
    /gain rate in parameter set 1 .* got NaN/,
  );
  throwsGc(() => engine.evaluate(Float64Array.of(1, 1, 1)), /needs 2 rates per set/);
  const pb = new Float64Array(2 * tree.nNodes).fill(1);
  pb[7] = -2;
  throwsGc(
    () => engine.evaluate(pb, { layout: "perBranch" }),
    /loss rate of node 3 in parameter set 0 .* got -2/,
  );
  throwsGc(
    () => engine.evaluate(Float64Array.of(1, 1), { gradient: true, tangents: new Float64Array(3) }),
    /must have 4 values/,
  );
  // Vacuous windows (every count passes) are log 1 = 0 without pruning.
  const none = make([mask], { minPresent: 0, maxPresent: null }).evaluate(Float64Array.of(1, 1), {
    gradient: true,
  });
  assert.deepEqual([...none.logProb, ...none.grad!], [0, 0, 0]);
});
