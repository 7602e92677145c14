// n simulated ranks of one schedule in ONE process: an ExecChannel per rank over an in-memory
// network that delivers frames in a seeded random order, each exactly once, with frames that can be
// held back (a slow link, a late rank) and released later. No sockets: what is tested is the
// executor's dependency logic, its reduce order and its acknowledgements under any arrival order.
// Sends are delivered as VIEWS of the sender's buffer (no copy) and their promises resolve at once,
// like zeromq.js, which may still read a view after its send promise resolved: if the executor
// rewrote a chunk before the frame carrying it landed, the receiver would see the new bytes.
import { execute, type Execution } from '../../lib/schedule/execute.js';
import type { Schedule } from '../../lib/schedule/types.js';
import type { Kernels, ElementwiseOp } from '../../lib/kernels/contract.js';
import type { NumericArray } from '../../lib/dtype.js';
import type { ZcollError } from '../../lib/errors.js';
import { Frame as Received } from '../../lib/transport/frame.js';
import { prng } from '../helpers/prng.js';
import { SENT } from '../../lib/transport/sent.js';
export { prng };

export interface Frame {
  readonly src: number;
  readonly dst: number;
  /** Transfer id, or an acknowledgement (ids -2, -3, ...). */
  readonly transfer: number;
  readonly segment: number;
  readonly payload: Uint8Array | undefined;
  readonly count: number;
}


export interface NetOptions {
  readonly schedule: Schedule;
  readonly buffers: readonly NumericArray[];
  readonly op: ElementwiseOp;
  readonly segmentElems: number;
  readonly kernels: Kernels;
  readonly seed: number;
  /** Frames for which this returns true wait in `held` until release(). */
  readonly hold?: (f: Frame) => boolean;
  /** Ranks whose execute() is not called until start(rank); frames to them wait. */
  readonly lateRanks?: readonly number[];
  /** Share of deliveries lent as a shared-memory slot would be (a private copy scribbled over once handed back). */
  readonly volatileShare?: number;
  /** Sends return SENT (completed in the call, as a shared-memory mailbox's), not a promise of their own. */
  readonly sentInCall?: boolean;
}

export class InMemoryNet {
  readonly execs: Array<Execution | undefined>;
  readonly completed: boolean[];
  readonly failures: ZcollError[] = [];
  /** Frames onFrame refused (each frame is delivered once, so every refusal is a bug). */
  readonly refused: Frame[] = [];
  readonly delivered: Frame[] = [];
  /** The frame objects handed to onFrame (each must be released in the end: nothing leaks). */
  readonly received: Received[] = [];
  private readonly queue: Frame[] = [];
  private readonly held: Frame[] = [];
  private readonly random: () => number;

  constructor(private readonly o: NetOptions) {
    const n = o.schedule.nranks;
    this.random = prng(o.seed);
    this.execs = new Array<Execution | undefined>(n).fill(undefined);
    this.completed = new Array<boolean>(n).fill(false);
    for (let r = 0; r < n; r++) if (!(o.lateRanks ?? []).includes(r)) this.start(r);
  }

  start(rank: number): void {
    if (this.execs[rank] !== undefined) return;
    const o = this.o;
    const exec = execute(
      { schedule: o.schedule, buffer: o.buffers[rank], op: o.op, segmentElems: o.segmentElems, kernels: o.kernels },
      {
        rank,
        // A volatile payload is copied at the send (as the outbox does); others are delivered as views, later.
        send: (peer, transfer, segment, payload, count, volatile) => {
          const f: Frame = { src: rank, dst: peer, transfer, segment, payload: volatile && payload !== undefined ? payload.slice() : payload, count };
          (o.hold?.(f) === true ? this.held : this.queue).push(f);
          return o.sentInCall === true ? SENT : Promise.resolve();
        },
        fail: (e) => {
          this.failures.push(e);
        },
      },
    );
    this.execs[rank] = exec;
    void exec.done.then(() => (this.completed[rank] = true));
  }

  /** Delivers queued frames in random order until none is deliverable; then lets promises settle. */
  async drain(): Promise<void> {
    for (;;) {
      const ready = this.queue.filter((f) => this.execs[f.dst] !== undefined);
      if (ready.length === 0) break;
      const f = ready[Math.floor(this.random() * ready.length)];
      this.queue.splice(this.queue.indexOf(f), 1);
      this.deliver(f);
    }
    await settle();
  }

  /** Moves every held frame (or those `which` selects) back to the queue. */
  release(which: (f: Frame) => boolean = () => true): void {
    for (let i = this.held.length - 1; i >= 0; i--) {
      if (which(this.held[i])) this.queue.push(...this.held.splice(i, 1));
    }
  }

  heldCount(): number {
    return this.held.length;
  }

  private deliver(f: Frame): void {
    const exec = this.execs[f.dst]!;
    this.delivered.push(f);
    const volatile = f.payload !== undefined && this.random() < (this.o.volatileShare ?? 0);
    let payload: Received | undefined;
    if (f.payload === undefined) payload = undefined;
    else if (volatile) {
      // A shared-memory slot: once handed back its sender reuses it, so stale bytes must never be read.
      const slot = Buffer.from(f.payload);
      payload = Received.lent(slot, () => slot.fill(0xa5));
    } else payload = Received.owned(Buffer.from(f.payload.buffer, f.payload.byteOffset, f.payload.byteLength)); // a view, as zeromq.js delivers
    if (payload !== undefined) this.received.push(payload);
    try {
      if (!exec.onFrame(f.src, f.transfer, f.segment, payload, f.count)) this.refused.push(f);
    } finally {
      payload?.afterDelivery();
    }
  }

  /** Frames handed to an executor and not released yet. */
  unreleased(): number {
    return this.received.filter((r) => !r.released).length;
  }
}

/** Lets every resolved promise's callbacks run (the executor completes through promise callbacks). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
