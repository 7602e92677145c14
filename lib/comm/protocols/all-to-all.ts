/**
 * All-to-all with equal splits (torch.distributed's all_to_all_single without split sizes,
 * MPI_Alltoall): x of n·k elements is cut into n chunks of k; chunk j goes straight to rank j,
 * never relayed, and rank r's result holds chunk r of every rank, in rank order (a transpose of
 * the ranks' arrays). One step, as the direct exchange (exchange.ts): rank r sends to r+1, r+2, ...
 * (mod n), so every rank's first message goes to a different peer and no rank receives n-1 chunks
 * at once while another waits for its first. Each chunk is cut into segments of segmentBytes.
 * Cost: (n-1)·k elements out of and into every rank, in n-1 messages (times the segments per chunk);
 * a ring or a Bruck all-to-all would relay chunks (log n or n-1 steps, more bytes), which would make
 * a relay able to rewrite data that is not its own and cost a wait per step on shared cores.
 * Its own file, not a mode of exchange.ts: the exchange sends ONE array to every peer and tolerates
 * a peer that sent another size (per-peer EMISMATCH entries, for Byzantine-robust aggregation);
 * here every peer gets a different chunk and the result is one array, so ranks that disagree on
 * dtype or length fail the op on every rank (OpContext compares the descriptor: EMISMATCH naming
 * the rank, the op and both sides), and there is no root.
 */
import { BYTES_PER_ELEMENT, dtypeOf, type NumericArray } from '../../dtype.js';
import type { OpContext } from '../op-context.js';
import { DirectSends } from './direct-sends.js';
import { segmentElemsOf } from './schedule.js';

export interface AllToAllParams<A extends NumericArray> {
  readonly rank: number;
  readonly size: number;
  /** size·k elements: chunk j (elements [j·k, (j+1)·k)) goes to rank j. Read until the op settles. */
  readonly x: A;
  /** size·k elements, not overlapping x: chunk r of rank r's x lands at [r·k, (r+1)·k). */
  readonly out: A;
  readonly segmentBytes: number;
  /** Whether a payload sent to `peer` now is copied out of x before its send resolves (outbox.ts). */
  readonly copiesBeforeResolving: (peer: number, payload: Uint8Array) => boolean;
}

export function allToAllProtocol<A extends NumericArray>(p: AllToAllParams<A>): (ctx: OpContext) => void {
  const { rank, size, x, out } = p;
  const elemBytes = BYTES_PER_ELEMENT[dtypeOf(x)];
  const k = x.length / size;
  const segmentElems = segmentElemsOf(p.segmentBytes, elemBytes);
  const nseg = Math.max(1, Math.ceil(k / segmentElems));
  const segLen = (sg: number): number => Math.max(0, Math.min(segmentElems, k - sg * segmentElems));
  const xBytes = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  const outBytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  const chunkBytes = k * elemBytes;
  const segmentOf = (chunk: Uint8Array, sg: number): Uint8Array => chunk.subarray(sg * segmentElems * elemBytes, (sg * segmentElems + segLen(sg)) * elemBytes);
  return (ctx) => {
    // This rank's own chunk needs no message.
    outBytes.set(xBytes.subarray(rank * chunkBytes, (rank + 1) * chunkBytes), rank * chunkBytes);
    const left = new Map<number, number>();
    const landed = new Map<number, Uint8Array>();
    for (let j = 1; j < size; j++) left.set((rank + j) % size, nseg);
    const finishIfDone = (): void => {
      if (left.size === 0 && sends.drained) ctx.complete();
    };
    // Sends still reading x (shared-memory copies not made yet, or registered references).
    const sends = new DirectSends(ctx, { nseg, segLen, segmentOf }, p.copiesBeforeResolving, finishIfDone);
    ctx.attach(
      (src, h, payload) => {
        // transfer = the sender's rank, as in the exchange (a frame names whose chunk it carries).
        if (h.transfer !== src || !left.has(src)) return false;
        const got = landed.get(src) ?? landed.set(src, new Uint8Array(nseg)).get(src)!;
        // A segment lands once: a repeat must not count toward the sender's total.
        if (!(h.segment >= 0 && h.segment < nseg) || h.elements !== segLen(h.segment) || got[h.segment] === 1) return false;
        got[h.segment] = 1;
        if (payload !== undefined && h.elements > 0) outBytes.set(payload.bytes, src * chunkBytes + h.segment * segmentElems * elemBytes);
        const l = left.get(src)! - 1;
        if (l === 0) left.delete(src);
        else left.set(src, l);
        finishIfDone();
        return true;
      },
      () =>
        left.size > 0
          ? { peer: [...left.keys()][0], what: 'its chunk for this rank' }
          : sends.waitingPeer !== undefined
            ? { peer: sends.waitingPeer, what: "a free shared-memory slot for this rank's chunk" }
            : undefined,
    );
    for (let j = 1; j < size; j++) {
      const peer = (rank + j) % size;
      const chunk = xBytes.subarray(peer * chunkBytes, (peer + 1) * chunkBytes);
      // As in the exchange: ZeroMQ reads a payload after send() resolved, so a chunk that is not
      // copied into shared memory before then (nor lies in a registered buffer, whose references the
      // op waits for) is sent from a private copy, and the caller may change x once the op settles.
      // Decided per peer: each gets its own chunk, and a same-host peer needs no copy while a remote
      // one does.
      const direct = sends.inPlace([peer], chunk);
      sends.send(peer, rank, direct ? chunk : Buffer.from(chunk), direct);
    }
    finishIfDone();
  };
}
