// The training layer's single-process parts: fusion buckets against a brute-force packing, the
// --byzantine parser and attack hook, learning-rate scaling, variable resolution for LayersModels
// and raw Variables, option errors, and a 1-rank DistributedOptimizer step against tfjs's own SGD.
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { init, isZcollError } from '../../lib/index.js';
import {
  DistributedOptimizer,
  broadcastVariables,
  byzantineContribution,
  fusionBuckets,
  layoutOf,
  parseByzantineSpec,
  resolveVariables,
  scaleLearningRate,
  warmupLearningRate,
  type GradientLayout,
} from '../../lib/train/index.js';
import { alie } from '../../lib/faults/attacks/alie.js';
import { ByzantineSet } from '../../lib/faults/attacks/byzantine-set.js';
import { Prng } from '../../lib/prng.js';
import { flattenGradients, flattenVariables } from '../../lib/train/gradient-layout.js';
import { quietPort } from '../helpers/ranks.js';

const layoutOfSizes = (sizes: number[]): GradientLayout => {
  const offsets: number[] = [];
  let total = 0;
  for (const s of sizes) {
    offsets.push(total);
    total += s;
  }
  return { names: sizes.map((_, i) => `v${i}`), shapes: sizes.map((s) => [s]), offsets, sizes, total };
};

t.test('fusionBuckets: greedy packing on variable boundaries, never above the threshold unless one variable is', async (t) => {
  const prng = new Prng(11);
  for (let trial = 0; trial < 300; trial++) {
    const sizes = Array.from({ length: 1 + (prng.nextUint32() % 12) }, () => prng.nextUint32() % 2000);
    const threshold = [0, 1024, 4096, 10_000, 1 << 30][trial % 5];
    const buckets = fusionBuckets(layoutOfSizes(sizes), threshold);
    // Brute-force reference: walk the variables, open a new bucket when the next one does not fit.
    const expect: Array<{ start: number; end: number }> = [];
    let off = 0;
    for (const s of sizes) {
      if (s === 0) continue;
      const last = expect[expect.length - 1];
      if (last !== undefined && last.end === off && (last.end - last.start + s) * 4 <= threshold) last.end += s;
      else expect.push({ start: off, end: off + s });
      off += s;
    }
    if (JSON.stringify(buckets) !== JSON.stringify(expect)) {
      t.same(buckets, expect, `sizes ${sizes.join(',')} threshold ${threshold}`);
      return;
    }
  }
  t.same(fusionBuckets(layoutOfSizes([10, 10, 10]), 0), [{ start: 0, end: 10 }, { start: 10, end: 20 }, { start: 20, end: 30 }], 'threshold 0: one collective per variable');
  t.same(fusionBuckets(layoutOfSizes([10, 10, 10]), 1 << 20), [{ start: 0, end: 30 }], 'all fused under a large threshold');
  t.throws(() => fusionBuckets(layoutOfSizes([1]), -1), /fusionThresholdBytes/);
});

t.test('parseByzantineSpec', async (t) => {
  t.same(parseByzantineSpec('alie:ranks=2', 4), { attack: 'alie', ranks: [2], options: {} });
  t.same(parseByzantineSpec('scaledFlip:ranks=3+1,scale=7', 4), { attack: 'scaledflip', ranks: [1, 3], options: { scale: 7 } });
  t.throws(() => parseByzantineSpec('scaledFlip:ranks=3,1:scale=7', 4), { code: 'EINVAL', message: /write 'scaledFlip:ranks=3\+1,scale=7'/ }, 'the older training spelling is refused, showing the new one');
  t.same(parseByzantineSpec('scaled-flip:ranks=1').attack, 'scaledflip');
  for (const bad of ['', 'nope:ranks=1', 'alie', 'alie:ranks=9', 'alie:ranks=x', 'alie:ranks=1:tau', 'alie:ranks=1:tau=abc']) {
    t.throws(() => parseByzantineSpec(bad, 4), { code: 'EINVAL' }, `'${bad}' is refused`);
  }
});

t.test('byzantineContribution: applies the attack to this rank only', async (t) => {
  const spec = parseByzantineSpec('scaledflip:ranks=1', 4);
  t.equal(byzantineContribution(spec, { rank: 0, size: 4 }), undefined, 'honest rank: no hook');
  const hook = byzantineContribution(spec, { rank: 1, size: 4 })!;
  const own = Float32Array.from([1, -2, 0.5]);
  t.same(Array.from(await hook({ own, step: 0, rank: 1 })), [-5, 10, -2.5], 'scaled flip: -5 x own');
  t.same(Array.from(own), [1, -2, 0.5], 'own gradient not modified');
  const honest = [Float32Array.from([1, 2, 3]), Float32Array.from([3, 2, 1]), Float32Array.from([2, 2, 2])];
  const alieHook = byzantineContribution(parseByzantineSpec('alie:ranks=2,tau=1.5', 4), { rank: 2, size: 4, honestGradients: async () => honest })!;
  const expect = alie({ tau: 1.5 })({ own, honest, prng: new ByzantineSet({ workers: 4, members: [2] }).noise(0, 2) });
  t.same(Array.from(await alieHook({ own, step: 0, rank: 2 })), Array.from(expect), 'alie sees the honest gradients it is given');
  t.throws(() => byzantineContribution(parseByzantineSpec('zero:ranks=0+1'), { rank: 0, size: 2 }), { code: 'EINVAL' }, 'every rank Byzantine is refused');
});

t.test('learning-rate scaling', async (t) => {
  t.equal(scaleLearningRate(0.1, 4), 0.4);
  t.equal(scaleLearningRate(0.1, { size: 16 }, 'sqrt'), 0.1 * 4);
  t.equal(warmupLearningRate(0, 0.1, 4, { warmupSteps: 10 }), 0.1);
  t.ok(Math.abs(warmupLearningRate(5, 0.1, 4, { warmupSteps: 10 }) - 0.25) < 1e-12, 'half-way: (0.1 + 0.4) / 2');
  t.equal(warmupLearningRate(10, 0.1, 4, { warmupSteps: 10 }), 0.4);
  t.equal(warmupLearningRate(3, 0.1, 4), 0.4, 'no warm-up');
  t.throws(() => scaleLearningRate(0, 4), { code: 'EINVAL' });
  t.throws(() => scaleLearningRate(0.1, 0), { code: 'EINVAL' });
  t.throws(() => warmupLearningRate(-1, 0.1, 4), { code: 'EINVAL' });
});

t.test('resolveVariables: LayersModel weights and raw Variables', async (t) => {
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2 }), tf.layers.dense({ units: 1 })] });
  const vars = resolveVariables(model);
  t.equal(vars.length, 4);
  t.ok(vars.every((v, i) => v === model.trainableWeights[i].read()), 'the LayerVariables’ backing tf.Variables, in layer order');
  t.same(layoutOf(vars).total, 3 * 2 + 2 + 2 * 1 + 1);
  const raw = [tf.variable(tf.zeros([2]), true, 'raw_a'), tf.variable(tf.zeros([3]), true, 'raw_b')];
  t.same(resolveVariables(raw).map((v) => v.name), ['raw_a', 'raw_b']);
  t.throws(() => resolveVariables([raw[0], raw[0]]), /listed twice/);
  t.throws(() => resolveVariables([tf.zeros([1]) as unknown as tf.Variable]), { code: 'EINVAL' });
  t.throws(() => resolveVariables([tf.variable(tf.zeros([1], 'int32'), true, 'int_v')]), /dtype int32/);
  model.dispose();
  tf.dispose(raw);
});

t.test('1 rank: DistributedOptimizer steps equal tfjs SGD; option errors', async (t) => {
  await tf.setBackend('cpu');
  process.env.ZCOLL_RANK = '0';
  process.env.ZCOLL_WORLD_SIZE = '1';
  process.env.ZCOLL_MASTER_ADDR = '127.0.0.1';
  process.env.ZCOLL_MASTER_PORT = String(await quietPort());
  const comm = await init();
  t.teardown(() => comm.close());
  const x = tf.tensor2d([[1, 2], [3, -1], [0.5, 0.5]]);
  const y = tf.tensor2d([[1], [0], [2]]);
  const make = (tag: string): tf.Variable[] => [tf.variable(tf.tensor2d([[0.3], [-0.2]]), true, `w_${tag}`), tf.variable(tf.tensor1d([0.1]), true, `b_${tag}`)];
  const loss = (v: tf.Variable[]) => (): tf.Scalar => tf.losses.meanSquaredError(y, tf.add(tf.matMul(x, v[0]), v[1])) as tf.Scalar;
  const a = make('dist');
  const b = make('ref');
  const opt = new DistributedOptimizer(comm, { optimizer: tf.train.sgd(0.1), variables: a });
  const ref = tf.train.sgd(0.1);
  for (let i = 0; i < 5; i++) {
    const cost = await opt.minimize(loss(a), { returnCost: true });
    t.ok(cost !== null && cost.shape.length === 0, 'returnCost gives the scalar loss');
    cost?.dispose();
    ref.minimize(loss(b), false, b);
  }
  t.same(Array.from(a[0].dataSync()), Array.from(b[0].dataSync()), 'same weights as tf.train.sgd (1 rank: the average is the gradient)');
  t.same(Array.from(a[1].dataSync()), Array.from(b[1].dataSync()));
  t.equal(opt.iterations, 5);
  await broadcastVariables(comm, a, 0);
  t.same(Array.from(a[0].dataSync()), Array.from(b[0].dataSync()), 'broadcast from itself changes nothing');

  const bad = (o: unknown, what: RegExp): void => {
    let err: unknown;
    try {
      new DistributedOptimizer(comm, o as never);
    } catch (e) {
      err = e;
    }
    t.ok(isZcollError(err, 'EINVAL') && what.test(err.message), `refused with EINVAL ${String(what)}: ${String(err)}`);
  };
  bad({ strategy: 'nope', optimizer: ref }, /option 'strategy'/);
  bad({ strategy: 'allreduce' }, /needs option 'optimizer'/);
  bad({ strategy: 'signum' }, /options.signum/);
  bad({ strategy: 'signum', signum: { lr: -1 } }, /lr/);
  bad({ strategy: 'coded', optimizer: ref }, /options.coded/);
  bad({ strategy: 'robust', optimizer: ref, robust: { aggregator: 'avg' } }, /aggregator/);
  bad({ strategy: 'allreduce', optimizer: ref, allreduce: { fusionThresholdBytes: -5 } }, /fusionThresholdBytes/);
  bad({ optimizer: {} }, /tf.Optimizer/);
  await t.rejects(opt.minimize('x' as never), { code: 'EINVAL' });
  await t.rejects(opt.applyGradients({ not_a_variable: tf.zeros([1]) }), /not one of the trained variables/);
  tf.dispose([x, y, ...a, ...b]);
});

t.test('flattenGradients into a reused buffer: layout order, zeros for a variable without a gradient this step', async (t) => {
  const layout = layoutOfSizes([3, 2, 4]);
  const into = new Float32Array(layout.total);
  const step1 = { v0: tf.tensor1d([1, 2, 3]), v1: tf.tensor1d([4, 5]), v2: tf.tensor1d([6, 7, 8, 9]) };
  const got1 = await flattenGradients(step1, layout, 0, into);
  t.equal(got1, into, 'the buffer given is filled, no new array');
  t.same(Array.from(into), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // Step 2: v1 unused by the loss (no gradient): its slot must be zero, not last step's values.
  const step2 = { v0: tf.tensor1d([-1, -2, -3]), v2: tf.tensor1d([-6, -7, -8, -9]) };
  await flattenGradients(step2, layout, 0, into);
  t.same(Array.from(into), [-1, -2, -3, 0, 0, -6, -7, -8, -9]);
  t.same(Array.from(await flattenGradients(step2, layout, 0)), Array.from(into), 'same as a fresh array');
  await t.rejects(flattenGradients(step2, layout, 0, new Float32Array(3)), { code: 'EINVAL' });
  tf.dispose([...Object.values(step1), ...Object.values(step2)]);
});

t.test('flattenVariables into a kept buffer: layout order, the same array back, a wrong length refused', async (t) => {
  const vars: tf.Variable[] = [tf.variable(tf.tensor1d([1, 2, 3]), true, 'fv0'), tf.variable(tf.tensor2d([[4, 5], [6, 7]]), true, 'fv1')];
  const layout = layoutOf(vars);
  const into = new Float32Array(layout.total).fill(-9);
  const got = await flattenVariables(vars, layout, into);
  t.equal(got, into, 'the buffer given is filled, no new array');
  t.same(Array.from(into), [1, 2, 3, 4, 5, 6, 7]);
  vars[0].assign(tf.tensor1d([-1, -2, -3]));
  await flattenVariables(vars, layout, into);
  t.same(Array.from(into), [-1, -2, -3, 4, 5, 6, 7], 'the next step overwrites every element');
  t.same(Array.from(await flattenVariables(vars, layout)), Array.from(into), 'same as a fresh array');
  await t.rejects(flattenVariables(vars, layout, new Float32Array(6), 2), { code: 'EINVAL', message: /flattenVariables: 'into' holds 6 elements, the layout 7/ });
  tf.dispose(vars);
});
