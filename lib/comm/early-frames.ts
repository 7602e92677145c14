/**
 * Frames of collectives this rank has not started yet: a peer done with its local work sends while
 * this rank is still in its own. Kept per sequence number, within the engine's window, and capped
 * in bytes so that a flood cannot exhaust memory. A shared-memory payload must be handed back to its
 * sender at once, so it is copied, into a reused buffer of its size when one is spare: the same
 * sizes come back every step, and a fresh buffer of several MB costs a page fault per 4 KiB.
 */
import type { DataHeader } from '../transport/wire.js';

/** Bytes buffered for collectives not started yet, at most. */
const MAX_EARLY_BYTES = 1 << 30;
/** Spare copy buffers kept, at most this many bytes. */
const COPY_POOL_BYTES = 64 << 20;

export interface EarlyFrame {
  readonly src: number;
  readonly header: DataHeader;
  readonly payload: Buffer | undefined;
  /** The payload is a pooled copy: valid until recycled, so it is delivered as volatile. */
  readonly pooled: boolean;
}

export class EarlyFrames {
  private readonly bySeq = new Map<number, EarlyFrame[]>();
  private bytes = 0;
  private readonly spare = new Map<number, Buffer[]>();
  private spareBytes = 0;

  /** Keeps a frame of collective `header.seq`; `volatile` payloads are copied. Returns why not, when refused. */
  keep(src: number, header: DataHeader, payload: Buffer | undefined, volatile: boolean): true | string {
    const n = payload?.byteLength ?? 0;
    if (this.bytes + n > MAX_EARLY_BYTES) return `more than ${MAX_EARLY_BYTES} bytes buffered for collectives not started yet`;
    this.bytes += n;
    const list = this.bySeq.get(header.seq) ?? this.bySeq.set(header.seq, []).get(header.seq)!;
    list.push(volatile && payload !== undefined ? { src, header, payload: this.copy(payload), pooled: true } : { src, header, payload, pooled: false });
    return true;
  }

  /** Hands collective `seq`'s frames to `deliver`, in arrival order, and forgets them. */
  replay(seq: number, deliver: (f: EarlyFrame) => void): void {
    const list = this.bySeq.get(seq);
    this.bySeq.delete(seq);
    for (const f of list ?? []) {
      this.bytes -= f.payload?.byteLength ?? 0;
      deliver(f);
      if (f.pooled) this.recycle(f.payload!);
    }
  }

  private copy(payload: Buffer): Buffer {
    const spare = this.spare.get(payload.byteLength)?.pop();
    if (spare !== undefined) this.spareBytes -= spare.byteLength;
    const copy = spare ?? Buffer.allocUnsafeSlow(payload.byteLength);
    copy.set(payload);
    return copy;
  }

  private recycle(copy: Buffer): void {
    if (this.spareBytes + copy.byteLength > COPY_POOL_BYTES) return;
    const list = this.spare.get(copy.byteLength) ?? this.spare.set(copy.byteLength, []).get(copy.byteLength)!;
    list.push(copy);
    this.spareBytes += copy.byteLength;
  }
}
