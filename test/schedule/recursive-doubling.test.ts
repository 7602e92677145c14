// Recursive-doubling all-reduce: correct for every rank count (verify.ts), lg p exchanges plus a
// fold-in and a fold-out step when n is not a power of two, one send and one receive per rank per
// step; and the verifier refuses it without its snapshot sends (the exchange would race).
import t from 'tap';
import { buildRecursiveDoubling } from '../../lib/schedule/recursive-doubling.js';
import { buildTree } from '../../lib/schedule/tree.js';
import { verifySchedule } from '../../lib/schedule/verify.js';
import { simulate } from '../../lib/schedule/simulate.js';
import { buildTopology } from '../../lib/cluster/topology.js';
import type { Schedule } from '../../lib/schedule/types.js';

t.test('verifies, with lg p (+2) steps, for 1..33 ranks', async (t) => {
  for (let n = 1; n <= 33; n++) {
    const s = buildRecursiveDoubling(n);
    const v = verifySchedule(s);
    t.ok(v.ok, `n=${n}: ${v.errors.join('; ')}`);
    const lg = Math.floor(Math.log2(n));
    const pow2 = 2 ** lg === n;
    t.equal(s.steps, lg + (pow2 ? 0 : 2), `n=${n}: steps`);
    t.equal(s.transfers.length, 2 ** lg * lg + 2 * (n - 2 ** lg), `n=${n}: p lg p exchanges and 2 per extra rank`);
    for (let step = 0; step < s.steps; step++) {
      const here = s.transfers.filter((x) => x.step === step);
      t.equal(new Set(here.map((x) => x.src)).size, here.length, `n=${n} step ${step}: one send per rank`);
      t.equal(new Set(here.map((x) => x.dst)).size, here.length, `n=${n} step ${step}: one receive per rank`);
    }
  }
  t.throws(() => buildRecursiveDoubling(0), /nranks/);
});

t.test('the verifier refuses the exchange without snapshots, or with a snapshot that may miss a write', async (t) => {
  for (const n of [2, 4, 6, 8]) {
    const s = buildRecursiveDoubling(n);
    const noSnapshot: Schedule = { ...s, transfers: s.transfers.map((x) => ({ ...x, snapshot: false })) };
    const v = verifySchedule(noSnapshot);
    t.notOk(v.ok, `n=${n}: plain sends race with the partner's reduce`);
    t.match(v.errors.join('\n'), /race/);
  }
  // A snapshot send whose step is after a concurrent write it does not depend on: the symbolic
  // execution would include that write, the executor might not. Move rank 0's last exchange send
  // one step later, as a snapshot without the dependency on the write that lands in between.
  const s = buildRecursiveDoubling(4);
  const last = s.transfers.filter((x) => x.src === 0).at(-1)!;
  const bad: Schedule = {
    ...s,
    steps: s.steps + 1,
    transfers: s.transfers.map((x) => (x.id === last.id ? { ...x, step: s.steps, deps: x.deps.slice(0, 1) } : x)),
  };
  t.notOk(verifySchedule(bad).ok, 'a snapshot must depend on every earlier write into its chunk');
});

t.test('costs half the steps of the binomial tree for a power of two', async (t) => {
  for (const n of [2, 4, 8, 16]) {
    const topo = buildTopology(undefined, n);
    const params = { alphaS: 100e-6, betaSPerByte: 1e-9 };
    const rd = simulate(buildRecursiveDoubling(n), topo, 4096, params).timeS;
    const tree = simulate(buildTree(n), topo, 4096, params).timeS;
    t.ok(rd < 0.6 * tree, `n=${n}: recursive doubling ${rd * 1e6} us vs tree ${tree * 1e6} us`);
  }
});
