// model.fit with distributedFit on 2 real rank processes: the weights equal, bit for bit, those of
// the custom loop (DistributedOptimizer.minimize) from the same start on the same batches with the
// same warm-up, and are the same on both ranks; the initial broadcast ran (ranks start from
// different weights); the epoch logs are averaged across ranks (equal on both ranks, and equal to
// the mean of the two ranks' own batch losses, which differ).
import t from 'tap';
import { runRanks } from '../helpers/ranks.js';

interface Row {
  fit: string;
  loop: string;
  maxDiff: number;
  history: { loss: number[] };
  localLoss: number[];
  iterations: number[];
  lr: number;
}

t.test('model.fit with distributedFit == the custom loop, on 2 ranks', async (t) => {
  const outs = await runRanks(2, { script: 'test/train/fit-worker.js', killAfterMs: 100_000 });
  for (const o of outs) t.equal(o.code, 0, `rank ${o.rank} exits 0${o.code === 0 ? '' : `: ${o.stderr.slice(-2000)}`}`);
  const rows = outs.map((o) => o.results[0] as Row | undefined);
  if (!rows.every((r): r is Row => r !== undefined)) return t.fail('every rank reported');
  for (const [rank, r] of rows.entries()) {
    // Bitwise: both paths run the same tfjs ops in the same order (the gradient of fit's mean over a
    // scalar loss is an exact division by 1), exchange the same bytes and apply the same SGD update.
    t.equal(r.fit, r.loop, `rank ${rank}: fit and custom loop end bitwise equal (max |diff| ${r.maxDiff})`);
    t.same(r.iterations, [8, 8], `rank ${rank}: 2 epochs x 4 batches = 8 exchanged steps in both`);
    t.equal(r.lr, 0.2, `rank ${rank}: warm-up reached 0.1 x 2 ranks`);
  }
  t.equal(rows[0].fit, rows[1].fit, 'both ranks end with the same weights');
  t.same(rows[0].history.loss, rows[1].history.loss, 'fit history loss is the same on both ranks (averaged)');
  for (let e = 0; e < 2; e++) {
    t.not(rows[0].localLoss[e], rows[1].localLoss[e], `epoch ${e + 1}: the ranks' own losses differ (different shards)`);
    const mean = (rows[0].localLoss[e] + rows[1].localLoss[e]) / 2;
    // float32 batch losses summed in a different order by BaseLogger: agree to 1e-5 relative.
    t.ok(Math.abs(rows[0].history.loss[e] - mean) <= 1e-5 * Math.abs(mean), `epoch ${e + 1}: averaged loss ${rows[0].history.loss[e]} == mean of the ranks' ${mean}`);
  }
});
