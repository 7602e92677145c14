/**
 * Where the time of one aggregation round goes, pass by pass, on the rows of bench/robust-speed.ts
 * (n = 16: 12 honest rows, 4 Gaussian sigma 10): the kernel calls Bgmd.step makes with per-worker
 * memory (augmentedScores collecting candidates, topKIndices over the candidates, augmentAndExtract,
 * the GM on the block, the update written back), a whole Bgmd.step, and one full-GM iteration
 * (kernels.weiszfeldStep over all d) next to the full GM itself. Each call is timed alone, in
 * sequence, after one untimed warm-up round that touches every buffer. The scoring pass's threshold
 * here is the score at rank 1.2 k from an untimed pass without candidates (Bgmd estimates it from a
 * sample of 4096 coordinates). The figures explain a robust-speed run; they do not replace it.
 * With the memory at the workers (memory 'workers'), the aggregator's round is columnScores (scores of
 * the augmented rows, the candidates' columns copied out), the same top-k, gatherColumns from those
 * columns, the same GM and update: timed the same way on the same rows (taken as the augmented ones).
 * Usage: node dist/bench/robust-phases.js [--d 10000000] [--beta 0.1] [--reps 3]
 */
import { kernels } from '../lib/kernels/index.js';
import { makeRows, ROWS } from './robust-rows.js';
import { geometricMedian, WeiszfeldScratch } from '../lib/robust/geometric-median.js';
import { Bgmd, blockSize } from '../lib/robust/bgmd.js';
import { benchArgs, numberArg } from './args.js';

const args = benchArgs({
  name: 'robust-phases',
  summary: 'Time of the phases of one BGMD step against full GM (prints a table).',
  options: {
    d: { type: 'string', value: '10000000', describe: 'coordinates' },
    beta: { type: 'string', value: '0.1', describe: 'BGMD block fraction' },
    reps: { type: 'string', value: '3', describe: 'timed repetitions' },
  },
});
function arg(name: keyof typeof args, fallback: number): number {
  return numberArg('robust-phases', name, args[name], fallback);
}

const n = ROWS;
const d = arg('d', 10_000_000);
const beta = arg('beta', 0.1);
const reps = arg('reps', 3);
const k = blockSize(beta, d);


const rows = makeRows(d, 0);
const memory = Array.from({ length: n }, () => new Float32Array(d));
const scores = new Float64Array(d);
const selected = new Uint32Array(k);
const capacity = 2 * k + 1024;
const candidates = { threshold: 0, index: new Uint32Array(capacity), score: new Float64Array(capacity) };
const columns = { ...candidates, index: new Uint32Array(capacity), score: new Float64Array(capacity), values: Array.from({ length: n }, () => new Float32Array(capacity)) };
const workersBgmd = new Bgmd({ workers: n, length: d, beta, memory: 'workers' });
const positions = new Uint32Array(k);
const bgmd = new Bgmd({ workers: n, length: d, beta });
const stepOut = new Float32Array(d);
let candidateCount = 0;
const blocks = Array.from({ length: n }, () => new Float32Array(k));
const blockScratch = new WeiszfeldScratch();
const blockValue = new Float32Array(k);
const update = new Float32Array(d);
const fullScratch = new WeiszfeldScratch();
const fullOut = new Float32Array(d);
const y = new Float64Array(d);
const next = new Float64Array(d);
const weights = new Float64Array(n).fill(1 / n);
const distances = new Float64Array(n);
const lr = Math.fround(0.1);

const phases = ['augmentedScores (candidates)', 'topKIndices of the candidates', 'augmentAndExtract', 'GM on the block', 'update (fill + scatter)', 'BGMD sum', 'Bgmd.step (whole round)', 'full GM: one weiszfeldStep', 'full GM',
  'workers: columnScores (candidates + columns)', 'workers: topKIndices of the candidates', 'workers: gatherColumns', 'workers: GM on the block', 'workers: update', 'workers: sum', 'workers: Bgmd.step (whole round)'] as const;
const times = new Map<string, number[]>(phases.map((p) => [p, []]));
const iterations: number[] = [];

function timed<T>(phase: (typeof phases)[number], fn: () => T, record: boolean): T {
  const t0 = performance.now();
  const r = fn();
  if (record) times.get(phase)?.push(performance.now() - t0);
  return r;
}

/** I: the top k of the first `count` candidates (positions, then coordinates), as Bgmd.step selects. */
function selectAmong(c: { index: Uint32Array; score: Float64Array }, count: number): void {
  kernels.topKIndices(c.score.subarray(0, count), k, positions);
  for (let t = 0; t < k; t++) selected[t] = c.index[positions[t]];
}

/** The update as Bgmd.step writes it: lr times the block's GM on I, 0 elsewhere. */
function writeUpdate(value: Float32Array): void {
  update.fill(0);
  for (let t = 0; t < k; t++) update[selected[t]] = lr * value[t];
}

for (let rep = 0; rep <= reps; rep++) {
  const record = rep > 0; // round 0 is the warm-up
  // Untimed: this round's threshold, the score at rank 1.2 k.
  kernels.augmentedScores(memory, rows, lr, scores, undefined);
  candidates.threshold = Float64Array.from(scores).sort()[Math.max(0, d - Math.ceil(1.2 * k))];
  const t0 = performance.now();
  const count = timed('augmentedScores (candidates)', () => kernels.augmentedScores(memory, rows, lr, undefined, candidates), record);
  if (count < k) throw new Error(`robust-phases: ${count} candidates for k = ${k}`);
  candidateCount = count;
  timed('topKIndices of the candidates', () => selectAmong(candidates, count), record);
  timed('augmentAndExtract', () => kernels.augmentAndExtract(memory, rows, lr, selected, lr, blocks), record);
  const gm = timed('GM on the block', () => geometricMedian(blocks, { out: blockValue, scratch: blockScratch, invalid: 'exclude', length: k }), record);
  timed('update (fill + scatter)', () => writeUpdate(gm.value), record);
  if (record) times.get('BGMD sum')?.push(performance.now() - t0);
  iterations.push(gm.report.iterations);
  timed('Bgmd.step (whole round)', () => bgmd.step(rows, lr, stepOut), record);
  timed('full GM: one weiszfeldStep', () => kernels.weiszfeldStep(rows, weights, 1, y, next, distances), record);
  timed('full GM', () => geometricMedian(rows, { out: fullOut, scratch: fullScratch }), record);
  // Memory at the workers: the rows stand for the augmented rows a_i.
  kernels.columnScores(rows, scores, undefined);
  columns.threshold = Float64Array.from(scores).sort()[Math.max(0, d - Math.ceil(1.2 * k))];
  const w0 = performance.now();
  const found = timed('workers: columnScores (candidates + columns)', () => kernels.columnScores(rows, undefined, columns), record);
  if (found < k) throw new Error(`robust-phases: ${found} candidates for k = ${k}`);
  timed('workers: topKIndices of the candidates', () => selectAmong(columns, found), record);
  timed('workers: gatherColumns', () => kernels.gatherColumns(columns.values, positions, lr, blocks), record);
  const wgm = timed('workers: GM on the block', () => geometricMedian(blocks, { out: blockValue, scratch: blockScratch, invalid: 'exclude', length: k }), record);
  timed('workers: update', () => writeUpdate(wgm.value), record);
  if (record) times.get('workers: sum')?.push(performance.now() - w0);
  timed('workers: Bgmd.step (whole round)', () => workersBgmd.step(rows, lr, stepOut), record);
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[(v.length - 1) >> 1];
console.log(`# robust-phases: n = ${n}, d = ${d}, beta ${beta} (k = ${k}), kernels = ${kernels.name}, node ${process.version}; one warm-up round, then ${reps}; medians`);
console.log(`# block GM iterations: ${iterations.slice(1).join(', ')}; candidates of the last pass: ${candidateCount}`);
console.log('| phase | ms (median) | all runs |');
console.log('|---|---|---|');
for (const p of phases) {
  const v = times.get(p) ?? [];
  console.log(`| ${p} | ${median(v).toFixed(1)} | ${v.map((x) => x.toFixed(1)).join(', ')} |`);
}
