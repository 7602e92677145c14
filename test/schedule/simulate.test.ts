// Step-synchronous alpha-beta simulator against closed forms. Values
// are powers of two so that every sum is exact and closed forms can be compared with t.equal.
import t from 'tap';
import { buildTopology } from '../../lib/cluster/topology.js';
import { buildMultitreeTrees, multitreeSchedule } from '../../lib/schedule/multitree.js';
import { buildPlacedRing, relabelRanks } from '../../lib/schedule/placed-ring.js';
import { buildRing } from '../../lib/schedule/ring.js';
import { busbwFactor, costLine, simulate } from '../../lib/schedule/simulate.js';
import { buildBarrier } from '../../lib/schedule/barrier.js';
import { buildGather } from '../../lib/schedule/gather.js';
import { buildTree } from '../../lib/schedule/tree.js';
import type { Schedule } from '../../lib/schedule/types.js';

const alpha = 2 ** -20;
const beta = 2 ** -30;

t.test('ring without contention: exactly 2(n-1)(alpha + D/n*beta)', async (t) => {
  for (const n of [2, 3, 4, 5, 8, 16]) {
    const D = n * 2 ** 20;
    const want = 2 * (n - 1) * (alpha + (D / n) * beta);
    t.equal(simulate(buildRing(n), buildTopology({ kind: 'switch' }, n), D, { alphaS: alpha, betaSPerByte: beta }).timeS, want, `switch n=${n}`);
    const cycle = buildTopology({ kind: 'links', links: Array.from({ length: n === 2 ? 1 : n }, (_, a) => ({ a, b: (a + 1) % n })) }, n);
    t.equal(simulate(buildRing(n), cycle, D, { alphaS: alpha, betaSPerByte: beta }).timeS, want, `cycle n=${n}`);
  }
  const torus = buildTopology({ kind: 'torus', dims: [4, 4] }, 16);
  const D = 16 * 2 ** 20;
  t.equal(simulate(buildPlacedRing(torus), torus, D, { alphaS: alpha, betaSPerByte: beta }).timeS, 30 * (alpha + (D / 16) * beta), 'ring along the torus ring order');
  // The reduction term: n-1 reduce steps, each reducing one chunk at every rank.
  const gamma = 2 ** -31;
  const r = simulate(buildRing(4), buildTopology({ kind: 'switch' }, 4), 4 * 2 ** 20, { alphaS: alpha, betaSPerByte: beta, gammaSPerByte: gamma, perStep: true });
  t.equal(r.timeS, 6 * (alpha + 2 ** 20 * beta) + 3 * 2 ** 20 * gamma);
  t.equal(r.perStep?.length, 6);
});

t.test('MULTITREE on a 4-port torus: 2T(alpha + D/N*beta), every busy link carries one chunk per step', async (t) => {
  for (const side of [4, 8]) {
    const n = side * side;
    const topo = buildTopology({ kind: 'torus', dims: [side, side] }, n);
    const trees = buildMultitreeTrees(topo);
    const D = n * 2 ** 16;
    const r = simulate(multitreeSchedule(trees), topo, D, { alphaS: alpha, betaSPerByte: beta });
    t.equal(r.timeS, 2 * trees.T * (alpha + (D / n) * beta));
    t.equal(r.algbw, D / r.timeS);
    t.equal(r.busbw, (r.algbw * 2 * (n - 1)) / n);
  }
});

t.test('contention: two transfers on one link in a step take twice as long', async (t) => {
  // Path 0-1-2-3, ring visiting 0, 2, 1, 3: hops 0->2 and 1->3 share link 1->2 in every step.
  const path = buildTopology({ kind: 'links', links: [{ a: 0, b: 1 }, { a: 1, b: 2 }, { a: 2, b: 3 }], ports: 2 }, 4);
  const D = 4 * 2 ** 20;
  const crossed = relabelRanks(buildRing(4), [0, 2, 1, 3]);
  t.equal(simulate(crossed, path, D, { alphaS: alpha, betaSPerByte: beta }).timeS, 6 * (alpha + 2 * (D / 4) * beta));
  // A link with multiplicity 2 carries both at full speed.
  const doubled = buildTopology({ kind: 'links', links: [{ a: 0, b: 1 }, { a: 1, b: 2, multiplicity: 2 }, { a: 2, b: 3 }], ports: 2 }, 4);
  t.equal(simulate(crossed, doubled, D, { alphaS: alpha, betaSPerByte: beta }).timeS, 6 * (alpha + (D / 4) * beta));
});

t.test('per-link and per-port bandwidth: the slow NIC bounds a hierarchical ring', async (t) => {
  const nic = 2 ** 27; // bytes/s
  const topo = buildTopology({ kind: 'hierarchical', hosts: 2, ranksPerHost: 4, interBandwidth: nic, intraBandwidth: 2 ** 33 }, 8);
  const D = 8 * 2 ** 20;
  // Every ring step has a hop crossing hosts (3->4 and 7->0), each alone on its NIC.
  t.equal(simulate(buildRing(8), topo, D, { alphaS: alpha, betaSPerByte: beta }).timeS, 14 * (alpha + D / 8 / nic));
  // A port bandwidth applies to ranks' sends on one switch.
  const sw = buildTopology({ kind: 'switch', bandwidth: 2 ** 28 }, 4);
  t.equal(simulate(buildRing(4), sw, 4 * 2 ** 20, { alphaS: 0, betaSPerByte: 1 }).timeS, 6 * (2 ** 20 / 2 ** 28));
});

t.test('schedules without paths are routed on shortest paths', async (t) => {
  const torus = buildTopology({ kind: 'torus', dims: [4, 4] }, 16);
  // One transfer 0 -> 10 (4 hops): fluid, so the time is one chunk over one link.
  const single: Schedule = {
    algorithm: 'test',
    collective: 'broadcast',
    nranks: 16,
    nchunks: 1,
    steps: 1,
    root: 0,
    transfers: [{ id: 0, step: 0, src: 0, dst: 10, chunk: 0, kind: 'copy', deps: [] }],
  };
  t.equal(simulate(single, torus, 2 ** 20, { alphaS: alpha, betaSPerByte: beta }).timeS, alpha + 2 ** 20 * beta);
  // Binomial tree: 2 lg n steps of the whole buffer when nothing contends (one switch).
  const D = 2 ** 20;
  t.equal(simulate(buildTree(16), buildTopology({ kind: 'switch' }, 16), D, { alphaS: alpha, betaSPerByte: beta }).timeS, 8 * (alpha + D * beta));
});

t.test('edge cases and inputs', async (t) => {
  const topo = buildTopology({ kind: 'switch' }, 4);
  t.equal(simulate(buildRing(4), topo, 0, { alphaS: alpha, betaSPerByte: beta }).timeS, 6 * alpha, 'zero bytes: latency only');
  t.throws(() => simulate(buildRing(3), topo, 1, { alphaS: alpha, betaSPerByte: beta }), /ranks/);
  t.throws(() => simulate(buildRing(4), topo, -1, { alphaS: alpha, betaSPerByte: beta }), /bytes/);
  t.throws(() => simulate(buildRing(4), topo, 1, { alphaS: -1, betaSPerByte: beta }), /alphaS/);
  t.equal(busbwFactor('allreduce', 8), 1.75);
  t.equal(busbwFactor('allgather', 8), 0.875);
  t.equal(busbwFactor('broadcast', 8), 1);
});

t.test('gather: the root port carries n-1 chunks in one step; barrier: ceil(lg n) alphas', async (t) => {
  for (const n of [1, 2, 3, 4, 5, 8, 16, 33]) {
    const sw = buildTopology({ kind: 'switch' }, n);
    const D = n * 2 ** 20;
    const gather = simulate(buildGather(n, n - 1), sw, D, { alphaS: alpha, betaSPerByte: beta });
    t.equal(gather.timeS, n === 1 ? 0 : alpha + (n - 1) * (D / n) * beta, `gather n=${n}: alpha + (n-1) D/n beta`);
    const rounds = n === 1 ? 0 : Math.ceil(Math.log2(n));
    t.equal(simulate(buildBarrier(n), sw, 0, { alphaS: alpha, betaSPerByte: beta }).timeS, rounds * alpha, `barrier n=${n}: ${rounds} alphas`);
  }
  // The fan-in costs the same whatever the topology's ports: the root has one port here, four on a torus
  // where its four links each carry a share (routes spread the senders), bounded below by (n-1)/4 chunks.
  const torus = buildTopology({ kind: 'torus', dims: [4, 4] }, 16);
  const D = 16 * 2 ** 20;
  const onTorus = simulate(buildGather(16, 0), torus, D, { alphaS: alpha, betaSPerByte: beta }).timeS;
  t.ok(onTorus >= alpha + (15 / 4) * (D / 16) * beta && onTorus <= alpha + 15 * (D / 16) * beta, `torus gather ${onTorus}`);
  t.equal(simulate(buildBarrier(16), torus, 0, { alphaS: alpha, betaSPerByte: beta }).timeS, 4 * alpha, 'torus barrier: 4 alphas');
});

t.test('costLine: the simulated time is affine in the size', async (t) => {
  const params = { alphaS: alpha, betaSPerByte: beta, gammaSPerByte: 2 ** -31 };
  for (const topo of [buildTopology({ kind: 'switch' }, 8), buildTopology({ kind: 'torus', dims: [4, 4] }, 16)]) {
    for (const s of [buildRing(topo.nranks), buildTree(topo.nranks), buildGather(topo.nranks, 0), buildBarrier(topo.nranks)]) {
      const line = costLine(s, topo, params);
      for (const bytes of [0, 1, 4096, 2 ** 26]) {
        t.equal(line.fixedS + line.perByteS * bytes, simulate(s, topo, bytes, params).timeS, `${s.algorithm} on ${topo.kind} at ${bytes} B`);
      }
    }
  }
});
