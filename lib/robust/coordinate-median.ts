/**
 * Coordinate-wise median (CMD in Acharya et al., AISTATS 2022; Yin et al., ICML 2018): for each
 * coordinate, the median of the n values (mean of the two middle ones for even n, as np.median).
 * Breakdown point 1/2 per coordinate, but not rotation equivariant. Cost O(n d) expected with
 * quickselect (kernels.selectKth) on one column at a time.
 */
import { kernels } from '../kernels/index.js';
import type { Aggregation, AggregatorOptions } from './aggregation.js';
import { screenRows } from './row-screen.js';

export function coordinateMedian(rows: readonly Float32Array[], options?: AggregatorOptions): Aggregation {
  const s = screenRows(rows, options, 'coordinateMedian');
  const n = s.rows.length;
  const d = s.length;
  const value = new Float32Array(d);
  const column = new Float64Array(n);
  const upper = n >>> 1;
  for (let j = 0; j < d; j++) {
    for (let i = 0; i < n; i++) column[i] = s.rows[i][j];
    if (n % 2 === 1) {
      value[j] = kernels.selectKth(column, upper);
    } else {
      const hi = kernels.selectKth(column, upper);
      const lo = kernels.selectKth(column, upper - 1);
      value[j] = (lo + hi) / 2;
    }
  }
  return {
    value,
    report: {
      aggregator: 'coordinateMedian',
      rows: rows.length,
      used: n,
      invalidRows: s.invalid,
      iterations: 1,
      converged: true,
      lastMove: 0,
    },
  };
}
