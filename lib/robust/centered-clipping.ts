/**
 * Centered clipping (Karimireddy, He, Jaggi, "Learning from History for Byzantine Robust
 * Optimization", ICML 2021): starting from v (the previous aggregate, or 0), repeat `iters` times
 *   v <- v + (1/n) sum_i (x_i - v) * min(1, tau / ||x_i - v||),
 * so a row far from v moves it by at most tau / n. Defaults tau = 100, iters = 1, v = 0 (ByzFL's
 * CenteredClipping defaults). Cost per iteration: two passes over n x d (kernels.sqDistances,
 * kernels.weightedSum).
 */
import { ZcollError } from '../errors.js';
import { kernels } from '../kernels/index.js';
import type { Aggregation, AggregatorOptions } from './aggregation.js';
import { screenRows } from './row-screen.js';

export interface CenteredClippingOptions extends AggregatorOptions {
  /** Clipping radius, > 0. Default 100. */
  tau?: number;
  /** Clipping iterations, >= 1. Default 1. */
  iters?: number;
  /** Starting center (length d, finite); default zeros. Pass the previous round's aggregate. */
  start?: Float32Array;
}

export function centeredClipping(rows: readonly Float32Array[], options?: CenteredClippingOptions): Aggregation {
  const op = 'centeredClipping';
  const tau = options?.tau ?? 100;
  const iters = options?.iters ?? 1;
  if (!(typeof tau === 'number' && tau > 0 && Number.isFinite(tau))) {
    throw new ZcollError('EINVAL', `option 'tau' of ${op} must be a finite number > 0, got ${String(tau)}`, { op });
  }
  if (!Number.isInteger(iters) || iters < 1) {
    throw new ZcollError('EINVAL', `option 'iters' of ${op} must be an integer >= 1, got ${String(iters)}`, { op });
  }
  const s = screenRows(rows, options, op);
  const n = s.rows.length;
  const d = s.length;
  const v = new Float64Array(d);
  if (options?.start !== undefined) {
    const start = options.start;
    if (!(start instanceof Float32Array) || start.length !== d || !start.every(Number.isFinite)) {
      throw new ZcollError('EINVAL', `option 'start' of ${op} must be a finite Float32Array of length ${d}`, { op });
    }
    v.set(start);
  }
  const sq = new Float64Array(n);
  const weights = new Float64Array(n);
  const pulled = new Float64Array(d);
  let lastMove = 0;
  for (let t = 0; t < iters; t++) {
    kernels.sqDistances(s.rows, v, sq);
    let weightSum = 0;
    for (let i = 0; i < n; i++) {
      const dist = Math.sqrt(sq[i]);
      weights[i] = (dist <= tau ? 1 : tau / dist) / n;
      weightSum += weights[i];
    }
    // v + sum_i w_i (x_i - v) = (1 - sum w) v + sum_i w_i x_i
    kernels.weightedSum(s.rows, weights, pulled);
    let moveSq = 0;
    for (let j = 0; j < d; j++) {
      const nv = (1 - weightSum) * v[j] + pulled[j];
      moveSq += (nv - v[j]) * (nv - v[j]);
      v[j] = nv;
    }
    lastMove = Math.sqrt(moveSq);
  }
  return {
    value: Float32Array.from(v),
    report: { aggregator: op, rows: rows.length, used: n, invalidRows: s.invalid, iterations: iters, converged: true, lastMove },
  };
}
