/**
 * Gradient coding at run time, on a Communicator: a master (rank 0 by default) drives a CodedScheduler
 * (GC, SR-SGC or M-SGC, sequential.ts) over real worker processes, with the authors' runtime rule
 * (Krishnan, Ebrahimi, Khisti, ICLR 2023, `perform_round`):
 *   each round the master sends every worker its tasks; it waits for the fastest worker (time f from
 *   the round's start), sets the deadline (1 + μ) f, and if the workers not done by then form a late
 *   set the scheme accepts, the round ends and their results are dropped; otherwise it waits for all
 *   and counts a wait-out. At the end of round t + T it decodes job t (Σ coefficient · message, float64)
 *   and delivers it.
 * Workers are scheme-agnostic: each task names the partitions (as fractions of the job's data) and the
 * coefficients of its coded combination; a user callback computes the gradients.
 *
 * Wire (point to point, in order per (src, tag)):
 *   master → worker, tag `tag`:     Int32Array [L] (L = 0: stop), then Float64Array(L):
 *     [round, worker, oldestLiveJob, nInputs, nTasks, (job, length, values…) × nInputs,
 *      (job, kind, index, load, nTerms, (partition, coefficient, start, end) × nTerms) × nTasks]
 *   worker → master, tag `tag + 1`: one message per task, [round, worker, job, kind, index, slot,
 *     nTasks, 0, gradient…] in the run's dtype (round = −1: the worker is done).
 * Every result carries (round, worker, job, kind, index), so a late result that arrives after its round
 * was closed is recognised and dropped: it never enters a later job's decoding.
 *
 * Stragglers are injected at the worker's fault seam (straggler-seam.ts) from a straggler model.
 * Cost per round: one task message per worker (O(tasks · terms + job input)), one result message per
 * task (gradient length d); decoding O(terms · d) per job, plus the code's per-pattern solve.
 */
import { ZcollError, check, isZcollError } from '../errors.js';
import type { NumericArray } from '../dtype.js';
import type { Communicator } from '../comm/communicator.js';
import type { StragglerModel, StragglerSpec } from '../faults/stragglers.js';
import type { CodedScheduler, CodedTask, TaskKind } from './coded-task.js';
import { acceptRound } from './sequential.js';
import { StragglerSeam, type StragglerSeamCounters } from './straggler-seam.js';

export type CodedMessageDType = 'float32' | 'float64';

/** Default base tag: tasks on `tag`, results on `tag + 1`. */
export const CODED_TAG = 0x5c0d00;
const RESULT_HEADER = 8;
const KIND_CODES: readonly TaskKind[] = ['gc', 'd1', 'd2'];
/** Round and job numbers travel inside float32 messages: integers stay exact below 2^24. */
const MAX_ROUNDS = 1 << 24;

/** One partition of a job's data: the samples in [start, end) of [0, 1) (take floor(start·N)..floor(end·N)). */
export interface PartitionSlice {
  readonly partition: number;
  readonly start: number;
  readonly end: number;
}

export interface CodedTerm {
  readonly slice: PartitionSlice;
  readonly coefficient: number;
}

export interface CodedWorkItem {
  readonly round: number;
  readonly job: number;
  readonly kind: TaskKind;
  readonly index: number;
  /** Normalised computation of the task (fraction of one job's data, times the code's repetition). */
  readonly load: number;
  readonly terms: readonly CodedTerm[];
}

// ---------------------------------------------------------------------------- master

export interface CodedMasterOptions {
  scheduler: CodedScheduler;
  /** Gradient length d. */
  dimension: number;
  /** Element type of the result messages (default float32; decoding is float64 either way). */
  dtype?: CodedMessageDType;
  /** Deadline factor of the runtime rule (default 1: deadline = 2 × fastest). */
  mu?: number;
  /** Comm ranks of workers 0..n−1 (default: every rank but the master, ascending). */
  workerRanks?: readonly number[];
  /** The job's input (e.g. model parameters), sent to every worker in round `job`. */
  jobInput?: (job: number) => NumericArray | Promise<NumericArray>;
  /** Receives each decoded job, in job order, at the end of its round t + T. */
  onJob?: (job: number, gradient: Float64Array, round: number) => void | Promise<void>;
  /** Longest wait for a worker's results (default: the communicator's timeout). */
  timeoutMs?: number;
  /** Base tag (default CODED_TAG); the workers must use the same. */
  tag?: number;
  /** Largest |coefficient| applied to float32 messages (default 1e4, as GradientCode's maxFloat32Coefficient). */
  maxFloat32Coefficient?: number;
}

export interface CodedRoundRecord {
  readonly round: number;
  /** Workers with tasks this round. */
  readonly active: number;
  /** Workers whose results were dropped (the round was accepted without them). */
  readonly late: readonly number[];
  /** Workers past the deadline, whatever the decision. */
  readonly pastDeadline: readonly number[];
  readonly waitOut: boolean;
  readonly fastestMs: number;
  readonly deadlineMs: number;
  /** Measured: from sending the tasks to the decision (including any wait-out). */
  readonly roundMs: number;
  /** Per worker, when its last result arrived (ms from the round's start); NaN: idle, or not by the decision. */
  readonly finishMs: readonly number[];
  readonly decodedJobs: readonly number[];
}

export interface CodedRunReport {
  readonly scheme: string;
  readonly workers: number;
  readonly jobs: number;
  readonly delay: number;
  readonly load: number;
  readonly rounds: readonly CodedRoundRecord[];
  readonly waitOuts: number;
  /** Rounds accepted with at least one late worker. */
  readonly lateRounds: number;
  /** Result messages that arrived for a closed round (or from a dropped worker) and were discarded. */
  readonly staleResults: number;
  readonly wallMs: number;
  /** Time spent decoding, ms. */
  readonly decodeMs: number;
}

interface RoundState {
  readonly round: number;
  readonly start: number;
  readonly tasks: readonly CodedTask[][];
  readonly got: Int32Array;
  readonly finish: Float64Array;
  /** Per worker, the results received this round (slot → message). */
  readonly pending: Map<number, NumericArray>[];
  decided: boolean;
}

/** Wakes the master when a result arrives (or a receive loop fails). */
class Signal {
  private waiters: (() => void)[] = [];
  notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, Math.min(ms, 0x7fffffff)));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

export async function runCodedMaster(comm: Communicator, options: CodedMasterOptions): Promise<CodedRunReport> {
  const op = 'coded-master';
  const { scheduler, dimension } = options;
  const dtype = options.dtype ?? 'float32';
  const mu = options.mu ?? 1;
  const tag = options.tag ?? CODED_TAG;
  const timeoutMs = options.timeoutMs ?? comm.timeoutMs;
  const maxF32 = options.maxFloat32Coefficient ?? 1e4;
  const n = scheduler.workers;
  check(Number.isInteger(dimension) && dimension >= 1, 'EINVAL', () => `${op}: dimension must be an integer >= 1, got ${String(dimension)}`, { rank: comm.rank, op });
  check(dtype === 'float32' || dtype === 'float64', 'EINVAL', () => `${op}: dtype must be 'float32' or 'float64', got ${String(dtype)}`, { rank: comm.rank, op });
  check(Number.isFinite(mu) && mu >= 0, 'EINVAL', () => `${op}: mu must be a finite number >= 0, got ${String(mu)}`, { rank: comm.rank, op });
  check(Number.isInteger(tag) && tag >= 0 && tag < 0x7fffffff, 'EINVAL', () => `${op}: tag must be an integer in [0, 2^31 - 1), got ${String(tag)}`, { rank: comm.rank, op });
  check(Number.isFinite(timeoutMs) && timeoutMs > 0, 'EINVAL', () => `${op}: timeoutMs must be > 0, got ${String(timeoutMs)}`, { rank: comm.rank, op });
  check(scheduler.rounds < MAX_ROUNDS, 'EINVAL', () => `${op}: ${scheduler.rounds} rounds exceed ${MAX_ROUNDS}`, { rank: comm.rank, op });
  check(scheduler.roundsRecorded === 0, 'EINVAL', () => `${op}: the scheduler has already recorded ${scheduler.roundsRecorded} rounds; give a fresh one`, { rank: comm.rank, op });
  const ranks = options.workerRanks !== undefined ? [...options.workerRanks] : Array.from({ length: comm.size }, (_, r) => r).filter((r) => r !== comm.rank);
  check(ranks.length === n, 'EINVAL', () => `${op}: the scheduler has ${n} workers but ${ranks.length} worker ranks were given (${ranks.join(',')})`, { rank: comm.rank, op });
  check(new Set(ranks).size === n && ranks.every((r) => Number.isInteger(r) && r >= 0 && r < comm.size && r !== comm.rank), 'EINVAL', () => `${op}: worker ranks must be distinct ranks of 0..${comm.size - 1} other than the master ${comm.rank}, got ${ranks.join(',')}`, { rank: comm.rank, op });

  // Cumulative partition boundaries, computed once so every term of every worker cuts the data at the
  // same points (the partitions tile [0, 1) exactly; the last one ends at 1).
  const fractions = scheduler.partitionFractions;
  const bounds = new Float64Array(fractions.length + 1);
  for (let p = 0; p < fractions.length; p++) bounds[p + 1] = bounds[p] + fractions[p];
  bounds[fractions.length] = 1;

  const signal = new Signal();
  const messageLength = RESULT_HEADER + dimension;
  const store = new Map<number, Map<string, NumericArray>>(); // job → (round/worker/kind/index → message)
  const rounds: CodedRoundRecord[] = [];
  let state: RoundState | undefined;
  let finished = false;
  let staleResults = 0;
  let failure: ZcollError | undefined;
  const byes = new Uint8Array(n);

  const fail = (e: ZcollError): void => {
    failure ??= e;
    signal.notify();
  };

  const onResult = (w: number, msg: NumericArray): void => {
    const round = msg[0];
    if (msg[1] !== w) return fail(new ZcollError('EPROTO', `worker ${w} (rank ${ranks[w]}) sent a result labelled worker ${msg[1]}`, { rank: comm.rank, op, peer: ranks[w] }));
    if (round === -1) {
      byes[w] = 1;
      signal.notify();
      return;
    }
    const s = state;
    if (s === undefined || round < s.round || finished || (round === s.round && s.decided)) {
      staleResults++;
      return;
    }
    if (round > s.round) return fail(new ZcollError('EPROTO', `worker ${w} sent a result for round ${round} during round ${s.round}`, { rank: comm.rank, op, peer: ranks[w] }));
    const slot = msg[5];
    const task = s.tasks[w][slot];
    if (task === undefined || msg[6] !== s.tasks[w].length || task.job !== msg[2] || KIND_CODES[msg[3]] !== task.kind || task.index !== msg[4] || s.pending[w].has(slot)) {
      return fail(new ZcollError('EPROTO', `worker ${w} sent an unexpected result (round ${round}, job ${msg[2]}, kind ${msg[3]}, index ${msg[4]}, slot ${slot})`, { rank: comm.rank, op, peer: ranks[w] }));
    }
    s.pending[w].set(slot, msg);
    s.got[w]++;
    if (s.got[w] === s.tasks[w].length) {
      s.finish[w] = performance.now() - s.start;
      signal.notify();
    }
  };

  // One receive loop per worker: results of one worker arrive in order, whoever is fastest.
  const loops = ranks.map(async (rank, w) => {
    while (byes[w] === 0 && failure === undefined) {
      let msg: NumericArray;
      try {
        msg = await comm.recv({ dtype, count: messageLength }, rank, { tag: tag + 1, timeoutMs });
      } catch (e) {
        // An idle worker may legitimately be silent for long; the master's own waits time out instead.
        if (isZcollError(e, 'ETIMEDOUT')) continue;
        fail(isZcollError(e) ? e : new ZcollError('EINTERNAL', `receiving from worker ${w}: ${(e as Error).message}`, { rank: comm.rank, op, peer: rank }, { cause: e }));
        return;
      }
      onResult(w, msg);
    }
  });

  /** Waits until `done()` holds, failing after `timeoutMs` without progress or on a receive error. */
  const waitFor = async (done: () => boolean, until: number, what: () => string): Promise<void> => {
    let lastProgress = performance.now();
    let seen = -1;
    for (;;) {
      if (failure !== undefined) throw failure;
      if (done()) return;
      const now = performance.now();
      if (now >= until) return;
      const progress = state === undefined ? 0 : state.got.reduce((a, b) => a + b, 0) + byes.reduce((a, b) => a + b, 0);
      if (progress !== seen) {
        seen = progress;
        lastProgress = now;
      } else if (now - lastProgress >= timeoutMs) {
        throw new ZcollError('ETIMEDOUT', `no result within ${timeoutMs} ms: ${what()}`, { rank: comm.rank, op });
      }
      await signal.wait(Math.min(until - now, lastProgress + timeoutMs - now));
    }
  };

  const began = performance.now();
  let decodeMs = 0;
  let waitOuts = 0;
  let lateRounds = 0;
  let oldestLiveJob = 0;
  try {
    for (let r = 0; r < scheduler.rounds; r++) {
      const tasks: CodedTask[][] = [];
      for (let w = 0; w < n; w++) tasks.push(scheduler.tasksFor(r, w));
      const inputs: { job: number; values: NumericArray }[] = [];
      if (r < scheduler.jobs && options.jobInput !== undefined) {
        const values = await options.jobInput(r);
        check(values !== null && typeof values === 'object' && typeof values.length === 'number', 'EINVAL', () => `${op}: jobInput(${r}) must return a typed array`, { rank: comm.rank, op });
        inputs.push({ job: r, values });
      }
      const s: RoundState = {
        round: r,
        start: performance.now(),
        tasks,
        got: new Int32Array(n),
        finish: new Float64Array(n).fill(Number.NaN),
        pending: Array.from({ length: n }, () => new Map<number, NumericArray>()),
        decided: false,
      };
      state = s;
      await Promise.all(ranks.map((rank, w) => sendTasks(comm, rank, tag, encodeTasks(r, w, oldestLiveJob, inputs, tasks[w], scheduler, bounds))));

      const active: number[] = [];
      for (let w = 0; w < n; w++) if (tasks[w].length > 0) active.push(w);
      const anyDone = (): boolean => active.some((w) => !Number.isNaN(s.finish[w]));
      const allDone = (): boolean => active.every((w) => !Number.isNaN(s.finish[w]));
      const missing = (): string => `round ${r}, waiting for workers ${active.filter((w) => Number.isNaN(s.finish[w])).join(',')}`;
      let late: number[] = [];
      let pastDeadline: number[] = [];
      let waitOut = false;
      let fastestMs = 0;
      let deadlineMs = 0;
      if (active.length > 0) {
        await waitFor(anyDone, Number.POSITIVE_INFINITY, missing);
        fastestMs = Math.min(...active.map((w) => s.finish[w]).filter((t) => !Number.isNaN(t)));
        deadlineMs = (1 + mu) * fastestMs;
        await waitFor(allDone, s.start + deadlineMs, missing);
        // The authors' rule on what is known at the deadline: a worker not done yet finishes "at infinity".
        const finishTimes = Float64Array.from(s.finish, (t, w) => (tasks[w].length === 0 ? Number.NaN : Number.isNaN(t) ? Number.POSITIVE_INFINITY : t));
        const outcome = acceptRound(finishTimes, mu, scheduler);
        pastDeadline = outcome.pastDeadline;
        if (outcome.waitOut) {
          waitOut = true;
          waitOuts++;
          await waitFor(allDone, Number.POSITIVE_INFINITY, missing);
        } else late = outcome.late;
      }
      s.decided = true;
      const isLate = new Uint8Array(n);
      for (const w of late) isLate[w] = 1;
      for (let w = 0; w < n; w++) {
        if (isLate[w] === 1) {
          staleResults += s.pending[w].size; // part of a dropped round: never used
          continue;
        }
        for (const [slot, msg] of s.pending[w]) {
          const task = tasks[w][slot];
          let perJob = store.get(task.job);
          if (perJob === undefined) store.set(task.job, (perJob = new Map()));
          perJob.set(messageKey(r, w, task), msg);
        }
      }
      scheduler.onRoundResult(r, late);
      if (late.length > 0) lateRounds++;
      const roundMs = performance.now() - s.start;

      const decodedJobs: number[] = [];
      for (const job of scheduler.jobsDueAt(r)) {
        const t0 = performance.now();
        const gradient = decodeJob(job, scheduler, store.get(job), dimension, dtype, maxF32, comm.rank);
        store.delete(job);
        decodeMs += performance.now() - t0;
        decodedJobs.push(job);
        oldestLiveJob = job + 1;
        if (options.onJob !== undefined) await options.onJob(job, gradient, r);
      }
      rounds.push({ round: r, active: active.length, late, pastDeadline, waitOut, fastestMs, deadlineMs, roundMs, finishMs: Array.from(s.finish), decodedJobs });
    }
    finished = true;
    await Promise.all(ranks.map((rank) => comm.send(new Int32Array([0]), rank, { tag })));
    await waitFor(() => byes.every((b) => b === 1), Number.POSITIVE_INFINITY, () => `the end of the run, waiting for workers ${[...byes.keys()].filter((w) => byes[w] === 0).join(',')} to finish`);
  } catch (e) {
    failure ??= isZcollError(e) ? e : new ZcollError('EINTERNAL', (e as Error).message, { rank: comm.rank, op }, { cause: e });
    throw failure;
  } finally {
    finished = true;
    if (failure === undefined) await Promise.all(loops);
  }
  return {
    scheme: scheduler.scheme,
    workers: n,
    jobs: scheduler.jobs,
    delay: scheduler.delay,
    load: scheduler.load,
    rounds,
    waitOuts,
    lateRounds,
    staleResults,
    wallMs: performance.now() - began,
    decodeMs,
  };
}

function messageKey(round: number, worker: number, task: CodedTask): string {
  return `${round}/${worker}/${task.kind}/${task.index}`;
}

function decodeJob(job: number, scheduler: CodedScheduler, messages: Map<string, NumericArray> | undefined, dimension: number, dtype: CodedMessageDType, maxF32: number, rank: number): Float64Array {
  const terms = scheduler.decoderFor(job);
  const out = new Float64Array(dimension);
  for (const term of terms) {
    const msg = messages?.get(messageKey(term.round, term.worker, term.task));
    if (msg === undefined) {
      throw new ZcollError('EINTERNAL', `job ${job}: the decoder needs the result of worker ${term.worker} in round ${term.round} (${term.task.kind} ${term.task.index}), which was not kept`, { rank, op: 'coded-master' });
    }
    const c = term.coefficient;
    if (dtype === 'float32' && Math.abs(c) > maxF32) {
      throw new ZcollError('ENUMERIC', `job ${job}: decoding coefficient ${c.toExponential(2)} exceeds ${maxF32} for float32 messages (the decoder's coefficients must fit a float32 with room to spare); use float64 messages or a code with smaller coefficients (FRC)`, { rank, op: 'coded-master', details: { job, worker: term.worker } });
    }
    for (let i = 0; i < dimension; i++) out[i] += c * msg[RESULT_HEADER + i];
  }
  for (let i = 0; i < dimension; i++) {
    if (!Number.isFinite(out[i])) {
      throw new ZcollError('ENUMERIC', `job ${job}: decoded gradient has a non-finite value at ${i} (a worker sent NaN or Inf)`, { rank, op: 'coded-master', details: { job, index: i } });
    }
  }
  return out;
}

function encodeTasks(
  round: number,
  worker: number,
  oldestLiveJob: number,
  inputs: readonly { job: number; values: NumericArray }[],
  tasks: readonly CodedTask[],
  scheduler: CodedScheduler,
  bounds: Float64Array,
): Float64Array {
  const head: number[] = [round, worker, oldestLiveJob, inputs.length, tasks.length];
  let length = head.length;
  for (const input of inputs) length += 2 + input.values.length;
  const encodings = tasks.map((t) => scheduler.encodingFor(worker, t));
  for (const e of encodings) length += 5 + 4 * e.length;
  const body = new Float64Array(length);
  body.set(head);
  let at = head.length;
  for (const input of inputs) {
    body[at++] = input.job;
    body[at++] = input.values.length;
    body.set(input.values, at);
    at += input.values.length;
  }
  tasks.forEach((task, k) => {
    body[at++] = task.job;
    body[at++] = KIND_CODES.indexOf(task.kind);
    body[at++] = task.index;
    body[at++] = scheduler.taskLoad(task);
    body[at++] = encodings[k].length;
    for (const term of encodings[k]) {
      body[at++] = term.partition;
      body[at++] = term.coefficient;
      body[at++] = bounds[term.partition];
      body[at++] = bounds[term.partition + 1];
    }
  });
  return body;
}

async function sendTasks(comm: Communicator, rank: number, tag: number, body: Float64Array): Promise<void> {
  await comm.send(new Int32Array([body.length]), rank, { tag });
  await comm.send(body, rank, { tag });
}

// ---------------------------------------------------------------------------- worker

export interface CodedWorkerOptions {
  /** Gradient length d (the master's `dimension`). */
  dimension: number;
  /** Element type of the result messages (the master's `dtype`; default float32). */
  dtype?: CodedMessageDType;
  master?: number;
  tag?: number;
  /**
   * The coded combination Σ coefficient · gradient(slice) of one task (length d). Give this or
   * `partitionGradient`.
   */
  computeGradient?: (job: number, terms: readonly CodedTerm[], input: Float64Array | undefined, item: CodedWorkItem) => NumericArray | Promise<NumericArray>;
  /** The gradient of one partition (length d); the runtime forms the combination in float64. */
  partitionGradient?: (job: number, slice: PartitionSlice, input: Float64Array | undefined) => NumericArray | Promise<NumericArray>;
  /** A straggler model: this worker's result messages are held at its fault seam (straggler-seam.ts). */
  stragglers?: StragglerModel | StragglerSpec | string;
  /** Emulated extra work per round from its normalised load (ms), e.g. standing for a larger model. */
  emulatedWorkMs?: (load: number) => number;
  /** Longest wait for the next round's tasks (default: the communicator's timeout). */
  timeoutMs?: number;
}

export interface CodedWorkerReport {
  readonly worker: number;
  readonly rounds: number;
  readonly tasks: number;
  /** Milliseconds of real computation (callbacks and combination). */
  readonly computeMs: number;
  readonly stragglers: Readonly<StragglerSeamCounters> | undefined;
}

export async function runCodedWorker(comm: Communicator, options: CodedWorkerOptions): Promise<CodedWorkerReport> {
  const op = 'coded-worker';
  const master = options.master ?? 0;
  const tag = options.tag ?? CODED_TAG;
  const dtype = options.dtype ?? 'float32';
  const { dimension } = options;
  const timeoutMs = options.timeoutMs ?? comm.timeoutMs;
  check(Number.isInteger(dimension) && dimension >= 1, 'EINVAL', () => `${op}: dimension must be an integer >= 1, got ${String(dimension)}`, { rank: comm.rank, op });
  check(dtype === 'float32' || dtype === 'float64', 'EINVAL', () => `${op}: dtype must be 'float32' or 'float64', got ${String(dtype)}`, { rank: comm.rank, op });
  check(Number.isInteger(master) && master >= 0 && master < comm.size && master !== comm.rank, 'EINVAL', () => `${op}: master must be another rank in 0..${comm.size - 1}, got ${String(master)}`, { rank: comm.rank, op });
  check((options.computeGradient === undefined) !== (options.partitionGradient === undefined), 'EINVAL', () => `${op}: give exactly one of computeGradient and partitionGradient`, { rank: comm.rank, op });

  let seam: StragglerSeam | undefined;
  const inputs = new Map<number, Float64Array>();
  const inFlight = new Set<Promise<void>>();
  let sendError: unknown;
  let worker = -1;
  let rounds = 0;
  let taskCount = 0;
  let computeMs = 0;
  const sendResult = (msg: NumericArray): void => {
    const p = comm.send(msg, master, { tag: tag + 1 }).catch((e: unknown) => void (sendError ??= e));
    inFlight.add(p);
    void p.then(() => inFlight.delete(p));
  };

  try {
    for (;;) {
      if (sendError !== undefined) throw sendError;
      const [length] = await comm.recv(new Int32Array(1), master, { tag, timeoutMs });
      if (length === 0) break;
      check(length >= 5, 'EPROTO', () => `${op}: task message of length ${length} is too short`, { rank: comm.rank, op, peer: master });
      const body = await comm.recv(new Float64Array(length), master, { tag, timeoutMs });
      const round = body[0];
      if (worker < 0) {
        worker = body[1];
        if (options.stragglers !== undefined) {
          seam = new StragglerSeam(options.stragglers, worker, { delays: (m) => m.peer === master && m.header.kind === 'p2p' && m.header.tag === tag + 1 });
          comm.setFaultSeam(seam.seam);
        }
      }
      check(body[1] === worker, 'EPROTO', () => `${op}: task message for worker ${body[1]}, this rank is worker ${worker}`, { rank: comm.rank, op, peer: master });
      const oldestLiveJob = body[2];
      for (const job of inputs.keys()) if (job < oldestLiveJob) inputs.delete(job);
      let at = 5;
      for (let k = 0; k < body[3]; k++) {
        const job = body[at];
        const len = body[at + 1];
        inputs.set(job, body.slice(at + 2, at + 2 + len));
        at += 2 + len;
      }
      const items: CodedWorkItem[] = [];
      for (let k = 0; k < body[4]; k++) {
        const job = body[at];
        const kind = KIND_CODES[body[at + 1]];
        check(kind !== undefined, 'EPROTO', () => `${op}: unknown task kind code ${body[at + 1]}`, { rank: comm.rank, op, peer: master });
        const index = body[at + 2];
        const load = body[at + 3];
        const nTerms = body[at + 4];
        at += 5;
        const terms: CodedTerm[] = [];
        for (let j = 0; j < nTerms; j++, at += 4) terms.push({ slice: { partition: body[at], start: body[at + 2], end: body[at + 3] }, coefficient: body[at + 1] });
        items.push({ round, job, kind, index, load, terms });
      }
      check(at === length, 'EPROTO', () => `${op}: task message of round ${round} has ${length - at} unread values`, { rank: comm.rank, op, peer: master });
      seam?.startRound(round);
      rounds++;
      if (items.length === 0) continue;

      const t0 = performance.now();
      const messages: NumericArray[] = [];
      for (let slot = 0; slot < items.length; slot++) {
        const item = items[slot];
        const input = inputs.get(item.job);
        const msg = dtype === 'float32' ? new Float32Array(RESULT_HEADER + dimension) : new Float64Array(RESULT_HEADER + dimension);
        msg.set([round, worker, item.job, KIND_CODES.indexOf(item.kind), item.index, slot, items.length, 0]);
        if (options.computeGradient !== undefined) {
          const g = await options.computeGradient(item.job, item.terms, input, item);
          checkGradient(g, dimension, comm.rank, item);
          for (let i = 0; i < dimension; i++) msg[RESULT_HEADER + i] = g[i];
        } else {
          const acc = new Float64Array(dimension);
          for (const term of item.terms) {
            const g = await options.partitionGradient!(item.job, term.slice, input);
            checkGradient(g, dimension, comm.rank, item);
            const c = term.coefficient;
            for (let i = 0; i < dimension; i++) acc[i] += c * g[i];
          }
          msg.set(acc, RESULT_HEADER);
        }
        messages.push(msg);
      }
      computeMs += performance.now() - t0;
      taskCount += items.length;
      if (options.emulatedWorkMs !== undefined) {
        const ms = options.emulatedWorkMs(items.reduce((a, it) => a + it.load, 0));
        if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
      }
      seam?.workDone(performance.now() - t0);
      for (const msg of messages) sendResult(msg);
    }
    seam?.releaseHeld();
    await Promise.all(inFlight);
    if (sendError !== undefined) throw sendError;
    const bye = dtype === 'float32' ? new Float32Array(RESULT_HEADER + dimension) : new Float64Array(RESULT_HEADER + dimension);
    bye.set([-1, worker]);
    await comm.send(bye, master, { tag: tag + 1 });
  } finally {
    seam?.releaseHeld();
    if (seam !== undefined) comm.setFaultSeam(undefined);
  }
  return { worker, rounds, tasks: taskCount, computeMs, stragglers: seam !== undefined ? { ...seam.counters } : undefined };
}

function checkGradient(g: NumericArray, dimension: number, rank: number, item: CodedWorkItem): void {
  check(g !== null && typeof g === 'object' && g.length === dimension, 'EINVAL', () => `coded-worker: the gradient callback returned ${g === null || typeof g !== 'object' ? String(g) : `length ${g.length}`} for job ${item.job} (${item.kind} ${item.index}), expected a typed array of length ${dimension}`, { rank, op: 'coded-worker' });
}
