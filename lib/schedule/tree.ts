/**
 * Binomial-tree all-reduce: reduce to a root along a binomial tree, then broadcast back down the
 * same tree (the MPICH short-message reduce + broadcast; NCCL's "tree" is the pipelined double
 * binary variant of the same idea). The whole buffer is one chunk, so it is the low-latency choice:
 *   2*ceil(lg n) steps, t = 2*ceil(lg n)*(alpha + D*beta) (+ ceil(lg n)*D*gamma at the root),
 * against ring's 2(n-1)*alpha. In step k of the reduce, the ranks whose relative id (to the root)
 * has lowest set bit 2^k send to id - 2^k; the broadcast mirrors it, so every rank sends and
 * receives at most once per step (fits one-port networks). The executor's segmentation pipelines
 * it in practice; the step simulator charges it unpipelined, which is the conservative side.
 */
import { ZcollError } from '../errors.js';
import type { Schedule, Transfer } from './types.js';

export interface TreeOptions {
  /** Rank the reduction meets at (default 0). */
  readonly root?: number;
}

export function buildTree(nranks: number, options: TreeOptions = {}): Schedule {
  const n = nranks;
  if (!Number.isInteger(n) || n < 1) throw new ZcollError('EINVAL', `buildTree: nranks must be a positive integer, got ${nranks}`);
  const root = options.root ?? 0;
  if (!Number.isInteger(root) || root < 0 || root >= n) throw new ZcollError('EINVAL', `buildTree: root must be a rank in 0..${n - 1}, got ${root}`);
  let levels = 0;
  while (1 << levels < n) levels++;
  const rank = (rel: number): number => (rel + root) % n;
  const transfers: Transfer[] = [];
  // reducesInto[rel] = ids of the reduces that landed at relative rank rel.
  const reducesInto: number[][] = Array.from({ length: n }, () => []);
  for (let k = 0; k < levels; k++) {
    const bit = 1 << k;
    for (let rel = bit; rel < n; rel += 2 * bit) {
      const id = transfers.length;
      transfers.push({ id, step: k, src: rank(rel), dst: rank(rel - bit), chunk: 0, kind: 'reduce', deps: reducesInto[rel], tree: 0 });
      reducesInto[rel - bit].push(id);
    }
  }
  // Broadcast step j mirrors reduce step levels-1-j.
  const copyInto = new Int32Array(n).fill(-1);
  for (let j = 0; j < levels; j++) {
    const k = levels - 1 - j;
    const bit = 1 << k;
    for (let rel = bit; rel < n; rel += 2 * bit) {
      const parent = rel - bit;
      const id = transfers.length;
      const deps = parent === 0 ? reducesInto[0] : [copyInto[parent]];
      transfers.push({ id, step: levels + j, src: rank(parent), dst: rank(rel), chunk: 0, kind: 'copy', deps, tree: 0 });
      copyInto[rel] = id;
    }
  }
  return { algorithm: 'tree', collective: 'allreduce', nranks: n, nchunks: 1, steps: 2 * levels, transfers };
}
