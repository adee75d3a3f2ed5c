// Discrete gamma category rates, their alpha derivatives and the incomplete gamma functions
// against an independent 30-digit computation with Python's mpmath (installed with pip when
// missing, with a message), and against the five-genome contract values.
import assert from "node:assert/strict";
import {
  digamma,
  gammaCategoryRates,
  inverseRegularizedGammaP,
  logGamma,
  regularizedGammaP,
  regularizedGammaPDerivativeA,
  regularizedGammaQ,
} from "../lib/model/gamma.ts";

/** |actual - expected| <= tol * |expected| elementwise (a purely relative check). */
function assertRelative(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
) {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    const ok = Math.abs(actual[i] - expected[i]) <= tol * Math.abs(expected[i]);
    assert.ok(ok, `${what} [${i}]: ${actual[i]} vs ${expected[i]} (relative tolerance ${tol})`);
  }
}

const MPMATH_SCRIPT = `
import json, sys
from mpmath import mp, mpf, gammainc, exp, log, diff
mp.dps = 30
def quantile(a, p):
    lo, hi = mpf(-1000), log(a + 60 * a ** 0.5 + 60)
    for _ in range(130):
        mid = (lo + hi) / 2
        if gammainc(a, 0, exp(mid), regularized=True) > p: hi = mid
        else: lo = mid
    return exp((lo + hi) / 2)
def rates(a, k):
    ys = [mpf(0)] + [quantile(a, mpf(c) / k) for c in range(1, k)]
    ps = [gammainc(a + 1, 0, y, regularized=True) for y in ys] + [mpf(1)]
    return [k * (ps[c + 1] - ps[c]) for c in range(k)]
req = json.loads(sys.stdin.read())
out = {"rates": [], "points": []}
for a, k in req["rates"]:
    a = mpf(a); h = a * mpf(10) ** -10
    r, rp, rm = rates(a, k), rates(a + h, k), rates(a - h, k)
    out["rates"].append({"rates": [float(x) for x in r],
                         "dRates": [float((x - y) / (2 * h)) for x, y in zip(rp, rm)]})
for a, x in req["points"]:
    a, x = mpf(a), mpf(x)
    P = lambda s: gammainc(s, 0, x, regularized=True)
    out["points"].append({"P": float(P(a)), "Q": float(gammainc(a, x, mp.inf, regularized=True)),
                          "dPda": float(diff(P, a))})
print(json.dumps(out))
`;

async function python(args: string[], input?: string): Promise<{ ok: boolean; out: string }> {
  const child = new Deno.Command("python3", {
    args,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(input));
    await w.close();
  }
  const r = await child.output();
  return { ok: r.success, out: new TextDecoder().decode(r.success ? r.stdout : r.stderr) };
}

async function ensureMpmath(): Promise<void> {
  if ((await python(["-c", "import mpmath"])).ok) return;
  console.error("gamma_test: installing mpmath from PyPI (pip install mpmath) for the reference");
  const r = await python(["-m", "pip", "install", "--quiet", "mpmath"]);
  if (!r.ok) throw new Error(`pip install mpmath failed: ${r.out}`);
}

const RATE_CASES: [number, number][] = [
  [0.01, 4],
  [0.1, 8],
  [0.5, 4],
  [1, 2],
  [3, 8],
  [50, 4],
  [1000, 4],
];
const POINTS: [number, number][] = [
  [0.01, 1e-30],
  [0.01, 0.5],
  [0.5, 0.1],
  [0.5, 3],
  [2, 1.5],
  [7.5, 20],
  [30, 25],
  [1000, 950],
  [1000, 1100],
];

Deno.test("category rates and d rate / d alpha equal a 30-digit mpmath computation", async () => {
  await ensureMpmath();
  const r = await python(
    ["-c", MPMATH_SCRIPT],
    JSON.stringify({ rates: RATE_CASES, points: POINTS }),
  );
  assert.ok(r.ok, r.out);
  const ref = JSON.parse(r.out);
  RATE_CASES.forEach(([alpha, k], i) => {
    const got = gammaCategoryRates(alpha, k);
    // Rates are differences of P(alpha + 1, .) at accurate quantiles: ~1e-14 relative
    // (worst seen 1.6e-14 at alpha 10); 1e-12 leaves margin.
    assertRelative(got.rates, ref.rates[i].rates, 1e-12, `rates alpha ${alpha} k ${k}`);
    // Derivatives are differences of edge slopes that partly cancel (worst seen 2e-10 of the
    // largest at alpha 1000): compare against the largest derivative of the set.
    const want: number[] = ref.rates[i].dRates;
    const scale = Math.max(...want.map(Math.abs));
    want.forEach((d, c) => {
      assert.ok(
        Math.abs(got.dRates[c] - d) <= 1e-8 * scale,
        `d rate ${c} / d alpha at alpha ${alpha} k ${k}: ${got.dRates[c]} vs ${d}`,
      );
    });
  });
  POINTS.forEach(([a, x], i) => {
    const want = ref.points[i];
    // Series and continued fraction keep ~14 digits over this range.
    assertRelative([regularizedGammaP(a, x)], [want.P], 1e-12, `P(${a}, ${x})`);
    assertRelative([regularizedGammaQ(a, x)], [want.Q], 1e-12, `Q(${a}, ${x})`);
    // The differentiated series cancels by up to ~1 digit in the upper tail.
    assertRelative([regularizedGammaPDerivativeA(a, x)], [want.dPda], 1e-10, `dP/da(${a}, ${x})`);
  });
});

Deno.test("the five-genome contract rates (alpha 0.5, 4 categories)", async () => {
  const expected = JSON.parse(
    await Deno.readTextFile("/work/shared/contract/expected_models.json"),
  );
  const e = expected["gamma4_alpha0.5"];
  // Both are double-precision evaluations of the same formula: a few ulps apart.
  assertRelative(gammaCategoryRates(e.alpha, e.k).rates, e.categoryRates, 1e-13, "contract rates");
});

Deno.test("rates have mean 1, ascend, and quantiles invert P in both tails", () => {
  for (const alpha of [0.01, 0.2, 1, 5, 200, 1000]) {
    for (const k of [2, 4, 8, 16, 64]) {
      const { rates, dRates } = gammaCategoryRates(alpha, k);
      const mean = rates.reduce((a, b) => a + b, 0) / k;
      // Normalised to mean 1: only rounding of a k-term sum remains.
      assert.ok(Math.abs(mean - 1) < 1e-14, `mean ${mean} at alpha ${alpha} k ${k}`);
      const dMean = dRates.reduce((a, b) => a + b, 0) / k;
      assert.ok(Math.abs(dMean) < 1e-12 * Math.max(...dRates.map(Math.abs)), `d mean ${dMean}`);
      for (let c = 1; c < k; c++) assert.ok(rates[c] > rates[c - 1], `ascending at ${alpha}`);
      for (let c = 1; c < k; c++) {
        const y = inverseRegularizedGammaP(alpha, c / k, (k - c) / k);
        const [got, want] = c / k <= 0.5
          ? [regularizedGammaP(alpha, y), c / k]
          : [regularizedGammaQ(alpha, y), (k - c) / k];
        // Halley converges to the rounding of P (or Q) at the root.
        assert.ok(Math.abs(got - want) <= 1e-13 * want, `quantile ${c}/${k} at alpha ${alpha}`);
      }
    }
  }
  // Closed forms: Gamma(n) = (n - 1)!, psi(1) = -gamma, P(1, x) = 1 - e^-x.
  assert.ok(Math.abs(logGamma(11) - Math.log(3628800)) < 1e-14);
  assert.ok(Math.abs(logGamma(0.5) - 0.5 * Math.log(Math.PI)) < 1e-15);
  assert.ok(Math.abs(digamma(1) + 0.5772156649015329) < 1e-14);
  assert.ok(Math.abs(regularizedGammaQ(1, 30) / Math.exp(-30) - 1) < 1e-13);
});
