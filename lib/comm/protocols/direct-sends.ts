/**
 * Sending the caller's array straight to peers, segment by segment, for the direct protocols (the
 * exchange, the all-to-all). ZeroMQ reads a payload after send() resolved, so the caller's memory
 * may only be sent in place when every segment is copied into shared memory before its send
 * resolves, or lies in a registered buffer whose references the op waits for; otherwise the bytes
 * go from one private copy, and the caller may change its array once the op settles. Sends made in
 * place are counted until they resolve: the op must not settle while one still reads the array.
 */
import type { OpContext } from '../op-context.js';

/** Elements per segment and the byte view of one segment of a chunk (a protocol's cut). */
export interface SegmentCut {
  readonly nseg: number;
  readonly segLen: (sg: number) => number;
  readonly segmentOf: (bytes: Uint8Array, sg: number) => Uint8Array;
}

export class DirectSends {
  /** Sends still reading the caller's memory, per peer (for the stuck report). */
  private readonly readingFor = new Map<number, number>();
  private reading = 0;

  constructor(
    private readonly ctx: OpContext,
    private readonly cut: SegmentCut,
    /** Whether a payload sent to `peer` now is copied before its send resolves (outbox.ts). */
    private readonly copiesBeforeResolving: (peer: number, payload: Uint8Array) => boolean,
    /** Called when the last send reading the caller's memory resolved. */
    private readonly onDrained: () => void,
  ) {}

  /** True when no send reads the caller's memory any more. */
  get drained(): boolean {
    return this.reading === 0;
  }

  /** A peer a send still reads for, or undefined. */
  get waitingPeer(): number | undefined {
    for (const peer of this.readingFor.keys()) return peer;
    return undefined;
  }

  /** Whether `bytes` can go to every one of `peers` from where they lie (see the file comment). */
  inPlace(peers: readonly number[], bytes: Uint8Array): boolean {
    const { nseg, segLen, segmentOf } = this.cut;
    for (const peer of peers) {
      for (let sg = 0; sg < nseg; sg++) if (!(segLen(sg) > 0 && this.copiesBeforeResolving(peer, segmentOf(bytes, sg)))) return false;
    }
    return true;
  }

  /**
   * Sends every segment of `bytes` to `peer` as `transfer`. `inPlace`: `bytes` is the caller's memory
   * (inPlace() said so) and each send is counted until it resolves; else `bytes` is a private copy.
   */
  send(peer: number, transfer: number, bytes: Uint8Array, inPlace: boolean): void {
    const { nseg, segLen, segmentOf } = this.cut;
    for (let sg = 0; sg < nseg; sg++) {
      const n = segLen(sg);
      const sent = this.ctx.send(peer, transfer, sg, n > 0 ? segmentOf(bytes, sg) : undefined, n);
      if (!inPlace) {
        sent.catch(() => undefined);
        continue;
      }
      this.reading++;
      this.readingFor.set(peer, (this.readingFor.get(peer) ?? 0) + 1);
      sent.then(
        () => {
          this.reading--;
          const r = this.readingFor.get(peer)! - 1;
          if (r === 0) this.readingFor.delete(peer);
          else this.readingFor.set(peer, r);
          if (this.reading === 0) this.onDrained();
        },
        () => undefined,
      );
    }
  }
}
