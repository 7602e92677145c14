/**
 * SR-SGC, gradient coding with selective repetition (Krishnan, Ebrahimi, Khisti, "Sequential Gradient
 * Coding for Straggler Mitigation", ICLR 2023), and plain gradient coding as its T = 0 case.
 *
 * Under a (B, W, λ) model with W − 1 divisible by B, every worker runs one GC(n, s) task per round,
 * s = ⌈Bλ / (W − 1 + B)⌉, load (s+1)/n, delay T = B. In round r the workers that did not deliver job
 * t = r − B in round t number v; if v > s, the v − s lowest-indexed of them recompute their job-t task
 * instead of their job-r task. Job t is decoded at the end of round t + B from the distinct responders
 * of rounds t and t + B (at least n − s under the model).
 * GC (Tandon et al. 2017): T = 0, job r decoded from round r alone, a round is accepted when at most s
 * workers are late (the authors' simulator accepts only < s; we use the code's real tolerance ≤ s).
 *
 * Cost per round: O(n) scheduling; decoding as in gradient-code.ts.
 */
import { ZcollError, check } from '../errors.js';
import type { CodedScheduler, CodedScheme, CodedTask, DecoderTerm, PartitionTerm } from './coded-task.js';
import { GradientCode, type GradientCodeOptions } from './gradient-code.js';
import { type BurstModel, checkBurstModel, conformsWindow, normaliseLateSet } from './straggler-pattern.js';

export interface GcSchedulerOptions {
  workers: number;
  jobs: number;
  /** Stragglers tolerated per round. */
  s: number;
  code?: GradientCodeOptions;
}

export interface SrSgcSchedulerOptions {
  workers: number;
  jobs: number;
  B: number;
  W: number;
  lambda: number;
  code?: GradientCodeOptions;
}

/** s = ⌈Bλ / (W − 1 + B)⌉: the stragglers per round the SR-SGC gradient code must tolerate. */
export function srSgcStragglers(B: number, W: number, lambda: number): number {
  return Math.ceil((B * lambda) / (W - 1 + B));
}

/** Normalised load of GC(n, s) and of SR-SGC with that s: (s+1)/n. */
export function gcLoad(workers: number, s: number): number {
  return (s + 1) / workers;
}

export class SrSgcScheduler implements CodedScheduler {
  readonly scheme: CodedScheme;
  readonly workers: number;
  readonly jobs: number;
  readonly delay: number;
  readonly rounds: number;
  readonly load: number;
  readonly partitionFractions: Float64Array;
  /** Stragglers per round the code tolerates. */
  readonly s: number;
  /** The (B, W, λ) model (SR-SGC); undefined for GC, whose model is "at most s late per round". */
  readonly model: BurstModel | undefined;
  private readonly history: number[][] = [];
  /** delivered[job * n + worker] = the round worker's job task arrived in, or −1. */
  private readonly delivered: Int32Array;
  private readonly tables: (CodedTask | undefined)[][] = [];
  private readonly codeOptions: GradientCodeOptions | undefined;
  private builtCode: GradientCode | undefined;

  private constructor(scheme: CodedScheme, workers: number, jobs: number, s: number, model: BurstModel | undefined, code: GradientCodeOptions | undefined) {
    check(Number.isInteger(jobs) && jobs >= 1, 'EINVAL', () => `${scheme}: jobs must be an integer >= 1, got ${String(jobs)}`);
    check(Number.isInteger(s) && s >= 0 && s < workers, 'EINVAL', () => `${scheme}: s (stragglers) must be an integer in [0, n-1] = [0, ${workers - 1}], got ${String(s)}`);
    this.scheme = scheme;
    this.workers = workers;
    this.jobs = jobs;
    this.s = s;
    this.model = model;
    this.codeOptions = code;
    this.delay = model === undefined ? 0 : model.B;
    this.rounds = jobs + this.delay;
    this.load = gcLoad(workers, s);
    this.partitionFractions = new Float64Array(workers).fill(1 / workers);
    this.delivered = new Int32Array(jobs * workers).fill(-1);
  }

  /**
   * The GC(n, s) code, built on first use: scheduling and decodability only count responders, so a
   * timing simulation never pays for the O(n s³) cyclic construction.
   */
  get code(): GradientCode {
    this.builtCode ??= GradientCode.create(this.workers, this.s, this.codeOptions);
    return this.builtCode;
  }

  static gc(options: GcSchedulerOptions): SrSgcScheduler {
    checkWorkers('gc', options.workers);
    return new SrSgcScheduler('gc', options.workers, options.jobs, options.s, undefined, options.code);
  }

  static srSgc(options: SrSgcSchedulerOptions): SrSgcScheduler {
    const { workers, B, W, lambda } = options;
    checkWorkers('sr-sgc', workers);
    const model = { B, W, lambda };
    checkBurstModel(model, workers);
    check((W - 1) % B === 0, 'EINVAL', () => `sr-sgc: W - 1 must be divisible by B, got B=${B}, W=${W}`);
    const s = srSgcStragglers(B, W, lambda);
    check(s < workers, 'EINVAL', () => `sr-sgc: B=${B}, W=${W}, lambda=${lambda} needs s=${s} < n=${workers}`);
    return new SrSgcScheduler('sr-sgc', workers, options.jobs, s, model, options.code);
  }

  get roundsRecorded(): number {
    return this.history.length;
  }

  tasksFor(round: number, worker: number): CodedTask[] {
    this.checkWorker(worker);
    const task = this.table(round)[worker];
    return task === undefined ? [] : [task];
  }

  encodingFor(worker: number, task: CodedTask): PartitionTerm[] {
    this.checkWorker(worker);
    check(task.kind === 'gc' && task.index === worker, 'EINVAL', () => `${this.scheme}: worker ${worker} has no task (${task.kind}, ${task.index})`, { rank: worker });
    return this.code.encodingFor(worker);
  }

  taskLoad(task: CodedTask): number {
    check(task.kind === 'gc', 'EINVAL', () => `${this.scheme}: unknown task kind '${task.kind}'`);
    return this.load;
  }

  conforms(late: readonly number[]): boolean {
    const set = normaliseLateSet(late, this.workers, `${this.scheme}.conforms`);
    if (this.model === undefined) return set.length <= this.s;
    return conformsWindow(this.history, set, this.model);
  }

  accepts(late: readonly number[]): boolean {
    if (!this.conforms(late)) return false;
    const round = this.history.length;
    if (round >= this.rounds) return false;
    const job = round - this.delay;
    if (job < 0 || job >= this.jobs) return true;
    const isLate = new Uint8Array(this.workers);
    for (const w of late) isLate[w] = 1;
    const table = this.table(round);
    let count = this.deliveredCount(job);
    for (let w = 0; w < this.workers; w++) if (isLate[w] === 0 && table[w]?.job === job) count++;
    return count >= this.workers - this.s;
  }

  onRoundResult(round: number, lateWorkers: readonly number[]): void {
    check(round === this.history.length, 'EINVAL', () => `${this.scheme}: result for round ${round} but the next round is ${this.history.length}`);
    check(round < this.rounds, 'EINVAL', () => `${this.scheme}: round ${round} is past the last round ${this.rounds - 1}`);
    const late = normaliseLateSet(lateWorkers, this.workers, `${this.scheme}.onRoundResult`);
    const isLate = new Uint8Array(this.workers);
    for (const w of late) isLate[w] = 1;
    const table = this.table(round);
    for (let w = 0; w < this.workers; w++) {
      const task = table[w];
      if (task !== undefined && isLate[w] === 0) this.delivered[task.job * this.workers + w] = round;
    }
    this.history.push(late);
  }

  jobsDueAt(round: number): number[] {
    const job = round - this.delay;
    return job >= 0 && job < this.jobs ? [job] : [];
  }

  decodable(job: number): boolean {
    this.checkJob(job);
    return this.deliveredCount(job) >= this.workers - this.s;
  }

  decoderFor(job: number): DecoderTerm[] {
    this.checkJob(job);
    const responders: number[] = [];
    for (let w = 0; w < this.workers; w++) if (this.delivered[job * this.workers + w] >= 0) responders.push(w);
    if (responders.length < this.workers - this.s) {
      throw new ZcollError('ENUMERIC', `${this.scheme}: job ${job} is not decodable: ${responders.length} of ${this.workers} workers delivered, need ${this.workers - this.s} (s=${this.s})`, { op: 'decoderFor', details: { job, responders } });
    }
    const a = this.code.decodeVector(responders);
    const terms: DecoderTerm[] = [];
    for (const w of responders) {
      if (a[w] === 0) continue;
      terms.push({ worker: w, round: this.delivered[job * this.workers + w], task: { job, kind: 'gc', index: w }, coefficient: a[w] });
    }
    return terms;
  }

  /** Late sets recorded so far, one per round (wait-outs are empty). */
  get stragglerHistory(): readonly (readonly number[])[] {
    return this.history;
  }

  private deliveredCount(job: number): number {
    let count = 0;
    for (let w = 0; w < this.workers; w++) if (this.delivered[job * this.workers + w] >= 0) count++;
    return count;
  }

  /** Per worker, its task in `round`; computed once from the history before that round. */
  private table(round: number): (CodedTask | undefined)[] {
    check(Number.isInteger(round) && round >= 0 && round < this.rounds, 'EINVAL', () => `${this.scheme}: round ${String(round)} is not in [0, ${this.rounds})`);
    check(round <= this.history.length, 'EINVAL', () => `${this.scheme}: tasks of round ${round} depend on round ${this.history.length}, not recorded yet`);
    const cached = this.tables[round];
    if (cached !== undefined) return cached;
    const table: (CodedTask | undefined)[] = new Array(this.workers).fill(undefined);
    if (round < this.jobs) for (let w = 0; w < this.workers; w++) table[w] = { job: round, kind: 'gc', index: w };
    const job = round - this.delay;
    if (this.delay > 0 && job >= 0 && job < this.jobs) {
      const missing: number[] = [];
      for (let w = 0; w < this.workers; w++) if (this.delivered[job * this.workers + w] < 0) missing.push(w);
      const repeats = missing.length - this.s;
      for (let k = 0; k < repeats; k++) table[missing[k]] = { job, kind: 'gc', index: missing[k] };
    }
    this.tables[round] = table;
    return table;
  }

  private checkWorker(worker: number): void {
    check(Number.isInteger(worker) && worker >= 0 && worker < this.workers, 'EINVAL', () => `${this.scheme}: worker ${String(worker)} is not in [0, ${this.workers})`);
  }

  private checkJob(job: number): void {
    check(Number.isInteger(job) && job >= 0 && job < this.jobs, 'EINVAL', () => `${this.scheme}: job ${String(job)} is not in [0, ${this.jobs})`);
  }
}

function checkWorkers(scheme: string, workers: number): void {
  check(Number.isInteger(workers) && workers >= 1, 'EINVAL', () => `${scheme}: workers must be an integer >= 1, got ${String(workers)}`);
}
