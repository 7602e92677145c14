/**
 * BGMD, Block Coordinate Geometric Median Descent (Acharya, Hashemi, Jain, Sanghavi, Dhillon, Topcu,
 * AISTATS 2022), as the authors' result-producing code runs it. One round, with
 * n workers' gradients g_i, step size lr and block fraction beta:
 *   1. augment: a_i = lr * g_i + memory_i                    (the step size is folded in; float32)
 *   2. score each coordinate j by ||a_{.j}||_2 over the workers; select I = the k = ceil(beta d)
 *      best (top-k in O(d), kernels.topKIndices; or sampled with probability proportional to the
 *      squared norm, Alg. 2 of the paper, seeded, by Efraimidis-Spirakis keys, also O(d))
 *   3. memory_i = a_i with the coordinates of I set to 0     (ONE residual per worker)
 *   4. update = lr * AGG(a_i[I] / lr) on I, 0 elsewhere      (AGG = geometric median by default)
 * The division by lr before the aggregator is the reference's (`G_sparse /= lr`): the GM's absolute
 * eps then sees gradients, not steps, exactly as full GM-SGD does.
 * Memory variants: 'perWorker' (default; one n x d float32 buffer) keeps the robustness of GM;
 * 'averaged' is the paper's Alg. 1 (memory = mean of the residual rows, added to every row). It is
 * NOT robust: averaging copies the Byzantine rows' residual into every row, and the GM can no longer
 * separate it (mean-like collapse under Gaussian and scaled-flip attacks).
 * 'workers' keeps the same per-worker residuals at the workers (bgmd-residual.ts): each worker sends
 * a_i = lr g_i + memory_i and clears I in its own memory after the round, so `step` gets the a_i,
 * holds no memory and reads each row once (kernels.columnScores: the scores, the NaN/Inf screen and
 * the candidates' columns, from which the block is gathered). Bitwise the rounds of 'perWorker'
 * (test/robust/bgmd-residual.test.ts), with one difference at the edge: an a_i that overflowed
 * float32 is an invalid row here, while 'perWorker' screens only g_i. Under 'zero' an invalid a_i
 * becomes 0 (the aggregator has no memory_i to fall back on; an honest worker whose own gradient
 * is NaN/Inf sends memory_i alone, which is what 'zero' does with 'perWorker').
 * 'none' drops the residual (ablation).
 * Documented behaviour: the scores are computed on the rows as received, so Byzantine rows can
 * steer which coordinates are selected (one row with large entries can move the selection); they cannot steer the GM beyond
 * its breakdown point on the selected block.
 * Cost per round: O(n d) for augmentation and scores, O(d) selection, O(n k) per GM iteration,
 * instead of O(n d) per iteration for the full GM. With per-worker memory the O(n d) part is two
 * streaming kernels (lib/kernels): augmentedScores reads g and the memory, and instead of writing d
 * scores for a top-k over all of them it collects the coordinates whose score clears a threshold
 * estimated from 4096 sampled coordinates (~1.2 k of them; the top k of those are the top k of all d
 * whenever there are at least k, checked, else the round scores again and selects from all d). It
 * is also the NaN/Inf screen: nothing is written before a bad row is known. augmentAndExtract then
 * writes the memory and moves I out. All float32 (a = fround(fround(lr g) + m), scores summed in
 * float32 over the workers in order), as the reference code's torch tensors are.
 * Measured (bench/results/robust.md 4.3): a one-pass design (augment in place, or into a second
 * n x d buffer, with the candidates read back per chunk) was no faster on the benchmark VM: a spare
 * buffer costs more traffic than the second read saves, and in place needs a NaN screen first.
 * Scratch (memory row views, score and block buffers, the inner GM's iterates and block result) is
 * allocated once per instance; pass `out` to `step` to have the update written into a caller-owned
 * buffer too, so a steady-state round allocates no O(d) memory (at d = 10M a fresh 40 MB update
 * cost ~160 ms of page faults per round on the benchmark VM, ~40 % of the round).
 * Deterministic: the same inputs (and the same seed for sampling) give bitwise identical updates
 * and memory on every rank.
 */
import { ZcollError } from '../errors.js';
import { kernels } from '../kernels/index.js';
import { Prng, type PrngState } from '../prng.js';
import { aggregate, isAggregatorName, type AggregationReport, type AggregatorName, type AggregatorOptionsByName, type InvalidRowPolicy } from './aggregator.js';
import { WeiszfeldScratch } from './geometric-median.js';
import { checkInvalidPolicy, isFiniteRow } from './row-screen.js';
import type { ColumnCandidates } from '../kernels/contract.js';

/** Below this length every round selects from all d scores (the sample would cover much of d). */
const CANDIDATE_MIN_LENGTH = 1 << 16;
/** The threshold's sample: SAMPLE_RUNS runs of SAMPLE_RUN consecutive coordinates (one cache line of each row) spread over d. */
const SAMPLE_RUNS = 256;
const SAMPLE_RUN = 16;

export type BgmdMemory = 'perWorker' | 'workers' | 'averaged' | 'none';

/** k = |I| = ceil(beta d), at least 1 and at most d (the 1e-9 keeps beta d = 100000.00000001 at 100000). */
export function blockSize(beta: number, length: number): number {
  return Math.min(length, Math.max(1, Math.ceil(beta * length - 1e-9)));
}
export type BgmdSelection = 'topk' | 'sample';

export interface BgmdOptions<N extends AggregatorName = AggregatorName> {
  /** Number of workers n (rows per round, in a fixed order: row i is always worker i). */
  workers: number;
  /** Vector length d. */
  length: number;
  /** Block fraction, 0 < beta <= 1; k = ceil(beta d). Default 0.1. */
  beta?: number;
  /**
   * Default 'perWorker'. 'workers': each worker keeps its own residual (BgmdResidual) and `step` gets
   * the augmented rows lr g_i + memory_i. 'averaged' is the paper's Alg. 1 and is not robust (see the
   * file header).
   */
  memory?: BgmdMemory;
  /** Default 'topk' (the reference code); 'sample' draws I with probability proportional to the squared norm. */
  selection?: BgmdSelection;
  /** Seed of the 'sample' selection. Default 1. */
  seed?: number;
  /** Aggregator used on the selected block. Default 'geometricMedian' (eps 1e-5, maxIter 100). */
  inner?: N;
  innerOptions?: AggregatorOptionsByName[N];
  /** Rows of the wrong length or with NaN/Inf: 'exclude' (default; their memory is left as is) or 'zero' (g_i = 0). */
  invalid?: InvalidRowPolicy;
}

export interface BgmdReport {
  readonly round: number;
  /** k = |I|. */
  readonly selectedCount: number;
  /** Worker indices whose row was invalid this round (wrong length, NaN/Inf). */
  readonly invalidRows: readonly number[];
  /** The inner aggregator's report on the block (its row positions are worker indices). */
  readonly inner: AggregationReport;
  /** Rounds so far in which the inner iterative aggregator hit its cap (it then used its last iterate). */
  readonly notConvergedRounds: number;
  /**
   * Per-worker top-k: how many candidates the scoring pass collected when I was chosen among them;
   * undefined when I was chosen from all d scores (small d, sampling, or the threshold estimate missed).
   */
  readonly candidates?: number;
}

export interface BgmdStep {
  /**
   * Length d: the aggregated step on I, exactly 0 elsewhere. Apply as x <- x - update. It is the
   * `out` given to `step` when there was one (overwritten in full), otherwise a fresh array.
   */
  readonly update: Float32Array;
  /** I, ascending coordinate indices, length k. */
  readonly selected: Uint32Array;
  readonly report: BgmdReport;
}

/** Bgmd.getState / setState: the state that carries over between rounds. */
export interface BgmdState {
  readonly workers: number;
  readonly length: number;
  readonly memoryMode: BgmdMemory;
  readonly memory: Float32Array;
  readonly rounds: number;
  readonly notConvergedRounds: number;
  readonly prng: PrngState;
}

export class Bgmd<N extends AggregatorName = 'geometricMedian'> {
  readonly workers: number;
  readonly length: number;
  readonly beta: number;
  readonly k: number;
  readonly memoryMode: BgmdMemory;
  readonly selection: BgmdSelection;
  readonly inner: AggregatorName;
  private readonly innerOptions: AggregatorOptionsByName[AggregatorName] | undefined;
  private readonly invalid: InvalidRowPolicy;
  /** perWorker: n x d residuals, row i at [i d, (i + 1) d). averaged: d values. none: empty. */
  private readonly memory: Float32Array;
  /** perWorker: the n views of `memory`, one per worker. */
  private readonly memoryRows: readonly Float32Array[];
  /** All d scores (float64 for topKIndices and the sampling keys); made on first use, which the per-worker top-k rarely needs. */
  private allScores: Float64Array | undefined;
  /**
   * perWorker and workers top-k: the candidates of the scoring pass and the top-k positions among
   * them (grown on demand); workers also their columns, one array per worker.
   */
  private candidates: { index: Uint32Array; score: Float64Array; positions: Uint32Array; values: Float32Array[] } | undefined;
  /** 'sample' only: the sampling keys. */
  private readonly keys: Float64Array | undefined;
  /** n rows of length k: the selected block handed to the inner aggregator, reused every round. */
  private readonly blockRows: readonly Float32Array[];
  /** 'zero' policy with per-worker memory: the g_i = 0 of an invalid row, made on first use. */
  private zeroGradient: Float32Array | undefined;
  /** averaged memory only: sum over rows of the augmented values. */
  private readonly augmentedSum: Float64Array | undefined;
  /** inner 'geometricMedian' only: its solver buffers and its length-k result, reused every round. */
  private readonly gmScratch: WeiszfeldScratch | undefined;
  private readonly blockValue: Float32Array | undefined;
  private readonly prng: Prng;
  private rounds = 0;
  private notConverged = 0;

  constructor(options: BgmdOptions<N>) {
    const op = 'Bgmd';
    const { workers, length } = options;
    const beta = options.beta ?? 0.1;
    if (!Number.isInteger(workers) || workers < 1) throw new ZcollError('EINVAL', `option 'workers' of ${op} must be an integer >= 1, got ${String(workers)}`, { op });
    if (!Number.isInteger(length) || length < 1) throw new ZcollError('EINVAL', `option 'length' of ${op} must be an integer >= 1, got ${String(length)}`, { op });
    if (!(typeof beta === 'number' && beta > 0 && beta <= 1)) throw new ZcollError('EINVAL', `option 'beta' of ${op} must be in (0, 1], got ${String(beta)}`, { op });
    const memory = options.memory ?? 'perWorker';
    if (memory !== 'perWorker' && memory !== 'workers' && memory !== 'averaged' && memory !== 'none') {
      throw new ZcollError('EINVAL', `option 'memory' of ${op} must be 'perWorker', 'workers', 'averaged' or 'none', got ${String(memory)}`, { op });
    }
    const selection = options.selection ?? 'topk';
    if (selection !== 'topk' && selection !== 'sample') throw new ZcollError('EINVAL', `option 'selection' of ${op} must be 'topk' or 'sample', got ${String(selection)}`, { op });
    const inner = options.inner ?? 'geometricMedian';
    if (!isAggregatorName(inner)) throw new ZcollError('EINVAL', `option 'inner' of ${op} is not a known aggregator: ${String(inner)}`, { op });
    const seed = options.seed ?? 1;
    if (!Number.isInteger(seed)) throw new ZcollError('EINVAL', `option 'seed' of ${op} must be an integer, got ${String(seed)}`, { op });
    this.invalid = checkInvalidPolicy(options.invalid, op);
    this.workers = workers;
    this.length = length;
    this.beta = beta;
    this.k = blockSize(beta, length);
    this.memoryMode = memory;
    this.selection = selection;
    this.inner = inner;
    this.innerOptions = options.innerOptions;
    this.memory = new Float32Array(memory === 'perWorker' ? workers * length : memory === 'averaged' ? length : 0);
    this.memoryRows = memory === 'perWorker' ? Array.from({ length: workers }, (_, i) => this.memory.subarray(i * length, (i + 1) * length)) : [];
    this.augmentedSum = memory === 'averaged' ? new Float64Array(length) : undefined;
    this.keys = selection === 'sample' ? new Float64Array(length) : undefined;
    const k = this.k;
    this.blockRows = Array.from({ length: workers }, () => new Float32Array(k));
    this.gmScratch = inner === 'geometricMedian' ? new WeiszfeldScratch() : undefined;
    this.blockValue = inner === 'geometricMedian' ? new Float32Array(k) : undefined;
    this.prng = new Prng(seed);
  }

  /** Worker i's residual (a view; do not modify). Only with memory 'perWorker'. */
  memoryRow(worker: number): Float32Array {
    if (this.memoryMode !== 'perWorker') throw new ZcollError('EINVAL', `Bgmd.memoryRow needs memory 'perWorker', this one is '${this.memoryMode}'`, { op: 'Bgmd' });
    if (!Number.isInteger(worker) || worker < 0 || worker >= this.workers) throw new ZcollError('EINVAL', `worker must be in [0, ${this.workers}), got ${worker}`, { op: 'Bgmd' });
    return this.memoryRows[worker];
  }

  /** The mean over workers of the memory (float64): the part of past steps not yet applied. Not with memory 'workers' (each BgmdResidual holds its own). */
  meanMemory(): Float64Array {
    if (this.memoryMode === 'workers') throw new ZcollError('EINVAL', `Bgmd.meanMemory: with memory 'workers' each worker's BgmdResidual holds its memory`, { op: 'Bgmd' });
    const d = this.length;
    const out = new Float64Array(d);
    if (this.memoryMode === 'averaged') {
      out.set(this.memory);
    } else if (this.memoryMode === 'perWorker') {
      for (let i = 0; i < this.workers; i++) {
        const row = this.memoryRow(i);
        for (let j = 0; j < d; j++) out[j] += row[j];
      }
      for (let j = 0; j < d; j++) out[j] /= this.workers;
    }
    return out;
  }

  /** Clears the memory (for example after the model was reloaded). */
  reset(): void {
    this.memory.fill(0);
  }

  /**
   * What carries over from round to round, for checkpoints: the memory (n x d, d or none), the round
   * counters and the sampling PRNG. The memory is a copy. A Bgmd made with the same options and
   * given it by `setState` continues bit for bit as this one would.
   */
  getState(): BgmdState {
    return { workers: this.workers, length: this.length, memoryMode: this.memoryMode, memory: this.memory.slice(), rounds: this.rounds, notConvergedRounds: this.notConverged, prng: this.prng.getState() };
  }

  setState(state: BgmdState): void {
    const op = 'Bgmd.setState';
    if (state?.workers !== this.workers || state.length !== this.length || state.memoryMode !== this.memoryMode) {
      throw new ZcollError('EINVAL', `${op}: the state is of a Bgmd with workers ${String(state?.workers)}, length ${String(state?.length)}, memory '${String(state?.memoryMode)}'; this one has ${this.workers}, ${this.length}, '${this.memoryMode}'`, { op });
    }
    if (!(state.memory instanceof Float32Array) || state.memory.length !== this.memory.length) throw new ZcollError('EINVAL', `${op}: memory must be a Float32Array of ${this.memory.length} elements`, { op });
    if (!Number.isInteger(state.rounds) || state.rounds < 0 || !Number.isInteger(state.notConvergedRounds) || state.notConvergedRounds < 0) throw new ZcollError('EINVAL', `${op}: rounds and notConvergedRounds must be integers >= 0`, { op });
    this.prng.setState(state.prng);
    this.memory.set(state.memory);
    this.rounds = state.rounds;
    this.notConverged = state.notConvergedRounds;
  }

  /**
   * One round: `rows[i]` is worker i's gradient (length d), `lr` the step size > 0. Invalid rows are
   * handled per the 'invalid' option and reported; zero valid rows -> ZcollError('ENUMERIC').
   * `out` (length d, optional): the update is written there (every element) and returned as
   * `update`; the result is bitwise the same as without it.
   */
  step(rows: readonly Float32Array[], lr: number, out?: Float32Array): BgmdStep {
    const op = 'Bgmd.step';
    if (!Array.isArray(rows) || rows.length !== this.workers) {
      throw new ZcollError('EINVAL', `${op} expects ${this.workers} rows (one per worker), got ${Array.isArray(rows) ? rows.length : typeof rows}`, { op });
    }
    if (!(typeof lr === 'number' && lr > 0 && Number.isFinite(lr))) throw new ZcollError('EINVAL', `${op}: lr must be a finite number > 0, got ${String(lr)}`, { op });
    const d = this.length;
    // Checked before the memory is touched, so a bad buffer leaves the state as it was.
    if (out !== undefined && !(out instanceof Float32Array && out.length === d)) {
      throw new ZcollError('EINVAL', `${op}: out must be a Float32Array of length ${d}, got ${out instanceof Float32Array ? `length ${out.length}` : typeof out}`, { op });
    }
    const n = this.workers;
    // Rows of the wrong shape are out at once. NaN/Inf: with per-worker memory (here or at the
    // workers) the scoring pass finds them (it reads the rows anyway and writes nothing, so no
    // memory is touched before the verdict); the other memory modes screen first, as their JS loops
    // read g twice anyway. With memory 'workers' the rows are a_i, and 'zero' makes an invalid a_i 0.
    const invalid = new Set<number>();
    for (let i = 0; i < n; i++) {
      const r: unknown = rows[i];
      if (!(r instanceof Float32Array && r.length === d)) invalid.add(i);
      else if (this.memoryMode !== 'perWorker' && this.memoryMode !== 'workers' && !isFiniteRow(r)) invalid.add(i);
    }
    this.checkSomeValid(invalid, op);
    let participants = this.participantsOf(invalid);
    const validRow = (i: number): Float32Array | undefined => (invalid.has(i) ? undefined : rows[i]);
    const gradientsOf = (workers: readonly number[]): Float32Array[] => workers.map((i) => validRow(i) ?? this.zeros());
    const memoryOf = (workers: readonly number[]): Float32Array[] => workers.map((i) => this.memoryRows[i]);

    // 1-2. Augment and score (3. with per-worker memory, select I too).
    const lr32 = Math.fround(lr);
    let selected: Uint32Array | undefined;
    let candidateCount: number | undefined;
    // memory 'workers': the rows are augmented already (a_i = rows[i]).
    const direct = this.memoryMode === 'workers';
    // workers: where the block comes from, columns[p][at[t]]: the candidates' columns when I was
    // chosen among them (~1.2 k values per row, copied by the scoring pass), else the rows at I.
    let blockFrom: { columns: readonly Float32Array[]; at: Uint32Array } | undefined;
    if (this.memoryMode === 'perWorker' || direct) {
      // The first pass reads only, so it is also the NaN/Inf screen: nothing is written before a bad
      // row is known. It collects the candidates of the top-k when the threshold estimate allows.
      let scored = false;
      const score = (candidates: ColumnCandidates | undefined): number => {
        scored = candidates === undefined;
        const into = scored ? this.scoreBuffer() : undefined;
        return direct ? kernels.columnScores(gradientsOf(participants), into, candidates) : kernels.augmentedScores(memoryOf(participants), gradientsOf(participants), lr32, into, candidates);
      };
      const candidatesNow = (): ColumnCandidates | undefined => {
        if (this.selection !== 'topk' || this.k >= d) return undefined;
        const g = gradientsOf(participants);
        if (direct) return this.candidatesFor((p, j) => g[p][j], g.length);
        const m = memoryOf(participants);
        return this.candidatesFor((p, j) => Math.fround(Math.fround(lr32 * g[p][j]) + m[p][j]), g.length);
      };
      let candidates = candidatesNow();
      let result = score(candidates);
      if (result === -2) {
        // Rare path: some score is not finite. A NaN/Inf gradient always causes that; so can a
        // non-finite memory value or a float32 overflow of finite values, which leave every row
        // valid (the scores then stand as computed). Find the invalid rows, score again without them.
        let found = false;
        for (const i of participants) {
          if (!invalid.has(i) && !isFiniteRow(rows[i])) {
            invalid.add(i);
            found = true;
          }
        }
        if (found) {
          this.checkSomeValid(invalid, op);
          participants = this.participantsOf(invalid);
          candidates = candidatesNow();
          result = score(candidates);
        }
      }
      const c = this.candidates;
      if (candidates !== undefined && c !== undefined && result >= this.k) {
        // The top k of the candidates: every score above the threshold is among them, so these
        // are the top k of all d (ties to the lowest j, as topKIndices over all d would pick).
        kernels.topKIndices(c.score.subarray(0, result), this.k, c.positions);
        selected = new Uint32Array(this.k);
        for (let t = 0; t < this.k; t++) selected[t] = c.index[c.positions[t]];
        candidateCount = result;
        if (direct) blockFrom = { columns: c.values.slice(0, participants.length), at: c.positions };
      } else if (!scored) {
        // Too few or too many candidates (the estimate missed), or non-finite scores: all d scores.
        score(undefined);
      }
    } else {
      // averaged: a_i = lr g_i + m (same m for every row); none: m = 0.
      const scores = this.scoreBuffer();
      scores.fill(0);
      const m = this.memory;
      const shared = this.memoryMode === 'averaged';
      const sum = this.augmentedSum;
      sum?.fill(0);
      for (const i of participants) {
        const g = validRow(i);
        for (let j = 0; j < d; j++) {
          const a = Math.fround((g !== undefined ? lr32 * g[j] : 0) + (shared ? m[j] : 0));
          scores[j] += a * a;
          if (sum !== undefined) sum[j] += a;
        }
      }
    }

    // 3. Select I.
    selected ??= this.select(this.scoreBuffer());
    const k = selected.length;

    // Gather the block rows (divided by lr), and take I out of the memory.
    const blocks = this.blockRows.slice(0, participants.length);
    if (this.memoryMode === 'perWorker') {
      kernels.augmentAndExtract(memoryOf(participants), gradientsOf(participants), lr32, selected, lr32, blocks);
    } else if (direct) {
      // Each worker clears I in its own memory.
      blockFrom ??= { columns: gradientsOf(participants), at: selected };
      kernels.gatherColumns(blockFrom.columns, blockFrom.at, lr32, blocks);
    } else {
      const shared = this.memoryMode === 'averaged';
      participants.forEach((i, p) => {
        const g = validRow(i);
        const block = blocks[p];
        for (let t = 0; t < k; t++) {
          const j = selected[t];
          const a = Math.fround((g !== undefined ? lr32 * g[j] : 0) + (shared ? this.memory[j] : 0));
          block[t] = a / lr32;
        }
      });
    }
    if (this.memoryMode === 'averaged') {
      const sum = this.augmentedSum as Float64Array;
      const count = participants.length;
      for (let j = 0; j < d; j++) this.memory[j] = sum[j] / count;
      for (let t = 0; t < k; t++) this.memory[selected[t]] = 0;
    }

    // 4. Aggregate the block and scatter it back.
    const reuse = this.gmScratch !== undefined ? { out: this.blockValue, scratch: this.gmScratch } : {};
    const innerOptions = { ...(this.innerOptions ?? {}), ...reuse, invalid: 'exclude' as const, length: k };
    const agg = aggregate(this.inner, blocks, innerOptions);
    const update = out?.fill(0) ?? new Float32Array(d);
    for (let t = 0; t < k; t++) update[selected[t]] = lr32 * agg.value[t];
    this.rounds++;
    if (!agg.report.converged) this.notConverged++;
    const innerReport: AggregationReport = {
      ...agg.report,
      invalidRows: agg.report.invalidRows.map((p) => participants[p]),
      ...(agg.report.selectedRows !== undefined ? { selectedRows: agg.report.selectedRows.map((p) => participants[p]) } : {}),
    };
    return {
      update,
      selected,
      report: {
        round: this.rounds,
        selectedCount: k,
        invalidRows: [...invalid].sort((a, b) => a - b),
        inner: innerReport,
        notConvergedRounds: this.notConverged,
        ...(candidateCount !== undefined ? { candidates: candidateCount } : {}),
      },
    };
  }

  /**
   * The candidates of one scoring pass: the threshold is the score at rank k S / d among S sampled
   * coordinates, lowered by four standard deviations and 8 ranks, so that the candidates almost
   * always number >= k (if not, the round selects from all d scores: slower, same I) and about
   * 1.1-1.3 k, against d scores for a selection over all. Undefined (no candidates) when d is small
   * or the estimate covers much of d. Scores are computed as kernels.augmentedScores does.
   */
  private candidatesFor(augmented: (p: number, j: number) => number, rows: number): ColumnCandidates | undefined {
    const d = this.length;
    const k = this.k;
    if (d < CANDIDATE_MIN_LENGTH) return undefined;
    const size = SAMPLE_RUNS * SAMPLE_RUN;
    const sampled = new Float32Array(size);
    let c = 0;
    for (let r = 0; r < SAMPLE_RUNS; r++) {
      const start = Math.min(d - SAMPLE_RUN, Math.floor((r * d) / SAMPLE_RUNS));
      for (let j = start; j < start + SAMPLE_RUN; j++) {
        let s = 0;
        for (let p = 0; p < rows; p++) {
          const a = augmented(p, j);
          s = Math.fround(s + Math.fround(a * a));
        }
        // NaN sorts as the largest (it is always a candidate).
        sampled[c++] = s !== s ? Number.POSITIVE_INFINITY : s;
      }
    }
    const expected = (size * k) / d;
    const rank = Math.ceil(expected + 4 * Math.sqrt(expected) + 8);
    if (rank >= size / 2) return undefined;
    sampled.sort();
    const threshold = sampled[size - rank];
    const capacity = Math.min(d, Math.ceil((1.5 * rank * d) / size) + 1024);
    let buffers = this.candidates;
    if (buffers === undefined || buffers.index.length < capacity) {
      const values = this.memoryMode === 'workers' ? Array.from({ length: this.workers }, () => new Float32Array(capacity)) : [];
      buffers = { index: new Uint32Array(capacity), score: new Float64Array(capacity), positions: new Uint32Array(k), values };
      this.candidates = buffers;
    }
    return { threshold, index: buffers.index, score: buffers.score, ...(this.memoryMode === 'workers' ? { values: buffers.values.slice(0, rows) } : {}) };
  }

  private scoreBuffer(): Float64Array {
    this.allScores ??= new Float64Array(this.length);
    return this.allScores;
  }

  /** Workers whose rows enter the round: the valid ones, plus the invalid ones (as g = 0) under the 'zero' policy. */
  private participantsOf(invalid: ReadonlySet<number>): number[] {
    const workers: number[] = [];
    for (let i = 0; i < this.workers; i++) if (this.invalid === 'zero' || !invalid.has(i)) workers.push(i);
    return workers;
  }

  /** Throws ENUMERIC when no row is valid (checked before the memory is written). */
  private checkSomeValid(invalid: ReadonlySet<number>, op: string): void {
    if (invalid.size === this.workers) {
      const invalidRows = [...invalid].sort((a, b) => a - b);
      throw new ZcollError('ENUMERIC', `${op}: no valid row among ${this.workers} (wrong length or NaN/Inf in every row)`, { op, details: { invalidRows } });
    }
  }

  /** g_i = 0 for an invalid row under the 'zero' policy: fround(lr * 0 + m) = m, so the memory is kept. */
  private zeros(): Float32Array {
    this.zeroGradient ??= new Float32Array(this.length);
    return this.zeroGradient;
  }

  /** I: k coordinates, ascending. Top-k by score, or sampled by Efraimidis-Spirakis keys log(u) / s_j. */
  private select(scores: Float64Array): Uint32Array {
    const d = this.length;
    const k = this.k;
    if (k === d) return Uint32Array.from({ length: d }, (_, j) => j);
    let ranked = scores;
    if (this.keys !== undefined) {
      ranked = this.keys;
      for (let j = 0; j < d; j++) {
        // u in (0, 1): never 0, so a positive score always gets a finite key.
        const u = (this.prng.nextUint32() + 0.5) / 4294967296;
        ranked[j] = scores[j] > 0 ? Math.log(u) / scores[j] : Number.NEGATIVE_INFINITY;
      }
    }
    // Ties at the k-th value go to the lowest coordinates, so every rank selects the same I.
    const selected = new Uint32Array(k);
    kernels.topKIndices(ranked, k, selected);
    return selected;
  }
}

