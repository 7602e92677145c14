/**
 * A rank process for test/train/checkpoint.test.ts: `node checkpoint-worker.js <mode> <dir> <steps> <stopAt> <variant>...`
 *   full:   trains each variant for <steps> steps without interruption;
 *   first:  trains <stopAt> steps, then saveCheckpoint(<dir>/<variant>) and exits;
 *   resume: a fresh process: builds the model (other initial weights), loadCheckpoint, trains the
 *           remaining steps; then a control that loads only the weights (a fresh optimizer).
 * Prints `RESULT { variant, mode, weights, state, iterations }`: sha1 of the final weights and of
 * the final optimizer state (JSON of opt.state()).
 * Variants: allreduce (inner Momentum, whose accumulators are state), signum (tie rule 'keep', so
 * the last vote is state too), robust (BGMD, memory per worker on every rank), robust-workers
 * (BGMD with memory 'workers' and selection 'sample': each rank's own residual and the sampling
 * PRNG), coded (s = 1, the ignored rank rotating with the step).
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { init, type Communicator } from '../../lib/index.js';
import { DistributedOptimizer, broadcastVariables, loadCheckpoint, saveCheckpoint, type DistributedOptimizerOptions } from '../../lib/train/index.js';
import { loadDigits, type DigitSet } from '../../examples/data/mnist-digits.js';
import { batchTensors, buildMlp, epochShard, lossOf } from '../../examples/mnist.js';

const BATCH = 16;
const SEED = 4;

function optionsOf(variant: string, model: tf.LayersModel): DistributedOptimizerOptions {
  switch (variant) {
    case 'allreduce':
      return { strategy: 'allreduce', variables: model, optimizer: tf.train.momentum(0.05, 0.9) };
    case 'signum':
      return { strategy: 'signum', variables: model, signum: { lr: 0.002, beta: 0.9, tie: 'keep' } };
    case 'robust':
      return { strategy: 'robust', variables: model, optimizer: tf.train.sgd(0.1) };
    case 'robust-workers':
      return { strategy: 'robust', variables: model, optimizer: tf.train.sgd(0.1), robust: { bgmd: { memory: 'workers', selection: 'sample', seed: 9 } } };
    case 'coded':
      return { strategy: 'coded', variables: model, optimizer: tf.train.sgd(0.1), coded: { stragglers: 1, ignore: (step) => [step % 2] } };
    default:
      throw new Error(`unknown variant ${variant}`);
  }
}

async function step(comm: Communicator, opt: DistributedOptimizer, model: tf.LayersModel, train: DigitSet, k: number): Promise<void> {
  const n = comm.size;
  const batchOf = (r: number): number[] => epochShard(train.count, SEED, 0, r, n).slice(k * BATCH, (k + 1) * BATCH);
  if (opt.strategy.name === 'coded') {
    const batches = Array.from({ length: n }, (_, r) => batchTensors(tf, train, batchOf(r)));
    await opt.minimize((j) => lossOf(tf, model, batches[j].xs, batches[j].ys));
    for (const b of batches) tf.dispose([b.xs, b.ys]);
  } else {
    const { xs, ys } = batchTensors(tf, train, batchOf(comm.rank));
    await opt.minimize(() => lossOf(tf, model, xs, ys));
    tf.dispose([xs, ys]);
  }
}

async function report(variant: string, mode: string, opt: DistributedOptimizer, model: tf.LayersModel): Promise<void> {
  const h = createHash('sha1');
  for (const w of model.trainableWeights) h.update(new Uint8Array(((await (w.read() as tf.Variable).data()) as Float32Array).slice().buffer));
  const state = createHash('sha1').update(JSON.stringify(await opt.state())).digest('hex');
  process.stdout.write(`RESULT ${JSON.stringify({ variant, mode, weights: h.digest('hex'), state, iterations: opt.iterations })}\n`);
}

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const [mode, dir, stepsArg, stopArg, ...variants] = process.argv.slice(2);
  const steps = Number(stepsArg);
  const stopAt = Number(stopArg);
  const comm = await init();
  try {
    const { train } = loadDigits(comm.size * BATCH * steps, 0, SEED);
    for (const variant of variants) {
      // Initial weights differ by rank and by mode: the broadcast, then the checkpoint, set them.
      const model = buildMlp(tf, 16, 10 * comm.rank + (mode === 'resume' ? 7 : 1));
      await broadcastVariables(comm, model, 0);
      const opt = new DistributedOptimizer(comm, optionsOf(variant, model));
      const where = join(dir, variant);
      let from = 0;
      if (mode === 'resume') {
        await loadCheckpoint(where, opt, { variables: model });
        from = opt.iterations;
      }
      const to = mode === 'first' ? stopAt : steps;
      for (let k = from; k < to; k++) await step(comm, opt, model, train, k);
      if (mode === 'first') await saveCheckpoint(where, opt, { variables: model });
      await report(variant, mode, opt, model);
      if (mode === 'resume') {
        // Control: the weights of the checkpoint alone, with a fresh optimizer (iterations 0, no memory).
        const control = buildMlp(tf, 16, 10 * comm.rank + 3);
        const fresh = new DistributedOptimizer(comm, optionsOf(variant, control));
        const loader = new DistributedOptimizer(comm, optionsOf(variant, control));
        await loadCheckpoint(where, loader, { variables: control });
        for (let k = stopAt; k < steps; k++) await step(comm, fresh, control, train, k);
        await report(variant, 'control', fresh, control);
        control.dispose();
      }
      model.dispose();
    }
  } finally {
    await comm.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
