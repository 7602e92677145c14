/** The registry: every aggregator by name, the shared invalid-row contract, determinism. */
import t from 'tap';
import { AGGREGATOR_NAMES, aggregate } from '../../lib/robust/aggregator.js';
import { bitwiseEqual, randomRows } from './random-rows.js';

t.test('every registered aggregator honours the invalid-row contract', async (t) => {
  t.same([...AGGREGATOR_NAMES].sort(), ['centeredClipping', 'coordinateMedian', 'geometricMedian', 'krum', 'mean', 'multiKrum', 'trimmedMean']);
  const good = randomRows(7, 33, 9);
  const bad = [Float32Array.from({ length: 33 }, (_, j) => (j === 5 ? NaN : 1)), new Float32Array(32), Float32Array.from({ length: 33 }, () => -Infinity)];
  // Invalid rows interleaved at positions 1, 4, 8.
  const rows = [good[0], bad[0], good[1], good[2], bad[1], good[3], good[4], good[5], bad[2], good[6]];
  const zeroed = rows.map((r, i) => ([1, 4, 8].includes(i) ? new Float32Array(33) : r));
  for (const name of AGGREGATOR_NAMES) {
    const ex = aggregate(name, rows);
    t.same(ex.report.invalidRows, [1, 4, 8], `${name}: invalid rows counted`);
    t.equal(ex.report.used, 7);
    t.ok(bitwiseEqual(ex.value, aggregate(name, good).value), `${name}: exclude = aggregate of the valid rows`);
    const z = aggregate(name, rows, { invalid: 'zero' });
    t.equal(z.report.used, 10);
    t.ok(bitwiseEqual(z.value, aggregate(name, zeroed).value), `${name}: zero = aggregate with zero rows`);
    t.ok(bitwiseEqual(ex.value, aggregate(name, rows.map((r) => r.slice())).value), `${name}: deterministic on copies`);
    t.throws(() => aggregate(name, bad), { code: 'ENUMERIC' }, `${name}: no valid row -> ENUMERIC`);
    t.throws(() => aggregate(name, good, { invalid: 'keep' as never }), { code: 'EINVAL' });
  }
  t.throws(() => aggregate('median' as never, good), { code: 'EINVAL' });
});
