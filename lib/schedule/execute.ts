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
import { BYTES_PER_ELEMENT, dtypeOf, viewArray, type NumericArray } from '../dtype.js';
import { ZcollError } from '../errors.js';
import type { Frame } from '../transport/frame.js';
import { chunkSpans, segmentCount, segmentSpan, type Span } from './partition.js';
import type { Schedule, Transfer } from './types.js';

/** What the executor needs from the communicator for one collective. */
export interface ExecChannel {
  readonly rank: number;
  /**
   * Sends segment `segment` of transfer `transfer`; `count` elements. Failures fail the op.
   * `volatile`: the payload's memory may change once this returns (the channel copies it unless it
   * copies it at once anyway).
   */
  send(peer: number, transfer: number, segment: number, payload: Uint8Array | undefined, count: number, volatile: boolean): Promise<void>;
  /** Fails the collective (protocol violations found while executing). */
  fail(err: ZcollError): void;
}

export interface Execution {
  /**
   * Feeds a frame of this collective; returns false if it was not expected (dropped by the caller).
   * The payload is lent for the call: the executor releases it once reduced or copied, and keeps it
   * only when it must wait for its turn in the reduction order.
   */
  onFrame(src: number, transfer: number, segment: number, payload: Frame | undefined, count: number): boolean;
  /** Releases the payloads still waiting for their turn (the op failed or was abandoned). */
  dispose(): void;
  /** The peer and transfer the execution waits on, for timeout messages. */
  waitingOn(): { peer: number; what: string } | undefined;
  /** Resolves when every expected segment has landed and every send was queued. */
  readonly done: Promise<void>;
}

interface RankPlan {
  readonly outgoing: readonly Transfer[];
  readonly incoming: readonly Transfer[];
  /** incoming transfer id -> outgoing transfers listing it in deps */
  readonly dependents: ReadonlyMap<number, readonly Transfer[]>;
  /** outgoing transfer ids the receiver must acknowledge (nothing this rank waits for depends on them) */
  readonly awaitAck: ReadonlySet<number>;
  /** incoming transfer ids this rank acknowledges to their sender */
  readonly sendAck: ReadonlySet<number>;
  /** chunk -> incoming 'reduce' transfer ids in the order they must be applied */
  readonly reduceOrder: ReadonlyMap<number, readonly number[]>;
  /** Per buffer size: how it is cut (layoutOf). A training loop runs a few sizes, every step. */
  readonly layouts: Map<number, Layout>;
}

/** How one buffer size is cut for one rank's plan: the same for every op of that size, so made once. */
interface Layout {
  readonly elemBytes: number;
  readonly segmentElems: number;
  readonly spans: readonly Span[];
  /** Segments per chunk. */
  readonly nseg: readonly number[];
  /** Outgoing transfers whose receiver acknowledges them at this size (see `acked` in execute). */
  readonly acksAwaited: readonly number[];
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
  const dependents = new Map<number, Transfer[]>();
  for (const t of outgoing) for (const d of t.deps) (dependents.get(d) ?? dependents.set(d, []).get(d))!.push(t);
  const unconfirmed = unconfirmedTransfers(s);
  const awaitAck = new Set(outgoing.filter((t) => unconfirmed.has(t.id)).map((t) => t.id));
  const sendAck = new Set(incoming.filter((t) => unconfirmed.has(t.id)).map((t) => t.id));
  const reduceOrder = new Map<number, number[]>();
  for (const t of incoming) if (t.kind === 'reduce') (reduceOrder.get(t.chunk) ?? reduceOrder.set(t.chunk, []).get(t.chunk))!.push(t.id);
  for (const ids of reduceOrder.values()) ids.sort((a, b) => a - b);
  const plan: RankPlan = { outgoing, incoming, dependents, awaitAck, sendAck, reduceOrder, layouts: new Map() };
  byRank.set(rank, plan);
  return plan;
}

const receiversBySchedule = new WeakMap<Schedule, ReadonlySet<number>>();

function receivingRanks(s: Schedule): ReadonlySet<number> {
  let r = receiversBySchedule.get(s);
  if (r === undefined) receiversBySchedule.set(s, (r = new Set(s.transfers.map((t) => t.dst))));
  return r;
}

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
  const acksAwaited = [...plan.awaitAck].filter((id) => isAcked(s.transfers[id], receives, spans[s.transfers[id].chunk], elemBytes));
  const layout: Layout = { elemBytes, segmentElems, spans, nseg: spans.map((sp) => segmentCount(sp.length, segmentElems)), acksAwaited };
  if (plan.layouts.size >= MAX_LAYOUTS) plan.layouts.delete(plan.layouts.keys().next().value as number);
  plan.layouts.set(count, layout);
  return layout;
}

export function execute(p: ExecuteParams, ch: ExecChannel): Execution {
  const { schedule: s, buffer, op, kernels } = p;
  const rank = ch.rank;
  const plan = planFor(s, rank);
  const dtype = dtypeOf(buffer);
  const elemBytes = BYTES_PER_ELEMENT[dtype];
  const { spans, nseg, acksAwaited } = layoutOf(s, plan, buffer.length, elemBytes, p.segmentElems);
  const segOf = (chunk: number, seg: number): Span => segmentSpan(spans[chunk], p.segmentElems, seg);
  const bytesOf = (sp: Span): Uint8Array => new Uint8Array(buffer.buffer, buffer.byteOffset + sp.offset * elemBytes, sp.length * elemBytes);

  const landed = new Map<number, Uint8Array>();
  for (const t of plan.incoming) landed.set(t.id, new Uint8Array(nseg[t.chunk]));
  let remainingIn = plan.incoming.reduce((acc, t) => acc + nseg[t.chunk], 0);
  // pending[x][seg]: deps of that segment not yet landed (a dep of another chunk counts until it landed whole).
  const pending = new Map<number, Int32Array>();
  for (const t of plan.outgoing) pending.set(t.id, new Int32Array(nseg[t.chunk]).fill(t.deps.length));
  const depSegsLeft = new Map<number, number>(); // incoming id -> segments not yet landed (for other-chunk deps)
  for (const t of plan.incoming) depSegsLeft.set(t.id, nseg[t.chunk]);
  const nextReduce = new Map<number, Int32Array>(); // chunk -> per segment index into reduceOrder
  for (const c of plan.reduceOrder.keys()) nextReduce.set(c, new Int32Array(nseg[c]));
  const stash = new Map<string, Frame | undefined>();
  let sendsInFlight = 0;
  const receives = receivingRanks(s);
  const acked = (t: Transfer): boolean => isAcked(t, receives, spans[t.chunk], elemBytes);
  const acksPending = new Set(acksAwaited);
  let failed = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));

  const maybeDone = (): void => {
    if (!failed && remainingIn === 0 && sendsInFlight === 0 && acksPending.size === 0) {
      resolveDone();
    }
  };

  const sendSegment = (t: Transfer, seg: number): void => {
    const sp = segOf(t.chunk, seg);
    // A snapshot, or a small transfer whose landing nothing confirms, must not be read after this
    // call: sent as volatile, the channel copies it (at once into a mailbox, or privately first).
    const volatile = t.snapshot === true || (plan.awaitAck.has(t.id) && !acked(t));
    post(t.dst, t.id, seg, sp.length > 0 ? bytesOf(sp) : undefined, sp.length, volatile);
  };

  const post = (peer: number, transfer: number, seg: number, payload: Uint8Array | undefined, count: number, volatile = false): void => {
    sendsInFlight++;
    ch.send(peer, transfer, seg, payload, count, volatile).then(
      () => {
        sendsInFlight--;
        maybeDone();
      },
      () => {
        failed = true; // the channel fails the op; nothing more to do here
      },
    );
  };

  const release = (t: Transfer, seg: number): void => {
    const left = pending.get(t.id)!;
    if (--left[seg] === 0) sendSegment(t, seg);
  };

  const markLanded = (x: Transfer, seg: number): void => {
    landed.get(x.id)![seg] = 1;
    remainingIn--;
    const segsLeft = depSegsLeft.get(x.id)! - 1;
    depSegsLeft.set(x.id, segsLeft);
    if (segsLeft === 0 && plan.sendAck.has(x.id) && acked(x)) post(x.src, ackId(x.id), 0, undefined, 0);
    const deps = plan.dependents.get(x.id);
    if (deps === undefined) return;
    for (const t of deps) {
      // Same chunk: segment by segment (same segmentation). Another chunk: only its whole landing counts.
      if (t.chunk === x.chunk) release(t, seg);
      else if (segsLeft === 0) for (let sg = 0; sg < nseg[t.chunk]; sg++) release(t, sg);
    }
  };

  const typedView = (frame: Frame | undefined, count: number): NumericArray => {
    if (frame === undefined || count === 0) return viewArray(dtype, buffer.buffer, buffer.byteOffset, 0);
    const payload = frame.bytes;
    if (payload.byteOffset % elemBytes === 0) return viewArray(dtype, payload.buffer, payload.byteOffset, count);
    const aligned = new Uint8Array(payload.byteLength);
    aligned.set(payload);
    return viewArray(dtype, aligned.buffer, 0, count);
  };

  const applyReduce = (chunk: number, seg: number): void => {
    const order = plan.reduceOrder.get(chunk)!;
    const next = nextReduce.get(chunk)!;
    const sp = segOf(chunk, seg);
    while (next[seg] < order.length) {
      const key = `${order[next[seg]]}:${seg}`;
      if (!stash.has(key)) return;
      const payload = stash.get(key);
      stash.delete(key);
      const x = s.transfers[order[next[seg]]];
      next[seg]++;
      if (sp.length > 0) kernels.reduceInto(buffer.subarray(sp.offset, sp.offset + sp.length), typedView(payload, sp.length), op);
      payload?.release();
      markLanded(x, seg);
    }
  };

  const onFrame = (src: number, transfer: number, segment: number, payload: Frame | undefined, count: number): boolean => {
    if (failed) return false;
    if (transfer <= ACK_BASE) {
      const id = ackId(transfer);
      if (!acksPending.has(id) || s.transfers[id].dst !== src || segment !== 0 || count !== 0) return false;
      acksPending.delete(id);
      maybeDone();
      return true;
    }
    const t = s.transfers[transfer];
    if (t === undefined || t.dst !== rank || t.src !== src || !(segment >= 0 && segment < nseg[t.chunk])) return false;
    const seen = landed.get(t.id)!;
    const key = `${t.id}:${segment}`;
    if (seen[segment] === 1 || stash.has(key)) return false;
    const sp = segOf(t.chunk, segment);
    if (count !== sp.length) {
      failed = true;
      ch.fail(
        new ZcollError('EMISMATCH', `segment ${segment} of transfer ${t.id} from rank ${src} holds ${count} elements, this rank expects ${sp.length} (different segmentBytes?)`, {
          rank,
          peer: src,
        }),
      );
      return true;
    }
    if (t.kind === 'reduce') {
      stash.set(key, payload);
      applyReduce(t.chunk, segment);
      // Arrived before its turn in the reduction order: kept (a lent slot is copied and handed back).
      if (stash.has(key)) payload?.keep();
    } else {
      if (sp.length > 0) buffer.subarray(sp.offset, sp.offset + sp.length).set(typedView(payload, sp.length));
      payload?.release();
      markLanded(t, segment);
    }
    maybeDone();
    return true;
  };

  const waitingOn = (): { peer: number; what: string } | undefined => {
    for (const t of plan.incoming) {
      const seen = landed.get(t.id)!;
      const seg = seen.indexOf(0);
      if (seg >= 0) return { peer: t.src, what: `segment ${seg} of transfer ${t.id} (chunk ${t.chunk}, step ${t.step})` };
    }
    for (const id of acksPending) return { peer: s.transfers[id].dst, what: `the acknowledgement of transfer ${id}` };
    return undefined;
  };

  const dispose = (): void => {
    for (const f of stash.values()) f?.release();
    stash.clear();
  };

  for (const t of plan.outgoing) if (t.deps.length === 0) for (let sg = 0; sg < nseg[t.chunk]; sg++) sendSegment(t, sg);
  maybeDone();
  return { onFrame, waitingOn, done, dispose };
}
