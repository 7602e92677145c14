/**
 * M-SGC, multiplexed sequential gradient coding (Krishnan, Ebrahimi, Khisti, ICLR 2023; schedule as in
 * the authors' `multiplexed_sgc.py`, data split as in the precursor code, erfanhss/SequentialGradientCoding).
 *
 * (B, W, λ) with 1 <= B < W, λ < n; delay T = W − 2 + B; every round each worker runs W − 1 + B
 * equal-sized mini-tasks, slot m of round r belonging to job r − m. Job t's data is cut into
 * - D1, a share (λ+1)(W−1) / (B + (λ+1)(W−1)): n(W−1) uncoded chunks, chunks (i, 0..W−2) are worker i's;
 * - D2, the rest: B groups of n partitions, each group protected by a GC(n, λ) code.
 * Slot m < W − 1: chunk m of job t. Slot W − 1 + g: the coded group-g task if the worker already
 * delivered all its D1 chunks of job t, else one of its missing chunks again (the adaptive part).
 * A late worker loses its whole round. Job t is decoded at the end of round t + T from all D1 chunks
 * (summed) plus, per group, a GC decode from at least n − λ coded results.
 * Normalised load (λ+1)(W−1+B) / (n (B + (W−1)(λ+1))).
 *
 * Cost per round: O(n (W − 1 + B)) scheduling; decoding B gradient-code decodes per job.
 */
import { ZcollError, check } from '../errors.js';
import type { CodedScheduler, CodedTask, DecoderTerm, PartitionTerm } from './coded-task.js';
import { GradientCode, type GradientCodeOptions } from './gradient-code.js';
import { type BurstModel, checkBurstModel, conformsWindow, normaliseLateSet } from './straggler-pattern.js';

export interface MSgcSchedulerOptions {
  workers: number;
  jobs: number;
  B: number;
  W: number;
  lambda: number;
  code?: GradientCodeOptions;
}

/** Normalised load of M-SGC: (λ+1)(W−1+B) / (n (B + (W−1)(λ+1))). */
export function mSgcLoad(workers: number, B: number, W: number, lambda: number): number {
  return ((lambda + 1) * (W - 1 + B)) / (workers * (B + (W - 1) * (lambda + 1)));
}

export class MSgcScheduler implements CodedScheduler {
  readonly scheme = 'm-sgc' as const;
  readonly workers: number;
  readonly jobs: number;
  readonly delay: number;
  readonly rounds: number;
  readonly load: number;
  readonly partitionFractions: Float64Array;
  readonly model: BurstModel;
  /** Mini-tasks per worker per round: W − 1 + B. */
  readonly slots: number;
  /** Share of a job's data in D1 (uncoded) and D2 (coded). */
  readonly d1Share: number;
  readonly d2Share: number;
  private readonly chunks: number;
  private readonly history: number[][] = [];
  /** d1Round[(job * n + worker) * (W−1) + chunk] = round delivered, or −1. */
  private readonly d1Round: Int32Array;
  /** d2Round[(job * B + group) * n + worker] = round delivered, or −1. */
  private readonly d2Round: Int32Array;
  private readonly tables: CodedTask[][][] = [];
  private readonly codeOptions: GradientCodeOptions | undefined;
  private builtCode: GradientCode | undefined;

  constructor(options: MSgcSchedulerOptions) {
    const { workers, jobs, B, W, lambda } = options;
    check(Number.isInteger(workers) && workers >= 1, 'EINVAL', () => `m-sgc: workers must be an integer >= 1, got ${String(workers)}`);
    check(Number.isInteger(jobs) && jobs >= 1, 'EINVAL', () => `m-sgc: jobs must be an integer >= 1, got ${String(jobs)}`);
    this.model = { B, W, lambda };
    checkBurstModel(this.model, workers);
    check(lambda < workers, 'EINVAL', () => `m-sgc: lambda must be < n = ${workers} (the D2 groups use GC(n, lambda)), got ${lambda}`);
    this.workers = workers;
    this.jobs = jobs;
    this.chunks = W - 1;
    this.slots = W - 1 + B;
    this.delay = W - 2 + B;
    this.rounds = jobs + this.delay;
    this.load = mSgcLoad(workers, B, W, lambda);
    const d1Weight = (lambda + 1) * (W - 1);
    this.d1Share = d1Weight / (B + d1Weight);
    this.d2Share = B / (B + d1Weight);
    this.codeOptions = options.code;
    this.partitionFractions = new Float64Array(workers * (W - 1) + B * workers);
    this.partitionFractions.fill(this.d1Share / (workers * (W - 1)), 0, workers * (W - 1));
    this.partitionFractions.fill(this.d2Share / (B * workers), workers * (W - 1));
    this.d1Round = new Int32Array(jobs * workers * this.chunks).fill(-1);
    this.d2Round = new Int32Array(jobs * B * workers).fill(-1);
  }

  /** GC(n, λ) protecting each D2 group, built on first use (scheduling only counts responders). */
  get code(): GradientCode {
    this.builtCode ??= GradientCode.create(this.workers, this.model.lambda, this.codeOptions);
    return this.builtCode;
  }

  get roundsRecorded(): number {
    return this.history.length;
  }

  tasksFor(round: number, worker: number): CodedTask[] {
    this.checkWorker(worker);
    return this.table(round)[worker].slice();
  }

  encodingFor(worker: number, task: CodedTask): PartitionTerm[] {
    this.checkWorker(worker);
    if (task.kind === 'd1') {
      check(Number.isInteger(task.index) && task.index >= 0 && task.index < this.chunks, 'EINVAL', () => `m-sgc: D1 chunk ${task.index} not in [0, ${this.chunks})`);
      return [{ partition: worker * this.chunks + task.index, coefficient: 1 }];
    }
    check(task.kind === 'd2', 'EINVAL', () => `m-sgc: unknown task kind '${task.kind}'`);
    check(Number.isInteger(task.index) && task.index >= 0 && task.index < this.model.B, 'EINVAL', () => `m-sgc: D2 group ${task.index} not in [0, ${this.model.B})`);
    const offset = this.workers * this.chunks + task.index * this.workers;
    return this.code.encodingFor(worker).map((t) => ({ partition: offset + t.partition, coefficient: t.coefficient }));
  }

  taskLoad(task: CodedTask): number {
    // Both kinds have the same size by construction of the split: d1/(n(W−1)) = (λ+1) d2/(B n).
    check(task.kind === 'd1' || task.kind === 'd2', 'EINVAL', () => `m-sgc: unknown task kind '${task.kind}'`);
    return this.load / this.slots;
  }

  conforms(late: readonly number[]): boolean {
    return conformsWindow(this.history, normaliseLateSet(late, this.workers, 'm-sgc.conforms'), this.model);
  }

  accepts(late: readonly number[]): boolean {
    if (!this.conforms(late)) return false;
    const round = this.history.length;
    if (round >= this.rounds) return false;
    const job = round - this.delay;
    if (job < 0 || job >= this.jobs) return true;
    const isLate = new Uint8Array(this.workers);
    for (const w of late) isLate[w] = 1;
    return this.countsDecodable(job, this.table(round), isLate);
  }

  onRoundResult(round: number, lateWorkers: readonly number[]): void {
    check(round === this.history.length, 'EINVAL', () => `m-sgc: result for round ${round} but the next round is ${this.history.length}`);
    check(round < this.rounds, 'EINVAL', () => `m-sgc: round ${round} is past the last round ${this.rounds - 1}`);
    const late = normaliseLateSet(lateWorkers, this.workers, 'm-sgc.onRoundResult');
    const isLate = new Uint8Array(this.workers);
    for (const w of late) isLate[w] = 1;
    const table = this.table(round);
    for (let w = 0; w < this.workers; w++) {
      if (isLate[w] === 1) continue;
      for (const task of table[w]) {
        const at = task.kind === 'd1' ? this.d1Index(task.job, w, task.index) : this.d2Index(task.job, task.index, w);
        const store = task.kind === 'd1' ? this.d1Round : this.d2Round;
        if (store[at] < 0) store[at] = round;
      }
    }
    this.history.push(late);
  }

  jobsDueAt(round: number): number[] {
    const job = round - this.delay;
    return job >= 0 && job < this.jobs ? [job] : [];
  }

  decodable(job: number): boolean {
    this.checkJob(job);
    return this.countsDecodable(job, undefined, undefined);
  }

  decoderFor(job: number): DecoderTerm[] {
    this.checkJob(job);
    const terms: DecoderTerm[] = [];
    for (let w = 0; w < this.workers; w++) {
      for (let c = 0; c < this.chunks; c++) {
        const round = this.d1Round[this.d1Index(job, w, c)];
        if (round < 0) {
          throw new ZcollError('ENUMERIC', `m-sgc: job ${job} is not decodable: D1 chunk ${c} of worker ${w} never arrived`, { op: 'decoderFor', details: { job, worker: w, chunk: c } });
        }
        terms.push({ worker: w, round, task: { job, kind: 'd1', index: c }, coefficient: 1 });
      }
    }
    for (let g = 0; g < this.model.B; g++) {
      const responders: number[] = [];
      for (let w = 0; w < this.workers; w++) if (this.d2Round[this.d2Index(job, g, w)] >= 0) responders.push(w);
      if (responders.length < this.workers - this.model.lambda) {
        throw new ZcollError('ENUMERIC', `m-sgc: job ${job} is not decodable: group ${g} has ${responders.length} coded results, needs ${this.workers - this.model.lambda}`, { op: 'decoderFor', details: { job, group: g, responders } });
      }
      const a = this.code.decodeVector(responders);
      for (const w of responders) {
        if (a[w] === 0) continue;
        terms.push({ worker: w, round: this.d2Round[this.d2Index(job, g, w)], task: { job, kind: 'd2', index: g }, coefficient: a[w] });
      }
    }
    return terms;
  }

  get stragglerHistory(): readonly (readonly number[])[] {
    return this.history;
  }

  /** Decodability of `job` from what arrived, plus (when given) the tasks of `table` by non-late workers. */
  private countsDecodable(job: number, table: CodedTask[][] | undefined, isLate: Uint8Array | undefined): boolean {
    const n = this.workers;
    const pendingD1 = new Uint8Array(n * this.chunks);
    const pendingD2 = new Uint8Array(this.model.B * n);
    if (table !== undefined && isLate !== undefined) {
      for (let w = 0; w < n; w++) {
        if (isLate[w] === 1) continue;
        for (const task of table[w]) {
          if (task.job !== job) continue;
          if (task.kind === 'd1') pendingD1[w * this.chunks + task.index] = 1;
          else pendingD2[task.index * n + w] = 1;
        }
      }
    }
    for (let w = 0; w < n; w++) {
      for (let c = 0; c < this.chunks; c++) {
        if (this.d1Round[this.d1Index(job, w, c)] < 0 && pendingD1[w * this.chunks + c] === 0) return false;
      }
    }
    for (let g = 0; g < this.model.B; g++) {
      let count = 0;
      for (let w = 0; w < n; w++) if (this.d2Round[this.d2Index(job, g, w)] >= 0 || pendingD2[g * n + w] === 1) count++;
      if (count < n - this.model.lambda) return false;
    }
    return true;
  }

  private table(round: number): CodedTask[][] {
    check(Number.isInteger(round) && round >= 0 && round < this.rounds, 'EINVAL', () => `m-sgc: round ${String(round)} is not in [0, ${this.rounds})`);
    check(round <= this.history.length, 'EINVAL', () => `m-sgc: tasks of round ${round} depend on round ${this.history.length}, not recorded yet`);
    const cached = this.tables[round];
    if (cached !== undefined) return cached;
    const table: CodedTask[][] = [];
    for (let w = 0; w < this.workers; w++) {
      const tasks: CodedTask[] = [];
      for (let m = 0; m < this.slots; m++) {
        const job = round - m;
        if (job < 0 || job >= this.jobs) continue;
        if (m < this.chunks) {
          tasks.push({ job, kind: 'd1', index: m });
          continue;
        }
        let missing = -1;
        for (let c = 0; c < this.chunks; c++) {
          if (this.d1Round[this.d1Index(job, w, c)] < 0) {
            missing = c;
            break;
          }
        }
        tasks.push(missing < 0 ? { job, kind: 'd2', index: m - this.chunks } : { job, kind: 'd1', index: missing });
      }
      table.push(tasks);
    }
    this.tables[round] = table;
    return table;
  }

  private d1Index(job: number, worker: number, chunk: number): number {
    return (job * this.workers + worker) * this.chunks + chunk;
  }

  private d2Index(job: number, group: number, worker: number): number {
    return (job * this.model.B + group) * this.workers + worker;
  }

  private checkWorker(worker: number): void {
    check(Number.isInteger(worker) && worker >= 0 && worker < this.workers, 'EINVAL', () => `m-sgc: worker ${String(worker)} is not in [0, ${this.workers})`);
  }

  private checkJob(job: number): void {
    check(Number.isInteger(job) && job >= 0 && job < this.jobs, 'EINVAL', () => `m-sgc: job ${String(job)} is not in [0, ${this.jobs})`);
  }
}
