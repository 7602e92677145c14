// Every all-reduce builder (ring, binomial tree, MULTITREE, recursive doubling) executed on real rank processes, 1 to 9
// ranks: int32 bit-exact against the serial sum, random float32 bitwise identical on every rank.
import t from 'tap';
import { runRanks } from '../helpers/ranks.js';
import { SCHEDULE_ALGORITHMS } from '../../lib/schedule/cache.js';

interface Row {
  kind: string;
  algorithm: string;
  count: number;
  wrong: number;
  hash: string;
}

for (let n = 1; n <= 9; n++) {
  t.test(`${n} ranks: ${SCHEDULE_ALGORITHMS.join(', ')} all-reduce`, async (t) => {
    const outs = await runRanks(n, { script: 'test/fixtures/collective-worker.js', args: ['algorithms'] });
    for (const o of outs) {
      t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.code === 0 ? '' : o.stderr.slice(-1500) + o.stdout.slice(-500)}`);
      const rows = o.results as Row[];
      t.equal(rows.length, SCHEDULE_ALGORITHMS.length * new Set([0, 1, Math.max(0, n - 1), n + 1, 1_000_003]).size, `rank ${o.rank} ran every case`);
      t.same(rows.filter((r) => r.wrong !== 0), [], `rank ${o.rank}: results equal the serial reference`);
    }
    const hashes = (o: (typeof outs)[number]): string[] => (o.results as Row[]).map((r) => `${r.algorithm}/${r.count}:${r.hash}`);
    for (const o of outs.slice(1)) t.same(hashes(o), hashes(outs[0]), `rank ${o.rank} is bitwise identical to rank 0`);
  });
}
