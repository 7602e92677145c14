/**
 * The parameters' flat copy that SignumStrategy makes every step (flattenVariables: every variable's
 * data copied into one Float32Array of d floats, layout order), three ways, in one process:
 *   fresh       a new Float32Array each step (before: page faults on every 4 KiB and a 4d-byte
 *               array for the collector every step);
 *   kept-plain  one ordinary Float32Array kept across steps;
 *   kept-huge   one allocFloat32 array kept across steps (2 MiB pages where the host offers them;
 *               what SignumStrategy now keeps).
 * Median / best wall ms and CPU ms (process.cpuUsage: the collector's helper threads count) of
 * --reps steps after one warm-up. Check (exit 1 when wrong): every copy equals the variables'
 * data at 4099 sampled positions and at both ends of every variable.
 * Usage: node dist/bench/flatten-params.js [--d 25000000] [--reps 9]
 */
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { allocFloat32, hugePageStatus } from '../lib/kernels/huge-pages.js';
import { flattenVariables, layoutOf } from '../lib/train/gradient-layout.js';
import { benchArgs, numberArg } from './args.js';

const args = benchArgs({
  name: 'flatten-params',
  summary: "Time of SignumStrategy's flat parameter copy: a fresh array per step against a kept one (prints a table).",
  options: {
    d: { type: 'string', value: '25000000', describe: 'parameters (three variables: two halves and 1000)' },
    reps: { type: 'string', value: '9', describe: 'timed steps per way' },
  },
});
const d = numberArg('flatten-params', 'd', args.d, 25000000);
const reps = numberArg('flatten-params', 'reps', args.reps, 9);

// The CPU backend, as a training script without tfjs-node has (the variables' data live in JS arrays).
await tf.setBackend('cpu');
const half = Math.max(1, Math.floor((d - 1000) / 2));
const sizes = [half, Math.max(1, d - 1000 - half), 1000];
// Values that differ per position and per variable, so a misplaced slice is caught.
const vars = sizes.map((n, k) => tf.variable(tf.add(tf.mul(tf.range(0, n, 1, 'float32'), 1e-3), k + 1), true, `flatten_${k}`));
const layout = layoutOf(vars);
const values = await Promise.all(vars.map(async (v) => (await v.data()) as Float32Array));

function wrongIn(flat: Float32Array): number {
  let wrong = 0;
  for (let k = 0; k < vars.length; k++) {
    const o = layout.offsets[k];
    const n = layout.sizes[k];
    const at = (i: number): void => {
      if (flat[o + i] !== values[k][i]) wrong++;
    };
    at(0);
    at(n - 1);
    for (let i = 0; i < n; i += 4099) at(i);
  }
  return wrong;
}

type Way = 'fresh' | 'kept-plain' | 'kept-huge';
const kept: Record<Way, Float32Array | undefined> = { fresh: undefined, 'kept-plain': new Float32Array(layout.total), 'kept-huge': allocFloat32(layout.total) };
const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[(xs.length - 1) >> 1];

const load = loadavg().map((x) => x.toFixed(2)).join(' ');
const huge = hugePageStatus();
console.log(`# ${new Date().toISOString()}: d = ${layout.total}, ${reps} steps after a warm-up, node ${process.version}, load ${load}; huge pages: ${huge.advising ? `yes (THP ${huge.mode})` : `no (${huge.reason ?? ''})`}`);
console.log('| way | wall ms median / best | CPU ms median | wrong |');
console.log('|---|---|---|---|');
let failed = false;
for (const way of ['fresh', 'kept-plain', 'kept-huge'] as const) {
  const wall: number[] = [];
  const cpu: number[] = [];
  let wrong = 0;
  for (let r = 0; r <= reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const flat = await flattenVariables(vars, layout, kept[way]);
    const t1 = performance.now();
    const c = process.cpuUsage(c0);
    wrong += wrongIn(flat);
    if (r === 0) continue; // warm-up
    wall.push(t1 - t0);
    cpu.push((c.user + c.system) / 1000);
  }
  if (wrong !== 0) failed = true;
  console.log(`| ${way} | ${median(wall).toFixed(1)} / ${Math.min(...wall).toFixed(1)} | ${median(cpu).toFixed(1)} | ${wrong} |`);
}
console.log(failed ? '# check: FAILED (a copy differs from the variables)' : '# check: every copy equals the variables (sampled, both ends of each): 0 wrong');
tf.dispose(vars);
if (failed) process.exitCode = 1;
