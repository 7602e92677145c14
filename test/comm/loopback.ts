// An in-process transport for n op engines (OpQueue) of ONE process: every FrameSender.send goes
// into a pool, and a pump delivers pooled frames to the destination's FrameSink a few per
// event-loop turn (setImmediate), so the engines' promise callbacks run between deliveries as they would
// between ZeroMQ messages. What it does to frames is chosen per test and driven by a seeded PRNG,
// so a failing order is reproducible from its seed:
//  - 'inorder': global send order (what a single perfect link would do);
//  - 'fifo':    every frame waits a random number of pump turns, but frames of one (src, dst) pair
//               never overtake each other (ZeroMQ keeps per-connection order);
//  - 'shuffle': random waits with no order at all, not even per pair (stricter than ZeroMQ);
// plus duplicates (a second copy that lands after the first), drops and held frames.
// Payloads are delivered as views of the sender's memory, as zeromq.js delivers large messages
// and may still read a view after its send promise resolved: an engine that rewrote a chunk before
// its frame landed would show it. `volatileShare` lends some frames as a shared-memory slot is lent
// (transport/frame.ts: a private copy scribbled over once handed back), which exercises the engine's
// keep() and release(). Every frame object delivered is recorded: a test can check none leaks.
import type { FrameSender } from '../../lib/comm/op-queue.js';
import { Frame } from '../../lib/transport/frame.js';
import type { FrameSink } from '../../lib/transport/inbox.js';
import type { Header } from '../../lib/transport/wire.js';
import { prng } from '../helpers/prng.js';

export type Ordering = 'inorder' | 'fifo' | 'shuffle';

export interface LoopFrame {
  readonly src: number;
  readonly dst: number;
  readonly header: Header;
  readonly payload: Uint8Array | undefined;
  /** Send order over the whole loopback (0, 1, ...); a duplicate keeps its original's. */
  readonly id: number;
  readonly duplicate: boolean;
}

export interface LoopbackOptions {
  readonly size: number;
  readonly ordering: Ordering;
  readonly seed: number;
  /** Most pump turns a frame waits before it may be delivered ('fifo' and 'shuffle'); default 20. */
  readonly maxLag?: number;
  /** Frames for which this returns true are sent twice (the copy lands after the original). */
  readonly duplicate?: (f: LoopFrame) => boolean;
  /** Frames for which this returns true are lost (their send still resolves, as ZeroMQ's does). */
  readonly drop?: (f: LoopFrame) => boolean;
  /** Frames for which this returns true wait until release(). */
  readonly hold?: (f: LoopFrame) => boolean;
  /** Share of payload frames lent as shared-memory slots (0 by default). */
  readonly volatileShare?: number;
  /** Frames delivered per event-loop turn (default 8): fewer turns, same orders (sends happen inside a delivery). */
  readonly perTurn?: number;
}

export interface Refusal {
  readonly frame: LoopFrame;
  readonly reason: string;
}

interface Pending {
  readonly frame: LoopFrame;
  /** Pump turn from which the frame may be delivered. */
  readonly readyAt: number;
}

export class Loopback {
  readonly sinks: Array<FrameSink | undefined>;
  /** Every frame handed to a sink, in delivery order, with what the sink said. */
  readonly delivered: Array<{ frame: LoopFrame; taken: true | string }> = [];
  readonly refused: Refusal[] = [];
  readonly dropped: LoopFrame[] = [];
  /** Every payload frame object handed to a sink (each must be released in the end). */
  readonly payloads: Frame[] = [];
  /** Called after each delivery (tests that watch when frames land relative to their ranks). */
  onDeliver: ((f: LoopFrame, taken: true | string) => void) | undefined;
  private readonly random: () => number;
  private readonly pool: Pending[] = [];
  private readonly held: LoopFrame[] = [];
  private turn = 0;
  private nextId = 0;
  private pumping = false;
  private closed = false;

  constructor(private readonly o: LoopbackOptions) {
    this.sinks = new Array<FrameSink | undefined>(o.size).fill(undefined);
    this.random = prng(o.seed);
  }

  /** Connects rank `rank`'s sink (its OpQueue's `frame`). */
  attach(rank: number, sink: FrameSink): void {
    this.sinks[rank] = sink;
  }

  /** The FrameSender of rank `src`. */
  sender(src: number): FrameSender {
    return {
      // A volatile payload is copied at the send, as the outbox does (it delivers later, from views).
      send: (peer, header, payload, volatile) => {
        this.post(src, peer, header, volatile === true && payload !== undefined ? payload.slice() : payload);
        return Promise.resolve();
      },
    };
  }

  /** Moves held frames (those `which` selects) back into the pool, in their send order. */
  release(which: (f: LoopFrame) => boolean = () => true): void {
    const out = this.held.filter(which);
    for (const f of out) this.held.splice(this.held.indexOf(f), 1);
    for (const f of out.sort((a, b) => a.id - b.id)) this.enqueue(f);
    this.kick();
  }

  get heldCount(): number {
    return this.held.length;
  }

  /** Payload frames delivered and not released yet. */
  get unreleased(): number {
    return this.payloads.filter((p) => !p.released).length;
  }

  get pending(): number {
    return this.pool.length;
  }

  /** Stops delivering (frames sent afterwards are discarded). */
  close(): void {
    this.closed = true;
    this.pool.length = 0;
    this.held.length = 0;
  }

  private post(src: number, dst: number, header: Header, payload: Uint8Array | undefined): void {
    if (this.closed) return;
    if (dst < 0 || dst >= this.o.size || dst === src) throw new Error(`loopback: rank ${src} sent to rank ${dst}`);
    const frame: LoopFrame = { src, dst, header, payload, id: this.nextId++, duplicate: false };
    if (this.o.drop?.(frame) === true) {
      this.dropped.push(frame);
      return;
    }
    if (this.o.hold?.(frame) === true) this.held.push(frame);
    else this.enqueue(frame);
    if (this.o.duplicate?.(frame) === true) {
      // Enqueued after the original: in 'fifo' and 'inorder' it lands after it; in 'shuffle' it
      // waits at least as long, so it also lands after it unless the original is held.
      this.enqueue({ ...frame, duplicate: true }, this.pool.find((p) => p.frame === frame)?.readyAt);
    }
    this.kick();
  }

  private enqueue(frame: LoopFrame, notBefore = 0): void {
    const lag = this.o.ordering === 'inorder' ? 0 : Math.floor(this.random() * ((this.o.maxLag ?? 20) + 1));
    this.pool.push({ frame, readyAt: Math.max(notBefore, this.turn + lag) });
  }

  private kick(): void {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    setImmediate(() => this.pump());
  }

  /** The index in the pool of the frame to deliver this turn, or -1 when none is ready yet. */
  private pick(): number {
    const pool = this.pool;
    switch (this.o.ordering) {
      case 'inorder':
        return pool.length > 0 ? 0 : -1;
      case 'shuffle': {
        const ready: number[] = [];
        for (let i = 0; i < pool.length; i++) if (pool[i].readyAt <= this.turn) ready.push(i);
        return ready.length === 0 ? -1 : ready[Math.floor(this.random() * ready.length)];
      }
      case 'fifo': {
        // Per pair, only its oldest pooled frame may go, and only once its own wait is over: a
        // frame waiting long holds back the later frames of its pair (head-of-line, as on a link).
        const heads: number[] = [];
        const seen = new Set<number>();
        for (let i = 0; i < pool.length; i++) {
          const key = pool[i].frame.src * this.o.size + pool[i].frame.dst;
          if (seen.has(key)) continue;
          seen.add(key);
          if (pool[i].readyAt <= this.turn) heads.push(i);
        }
        return heads.length === 0 ? -1 : heads[Math.floor(this.random() * heads.length)];
      }
    }
  }

  private pump(): void {
    if (this.closed) return;
    for (let k = 0; k < (this.o.perTurn ?? 8) && this.pool.length > 0; k++) {
      this.turn++;
      const i = this.pick();
      if (i < 0) {
        // Nothing ready: skip the idle turns up to the first frame whose wait is over.
        this.turn = Math.max(this.turn, Math.min(...this.pool.map((p) => p.readyAt)) - 1);
        continue;
      }
      const [{ frame }] = this.pool.splice(i, 1);
      this.deliver(frame);
    }
    if (this.pool.length > 0) setImmediate(() => this.pump());
    else this.pumping = false;
  }

  private deliver(f: LoopFrame): void {
    const sink = this.sinks[f.dst];
    if (sink === undefined) throw new Error(`loopback: rank ${f.dst} has no sink`);
    const volatile = f.payload !== undefined && this.random() < (this.o.volatileShare ?? 0);
    let payload: Frame | undefined;
    if (f.payload === undefined) payload = undefined;
    else if (volatile) {
      // A slot is reused by its sender once handed back: stale bytes must never be read.
      const slot = Buffer.from(f.payload);
      payload = Frame.lent(slot, () => slot.fill(0xa5));
    } else payload = Frame.owned(Buffer.from(f.payload.buffer, f.payload.byteOffset, f.payload.byteLength));
    if (payload !== undefined) this.payloads.push(payload);
    let taken: true | string;
    try {
      taken = sink(f.src, f.header, payload);
    } finally {
      payload?.afterDelivery();
    }
    this.delivered.push({ frame: f, taken });
    if (taken !== true) this.refused.push({ frame: f, reason: taken });
    this.onDeliver?.(f, taken);
  }
}
