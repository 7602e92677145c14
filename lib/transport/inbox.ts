/**
 * The receive side of a rank, mirror of the Outbox: every frame this rank receives comes in here,
 * from its ZeroMQ inbox or from a same-host peer's mailbox lane, and leaves as (sender, header,
 * payload) for the op engine. This is the trust boundary:
 *  - the sender is the one the transport established (the connection's hello, zmq-endpoint.ts; the
 *    mailbox lane over shared memory), never the header's `sender`: a frame whose header names another
 *    sender is dropped and counted as forged;
 *  - the header is validated (wire.ts decodeMessage) and must belong to this communicator (epoch);
 *  - a shared-memory reference is validated (its region is the sender's own, its range lies in the
 *    region's data area, the slot is lent right now) before anything is done with it: an invalid one
 *    changes nothing; a valid one becomes a lent Frame (frame.ts) whose release hands it back.
 * Every payload is delivered as a Frame, lent for the call: once the sink returns, a frame it did not
 * keep is released here (a slot back to its sender, a ZeroMQ message freed).
 * Drops never throw: they are counted in the stats with their reason.
 */
import { BYTES_PER_ELEMENT } from '../dtype.js';
import { debug } from '../debug.js';
import { Frame } from './frame.js';
import { releaseFrame } from './frame-release.js';
import type { SharedMemory } from './shared-memory.js';
import { decodeMessage, type Header } from './wire.js';
import { phaseClock } from '../phase-clock.js';

/**
 * Takes one frame from `src`; its payload, if any, is lent for the call (frame.ts: keep() it to
 * read it later). Returns true when the frame was taken, else why it was refused (the inbox counts
 * the drop).
 */
export type FrameSink = (src: number, header: Header, payload: Frame | undefined) => true | string;

export interface DropStats {
  droppedFrames: number;
  lastDropReason: string;
  forgedFrames: number;
}

export class Inbox {
  /** Frames arrived, and how many of them lastFrameAt() has seen. */
  private framesIn = 0;
  private framesSeen = 0;
  private progressAt = 0;

  /**
   * When a frame last arrived (performance.now()), to within the gap between two calls: a busy-poll
   * goes on while frames keep coming, and asks between its slices. Read there rather than stamped per
   * frame (a clock read, ~50 ns, on every frame of a small op).
   */
  lastFrameAt(): number {
    if (this.framesIn !== this.framesSeen) {
      this.framesSeen = this.framesIn;
      this.progressAt = performance.now();
    }
    return this.progressAt;
  }
  private readonly onMail = (peer: number, head: Buffer, payload: Buffer | undefined): void => this.fromMailbox(peer, head, payload);

  constructor(
    private readonly rank: number,
    private readonly size: number,
    private readonly epoch: number,
    private readonly shared: SharedMemory | undefined,
    private readonly stats: DropStats,
    private readonly sink: FrameSink,
  ) {}

  /** Drains every same-host peer's mailbox lane now (busy-polling turns, and a doorbell); returns how many messages. */
  drainMail(): number {
    return this.shared?.mailbox.drain(this.onMail) ?? 0;
  }

  /** Stops polling the mailboxes, then drains once more (nothing published meanwhile is left). */
  stopPolling(): void {
    this.shared?.mailbox.stopPolling(this.onMail);
  }

  drop(reason: string, forged = false): void {
    this.stats.droppedFrames++;
    if (forged) this.stats.forgedFrames++;
    this.stats.lastDropReason = reason;
    debug('info', () => `rank ${this.rank}: dropped a frame: ${reason}`);
  }

  /**
   * A message from the ZeroMQ inbox; `src` is the rank its connection proved. The header frame is
   * decoded into values and freed at once, and so is the whole message when it is dropped: a flood of
   * refused frames then costs no memory until the next garbage collection (frame-release.ts).
   */
  fromSocket(src: number, frames: Buffer[]): void {
    phaseClock?.('arrived');
    this.framesIn++;
    const dropped = this.stats.droppedFrames;
    const h = this.decode(src, frames, 'connection');
    phaseClock?.('decoded');
    if (h !== undefined) {
      if (h.header.kind === 'mail') this.drainMail();
      else this.resolve(src, h.header, h.payload);
    }
    releaseFrame(frames[0]);
    if (this.stats.droppedFrames !== dropped) for (let i = 1; i < frames.length; i++) releaseFrame(frames[i]);
  }

  /** A message from `peer`'s mailbox lane: only collective and point-to-point frames travel there; the payload is valid during the call. */
  private fromMailbox(peer: number, head: Buffer, payload: Buffer | undefined): void {
    phaseClock?.('arrived');
    this.framesIn++;
    const h = this.decode(peer, payload === undefined ? [head] : [head, payload], 'mailbox lane');
    phaseClock?.('decoded');
    if (h === undefined) return;
    if (h.header.kind !== 'data' && h.header.kind !== 'p2p') return this.drop(`mailbox lane of rank ${peer} carries a '${h.header.kind}' frame, which never travels there`);
    // The mailbox frees the slot when this returns (lane order): a kept payload is copied.
    if (h.payload !== undefined) return this.deliver(peer, h.header, Frame.lent(h.payload, noop));
    this.resolve(peer, h.header, undefined);
  }

  private decode(src: number, frames: Buffer[], via: string): { header: Header; payload: Buffer | undefined } | undefined {
    const r = decodeMessage(frames, this.size);
    if (!r.ok) {
      this.drop(`${via} of rank ${src}: ${r.reason}`);
      return undefined;
    }
    const h = r.header;
    if (h.sender !== src) {
      this.drop(`a frame on the ${via} of rank ${src} claims to come from rank ${h.sender}`, true);
      return undefined;
    }
    if (h.epoch !== this.epoch) {
      this.drop(`frame of rank ${src} for another communicator (epoch ${h.epoch}, this one ${this.epoch})`);
      return undefined;
    }
    return { header: h, payload: r.payload };
  }

  /** A frame whose payload may be a shared-memory reference: validated, delivered, and only then handed back. */
  private resolve(src: number, h: Header, payload: Buffer | undefined): void {
    if (h.kind !== 'data' || h.shm === undefined) return this.deliver(src, h, payload === undefined ? undefined : Frame.owned(payload));
    if (this.shared === undefined) return this.drop(`rank ${src} sent a shared-memory reference, but this rank shares no memory with it`);
    const shm = h.shm;
    const ref = { size: shm.size, offset: shm.offset, state: shm.slot, dataStart: shm.dataStart };
    const bytes = h.dtype === '' ? 0 : h.elements * BYTES_PER_ELEMENT[h.dtype];
    const view = this.shared.resolve(src, shm.region, ref, bytes);
    if (typeof view === 'string') return this.drop(`shared-memory reference of rank ${src} refused: ${view}`);
    // A valid reference names a slot its sender lent, in its own region: once the engine is done with
    // it, taken or refused (a late or surplus segment of a peer that misbehaves), it goes back to its
    // sender (exactly once: the frame's release), or that sender's lane would fill up and block it.
    // Only the sender's own memory is touched.
    const shared = this.shared;
    const name = shm.region;
    this.deliver(src, h, Frame.lent(view, () => shared.release(name, ref)));
  }

  /** Lends `frame` to the sink for the call; releases it after unless the sink kept it. */
  private deliver(src: number, h: Header, frame: Frame | undefined): void {
    let taken: true | string;
    try {
      taken = this.sink(src, h, frame);
    } finally {
      frame?.afterDelivery();
    }
    if (taken !== true) this.drop(taken);
  }
}

function noop(): void {}
