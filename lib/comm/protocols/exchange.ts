/**
 * The direct exchange, never relayed: the trust boundary of robust aggregation and of the
 * 'allgather' sign vote. Every rank sends its own array straight to every other rank (no root), or
 * to the root only, so a Byzantine rank can corrupt nothing but its own entry. The one protocol with
 * per-peer tolerance: a peer that sent another dtype or length gets an EMISMATCH entry, and the op
 * goes on for the others (the op descriptor is `tolerant`).
 * Rank r sends to r+1, r+2, ... (mod n), not to 0, 1, ... in rank order: every rank's first message
 * goes to a different peer, so no rank receives n-1 messages at once while another waits for its
 * first (and the shared-memory copies into the peers' slots are spread the same way).
 * Cost: (n-1) x D bytes out of and into every rank (n-1 messages of D each), one step.
 */
import { allocArray, BYTES_PER_ELEMENT, dtypeOf, type NumericArray } from '../../dtype.js';
import { ZcollError } from '../../errors.js';
import type { OpContext } from '../op-context.js';
import { DirectSends } from './direct-sends.js';
import { segmentElemsOf } from './schedule.js';

export interface ExchangeParams<A extends NumericArray> {
  readonly rank: number;
  readonly size: number;
  /** -1: everyone receives; else only the root does (the others wait for its acknowledgement). */
  readonly root: number;
  readonly x: A;
  readonly segmentBytes: number;
  /** One entry per rank, filled as contributions land; entries[rank] is set by the caller. */
  readonly entries: Array<A | ZcollError | null>;
  readonly into: ReadonlyArray<A | undefined> | undefined;
  /** Whether a payload sent to `peer` now is copied out of x before its send resolves (outbox.ts). */
  readonly copiesBeforeResolving: (peer: number, payload: Uint8Array) => boolean;
}

export function exchangeProtocol<A extends NumericArray>(p: ExchangeParams<A>): (ctx: OpContext) => void {
  const { rank, size, root, x, entries, into } = p;
  const dtype = dtypeOf(x);
  const count = x.length;
  const elemBytes = BYTES_PER_ELEMENT[dtype];
  const segmentElems = segmentElemsOf(p.segmentBytes, elemBytes);
  const nseg = Math.max(1, Math.ceil(count / segmentElems));
  const segLen = (sg: number): number => Math.max(0, Math.min(segmentElems, count - sg * segmentElems));
  const receiving = root === -1 || rank === root;
  const dests: number[] = [];
  for (let k = 1; k < size; k++) {
    const peer = (rank + k) % size;
    if (root === -1 || peer === root) dests.push(peer);
  }
  const xBytes = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  const cut = { nseg, segLen, segmentOf: (b: Uint8Array, sg: number): Uint8Array => b.subarray(sg * segmentElems * elemBytes, (sg * segmentElems + segLen(sg)) * elemBytes) };
  return (ctx) => {
    const left = new Map<number, number>();
    const landed = new Map<number, Uint8Array>();
    if (receiving) for (let k = 1; k < size; k++) left.set((rank + k) % size, nseg);
    let acked = root === -1 || rank === root;
    const finishIfDone = (): void => {
      if (left.size === 0 && acked && sends.drained) ctx.complete();
    };
    // Sends still reading x (shared-memory copies not made yet; see below).
    const sends = new DirectSends(ctx, cut, p.copiesBeforeResolving, finishIfDone);
    const settle = (src: number): void => {
      left.delete(src);
      if (root !== -1) ctx.send(src, -1, 0, undefined, 0).catch(() => undefined); // the sender returns once we have it
    };
    ctx.attach(
      (src, h, payload) => {
        if (!receiving) {
          if (src !== root || h.transfer !== -1 || acked) return false;
          acked = true;
          finishIfDone();
          return true;
        }
        if (h.transfer !== src || !left.has(src)) return false;
        if (entries[src] === null) {
          if (h.dtype !== dtype || h.count !== count) {
            entries[src] = new ZcollError('EMISMATCH', `rank ${src} sent ${h.count} x ${h.dtype || 'none'}, this rank expects ${count} x ${dtype}; its contribution is invalid`, { rank, op: ctx.desc.op, peer: src });
            settle(src);
            finishIfDone();
            return true;
          }
          entries[src] = into?.[src] ?? (allocArray(dtype, count) as A);
        }
        const mine = entries[src] as A;
        // A segment lands once: a repeat must not count toward the sender's total (its real last
        // segment would then be refused and left as zeros).
        const got = landed.get(src) ?? landed.set(src, new Uint8Array(nseg)).get(src)!;
        if (!(h.segment >= 0 && h.segment < nseg) || h.elements !== segLen(h.segment) || got[h.segment] === 1) return false;
        got[h.segment] = 1;
        if (payload !== undefined && h.elements > 0) new Uint8Array(mine.buffer, mine.byteOffset + h.segment * segmentElems * elemBytes, h.elements * elemBytes).set(payload.bytes);
        const l = left.get(src)! - 1;
        if (l === 0) settle(src);
        else left.set(src, l);
        finishIfDone();
        return true;
      },
      () =>
        left.size > 0
          ? { peer: [...left.keys()][0], what: 'its contribution' }
          : !acked
            ? { peer: root, what: 'the root to acknowledge' }
            : sends.waitingPeer !== undefined
              ? { peer: sends.waitingPeer, what: "a free shared-memory slot for this rank's contribution" }
              : undefined,
    );
    // ZeroMQ sends read their payload after send() resolved, so they get a private copy of x (the
    // caller may change x once this op settles). When every segment is copied into shared memory
    // before its send resolves, or x is a registered buffer (its references are waited for), x
    // itself is sent and the op settles only after those sends: one copy of x less, and no fresh
    // buffer of its size (a page fault per 4 KiB).
    const direct = sends.inPlace(dests, xBytes);
    const bytes = direct ? xBytes : Buffer.from(xBytes);
    for (const peer of dests) sends.send(peer, rank, bytes, direct);
    finishIfDone();
  };
}

