/**
 * Gradient codes (Tandon, Lei, Dimakis, Karampatziakis, "Gradient Coding", ICML 2017): n workers,
 * n data partitions, worker i sends f_i = Σ_j B[i][j] g_j; from any n − s responders I the master
 * finds a with aᵀ B_I = 1ᵀ and recovers Σ_j g_j = Σ_{i∈I} a_i f_i.
 *
 * - FRC (fractional repetition), when (s+1) | n: groups of s+1 workers hold the same s+1 partitions
 *   and send their plain sum; decoding adds one responder per group (coefficients 0/1: exact).
 * - CRC (cyclic repetition): worker i holds partitions i … i+s (mod n); B is built from a random
 *   s × n Gaussian H with H·1 = 0 so that every row of B lies in null(H) (dimension n − s, contains 1).
 *   Decoding is a float64 least-squares solve (least-squares.ts), checked ‖aᵀB − 1‖∞ < 1e−8 and
 *   cached per responder set (the coefficients reach 1e3–1e5 at n = 256).
 *
 * Cost: encoding (s+1) axpys of the gradient length per worker; CRC decoding O(n (n−s)²) flops once
 * per responder set, then one weighted sum of the n − s messages. Normalised load (s+1)/n, the lower
 * bound for tolerating s stragglers.
 *
 * A responder set that cannot be decoded (fewer than n − s responders, or a numerically failed solve)
 * throws ZcollError ENUMERIC: this code never returns a wrong sum.
 */
import { ZcollError, check } from '../errors.js';
import type { NumericArray } from '../dtype.js';
import { kernels } from '../kernels/index.js';
import { Prng } from '../prng.js';
import { solveLeastSquares, solveMinimumNorm } from './least-squares.js';

export type GradientCodeKind = 'frc' | 'crc' | 'explicit';

export interface GradientCodeOptions {
  /** 'auto' (default): FRC when (s+1) divides n, CRC otherwise. */
  kind?: 'auto' | 'frc' | 'crc';
  /** Seed of the CRC construction; every rank must use the same one to get the same B. */
  seed?: number;
  /** Largest |a_i| accepted when decoding float32 messages (each message's float32 rounding
   * is multiplied by |a_i|); default 1e4. */
  maxFloat32Coefficient?: number;
}

/** One partition a worker's coded message covers, with its coefficient in B. */
export interface PartitionTerm {
  readonly partition: number;
  readonly coefficient: number;
}

/** Tolerance of the decoding check ‖aᵀ B_I − 1‖∞ (issue 7). */
export const DECODE_RESIDUAL_LIMIT = 1e-8;
const DEFAULT_CRC_SEED = 0x9c0de;
const DECODE_CACHE_LIMIT = 4096;

export class GradientCode {
  readonly n: number;
  readonly s: number;
  readonly kind: GradientCodeKind;
  /** B, n × n row-major. */
  readonly matrix: Float64Array;
  /** H (s × n, row-major) of the CRC construction: H Bᵀ = 0. Undefined for FRC and explicit codes. */
  readonly parityCheck: Float64Array | undefined;
  readonly maxFloat32Coefficient: number;
  private readonly supports: number[][];
  private readonly cache = new Map<string, Float64Array>();

  private constructor(
    n: number,
    s: number,
    kind: GradientCodeKind,
    matrix: Float64Array,
    parityCheck: Float64Array | undefined,
    maxFloat32Coefficient: number,
  ) {
    this.n = n;
    this.s = s;
    this.kind = kind;
    this.matrix = matrix;
    this.parityCheck = parityCheck;
    this.maxFloat32Coefficient = maxFloat32Coefficient;
    this.supports = [];
    for (let i = 0; i < n; i++) {
      const support: number[] = [];
      for (let j = 0; j < n; j++) if (matrix[i * n + j] !== 0) support.push(j);
      this.supports.push(support);
    }
  }

  /** FRC when it fits (or when asked), CRC otherwise. */
  static create(n: number, s: number, options: GradientCodeOptions = {}): GradientCode {
    checkShape(n, s);
    const kind = options.kind ?? 'auto';
    check(kind === 'auto' || kind === 'frc' || kind === 'crc', 'EINVAL', () => `gradient code kind must be 'auto', 'frc' or 'crc', got '${String(kind)}'`);
    const limit = options.maxFloat32Coefficient ?? 1e4;
    check(limit > 0, 'EINVAL', () => `maxFloat32Coefficient must be > 0, got ${limit}`);
    const frcFits = n % (s + 1) === 0;
    if (kind === 'frc') {
      check(frcFits, 'EINVAL', () => `fractional repetition code needs (s+1) | n, got n=${n}, s=${s}`);
    }
    if (kind === 'frc' || (kind === 'auto' && frcFits)) {
      return new GradientCode(n, s, 'frc', frcMatrix(n, s), undefined, limit);
    }
    const { matrix, parityCheck } = crcMatrix(n, s, options.seed ?? DEFAULT_CRC_SEED);
    return new GradientCode(n, s, 'crc', matrix, parityCheck, limit);
  }

  /**
   * A code from an explicit B (for worked examples and custom constructions). It must satisfy the
   * gradient-coding condition; decodeVector checks every solve, so a bad B fails at decode time.
   */
  static fromMatrix(n: number, s: number, matrix: ArrayLike<number>, options: GradientCodeOptions = {}): GradientCode {
    checkShape(n, s);
    check(matrix.length === n * n, 'EINVAL', () => `explicit gradient code: B must have n*n = ${n * n} entries, got ${matrix.length}`);
    const b = Float64Array.from(matrix);
    check(b.every(Number.isFinite), 'EINVAL', () => 'explicit gradient code: B has a NaN or infinite entry');
    return new GradientCode(n, s, 'explicit', b, undefined, options.maxFloat32Coefficient ?? 1e4);
  }

  /** Normalised computation per worker: (s+1)/n of the data. */
  get load(): number {
    return (this.s + 1) / this.n;
  }

  /** Row i of B (a copy). */
  row(worker: number): Float64Array {
    this.checkWorker(worker);
    return this.matrix.slice(worker * this.n, (worker + 1) * this.n);
  }

  /** The partitions worker i computes and the coefficients of its coded message. */
  encodingFor(worker: number): PartitionTerm[] {
    this.checkWorker(worker);
    return this.supports[worker].map((partition) => ({ partition, coefficient: this.matrix[worker * this.n + partition] }));
  }

  /**
   * Worker i's message f_i = Σ_j B[i][j] g_j, accumulated in float64. `partials[j]` is the gradient of
   * partition j; only the partitions of worker i's support are read.
   */
  encode(worker: number, partials: readonly (NumericArray | undefined)[], out?: Float64Array | Float32Array): Float64Array | Float32Array {
    this.checkWorker(worker);
    const support = this.supports[worker];
    const first = partials[support[0]];
    check(first !== undefined, 'EINVAL', () => `encode: worker ${worker} needs partition ${support[0]}`);
    const length = first.length;
    const acc = new Float64Array(length);
    for (const j of support) {
      const p = partials[j];
      check(p !== undefined, 'EINVAL', () => `encode: worker ${worker} needs partition ${j}`);
      check(p.length === length, 'EINVAL', () => `encode: partition ${j} has length ${p.length}, expected ${length}`);
      const c = this.matrix[worker * this.n + j];
      for (let x = 0; x < length; x++) acc[x] += c * p[x];
    }
    if (out === undefined) return acc;
    check(out.length === length, 'EINVAL', () => `encode: out has length ${out.length}, expected ${length}`);
    out.set(acc);
    return out;
  }

  /**
   * Decoding vector a (length n, 0 outside the responders) with aᵀ B = 1ᵀ, for any responder set of
   * at least n − s workers. Float64; cached per responder set. Throws ENUMERIC when the set cannot be
   * decoded (too few responders, or a solve that fails the ‖aᵀB − 1‖∞ < 1e−8 check).
   */
  decodeVector(responders: readonly number[]): Float64Array {
    const sorted = this.checkResponders(responders);
    const key = sorted.join(',');
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit.slice();
    const a = this.kind === 'frc' ? this.frcVector(sorted) : this.solveVector(sorted);
    if (this.cache.size >= DECODE_CACHE_LIMIT) {
      // Map iteration is insertion order: drop the oldest pattern.
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
    this.cache.set(key, a);
    return a.slice();
  }

  /** Number of responder sets currently cached. */
  get cachedPatterns(): number {
    return this.cache.size;
  }

  /**
   * Σ_j g_j from the responders' messages (`messages[k]` is the message of `responders[k]`), in a
   * float64 accumulator. Float32 messages go through kernels.weightedSum; they are refused (ENUMERIC)
   * when a coefficient exceeds maxFloat32Coefficient, since the float32 rounding of each message
   * would be amplified by it.
   */
  decode(responders: readonly number[], messages: readonly NumericArray[], out?: Float64Array | Float32Array): Float64Array | Float32Array {
    check(messages.length === responders.length, 'EINVAL', () => `decode: ${responders.length} responders but ${messages.length} messages`);
    const a = this.decodeVector(responders);
    const length = messages.length > 0 ? messages[0].length : 0;
    for (let k = 0; k < messages.length; k++) {
      check(messages[k].length === length, 'EINVAL', () => `decode: message of worker ${responders[k]} has length ${messages[k].length}, expected ${length}`);
    }
    const weights = new Float64Array(responders.length);
    let maxCoefficient = 0;
    for (let k = 0; k < responders.length; k++) {
      weights[k] = a[responders[k]];
      maxCoefficient = Math.max(maxCoefficient, Math.abs(weights[k]));
    }
    const target = out ?? new Float64Array(length);
    check(target.length === length, 'EINVAL', () => `decode: out has length ${target.length}, expected ${length}`);
    if (messages.every((m): m is Float32Array => m instanceof Float32Array)) {
      if (maxCoefficient > this.maxFloat32Coefficient) {
        throw new ZcollError('ENUMERIC', `decode: coefficient ${maxCoefficient.toExponential(2)} exceeds ${this.maxFloat32Coefficient} for float32 messages (n=${this.n}, s=${this.s}, ${this.kind}); use float64 messages or an FRC-compatible s`, { op: 'decode', details: { maxCoefficient } });
      }
      kernels.weightedSum(messages, weights, target);
      return target;
    }
    const acc = new Float64Array(length);
    for (let k = 0; k < messages.length; k++) {
      const w = weights[k];
      if (w === 0) continue;
      const m = messages[k];
      for (let x = 0; x < length; x++) acc[x] += w * m[x];
    }
    target.set(acc);
    return target;
  }

  /** max_j |Σ_i a_i B[i][j] − 1|. */
  residual(a: ArrayLike<number>): number {
    let worst = 0;
    for (let j = 0; j < this.n; j++) {
      let sum = 0;
      for (let i = 0; i < this.n; i++) if (a[i] !== 0) sum += a[i] * this.matrix[i * this.n + j];
      const r = Math.abs(sum - 1);
      worst = Number.isNaN(r) ? Number.POSITIVE_INFINITY : Math.max(worst, r);
    }
    return worst;
  }

  private frcVector(sorted: number[]): Float64Array {
    const size = this.s + 1;
    const a = new Float64Array(this.n);
    const covered = new Uint8Array(this.n / size);
    for (const i of sorted) {
      const group = Math.floor(i / size);
      if (covered[group] === 0) {
        covered[group] = 1;
        a[i] = 1;
      }
    }
    // With at least n − s responders every group has one; checked anyway so a bug cannot drop a group.
    const missing = covered.indexOf(0);
    if (missing >= 0) {
      throw new ZcollError('ENUMERIC', `not decodable: FRC group ${missing} (workers ${missing * size}..${missing * size + size - 1}) has no responder`, { op: 'decodeVector' });
    }
    return a;
  }

  private solveVector(sorted: number[]): Float64Array {
    const n = this.n;
    const k = sorted.length;
    // M = B_Iᵀ (n × k): column c is row I[c] of B.
    const m = new Float64Array(n * k);
    for (let c = 0; c < k; c++) {
      const base = sorted[c] * n;
      for (let j = 0; j < n; j++) m[j * k + c] = this.matrix[base + j];
    }
    const ones = new Float64Array(n).fill(1);
    const rank = this.kind === 'crc' ? n - this.s : undefined;
    const sol = solveMinimumNorm(m, n, k, ones, rank === undefined ? {} : { rank });
    const a = new Float64Array(n);
    for (let c = 0; c < k; c++) a[sorted[c]] = sol.solution[c];
    const residual = this.residual(a);
    if (!(residual < DECODE_RESIDUAL_LIMIT)) {
      throw new ZcollError(
        'ENUMERIC',
        `not decodable: responder set of ${k} workers gives ‖aᵀB − 1‖∞ = ${residual.toExponential(2)} ≥ ${DECODE_RESIDUAL_LIMIT} (n=${n}, s=${this.s}, ${this.kind}, pivot ratio ${sol.pivotRatio.toExponential(2)}); wait for more workers`,
        { op: 'decodeVector', details: { responders: sorted, residual, pivotRatio: sol.pivotRatio } },
      );
    }
    return a;
  }

  private checkResponders(responders: readonly number[]): number[] {
    check(Array.isArray(responders), 'EINVAL', () => 'decodeVector: responders must be an array of worker indices');
    const seen = new Uint8Array(this.n);
    for (const i of responders) {
      check(Number.isInteger(i) && i >= 0 && i < this.n, 'EINVAL', () => `decodeVector: responder ${String(i)} is not a worker index in [0, ${this.n})`);
      check(seen[i] === 0, 'EINVAL', () => `decodeVector: responder ${i} listed twice`);
      seen[i] = 1;
    }
    const needed = this.n - this.s;
    if (responders.length < needed) {
      throw new ZcollError(
        'ENUMERIC',
        `not decodable: ${responders.length} responders of ${this.n}, but the code tolerates only s=${this.s} stragglers (needs ${needed}); wait for more workers`,
        { op: 'decodeVector', details: { responders: responders.length, needed } },
      );
    }
    return [...responders].sort((x, y) => x - y);
  }

  private checkWorker(worker: number): void {
    check(Number.isInteger(worker) && worker >= 0 && worker < this.n, 'EINVAL', () => `worker ${String(worker)} is not in [0, ${this.n})`);
  }
}

/** Shorthand for GradientCode.create. */
export function createGradientCode(n: number, s: number, options?: GradientCodeOptions): GradientCode {
  return GradientCode.create(n, s, options);
}

function checkShape(n: number, s: number): void {
  check(Number.isInteger(n) && n >= 1, 'EINVAL', () => `gradient code: n (workers) must be an integer >= 1, got ${String(n)}`);
  check(Number.isInteger(s) && s >= 0 && s < n, 'EINVAL', () => `gradient code: s (stragglers) must be an integer in [0, n-1] = [0, ${n - 1}], got ${String(s)}`);
}

function frcMatrix(n: number, s: number): Float64Array {
  const size = s + 1;
  const b = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const start = Math.floor(i / size) * size;
    for (let j = start; j < start + size; j++) b[i * n + j] = 1;
  }
  return b;
}

/**
 * CRC after Tandon et al.: H (s × n) Gaussian with last column −(row sums) so H·1 = 0; row i of B has
 * B[i][i] = 1 and the entries on S_i = {i+1..i+s} solving H[:, S_i] b = −H[:, i], hence H B[i]ᵀ = 0.
 * A singular s × s block has probability 0; should one appear numerically, H is drawn again.
 */
function crcMatrix(n: number, s: number, seed: number): { matrix: Float64Array; parityCheck: Float64Array } {
  const rng = new Prng(seed);
  for (let attempt = 0; attempt < 8; attempt++) {
    const h = new Float64Array(s * n);
    for (let r = 0; r < s; r++) {
      let sum = 0;
      for (let j = 0; j < n - 1; j++) {
        const v = rng.normal();
        h[r * n + j] = v;
        sum += v;
      }
      h[r * n + n - 1] = -sum;
    }
    const b = new Float64Array(n * n);
    let ok = true;
    for (let i = 0; i < n && ok; i++) {
      b[i * n + i] = 1;
      if (s === 0) continue;
      const block = new Float64Array(s * s);
      const rhs = new Float64Array(s);
      for (let r = 0; r < s; r++) {
        rhs[r] = -h[r * n + i];
        for (let c = 0; c < s; c++) block[r * s + c] = h[r * n + ((i + 1 + c) % n)];
      }
      const sol = solveLeastSquares(block, s, s, rhs, { rank: s });
      if (!(sol.pivotRatio < 1e10) || !sol.solution.every(Number.isFinite)) {
        ok = false;
        break;
      }
      for (let c = 0; c < s; c++) b[i * n + ((i + 1 + c) % n)] = sol.solution[c];
    }
    if (ok) return { matrix: b, parityCheck: h };
  }
  throw new ZcollError('EINTERNAL', `cyclic repetition code construction failed for n=${n}, s=${s} (8 singular draws)`);
}
