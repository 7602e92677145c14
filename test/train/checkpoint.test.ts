// Checkpoint and resume: 2 real rank processes train k = 3 steps, save (saveCheckpoint: one file per
// rank), exit; fresh processes load and train the remaining 3; the final weights AND the final
// optimizer state equal, bit for bit, those of an uninterrupted 6-step run, for 'allreduce' (inner
// Momentum), 'signum' (momentum, last vote), 'robust' (BGMD memory per worker; and memory 'workers'
// with sampled blocks: residual and PRNG) and 'coded' (the step drives which rank is ignored). A
// control that resumes the weights alone with a fresh optimizer ends elsewhere, so the comparison
// can fail. Then a 1-rank world checks that bad states are refused with EINVAL, the optimizer
// unchanged.
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, isZcollError } from '../../lib/index.js';
import { DistributedOptimizer, type OptimizerState } from '../../lib/train/index.js';
import { quietPort, runRanks } from '../helpers/ranks.js';

interface Row {
  variant: string;
  mode: string;
  weights: string;
  state: string;
  iterations: number;
}

const VARIANTS = ['allreduce', 'signum', 'robust', 'robust-workers', 'coded'];
const STEPS = 6;
const STOP = 3;

t.test('resume after k steps in fresh processes == the uninterrupted run, bit for bit', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-ckpt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const world = async (mode: string): Promise<Row[][]> => {
    const outs = await runRanks(2, { script: 'test/train/checkpoint-worker.js', args: [mode, dir, String(STEPS), String(STOP), ...VARIANTS], killAfterMs: 100_000 });
    for (const o of outs) t.equal(o.code, 0, `${mode}: rank ${o.rank} exits 0${o.code === 0 ? '' : `: ${o.stderr.slice(-2000)}`}`);
    return outs.map((o) => o.results as Row[]);
  };
  const full = await world('full');
  const first = await world('first');
  const resumed = await world('resume');
  for (const variant of VARIANTS) {
    for (let rank = 0; rank < 2; rank++) {
      const f = full[rank]?.find((r) => r.variant === variant && r.mode === 'full');
      const s = first[rank]?.find((r) => r.variant === variant && r.mode === 'first');
      const r = resumed[rank]?.find((x) => x.variant === variant && x.mode === 'resume');
      const c = resumed[rank]?.find((x) => x.variant === variant && x.mode === 'control');
      if (f === undefined || s === undefined || r === undefined || c === undefined) {
        t.fail(`${variant} rank ${rank}: every run reported`);
        continue;
      }
      t.equal(s.iterations, STOP, `${variant} rank ${rank}: stopped after ${STOP} steps`);
      t.not(s.weights, f.weights, `${variant} rank ${rank}: the checkpoint is mid-run (its weights are not the final ones)`);
      t.equal(r.iterations, STEPS, `${variant} rank ${rank}: resumed run counts ${STEPS} steps`);
      t.equal(r.weights, f.weights, `${variant} rank ${rank}: resumed weights == uninterrupted weights (bitwise)`);
      t.equal(r.state, f.state, `${variant} rank ${rank}: resumed optimizer state == uninterrupted state (bitwise)`);
      // 'coded' keeps only the step (which rank is ignored): its exact decode makes the control
      // differ by rounding at most, so the control is asserted where the state is numeric.
      if (variant !== 'coded') t.not(c.weights, f.weights, `${variant} rank ${rank}: without the optimizer state the run ends elsewhere`);
    }
    t.equal(full[0]?.find((r) => r.variant === variant)?.weights, full[1]?.find((r) => r.variant === variant)?.weights, `${variant}: both ranks end with the same weights`);
  }
});

t.test('load refuses states of another strategy, rank, size or length, and corrupt arrays, leaving the optimizer as it was', async (t) => {
  process.env.ZCOLL_RANK = '0';
  process.env.ZCOLL_WORLD_SIZE = '1';
  process.env.ZCOLL_MASTER_ADDR = '127.0.0.1';
  process.env.ZCOLL_MASTER_PORT = String(await quietPort());
  const comm = await init();
  t.teardown(() => comm.close());
  await tf.setBackend('cpu');
  const vars = [tf.variable(tf.tensor1d([0.5, -0.25, 1]), true, 'ck_w')];
  const loss = (): tf.Scalar => tf.sum(tf.square(vars[0])) as tf.Scalar;
  const signum = new DistributedOptimizer(comm, { strategy: 'signum', variables: vars, signum: { lr: 0.01 } });
  await signum.minimize(loss);
  const good = await signum.state();
  t.equal(JSON.parse(JSON.stringify(good)).iterations, 1, 'the state is plain JSON data');
  const other = new DistributedOptimizer(comm, { strategy: 'allreduce', variables: vars, optimizer: tf.train.sgd(0.1) });
  const refused = async (what: string, o: DistributedOptimizer, s: unknown): Promise<void> => {
    const before = JSON.stringify(await o.state());
    const err = await o.load(s as OptimizerState).then(() => undefined, (e: unknown) => e);
    t.ok(isZcollError(err, 'EINVAL') && err.message.includes('DistributedOptimizer.load'), `${what}: EINVAL (${err instanceof Error ? err.message : 'resolved'})`);
    t.equal(JSON.stringify(await o.state()), before, `${what}: the optimizer is unchanged`);
  };
  await refused('another strategy', other, good);
  await refused('another rank', signum, { ...good, rank: 1 });
  await refused('another world size', signum, { ...good, size: 2 });
  await refused('another length', signum, { ...good, length: 4 });
  await refused('not a state', signum, { hello: 1 });
  await refused('a truncated momentum', signum, { ...good, strategyState: { ...good.strategyState, momentum: { dtype: 'float32', length: 3, base64: 'AAAA' } } });
  const fresh = new DistributedOptimizer(comm, { strategy: 'signum', variables: vars, signum: { lr: 0.5 } });
  await fresh.load(good);
  t.equal(JSON.stringify(await fresh.state()), JSON.stringify(good), 'a good state loads whole (momentum, lr, iterations)');
  tf.dispose(vars);
});
