/**
 * Aggregation time per round: full geometric median (Weiszfeld + Vardi-Zhang on all d coordinates)
 * against BGMD (score, O(d) top-k selection, GM on k = beta d coordinates, per-worker memory) at
 * beta 0.1 and 0.05, for n = 16 rows and d = 1M and 10M, in one run with the same rows (methods interleaved round by round, after one untimed
 * warm-up round each, so a busy machine slows all of them alike; wall and CPU time reported).
 * Rows: 12 honest rows = a shared signal with per-coordinate scales (log-normal, so a few
 * coordinates carry most of the norm, as in real gradients) plus N(0, 0.5^2) noise, and 4 Gaussian
 * Byzantine rows N(0, 10^2): the GM has real work to do. GM defaults: eps 1e-5, maxIter 100.
 * Usage: node dist/bench/robust-speed.js [--d 1000000,10000000] [--reps 3]
 */
import { kernels } from '../lib/kernels/index.js';
import { Prng } from '../lib/prng.js';
import { Bgmd } from '../lib/robust/bgmd.js';
import { geometricMedian } from '../lib/robust/geometric-median.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const n = 16;
const byzantine = 4;
const sizes = arg('d', '1000000,10000000').split(',').map(Number);
const reps = Number(arg('reps', '3'));

function makeRows(d: number, round: number): Float32Array[] {
  const prng = new Prng(1000 + round);
  const signal = new Float32Array(d);
  for (let j = 0; j < d; j++) signal[j] = Math.exp(1.5 * prng.normal()) * (prng.next() < 0.5 ? -1 : 1) * 0.1;
  return Array.from({ length: n }, (_, i) => {
    const row = new Float32Array(d);
    if (i < byzantine) for (let j = 0; j < d; j++) row[j] = 10 * prng.normal();
    else for (let j = 0; j < d; j++) row[j] = signal[j] + 0.5 * prng.normal();
    return row;
  });
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1];
}

interface Timing {
  wall: number[];
  cpu: number[];
  iterations: number[];
}

/** Wall and CPU (user + system) milliseconds of one call. */
function timed<T>(fn: () => T, into: Timing, iterations: (r: T) => number): void {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = fn();
  into.wall.push(performance.now() - t0);
  const c = process.cpuUsage(c0);
  into.cpu.push((c.user + c.system) / 1000);
  into.iterations.push(iterations(r));
}

console.log(`# robust-speed: n = ${n} rows (${byzantine} Gaussian sigma 10), kernels = ${kernels.name}, node ${process.version}`);
console.log(`# one untimed warm-up round per method, then ${reps} timed rounds, methods interleaved round by round; medians`);
console.log('| d | aggregator | wall ms per round | CPU ms per round | GM iterations | speed-up vs full GM (wall / CPU) |');
console.log('|---|---|---|---|---|---|');
for (const d of sizes) {
  const rounds = Array.from({ length: reps }, (_, r) => makeRows(d, r));
  const betas = [0.1, 0.05];
  const bgmds = betas.map((beta) => new Bgmd({ workers: n, length: d, beta }));
  const gm: Timing = { wall: [], cpu: [], iterations: [] };
  const bg: Timing[] = betas.map(() => ({ wall: [], cpu: [], iterations: [] }));
  // Warm-up: JIT, and the first touch of each BGMD's n x d memory (page faults), untimed.
  geometricMedian(rounds[0]);
  for (const b of bgmds) b.step(rounds[0], 0.1);
  for (const rows of rounds) {
    timed(() => geometricMedian(rows), gm, (r) => r.report.iterations);
    bgmds.forEach((b, i) => timed(() => b.step(rows, 0.1), bg[i], (r) => r.report.inner.iterations));
  }
  const gmWall = median(gm.wall);
  const gmCpu = median(gm.cpu);
  console.log(`| ${d.toExponential(0)} | full GM | ${gmWall.toFixed(0)} | ${gmCpu.toFixed(0)} | ${gm.iterations.join(', ')} | 1.0 / 1.0 |`);
  bgmds.forEach((b, i) => {
    const w = median(bg[i].wall);
    const c = median(bg[i].cpu);
    console.log(
      `| ${d.toExponential(0)} | BGMD beta ${b.beta} (k = ${b.k}) | ${w.toFixed(0)} | ${c.toFixed(0)} | ${bg[i].iterations.join(', ')} | ${(gmWall / w).toFixed(1)} / ${(gmCpu / c).toFixed(1)} |`,
    );
  });
}
