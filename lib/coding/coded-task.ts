/**
 * The vocabulary shared by the straggler-tolerant schedulers (GC, SR-SGC, M-SGC) and the runtime that
 * drives them: tasks a worker runs in a round, the partitions (and coefficients) a task combines, and
 * the decoder terms that turn received messages back into a job's full gradient.
 *
 * A job's data is cut into `partitionFractions.length` partitions; the gradient of a partition is the
 * SUM of its samples' gradients, so the job's gradient is the sum over partitions. A worker's message
 * for a task is Σ coefficient · g_partition over `encodingFor(worker, task)`; the decoder of a job is a
 * list of (worker, round, task, coefficient) whose weighted sum of messages is the job's gradient.
 */
import type { PartitionTerm } from './gradient-code.js';

export type { PartitionTerm } from './gradient-code.js';

export type CodedScheme = 'gc' | 'sr-sgc' | 'm-sgc';

/** 'gc': the worker's gradient-code task; 'd1': an uncoded M-SGC chunk; 'd2': a coded M-SGC group task. */
export type TaskKind = 'gc' | 'd1' | 'd2';

export interface CodedTask {
  readonly job: number;
  readonly kind: TaskKind;
  /** 'gc': the worker's row of B (= the worker); 'd1': chunk number of the worker (0..W−2); 'd2': group (0..B−1). */
  readonly index: number;
}

export interface DecoderTerm {
  readonly worker: number;
  /** The round whose message from `worker` is used: (round, worker, task) identifies one message. */
  readonly round: number;
  readonly task: CodedTask;
  readonly coefficient: number;
}

/** What the runtime rule needs: may the next round end with this late set? */
export interface RoundAcceptor {
  accepts(late: readonly number[]): boolean;
}

export interface CodedScheduler extends RoundAcceptor {
  readonly scheme: CodedScheme;
  readonly workers: number;
  readonly jobs: number;
  /** Delay T: job t is started in round t and decoded at the end of round t + T. */
  readonly delay: number;
  /** jobs + T rounds in all. */
  readonly rounds: number;
  /** Normalised computation per worker per round (fraction of one job's data). */
  readonly load: number;
  /** Share of one job's data in each partition (sums to 1). */
  readonly partitionFractions: Float64Array;
  /** Rounds whose result has been recorded; the next round to run. */
  readonly roundsRecorded: number;

  /** The tasks of `worker` in `round` (round <= roundsRecorded): a pure function of the history. */
  tasksFor(round: number, worker: number): CodedTask[];
  /** Partitions and coefficients of a task's message. */
  encodingFor(worker: number, task: CodedTask): PartitionTerm[];
  /** Normalised computation of one task. */
  taskLoad(task: CodedTask): number;
  /** Whether the late set of the next round keeps the pattern inside the scheme's straggler model. */
  conforms(late: readonly number[]): boolean;
  /** conforms(late), and every job due at the end of the next round stays decodable. */
  accepts(late: readonly number[]): boolean;
  /** Records the next round: every worker with tasks not in `lateWorkers` delivered all of them. */
  onRoundResult(round: number, lateWorkers: readonly number[]): void;
  /** Jobs to decode at the end of `round` (t + T = round). */
  jobsDueAt(round: number): number[];
  /** Whether the messages received so far suffice to decode `job`. */
  decodable(job: number): boolean;
  /** Decoder terms of `job`; throws ZcollError ENUMERIC when it is not decodable. */
  decoderFor(job: number): DecoderTerm[];
}
