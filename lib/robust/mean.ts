/**
 * Arithmetic mean of the rows: the non-robust baseline (breakdown point 0: one row can move it
 * anywhere). Cost O(n d). Accumulated in float64 through kernels.weightedSum with weights 1/n.
 */
import { kernels } from '../kernels/index.js';
import type { Aggregation, AggregatorOptions } from './aggregation.js';
import { screenRows } from './row-screen.js';

export function mean(rows: readonly Float32Array[], options?: AggregatorOptions): Aggregation {
  const s = screenRows(rows, options, 'mean');
  const value = new Float32Array(s.length);
  const weights = new Float64Array(s.rows.length).fill(1 / s.rows.length);
  kernels.weightedSum(s.rows, weights, value);
  return {
    value,
    report: {
      aggregator: 'mean',
      rows: rows.length,
      used: s.rows.length,
      invalidRows: s.invalid,
      iterations: 1,
      converged: true,
      lastMove: 0,
    },
  };
}
