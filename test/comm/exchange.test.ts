// Direct exchange (never relayed): a rank that sends a wrong-length vector invalidates only its
// own entry, on every honest rank, in the all-to-all and the rooted form; the others' data is exact.
import t from 'tap';
import { runRanks } from '../helpers/ranks.js';

t.test('exchangeDirect tolerates a broken rank', async (t) => {
  const outs = await runRanks(4, { script: 'test/fixtures/collective-worker.js', args: ['exchange'] });
  for (const o of outs) {
    t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.stderr.slice(-1000)}`);
    if (o.rank === 1) continue; // the broken rank's own view does not matter
    const [all, rooted] = o.results as Array<{ root: number; summary: string[] }>;
    t.same(all.summary, ['ok', 'error:EMISMATCH', 'ok', 'ok'].map((v, r) => (r === o.rank ? 'ok' : v)), `rank ${o.rank}: all-to-all entries`);
    const expectRooted = o.rank === 0 ? ['ok', 'error:EMISMATCH', 'ok', 'ok'] : ['null', 'null', 'null', 'null'].map((v, r) => (r === o.rank ? 'ok' : v));
    t.same(rooted.summary, expectRooted, `rank ${o.rank}: rooted entries`);
  }
});
