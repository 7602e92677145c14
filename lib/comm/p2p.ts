/**
 * Point-to-point messages: send(x, dst, { tag }) and recv(like, src, { tag }), outside the op queue.
 * A message is cut into segments (ZeroMQ's ~1 MiB sweet spot), each a 'p2p' frame carrying the
 * message's per-destination sequence number, its segment index and count.
 * Frames of one peer come by two ways: its same-host mailbox lane (small frames, while this rank
 * polls) and its ZeroMQ connection (the rest), each in order but not with each other. So frames are
 * put back in the sender's order here, by (sequence number, segment), before a recv() sees them:
 * messages between two ranks never overtake each other, as MPI promises. The way a frame came proves
 * its sender (never the header); the order within that sender's stream is the header's, checked.
 * What waits here is capped (MAX_QUEUED_BYTES in all, MAX_FRAMES_AHEAD out of order per peer): a peer
 * that sends without a matching recv, or sends holes on purpose, cannot exhaust this rank's memory;
 * beyond the cap its frames are dropped and counted.
 */
import { BYTES_PER_ELEMENT, dtypeOf, type DType, type NumericArray } from '../dtype.js';
import { ZcollError } from '../errors.js';
import type { Frame } from '../transport/frame.js';
import { p2pHeader, type P2PHeader } from '../transport/wire.js';
import type { FrameSender } from './op-queue.js';
import { segmentElemsOf } from './protocols/schedule.js';
import { phaseClock } from '../phase-clock.js';

const MAX_QUEUED_BYTES = 1 << 30;
/**
 * Frames of one peer held out of order, at most. A frame overtakes only frames still on the other
 * way (ZeroMQ's queue while the mailbox carries the newer ones): a few hundred at most in practice.
 */
export const MAX_FRAMES_AHEAD = 4096;

interface Message {
  header: P2PHeader;
  /** Kept until recv() copied it into its target. */
  payload: Frame | undefined;
}

export interface P2PHost {
  readonly rank: number;
  readonly epoch: number;
  readonly segmentBytes: number;
  readonly outbox: FrameSender;
  /** Throws ECLOSED when the communicator is closed or poisoned. */
  assertUsable(op: string): void;
  /** Why `peer` is gone (lost or its link failed), or undefined. */
  gone(peer: number): ZcollError | undefined;
  /** Whether a recv of `count` x `dtype` busy-polls (poller.ts), and the wait itself. */
  spins(dtype: DType, count: number): boolean;
  wait(done: () => boolean, spins: boolean, leavingLoop?: () => void): void;
  /** Maps the regions of same-host peers, whose mailboxes carry small frames (the first collective after init does too; a send or recv may come first). */
  attach(): void;
}

/** Where a sender's stream stands: the next frame expected, and those that came before their turn. */
interface Stream {
  seq: number;
  segment: number;
  readonly held: Map<string, Message>;
}

export class PointToPoint {
  private readonly queues = new Map<string, Message[]>();
  private readonly waiters = new Map<string, () => void>();
  private readonly sendSeq = new Map<number, number>();
  private readonly streams = new Map<number, Stream>();
  private queuedBytes = 0;

  constructor(private readonly host: P2PHost) {}

  /** The engine's sink for 'p2p' frames: put in the sender's order, queued for recv, or refused. */
  take(src: number, h: P2PHeader, payload: Frame | undefined): true | string {
    phaseClock?.('dispatched');
    const bytes = payload?.byteLength ?? 0;
    if (this.queuedBytes + bytes > MAX_QUEUED_BYTES) return `point-to-point frame from rank ${src}: more than ${MAX_QUEUED_BYTES} bytes wait for recv() already`;
    const s = this.streams.get(src) ?? this.streams.set(src, { seq: 0, segment: 0, held: new Map() }).get(src)!;
    if (h.seq < s.seq || (h.seq === s.seq && h.segment < s.segment)) return `point-to-point frame from rank ${src} (message ${h.seq}, segment ${h.segment}) repeats one already received`;
    if (h.seq !== s.seq || h.segment !== s.segment) {
      // Early: a frame on the other way is still coming. Held (copied: a mailbox slot is lent only for this call).
      const key = `${h.seq}:${h.segment}`;
      if (s.held.has(key)) return `point-to-point frame from rank ${src} (message ${h.seq}, segment ${h.segment}) came twice`;
      if (s.held.size >= MAX_FRAMES_AHEAD) return `point-to-point frame from rank ${src}: more than ${MAX_FRAMES_AHEAD} frames ahead of the one expected (message ${s.seq}, segment ${s.segment})`;
      this.queuedBytes += bytes;
      s.held.set(key, { header: h, payload: payload?.keep() });
      return true;
    }
    this.queuedBytes += bytes;
    this.enqueue(src, s, { header: h, payload: payload?.keep() });
    // In order with nothing held (the usual case): no key is built per frame.
    for (let next = s.held.size === 0 ? undefined : s.held.get(`${s.seq}:${s.segment}`); next !== undefined; next = s.held.get(`${s.seq}:${s.segment}`)) {
      s.held.delete(`${s.seq}:${s.segment}`);
      this.enqueue(src, s, next);
    }
    phaseClock?.('taken');
    return true;
  }

  /** Queues the frame the stream expected for recv(), and moves the stream past it. */
  private enqueue(src: number, s: Stream, m: Message): void {
    const h = m.header;
    if (h.segment + 1 < h.segments) s.segment = h.segment + 1;
    else {
      s.seq = h.seq + 1;
      s.segment = 0;
    }
    const key = `${src}:${h.tag}`;
    const q = this.queues.get(key) ?? this.queues.set(key, []).get(key)!;
    q.push(m);
    this.waiters.get(key)?.();
  }

  /** Releases the messages nobody received (the communicator is gone): their frames go back at once. */
  close(): void {
    for (const q of this.queues.values()) for (const m of q) m.payload?.release();
    for (const st of this.streams.values()) for (const m of st.held.values()) m.payload?.release();
    this.queues.clear();
    this.streams.clear();
    this.queuedBytes = 0;
  }

  /** Wakes every recv() (a peer was lost, or the communicator failed): each rechecks and throws. */
  wakeAll(): void {
    for (const w of [...this.waiters.values()]) w();
  }

  async send(array: NumericArray, dst: number, tag: number, op: string): Promise<void> {
    const dtype = dtypeOf(array);
    const elemBytes = BYTES_PER_ELEMENT[dtype];
    const segmentElems = segmentElemsOf(this.host.segmentBytes, elemBytes);
    const nseg = Math.max(1, Math.ceil(array.length / segmentElems));
    this.host.attach();
    // The caller may reuse its array as soon as send() resolves: the frames go out volatile, copied by
    // the outbox at the call (into the peer's mailbox, or privately on the ways that read later).
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    const seq = this.sendSeq.get(dst) ?? 0;
    this.sendSeq.set(dst, seq + 1);
    const sends: Promise<void>[] = [];
    for (let s = 0; s < nseg; s++) {
      const n = Math.max(0, Math.min(segmentElems, array.length - s * segmentElems));
      const header = p2pHeader(this.host.rank, this.host.epoch, seq, tag, dtype, array.length, nseg, s, n);
      sends.push(this.host.outbox.send(dst, header, n > 0 ? bytes.subarray(s * segmentElems * elemBytes, (s * segmentElems + n) * elemBytes) : undefined, true));
    }
    try {
      await Promise.all(sends);
    } catch (e) {
      throw new ZcollError('ETIMEDOUT', `could not queue a message to rank ${dst}: ${(e as Error).message}`, { rank: this.host.rank, op, peer: dst }, { cause: e });
    }
  }

  /** Fills `target` with the next message from `src` on `tag`; EMISMATCH when it has another dtype or size. */
  async recv(target: NumericArray, src: number, tag: number, timeoutMs: number, op: string): Promise<NumericArray> {
    const dtype = dtypeOf(target);
    const elemBytes = BYTES_PER_ELEMENT[dtype];
    const spins = this.host.spins(dtype, target.length);
    this.host.attach();
    const first = await this.next(src, tag, Date.now() + timeoutMs, timeoutMs, op, spins);
    const h0 = first.header;
    if (h0.dtype !== dtype || h0.count !== target.length) {
      first.payload?.release();
      throw new ZcollError('EMISMATCH', `rank ${src} sent ${h0.count} x ${h0.dtype || 'none'} on tag ${tag}; this rank expects ${target.length} x ${dtype}`, { rank: this.host.rank, op, peer: src });
    }
    const bytes = new Uint8Array(target.buffer, target.byteOffset, target.byteLength);
    const segmentElems = segmentElemsOf(this.host.segmentBytes, elemBytes);
    const deadline = Date.now() + timeoutMs;
    let msg = first;
    for (let s = 0; s < h0.segments; s++) {
      if (s > 0) msg = await this.next(src, tag, deadline, timeoutMs, op, spins);
      if (msg.header.segment !== s || msg.header.seq !== h0.seq) {
        msg.payload?.release();
        throw new ZcollError('EPROTO', `out-of-order segment from rank ${src}: got segment ${msg.header.segment} of message ${msg.header.seq}, expected ${s} of ${h0.seq}`, { rank: this.host.rank, op, peer: src });
      }
      if (msg.payload !== undefined) {
        bytes.set(msg.payload.bytes, s * segmentElems * elemBytes);
        msg.payload.release();
      }
    }
    phaseClock?.('copied');
    return target;
  }

  private async next(src: number, tag: number, deadline: number, timeoutMs: number, op: string, spins: boolean): Promise<Message> {
    const key = `${src}:${tag}`;
    for (;;) {
      const q = this.queues.get(key);
      if (q !== undefined && q.length > 0) {
        const m = q.shift()!;
        this.queuedBytes -= m.payload?.byteLength ?? 0;
        return m;
      }
      // What was sent before the peer went is delivered above; nothing more will come. Said before
      // ECLOSED: the peer's loss is what poisoned the communicator, and it is what the caller needs.
      const gone = this.host.gone(src);
      if (gone !== undefined) throw new ZcollError(gone.code, `no message from rank ${src} on tag ${tag}: ${gone.message}`, { rank: this.host.rank, op, peer: src }, { cause: gone });
      this.host.assertUsable(op);
      const left = deadline - Date.now();
      if (left <= 0) throw new ZcollError('ETIMEDOUT', `no message from rank ${src} on tag ${tag} within ${timeoutMs} ms`, { rank: this.host.rank, op, peer: src });
      await new Promise<void>((resolve) => {
        let woken = false;
        let timer: NodeJS.Timeout | undefined;
        function wake(): void {
          woken = true;
          clearTimeout(timer);
          resolve();
        }
        // The deadline's timer is set when the wait first hands the event loop back (timers fire only
        // there): a message that comes while the wait still polls costs no timer.
        const arm = (): void => {
          if (!woken && timer === undefined) timer = setTimeout(wake, Math.max(0, Math.min(deadline - Date.now(), 0x7fffffff)));
        };
        this.waiters.set(key, () => {
          this.waiters.delete(key);
          wake();
        });
        // Polls the mailboxes (the first slice now): a message already published is taken at once.
        this.host.wait(() => woken, spins, arm);
        if (!spins) arm();
      });
    }
  }
}
