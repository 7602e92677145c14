/**
 * Geometric median GM(x_1..x_n) = argmin_y sum_i ||y - x_i||_2 by Weiszfeld's iteration with the
 * Vardi-Zhang step (Vardi & Zhang, PNAS 2000), as the BGMD reference code runs it:
 * start at the coordinate mean; each step takes the distances D_i to the estimate y, forms the
 * Weiszfeld point T = sum(x_i / D_i) / sum(1 / D_i) over the rows with D_i != 0, and when eta rows
 * coincide with y moves to (1 - g) T + g y with g = min(1, eta / r), r = ||T - y|| sum(1 / D_i).
 * Plain Weiszfeld divides by zero at a data point; this step is what lets the iterate stop at a
 * vertex (an obtuse triangle's GM is its obtuse vertex). Stops when the move is < eps.
 * Unlike the reference, which returns zeros when max_iter runs out, this returns the last iterate
 * with `converged: false` in the report, because a zero update silently skips a training step.
 * Breakdown point 1/2; rotation and translation equivariant.
 * Cost per iteration: one pass over n x d (kernels.weiszfeldStep: the weighted sum, the move and the
 * next distances from one read of each block of the rows; a Vardi-Zhang step adds a second pass,
 * kernels.sqDistances, to measure from the mixed point), float64; the iterates are bitwise those of
 * the former two-pass loop (sqDistances, weightedSum, then JS loops for the division and the move).
 * The iterate is kept in float64 and rounded to float32 once at the end.
 * Steady state (a training loop calls this every round): pass `out` (length d) to have the result
 * written there instead of a fresh array, and a `WeiszfeldScratch` to keep the two float64 iterates
 * and the n-sized buffers across calls. At d = 10M the fresh buffers are ~200 MB per call, and on
 * the benchmark VM a first touch of new pages costs ~16 us per 4 KiB; the result is bitwise the same.
 */
import { ZcollError } from '../errors.js';
import { kernels } from '../kernels/index.js';
import type { Aggregation, AggregatorOptions } from './aggregation.js';
import { screenRows } from './row-screen.js';

export interface WeiszfeldOptions {
  /** Stop when the move ||y_{t+1} - y_t|| is below eps. Default 1e-5 (the reference). */
  eps?: number;
  /** Iteration cap. Default 100 (the reference release; its paper runs used 50). */
  maxIter?: number;
  /** 'absolute' (the reference, default): move < eps. 'relative': move < eps * ||y||. */
  tolerance?: 'absolute' | 'relative';
}

/**
 * Buffers of the solver, kept across calls (grown when d or n grows, never shrunk). Not shareable
 * between concurrent callers; the solver's returned `value` is one of these buffers, valid until
 * the next call with the same scratch.
 */
export class WeiszfeldScratch {
  y = new Float64Array(0);
  next = new Float64Array(0);
  weights = new Float64Array(0);
  sq = new Float64Array(0);

  /** Views of length d (iterates) and n (weights, distances); contents are unspecified. */
  take(d: number, n: number): { y: Float64Array; next: Float64Array; weights: Float64Array; sq: Float64Array } {
    if (this.y.length < d) {
      this.y = new Float64Array(d);
      this.next = new Float64Array(d);
    }
    if (this.weights.length < n) {
      this.weights = new Float64Array(n);
      this.sq = new Float64Array(n);
    }
    return { y: this.y.subarray(0, d), next: this.next.subarray(0, d), weights: this.weights.subarray(0, n), sq: this.sq.subarray(0, n) };
  }
}

export interface GeometricMedianOptions extends AggregatorOptions, WeiszfeldOptions {
  /** Written in place (length d) and returned as `value`; default a fresh array owned by the caller. */
  out?: Float32Array;
  /** Solver buffers reused across calls (see WeiszfeldScratch); default fresh ones per call. */
  scratch?: WeiszfeldScratch;
}

export interface WeiszfeldResult {
  readonly value: Float64Array;
  readonly iterations: number;
  readonly converged: boolean;
  readonly lastMove: number;
}

export const GM_DEFAULT_EPS = 1e-5;
export const GM_DEFAULT_MAX_ITER = 100;

export function checkWeiszfeldOptions(options: WeiszfeldOptions | undefined, op: string): Required<WeiszfeldOptions> {
  const eps = options?.eps ?? GM_DEFAULT_EPS;
  const maxIter = options?.maxIter ?? GM_DEFAULT_MAX_ITER;
  const tolerance = options?.tolerance ?? 'absolute';
  if (!(typeof eps === 'number' && eps >= 0 && Number.isFinite(eps))) {
    throw new ZcollError('EINVAL', `option 'eps' of ${op} must be a finite number >= 0, got ${String(eps)}`, { op });
  }
  if (!Number.isInteger(maxIter) || maxIter < 1) {
    throw new ZcollError('EINVAL', `option 'maxIter' of ${op} must be an integer >= 1, got ${String(maxIter)}`, { op });
  }
  if (tolerance !== 'absolute' && tolerance !== 'relative') {
    throw new ZcollError('EINVAL', `option 'tolerance' of ${op} must be 'absolute' or 'relative', got ${String(tolerance)}`, { op });
  }
  return { eps, maxIter, tolerance };
}

function norm(v: Float64Array): number {
  let acc = 0;
  for (let j = 0; j < v.length; j++) acc += v[j] * v[j];
  return Math.sqrt(acc);
}

/**
 * The solver on already screened rows (all of length d, all finite, n >= 1). Exported for callers
 * that screen themselves (BGMD); use `geometricMedian` otherwise.
 */
export function weiszfeldVardi(points: readonly Float32Array[], d: number, options?: WeiszfeldOptions, scratch?: WeiszfeldScratch): WeiszfeldResult {
  const { eps, maxIter, tolerance } = checkWeiszfeldOptions(options, 'geometricMedian');
  const n = points.length;
  // Every buffer is fully written before it is read (weiszfeldStep overwrites its output), so
  // reused scratch gives bitwise the same iterates as fresh zeroed arrays.
  const buf = (scratch ?? new WeiszfeldScratch()).take(d, n);
  let y = buf.y;
  let next = buf.next;
  const weights = buf.weights.fill(1 / n);
  const sq = buf.sq;
  // The start (the mean) and the distances to it, in one pass: y[j] / 1 === y[j], so y is exactly
  // weightedSum's mean. From here on sq always holds the distances to y when an iteration starts.
  kernels.weiszfeldStep(points, weights, 1, y, undefined, sq);
  let iterations = 0;
  let lastMove = Number.POSITIVE_INFINITY;
  while (iterations < maxIter) {
    iterations++;
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
    // Every row sits on the estimate: it is the GM (all-equal rows, n = 1).
    if (weightSum === 0) return { value: y, iterations, converged: true, lastMove: 0 };
    let moveSq: number;
    if (coincide === 0) {
      // The usual case, one pass over the points: the Weiszfeld point T, ||T - y||^2, and the
      // distances to T that the next iteration's weights need (wasted only on the last iteration).
      moveSq = kernels.weiszfeldStep(points, weights, weightSum, next, y, sq);
    } else {
      kernels.weiszfeldStep(points, weights, weightSum, next, undefined, undefined);
      // Vardi-Zhang: r = ||R|| with R = sum_{D_i != 0} (x_i - y) / D_i = (T - y) * weightSum.
      let acc = 0;
      for (let j = 0; j < d; j++) {
        const diff = next[j] - y[j];
        acc += diff * diff;
      }
      const r = Math.sqrt(acc) * weightSum;
      const keep = r === 0 ? 1 : Math.min(1, coincide / r);
      for (let j = 0; j < d; j++) next[j] = (1 - keep) * next[j] + keep * y[j];
      moveSq = 0;
      for (let j = 0; j < d; j++) {
        const diff = next[j] - y[j];
        moveSq += diff * diff;
      }
    }
    lastMove = Math.sqrt(moveSq);
    const swap = y;
    y = next;
    next = swap;
    const limit = tolerance === 'absolute' ? eps : eps * norm(y);
    if (lastMove < limit || lastMove === 0) return { value: y, iterations, converged: true, lastMove };
    // After a Vardi-Zhang step y is no longer the Weiszfeld point the pass measured against.
    if (coincide > 0) kernels.sqDistances(points, y, sq);
  }
  return { value: y, iterations, converged: false, lastMove };
}

export function geometricMedian(rows: readonly Float32Array[], options?: GeometricMedianOptions): Aggregation {
  const op = 'geometricMedian';
  checkWeiszfeldOptions(options, op);
  const out = options?.out;
  if (out !== undefined && !(out instanceof Float32Array)) {
    throw new ZcollError('EINVAL', `option 'out' of ${op} must be a Float32Array, got ${typeof out}`, { op });
  }
  const scratch = options?.scratch;
  if (scratch !== undefined && !(scratch instanceof WeiszfeldScratch)) {
    throw new ZcollError('EINVAL', `option 'scratch' of ${op} must be a WeiszfeldScratch`, { op });
  }
  const s = screenRows(rows, options, op);
  // Checked before the solver runs so a wrong buffer costs nothing; d is known only after screening.
  if (out !== undefined && out.length !== s.length) {
    throw new ZcollError('EINVAL', `option 'out' of ${op} has length ${out.length}, the rows have length ${s.length}`, { op });
  }
  const result = weiszfeldVardi(s.rows, s.length, options, scratch);
  // set() rounds float64 -> float32 exactly as Float32Array.from does (round to nearest even).
  const value = out ?? new Float32Array(s.length);
  value.set(result.value);
  return {
    value,
    report: {
      aggregator: 'geometricMedian',
      rows: rows.length,
      used: s.rows.length,
      invalidRows: s.invalid,
      iterations: result.iterations,
      converged: result.converged,
      lastMove: result.lastMove,
    },
  };
}
