/**
 * The numeric kernel contract. Two implementations honour it: `js.ts` (always there) and the N-API
 * addon of native-bindings/ (when it built). Both are pure functions over typed arrays with the same
 * results bit for bit where the math allows it (integer ops, min/max, packing) and the same rounding
 * order for float sums (left to right per element).
 */
import type { NumericArray } from '../dtype.js';

export type ElementwiseOp = 'sum' | 'min' | 'max';
export type FloatArray = Float32Array | Float64Array;

/** Where augmentedScores collects the coordinates whose score is >= threshold (capacity = index.length, score.length >= it). */
export interface ScoreCandidates {
  readonly threshold: number;
  readonly index: Uint32Array;
  readonly score: Float64Array;
}

/** ScoreCandidates plus, for columnScores, where each candidate's column goes: values[p][c] = rows[p][index[c]] (one array per row, length >= the capacity). */
export interface ColumnCandidates extends ScoreCandidates {
  readonly values?: readonly Float32Array[];
}

export interface Kernels {
  readonly name: 'js' | 'native';
  /**
   * dst[i] = op(dst[i], src[i]) for i < dst.length. Same type, src.length >= dst.length. NaN
   * propagates through min/max (a NaN in src replaces dst, a NaN in dst stays: which NaN payload
   * survives is not part of the contract). min(-0, +0) = -0 and max(-0, +0) = +0 in either order
   * (IEEE 754-2019 minimum/maximum), so every rank of an all-reduce gets the same bits.
   */
  reduceInto(dst: NumericArray, src: NumericArray, op: ElementwiseOp): void;
  /** dst[i] = dst[i] * factor. */
  scale(dst: FloatArray, factor: number): void;
  /** dst[i] = dst[i] / divisor; int32 truncates toward zero (C semantics). */
  divide(dst: NumericArray, divisor: number): void;
  /**
   * Packs signs: bit (i & 31) of out[i >> 5] is 1 iff src[i] < 0 (so +0 and -0 both vote +1).
   * Bits past src.length in the last word are 0. Returns the first index holding NaN or +-Inf, or -1.
   */
  signPack(src: Float32Array, out: Uint32Array): number;
  /** The first index i < src.length where src[i] is NaN or +-Inf, or -1. Reads only. */
  firstNonFinite(src: Float32Array): number;
  /**
   * Signum's momentum step fused with the sign pack (one pass over d = momentum.length), in fp32
   * arithmetic with a rounding after every operation, in exactly this order (no FMA):
   *   b = fround(beta), a = fround(1 - beta) (1 - beta in double), w = fround(wd);
   *   dg = grad[i]                                   when params is undefined,
   *   dg = fround(grad[i] + fround(w·params[i]))     otherwise ('voted' weight decay);
   *   m[i] <- fround(fround(b·m[i]) + fround(a·dg))
   * then bit (i & 31) of out[i >> 5] is 1 iff the new m[i] < 0, bits past d are 0. This is the
   * float32 update PyTorch and the GPU frameworks compute (m·beta, then + (1 - beta)·g, each rounded
   * to fp32), written so that JS (Math.fround after each operation) and native fp32 SIMD lanes agree
   * bit for bit. Finiteness of the inputs is the caller's check (firstNonFinite) because the
   * momentum must stay untouched when they are bad; this returns the first i whose new m[i] is
   * +-Inf or NaN (an fp32 overflow of finite inputs), or -1.
   * grad and params have at least d elements, out at least ceil(d/32) words. out must not share
   * memory with momentum: the native loop writes the words a chunk later than js.ts does.
   */
  momentumSignPack(grad: Float32Array, momentum: Float32Array, beta: number, out: Uint32Array, params: Float32Array | undefined, wd: number): number;
  /**
   * Signum's whole local pass before the vote, in one pass over memory: the finiteness check of the
   * inputs, the momentum update into a second buffer and the sign pack, d = momentum.length:
   *   next[i] <- momentumSignPack's fp32 rule applied to momentum[i], grad[i] (and params[i], wd)
   * then bit (i & 31) of out[i >> 5] is 1 iff next[i] < 0, bits past d are 0. `momentum` is only
   * read, so the caller keeps it when this fails and swaps the two buffers when it succeeds. Returns
   * the first i whose grad[i] (or params[i]) is NaN or +-Inf; else, all inputs finite, the first i
   * whose next[i] overflowed fp32 to +-Inf (or is NaN: Inf - Inf, or a non-finite momentum); else -1.
   * On a return >= 0, next and out hold unspecified values. next.length === d; grad and params have
   * at least d elements, out at least ceil(d/32) words; next and out share no memory with any argument.
   */
  momentumSignPackTo(
    grad: Float32Array,
    momentum: Float32Array,
    next: Float32Array,
    beta: number,
    out: Uint32Array,
    params: Float32Array | undefined,
    wd: number,
  ): number;
  /**
   * Applies a packed sign vector (bit 1 = -1, bit 0 = +1) to params in place, d = params.length, in
   * fp32 arithmetic with a rounding after every operation (l = fround(lr), w = fround(wd)):
   *   s = +-1;  x[i] <- fround(x[i] - l·s)                                    when wd is 0 or -0,
   *             x[i] <- fround(x[i] - fround(l·fround(s + fround(w·x[i]))))   otherwise.
   * (l·s is exact.) votes has at least ceil(d/32) words; bits past d are ignored.
   */
  signApply(params: Float32Array, votes: Uint32Array, lr: number, wd: number): void;
  /** y[i] <- fround(y[i] + alpha·x[i]) for i < y.length (double, then fp32): the SGD step with alpha = -lr. x.length >= y.length. */
  axpy(y: Float32Array, alpha: number, x: Float32Array): void;
  /**
   * Majority vote on packed sign words of M workers (bit-sliced counting, no unpacking): for each of
   * the first `words` words, bit j of negOut is 1 iff more than half of the workers have bit j set,
   * and bit j of tieOut is 1 iff exactly half have it set.
   */
  voteCount(packed: readonly Uint32Array[], words: number, negOut: Uint32Array, tieOut: Uint32Array): void;
  /** out[i] = sum_j (points[i][j] - center[j])^2, accumulated in float64. */
  sqDistances(points: readonly Float32Array[], center: FloatArray, out: Float64Array): void;
  /** out[j] = sum_i weights[i] * points[i][j] (out is overwritten), accumulated in float64 then stored. */
  weightedSum(points: readonly Float32Array[], weights: Float64Array, out: FloatArray): void;
  /**
   * One iteration of the geometric median's Weiszfeld solver in one pass over the points, d =
   * out.length, every point of length >= d, weights.length >= points.length:
   *   out[j] = (sum_i weights[i] * points[i][j]) / divisor   (float64 from 0, i ascending, then one division);
   * returns sum_j (out[j] - previous[j])^2 (float64, j ascending) when `previous` (length >= d) is
   * given, else 0; when `distances` (length >= points.length) is given, distances[i] =
   * sum_j (points[i][j] - out[j])^2 (float64, j ascending). Bit for bit what weightedSum, a division
   * loop, that sum and sqDistances(points, out) give. Native: RangeError when out or distances shares
   * memory with another argument.
   */
  weiszfeldStep(
    points: readonly Float32Array[],
    weights: Float64Array,
    divisor: number,
    out: Float64Array,
    previous: Float64Array | undefined,
    distances: Float64Array | undefined,
  ): number;
  /**
   * Returns the k-th smallest (0-based) value of `values`, reordering `values` in place (quickselect,
   * expected O(n)). NaN orders after every number.
   */
  selectKth(values: FloatArray, k: number): number;
  /**
   * Writes to out[0..k) the indices of the k largest values, ascending; among values equal to the
   * k-th largest the lowest indices win. -0 equals +0; NaN is above every number (all NaN equal).
   * `values` is left unchanged. 0 <= k <= values.length <= 2^32, out.length >= k.
   */
  topKIndices(values: Float64Array, k: number, out: Uint32Array): void;
  /** True iff no value is NaN or +-Inf. */
  allFinite(values: Float32Array): boolean;
  /**
   * BGMD's scores of the memory-augmented rows, reading only. memory.length === gradients.length
   * rows, all of one length d (without rows d = scores.length, or 0 without scores). For each j < d, rows
   * p = 0..n-1 in order, in float32 (lr is used as fround(lr)):
   *   a = fround(fround(lr * gradients[p][j]) + memory[p][j]);  s_j = fround(s_j + fround(a * a))  (s_j from 0)
   * scores (when given, length d) receives s. Every j with s_j >= fround(threshold) or s_j NaN is a
   * candidate: in ascending j, candidate c gets candidates.index[c] = j and candidates.score[c] = s_j
   * (capacity = index.length; candidates past it are not written). Returns -2 when some s_j is NaN
   * or +-Inf (a NaN/Inf gradient always does that; so do a non-finite memory value and an a or s
   * that overflows float32), else -1 when there were more candidates than the capacity, else their
   * number (0 without candidates). Native: RangeError when a length does not hold or scores or a
   * candidate array shares memory with another argument.
   */
  augmentedScores(
    memory: readonly Float32Array[],
    gradients: readonly Float32Array[],
    lr: number,
    scores: Float64Array | undefined,
    candidates: ScoreCandidates | undefined,
  ): number;
  /**
   * augmentedScores over rows that are already augmented (BGMD with the memory at the workers):
   * a = rows[p][j], s_j = fround(s_j + fround(a * a)) over p in order; the same scores, candidates
   * and return values. With candidates.values, candidate c's column is copied out as well:
   * values[p][c] = rows[p][index[c]] (the candidates of a block are copied while its rows are in
   * cache). Native: RangeError when a length does not hold or a written array shares memory.
   */
  columnScores(rows: readonly Float32Array[], scores: Float64Array | undefined, candidates: ColumnCandidates | undefined): number;
  /**
   * One worker's augmented row (BgmdResidual): out[j] = fround(fround(lr * gradient[j]) + memory[j])
   * (lr used as fround(lr)) for every j; returns true iff every gradient[j] is finite. The three
   * have one length. Native: RangeError when they do not, or when out shares memory with another.
   */
  augmentRow(memory: Float32Array, gradient: Float32Array, lr: number, out: Float32Array): boolean;
  /**
   * out[p][t] = fround(rows[p][indices[t]] / divisor) for every row p and t < indices.length: the
   * selected block of augmented rows, divided as augmentAndExtract divides it. indices strictly
   * ascending, each below every row's length; rows and out have the same count, out[p].length >=
   * indices.length. Native: RangeError when that does not hold or an out row shares memory.
   */
  gatherColumns(rows: readonly Float32Array[], indices: Uint32Array, divisor: number, out: readonly Float32Array[]): void;
  /**
   * Writes the augmented rows into the memory, then moves the columns `indices` out. For each row p
   * (ascending): memory[p][j] = fround(fround(lr * gradients[p][j]) + memory[p][j]) (lr used as fround(lr)) for every j <
   * memory[p].length, then for each t ascending out[p][t] = fround(memory[p][indices[t]] / divisor)
   * and memory[p][indices[t]] = 0. memory, gradients and out have the same count;
   * gradients[p].length >= memory[p].length; out[p].length >= indices.length; indices strictly
   * ascending, each below every memory row's length. Native: RangeError when that does not hold or
   * when a memory or out row shares memory with another argument.
   */
  augmentAndExtract(
    memory: readonly Float32Array[],
    gradients: readonly Float32Array[],
    lr: number,
    indices: Uint32Array,
    divisor: number,
    out: readonly Float32Array[],
  ): void;
}
