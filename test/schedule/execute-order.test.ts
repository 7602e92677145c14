// The executor under any arrival order, in one process (in-memory-net.ts, no sockets): frames are
// delivered shuffled, some held back and released late, some lent as shared-memory slots are (scribbled
// over once handed back), each exactly once, and every frame released in the end. All-reduce (ring, binomial tree, recursive doubling, MULTITREE) must
// equal, bitwise, a fixed-order serial interpreter that applies every reduction into a (rank, chunk)
// in transfer-id order (execute.ts's reduce order); gather must leave the root with every rank's
// data and each sender waiting for the root's acknowledgement; a barrier must not let any rank
// complete before every rank started.
import t from 'tap';
import { buildTopology, type Topology } from '../../lib/cluster/topology.js';
import { jsKernels } from '../../lib/kernels/js.js';
import type { ElementwiseOp } from '../../lib/kernels/contract.js';
import { buildBarrier } from '../../lib/schedule/barrier.js';
import { cachedSchedule, type ScheduleAlgorithm } from '../../lib/schedule/cache.js';
import { unconfirmedTransfers } from '../../lib/schedule/execute.js';
import { buildGather } from '../../lib/schedule/gather.js';
import { chunkSpans } from '../../lib/schedule/partition.js';
import type { Schedule } from '../../lib/schedule/types.js';
import { InMemoryNet, prng, type Frame } from './in-memory-net.js';

/**
 * The serial reference: lockstep in (step, id) order, every send reading its chunk as of the start of
 * its step (what the verifier proves the executor's sends see), and a chunk's value always the last
 * copy into it (or the rank's input) folded with the reductions applied since, in transfer-id order.
 */
function serialReference(s: Schedule, inputs: readonly Float32Array[], op: ElementwiseOp): Float32Array[] {
  const n = s.nranks;
  const spans = chunkSpans(inputs[0].length, s.nchunks);
  const base: Float32Array[][] = [];
  const applied: Array<Array<Array<{ id: number; payload: Float32Array }>>> = [];
  for (let r = 0; r < n; r++) {
    base.push(spans.map((sp) => inputs[r].slice(sp.offset, sp.offset + sp.length)));
    applied.push(spans.map(() => []));
  }
  const valueOf = (r: number, c: number): Float32Array => {
    const v = base[r][c].slice();
    for (const x of [...applied[r][c]].sort((a, b) => a.id - b.id)) jsKernels.reduceInto(v, x.payload, op);
    return v;
  };
  const order = [...s.transfers].sort((a, b) => a.step - b.step || a.id - b.id);
  for (let i = 0; i < order.length; ) {
    const step = order[i].step;
    const batch: Array<{ id: number; dst: number; chunk: number; kind: string; payload: Float32Array }> = [];
    for (; i < order.length && order[i].step === step; i++) {
      const x = order[i];
      batch.push({ id: x.id, dst: x.dst, chunk: x.chunk, kind: x.kind, payload: valueOf(x.src, x.chunk) });
    }
    for (const b of batch) {
      if (b.kind === 'copy') {
        base[b.dst][b.chunk] = b.payload;
        applied[b.dst][b.chunk] = [];
      } else applied[b.dst][b.chunk].push({ id: b.id, payload: b.payload });
    }
  }
  return inputs.map((input, r) => {
    const out = input.slice();
    spans.forEach((sp, c) => out.set(valueOf(r, c), sp.offset));
    return out;
  });
}

/** Float32 inputs spread over 8 decades, so that a different summation order changes the bits. */
function randomInputs(n: number, count: number, seed: number): Float32Array[] {
  const random = prng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: count }, () => (random() - 0.5) * 10 ** Math.floor(random() * 8)));
}

const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** Runs a schedule to completion: shuffled, with the `heldShare` of frames held back and released in waves. */
async function runShuffled(s: Schedule, buffers: Float32Array[], op: ElementwiseOp, segmentElems: number, seed: number, heldShare: number): Promise<InMemoryNet> {
  const random = prng(seed ^ 0x5eed);
  const net = new InMemoryNet({ schedule: s, buffers, op, segmentElems, kernels: jsKernels, seed, hold: () => random() < heldShare, volatileShare: 0.25 });
  await net.drain();
  for (let wave = 0; net.heldCount() > 0 && wave < 10_000; wave++) {
    net.release();
    await net.drain();
  }
  return net;
}

interface AllReduceCase {
  readonly topology: Topology;
  readonly label: string;
}

const cases: AllReduceCase[] = [];
for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16]) cases.push({ topology: buildTopology({ kind: 'switch' }, n), label: `switch ${n}` });
cases.push({ topology: buildTopology({ kind: 'torus', dims: [4, 4] }, 16), label: 'torus 4x4' });
cases.push({ topology: buildTopology({ kind: 'torus', dims: [2, 3] }, 6), label: 'torus 2x3' });
const ALGORITHMS: readonly ScheduleAlgorithm[] = ['ring', 'tree', 'recursive-doubling', 'multitree'];

t.test('all-reduce under shuffled and delayed arrival equals the serial reduction in id order, bitwise', async (t) => {
  for (const { topology, label } of cases) {
    const n = topology.nranks;
    for (const algorithm of ALGORITHMS) {
      const s = cachedSchedule(topology, algorithm);
      for (const count of [0, 1, n + 1, 203]) {
        for (const [seed, heldShare] of [
          [1, 0],
          [2, 0.3],
        ] as const) {
          const inputs = randomInputs(n, count, 1000 * n + count + seed);
          for (const op of ['sum', 'max'] as const) {
            const want = serialReference(s, inputs, op);
            const buffers = inputs.map((x) => x.slice());
            const net = await runShuffled(s, buffers, op, 8, seed * 7919 + count, heldShare);
            const what = `${label} ${algorithm} count=${count} ${op} seed=${seed}`;
            if (net.failures.length > 0 || net.refused.length > 0 || net.completed.some((c) => !c)) {
              t.fail(`${what}: failures ${net.failures.map((e) => e.message).join('; ')}, refused ${net.refused.length}, completed ${net.completed.join(',')}`);
              continue;
            }
            // Every payload, reduced in turn or kept for a later turn, was released in the end (no slot held).
            if (net.unreleased() > 0) t.fail(`${what}: ${net.unreleased()} of ${net.received.length} frames never released`);
            const wrong = buffers.findIndex((b, r) => !Buffer.from(bits(b).buffer, b.byteOffset, b.byteLength).equals(Buffer.from(bits(want[r]).buffer, want[r].byteOffset, want[r].byteLength)));
            if (wrong >= 0) t.fail(`${what}: rank ${wrong} differs from the serial reference`);
          }
        }
      }
    }
  }
  t.pass('every case ran to completion and matched');
});

t.test('the serial reference has teeth: summing in another order changes the bits', async (t) => {
  const inputs = randomInputs(8, 203, 42);
  const forward = new Float32Array(203);
  const backward = new Float32Array(203);
  for (const x of inputs) jsKernels.reduceInto(forward, x, 'sum');
  for (const x of [...inputs].reverse()) jsKernels.reduceInto(backward, x, 'sum');
  t.notSame(bits(forward), bits(backward));
});

t.test('gather: the root ends with every rank chunk, others with their own; shuffled and delayed', async (t) => {
  for (let n = 1; n <= 9; n++) {
    for (let root = 0; root < n; root++) {
      const s = buildGather(n, root);
      for (const count of [0, 1, 5, 100]) {
        const inputs = randomInputs(n, count, 31 * n + root + count);
        // What the communicator passes: count*n elements on every rank, its own chunk written.
        const buffers = inputs.map((x, r) => {
          const b = new Float32Array(count * n);
          b.set(x, r * count);
          return b;
        });
        const want = serialReference(s, buffers, 'sum');
        const net = await runShuffled(s, buffers, 'sum', 7, n * 100 + root, 0.3);
        const what = `n=${n} root=${root} count=${count}`;
        if (net.failures.length > 0 || net.refused.length > 0 || net.completed.some((c) => !c)) {
          t.fail(`${what}: did not complete cleanly`);
          continue;
        }
        const concatenated = new Float32Array(count * n);
        inputs.forEach((x, r) => concatenated.set(x, r * count));
        if (!Buffer.from(buffers[root].buffer).equals(Buffer.from(concatenated.buffer))) t.fail(`${what}: root buffer is not the rank-order concatenation`);
        for (let r = 0; r < n; r++) if (!Buffer.from(buffers[r].buffer).equals(Buffer.from(want[r].buffer))) t.fail(`${what}: rank ${r} differs from the serial reference`);
      }
    }
  }
  t.pass('every gather matched');
});

t.test('gather: every transfer is acknowledged by the root, even tiny ones; a sender completes only after its ack', async (t) => {
  for (let n = 2; n <= 9; n++) {
    const root = n - 1;
    const s = buildGather(n, root);
    t.same([...unconfirmedTransfers(s)].sort((a, b) => a - b), s.transfers.map((x) => x.id), `n=${n}: nothing confirms any gather transfer, so all are acknowledged`);
    for (const count of [1, 100_000]) {
      const buffers = Array.from({ length: n }, (_, r) => Float32Array.from({ length: count * n }, (_, i) => (Math.floor(i / count) === r ? r + 1 : 0)));
      const net = new InMemoryNet({ schedule: s, buffers, op: 'sum', segmentElems: 4096, kernels: jsKernels, seed: n, hold: (f: Frame) => f.transfer < -1 });
      await net.drain();
      t.ok(net.completed[root], `n=${n} count=${count}: the root completes once it has every chunk`);
      t.ok(net.completed.every((c, r) => c === (r === root)), `n=${n} count=${count}: no sender completes before its acknowledgement`);
      t.equal(net.heldCount(), n - 1, `n=${n} count=${count}: one acknowledgement per sender, after all its segments`);
      net.release();
      await net.drain();
      t.ok(net.completed.every((c) => c), `n=${n} count=${count}: every sender completes once acknowledged`);
      t.same(net.refused, []);
    }
  }
});

t.test('gather: a sender with another count fails the root with EMISMATCH instead of hanging', async (t) => {
  const s = buildGather(3, 0);
  const buffers = [new Float32Array(9), new Float32Array(9), new Float32Array(12)]; // rank 2 gathers count 4, the others 3
  const net = new InMemoryNet({ schedule: s, buffers, op: 'sum', segmentElems: 64, kernels: jsKernels, seed: 5 });
  await net.drain();
  t.equal(net.failures.length, 1);
  t.equal(net.failures[0].code, 'EMISMATCH');
  t.match(net.failures[0].message, /from rank 2 holds 4 elements, this rank expects 3/);
  t.notOk(net.completed[2], 'the mismatched sender does not complete (it hears of it through the op failure, not an ack)');
});

t.test('barrier: zero-length chunk, one empty frame per transfer; nobody completes before the last rank starts', async (t) => {
  for (let n = 1; n <= 33; n++) {
    const s = buildBarrier(n);
    const late = (7 * n + 3) % n; // a different rank for different n
    for (const seed of [1, 2]) {
      const buffers = Array.from({ length: n }, () => new Float32Array(0));
      const net = new InMemoryNet({ schedule: s, buffers, op: 'sum', segmentElems: 1024, kernels: jsKernels, seed: seed * 100 + n, lateRanks: [late] });
      await net.drain();
      if (n > 1) t.ok(net.completed.every((c) => !c), `n=${n} seed=${seed}: nobody completes while rank ${late} has not started`);
      net.start(late);
      await net.drain();
      t.ok(net.completed.every((c) => c), `n=${n} seed=${seed}: everyone completes once rank ${late} started`);
      t.equal(net.delivered.length, s.transfers.length, `n=${n}: one empty frame per transfer, no acknowledgement`);
      t.ok(net.delivered.every((f) => f.payload === undefined && f.count === 0 && f.segment === 0));
      t.same(net.refused, []);
      t.same(net.failures, []);
    }
  }
});

t.test("barrier: holding one rank's first message back keeps its successor, and everyone it must inform, waiting", async (t) => {
  // Holding only the first send does not stop every rank: with n even, ranks at an even distance
  // hear of the held rank through its later rounds (it did start), which is correct. The rank right
  // after it cannot complete, and every rank completes after the release.
  for (let n = 2; n <= 33; n++) {
    const s = buildBarrier(n);
    const slow = n >> 1;
    const first = s.transfers.find((x) => x.src === slow && x.step === 0)!;
    const buffers = Array.from({ length: n }, () => new Float32Array(0));
    const net = new InMemoryNet({ schedule: s, buffers, op: 'sum', segmentElems: 1024, kernels: jsKernels, seed: n, hold: (f: Frame) => f.transfer === first.id });
    await net.drain();
    t.notOk(net.completed[first.dst], `n=${n}: rank ${first.dst} waits for rank ${slow}'s first message`);
    net.release();
    await net.drain();
    t.ok(net.completed.every((c) => c), `n=${n}: all complete after the release`);
  }
});
