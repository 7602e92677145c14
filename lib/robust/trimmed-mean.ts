/**
 * Coordinate-wise trimmed mean (Yin, Chen, Ramchandran, Bartlett, ICML 2018): for each coordinate,
 * drop the f largest and the f smallest of the n values and average the n - 2f others. f = 0 is the
 * mean. Cost O(n log n · d) (a sort of n values per coordinate; n is the worker count, small).
 * Default f = floor(0.3 · n): the proportion 0.3 cut from each end used by the BGMD reference code
 * (scipy trim_mean).
 */
import { ZcollError } from '../errors.js';
import type { Aggregation, AggregatorOptions } from './aggregation.js';
import { screenRows } from './row-screen.js';

export interface TrimmedMeanOptions extends AggregatorOptions {
  /** Values cut from EACH end per coordinate; needs n - 2f >= 1 among the used rows. */
  f?: number;
}

export function trimmedMean(rows: readonly Float32Array[], options?: TrimmedMeanOptions): Aggregation {
  const f0 = options?.f;
  if (f0 !== undefined && (!Number.isInteger(f0) || f0 < 0)) {
    throw new ZcollError('EINVAL', `option 'f' of trimmedMean must be a non-negative integer, got ${String(f0)}`, { op: 'trimmedMean' });
  }
  const s = screenRows(rows, options, 'trimmedMean');
  const n = s.rows.length;
  const f = f0 ?? Math.floor(0.3 * n);
  if (n - 2 * f < 1) {
    throw new ZcollError('EINVAL', `trimmedMean with f = ${f} needs at least ${2 * f + 1} usable rows, got ${n}`, {
      op: 'trimmedMean',
      details: { f, used: n, invalidRows: s.invalid },
    });
  }
  const d = s.length;
  const value = new Float32Array(d);
  const column = new Float64Array(n);
  const kept = n - 2 * f;
  for (let j = 0; j < d; j++) {
    for (let i = 0; i < n; i++) column[i] = s.rows[i][j];
    column.sort();
    let acc = 0;
    for (let i = f; i < n - f; i++) acc += column[i];
    value[j] = acc / kept;
  }
  return {
    value,
    report: {
      aggregator: 'trimmedMean',
      rows: rows.length,
      used: n,
      invalidRows: s.invalid,
      iterations: 1,
      converged: true,
      lastMove: 0,
    },
  };
}
