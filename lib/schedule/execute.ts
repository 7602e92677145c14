/**
 * The one executor of collective schedules. It runs a Schedule on one rank, driven by data: a
 * transfer's segment is sent as soon as the segments it depends on have landed, so sending,
 * receiving and reducing overlap across segments and steps, with no global barrier (a segment
 * never waits for the slowest transfer of its step).
 *
 * Memory rules (zero-copy, and safe):
 *  - a received frame is reduced or copied straight from the ZeroMQ message's memory or the
 *    sender's shared-memory slot when it is aligned for the dtype (one copy otherwise), and released
 *    at once (transport/frame.ts); one that arrives before its turn in the reduction order is kept;
 *  - sends go out as views of the working buffer, without a copy (relays too: the verifier's race
 *    freedom guarantees nothing overwrites a chunk before its send has landed). zeromq.js may still be
 *    writing a view after its send promise resolves, and the caller owns the buffer once the
 *    collective returns, so a rank completes only when it knows every peer has its bytes: either
 *    some transfer it waits for depends on that send (for the ring, all but one send per rank), or
 *    the receiver acknowledges the transfer with an empty frame (the rest, when the chunk is 256 KiB
 *    or more: a small message instead of a memcpy of the chunk). Below that, the send goes out from a
 *    private copy, which costs less than the acknowledgement's extra hop.
 *  - a `snapshot` transfer always goes out from a private copy taken when it is released, since a
 *    partner's reduce into the same chunk may be applied while it is in flight;
 *  - reductions into one (rank, chunk) are applied in transfer-id order whatever the arrival order,
 *    so results are bitwise reproducible from run to run. Whatever a landing releases is sent
 *    (or snapshotted) before the next reduction in that order is applied.
 * A chunk of zero elements (every chunk of a barrier, the empty chunks of a small buffer) is still
 * one empty segment per transfer (partition.ts, segmentCount), sent, received and counted, so the
 * transfers that depend on it are released and its receiver completes only after it landed.
 */
import type { Kernels, ElementwiseOp } from '../kernels/contract.js';
import { reduceIntoAt } from '../kernels/js.js';
import { BYTES_PER_ELEMENT, dtypeOf, viewArray, type DType, type NumericArray } from '../dtype.js';
import { ZcollError } from '../errors.js';
import type { Frame } from '../transport/frame.js';
import { SENT } from '../transport/sent.js';
import { chunkSpans, segmentCount, segmentSpan, type Span } from './partition.js';
import type { Schedule, Transfer } from './types.js';

/** What the executor needs from the communicator for one collective. */
export interface ExecChannel {
  readonly rank: number;
  /**
   * Sends segment `segment` of transfer `transfer`; `count` elements. Failures fail the op. Returns
   * SENT (transport/sent.ts) when the send completed in the call.
   * `volatile`: the payload's memory may change once this returns (the channel copies it unless it
   * copies it at once anyway).
   */
  send(peer: number, transfer: number, segment: number, payload: Uint8Array | undefined, count: number, volatile: boolean): Promise<void>;
  /** Fails the collective (protocol violations found while executing). */
  fail(err: ZcollError): void;
  /** Called synchronously when the execution completes (as `done` resolves, without its microtask hop). */
  completed?(): void;
}

/** A frame's place in a schedule (the data header's fields the executor reads). */
export interface SegmentAddress {
  readonly transfer: number;
  readonly segment: number;
  readonly elements: number;
}

export interface Execution {
  /**
   * Feeds a frame of this collective; returns false if it was not expected (dropped by the caller).
   * The payload is lent for the call: the executor releases it once reduced or copied, and keeps it
   * only when it must wait for its turn in the reduction order.
   */
  onFrame(src: number, transfer: number, segment: number, payload: Frame | undefined, count: number): boolean;
  /** onFrame with the frame's address as its header gives it (the op routes frames here without a closure). */
  deliver(src: number, h: SegmentAddress, payload: Frame | undefined): boolean;
  /**
   * Releases the payloads still waiting for their turn (the op failed or was abandoned). Called once
   * the op is over: a completed execution then hands its state to the next op of its plan and size,
   * and refuses every frame after.
   */
  dispose(): void;
  /** The peer and transfer the execution waits on, for timeout messages. */
  waitingOn(): { peer: number; what: string } | undefined;
  /** Resolves when every expected segment has landed and every send was queued (made when first asked for). */
  readonly done: Promise<void>;
}

interface RankPlan {
  readonly outgoing: readonly Transfer[];
  readonly incoming: readonly Transfer[];
  /** Transfer id -> its index in `incoming` / `outgoing`, or -1: the per-op arrays are indexed by these. */
  readonly inIndex: Int32Array;
  readonly outIndex: Int32Array;
  /** incoming index -> outgoing transfers listing it in deps */
  readonly dependents: ReadonlyArray<readonly Transfer[]>;
  /** outgoing transfer ids the receiver must acknowledge (nothing this rank waits for depends on them) */
  readonly awaitAck: ReadonlySet<number>;
  /** incoming transfer ids this rank acknowledges to their sender */
  readonly sendAck: ReadonlySet<number>;
  /** chunk -> incoming 'reduce' transfer ids in the order they must be applied (undefined: none into it) */
  readonly reduceOrder: ReadonlyArray<readonly number[] | undefined>;
  /** Per buffer size: how it is cut (layoutOf). A training loop runs a few sizes, every step. */
  readonly layouts: Map<number, Layout>;
}

/**
 * How one buffer size is cut for one rank's plan, and the starting values of an op's counters: the
 * same for every op of that size, so made once. Segments are numbered flat: segment g of chunk c is
 * `segBase[c] + g`; segment g of incoming transfer k is `inBase[k] + g` (of outgoing k, `outBase[k] + g`).
 */
interface Layout {
  readonly elemBytes: number;
  readonly segmentElems: number;
  /** Segments per chunk. */
  readonly nseg: Int32Array;
  readonly segBase: Int32Array;
  /** Per flat (chunk, segment): its offset and length in elements. */
  readonly segOffset: Int32Array;
  readonly segLength: Int32Array;
  readonly inBase: Int32Array;
  readonly outBase: Int32Array;
  /** Per flat outgoing segment: deps not landed yet at the start. */
  readonly pendingInit: Int32Array;
  /** Per incoming transfer: its segments (all not landed at the start). */
  readonly depSegsInit: Int32Array;
  /** Per chunk with reductions into it: where its segments' reduce cursors start (-1: none). */
  readonly reduceBase: Int32Array;
  readonly reduceSegs: number;
  /** Per outgoing transfer: 1 when sent volatile (a snapshot, or small and unconfirmed: see sendSegment). */
  readonly volatileOut: Uint8Array;
  /** Per outgoing transfer: 1 when its receiver acknowledges it at this size (see isAcked). */
  readonly ackOut: Uint8Array;
  readonly acksAwaited: number;
  /** Per incoming transfer: 1 when this rank acknowledges it at this size. */
  readonly ackIn: Uint8Array;
  /** Segments this rank receives per op. */
  readonly segsIn: number;
  /**
   * One op's state, kept for the next op of this plan and size. Taken by one run at a time; given
   * back only by a run that completed (every send settled, every frame landed) and was disposed, so
   * no callback of that run can touch it again (RunState).
   */
  spare: RunState | undefined;
}

/** Layouts kept per plan, at most: beyond, the oldest go (a caller with ever-changing sizes gains nothing from them). */
const MAX_LAYOUTS = 64;

const plans = new WeakMap<Schedule, Map<number, RankPlan>>();
const unconfirmedBySchedule = new WeakMap<Schedule, ReadonlySet<number>>();

/**
 * Transfers whose sender would complete without learning that they landed: nothing that flows back
 * into the sender depends on them. Their receivers acknowledge them.
 */
export function unconfirmedTransfers(s: Schedule): ReadonlySet<number> {
  const cached = unconfirmedBySchedule.get(s);
  if (cached) return cached;
  const out = new Set<number>();
  for (let rank = 0; rank < s.nranks; rank++) {
    const ancestors = new Set<number>();
    const stack = s.transfers.filter((t) => t.dst === rank).map((t) => t.id);
    while (stack.length > 0) {
      for (const d of s.transfers[stack.pop() as number].deps) {
        if (!ancestors.has(d)) {
          ancestors.add(d);
          stack.push(d);
        }
      }
    }
    for (const t of s.transfers) if (t.src === rank && !ancestors.has(t.id)) out.add(t.id);
  }
  unconfirmedBySchedule.set(s, out);
  return out;
}

function planFor(s: Schedule, rank: number): RankPlan {
  let byRank = plans.get(s);
  if (byRank === undefined) plans.set(s, (byRank = new Map()));
  const cached = byRank.get(rank);
  if (cached) return cached;
  const outgoing = s.transfers.filter((t) => t.src === rank);
  const incoming = s.transfers.filter((t) => t.dst === rank);
  const inIndex = new Int32Array(s.transfers.length).fill(-1);
  const outIndex = new Int32Array(s.transfers.length).fill(-1);
  incoming.forEach((t, k) => (inIndex[t.id] = k));
  outgoing.forEach((t, k) => (outIndex[t.id] = k));
  const dependents: Transfer[][] = incoming.map(() => []);
  // A dep that is not incoming here is a builder's bug the verifier rejects; it is then never released.
  for (const t of outgoing) for (const d of t.deps) if (inIndex[d] >= 0) dependents[inIndex[d]].push(t);
  const unconfirmed = unconfirmedTransfers(s);
  const awaitAck = new Set(outgoing.filter((t) => unconfirmed.has(t.id)).map((t) => t.id));
  const sendAck = new Set(incoming.filter((t) => unconfirmed.has(t.id)).map((t) => t.id));
  const reduceOrder: Array<number[] | undefined> = new Array<number[] | undefined>(s.nchunks).fill(undefined);
  for (const t of incoming) if (t.kind === 'reduce') (reduceOrder[t.chunk] ??= []).push(t.id);
  for (const ids of reduceOrder) ids?.sort((a, b) => a - b);
  const plan: RankPlan = { outgoing, incoming, inIndex, outIndex, dependents, awaitAck, sendAck, reduceOrder, layouts: new Map() };
  byRank.set(rank, plan);
  return plan;
}

const receiversBySchedule = new WeakMap<Schedule, ReadonlySet<number>>();

function receivingRanks(s: Schedule): ReadonlySet<number> {
  let r = receiversBySchedule.get(s);
  if (r === undefined) receiversBySchedule.set(s, (r = new Set(s.transfers.map((t) => t.dst))));
  return r;
}

/**
 * Segments up to this many elements are reduced by the JS loop (kernels/js.ts, same contract and
 * results as the native kernel, tested against it), in place: below it, the native call's fixed
 * cost (N-API, a view of the span) is more than the loop. Measured per reduce of float32 sum:
 * 2 elements 215 ns native, 73 ns JS; 64: 206 / 161 ns; 1024: 246 / 1511 ns.
 */
const SMALL_REDUCE_ELEMS = 64;

/** Transfers of chunks this large are acknowledged; smaller unconfirmed ones are sent from a copy. */
const ACK_MIN_BYTES = 256 * 1024;

/** Acknowledgements travel as transfer ids -2, -3, ...: ackId maps a transfer id to its ack id and back. */
const ACK_BASE = -2;
const ackId = (x: number): number => ACK_BASE - x;

export interface ExecuteParams {
  readonly schedule: Schedule;
  readonly buffer: NumericArray;
  readonly op: ElementwiseOp;
  readonly segmentElems: number;
  readonly kernels: Kernels;
}

/**
 * Whether transfer `t` is acknowledged by its receiver when its chunk is `sp` (both sides know the
 * chunk sizes, so they agree). Small unconfirmed transfers go out from a private copy instead (cheaper
 * than a round trip). A sender that receives nothing in this collective (a broadcast root, a gather's
 * senders) always hears back: it learns of a mismatched peer from the abort that replaces the
 * acknowledgement, and of delivery. A snapshot send goes from its own copy anyway, so it needs no
 * acknowledgement for the buffer's sake.
 */
function isAcked(t: Transfer, receives: ReadonlySet<number>, sp: Span, elemBytes: number): boolean {
  return !receives.has(t.src) || (t.snapshot !== true && sp.length * elemBytes >= ACK_MIN_BYTES);
}

function layoutOf(s: Schedule, plan: RankPlan, count: number, elemBytes: number, segmentElems: number): Layout {
  const known = plan.layouts.get(count);
  if (known !== undefined && known.elemBytes === elemBytes && known.segmentElems === segmentElems) return known;
  const spans = chunkSpans(count, s.nchunks);
  const receives = receivingRanks(s);
  const nseg = Int32Array.from(spans, (sp) => segmentCount(sp.length, segmentElems));
  const segBase = new Int32Array(s.nchunks + 1);
  for (let c = 0; c < s.nchunks; c++) segBase[c + 1] = segBase[c] + nseg[c];
  const segOffset = new Int32Array(segBase[s.nchunks]);
  const segLength = new Int32Array(segBase[s.nchunks]);
  for (let c = 0; c < s.nchunks; c++) {
    for (let g = 0; g < nseg[c]; g++) {
      const sp = segmentSpan(spans[c], segmentElems, g);
      segOffset[segBase[c] + g] = sp.offset;
      segLength[segBase[c] + g] = sp.length;
    }
  }
  const { incoming, outgoing } = plan;
  const inBase = new Int32Array(incoming.length + 1);
  incoming.forEach((t, k) => (inBase[k + 1] = inBase[k] + nseg[t.chunk]));
  const outBase = new Int32Array(outgoing.length + 1);
  outgoing.forEach((t, k) => (outBase[k + 1] = outBase[k] + nseg[t.chunk]));
  const pendingInit = new Int32Array(outBase[outgoing.length]);
  outgoing.forEach((t, k) => pendingInit.fill(t.deps.length, outBase[k], outBase[k + 1]));
  const depSegsInit = Int32Array.from(incoming, (t) => nseg[t.chunk]);
  const reduceBase = new Int32Array(s.nchunks).fill(-1);
  let reduceSegs = 0;
  plan.reduceOrder.forEach((order, c) => {
    if (order === undefined) return;
    reduceBase[c] = reduceSegs;
    reduceSegs += nseg[c];
  });
  const ackOut = Uint8Array.from(outgoing, (t) => (plan.awaitAck.has(t.id) && isAcked(t, receives, spans[t.chunk], elemBytes) ? 1 : 0));
  // A snapshot, or a small transfer whose landing nothing confirms, must not be read after its send
  // call: sent as volatile, the channel copies it (at once into a mailbox, or privately first).
  const volatileOut = Uint8Array.from(outgoing, (t, k) => (t.snapshot === true || (plan.awaitAck.has(t.id) && ackOut[k] === 0) ? 1 : 0));
  const ackIn = Uint8Array.from(incoming, (t) => (plan.sendAck.has(t.id) && isAcked(t, receives, spans[t.chunk], elemBytes) ? 1 : 0));
  const layout: Layout = {
    elemBytes,
    segmentElems,
    nseg,
    segBase,
    segOffset,
    segLength,
    inBase,
    outBase,
    pendingInit,
    depSegsInit,
    reduceBase,
    reduceSegs,
    volatileOut,
    ackOut,
    acksAwaited: ackOut.reduce((a, b) => a + b, 0),
    ackIn,
    segsIn: inBase[incoming.length],
    spare: undefined,
  };
  if (plan.layouts.size >= MAX_LAYOUTS) plan.layouts.delete(plan.layouts.keys().next().value as number);
  plan.layouts.set(count, layout);
  return layout;
}

/** States made (a test checks that completed ops hand theirs on, and that live ones never share one). */
export const executorStats = { statesMade: 0 };

/**
 * The counters of one op: which segments landed, deps left per outgoing segment, reduce cursors,
 * payloads waiting for their turn, acknowledgements awaited. Typed arrays reset from the layout's
 * starting values, so a small op resets a few words instead of building maps (issue 17: the per-op
 * maps, arrays and closures were most of the microsecond between an op's start and its first send).
 */
class RunState {
  /** The run using these arrays now; a run touches them only while it is the owner. */
  owner: Run | undefined;
  readonly landed: Uint8Array;
  /** Per flat incoming segment: a payload waits in `stash` for its turn in the reduction order. */
  readonly stashed: Uint8Array;
  readonly stash: Array<Frame | undefined>;
  readonly pending: Int32Array;
  readonly depSegsLeft: Int32Array;
  readonly nextReduce: Int32Array;
  readonly ackWaiting: Uint8Array;

  constructor(readonly layout: Layout) {
    this.landed = new Uint8Array(layout.segsIn);
    this.stashed = new Uint8Array(layout.segsIn);
    this.stash = new Array<Frame | undefined>(layout.segsIn).fill(undefined);
    this.pending = layout.pendingInit.slice();
    this.depSegsLeft = layout.depSegsInit.slice();
    this.nextReduce = new Int32Array(layout.reduceSegs);
    this.ackWaiting = layout.ackOut.slice();
    executorStats.statesMade++;
  }

  /** Back to the starting values (the stash is empty: a completed run consumed every payload). */
  reset(): void {
    const l = this.layout;
    this.landed.fill(0);
    this.pending.set(l.pendingInit);
    this.depSegsLeft.set(l.depSegsInit);
    this.nextReduce.fill(0);
    this.ackWaiting.set(l.ackOut);
  }
}

/** A state for a new run: the layout's spare when no run holds it, a fresh one otherwise. */
function takeState(layout: Layout, run: Run): RunState {
  let st = layout.spare;
  if (st !== undefined && st.owner === undefined) {
    layout.spare = undefined;
    st.reset();
  } else st = new RunState(layout);
  st.owner = run;
  return st;
}

export function execute(p: ExecuteParams, ch: ExecChannel): Execution {
  return new Run(p, ch);
}

/** One execution of a schedule on one rank (see the file's header). */
class Run implements Execution {
  /** Made only when asked for (tests): the op learns of completion through ch.completed, and a promise per op cost it. */
  private donePromise: Promise<void> | undefined;
  private resolveDone: (() => void) | undefined;
  private readonly s: Schedule;
  private readonly buffer: NumericArray;
  private readonly op: ElementwiseOp;
  private readonly kernels: Kernels;
  private readonly ch: ExecChannel;
  private readonly rank: number;
  private readonly plan: RankPlan;
  private readonly layout: Layout;
  private readonly dtype: DType;
  private readonly st: RunState;
  private remainingIn: number;
  private sendsInFlight = 0;
  private acksLeft: number;
  private failed = false;
  /** Every frame landed, every send settled, every acknowledgement came: no callback of this run is left. */
  private completed = false;

  constructor(p: ExecuteParams, ch: ExecChannel) {
    this.s = p.schedule;
    this.buffer = p.buffer;
    this.op = p.op;
    this.kernels = p.kernels;
    this.ch = ch;
    this.rank = ch.rank;
    this.plan = planFor(p.schedule, ch.rank);
    this.dtype = dtypeOf(p.buffer);
    this.layout = layoutOf(p.schedule, this.plan, p.buffer.length, BYTES_PER_ELEMENT[this.dtype], p.segmentElems);
    this.st = takeState(this.layout, this);
    this.remainingIn = this.layout.segsIn;
    this.acksLeft = this.layout.acksAwaited;
    const { outgoing } = this.plan;
    const { outBase } = this.layout;
    for (let k = 0; k < outgoing.length; k++) {
      const t = outgoing[k];
      if (t.deps.length === 0) for (let sg = 0; sg < outBase[k + 1] - outBase[k]; sg++) this.sendSegment(t, k, sg);
    }
    this.maybeDone();
  }

  private maybeDone(): void {
    if (!this.failed && !this.completed && this.remainingIn === 0 && this.sendsInFlight === 0 && this.acksLeft === 0) {
      this.completed = true;
      this.resolveDone?.();
      this.ch.completed?.();
    }
  }

  get done(): Promise<void> {
    this.donePromise ??= this.completed ? Promise.resolve() : new Promise<void>((resolve) => (this.resolveDone = resolve));
    return this.donePromise;
  }

  /**
   * Bound once per run that has a send in flight, not per send (a closure per send was most of a small
   * op's allocations), and not at all when every send went into a mailbox (SENT).
   */
  private sendSettled: (() => void) | undefined;
  private sendFailed: (() => void) | undefined;

  private sendSegment(t: Transfer, k: number, seg: number): void {
    const l = this.layout;
    const flat = l.segBase[t.chunk] + seg;
    const length = l.segLength[flat];
    const buffer = this.buffer;
    const payload = length > 0 ? new Uint8Array(buffer.buffer, buffer.byteOffset + l.segOffset[flat] * l.elemBytes, length * l.elemBytes) : undefined;
    this.post(t.dst, t.id, seg, payload, length, l.volatileOut[k] === 1);
  }

  private post(peer: number, transfer: number, seg: number, payload: Uint8Array | undefined, count: number, volatile: boolean): void {
    const sent = this.ch.send(peer, transfer, seg, payload, count, volatile);
    if (sent === SENT) return; // already in the peer's mailbox: nothing to wait for (transport/sent.ts)
    this.sendsInFlight++;
    this.sendSettled ??= (): void => {
      this.sendsInFlight--;
      this.maybeDone();
    };
    this.sendFailed ??= (): void => {
      this.failed = true; // the channel fails the op; nothing more to do here
    };
    sent.then(this.sendSettled, this.sendFailed);
  }

  private release(t: Transfer, seg: number): void {
    const k = this.plan.outIndex[t.id];
    if (--this.st.pending[this.layout.outBase[k] + seg] === 0) this.sendSegment(t, k, seg);
  }

  /** Incoming transfer x (index k here) landed segment `seg`: count it, acknowledge it, release what waited on it. */
  private markLanded(x: Transfer, k: number, seg: number): void {
    const st = this.st;
    const l = this.layout;
    st.landed[l.inBase[k] + seg] = 1;
    this.remainingIn--;
    const segsLeft = --st.depSegsLeft[k];
    if (segsLeft === 0 && l.ackIn[k] === 1) this.post(x.src, ackId(x.id), 0, undefined, 0, false);
    const deps = this.plan.dependents[k];
    for (let i = 0; i < deps.length; i++) {
      const t = deps[i];
      // Same chunk: segment by segment (same segmentation). Another chunk: only its whole landing counts.
      if (t.chunk === x.chunk) this.release(t, seg);
      else if (segsLeft === 0) for (let sg = 0; sg < l.nseg[t.chunk]; sg++) this.release(t, sg);
    }
  }

  private typedView(frame: Frame | undefined, count: number): NumericArray {
    const buffer = this.buffer;
    if (frame === undefined || count === 0) return viewArray(this.dtype, buffer.buffer, buffer.byteOffset, 0);
    const payload = frame.bytes;
    if (payload.byteOffset % this.layout.elemBytes === 0) return viewArray(this.dtype, payload.buffer, payload.byteOffset, count);
    const aligned = new Uint8Array(payload.byteLength);
    aligned.set(payload);
    return viewArray(this.dtype, aligned.buffer, 0, count);
  }

  /** Applies the reductions into (chunk, seg) whose payloads are here, in transfer-id order, up to the first missing one. */
  private applyReduce(chunk: number, seg: number): void {
    const st = this.st;
    const l = this.layout;
    const { inIndex } = this.plan;
    const order = this.plan.reduceOrder[chunk]!;
    const cursor = l.reduceBase[chunk] + seg;
    const flat = l.segBase[chunk] + seg;
    const offset = l.segOffset[flat];
    const length = l.segLength[flat];
    while (st.nextReduce[cursor] < order.length) {
      const id = order[st.nextReduce[cursor]];
      const k = inIndex[id];
      const at = l.inBase[k] + seg;
      if (st.stashed[at] === 0) return;
      const payload = st.stash[at];
      st.stash[at] = undefined;
      st.stashed[at] = 0;
      st.nextReduce[cursor]++;
      if (length > 0) {
        const src = this.typedView(payload, length);
        if (length <= SMALL_REDUCE_ELEMS) reduceIntoAt(this.buffer, offset, src, length, this.op);
        else this.kernels.reduceInto(this.buffer.subarray(offset, offset + length), src, this.op);
      }
      payload?.release();
      this.markLanded(this.s.transfers[id], k, seg);
    }
  }

  deliver(src: number, h: SegmentAddress, payload: Frame | undefined): boolean {
    return this.onFrame(src, h.transfer, h.segment, payload, h.elements);
  }

  onFrame(src: number, transfer: number, segment: number, payload: Frame | undefined, count: number): boolean {
    if (this.failed || this.st.owner !== this) return false;
    const st = this.st;
    const l = this.layout;
    if (transfer <= ACK_BASE) {
      const id = ackId(transfer);
      const k = Number.isInteger(id) && id < this.s.transfers.length ? this.plan.outIndex[id] : -1;
      if (k < 0 || st.ackWaiting[k] === 0 || this.s.transfers[id].dst !== src || segment !== 0 || count !== 0) return false;
      st.ackWaiting[k] = 0;
      this.acksLeft--;
      this.maybeDone();
      return true;
    }
    // Ids index typed arrays here: anything but a whole number in range is a frame not of this schedule.
    const k = Number.isInteger(transfer) && transfer >= 0 && transfer < this.s.transfers.length ? this.plan.inIndex[transfer] : -1;
    if (k < 0) return false;
    const t = this.plan.incoming[k];
    if (t.src !== src || !(Number.isInteger(segment) && segment >= 0 && segment < l.nseg[t.chunk])) return false;
    const at = l.inBase[k] + segment;
    if (st.landed[at] === 1 || st.stashed[at] === 1) return false;
    const flat = l.segBase[t.chunk] + segment;
    const length = l.segLength[flat];
    if (count !== length) {
      this.failed = true;
      this.ch.fail(
        new ZcollError('EMISMATCH', `segment ${segment} of transfer ${t.id} from rank ${src} holds ${count} elements, this rank expects ${length} (different segmentBytes?)`, {
          rank: this.rank,
          peer: src,
        }),
      );
      return true;
    }
    if (t.kind === 'reduce') {
      st.stash[at] = payload;
      st.stashed[at] = 1;
      this.applyReduce(t.chunk, segment);
      // Arrived before its turn in the reduction order: kept (a lent slot is copied and handed back).
      if (st.stashed[at] === 1) payload?.keep();
    } else {
      const offset = l.segOffset[flat];
      if (length > 0) this.buffer.set(this.typedView(payload, length), offset);
      payload?.release();
      this.markLanded(t, k, segment);
    }
    this.maybeDone();
    return true;
  }

  waitingOn(): { peer: number; what: string } | undefined {
    if (this.st.owner !== this) return undefined;
    const { incoming, outgoing } = this.plan;
    const l = this.layout;
    for (let k = 0; k < incoming.length; k++) {
      for (let at = l.inBase[k]; at < l.inBase[k + 1]; at++) {
        const t = incoming[k];
        if (this.st.landed[at] === 0) return { peer: t.src, what: `segment ${at - l.inBase[k]} of transfer ${t.id} (chunk ${t.chunk}, step ${t.step})` };
      }
    }
    for (let k = 0; k < outgoing.length; k++) if (this.st.ackWaiting[k] === 1) return { peer: outgoing[k].dst, what: `the acknowledgement of transfer ${outgoing[k].id}` };
    return undefined;
  }

  /**
   * Releases the payloads still waiting for their turn. The state goes back to the layout for the
   * next op only when this run completed: a failed or abandoned run may still have sends whose
   * callbacks come later, so its state is left to the garbage collector, never shared.
   */
  dispose(): void {
    const st = this.st;
    if (st.owner !== this) return;
    for (let at = 0; at < st.stash.length; at++) {
      if (st.stashed[at] === 1) st.stash[at]?.release();
      st.stash[at] = undefined;
      st.stashed[at] = 0;
    }
    if (!this.completed || this.failed) return; // owner stays this run: nobody else takes it
    st.owner = undefined;
    this.layout.spare = st;
  }
}
