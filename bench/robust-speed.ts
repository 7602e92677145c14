/**
 * Aggregation time per round: full geometric median (Weiszfeld + Vardi-Zhang on all d coordinates)
 * against BGMD (score, O(d) top-k selection, GM on k = beta d coordinates, per-worker memory) at
 * beta 0.1 and 0.05, for n = 16 rows and d = 1M and 10M, in one run with the same rows (methods interleaved round by round, after one untimed
 * warm-up round each, so a busy machine slows all of them alike; wall and CPU time reported).
 * Rows: robust-rows.ts (12 honest rows around a shared log-normal-scaled signal, 4 Gaussian
 * Byzantine rows N(0, 10^2)), one set per round. GM defaults: eps 1e-5, maxIter 100.
 * Two figures per method: steady state (the caller's `out` buffer and, for GM, a WeiszfeldScratch
 * reused every round, as a training loop runs it; BGMD reuses its inner GM's buffers itself) and
 * fresh allocation (a new result, and for GM new float64 iterates, per call; first touch of new
 * pages is expensive on the benchmark VM). The speed-up column compares like with like.
 * BGMD with the memory at the workers (memory 'workers', lib/robust/bgmd-residual.ts; the same
 * rounds bit for bit): the aggregator's step over the augmented rows, timed like the others
 * (steady only), and in a second table each worker's own part (augment, then commit I), whose
 * workers run in parallel on their own machines; that table also gives the whole round's work as if
 * one machine ran all 16 workers' parts one after the other.
 * Usage: node dist/bench/robust-speed.js [--d 1000000,10000000] [--reps 3]
 */
import { kernels } from '../lib/kernels/index.js';
import { BYZANTINE_ROWS, makeRows, ROWS } from './robust-rows.js';
import { Bgmd } from '../lib/robust/bgmd.js';
import { BgmdResidual } from '../lib/robust/bgmd-residual.js';
import { geometricMedian, WeiszfeldScratch } from '../lib/robust/geometric-median.js';
import { benchArgs, numberArg, numberListArg } from './args.js';

const args = benchArgs({
  name: 'robust-speed',
  summary: 'Time per aggregation of every robust aggregator (prints a table).',
  options: {
    d: { type: 'string', value: '1000000,10000000', describe: 'coordinates, comma-separated' },
    reps: { type: 'string', value: '3', describe: 'timed repetitions' },
  },
});

const n = ROWS;
const sizes = numberListArg('robust-speed', 'd', args.d, [1_000_000, 10_000_000]);
const reps = numberArg('robust-speed', 'reps', args.reps, 3);


function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1];
}

interface Timing {
  wall: number[];
  cpu: number[];
  iterations: number[];
}

/** Wall and CPU (user + system) milliseconds of one call, recorded in `into`; returns the call's result. */
function timed<T>(fn: () => T, into: Timing, iterations: (r: T) => number): T {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = fn();
  into.wall.push(performance.now() - t0);
  const c = process.cpuUsage(c0);
  into.cpu.push((c.user + c.system) / 1000);
  into.iterations.push(iterations(r));
  return r;
}

console.log(`# robust-speed: n = ${n} rows (${BYZANTINE_ROWS} Gaussian sigma 10), kernels = ${kernels.name}, node ${process.version}`);
console.log(`# one untimed warm-up round per method and mode, then ${reps} timed rounds, all interleaved round by round; medians`);
console.log('# steady = reused out buffer (+ GM scratch); fresh = new buffers per call. Speed-up = full GM / BGMD in the same mode.');
console.log('| d | aggregator | steady wall ms | steady CPU ms | fresh wall ms | fresh CPU ms | GM iterations | speed-up steady (wall / CPU) | speed-up fresh (wall / CPU) |');
console.log('|---|---|---|---|---|---|---|---|---|');
const newTiming = (): Timing => ({ wall: [], cpu: [], iterations: [] });
const workerLines: string[] = [];
for (const d of sizes) {
  const rounds = Array.from({ length: reps }, (_, r) => makeRows(d, r));
  const betas = [0.1, 0.05];
  // Separate instances per mode, so each BGMD memory follows one trajectory of rounds.
  const steadyB = betas.map((beta) => new Bgmd({ workers: n, length: d, beta }));
  const freshB = betas.map((beta) => new Bgmd({ workers: n, length: d, beta }));
  const gmOut = new Float32Array(d);
  const gmScratch = new WeiszfeldScratch();
  const bOut = betas.map(() => new Float32Array(d));
  const gmS = newTiming();
  const gmF = newTiming();
  const bS = betas.map(newTiming);
  const bF = betas.map(newTiming);
  // Memory at the workers: one aggregator and 16 residuals per beta (steady mode only).
  const atWorkers = betas.map((beta) => ({
    aggregator: new Bgmd({ workers: n, length: d, beta, memory: 'workers' }),
    residuals: Array.from({ length: n }, () => new BgmdResidual({ length: d })),
    out: new Float32Array(d),
    step: newTiming(),
    /** Per round: each worker's augment + commit, ms. */
    workers: [] as number[][],
  }));
  const roundAtWorkers = (w: (typeof atWorkers)[number], rows: Float32Array[], timing: boolean): void => {
    const own = new Array<number>(n).fill(0);
    const a = w.residuals.map((r, i) => {
      const t0 = performance.now();
      const row = r.augment(rows[i], 0.1);
      own[i] += performance.now() - t0;
      return row;
    });
    const done = timed(() => w.aggregator.step(a, 0.1, w.out), timing ? w.step : newTiming(), (r) => r.report.inner.iterations);
    w.residuals.forEach((r, i) => {
      const t0 = performance.now();
      r.commit(done.selected, !done.report.invalidRows.includes(i));
      own[i] += performance.now() - t0;
    });
    if (timing) w.workers.push(own);
  };
  const gmSteady = (rows: Float32Array[]) => geometricMedian(rows, { out: gmOut, scratch: gmScratch });
  // Warm-up: JIT, the first touch of each BGMD's n x d memory and of the reused buffers, untimed.
  gmSteady(rounds[0]);
  geometricMedian(rounds[0]);
  steadyB.forEach((b, i) => b.step(rounds[0], 0.1, bOut[i]));
  for (const b of freshB) b.step(rounds[0], 0.1);
  for (const w of atWorkers) roundAtWorkers(w, rounds[0], false);
  for (const rows of rounds) {
    timed(() => gmSteady(rows), gmS, (r) => r.report.iterations);
    timed(() => geometricMedian(rows), gmF, (r) => r.report.iterations);
    steadyB.forEach((b, i) => timed(() => b.step(rows, 0.1, bOut[i]), bS[i], (r) => r.report.inner.iterations));
    freshB.forEach((b, i) => timed(() => b.step(rows, 0.1), bF[i], (r) => r.report.inner.iterations));
    for (const w of atWorkers) roundAtWorkers(w, rows, true);
  }
  const gs = { w: median(gmS.wall), c: median(gmS.cpu) };
  const gf = { w: median(gmF.wall), c: median(gmF.cpu) };
  const f0 = (x: number) => x.toFixed(0);
  console.log(`| ${d.toExponential(0)} | full GM | ${f0(gs.w)} | ${f0(gs.c)} | ${f0(gf.w)} | ${f0(gf.c)} | ${gmS.iterations.join(', ')} | 1.0 / 1.0 | 1.0 / 1.0 |`);
  steadyB.forEach((b, i) => {
    const s = { w: median(bS[i].wall), c: median(bS[i].cpu) };
    const f = { w: median(bF[i].wall), c: median(bF[i].cpu) };
    console.log(
      `| ${d.toExponential(0)} | BGMD beta ${b.beta} (k = ${b.k}) | ${f0(s.w)} | ${f0(s.c)} | ${f0(f.w)} | ${f0(f.c)} | ${bS[i].iterations.join(', ')} | ` +
        `${(gs.w / s.w).toFixed(1)} / ${(gs.c / s.c).toFixed(1)} | ${(gf.w / f.w).toFixed(1)} / ${(gf.c / f.c).toFixed(1)} |`,
    );
  });
  atWorkers.forEach((w) => {
    const b = w.aggregator;
    const s = { w: median(w.step.wall), c: median(w.step.cpu) };
    console.log(
      `| ${d.toExponential(0)} | BGMD beta ${b.beta}, memory at the workers: the aggregator | ${f0(s.w)} | ${f0(s.c)} | - | - | ${w.step.iterations.join(', ')} | ` +
        `${(gs.w / s.w).toFixed(1)} / ${(gs.c / s.c).toFixed(1)} | - |`,
    );
    // Per worker: the median over rounds of each worker's time, then the median and the largest over workers.
    const perWorker = Array.from({ length: n }, (_, i) => median(w.workers.map((round) => round[i])));
    const serial = median(w.workers.map((round) => round.reduce((x, y) => x + y, 0)));
    const slowest = Math.max(...perWorker);
    const one = (x: number) => x.toFixed(1);
    workerLines.push(
      `| ${d.toExponential(0)} | ${b.beta} | ${one(median(perWorker))} | ${one(slowest)} | ${f0(s.w + slowest)} | ${(gs.w / (s.w + slowest)).toFixed(1)} | ` +
        `${f0(s.w + serial)} | ${(gs.w / (s.w + serial)).toFixed(1)} |`,
    );
  });
}
console.log('');
console.log("# memory at the workers: each worker's own part per round (BgmdResidual.augment, then commit I; medians over the timed rounds)");
console.log('# parallel = aggregator + the slowest worker (workers on their own machines); one machine = aggregator + all 16 workers one after the other');
console.log('| d | beta | worker ms (median) | worker ms (slowest) | parallel ms | full GM / parallel | one machine ms | full GM / one machine |');
console.log('|---|---|---|---|---|---|---|---|');
for (const line of workerLines) console.log(line);
