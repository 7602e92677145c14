// Binomial-tree all-reduce: correct for every rank count (verify.ts), 2*ceil(lg n) steps, at most
// one send and one receive per rank per step (fits one-port networks).
import t from 'tap';
import { buildTree } from '../../lib/schedule/tree.js';
import { verifySchedule } from '../../lib/schedule/verify.js';

t.test('verifies and has 2*ceil(lg n) steps for 1..33 ranks and any root', async (t) => {
  for (let n = 1; n <= 33; n++) {
    for (const root of n > 2 ? [0, n - 1, Math.floor(n / 2)] : [0]) {
      const s = buildTree(n, { root });
      const v = verifySchedule(s);
      t.ok(v.ok, `n=${n} root=${root}: ${v.errors.join('; ')}`);
      t.equal(s.steps, 2 * Math.ceil(Math.log2(n)));
      t.equal(s.transfers.length, 2 * (n - 1), 'n-1 reduces and n-1 copies');
      for (let step = 0; step < s.steps; step++) {
        const here = s.transfers.filter((x) => x.step === step);
        t.equal(new Set(here.map((x) => x.src)).size, here.length, 'one send per rank per step');
        t.equal(new Set(here.map((x) => x.dst)).size, here.length, 'one receive per rank per step');
      }
      if (n > 1) t.ok(s.transfers.filter((x) => x.kind === 'reduce' && x.step === s.steps / 2 - 1).every((x) => x.dst === root), 'the last reduce lands at the root');
    }
  }
});

t.test('bad arguments', async (t) => {
  t.throws(() => buildTree(0), /nranks/);
  t.throws(() => buildTree(4, { root: 4 }), /root/);
});
