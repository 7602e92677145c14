/**
 * Host-aware all-gather: chunk c of n starts at rank c (chunkSpan(count*n, n, c), the ring's layout)
 * and ends at every rank, each chunk crossing into each other host once.
 *
 * Hosts h with members M_h (any placement, uneven sizes allowed). A chunk owned on another host
 * enters host h at its receiver, the member that reduces it in the host-aware reduce-scatter
 * (foreignHandlers in hierarchical-reduce-scatter.ts: the i-th foreign chunk to M_h[i mod G_h]), so
 * every member takes its share of the host's inbound traffic.
 *  step 0: rank c copies chunk c to the other members of its host (shared memory) and to its
 *          receiver on every other host;
 *  step 1: each receiver copies what came across to the other members of its host.
 * Bytes leaving host h: (H-1) * G_h/n * D (its chunks, once per other host: 0.5 D at 2 hosts x 2,
 * against the ring's 0.75 D); entering: (n - G_h)/n * D; both the least any all-gather moves. Steps:
 * 2 (1 with one rank per host, or on one host) against the ring's n-1.
 */
import { ZcollError } from '../errors.js';
import { foreignHandlers } from './hierarchical-reduce-scatter.js';
import type { Schedule, Transfer } from './types.js';

export function buildHierarchicalAllGather(hostOf: readonly number[]): Schedule {
  const n = hostOf.length;
  if (n < 1) throw new ZcollError('EINVAL', 'buildHierarchicalAllGather: needs at least one rank');
  const { hosts, hostIndex, handler } = foreignHandlers(hostOf);
  const transfers: Transfer[] = [];
  // arrived[h][c]: id of the copy that brought chunk c into host h (to its receiver), for the relay's dep.
  const arrived = hosts.map(() => new Map<number, number>());
  const push = (step: number, src: number, dst: number, chunk: number, deps: readonly number[]): number => {
    const id = transfers.length;
    transfers.push({ id, step, src, dst, chunk, kind: 'copy', deps, tree: 0 });
    return id;
  };
  // Step 0, per origin: across first (the slow link starts at once), then the members of its host.
  for (let c = 0; c < n; c++) {
    const hc = hostIndex[c];
    hosts.forEach((_, h) => {
      if (h !== hc) arrived[h].set(c, push(0, c, handler(h, c), c, []));
    });
    for (const m of hosts[hc]) if (m !== c) push(0, c, m, c, []);
  }
  let relayed = false;
  hosts.forEach((g, h) => {
    for (const [c, id] of arrived[h]) {
      const receiver = handler(h, c);
      for (const m of g) {
        if (m === receiver) continue;
        push(1, receiver, m, c, [id]);
        relayed = true;
      }
    }
  });
  const identity = Array.from({ length: n }, (_, c) => c);
  return { algorithm: 'hierarchical', collective: 'allgather', nranks: n, nchunks: n, steps: relayed ? 2 : 1, transfers, origin: identity };
}
