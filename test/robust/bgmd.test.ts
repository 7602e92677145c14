import t from 'tap';
import { Bgmd } from '../../lib/robust/bgmd.js';
import { geometricMedian } from '../../lib/robust/geometric-median.js';
import { mean } from '../../lib/robust/mean.js';
import { bitwiseEqual, maxAbsDiff, randomRows, rowsOf } from './random-rows.js';

/** A quadratic loss 0.5 ||x - target_i||^2 per worker: g_i = x - target_i + noise. */
function gradients(x: Float32Array, step: number, n: number, seed: number): Float32Array[] {
  const noise = randomRows(n, x.length, seed * 1000 + step, 0.5);
  return noise.map((row, i) => Float32Array.from(row, (v, j) => x[j] - (i % 3) + v));
}

t.test('beta = 1 is exactly GM-SGD; with the mean it is exactly mini-batch SGD', async (t) => {
  const n = 6;
  const d = 40;
  const lr = 0.25; // a power of two: lr * g and (lr * g) / lr are exact, so the comparison is bitwise
  for (const inner of ['geometricMedian', 'mean'] as const) {
    const bgmd = new Bgmd({ workers: n, length: d, beta: 1, inner });
    const xa = new Float32Array(d).fill(3);
    const xb = xa.slice();
    for (let step = 0; step < 8; step++) {
      const { update, selected } = bgmd.step(gradients(xa, step, n, 1), lr);
      t.equal(selected.length, d);
      for (let j = 0; j < d; j++) xa[j] -= update[j];
      const g = gradients(xb, step, n, 1);
      const agg = inner === 'mean' ? mean(g).value : geometricMedian(g).value;
      for (let j = 0; j < d; j++) xb[j] -= Math.fround(lr * agg[j]);
    }
    t.ok(bitwiseEqual(xa, xb), `${inner}: trajectories identical bit for bit`);
    t.ok(bgmd.meanMemory().every((v) => v === 0), 'memory stays empty when everything is selected');
  }
});

t.test('error-feedback conservation: sum of updates + mean memory = lr * sum of mean gradients', async (t) => {
  const n = 5;
  const d = 300;
  for (const memory of ['perWorker', 'averaged'] as const) {
    const bgmd = new Bgmd({ workers: n, length: d, beta: 0.07, inner: 'mean', memory });
    const applied = new Float64Array(d);
    const target = new Float64Array(d);
    for (let step = 0; step < 12; step++) {
      const lr = 0.1 * (1 + (step % 3)); // the identity holds for a varying step size too
      const g = randomRows(n, d, 77 + step, 1 + step);
      const { update } = bgmd.step(g, lr);
      for (let j = 0; j < d; j++) {
        applied[j] += update[j];
        let s = 0;
        for (let i = 0; i < n; i++) s += g[i][j];
        target[j] += (lr * s) / n;
      }
    }
    const mem = bgmd.meanMemory();
    let err = 0;
    let scale = 0;
    for (let j = 0; j < d; j++) {
      err = Math.max(err, Math.abs(applied[j] + mem[j] - target[j]));
      scale = Math.max(scale, Math.abs(target[j]));
    }
    t.ok(err <= 1e-5 * scale, `${memory}: max error ${err.toExponential(2)} vs scale ${scale.toFixed(2)}`);
    // It must not hold trivially: a dropped residual (memory 'none') breaks it.
  }
  const none = new Bgmd({ workers: n, length: d, beta: 0.07, inner: 'mean', memory: 'none' });
  const g = randomRows(n, d, 5, 1);
  const { update } = none.step(g, 1);
  const total = mean(g).value;
  t.ok(maxAbsDiff(update, total) > 0.1, 'without memory the unselected mass is lost');
});

/** Scores as the contract defines them (float32: a = fround(fround(lr g) + m), s = float sum of fround(a^2)). */
function referenceScores(memory: readonly Float32Array[], g: readonly Float32Array[], lr: number): number[] {
  const lr32 = Math.fround(lr);
  return Array.from({ length: g[0].length }, (_, j) => {
    let s = 0;
    for (let i = 0; i < g.length; i++) {
      const a = Math.fround(Math.fround(lr32 * g[i][j]) + memory[i][j]);
      s = Math.fround(s + Math.fround(a * a));
    }
    return s;
  });
}

/** The top k of scores by brute force: sort by score descending, then index ascending; returned ascending. */
function referenceTopK(scores: readonly number[], k: number): number[] {
  const order = scores.map((_, j) => j).sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, k).sort((a, b) => a - b);
}

t.test('selection among sampled-threshold candidates (d >= 65536) is the exact top k, also when the estimate misses', async (t) => {
  // Bgmd picks a threshold from 256 runs of 16 sampled coordinates and selects among the scores
  // above it. Three layouts: random (candidates used), the sampled runs hold the only large values
  // and there are fewer of them than k (too few candidates: all d scores), and the sampled runs
  // hold the only small values (nearly every coordinate a candidate: past the capacity, all d).
  const n = 5;
  const d = 70_000;
  const lr = 0.5;
  const sampled = new Set<number>();
  for (let r = 0; r < 256; r++) {
    const start = Math.min(d - 16, Math.floor((r * d) / 256));
    for (let j = start; j < start + 16; j++) sampled.add(j);
  }
  for (const [layout, beta, path] of [['random', 0.05, 'candidates'], ['sampled large', 0.1, 'all'], ['sampled small', 0.05, 'all']] as const) {
    const bgmd = new Bgmd({ workers: n, length: d, beta, inner: 'mean' });
    for (let step = 0; step < 3; step++) {
      const g = randomRows(n, d, 900 + step, 1);
      if (layout !== 'random') {
        for (const row of g) for (let j = 0; j < d; j++) row[j] *= sampled.has(j) === (layout === 'sampled large') ? 100 : 0.01;
      }
      const before = Array.from({ length: n }, (_, i) => bgmd.memoryRow(i).slice());
      const scores = referenceScores(before, g, lr);
      const { selected, report } = bgmd.step(g, lr);
      t.same([...selected], referenceTopK(scores, bgmd.k), `${layout} step ${step}: I is the top k of all d scores`);
      if (path === 'candidates') t.ok(report.candidates !== undefined && report.candidates >= bgmd.k && report.candidates < 2 * bgmd.k, `${layout} step ${step}: chosen among ${report.candidates} candidates`);
      else t.equal(report.candidates, undefined, `${layout} step ${step}: the estimate missed, chosen from all d scores`);
      const inI = new Set(selected);
      for (let i = 0; i < n; i++) {
        const row = bgmd.memoryRow(i);
        const lr32 = Math.fround(lr);
        t.ok(row.every((v, j) => (inI.has(j) ? v === 0 : Object.is(v, Math.fround(Math.fround(lr32 * g[i][j]) + before[i][j])))), `${layout} step ${step}: memory row ${i} = augmented row with I zeroed`);
      }
    }
  }
});

t.test('selection: |I| = k, top-k by column norm, update zero outside I, memory zero on I', async (t) => {
  const n = 7;
  const d = 1000;
  const bgmd = new Bgmd({ workers: n, length: d, beta: 0.05 });
  t.equal(bgmd.k, 50);
  for (let step = 0; step < 3; step++) {
    const lr = 0.5;
    const before = Array.from({ length: n }, (_, i) => bgmd.memoryRow(i).slice());
    const g = randomRows(n, d, 300 + step);
    const scores = referenceScores(before, g, lr);
    const { update, selected, report } = bgmd.step(g, lr);
    t.equal(selected.length, 50);
    t.equal(report.selectedCount, 50);
    t.ok(selected.every((j, i) => i === 0 || j > selected[i - 1]), 'ascending, distinct');
    const inI = new Set(selected);
    const minIn = Math.min(...[...inI].map((j) => scores[j]));
    const maxOut = Math.max(...scores.filter((_, j) => !inI.has(j)));
    t.ok(minIn >= maxOut, 'every selected column scores at least as high as every other one');
    t.ok(update.every((v, j) => inI.has(j) || v === 0), 'update is exactly 0 outside I');
    for (let i = 0; i < n; i++) t.ok(selected.every((j) => bgmd.memoryRow(i)[j] === 0), `memory row ${i} is 0 on I`);
  }
});

t.test('two-step worked example (per-worker memory, Vardi GM)', async (t) => {
  // n = 3, d = 4, beta = 0.5 -> k = 2, lr = 0.5. Step 1: augmented rows lr*g are
  // (1, .1, 2, 0), (2, .2, 4, .1), (3, .3, 6, .2): squared column norms 14, .14, 56, .05 -> I = {0, 2}.
  // Block rows in gradient units (2,4), (4,8), (6,12) are collinear: GM = the middle (4, 8), update = lr*(4,8) on I.
  const lr = 0.5;
  const perWorker = new Bgmd({ workers: 3, length: 4, beta: 0.5 });
  const averaged = new Bgmd({ workers: 3, length: 4, beta: 0.5, memory: 'averaged' });
  const g1 = rowsOf([[2, 0.2, 4, 0], [4, 0.4, 8, 0.2], [6, 0.6, 12, 0.4]]);
  const s1 = perWorker.step(g1, lr);
  t.same(Array.from(s1.selected), [0, 2]);
  t.ok(maxAbsDiff(s1.update, [2, 0, 4, 0]) < 1e-6, `update ${Array.from(s1.update)}`);
  // Each worker keeps its own unselected residual.
  t.ok(maxAbsDiff(perWorker.memoryRow(0), [0, 0.1, 0, 0]) < 1e-7);
  t.ok(maxAbsDiff(perWorker.memoryRow(1), [0, 0.2, 0, 0.1]) < 1e-7);
  t.ok(maxAbsDiff(perWorker.memoryRow(2), [0, 0.3, 0, 0.2]) < 1e-7);
  const a1 = averaged.step(g1, lr);
  t.same(Array.from(a1.selected), [0, 2]);
  t.ok(maxAbsDiff(averaged.meanMemory(), [0, 0.2, 0, 0.1]) < 1e-7, 'averaged memory = mean of the residual rows');
  // Step 2: every worker sends g = (.1, 0, .1, 0). Augmented: (.05, .1, .05, 0), (.05, .2, .05, .1), (.05, .3, .05, .2);
  // squared column norms .0075, .14, .0075, .05 -> I = {1, 3}, chosen by the memory (the gradient alone would pick {0, 2}).
  // Block rows / lr: (.2, 0), (.4, .2), (.6, .4), collinear -> GM (.4, .2), update lr*(.4,.2) = (.2, .1) on I.
  const g2 = rowsOf([[0.1, 0, 0.1, 0], [0.1, 0, 0.1, 0], [0.1, 0, 0.1, 0]]);
  const s2 = perWorker.step(g2, lr);
  t.same(Array.from(s2.selected), [1, 3]);
  t.ok(maxAbsDiff(s2.update, [0, 0.2, 0, 0.1]) < 1e-6, `update ${Array.from(s2.update)}`);
  for (let i = 0; i < 3; i++) t.ok(maxAbsDiff(perWorker.memoryRow(i), [0.05, 0, 0.05, 0]) < 1e-7);
  // Averaged: every row is g2*lr + (0, .2, 0, .1) = (.05, .2, .05, .1): I = {1, 3}, all rows equal -> update (0, .2, 0, .1).
  const a2 = averaged.step(g2, lr);
  t.same(Array.from(a2.selected), [1, 3]);
  t.ok(maxAbsDiff(a2.update, [0, 0.2, 0, 0.1]) < 1e-6);
});

t.test('documented: one Byzantine row with large entries steers the selection', async (t) => {
  const n = 8;
  const d = 200;
  const honest = randomRows(n - 1, d, 41, 0.1);
  const alone = new Bgmd({ workers: n - 1, length: d, beta: 0.05 }).step(honest, 1).selected;
  const byz = new Float32Array(d);
  for (let j = 0; j < 10; j++) byz[190 + j] = 1e3;
  const withByz = new Bgmd({ workers: n, length: d, beta: 0.05 }).step([...honest, byz], 1);
  const picked = Array.from(withByz.selected);
  t.ok(Array.from({ length: 10 }, (_, j) => 190 + j).every((j) => picked.includes(j)), 'the Byzantine row chose 10 of the 10 coordinates');
  t.not(picked.join(), Array.from(alone).join());
  // ... but the GM on that block still ignores the single outlier row.
  t.ok(Math.max(...Array.from(withByz.update).map(Math.abs)) < 1, 'the update stays at the honest scale');
});

t.test('deterministic: equal inputs give bitwise equal updates and memory (top-k and sampling)', async (t) => {
  for (const selection of ['topk', 'sample'] as const) {
    const a = new Bgmd({ workers: 5, length: 500, beta: 0.1, selection, seed: 7 });
    const b = new Bgmd({ workers: 5, length: 500, beta: 0.1, selection, seed: 7 });
    for (let step = 0; step < 4; step++) {
      const g = randomRows(5, 500, 900 + step);
      const ra = a.step(g, 0.3);
      const rb = b.step(g.map((r) => r.slice()), 0.3);
      t.ok(bitwiseEqual(ra.update, rb.update) && ra.selected.join() === rb.selected.join(), `${selection} step ${step}`);
    }
    for (let i = 0; i < 5; i++) t.ok(bitwiseEqual(a.memoryRow(i), b.memoryRow(i)));
  }
});

t.test('sampled selection: k distinct coordinates, never a zero-score one, seed-dependent', async (t) => {
  const d = 400;
  const g = randomRows(4, d, 3);
  for (const r of g) r.fill(0, 0, 200); // coordinates 0..199 score 0
  const s1 = new Bgmd({ workers: 4, length: d, beta: 0.25, selection: 'sample', seed: 1 }).step(g, 1).selected;
  const s2 = new Bgmd({ workers: 4, length: d, beta: 0.25, selection: 'sample', seed: 2 }).step(g, 1).selected;
  t.equal(new Set(s1).size, 100);
  t.ok(s1.every((j) => j >= 200), 'zero-score coordinates are never sampled while positive ones remain');
  t.not(s1.join(), s2.join(), 'another seed draws another set');
  // Squared-norm weighting: columns scaled x10 are drawn far more often than their share.
  const h = randomRows(4, d, 4);
  for (const r of h) for (let j = 0; j < 40; j++) r[j] *= 10;
  let heavy = 0;
  for (let seed = 1; seed <= 20; seed++) {
    heavy += Array.from(new Bgmd({ workers: 4, length: d, beta: 0.1, selection: 'sample', seed }).step(h, 1).selected).filter((j) => j < 40).length;
  }
  t.ok(heavy / 20 > 30, `on average ${heavy / 20} of 40 selected coordinates are the heavy ones (10 % of d)`);
});

t.test('invalid rows: excluded (memory untouched) or zeroed, counted; option errors', async (t) => {
  const d = 50;
  const g = randomRows(4, d, 8);
  const bad = [...g];
  bad[2] = Float32Array.from({ length: d }, (_, j) => (j === 3 ? NaN : 0));
  const b = new Bgmd({ workers: 4, length: d, beta: 0.2 });
  const r = b.step(bad, 0.5);
  t.same(r.report.invalidRows, [2]);
  t.equal(r.report.inner.used, 3);
  t.ok(b.memoryRow(2).every((v) => v === 0), 'the invalid worker\'s memory is untouched');
  t.ok(r.update.every(Number.isFinite));
  const z = new Bgmd({ workers: 4, length: d, beta: 0.2, invalid: 'zero' }).step([g[0], g[1], new Float32Array(7), g[3]], 0.5);
  t.same(z.report.invalidRows, [2]);
  t.equal(z.report.inner.used, 4);
  t.throws(() => b.step([bad[2], bad[2], bad[2], bad[2]], 0.5), { code: 'ENUMERIC' });
  t.throws(() => b.step(g.slice(0, 3), 0.5), { code: 'EINVAL' });
  t.throws(() => b.step(g, 0), { code: 'EINVAL' });
  t.throws(() => new Bgmd({ workers: 4, length: d, beta: 0 }), { code: 'EINVAL' });
  t.throws(() => new Bgmd({ workers: 4, length: d, beta: 1.5 }), { code: 'EINVAL' });
  t.throws(() => new Bgmd({ workers: 4, length: d, memory: 'shared' as never }), { code: 'EINVAL' });
  t.throws(() => new Bgmd({ workers: 4, length: d, inner: 'median' as never }), { code: 'EINVAL' });
});

t.test('GM iteration cap is reported and counted, the update is the last iterate (not zeros)', async (t) => {
  const b = new Bgmd({ workers: 5, length: 100, beta: 0.5, innerOptions: { maxIter: 1 } });
  const r1 = b.step(randomRows(5, 100, 12, 3), 0.5);
  t.equal(r1.report.inner.converged, false);
  t.equal(r1.report.notConvergedRounds, 1);
  t.ok(r1.update.some((v) => v !== 0));
  const r2 = b.step(randomRows(5, 100, 13, 3), 0.5);
  t.equal(r2.report.notConvergedRounds, 2);
});

t.test('step(rows, lr, out): filled in full, returned, bitwise equal to fresh updates; wrong length -> EINVAL', async (t) => {
  const n = 5;
  const d = 64;
  const fresh = new Bgmd({ workers: n, length: d, beta: 0.25 });
  const reused = new Bgmd({ workers: n, length: d, beta: 0.25 });
  const out = new Float32Array(d).fill(Number.NaN);
  for (let round = 0; round < 4; round++) {
    const rows = randomRows(n, d, 40 + round, 1);
    const a = fresh.step(rows, 0.1);
    const b = reused.step(rows, 0.1, out);
    t.equal(b.update, out, `round ${round}: returns the given buffer`);
    t.ok(bitwiseEqual(out, a.update), `round ${round}: update equals the fresh one bit for bit`);
    t.same(b.selected, a.selected);
    t.same(b.report, a.report);
    for (let i = 0; i < n; i++) t.ok(bitwiseEqual(reused.memoryRow(i), fresh.memoryRow(i)), `round ${round}: memory row ${i} equal`);
  }
  const before = reused.memoryRow(0).slice();
  t.throws(() => reused.step(randomRows(n, d, 99, 1), 0.1, new Float32Array(d - 1)), { code: 'EINVAL', message: /Bgmd\.step.*length 64.*length 63/ });
  t.ok(bitwiseEqual(reused.memoryRow(0), before), 'a rejected out leaves the memory untouched');
});

t.test('a NaN/Inf row found by the scoring pass is excluded exactly like a row of the wrong length', async (t) => {
  // The per-worker path has no screen before the scoring pass: a NaN anywhere in a row (here the
  // last coordinate, after the memory holds residuals from earlier rounds) must leave that worker's
  // memory bitwise as it was and give the round an invalid row of the wrong length would give.
  // d = 70000 takes the sampled-candidate selection, d = 5000 the selection from all d scores.
  const n = 6;
  for (const [d, invalid] of [[5000, 'exclude'], [5000, 'zero'], [70_000, 'exclude'], [70_000, 'zero']] as const) {
    const screened = new Bgmd({ workers: n, length: d, beta: 0.1, invalid });
    const reference = new Bgmd({ workers: n, length: d, beta: 0.1, invalid });
    for (let round = 0; round < 4; round++) {
      const rows = randomRows(n, d, 700 + round, 1);
      const bad = [...rows];
      const refRows = [...rows];
      if (round >= 2) {
        const poisoned = rows[3].slice();
        poisoned[d - 1] = round === 2 ? Number.NaN : -Infinity;
        bad[3] = poisoned;
        refRows[3] = new Float32Array(d - 1);
      }
      const before = screened.memoryRow(3).slice();
      const a = screened.step(bad, 0.3);
      const b = reference.step(refRows, 0.3);
      t.same(a.report.invalidRows, round >= 2 ? [3] : [], `d=${d} ${invalid} round ${round}: reported`);
      t.ok(bitwiseEqual(a.update, b.update) && a.selected.join() === b.selected.join(), `d=${d} ${invalid} round ${round}: same update and selection`);
      for (let i = 0; i < n; i++) t.ok(bitwiseEqual(screened.memoryRow(i), reference.memoryRow(i)), `d=${d} ${invalid} round ${round}: memory row ${i}`);
      // Under 'zero' the row takes part as g = 0: its residual on I moves into the block, as before.
      if (round >= 2 && invalid === 'exclude') t.ok(bitwiseEqual(screened.memoryRow(3), before), `d=${d} round ${round}: the NaN row's memory is untouched`);
    }
  }
  const all = new Bgmd({ workers: 3, length: 10, beta: 0.5 });
  const nan = Float32Array.from({ length: 10 }, (_, j) => (j === 9 ? Number.NaN : 1));
  t.throws(() => all.step([nan, nan, new Float32Array(3)], 0.1), { code: 'ENUMERIC' });
  t.ok([0, 1, 2].every((i) => all.memoryRow(i).every((v) => v === 0)), 'ENUMERIC leaves every memory row untouched');
});

t.test('finite rows whose augmented values overflow float32 stay valid (not a NaN/Inf row)', async (t) => {
  const d = 20;
  const b = new Bgmd({ workers: 3, length: d, beta: 0.25 });
  const rows = randomRows(3, d, 5, 1);
  rows[1][4] = 3.4e38;
  const r = b.step(rows, 2);
  t.same(r.report.invalidRows, [], 'no invalid row');
  t.ok(r.selected.includes(4), 'the overflowing column scores +Inf and is selected');
});
