// The one schedule cache: every collective's schedule by (collective, algorithm, root), keyed by what
// its builder reads (topology hash for placed ring and MULTITREE, the number of ranks otherwise),
// equal to a fresh build, validated, and bounded by transfers so O(n) schedules keyed by root do
// not push out an expensive MULTITREE.
import t from 'tap';
import { buildTopology } from '../../lib/cluster/topology.js';
import { buildBarrier } from '../../lib/schedule/barrier.js';
import { buildBroadcast } from '../../lib/schedule/broadcast.js';
import { buildSchedule, cachedSchedule, clearScheduleCache, scheduleCacheKey, scheduleCacheSize, type ScheduleSpec } from '../../lib/schedule/cache.js';
import { buildGather } from '../../lib/schedule/gather.js';
import { scheduleHash } from '../../lib/schedule/hash.js';
import { buildRing } from '../../lib/schedule/ring.js';
import { verifySchedule } from '../../lib/schedule/verify.js';

t.test('every collective is served, equal to its builder, and verifies', async (t) => {
  clearScheduleCache();
  const topo = buildTopology({ kind: 'torus', dims: [2, 3] }, 6);
  const specs: Array<[ScheduleSpec, string]> = [
    [{ collective: 'reducescatter' }, scheduleHash(buildRing(6, 'reducescatter'))],
    [{ collective: 'allgather' }, scheduleHash(buildRing(6, 'allgather'))],
    [{ collective: 'broadcast', algorithm: 'chain', root: 2 }, scheduleHash(buildBroadcast(6, 2, 'chain'))],
    [{ collective: 'broadcast', algorithm: 'binomial', root: 2 }, scheduleHash(buildBroadcast(6, 2, 'binomial'))],
    [{ collective: 'broadcast', algorithm: 'flat', root: 5 }, scheduleHash(buildBroadcast(6, 5, 'flat'))],
    [{ collective: 'gather', root: 3 }, scheduleHash(buildGather(6, 3))],
    [{ collective: 'barrier' }, scheduleHash(buildBarrier(6))],
  ];
  for (const [spec, hash] of specs) {
    const s = cachedSchedule(topo, spec);
    t.equal(scheduleHash(s), hash, `${JSON.stringify(spec)} is the built schedule`);
    t.equal(cachedSchedule(topo, spec), s, `${JSON.stringify(spec)}: the same object the second time`);
    t.ok(verifySchedule(s).ok);
  }
  t.equal(scheduleCacheSize(), specs.length);
  // The all-reduce spelling and the spec spelling are one entry.
  t.equal(cachedSchedule(topo, { collective: 'allreduce', algorithm: 'multitree' }), cachedSchedule(topo, 'multitree'));
  t.equal(cachedSchedule(topo, { collective: 'allreduce', algorithm: 'multitree', rule: 'clean' }), cachedSchedule(topo, 'multitree', { rule: 'clean' }));
  t.equal(scheduleHash(buildSchedule(topo, { collective: 'gather', root: 3 })), scheduleHash(buildGather(6, 3)));
});

t.test('keys: rank-only builders are shared across topologies of one size; topology-aware ones are not', async (t) => {
  clearScheduleCache();
  const sw = buildTopology({ kind: 'switch' }, 16);
  const torus = buildTopology({ kind: 'torus', dims: [4, 4] }, 16);
  for (const spec of [{ collective: 'barrier' }, { collective: 'gather', root: 0 }, { collective: 'broadcast', algorithm: 'binomial', root: 0 }, { collective: 'allgather' }, { collective: 'allreduce', algorithm: 'tree' }] as const) {
    t.equal(cachedSchedule(sw, spec), cachedSchedule(torus, spec), `${JSON.stringify(spec)}: one entry for every 16-rank topology`);
  }
  t.not(scheduleCacheKey(sw, 'ring'), scheduleCacheKey(torus, 'ring'), 'the placed ring follows the topology');
  t.not(scheduleCacheKey(sw, 'multitree'), scheduleCacheKey(torus, 'multitree'));
  t.not(scheduleCacheKey(sw, { collective: 'gather', root: 0 }), scheduleCacheKey(sw, { collective: 'gather', root: 1 }), 'by root');
  t.not(scheduleCacheKey(sw, { collective: 'broadcast', algorithm: 'chain', root: 0 }), scheduleCacheKey(sw, { collective: 'broadcast', algorithm: 'flat', root: 0 }), 'by algorithm');
  t.not(scheduleCacheKey(sw, { collective: 'reducescatter' }), scheduleCacheKey(sw, { collective: 'allgather' }));
});

t.test('argument errors', async (t) => {
  const sw = buildTopology({ kind: 'switch' }, 4);
  t.throws(() => cachedSchedule(sw, { collective: 'gather', root: 4 }), /gather: root must be a rank in 0..3, got 4/);
  t.throws(() => cachedSchedule(sw, { collective: 'broadcast', algorithm: 'chain', root: -1 }), /root must be a rank/);
  t.throws(() => cachedSchedule(sw, { collective: 'broadcast', algorithm: 'star' as 'chain', root: 0 }), /unknown broadcast algorithm "star"/);
  t.throws(() => cachedSchedule(sw, { collective: 'scatter' } as unknown as ScheduleSpec), /unknown collective "scatter"/);
  t.throws(() => cachedSchedule(sw, { collective: 'allreduce', algorithm: 'magic' as 'ring' }), /unknown schedule algorithm/);
});

t.test('bounded by transfers: many small rooted schedules do not evict a large one in use', async (t) => {
  clearScheduleCache();
  const topo = buildTopology({ kind: 'torus', dims: [8, 8] }, 64);
  const mt = cachedSchedule(topo, 'multitree');
  for (let round = 0; round < 3; round++) {
    for (let root = 0; root < 64; root++) {
      cachedSchedule(topo, { collective: 'broadcast', algorithm: 'binomial', root });
      cachedSchedule(topo, { collective: 'gather', root });
    }
    t.equal(cachedSchedule(topo, 'multitree'), mt, `round ${round}: MULTITREE still cached after 128 rooted schedules`);
  }
  t.ok(scheduleCacheSize() <= 256);
  clearScheduleCache();
  t.equal(scheduleCacheSize(), 0);
});
