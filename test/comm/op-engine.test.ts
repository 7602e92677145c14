// The op engine (OpQueue + OpContext + the schedule and exchange protocols) of n ranks in ONE
// process, over an in-process loopback (loopback.ts) that delivers frames in order, reordered
// (keeping or breaking per-pair FIFO), duplicated or dropped, on purpose and reproducibly. Each
// collective is queued exactly as the Communicator queues it (ops.run with runSchedule over
// cachedSchedule, or exchangeProtocol), and every result is compared with a serial reference.
// What the engine needs from its transport, as these tests establish: nothing about order (frames
// are matched by sequence number, transfer and segment, so even 'shuffle', which breaks the
// per-connection order ZeroMQ guarantees, gives the reference); and every frame delivered once at
// least (a lost frame is an ETIMEDOUT naming its sender, never a hang nor a wrong result).
import t, { type Test } from 'tap';
import { buildTopology, type Topology } from '../../lib/cluster/topology.js';
import { MAX_SEQ_AHEAD, OpQueue } from '../../lib/comm/op-queue.js';
import type { OpContext, OpDescriptor } from '../../lib/comm/op-context.js';
import { exchangeProtocol } from '../../lib/comm/protocols/exchange.js';
import { runSchedule } from '../../lib/comm/protocols/schedule.js';
import { allocArray, dtypeOf, type DType, type NumericArray } from '../../lib/dtype.js';
import { ZcollError } from '../../lib/errors.js';
import type { BroadcastAlgorithm } from '../../lib/schedule/broadcast.js';
import { cachedSchedule, SCHEDULE_ALGORITHMS, type ScheduleAlgorithm, type ScheduleSpec } from '../../lib/schedule/cache.js';
import { chunkSpan } from '../../lib/schedule/partition.js';
import { Frame, frameStats } from '../../lib/transport/frame.js';
import { Inbox } from '../../lib/transport/inbox.js';
import { SharedMemory } from '../../lib/transport/shared-memory.js';
import { REGION_HEADER_BYTES, regionName, shmSupported, slotsPerPeer } from '../../lib/transport/shm-region.js';
import { abortHeader, encodeHeader, stuckHeader, type AbortHeader, type DataHeader, type Header } from '../../lib/transport/wire.js';
import { Loopback, type LoopbackOptions, type LoopFrame } from './loopback.js';
import { Poller } from '../../lib/comm/poller.js';
import { prng } from '../helpers/prng.js';

type Redop = 'sum' | 'max';
type Protocol = (ctx: OpContext) => void;

/** Long enough never to fire in a test that expects success (a hang then fails the test's own timeout instead). */
const LONG_MS = 20_000;
/** Short deadline for the loss tests; OpContext then waits a grace of max(timeout/2, 1 s) for stuck notices. */
const SHORT_MS = 300;

/** n engines joined by one loopback; built as the Communicator builds its OpQueue (no shared memory, no busy-polling). */
class World {
  readonly net: Loopback;
  readonly queues: OpQueue[] = [];
  /** Each engine's counters (the communicator's stats in real use). */
  readonly stats: Array<{ abortsReceived: number }>;
  readonly topology: Topology;
  /** Per rank: sequence numbers taken so far, and the last collective whose input was read (its start). */
  readonly called: number[];
  readonly started: number[];

  constructor(
    readonly n: number,
    net: Omit<LoopbackOptions, 'size'>,
    readonly segmentBytes = 64,
  ) {
    this.net = new Loopback({ size: n, ...net });
    this.topology = buildTopology(undefined, n);
    this.called = new Array<number>(n).fill(0);
    this.started = new Array<number>(n).fill(-1);
    this.stats = Array.from({ length: n }, () => ({ abortsReceived: 0 }));
    for (let r = 0; r < n; r++) {
      const q = new OpQueue({ rank: r, size: n, epoch: 7, outbox: this.net.sender(r), poller: new Poller({}, 'none', false, undefined), hooks: {}, stats: this.stats[r] });
      this.queues.push(q);
      this.net.attach(r, q.frame);
    }
  }

  close(): void {
    for (const q of this.queues) q.close();
    this.net.close();
  }

  /**
   * ops.run, with its synchronous throw (ECLOSED at the call) turned into a rejection as the
   * Communicator's async methods do; the sequence number is still taken at the call.
   */
  private run<R>(rank: number, desc: OpDescriptor, timeoutMs: number, prepare: () => Promise<Protocol> | Protocol, finish: () => R): Promise<R> {
    try {
      const seq = this.called[rank];
      // The engine starts the op right after prepare resolved (no frame is delivered in between: the loopback delivers from setImmediate).
      const p = this.queues[rank].run(desc, timeoutMs, async () => {
        const protocol = await prepare();
        this.started[rank] = seq;
        return protocol;
      }, finish);
      this.called[rank]++;
      return p;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private scheduled(spec: ScheduleSpec, buf: NumericArray, redop: Redop): Protocol {
    const schedule = cachedSchedule(this.topology, spec);
    return (ctx) => runSchedule(ctx, schedule, buf, redop, this.segmentBytes);
  }

  /** `gate`: the rank reads its input (starts the op) only once it resolves, as a slow tensor download. */
  allReduce(rank: number, x: NumericArray, redop: Redop, algorithm: ScheduleAlgorithm, o: { timeoutMs?: number; gate?: Promise<void> } = {}): Promise<NumericArray> {
    const buf = x.slice();
    const desc: OpDescriptor = { op: 'allreduce', dtype: dtypeOf(x), count: x.length, redop, root: -1, algorithm };
    return this.run(rank, desc, o.timeoutMs ?? LONG_MS, async () => {
      await o.gate;
      return this.scheduled({ collective: 'allreduce', algorithm }, buf, redop);
    }, () => buf);
  }

  reduceScatter(rank: number, x: NumericArray, redop: Redop, timeoutMs = LONG_MS): Promise<NumericArray> {
    const buf = x.slice();
    const desc: OpDescriptor = { op: 'reducescatter', dtype: dtypeOf(x), count: x.length, redop, root: -1 };
    return this.run(rank, desc, timeoutMs, () => this.scheduled({ collective: 'reducescatter' }, buf, redop), () => {
      const span = chunkSpan(buf.length, this.n, rank);
      return buf.slice(span.offset, span.offset + span.length);
    });
  }

  allGather(rank: number, x: NumericArray, timeoutMs = LONG_MS): Promise<NumericArray> {
    const buf = allocArray(dtypeOf(x), x.length * this.n);
    const desc: OpDescriptor = { op: 'allgather', dtype: dtypeOf(x), count: x.length, redop: '', root: -1 };
    return this.run(rank, desc, timeoutMs, () => {
      buf.set(x, rank * x.length);
      return this.scheduled({ collective: 'allgather' }, buf, 'sum');
    }, () => buf);
  }

  /** The Communicator's default: 'chain' for 4 segments or more, else 'binomial' (not in the header unless chosen). */
  broadcast(rank: number, x: NumericArray, root: number, o: { timeoutMs?: number; gate?: Promise<void>; algorithm?: BroadcastAlgorithm } = {}): Promise<NumericArray> {
    const buf = x.slice();
    const desc: OpDescriptor = { op: 'broadcast', dtype: dtypeOf(x), count: x.length, redop: '', root, ...(o.algorithm !== undefined ? { algorithm: o.algorithm } : {}) };
    const algorithm = o.algorithm ?? this.broadcastAlgorithm(x);
    return this.run(rank, desc, o.timeoutMs ?? LONG_MS, async () => {
      await o.gate;
      return this.scheduled({ collective: 'broadcast', algorithm, root }, buf, 'sum');
    }, () => buf);
  }

  broadcastAlgorithm(x: NumericArray): BroadcastAlgorithm {
    return x.byteLength >= 4 * this.segmentBytes ? 'chain' : 'binomial';
  }

  gather(rank: number, x: NumericArray, root: number, timeoutMs = LONG_MS): Promise<NumericArray | null> {
    const buf = allocArray(dtypeOf(x), x.length * this.n);
    const desc: OpDescriptor = { op: 'gather', dtype: dtypeOf(x), count: x.length, redop: '', root };
    return this.run(rank, desc, timeoutMs, () => {
      buf.set(x, rank * x.length);
      return this.scheduled({ collective: 'gather', root }, buf, 'sum');
    }, () => (rank === root ? buf : null));
  }

  barrier(rank: number, timeoutMs = LONG_MS): Promise<void> {
    return this.run(rank, { op: 'barrier', dtype: '', count: 0, redop: '', root: -1 }, timeoutMs, () => this.scheduled({ collective: 'barrier' }, new Float32Array(0), 'sum'), () => undefined);
  }

  /** exchangeDirect: every rank's array to every rank (root -1) or to the root only. */
  exchange(rank: number, x: NumericArray, root = -1, timeoutMs = LONG_MS): Promise<Array<NumericArray | ZcollError | null>> {
    const entries = new Array<NumericArray | ZcollError | null>(this.n).fill(null);
    entries[rank] = x.slice();
    const desc: OpDescriptor = { op: root === -1 ? 'exchange' : 'exchange-to', dtype: dtypeOf(x), count: x.length, redop: '', root, tolerant: true };
    // The loopback hands out views of x: sent from a private copy, as over ZeroMQ.
    const protocol = exchangeProtocol({ rank, size: this.n, root, x, segmentBytes: this.segmentBytes, entries, into: undefined, copiesBeforeResolving: () => false });
    return this.run(rank, desc, timeoutMs, () => protocol, () => entries);
  }
}

// ------------------------------------------------------------------ references

/** Small integers: every sum is exact in float32, so any reduction order gives the reference bit for bit. */
function inputs(n: number, dtype: DType, count: number, seed: number): NumericArray[] {
  const random = prng(seed);
  return Array.from({ length: n }, () => {
    const a = allocArray(dtype, count);
    for (let i = 0; i < count; i++) a[i] = Math.floor(random() * 201) - 100;
    return a;
  });
}

function reduceRef(xs: readonly NumericArray[], redop: Redop): NumericArray {
  const out = xs[0].slice();
  for (const x of xs.slice(1)) for (let i = 0; i < out.length; i++) out[i] = redop === 'sum' ? out[i] + x[i] : Math.max(out[i], x[i]);
  return out;
}

function concatRef(xs: readonly NumericArray[]): NumericArray {
  const out = allocArray(dtypeOf(xs[0]), xs.reduce((a, x) => a + x.length, 0));
  let at = 0;
  for (const x of xs) {
    out.set(x, at);
    at += x.length;
  }
  return out;
}

/** Where a and b first differ (type, length or value), or 'equal'. */
function diff(a: NumericArray | null | ZcollError, b: NumericArray): string {
  if (a === null || a instanceof ZcollError) return `got ${a === null ? 'null' : a.message}`;
  if (a.constructor !== b.constructor) return `got a ${a.constructor.name}, expected a ${b.constructor.name}`;
  if (a.length !== b.length) return `length ${a.length}, expected ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `element ${i} is ${a[i]}, expected ${b[i]}`;
  return 'equal';
}

async function rejection(p: Promise<unknown>): Promise<ZcollError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ZcollError) return e;
    throw e;
  }
  throw new Error('the call succeeded; it was expected to fail');
}

const DTYPE_LIST: readonly DType[] = ['float32', 'float64', 'int32'];
const SIZES = [0, 1, 7, 1000];

/** A frame in a failure message: its route, and its collective, transfer and segment when it is a data frame. */
function describeFrame(f: LoopFrame): string {
  const h = f.header;
  return `${f.src}->${f.dst} ${h.kind === 'data' ? `#${h.seq} x${h.transfer} s${h.segment}` : `${h.kind}${'seq' in h ? ` #${h.seq}` : ''}`}`;
}

/** What the engine refused while results came out right: each refusal must be one of `allowed`. */
function unexpectedRefusals(w: World, allowed: (f: LoopFrame) => boolean): string[] {
  return w.net.refused.filter((r) => !allowed(r.frame)).map((r) => `${describeFrame(r.frame)}: ${r.reason}`);
}

// ------------------------------------------------------------------ the whole matrix, in order and reordered

/**
 * Every collective on n ranks, all queued without awaiting (so ranks run ahead of each other and
 * frames of later collectives arrive early), checked against the reference on every rank.
 */
async function matrix(t: Test, w: World, seed: number, full: boolean): Promise<void> {
  const n = w.n;
  const checks: Array<Promise<void>> = [];
  const wrong: string[] = [];
  const expect = (label: string, got: Promise<NumericArray | null>, want: NumericArray | null): void => {
    checks.push(got.then((g) => {
      if (want === null) {
        if (g !== null) wrong.push(`${label}: expected null`);
      } else {
        const d = diff(g, want);
        if (d !== 'equal') wrong.push(`${label}: ${d}`);
      }
    }));
  };
  let s = seed;
  for (const algorithm of SCHEDULE_ALGORITHMS) {
    for (const dtype of DTYPE_LIST) {
      for (const count of SIZES) {
        for (const redop of ['sum', 'max'] as const) {
          // Off the full runs, one reduction per (algorithm, dtype, size), alternating.
          if (!full && (redop === 'sum') !== ((count + dtype.length) % 2 === 0)) continue;
          const xs = inputs(n, dtype, count, s++);
          const want = reduceRef(xs, redop);
          for (let r = 0; r < n; r++) expect(`allreduce ${algorithm} ${redop} ${dtype} x${count} rank ${r}`, w.allReduce(r, xs[r], redop, algorithm), want);
        }
      }
    }
  }
  for (const dtype of DTYPE_LIST) {
    for (const count of SIZES) {
      const xs = inputs(n, dtype, count, s++);
      const sum = reduceRef(xs, 'sum');
      for (let r = 0; r < n; r++) {
        const span = chunkSpan(count, n, r);
        expect(`reducescatter ${dtype} x${count} rank ${r}`, w.reduceScatter(r, xs[r], 'sum'), sum.slice(span.offset, span.offset + span.length));
      }
      for (let r = 0; r < n; r++) expect(`allgather ${dtype} x${count} rank ${r}`, w.allGather(r, xs[r]), concatRef(xs));
      for (let root = 0; root < n; root++) {
        for (let r = 0; r < n; r++) expect(`broadcast root ${root} ${dtype} x${count} rank ${r}`, w.broadcast(r, xs[r], root), xs[root]);
        for (let r = 0; r < n; r++) expect(`gather root ${root} ${dtype} x${count} rank ${r}`, w.gather(r, xs[r], root), r === root ? concatRef(xs) : null);
      }
      for (let r = 0; r < n; r++) checks.push(w.barrier(r));
      for (const root of [-1, n - 1]) {
        for (let r = 0; r < n; r++) {
          checks.push(w.exchange(r, xs[r], root).then((entries) => {
            for (let p = 0; p < n; p++) {
              const want = root === -1 || r === root || p === r ? xs[p] : null;
              const d = want === null ? (entries[p] === null ? 'equal' : 'expected null') : diff(entries[p], want);
              if (d !== 'equal') wrong.push(`exchange root ${root} ${dtype} x${count} rank ${r} entry ${p}: ${d}`);
            }
          }));
        }
      }
    }
  }
  await Promise.all(checks);
  t.same(wrong, [], `${n} ranks: every result equals the reference on every rank (${checks.length} calls)`);
}

for (const ordering of ['inorder', 'fifo', 'shuffle'] as const) {
  t.test(`${ordering} delivery: every collective gives the reference on 2..8 ranks`, async (t) => {
    for (let n = 2; n <= 8; n++) {
      const w = new World(n, { ordering, seed: 1000 * n + ordering.length, maxLag: 30, volatileShare: ordering === 'fifo' ? 0.3 : 0 });
      t.teardown(() => w.close());
      // The full product of algorithm x dtype x size x reduction on 2 ranks, and on 8 under
      // 'fifo'; one reduction per combination elsewhere (alternating, so each n still runs both).
      await matrix(t, w, 17 * n, n === 2 || (ordering === 'fifo' && n === 8));
      t.same(unexpectedRefusals(w, () => false), [], `${n} ranks: every frame was taken (none refused)`);
      t.equal(w.net.unreleased, 0, `${n} ranks: every one of the ${w.net.payloads.length} payload frames was released`);
      for (const q of w.queues) t.equal(q.poisoned, undefined, `${n} ranks: rank ${q.rank} is not poisoned`);
      w.close();
    }
  });
}

t.test('chunks of 256 KiB and more (acknowledged transfers) under per-pair FIFO reordering', async (t) => {
  const w = new World(3, { ordering: 'fifo', seed: 5, maxLag: 10 }, 64 << 10);
  t.teardown(() => w.close());
  for (const algorithm of SCHEDULE_ALGORITHMS) {
    const xs = inputs(3, 'float64', 3 * 40_000, 99);
    const want = reduceRef(xs, 'sum');
    const got = await Promise.all(xs.map((x, r) => w.allReduce(r, x, 'sum', algorithm)));
    t.same(got.map((g) => diff(g, want)), ['equal', 'equal', 'equal'], `${algorithm}: reference on every rank`);
  }
  const xs = inputs(3, 'float32', 3 * 70_000, 3);
  const got = await Promise.all(xs.map((x, r) => w.broadcast(r, x, 1)));
  t.same(got.map((g) => diff(g, xs[1])), ['equal', 'equal', 'equal'], 'broadcast of 820 KB: reference on every rank');
  t.same(unexpectedRefusals(w, () => false), [], 'every frame was taken');
});

// ------------------------------------------------------------------ queued collectives and early frames

/**
 * A rank that reaches its collectives late: broadcasts from root 0 complete on the other ranks
 * without it (the slow rank is a leaf whose parent also receives, so nobody waits for its
 * acknowledgement), so they run k+1..k+4 and start the all-reduce k+5 before it starts k.
 */
for (const how of ['called late', 'called, input late'] as const) {
  for (const ordering of ['inorder', 'fifo'] as const) {
    t.test(`early frames (slow rank ${how}, ${ordering}): queued collectives complete in call order with the reference`, async (t) => {
      const n = 4;
      // Half the payloads lent as shared-memory slots are: an early one is kept as a copy, its slot scribbled over.
      const w = new World(n, { ordering, seed: 77, maxLag: 5, volatileShare: 0.5 });
      t.teardown(() => w.close());
      const sched = cachedSchedule(w.topology, { collective: 'broadcast', algorithm: 'binomial', root: 0 });
      const slow = [...Array(n).keys()].find((r) => r !== 0 && !sched.transfers.some((x) => x.src === r) && sched.transfers.every((x) => x.dst !== r || x.src !== 0));
      t.ok(slow !== undefined, 'the binomial broadcast from 0 has a leaf whose parent is not the root');
      const s = slow!;
      // Op k (= 1: an opening barrier is op 0, so the sequence numbers in play are not the first).
      await Promise.all(w.queues.map((q) => w.barrier(q.rank)));
      const k = 1;
      let slowStarted = false;
      const earlySeqs = new Set<number>();
      w.net.onDeliver = (f) => {
        if (f.dst === s && !slowStarted && f.header.kind === 'data') earlySeqs.add(f.header.seq);
      };
      const bxs = Array.from({ length: 5 }, (_, i) => inputs(n, 'int32', 7 + i, 300 + i));
      const axs = inputs(n, 'float32', 1000, 400);
      const order: string[][] = Array.from({ length: n }, () => []);
      const calls = (r: number, gate?: Promise<void>): Array<Promise<unknown>> => {
        const out: Array<Promise<unknown>> = [];
        bxs.forEach((xs, i) => {
          const p = w.broadcast(r, xs[r], 0, i === 0 && gate !== undefined ? { gate } : {});
          out.push(p.then((g) => {
            order[r].push(`b${i}`);
            t.equal(diff(g, xs[0]), 'equal', `rank ${r}: broadcast ${k + i} gives the root's array`);
          }));
        });
        out.push(w.allReduce(r, axs[r], 'sum', 'ring').then((g) => {
          order[r].push('a');
          t.equal(diff(g, reduceRef(axs, 'sum')), 'equal', `rank ${r}: all-reduce ${k + 5} gives the reference`);
        }));
        return out;
      };
      const all: Array<Promise<unknown>> = [];
      for (let r = 0; r < n; r++) if (r !== s) all.push(...calls(r));
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      if (how === 'called, input late') all.push(...calls(s, gate.then(() => void (slowStarted = true))));
      // Let the fast ranks run ahead: broadcasts k..k+4 done, all-reduce k+5 started.
      // (and the all-reduce's first frames to the slow rank delivered, not just sent).
      for (let i = 0; i < 400 && (order.filter((o, r) => r !== s && o.length === 5).length < n - 1 || !earlySeqs.has(k + 5)); i++) await new Promise((r) => setTimeout(r, 5));
      t.same(order.filter((_, r) => r !== s).map((o) => o.length), new Array(n - 1).fill(5), 'the fast ranks finished broadcasts k..k+4 without the slow rank');
      if (how === 'called late') {
        slowStarted = true;
        all.push(...calls(s));
      } else open();
      await Promise.all(all);
      for (const seq of [k + 1, k + 2, k + 3, k + 4, k + 5]) t.ok(earlySeqs.has(seq), `frames of collective ${seq} reached the slow rank before it started collective ${k}`);
      for (let r = 0; r < n; r++) t.same(order[r], ['b0', 'b1', 'b2', 'b3', 'b4', 'a'], `rank ${r}: completed in call order`);
      t.same(unexpectedRefusals(w, () => false), [], 'every early frame was kept and taken');
      t.equal(w.net.unreleased, 0, `every one of the ${w.net.payloads.length} payload frames was released`);
    });
  }
}

// ------------------------------------------------------------------ duplicated frames

t.test('duplicated frames of scheduled collectives are dropped; results stay right', async (t) => {
  for (const ordering of ['fifo', 'shuffle'] as const) {
    for (const n of [2, 5, 8]) {
      const dup = prng(n * 31);
      // A third of every data frame (segments and acknowledgements) twice; the copy lands after the original ('fifo') or anywhere after it was sent ('shuffle').
      const w = new World(n, { ordering, seed: n, maxLag: 15, duplicate: (f) => f.header.kind === 'data' && dup() < 0.33 });
      t.teardown(() => w.close());
      // Whether each delivery reached its rank before that rank started the frame's collective.
      const early = new Map<{ frame: LoopFrame; taken: true | string }, boolean>();
      w.net.onDeliver = (f) => void early.set(w.net.delivered[w.net.delivered.length - 1], 'seq' in f.header && f.header.seq > w.started[f.dst]);
      const wrong: string[] = [];
      const calls: Array<Promise<void>> = [];
      for (const algorithm of SCHEDULE_ALGORITHMS) {
        for (const count of [1, 7, 1000]) {
          const xs = inputs(n, 'float32', count, count + n);
          const want = reduceRef(xs, 'sum');
          for (let r = 0; r < n; r++) calls.push(w.allReduce(r, xs[r], 'sum', algorithm).then((g) => void (diff(g, want) !== 'equal' && wrong.push(`${algorithm} x${count} rank ${r}: ${diff(g, want)}`))));
        }
      }
      const xs = inputs(n, 'int32', 1000, 5);
      for (let root = 0; root < n; root++) for (let r = 0; r < n; r++) calls.push(w.broadcast(r, xs[r], root).then((g) => void (diff(g, xs[root]) !== 'equal' && wrong.push(`broadcast ${root} rank ${r}`))));
      for (let r = 0; r < n; r++) calls.push(w.gather(r, xs[r], n - 1).then((g) => void (r === n - 1 && diff(g, concatRef(xs)) !== 'equal' && wrong.push(`gather rank ${r}`))));
      for (let r = 0; r < n; r++) calls.push(w.allGather(r, xs[r]).then((g) => void (diff(g, concatRef(xs)) !== 'equal' && wrong.push(`allgather rank ${r}`))));
      for (let r = 0; r < n; r++) calls.push(w.barrier(r));
      await Promise.all(calls);
      // Let copies still in the pool land after the last collective (they are then late).
      while (w.net.pending > 0) await new Promise((r) => setImmediate(r));
      t.same(wrong, [], `${ordering}, ${n} ranks: every result is the reference`);
      // Per frame sent: its deliveries (one, or two with the duplicate).
      const byFrame = new Map<number, Array<{ frame: LoopFrame; taken: true | string }>>();
      for (const d of w.net.delivered) byFrame.set(d.frame.id, [...(byFrame.get(d.frame.id) ?? []), d]);
      const bad: string[] = [];
      let dups = 0;
      let bufferedTwice = 0;
      for (const [id, ds] of byFrame) {
        const refused = ds.filter((d) => d.taken !== true);
        if (ds.length === 1) {
          if (refused.length > 0) bad.push(`frame ${id}, sent once, was refused: ${String(refused[0].taken)}`);
          continue;
        }
        dups++;
        // Either copy may land first ('shuffle'): one is taken, the other refused as unexpected or
        // late. Both are taken only while the collective has not started there: both wait in the
        // early buffer, and the second is dropped when they are replayed.
        if (refused.length === 1 && /unexpected frame|late frame/.test(String(refused[0].taken))) continue;
        if (refused.length === 0 && ds.every((d) => early.get(d) === true)) {
          bufferedTwice++;
          continue;
        }
        bad.push(`frame ${id} (${describeFrame(ds[0].frame)}): ${ds.map((d) => `${String(d.taken)}${early.get(d) === true ? ' (early)' : ''}`).join(', ')}`);
      }
      t.ok(dups > 50, `${ordering}, ${n} ranks: ${dups} frames delivered twice (${bufferedTwice} of them both before their collective started)`);
      t.same(bad, [], 'every frame sent once was taken; of two copies one was taken and the other refused, or both buffered early');
      for (const q of w.queues) t.equal(q.poisoned, undefined, `rank ${q.rank} is not poisoned`);
      w.close();
    }
  }
});

t.test('duplicated frames of a direct exchange: never a silently wrong entry', async (t) => {
  // Three segments per contribution (segmentBytes 64, 40 float32): a repeated segment must not
  // count as another one, or the entry settles with a segment missing.
  for (const root of [-1, 0]) {
    const n = 3;
    const w = new World(n, { ordering: 'inorder', seed: 1, duplicate: (f) => f.header.kind === 'data' && f.header.transfer >= 0 && f.header.segment === 0 });
    t.teardown(() => w.close());
    const xs = inputs(n, 'float32', 40, 9);
    const results = await Promise.allSettled(xs.map((x, r) => w.exchange(r, x, root, 2000)));
    const wrong: string[] = [];
    results.forEach((res, r) => {
      if (res.status === 'rejected') return; // failing is allowed, a wrong entry is not
      for (let p = 0; p < n; p++) {
        const want = root === -1 || r === root || p === r ? xs[p] : null;
        const d = want === null ? (res.value[p] === null ? 'equal' : 'expected null') : diff(res.value[p], want);
        if (d !== 'equal') wrong.push(`rank ${r} entry ${p}: ${d}`);
      }
    });
    t.same(wrong, [], `root ${root}: every entry is the sender's array or the op failed`);
    w.close();
  }
});

// ------------------------------------------------------------------ a lost frame

t.test('a dropped frame: ETIMEDOUT naming the rank whose frame was lost, never a hang; then ECLOSED', async (t) => {
  // In the barrier, rank 1 completes (it needs nothing that passes through the lost frame) while ranks
  // 0 and 2 wait: the rank to blame is 2, whose frame was lost, not 1, which finished and is alive.
  const cases: Array<{ label: string; n: number; from: number; to: number; call: (w: World, r: number) => Promise<unknown>}> = [
    { label: 'ring all-reduce', n: 4, from: 1, to: 2, call: (w, r) => w.allReduce(r, inputs(4, 'float32', 100, 1)[r], 'sum', 'ring', { timeoutMs: SHORT_MS }) },
    { label: 'multitree all-reduce', n: 5, from: 3, to: 0, call: (w, r) => w.allReduce(r, inputs(5, 'float32', 100, 1)[r], 'max', 'multitree', { timeoutMs: SHORT_MS }) },
    { label: 'barrier', n: 3, from: 2, to: 0, call: (w, r) => w.barrier(r, SHORT_MS) },
    // Ranks 0 and 2 finish: rank 1's error names 'rank 0 or rank 2', and rank 2 is blamed for nothing.
    { label: 'direct exchange', n: 3, from: 0, to: 1, call: (w, r) => w.exchange(r, inputs(3, 'float32', 40, 2)[r], -1, SHORT_MS) },
  ];
  await Promise.all(cases.map(async (c) => {
    let lost = false;
    // The first payload frame of the collective from `from` to `to`.
    const w = new World(c.n, { ordering: 'fifo', seed: 3, drop: (f) => !lost && f.src === c.from && f.dst === c.to && f.header.kind === 'data' && f.header.transfer >= 0 && (lost = true) });
    t.teardown(() => w.close());
    const t0 = Date.now();
    const res = await Promise.allSettled([...Array(c.n).keys()].map((r) => c.call(w, r)));
    const took = Date.now() - t0;
    t.ok(lost, `${c.label}: one frame was lost`);
    t.ok(took < SHORT_MS + 1000 + 1500, `${c.label}: every rank settled in ${took} ms (deadline + grace, no hang)`);
    const receiver = res[c.to];
    t.equal(receiver.status, 'rejected', `${c.label}: the rank that lost the frame fails`);
    if (receiver.status === 'rejected') {
      const e = receiver.reason as ZcollError;
      t.equal(e.code, 'ETIMEDOUT', `${c.label}: with ETIMEDOUT (${e.message})`);
      t.match(e.message, new RegExp(`from rank ${c.from}\\b`), `${c.label}: its message names rank ${c.from}`);
      t.equal(e.peer, c.from, `${c.label}: err.peer is rank ${c.from}`);
      // The sender of the lost frame may have finished (it is the one to name); no other finished rank may be.
      const finished = res.flatMap((x, r) => (x.status === 'fulfilled' && r !== c.from ? [r] : []));
      t.notOk(finished.some((r) => new RegExp(`no message from (rank \\d+ or )*rank ${r}\\b`).test(e.message)), `${c.label}: no other rank that finished (${finished.join(', ') || 'none'}) is said to be silent`);
    }
    res.forEach((x, r) => {
      if (x.status === 'rejected') t.equal((x.reason as ZcollError).code, 'ETIMEDOUT', `${c.label}: rank ${r} fails with ETIMEDOUT (${(x.reason as ZcollError).message})`);
    });
    // A rank that finished before the loss mattered keeps its (right) result; the rest are poisoned.
    for (let r = 0; r < c.n; r++) {
      if (res[r].status === 'fulfilled') continue;
      const later = await rejection(w.barrier(r));
      t.equal(later.code, 'ECLOSED', `${c.label}: rank ${r}'s next call fails with ECLOSED`);
      t.equal((later.cause as ZcollError | undefined)?.code, 'ETIMEDOUT', `${c.label}: caused by the timeout`);
    }
    w.close();
  }));
});

// ------------------------------------------------------------------ the window of sequence numbers

/** A data header of collective `seq` as rank `src` would send it. */
function dataHeader(src: number, seq: number, count: number): DataHeader {
  return { kind: 'data', sender: src, epoch: 7, seq, op: 'allreduce', transfer: 0, segment: 0, dtype: 'float32', count, elements: count, redop: 'sum', root: -1, algorithm: 'ring' };
}

/** Hands `payload` to engine `q` as the Inbox does: lent for the call, released after unless kept. */
function deliverTo(q: OpQueue, src: number, h: Header, payload: Buffer): true | string {
  const f = Frame.owned(payload);
  try {
    return q.frame(src, h, f);
  } finally {
    f.afterDelivery();
  }
}

/** Lets the engine's promise callbacks and timers run. */
const turn = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The garbage collector, exposed at run time (node keeps the flag when set before the first use). */
async function collectGarbage(): Promise<(() => void) | undefined> {
  const v8 = await import('node:v8');
  const vm = await import('node:vm');
  v8.setFlagsFromString('--expose-gc');
  const gc: unknown = vm.runInNewContext('gc');
  return typeof gc === 'function' ? () => void gc() : undefined;
}

t.test('frames beyond the window are refused and not kept; aborts and stuck notices too', async (t) => {
  const w = new World(3, { ordering: 'inorder', seed: 1 });
  t.teardown(() => w.close());
  const q = w.queues[0];
  const big = 1 << 20;
  let far: Buffer | undefined = Buffer.alloc(big * 4);
  let near: Buffer | undefined = Buffer.alloc(big * 4);
  const farRef = new WeakRef(far);
  const nearRef = new WeakRef(near);
  const refused = deliverTo(q, 1, dataHeader(1, 1000, big), far);
  t.type(refused, 'string', 'a frame 1000 collectives ahead is refused');
  t.match(String(refused), `more than ${MAX_SEQ_AHEAD} collectives ahead`, 'saying why');
  // Nothing started yet (the last started is #-1): the window ends at #-1 + MAX_SEQ_AHEAD.
  t.equal(deliverTo(q, 1, dataHeader(1, MAX_SEQ_AHEAD - 1, big), near), true, `a frame for #${MAX_SEQ_AHEAD - 1} (inside the window) is kept`);
  t.type(q.frame(1, dataHeader(1, MAX_SEQ_AHEAD, 0), undefined), 'string', `one for #${MAX_SEQ_AHEAD} is not`);
  far = undefined;
  near = undefined;
  const gc = await collectGarbage();
  if (gc === undefined) t.comment('the garbage collector cannot be exposed: memory not checked');
  else {
    await turn(); // WeakRefs hold their target until the end of the job that created them
    gc();
    t.equal(farRef.deref(), undefined, 'the refused payload is not kept (collected)');
    t.not(nearRef.deref(), undefined, 'the buffered one is kept (the check above can tell)');
  }
  const abort = (src: number, seq: number): AbortHeader => abortHeader(src, 7, seq, 'allreduce', 'ETIMEDOUT', 'test');
  t.type(q.frame(2, abort(2, 1000), undefined), 'string', 'an abort 1000 collectives ahead is refused');
  t.type(q.frame(2, stuckHeader(2, 7, 1000, 'allreduce', 'waiting'), undefined), 'string', 'a stuck notice 1000 collectives ahead is refused');
  t.equal(w.stats[0].abortsReceived, 0, 'no abort was counted');
  t.equal(q.poisoned, undefined, 'the engine is not poisoned by them');
  t.type(q.frame(2, { kind: 'hello', sender: 2, epoch: 7 } as unknown as Header, undefined), 'string', "a kind the engine does not know is refused");
});

t.test('an abort for the current op fails it on the receiver, naming the culprit and the messenger', async (t) => {
  const w = new World(3, { ordering: 'inorder', seed: 1 });
  t.teardown(() => w.close());
  // Rank 0 alone enters a barrier: it waits for ranks 1 and 2, which never call.
  const p = w.barrier(0);
  await turn();
  const h = abortHeader(2, 7, 0, 'barrier', 'EMISMATCH', 'rank 1 called something else', 1);
  t.equal(w.queues[0].frame(2, h, undefined), true, 'the abort is taken');
  const e = await rejection(p);
  t.equal(e.code, 'EMISMATCH', 'the op fails with the code the abort carries');
  t.equal(e.peer, 1, "err.peer is the culprit named in the abort");
  t.same(e.details, { reportedBy: 2 }, 'details.reportedBy is the sender of the abort');
  t.equal(w.stats[0].abortsReceived, 1, 'counted once');
  t.equal((await rejection(w.barrier(0))).code, 'ECLOSED', 'later calls fail with ECLOSED');

  // An abort for a collective not started yet is kept and fails it at its start; one with an unknown
  // code and no culprit names its sender, as EPEERLOST.
  const w2 = new World(3, { ordering: 'inorder', seed: 1 });
  t.teardown(() => w2.close());
  t.equal(w2.queues[1].frame(0, abortHeader(0, 7, 0, 'barrier', 'EWHATEVER', 'x'), undefined), true, 'an abort for the next collective is kept');
  const e2 = await rejection(w2.barrier(1));
  t.equal(e2.code, 'EPEERLOST', 'an unknown code becomes EPEERLOST');
  t.equal(e2.peer, 0, 'no culprit named: the sender is');
});

// ------------------------------------------------------------------ mismatched calls

t.test('EMISMATCH: one rank calls another count, dtype, op, reduction or algorithm; every rank fails naming both sides', async (t) => {
  const n = 4;
  const odd = 2;
  const cases: Array<{ label: string; call: (w: World, r: number) => Promise<unknown>; mine: RegExp; theirs: RegExp }> = [
    { label: 'count', call: (w, r) => w.allReduce(r, new Float32Array(r === odd ? 7 : 8), 'sum', 'ring'), mine: /count 8/, theirs: /count 7/ },
    { label: 'dtype', call: (w, r) => w.allReduce(r, r === odd ? new Float64Array(8) : new Float32Array(8), 'sum', 'tree'), mine: /float32/, theirs: /float64/ },
    { label: 'op', call: (w, r) => (r === odd ? w.barrier(r) : w.allReduce(r, new Float32Array(8), 'sum', 'recursive-doubling')), mine: /allreduce/, theirs: /barrier/ },
    { label: 'reduction', call: (w, r) => w.allReduce(r, new Int32Array(8), r === odd ? 'max' : 'sum', 'multitree'), mine: /op sum/, theirs: /op max/ },
    { label: 'algorithm', call: (w, r) => w.allReduce(r, new Int32Array(8), 'sum', r === odd ? 'tree' : 'ring'), mine: /algorithm ring/, theirs: /algorithm tree/ },
  ];
  await Promise.all(cases.map(async (c) => {
    const w = new World(n, { ordering: 'fifo', seed: 11, maxLag: 5 });
    t.teardown(() => w.close());
    const t0 = Date.now();
    const res = await Promise.allSettled([...Array(n).keys()].map((r) => c.call(w, r)));
    t.ok(Date.now() - t0 < 5000, `${c.label}: settled at once, not at a deadline`);
    res.forEach((x, r) => {
      t.equal(x.status, 'rejected', `${c.label}: rank ${r} fails`);
      if (x.status !== 'rejected') return;
      const e = x.reason as ZcollError;
      t.equal(e.code, 'EMISMATCH', `${c.label}: rank ${r} fails with EMISMATCH (${e.message})`);
      t.match(e.message, c.mine, `${c.label}: rank ${r}'s message names the majority's call`);
      t.match(e.message, c.theirs, `${c.label}: rank ${r}'s message names rank ${odd}'s call`);
    });
    w.close();
  }));
});

// ------------------------------------------------------------------ payload lifetime over real shared memory

t.test('early frames lent from shared-memory slots of a collective that is then aborted: every slot goes back, every frame is released', { skip: shmSupported() ? false : 'the native addon (shared memory) is not built' }, async (t) => {
  // Rank 1's engine behind its real Inbox; rank 0 is its real shared-memory region and crafted headers.
  const epoch = 914_000_000 + (process.pid % 100_000);
  const segmentBytes = 4096;
  const shm = [0, 1].map((r) => SharedMemory.open('shm', epoch, r, [1 - r], segmentBytes)!);
  t.teardown(() => shm.forEach((s) => s.close()));
  for (const s of shm) s.attachPeers();
  const liveBefore = frameStats.live;
  const sent: Header[] = [];
  const q = new OpQueue({ rank: 1, size: 2, epoch, outbox: { send: async (_peer, h) => void sent.push(h) }, poller: new Poller({}, 'none', false, undefined), hooks: {}, stats: { abortsReceived: 0 } });
  t.teardown(() => q.close());
  const drops = { droppedFrames: 0, lastDropReason: '', forgedFrames: 0 };
  const inbox = new Inbox(1, 2, epoch, shm[1], drops, q.frame);
  const count = 8 * (segmentBytes / 4);
  const desc: OpDescriptor = { op: 'allreduce', dtype: 'float32', count, redop: 'sum', root: -1, algorithm: 'ring' };
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const buf = new Float32Array(count);
  const topology = buildTopology(undefined, 2);
  // Called, but its input is not read yet: frames of #0 that arrive now are early.
  const op = q.run(desc, LONG_MS, async () => {
    await gate;
    return (ctx: OpContext) => runSchedule(ctx, cachedSchedule(topology, { collective: 'allreduce', algorithm: 'ring' }), buf, 'sum', segmentBytes);
  }, () => buf);
  const out0 = shm[0].region;
  const stateWords = new Int32Array(out0.mapped!, REGION_HEADER_BYTES, 8);
  const slots = slotsPerPeer(segmentBytes);
  // Twice as many segments as rank 0 has slots for rank 1: it can only put them all if each slot comes back.
  for (let i = 0; i < 2 * slots; i++) {
    const ref = await Promise.race([out0.put(1, new Uint8Array(new Float32Array(segmentBytes / 4).fill(i + 1).buffer)), turn(2000).then(() => undefined)]);
    if (ref === undefined) {
      t.fail(`rank 0 found no free slot for segment ${i}: rank 1 holds them`);
      break;
    }
    const h: Header = { kind: 'data', sender: 0, epoch, seq: 0, op: 'allreduce', transfer: i % 2, segment: i >> 1, dtype: 'float32', count, elements: segmentBytes / 4, redop: 'sum', root: -1, algorithm: 'ring', shm: { region: regionName(epoch, 0), size: ref.size, offset: ref.offset, slot: ref.state, dataStart: ref.dataStart } };
    inbox.fromSocket(0, [encodeHeader(h)]);
  }
  t.equal(drops.droppedFrames, 0, `all ${2 * slots} early frames were kept (${drops.lastDropReason})`);
  t.same(Array.from(stateWords.subarray(0, slots)), new Array(slots).fill(0), "every one of rank 0's slots went back as its frame was kept (copied)");
  t.equal(frameStats.live - liveBefore, 2 * slots, 'the kept frames are alive while the collective has not started');
  // Rank 0 aborts collective #0: rank 1's op fails at its start and never takes its early frames.
  inbox.fromSocket(0, [encodeHeader(abortHeader(0, epoch, 0, 'allreduce', 'ETIMEDOUT', 'test abort'))]);
  open();
  const e = await rejection(op);
  t.equal(e.code, 'ETIMEDOUT', 'the op fails with the abort');
  t.equal(frameStats.live, liveBefore, 'its early frames were released all the same (none leaked)');
  // And rank 0 can keep sending: a full lane of slots again.
  for (let i = 0; i < slots; i++) t.ok(await Promise.race([out0.put(1, Uint8Array.of(i)), turn(2000).then(() => undefined)]), `slot ${i} is free for rank 0's next payload`);
});

t.test('a call that finds the queue empty starts its op before it returns; calls made meanwhile wait their turn, in call order', async (t) => {
  const n = 2;
  const net = new Loopback({ size: n, ordering: 'inorder', seed: 5 });
  t.teardown(() => net.close());
  // Each rank's sends, counted as the outbox sees them (the loopback delivers them later, from setImmediate).
  const sent: Array<Array<{ seq: number; volatile: boolean }>> = [[], []];
  const queues = Array.from({ length: n }, (_, r) => {
    const loop = net.sender(r);
    const outbox = {
      send: (peer: number, h: Header, payload?: Uint8Array, volatile?: boolean) => {
        if (h.kind === 'data') sent[r].push({ seq: h.seq, volatile: volatile === true });
        return loop.send(peer, h, payload, volatile);
      },
    };
    const q = new OpQueue({ rank: r, size: n, epoch: 3, outbox, poller: new Poller({}, 'none', false, undefined), hooks: {}, stats: { abortsReceived: 0 } });
    net.attach(r, q.frame);
    return q;
  });
  t.teardown(() => queues.forEach((q) => q.close()));
  const topology = buildTopology(undefined, n);
  const schedule = cachedSchedule(topology, { collective: 'allreduce', algorithm: 'recursive-doubling' });
  const desc = (count: number): OpDescriptor => ({ op: 'allreduce', dtype: 'float32', count, redop: 'sum', root: -1, algorithm: 'recursive-doubling' });
  // A synchronous prepare (a typed array's input, as the Communicator's), as in a training loop.
  const call = (r: number, buf: Float32Array) => queues[r].run(desc(buf.length), LONG_MS, () => (ctx: OpContext) => runSchedule(ctx, schedule, buf, 'sum', 1024), () => buf);
  const bufs = [0, 1].map((r) => [Float32Array.of(r + 1, 10), Float32Array.of(100 * (r + 1), 7, 8)]);
  const first = [0, 1].map((r) => call(r, bufs[r][0]));
  t.same(sent.map((s) => s.map((x) => x.seq)), [[0], [0]], 'each rank sent its first frame of #0 inside the call');
  // Small sends nothing confirms go out volatile: the sender copies them unless it copies at once.
  t.same(sent.map((s) => s.map((x) => x.volatile)), [[true], [true]], 'a small unconfirmed send is marked volatile');
  const second = [0, 1].map((r) => call(r, bufs[r][1]));
  t.same(sent.map((s) => s.length), [1, 1], 'a call made while #0 runs sends nothing before its turn');
  const r1 = await Promise.all(first);
  const r2 = await Promise.all(second);
  for (const out of r1) t.same(Array.from(out), [3, 20], '#0 gives the serial sum on every rank');
  for (const out of r2) t.same(Array.from(out), [300, 14, 16], '#1 gives the serial sum on every rank');
  t.same(sent.map((s) => s.map((x) => x.seq)), [[0, 1], [0, 1]], 'the frames went out in call order');
  // The queue is empty again after the await: the next call starts at once too.
  const third = [0, 1].map((r) => call(r, Float32Array.of(r)));
  t.same(sent.map((s) => s.length), [3, 3], 'a call made after the previous op settled starts inside the call');
  for (const out of await Promise.all(third)) t.same(Array.from(out), [1]);
});
