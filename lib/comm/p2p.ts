/**
 * Point-to-point messages: send(x, dst, { tag }) and recv(like, src, { tag }), outside the op queue.
 * A message is cut into segments (ZeroMQ's ~1 MiB sweet spot), each a 'p2p' frame carrying the
 * message's per-destination sequence number, its segment index and count; frames from one peer
 * arrive in order (one connection per peer), so a receiver takes the next message of (src, tag).
 * What waits here is capped (MAX_QUEUED_BYTES in all): a peer that sends without a matching recv
 * cannot exhaust this rank's memory; beyond the cap its frames are dropped and counted.
 */
import { BYTES_PER_ELEMENT, dtypeOf, type NumericArray } from '../dtype.js';
import { ZcollError } from '../errors.js';
import type { Frame } from '../transport/frame.js';
import { p2pHeader, type P2PHeader } from '../transport/wire.js';
import type { FrameSender } from './op-queue.js';
import { segmentElemsOf } from './protocols/schedule.js';

const MAX_QUEUED_BYTES = 1 << 30;

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
}

export class PointToPoint {
  private readonly queues = new Map<string, Message[]>();
  private readonly waiters = new Map<string, () => void>();
  private readonly sendSeq = new Map<number, number>();
  private queuedBytes = 0;

  constructor(private readonly host: P2PHost) {}

  /** The engine's sink for 'p2p' frames: queued for recv, or refused beyond the cap. */
  take(src: number, h: P2PHeader, payload: Frame | undefined): true | string {
    const bytes = payload?.byteLength ?? 0;
    if (this.queuedBytes + bytes > MAX_QUEUED_BYTES) return `point-to-point frame from rank ${src}: more than ${MAX_QUEUED_BYTES} bytes wait for recv() already`;
    this.queuedBytes += bytes;
    const key = `${src}:${h.tag}`;
    const q = this.queues.get(key) ?? this.queues.set(key, []).get(key)!;
    q.push({ header: h, payload: payload?.keep() });
    this.waiters.get(key)?.();
    return true;
  }

  /** Releases the messages nobody received (the communicator is gone): their frames go back at once. */
  close(): void {
    for (const q of this.queues.values()) for (const m of q) m.payload?.release();
    this.queues.clear();
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
    // A private copy: the caller may reuse its array as soon as send() resolves.
    const bytes = Buffer.from(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
    const seq = this.sendSeq.get(dst) ?? 0;
    this.sendSeq.set(dst, seq + 1);
    const sends: Promise<void>[] = [];
    for (let s = 0; s < nseg; s++) {
      const n = Math.max(0, Math.min(segmentElems, array.length - s * segmentElems));
      const header = p2pHeader(this.host.rank, this.host.epoch, seq, tag, dtype, array.length, nseg, s, n);
      sends.push(this.host.outbox.send(dst, header, n > 0 ? bytes.subarray(s * segmentElems * elemBytes, (s * segmentElems + n) * elemBytes) : undefined));
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
    const first = await this.next(src, tag, Date.now() + timeoutMs, timeoutMs, op);
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
      if (s > 0) msg = await this.next(src, tag, deadline, timeoutMs, op);
      if (msg.header.segment !== s || msg.header.seq !== h0.seq) {
        msg.payload?.release();
        throw new ZcollError('EPROTO', `out-of-order segment from rank ${src}: got segment ${msg.header.segment} of message ${msg.header.seq}, expected ${s} of ${h0.seq}`, { rank: this.host.rank, op, peer: src });
      }
      if (msg.payload !== undefined) {
        bytes.set(msg.payload.bytes, s * segmentElems * elemBytes);
        msg.payload.release();
      }
    }
    return target;
  }

  private async next(src: number, tag: number, deadline: number, timeoutMs: number, op: string): Promise<Message> {
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
        const timer = setTimeout(wake, Math.min(left, 0x7fffffff));
        function wake(): void {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.set(key, () => {
          this.waiters.delete(key);
          wake();
        });
      });
    }
  }
}
