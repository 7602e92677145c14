// No tensor leaks: 200 steps of every strategy on raw tf.Variables (2 ranks) keep
// tf.memory().numTensors flat after the first steps (the optimizer's slots appear at step 1), the
// loss still goes down, and the caller's inputs, gradients and variables are never disposed.
import t from 'tap';
import { runRanks } from '../helpers/ranks.js';

interface Row {
  kind: string;
  strategy: string;
  afterWarmup: number;
  atEnd: number;
  max: number;
  min: number;
  steps: number;
  firstLoss: number;
  lastLoss: number;
  gradsKept: boolean;
  inputsKept: boolean;
  applyDelta: number;
  applyRefused: boolean;
}

t.test('200 steps per strategy: tensor count flat, inputs kept', async (t) => {
  const outs = await runRanks(2, { script: 'test/train/train-worker.js', args: ['memory', '200'] });
  for (const o of outs) {
    t.equal(o.code, 0, `rank ${o.rank} exits 0${o.code === 0 ? '' : `: ${o.stderr.slice(-2000)}`}`);
    const rows = o.results as Row[];
    t.same(rows.map((r) => r.strategy), ['allreduce', 'signum', 'robust', 'coded'], `rank ${o.rank} ran every strategy`);
    for (const r of rows) {
      t.equal(r.steps, 200, `${r.strategy}: 200 steps`);
      t.equal(r.max, r.min, `${r.strategy}: numTensors constant from step 10 to 200 (${r.min}..${r.max})`);
      t.equal(r.atEnd, r.afterWarmup, `${r.strategy}: no growth`);
      t.ok(r.lastLoss < r.firstLoss, `${r.strategy}: loss went down (${r.firstLoss.toFixed(3)} -> ${r.lastLoss.toFixed(3)})`);
      t.ok(r.inputsKept, `${r.strategy}: input tensors and variables not disposed`);
      t.ok(r.gradsKept, `${r.strategy}: gradients passed to applyGradients not disposed`);
      t.equal(r.applyDelta, 0, `${r.strategy}: applyGradients leaves no tensor behind`);
      if (r.strategy === 'coded') t.ok(r.applyRefused, 'coded: applyGradients refuses (EINVAL), minimize is the way');
    }
  }
});
