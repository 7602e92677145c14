/**
 * A received payload and how long its bytes are valid: the one lifetime rule of the receive side.
 * Every payload the Inbox delivers is a Frame, whatever carried it:
 *  - a ZeroMQ message's buffer (`Frame.owned`): valid for as long as anyone holds the frame;
 *    release() frees the libzmq message at once (frame-release.ts) instead of at the next GC;
 *  - a view lent by a peer (`Frame.lent`): a slot of its shared-memory region, one of its registered
 *    buffers, or a mailbox slot; valid only until it is handed back, and release() hands it back.
 * The code that delivers a frame lends it to the handler for the duration of the call and then calls
 * afterDelivery(): a frame the handler neither kept nor released is released there. A handler that
 * needs the bytes later calls keep() during the call and release() once done; one that is done with
 * them during the call may release() at once (the executor does after a reduce: the slot goes back
 * to its sender, or the ZeroMQ message is freed, before the next frame is even read).
 * keep() of a lent view copies it into a pooled buffer and hands the view back at once, rather than
 * holding it: a sender has only a few slots per peer (shm-region.ts slotsPerPeer) and a mailbox lane
 * frees its slots in order, so a receiver that held one across a reduction order, or across ops
 * (an early frame of a collective not started yet), could leave its sender with no free slot while
 * that sender waits for it, and starve it. A ZeroMQ buffer is kept as it is: no copy.
 * Release happens exactly once: a second release is counted (frameStats.doubleReleases) and does
 * nothing, so a slot never goes back twice (the sender would overwrite bytes still being read).
 */
import { ZcollError } from '../errors.js';
import { releaseFrame } from './frame-release.js';

/** Copy buffers kept for reuse, at most this many bytes: the same segment sizes come back every step. */
const COPY_POOL_BYTES = 64 << 20;

/** Process-wide counters (diagnostics, and what the tests check). */
export const frameStats = {
  /** Frames made and not released yet: a leak shows as a count that does not come back down. */
  live: 0,
  /** Lent views copied by keep() (the only copies this module makes). */
  copies: 0,
  /** release() calls on a frame released already (harmless: counted, nothing else happens). */
  doubleReleases: 0,
};

/** Spare copy buffers by size. A fresh buffer of several MB costs a page fault per 4 KiB. */
const spare = new Map<number, Buffer[]>();
let spareBytes = 0;

function pooledCopy(view: Buffer): Buffer {
  const reused = spare.get(view.byteLength)?.pop();
  if (reused !== undefined) spareBytes -= reused.byteLength;
  const copy = reused ?? Buffer.allocUnsafeSlow(view.byteLength);
  copy.set(view);
  frameStats.copies++;
  return copy;
}

function recycle(copy: Buffer): void {
  if (spareBytes + copy.byteLength > COPY_POOL_BYTES) return;
  const list = spare.get(copy.byteLength) ?? spare.set(copy.byteLength, []).get(copy.byteLength)!;
  list.push(copy);
  spareBytes += copy.byteLength;
}

const EMPTY = Buffer.alloc(0);

/** In a delivering call and not kept; kept (someone owns it beyond the call); released. */
const LENT = 0;
const KEPT = 1;
const RELEASED = 2;
/** What backs the bytes: a buffer of this process (ZeroMQ's), a peer's view, a pooled copy. */
const OWNED = 0;
const VIEW = 1;
const POOLED = 2;

export class Frame {
  /** Bytes of the payload (still known after release, for traces and counters). */
  readonly byteLength: number;
  private data: Buffer;
  private state = LENT;
  private backing: number;
  private handBack: (() => void) | undefined;

  private constructor(data: Buffer, backing: number, handBack: (() => void) | undefined) {
    this.data = data;
    this.byteLength = data.byteLength;
    this.backing = backing;
    this.handBack = handBack;
    frameStats.live++;
  }

  /** A buffer this process owns (a ZeroMQ message's, or any ordinary Buffer): kept without a copy. */
  static owned(bytes: Buffer): Frame {
    return new Frame(bytes, OWNED, undefined);
  }

  /** A view lent by a peer, valid until `handBack` is called (once, by release() or keep()). */
  static lent(view: Buffer, handBack: () => void): Frame {
    return new Frame(view, VIEW, handBack);
  }

  /** The payload. Valid until release(), and only during the delivering call unless kept; empty once released. */
  get bytes(): Buffer {
    return this.data;
  }

  get released(): boolean {
    return this.state === RELEASED;
  }

  /**
   * Takes the frame beyond the delivering call: the caller now owns it and must release() it.
   * A lent view is copied into a pooled buffer and handed back now (see the file comment).
   * Returns the frame itself; read `bytes` after this call, not before (they may have moved).
   */
  keep(): Frame {
    if (this.state === RELEASED) throw new ZcollError('EINTERNAL', 'a received frame was kept after it was released');
    this.state = KEPT;
    if (this.backing === VIEW) {
      this.data = pooledCopy(this.data);
      this.backing = POOLED;
      this.giveBack();
    }
    return this;
  }

  /**
   * Done with the bytes: a lent view goes back to its peer, a pooled copy to the pool, a ZeroMQ
   * message is freed. Exactly once; a second call is counted and does nothing.
   */
  release(): void {
    if (this.state === RELEASED) {
      frameStats.doubleReleases++;
      return;
    }
    this.state = RELEASED;
    frameStats.live--;
    const data = this.data;
    this.data = EMPTY;
    if (this.backing === VIEW) this.giveBack();
    else if (this.backing === POOLED) recycle(data);
    else releaseFrame(data);
  }

  /** For the owner of a kept frame that hands it on to another call (early frames replayed): lent again. */
  lend(): void {
    if (this.state === KEPT) this.state = LENT;
  }

  /** For the code that delivered the frame, once the call returned: releases it unless it was kept (or released). */
  afterDelivery(): void {
    if (this.state === LENT) this.release();
  }

  private giveBack(): void {
    const h = this.handBack;
    this.handBack = undefined;
    h?.();
  }
}
