/**
 * Least squares for the small dense systems of gradient coding: Householder QR with column pivoting
 * (Businger & Golub 1965, Golub & Van Loan 4th ed. section 5.4.2), in float64.
 *
 * Gradient-code decoding solves B_Iᵀ a = 1, an n × k system of known rank n − s that is consistent by
 * construction; the cyclic-code construction solves s × s systems. Pivoting makes the rank visible (a
 * nearly dependent set shows up as a small pivot). Decoding uses the minimum-norm solution, which
 * spreads the weight over every responder instead of leaning on one badly conditioned subset (at
 * n = 9, s = 2 with all 9 responders, a basic solution reached |a| = 5e4). Cost: O(rows · cols · rank)
 * flops (about 30 Mflop for n = 256, s = 15).
 */

export interface LeastSquaresSolution {
  /** The solution (basic for solveLeastSquares, minimum-norm for solveMinimumNorm). */
  readonly solution: Float64Array;
  /** Number of Householder steps taken (the numerical rank, or the requested rank). */
  readonly rank: number;
  /** |R[0][0]| / |R[rank−1][rank−1]|: a cheap lower estimate of the condition number of the chosen columns. */
  readonly pivotRatio: number;
  /** Largest remaining column norm after `rank` steps relative to |R[0][0]| (0 for a full-rank system). */
  readonly residualColumnNorm: number;
}

interface PivotedQr {
  /** The factored matrix: R on and above the diagonal (diagonal in `diag`), Householder vectors below and on it. */
  readonly a: Float64Array;
  readonly rows: number;
  readonly cols: number;
  readonly diag: Float64Array;
  /** vᵀv of each reflector (0 when the reflector is the identity). */
  readonly vtv: Float64Array;
  readonly perm: Int32Array;
  readonly rank: number;
  readonly pivotRatio: number;
  readonly residualColumnNorm: number;
}

/**
 * A P = Q R by Householder reflections with column pivoting, A rows × cols row-major (copied).
 * `rank`: take exactly this many steps; otherwise stop when the largest remaining column norm falls
 * below `tolerance` · |R[0][0]|.
 */
function pivotedQr(matrix: Float64Array, rows: number, cols: number, rank: number | undefined, tolerance: number): PivotedQr {
  const a = Float64Array.from(matrix);
  const perm = new Int32Array(cols);
  for (let j = 0; j < cols; j++) perm[j] = j;
  const maxSteps = Math.min(rows, cols, rank ?? Number.POSITIVE_INFINITY);
  const diag = new Float64Array(maxSteps);
  const vtvs = new Float64Array(maxSteps);
  let firstPivot = 0;
  let steps = 0;
  let residualColumnNorm = 0;

  for (let k = 0; ; k++) {
    // Remaining column norms are recomputed, not downdated: downdating loses accuracy exactly in the
    // nearly dependent case we want to detect, and recomputing costs no more than the step itself.
    let best = -1;
    let bestNorm = -1;
    for (let j = k; j < cols; j++) {
      let sum = 0;
      for (let i = k; i < rows; i++) {
        const v = a[i * cols + j];
        sum += v * v;
      }
      const norm = Math.sqrt(sum);
      if (norm > bestNorm) {
        bestNorm = norm;
        best = j;
      }
    }
    if (k === 0) firstPivot = Math.max(bestNorm, 0);
    const stop = k >= maxSteps || best < 0 || bestNorm === 0 || (rank === undefined && bestNorm <= tolerance * firstPivot);
    if (stop) {
      residualColumnNorm = best < 0 || firstPivot === 0 ? 0 : bestNorm / firstPivot;
      break;
    }
    if (best !== k) {
      for (let i = 0; i < rows; i++) {
        const t = a[i * cols + k];
        a[i * cols + k] = a[i * cols + best];
        a[i * cols + best] = t;
      }
      const t = perm[k];
      perm[k] = perm[best];
      perm[best] = t;
    }
    // Reflector v (kept in column k, rows k..) with H = I − 2 v vᵀ / (vᵀ v), H a_k = alpha e_k.
    const akk = a[k * cols + k];
    const alpha = akk >= 0 ? -bestNorm : bestNorm;
    a[k * cols + k] = akk - alpha;
    let vtv = 0;
    for (let i = k; i < rows; i++) {
      const v = a[i * cols + k];
      vtv += v * v;
    }
    if (vtv > 0) {
      for (let j = k + 1; j < cols; j++) {
        let dot = 0;
        for (let i = k; i < rows; i++) dot += a[i * cols + k] * a[i * cols + j];
        const f = (2 * dot) / vtv;
        for (let i = k; i < rows; i++) a[i * cols + j] -= f * a[i * cols + k];
      }
    }
    diag[k] = alpha;
    vtvs[k] = vtv;
    steps = k + 1;
  }
  const pivotRatio = steps === 0 ? Number.POSITIVE_INFINITY : Math.abs(diag[0]) / Math.abs(diag[steps - 1]);
  return { a, rows, cols, diag, vtv: vtvs, perm, rank: steps, pivotRatio, residualColumnNorm };
}

/** x ← H_k x for reflector k of `qr`, x of length rows. */
function reflect(qr: PivotedQr, k: number, x: Float64Array): void {
  if (qr.vtv[k] === 0) return;
  const { a, cols, rows } = qr;
  let dot = 0;
  for (let i = k; i < rows; i++) dot += a[i * cols + k] * x[i];
  const f = (2 * dot) / qr.vtv[k];
  for (let i = k; i < rows; i++) x[i] -= f * a[i * cols + k];
}

/**
 * The basic least-squares solution of `matrix · x ≈ rhs` (matrix rows × cols, row-major, not
 * modified): pivoted columns get the solution of R11 x = (Qᵀ rhs)[0..rank), the others 0.
 */
export function solveLeastSquares(
  matrix: Float64Array,
  rows: number,
  cols: number,
  rhs: Float64Array,
  options: { rank?: number; tolerance?: number } = {},
): LeastSquaresSolution {
  const qr = pivotedQr(matrix, rows, cols, options.rank, options.tolerance ?? 1e-12);
  const b = Float64Array.from(rhs);
  for (let k = 0; k < qr.rank; k++) reflect(qr, k, b);
  const x = new Float64Array(qr.rank);
  for (let k = qr.rank - 1; k >= 0; k--) {
    let sum = b[k];
    for (let j = k + 1; j < qr.rank; j++) sum -= qr.a[k * cols + j] * x[j];
    x[k] = sum / qr.diag[k];
  }
  const solution = new Float64Array(cols);
  for (let k = 0; k < qr.rank; k++) solution[qr.perm[k]] = x[k];
  return { solution, rank: qr.rank, pivotRatio: qr.pivotRatio, residualColumnNorm: qr.residualColumnNorm };
}

/**
 * The minimum-norm solution of the consistent, possibly underdetermined system `matrix · x = rhs`
 * (rows × cols): factor Mᵀ P = Q R, then Rᵀ (Qᵀ x) = Pᵀ rhs; the first `rank` equations give
 * z = (Qᵀ x)[0..rank) by forward substitution and x = Q [z; 0]. Using every equation's worth of
 * responders this way spreads the weight over all of them (smaller coefficients than any subset).
 * Consistency of the remaining equations is the caller's check (gradient codes verify aᵀB = 1).
 */
export function solveMinimumNorm(
  matrix: Float64Array,
  rows: number,
  cols: number,
  rhs: Float64Array,
  options: { rank?: number; tolerance?: number } = {},
): LeastSquaresSolution {
  const transposed = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) transposed[j * rows + i] = matrix[i * cols + j];
  // Mᵀ is cols × rows; its columns are the equations of M.
  const qr = pivotedQr(transposed, cols, rows, options.rank, options.tolerance ?? 1e-12);
  const z = new Float64Array(cols);
  for (let k = 0; k < qr.rank; k++) {
    let sum = rhs[qr.perm[k]];
    for (let j = 0; j < k; j++) sum -= qr.a[j * rows + k] * z[j];
    z[k] = sum / qr.diag[k];
  }
  for (let k = qr.rank - 1; k >= 0; k--) reflect(qr, k, z);
  return { solution: z, rank: qr.rank, pivotRatio: qr.pivotRatio, residualColumnNorm: qr.residualColumnNorm };
}
