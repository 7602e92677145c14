/**
 * Frames of collectives this rank has not started yet: a peer done with its local work sends while
 * this rank is still in its own. Kept per sequence number, within the engine's window, and capped
 * in bytes so that a flood cannot exhaust memory. Each payload is kept (transport/frame.ts: a lent
 * shared-memory view is copied and handed back to its sender at once) and released when its
 * collective has taken it, or when no collective will (the engine is closed or poisoned, which any
 * failed op does: an aborted collective never replays its own).
 */
import type { Frame } from '../transport/frame.js';
import type { DataHeader } from '../transport/wire.js';

/** Bytes buffered for collectives not started yet, at most. */
const MAX_EARLY_BYTES = 1 << 30;

export interface EarlyFrame {
  readonly src: number;
  readonly header: DataHeader;
  readonly payload: Frame | undefined;
}

export class EarlyFrames {
  private readonly bySeq = new Map<number, EarlyFrame[]>();
  private bytes = 0;
  private closed = false;

  /** Keeps a frame of collective `header.seq` (its payload is kept). Returns why not, when refused. */
  keep(src: number, header: DataHeader, payload: Frame | undefined): true | string {
    // No collective will run to take it (the engine is closed or poisoned): taken, not kept, so released.
    if (this.closed) return true;
    const n = payload?.byteLength ?? 0;
    if (this.bytes + n > MAX_EARLY_BYTES) return `more than ${MAX_EARLY_BYTES} bytes buffered for collectives not started yet`;
    this.bytes += n;
    const list = this.bySeq.get(header.seq) ?? this.bySeq.set(header.seq, []).get(header.seq)!;
    list.push({ src, header, payload: payload?.keep() });
    return true;
  }

  /** Whether frames of collective `seq` are kept (asked first: most collectives have none, and replay takes a closure). */
  holds(seq: number): boolean {
    return this.bySeq.size > 0 && this.bySeq.has(seq);
  }

  /**
   * Hands collective `seq`'s frames to `deliver`, in arrival order, and forgets them. Each payload
   * is lent to the call as a fresh delivery would be: kept by it, or released after it.
   */
  replay(seq: number, deliver: (f: EarlyFrame) => void): void {
    const list = this.bySeq.get(seq);
    this.bySeq.delete(seq);
    for (const f of list ?? []) {
      this.bytes -= f.payload?.byteLength ?? 0;
      f.payload?.lend();
      try {
        deliver(f);
      } finally {
        f.payload?.afterDelivery();
      }
    }
  }

  /** Releases every frame and keeps no more (the engine is closed, or poisoned: no later collective runs). */
  close(): void {
    this.closed = true;
    for (const list of this.bySeq.values()) for (const f of list) f.payload?.release();
    this.bySeq.clear();
    this.bytes = 0;
  }

  /** Frames buffered now (diagnostics and tests). */
  get count(): number {
    let n = 0;
    for (const list of this.bySeq.values()) n += list.length;
    return n;
  }
}
