// algorithm 'auto': the simulated-cost choice for small and large messages on a torus and a switch
// (issue 3 #9), checked against the simulator's own numbers for every candidate.
import t from 'tap';
import { buildTopology } from '../../lib/cluster/topology.js';
import { cachedSchedule } from '../../lib/schedule/cache.js';
import { chooseAlgorithm, DEFAULT_SIM_PARAMS } from '../../lib/schedule/choose.js';
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
