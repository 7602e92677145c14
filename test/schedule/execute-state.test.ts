// The executor's per-op state is reused (execute.ts, RunState): an execution that completed and was
// disposed hands its arrays to the next op of the same plan and size. These tests would catch two
// executions sharing live state: ops of one plan run back to back (the state is reused, and the old
// execution stays inert), two at once (the second gets its own), and an op abandoned before it
// completed (its state is never handed on). Results are checked against the exact int32 sum.
import t, { type Test } from 'tap';
import { buildTopology } from '../../lib/cluster/topology.js';
import { jsKernels } from '../../lib/kernels/js.js';
import { cachedSchedule, type ScheduleAlgorithm } from '../../lib/schedule/cache.js';
import { execute, executorStats } from '../../lib/schedule/execute.js';
import type { Schedule } from '../../lib/schedule/types.js';
import { InMemoryNet, prng } from './in-memory-net.js';

const ALGORITHMS: readonly ScheduleAlgorithm[] = ['ring', 'tree', 'recursive-doubling', 'multitree'];

function inputsFor(n: number, count: number, seed: number): Int32Array[] {
  const random = prng(seed);
  return Array.from({ length: n }, () => Int32Array.from({ length: count }, () => Math.floor((random() - 0.5) * 2 ** 20)));
}

/** The independent reference: the element-wise sum of every rank's input (int32: exact in any order). */
function sumOf(inputs: readonly Int32Array[]): Int32Array {
  const out = new Int32Array(inputs[0].length);
  for (const x of inputs) for (let i = 0; i < x.length; i++) out[i] = (out[i] + x[i]) | 0;
  return out;
}

/** Runs a net to its end: frames delivered shuffled, held ones released in waves. */
async function finish(net: InMemoryNet): Promise<void> {
  await net.drain();
  for (let wave = 0; net.heldCount() > 0 && wave < 10_000; wave++) {
    net.release();
    await net.drain();
  }
}

/** Fails the test unless every rank of `net` completed cleanly with the exact sum of `inputs`. */
function checkNet(t: Test, net: InMemoryNet, buffers: readonly Int32Array[], inputs: readonly Int32Array[], what: string): void {
  const want = sumOf(inputs);
  if (net.failures.length > 0 || net.refused.length > 0 || net.completed.some((c) => !c)) {
    t.fail(`${what}: failures [${net.failures.map((e) => e.message).join('; ')}], refused ${net.refused.length}, completed ${net.completed.join(',')}`);
    return;
  }
  if (net.unreleased() > 0) t.fail(`${what}: ${net.unreleased()} frames never released`);
  const wrong = buffers.findIndex((b) => !Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(want.buffer)));
  if (wrong >= 0) t.fail(`${what}: rank ${wrong} does not hold the sum`);
}

function netOf(s: Schedule, inputs: readonly Int32Array[], seed: number, hold?: () => boolean, sentInCall = false): { net: InMemoryNet; buffers: Int32Array[] } {
  const buffers = inputs.map((x) => x.slice());
  const random = prng(seed ^ 0x5eed);
  const net = new InMemoryNet({ schedule: s, buffers, op: 'sum', segmentElems: 8, kernels: jsKernels, seed, hold: hold ?? (() => random() < 0.3), volatileShare: 0.25, sentInCall });
  return { net, buffers };
}

t.test('ops of one plan back to back: the next reuses the state, the disposed one refuses every frame', async (t) => {
  for (const n of [2, 3, 4, 5]) {
    const topology = buildTopology({ kind: 'switch' }, n);
    for (const algorithm of ALGORITHMS) {
      const s = cachedSchedule(topology, algorithm);
      for (const count of [1, 37]) {
        const what = `${n} ranks ${algorithm} count=${count}`;
        const in1 = inputsFor(n, count, n * 1000 + count);
        const first = netOf(s, in1, 1);
        await finish(first.net);
        checkNet(t, first.net, first.buffers, in1, `${what}, first op`);
        for (const e of first.net.execs) e!.dispose();
        const made = executorStats.statesMade;
        const in2 = inputsFor(n, count, n * 1000 + count + 1);
        const second = netOf(s, in2, 2);
        t.equal(executorStats.statesMade, made, `${what}: the second op made no new state (it took the first one's)`);
        // The first op's executions are done with: frames replayed into them are refused, and touch nothing.
        for (const f of first.net.delivered) if (f.transfer >= 0 && first.net.execs[f.dst]!.onFrame(f.src, f.transfer, f.segment, undefined, f.count)) t.fail(`${what}: a disposed execution took a frame`);
        for (const e of first.net.execs) if (e!.waitingOn() !== undefined) t.fail(`${what}: a disposed execution says it waits`);
        await finish(second.net);
        checkNet(t, second.net, second.buffers, in2, `${what}, second op`);
        for (const e of second.net.execs) e!.dispose();
      }
    }
  }
  t.pass('every pair ran and matched');
});

t.test('two live ops of one plan and size never share state', async (t) => {
  for (const n of [2, 4]) {
    const s = cachedSchedule(buildTopology({ kind: 'switch' }, n), 'ring');
    const count = 29;
    const warm = inputsFor(n, count, 7);
    const w = netOf(s, warm, 3);
    await finish(w.net);
    for (const e of w.net.execs) e!.dispose(); // every rank's plan now has a spare state
    const made = executorStats.statesMade;
    const inA = inputsFor(n, count, 8);
    const inB = inputsFor(n, count, 9);
    const a = netOf(s, inA, 4, () => true); // everything held: A stays in flight while B runs
    const b = netOf(s, inB, 5);
    t.equal(executorStats.statesMade, made + n, `${n} ranks: A took the spares, B made its own ${n}`);
    await finish(b.net);
    checkNet(t, b.net, b.buffers, inB, `${n} ranks, B (while A was in flight)`);
    t.ok(a.net.completed.every((c) => !c), `${n} ranks: A has not completed (its frames are held)`);
    for (const e of b.net.execs) e!.dispose(); // B's states become the spares: A still holds its own
    await finish(a.net);
    checkNet(t, a.net, a.buffers, inA, `${n} ranks, A (after B)`);
    for (const e of a.net.execs) e!.dispose();
  }
});

t.test('an op abandoned before it completed keeps its state: the next op gets a fresh one', async (t) => {
  const s = cachedSchedule(buildTopology({ kind: 'switch' }, 2), 'ring');
  const count = 5;
  const warm = inputsFor(2, count, 11);
  const w = netOf(s, warm, 6);
  await finish(w.net);
  for (const e of w.net.execs) e!.dispose();
  // Rank 0 alone: its sends never settle and its peer never answers (an op that timed out or was aborted).
  let settleSends!: () => void;
  const sendsSettle = new Promise<void>((resolve) => (settleSends = resolve));
  const made = executorStats.statesMade;
  const stuck = execute({ schedule: s, buffer: new Int32Array(count), op: 'sum', segmentElems: 8, kernels: jsKernels }, { rank: 0, send: () => sendsSettle, fail: () => undefined });
  t.equal(executorStats.statesMade, made, 'the abandoned op took the spare state');
  t.ok(stuck.waitingOn() !== undefined, 'it waits for its peer');
  stuck.dispose();
  const inputs = inputsFor(2, count, 12);
  const next = netOf(s, inputs, 7);
  t.equal(executorStats.statesMade, made + 1, "rank 0's next op made a fresh state (the abandoned one's was not handed on)");
  settleSends(); // the abandoned op's sends settle now, while the next op runs
  await finish(next.net);
  checkNet(t, next.net, next.buffers, inputs, 'the op after an abandoned one');
  t.notOk(stuck.onFrame(1, 0, 0, undefined, 0), 'the abandoned op refuses frames after its dispose');
});

t.test('sends that complete in the call (SENT, a mailbox): nothing is counted in flight, every op completes with the sum', async (t) => {
  for (const n of [1, 2, 3, 5]) {
    const topology = buildTopology({ kind: 'switch' }, n);
    for (const algorithm of ALGORITHMS) {
      const s = cachedSchedule(topology, algorithm);
      for (const count of [0, 1, 37]) {
        for (const round of [0, 1]) {
          const inputs = inputsFor(n, count, n * 100 + count + round);
          const { net, buffers } = netOf(s, inputs, 10 + round, undefined, true);
          await finish(net);
          checkNet(t, net, buffers, inputs, `${n} ranks ${algorithm} count=${count} round ${round}`);
          for (const e of net.execs) e!.dispose();
        }
      }
    }
  }
  t.pass('every op completed with the sum');
});
