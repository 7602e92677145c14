/**
 * Plain JavaScript kernels: the reference implementation of the contract and the fallback when the
 * native addon did not build. Loops are monomorphic per typed-array type so V8 keeps them fast.
 */
import type { NumericArray } from '../dtype.js';
import type { ColumnCandidates, ElementwiseOp, FloatArray, Kernels, ScoreCandidates } from './contract.js';

function sumInto(dst: NumericArray, at: number, src: NumericArray, n: number): void {
  if (dst instanceof Int32Array) {
    for (let i = 0; i < n; i++) dst[at + i] = (dst[at + i] + src[i]) | 0;
  } else {
    for (let i = 0; i < n; i++) dst[at + i] += src[i];
  }
}

// min and max treat -0 as below +0 (IEEE 754-2019 minimum/maximum), whatever the argument order:
// an all-reduce combines the ranks' values in a different order on each rank (ring, trees), so
// "a tie keeps dst" would leave -0 on some ranks and +0 on others. 1 / y < 0 tells -0 from +0; for
// int32 there is no -0, and replacing 0 by 0 changes nothing.
function minInto(dst: NumericArray, at: number, src: NumericArray, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = dst[at + i];
    const y = src[i];
    // y !== y: NaN from src wins; a NaN already in dst stays because y < NaN is false.
    if (y < x || y !== y) dst[at + i] = y;
    else if (y === 0 && x === 0 && 1 / y < 0) dst[at + i] = y;
  }
}

function maxInto(dst: NumericArray, at: number, src: NumericArray, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = dst[at + i];
    const y = src[i];
    if (y > x || y !== y) dst[at + i] = y;
    else if (y === 0 && x === 0 && 1 / y > 0) dst[at + i] = y;
  }
}

/**
 * reduceInto on elements at..at+n-1 of dst (src from its start), without a view of that span: the
 * executor reduces small segments with it (schedule/execute.ts, SMALL_REDUCE_ELEMS), where making
 * the view and calling the native kernel costs more than the loop.
 */
export function reduceIntoAt(dst: NumericArray, at: number, src: NumericArray, n: number, op: ElementwiseOp): void {
  if (op === 'sum') sumInto(dst, at, src, n);
  else if (op === 'min') minInto(dst, at, src, n);
  else maxInto(dst, at, src, n);
}

function partition(a: FloatArray, lo: number, hi: number, pivotIndex: number): number {
  const pivot = a[pivotIndex];
  a[pivotIndex] = a[hi];
  a[hi] = pivot;
  let store = lo;
  for (let i = lo; i < hi; i++) {
    if (less(a[i], pivot)) {
      const t = a[i];
      a[i] = a[store];
      a[store] = t;
      store++;
    }
  }
  a[hi] = a[store];
  a[store] = pivot;
  return store;
}

/** Total order with NaN last. */
function less(x: number, y: number): boolean {
  if (x !== x) return false;
  if (y !== y) return true;
  return x < y;
}

function quickselect(values: FloatArray, k: number): number {
  let lo = 0;
  let hi = values.length - 1;
  // Deterministic pivots (median of three by position) keep results reproducible run to run.
  while (lo < hi) {
    const mid = lo + ((hi - lo) >>> 1);
    const p = partition(values, lo, hi, medianOfThree(values, lo, mid, hi));
    if (p === k) return values[p];
    if (p < k) lo = p + 1;
    else hi = p - 1;
  }
  return values[k];
}

export const jsKernels: Kernels = {
  name: 'js',
  reduceInto(dst: NumericArray, src: NumericArray, op: ElementwiseOp): void {
    reduceIntoAt(dst, 0, src, dst.length, op);
  },
  scale(dst: FloatArray, factor: number): void {
    const n = dst.length;
    for (let i = 0; i < n; i++) dst[i] *= factor;
  },
  divide(dst: NumericArray, divisor: number): void {
    const n = dst.length;
    if (dst instanceof Int32Array) {
      for (let i = 0; i < n; i++) dst[i] = Math.trunc(dst[i] / divisor);
    } else {
      for (let i = 0; i < n; i++) dst[i] /= divisor;
    }
  },
  signPack(src: Float32Array, out: Uint32Array): number {
    const n = src.length;
    const words = (n + 31) >>> 5;
    let bad = -1;
    for (let w = 0; w < words; w++) {
      const base = w << 5;
      const end = Math.min(32, n - base);
      let word = 0;
      for (let j = 0; j < end; j++) {
        const x = src[base + j];
        if (x < 0) word |= 1 << j;
        if (bad < 0 && x - x !== 0) bad = base + j; // x - x is NaN exactly for NaN and +-Inf
      }
      out[w] = word >>> 0;
    }
    return bad;
  },
  firstNonFinite(src: Float32Array): number {
    const n = src.length;
    for (let i = 0; i < n; i++) {
      const x = src[i];
      if (x - x !== 0) return i;
    }
    return -1;
  },
  momentumSignPack(grad: Float32Array, momentum: Float32Array, beta: number, out: Uint32Array, params: Float32Array | undefined, wd: number): number {
    const n = momentum.length;
    const words = (n + 31) >>> 5;
    const b = Math.fround(beta);
    const a = Math.fround(1 - beta);
    const w32 = Math.fround(wd);
    let bad = -1;
    for (let w = 0; w < words; w++) {
      const base = w << 5;
      const end = Math.min(32, n - base);
      let word = 0;
      // Two loops rather than a per-element test of params, so each stays monomorphic and branch-free.
      if (params === undefined) {
        for (let j = 0; j < end; j++) {
          const i = base + j;
          const m = Math.fround(Math.fround(b * momentum[i]) + Math.fround(a * grad[i]));
          momentum[i] = m;
          if (m < 0) word |= 1 << j;
          if (bad < 0 && m - m !== 0) bad = i;
        }
      } else {
        for (let j = 0; j < end; j++) {
          const i = base + j;
          const d = Math.fround(grad[i] + Math.fround(w32 * params[i]));
          const m = Math.fround(Math.fround(b * momentum[i]) + Math.fround(a * d));
          momentum[i] = m;
          if (m < 0) word |= 1 << j;
          if (bad < 0 && m - m !== 0) bad = i;
        }
      }
      out[w] = word >>> 0;
    }
    return bad;
  },
  momentumSignPackTo(
    grad: Float32Array,
    momentum: Float32Array,
    next: Float32Array,
    beta: number,
    out: Uint32Array,
    params: Float32Array | undefined,
    wd: number,
  ): number {
    const n = momentum.length;
    if (next.length !== n) throw new RangeError(`momentumSignPackTo: next has ${next.length} elements, momentum has ${n}; they must be equal`);
    const words = (n + 31) >>> 5;
    const b = Math.fround(beta);
    const a = Math.fround(1 - beta);
    const w32 = Math.fround(wd);
    let overflow = -1;
    for (let w = 0; w < words; w++) {
      const base = w << 5;
      const end = Math.min(32, n - base);
      let word = 0;
      // A bad input decides the result at once (it outranks an earlier overflow); x - x is NaN
      // exactly for NaN and +-Inf.
      if (params === undefined) {
        for (let j = 0; j < end; j++) {
          const i = base + j;
          const g = grad[i];
          if (g - g !== 0) return i;
          const m = Math.fround(Math.fround(b * momentum[i]) + Math.fround(a * g));
          next[i] = m;
          if (m < 0) word |= 1 << j;
          if (overflow < 0 && m - m !== 0) overflow = i;
        }
      } else {
        for (let j = 0; j < end; j++) {
          const i = base + j;
          const g = grad[i];
          const x = params[i];
          if (g - g !== 0 || x - x !== 0) return i;
          const d = Math.fround(g + Math.fround(w32 * x));
          const m = Math.fround(Math.fround(b * momentum[i]) + Math.fround(a * d));
          next[i] = m;
          if (m < 0) word |= 1 << j;
          if (overflow < 0 && m - m !== 0) overflow = i;
        }
      }
      out[w] = word >>> 0;
    }
    return overflow;
  },
  signApply(params: Float32Array, votes: Uint32Array, lr: number, wd: number): void {
    const n = params.length;
    const words = (n + 31) >>> 5;
    const l = Math.fround(lr);
    const w32 = Math.fround(wd);
    for (let w = 0; w < words; w++) {
      const word = votes[w];
      const base = w << 5;
      const end = Math.min(32, n - base);
      if (wd === 0) {
        // l·s is exact (s = +-1): one rounding, the fp32 subtraction's (the store).
        for (let j = 0; j < end; j++) params[base + j] -= l * (1 - 2 * ((word >>> j) & 1));
      } else {
        for (let j = 0; j < end; j++) {
          const x = params[base + j];
          const s = 1 - 2 * ((word >>> j) & 1);
          params[base + j] = x - Math.fround(l * Math.fround(s + Math.fround(w32 * x)));
        }
      }
    }
  },
  axpy(y: Float32Array, alpha: number, x: Float32Array): void {
    const n = y.length;
    for (let i = 0; i < n; i++) y[i] += alpha * x[i];
  },
  voteCount(packed: readonly Uint32Array[], words: number, negOut: Uint32Array, tieOut: Uint32Array): void {
    const m = packed.length;
    // Bit-sliced counters: planes[b] holds bit b of the per-coordinate count of set bits, for 32
    // coordinates at once. Adding one worker's word is a ripple-carry add of a 1-bit number.
    let nplanes = 1;
    while (1 << nplanes <= m) nplanes++;
    const planes = new Uint32Array(nplanes);
    for (let w = 0; w < words; w++) {
      planes.fill(0);
      for (let i = 0; i < m; i++) {
        let carry = packed[i][w];
        for (let b = 0; b < nplanes && carry !== 0; b++) {
          const p = planes[b];
          planes[b] = p ^ carry;
          carry = p & carry;
        }
      }
      // Compare 2*count with m: count > m/2  <=>  count >= floor(m/2)+1 ; tie iff m even and count == m/2.
      const gt = geConst(planes, nplanes, (m >>> 1) + 1);
      negOut[w] = gt >>> 0;
      tieOut[w] = m % 2 === 0 ? eqConst(planes, nplanes, m >>> 1) >>> 0 : 0;
    }
  },
  sqDistances(points: readonly Float32Array[], center: FloatArray, out: Float64Array): void {
    const d = center.length;
    for (let i = 0; i < points.length; i++) {
      const p = points[i];
      let acc = 0;
      for (let j = 0; j < d; j++) {
        const diff = p[j] - center[j];
        acc += diff * diff;
      }
      out[i] = acc;
    }
  },
  weightedSum(points: readonly Float32Array[], weights: Float64Array, out: FloatArray): void {
    const d = out.length;
    const acc = out instanceof Float64Array ? out : new Float64Array(d);
    acc.fill(0);
    for (let i = 0; i < points.length; i++) {
      const p = points[i];
      const w = weights[i];
      for (let j = 0; j < d; j++) acc[j] += w * p[j];
    }
    if (acc !== out) out.set(acc);
  },
  weiszfeldStep(points: readonly Float32Array[], weights: Float64Array, divisor: number, out: Float64Array, previous: Float64Array | undefined, distances: Float64Array | undefined): number {
    // The reference is the two passes it fuses natively: weightedSum, divide, move, sqDistances.
    const d = out.length;
    jsKernels.weightedSum(points, weights, out);
    for (let j = 0; j < d; j++) out[j] /= divisor;
    let move = 0;
    if (previous !== undefined) {
      for (let j = 0; j < d; j++) {
        const diff = out[j] - previous[j];
        move += diff * diff;
      }
    }
    if (distances !== undefined) jsKernels.sqDistances(points, out, distances);
    return move;
  },
  selectKth(values: FloatArray, k: number): number {
    return quickselect(values, k);
  },
  topKIndices(values: Float64Array, k: number, out: Uint32Array): void {
    const n = values.length;
    if (k === 0) return;
    // The k-th largest by quickselect on a copy, then one ascending pass: everything above it, and
    // the first of those equal to it until k are taken.
    const threshold = quickselect(Float64Array.from(values), n - k);
    let above = 0;
    for (let j = 0; j < n; j++) if (orderedAbove(values[j], threshold)) above++;
    let ties = k - above;
    let t = 0;
    for (let j = 0; j < n && t < k; j++) {
      const v = values[j];
      if (orderedAbove(v, threshold)) out[t++] = j;
      else if (ties > 0 && (v === threshold || (v !== v && threshold !== threshold))) {
        out[t++] = j;
        ties--;
      }
    }
  },
  allFinite(values: Float32Array): boolean {
    // v * 0 is NaN exactly for NaN and +-Inf, and NaN sticks in the sum: one branch-free pass.
    let acc = 0;
    for (let j = 0; j < values.length; j++) acc += values[j] * 0;
    return acc === 0;
  },
  augmentedScores(memory: readonly Float32Array[], gradients: readonly Float32Array[], lr: number, scores: Float64Array | undefined, candidates: ScoreCandidates | undefined): number {
    const lr32 = Math.fround(lr);
    return scoreColumns(gradients, (p, j) => Math.fround(Math.fround(lr32 * gradients[p][j]) + memory[p][j]), scores, candidates);
  },
  columnScores(rows: readonly Float32Array[], scores: Float64Array | undefined, candidates: ColumnCandidates | undefined): number {
    return scoreColumns(rows, (p, j) => rows[p][j], scores, candidates);
  },
  augmentRow(memory: Float32Array, gradient: Float32Array, lr: number, out: Float32Array): boolean {
    const lr32 = Math.fround(lr);
    let acc = 0;
    for (let j = 0; j < out.length; j++) {
      out[j] = Math.fround(lr32 * gradient[j]) + memory[j];
      acc += gradient[j] * 0;
    }
    return acc === 0;
  },
  gatherColumns(rows: readonly Float32Array[], indices: Uint32Array, divisor: number, out: readonly Float32Array[]): void {
    rows.forEach((row, p) => {
      const dst = out[p];
      for (let t = 0; t < indices.length; t++) dst[t] = row[indices[t]] / divisor;
    });
  },
  augmentAndExtract(memory: readonly Float32Array[], gradients: readonly Float32Array[], lr: number, indices: Uint32Array, divisor: number, out: readonly Float32Array[]): void {
    const k = indices.length;
    const lr32 = Math.fround(lr);
    for (let p = 0; p < memory.length; p++) {
      const m = memory[p];
      const g = gradients[p];
      const dst = out[p];
      for (let j = 0; j < m.length; j++) m[j] = Math.fround(lr32 * g[j]) + m[j];
      for (let t = 0; t < k; t++) {
        const j = indices[t];
        dst[t] = m[j] / divisor;
        m[j] = 0;
      }
    }
  },
};

/** Coordinates per block of augmentedScores: native-bindings/src/bgmd_passes.cc's kScoreBlock. */
const AUGMENT_BLOCK = 16384;

/**
 * augmentedScores and columnScores: `value(p, j)` is a_p[j]. Blocked as native is; a coordinate's
 * sum runs over the rows in order whatever the block.
 */
function scoreColumns(rows: readonly Float32Array[], value: (p: number, j: number) => number, scores: Float64Array | undefined, candidates: ColumnCandidates | undefined): number {
  const n = rows.length;
  const d = n > 0 ? rows[0].length : (scores?.length ?? 0);
  const threshold = Math.fround(candidates?.threshold ?? Number.POSITIVE_INFINITY);
  const capacity = candidates?.index.length ?? 0;
  const s = new Float32Array(Math.min(d, AUGMENT_BLOCK));
  let nonfinite = 0;
  let count = 0;
  let overflow = false;
  for (let j0 = 0; j0 < d; j0 += AUGMENT_BLOCK) {
    const j1 = Math.min(d, j0 + AUGMENT_BLOCK);
    s.fill(0);
    for (let p = 0; p < n; p++) {
      for (let j = j0; j < j1; j++) {
        const a = value(p, j);
        s[j - j0] = Math.fround(s[j - j0] + Math.fround(a * a));
      }
    }
    // s * 0 is NaN exactly for NaN and +-Inf, and NaN sticks in the sum.
    for (let j = j0; j < j1; j++) nonfinite += s[j - j0] * 0;
    scores?.set(s.subarray(0, j1 - j0), j0);
    if (candidates === undefined || capacity === 0 || overflow) continue;
    let hits = 0;
    for (let j = j0; j < j1; j++) if (!(s[j - j0] < threshold)) hits++;
    if (count + hits > capacity) {
      overflow = true;
      continue;
    }
    for (let j = j0; j < j1; j++) {
      if (s[j - j0] < threshold) continue;
      candidates.index[count] = j;
      candidates.score[count] = s[j - j0];
      if (candidates.values !== undefined) for (let p = 0; p < n; p++) candidates.values[p][count] = rows[p][j];
      count++;
    }
  }
  if (nonfinite !== 0) return -2;
  return overflow ? -1 : count;
}

/** x above y in the order of topKIndices: numbers ascending, every NaN above them, NaNs equal. */
function orderedAbove(x: number, y: number): boolean {
  if (y !== y) return false;
  return x !== x || x > y;
}

function medianOfThree(a: FloatArray, i: number, j: number, k: number): number {
  const x = a[i];
  const y = a[j];
  const z = a[k];
  if (less(x, y)) {
    if (less(y, z)) return j;
    return less(x, z) ? k : i;
  }
  if (less(x, z)) return i;
  return less(y, z) ? k : j;
}

/** Bit mask of lanes whose bit-sliced counter is >= c (c is a constant known to fit). */
function geConst(planes: Uint32Array, nplanes: number, c: number): number {
  if (c >= 1 << nplanes) return 0;
  // Scan from the top bit: lanes still equal so far, and lanes already greater.
  let gt = 0;
  let eq = 0xffffffff;
  for (let b = nplanes - 1; b >= 0; b--) {
    const bit = planes[b];
    if ((c >>> b) & 1) eq &= bit;
    else {
      gt |= eq & bit;
      eq &= ~bit;
    }
  }
  return gt | eq;
}

function eqConst(planes: Uint32Array, nplanes: number, c: number): number {
  let eq = 0xffffffff;
  for (let b = 0; b < nplanes; b++) eq &= (c >>> b) & 1 ? planes[b] : ~planes[b];
  return eq;
}
