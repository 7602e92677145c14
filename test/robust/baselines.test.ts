/** mean, coordinate median, trimmed mean, Krum / Multi-Krum and centered clipping on hand-checked inputs and float64 references. */
import t from 'tap';
import { centeredClipping } from '../../lib/robust/centered-clipping.js';
import { coordinateMedian } from '../../lib/robust/coordinate-median.js';
import { krum, multiKrum } from '../../lib/robust/krum.js';
import { mean } from '../../lib/robust/mean.js';
import { trimmedMean } from '../../lib/robust/trimmed-mean.js';
import { maxAbsDiff, randomRows, rowsOf } from './random-rows.js';

/** Per-coordinate sorted columns in float64: the reference for order statistics. */
function sortedColumns(rows: Float32Array[]): Float64Array[] {
  return Array.from({ length: rows[0].length }, (_, j) => Float64Array.from(rows, (r) => r[j]).sort());
}

t.test('mean equals a float64 serial sum', async (t) => {
  const rows = randomRows(13, 257, 5, 3, -1);
  const ref = Array.from({ length: 257 }, (_, j) => rows.reduce((a, r) => a + r[j], 0) / 13);
  t.ok(maxAbsDiff(mean(rows).value, ref) < 1e-6);
});

t.test('coordinate median: hand example and order statistics', async (t) => {
  t.same(Array.from(coordinateMedian(rowsOf([[1, 9], [3, -2], [100, 4]])).value), [3, 4]);
  t.same(Array.from(coordinateMedian(rowsOf([[1, 9], [3, -2], [100, 4], [2, 0]])).value), [2.5, 2]);
  for (const n of [7, 8]) {
    const rows = randomRows(n, 101, 20 + n);
    const cols = sortedColumns(rows);
    const ref = cols.map((c) => (n % 2 === 1 ? c[(n - 1) / 2] : (c[n / 2 - 1] + c[n / 2]) / 2));
    t.ok(maxAbsDiff(coordinateMedian(rows).value, ref) < 1e-6, `n = ${n} matches sorted columns`);
  }
});

t.test('trimmed mean: f = 0 is the mean, hand example, sorted reference', async (t) => {
  const rows = randomRows(9, 64, 31);
  t.ok(maxAbsDiff(trimmedMean(rows, { f: 0 }).value, mean(rows).value) < 1e-6);
  t.same(Array.from(trimmedMean(rowsOf([[1], [2], [3], [100], [-50]]), { f: 1 }).value), [2]);
  const cols = sortedColumns(rows);
  const ref = cols.map((c) => c.slice(2, 7).reduce((a, v) => a + v, 0) / 5);
  t.ok(maxAbsDiff(trimmedMean(rows, { f: 2 }).value, ref) < 1e-6);
  // Default f = floor(0.3 n) = 2 for n = 9.
  t.same(Array.from(trimmedMean(rows).value), Array.from(trimmedMean(rows, { f: 2 }).value));
  t.throws(() => trimmedMean(rows, { f: 5 }), { code: 'EINVAL' });
  t.throws(() => trimmedMean(rows, { f: -1 }), { code: 'EINVAL' });
});

t.test('Krum and Multi-Krum', async (t) => {
  // ByzFL docstring example.
  const byzfl = rowsOf([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
  t.same(Array.from(krum(byzfl, { f: 1 }).value), [1, 2, 3]);
  t.same(Array.from(multiKrum(byzfl, { f: 1 }).value), [2.5, 3.5, 4.5]);
  // 1-d points 0, 1, 2, 3, 100 with f = 1: n - f - 2 = 2 neighbours; squared-distance scores
  // 0: 1+4 = 5, 1: 1+1 = 2, 2: 1+1 = 2, 3: 1+4 = 5, 100: 97^2+98^2. Krum -> 1 (tie with 2, lower index).
  const line = rowsOf([[0], [1], [2], [3], [100]]);
  const k = krum(line, { f: 1 });
  t.same(Array.from(k.value), [1]);
  t.same(k.report.selectedRows, [1]);
  const mk = multiKrum(line, { f: 1 });
  t.same(mk.report.selectedRows, [0, 1, 2, 3], 'm = n - f = 4 lowest scores');
  t.same(Array.from(mk.value), [1.5]);
  t.same(Array.from(multiKrum(line, { f: 1, m: 2 }).value), [1.5]);
  // Selected positions refer to the caller's array even when invalid rows were dropped.
  const withBad = [line[0], Float32Array.from([NaN]), line[1], line[2], line[3], line[4]];
  const kb = krum(withBad, { f: 1 });
  t.same(kb.report.selectedRows, [2]);
  t.same(kb.report.invalidRows, [1]);
  t.throws(() => krum(line, { f: -1 }), { code: 'EINVAL' });
  t.throws(() => multiKrum(line, { m: 0 }), { code: 'EINVAL' });
});

t.test('centered clipping: hand example and large tau = mean', async (t) => {
  // From v = 0 with tau = 1: row 0 contributes 0, row 10 is clipped to 1; v = (0 + 1) / 2.
  const r = centeredClipping(rowsOf([[0], [10]]), { tau: 1 });
  t.ok(Math.abs(r.value[0] - 0.5) < 1e-7);
  // Two iterations from 0.5: rows at distance 0.5 (kept) and 9.5 (clipped to 1): v = 0.5 + (-0.5 + 1) / 2.
  t.ok(Math.abs(centeredClipping(rowsOf([[0], [10]]), { tau: 1, iters: 2 }).value[0] - 0.75) < 1e-7);
  const rows = randomRows(6, 20, 4);
  t.ok(maxAbsDiff(centeredClipping(rows, { tau: 1e6 }).value, mean(rows).value) < 1e-6);
  const start = Float32Array.from({ length: 20 }, () => 0.25);
  t.ok(maxAbsDiff(centeredClipping(rows, { tau: 1e6, start }).value, mean(rows).value) < 1e-6, 'unclipped step lands on the mean from any start');
  t.throws(() => centeredClipping(rows, { tau: 0 }), { code: 'EINVAL' });
  t.throws(() => centeredClipping(rows, { start: new Float32Array(3) }), { code: 'EINVAL' });
});
