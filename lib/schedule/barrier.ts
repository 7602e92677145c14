/**
 * Dissemination barrier (Hensgen, Finkel & Manber, "Two algorithms for barrier synchronization",
 * 1988; MPICH's MPI_Barrier). ceil(lg n) rounds; in round k rank i sends an empty message to
 * i + 2^k (mod n). After round k a rank has heard, directly or through the senders' earlier rounds,
 * from the 2^(k+1) - 1 ranks before it, so after the last round from everyone: no rank leaves before
 * every rank has entered. For n not a power of two some ranks are heard from twice, which is harmless.
 * Cost: ceil(lg n) steps, one message of zero bytes out of and into every rank per step:
 *   t = ceil(lg n) * alpha.
 * As data: one chunk of zero elements (the communicator runs it on a zero-length buffer, and the
 * executor still sends, receives and counts one empty segment per transfer), 'copy' transfers.
 * The round-k send of rank i depends on EVERY message it received in rounds 0..k-1, not only on
 * round k-1's: the executor releases a send when its deps have landed, in any order, so the
 * knowledge a message carries is only what its deps brought (verify.ts checks exactly that; with
 * round k-1 alone a message would carry k+1 ranks, not 2^k).
 * Only the last round's messages are not confirmed by anything flowing back; they carry no buffer,
 * so the executor does not acknowledge them (a barrier only promises that everyone entered).
 */
import { ZcollError } from '../errors.js';
import type { Schedule, Transfer } from './types.js';

export function buildBarrier(nranks: number): Schedule {
  const n = nranks;
  if (!Number.isInteger(n) || n < 1) throw new ZcollError('EINVAL', `buildBarrier: nranks must be a positive integer, got ${nranks}`);
  const transfers: Transfer[] = [];
  // receivedBy[i]: ids of the messages rank i received in the rounds so far.
  const receivedBy: number[][] = Array.from({ length: n }, () => []);
  let rounds = 0;
  for (let span = 1; span < n; span *= 2, rounds++) {
    const landed: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) {
      const id = transfers.length;
      const dst = (i + span) % n;
      transfers.push({ id, step: rounds, src: i, dst, chunk: 0, kind: 'copy', deps: receivedBy[i].slice() });
      landed.push([dst, id]);
    }
    for (const [dst, id] of landed) receivedBy[dst].push(id);
  }
  return { algorithm: 'barrier-dissemination', collective: 'barrier', nranks: n, nchunks: 1, steps: rounds, transfers };
}
