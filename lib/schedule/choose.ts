/**
 * algorithm 'auto': pick the all-reduce schedule with the smallest simulated time for this
 * topology and message size, the way NCCL's tuner takes the minimum of latency + bytes/bandwidth
 * over (algorithm, protocol) (NVIDIA/nccl src/graph/tuning.cc), with the step simulator (simulate.ts) as the
 * model. Small messages go to the binomial tree (2 lg n steps), large ones to MULTITREE on multi-port
 * topologies and to ring on one-port switched ones (same bandwidth term as MULTITREE there, and
 * simpler). Ties (within 1e-9 relative) go to the earlier candidate. Cost: one simulation per
 * candidate, O(transfers); schedules come from the cache.
 *
 * autoAlgorithm is the communicator's algorithm 'auto': the rule below (two candidate sets split at
 * SMALL_MESSAGE_BYTES, AUTO_MODEL) with the choice computed once per (topology, model), not
 * re-simulated per call. Why that is exact, not an approximation per size class: a schedule's
 * simulated time is a fixed function of the size (simulate.ts, costLine: affine in the lockstep
 * model; in the pipelined one affine below and above one segment per chunk, plus a max over a few
 * stages), built once from one profile, so the choice at any size is the lowest of the candidates'
 * times, O(candidates * stages) per call. Memoising the choice per power-of-two size class instead
 * would be wrong wherever two curves cross inside a class (choose.test.ts finds such classes); the
 * curves have no such class and agree with chooseAlgorithm at every size the test sweeps.
 */
import { ZcollError } from '../errors.js';
import type { Topology } from '../cluster/topology.js';
import { cachedSchedule, cachedTopologyHash, isScheduleAlgorithm, type RsAgAlgorithm, type ScheduleAlgorithm, type ScheduleRequest } from './cache.js';
import { hostsOfTopology } from './hierarchical.js';
import { costLine, simulate, timeOnLine, type CostLine, type SimParams } from './simulate.js';

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

/**
 * The cost model 'auto' uses on this transport: per-message latency of ZeroMQ between Node processes
 * (~100 us: a wake-up on another core), ~1 GB/s per direction (also what one rank's TCP moves to
 * another host, whatever its NIC), the reduction kernel's ~2 GB/s, and steps overlapped as the
 * segmenting executor overlaps them, with the pipeline's fill in segments of the executor's size
 * across hosts (1 MiB: sockets; the communicator passes its own) (simulate-pipelined.ts; the lockstep
 * model charged the binomial tree lg n times its real cost and so never chose it across hosts).
 */
export const AUTO_MODEL: SimParams = { alphaS: 100e-6, betaSPerByte: 1 / 1e9, gammaSPerByte: 0.5e-9, model: 'pipelined', segmentBytes: 1 << 20 };

/**
 * Up to 64 KiB the cost is messages, not bytes: the ring sends 2(n-1) of them per rank where the
 * binomial tree sends 2 (measured at 2 ranks, 4 KiB: ring 292 us, tree 155 us), which the per-step
 * alpha-beta model does not see; recursive doubling needs lg n exchanges where the tree needs 2 lg n
 * hops. Above, the model picks among the bandwidth schedules (recursive doubling moves the whole
 * buffer lg n times and copies it for every exchange).
 */
export const SMALL_MESSAGE_BYTES = 64 * 1024;
export const SMALL_MESSAGE_ALGORITHMS: readonly ScheduleAlgorithm[] = ['recursive-doubling', 'tree', 'multitree'];
export const LARGE_MESSAGE_ALGORITHMS: readonly ScheduleAlgorithm[] = ['ring', 'multitree', 'tree'];

/**
 * Large messages on several hosts with several ranks on some: the host-aware schedule too, after ring
 * so that it must be strictly cheaper (where a host's ranks are no better connected than the NIC, the
 * two tie on the ports and the ring, measured longer, stays). MULTITREE is no candidate there: on
 * hosts its trees enter each host once (multitree.ts), so it crosses the NICs with the same minimum
 * bytes as the host-aware schedule, and the model, which prices what each link and port carries,
 * ties the two within 1 % when told the link rate (at the default rates it put MULTITREE 4-7 % ahead
 * on 3 + 1 at 4-64 MiB, where it measured 0.73-0.93x of the host-aware schedule). What the model
 * does not see is the order: every MULTITREE chunk crosses twice in series (reduced up to its root,
 * then sent back down), one segment in flight per tree, where the host-aware schedule runs its
 * cross-host rings segment after segment. Measured at 200 Mbit/s, 1-64 MiB (bench/results/
 * hosts-netns.md, sittings O-R), host-aware against MULTITREE: 2x2 0.99-1.18x, 2x3 0.98-1.03x,
 * 3+1 0.99-1.38x: never more than 2 % behind, up to 38 % ahead.
 */
export const LARGE_MESSAGE_HOST_ALGORITHMS: readonly ScheduleAlgorithm[] = ['ring', 'hierarchical', 'tree'];

/** True when the topology has more than one host (switch ranks attach to) and a host with more than one rank. */
export function hasHostHierarchy(t: Topology): boolean {
  // Asked on every large 'auto' all-reduce: once per topology, not a count per call.
  let known = hierarchyOf.get(t);
  if (known === undefined) {
    const perHost = new Map<number, number>();
    for (const h of hostsOfTopology(t)) perHost.set(h, (perHost.get(h) ?? 0) + 1);
    known = perHost.size > 1 && [...perHost.values()].some((g) => g > 1);
    hierarchyOf.set(t, known);
  }
  return known;
}
const hierarchyOf = new WeakMap<Topology, boolean>();

/**
 * The candidates 'auto' compares at `bytes` on `t`: 'hierarchical' only where there are hosts to be
 * aware of (on one host it is a direct reduce-scatter + all-gather, not measured against the ring there).
 */
export function autoCandidates(bytes: number, t?: Topology): readonly ScheduleAlgorithm[] {
  if (bytes <= SMALL_MESSAGE_BYTES) return SMALL_MESSAGE_ALGORITHMS;
  return t !== undefined && hasHostHierarchy(t) ? LARGE_MESSAGE_HOST_ALGORITHMS : LARGE_MESSAGE_ALGORITHMS;
}

interface AlgorithmLine extends CostLine {
  readonly algorithm: ScheduleAlgorithm;
}

/** (topology hash, model, candidates) -> one cost line per candidate, in candidate order. */
const lines = new Map<string, readonly AlgorithmLine[]>();
/** Topologies and models per process are few; the bound only stops a caller that varies the model per call. */
const MAX_LINE_SETS = 64;

function linesFor(t: Topology, candidates: readonly ScheduleAlgorithm[], model: SimParams): readonly AlgorithmLine[] {
  const key = `${cachedTopologyHash(t)}|${model.alphaS}|${model.betaSPerByte}|${model.gammaSPerByte ?? 0}|${model.model ?? 'lockstep'}|${model.segmentBytes ?? 0}|${candidates.join(',')}`;
  let set = lines.get(key);
  if (set === undefined) {
    set = candidates.map((algorithm) => ({ algorithm, ...costLine(cachedSchedule(t, algorithm), t, model) }));
    if (lines.size >= MAX_LINE_SETS) lines.clear();
    lines.set(key, set);
  }
  return set;
}

/**
 * algorithm 'auto' of the communicator: the candidate with the lowest simulated time at `bytes`
 * (chooseAlgorithm's answer, ties to the earlier candidate alike), without simulating per call.
 * Every rank computes the same answer from the same (topology, bytes, model).
 */
export function autoAlgorithm(t: Topology, bytes: number, model: SimParams = AUTO_MODEL): ScheduleAlgorithm {
  if (!(bytes >= 0 && Number.isFinite(bytes))) throw new ZcollError('EINVAL', `autoAlgorithm: bytes must be a finite number >= 0, got ${bytes}`);
  const candidates = autoCandidates(bytes, t);
  if (t.nranks === 1) return candidates[0];
  let best: AlgorithmLine | undefined;
  let bestS = Infinity;
  for (const line of linesFor(t, candidates, model)) {
    const timeS = timeOnLine(line, bytes);
    if (best === undefined || timeS < bestS * (1 - 1e-9)) {
      best = line;
      bestS = timeS;
    }
  }
  return best!.algorithm;
}

/** (topology hash, model, collective) -> the ring's and the host-aware schedule's cost lines. */
const rsAgLines = new Map<string, readonly [CostLine, CostLine]>();

/**
 * The reduce-scatter or all-gather schedule the communicator runs by default on `t` for a buffer of
 * `bytes` (the whole buffer: the input of a reduce-scatter, the result of an all-gather): the
 * host-aware one where the topology has several hosts with several ranks on some
 * (hasHostHierarchy) and the model says it is strictly cheaper, else the ring. Both leave chunk r at
 * rank r, so the choice changes the time, never the result's layout. It depends on the topology,
 * the size and the model only, so every rank picks alike.
 */
export function autoRsAgAlgorithm(t: Topology, collective: 'reducescatter' | 'allgather', bytes: number, model: SimParams = AUTO_MODEL): RsAgAlgorithm {
  if (!(bytes >= 0 && Number.isFinite(bytes))) throw new ZcollError('EINVAL', `autoRsAgAlgorithm: bytes must be a finite number >= 0, got ${bytes}`);
  if (t.nranks === 1 || !hasHostHierarchy(t)) return 'ring';
  const key = `${cachedTopologyHash(t)}|${model.alphaS}|${model.betaSPerByte}|${model.gammaSPerByte ?? 0}|${model.model ?? 'lockstep'}|${model.segmentBytes ?? 0}|${collective}`;
  let pair = rsAgLines.get(key);
  if (pair === undefined) {
    pair = [costLine(cachedSchedule(t, { collective, algorithm: 'ring' }), t, model), costLine(cachedSchedule(t, { collective, algorithm: 'hierarchical' }), t, model)];
    if (rsAgLines.size >= MAX_LINE_SETS) rsAgLines.clear();
    rsAgLines.set(key, pair);
  }
  return timeOnLine(pair[1], bytes) < timeOnLine(pair[0], bytes) * (1 - 1e-9) ? 'hierarchical' : 'ring';
}
