/**
 * algorithm 'auto': pick the all-reduce schedule with the smallest simulated time for this
 * topology and message size, the way NCCL's tuner takes the minimum of latency + bytes/bandwidth
 * over (algorithm, protocol) (allreduce.md §3.1), with the step simulator (simulate.ts) as the
 * model. Small messages go to the binomial tree (2 lg n steps), large ones to MULTITREE on multi-port
 * topologies and to ring on one-port switched ones (same bandwidth term as MULTITREE there, and
 * simpler). Ties (within 1e-9 relative) go to the earlier candidate. Cost: one simulation per
 * candidate, O(transfers); schedules come from the cache.
 */
import { ZcollError } from '../errors.js';
import type { Topology } from '../cluster/topology.js';
import { cachedSchedule, isScheduleAlgorithm, type ScheduleAlgorithm, type ScheduleRequest } from './cache.js';
import { simulate, type SimParams } from './simulate.js';

/**
 * Default model: 20 us per step (ZeroMQ over TCP between Node processes), 10 Gbit/s links,
 * reduction at 4 GB/s (JS/SIMD sum). Callers with measurements pass their own.
 */
export const DEFAULT_SIM_PARAMS: SimParams = { alphaS: 20e-6, betaSPerByte: 1 / 1.25e9, gammaSPerByte: 0.25e-9 };

export interface AlgorithmCost {
  readonly algorithm: ScheduleAlgorithm;
  readonly timeS: number;
}

export interface AlgorithmChoice {
  readonly algorithm: ScheduleAlgorithm;
  /** Every candidate's simulated time, in candidate order. */
  readonly costs: readonly AlgorithmCost[];
}

export function chooseAlgorithm(
  t: Topology,
  bytes: number,
  candidates: readonly ScheduleAlgorithm[] = ['ring', 'multitree', 'tree'],
  params: SimParams = DEFAULT_SIM_PARAMS,
  request: ScheduleRequest = {},
): AlgorithmChoice {
  if (candidates.length === 0) throw new ZcollError('EINVAL', 'chooseAlgorithm: no candidate algorithm');
  for (const c of candidates) if (!isScheduleAlgorithm(c)) throw new ZcollError('EINVAL', `chooseAlgorithm: unknown algorithm ${JSON.stringify(c)}`);
  if (t.nranks === 1) return { algorithm: candidates[0], costs: candidates.map((algorithm) => ({ algorithm, timeS: 0 })) };
  const costs = candidates.map((algorithm) => ({ algorithm, timeS: simulate(cachedSchedule(t, algorithm, request), t, bytes, params).timeS }));
  let best = costs[0];
  for (const c of costs) if (c.timeS < best.timeS * (1 - 1e-9)) best = c;
  return { algorithm: best.algorithm, costs };
}
