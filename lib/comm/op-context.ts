/**
 * One collective in flight on one rank: its sequence number, the descriptor every rank must agree
 * on, its deadline, and the frames it receives. Frames of this sequence number are compared with the
 * descriptor before anything else, so a rank that called another op, another size or another dtype
 * fails the collective with EMISMATCH (naming both sides) instead of reducing garbage or hanging.
 */
import { ZcollError } from '../errors.js';
import type { Frame } from '../transport/frame.js';
import { dataHeader, type DataHeader, type OpFields } from '../transport/wire.js';
import { performance } from 'node:perf_hooks';
import { phaseClock } from '../phase-clock.js';
import { SENT } from '../transport/sent.js';

/** What every rank must agree on for one collective: the wire's op fields, and whether it is tolerant. */
export interface OpDescriptor extends OpFields {
  /**
   * Byzantine-tolerant ops (direct exchanges for robust aggregation): only the op and root must
   * agree; a peer's dtype or count is checked per peer by the op, which marks that peer's
   * contribution invalid instead of failing the collective for everyone.
   */
  readonly tolerant?: boolean;
}

/**
 * Handles one frame of the op. The payload is lent for the call (transport/frame.ts): a handler
 * that reads it later keeps it, and releases it once done.
 */
export interface FrameHandler {
  (src: number, header: DataHeader, payload: Frame | undefined): boolean;
}

/** What an op needs from its communicator. */
export interface OpHost {
  readonly rank: number;
  readonly epoch: number;
  /** `volatile`: see FrameSender.send (op-queue.ts). */
  sendRaw(peer: number, header: DataHeader, payload: Uint8Array | undefined, volatile?: boolean): Promise<void>;
  /** Tells every peer this rank's deadline for the op expired (see OpContext.onTimeout). */
  announceStuck(op: OpContext): void;
  /** Peers that have not said they are stuck in collective `seq`, in rank order. */
  silentPeers(seq: number): number[];
  /** Peers that said they are stuck in collective `seq`. */
  stuckPeers(seq: number): number[];
  /** Whether `peer` closed its communicator on purpose (said goodbye). */
  saidBye(peer: number): boolean;
  /** Called once when the op fails: poisons the communicator and tells the peers. */
  opFailed(op: OpContext, err: ZcollError, tellPeers: boolean): void;
  /**
   * Called once as the op settles (after opFailed when it failed), before its promise settles: the
   * op leaves the queue. For a completed op, returns what must happen before its result is made (the
   * peers' release of registered buffers), or undefined when nothing must.
   */
  opSettled(op: OpContext, failed: boolean): Promise<void> | undefined;
}

/** A protocol's state attached to its op: routed every frame, asked whom it waits on, disposed as the op settles. */
export interface AttachedProtocol {
  /** As a FrameHandler: the payload is lent for the call. */
  deliver(src: number, header: DataHeader, payload: Frame | undefined): boolean;
  waitingOn(): { peer: number; what: string } | undefined;
  /** Called once, synchronously, as the op settles (completed or failed). */
  dispose(): void;
}

const ignore = (): void => undefined;

export function describeOp(d: OpDescriptor): string {
  const parts = [d.op, d.dtype === '' ? undefined : d.dtype, `count ${d.count}`, d.redop === '' ? undefined : `op ${d.redop}`, d.root >= 0 ? `root ${d.root}` : undefined, d.algorithm ? `algorithm ${d.algorithm}` : undefined];
  return parts.filter((x) => x !== undefined).join(', ');
}

export class OpContext {
  private attached: AttachedProtocol | undefined;
  private timer: NodeJS.Timeout | undefined;
  private resolveFn!: (value: unknown) => void;
  private rejectFn!: (e: unknown) => void;
  private settledFlag = false;
  /** This rank told its peers it is stuck in this op; and it started its grace before naming ranks. */
  private announced = false;
  private graceStarted = false;
  /** The op's one promise: settled directly by the call that completes or fails the op, with `finish`'s result. */
  readonly done: Promise<unknown>;
  /** A trace event marks the op's end (op-queue.ts traceOp). */
  traced = false;

  constructor(
    private readonly host: OpHost,
    readonly seq: number,
    readonly desc: OpDescriptor,
    readonly timeoutMs: number,
    /** Makes the op's result once it completed (the caller's value, or a promise of it). */
    private readonly finish: () => unknown = ignore,
    /** When the op began, when the caller has just read the clock (op-queue.ts loopTurned). */
    startedAt: number = performance.now(),
  ) {
    this.done = new Promise<unknown>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    this.startedAt = startedAt;
  }

  /** When the op began (performance.now()): its deadline counts from here, whenever the timer is set. */
  readonly startedAt: number;

  /**
   * Sets the deadline's timer, once. The op queue calls it when the op's wait first hands the event
   * loop back (timers fire only there), so a small op that completes while its wait still polls never
   * makes and clears a timer.
   */
  armDeadline(): void {
    if (this.timer !== undefined || this.settledFlag) return;
    // Whole milliseconds: a timer set at once gets exactly timeoutMs, as when it was set in the
    // constructor, so ranks that began together share one timer list and expire in their start order
    // (a fractional delay per rank put each in its own list, and under load the first rank's grace
    // could end and abort the others before their own deadline named the rank really missing).
    // Clamped because setTimeout overflows past 2^31-1 ms.
    this.timer = setTimeout(() => this.onTimeout(), Math.min(Math.max(0, Math.round(this.startedAt + this.timeoutMs - performance.now())), 0x7fffffff));
  }

  get settled(): boolean {
    return this.settledFlag;
  }

  get rank(): number {
    return this.host.rank;
  }

  ctx(peer?: number): { rank: number; op: string; seq: number; peer?: number } {
    return peer === undefined ? { rank: this.host.rank, op: this.desc.op, seq: this.seq } : { rank: this.host.rank, op: this.desc.op, seq: this.seq, peer };
  }

  /** Installs the algorithm's frame handler and its "who am I waiting for" probe (a protocol with nothing to dispose). */
  attach(handler: FrameHandler, waitingOn: () => { peer: number; what: string } | undefined): void {
    this.attachProtocol({ deliver: handler, waitingOn, dispose: ignore });
  }

  /**
   * Attaches a protocol's state as one object (no closure per op): it gets every frame, answers
   * whom it waits on, and is disposed as the op settles; at once when the op settled already.
   */
  attachProtocol(protocol: AttachedProtocol): void {
    this.attached = protocol;
    if (this.settledFlag) protocol.dispose();
  }

  /** Routes a frame of this op's sequence number. Returns false when it was dropped. */
  deliver(src: number, h: DataHeader, payload: Frame | undefined): boolean {
    phaseClock?.('dispatched');
    if (this.settledFlag) return false;
    const d = this.desc;
    const agree =
      d.tolerant === true
        ? h.op === d.op && h.root === d.root
        : h.op === d.op && h.dtype === d.dtype && h.count === d.count && h.redop === d.redop && h.root === d.root && (h.algorithm ?? '') === (d.algorithm ?? '');
    if (!agree) {
      const them: OpDescriptor = { op: h.op, dtype: h.dtype, count: h.count, redop: h.redop, root: h.root, ...(h.algorithm !== undefined ? { algorithm: h.algorithm } : {}) };
      this.fail(new ZcollError('EMISMATCH', `rank ${src} called ${describeOp(them)}; this rank called ${describeOp(d)}`, { ...this.ctx(src), details: { mine: d, theirs: them } }), true);
      return true;
    }
    const attached = this.attached;
    if (attached === undefined) return false;
    const taken = attached.deliver(src, h, payload);
    phaseClock?.('reduced');
    return taken;
  }

  /** Segment `segment` of transfer `transfer` of this op, `elements` elements, to `peer`. */
  send(peer: number, transfer: number, segment: number, payload: Uint8Array | undefined, elements: number, volatile = false): Promise<void> {
    const header = dataHeader(this.host.rank, this.host.epoch, this.seq, this.desc, transfer, segment, elements);
    const sent = this.host.sendRaw(peer, header, payload, volatile);
    if (sent === SENT) return SENT; // done in the call, it cannot fail: the caller may skip its callback
    return sent.catch((e: unknown) => {
      const err = e instanceof ZcollError ? e : new ZcollError('ETIMEDOUT', `could not queue a message to rank ${peer}: ${(e as Error).message}`, this.ctx(peer), { cause: e });
      this.fail(err, true);
      throw err;
    });
  }

  /**
   * The op completed: it leaves the queue and its promise resolves here, in this call (no microtask
   * hop between the last frame and the caller's continuation; issue 17).
   */
  complete(): void {
    phaseClock?.('settled');
    if (this.settledFlag) return;
    this.settledFlag = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.attached?.dispose();
    const held = this.host.opSettled(this, false);
    if (held !== undefined) {
      this.done.catch(ignore); // as in fail
      this.resolveFn(held.then(this.finish));
      return;
    }
    let result: unknown;
    try {
      result = this.finish();
    } catch (e) {
      this.rejectFn(e);
      return;
    }
    this.resolveFn(result);
  }

  /** Executor channel (schedule/execute.ts ExecChannel): the execution completed. */
  completed(): void {
    this.complete();
  }

  /** Fails the op; `tellPeers` (ExecChannel.fail passes none: a violation found while executing) sends every peer an abort. */
  fail(err: ZcollError, tellPeers = true): void {
    if (this.settledFlag) return;
    this.settledFlag = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.attached?.dispose();
    this.host.opFailed(this, err, tellPeers);
    this.host.opSettled(this, true);
    // A caller that does not await a failed op must not end the process with an unhandled rejection
    // (the error also poisons the communicator, so later calls report it).
    this.done.catch(ignore);
    this.rejectFn(err);
  }

  /**
   * Says "stuck in this op" to every peer, once: when this rank's deadline expires, or as soon as a
   * peer says it first (so every live rank of the op answers within a message's time, and only the
   * ranks that are stopped, hung or elsewhere stay silent).
   */
  announceStuck(): void {
    if (this.announced || this.settledFlag) return;
    this.announced = true;
    this.host.announceStuck(this);
  }

  /**
   * A timeout names the rank that is really missing, not the neighbour that waits on it: this rank
   * first tells every peer it is stuck in this collective, then waits a short grace for the others'
   * notices (their deadlines expire at about the same time). Ranks that sent none are the ones that
   * are stopped, hung or never called; they are named on every rank.
   */
  private onTimeout(): void {
    if (!this.graceStarted) {
      this.graceStarted = true;
      this.announceStuck();
      this.timer = setTimeout(() => this.onTimeout(), Math.min(Math.max(this.timeoutMs / 2, 1000), 10_000));
      return;
    }
    const w = this.attached?.waitingOn();
    // The culprit first: the peer this rank itself waits on, when it said nothing; peers that closed
    // their communicator last (they are gone on purpose, not stopped).
    const rankOf = (r: number): number => (this.host.saidBye(r) ? 1 : r === w?.peer ? -1 : 0);
    const silent = this.host.silentPeers(this.seq).sort((a, b) => rankOf(a) - rankOf(b) || a - b);
    const what = w === undefined ? '' : ` (this rank waited for ${w.what} from rank ${w.peer})`;
    const waiting = this.host.stuckPeers(this.seq);
    const others = waiting.length > 0 ? `; rank${waiting.length > 1 ? 's' : ''} ${waiting.join(', ')} waited too` : '';
    if (silent.length > 0) {
      // A peer that closed its communicator is not stopped: it called close() while this rank still ran collectives.
      const who = silent.map((r) => (this.host.saidBye(r) ? `rank ${r} (it closed its communicator: its program called close() before this collective)` : `rank ${r}`)).join(' or ');
      this.fail(new ZcollError('ETIMEDOUT', `no message from ${who} within ${this.timeoutMs} ms${what}${others}`, { ...this.ctx(silent[0]), details: { silent, waiting } }), true);
      return;
    }
    // Everyone is waiting on everyone: a deadlock or a collective some rank never matched.
    const who = w === undefined ? 'its peers' : `rank ${w.peer}`;
    this.fail(new ZcollError('ETIMEDOUT', `no message from ${who} within ${this.timeoutMs} ms${what}; every rank is waiting`, this.ctx(w?.peer)), true);
  }
}
