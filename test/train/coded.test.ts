// 'coded' applies the full-batch gradient from any n - s messages: 4 ranks with a gradient code for
// s = 1 (FRC: groups {0,1}, {2,3}), one rank's message left out of every decode (rotating), end at
// the weights of one process training on the union of the partitions with the same global batch.
import t from 'tap';
import { runRanks } from '../helpers/ranks.js';

interface Row {
  hash: string;
  moved: number;
  responders: number[];
  diffToSingle?: number;
  diffLocalToSingle?: number;
  maxWeight?: number;
}

t.test('4 ranks coded (s = 1, one message ignored per step) == one process on the union', async (t) => {
  const steps = 8;
  const outs = await runRanks(4, { script: 'test/train/train-worker.js', args: ['equivalence', String(steps), '8', '16', '0', 'coded'] });
  for (const o of outs) t.equal(o.code, 0, `rank ${o.rank} exits 0${o.code === 0 ? '' : `: ${o.stderr.slice(-2000)}`}`);
  const rows = outs.map((o) => o.results[0] as Row | undefined);
  if (!rows.every((r): r is Row => r !== undefined)) return t.fail('every rank reported its result');
  for (const r of rows.slice(1)) t.equal(r.hash, rows[0].hash, 'weights are bitwise identical on every rank');
  // Last step is step 7: rank 7 % 4 = 3 was left out.
  t.same(rows[0].responders, [0, 1, 2], 'the last decode used 3 of the 4 messages');
  const r0 = rows[0];
  t.ok(r0.moved > 1e-2, `training moved the weights (max change ${r0.moved})`);
  const tol = 1e-5 * Math.max(1, r0.maxWeight!);
  t.ok(r0.diffToSingle! <= tol, `max |w_coded - w_single| = ${r0.diffToSingle} <= ${tol}`);
  t.ok(r0.diffLocalToSingle! > 100 * tol, `rank 0's partition alone differs by ${r0.diffLocalToSingle} (the check can fail)`);
});
