/**
 * The synthetic task of the coded-runtime tests, shared by the worker fixture and the test (which
 * recomputes every job's gradient itself as the reference): least squares on N samples per job,
 * x_i ∈ R^d and y_i pure functions of (job, i), parameters w_t a pure function of the job. The
 * gradient of a partition is the SUM over its samples of x_i (x_i · w − y_i).
 */
export const SAMPLES = 60;
export const DIM = 6;

function feature(job: number, i: number, k: number): number {
  return Math.sin((job + 1) * 12.9898 + i * 78.233 + k * 37.719) * 2;
}

function target(job: number, i: number): number {
  return Math.cos((job + 3) * 4.1414 + i * 1.618);
}

/** The parameters the master sends with job `job`. */
export function jobParameters(job: number): Float64Array {
  return Float64Array.from({ length: DIM }, (_, k) => 0.3 * Math.sin(job * 0.7 + k));
}

/** Adds sample i's gradient into acc (and |gradient| into abs, when given). */
function addSample(job: number, i: number, w: ArrayLike<number>, acc: Float64Array, abs?: Float64Array): void {
  let dot = 0;
  for (let k = 0; k < DIM; k++) dot += feature(job, i, k) * w[k];
  const r = dot - target(job, i);
  for (let k = 0; k < DIM; k++) {
    const g = feature(job, i, k) * r;
    acc[k] += g;
    if (abs !== undefined) abs[k] += Math.abs(g);
  }
}

/** Gradient of the samples floor(start·N) .. floor(end·N) − 1 of `job` under parameters w. */
export function sliceGradient(job: number, start: number, end: number, w: ArrayLike<number>): Float64Array {
  const acc = new Float64Array(DIM);
  for (let i = Math.floor(start * SAMPLES); i < Math.floor(end * SAMPLES); i++) addSample(job, i, w, acc);
  return acc;
}

/** The uncoded reference: the direct float64 sum over all samples, and the sum of magnitudes (for tolerances). */
export function referenceGradient(job: number): { sum: Float64Array; abs: Float64Array } {
  const w = jobParameters(job);
  const sum = new Float64Array(DIM);
  const abs = new Float64Array(DIM);
  for (let i = 0; i < SAMPLES; i++) addSample(job, i, w, sum, abs);
  return { sum, abs };
}

/** Workers of the end-to-end test: n = 5, so every GC(5, s) with s = 1 is a cyclic (CRC) code. */
export const WORKERS = 5;
export const JOBS = 8;
/** Injected delay of a straggling worker, ms: far past the deadline (1 + mu) · fastest. */
export const LATE_MS = 400;

export interface RuntimeRun {
  readonly name: string;
  readonly scheduler: { scheme: 'gc'; s: number } | { scheme: 'sr-sgc' | 'm-sgc'; B: number; W: number; lambda: number };
  readonly dtype: 'float32' | 'float64';
  /** Worker callback form. */
  readonly callback: 'partition' | 'combined';
  /** Per round, the workers that straggle (LATE_MS added at their fault seam). */
  readonly late: readonly (readonly number[])[];
  /** Rounds where the late set breaks the scheme's model: they must be wait-outs. */
  readonly violating: readonly number[];
}

// Patterns designed per scheme: single stragglers the scheme accepts, and one set it must refuse.
export const RUNS: readonly RuntimeRun[] = [
  // GC s = 1: one late worker is tolerated, two are not.
  { name: 'gc', scheduler: { scheme: 'gc', s: 1 }, dtype: 'float64', callback: 'combined', late: [[], [2], [], [0, 4], [], [1], [3], []], violating: [3] },
  // SR-SGC B=1, W=2, lambda=2 (s = 1, T = 1): two late in round 3 make worker 0 repeat job 3 in round 4;
  // three distinct in round 6 exceed lambda.
  { name: 'sr-sgc', scheduler: { scheme: 'sr-sgc', B: 1, W: 2, lambda: 2 }, dtype: 'float64', callback: 'partition', late: [[], [2], [], [0, 4], [], [], [1, 3, 4], [2], []], violating: [6] },
  // M-SGC B=1, W=2, lambda=1 (T = 1): a lone straggler every other round at most; two distinct exceed lambda.
  { name: 'm-sgc', scheduler: { scheme: 'm-sgc', B: 1, W: 2, lambda: 1 }, dtype: 'float64', callback: 'partition', late: [[], [2], [], [], [0, 3], [], [1], [], []], violating: [4] },
  // Float32 messages, float64 decoding.
  { name: 'm-sgc-float32', scheduler: { scheme: 'm-sgc', B: 1, W: 2, lambda: 1 }, dtype: 'float32', callback: 'combined', late: [[], [], [4], [], [], [1, 2], [], [], []], violating: [5] },
];

/** The straggler trace of a run: per round, per worker, the added delay in ms. */
export function traceOf(run: RuntimeRun): number[][] {
  return run.late.map((set) => Array.from({ length: WORKERS }, (_, w) => (set.includes(w) ? LATE_MS : 0)));
}
