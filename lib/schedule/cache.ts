/**
 * Schedules built once per process and reused: keyed by (topology hash, algorithm, rule), since
 * building MULTITREE is O(T * N * frontier) (about a second at 1024 ranks) and every collective
 * call needs its schedule. Also the one place that maps an algorithm name to its builder:
 *   'ring'      ring along topology.ringOrder (placed-ring.ts)
 *   'multitree' MULTITREE over the topology (multitree.ts), rule 'artifact' unless told
 *   'tree'      binomial reduce + broadcast (tree.ts)
 *   'recursive-doubling'  pairwise exchanges of the whole buffer, lg n steps (recursive-doubling.ts)
 * The cache holds at most `MAX_ENTRIES` schedules, dropping the least recently used.
 */
import { ZcollError } from '../errors.js';
import { topologyHash, type Topology } from '../cluster/topology.js';
import { buildMultitree, type MultitreeRule } from './multitree.js';
import { buildPlacedRing } from './placed-ring.js';
import { buildRecursiveDoubling } from './recursive-doubling.js';
import { buildTree } from './tree.js';
import type { Schedule } from './types.js';

export const SCHEDULE_ALGORITHMS = ['ring', 'multitree', 'tree', 'recursive-doubling'] as const;
export type ScheduleAlgorithm = (typeof SCHEDULE_ALGORITHMS)[number];

/**
 * What a builder promises beyond correct data flow (verify.ts), checked by verify-links.ts:
 * `trees`: each chunk is reduced up one in-tree and copied down one out-tree (verifyTrees);
 * `contentionFree`: no directed link or port carries more than its capacity in one step
 * (verifyLinks). Only ring (placed along the topology's ring order) and MULTITREE are built
 * around the links; the binomial tree pairs ranks by number (on a 3x5 torus two of its hops share a
 * link), and recursive doubling is not made of trees at all (every rank sends its whole partial
 * lg n times to hypercube partners). The simulator charges the contention of those two, which is
 * why 'auto' takes them only where latency dominates.
 */
export const ALGORITHM_CLAIMS: Readonly<Record<ScheduleAlgorithm, { readonly trees: boolean; readonly contentionFree: boolean }>> = {
  ring: { trees: true, contentionFree: true },
  multitree: { trees: true, contentionFree: true },
  tree: { trees: true, contentionFree: false },
  'recursive-doubling': { trees: false, contentionFree: false },
};

export interface ScheduleRequest {
  readonly rule?: MultitreeRule;
}

const MAX_ENTRIES = 32;
const entries = new Map<string, Schedule>();
const topologyHashes = new WeakMap<Topology, string>();

function hashOf(t: Topology): string {
  let h = topologyHashes.get(t);
  if (h === undefined) {
    h = topologyHash(t);
    topologyHashes.set(t, h);
  }
  return h;
}

export function isScheduleAlgorithm(name: string): name is ScheduleAlgorithm {
  return (SCHEDULE_ALGORITHMS as readonly string[]).includes(name);
}

/** Builds (uncached) the all-reduce schedule of `algorithm` for the topology. */
export function buildSchedule(t: Topology, algorithm: ScheduleAlgorithm, request: ScheduleRequest = {}): Schedule {
  switch (algorithm) {
    case 'ring':
      return buildPlacedRing(t);
    case 'multitree':
      return buildMultitree(t, { rule: request.rule ?? 'artifact' });
    case 'tree':
      return buildTree(t.nranks);
    case 'recursive-doubling':
      return buildRecursiveDoubling(t.nranks);
    default:
      throw new ZcollError('EINVAL', `unknown schedule algorithm ${JSON.stringify(algorithm)} (known: ${SCHEDULE_ALGORITHMS.join(', ')})`);
  }
}

/** The cache key: what every rank must agree on for the schedule to be the same. */
export function scheduleCacheKey(t: Topology, algorithm: ScheduleAlgorithm, request: ScheduleRequest = {}): string {
  const rule = algorithm === 'multitree' ? (request.rule ?? 'artifact') : '-';
  return `${hashOf(t)}|${algorithm}|${rule}`;
}

/** The schedule for (topology, algorithm, rule), built on first use. Do not mutate the result. */
export function cachedSchedule(t: Topology, algorithm: ScheduleAlgorithm, request: ScheduleRequest = {}): Schedule {
  const key = scheduleCacheKey(t, algorithm, request);
  const hit = entries.get(key);
  if (hit !== undefined) {
    entries.delete(key);
    entries.set(key, hit); // most recently used goes last
    return hit;
  }
  const built = buildSchedule(t, algorithm, request);
  entries.set(key, built);
  while (entries.size > MAX_ENTRIES) entries.delete(entries.keys().next().value as string);
  return built;
}

export function scheduleCacheSize(): number {
  return entries.size;
}

export function clearScheduleCache(): void {
  entries.clear();
}
