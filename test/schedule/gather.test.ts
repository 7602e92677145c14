// Gather schedules: verified for every world size 1..33 and every root (the root ends with chunk c
// holding exactly rank c's data), one step, no relays; a gather with one transfer sent to the wrong
// rank fails verification naming the root and the missing chunk; the root's port is the bottleneck.
import t from 'tap';
import { buildTopology } from '../../lib/cluster/topology.js';
import { buildGather } from '../../lib/schedule/gather.js';
import { verifySchedule } from '../../lib/schedule/verify.js';
import { verifyLinks } from '../../lib/schedule/verify-links.js';
import type { Schedule } from '../../lib/schedule/types.js';

t.test('every gather schedule verifies, n = 1..33, every root', async (t) => {
  for (let n = 1; n <= 33; n++) {
    for (let root = 0; root < n; root++) {
      const s = buildGather(n, root);
      const v = verifySchedule(s);
      if (!v.ok) t.fail(`n=${n} root=${root}: ${v.errors.join('; ')}`);
      if (s.transfers.length !== n - 1 || s.nchunks !== n || s.steps !== (n > 1 ? 1 : 0)) t.fail(`n=${n} root=${root}: shape`);
      if (!s.transfers.every((x) => x.dst === root && x.chunk === x.src && x.kind === 'copy' && x.deps.length === 0)) t.fail(`n=${n} root=${root}: not a flat fan-in of own chunks`);
      const order = s.transfers.map((x) => x.src);
      if (n > 1 && order[0] !== (root + 1) % n) t.fail(`n=${n} root=${root}: the root hears from root+1 first`);
    }
  }
  t.pass('n = 1..33 verified');
});

t.test('a broken gather fails verification with a clear message', async (t) => {
  for (let n = 3; n <= 33; n++) {
    const root = n % 3;
    const s = buildGather(n, root);
    const victim = s.transfers[Math.floor(s.transfers.length / 2)];
    const wrongDst = victim.src === (root + 1) % n ? (root + 2) % n : (root + 1) % n;
    const broken: Schedule = { ...s, transfers: s.transfers.map((x) => (x.id === victim.id ? { ...x, dst: wrongDst } : x)) };
    const v = verifySchedule(broken);
    t.notOk(v.ok, `n=${n}: chunk ${victim.chunk} sent to rank ${wrongDst} instead of the root`);
    t.match(v.errors.join('\n'), new RegExp(`rank ${root} ends with chunk ${victim.chunk} not rank ${victim.chunk}'s data \\(gather root\\)`), `n=${n}: names the root and the missing chunk`);
  }
  // Wrong origin, a missing root: refused with what is missing.
  const s = buildGather(4, 1);
  t.match(verifySchedule({ ...s, root: undefined }).errors.join('\n'), /gather schedule without a valid root/);
  t.match(verifySchedule({ ...s, origin: [0, 1] }).errors.join('\n'), /gather schedule without an origin per chunk/);
  // A rank sending a chunk it does not hold (rank 2 sends the root's own chunk 1).
  const relay: Schedule = { ...s, transfers: s.transfers.map((x, i) => (i === 0 ? { ...x, chunk: 1 } : x)) };
  t.match(verifySchedule(relay).errors.join('\n'), /rank 2 sends chunk 1 before holding any data of it/);
});

t.test('links: the senders never contend; the root port is over a one-port budget by design', async (t) => {
  for (const n of [2, 5, 16]) {
    const v = verifyLinks(buildGather(n, 0), buildTopology({ kind: 'switch' }, n));
    if (n === 2) t.ok(v.ok, 'n=2: one transfer');
    else t.match(v.errors.join('\n'), new RegExp(`rank 0 receives ${n - 1} transfers, over its budget of 1`), `n=${n}: the fan-in is at the root`);
    t.notMatch(v.errors.join('\n'), /sends/, `n=${n}: no rank sends twice`);
  }
});

t.test('argument errors', async (t) => {
  t.throws(() => buildGather(0, 0), /nranks must be a positive integer/);
  t.throws(() => buildGather(4, 4), /root must be a rank in 0..3, got 4/);
  t.throws(() => buildGather(4, -1), /root must be a rank/);
});
