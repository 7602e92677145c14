/**
 * Host-aware reduce-scatter: rank r ends with chunk r of n (chunkSpan(count, n, r), the ring's
 * layout, so the communicator's result is the same slice whichever schedule ran), reduced over
 * all ranks, with each host's NIC carrying only the host's partial sums of the chunks other hosts own.
 *
 * Hosts h with members M_h (ascending ranks; any placement, uneven sizes allowed). On host h the
 * chunks owned elsewhere (the foreign chunks, ascending) are shared out in turn among its members:
 * the i-th goes to reducer M_h[i mod G_h], so every member drives its share of the host's outbound
 * traffic and, on hosts of equal size, rank M_h[i] pairs with M_h'[i] (2x2: 0<->2 and 1<->3).
 *  step 0 (inside each host, shared memory): every member sends its partial of each chunk to the
 *         chunk's target on its host (the owner for a chunk owned on this host, else the reducer),
 *         foreign chunks first, since they are the ones that then cross;
 *  step 1 (across hosts): each reducer sends its host's sum of a foreign chunk to the chunk's owner.
 * The owner adds the G_h - 1 local partials and H - 1 host sums of its chunk; reduces into one
 * (rank, chunk) are applied in id order, so every run is bitwise reproducible.
 * Bytes leaving host h: (n - G_h)/n * D, its contribution to the chunks it does not own, the least
 * any reduce-scatter can send (0.5 D at 2 hosts x 2, against the ring's 0.75 D across the rank
 * that links the hosts). Bytes entering: (H-1) * G_h/n * D, also the least. Steps: 2 (1 with one
 * rank per host: a direct reduce-scatter; 1 on one host) against the ring's n-1; each rank sends
 * (n-1)/n * D in all, as on the ring, but most of it over shared memory.
 * The cross-host step sends straight to the owner rather than round a ring of hosts: the same bytes
 * on every NIC, one hop instead of H-1 (what crosses is already the least).
 */
import { ZcollError } from '../errors.js';
import { hostGroups } from './hierarchical.js';
import type { Schedule, Transfer } from './types.js';

/**
 * Per host, which member handles each chunk owned on another host: the reducer (reduce-scatter) or
 * the receiver (all-gather, hierarchical-all-gather.ts), the same member for both so that the two
 * collectives pair the same ranks across hosts.
 */
export function foreignHandlers(hostOf: readonly number[]): { readonly hosts: number[][]; readonly hostIndex: number[]; readonly handler: (h: number, chunk: number) => number } {
  const hosts = hostGroups(hostOf);
  const hostIndex = new Array<number>(hostOf.length).fill(-1);
  hosts.forEach((g, h) => g.forEach((r) => (hostIndex[r] = h)));
  const handlers = hosts.map((g, h) => {
    const byChunk = new Map<number, number>();
    let i = 0;
    for (let c = 0; c < hostOf.length; c++) if (hostIndex[c] !== h) byChunk.set(c, g[i++ % g.length]);
    return byChunk;
  });
  return {
    hosts,
    hostIndex,
    handler: (h, chunk) => {
      const r = handlers[h].get(chunk);
      if (r === undefined) throw new ZcollError('EINVAL', `hierarchical: chunk ${chunk} is owned on host ${h}, it has no foreign handler there`);
      return r;
    },
  };
}

export function buildHierarchicalReduceScatter(hostOf: readonly number[]): Schedule {
  const n = hostOf.length;
  if (n < 1) throw new ZcollError('EINVAL', 'buildHierarchicalReduceScatter: needs at least one rank');
  const { hosts, hostIndex, handler } = foreignHandlers(hostOf);
  const transfers: Transfer[] = [];
  // Per (rank, chunk): the ids of the reduces that landed there, which a send of the chunk waits for.
  const into = new Map<number, number[]>();
  const push = (step: number, src: number, dst: number, chunk: number): void => {
    const id = transfers.length;
    transfers.push({ id, step, src, dst, chunk, kind: 'reduce', deps: into.get(src * n + chunk) ?? [], tree: 0 });
    const k = dst * n + chunk;
    const list = into.get(k);
    if (list === undefined) into.set(k, [id]);
    else list.push(id);
  };
  let step = 0;
  if (hosts.some((g) => g.length > 1)) {
    hosts.forEach((g, h) => {
      const foreign: number[] = [];
      const home: number[] = [];
      for (let c = 0; c < n; c++) (hostIndex[c] === h ? home : foreign).push(c);
      for (const c of [...foreign, ...home]) {
        const target = hostIndex[c] === h ? c : handler(h, c);
        for (const m of g) if (m !== target) push(step, m, target, c);
      }
    });
    step++;
  }
  if (hosts.length > 1) {
    hosts.forEach((_, h) => {
      for (let c = 0; c < n; c++) if (hostIndex[c] !== h) push(step, handler(h, c), c, c);
    });
    step++;
  }
  const identity = Array.from({ length: n }, (_, c) => c);
  return { algorithm: 'hierarchical', collective: 'reducescatter', nranks: n, nchunks: n, steps: step, transfers, owner: identity };
}
