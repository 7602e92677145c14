/**
 * Krum and Multi-Krum (Blanchard, El Mhamdi, Guerraoui, Stainer, NeurIPS 2017). Each row i gets the
 * score sum of its squared distances to its n - f - 2 nearest other rows; Krum returns the row with
 * the lowest score, Multi-Krum the mean of the m lowest-scored rows (default m = n - f, as ByzFL).
 * Ties go to the lower row index, so the choice is deterministic. Cost O(n^2 d) for the pairwise
 * distances (kernels.sqDistances, float64) plus O(n^2 log n) for the scores.
 */
import { ZcollError } from '../errors.js';
import { kernels } from '../kernels/index.js';
import type { Aggregation, AggregatorOptions } from './aggregation.js';
import { screenRows } from './row-screen.js';

export interface KrumOptions extends AggregatorOptions {
  /** Assumed number of Byzantine rows. Default floor((n - 3) / 2), the largest f with n >= 2f + 3. */
  f?: number;
}

export interface MultiKrumOptions extends KrumOptions {
  /** Rows averaged; default n - f (among the used rows), at least 1. */
  m?: number;
}

function checkCount(value: number | undefined, name: string, op: string, min: number): void {
  if (value !== undefined && (!Number.isInteger(value) || value < min)) {
    throw new ZcollError('EINVAL', `option '${name}' of ${op} must be an integer >= ${min}, got ${String(value)}`, { op });
  }
}

/** Row positions (in `rows`) ordered by Krum score, lowest first, ties by position. */
function krumOrder(rows: readonly Float32Array[], f: number): number[] {
  const n = rows.length;
  const dist = new Float64Array(n * n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    kernels.sqDistances(rows, rows[i], out);
    dist.set(out, i * n);
  }
  const neighbours = Math.max(0, n - f - 2);
  const scores = new Float64Array(n);
  const others = new Float64Array(n - 1);
  for (let i = 0; i < n; i++) {
    let t = 0;
    // Symmetrise (dist[i][k] and dist[k][i] are computed in different orders) so the score of a row
    // does not depend on which side of the pair it was.
    for (let k = 0; k < n; k++) if (k !== i) others[t++] = Math.min(dist[i * n + k], dist[k * n + i]);
    others.sort();
    let acc = 0;
    for (let k = 0; k < neighbours; k++) acc += others[k];
    scores[i] = acc;
  }
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => scores[a] - scores[b] || a - b);
  return order;
}

function run(op: 'krum' | 'multiKrum', rows: readonly Float32Array[], options: MultiKrumOptions | undefined, single: boolean): Aggregation {
  checkCount(options?.f, 'f', op, 0);
  checkCount(options?.m, 'm', op, 1);
  const s = screenRows(rows, options, op);
  const n = s.rows.length;
  const f = options?.f ?? Math.max(0, Math.floor((n - 3) / 2));
  const order = krumOrder(s.rows, f);
  const m = single ? 1 : Math.min(n, options?.m ?? Math.max(1, n - f));
  const chosen = order.slice(0, m).sort((a, b) => a - b);
  const value = new Float32Array(s.length);
  if (m === 1) {
    value.set(s.rows[chosen[0]]);
  } else {
    const weights = new Float64Array(m).fill(1 / m);
    kernels.weightedSum(
      chosen.map((i) => s.rows[i]),
      weights,
      value,
    );
  }
  return {
    value,
    report: {
      aggregator: op,
      rows: rows.length,
      used: n,
      invalidRows: s.invalid,
      iterations: 1,
      converged: true,
      lastMove: 0,
      selectedRows: chosen.map((i) => s.index[i]),
    },
  };
}

export function krum(rows: readonly Float32Array[], options?: KrumOptions): Aggregation {
  return run('krum', rows, options, true);
}

export function multiKrum(rows: readonly Float32Array[], options?: MultiKrumOptions): Aggregation {
  return run('multiKrum', rows, options, false);
}
