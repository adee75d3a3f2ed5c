// L-BFGS on functions with known minima: an unconstrained valley, an active bound, and the step
// cap that keeps a step from leaping onto a distant plateau.
import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { minimizeLbfgs } from "../lib/fit/lbfgs.ts";

Deno.test("L-BFGS minimises Rosenbrock and stops on an active bound", () => {
  const rosen = (x: Float64Array) => ({
    value: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2,
    gradient: new Float64Array([
      -2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2),
      200 * (x[1] - x[0] ** 2),
    ]),
  });
  const r = minimizeLbfgs(rosen, [-1.2, 1], { gradientTolerance: 1e-10 });
  assert.ok(r.converged, r.reason);
  // The minimum is (1, 1); a gradient of 1e-10 there means |x - 1| ~ 1e-10 / curvature.
  assertClose([...r.x], [1, 1], 1e-7, "Rosenbrock minimiser");
  // (x-3)^2 + (y+1)^2 on x <= 2, y >= 0: minimum at the corner (2, 0).
  const q = minimizeLbfgs(
    (x) => ({
      value: (x[0] - 3) ** 2 + (x[1] + 1) ** 2,
      gradient: new Float64Array([2 * (x[0] - 3), 2 * (x[1] + 1)]),
    }),
    [0, 5],
    { lower: [-10, 0], upper: [2, 10] },
  );
  assert.ok(q.converged);
  assert.deepEqual([...q.x], [2, 0]);
  assert.deepEqual(q.atBound, [0, 1]);
});

Deno.test("L-BFGS: no iteration moves a variable further than maxStep", () => {
  // f = (x - 100)^2 + (y + 50)^2 from the origin: unconstrained steps would jump straight to
  // the minimum; with maxStep 2 every accepted iterate moves at most 2 per coordinate, and the
  // minimum is still reached.
  const points: number[][] = [];
  const r = minimizeLbfgs(
    (x) => {
      points.push([x[0], x[1]]);
      return {
        value: (x[0] - 100) ** 2 + (x[1] + 50) ** 2,
        gradient: new Float64Array([2 * (x[0] - 100), 2 * (x[1] + 50)]),
      };
    },
    [0, 0],
    { maxStep: 2, gradientTolerance: 1e-8 },
  );
  assert.ok(r.converged, r.reason);
  // The gradient tolerance 1e-8 with curvature 2 puts x within 5e-9 of the minimum.
  assertClose([...r.x], [100, -50], 1e-8, "minimiser");
  // Every evaluated point is a trial step from an accepted iterate, which was itself evaluated
  // earlier: so each point lies within 2 (per coordinate, plus rounding) of an earlier one.
  for (let k = 1; k < points.length; k++) {
    const near = points.slice(0, k).some((q) =>
      Math.abs(points[k][0] - q[0]) <= 2 + 1e-12 && Math.abs(points[k][1] - q[1]) <= 2 + 1e-12
    );
    assert.ok(near, `point ${k} (${points[k]}) is more than 2 from every earlier point`);
  }
  // Reaching x = 100 from 0 in steps of at most 2 takes at least 50 iterations.
  assert.ok(r.iterations >= 50, `${r.iterations} iterations`);
  assert.throws(() =>
    minimizeLbfgs(() => ({ value: 0, gradient: new Float64Array(1) }), [0], { maxStep: 0 })
  );
});
