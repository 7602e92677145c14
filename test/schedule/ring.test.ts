// The ring builder against the one verifier, and the ring's own invariants.
import t from 'tap';
import { buildRing } from '../../lib/schedule/ring.js';
import { verifySchedule } from '../../lib/schedule/verify.js';
import { chunkSpans } from '../../lib/schedule/partition.js';
import type { Schedule, Transfer } from '../../lib/schedule/types.js';

for (const collective of ['allreduce', 'reducescatter', 'allgather'] as const) {
  t.test(`ring ${collective} verifies for 1..17 ranks`, async (t) => {
    for (let n = 1; n <= 17; n++) {
      const s = buildRing(n, collective);
      const v = verifySchedule(s);
      t.ok(v.ok, `n=${n}: ${v.errors.join('; ')}`);
      const perPhase = n - 1;
      t.equal(s.steps, collective === 'allreduce' ? 2 * perPhase : perPhase);
      // Each rank sends exactly one chunk per step: 2(n-1)/n of the buffer for all-reduce.
      for (let r = 0; r < n; r++) t.equal(s.transfers.filter((x) => x.src === r).length, s.steps);
    }
  });
}

t.test('ring reduce-scatter step i: rank r sends chunk (r-1-i) mod n and ends owning chunk r', async (t) => {
  const n = 5;
  const s = buildRing(n, 'reducescatter');
  for (const x of s.transfers) t.equal(x.chunk, (((x.src - 1 - x.step) % n) + n) % n);
  t.same(s.owner, [0, 1, 2, 3, 4]);
});

t.test('chunks partition the buffer, first count % n get one more, empty allowed', async (t) => {
  for (const [count, n] of [[0, 3], [1, 4], [7, 3], [10, 4], [1_000_003, 6]]) {
    const spans = chunkSpans(count, n);
    t.equal(spans.reduce((a, s) => a + s.length, 0), count);
    spans.forEach((s, i) => {
      t.equal(s.offset, i === 0 ? 0 : spans[i - 1].offset + spans[i - 1].length);
      t.ok(s.length === Math.floor(count / n) + (i < count % n ? 1 : 0));
    });
  }
});

function mutate(s: Schedule, f: (ts: Transfer[]) => Transfer[]): Schedule {
  return { ...s, transfers: f(s.transfers.map((x) => ({ ...x, deps: [...x.deps] }))) };
}

t.test('the verifier catches broken schedules', async (t) => {
  const s = buildRing(4, 'allreduce');
  // A reduce sent twice counts a contribution twice.
  const doubled = mutate(s, (ts) => [...ts, { ...ts[0], id: ts.length, step: ts[0].step }]);
  t.notOk(verifySchedule(doubled).ok, 'double count');
  // A missing all-gather transfer leaves a rank without a chunk.
  const dropped = mutate(s, (ts) => ts.filter((x) => x.id !== ts.length - 1));
  t.notOk(verifySchedule(dropped).ok, 'dropped transfer');
  // A dependency removed makes a send race with the reduce it needs.
  const racy = mutate(s, (ts) => ts.map((x) => (x.id === 5 ? { ...x, deps: [] } : x)));
  const v = verifySchedule(racy);
  t.notOk(v.ok, 'race');
  t.match(v.errors.join('\n'), /race/);
  // A dependency on a later step is refused.
  const later = mutate(s, (ts) => ts.map((x) => (x.id === 0 ? { ...x, deps: [ts.length - 1] } : x)));
  t.notOk(verifySchedule(later).ok, 'dependency not earlier');
});
