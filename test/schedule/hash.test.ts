// Schedule hashes: identical across separate node processes (every rank builds its own schedule and
// they compare hashes at rendezvous), sensitive to any change; and the schedule cache's keys.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildTopology } from '../../lib/cluster/topology.js';
import { cachedSchedule, clearScheduleCache, scheduleCacheKey, scheduleCacheSize } from '../../lib/schedule/cache.js';
import { scheduleHash } from '../../lib/schedule/hash.js';
import { buildMultitree } from '../../lib/schedule/multitree.js';
import { buildRing } from '../../lib/schedule/ring.js';

const libUrl = (p: string): string => new URL(`../../lib/${p}`, import.meta.url).href;

/** Builds the schedule in a fresh node process and prints its hash. */
function hashInChild(spec: string, n: number, env: Record<string, string>): string {
  const script = `
    const { buildTopology } = await import(${JSON.stringify(libUrl('cluster/topology.js'))});
    const { buildMultitree } = await import(${JSON.stringify(libUrl('schedule/multitree.js'))});
    const { scheduleHash } = await import(${JSON.stringify(libUrl('schedule/hash.js'))});
    process.stdout.write(scheduleHash(buildMultitree(buildTopology(JSON.parse(${JSON.stringify(spec)}), ${n}))));`;
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' }).trim();
}

t.test('two separate node processes building the same topology get the same hash', async (t) => {
  const local = scheduleHash(buildMultitree(buildTopology({ kind: 'torus', dims: [4, 4] }, 16)));
  t.match(local, /^[0-9a-f]{64}$/);
  // Different key order in the spec, different locale and time zone, a different heap size.
  const a = hashInChild('{"kind":"torus","dims":[4,4]}', 16, { TZ: 'UTC', LANG: 'C' });
  const b = hashInChild('{"dims":[4,4],"ports":4,"kind":"torus"}', 16, { TZ: 'Asia/Kolkata', LANG: 'tr_TR.UTF-8', NODE_OPTIONS: '--max-old-space-size=256' });
  t.equal(a, local);
  t.equal(b, local);
  t.not(hashInChild('{"kind":"mesh","dims":[4,4]}', 16, {}), local, 'another topology, another hash');
});

t.test('any change to a schedule changes its hash', async (t) => {
  const s = buildRing(5);
  const h = scheduleHash(s);
  t.equal(scheduleHash(buildRing(5)), h, 'deterministic');
  const variants = [
    { ...s, algorithm: 'ring2' },
    { ...s, transfers: s.transfers.map((x, i) => (i === 7 ? { ...x, step: x.step + 1 } : x)) },
    { ...s, transfers: s.transfers.map((x, i) => (i === 7 ? { ...x, deps: [] } : x)) },
    { ...s, transfers: s.transfers.map((x, i) => (i === 7 ? { ...x, kind: 'copy' as const } : x)) },
    { ...s, transfers: s.transfers.map((x, i) => (i === 7 ? { ...x, path: [0] } : x)) },
    { ...s, transfers: s.transfers.slice(0, -1) },
  ];
  for (const v of variants) t.not(scheduleHash(v), h);
});

t.test('cache: keyed by (topology hash, algorithm, rule), equal topologies share entries', async (t) => {
  clearScheduleCache();
  const a = buildTopology({ kind: 'torus', dims: [4, 4] }, 16);
  const b = buildTopology({ kind: 'torus', dims: [4, 4], ports: 4 }, 16);
  const s1 = cachedSchedule(a, 'multitree');
  t.equal(cachedSchedule(b, 'multitree'), s1, 'same model, same cached object');
  t.equal(scheduleCacheSize(), 1);
  const clean = cachedSchedule(a, 'multitree', { rule: 'clean' });
  t.not(clean, s1);
  t.not(scheduleCacheKey(a, 'multitree', { rule: 'clean' }), scheduleCacheKey(a, 'multitree'));
  t.equal(scheduleCacheKey(a, 'ring', { rule: 'clean' }), scheduleCacheKey(a, 'ring'), 'rule only matters for multitree');
  t.equal(scheduleHash(s1), scheduleHash(buildMultitree(a)), 'cached schedule is the built one');
  cachedSchedule(a, 'ring');
  cachedSchedule(a, 'tree');
  t.equal(scheduleCacheSize(), 4);
  t.throws(() => cachedSchedule(a, 'magic' as 'ring'), /unknown schedule algorithm/);
  clearScheduleCache();
  t.equal(scheduleCacheSize(), 0);
  t.ok(fileURLToPath(libUrl('schedule/hash.js')).endsWith('hash.js'));
});
