// examples/mnist.ts, run as a user runs it (2 real rank processes, the CLI flags of the README), must
// learn: test accuracy does not fall from epoch 1 to epoch 2 and ends above a floor far from chance
// (0.10). Before the defaults of learning rate per world size and per-epoch shuffling of the whole
// set this command went 0.893 -> 0.784.
import t from 'tap';
import { runRanks } from '../helpers/ranks.js';

const FLOOR = 0.85;

t.test('mnist example on 2 ranks improves from epoch 1 to 2', async (t) => {
  const args = ['--strategy', 'allreduce', '--epochs', '2', '--train', '4000', '--test', '1000'];
  const outs = await runRanks(2, { script: 'examples/mnist.js', args, killAfterMs: 110_000 });
  for (const o of outs) t.equal(o.code, 0, `rank ${o.rank} exits 0${o.code === 0 ? '' : `: ${o.stderr.slice(-2000)}`}`);
  const lines = outs[0].stdout.split('\n');
  const acc = lines.map((l) => /^epoch (\d+)\/2 .*test_accuracy=([0-9.]+)/.exec(l)).filter((m) => m !== null).map((m) => Number(m[2]));
  t.equal(acc.length, 2, `rank 0 reports two epochs:\n${outs[0].stdout}`);
  if (acc.length !== 2) return;
  t.ok(acc[1] >= acc[0], `accuracy does not fall: epoch 1 ${acc[0]}, epoch 2 ${acc[1]}`);
  t.ok(acc[1] >= FLOOR, `epoch 2 accuracy ${acc[1]} >= ${FLOOR}`);
  const final = lines.find((l) => l.startsWith('accuracy='));
  t.equal(Number(final?.slice('accuracy='.length)), acc[1], 'the final accuracy line is the last epoch');
});
