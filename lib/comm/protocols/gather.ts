/**
 * Gather to a root: every other rank sends its array to the root in segments; the root writes each
 * into its place (rank order) and acknowledges a sender once all of its segments are in, so a
 * sender returns only once its bytes are delivered (and learns of a mismatch).
 * Cost: one step; the root's incoming link carries (n-1) x D bytes.
 */
import { BYTES_PER_ELEMENT, dtypeOf, type NumericArray } from '../../dtype.js';
import type { OpContext } from '../op-context.js';
import { segmentElemsOf } from './schedule.js';

export function gatherProtocol(rank: number, size: number, root: number, array: NumericArray, result: NumericArray | undefined, segmentBytes: number): (ctx: OpContext) => void {
  const count = array.length;
  const elemBytes = BYTES_PER_ELEMENT[dtypeOf(array)];
  const segmentElems = segmentElemsOf(segmentBytes, elemBytes);
  const nseg = Math.max(1, Math.ceil(count / segmentElems));
  const segLen = (s: number): number => Math.max(0, Math.min(segmentElems, count - s * segmentElems));
  return (ctx) => {
    if (rank === root) {
      result!.set(array, root * count);
      const left = new Map<number, number>();
      for (let p = 0; p < size; p++) if (p !== root) left.set(p, nseg);
      const seen = new Set<string>();
      const finishIfDone = (): void => {
        if (left.size === 0) ctx.complete();
      };
      ctx.attach(
        (src, h, payload) => {
          const key = `${src}:${h.s}`;
          const expect = h.s < nseg ? segLen(h.s) : -1;
          if (h.x !== src || h.s >= nseg || seen.has(key) || h.c !== expect) return false;
          seen.add(key);
          if (expect > 0 && payload !== undefined) new Uint8Array(result!.buffer, result!.byteOffset + (src * count + h.s * segmentElems) * elemBytes, expect * elemBytes).set(payload);
          const l = left.get(src)! - 1;
          if (l === 0) {
            left.delete(src);
            ctx.send(src, -1, 0, undefined, 0).catch(() => undefined);
          } else left.set(src, l);
          finishIfDone();
          return true;
        },
        () => (left.size > 0 ? { peer: [...left.keys()][0], what: 'its contribution' } : undefined),
      );
      finishIfDone();
      return;
    }
    let acked = false;
    ctx.attach(
      (src, h) => {
        if (src !== root || h.x !== -1 || acked) return false;
        acked = true;
        ctx.complete();
        return true;
      },
      () => ({ peer: root, what: 'the root to acknowledge' }),
    );
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    for (let s = 0; s < nseg; s++) {
      const n = segLen(s);
      ctx.send(root, rank, s, n > 0 ? bytes.subarray(s * segmentElems * elemBytes, (s * segmentElems + n) * elemBytes) : undefined, n).catch(() => undefined);
    }
  };
}
