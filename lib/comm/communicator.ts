/**
 * The Communicator: a group of ranks and the collectives between them, as NCCL's collectives.cc
 * holds its entry points. Each call checks its arguments (args.ts), describes the op, queues it in
 * call order (op-queue.ts) with a protocol (protocols/) and wraps the result. Below it: the Outbox
 * sends and the Inbox receives (transport/), over ZeroMQ and same-host shared memory.
 *
 * When inputs are read: a collective takes its place in the queue at the call, and so does what it
 * reads. A tensor's values are read from the call (the download starts at once; later changes to a
 * variable do not reach this collective), and so is a typed array unless `inPlace`; an `inPlace`
 * array is the collective's working buffer from its turn until its promise settles, and must not be
 * touched meanwhile. Calls made without awaiting run one at a time, in the order they were made.
 * After a failure the communicator is poisoned (ECLOSED), since its peers may be anywhere in their
 * sequence, and it lets go of its sockets once its queue drained, so a script that caught the error
 * and never called close() still exits.
 */
import { allocArray, BYTES_PER_ELEMENT, type DType, type NumericArray } from '../dtype.js';
import { check, type ZcollError } from '../errors.js';
import { kernels } from '../kernels/index.js';
import { BROADCAST_ALGORITHMS, type BroadcastAlgorithm } from '../schedule/broadcast.js';
import { cachedSchedule, type RsAgAlgorithm, type ScheduleAlgorithm, type ScheduleSpec } from '../schedule/cache.js';
import type { Schedule } from '../schedule/types.js';
import type { SimParams } from '../schedule/simulate.js';
import { AUTO_MODEL, autoAlgorithm, autoRsAgAlgorithm } from '../schedule/choose.js';
import { chunkSpan } from '../schedule/partition.js';
import { gatheredShape } from '../tensor/fusion.js';
import { makeTensor, readTensor, type Tensor } from '../tensor/bridge.js';
import * as args from './args.js';
import { eachInput, readNow, type Work } from './each-input.js';
import { RankGroup } from './group.js';
import type { OpContext, OpDescriptor } from './op-context.js';
import type { AllGatherOptions, AllReduceAlgorithm, AllToAllOptions, AllReduceOptions, BroadcastOptions, Collectible, ExchangeOptions, P2POptions, ReduceOp, ReduceScatterOptions, RootedOptions, RsAgCallAlgorithm, TimeoutOptions, TraceEvent } from './options.js';
import { allToAllProtocol } from './protocols/all-to-all.js';
import { exchangeProtocol } from './protocols/exchange.js';
import { runSchedule } from './protocols/schedule.js';
import { phaseClock } from '../phase-clock.js';

export * from './options.js';
export type { CommunicatorInit } from './group.js';

export class Communicator extends RankGroup {
  // ---------------------------------------------------------------- collectives

  allReduce(x: Tensor, options?: AllReduceOptions): Promise<Tensor>;
  allReduce<A extends NumericArray>(x: A, options?: AllReduceOptions): Promise<A>;
  allReduce(x: Collectible[], options?: AllReduceOptions): Promise<Collectible[]>;
  allReduce(x: Collectible | Collectible[], options: AllReduceOptions = {}): Promise<Collectible | Collectible[]> {
    // Not async: an async function that returns the op's promise settles its own two microtask turns
    // after it, on every small all-reduce; a bad argument still rejects, it never throws.
    try {
      phaseClock?.('call');
      const op = 'allreduce';
      args.checkOptions(this, options, 'allReduce', op);
      const redop = args.checkRedop(this, options.op ?? 'sum', 'allReduce', op);
      const algorithm = args.checkAlgorithm(this, options.algorithm ?? this.algorithm, op);
      const timeoutMs = args.timeoutOf(this, options, this.timeoutMs, op);
      this.ops.assertUsable(op);
      return eachInput(this, x, options.inPlace, 'allReduce', op, (dtype, count, work) => this.allReduceOf(dtype, count, work, redop, timeoutMs, algorithm));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The schedule an all-reduce of `bytes` runs: the one asked for, or 'auto''s choice by simulated cost. */
  allReduceAlgorithm(bytes: number, algorithm: AllReduceAlgorithm = this.algorithm as AllReduceAlgorithm): ScheduleAlgorithm {
    if (algorithm !== 'auto') return algorithm;
    // Asked on every all-reduce; the topology never changes, and a training loop uses a few sizes.
    let chosen = this.autoChoices.get(bytes);
    if (chosen === undefined) {
      // The model's pipeline fill is in segments of the size the executor cuts (segmentBytes).
      chosen = autoAlgorithm(this.topology, bytes, this.autoModel);
      if (this.autoChoices.size >= 1024) this.autoChoices.clear();
      this.autoChoices.set(bytes, chosen);
    }
    return chosen;
  }
  private readonly autoChoices = new Map<number, ScheduleAlgorithm>();

  /** 'auto''s cost model, its pipeline fill in segments of this communicator's size (made once). */
  private get autoModel(): SimParams {
    this.model ??= this.segmentBytes === AUTO_MODEL.segmentBytes ? AUTO_MODEL : { ...AUTO_MODEL, segmentBytes: this.segmentBytes };
    return this.model;
  }
  private model: SimParams | undefined;

  /**
   * The schedule a reduce-scatter or all-gather of a `bytes` buffer (the whole buffer, every rank's
   * chunk) runs: the one asked for, or for 'auto' the host-aware one where the cost model finds it
   * cheaper (choose.ts, autoRsAgAlgorithm; from the topology and size alone, so every rank agrees).
   */
  rsAgAlgorithm(collective: 'reducescatter' | 'allgather', bytes: number, algorithm: RsAgCallAlgorithm = 'auto'): RsAgAlgorithm {
    if (algorithm !== 'auto') return algorithm;
    // Memoised per (collective, size) as the all-reduce's choice is: the model's lookup builds a key string.
    const key = collective === 'reducescatter' ? bytes : -1 - bytes;
    let chosen = this.rsAgChoices.get(key);
    if (chosen === undefined) {
      chosen = autoRsAgAlgorithm(this.topology, collective, bytes, this.autoModel);
      if (this.rsAgChoices.size >= 1024) this.rsAgChoices.clear();
      this.rsAgChoices.set(key, chosen);
    }
    return chosen;
  }
  private readonly rsAgChoices = new Map<number, RsAgAlgorithm>();

  private allReduceOf(dtype: DType, count: number, work: Work, redop: ReduceOp, timeoutMs: number, algorithm: AllReduceAlgorithm): Promise<NumericArray> {
    const chosen = this.allReduceAlgorithm(count * BYTES_PER_ELEMENT[dtype], algorithm);
    const desc: OpDescriptor = { op: 'allreduce', dtype, count, redop, root: -1, algorithm: chosen };
    let buf!: NumericArray;
    return this.ops.run(
      desc,
      timeoutMs,
      () => withWork(work, (b) => this.scheduled({ collective: 'allreduce', algorithm: chosen }, (buf = b), redop)),
      () => {
        if (redop === 'avg') kernels.divide(buf, this.size);
        return buf;
      },
    );
  }

  reduceScatter(x: Tensor, options?: ReduceScatterOptions): Promise<Tensor>;
  reduceScatter<A extends NumericArray>(x: A, options?: ReduceScatterOptions): Promise<A>;
  async reduceScatter(x: Collectible, options: ReduceScatterOptions = {}): Promise<Collectible> {
    const op = 'reducescatter';
    args.checkOptions(this, options, 'reduceScatter', op);
    const redop = args.checkRedop(this, options.op ?? 'sum', 'reduceScatter', op);
    const algorithm = args.checkRsAgAlgorithm(this, options.algorithm ?? 'auto', 'reduceScatter', op);
    const timeoutMs = args.timeoutOf(this, options, this.timeoutMs, op);
    this.ops.assertUsable(op);
    const inp = args.input(this, x, op);
    const inPlace = args.checkInPlace(this, options.inPlace, inp, 'reduceScatter', op);
    if (inp.kind === 'tensor') {
      const shape = inp.shape;
      check(shape.length > 0 && shape[0] % this.size === 0, 'EINVAL', () => `tensor passed to 'reduceScatter' must have a first dimension divisible by the world size ${this.size}, got shape [${shape.join(', ')}]`, { rank: this.rank, op });
    }
    const work: Work = inp.kind === 'tensor' ? readNow(inp.tensor) : inPlace ? inp.array : inp.array.slice();
    const chosen = this.rsAgAlgorithm('reducescatter', inp.count * BYTES_PER_ELEMENT[inp.dtype], algorithm);
    const desc: OpDescriptor = { op, dtype: inp.dtype, count: inp.count, redop, root: -1, algorithm: chosen };
    let buf!: NumericArray;
    const out = await this.ops.run(
      desc,
      timeoutMs,
      () => withWork(work, (b) => this.scheduled({ collective: 'reducescatter', algorithm: chosen }, (buf = b), redop)),
      () => {
        const span = chunkSpan(buf.length, this.size, this.rank);
        const mine = buf.subarray(span.offset, span.offset + span.length);
        if (redop === 'avg') kernels.divide(mine, this.size);
        return inPlace ? mine : mine.slice();
      },
    );
    if (inp.kind === 'tensor') return makeTensor(out, [inp.shape[0] / this.size, ...inp.shape.slice(1)], inp.dtype as 'float32' | 'int32');
    return out;
  }

  allGather(x: Tensor, options?: AllGatherOptions): Promise<Tensor>;
  allGather<A extends NumericArray>(x: A, options?: AllGatherOptions<A>): Promise<A>;
  async allGather(x: Collectible, options: AllGatherOptions = {}): Promise<Collectible> {
    const op = 'allgather';
    args.checkOptions(this, options, 'allGather', op);
    const algorithm = args.checkRsAgAlgorithm(this, options.algorithm ?? 'auto', 'allGather', op);
    const timeoutMs = args.timeoutOf(this, options, this.timeoutMs, op);
    this.ops.assertUsable(op);
    const inp = args.input(this, x, op);
    const { count, dtype } = inp;
    const out = options.out;
    if (out !== undefined) {
      check(inp.kind === 'array', 'EINVAL', () => `option 'out' passed to 'allGather' is for typed arrays; a tensor's result is a new tensor`, { rank: this.rank, op });
      const like = (inp as { array: NumericArray }).array;
      check(out instanceof like.constructor && out.length === count * this.size, 'EINVAL', () => `option 'out' passed to 'allGather' must be a ${like.constructor.name} of ${count * this.size} elements (${count} x ${this.size} ranks), got ${ArrayBuffer.isView(out) ? `a ${out.constructor.name} of ${(out as NumericArray).length}` : args.describe(out)}`, { rank: this.rank, op });
      check(!args.overlaps(out, like), 'EINVAL', () => `option 'out' passed to 'allGather' must not share memory with x`, { rank: this.rank, op });
    }
    const buf = out ?? allocArray(dtype, count * this.size);
    // Read at the call: an array straight into its place in the result (no private copy first).
    const mine = placeInput(inp, buf, this.rank * count);
    const chosen = this.rsAgAlgorithm('allgather', buf.length * BYTES_PER_ELEMENT[dtype], algorithm);
    const spec: ScheduleSpec = { collective: 'allgather', algorithm: chosen };
    const desc: OpDescriptor = { op, dtype, count, redop: '', root: -1, algorithm: chosen };
    const result = await this.ops.run(
      desc,
      timeoutMs,
      () => (mine === undefined ? this.scheduled(spec, buf, 'sum') : mine.then(() => this.scheduled(spec, buf, 'sum'))),
      () => buf,
    );
    return inp.kind === 'tensor' ? makeTensor(result, gatheredShape(inp.shape, this.size), dtype as 'float32' | 'int32') : result;
  }

  /**
   * All-to-all with equal splits (torch.distributed's all_to_all_single, protocols/all-to-all.ts):
   * x of size·k elements is cut into `size` chunks of k, chunk j goes straight to rank j (never
   * relayed), and the result holds chunk `rank` of every rank in rank order. A tensor's first
   * dimension must be divisible by the world size; the result has x's shape. A typed array x is
   * sent from where it lies (no copy at the call, as exchangeDirect): it must stay unchanged until
   * the promise settles; `out` takes the result instead of a fresh array. Ranks that pass another
   * dtype or length fail with EMISMATCH naming each other.
   */
  allToAll(x: Tensor, options?: AllToAllOptions): Promise<Tensor>;
  allToAll<A extends NumericArray>(x: A, options?: AllToAllOptions<A>): Promise<A>;
  async allToAll(x: Collectible, options: AllToAllOptions = {}): Promise<Collectible> {
    const op = 'alltoall';
    args.checkOptions(this, options, 'allToAll', op);
    const timeoutMs = args.timeoutOf(this, options, this.timeoutMs, op);
    this.ops.assertUsable(op);
    const inp = args.input(this, x, op);
    const { count, dtype } = inp;
    if (inp.kind === 'tensor') {
      const shape = inp.shape;
      check(shape.length > 0 && shape[0] % this.size === 0, 'EINVAL', () => `tensor passed to 'allToAll' must have a first dimension divisible by the world size ${this.size}, got shape [${shape.join(', ')}]`, { rank: this.rank, op });
    } else {
      check(count % this.size === 0, 'EINVAL', () => `argument 'x' passed to 'allToAll' must have a length divisible by the world size ${this.size} (equal chunks, one per rank), got ${count} elements`, { rank: this.rank, op });
    }
    const out = options.out;
    if (out !== undefined) {
      check(inp.kind === 'array', 'EINVAL', () => `option 'out' passed to 'allToAll' is for typed arrays; a tensor's result is a new tensor`, { rank: this.rank, op });
      const like = (inp as { array: NumericArray }).array;
      check(out instanceof like.constructor && out.length === count, 'EINVAL', () => `option 'out' passed to 'allToAll' must be a ${like.constructor.name} of ${count} elements like x, got ${ArrayBuffer.isView(out) ? `a ${out.constructor.name} of ${(out as NumericArray).length}` : args.describe(out)}`, { rank: this.rank, op });
      check(!args.overlaps(out, like), 'EINVAL', () => `option 'out' passed to 'allToAll' must not share memory with x`, { rank: this.rank, op });
    }
    const buf = out ?? allocArray(dtype, count);
    const work: Work = inp.kind === 'tensor' ? readNow(inp.tensor) : inp.array;
    const desc: OpDescriptor = { op, dtype, count, redop: '', root: -1 };
    const protocolOf = (values: NumericArray): ((ctx: OpContext) => void) =>
      allToAllProtocol({ rank: this.rank, size: this.size, x: values, out: buf, segmentBytes: this.segmentBytes, copiesBeforeResolving: (peer, payload) => this.outbox.copiesBeforeResolving(peer, payload) });
    const result = await this.ops.run(desc, timeoutMs, () => withWork(work, protocolOf), () => buf);
    return inp.kind === 'tensor' ? makeTensor(result, inp.shape, dtype as 'float32' | 'int32') : result;
  }

  broadcast(x: Tensor, options?: BroadcastOptions): Promise<Tensor>;
  broadcast<A extends NumericArray>(x: A, options?: BroadcastOptions): Promise<A>;
  broadcast(x: Collectible[], options?: BroadcastOptions): Promise<Collectible[]>;
  async broadcast(x: Collectible | Collectible[], options: BroadcastOptions = {}): Promise<Collectible | Collectible[]> {
    const op = 'broadcast';
    args.checkOptions(this, options, 'broadcast', op);
    const root = args.checkRoot(this, options.root ?? 0, op);
    const timeoutMs = args.timeoutOf(this, options, this.timeoutMs, op);
    const algorithm = options.algorithm;
    check(algorithm === undefined || BROADCAST_ALGORITHMS.includes(algorithm), 'EINVAL', () => `option 'algorithm' passed to 'broadcast' must be one of ${BROADCAST_ALGORITHMS.join(', ')}, got ${JSON.stringify(algorithm)}`, { rank: this.rank, op });
    this.ops.assertUsable(op);
    return eachInput(this, x, options.inPlace, 'broadcast', op, (dtype, count, work) => this.broadcastOf(dtype, count, work, root, timeoutMs, algorithm));
  }

  private broadcastOf(dtype: DType, count: number, work: Work, root: number, timeoutMs: number, chosen: BroadcastAlgorithm | undefined): Promise<NumericArray> {
    // The default is derived alike on every rank; a chosen schedule goes in the header, so ranks that chose differently fail with EMISMATCH.
    const desc: OpDescriptor = { op: 'broadcast', dtype, count, redop: '', root, ...(chosen !== undefined ? { algorithm: chosen } : {}) };
    const algorithm = chosen ?? (count * BYTES_PER_ELEMENT[dtype] >= 4 * this.segmentBytes ? 'chain' : 'binomial');
    let buf!: NumericArray;
    return this.ops.run(
      desc,
      timeoutMs,
      // Every sender hears back from its receivers (the executor's acknowledgements): a root that
      // called another collective is caught, and it returns only once its bytes are delivered.
      () => withWork(work, (b) => this.scheduled({ collective: 'broadcast', algorithm, root }, (buf = b), 'sum')),
      () => buf,
    );
  }

  /** Gathers every rank's array at `root` (concatenated in rank order); other ranks get null. */
  gather(x: Tensor, options?: RootedOptions): Promise<Tensor | null>;
  gather<A extends NumericArray>(x: A, options?: RootedOptions): Promise<A | null>;
  async gather(x: Collectible, options: RootedOptions = {}): Promise<Collectible | null> {
    const op = 'gather';
    args.checkOptions(this, options, 'gather', op);
    const root = args.checkRoot(this, options.root ?? 0, op);
    const timeoutMs = args.timeoutOf(this, options, this.timeoutMs, op);
    this.ops.assertUsable(op);
    const inp = args.input(this, x, op);
    // Every rank runs the schedule on count x size elements; off the root only its own chunk is
    // written, and the untouched pages of a fresh array are never faulted in.
    const buf = allocArray(inp.dtype, inp.count * this.size);
    const mine = placeInput(inp, buf, this.rank * inp.count);
    const desc: OpDescriptor = { op, dtype: inp.dtype, count: inp.count, redop: '', root };
    const out = await this.ops.run(
      desc,
      timeoutMs,
      () => (mine === undefined ? this.scheduled({ collective: 'gather', root }, buf, 'sum') : mine.then(() => this.scheduled({ collective: 'gather', root }, buf, 'sum'))),
      () => (this.rank === root ? buf : undefined),
    );
    if (out === undefined) return null;
    return inp.kind === 'tensor' ? makeTensor(out, gatheredShape(inp.shape, this.size), inp.dtype as 'float32' | 'int32') : out;
  }

  /**
   * Direct exchange, never relayed (protocols/exchange.ts): every rank's array straight to every
   * other rank, or to `root` only. Returns one entry per rank: its array, a ZcollError when that rank
   * sent another dtype or length (the op goes on), or null (non-roots of a rooted exchange). With
   * `into`, peers' arrays land in the caller's buffers and this rank's entry is x itself; x must
   * stay unchanged until the promise settles (through shared memory it is sent from directly).
   */
  async exchangeDirect<A extends NumericArray>(x: A, options: ExchangeOptions<A> = {}): Promise<Array<A | ZcollError | null>> {
    args.checkOptions(this, options, 'exchangeDirect', 'exchange');
    const op = options.root === undefined ? 'exchange' : 'exchange-to';
    const root = options.root === undefined ? -1 : args.checkRoot(this, options.root, op);
    const timeoutMs = args.timeoutOf(this, options, this.timeoutMs, op);
    this.ops.assertUsable(op);
    const inp = args.input(this, x, op);
    check(inp.kind === 'array', 'EINVAL', () => `argument 'x' passed to 'exchangeDirect' must be a Float32Array, Float64Array or Int32Array, got a tensor`, { rank: this.rank, op });
    const into = options.into;
    if (into !== undefined) args.checkInto(this, into, x, root === -1 || this.rank === root, op);
    const entries: Array<A | ZcollError | null> = new Array<A | ZcollError | null>(this.size).fill(null);
    entries[this.rank] = into !== undefined ? x : (x.slice() as A);
    const desc: OpDescriptor = { op, dtype: inp.dtype, count: inp.count, redop: '', root, tolerant: true };
    const protocol = exchangeProtocol({ rank: this.rank, size: this.size, root, x, segmentBytes: this.segmentBytes, entries, into, copiesBeforeResolving: (peer, payload) => this.outbox.copiesBeforeResolving(peer, payload) });
    return this.ops.run(desc, timeoutMs, () => protocol, () => entries);
  }

  /** Returns when every rank has called it (dissemination barrier). */
  barrier(options: TimeoutOptions = {}): Promise<void> {
    const op = 'barrier';
    args.checkOptions(this, options, 'barrier', op);
    const timeoutMs = args.timeoutOf(this, options, this.timeoutMs, op);
    return this.ops.run({ op, dtype: '', count: 0, redop: '', root: -1 }, timeoutMs, () => this.scheduled({ collective: 'barrier' }, NOTHING, 'sum'), () => undefined);
  }

  // ---------------------------------------------------------------- point to point

  /** Sends to `dst`; resolves once queued (messages to one peer arrive in order; close() flushes). */
  async send(x: Collectible, dst: number, options: P2POptions = {}): Promise<void> {
    const op = 'send';
    args.checkOptions(this, options, 'send', op);
    this.ops.assertUsable(op);
    args.checkPeer(this, dst, 'dst', op);
    const tag = args.checkTag(this, options.tag ?? 0, op);
    const inp = args.input(this, x, op);
    await this.p2p.send(inp.kind === 'tensor' ? await readTensor(inp.tensor) : inp.array, dst, tag, op);
  }

  /**
   * Receives the next message from `src` on `tag`. `like` gives the expected dtype and size: a typed
   * array (filled in place), a tensor (a new tensor of its shape is returned), or { dtype, count }.
   */
  recv(like: Tensor, src: number, options?: P2POptions): Promise<Tensor>;
  recv<A extends NumericArray>(like: A, src: number, options?: P2POptions): Promise<A>;
  recv(like: { dtype: DType; count: number }, src: number, options?: P2POptions): Promise<NumericArray>;
  async recv(like: Collectible | { dtype: DType; count: number }, src: number, options: P2POptions = {}): Promise<Collectible> {
    const op = 'recv';
    args.checkOptions(this, options, 'recv', op);
    args.checkPeer(this, src, 'src', op);
    if (!this.gone.has(src)) this.ops.assertUsable(op); // else: p2p.recv says the peer is lost (EPEERLOST)
    const tag = args.checkTag(this, options.tag ?? 0, op);
    const timeoutMs = args.timeoutOf(this, options, this.timeoutMs, op);
    const into = args.recvTarget(this, like, op);
    const got = await this.p2p.recv(into.target, src, tag, timeoutMs, op);
    return into.shape === undefined ? got : makeTensor(got, into.shape, into.dtype as 'float32' | 'int32');
  }

  // ---------------------------------------------------------------- helpers

  /**
   * The schedule of `spec`. All-reduces and barriers, the latency-bound calls of a training loop,
   * keep theirs here: the shared cache builds a key string and checks the spec on every lookup
   * (~0.5 us of a ~7 us small all-reduce); a topology never changes, so neither do these.
   */
  private scheduleOf(spec: ScheduleSpec): Schedule {
    if ((spec.collective !== 'allreduce' && spec.collective !== 'barrier') || (spec.collective === 'allreduce' && spec.rule !== undefined)) return cachedSchedule(this.topology, spec);
    const name = spec.collective === 'barrier' ? 'barrier' : spec.algorithm;
    let schedule = this.hotSchedules.get(name);
    if (schedule === undefined) this.hotSchedules.set(name, (schedule = cachedSchedule(this.topology, spec)));
    return schedule;
  }
  private readonly hotSchedules = new Map<string, Schedule>();

  /** The protocol of an op that runs a schedule (from the one cache, schedule/cache.ts) on `buffer`. */
  private scheduled(spec: ScheduleSpec, buffer: NumericArray, redop: ReduceOp | 'sum'): (ctx: OpContext) => void {
    const schedule = this.scheduleOf(spec);
    const trace = this.traceSink === undefined ? undefined : (e: Omit<TraceEvent, 'pid' | 'tid'>) => this.traceSink?.({ ...e, pid: this.rank, tid: 0 });
    return (ctx) => runSchedule(ctx, schedule, buffer, redop === 'avg' ? 'sum' : redop, this.segmentBytes, trace);
  }
}

/**
 * `then` applied to the working buffer: at once for a typed array, so that a call that finds the
 * queue empty starts its op in the caller's stack (op-queue.ts), or once a tensor's values landed.
 */
function withWork<T>(work: Work, then: (buf: NumericArray) => T): T | Promise<T> {
  return work instanceof Promise ? work.then(then) : then(work);
}

/** The barrier's buffer: its one chunk has no elements, its messages no payload. */
const NOTHING = new Float32Array(0);

/** Writes the input into `buf` at `offset`: a typed array now, a tensor once its download (started now) lands. */
function placeInput(inp: args.Input, buf: NumericArray, offset: number): Promise<void> | undefined {
  if (inp.kind === 'array') {
    buf.set(inp.array, offset);
    return undefined;
  }
  const placed = readNow(inp.tensor).then((values) => buf.set(values, offset));
  placed.catch(() => undefined);
  return placed;
}
