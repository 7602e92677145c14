// Broadcast schedules: every builder verifies for every root and world size, and 'flat' relays
// nothing (every transfer leaves the root, none depends on another: one step), so a rank receives the
// root's own bytes or nothing, which 'binomial' and 'chain' do not promise.
import t from 'tap';
import { buildBroadcast, BROADCAST_ALGORITHMS, chainOrder } from '../../lib/schedule/broadcast.js';
import { prng } from '../helpers/prng.js';
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

t.test('chain given the hosts: verifies, crosses H-1 host links once each, the rank order where that already does', async (t) => {
  const random = prng(77);
  const placements: number[][] = [[0, 0, 1, 1], [0, 0, 0, 1, 1, 1], [0, 1, 0, 0], [0, 1, 2, 3], [0, 0, 0, 0], [0, 0, 1, 1, 2, 2, 2]];
  for (let i = 0; i < 30; i++) {
    const n = 2 + Math.floor(random() * 8);
    placements.push(Array.from({ length: n }, () => Math.floor(random() * 3)));
  }
  for (const hostOf of placements) {
    const n = hostOf.length;
    const H = new Set(hostOf).size;
    for (let root = 0; root < n; root++) {
      const s = buildBroadcast(n, root, 'chain', hostOf);
      const v = verifySchedule(s);
      t.ok(v.ok, `hosts ${hostOf.join(',')} root ${root}: ${v.errors.join('; ')}`);
      const crossing = s.transfers.filter((x) => hostOf[x.src] !== hostOf[x.dst]);
      t.equal(crossing.length, H - 1, `hosts ${hostOf.join(',')} root ${root}: ${crossing.length} transfers cross hosts`);
      t.notOk(crossing.some((x) => hostOf[x.dst] === hostOf[root]), `hosts ${hostOf.join(',')} root ${root}: nothing goes back into the root's host`);
    }
  }
  // Hosts numbered together with the root first on its host, one host, one rank per host: the rank order.
  for (const [hostOf, root] of [[[0, 0, 1, 1], 0], [[0, 0, 1, 1], 2], [[0, 0, 0, 0], 3], [[0, 1, 2, 3], 1]] as Array<[number[], number]>) {
    t.same(chainOrder(hostOf.length, root, hostOf), chainOrder(hostOf.length, root), `hosts ${hostOf.join(',')} root ${root}: the rank order`);
  }
  // 2 hosts x 2 from root 1: the rank order 1->2->3->0 crosses twice (D back into the root's host); by host once.
  t.same(chainOrder(4, 1, [0, 0, 1, 1]), [1, 0, 2, 3]);
  t.equal(buildBroadcast(4, 1, 'chain').transfers.filter((x) => (x.src < 2) !== (x.dst < 2)).length, 2);
});
