/**
 * Ring all-reduce, reduce-scatter and all-gather (the bandwidth-optimal ring of Baidu, MPICH and
 * NCCL; Patarasuk & Yuan 2009).
 *
 * The buffer is cut into n chunks. Reduce-scatter: n-1 steps; at step i rank r sends its partial of
 * chunk (r-1-i) mod n to r+1, which adds its own; after the last step rank r holds chunk r reduced
 * over all ranks. All-gather: n-1 steps; at step j rank r forwards chunk (r-j) mod n to r+1.
 * Cost: 2(n-1) steps, each rank sends and receives 2(n-1)/n of the buffer:
 *   t = 2(n-1)(alpha + D/n * beta) + (n-1)/n * D * gamma.
 * Every chunk is reduced along one fixed path and then copied, so all ranks end bitwise identical.
 */
import type { Schedule, Transfer } from './types.js';

const mod = (a: number, n: number): number => ((a % n) + n) % n;

export type RingCollective = 'allreduce' | 'reducescatter' | 'allgather';

export function buildRing(nranks: number, collective: RingCollective = 'allreduce'): Schedule {
  const n = nranks;
  const transfers: Transfer[] = [];
  // lastInto[r] = id of the most recent transfer into rank r (the one the next send depends on).
  const lastInto: number[] = new Array<number>(n).fill(-1);
  let step = 0;
  const phase = (kind: 'reduce' | 'copy', chunkOf: (r: number, i: number) => number): void => {
    for (let i = 0; i < n - 1; i++, step++) {
      const landed: number[] = [];
      for (let r = 0; r < n; r++) {
        const id = transfers.length;
        const dep = lastInto[r];
        transfers.push({
          id,
          step,
          src: r,
          dst: mod(r + 1, n),
          chunk: chunkOf(r, i),
          kind,
          deps: dep >= 0 ? [dep] : [],
          tree: 0,
        });
        landed[mod(r + 1, n)] = id;
      }
      for (let r = 0; r < n; r++) lastInto[r] = landed[r];
    }
  };
  if (collective !== 'allgather') phase('reduce', (r, i) => mod(r - 1 - i, n));
  if (collective !== 'reducescatter') phase('copy', (r, j) => mod(r - j, n));
  const identity = Array.from({ length: n }, (_, c) => c);
  return {
    algorithm: 'ring',
    collective,
    nranks: n,
    nchunks: n,
    steps: step,
    transfers,
    ...(collective === 'allgather' ? { origin: identity } : {}),
    ...(collective === 'reducescatter' ? { owner: identity } : {}),
  };
}
