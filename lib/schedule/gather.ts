/**
 * Gather to a root (MPI_Gather; the flat, linear gather of MPICH and Open MPI's "basic linear"):
 * the buffer of count*n elements is cut into n chunks, chunk c is rank c's contribution
 * (origin[c] = c), and every other rank sends its own chunk straight to the root, one 'copy' each,
 * all in one step. Nothing is relayed, so the root receives each rank's bytes from that rank or not
 * at all: the trust boundary robust aggregation needs (docs/architecture.md), which a binomial gather
 * (lg n steps, relays forward their subtree's chunks) would give up.
 * Cost: 1 step; the root receives (n-1) chunks of D/n bytes (D = count*n elements):
 *   t = alpha + (n-1) * D/n * beta   (the root's incoming port or link is the bottleneck)
 * No rank sends more than one message, so the sender side never contends; the root's port does by
 * design (verifyLinks reports it over budget on one-port topologies, as for 'flat' broadcast).
 * Transfers are listed from root+1 on (as every direct fan-in/out here), so rank 0 is not always
 * the first the root hears from.
 * The root receives everything and sends nothing, so no transfer's delivery flows back to its sender:
 * the executor has the root acknowledge every transfer (execute.ts, unconfirmedTransfers), and a
 * sender returns only once its chunk has landed, learning of a mismatch from the root's abort.
 */
import { ZcollError } from '../errors.js';
import type { Schedule, Transfer } from './types.js';

export function buildGather(nranks: number, root: number): Schedule {
  const n = nranks;
  if (!Number.isInteger(n) || n < 1) throw new ZcollError('EINVAL', `buildGather: nranks must be a positive integer, got ${nranks}`);
  if (!Number.isInteger(root) || root < 0 || root >= n) throw new ZcollError('EINVAL', `buildGather: root must be a rank in 0..${n - 1}, got ${root}`);
  const transfers: Transfer[] = [];
  for (let v = 1; v < n; v++) {
    const src = (root + v) % n;
    transfers.push({ id: transfers.length, step: 0, src, dst: root, chunk: src, kind: 'copy', deps: [], tree: root });
  }
  return {
    algorithm: 'gather-flat',
    collective: 'gather',
    nranks: n,
    nchunks: n,
    steps: n > 1 ? 1 : 0,
    transfers,
    origin: Array.from({ length: n }, (_, c) => c),
    root,
  };
}
