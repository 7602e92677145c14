// 'signum' and 'robust' (BGMD) train the MNIST MLP of examples/mnist.ts on 4 ranks to a stated test
// accuracy on a small subset: 1,200 training digits (300 per rank), batch 16 per rank, 3 epochs
// (54 steps), 500 test digits. Chance is 0.10; the stated bar is 0.70. Both runs share one world.
import t from 'tap';
import { runRanks } from '../helpers/ranks.js';

const BAR = 0.7;

interface Row {
  strategy: string;
  accuracy: number;
  weightsHash: string;
}

t.test(`signum and robust reach ${BAR} test accuracy`, async (t) => {
  const runs = ['signum', 'robust'];
  const outs = await runRanks(4, { script: 'test/train/train-worker.js', args: ['accuracy', '3', '1200', ...runs] });
  for (const o of outs) t.equal(o.code, 0, `rank ${o.rank} exits 0${o.code === 0 ? '' : `: ${o.stderr.slice(-2000)}`}`);
  runs.forEach((strategy, i) => {
    const rows = outs.map((o) => o.results[i] as Row | undefined);
    if (!rows.every((r): r is Row => r !== undefined && r.strategy === strategy)) return t.fail(`${strategy}: every rank reported its result`);
    t.equal(new Set(rows.map((r) => r.weightsHash)).size, 1, `${strategy}: every rank ends with bitwise the same weights`);
    t.ok(rows[0].accuracy >= BAR, `${strategy}: test accuracy ${rows[0].accuracy} >= ${BAR}`);
  });
});
