// Broadcast schedules: every builder verifies for every root and world size, and 'flat' relays
// nothing (every transfer leaves the root, none depends on another: one step), so a rank receives the
// root's own bytes or nothing, which 'binomial' and 'chain' do not promise.
import t from 'tap';
import { buildBroadcast, BROADCAST_ALGORITHMS } from '../../lib/schedule/broadcast.js';
import { verifySchedule } from '../../lib/schedule/verify.js';

t.test('every broadcast schedule verifies', async (t) => {
  for (const algorithm of BROADCAST_ALGORITHMS) {
    for (let n = 1; n <= 9; n++) {
      for (let root = 0; root < n; root++) {
        const s = buildBroadcast(n, root, algorithm);
        const v = verifySchedule(s);
        t.ok(v.ok, `${algorithm} n=${n} root=${root} verifies ${v.ok ? "" : v.errors.join("; ")}`);
        t.equal(s.transfers.length, n - 1, `${algorithm} n=${n} root=${root}: one transfer per other rank`);
      }
    }
  }
});

t.test('flat: straight from the root, one step, root+1 first', async (t) => {
  for (let n = 2; n <= 9; n++) {
    for (let root = 0; root < n; root++) {
      const s = buildBroadcast(n, root, 'flat');
      t.ok(s.transfers.every((x) => x.src === root && x.deps.length === 0 && x.step === 0), `n=${n} root=${root}: no relays`);
      t.same(s.transfers.map((x) => x.dst), Array.from({ length: n - 1 }, (_, k) => (root + 1 + k) % n), `n=${n} root=${root}: every other rank, from root+1 on`);
      t.equal(s.steps, 1);
    }
  }
  // The relaying schedules do forward: at n = 4 some rank receives from a rank that is not the root.
  for (const algorithm of ['binomial', 'chain'] as const) {
    t.ok(buildBroadcast(4, 0, algorithm).transfers.some((x) => x.src !== 0), `${algorithm} relays`);
  }
});
