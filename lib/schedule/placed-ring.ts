/**
 * Ring all-reduce laid along a topology: buildRing's schedule with position i of the ring played by
 * rank order[i] (topology.ringOrder: a Hamiltonian cycle on tori and meshes, rank order elsewhere),
 * so that on a torus every ring hop is one link and the ring does not contend with itself. Same
 * cost as ring.ts: 2(n-1) steps, 2(n-1)/n of the buffer per rank. Chunk c is then owned by rank
 * order[c]; for all-reduce that is invisible (every rank ends with every chunk).
 */
import { ZcollError } from '../errors.js';
import type { Topology } from '../cluster/topology.js';
import { buildRing } from './ring.js';
import type { Schedule } from './types.js';

/** Renames the ranks of a schedule: rank i of `s` becomes order[i]. */
export function relabelRanks(s: Schedule, order: readonly number[]): Schedule {
  const n = s.nranks;
  const seen = new Uint8Array(n);
  if (order.length !== n || order.some((r) => !(Number.isInteger(r) && r >= 0 && r < n) || seen[r]++ > 0)) {
    throw new ZcollError('EINVAL', `relabelRanks: order must be a permutation of 0..${n - 1}`);
  }
  return {
    ...s,
    transfers: s.transfers.map((t) => ({ ...t, src: order[t.src], dst: order[t.dst] })),
    ...(s.origin !== undefined ? { origin: s.origin.map((r) => order[r]) } : {}),
    ...(s.owner !== undefined ? { owner: s.owner.map((r) => order[r]) } : {}),
    ...(s.root !== undefined ? { root: order[s.root] } : {}),
  };
}

export function buildPlacedRing(t: Topology): Schedule {
  return relabelRanks(buildRing(t.nranks, 'allreduce'), t.ringOrder);
}
