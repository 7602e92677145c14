/**
 * Sequential gradient coding, the entry point: one factory for GC (T = 0), SR-SGC and M-SGC schedulers
 * (sr-sgc.ts, m-sgc.ts), the authors' runtime rule as a pure function, and their parameter
 * enumeration (Krishnan, Ebrahimi, Khisti, ICLR 2023; `perform_round` and `param_combinations` of
 * the authors' simulators).
 *
 * Runtime rule, per round: wait for the fastest worker (time f); every worker not done by the deadline
 * (1 + μ) f is late; if the late set is acceptable to the scheme, the round ends at the deadline and the
 * late results are dropped; otherwise the master waits for everyone and counts a wait-out.
 */
import { ZcollError, check } from '../errors.js';
import type { CodedScheduler, CodedScheme, RoundAcceptor } from './coded-task.js';
import type { GradientCodeOptions } from './gradient-code.js';
import { MSgcScheduler, mSgcLoad } from './m-sgc.js';
import { SrSgcScheduler, gcLoad, srSgcStragglers } from './sr-sgc.js';

export type { CodedScheduler, CodedScheme, CodedTask, DecoderTerm, PartitionTerm, RoundAcceptor, TaskKind } from './coded-task.js';
export { MSgcScheduler, mSgcLoad } from './m-sgc.js';
export { SrSgcScheduler, gcLoad, srSgcStragglers } from './sr-sgc.js';
export { conformsPattern, conformsWindow, type BurstModel } from './straggler-pattern.js';

export type SchedulerOptions =
  | { scheme: 'gc'; workers: number; jobs: number; s: number; code?: GradientCodeOptions }
  | { scheme: 'sr-sgc' | 'm-sgc'; workers: number; jobs: number; B: number; W: number; lambda: number; code?: GradientCodeOptions };

export function createScheduler(options: SchedulerOptions): CodedScheduler {
  switch (options.scheme) {
    case 'gc':
      return SrSgcScheduler.gc(options);
    case 'sr-sgc':
      return SrSgcScheduler.srSgc(options);
    case 'm-sgc':
      return new MSgcScheduler(options);
    default:
      throw new ZcollError('EINVAL', `unknown coded scheme '${String((options as { scheme: unknown }).scheme)}' (gc, sr-sgc, m-sgc)`);
  }
}

/** Normalised load of a scheme's parameters (uncoded wait-for-all is GC with s = 0: 1/n). */
export function normalisedLoad(options: SchedulerOptions): number {
  if (options.scheme === 'gc') return gcLoad(options.workers, options.s);
  if (options.scheme === 'sr-sgc') return gcLoad(options.workers, srSgcStragglers(options.B, options.W, options.lambda));
  return mSgcLoad(options.workers, options.B, options.W, options.lambda);
}

/** Delay T of a scheme's parameters. */
export function schemeDelay(options: SchedulerOptions): number {
  if (options.scheme === 'gc') return 0;
  if (options.scheme === 'sr-sgc') return options.B;
  return options.W - 2 + options.B;
}

export interface RoundOutcome {
  /** The round ended at the deadline with `late` dropped (or nobody was late). */
  readonly accepted: boolean;
  /** The late set was not acceptable: the master waited for everyone. */
  readonly waitOut: boolean;
  /** Workers whose results are dropped this round (empty after a wait-out). */
  readonly late: number[];
  /** Workers past the deadline, whatever the decision. */
  readonly pastDeadline: number[];
  readonly fastestMs: number;
  readonly deadlineMs: number;
  /** When the round ends: the deadline if some result is dropped, else the slowest finish time. */
  readonly roundMs: number;
}

/**
 * The authors' rule. `finishTimes[w]` is worker w's finish time in ms from the round's start; NaN
 * marks a worker with no task this round (ignored). A round nobody works in takes 0 ms.
 */
export function acceptRound(finishTimes: ArrayLike<number>, mu: number, scheme: RoundAcceptor): RoundOutcome {
  check(Number.isFinite(mu) && mu >= 0, 'EINVAL', () => `acceptRound: mu must be a finite number >= 0, got ${String(mu)}`);
  let fastest = Number.POSITIVE_INFINITY;
  let slowest = Number.NEGATIVE_INFINITY;
  let active = 0;
  for (let w = 0; w < finishTimes.length; w++) {
    const t = finishTimes[w];
    if (Number.isNaN(t)) continue;
    check(t >= 0, 'EINVAL', () => `acceptRound: finish time of worker ${w} is ${t}, must be >= 0 (or NaN when idle)`, { rank: w });
    active++;
    fastest = Math.min(fastest, t);
    slowest = Math.max(slowest, t);
  }
  if (active === 0) {
    return { accepted: true, waitOut: false, late: [], pastDeadline: [], fastestMs: 0, deadlineMs: 0, roundMs: 0 };
  }
  const deadline = (1 + mu) * fastest;
  const pastDeadline: number[] = [];
  for (let w = 0; w < finishTimes.length; w++) if (finishTimes[w] > deadline) pastDeadline.push(w);
  if (pastDeadline.length === 0) {
    return { accepted: true, waitOut: false, late: [], pastDeadline, fastestMs: fastest, deadlineMs: deadline, roundMs: slowest };
  }
  if (scheme.accepts(pastDeadline)) {
    return { accepted: true, waitOut: false, late: pastDeadline, pastDeadline, fastestMs: fastest, deadlineMs: deadline, roundMs: deadline };
  }
  return { accepted: false, waitOut: true, late: [], pastDeadline, fastestMs: fastest, deadlineMs: deadline, roundMs: slowest };
}

/**
 * The parameter sets the authors search (`param_combinations`): GC s = 1..n−1; SR-SGC B <= maxDelay,
 * W = B+1, 2B+1, ... up to maxW, λ = 1..n; M-SGC W − 1 + B <= maxDelay, λ = 1..n−1. `lambdaStep` thins
 * the λ grid for quick searches (the endpoints are kept).
 */
export function parameterCandidates(
  scheme: CodedScheme,
  workers: number,
  jobs: number,
  limits: { maxDelay: number; maxW?: number; lambdaStep?: number },
): SchedulerOptions[] {
  check(Number.isInteger(limits.maxDelay) && limits.maxDelay >= 1, 'EINVAL', () => `parameterCandidates: maxDelay must be an integer >= 1, got ${String(limits.maxDelay)}`);
  const step = limits.lambdaStep ?? 1;
  const lambdas = (top: number): number[] => {
    const out: number[] = [];
    for (let l = 1; l <= top; l += step) out.push(l);
    if (out[out.length - 1] !== top) out.push(top);
    return out;
  };
  const result: SchedulerOptions[] = [];
  if (scheme === 'gc') {
    for (let s = 1; s < workers; s++) result.push({ scheme, workers, jobs, s });
  } else if (scheme === 'sr-sgc') {
    const maxW = limits.maxW ?? jobs;
    for (let B = 1; B <= limits.maxDelay; B++) {
      for (let W = B + 1; W <= maxW; W += B) {
        for (const lambda of lambdas(workers)) {
          if (srSgcStragglers(B, W, lambda) < workers) result.push({ scheme, workers, jobs, B, W, lambda });
        }
      }
    }
  } else {
    for (let W = 2; W <= limits.maxDelay + 1; W++) {
      for (let B = 1; B < W && W - 1 + B <= limits.maxDelay; B++) {
        for (const lambda of lambdas(workers - 1)) result.push({ scheme, workers, jobs, B, W, lambda });
      }
    }
  }
  return result;
}
