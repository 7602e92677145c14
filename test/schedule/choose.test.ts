// algorithm 'auto': the simulated-cost choice for small and large messages on a torus and a switch
// (issue 3 #9), checked against the simulator's own numbers for every candidate.
import t from 'tap';
import { buildTopology, describeTopology } from '../../lib/cluster/topology.js';
import { cachedSchedule } from '../../lib/schedule/cache.js';
import { AUTO_MODEL, autoAlgorithm, autoCandidates, chooseAlgorithm, DEFAULT_SIM_PARAMS, SMALL_MESSAGE_BYTES } from '../../lib/schedule/choose.js';
import { simulate } from '../../lib/schedule/simulate.js';

t.test('4x4 torus: tree for small messages, MULTITREE for large', async (t) => {
  const torus = buildTopology({ kind: 'torus', dims: [4, 4] }, 16);
  const small = chooseAlgorithm(torus, 1024);
  t.equal(small.algorithm, 'tree');
  const large = chooseAlgorithm(torus, 64 << 20);
  t.equal(large.algorithm, 'multitree');
  // The choice is the minimum of the simulated times.
  for (const c of large.costs) t.equal(c.timeS, simulate(cachedSchedule(torus, c.algorithm), torus, 64 << 20, DEFAULT_SIM_PARAMS).timeS);
  const ring = large.costs.find((c) => c.algorithm === 'ring')?.timeS as number;
  const mt = large.costs.find((c) => c.algorithm === 'multitree')?.timeS as number;
  t.ok(ring / mt > 2, `MULTITREE more than 2x faster than ring at 64 MB (${(ring / mt).toFixed(2)}x)`);
});

t.test('one-port switch: tree for small messages, ring for large (MULTITREE ties ring there)', async (t) => {
  const sw = buildTopology({ kind: 'switch' }, 16);
  t.equal(chooseAlgorithm(sw, 1024).algorithm, 'tree');
  const large = chooseAlgorithm(sw, 64 << 20);
  t.equal(large.algorithm, 'ring');
  const [ring, mt] = large.costs;
  t.equal(mt.timeS, ring.timeS, 'T = N-1: the same cost, the tie goes to the earlier candidate');
  t.equal(chooseAlgorithm(sw, 64 << 20, ['multitree', 'ring']).algorithm, 'multitree', 'tie goes to the first listed');
});

t.test('hierarchy with one NIC per host: ring for large messages (greedy MULTITREE crowds the NICs)', async (t) => {
  const h = buildTopology({ kind: 'hierarchical', hosts: 4, ranksPerHost: 4 }, 16);
  t.equal(chooseAlgorithm(h, 64 << 20).algorithm, 'ring');
});

t.test('candidates and inputs', async (t) => {
  const torus = buildTopology({ kind: 'torus', dims: [4, 4] }, 16);
  t.equal(chooseAlgorithm(torus, 64 << 20, ['ring', 'tree']).algorithm, 'ring');
  t.throws(() => chooseAlgorithm(torus, 1, []), /no candidate/);
  t.throws(() => chooseAlgorithm(torus, 1, ['magic' as 'ring']), /unknown algorithm/);
  t.equal(chooseAlgorithm(buildTopology({ kind: 'switch' }, 1), 1 << 20).algorithm, 'ring', 'one rank: nothing to move');
});

// autoAlgorithm (the communicator's 'auto') against the unmemoised rule: chooseAlgorithm over the
// candidates of the size (SMALL_MESSAGE_BYTES split) with AUTO_MODEL, over topologies and a sweep of
// sizes: every power of two, the bounds of every power-of-two class (2^(k-1) + 1 and 2^k), and
// random sizes in between.
t.test('autoAlgorithm equals the unmemoised choice at every size swept; a per-class memo would not', async (t) => {
  const topologies = [
    ...[2, 3, 4, 5, 7, 8, 9, 16, 17, 32].map((n) => buildTopology({ kind: 'switch' }, n)),
    buildTopology({ kind: 'torus', dims: [4, 4] }, 16),
    buildTopology({ kind: 'torus', dims: [3, 5] }, 15),
    buildTopology({ kind: 'torus', dims: [4, 4, 2] }, 32),
    buildTopology({ kind: 'mesh', dims: [3, 3] }, 9),
    buildTopology({ kind: 'hierarchical', hosts: 4, ranksPerHost: 4 }, 16),
    buildTopology({ kind: 'hierarchical', hosts: 2, ranksPerHost: 8 }, 16),
  ];
  const random = (() => {
    let a = 12345;
    return (): number => ((a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 4294967296);
  })();
  let checked = 0;
  const classesWithACrossing: string[] = [];
  for (const topo of topologies) {
    const exact = (bytes: number): string => chooseAlgorithm(topo, bytes, autoCandidates(bytes, topo), AUTO_MODEL).algorithm;
    const sizes = new Set<number>([0, 1]);
    for (let k = 1; k <= 32; k++) {
      sizes.add(2 ** k);
      sizes.add(2 ** (k - 1) + 1);
      sizes.add(2 ** (k - 1) + Math.floor(random() * 2 ** (k - 1)));
    }
    for (const bytes of sizes) {
      checked++;
      const want = exact(bytes);
      const got = autoAlgorithm(topo, bytes);
      if (got !== want) t.fail(`${describeTopology(topo)} at ${bytes} B: autoAlgorithm ${got}, chooseAlgorithm ${want}`);
    }
    // Where a memo keyed by the power-of-two class at or above the size would answer wrongly.
    for (let k = 1; k <= 32; k++) {
      if (exact(2 ** (k - 1) + 1) !== exact(2 ** k)) classesWithACrossing.push(`${describeTopology(topo)}: (2^${k - 1}, 2^${k}] ${exact(2 ** (k - 1) + 1)} -> ${exact(2 ** k)}`);
    }
  }
  t.pass(`${checked} (topology, size) pairs agree`);
  t.comment(`power-of-two classes the choice changes inside (a per-class memo would be wrong there):\n${classesWithACrossing.join('\n')}`);
  t.ok(classesWithACrossing.length > 0, 'crossings fall inside classes, so the memo is per topology (cost lines), not per size class');
});

t.test('autoAlgorithm: memoised per (topology, model), the rule and its inputs', async (t) => {
  const sw = buildTopology({ kind: 'switch' }, 8);
  t.equal(SMALL_MESSAGE_BYTES, 64 * 1024);
  t.same(autoCandidates(SMALL_MESSAGE_BYTES), ['recursive-doubling', 'tree', 'multitree']);
  t.same(autoCandidates(SMALL_MESSAGE_BYTES + 1), ['ring', 'multitree', 'tree']);
  t.equal(autoAlgorithm(sw, 4096), 'recursive-doubling', 'small: recursive doubling on 8 ranks');
  t.equal(autoAlgorithm(sw, 64 << 20), 'ring', 'large: ring on a one-port switch');
  t.equal(autoAlgorithm(buildTopology({ kind: 'switch' }, 1), 1 << 20), 'ring', 'one rank: the first candidate');
  // Another model is another memo entry: with free latency the small-message choice follows bandwidth.
  const noLatency = { alphaS: 0, betaSPerByte: 1e-9, gammaSPerByte: 0 };
  t.equal(autoAlgorithm(sw, 4096, noLatency), chooseAlgorithm(sw, 4096, autoCandidates(4096), noLatency).algorithm);
  // Cheap per call: no simulation after the first (a 1024-rank ring costs milliseconds to simulate).
  const big = buildTopology({ kind: 'switch' }, 256);
  autoAlgorithm(big, 1 << 20);
  const t0 = performance.now();
  for (let i = 0; i < 10_000; i++) autoAlgorithm(big, (i + 1) * 997);
  const perCallUs = ((performance.now() - t0) / 10_000) * 1000;
  t.ok(perCallUs < 200, `${perCallUs.toFixed(2)} us per call`);
  t.throws(() => autoAlgorithm(sw, -1), /bytes must be a finite number >= 0/);
  t.throws(() => autoAlgorithm(sw, Number.NaN), /bytes must be a finite number >= 0/);
});
