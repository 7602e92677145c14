/**
 * The op engine: one collective at a time, in call order. A collective gets its sequence number
 * synchronously, at the call, whatever its input (a tensor's values are read later, in its turn), so
 * two calls made without awaiting run in the order they were made on every rank.
 * It also owns what happens between ops: frames of collectives not started yet (a window of
 * MAX_SEQ_AHEAD sequence numbers and a byte cap), aborts and stuck notices of peers (the same window),
 * peers that said goodbye or were lost, and the poison that makes every later call fail once the
 * group is out of step. It is the OpHost of every OpContext, and it sends through any FrameSender:
 * the real Outbox, or a loopback in the in-process tests.
 */
import { performance } from 'node:perf_hooks';
import { debug } from '../debug.js';
import { ERROR_CODES, ZcollError, type ErrorCode } from '../errors.js';
import type { Frame } from '../transport/frame.js';
import type { FrameSink } from '../transport/inbox.js';
import { abortHeader, byeHeader, stuckHeader, type AbortHeader, type DataHeader, type Header, type P2PHeader, type StuckHeader } from '../transport/wire.js';
import { EarlyFrames } from './early-frames.js';
import { OpContext, type OpDescriptor, type OpHost } from './op-context.js';
import type { TraceEvent } from './options.js';
import type { Poller } from './poller.js';
import { phaseClock } from '../phase-clock.js';

const ignore = (): void => undefined;
/** A settled promise: a reaction on it runs at the next microtask checkpoint (op-queue inFlight). */
const SETTLED: Promise<void> = Promise.resolve();

/** Longest a run of collectives started in their callers' stacks may hold the event loop (op-queue loopTurned). */
const LOOP_HOLD_MS = 1;
/** A peer can be ahead by a few collectives, not by thousands: farther means a forged or foreign frame. */
export const MAX_SEQ_AHEAD = 64;
/** After a connection drops: frames the peer sent before dying are still being delivered, and a clean close says 'bye' first. */
const PEER_LOST_GRACE_MS = 250;

export interface FrameSender {
  /**
   * Sends a frame. `volatile`: the caller may change the payload's memory as soon as this returns, so
   * a sender that reads it later (a socket, a slot not free yet) copies it first; one that copies it
   * at once (a mailbox) does not, which spares the executor a private copy of every small send.
   */
  send(peer: number, header: Header, payload?: Uint8Array, volatile?: boolean): Promise<void>;
}

/** What the engine needs around it: point-to-point, peers gone, tracing, registered buffers. */
export interface EngineHooks {
  /** Maps the regions of same-host peers (after init's barrier). */
  attachShared?(): void;
  /** Resolves once every registered-buffer reference this rank sent was released (rejects at `deadline`); undefined when none was sent. */
  returned?(deadline: number, op: string): Promise<void> | undefined;
  /** Point-to-point frames go elsewhere (p2p.ts): true when taken, else why not. */
  p2p?(src: number, h: P2PHeader, payload: Frame | undefined): true | string;
  /** A peer is gone (lost or failed link): point-to-point waiters fail too. */
  peerGone?(peer: number, err: ZcollError): void;
  trace?: (e: Omit<TraceEvent, 'pid' | 'tid'>) => void;
  /** Whether trace events are wanted now (a trace sink is installed): no event is built otherwise. */
  tracing?(): boolean;
}

/** What an op runs once it is its turn: attaches its frame handler to the context and sends. */
export type Protocol = (ctx: OpContext) => void;

/** The protocol of an op whose input could not be read: it fails on every rank in its turn (skipping it would leave this rank one sequence number behind). */
function unreadable(desc: OpDescriptor, e: unknown): Protocol {
  return (ctx) => ctx.fail(e instanceof ZcollError ? e : new ZcollError('EINVAL', `${desc.op}: the input could not be read: ${(e as Error).message}`, ctx.ctx(), { cause: e }), true);
}

export interface EngineParams {
  readonly rank: number;
  readonly size: number;
  readonly epoch: number;
  readonly outbox: FrameSender;
  /** How this rank waits for frames (busy polling, poller.ts). */
  readonly poller: Poller;
  readonly hooks: EngineHooks;
  /** Where aborts received are counted (the communicator's stats). */
  readonly stats: { abortsReceived: number };
}

export class OpQueue implements OpHost {
  readonly rank: number;
  readonly size: number;
  readonly epoch: number;
  private nextSeq = 0;
  private startedSeq = -1;
  private active: OpContext | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  /** Collectives called and not yet settled (queued or running): 0 lets a call start its op at once. */
  private inFlightCount = 0;
  private readonly early = new EarlyFrames();
  private readonly pendingAborts = new Map<number, ZcollError>();
  /** Per collective: the peers that said their deadline for it expired, and those that said they finished it. */
  private readonly stuckFrom = new Map<number, Set<number>>();
  private readonly finishedFrom = new Map<number, Set<number>>();
  /** Peers that closed their communicator on purpose: their disconnect is not a failure. */
  private readonly byes = new Set<number>();
  private readonly lost = new Set<number>();
  private poisonErr: ZcollError | undefined;
  private closedFlag = false;
  /** Called once when the engine is poisoned (the communicator then lets go of its sockets). */
  onPoisoned: (err: ZcollError) => void = () => undefined;

  constructor(private readonly p: EngineParams) {
    this.rank = p.rank;
    this.size = p.size;
    this.epoch = p.epoch;
  }

  /**
   * Collectives called and not settled, and those settled since the last microtask checkpoint: the
   * caller of one that settled within its call (or its library wrapper, as signVote around its
   * exchange) has not run its continuation yet and may still use the buffers. freeBuffer reads it.
   */
  get inFlight(): number {
    return this.inFlightCount + this.settling;
  }
  /** Ops settled whose caller's continuation has not run yet (settledTick is queued before it). */
  private settling = 0;
  private readonly settledTick = (): void => {
    this.settling--;
  };

  get poisoned(): ZcollError | undefined {
    return this.poisonErr;
  }

  /** The peers known lost (their connection dropped without a goodbye). */
  get lostPeers(): ReadonlySet<number> {
    return this.lost;
  }

  /** A settled promise once every queued op has settled. */
  drained(): Promise<unknown> {
    return this.tail.then(ignore, ignore);
  }

  close(): void {
    this.closedFlag = true;
    this.early.close();
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Throws ECLOSED when the communicator is closed or poisoned. */
  assertUsable(op: string): void {
    if (this.closedFlag) throw new ZcollError('ECLOSED', 'the communicator is closed', { rank: this.rank, op });
    const p = this.poisonErr;
    if (p !== undefined) throw new ZcollError('ECLOSED', `the communicator is unusable after an earlier error (create a new one): ${p.message}`, { rank: this.rank, op, ...(p.peer !== undefined ? { peer: p.peer } : {}), details: { cause: p.code } }, { cause: p });
  }

  private poison(err: ZcollError): void {
    if (this.poisonErr !== undefined) return;
    this.poisonErr = err;
    this.early.close(); // no later collective runs to take them (an aborted one never replays its own)
    this.onPoisoned(err);
  }

  /**
   * Queues one collective: its sequence number is taken now. `prepare` runs in its turn (it reads
   * the input) and gives the protocol to attach to the op, at once or as a promise; `finish` makes
   * the result once the op completed.
   * A call that finds the queue empty starts its op at once, in the caller's stack, when `prepare`
   * gives its protocol at once: the sends go out and the first polling turn runs before the call
   * returns. Two promise hops before the op started, and the op's turn, cost a small all-reduce
   * ~1-2 us of its ~10 (bench/results/latency.md); order is kept since a call that finds an op
   * running or queued waits behind it.
   */
  run<R>(desc: OpDescriptor, timeoutMs: number, prepare: () => Promise<Protocol> | Protocol, finish: () => R | Promise<R>): Promise<R> {
    this.assertUsable(desc.op);
    const seq = this.nextSeq++;
    const spin = this.p.poller.spins(desc.dtype, desc.count);
    this.inFlightCount++;
    let p: Promise<R>;
    if (this.inFlightCount === 1 && this.loopTurned()) {
      // Started in the caller's stack: the op's own promise, settled by the call that ends the op
      // (its rejection is marked handled there; op-context.ts fail).
      p = this.startOp(seq, desc, timeoutMs, spin, prepare, finish, this.loopCheckedAt);
      this.tail = p;
      return p;
    }
    const run = (): Promise<R> => this.startOp(seq, desc, timeoutMs, spin, prepare, finish);
    if (this.inFlightCount > 1) p = this.tail.then(run, run);
    else p = new Promise<void>((resolve) => setImmediate(resolve)).then(run); // the event loop first: see loopTurned
    // Marked handled: a caller that does not await a failed op must not end the process (as above).
    p.catch(ignore);
    this.tail = p;
    return p;
  }

  /**
   * The op's turn: checks, opens the mailboxes, reads its input, and begins it (at once, or once its
   * input is read). `now`: performance.now() read just before (loopTurned), when the op starts in the
   * caller's stack; its start time.
   */
  private startOp<R>(seq: number, desc: OpDescriptor, timeoutMs: number, spin: boolean, prepare: () => Promise<Protocol> | Protocol, finish: () => R | Promise<R>, now?: number): Promise<R> {
    phaseClock?.('queued');
    try {
      this.assertUsable(desc.op);
      if (seq > 0) this.p.hooks.attachShared?.(); // seq 0 is init's own barrier: peers' regions may not exist before it
      // As early as possible: peers that send their first frames now find the mailbox open.
      if (spin) this.p.poller.open();
    } catch (e) {
      this.inFlightCount--;
      const rejected = Promise.reject(e);
      rejected.catch(ignore);
      return rejected;
    }
    // An input that cannot be read (a tensor whose download failed) fails the op on every rank
    // in its turn: skipping it would leave this rank one sequence number behind its peers.
    let prepared: Promise<Protocol> | Protocol;
    try {
      prepared = prepare();
    } catch (e) {
      prepared = unreadable(desc, e);
    }
    if (typeof prepared === 'function') return this.begin(seq, desc, timeoutMs, spin, prepared, finish, now);
    const later = prepared.then(
      (start) => this.begin(seq, desc, timeoutMs, spin, start, finish),
      (e: unknown) => this.begin(seq, desc, timeoutMs, spin, unreadable(desc, e), finish),
    );
    later.catch(ignore); // as the op's own promise: a failure the caller does not await ends nothing
    return later;
  }

  /**
   * Whether the event loop turned lately. Ops that start in the caller's stack and settle within their
   * first polling turns, back to back, never hand the loop back: sockets (ZeroMQ frames: aborts, a
   * peer's goodbye, a flood to drop), timers and signals would wait for as long as the loop runs (a
   * flood read late piles up in ZeroMQ's queues: see busy-poll.ts). So an op starts at once only
   * while the loop turned within LOOP_HOLD_MS (a setImmediate marks each turn); else it starts after
   * the next turn, as the polling slices bound how long one wait holds the loop.
   */
  private loopTurned(): boolean {
    const now = performance.now();
    this.loopCheckedAt = now;
    if (this.turnPending) return now - this.holdingSince <= LOOP_HOLD_MS;
    this.turnPending = true;
    this.holdingSince = now;
    setImmediate(this.markTurn);
    return true;
  }
  /** A setImmediate is queued to mark the next turn; ops started at once since `holdingSince` hold the loop. */
  private turnPending = false;
  /** When loopTurned last read the clock: the start of an op it lets start at once (one clock read per op, not three). */
  private loopCheckedAt = 0;
  private holdingSince = 0;
  private readonly markTurn = (): void => {
    this.turnPending = false;
  };

  /** The op's turn: its context, its protocol started, its frames that came early, and the wait. */
  private begin<R>(seq: number, desc: OpDescriptor, timeoutMs: number, spin: boolean, start: Protocol, finish: () => R | Promise<R>, now?: number): Promise<R> {
    phaseClock?.('prepared');
    const ctx = new OpContext(this, seq, desc, timeoutMs, finish, now);
    this.active = ctx;
    if (this.p.hooks.tracing?.() ?? this.p.hooks.trace !== undefined) this.traceOp(ctx);
    this.startedSeq = seq;
    this.forgetBefore(seq);
    const aborted = this.pendingAborts.size === 0 ? undefined : this.pendingAborts.get(seq);
    if (aborted !== undefined) {
      this.pendingAborts.delete(seq);
      ctx.fail(aborted, false);
    } else {
      start(ctx);
      if (this.early.holds(seq)) this.early.replay(seq, (f) => void ctx.deliver(f.src, f.header, f.payload));
      // A spinning wait returns to the event loop only through its own turns, and arms the deadline
      // then (an op done before it never sets a timer); any other wait arms it now.
      this.p.poller.wait(() => ctx.settled, spin, () => ctx.armDeadline(), ctx.startedAt);
      if (!spin) ctx.armDeadline();
    }
    // The op's promise settles in the call that ends it (ctx.complete or ctx.fail), which first
    // counts it out of the queue (opSettled): a call made in the caller's continuation finds the
    // queue empty and starts at once.
    return ctx.done as Promise<R>;
  }

  /** OpHost: the op settled. It leaves the queue; a completed one first waits for its registered buffers. */
  opSettled(ctx: OpContext, failed: boolean): Promise<void> | undefined {
    this.active = undefined;
    this.inFlightCount--;
    // Queued before the op's promise settles, so it runs before the caller's continuation (inFlight).
    this.settling++;
    void SETTLED.then(this.settledTick);
    if (ctx.traced) this.p.hooks.trace?.({ name: ctx.desc.op, cat: 'collective', ph: 'E', ts: performance.now() * 1000 });
    if (failed) return undefined;
    // Peers read registered buffers in place: the caller gets its buffer back only once every
    // reference this op sent was consumed (normally already true: the schedule's own acks). The
    // deadline is a Date.now() time: the op's start on the wall clock plus its timeout.
    const held = this.p.hooks.returned?.(performance.timeOrigin + ctx.startedAt + ctx.timeoutMs, ctx.desc.op);
    return held?.catch((e: ZcollError) => {
      this.poison(e);
      throw e;
    });
  }

  private traceOp(ctx: OpContext): void {
    const trace = this.p.hooks.trace;
    if (trace === undefined) return;
    const d = ctx.desc;
    trace({ name: d.op, cat: 'collective', ph: 'B', ts: performance.now() * 1000, args: { seq: ctx.seq, dtype: d.dtype, count: d.count, redop: d.redop, root: d.root } });
    ctx.traced = true;
  }

  /** Notices kept per sequence number are only useful near the current op. */
  private forgetBefore(seq: number): void {
    if (this.stuckFrom.size === 0 && this.finishedFrom.size === 0) return; // the common case: nothing to walk
    for (const table of [this.stuckFrom, this.finishedFrom]) for (const s of table.keys()) if (s < seq - 8) table.delete(s);
  }

  // ---------------------------------------------------------------- frames in

  /** The inbox's sink: every authenticated frame of this communicator. */
  readonly frame: FrameSink = (src, h, payload) => {
    switch (h.kind) {
      case 'data':
        return this.onData(src, h, payload);
      case 'abort':
        return this.onAbort(src, h);
      case 'stuck':
        return this.onStuck(src, h);
      case 'bye':
        this.byes.add(src);
        return true;
      case 'p2p':
        return this.p.hooks.p2p?.(src, h, payload) ?? 'point-to-point frame with no receiver';
      default:
        return `'${h.kind}' frame is not for the op engine`;
    }
  };

  /**
   * Where a frame for collective `seq` stands: 'late' (finished long ago), 'recent' (one of the last
   * few this rank ran), 'ahead' (called by a peer, not started here yet, within MAX_SEQ_AHEAD), or
   * 'far' (beyond: forged, foreign or runaway). Every kind of buffered frame is kept only for 'ahead'.
   */
  private place(seq: number): 'late' | 'recent' | 'ahead' | 'far' {
    if (seq <= this.startedSeq) return seq >= this.startedSeq - 8 ? 'recent' : 'late';
    return seq <= Math.max(this.startedSeq, this.nextSeq - 1) + MAX_SEQ_AHEAD ? 'ahead' : 'far';
  }

  private onData(src: number, h: DataHeader, payload: Frame | undefined): true | string {
    const a = this.active;
    if (a !== undefined && h.seq === a.seq && !a.settled) {
      return a.deliver(src, h, payload) ? true : `unexpected frame for ${h.op} #${h.seq} from rank ${src} (transfer ${h.transfer}, segment ${h.segment})`;
    }
    const at = this.place(h.seq);
    if (at === 'late' || at === 'recent') return `late frame for ${h.op} #${h.seq} from rank ${src}`;
    if (at === 'far') return `frame for ${h.op} #${h.seq} from rank ${src}, more than ${MAX_SEQ_AHEAD} collectives ahead of this rank`;
    return this.early.keep(src, h, payload);
  }

  /**
   * A peer failed collective `seq`. The error names the culprit the peer named (the rank that died,
   * stopped or disagreed), not the messenger: survivors then agree on whom to shrink away.
   */
  private onAbort(src: number, h: AbortHeader): true | string {
    const a = this.active;
    const current = a !== undefined && h.seq === a.seq && !a.settled;
    const at = this.place(h.seq);
    if (!current && (at === 'late' || at === 'far')) return `abort for #${h.seq} from rank ${src}, outside this rank's window of collectives`;
    if (!current && at === 'ahead' && this.pendingAborts.has(h.seq)) return true; // the first one is enough
    this.p.stats.abortsReceived++;
    const code: ErrorCode = (ERROR_CODES as readonly string[]).includes(h.code) ? (h.code as ErrorCode) : 'EPEERLOST';
    const culprit = h.culprit ?? src;
    const mine = current ? a.desc.op : h.op;
    const err = new ZcollError(code, `rank ${src} failed ${h.op} #${h.seq}: ${h.message}`, { rank: this.rank, op: mine, seq: h.seq, peer: culprit, details: { reportedBy: src } });
    if (current) a.fail(err, false);
    else if (at === 'ahead') this.pendingAborts.set(h.seq, err);
    else {
      // A peer failed a collective this rank finished: the group is out of step, and the op this
      // rank runs now cannot complete either (that peer will never reach it). Fail it at once with
      // the peer's culprit, instead of letting it time out and blame whoever it waits on.
      this.poison(err);
      if (a !== undefined && !a.settled) a.fail(new ZcollError(code, `rank ${src} failed ${h.op} #${h.seq}, which this rank finished, so this collective cannot complete: ${h.message}`, { rank: this.rank, op: a.desc.op, seq: a.seq, peer: culprit, details: { reportedBy: src } }), false);
    }
    return true;
  }

  /**
   * A peer's deadline for collective `seq` expired (state 'waiting'), or a peer answers that it
   * finished `seq` (state 'finished'). Either way the peer is alive: a timeout names only the ranks
   * that said nothing. A rank in the same op answers at once with its own notice, and a rank that
   * already finished it answers 'finished': otherwise a healthy rank one collective ahead would look
   * silent and be named as the culprit.
   */
  private onStuck(src: number, h: StuckHeader): true | string {
    const at = this.place(h.seq);
    if (at === 'late' || at === 'far') return `stuck notice for #${h.seq} from rank ${src}, outside this rank's window`;
    const table = h.state === 'finished' ? this.finishedFrom : this.stuckFrom;
    (table.get(h.seq) ?? table.set(h.seq, new Set()).get(h.seq)!).add(src);
    if (h.state === 'finished') return true;
    const a = this.active;
    if (a !== undefined && a.seq === h.seq && !a.settled) a.announceStuck();
    else if (h.seq <= this.startedSeq && this.poisonErr === undefined) this.p.outbox.send(src, stuckHeader(this.rank, this.epoch, h.seq, h.op, 'finished')).catch(() => undefined);
    return true;
  }

  // ---------------------------------------------------------------- failures

  /**
   * The connection to `peer` dropped. After a short grace, the collective in flight fails with
   * EPEERLOST naming it, and the engine is poisoned: the group has lost a member.
   */
  peerLost(peer: number): void {
    if (this.closedFlag || this.lost.has(peer)) return;
    this.lost.add(peer);
    setTimeout(() => {
      if (this.closedFlag || this.byes.has(peer)) return;
      const a = this.active;
      const err = new ZcollError('EPEERLOST', `the connection to rank ${peer} was lost (its process died, or its host is unreachable)`, {
        rank: this.rank,
        peer,
        ...(a !== undefined ? { op: a.desc.op, seq: a.seq } : {}),
      });
      this.p.hooks.peerGone?.(peer, err);
      if (a !== undefined && !a.settled) a.fail(err, true);
      else this.poison(err);
    }, PEER_LOST_GRACE_MS).unref();
  }

  /** A link failed for good (a CURVE handshake refused): the collective in flight fails with it. */
  linkFailed(peer: number, err: ZcollError): void {
    if (this.closedFlag) return;
    debug('info', () => `rank ${this.rank}: link to rank ${peer} failed: ${err.message}`);
    this.p.hooks.peerGone?.(peer, err);
    const a = this.active;
    if (a !== undefined && !a.settled) a.fail(err, true);
    else this.poison(err);
  }

  // ---------------------------------------------------------------- OpHost

  sendRaw(peer: number, header: Header, payload: Uint8Array | undefined, volatile = false): Promise<void> {
    return this.p.outbox.send(peer, header, payload, volatile);
  }

  private tellAll(header: (peer: number) => Header): void {
    for (let p = 0; p < this.size; p++) if (p !== this.rank && !this.lost.has(p)) this.p.outbox.send(p, header(p)).catch(() => undefined);
  }

  announceStuck(op: OpContext): void {
    this.tellAll(() => stuckHeader(this.rank, this.epoch, op.seq, op.desc.op, 'waiting'));
  }

  /**
   * Peers that said nothing about collective `seq` or a recent one. A peer stuck in an earlier
   * collective (it is behind, waiting on someone else) said so when its own deadline expired: it is
   * alive, and its own timeout will name whom it waits on.
   */
  silentPeers(seq: number): number[] {
    const alive = new Set<number>();
    for (const table of [this.stuckFrom, this.finishedFrom]) for (const [s, peers] of table) if (s >= seq - 8 && s <= seq) for (const p of peers) alive.add(p);
    const out: number[] = [];
    for (let p = 0; p < this.size; p++) if (p !== this.rank && !alive.has(p)) out.push(p);
    return out;
  }

  stuckPeers(seq: number): number[] {
    return [...(this.stuckFrom.get(seq) ?? [])].sort((a, b) => a - b);
  }

  saidBye(peer: number): boolean {
    return this.byes.has(peer);
  }

  opFailed(op: OpContext, err: ZcollError, tellPeers: boolean): void {
    this.poison(err);
    debug('info', () => `rank ${this.rank}: ${err.message}`);
    if (!tellPeers) return;
    const culprit = err.peer !== undefined && err.peer !== this.rank ? err.peer : undefined;
    this.tellAll(() => abortHeader(this.rank, this.epoch, op.seq, op.desc.op, err.code, err.message.slice(0, MAX_ABORT_MESSAGE), culprit));
  }

  /** Says goodbye to every peer not known lost (their disconnect then is not a failure). */
  sayBye(): Promise<unknown> {
    const byes: Promise<void>[] = [];
    for (let p = 0; p < this.size; p++) {
      if (p === this.rank || this.lost.has(p)) continue;
      byes.push(this.p.outbox.send(p, byeHeader(this.rank, this.epoch)).catch(() => undefined));
    }
    return Promise.all(byes);
  }
}

/** Longest error message an abort carries: enough to say what went wrong, too short to flood with. */
export const MAX_ABORT_MESSAGE = 1024;
