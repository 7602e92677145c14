/**
 * Broadcast schedules (one chunk, 'copy' transfers), for the executor and the verifier.
 *  - binomial: ceil(log2 n) steps; at step k every rank that has the data sends it 2^k ranks on.
 *    Latency-optimal: t = ceil(log2 n) * (alpha + D*beta). For small messages.
 *  - chain: root -> root+1 -> ... -> root-1, pipelined by the executor's segments:
 *    t ~ (n - 2 + S) * (alpha + D/S*beta) for S segments, about D*beta for large D. For large messages.
 *    Given the hosts (hostOf), the chain visits the root's host first, from the root on, then each
 *    other host whole, in host order after the root's, so it crosses H-1 host links, each once: every
 *    host's NIC takes in D once (none for the root's) and sends at most D, the least a broadcast
 *    moves. In rank order it crosses more when the root is not its host's first rank or a host's
 *    ranks are not numbered together (2 hosts x 2, root 1: 1->2->3->0 sends D back into the root's
 *    host, 2 D across instead of 1). Where the rank order already does that (hosts numbered
 *    together, the root first on its host; one host; one rank per host) the order is the rank order.
 *  - flat: root -> every other rank directly, one step, (n-1)*D bytes out of the root. Nothing is
 *    relayed, so a rank receives the root's bytes or nothing: the reply of a trusted server (the
 *    'server' sign vote), where binomial and chain would let every relay rewrite what it forwards.
 */
import type { Schedule, Transfer } from './types.js';

export type BroadcastAlgorithm = 'binomial' | 'chain' | 'flat';
export const BROADCAST_ALGORITHMS: readonly BroadcastAlgorithm[] = ['binomial', 'chain', 'flat'];

/**
 * The chain's order: the root's host from the root on (its members cyclically after the root), then
 * the other hosts in cyclic order of their lowest rank after the root's host, each host's members
 * ascending. Without hosts: root, root+1, ..., root-1.
 */
export function chainOrder(nranks: number, root: number, hostOf?: readonly number[]): number[] {
  const ranks = Array.from({ length: nranks }, (_, v) => (v + root) % nranks);
  if (hostOf === undefined) return ranks;
  // Hosts in order of the first of their ranks met going round from the root; members in that order too.
  const byHost = new Map<number, number[]>();
  for (const r of ranks) {
    const g = byHost.get(hostOf[r]);
    if (g === undefined) byHost.set(hostOf[r], [r]);
    else g.push(r);
  }
  return [...byHost.values()].flat();
}

export function buildBroadcast(nranks: number, root: number, algorithm: BroadcastAlgorithm, hostOf?: readonly number[]): Schedule {
  const n = nranks;
  const transfers: Transfer[] = [];
  const into = new Map<number, number>(); // rank -> id of the transfer that brought it the data
  const abs = (v: number): number => (v + root) % n;
  let steps = 0;
  const add = (step: number, from: number, to: number): void => {
    const dep = into.get(from);
    const id = transfers.length;
    transfers.push({ id, step, src: from, dst: to, chunk: 0, kind: 'copy', deps: dep === undefined ? [] : [dep], tree: root });
    into.set(to, id);
    steps = Math.max(steps, step + 1);
  };
  if (algorithm === 'chain') {
    const order = chainOrder(n, root, hostOf);
    for (let v = 0; v + 1 < n; v++) add(v, order[v], order[v + 1]);
  } else if (algorithm === 'flat') {
    // Rank root+1 first, as every direct fan-out here: not every root's first copy goes to rank 0.
    for (let v = 1; v < n; v++) add(0, abs(0), abs(v));
  } else {
    for (let k = 0, span = 1; span < n; k++, span *= 2) {
      for (let v = 0; v < span && v + span < n; v++) add(k, abs(v), abs(v + span));
    }
  }
  return { algorithm: `broadcast-${algorithm}`, collective: 'broadcast', nranks: n, nchunks: 1, steps, transfers, root };
}
