import t from 'tap';
import { coordinateMedian } from '../../lib/robust/coordinate-median.js';
import { kernels } from '../../lib/kernels/index.js';
import { geometricMedian, weiszfeldVardi, WeiszfeldScratch, type WeiszfeldOptions } from '../../lib/robust/geometric-median.js';
import { bitwiseEqual, gmObjective, maxAbsDiff, randomRows, rowsOf } from './random-rows.js';

const tight = { eps: 1e-9, maxIter: 2000 };

t.test('symmetric points: square and equilateral triangle', async (t) => {
  const sq = geometricMedian(rowsOf([[1, 0], [-1, 0], [0, 1], [0, -1]]), tight);
  t.ok(maxAbsDiff(sq.value, [0, 0]) < 1e-6, `square -> ${Array.from(sq.value)}`);
  t.ok(sq.report.converged);
  const h = Math.sqrt(3) / 2;
  const tri = geometricMedian(rowsOf([[0, 0], [1, 0], [0.5, h]]), tight);
  t.ok(maxAbsDiff(tri.value, [0.5, h / 3]) < 1e-5, `equilateral -> ${Array.from(tri.value)}`);
});

t.test('three collinear points -> the middle one', async (t) => {
  const r = geometricMedian(rowsOf([[0, 0, 0], [1, 2, 3], [5, 10, 15]]), tight);
  t.ok(maxAbsDiff(r.value, [1, 2, 3]) < 1e-5, `got ${Array.from(r.value)}`);
});

t.test('obtuse triangle: the GM is the obtuse vertex (needs the Vardi-Zhang step)', async (t) => {
  const r = geometricMedian(rowsOf([[0, 0], [10, 0], [-10, 0.5]]), tight);
  t.ok(maxAbsDiff(r.value, [0, 0]) < 1e-6, `got ${Array.from(r.value)}`);
  t.ok(r.report.converged, 'converges at the vertex instead of dividing by zero');
  t.ok(r.value.every(Number.isFinite));
});

t.test('estimate on a data point: the Vardi-Zhang step keeps it there when it is the GM', async (t) => {
  // The mean (the start) is (0,0), a data point. There R = sum (x_i - y)/D_i = (1 - sqrt 2, 0), |R| = 0.41 < 1
  // (one coinciding row), so (0,0) is the GM. Plain Weiszfeld divides by zero here, and skipping the
  // coinciding row instead moves the estimate away to (-0.216, 0).
  const r = geometricMedian(rowsOf([[0, 0], [2, 0], [-1, 1], [-1, -1]]), tight);
  t.same(Array.from(r.value), [0, 0]);
  t.ok(r.report.converged);
  t.equal(r.report.lastMove, 0);
  // Not the GM when the pull exceeds the weight of the coinciding row: start at the mean (0,0) again,
  // R = (3, 0) from three rows at (1, 0): the estimate must leave (0,0) and reach the majority point.
  const away = geometricMedian(rowsOf([[0, 0], [1, 0], [1, 0], [1, 0], [-3, 0]]), tight);
  t.ok(maxAbsDiff(away.value, [1, 0]) < 1e-6, `got ${Array.from(away.value)}`);
});

t.test('breakdown: outliers at 1e6 do not move the GM; 3/7 coordinated gives bounded error', async (t) => {
  const r = geometricMedian(rowsOf([[1, 1], [1, 1], [1, 1], [1e6, -1e6], [-3e5, 7e5]]), tight);
  t.ok(maxAbsDiff(r.value, [1, 1]) < 1e-4, `got ${Array.from(r.value)}`);
  const honest = [[1, 1.1], [0.9, 1], [1.1, 0.95], [1, 0.9]];
  const bad = [[100, 100], [100, 100], [100, 100]];
  const rows = rowsOf([...honest, ...bad]);
  const gm = geometricMedian(rows, tight).value;
  const dist = Math.hypot(gm[0] - 1, gm[1] - 1);
  t.ok(dist < 0.5, `GM stays near the honest points (distance ${dist})`);
  // The mean is dragged 42 units away: the test separates a robust rule from a non-robust one.
  t.ok(Math.hypot((4 + 300) / 7 - 1, (3.95 + 300) / 7 - 1) > 40);
});

t.test('rotation and translation equivariance (coordinate median is not)', async (t) => {
  const d = 5;
  const rows = randomRows(9, d, 11, 3);
  // An orthogonal R as a product of Givens rotations, and a shift c.
  const rotate = (v: ArrayLike<number>): Float64Array => {
    const x = Float64Array.from(v);
    const angles = [0.7, -1.1, 0.3, 2.0];
    for (let p = 0; p < d - 1; p++) {
      const c = Math.cos(angles[p]);
      const s = Math.sin(angles[p]);
      const a = x[p];
      const b = x[p + 1];
      x[p] = c * a - s * b;
      x[p + 1] = s * a + c * b;
    }
    return x;
  };
  const shift = [3, -2, 10, 0.5, -7];
  const moved = rows.map((r) => Float32Array.from(rotate(r), (v, j) => v + shift[j]));
  const opts = { eps: 1e-10, maxIter: 5000, tolerance: 'relative' as const };
  const gm = geometricMedian(rows, opts).value;
  const gmMoved = geometricMedian(moved, opts).value;
  const expected = Array.from(rotate(gm), (v, j) => v + shift[j]);
  t.ok(maxAbsDiff(gmMoved, expected) < 1e-4, `GM(Rx+c) = R GM(x) + c, diff ${maxAbsDiff(gmMoved, expected)}`);
  // The spec's counter-example for the coordinate median: (0,0), (4,0), (0,3) rotated by 0.7 rad.
  const tri = [[0, 0], [4, 0], [0, 3]];
  const rot = (p: number[]): number[] => [Math.cos(0.7) * p[0] - Math.sin(0.7) * p[1], Math.sin(0.7) * p[0] + Math.cos(0.7) * p[1]];
  const cm = coordinateMedian(rowsOf(tri)).value;
  const cmRot = coordinateMedian(rowsOf(tri.map(rot))).value;
  const err = Math.hypot(cmRot[0] - rot(Array.from(cm))[0], cmRot[1] - rot(Array.from(cm))[1]);
  t.ok(Math.abs(err - 2.29) < 0.01, `coordinate median equivariance error ${err.toFixed(3)} (spec: 2.29)`);
});

t.test('n = 1, all-equal rows and duplicates', async (t) => {
  const one = geometricMedian(rowsOf([[3, -4, 5]]));
  t.same(Array.from(one.value), [3, -4, 5]);
  t.ok(one.report.converged);
  const same = geometricMedian(rowsOf([[1.5, 2], [1.5, 2], [1.5, 2], [1.5, 2]]));
  t.same(Array.from(same.value), [1.5, 2]);
  const dup = geometricMedian(rowsOf([[1, 1], [1, 1], [1, 1], [5, 7]]), tight);
  t.ok(dup.value.every(Number.isFinite));
  t.ok(maxAbsDiff(dup.value, [1, 1]) < 1e-6, 'a majority of duplicates is the GM');
});

t.test('against a float64 reference: optimality condition and objective', async (t) => {
  for (const [n, d, seed] of [[7, 3, 1], [16, 50, 2], [5, 200, 3]]) {
    const rows = randomRows(n, d, seed, 2, 1);
    const r = geometricMedian(rows, { eps: 1e-8, maxIter: 5000 });
    t.ok(r.report.converged);
    const y = Float64Array.from(r.value);
    // Subgradient sum_i (y - x_i) / ||y - x_i|| vanishes at the GM (no data point coincides here).
    const grad = new Float64Array(d);
    for (const x of rows) {
      let acc = 0;
      for (let j = 0; j < d; j++) acc += (y[j] - x[j]) ** 2;
      const dist = Math.sqrt(acc);
      for (let j = 0; j < d; j++) grad[j] += (y[j] - x[j]) / dist;
    }
    const gnorm = Math.hypot(...grad);
    t.ok(gnorm < 1e-3 * n, `n=${n} d=${d}: |subgradient| ${gnorm.toExponential(2)}`);
    // No random nearby point has a lower objective (beyond float32 rounding of y).
    const f0 = gmObjective(rows, y);
    let worse = 0;
    for (let trial = 0; trial < 50; trial++) {
      const z = randomRows(1, d, 100 + trial, 1e-2)[0].map((v, j) => v + y[j]);
      if (gmObjective(rows, z) >= f0 - 1e-9 * f0) worse++;
    }
    t.equal(worse, 50, 'every perturbation is no better');
    const mean = new Float64Array(d);
    for (const x of rows) for (let j = 0; j < d; j++) mean[j] += x[j] / n;
    t.ok(f0 <= gmObjective(rows, mean), 'no worse than the mean');
  }
});

t.test('iteration cap: returns the last iterate and reports it, never zeros', async (t) => {
  const rows = rowsOf([[0, 0], [10, 0], [0, 10], [7, 9]]);
  const r = geometricMedian(rows, { maxIter: 1 });
  t.equal(r.report.converged, false);
  t.equal(r.report.iterations, 1);
  // Hand-computed: one Weiszfeld step from the mean (4.25, 4.75).
  const y = [4.25, 4.75];
  let ws = 0;
  const num = [0, 0];
  for (const x of [[0, 0], [10, 0], [0, 10], [7, 9]]) {
    const w = 1 / Math.hypot(x[0] - y[0], x[1] - y[1]);
    ws += w;
    num[0] += w * x[0];
    num[1] += w * x[1];
  }
  t.ok(maxAbsDiff(r.value, [num[0] / ws, num[1] / ws]) < 1e-5, `got ${Array.from(r.value)}`);
  t.ok(r.value.some((v) => v !== 0));
});

t.test('invalid rows are excluded or zeroed and counted; bad options are EINVAL', async (t) => {
  const good = rowsOf([[0, 0], [1, 0], [0, 1], [1, 1], [0.5, 0.4]]);
  const rows = [good[0], Float32Array.from([NaN, 1]), good[1], Float32Array.from([1, 2, 3]), good[2], Float32Array.from([Infinity, 0]), good[3], good[4]];
  const r = geometricMedian(rows);
  t.same(r.report.invalidRows, [1, 3, 5]);
  t.equal(r.report.used, 5);
  t.same(Array.from(r.value), Array.from(geometricMedian(good).value), 'exclude = GM of the valid rows');
  const z = geometricMedian(rows, { invalid: 'zero' });
  t.equal(z.report.used, 8);
  const zeroed = [good[0], new Float32Array(2), good[1], new Float32Array(2), good[2], new Float32Array(2), good[3], good[4]];
  t.same(Array.from(z.value), Array.from(geometricMedian(zeroed).value), 'zero = GM with zero rows in place');
  t.throws(() => geometricMedian([Float32Array.from([NaN]), Float32Array.from([Infinity])]), { name: 'ZcollError', code: 'ENUMERIC' });
  t.throws(() => geometricMedian([]), { name: 'ZcollError', code: 'ENUMERIC' });
  t.throws(() => geometricMedian(good, { eps: -1 }), { name: 'ZcollError', code: 'EINVAL' });
  t.throws(() => geometricMedian(good, { maxIter: 0 }), { name: 'ZcollError', code: 'EINVAL' });
  t.throws(() => geometricMedian(good, { invalid: 'drop' as never }), { name: 'ZcollError', code: 'EINVAL' });
  t.throws(() => geometricMedian(good, { length: 1.5 }), { name: 'ZcollError', code: 'EINVAL' });
  // With an explicit length, the rows of the other length are the invalid ones.
  const l3 = geometricMedian(rows, { length: 3 });
  t.equal(l3.report.used, 1);
  t.same(Array.from(l3.value), [1, 2, 3]);
});

t.test('out and scratch: filled in place, returned, bitwise equal to the fresh result; wrong length -> EINVAL', async (t) => {
  const rows = randomRows(7, 33, 5, 1);
  const fresh = geometricMedian(rows);
  const out = new Float32Array(33).fill(Number.NaN);
  const scratch = new WeiszfeldScratch();
  // Two calls on one scratch (the second starts from the first's leftovers), and a larger d
  // in between so the reused buffers are longer than d: every result must match the fresh one.
  const first = geometricMedian(rows, { out, scratch });
  t.equal(first.value, out, 'returns the given buffer');
  t.ok(bitwiseEqual(out, fresh.value), 'first call equals the fresh result bit for bit');
  geometricMedian(randomRows(9, 50, 6, 1), { scratch });
  out.fill(Number.NaN);
  const again = geometricMedian(rows, { out, scratch });
  t.equal(again.value, out);
  t.ok(bitwiseEqual(out, fresh.value), 'reused (longer) scratch equals the fresh result bit for bit');
  t.same(again.report, fresh.report);
  t.throws(() => geometricMedian(rows, { out: new Float32Array(32) }), { code: 'EINVAL', message: /geometricMedian.*length 32.*length 33/ });
});

/**
 * The solver loop as it was before kernels.weiszfeldStep (two passes per iteration: sqDistances,
 * weightedSum, then JS loops for the division and the move), kept here as the reference the
 * one-pass loop must reproduce bit for bit.
 */
function twoPassReference(points: readonly Float32Array[], d: number, options: Required<WeiszfeldOptions>) {
  const n = points.length;
  let y = new Float64Array(d);
  let next = new Float64Array(d);
  const weights = new Float64Array(n).fill(1 / n);
  const sq = new Float64Array(n);
  kernels.weightedSum(points, weights, y);
  let iterations = 0;
  let lastMove = Number.POSITIVE_INFINITY;
  while (iterations < options.maxIter) {
    iterations++;
    kernels.sqDistances(points, y, sq);
    let coincide = 0;
    let weightSum = 0;
    for (let i = 0; i < n; i++) {
      if (sq[i] === 0) {
        coincide++;
        weights[i] = 0;
      } else {
        weights[i] = 1 / Math.sqrt(sq[i]);
        weightSum += weights[i];
      }
    }
    if (weightSum === 0) return { value: y, iterations, converged: true, lastMove: 0 };
    kernels.weightedSum(points, weights, next);
    for (let j = 0; j < d; j++) next[j] /= weightSum;
    if (coincide > 0) {
      let acc = 0;
      for (let j = 0; j < d; j++) acc += (next[j] - y[j]) ** 2;
      const r = Math.sqrt(acc) * weightSum;
      const keep = r === 0 ? 1 : Math.min(1, coincide / r);
      for (let j = 0; j < d; j++) next[j] = (1 - keep) * next[j] + keep * y[j];
    }
    let moveSq = 0;
    for (let j = 0; j < d; j++) {
      const diff = next[j] - y[j];
      moveSq += diff * diff;
    }
    lastMove = Math.sqrt(moveSq);
    [y, next] = [next, y];
    let norm = 0;
    for (let j = 0; j < d; j++) norm += y[j] * y[j];
    const limit = options.tolerance === 'absolute' ? options.eps : options.eps * Math.sqrt(norm);
    if (lastMove < limit || lastMove === 0) return { value: y, iterations, converged: true, lastMove };
  }
  return { value: y, iterations, converged: false, lastMove };
}

t.test(`one pass per iteration: iterates bitwise those of the two-pass loop (${kernels.name} kernels)`, async (t) => {
  const sets: { name: string; rows: Float32Array[]; options: Required<WeiszfeldOptions> }[] = [];
  const base = { eps: 1e-5, maxIter: 100, tolerance: 'absolute' as const };
  for (const [n, d, seed] of [[16, 9000, 1], [5, 20000, 2], [7, 17, 3], [3, 8192, 4], [1, 50, 5]] as const) {
    const rows = randomRows(n, d, 900 + seed, 2, 0.5);
    sets.push({ name: `random n=${n} d=${d}`, rows, options: base });
    sets.push({ name: `random n=${n} d=${d} relative 1e-7`, rows, options: { eps: 1e-7, maxIter: 100, tolerance: 'relative' } });
    sets.push({ name: `random n=${n} d=${d} maxIter 2`, rows, options: { ...base, maxIter: 2 } });
  }
  // Vardi-Zhang steps: the mean is a data point, an iterate converges onto a vertex, duplicates.
  sets.push({ name: 'mean on a data point', rows: rowsOf([[0, 0], [2, 0], [-1, 1], [-1, -1]]), options: { ...base, eps: 1e-9, maxIter: 2000 } });
  sets.push({ name: 'leaves the data point', rows: rowsOf([[0, 0], [1, 0], [1, 0], [1, 0], [-3, 0]]), options: { ...base, eps: 1e-9, maxIter: 2000 } });
  sets.push({ name: 'obtuse vertex', rows: rowsOf([[0, 0], [10, 0], [-10, 0.5]]), options: { ...base, eps: 1e-9, maxIter: 2000 } });
  sets.push({ name: 'all equal', rows: rowsOf([[1.5, 2], [1.5, 2], [1.5, 2]]), options: base });
  const dup = randomRows(6, 3000, 77, 1);
  sets.push({ name: 'majority of duplicates, d = 3000', rows: [dup[0], dup[0], dup[0], dup[0], dup[1], dup[2]], options: { ...base, maxIter: 500 } });
  for (const { name, rows, options } of sets) {
    const d = rows[0].length;
    const want = twoPassReference(rows, d, options);
    const got = weiszfeldVardi(rows, d, options);
    const same = got.iterations === want.iterations && got.converged === want.converged && Object.is(got.lastMove, want.lastMove) &&
      got.value.every((v, j) => Object.is(v, want.value[j]));
    t.ok(same, `${name}: ${got.iterations} iterations (reference ${want.iterations}), move ${got.lastMove} (reference ${want.lastMove})`);
  }
});
