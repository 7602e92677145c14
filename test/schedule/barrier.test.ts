// Dissemination barrier: verified (every rank hears, transitively through deps, from every rank)
// for n = 1..33, link-checked on a one-port switch; removing a round, or depending only on the
// previous round's message, fails verification with a message naming the rank and whom it missed.
import t from 'tap';
import { buildTopology } from '../../lib/cluster/topology.js';
import { buildBarrier } from '../../lib/schedule/barrier.js';
import { verifySchedule } from '../../lib/schedule/verify.js';
import { verifyLinks } from '../../lib/schedule/verify-links.js';
import type { Schedule } from '../../lib/schedule/types.js';

const rounds = (n: number): number => (n === 1 ? 0 : Math.ceil(Math.log2(n)));

t.test('every barrier verifies, n = 1..33: ceil(lg n) rounds, one message out of and into each rank per round', async (t) => {
  for (let n = 1; n <= 33; n++) {
    const s = buildBarrier(n);
    const v = verifySchedule(s);
    if (!v.ok) t.fail(`n=${n}: ${v.errors.join('; ')}`);
    t.equal(s.steps, rounds(n), `n=${n}: ${rounds(n)} rounds`);
    t.equal(s.transfers.length, n * rounds(n));
    t.ok(s.transfers.every((x) => x.dst === (x.src + (1 << x.step)) % n && x.chunk === 0 && x.deps.length === x.step), `n=${n}: i -> i + 2^k, after every earlier round's message`);
    const links = verifyLinks(s, buildTopology({ kind: 'switch' }, n));
    t.ok(links.ok, `n=${n}: fits a one-port switch ${links.errors.join('; ')}`);
  }
});

t.test('a barrier with one round removed fails verification, naming who did not hear from whom', async (t) => {
  for (let n = 2; n <= 33; n++) {
    for (let gone = 0; gone < rounds(n); gone++) {
      const s = buildBarrier(n);
      // Drop round `gone`, renumber ids and deps, shift later rounds down a step.
      const kept = s.transfers.filter((x) => x.step !== gone);
      const newId = new Map(kept.map((x, i) => [x.id, i]));
      const broken: Schedule = {
        ...s,
        steps: s.steps - 1,
        transfers: kept.map((x, i) => ({ ...x, id: i, step: x.step > gone ? x.step - 1 : x.step, deps: x.deps.filter((d) => newId.has(d)).map((d) => newId.get(d)!) })),
      };
      const v = verifySchedule(broken);
      t.notOk(v.ok, `n=${n} without round ${gone}`);
      t.match(v.errors[0], /^barrier: rank \d+ completes without having heard \(directly or through its senders' deps\) from ranks? \d+/, `n=${n} without round ${gone}: ${v.errors[0]}`);
    }
  }
});

t.test('depending on the previous round only is not enough: messages carry only what their deps brought', async (t) => {
  const failing: number[] = [];
  for (let n = 2; n <= 33; n++) {
    const s = buildBarrier(n);
    const lastOnly: Schedule = { ...s, transfers: s.transfers.map((x) => ({ ...x, deps: x.deps.slice(-1) })) };
    if (!verifySchedule(lastOnly).ok) failing.push(n);
  }
  // With the round k-1 message alone, a round-k message carries k+1 ranks, not 2^k: every rank
  // hears 1 + R(R+1)/2 ranks at most, fewer than n from n = 8 on (and at some smaller n by overlap).
  t.ok([8, 16, 17, 32, 33].every((n) => failing.includes(n)), `fails at ${failing.join(', ')}`);
});

t.test('a barrier is checked for structure like any schedule (acyclic deps)', async (t) => {
  const s = buildBarrier(4);
  const cyclic: Schedule = { ...s, transfers: s.transfers.map((x) => (x.step === 0 && x.src === 1 ? { ...x, deps: [5] } : x)) };
  t.match(verifySchedule(cyclic).errors.join('\n'), /is not at an earlier step/);
  t.throws(() => buildBarrier(0), /nranks must be a positive integer/);
});
