/**
 * A rank process for the training tests: `node train-worker.js <scenario> [args]` runs one scenario
 * with real rank processes and prints `RESULT <json>` lines.
 *   equivalence <steps> <batch> <hidden> <fusionBytes>: 'allreduce' on n ranks (a tf.LayersModel,
 *     each rank initialised differently, then broadcastVariables) vs. one process training on the
 *     union of the shards with the same global batch; rank 0 also trains on its shard alone.
 *   memory <steps>: every strategy for <steps> steps on raw tf.Variables; tensor counts per step.
 *   accuracy <epochs> <train> <run>...: examples/mnist.ts's trainMnist once per run, a run being
 *     'strategy' or 'strategy@byzantine-spec', in one world.
 *   signum-modes <steps>: 'signum' with each voteMode on two raw tf.Variables whose gradients are
 *     known vectors c(rank, step) (loss = sum(w ⊙ c)); every rank also computes the result serially
 *     from the formulas (all ranks' momenta, the vote with tie +1, x -= lr(s + wd x)) and reports
 *     the elements that differ bit for bit.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { init, isZcollError, type Communicator } from '../../lib/index.js';
import { DistributedOptimizer, broadcastVariables, type DistributedOptimizerOptions, type StrategyName } from '../../lib/train/index.js';
import type { AllReduceStrategy } from '../../lib/train/strategies/allreduce.js';
import type { CodedStrategy } from '../../lib/train/strategies/coded.js';
import type { SignumStrategy } from '../../lib/train/strategies/signum.js';
import { Prng } from '../../lib/prng.js';
import { CLASSES, PIXELS, loadDigits } from '../../examples/data/mnist-digits.js';
import { batchTensors, buildMlp, epochShard, lossOf, trainMnist } from '../../examples/mnist.js';

const out = (x: unknown): void => void process.stdout.write(`RESULT ${JSON.stringify(x)}\n`);

function weightsOf(vars: readonly tf.Variable[]): Float32Array {
  const parts = vars.map((v) => v.dataSync() as Float32Array);
  const flat = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    flat.set(p, o);
    o += p.length;
  }
  return flat;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const modelVars = (m: tf.LayersModel): tf.Variable[] => m.trainableWeights.map((w) => w.read() as tf.Variable);

async function equivalence(comm: Communicator, args: string[]): Promise<void> {
  const [steps, batch, hidden, fusionBytes] = args.slice(0, 4).map(Number);
  const strategy = (args[4] ?? 'allreduce') as 'allreduce' | 'coded';
  const n = comm.size;
  const lr = 0.5;
  const seed = 3;
  const { train } = loadDigits(n * batch * steps, 0, seed);
  const shards = Array.from({ length: n }, (_, r) => epochShard(train.count, seed, 0, r, n));
  const batchOf = (r: number, step: number): number[] => shards[r].slice(step * batch, (step + 1) * batch);

  const model = buildMlp(tf, hidden, 50 + comm.rank);
  const before = weightsOf(modelVars(model));
  await broadcastVariables(comm, model, 0);
  const initial = weightsOf(modelVars(model));
  const opt = new DistributedOptimizer(comm, {
    strategy,
    optimizer: tf.train.sgd(lr),
    variables: model,
    allreduce: { fusionThresholdBytes: fusionBytes },
    // s = 1: each step the message of one rank (rotating) is left out of the decode.
    coded: { stragglers: 1, ignore: (step) => [step % n] },
  });
  for (let step = 0; step < steps; step++) {
    if (strategy === 'coded') {
      // Partition j of the global batch is rank j's batch; this rank computes those of its code row.
      const batches = Array.from({ length: n }, (_, r) => batchTensors(tf, train, batchOf(r, step)));
      await opt.minimize((j) => lossOf(tf, model, batches[j].xs, batches[j].ys));
      for (const b of batches) tf.dispose([b.xs, b.ys]);
    } else {
      const { xs, ys } = batchTensors(tf, train, batchOf(comm.rank, step));
      await opt.minimize(() => lossOf(tf, model, xs, ys));
      tf.dispose([xs, ys]);
    }
  }
  const final = weightsOf(modelVars(model));
  const hash = createHash('sha1').update(new Uint8Array(final.buffer)).digest('hex');
  const row: Record<string, unknown> = {
    kind: 'equivalence',
    hash,
    broadcastChanged: maxAbsDiff(before, initial) > 0,
    buckets: strategy === 'allreduce' ? (opt.strategy as AllReduceStrategy).lastBuckets : 0,
    responders: strategy === 'coded' ? (opt.strategy as CodedStrategy).lastResponders : [],
    moved: maxAbsDiff(initial, final),
  };
  if (comm.rank === 0) {
    // One process, the union of the shards, the same global batch (rank order), plain tfjs SGD.
    const single = buildMlp(tf, hidden, 999);
    modelVars(single).forEach((v, k) => v.assign(tf.tensor(initial.slice(offsetOf(single, k), offsetOf(single, k) + v.size), v.shape)));
    const sgd = tf.train.sgd(lr);
    for (let step = 0; step < steps; step++) {
      const indices = Array.from({ length: n }, (_, r) => batchOf(r, step)).flat();
      const { xs, ys } = batchTensors(tf, train, indices);
      sgd.minimize(() => lossOf(tf, single, xs, ys), false, modelVars(single));
      tf.dispose([xs, ys]);
    }
    // The same, on rank 0's shard alone: what a run without communication would give.
    const local = buildMlp(tf, hidden, 998);
    modelVars(local).forEach((v, k) => v.assign(tf.tensor(initial.slice(offsetOf(local, k), offsetOf(local, k) + v.size), v.shape)));
    const sgdLocal = tf.train.sgd(lr);
    for (let step = 0; step < steps; step++) {
      const { xs, ys } = batchTensors(tf, train, batchOf(0, step));
      sgdLocal.minimize(() => lossOf(tf, local, xs, ys), false, modelVars(local));
      tf.dispose([xs, ys]);
    }
    const ref = weightsOf(modelVars(single));
    let maxRef = 0;
    for (const x of ref) maxRef = Math.max(maxRef, Math.abs(x));
    row.diffToSingle = maxAbsDiff(final, ref);
    row.diffLocalToSingle = maxAbsDiff(weightsOf(modelVars(local)), ref);
    row.maxWeight = maxRef;
  }
  out(row);
}

function offsetOf(m: tf.LayersModel, k: number): number {
  return modelVars(m)
    .slice(0, k)
    .reduce((a, v) => a + v.size, 0);
}

async function memory(comm: Communicator, args: string[]): Promise<void> {
  const steps = Number(args[0]);
  const hidden = 8;
  const { train } = loadDigits(64, 0, 5);
  const strategies: StrategyName[] = ['allreduce', 'signum', 'robust', 'coded'];
  for (const strategy of strategies) {
    const vars = [
      tf.variable(tf.randomNormal([PIXELS, hidden], 0, 0.05, 'float32', 7), true, `w1_${strategy}`),
      tf.variable(tf.zeros([hidden]), true, `b1_${strategy}`),
      tf.variable(tf.randomNormal([hidden, CLASSES], 0, 0.05, 'float32', 8), true, `w2_${strategy}`),
      tf.variable(tf.zeros([CLASSES]), true, `b2_${strategy}`),
    ];
    const [w1, b1, w2, b2] = vars;
    const half = 16;
    const data = [0, 1].map((p) => batchTensors(tf, train, Array.from({ length: half }, (_, i) => (comm.rank * 2 + p) * half + (i % half))));
    const loss = (j: number): tf.Scalar => {
      const { xs, ys } = data[j % 2];
      return tf.losses.softmaxCrossEntropy(ys, tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(xs, w1), b1)), w2), b2)) as tf.Scalar;
    };
    const inner = strategy === 'allreduce' ? tf.train.adam(0.01) : tf.train.sgd(0.1);
    const options: DistributedOptimizerOptions = { strategy, variables: vars, optimizer: inner };
    if (strategy === 'signum') options.signum = { lr: 0.001 };
    if (strategy === 'coded') options.coded = { stragglers: comm.size - 1 };
    const opt = new DistributedOptimizer(comm, options);
    const counts: number[] = [];
    let firstLoss = Number.NaN;
    let lastLoss = Number.NaN;
    for (let step = 0; step < steps; step++) {
      const cost = await opt.minimize(loss, { returnCost: step === 0 || step === steps - 1 });
      if (cost !== null) {
        const v = (await cost.data())[0];
        if (step === 0) firstLoss = v;
        else lastLoss = v;
        cost.dispose();
      }
      counts.push(tf.memory().numTensors);
    }
    // applyGradients with the caller's gradients: used, not disposed.
    const { value, grads } = tf.variableGrads(() => loss(0), vars);
    const beforeApply = tf.memory().numTensors;
    let applyRefused = false;
    if (strategy === 'coded') {
      // Coded messages combine several partitions: applyGradients must refuse, on every rank alike.
      applyRefused = await opt.applyGradients(grads).then(
        () => false,
        (e: unknown) => isZcollError(e, 'EINVAL'),
      );
    } else await opt.applyGradients(grads);
    const afterApply = tf.memory().numTensors;
    const gradsKept = Object.values(grads).every((g) => !g.isDisposed);
    tf.dispose([value, grads]);
    const inputsKept = data.every((d) => !d.xs.isDisposed && !d.ys.isDisposed) && vars.every((v) => !v.isDisposed);
    out({ kind: 'memory', strategy, afterWarmup: counts[9], atEnd: counts[counts.length - 1], max: Math.max(...counts.slice(9)), min: Math.min(...counts.slice(9)), steps: counts.length, firstLoss, lastLoss, gradsKept, inputsKept, applyDelta: afterApply - beforeApply, applyRefused });
    for (const d of data) tf.dispose([d.xs, d.ys]);
    tf.dispose(vars);
    inner.dispose();
  }
}

/** The gradient of rank r at step t: a known vector with zeros, -0 and ties between ranks mixed in. */
function knownGradient(r: number, t: number, d: number): Float32Array {
  const p = new Prng(1000 * t + r + 1);
  return Float32Array.from({ length: d }, (_, i) => (i % 11 === 0 ? (r % 2 === 0 ? 0 : -0) : i % 7 === 0 ? 1 - 2 * (r % 2) : p.normal()));
}

async function signumModes(comm: Communicator, args: string[]): Promise<void> {
  const steps = Number(args[0]);
  const sizes = [517, 520]; // not multiples of 32; the flat vector crosses a variable boundary mid-word
  const d = sizes[0] + sizes[1];
  const lr = 0.01;
  const wd = 0.05;
  const beta = 0.9;
  const init = Float32Array.from({ length: d }, (_, i) => Math.sin(i) / 4);
  // The serial reference, from the formulas: every rank's momentum, the vote, the update.
  const x = init.slice();
  const momenta = Array.from({ length: comm.size }, () => new Float32Array(d));
  for (let t = 0; t < steps; t++) {
    const count = new Int32Array(d);
    for (let r = 0; r < comm.size; r++) {
      const g = knownGradient(r, t, d);
      for (let i = 0; i < d; i++) {
        // fp32 after every operation (lib/kernels/contract.ts).
        momenta[r][i] = Math.fround(Math.fround(Math.fround(beta) * momenta[r][i]) + Math.fround(Math.fround(1 - beta) * g[i]));
        count[i] += momenta[r][i] < 0 ? 1 : 0;
      }
    }
    for (let i = 0; i < d; i++) {
      const s = 2 * count[i] > comm.size ? -1 : 1; // a tie (2·count = M) votes +1
      x[i] = Math.fround(x[i] - Math.fround(Math.fround(lr) * Math.fround(s + Math.fround(Math.fround(wd) * x[i]))));
    }
  }
  for (const voteMode of ['allgather', 'server', 'reduce'] as const) {
    const vars = sizes.map((_, k) => tf.variable(tf.tensor1d(init.subarray(k === 0 ? 0 : sizes[0], k === 0 ? sizes[0] : d)), true, `w${k}_${voteMode}`));
    const opt = new DistributedOptimizer(comm, { strategy: 'signum', variables: vars, signum: { lr, beta, weightDecay: wd, voteMode } });
    for (let t = 0; t < steps; t++) {
      const c = knownGradient(comm.rank, t, d);
      const cs = sizes.map((_, k) => tf.tensor1d(c.subarray(k === 0 ? 0 : sizes[0], k === 0 ? sizes[0] : d)));
      await opt.minimize(() => tf.addN(vars.map((v, k) => tf.sum(tf.mul(v, cs[k])))) as tf.Scalar);
      tf.dispose(cs);
    }
    const got = weightsOf(vars);
    let wrong = 0;
    for (let i = 0; i < d; i++) if (!Object.is(got[i], x[i])) wrong++;
    out({ kind: 'signum-modes', voteMode, wrong, d, steps, invalidVotes: (opt.strategy as SignumStrategy).invalidVotes });
    tf.dispose(vars);
  }
}

async function accuracy(comm: Communicator, args: string[]): Promise<void> {
  // Several runs in one world (one process start-up for all): each 'strategy' or 'strategy@byzantine'.
  const [epochs, trainCount, ...runs] = args;
  for (const run of runs) {
    // 'robust:workers': strategy 'robust' with BGMD's memory at the workers.
    const [name, byzantine] = run.split('@');
    const [strategy, variant] = name.split(':');
    const result = await trainMnist(comm, tf, {
      strategy: strategy as StrategyName,
      ...(variant === 'workers' ? { robust: { bgmd: { memory: 'workers' as const } } } : {}),
      epochs: Number(epochs),
      train: Number(trainCount),
      test: 500,
      batch: 16,
      hidden: 32,
      seed: 1,
      ...(byzantine !== undefined && byzantine !== '' ? { byzantine } : {}),
      log: () => undefined,
    });
    out({ kind: 'accuracy', strategy: name, byzantine: byzantine ?? '', accuracy: result.accuracy, epochs: result.epochs, weightsHash: result.weightsHash });
  }
}

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const [scenario, ...args] = process.argv.slice(2);
  const comm = await init();
  try {
    if (scenario === 'equivalence') await equivalence(comm, args);
    else if (scenario === 'memory') await memory(comm, args);
    else if (scenario === 'accuracy') await accuracy(comm, args);
    else if (scenario === 'signum-modes') await signumModes(comm, args);
    else throw new Error(`unknown scenario ${scenario}`);
  } finally {
    await comm.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
