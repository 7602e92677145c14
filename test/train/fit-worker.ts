/**
 * A rank process for test/train/fit.test.ts: trains the MNIST MLP twice from the same broadcast
 * start on this rank's shard, once with model.fit (distributedFit's optimizer and callbacks: initial
 * broadcast, warm-up, metric averaging) and once with the custom loop (DistributedOptimizer
 * .minimize, the same loss and the same warm-up), and prints `RESULT { fit, loop, maxDiff, history,
 * localLoss }`: sha1 of each final weight vector, their largest difference, fit's History (averaged
 * logs) and this rank's own mean batch loss per epoch.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { init } from '../../lib/index.js';
import { DistributedOptimizer, broadcastVariables, distributedFit, warmupLearningRate } from '../../lib/train/index.js';
import { loadDigits } from '../../examples/data/mnist-digits.js';
import { batchTensors, buildMlp, epochShard } from '../../examples/mnist.js';

const BATCH = 16;
const STEPS = 4;
const EPOCHS = 2;
const BASE_LR = 0.1;
const WARMUP = 3;

// One loss for both: what fit computes (the loss function's value; its mean over a scalar is exact).
const loss = (y: tf.Tensor, p: tf.Tensor): tf.Scalar => tf.losses.softmaxCrossEntropy(y, p) as tf.Scalar;

function weightsOf(model: tf.LayersModel): Float32Array {
  const parts = model.trainableWeights.map((w) => (w.read() as tf.Variable).dataSync() as Float32Array);
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const comm = await init();
  try {
    const n = comm.size;
    const { train } = loadDigits(n * BATCH * STEPS, 0, 6);
    const shard = epochShard(train.count, 6, 0, comm.rank, n);
    const { xs, ys } = batchTensors(tf, train, shard);

    // model.fit: different initial weights per rank; onTrainBegin's broadcast makes them equal.
    const a = buildMlp(tf, 16, 20 + comm.rank);
    const da = new DistributedOptimizer(comm, { optimizer: tf.train.sgd(BASE_LR), variables: a });
    const { optimizer, callbacks } = await distributedFit(da, { model: a, warmup: { baseLr: BASE_LR, warmupSteps: WARMUP } });
    a.compile({ optimizer, loss });
    const history = await a.fit(xs, ys, { batchSize: BATCH, epochs: EPOCHS, shuffle: false, verbose: 0, callbacks });

    // The custom loop, from rank 0's initial weights of the fit run (seed 20), same batches.
    const b = buildMlp(tf, 16, 20 + comm.rank);
    await broadcastVariables(comm, b, 0);
    const db = new DistributedOptimizer(comm, { optimizer: tf.train.sgd(BASE_LR), variables: b });
    const localLoss: number[] = [];
    for (let e = 0; e < EPOCHS; e++) {
      let sum = 0;
      for (let k = 0; k < STEPS; k++) {
        db.learningRate = warmupLearningRate(db.iterations, BASE_LR, comm, { warmupSteps: WARMUP });
        const bx = xs.slice([k * BATCH, 0], [BATCH, -1]);
        const by = ys.slice([k * BATCH, 0], [BATCH, -1]);
        const cost = await db.minimize(() => tf.mean(loss(by, b.apply(bx, { training: true }) as tf.Tensor)) as tf.Scalar, { returnCost: true });
        sum += (await cost!.data())[0];
        tf.dispose([cost!, bx, by]);
      }
      localLoss.push(sum / STEPS);
    }
    const wa = weightsOf(a);
    const wb = weightsOf(b);
    let maxDiff = 0;
    for (let i = 0; i < wa.length; i++) maxDiff = Math.max(maxDiff, Math.abs(wa[i] - wb[i]));
    const hash = (w: Float32Array): string => createHash('sha1').update(new Uint8Array(w.buffer)).digest('hex');
    process.stdout.write(`RESULT ${JSON.stringify({ fit: hash(wa), loop: hash(wb), maxDiff, history: history.history, localLoss, iterations: [da.iterations, db.iterations], lr: da.learningRate })}\n`);
    tf.dispose([xs, ys]);
  } finally {
    await comm.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
