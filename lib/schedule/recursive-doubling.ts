/**
 * Recursive-doubling all-reduce (MPICH's short-message all-reduce; Thakur, Rabenseifner & Gropp,
 * "Optimization of Collective Communication Operations in MPICH", 2005). The whole buffer is one
 * chunk. With p = 2^floor(lg n) ranks taking part, at step k every participant v exchanges its
 * partial with v XOR 2^k, both at once, and each adds what it got: after lg p steps every
 * participant holds the full reduction. The n - p extra ranks fold in first: rank 2i hands its data
 * to rank 2i+1 (one 'reduce' step) and gets the result back at the end (one 'copy' step).
 *   t = (lg p + 2*[n != p]) * (alpha + D*beta) + lg p * D * gamma,
 * against the binomial tree's 2*ceil(lg n) * (alpha + D*beta): half the latency for a power of two
 * (at 2 ranks one exchange instead of two hops), so it is 'auto''s choice for small messages.
 * Each exchange sends a snapshot of the partial (`snapshot`: the partner's data may be added while
 * this rank's send is in flight; verify.ts proves this is safe). Float sums stay bitwise identical
 * across ranks: partners add the same two partials (a + b == b + a), and the extra ranks copy.
 */
import { ZcollError } from '../errors.js';
import type { Schedule, Transfer } from './types.js';

export function buildRecursiveDoubling(nranks: number): Schedule {
  const n = nranks;
  if (!Number.isInteger(n) || n < 1) throw new ZcollError('EINVAL', `buildRecursiveDoubling: nranks must be a positive integer, got ${nranks}`);
  let p = 1;
  while (p * 2 <= n) p *= 2;
  const extra = n - p;
  const transfers: Transfer[] = [];
  // reducesInto[r]: ids of the reduces that landed at rank r so far (what its next send depends on).
  const reducesInto: number[][] = Array.from({ length: n }, () => []);
  let step = 0;
  // Participant v is rank 2v+1 for v < extra (it holds its even neighbour's data too), else v + extra.
  const rankOf = (v: number): number => (v < extra ? 2 * v + 1 : v + extra);
  if (extra > 0) {
    for (let i = 0; i < extra; i++) {
      const id = transfers.length;
      transfers.push({ id, step, src: 2 * i, dst: 2 * i + 1, chunk: 0, kind: 'reduce', deps: [], tree: 0 });
      reducesInto[2 * i + 1].push(id);
    }
    step++;
  }
  for (let bit = 1; bit < p; bit *= 2, step++) {
    const landed: Array<[number, number]> = [];
    for (let v = 0; v < p; v++) {
      const src = rankOf(v);
      const dst = rankOf(v ^ bit);
      const id = transfers.length;
      transfers.push({ id, step, src, dst, chunk: 0, kind: 'reduce', deps: reducesInto[src].slice(), snapshot: true, tree: 0 });
      landed.push([dst, id]);
    }
    for (const [dst, id] of landed) reducesInto[dst].push(id);
  }
  if (extra > 0) {
    for (let i = 0; i < extra; i++) {
      const id = transfers.length;
      transfers.push({ id, step, src: 2 * i + 1, dst: 2 * i, chunk: 0, kind: 'copy', deps: reducesInto[2 * i + 1].slice(), tree: 0 });
    }
    step++;
  }
  return { algorithm: 'recursive-doubling', collective: 'allreduce', nranks: n, nchunks: 1, steps: step, transfers };
}
