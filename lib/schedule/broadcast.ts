/**
 * Broadcast schedules (one chunk, 'copy' transfers), for the executor and the verifier.
 *  - binomial: ceil(log2 n) steps; at step k every rank that has the data sends it 2^k ranks on.
 *    Latency-optimal: t = ceil(log2 n) * (alpha + D*beta). For small messages.
 *  - chain: root -> root+1 -> ... -> root-1, pipelined by the executor's segments:
 *    t ~ (n - 2 + S) * (alpha + D/S*beta) for S segments, about D*beta for large D. For large messages.
 *  - flat: root -> every other rank directly, one step, (n-1)*D bytes out of the root. Nothing is
 *    relayed, so a rank receives the root's bytes or nothing: the reply of a trusted server (the
 *    'server' sign vote), where binomial and chain would let every relay rewrite what it forwards.
 */
import type { Schedule, Transfer } from './types.js';

export type BroadcastAlgorithm = 'binomial' | 'chain' | 'flat';
export const BROADCAST_ALGORITHMS: readonly BroadcastAlgorithm[] = ['binomial', 'chain', 'flat'];

export function buildBroadcast(nranks: number, root: number, algorithm: BroadcastAlgorithm): Schedule {
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
    for (let v = 0; v + 1 < n; v++) add(v, abs(v), abs(v + 1));
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
