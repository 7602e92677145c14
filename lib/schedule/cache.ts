/**
 * The one schedule cache of the process: every schedule a collective runs is built once and reused,
 * since building MULTITREE is O(T * N * frontier) (about a second at 1024 ranks) and every collective
 * call needs its schedule. Also the one place that maps a (collective, algorithm) to its builder:
 *   all-reduce  'ring'      ring along topology.ringOrder (placed-ring.ts)
 *               'multitree' MULTITREE over the topology (multitree.ts), rule 'artifact' unless told
 *               'tree'      binomial reduce + broadcast (tree.ts)
 *               'recursive-doubling'  pairwise exchanges of the whole buffer, lg n steps (recursive-doubling.ts)
 *               'hierarchical'  reduce-scatter in each host, a ring across hosts per local rank,
 *                           all-gather in each host, hosts = the topology's switches (hierarchical.ts)
 *   reduce-scatter, all-gather  'ring' in rank order (ring.ts: rank r owns chunk r, which the
 *               communicator's reduceScatter/allGather rely on), or 'hierarchical': inside each
 *               host, then only what must cross, straight to its owner (hierarchical-reduce-scatter.ts,
 *               hierarchical-all-gather.ts; same chunk per rank)
 *   broadcast   'binomial' | 'chain' | 'flat' from `root` (broadcast.ts; the chain host by host)
 *   gather      flat fan-in to `root` (gather.ts)
 *   barrier     dissemination (barrier.ts)
 * Keys: what the builder reads and every rank agrees on. Builders that read the topology (placed
 * ring, MULTITREE) are keyed by its hash, so equal models share an entry; those that read only the
 * number of ranks by `n=<nranks>`, so topologies of the same size share them too.
 * Bounded: at most MAX_ENTRIES schedules and MAX_TRANSFERS transfers in all, dropping the least
 * recently used (always keeping the newest). Counting transfers, not entries, means the O(n)
 * schedules keyed by root (a broadcast or gather from every rank) do not push out one MULTITREE of
 * n^2 transfers that took a second to build.
 */
import { ZcollError } from '../errors.js';
import { topologyHash, type Topology } from '../cluster/topology.js';
import { buildBarrier } from './barrier.js';
import { BROADCAST_ALGORITHMS, buildBroadcast, type BroadcastAlgorithm } from './broadcast.js';
import { buildGather } from './gather.js';
import { buildHierarchical, hostsOfTopology } from './hierarchical.js';
import { buildHierarchicalAllGather } from './hierarchical-all-gather.js';
import { buildHierarchicalReduceScatter } from './hierarchical-reduce-scatter.js';
import { buildMultitree, type MultitreeRule } from './multitree.js';
import { buildPlacedRing } from './placed-ring.js';
import { buildRecursiveDoubling } from './recursive-doubling.js';
import { buildRing } from './ring.js';
import { buildTree } from './tree.js';
import type { Schedule } from './types.js';

export const SCHEDULE_ALGORITHMS = ['ring', 'multitree', 'tree', 'recursive-doubling', 'hierarchical'] as const;
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
  // Inside a host every rank sends to all the others in one step (over its one modelled port).
  hierarchical: { trees: true, contentionFree: false },
};

/** Reduce-scatter and all-gather schedules; both leave chunk r of n at rank r. */
export const RS_AG_ALGORITHMS = ['ring', 'hierarchical'] as const;
export type RsAgAlgorithm = (typeof RS_AG_ALGORITHMS)[number];

export interface ScheduleRequest {
  readonly rule?: MultitreeRule;
}

/** Which schedule: the collective and what its builder takes besides the topology. */
export type ScheduleSpec =
  | { readonly collective: 'allreduce'; readonly algorithm: ScheduleAlgorithm; readonly rule?: MultitreeRule }
  | { readonly collective: 'reducescatter' | 'allgather'; readonly algorithm?: RsAgAlgorithm }
  | { readonly collective: 'broadcast'; readonly algorithm: BroadcastAlgorithm; readonly root: number }
  | { readonly collective: 'gather'; readonly root: number }
  | { readonly collective: 'barrier' };

const MAX_ENTRIES = 256;
/**
 * A MULTITREE on a 32x32 torus is 2.1M transfers (about 400 MB of objects, 5 s to build): room for
 * four of them, with the O(n lg n) barrier and O(n) rooted schedules of the same job beside them.
 */
const MAX_TRANSFERS = 1 << 23;
const entries = new Map<string, Schedule>();
let heldTransfers = 0;
const topologyHashes = new WeakMap<Topology, string>();

/** topologyHash, computed once per Topology object (it hashes every link). */
export function cachedTopologyHash(t: Topology): string {
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

function specOf(algorithm: ScheduleAlgorithm | ScheduleSpec, request: ScheduleRequest): ScheduleSpec {
  if (typeof algorithm !== 'string') return algorithm;
  return { collective: 'allreduce', algorithm, ...(request.rule !== undefined ? { rule: request.rule } : {}) };
}

function checkRoot(t: Topology, root: number, what: string): void {
  if (!(Number.isInteger(root) && root >= 0 && root < t.nranks)) throw new ZcollError('EINVAL', `${what}: root must be a rank in 0..${t.nranks - 1}, got ${String(root)}`);
}

function checkSpec(t: Topology, spec: ScheduleSpec): void {
  switch (spec.collective) {
    case 'allreduce':
      if (!isScheduleAlgorithm(spec.algorithm)) throw new ZcollError('EINVAL', `unknown schedule algorithm ${JSON.stringify(spec.algorithm)} (known: ${SCHEDULE_ALGORITHMS.join(', ')})`);
      return;
    case 'broadcast':
      if (!BROADCAST_ALGORITHMS.includes(spec.algorithm)) throw new ZcollError('EINVAL', `unknown broadcast algorithm ${JSON.stringify(spec.algorithm)} (known: ${BROADCAST_ALGORITHMS.join(', ')})`);
      checkRoot(t, spec.root, `broadcast ${spec.algorithm}`);
      return;
    case 'gather':
      checkRoot(t, spec.root, 'gather');
      return;
    case 'reducescatter':
    case 'allgather':
      if (spec.algorithm !== undefined && !RS_AG_ALGORITHMS.includes(spec.algorithm)) throw new ZcollError('EINVAL', `unknown ${spec.collective} algorithm ${JSON.stringify(spec.algorithm)} (known: ${RS_AG_ALGORITHMS.join(', ')})`);
      return;
    case 'barrier':
      return;
    default:
      throw new ZcollError('EINVAL', `unknown collective ${JSON.stringify((spec as { collective: unknown }).collective)}`);
  }
}

/** Builds (uncached) the all-reduce schedule of `algorithm`, or the schedule `spec` names, for the topology. */
export function buildSchedule(t: Topology, algorithm: ScheduleAlgorithm | ScheduleSpec, request: ScheduleRequest = {}): Schedule {
  const spec = specOf(algorithm, request);
  checkSpec(t, spec);
  switch (spec.collective) {
    case 'allreduce':
      switch (spec.algorithm) {
        case 'ring':
          return buildPlacedRing(t);
        case 'multitree':
          return buildMultitree(t, { rule: spec.rule ?? 'artifact' });
        case 'tree':
          return buildTree(t.nranks);
        case 'recursive-doubling':
          return buildRecursiveDoubling(t.nranks);
        case 'hierarchical':
          return buildHierarchical(hostsOfTopology(t));
      }
      break;
    case 'reducescatter':
    case 'allgather':
      if (spec.algorithm === 'hierarchical') return spec.collective === 'reducescatter' ? buildHierarchicalReduceScatter(hostsOfTopology(t)) : buildHierarchicalAllGather(hostsOfTopology(t));
      return buildRing(t.nranks, spec.collective);
    case 'broadcast':
      // The chain goes host by host (the topology's switches); the others read only n.
      return buildBroadcast(t.nranks, spec.root, spec.algorithm, spec.algorithm === 'chain' ? hostsOfTopology(t) : undefined);
    case 'gather':
      return buildGather(t.nranks, spec.root);
    case 'barrier':
      return buildBarrier(t.nranks);
  }
  throw new ZcollError('EINVAL', `no builder for ${JSON.stringify(spec)}`);
}

/** The cache key: what every rank must agree on for the schedule to be the same. */
export function scheduleCacheKey(t: Topology, algorithm: ScheduleAlgorithm | ScheduleSpec, request: ScheduleRequest = {}): string {
  const spec = specOf(algorithm, request);
  const ranks = `n=${t.nranks}`;
  switch (spec.collective) {
    case 'allreduce': {
      const readsTopology = spec.algorithm === 'ring' || spec.algorithm === 'multitree' || spec.algorithm === 'hierarchical';
      const rule = spec.algorithm === 'multitree' ? (spec.rule ?? 'artifact') : '-';
      return `${readsTopology ? cachedTopologyHash(t) : ranks}|allreduce|${spec.algorithm}|${rule}`;
    }
    case 'reducescatter':
    case 'allgather':
      // The ring reads only n; the host-aware form reads the hosts (the topology's switches).
      return spec.algorithm === 'hierarchical' ? `${cachedTopologyHash(t)}|${spec.collective}|hierarchical` : `${ranks}|${spec.collective}|ring`;
    case 'broadcast':
      return `${spec.algorithm === 'chain' ? cachedTopologyHash(t) : ranks}|broadcast|${spec.algorithm}|root=${spec.root}`;
    case 'gather':
      return `${ranks}|gather|flat|root=${spec.root}`;
    case 'barrier':
      return `${ranks}|barrier|dissemination`;
  }
  throw new ZcollError('EINVAL', `unknown collective ${JSON.stringify((spec as { collective: unknown }).collective)}`);
}

/**
 * The schedule for (topology, algorithm, rule) of an all-reduce, or for any collective by `spec`,
 * built on first use. Do not mutate the result (the executor also caches its per-rank plans by it).
 */
export function cachedSchedule(t: Topology, algorithm: ScheduleAlgorithm, request?: ScheduleRequest): Schedule;
export function cachedSchedule(t: Topology, spec: ScheduleSpec): Schedule;
export function cachedSchedule(t: Topology, algorithm: ScheduleAlgorithm | ScheduleSpec, request: ScheduleRequest = {}): Schedule {
  const spec = specOf(algorithm, request);
  checkSpec(t, spec);
  const key = scheduleCacheKey(t, spec);
  const hit = entries.get(key);
  if (hit !== undefined) {
    entries.delete(key);
    entries.set(key, hit); // most recently used goes last
    return hit;
  }
  const built = buildSchedule(t, spec);
  entries.set(key, built);
  heldTransfers += built.transfers.length;
  while (entries.size > 1 && (entries.size > MAX_ENTRIES || heldTransfers > MAX_TRANSFERS)) {
    const oldest = entries.keys().next().value as string;
    heldTransfers -= entries.get(oldest)!.transfers.length;
    entries.delete(oldest);
  }
  return built;
}

export function scheduleCacheSize(): number {
  return entries.size;
}

export function clearScheduleCache(): void {
  entries.clear();
  heldTransfers = 0;
}
