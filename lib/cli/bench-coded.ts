/**
 * `zcoll bench coded`: straggler-tolerant gradient aggregation by coded computing, timed on real ranks.
 * Rank 0 is the master (lib/coding/runtime.ts runCodedMaster), ranks 1..n-1 are workers 0..n-2
 * (runCodedWorker), with a scheduler of lib/coding/sequential.ts:
 *   none   uncoded, wait for all (GC with s = 0: every late worker forces a wait-out);
 *   gc     gradient coding GC(n, s) (Tandon et al., ICML 2017), delay T = 0;
 *   srsgc  SR-SGC(B, W, lambda) and msgc M-SGC(B, W, lambda) (Krishnan, Ebrahimi, Khisti, ICLR 2023).
 * Per size, one run of --jobs jobs (jobs + T rounds) with the authors' deadline rule (1 + mu) x fastest.
 * The task is synthetic and deterministic: job t has SAMPLES samples, sample i's gradient element k is
 * ((31 i + 17 k + 7 t) mod 23) - 11; a worker really sums the samples of its partitions (cost
 * load x SAMPLES x d per round) and sleeps --work-ms x load x workers to stand for a model's compute,
 * which the straggler model (--stragglers, comm ranks; rank 0 is the master and never straggles)
 * stretches at the worker's fault seam. Every decoded job is checked against the uncoded sum computed
 * independently (per residue of 17 k + 7 t mod 23, O(d)), within the rounding the decoding can add:
 * #wrong counts elements outside it. time = the run's wall time (checks excluded) / jobs;
 * algbw = d x bytes / time; busbw = algbw (nccl-tests' reduce factor: the master gathers one vector).
 */
import type { Communicator } from '../comm/communicator.js';
import { ZcollError } from '../errors.js';
import { describePlan, type FaultPlan } from '../faults/plan.js';
import { createStragglerModel, type StragglerModel, type StragglerSpec } from '../faults/stragglers.js';
import { kernels } from '../kernels/index.js';
import { runCodedMaster, runCodedWorker, type CodedMessageDType, type PartitionSlice } from '../coding/runtime.js';
import { createScheduler, normalisedLoad, schemeDelay, type CodedScheduler, type SchedulerOptions } from '../coding/sequential.js';
import { tableFooter, tableHeader, tableRow, type BenchRow, type TableStyle } from './bench-table.js';
import { rankProgress } from './progress.js';
import { sizeSweep } from './sizes.js';
import { TraceRecorder, writeTrace } from './trace.js';

export const CODED_SCHEMES = ['none', 'gc', 'srsgc', 'msgc'] as const;
export type CodedBenchScheme = (typeof CODED_SCHEMES)[number];

/** The code's parameters from the command line (undefined: not given). */
export interface CodedBenchParams {
  scheme?: string;
  s?: number;
  B?: number;
  W?: number;
  lambda?: number;
  mu?: number;
  jobs?: number;
  /** Emulated work of a worker per round at the uncoded load 1/n, ms (scaled by the scheme's load). */
  workMs?: number;
}

/** Samples per job of the synthetic task. */
export const SAMPLES = 120;
const RESIDUES = 23;
const DEFAULT_WORK_MS = 10;

/** Element k of sample i's gradient in job `job`: a small integer, so partition sums are exact. */
export function sampleGradient(job: number, i: number, k: number): number {
  return ((31 * i + 17 * k + 7 * job) % RESIDUES) - 11;
}

function integerParam(name: string, v: number | undefined, min: number, scheme: string): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= min)) throw new ZcollError('EINVAL', `zcoll bench coded --scheme ${scheme}: --${name} must be an integer >= ${min}, got ${String(v)}`);
}

/** The checks that need no world size: scheme, parameter types, and parameters the scheme takes. */
export function checkCodedParams(p: CodedBenchParams): CodedBenchScheme {
  const scheme = p.scheme ?? 'gc';
  if (!(CODED_SCHEMES as readonly string[]).includes(scheme)) throw new ZcollError('EINVAL', `zcoll bench coded: --scheme: unknown scheme '${scheme}' (one of ${CODED_SCHEMES.join(', ')})`);
  const where = `zcoll bench coded --scheme ${scheme}`;
  integerParam('s', p.s, 0, scheme);
  integerParam('B', p.B, 1, scheme);
  integerParam('W', p.W, 2, scheme);
  integerParam('lambda', p.lambda, 1, scheme);
  integerParam('jobs', p.jobs, 1, scheme);
  if (p.mu !== undefined && !(Number.isFinite(p.mu) && p.mu >= 0)) throw new ZcollError('EINVAL', `${where}: --mu must be a finite number >= 0, got ${String(p.mu)}`);
  if (p.workMs !== undefined && !(Number.isFinite(p.workMs) && p.workMs >= 0)) throw new ZcollError('EINVAL', `${where}: --work-ms must be a finite number >= 0, got ${String(p.workMs)}`);
  const given = (['s', 'B', 'W', 'lambda'] as const).filter((k) => p[k] !== undefined);
  const allowed: readonly string[] = scheme === 'gc' ? ['s'] : scheme === 'none' ? [] : ['B', 'W', 'lambda'];
  const stray = given.find((k) => !allowed.includes(k));
  if (stray !== undefined) throw new ZcollError('EINVAL', `${where}: --${stray} does not apply (${allowed.length === 0 ? 'none takes no code parameters' : `${scheme} takes ${allowed.map((a) => `--${a}`).join(', ')}`})`);
  return scheme as CodedBenchScheme;
}

/**
 * The scheduler options of the command line for `ranks` ranks (one master, ranks - 1 workers);
 * throws EINVAL naming the bad scheme or parameter. Called before any rank starts when the world
 * size is known there, and on every rank.
 */
export function codedSchedulerOptions(p: CodedBenchParams, ranks: number, defaultJobs: number): SchedulerOptions {
  const scheme = checkCodedParams(p);
  const where = `zcoll bench coded --scheme ${scheme}`;
  if (!(Number.isInteger(ranks) && ranks >= 2)) throw new ZcollError('EINVAL', `${where}: needs at least 2 ranks (rank 0 is the master, the others workers), got ${ranks}`);
  const workers = ranks - 1;
  const jobs = p.jobs ?? defaultJobs;
  integerParam('jobs', jobs, 1, scheme);
  let options: SchedulerOptions;
  if (scheme === 'none') options = { scheme: 'gc', workers, jobs, s: 0 };
  else if (scheme === 'gc') {
    const s = p.s ?? 1;
    if (s >= workers) throw new ZcollError('EINVAL', `${where}: --s ${s} must be < the ${workers} workers (${ranks} ranks, rank 0 is the master)`);
    options = { scheme: 'gc', workers, jobs, s };
  } else options = { scheme: scheme === 'srsgc' ? 'sr-sgc' : 'm-sgc', workers, jobs, B: p.B ?? 1, W: p.W ?? 2, lambda: p.lambda ?? 1 };
  try {
    createScheduler(options); // the code's own checks (W - 1 divisible by B, lambda < n, ...)
  } catch (e) {
    // The code's message without its 'EINVAL: ' prefix: this error carries the code.
    const m = (e instanceof Error ? e.message : String(e)).replace(/^[A-Z]+: /, '');
    throw new ZcollError('EINVAL', `${where}: ${m} (${workers} workers: ${ranks} ranks, rank 0 is the master)`, {}, { cause: e });
  }
  return options;
}

/** What else the plan and flags must satisfy for coded runs (before any rank starts). */
export function checkCodedPlan(plan: FaultPlan, ranks: number | undefined): void {
  if (plan.byzantine.length > 0) throw new ZcollError('EINVAL', 'zcoll bench coded: --byzantine is not supported (the coded runtime injects stragglers only)');
  if (plan.kill !== undefined) throw new ZcollError('EINVAL', 'zcoll bench coded: --kill is not supported (the coded runtime injects stragglers only)');
  const s = plan.stragglers;
  if (s !== undefined && s.kind === 'fixed') {
    if (s.ranks.includes(0)) throw new ZcollError('EINVAL', `zcoll bench coded: --stragglers fixed: rank 0 is the master; straggling ranks must be workers 1..${ranks !== undefined ? ranks - 1 : 'n-1'}`);
    if (ranks !== undefined) createStragglerModel(s, { size: ranks });
  }
}

/** The plan's straggler model, read with comm ranks: worker w is rank w + 1. */
class WorkerRankStragglers implements StragglerModel {
  constructor(private readonly byRank: StragglerModel) {}
  get spec(): StragglerSpec {
    return this.byRank.spec;
  }
  isSlow(worker: number, round: number): boolean {
    return this.byRank.isSlow(worker + 1, round);
  }
  durationFor(worker: number, round: number, baseMs: number): number {
    return this.byRank.durationFor(worker + 1, round, baseMs);
  }
  delayFor(worker: number, round: number, baseMs: number): number {
    return this.byRank.delayFor(worker + 1, round, baseMs);
  }
}

/** Per residue rho of (17 k + 7 t) mod 23: the sum over samples and the sum of magnitudes. */
export function referenceTables(): { sum: Float64Array; abs: Float64Array } {
  const sum = new Float64Array(RESIDUES);
  const abs = new Float64Array(RESIDUES);
  for (let rho = 0; rho < RESIDUES; rho++) {
    for (let i = 0; i < SAMPLES; i++) {
      const v = ((31 * i + rho) % RESIDUES) - 11;
      sum[rho] += v;
      abs[rho] += Math.abs(v);
    }
  }
  return { sum, abs };
}

/** A worker's gradient of one partition: the samples floor(start N) .. floor(end N) - 1, summed. */
function partitionGradient(job: number, slice: PartitionSlice, d: number): Float64Array {
  const acc = new Float64Array(d);
  for (let i = Math.floor(slice.start * SAMPLES); i < Math.floor(slice.end * SAMPLES); i++) {
    const base = 31 * i + 7 * job;
    for (let k = 0; k < d; k++) acc[k] += ((base + 17 * k) % RESIDUES) - 11;
  }
  return acc;
}

/**
 * Elements of a decoded job outside the rounding bound: each message element is within u |msg| of
 * its exact value (u: the message dtype's unit roundoff, float64 accumulation adds far less for
 * float32), |msg| <= sum|b| x abs, so the decoding is within u x sum_j |c_j| sum_p |b_jp| x abs (x4 slack).
 */
export function countWrong(job: number, got: Float64Array, scheduler: CodedScheduler, dtype: CodedMessageDType, ref: { sum: Float64Array; abs: Float64Array }): number {
  let weight = 0;
  for (const term of scheduler.decoderFor(job)) {
    let b = 0;
    for (const e of scheduler.encodingFor(term.worker, term.task)) b += Math.abs(e.coefficient);
    weight += Math.abs(term.coefficient) * b;
  }
  const u = dtype === 'float32' ? 2 ** -24 : 2 ** -50;
  const scale = 4 * u * Math.max(1, weight);
  let wrong = 0;
  for (let k = 0; k < got.length; k++) {
    const rho = (17 * k + 7 * job) % RESIDUES;
    if (!(Math.abs(got[k] - ref.sum[rho]) <= scale * ref.abs[rho])) wrong++;
  }
  return wrong;
}

export interface CodedSweepOptions {
  minBytes: number;
  maxBytes: number;
  stepFactor: number;
  /** Untimed jobs run per size before the timed run (a run of their own). */
  warmup: number;
  /** Default of --jobs. */
  iters: number;
  check: boolean;
  dtype: string;
  coded: CodedBenchParams;
  plan: FaultPlan;
  quiet?: boolean;
  trace?: string;
}

/** Header values every rank reduces per row (sum; only the master's entries are non-zero where noted). */
const WRONG = 0;
const DELAYED_ROUNDS = 1;
const DELAYED_MSGS = 2;
const WAIT_OUTS = 3; // master
const LATE_ROUNDS = 4; // master
const TIME_US = 5; // master
const STATS = 6;

/** The coded sweep on one rank (collective: every rank calls it); rank 0 prints; every rank returns the rows. */
export async function codedSweep(comm: Communicator, o: CodedSweepOptions): Promise<BenchRow[]> {
  const n = comm.size;
  if (o.dtype !== 'float32' && o.dtype !== 'float64') throw new ZcollError('EINVAL', `zcoll bench coded: messages are float32 or float64, got -d ${o.dtype}`, { rank: comm.rank });
  const dtype: CodedMessageDType = o.dtype;
  const schedulerOptions = codedSchedulerOptions(o.coded, n, o.iters);
  checkCodedPlan(o.plan, n);
  const scheme = o.coded.scheme ?? 'gc';
  const mu = o.coded.mu ?? 1;
  const workMs = o.coded.workMs ?? DEFAULT_WORK_MS;
  const jobs = schedulerOptions.jobs;
  const load = normalisedLoad(schedulerOptions);
  const delay = schemeDelay(schedulerOptions);
  const workers = n - 1;
  const stragglers = o.plan.stragglers !== undefined ? new WorkerRankStragglers(createStragglerModel(o.plan.stragglers, { size: n, seed: o.plan.seed })) : undefined;
  const elementBytes = dtype === 'float64' ? 8 : 4;
  const sizes = [...new Set(sizeSweep(o.minBytes, o.maxBytes, o.stepFactor).map((s) => Math.floor(s / elementBytes) * elementBytes))].filter((s) => s > 0);
  if (sizes.length === 0) throw new ZcollError('EINVAL', `no size in ${o.minBytes}..${o.maxBytes} bytes holds a whole ${dtype} element`, { rank: comm.rank });
  const planText = describePlan(o.plan);
  const params = scheme === 'gc' ? `s=${'s' in schedulerOptions ? schedulerOptions.s : 0}` : scheme === 'none' ? 'wait for all' : 'B' in schedulerOptions ? `B=${schedulerOptions.B} W=${schedulerOptions.W} lambda=${schedulerOptions.lambda}` : '';
  const style: TableStyle = { faults: false, coded: true };
  const print = (line: string): void => {
    if (comm.rank === 0) process.stdout.write(`${line}\n`);
  };
  print(`# zcoll bench coded: ${n} ranks (master 0, ${workers} workers), scheme ${scheme} ${params} (delay T=${delay}, load ${load.toFixed(3)}), mu ${mu}, jobs ${jobs}, warmup ${o.warmup}, work ${workMs} ms x load x ${workers}, kernels ${kernels.name}, check ${o.check ? 'on' : 'off'}`);
  print(`# faults: ${planText}; time = wall time per job; wait-out: rounds the master waited for all; late-rnd: rounds ended without late workers`);
  print('#');
  for (const l of tableHeader(style)) print(l);

  const ref = referenceTables();
  const progress = comm.rank === 0 ? rankProgress(o.quiet === true) : undefined;
  const totalJobs = sizes.length * (o.warmup + jobs);
  let jobsDone = 0;
  const recorder = o.trace !== undefined ? new TraceRecorder(comm) : undefined;
  if (recorder !== undefined) {
    await comm.barrier();
    recorder.start();
  }

  /** One run of `runJobs` jobs at gradient length d; returns this rank's share of the row's stats and the round times. */
  const runOnce = async (d: number, runJobs: number, label: string): Promise<{ stats: Float64Array; roundUs: Float64Array }> => {
    const stats = new Float64Array(STATS);
    const roundUs = new Float64Array(runJobs + delay);
    const options = { ...schedulerOptions, jobs: runJobs } as SchedulerOptions;
    if (comm.rank === 0) {
      const scheduler = createScheduler(options);
      let checkMs = 0;
      const report = await runCodedMaster(comm, {
        scheduler,
        dimension: d,
        dtype,
        mu,
        onJob: (job, gradient) => {
          const t0 = performance.now();
          if (o.check) stats[WRONG] += countWrong(job, gradient, scheduler, dtype, ref);
          progress?.update({ done: ++jobsDone, total: totalJobs, label });
          recorder?.mark(`job ${job} decoded`, { job, d });
          checkMs += performance.now() - t0;
        },
      });
      stats[WAIT_OUTS] = report.waitOuts;
      stats[LATE_ROUNDS] = report.lateRounds;
      stats[TIME_US] = ((report.wallMs - checkMs) * 1000) / runJobs;
      report.rounds.forEach((r, i) => (roundUs[i] = r.roundMs * 1000));
    } else {
      const report = await runCodedWorker(comm, {
        dimension: d,
        dtype,
        partitionGradient: (job, slice) => partitionGradient(job, slice, d),
        ...(stragglers !== undefined ? { stragglers } : {}),
        emulatedWorkMs: (taskLoad) => workMs * taskLoad * workers,
      });
      stats[DELAYED_ROUNDS] = report.stragglers?.delayedRounds ?? 0;
      stats[DELAYED_MSGS] = report.stragglers?.delayedMessages ?? 0;
    }
    return { stats, roundUs };
  };

  const rows: BenchRow[] = [];
  try {
    for (const size of sizes) {
      const d = size / elementBytes;
      const label = `coded ${scheme} ${size} B`;
      recorder?.mark(`size ${size}`, { size });
      if (o.warmup > 0) await runOnce(d, o.warmup, label);
      const { stats, roundUs } = await runOnce(d, jobs, label);
      // The reductions of the results report, they are not measured.
      recorder?.pause();
      const sums = await comm.allReduce(stats, { op: 'sum' });
      const times = await comm.allReduce(roundUs, { op: 'sum' });
      recorder?.resume();
      const timeUs = sums[TIME_US];
      const algbw = size / (timeUs * 1e-6) / 1e9;
      const row: BenchRow = {
        collective: 'coded',
        algorithm: scheme,
        ranks: n,
        size,
        count: d,
        type: dtype,
        redop: 'sum',
        root: 0,
        time_us: timeUs,
        algbw,
        busbw: algbw,
        wrong: sums[WRONG],
        late_steps: sums[DELAYED_ROUNDS],
        delayed_msgs: sums[DELAYED_MSGS],
        corrupted_msgs: 0,
        excluded: 0,
        times_us: Array.from(times, (t) => Math.max(t, 1e-3)),
        faults: planText,
        jobs,
        wait_outs: sums[WAIT_OUTS],
        late_rounds: sums[LATE_ROUNDS],
      };
      rows.push(row);
      print(tableRow(row, style));
    }
  } finally {
    progress?.stop();
  }
  for (const l of tableFooter(rows)) print(l);
  if (recorder !== undefined) {
    const events = await recorder.gather();
    if (events !== null) writeTrace(o.trace!, events);
  }
  return rows;
}
