/**
 * Pure simulation of straggler mitigation at n = 256 workers (results: bench/results/stragglers.md): wall time
 * for the same number of jobs of wait-for-all, GC, SR-SGC and M-SGC, driven by zcoll's own schedulers
 * (lib/coding) and straggler models (lib/faults/stragglers.ts).
 *
 * Model: worker w in round r takes GE(w, r) · jitter · (1 s + C · load_w(r)) where load_w(r) is the
 * normalised work the scheduler gave it that round and GE is a per-worker Gilbert-Elliott slowdown
 * (×3 while bad, ±10 % jitter). Runtime rule of the authors: wait for the fastest, deadline
 * (1 + μ) · fastest with μ = 1; accept the round if the late set is acceptable to the scheme, else
 * wait for all (a wait-out). Parameters by the authors' method: simulate every candidate on a
 * profiling run of 80 jobs (its own seed) within the delay budget (M-SGC W − 1 + B <= 4, SR-SGC
 * B <= 4), keep the fastest, then measure the winners on fresh seeds.
 *
 * Run: node dist/bench/stragglers-sim.js [--quick]   (about 1-2 min on one core; --quick: seconds)
 */
import { acceptRound, createScheduler, parameterCandidates, type CodedScheduler, type SchedulerOptions } from '../lib/coding/sequential.js';
import { GradientCode } from '../lib/coding/gradient-code.js';
import { createStragglerModel } from '../lib/faults/stragglers.js';
import { Prng } from '../lib/prng.js';
import { benchArgs } from './args.js';

const args = benchArgs({
  name: 'stragglers-sim',
  summary: 'Simulated straggler mitigation at n = 256 workers (prints the tables of bench/results/stragglers.md).',
  options: {
    quick: { type: 'boolean', describe: 'fewer jobs and seeds: seconds, not minutes' },
  },
});
const quick = args.quick;
const N = 256;
const MU = 1;
const BASE_MS = 1000;
const PROFILE_JOBS = quick ? 30 : 80;
const EVAL_JOBS = quick ? 60 : 480;
const EVAL_SEEDS = quick ? [101] : [101, 102, 103, 104, 105];
const MAX_DELAY = 4;
const SR_MAX_W = quick ? 5 : 9;
const LAMBDA_STEP = quick ? 16 : 1;

interface Regime {
  name: string;
  spec: string;
}
const REGIMES: Regime[] = [
  { name: 'frequent', spec: 'ge:p=0.08,q=0.7,slow=3,jitter=0.1' },
  { name: 'rare', spec: 'ge:p=0.003,q=0.7,slow=3,jitter=0.1' },
];
const COSTS_S = [20, 5];

/** Per round and worker, the slowdown multiplier (model duration of 1 ms of work). */
function slowdowns(spec: string, seed: number, rounds: number): Float64Array[] {
  const model = createStragglerModel(spec, { seed });
  return Array.from({ length: rounds }, (_, r) => Float64Array.from({ length: N }, (_, w) => model.durationFor(w, r, 1)));
}

interface RunResult {
  wallMs: number;
  waitOuts: number;
  lateDropped: number;
}

function run(options: SchedulerOptions, factors: readonly Float64Array[], costMsPerLoad: number): RunResult {
  const scheduler: CodedScheduler = createScheduler(options);
  const finish = new Float64Array(N);
  let wallMs = 0;
  let waitOuts = 0;
  let lateDropped = 0;
  for (let r = 0; r < scheduler.rounds; r++) {
    for (let w = 0; w < N; w++) {
      const tasks = scheduler.tasksFor(r, w);
      if (tasks.length === 0) {
        finish[w] = NaN;
        continue;
      }
      let load = 0;
      for (const task of tasks) load += scheduler.taskLoad(task);
      finish[w] = factors[r][w] * (BASE_MS + costMsPerLoad * load);
    }
    const outcome = acceptRound(finish, MU, scheduler);
    if (outcome.waitOut) waitOuts++;
    lateDropped += outcome.late.length;
    wallMs += outcome.roundMs;
    scheduler.onRoundResult(r, outcome.late);
    for (const job of scheduler.jobsDueAt(r)) {
      // The rule only accepts rounds that keep due jobs decodable; a failure here is a bug.
      if (!scheduler.decodable(job)) throw new Error(`${options.scheme} ${JSON.stringify(options)}: job ${job} not decodable`);
    }
  }
  return { wallMs, waitOuts, lateDropped };
}

function describe(o: SchedulerOptions): string {
  if (o.scheme === 'gc') return o.s === 0 ? '-' : `s=${o.s}`;
  return `B=${o.B}, W=${o.W}, λ=${o.lambda}`;
}

function withJobs(o: SchedulerOptions, jobs: number): SchedulerOptions {
  return { ...o, jobs };
}

function meanSd(values: number[]): [number, number] {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = values.length > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1)) : 0;
  return [mean, sd];
}

function main(): void {
  const started = Date.now();
  const lines: string[] = [];
  const say = (line: string): void => {
    lines.push(line);
    console.log(line);
  };
  say(`n=${N}, mu=${MU}, base ${BASE_MS} ms, profiling ${PROFILE_JOBS} jobs (seed 7), evaluation ${EVAL_JOBS} jobs x ${EVAL_SEEDS.length} seeds, delay budget ${MAX_DELAY} (SR-SGC W <= ${SR_MAX_W}), lambda step ${LAMBDA_STEP}`);
  for (const regime of REGIMES) {
    const profile = slowdowns(regime.spec, 7, PROFILE_JOBS + MAX_DELAY + 1);
    const evals = EVAL_SEEDS.map((seed) => slowdowns(regime.spec, seed, EVAL_JOBS + MAX_DELAY + 1));
    let slowCount = 0;
    for (const f of evals[0]) for (let w = 0; w < N; w++) if (f[w] > 2) slowCount++;
    for (const costS of COSTS_S) {
      const cost = costS * 1000;
      say('');
      say(`### ${regime.name} stragglers (${regime.spec}), C = ${costS} s per unit load; ${(slowCount / evals[0].length).toFixed(1)} slow workers per round`);
      say('');
      say('| scheme | parameters (chosen on the profiling run) | T | load | wall time, s (mean ± sd) | wait-outs per run | vs GC |');
      say('|---|---|---|---|---|---|---|');
      const searchStart = Date.now();
      const candidates: Record<string, SchedulerOptions[]> = {
        'wait for all': [{ scheme: 'gc', workers: N, jobs: PROFILE_JOBS, s: 0 }],
        GC: parameterCandidates('gc', N, PROFILE_JOBS, { maxDelay: MAX_DELAY, lambdaStep: LAMBDA_STEP }),
        'SR-SGC': parameterCandidates('sr-sgc', N, PROFILE_JOBS, { maxDelay: MAX_DELAY, maxW: SR_MAX_W, lambdaStep: LAMBDA_STEP }),
        'M-SGC': parameterCandidates('m-sgc', N, PROFILE_JOBS, { maxDelay: MAX_DELAY, lambdaStep: LAMBDA_STEP }),
      };
      const rows: { name: string; best: SchedulerOptions; mean: number; sd: number; waits: number; load: number; delay: number }[] = [];
      let searched = 0;
      for (const [name, list] of Object.entries(candidates)) {
        let best = list[0];
        let bestMs = Number.POSITIVE_INFINITY;
        for (const options of list) {
          const { wallMs } = run(options, profile, cost);
          searched++;
          if (wallMs < bestMs) {
            bestMs = wallMs;
            best = options;
          }
        }
        const results = evals.map((factors) => run(withJobs(best, EVAL_JOBS), factors, cost));
        const [mean, sd] = meanSd(results.map((x) => x.wallMs / 1000));
        const scheduler = createScheduler(withJobs(best, EVAL_JOBS));
        rows.push({ name, best, mean, sd, waits: meanSd(results.map((x) => x.waitOuts))[0], load: scheduler.load, delay: scheduler.delay });
      }
      const gc = rows.find((row) => row.name === 'GC') as (typeof rows)[number];
      for (const row of rows) {
        const versus = row.name === 'GC' ? '-' : `${(((row.mean - gc.mean) / gc.mean) * 100).toFixed(1)} %`;
        say(`| ${row.name} | ${describe(row.best)} | ${row.delay} | ${row.load.toFixed(6)} | ${row.mean.toFixed(1)} ± ${row.sd.toFixed(1)} | ${row.waits.toFixed(1)} | ${versus} |`);
      }
      const fastest = rows.reduce((a, b) => (b.mean < a.mean ? b : a));
      say('');
      say(`fastest: ${fastest.name}; ${searched} parameter sets simulated in ${((Date.now() - searchStart) / 1000).toFixed(1)} s`);
    }
  }

  // Decoding cost of the gradient codes involved, per new straggler pattern (cached afterwards).
  say('');
  say('### decodeVector cost at n = 256 (float64 least squares, one new pattern)');
  say('');
  say('| code | s | stragglers | ms per pattern | max abs coefficient | max abs(a^T B - 1) |');
  say('|---|---|---|---|---|---|');
  const rng = new Prng(1);
  for (const [s, kind] of [
    [15, 'frc'],
    [15, 'crc'],
    [27, 'crc'],
    [60, 'crc'],
  ] as const) {
    const code = GradientCode.create(N, s, { kind });
    const stragglers = new Set(rng.shuffle(Array.from({ length: N }, (_, i) => i)).slice(0, s));
    const responders = Array.from({ length: N }, (_, i) => i).filter((i) => !stragglers.has(i));
    const t0 = process.hrtime.bigint();
    const a = code.decodeVector(responders);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    let maxA = 0;
    for (const v of a) maxA = Math.max(maxA, Math.abs(v));
    say(`| ${kind.toUpperCase()} | ${s} | ${s} | ${ms.toFixed(1)} | ${maxA.toExponential(2)} | ${code.residual(a).toExponential(2)} |`);
  }
  say('');
  say(`total ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main();
