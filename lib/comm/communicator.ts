/**
 * The Communicator: a group of ranks and the collectives between them. Collectives run one at a
 * time, in call order, each with a sequence number that every rank must reach with the same op,
 * dtype and size; the header of every frame carries them, so disagreements fail with EMISMATCH on
 * every rank (the rank that sees it tells the others), a silent peer fails with ETIMEDOUT naming
 * it, and after either the communicator is poisoned (ECLOSED) until it is created again, since its
 * peers may be anywhere in their sequence.
 */
import type { ElementwiseOp } from '../kernels/contract.js';
import { kernels } from '../kernels/index.js';
import { allocArray, BYTES_PER_ELEMENT, DTYPES, dtypeOf, isNumericArray, type DType, type NumericArray } from '../dtype.js';
import { check, ZcollError, ERROR_CODES, type ErrorCode } from '../errors.js';
import { execute } from '../schedule/execute.js';
import { buildRing } from '../schedule/ring.js';
import { cachedSchedule, SCHEDULE_ALGORITHMS, type ScheduleAlgorithm } from '../schedule/cache.js';
import { chooseAlgorithm } from '../schedule/choose.js';
import type { SimParams } from '../schedule/simulate.js';
import { buildTopology, type Topology } from '../cluster/topology.js';
import { BROADCAST_ALGORITHMS, buildBroadcast, type BroadcastAlgorithm } from '../schedule/broadcast.js';
import { chunkSpan } from '../schedule/partition.js';
import type { Schedule } from '../schedule/types.js';
import type { Link } from '../transport/link.js';
import { Outbox, type FaultSeam } from '../transport/outbox.js';
import { InRegions, OutRegion, regionName, removeStaleRegions, shmSupported, shmUnavailableReason } from '../transport/shm-region.js';
import type { TransportChoice } from '../cluster/config.js';
import { decodeMessage, PROTOCOL_VERSION, type Header } from '../transport/wire.js';
import { releaseFrame } from '../transport/frame-release.js';
import type { ZmqEndpoint } from '../transport/zmq-endpoint.js';
import { isTensor, makeTensor, readTensor, tensorDType, type Tensor } from '../tensor/bridge.js';
import { OpContext, type OpDescriptor, type OpHost } from './op-context.js';
import { debug } from '../debug.js';
import { spinEnabled, spinWhilePending, SPIN_BUDGET_MS, SPIN_MAX_BYTES, type PollMode } from './busy-poll.js';
import { ShmMailbox } from '../transport/shm-mailbox.js';
import { isRegionOf, SharedArenas } from '../transport/shm-arena.js';

export type ReduceOp = 'sum' | 'avg' | 'min' | 'max';
export const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'avg', 'min', 'max'];
export type AllReduceAlgorithm = 'auto' | ScheduleAlgorithm;
export const ALLREDUCE_ALGORITHMS: readonly string[] = ['auto', ...SCHEDULE_ALGORITHMS];
/**
 * The cost model 'auto' uses on this transport: per-message latency of ZeroMQ between Node processes
 * (~100 us: a wake-up on another core), ~1 GB/s per direction, the reduction kernel's ~2 GB/s.
 */
const SMALL_MESSAGE_BYTES = 64 * 1024;
const SMALL_MESSAGE_ALGORITHMS: readonly ScheduleAlgorithm[] = ['recursive-doubling', 'tree', 'multitree'];
const LARGE_MESSAGE_ALGORITHMS: readonly ScheduleAlgorithm[] = ['ring', 'multitree', 'tree'];
const PEER_LOST_GRACE_MS = 250;
const MAX_SEQ_AHEAD = 64;
const AUTO_MODEL: SimParams = { alphaS: 100e-6, betaSPerByte: 1 / 1e9, gammaSPerByte: 0.5e-9 };

/**
 * The option keys each call takes (the keys of its options interface). An unknown key, a typo such
 * as { opp: 'max' }, fails with EINVAL instead of silently running the default.
 */
const OPTION_KEYS = {
  allReduce: ['op', 'algorithm', 'timeoutMs', 'inPlace'],
  reduceScatter: ['op', 'timeoutMs', 'inPlace'],
  allGather: ['timeoutMs', 'out'],
  broadcast: ['root', 'algorithm', 'timeoutMs', 'inPlace'],
  gather: ['root', 'timeoutMs'],
  exchangeDirect: ['root', 'into', 'timeoutMs'],
  barrier: ['timeoutMs'],
  send: ['tag', 'timeoutMs'],
  recv: ['tag', 'timeoutMs'],
} as const satisfies Record<string, readonly string[]>;

/** A tensor or a typed array: what every collective accepts. */
export type Collectible = Tensor | NumericArray;

export interface TimeoutOptions {
  /** Deadline for this collective, in ms (default: the communicator's timeoutMs). */
  timeoutMs?: number;
}

export interface CollectiveOptions extends TimeoutOptions {
  /** Typed arrays only: write the result into the input array. */
  inPlace?: boolean;
}

export interface ReduceScatterOptions extends CollectiveOptions {
  op?: ReduceOp;
}

export interface AllReduceOptions extends ReduceScatterOptions {
  algorithm?: AllReduceAlgorithm;
}

/** gather and exchangeDirect: the result is not the input's shape, so there is no inPlace. */
export interface RootedOptions extends TimeoutOptions {
  root?: number;
}

export interface BroadcastOptions extends CollectiveOptions {
  root?: number;
  /**
   * Schedule (default: 'chain' for messages of 4 segments or more, else 'binomial'). 'flat': the root
   * sends to every rank itself, nothing is relayed (a trusted server's reply). Every rank must pass
   * the same; an explicit choice is compared between ranks (EMISMATCH).
   */
  algorithm?: BroadcastAlgorithm;
}

export interface AllGatherOptions<A extends NumericArray = NumericArray> extends TimeoutOptions {
  /** Typed arrays: write the result (count x world size) into this caller-owned array instead of a fresh one. */
  out?: A;
}

export interface ExchangeOptions<A extends NumericArray = NumericArray> extends RootedOptions {
  /**
   * Caller-owned destinations for steady-state rounds, one slot per rank (length = world size):
   * rank r's contribution is written into into[r] (an array of x's type and length; undefined: a
   * fresh one) and returned as entries[r], and this rank's own entry is x itself, not a copy. Slots
   * must not share memory with x or with each other. The non-roots of a rooted exchange receive
   * nothing: for them only the last rule applies (their entry is x).
   */
  into?: ReadonlyArray<A | undefined>;
}

export interface P2POptions {
  tag?: number;
  timeoutMs?: number;
}

export interface CommunicatorInit {
  readonly rank: number;
  readonly size: number;
  readonly localRank: number;
  readonly localSize: number;
  readonly host: string;
  readonly epoch: number;
  readonly endpoint: ZmqEndpoint;
  readonly links: ReadonlyMap<number, Link>;
  readonly timeoutMs: number;
  readonly segmentBytes: number;
  readonly algorithm: string;
  /** 'auto' and 'shm' use shared memory between ranks of one host when the addon is built (default: ZCOLL_TRANSPORT or 'auto'). */
  readonly transport?: TransportChoice;
  /** The config's "topology" (default: one switch) for MULTITREE and the 'auto' cost model. */
  readonly topology?: unknown;
  /** Busy-poll collectives (busy-poll.ts; default 'auto'; init() reads ZCOLL_POLL). */
  readonly poll?: PollMode;
}

/**
 * One timeline event in the Chrome trace format (what Horovod's timeline writes): 'B'/'E' open and
 * close a collective, 'X' is a send (queued until handed to ZeroMQ) or a received frame's reduction.
 */
export interface TraceEvent {
  name: string;
  cat: 'collective' | 'send' | 'recv';
  ph: 'B' | 'E' | 'X';
  /** Microseconds since the process started (performance.now() * 1000). */
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

/** Counters a user (and the tests) can read: what was dropped and why, what was sent. */
export interface CommStats {
  droppedFrames: number;
  lastDropReason: string;
  abortsReceived: number;
}

interface PendingFrame {
  src: number;
  header: Header;
  payload: Buffer | undefined;
  /** The payload is this rank's copy of a shared-memory slot, from `earlyCopies`: handed back after delivery. */
  pooled: boolean;
}

interface P2PMessage {
  header: Header;
  payload: Buffer | undefined;
}

/** Frames buffered for collectives this rank has not reached yet are capped, so a flood cannot exhaust memory. */
const MAX_PENDING_BYTES = 1 << 30;
/** Spare buffers kept for early shared-memory payloads (earlyCopies), at most this many bytes. */
const EARLY_COPY_POOL_BYTES = 64 << 20;

export class Communicator implements OpHost {
  readonly rank: number;
  readonly size: number;
  readonly localRank: number;
  readonly localSize: number;
  readonly host: string;
  readonly epoch: number;
  readonly timeoutMs: number;
  readonly segmentBytes: number;
  readonly algorithm: string;
  /** The network as zcoll models it (MULTITREE's input and 'auto''s cost model). */
  readonly topology: Topology;
  readonly stats: CommStats = { droppedFrames: 0, lastDropReason: '', abortsReceived: 0 };
  readonly outbox: Outbox;

  private readonly endpoint: ZmqEndpoint;
  private nextSeq = 0;
  private startedSeq = -1;
  private active: OpContext | undefined;
  private readonly pendingFrames = new Map<number, PendingFrame[]>();
  private pendingBytes = 0;
  /**
   * Buffers for copies of shared-memory payloads that arrive before their collective starts (a peer
   * done with its local work sends while this rank is still in its own), by size. A slot must be
   * handed back at once, so the bytes are copied; a fresh buffer of several MB costs a page fault per
   * 4 KiB, a reused one does not, and the same sizes come back every step.
   */
  private readonly earlyCopies = new Map<number, Buffer[]>();
  private earlyCopyBytes = 0;
  private readonly pendingAborts = new Map<number, ZcollError>();
  private readonly p2pQueues = new Map<string, P2PMessage[]>();
  private readonly p2pWaiters = new Map<string, () => void>();
  private readonly p2pSendSeq = new Map<number, number>();
  private poison: ZcollError | undefined;
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();
  /** Collectives called and not yet settled (queued or running). */
  private inFlight = 0;
  private readonly schedules = new Map<string, Schedule>();
  private readonly inRegions = new InRegions();
  private readonly localPeers: readonly number[];
  /** Peers that closed their communicator on purpose: their disconnect is not a failure. */
  private readonly saidBye = new Set<number>();
  private readonly lostPeers = new Set<number>();
  /** Per collective: the peers that said their deadline for it expired. */
  private readonly stuckFrom = new Map<number, Set<number>>();
  private regionsAttached = false;
  /** Collectives may keep the event loop polling instead of sleeping (busy-poll.ts; which ones: spins()). */
  private readonly spin: boolean;
  /** When the last frame arrived (performance.now()): a spin goes on while frames keep coming. */
  private lastFrameAt = 0;
  /** Same-host mailboxes for small frames while ranks busy-poll (shm-mailbox.ts); undefined without shm. */
  private readonly mailbox: ShmMailbox | undefined;
  private readonly onMail = (peer: number, head: Buffer, payload: Buffer | undefined): void => this.onMailboxMessage(peer, head, payload);

  constructor(init: CommunicatorInit) {
    this.rank = init.rank;
    this.size = init.size;
    this.localRank = init.localRank;
    this.localSize = init.localSize;
    this.host = init.host;
    this.epoch = init.epoch;
    this.endpoint = init.endpoint;
    this.timeoutMs = init.timeoutMs;
    this.segmentBytes = init.segmentBytes;
    this.algorithm = init.algorithm;
    this.topology = buildTopology(init.topology, init.size);
    this.outbox = new Outbox(init.links);
    const transport = init.transport ?? (process.env.ZCOLL_TRANSPORT as TransportChoice | undefined) ?? 'auto';
    const localPeers = [...init.links.values()].filter((l) => l.kind === 'ipc').map((l) => l.peer);
    this.localPeers = localPeers;
    if ((transport === 'auto' || transport === 'shm') && localPeers.length > 0) {
      if (shmSupported()) {
        removeStaleRegions();
        this.outbox.shm = new OutRegion(this.epoch, this.rank, localPeers, this.segmentBytes);
        this.mailbox = new ShmMailbox(this.rank, this.outbox.shm, this.inRegions, (p) => regionName(this.epoch, p), localPeers);
        this.outbox.mailbox = this.mailbox;
        this.outbox.arenas = new SharedArenas(this.epoch, this.rank, localPeers);
      } else if (transport === 'shm') {
        throw new ZcollError('ECONFIG', `transport 'shm' was asked for but shared memory is unavailable: ${shmUnavailableReason()}`, { rank: this.rank });
      }
    }
    this.spin = spinEnabled(init.poll ?? 'auto', this.localSize);
    this.endpoint.onMessage = (frames) => this.onMessage(frames);
  }

  /** Receives timeline events when set (zcoll bench --trace); undefined costs nothing. */
  traceSink: ((e: TraceEvent) => void) | undefined;

  private trace(e: Omit<TraceEvent, 'pid' | 'tid'>): void {
    this.traceSink?.({ ...e, pid: this.rank, tid: 0 });
  }

  /** Installs the fault seam of this rank's outbox (fault injection; see faults/). */
  setFaultSeam(seam: FaultSeam | undefined): void {
    this.outbox.seam = seam;
  }

  /** This rank's bound inbox endpoints (diagnostics). */
  get endpoints(): { ipc?: string; tcp?: string } {
    return { ...this.endpoint.bound };
  }

  // ---------------------------------------------------------------- receiving

  private drop(reason: string): void {
    this.stats.droppedFrames++;
    this.stats.lastDropReason = reason;
    debug('info', () => `rank ${this.rank}: dropped a frame: ${reason}`);
  }

  /** Messages this rank sent and received through same-host mailboxes (undefined without shared memory). */
  get mailboxStats(): Readonly<{ sent: number; received: number; doorbells: number }> | undefined {
    return this.mailbox?.counters;
  }

  /** Whether this rank sends payloads to same-host peers through shared memory. */
  get usesSharedMemory(): boolean {
    return this.outbox.shm !== undefined;
  }

  /**
   * A zeroed typed array for collectives to run on in place, registered with this communicator:
   * its memory is shared with the ranks of this host (shm-arena.ts), so they reduce and copy
   * straight from it, with no copy into a shared-memory slot on this side (NCCL's user-buffer
   * registration). Allocate once and reuse: mapping fresh shared pages costs more than a copy.
   * Without shared memory (one rank per host, transport 'zmq'/'tcp', no native addon) it is an
   * ordinary array. Freed by `freeBuffer` or `close()`, after which it is detached (length 0).
   */
  allocBuffer(dtype: DType, count: number): NumericArray {
    const op = 'allocBuffer';
    this.assertUsable(op);
    check((DTYPES as readonly string[]).includes(dtype), 'EINVAL', () => `argument 'dtype' passed to '${op}' must be one of ${DTYPES.join(', ')}, got ${String(dtype)}`, { rank: this.rank, op });
    check(Number.isSafeInteger(count) && count >= 0, 'EINVAL', () => `argument 'count' passed to '${op}' must be a non-negative integer, got ${String(count)}`, { rank: this.rank, op });
    if (this.outbox.arenas === undefined || count === 0) return allocArray(dtype, count);
    try {
      return this.outbox.arenas.allocate(dtype, count);
    } catch (e) {
      // /dev/shm full or limited: an ordinary array still works, through the slots.
      debug('info', () => `rank ${this.rank}: allocBuffer(${dtype}, ${count}) in shared memory failed (${(e as Error).message}); using ordinary memory`);
      return allocArray(dtype, count);
    }
  }

  /**
   * Releases a buffer of allocBuffer (it becomes detached); false for any other array. Refused
   * while collectives are in flight: one of them may be reading or writing it.
   */
  freeBuffer(a: NumericArray): boolean {
    check(this.inFlight === 0, 'EINVAL', () => `freeBuffer: ${this.inFlight} collective(s) still in flight on this communicator; await them first`, { rank: this.rank, op: 'freeBuffer' });
    return this.outbox.arenas?.free(a) ?? false;
  }

  private onMessage(frames: Buffer[]): void {
    this.lastFrameAt = performance.now();
    const r = decodeMessage(frames, this.size);
    if (!r.ok) return this.drop(r.reason);
    const h = r.header;
    if (h.ep !== this.epoch) return this.drop(`frame of another communicator (epoch ${h.ep}, this one ${this.epoch})`);
    if (h.src === this.rank) return this.drop('frame claims to come from this rank');
    this.received(h, r.payload);
  }

  /**
   * A message from `peer`'s mailbox: the same checks as a ZeroMQ one, and only collective frames;
   * the payload is only valid during the call.
   */
  private onMailboxMessage(peer: number, head: Buffer, payload: Buffer | undefined): void {
    this.lastFrameAt = performance.now();
    const r = decodeMessage(payload === undefined ? [head] : [head, payload], this.size);
    if (!r.ok) return this.drop(`mailbox of rank ${peer}: ${r.reason}`);
    const h = r.header;
    if (h.ep !== this.epoch) return this.drop(`mailbox frame of another communicator (epoch ${h.ep}, this one ${this.epoch})`);
    if (h.src !== peer || h.k !== 'data') return this.drop(`mailbox of rank ${peer} holds a frame it may not carry (${h.k} from rank ${h.src})`);
    if (payload !== undefined) return this.dispatch(h, r.payload, true);
    this.received(h, undefined);
  }

  /** A decoded frame from a peer; a shared-memory reference is resolved to a view of the sender's slot. */
  private received(h: Header, payload: Buffer | undefined): void {
    if (h.sn === undefined) return this.dispatch(h, payload, false);
    // A slot or a registered buffer lies in one of its sender's own regions, nowhere else.
    if (!isRegionOf(h.sn, this.epoch, h.src)) return this.drop(`rank ${h.src} names shared-memory region ${h.sn}, not its own`);
    // Shared memory: the payload is a view of the sender's slot, handed back right after dispatch.
    const ref = { size: h.sz!, offset: h.so!, state: h.si!, dataStart: h.sd! };
    const bytes = h.dt === '' ? 0 : h.c * BYTES_PER_ELEMENT[h.dt];
    const view = this.inRegions.view(h.sn, ref, bytes);
    if (view === undefined) return this.drop(`shared-memory slot of rank ${h.src} cannot be mapped`);
    try {
      this.dispatch(h, view, true);
    } finally {
      this.inRegions.release(h.sn, ref);
    }
  }

  private dispatch(h: Header, payload: Buffer | undefined, volatile: boolean): void {
    switch (h.k) {
      case 'mail':
        return this.mailbox?.drain(this.onMail);
      case 'data':
        return this.onData(h, payload, volatile);
      case 'abort':
        return this.onAbort(h);
      case 'p2p': {
        const key = `${h.src}:${h.tag}`;
        const q = this.p2pQueues.get(key) ?? this.p2pQueues.set(key, []).get(key)!;
        q.push({ header: h, payload: volatile ? copyOf(payload) : payload });
        this.p2pWaiters.get(key)?.();
        return;
      }
      case 'bye':
        this.saidBye.add(h.src);
        return;
      case 'stuck': {
        const set = this.stuckFrom.get(h.seq) ?? this.stuckFrom.set(h.seq, new Set()).get(h.seq)!;
        set.add(h.src);
        for (const seq of this.stuckFrom.keys()) if (seq < this.startedSeq - 8) this.stuckFrom.delete(seq);
        // Alive and in the same collective: say so at once, so the peer does not count this rank as silent.
        const a = this.active;
        if (a !== undefined && a.seq === h.seq) a.announceStuck();
        return;
      }
    }
  }

  private onData(h: Header, payload: Buffer | undefined, volatile: boolean): void {
    const a = this.active;
    if (a !== undefined && h.seq === a.seq && !a.settled) {
      if (!a.deliver(h.src, h, payload, volatile)) this.drop(`unexpected frame for ${h.op} #${h.seq} from rank ${h.src} (transfer ${h.x}, segment ${h.s})`);
      return;
    }
    if (h.seq > this.startedSeq) {
      // A peer can be ahead by a few collectives, not by thousands: farther means a forged or
      // foreign frame, which must not pile up here.
      if (h.seq > this.startedSeq + MAX_SEQ_AHEAD) return this.drop(`frame for ${h.op} #${h.seq}, more than ${MAX_SEQ_AHEAD} collectives ahead of this rank`);
      const bytes = payload?.byteLength ?? 0;
      if (this.pendingBytes + bytes > MAX_PENDING_BYTES) return this.drop(`more than ${MAX_PENDING_BYTES} bytes buffered for collectives not started yet`);
      this.pendingBytes += bytes;
      const list = this.pendingFrames.get(h.seq) ?? this.pendingFrames.set(h.seq, []).get(h.seq)!;
      list.push(volatile && payload !== undefined ? { src: h.src, header: h, payload: this.earlyCopy(payload), pooled: true } : { src: h.src, header: h, payload, pooled: false });
      return;
    }
    this.drop(`late frame for ${h.op} #${h.seq} from rank ${h.src}`);
  }

  /** A copy of `payload` in a reused buffer of its size (or a fresh one). */
  private earlyCopy(payload: Buffer): Buffer {
    const spare = this.earlyCopies.get(payload.byteLength)?.pop();
    if (spare !== undefined) this.earlyCopyBytes -= spare.byteLength;
    const copy = spare ?? Buffer.allocUnsafeSlow(payload.byteLength);
    copy.set(payload);
    return copy;
  }

  /** Keeps a delivered early copy for the next one of its size, up to EARLY_COPY_POOL_BYTES in all. */
  private releaseEarlyCopy(copy: Buffer): void {
    if (this.earlyCopyBytes + copy.byteLength > EARLY_COPY_POOL_BYTES) return;
    const list = this.earlyCopies.get(copy.byteLength) ?? this.earlyCopies.set(copy.byteLength, []).get(copy.byteLength)!;
    list.push(copy);
    this.earlyCopyBytes += copy.byteLength;
  }

  private onAbort(h: Header): void {
    this.stats.abortsReceived++;
    const code: ErrorCode = (ERROR_CODES as readonly string[]).includes(h.code ?? '') ? (h.code as ErrorCode) : 'EPEERLOST';
    const a = this.active;
    const mine = a !== undefined && a.seq === h.seq ? a.desc.op : h.op;
    const err = new ZcollError(code, `rank ${h.src} failed ${h.op} #${h.seq}: ${h.msg ?? ''}`, { rank: this.rank, op: mine, seq: h.seq, peer: h.src });
    if (a !== undefined && h.seq === a.seq && !a.settled) a.fail(err, false);
    else if (h.seq > this.startedSeq) this.pendingAborts.set(h.seq, err);
    else this.poison ??= err; // a peer failed a collective this rank finished: the group is out of step.
  }

  /**
   * The connection to `peer` dropped. After a short grace (frames it sent before dying are still
   * being delivered, and a peer that closed on purpose says 'bye' first), the collective in flight
   * fails with EPEERLOST naming it, and the communicator is poisoned: the group has lost a member.
   */
  peerLost(peer: number): void {
    if (this.closed || this.lostPeers.has(peer)) return;
    this.lostPeers.add(peer);
    setTimeout(() => {
      if (this.closed || this.saidBye.has(peer)) return;
      const a = this.active;
      const err = new ZcollError('EPEERLOST', `the connection to rank ${peer} was lost (its process died, or its host is unreachable)`, {
        rank: this.rank,
        peer,
        ...(a !== undefined ? { op: a.desc.op, seq: a.seq } : {}),
      });
      if (a !== undefined && !a.settled) a.fail(err, true);
      else this.poison ??= err;
    }, PEER_LOST_GRACE_MS).unref();
  }

  /** A link failed for good (a CURVE handshake refused): the collective in flight fails with it. */
  linkFailed(peer: number, err: ZcollError): void {
    if (this.closed) return;
    debug('info', () => `rank ${this.rank}: link to rank ${peer} failed: ${err.message}`);
    const a = this.active;
    if (a !== undefined && !a.settled) a.fail(err, true);
    else this.poison ??= err;
  }

  // ---------------------------------------------------------------- OpHost

  sendRaw(peer: number, header: Header, payload: Uint8Array | undefined): Promise<void> {
    return this.outbox.send(peer, header, payload);
  }

  announceStuck(op: OpContext): void {
    for (let p = 0; p < this.size; p++) {
      if (p === this.rank) continue;
      const header: Header = { v: PROTOCOL_VERSION, k: 'stuck', src: this.rank, ep: this.epoch, seq: op.seq, op: op.desc.op, x: -1, s: 0, dt: '', n: 0, c: 0, ro: '', root: -1, tag: 0 };
      this.outbox.send(p, header).catch(() => undefined);
    }
  }

  silentPeers(seq: number): number[] {
    const said = this.stuckFrom.get(seq);
    const out: number[] = [];
    for (let p = 0; p < this.size; p++) if (p !== this.rank && !(said?.has(p) ?? false)) out.push(p);
    return out;
  }

  stuckPeers(seq: number): number[] {
    return [...(this.stuckFrom.get(seq) ?? [])].sort((a, b) => a - b);
  }

  opFailed(op: OpContext, err: ZcollError, tellPeers: boolean): void {
    this.poison ??= err;
    debug('info', () => `rank ${this.rank}: ${err.message}`);
    if (!tellPeers) return;
    for (let p = 0; p < this.size; p++) {
      if (p === this.rank) continue;
      const header: Header = { v: PROTOCOL_VERSION, k: 'abort', src: this.rank, ep: this.epoch, seq: op.seq, op: op.desc.op, x: -1, s: 0, dt: '', n: 0, c: 0, ro: '', root: -1, tag: 0, code: err.code, msg: err.message };
      this.outbox.send(p, header).catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------- running collectives

  private assertUsable(op: string): void {
    if (this.closed) throw new ZcollError('ECLOSED', 'the communicator is closed', { rank: this.rank, op });
    if (this.poison !== undefined) throw new ZcollError('ECLOSED', `the communicator is unusable after an earlier error (create a new one): ${this.poison.message}`, { rank: this.rank, op, details: { cause: this.poison.code } }, { cause: this.poison });
  }

  /** Options must be an object with known keys only (OPTION_KEYS); `op` is the internal op name for the error context. */
  private checkOptions(options: unknown, call: keyof typeof OPTION_KEYS, op: string): void {
    check(typeof options === 'object' && options !== null && !Array.isArray(options), 'EINVAL', () => `argument 'options' passed to '${call}' must be an object, got ${describe(options)}`, { rank: this.rank, op });
    const known: readonly string[] = OPTION_KEYS[call];
    for (const key of Object.keys(options as object)) {
      check(known.includes(key), 'EINVAL', () => `unknown option '${key}' passed to '${call}' (known: ${known.join(', ')})`, { rank: this.rank, op });
    }
  }

  private timeoutOf(o: { timeoutMs?: number } | undefined, op: string): number {
    const t = o?.timeoutMs ?? this.timeoutMs;
    check(Number.isFinite(t) && t > 0, 'EINVAL', () => `option 'timeoutMs' passed to '${op}' must be a positive number of ms, got ${String(t)}`, { rank: this.rank, op });
    return t;
  }

  /**
   * Runs one collective in call order: `start` attaches the algorithm to the op and must make it
   * complete or fail; frames that arrived early are replayed right after.
   */
  private collective<R>(desc: OpDescriptor, timeoutMs: number, prepare: () => Promise<(ctx: OpContext) => void>, finish: () => R | Promise<R>): Promise<R> {
    this.assertUsable(desc.op);
    const seq = this.nextSeq++;
    const spin = this.spins(desc);
    const run = async (): Promise<R> => {
      this.assertUsable(desc.op);
      this.attachRegions(seq);
      // As early as possible: peers that send their first frames now find the mailbox open.
      if (spin) this.mailbox?.startPolling();
      const start = await prepare();
      const startedAt = Date.now();
      const ctx = new OpContext(this, seq, desc, timeoutMs);
      this.active = ctx;
      if (this.traceSink) {
        const args = { seq, dtype: desc.dtype, count: desc.count, redop: desc.redop, root: desc.root };
        this.trace({ name: desc.op, cat: 'collective', ph: 'B', ts: performance.now() * 1000, args });
        const end = (): void => this.trace({ name: desc.op, cat: 'collective', ph: 'E', ts: performance.now() * 1000 });
        ctx.done.then(end, end);
      }
      this.startedSeq = seq;
      const aborted = this.pendingAborts.get(seq);
      this.pendingAborts.delete(seq);
      if (aborted !== undefined) ctx.fail(aborted, false);
      else {
        start(ctx);
        const early = this.pendingFrames.get(seq);
        this.pendingFrames.delete(seq);
        for (const f of early ?? []) {
          this.pendingBytes -= f.payload?.byteLength ?? 0;
          // A pooled copy is delivered as volatile (a handler that keeps it copies it, as from a slot) and reused.
          if (!ctx.deliver(f.src, f.header, f.payload, f.pooled)) this.drop(`unexpected early frame for ${desc.op} #${seq} from rank ${f.src}`);
          if (f.pooled) this.releaseEarlyCopy(f.payload!);
        }
        this.pollWhile(ctx, spin);
      }
      try {
        await ctx.done;
        // Peers read registered buffers in place: the caller gets its buffer back only once every
        // reference this op sent was consumed (normally already true: the schedule's own acks).
        await this.outbox.arenas?.returned(startedAt + timeoutMs, desc.op).catch((e: ZcollError) => {
          this.poison ??= e;
          throw e;
        });
      } finally {
        this.active = undefined;
      }
      return await finish();
    };
    this.inFlight++;
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined).finally(() => void this.inFlight--);
    return p;
  }

  /**
   * Whether an op busy-polls: small ones, and any size when every rank is on this host. Only with
   * mailboxes: over ZeroMQ alone the wake-ups are libzmq's I/O threads', which spinning cannot save.
   */
  private spins(desc: OpDescriptor): boolean {
    if (!this.spin || this.mailbox === undefined) return false;
    if (this.localSize === this.size) return true;
    return desc.count * (desc.dtype === '' ? 0 : BYTES_PER_ELEMENT[desc.dtype]) <= SPIN_MAX_BYTES;
  }

  /**
   * How this rank waits for the op's frames. An op that spins busy-polls (busy-poll.ts) with its mailboxes
   * open and drained on every turn; they stay open after it, since the next collective usually
   * follows soon and peers may then reach it through them (what arrives is kept for that op, which
   * drains first thing). An op that does not spin, or a spin that runs out of budget, closes them
   * and drains once more (shm-mailbox.ts: nothing is left unread), then waits on ZeroMQ asleep.
   */
  private pollWhile(ctx: OpContext, spin: boolean): void {
    const mail = this.mailbox;
    if (!spin) {
      mail?.stopPolling(this.onMail);
      return;
    }
    if (ctx.settled) return;
    mail?.drain(this.onMail);
    if (ctx.settled) return;
    spinWhilePending(ctx.done, SPIN_BUDGET_MS, mail === undefined ? {} : {
      lastProgress: () => this.lastFrameAt,
      onTurn: () => mail.drain(this.onMail),
      onStop: (settled) => {
        if (!settled) mail.stopPolling(this.onMail);
      },
    });
  }

  /**
   * Maps the same-host peers' shared-memory regions, at the first collective after init's barrier
   * (every peer made its region before entering that barrier). Mapping early means a peer may unlink
   * its region when it closes without losing a payload this rank has not read yet.
   */
  private attachRegions(seq: number): void {
    if (this.regionsAttached || seq === 0) return; // seq 0 is init's own barrier
    this.regionsAttached = true;
    if (!shmSupported()) return;
    for (const p of this.localPeers) this.inRegions.attach(regionName(this.epoch, p));
  }

  /** Attaches a schedule's execution to an op. */
  private startSchedule(ctx: OpContext, schedule: Schedule, buffer: NumericArray, op: ElementwiseOp): void {
    const segmentElems = Math.max(1, Math.floor(this.segmentBytes / BYTES_PER_ELEMENT[dtypeOf(buffer)]));
    const exec = execute(
      { schedule, buffer, op, segmentElems, kernels },
      {
        rank: this.rank,
        send: (peer, x, s, payload, count) => {
          const sent = ctx.send(peer, x, s, payload, count);
          if (this.traceSink) {
            const t0 = performance.now();
            const args = { peer, transfer: x, segment: s, bytes: payload?.byteLength ?? 0 };
            void sent.then(() => this.trace({ name: x < -1 ? 'ack' : 'send', cat: 'send', ph: 'X', ts: t0 * 1000, dur: (performance.now() - t0) * 1000, args }), () => undefined);
          }
          return sent;
        },
        fail: (e) => ctx.fail(e, true),
        consumed: releaseFrame,
      },
    );
    ctx.attach((src, h, payload, volatile) => {
      if (!this.traceSink) return exec.onFrame(src, h.x, h.s, payload, h.c, volatile);
      const t0 = performance.now();
      const bytes = payload?.byteLength ?? 0; // read first: a consumed ZeroMQ frame is released (empty) after
      const taken = exec.onFrame(src, h.x, h.s, payload, h.c, volatile);
      this.trace({ name: h.x < -1 ? 'ack' : 'recv', cat: 'recv', ph: 'X', ts: t0 * 1000, dur: (performance.now() - t0) * 1000, args: { peer: src, transfer: h.x, segment: h.s, bytes } });
      return taken;
    }, exec.waitingOn);
    void exec.done.then(() => ctx.complete());
  }

  private scheduleFor(key: string, build: () => Schedule): Schedule {
    let s = this.schedules.get(key);
    if (s === undefined) this.schedules.set(key, (s = build()));
    return s;
  }

  // ---------------------------------------------------------------- argument handling

  private async input(x: unknown, op: string): Promise<{ array: NumericArray; dtype: DType; tensorShape?: number[] }> {
    if (isTensor(x)) {
      const dtype = tensorDType(x, op);
      return { array: await readTensor(x), dtype, tensorShape: x.shape.slice() };
    }
    if (isNumericArray(x)) return { array: x, dtype: dtypeOf(x) };
    throw new ZcollError('EINVAL', `argument 'x' passed to '${op}' must be a tf.Tensor, a Float32Array, Float64Array or Int32Array, or a list of them; got ${describe(x)}`, { rank: this.rank, op });
  }

  private checkRoot(root: unknown, op: string): number {
    check(typeof root === 'number' && Number.isInteger(root) && root >= 0 && root < this.size, 'EINVAL', () => `option 'root' passed to '${op}' must be a rank in 0..${this.size - 1}, got ${String(root)}`, { rank: this.rank, op });
    return root as number;
  }

  // ---------------------------------------------------------------- collectives

  allReduce(x: Tensor, options?: AllReduceOptions): Promise<Tensor>;
  allReduce<A extends NumericArray>(x: A, options?: AllReduceOptions): Promise<A>;
  allReduce(x: Collectible[], options?: AllReduceOptions): Promise<Collectible[]>;
  async allReduce(x: Collectible | Collectible[], options: AllReduceOptions = {}): Promise<Collectible | Collectible[]> {
    const opName = 'allreduce';
    this.checkOptions(options, 'allReduce', opName);
    const redop = options.op ?? 'sum';
    check(REDUCE_OPS.includes(redop), 'EINVAL', () => `option 'op' passed to 'allReduce' must be one of ${REDUCE_OPS.join(', ')}, got ${String(redop)}`, { rank: this.rank, op: opName });
    const algorithm = options.algorithm ?? this.algorithm;
    check(ALLREDUCE_ALGORITHMS.includes(algorithm), 'EINVAL', () => `option 'algorithm' passed to 'allReduce' must be one of ${ALLREDUCE_ALGORITHMS.join(', ')}, got ${String(algorithm)}`, { rank: this.rank, op: opName });
    const timeoutMs = this.timeoutOf(options, opName);
    const alg = algorithm as AllReduceAlgorithm;
    if (Array.isArray(x)) return this.fused(x, opName, (buf) => this.allReduceArray(buf, redop, timeoutMs, true, alg));
    this.assertUsable(opName);
    if (isTensor(x)) {
      const dtype = tensorDType(x, opName);
      const shape = x.shape.slice();
      const out = await this.allReduceArray(await readTensor(x), redop, timeoutMs, true, alg);
      return makeTensor(out, shape, dtype as 'float32' | 'int32');
    }
    // Synchronously up to the queue: a registered buffer counts as in flight (freeBuffer refuses)
    // from the moment allReduce returns its promise.
    if (!isNumericArray(x)) await this.input(x, opName); // throws the argument error
    return this.allReduceArray(x as NumericArray, redop, timeoutMs, options.inPlace === true, alg);
  }

  /** The schedule an all-reduce of `bytes` runs: the one asked for, or 'auto''s choice by simulated cost. */
  allReduceAlgorithm(bytes: number, algorithm: AllReduceAlgorithm = this.algorithm as AllReduceAlgorithm): ScheduleAlgorithm {
    if (algorithm !== 'auto') return algorithm;
    // Up to 64 KiB the cost is messages, not bytes: the ring sends 2(n-1) of them per rank where the
    // binomial tree sends 2 (measured here at 2 ranks, 4 KiB: ring 292 us, tree 155 us), which the
    // per-step alpha-beta model does not see; recursive doubling needs lg n exchanges where the tree
    // needs 2 lg n hops. Above, the model picks among the bandwidth schedules (recursive doubling
    // moves the whole buffer lg n times and copies it for every exchange).
    const candidates: readonly ScheduleAlgorithm[] = bytes <= SMALL_MESSAGE_BYTES ? SMALL_MESSAGE_ALGORITHMS : LARGE_MESSAGE_ALGORITHMS;
    return chooseAlgorithm(this.topology, bytes, candidates, AUTO_MODEL).algorithm;
  }

  /** All-reduce of one typed array; `inPlace` reuses `a` as the working buffer. */
  private allReduceArray<A extends NumericArray>(a: A, redop: ReduceOp, timeoutMs: number, inPlace: boolean, algorithm: AllReduceAlgorithm): Promise<A> {
    const dtype = dtypeOf(a);
    const chosen = this.allReduceAlgorithm(a.byteLength, algorithm);
    const desc: OpDescriptor = { op: 'allreduce', dtype, count: a.length, redop, root: -1, algorithm: chosen };
    let work!: A;
    return this.collective(
      desc,
      timeoutMs,
      async () => {
        work = inPlace ? a : (a.slice() as A);
        const schedule = cachedSchedule(this.topology, chosen);
        return (ctx) => this.startSchedule(ctx, schedule, work, redop === 'avg' ? 'sum' : redop);
      },
      () => {
        if (redop === 'avg') kernels.divide(work, this.size);
        return work;
      },
    );
  }

  /** Horovod's tensor fusion: one buffer per dtype, one collective each, split back in order. */
  private async fused(xs: Collectible[], op: string, run: (buf: NumericArray) => Promise<NumericArray>): Promise<Collectible[]> {
    this.assertUsable(op);
    const inputs = await Promise.all(xs.map((x) => this.input(x, op)));
    const groups = new Map<DType, number[]>();
    inputs.forEach((inp, i) => (groups.get(inp.dtype) ?? groups.set(inp.dtype, []).get(inp.dtype)!).push(i));
    const results: Collectible[] = new Array<Collectible>(xs.length);
    // Groups in a fixed dtype order: every rank must issue the same collectives in the same order.
    for (const dtype of (['float32', 'float64', 'int32'] as const).filter((d) => groups.has(d))) {
      const idx = groups.get(dtype)!;
      const total = idx.reduce((acc, i) => acc + inputs[i].array.length, 0);
      const buf = allocArray(dtype, total);
      let off = 0;
      for (const i of idx) {
        buf.set(inputs[i].array, off);
        off += inputs[i].array.length;
      }
      const out = await run(buf);
      off = 0;
      for (const i of idx) {
        const len = inputs[i].array.length;
        const part = out.slice(off, off + len);
        off += len;
        const shape = inputs[i].tensorShape;
        results[i] = shape !== undefined ? await makeTensor(part, shape, dtype as 'float32' | 'int32') : part;
      }
    }
    return results;
  }

  reduceScatter(x: Tensor, options?: ReduceScatterOptions): Promise<Tensor>;
  reduceScatter<A extends NumericArray>(x: A, options?: ReduceScatterOptions): Promise<A>;
  async reduceScatter(x: Collectible, options: ReduceScatterOptions = {}): Promise<Collectible> {
    const opName = 'reducescatter';
    this.checkOptions(options, 'reduceScatter', opName);
    const redop = options.op ?? 'sum';
    check(REDUCE_OPS.includes(redop), 'EINVAL', () => `option 'op' passed to 'reduceScatter' must be one of ${REDUCE_OPS.join(', ')}, got ${String(redop)}`, { rank: this.rank, op: opName });
    const timeoutMs = this.timeoutOf(options, opName);
    this.assertUsable(opName);
    const { array, dtype, tensorShape } = await this.input(x, opName);
    if (tensorShape !== undefined) {
      check(tensorShape.length > 0 && tensorShape[0] % this.size === 0, 'EINVAL', () => `tensor passed to 'reduceScatter' must have a first dimension divisible by the world size ${this.size}, got shape [${tensorShape.join(', ')}]`, { rank: this.rank, op: opName });
    }
    // A tensor's values were already copied out by readTensor; a typed array is copied unless inPlace.
    const work = tensorShape !== undefined || options.inPlace === true ? array : array.slice();
    const desc: OpDescriptor = { op: opName, dtype, count: array.length, redop, root: -1 };
    const out = await this.collective(
      desc,
      timeoutMs,
      async () => {
        const schedule = this.scheduleFor('ring:reducescatter', () => buildRing(this.size, 'reducescatter'));
        return (ctx) => this.startSchedule(ctx, schedule, work, redop === 'avg' ? 'sum' : redop);
      },
      () => {
        const span = chunkSpan(work.length, this.size, this.rank);
        const mine = work.subarray(span.offset, span.offset + span.length);
        if (redop === 'avg') kernels.divide(mine, this.size);
        return options.inPlace === true && tensorShape === undefined ? mine : mine.slice();
      },
    );
    if (tensorShape !== undefined) return makeTensor(out, [tensorShape[0] / this.size, ...tensorShape.slice(1)], dtype as 'float32' | 'int32');
    return out;
  }

  allGather(x: Tensor, options?: AllGatherOptions): Promise<Tensor>;
  allGather<A extends NumericArray>(x: A, options?: AllGatherOptions<A>): Promise<A>;
  async allGather(x: Collectible, options: AllGatherOptions = {}): Promise<Collectible> {
    const opName = 'allgather';
    this.checkOptions(options, 'allGather', opName);
    const timeoutMs = this.timeoutOf(options, opName);
    this.assertUsable(opName);
    const { array, dtype, tensorShape } = await this.input(x, opName);
    const count = array.length;
    const out = options.out;
    if (out !== undefined) {
      check(tensorShape === undefined, 'EINVAL', () => `option 'out' passed to 'allGather' is for typed arrays; a tensor's result is a new tensor`, { rank: this.rank, op: opName });
      check(isNumericArray(out) && dtypeOf(out) === dtype && out.length === count * this.size, 'EINVAL', () => `option 'out' passed to 'allGather' must be a ${array.constructor.name} of ${count * this.size} elements (${count} x ${this.size} ranks), got ${isNumericArray(out) ? `a ${out.constructor.name} of ${out.length}` : describe(out)}`, { rank: this.rank, op: opName });
      check(!overlaps(out, array), 'EINVAL', () => `option 'out' passed to 'allGather' must not share memory with x`, { rank: this.rank, op: opName });
    }
    const work = out ?? allocArray(dtype, count * this.size);
    const desc: OpDescriptor = { op: opName, dtype, count, redop: '', root: -1 };
    const result = await this.collective(
      desc,
      timeoutMs,
      async () => {
        work.set(array, this.rank * count);
        const schedule = this.scheduleFor('ring:allgather', () => buildRing(this.size, 'allgather'));
        return (ctx) => this.startSchedule(ctx, schedule, work, 'sum');
      },
      () => work,
    );
    if (tensorShape !== undefined) {
      const shape = tensorShape.length === 0 ? [this.size] : [tensorShape[0] * this.size, ...tensorShape.slice(1)];
      return makeTensor(result, shape, dtype as 'float32' | 'int32');
    }
    return result;
  }

  broadcast(x: Tensor, options?: BroadcastOptions): Promise<Tensor>;
  broadcast<A extends NumericArray>(x: A, options?: BroadcastOptions): Promise<A>;
  broadcast(x: Collectible[], options?: BroadcastOptions): Promise<Collectible[]>;
  async broadcast(x: Collectible | Collectible[], options: BroadcastOptions = {}): Promise<Collectible | Collectible[]> {
    const opName = 'broadcast';
    this.checkOptions(options, 'broadcast', opName);
    const root = this.checkRoot(options.root ?? 0, opName);
    const timeoutMs = this.timeoutOf(options, opName);
    const algorithm = options.algorithm;
    check(algorithm === undefined || BROADCAST_ALGORITHMS.includes(algorithm), 'EINVAL', () => `option 'algorithm' passed to 'broadcast' must be one of ${BROADCAST_ALGORITHMS.join(', ')}, got ${JSON.stringify(algorithm)}`, { rank: this.rank, op: opName });
    if (Array.isArray(x)) return this.fused(x, opName, (buf) => this.broadcastArray(buf, root, timeoutMs, true, algorithm));
    this.assertUsable(opName);
    const { array, dtype, tensorShape } = await this.input(x, opName);
    const inPlace = tensorShape !== undefined || options.inPlace === true;
    const out = await this.broadcastArray(array, root, timeoutMs, inPlace, algorithm);
    if (tensorShape !== undefined) return makeTensor(out, tensorShape, dtype as 'float32' | 'int32');
    return out;
  }

  private broadcastArray<A extends NumericArray>(a: A, root: number, timeoutMs: number, inPlace: boolean, chosen?: BroadcastAlgorithm): Promise<A> {
    const dtype = dtypeOf(a);
    // The default is derived alike on every rank; a chosen schedule goes in the header, so ranks that chose differently fail with EMISMATCH.
    const desc: OpDescriptor = { op: 'broadcast', dtype, count: a.length, redop: '', root, ...(chosen !== undefined ? { algorithm: chosen } : {}) };
    const work = (inPlace ? a : a.slice()) as A;
    const algorithm = chosen ?? (a.byteLength >= 4 * this.segmentBytes ? 'chain' : 'binomial');
    return this.collective(
      desc,
      timeoutMs,
      async () => {
        const schedule = this.scheduleFor(`broadcast:${algorithm}:${root}`, () => buildBroadcast(this.size, root, algorithm));
        // Every sender hears back from its receivers (the executor's acknowledgements): a root that
        // called another collective is caught, and it returns only once its bytes are delivered.
        return (ctx) => this.startSchedule(ctx, schedule, work, 'sum');
      },
      () => work,
    );
  }

  /** Gathers every rank's array at `root` (concatenated in rank order); other ranks get null. */
  gather(x: Tensor, options?: RootedOptions): Promise<Tensor | null>;
  gather<A extends NumericArray>(x: A, options?: RootedOptions): Promise<A | null>;
  async gather(x: Collectible, options: RootedOptions = {}): Promise<Collectible | null> {
    const opName = 'gather';
    this.checkOptions(options, 'gather', opName);
    const root = this.checkRoot(options.root ?? 0, opName);
    const timeoutMs = this.timeoutOf(options, opName);
    this.assertUsable(opName);
    const { array, dtype, tensorShape } = await this.input(x, opName);
    const count = array.length;
    const elemBytes = BYTES_PER_ELEMENT[dtype];
    const segmentElems = Math.max(1, Math.floor(this.segmentBytes / elemBytes));
    const nseg = Math.max(1, Math.ceil(count / segmentElems));
    const isRoot = this.rank === root;
    const result = isRoot ? allocArray(dtype, count * this.size) : undefined;
    const desc: OpDescriptor = { op: opName, dtype, count, redop: '', root };
    const out = await this.collective(
      desc,
      timeoutMs,
      async () => (ctx) => {
        if (isRoot) {
          result!.set(array, root * count);
          const left = new Map<number, number>();
          for (let p = 0; p < this.size; p++) if (p !== root) left.set(p, nseg);
          const seen = new Set<string>();
          const finishIfDone = (): void => {
            if (left.size === 0) ctx.complete();
          };
          ctx.attach(
            (src, h, payload) => {
              const key = `${src}:${h.s}`;
              const expect = Math.max(0, Math.min(segmentElems, count - h.s * segmentElems));
              if (h.x !== src || h.s >= nseg || seen.has(key) || h.c !== expect) return false;
              seen.add(key);
              if (expect > 0 && payload !== undefined) {
                const bytes = new Uint8Array(result!.buffer, result!.byteOffset + (src * count + h.s * segmentElems) * elemBytes, expect * elemBytes);
                bytes.set(payload);
              }
              const l = left.get(src)! - 1;
              if (l === 0) {
                left.delete(src);
                // Acknowledge: the sender returns only once its bytes are here (and learns of a mismatch).
                ctx.send(src, -1, 0, undefined, 0).catch(() => undefined);
              } else left.set(src, l);
              finishIfDone();
              return true;
            },
            () => (left.size > 0 ? { peer: [...left.keys()][0], what: 'its contribution' } : undefined),
          );
          finishIfDone();
        } else {
          let acked = false;
          ctx.attach(
            (src, h) => {
              if (src !== root || h.x !== -1 || acked) return false;
              acked = true;
              ctx.complete();
              return true;
            },
            () => ({ peer: root, what: 'the root to acknowledge' }),
          );
          const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
          for (let s = 0; s < nseg; s++) {
            const n = Math.max(0, Math.min(segmentElems, count - s * segmentElems));
            ctx.send(root, this.rank, s, n > 0 ? bytes.subarray(s * segmentElems * elemBytes, (s * segmentElems + n) * elemBytes) : undefined, n).catch(() => undefined);
          }
        }
      },
      () => result,
    );
    if (out === undefined) return null;
    if (tensorShape !== undefined) {
      const shape = tensorShape.length === 0 ? [this.size] : [tensorShape[0] * this.size, ...tensorShape.slice(1)];
      return makeTensor(out, shape, dtype as 'float32' | 'int32');
    }
    return out;
  }

  /**
   * Direct exchange, never relayed: the trust boundary of robust aggregation and of the 'allgather'
   * sign vote. Every rank sends its own array straight to every other rank (no `root`), or to `root`
   * only, so a Byzantine rank can corrupt nothing but its own entry. Returns one entry per rank: the
   * rank's array, a ZcollError when that rank sent another dtype or length (its entry is invalid, the
   * collective goes on), or null (non-roots of a rooted exchange). NaN/Inf screening is the
   * aggregator's job.
   * Rank r sends to r+1, r+2, ... (mod n), not to 0, 1, ... in rank order: every rank's first message
   * goes to a different peer, so no rank receives n-1 messages at once while another waits for its
   * first (and the shared-memory copies into the peers' slots are spread the same way).
   * Steady-state rounds pass `into`: peers' arrays land in the caller's buffers instead of fresh ones
   * (a fresh multi-MB array costs a page fault per 4 KiB on first touch, which at d = 25M is most of
   * the CPU time of a 1-bit vote). x must stay unchanged until the promise settles (through shared
   * memory it is sent from directly); once it settled the caller may change it. After a failure, a
   * copy into a peer's slot that was still waiting for a free slot may read x later (the
   * communicator is unusable by then, and so is what the peer would receive).
   */
  async exchangeDirect<A extends NumericArray>(x: A, options: ExchangeOptions<A> = {}): Promise<Array<A | ZcollError | null>> {
    this.checkOptions(options, 'exchangeDirect', 'exchange');
    const opName = options.root === undefined ? 'exchange' : 'exchange-to';
    const root = options.root === undefined ? -1 : this.checkRoot(options.root, opName);
    const timeoutMs = this.timeoutOf(options, opName);
    this.assertUsable(opName);
    check(isNumericArray(x), 'EINVAL', () => `argument 'x' passed to 'exchangeDirect' must be a Float32Array, Float64Array or Int32Array, got ${describe(x)}`, { rank: this.rank, op: opName });
    const dtype = dtypeOf(x);
    const count = x.length;
    const into = options.into;
    const receiving = root === -1 || this.rank === root;
    if (into !== undefined) this.checkInto(into, x, receiving, opName);
    const elemBytes = BYTES_PER_ELEMENT[dtype];
    const segmentElems = Math.max(1, Math.floor(this.segmentBytes / elemBytes));
    const nseg = Math.max(1, Math.ceil(count / segmentElems));
    const segLen = (sg: number): number => Math.max(0, Math.min(segmentElems, count - sg * segmentElems));
    const entries: Array<A | ZcollError | null> = new Array<A | ZcollError | null>(this.size).fill(null);
    // With `into` the caller keeps its own array: no copy of it either.
    entries[this.rank] = into !== undefined ? x : (x.slice() as A);
    const desc: OpDescriptor = { op: opName, dtype, count, redop: '', root, tolerant: true };
    const dests: number[] = [];
    for (let k = 1; k < this.size; k++) {
      const p = (this.rank + k) % this.size;
      if (root === -1 || p === root) dests.push(p);
    }
    const xBytes = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    return await this.collective(
      desc,
      timeoutMs,
      async () => (ctx) => {
        const left = new Map<number, number>();
        if (receiving) for (let k = 1; k < this.size; k++) left.set((this.rank + k) % this.size, nseg);
        let acked = root === -1 || this.rank === root;
        // Sends still reading x, per peer (shared-memory copies not made yet; see below).
        const readingFor = new Map<number, number>();
        let reading = 0;
        const finishIfDone = (): void => {
          if (left.size === 0 && acked && reading === 0) ctx.complete();
        };
        const settle = (src: number): void => {
          left.delete(src);
          if (root !== -1) ctx.send(src, -1, 0, undefined, 0).catch(() => undefined); // the sender returns once we have it
        };
        ctx.attach(
          (src, h, payload) => {
            if (!receiving) {
              if (src !== root || h.x !== -1 || acked) return false;
              acked = true;
              finishIfDone();
              return true;
            }
            if (h.x !== src || !left.has(src)) return false;
            if (entries[src] === null) {
              if (h.dt !== dtype || h.n !== count) {
                entries[src] = new ZcollError('EMISMATCH', `rank ${src} sent ${h.n} x ${h.dt || 'none'}, this rank expects ${count} x ${dtype}; its contribution is invalid`, { rank: this.rank, op: opName, peer: src });
                settle(src);
                finishIfDone();
                return true;
              }
              entries[src] = into?.[src] ?? (allocArray(dtype, count) as A);
            }
            const mine = entries[src] as A;
            if (!(h.s >= 0 && h.s < nseg) || h.c !== segLen(h.s)) return false;
            if (payload !== undefined && h.c > 0) new Uint8Array(mine.buffer, mine.byteOffset + h.s * segmentElems * elemBytes, h.c * elemBytes).set(payload);
            const l = left.get(src)! - 1;
            if (l === 0) settle(src);
            else left.set(src, l);
            finishIfDone();
            return true;
          },
          () =>
            left.size > 0
              ? { peer: [...left.keys()][0], what: 'its contribution' }
              : !acked
                ? { peer: root, what: 'the root to acknowledge' }
                : readingFor.size > 0
                  ? { peer: [...readingFor.keys()][0], what: 'a free shared-memory slot for this rank\'s contribution' }
                  : undefined,
        );
        // ZeroMQ sends read their payload after send() resolved, so they get a private copy of x (the
        // caller may change x once this op settles). When every segment is copied into shared memory
        // before its send resolves, or x is a registered buffer (its references are waited for), x
        // itself is sent and the op settles only after those sends: one copy of x less, and no fresh
        // buffer of its size (a page fault per 4 KiB).
        const segmentOf = (b: Uint8Array, sg: number): Uint8Array => b.subarray(sg * segmentElems * elemBytes, (sg * segmentElems + segLen(sg)) * elemBytes);
        const direct = dests.every((p) => Array.from({ length: nseg }, (_, sg) => segLen(sg) > 0 && this.outbox.copiesBeforeResolving(p, segmentOf(xBytes, sg))).every(Boolean));
        const bytes = direct ? xBytes : Buffer.from(xBytes);
        for (const p of dests) {
          for (let sg = 0; sg < nseg; sg++) {
            const n = segLen(sg);
            const sent = ctx.send(p, this.rank, sg, n > 0 ? segmentOf(bytes, sg) : undefined, n);
            if (!direct) {
              sent.catch(() => undefined);
              continue;
            }
            reading++;
            readingFor.set(p, (readingFor.get(p) ?? 0) + 1);
            sent.then(
              () => {
                reading--;
                const r = readingFor.get(p)! - 1;
                if (r === 0) readingFor.delete(p);
                else readingFor.set(p, r);
                finishIfDone();
              },
              () => undefined,
            );
          }
        }
        finishIfDone();
      },
      () => entries,
    );
  }

  /** exchangeDirect's `into`: one slot per rank, each undefined or an array like x, none sharing memory with x or another. */
  private checkInto(into: unknown, x: NumericArray, receiving: boolean, op: string): void {
    const ctx = { rank: this.rank, op };
    check(Array.isArray(into) && into.length === this.size, 'EINVAL', () => `option 'into' passed to 'exchangeDirect' must be an array of ${this.size} entries (one per rank), got ${Array.isArray(into) ? `${into.length} entries` : describe(into)}`, ctx);
    if (!receiving) return;
    const used: NumericArray[] = [x];
    for (let r = 0; r < this.size; r++) {
      const a = (into as unknown[])[r];
      if (r === this.rank || a === undefined) continue;
      check(isNumericArray(a) && dtypeOf(a) === dtypeOf(x) && a.length === x.length, 'EINVAL', () => `option 'into' passed to 'exchangeDirect': entry ${r} must be a ${x.constructor.name} of ${x.length} elements like x, got ${isNumericArray(a) ? `a ${a.constructor.name} of ${a.length}` : describe(a)}`, ctx);
      const arr = a as NumericArray;
      check(!used.some((u) => overlaps(u, arr)), 'EINVAL', () => `option 'into' passed to 'exchangeDirect': entry ${r} shares memory with x or with another entry`, ctx);
      used.push(arr);
    }
  }

  /** Dissemination barrier: ceil(log2 n) rounds, every rank sends and receives one empty message per round. */
  barrier(options: TimeoutOptions = {}): Promise<void> {
    const opName = 'barrier';
    this.checkOptions(options, 'barrier', opName);
    const timeoutMs = this.timeoutOf(options, opName);
    const n = this.size;
    const desc: OpDescriptor = { op: opName, dtype: '', count: 0, redop: '', root: -1 };
    return this.collective(
      desc,
      timeoutMs,
      async () => (ctx) => {
        const rounds = n === 1 ? 0 : Math.ceil(Math.log2(n));
        const got = new Set<number>();
        let round = 0;
        const sendRound = (k: number): void => void ctx.send((this.rank + (1 << k)) % n, k, 0, undefined, 0).catch(() => undefined);
        // Round k: tell rank + 2^k, then wait for rank - 2^k's round-k message.
        const advance = (): void => {
          while (round < rounds && got.has(round)) {
            round++;
            if (round < rounds) sendRound(round);
          }
          if (round >= rounds) ctx.complete();
        };
        ctx.attach(
          (src, h) => {
            if (!(h.x >= 0 && h.x < rounds) || src !== (this.rank - (1 << h.x) + n * 2) % n || got.has(h.x)) return false;
            got.add(h.x);
            advance();
            return true;
          },
          () => ({ peer: (this.rank - (1 << round) + n * 2) % n, what: `barrier round ${round}` }),
        );
        if (rounds > 0) sendRound(0);
        advance();
      },
      () => undefined,
    );
  }

  // ---------------------------------------------------------------- point to point

  /** Sends to `dst`; resolves once queued (ZeroMQ delivers in order; close() flushes). */
  async send(x: Collectible, dst: number, options: P2POptions = {}): Promise<void> {
    const opName = 'send';
    this.checkOptions(options, 'send', opName);
    this.assertUsable(opName);
    check(Number.isInteger(dst) && dst >= 0 && dst < this.size && dst !== this.rank, 'EINVAL', () => `argument 'dst' passed to 'send' must be another rank in 0..${this.size - 1}, got ${String(dst)}`, { rank: this.rank, op: opName });
    const tag = options.tag ?? 0;
    check(Number.isInteger(tag) && tag >= 0 && tag <= 0x7fffffff, 'EINVAL', () => `option 'tag' passed to 'send' must be an integer in [0, 2^31), got ${String(tag)}`, { rank: this.rank, op: opName });
    const { array, dtype } = await this.input(x, opName);
    const elemBytes = BYTES_PER_ELEMENT[dtype];
    const segmentElems = Math.max(1, Math.floor(this.segmentBytes / elemBytes));
    const nseg = Math.max(1, Math.ceil(array.length / segmentElems));
    // A private copy: the caller may reuse its array as soon as send() resolves.
    const bytes = Buffer.from(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
    const seq = this.p2pSendSeq.get(dst) ?? 0;
    this.p2pSendSeq.set(dst, seq + 1);
    const sends: Promise<void>[] = [];
    for (let s = 0; s < nseg; s++) {
      const n = Math.max(0, Math.min(segmentElems, array.length - s * segmentElems));
      const header: Header = { v: PROTOCOL_VERSION, k: 'p2p', src: this.rank, ep: this.epoch, seq, op: 'send', x: nseg, s, dt: dtype, n: array.length, c: n, ro: '', root: -1, tag };
      sends.push(this.outbox.send(dst, header, n > 0 ? bytes.subarray(s * segmentElems * elemBytes, (s * segmentElems + n) * elemBytes) : undefined));
    }
    try {
      await Promise.all(sends);
    } catch (e) {
      throw new ZcollError('ETIMEDOUT', `could not queue a message to rank ${dst}: ${(e as Error).message}`, { rank: this.rank, op: opName, peer: dst }, { cause: e });
    }
  }

  /**
   * Receives the next message from `src` on `tag`. `like` gives the expected dtype and size: a typed
   * array (filled in place), a tensor (a new tensor of its shape is returned), or { dtype, count }.
   */
  recv(like: Tensor, src: number, options?: P2POptions): Promise<Tensor>;
  recv<A extends NumericArray>(like: A, src: number, options?: P2POptions): Promise<A>;
  recv(like: { dtype: DType; count: number }, src: number, options?: P2POptions): Promise<NumericArray>;
  async recv(like: Collectible | { dtype: DType; count: number }, src: number, options: P2POptions = {}): Promise<Collectible> {
    const opName = 'recv';
    this.checkOptions(options, 'recv', opName);
    this.assertUsable(opName);
    check(Number.isInteger(src) && src >= 0 && src < this.size && src !== this.rank, 'EINVAL', () => `argument 'src' passed to 'recv' must be another rank in 0..${this.size - 1}, got ${String(src)}`, { rank: this.rank, op: opName });
    const tag = options.tag ?? 0;
    const timeoutMs = this.timeoutOf(options, opName);
    let target: NumericArray;
    let shape: number[] | undefined;
    if (isTensor(like)) {
      target = allocArray(tensorDType(like, opName), like.size);
      shape = like.shape.slice();
    } else if (isNumericArray(like)) target = like;
    else {
      const l = like as { dtype: DType; count: number };
      check(l !== null && typeof l === 'object' && ['float32', 'float64', 'int32'].includes(l.dtype) && Number.isInteger(l.count) && l.count >= 0, 'EINVAL', () => `argument 'like' passed to 'recv' must be a tensor, a typed array or { dtype, count }`, { rank: this.rank, op: opName });
      target = allocArray(l.dtype, l.count);
    }
    const dtype = dtypeOf(target);
    const elemBytes = BYTES_PER_ELEMENT[dtype];
    const key = `${src}:${tag}`;
    const deadline = Date.now() + timeoutMs;
    const next = async (): Promise<P2PMessage> => {
      for (;;) {
        this.assertUsable(opName);
        const q = this.p2pQueues.get(key);
        if (q !== undefined && q.length > 0) return q.shift()!;
        const left = deadline - Date.now();
        if (left <= 0) throw new ZcollError('ETIMEDOUT', `no message from rank ${src} on tag ${tag} within ${timeoutMs} ms`, { rank: this.rank, op: opName, peer: src });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 0x7fffffff));
          this.p2pWaiters.set(key, () => {
            clearTimeout(timer);
            this.p2pWaiters.delete(key);
            resolve();
          });
        });
      }
    };
    const first = await next();
    const h0 = first.header;
    if (h0.dt !== dtype || h0.n !== target.length) {
      throw new ZcollError('EMISMATCH', `rank ${src} sent ${h0.n} x ${h0.dt || 'none'} on tag ${tag}; this rank expects ${target.length} x ${dtype}`, { rank: this.rank, op: opName, peer: src });
    }
    const bytes = new Uint8Array(target.buffer, target.byteOffset, target.byteLength);
    const segmentElems = Math.max(1, Math.floor(this.segmentBytes / elemBytes));
    let msg = first;
    for (let s = 0; s < h0.x; s++) {
      if (s > 0) msg = await next();
      if (msg.header.s !== s || msg.header.seq !== h0.seq) throw new ZcollError('EPROTO', `out-of-order segment from rank ${src}: got segment ${msg.header.s} of message ${msg.header.seq}, expected ${s} of ${h0.seq}`, { rank: this.rank, op: opName, peer: src });
      if (msg.payload !== undefined) bytes.set(msg.payload, s * segmentElems * elemBytes);
    }
    if (shape !== undefined) return makeTensor(target, shape, dtype as 'float32' | 'int32');
    return target;
  }

  // ---------------------------------------------------------------- closing

  /** Finishes queued collectives and releases every socket and timer (queued messages are flushed, up to the linger time). */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    // Tell the peers this is a goodbye, not a crash, before the sockets go.
    const byes: Promise<void>[] = [];
    for (let p = 0; p < this.size; p++) {
      if (p === this.rank || this.lostPeers.has(p)) continue;
      const header: Header = { v: PROTOCOL_VERSION, k: 'bye', src: this.rank, ep: this.epoch, seq: 0, op: 'close', x: -1, s: 0, dt: '', n: 0, c: 0, ro: '', root: -1, tag: 0 };
      byes.push(this.outbox.send(p, header).catch(() => undefined));
    }
    await Promise.race([Promise.all(byes), new Promise((r) => setTimeout(r, 500).unref())]);
    this.closed = true;
    this.endpoint.close();
    this.mailbox?.close();
    this.outbox.shm?.close();
    this.outbox.arenas?.close();
    this.inRegions.close();
  }
}

function copyOf(b: Buffer | undefined): Buffer | undefined {
  if (b === undefined) return undefined;
  const c = Buffer.allocUnsafe(b.byteLength);
  c.set(b);
  return c;
}

/** Whether two typed arrays share any byte of memory. */
function overlaps(a: NumericArray, b: NumericArray): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array of numbers (use a typed array)';
  if (ArrayBuffer.isView(x)) return x.constructor.name;
  return typeof x;
}
