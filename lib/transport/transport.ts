/**
 * A rank's transport, both halves and both media: the Outbox every frame leaves through, the Inbox
 * every frame comes in through, the ZeroMQ endpoint under them, and shared memory with the ranks of
 * this host when there is any. The op engine sees only what it needs: a sender, a sink it gives the
 * inbox, and the busy-poll hooks of the mailboxes.
 */
import { type DType, type NumericArray } from '../dtype.js';
import { allocTypedArray } from '../kernels/huge-pages.js';
import { Inbox, type DropStats, type FrameSink } from './inbox.js';
import type { Link } from './link.js';
import { Outbox } from './outbox.js';
import { SharedMemory, type SharedMemoryChoice } from './shared-memory.js';
import type { ZmqEndpoint } from './zmq-endpoint.js';

export interface TransportParams {
  readonly rank: number;
  readonly size: number;
  readonly epoch: number;
  readonly endpoint: ZmqEndpoint;
  readonly links: ReadonlyMap<number, Link>;
  readonly sharedMemory: SharedMemoryChoice;
  readonly segmentBytes: number;
  readonly stats: DropStats;
  /** Where authenticated frames go (the op engine). */
  readonly sink: FrameSink;
}

/** What a waiting op does with the same-host mailboxes (busy-poll.ts); absent without shared memory. */
export interface PollHooks {
  attachShared(): void;
  startPolling(): void;
  /** Drains the mailboxes now; returns how many messages it handed on. */
  drain(): number;
  stopPolling(): void;
  lastFrameAt(): number;
  /** Sleeps on the mailbox until a peer publishes or a short slice passes (busy-poll.ts); absent without futex. */
  park?(): boolean;
  /** Resolves once every registered-buffer reference this rank sent was released (rejects at `deadline`); undefined when none is out. */
  returned(deadline: number, op: string): Promise<void> | undefined;
}

/**
 * Longest single sleep of a waiting rank on its mailbox. The sleep blocks the event loop, so this
 * bounds how late a timer, a ZeroMQ frame (abort, bye, a payload too large for a mailbox) or a signal
 * is seen while a collective waits: a millisecond, against a thousand wake-ups a second at most.
 */
const PARK_SLICE_MICROS = 1000;

export class Transport {
  readonly outbox: Outbox;
  readonly inbox: Inbox;
  private readonly shared: SharedMemory | undefined;
  private closed = false;

  constructor(private readonly p: TransportParams) {
    // Same-host peers are the ones reached over ipc: decided once, at connect.
    const localPeers = [...p.links.values()].filter((l) => l.kind === 'ipc').map((l) => l.peer);
    this.shared = SharedMemory.open(p.sharedMemory, p.epoch, p.rank, localPeers, p.segmentBytes);
    this.outbox = new Outbox(p.links, this.shared);
    this.inbox = new Inbox(p.rank, p.size, p.epoch, this.shared, p.stats, p.sink);
  }

  /**
   * Starts delivering frames to the sink, those that arrived before first (a fast peer's hello and
   * first collective can come while this rank is still being built): called once whatever the sink
   * feeds is ready.
   */
  start(): void {
    this.p.endpoint.onMessage = (src, frames) => this.inbox.fromSocket(src, frames);
  }

  get usesSharedMemory(): boolean {
    return this.shared !== undefined;
  }

  get bound(): { ipc?: string; tcp?: string } {
    return { ...this.p.endpoint.bound };
  }

  get mailboxStats(): Readonly<{ sent: number; received: number; doorbells: number }> | undefined {
    return this.shared?.mailbox.counters;
  }

  get connectionStats(): ZmqEndpoint['connectionStats'] {
    return this.p.endpoint.connectionStats;
  }

  get security(): ZmqEndpoint['security'] {
    return this.p.endpoint.security;
  }

  pollHooks(): PollHooks | undefined {
    const shared = this.shared;
    if (shared === undefined) return undefined;
    return {
      attachShared: () => shared.attachPeers(),
      startPolling: () => shared.mailbox.startPolling(),
      drain: () => this.inbox.drainMail(),
      stopPolling: () => this.inbox.stopPolling(),
      lastFrameAt: () => this.inbox.lastFrameAt(),
      ...(shared.mailbox.canSleep ? { park: () => shared.mailbox.sleep(PARK_SLICE_MICROS) } : {}),
      returned: (deadline, op) => (shared.arenas.outstanding ? shared.arenas.returned(deadline, op) : undefined),
    };
  }

  /** A registered buffer when this rank shares memory with a peer, else an ordinary array. */
  allocate(dtype: DType, count: number): NumericArray {
    // Without shared memory: ordinary memory, in huge pages where offered (kernels/huge-pages.ts).
    return this.shared === undefined || count === 0 ? allocTypedArray(dtype, count) : this.shared.allocate(dtype, count);
  }

  free(a: NumericArray): boolean {
    return this.shared?.free(a) ?? false;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.p.endpoint.close();
    this.shared?.close();
  }
}
