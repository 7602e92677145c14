// Host-aware reduce-scatter and all-gather (hierarchical-reduce-scatter.ts, hierarchical-all-gather.ts):
// the verifier proves them for even, uneven, one-rank-per-host and random placements; the bytes that
// leave and enter each host, counted from the schedule, are the least any such collective moves (and
// less than the ring's); run through the executor on the in-memory net (shuffled arrival, held frames)
// they equal a serial reference, with rank r's result at chunkSpan(count, n, r) as on the ring; and
// 'auto' (autoRsAgAlgorithm) takes them on several hosts with several ranks on some, never elsewhere.
import t from 'tap';
import { buildTopology } from '../../lib/cluster/topology.js';
import { jsKernels } from '../../lib/kernels/js.js';
import { buildHierarchicalAllGather } from '../../lib/schedule/hierarchical-all-gather.js';
import { buildHierarchicalReduceScatter } from '../../lib/schedule/hierarchical-reduce-scatter.js';
import { bytesLeavingHosts, hostGroups } from '../../lib/schedule/hierarchical.js';
import { buildRing } from '../../lib/schedule/ring.js';
import { chunkSpan } from '../../lib/schedule/partition.js';
import { autoRsAgAlgorithm } from '../../lib/schedule/choose.js';
import type { Schedule } from '../../lib/schedule/types.js';
import { verifySchedule } from '../../lib/schedule/verify.js';
import { InMemoryNet, prng } from './in-memory-net.js';

function contiguous(sizes: readonly number[]): number[] {
  return sizes.flatMap((g, h) => new Array<number>(g).fill(h));
}

function randomPlacement(rng: () => number): number[] {
  const n = 1 + Math.floor(rng() * 10);
  const H = 1 + Math.floor(rng() * Math.min(n, 4));
  const hostOf = Array.from({ length: n }, (_, r) => (r < H ? r : Math.floor(rng() * H)));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [hostOf[i], hostOf[j]] = [hostOf[j], hostOf[i]];
  }
  return hostOf;
}

const named: Array<[string, number[]]> = [
  ['2x2', contiguous([2, 2])],
  ['2x3', contiguous([3, 3])],
  ['3+1', contiguous([3, 1])],
  ['3+1 interleaved', [0, 1, 0, 0]],
  ['4x1', contiguous([1, 1, 1, 1])],
  ['one host of 4', contiguous([4])],
  ['1+2+3', contiguous([1, 2, 3])],
  ['one rank', [0]],
];
const rng = prng(1919);
const placements: Array<[string, number[]]> = [...named, ...Array.from({ length: 40 }, (_, i): [string, number[]] => [`random ${i}`, randomPlacement(rng)])];

const builders: Array<[string, (hostOf: readonly number[]) => Schedule]> = [
  ['reduce-scatter', buildHierarchicalReduceScatter],
  ['all-gather', buildHierarchicalAllGather],
];

t.test('the verifier proves both for every placement; rank r ends with chunk r of n', async (t) => {
  for (const [what, build] of builders) {
    for (const [name, hostOf] of placements) {
      const s = build(hostOf);
      const v = verifySchedule(s);
      t.ok(v.ok, `${what} ${name} (${hostOf.join(',')}): ${v.errors.join('; ')}`);
      t.equal(s.nchunks, hostOf.length, `${what} ${name}: n chunks, as the ring`);
      const groups = hostGroups(hostOf);
      const expectSteps = (groups.some((g) => g.length > 1) ? 1 : 0) + (groups.length > 1 ? 1 : 0);
      if (what === 'reduce-scatter') t.equal(s.steps, expectSteps, `${what} ${name}: ${expectSteps} steps`);
      else t.ok(s.steps <= 2, `${what} ${name}: at most 2 steps`);
    }
  }
});

t.test('bytes leaving and entering each host: the least, and less than the ring on hosts of several ranks', async (t) => {
  const elem = 4;
  for (const [name, hostOf] of named) {
    const n = hostOf.length;
    const groups = hostGroups(hostOf);
    if (groups.length < 2) continue;
    const count = n * 3 * 1024; // every chunk the same size: the bounds are exact
    const D = count * elem;
    for (const [what, build] of builders) {
      const s = build(hostOf);
      const out = bytesLeavingHosts(s, hostOf, count, elem);
      const into = new Map<number, number>();
      for (const x of s.transfers) if (hostOf[x.src] !== hostOf[x.dst]) into.set(hostOf[x.dst], (into.get(hostOf[x.dst]) ?? 0) + chunkSpan(count, n, x.chunk).length * elem);
      const ring = bytesLeavingHosts(buildRing(n, what === 'reduce-scatter' ? 'reducescatter' : 'allgather'), hostOf, count, elem);
      for (const g of groups) {
        const h = hostOf[g[0]];
        const G = g.length;
        const H = groups.length;
        // Reduce-scatter: out = its partials of the chunks others own, in = (H-1) partials of its own.
        // All-gather: out = its chunks to every other host, in = every chunk it does not own, once.
        const leastOut = what === 'reduce-scatter' ? ((n - G) / n) * D : ((H - 1) * G * D) / n;
        const leastIn = what === 'reduce-scatter' ? ((H - 1) * G * D) / n : ((n - G) / n) * D;
        t.equal(out.get(h) ?? 0, leastOut, `${what} ${name} host ${h}: ${(out.get(h) ?? 0) / D} D out`);
        t.equal(into.get(h) ?? 0, leastIn, `${what} ${name} host ${h}: ${(into.get(h) ?? 0) / D} D in`);
      }
      if (name === '2x2' || name === '2x3') {
        for (const g of groups) {
          const h = hostOf[g[0]];
          t.equal(out.get(h), 0.5 * D, `${what} ${name} host ${h}: 0.5 D out`);
          t.ok((ring.get(h) ?? 0) > 0.5 * D, `${what} ${name} host ${h}: the ring sends ${(ring.get(h) ?? 0) / D} D`);
        }
      }
    }
  }
});

/** Runs `s` on the in-memory net (seeded shuffle, a share of frames held back and released in waves). */
async function run(s: Schedule, buffers: Float32Array[], seed: number): Promise<InMemoryNet> {
  const random = prng(seed ^ 0xabc);
  const net = new InMemoryNet({ schedule: s, buffers, op: 'sum', segmentElems: 37, kernels: jsKernels, seed, hold: () => random() < 0.3, volatileShare: 0.25 });
  await net.drain();
  for (let wave = 0; net.heldCount() > 0 && wave < 10_000; wave++) {
    net.release();
    await net.drain();
  }
  return net;
}

t.test('through the executor they equal a serial reference (sums of integers: exact in float32)', async (t) => {
  let seed = 1;
  for (const [name, hostOf] of placements.slice(0, named.length + 12)) {
    const n = hostOf.length;
    for (const count of [0, n - 1, 5 * n + 3, 1000]) {
      const data = prng(seed * 7);
      const inputs = Array.from({ length: n }, () => Float32Array.from({ length: count }, () => Math.floor(data() * 2001) - 1000));
      // Reduce-scatter: rank r's chunk r equals the serial sum there.
      const rsBuffers = inputs.map((a) => a.slice());
      const rs = await run(buildHierarchicalReduceScatter(hostOf), rsBuffers, seed++);
      t.same([rs.failures.length, rs.refused.length, rs.completed.every((c) => c), rs.unreleased()], [0, 0, true, 0], `reduce-scatter ${name} count ${count}: completes cleanly`);
      let wrong = 0;
      for (let r = 0; r < n; r++) {
        const span = chunkSpan(count, n, r);
        const got = rsBuffers[r];
        for (let i = span.offset; i < span.offset + span.length; i++) {
          let sum = 0;
          for (const x of inputs) sum += x[i];
          if (got[i] !== sum) wrong++;
        }
      }
      t.equal(wrong, 0, `reduce-scatter ${name} count ${count}: every rank's chunk is the serial sum`);
      // All-gather: rank r starts with only its own chunk (the rest garbage); all end with every rank's.
      const whole = Float32Array.from({ length: count }, () => Math.floor(data() * 2001) - 1000);
      const starts = Array.from({ length: n }, (_, r) => {
        const b = Float32Array.from({ length: count }, () => NaN);
        const span = chunkSpan(count, n, r);
        b.set(whole.subarray(span.offset, span.offset + span.length), span.offset);
        return b;
      });
      const ag = await run(buildHierarchicalAllGather(hostOf), starts, seed++);
      t.same([ag.failures.length, ag.refused.length, ag.completed.every((c) => c), ag.unreleased()], [0, 0, true, 0], `all-gather ${name} count ${count}: completes cleanly`);
      t.ok(starts.every((b) => b.every((v, i) => v === whole[i])), `all-gather ${name} count ${count}: every rank holds every chunk`);
    }
  }
});

t.test("'auto' takes them on hosts with several ranks where the model finds them cheaper, the ring elsewhere", async (t) => {
  const R = 200e6 / 8;
  const MIB = 1 << 20;
  const twoByTwo = buildTopology({ kind: 'hierarchical', hosts: 2, ranksPerHost: 2, intraBandwidth: 2e9, interBandwidth: R }, 4);
  const twoByThree = buildTopology({ kind: 'hierarchical', hosts: 2, ranksPerHost: 3, intraBandwidth: 2e9, interBandwidth: R }, 6);
  const fourByOne = buildTopology({ kind: 'hierarchical', hosts: 4, ranksPerHost: 1, intraBandwidth: 2e9, interBandwidth: R }, 4);
  const oneHost = buildTopology({ kind: 'switch' }, 4);
  for (const c of ['reducescatter', 'allgather'] as const) {
    for (const size of [4 * MIB, 16 * MIB, 64 * MIB]) {
      t.equal(autoRsAgAlgorithm(twoByTwo, c, size), 'hierarchical', `${c} 2x2 ${size / MIB} MiB`);
      t.equal(autoRsAgAlgorithm(twoByThree, c, size), 'hierarchical', `${c} 2x3 ${size / MIB} MiB`);
      t.equal(autoRsAgAlgorithm(fourByOne, c, size), 'ring', `${c} 4x1 (no host hierarchy) ${size / MIB} MiB`);
      t.equal(autoRsAgAlgorithm(oneHost, c, size), 'ring', `${c} one host ${size / MIB} MiB`);
    }
  }
});
