import t from 'tap';
import {
  acceptRound,
  createScheduler,
  gcLoad,
  mSgcLoad,
  normalisedLoad,
  parameterCandidates,
  schemeDelay,
  srSgcStragglers,
  type CodedScheduler,
  type CodedTask,
  type SchedulerOptions,
} from '../../lib/coding/sequential.js';
import { Prng } from '../../lib/prng.js';

const DIM = 6;

t.test('normalised loads against hand-computed values (the parameter sets of Krishnan et al., ICLR 2023)', (t) => {
  // M-SGC (B=1, W=2, lambda=27), n=256: 28*2 / (256 * (1 + 28)) = 56/7424 = 0.0075431...
  t.ok(Math.abs(mSgcLoad(256, 1, 2, 27) - 0.007543) < 5e-7, `M-SGC load ${mSgcLoad(256, 1, 2, 27)}`);
  // SR-SGC (B=2, W=3, lambda=23): s = ceil(46 / 4) = 12, load 13/256 = 0.05078125
  t.equal(srSgcStragglers(2, 3, 23), 12);
  t.ok(Math.abs(normalisedLoad({ scheme: 'sr-sgc', workers: 256, jobs: 1, B: 2, W: 3, lambda: 23 }) - 0.050781) < 5e-7);
  // GC s = 15: 16/256
  t.equal(gcLoad(256, 15), 0.0625);
  // M-SGC (B=2, W=3, lambda=3), n=8: 4*4 / (8 * (2 + 2*4)) = 16/80 = 0.2
  t.ok(Math.abs(mSgcLoad(8, 2, 3, 3) - 0.2) < 1e-15);
  // SR-SGC (B=1, W=4, lambda=3): ceil(3/4) = 1; (B=3, W=4, lambda=4): ceil(12/6) = 2
  t.equal(srSgcStragglers(1, 4, 3), 1);
  t.equal(srSgcStragglers(3, 4, 4), 2);
  t.equal(schemeDelay({ scheme: 'm-sgc', workers: 8, jobs: 1, B: 2, W: 3, lambda: 3 }), 3);
  t.equal(schemeDelay({ scheme: 'sr-sgc', workers: 8, jobs: 1, B: 2, W: 3, lambda: 3 }), 2);
  t.equal(schemeDelay({ scheme: 'gc', workers: 8, jobs: 1, s: 2 }), 0);
  // The scheduler's load equals the formula, and its partition fractions sum to 1.
  for (const options of [
    { scheme: 'm-sgc', workers: 9, jobs: 3, B: 3, W: 4, lambda: 4 },
    { scheme: 'sr-sgc', workers: 9, jobs: 3, B: 3, W: 4, lambda: 4 },
    { scheme: 'gc', workers: 9, jobs: 3, s: 2 },
  ] as SchedulerOptions[]) {
    const scheduler = createScheduler(options);
    t.ok(Math.abs(scheduler.load - normalisedLoad(options)) < 1e-15, `${options.scheme} load`);
    t.ok(Math.abs(scheduler.partitionFractions.reduce((a, b) => a + b, 0) - 1) < 1e-12, `${options.scheme} fractions sum to 1`);
    // Every task covers load / tasks-per-round of the data: sum of its partitions' fractions.
    const task = scheduler.tasksFor(0, 0)[0];
    const covered = scheduler.encodingFor(0, task).reduce((sum, e) => sum + scheduler.partitionFractions[e.partition], 0);
    t.ok(Math.abs(covered - scheduler.taskLoad(task)) < 1e-12, `${options.scheme} task size matches its partitions`);
  }
  t.end();
});

/** The job's partition gradients: a pure function of (job, partition). */
function partitionGradients(scheduler: CodedScheduler, job: number): Float64Array[] {
  const rng = new Prng(7919 * job + 17);
  return Array.from(scheduler.partitionFractions, () => Float64Array.from({ length: DIM }, () => rng.normal()));
}

const messageKey = (round: number, worker: number, task: CodedTask): string => `${round}/${worker}/${task.job}/${task.kind}/${task.index}`;

interface SimulationReport {
  decoded: number;
  worstError: number;
  stragglerRounds: number;
  violations: string[];
}

/**
 * Runs a scheduler end to end in-process with float64 gradients: workers encode their tasks, late
 * workers' messages are lost, each job is decoded when due and compared with the direct sum.
 */
function simulate(scheduler: CodedScheduler, pickLate: (round: number) => number[]): SimulationReport {
  const cache = new Map<number, Float64Array[]>();
  const gradients = (job: number): Float64Array[] => {
    let g = cache.get(job);
    if (g === undefined) cache.set(job, (g = partitionGradients(scheduler, job)));
    return g;
  };
  const messages = new Map<string, Float64Array>();
  const report: SimulationReport = { decoded: 0, worstError: 0, stragglerRounds: 0, violations: [] };
  for (let round = 0; round < scheduler.rounds; round++) {
    const late = pickLate(round);
    if (late.length > 0) report.stragglerRounds++;
    for (let w = 0; w < scheduler.workers; w++) {
      const tasks = scheduler.tasksFor(round, w);
      const inFlight = new Set<number>();
      for (const task of tasks) {
        if (task.job < round - scheduler.delay || task.job > round) report.violations.push(`round ${round}: worker ${w} has job ${task.job} outside rounds t..t+T`);
        if (inFlight.has(task.job)) report.violations.push(`round ${round}: worker ${w} has two tasks of job ${task.job}`);
        inFlight.add(task.job);
        if (late.includes(w)) continue;
        const message = new Float64Array(DIM);
        const g = gradients(task.job);
        for (const { partition, coefficient } of scheduler.encodingFor(w, task)) for (let x = 0; x < DIM; x++) message[x] += coefficient * g[partition][x];
        messages.set(messageKey(round, w, task), message);
      }
    }
    scheduler.onRoundResult(round, late);
    for (const job of scheduler.jobsDueAt(round)) {
      if (!scheduler.decodable(job)) {
        report.violations.push(`job ${job} not decodable at the end of round ${round}`);
        continue;
      }
      const decoded = new Float64Array(DIM);
      for (const term of scheduler.decoderFor(job)) {
        const m = messages.get(messageKey(term.round, term.worker, term.task));
        if (m === undefined || term.task.job !== job) {
          report.violations.push(`job ${job}: decoder term uses a message that never arrived (${messageKey(term.round, term.worker, term.task)})`);
          continue;
        }
        for (let x = 0; x < DIM; x++) decoded[x] += term.coefficient * m[x];
      }
      const direct = new Float64Array(DIM);
      for (const g of gradients(job)) for (let x = 0; x < DIM; x++) direct[x] += g[x];
      let err = 0;
      let scale = 1;
      for (let x = 0; x < DIM; x++) {
        err = Math.max(err, Math.abs(decoded[x] - direct[x]));
        scale = Math.max(scale, Math.abs(direct[x]));
      }
      report.worstError = Math.max(report.worstError, err / scale);
      report.decoded++;
    }
  }
  return report;
}

/**
 * Random straggler candidates (each worker late with probability p), thinned in random order to the
 * largest set that still conforms to the scheme's model: patterns that push the model to its limit.
 */
function conformingPicker(scheduler: CodedScheduler, p: number, seed: number): (round: number) => number[] {
  const rng = new Prng(seed);
  return () => {
    const candidates = rng.shuffle(Array.from({ length: scheduler.workers }, (_, i) => i)).filter(() => rng.next() < p);
    const late: number[] = [];
    for (const w of candidates) if (scheduler.conforms([...late, w])) late.push(w);
    return late;
  };
}

t.test('under random conforming straggler patterns every job decodes to the direct sum', (t) => {
  const sets = [
    [6, 1, 2, 2],
    [6, 2, 3, 2],
    [8, 2, 5, 3],
    [9, 3, 4, 4],
    [10, 1, 4, 3],
    [12, 2, 3, 6],
    [7, 1, 3, 6],
  ] as const;
  let runs = 0;
  let decoded = 0;
  let stragglerRounds = 0;
  let worst = 0;
  for (const [n, B, W, lambda] of sets) {
    for (const p of [0.1, 0.3, 0.6]) {
      for (const seed of [1, 2]) {
        const all: SchedulerOptions[] = [
          { scheme: 'm-sgc', workers: n, jobs: 30, B, W, lambda },
          { scheme: 'sr-sgc', workers: n, jobs: 30, B, W, lambda },
          { scheme: 'gc', workers: n, jobs: 30, s: Math.min(n - 1, lambda) },
        ];
        for (const options of all) {
          const scheduler = createScheduler(options);
          const report = simulate(scheduler, conformingPicker(scheduler, p, 1000 * seed + n));
          if (report.violations.length > 0) t.fail(`${JSON.stringify(options)} p=${p} seed=${seed}: ${report.violations.slice(0, 3).join('; ')}`);
          if (report.decoded !== 30) t.fail(`${options.scheme}: decoded ${report.decoded} of 30 jobs`);
          runs++;
          decoded += report.decoded;
          stragglerRounds += report.stragglerRounds;
          worst = Math.max(worst, report.worstError);
        }
      }
    }
  }
  t.equal(decoded, runs * 30, `${runs} runs, every job decoded`);
  t.ok(worst < 1e-9, `worst relative error ${worst.toExponential(2)}`);
  t.ok(stragglerRounds > runs * 5, `patterns are not trivial: ${stragglerRounds} rounds with stragglers`);
  t.end();
});

t.test('M-SGC: W-1+B mini-tasks per worker per round, job t only in rounds t..t+T', (t) => {
  for (const [n, B, W, lambda] of [
    [6, 2, 3, 2],
    [9, 3, 4, 4],
    [10, 1, 4, 3],
  ] as const) {
    const jobs = 12;
    const scheduler = createScheduler({ scheme: 'm-sgc', workers: n, jobs, B, W, lambda });
    const pick = conformingPicker(scheduler, 0.3, 5);
    const rounds = new Map<number, Set<number>>();
    let wrongCount = 0;
    for (let r = 0; r < scheduler.rounds; r++) {
      const inFlight = Array.from({ length: W - 1 + B }, (_, m) => r - m).filter((job) => job >= 0 && job < jobs).length;
      for (let w = 0; w < n; w++) {
        const tasks = scheduler.tasksFor(r, w);
        if (tasks.length !== inFlight) wrongCount++;
        if (r >= scheduler.delay && r < jobs && tasks.length !== W - 1 + B) wrongCount++;
        for (const task of tasks) rounds.set(task.job, (rounds.get(task.job) ?? new Set()).add(r));
      }
      scheduler.onRoundResult(r, pick(r));
    }
    t.equal(wrongCount, 0, `(${n}, ${B}, ${W}, ${lambda}): W-1+B = ${W - 1 + B} mini-tasks per worker in full rounds`);
    let outside = 0;
    for (const [job, rs] of rounds) for (const r of rs) if (r < job || r > job + scheduler.delay) outside++;
    t.equal(outside, 0, `every mini-task of job t is in rounds t..t+${scheduler.delay}`);
    t.equal(rounds.size, jobs);
  }
  t.end();
});

t.test('SR-SGC: one task per worker per round, job t only in rounds t and t+B', (t) => {
  const scheduler = createScheduler({ scheme: 'sr-sgc', workers: 8, jobs: 15, B: 2, W: 5, lambda: 3 });
  const pick = conformingPicker(scheduler, 0.4, 9);
  let repeats = 0;
  for (let r = 0; r < scheduler.rounds; r++) {
    for (let w = 0; w < 8; w++) {
      const tasks = scheduler.tasksFor(r, w);
      t.ok(tasks.length <= 1 && (r >= 15 || tasks.length === 1) || t.fail(`round ${r} worker ${w}: ${tasks.length} tasks`));
      for (const task of tasks) {
        if (task.job !== r && task.job !== r - 2) t.fail(`round ${r}: job ${task.job}`);
        if (task.job === r - 2) repeats++;
      }
    }
    scheduler.onRoundResult(r, pick(r));
  }
  t.ok(repeats > 0, `selective repetition happened (${repeats} repeated tasks)`);
  t.end();
});

t.test('hand-written M-SGC trace, n = 3, B = 1, W = 2, lambda = 1', (t) => {
  const s = createScheduler({ scheme: 'm-sgc', workers: 3, jobs: 3, B: 1, W: 2, lambda: 1 });
  t.equal(s.delay, 1);
  const tasks = (r: number) => [0, 1, 2].map((w) => s.tasksFor(r, w));
  const d1 = (job: number, index = 0): CodedTask => ({ job, kind: 'd1', index });
  const d2 = (job: number): CodedTask => ({ job, kind: 'd2', index: 0 });
  // Round 0: only job 0 is in flight, its D1 chunk.
  t.same(tasks(0), [[d1(0)], [d1(0)], [d1(0)]]);
  s.onRoundResult(0, []);
  // Round 1: D1 of job 1, coded D2 of job 0 (everyone delivered D1 of job 0). Worker 1 is late.
  t.same(tasks(1), [
    [d1(1), d2(0)],
    [d1(1), d2(0)],
    [d1(1), d2(0)],
  ]);
  t.ok(acceptRound([10, 30, 12], 1, s).accepted, 'one late worker conforms');
  s.onRoundResult(1, [1]);
  t.same(s.jobsDueAt(1), [0]);
  t.ok(s.decodable(0), 'job 0: all D1 from round 0, D2 from workers 0 and 2');
  t.same(
    s.decoderFor(0).filter((term) => term.task.kind === 'd1').map((term) => [term.worker, term.round]),
    [
      [0, 0],
      [1, 0],
      [2, 0],
    ],
  );
  t.same(s.decoderFor(0).filter((term) => term.task.kind === 'd2').map((term) => term.worker), [0, 2]);
  // Round 2: worker 1 missed its D1 chunk of job 1, so its job-1 slot repeats it instead of D2.
  t.same(tasks(2), [
    [d1(2), d2(1)],
    [d1(2), d1(1)],
    [d1(2), d2(1)],
  ]);
  // Worker 1 late again would be a burst of 2 > B, worker 2 a second distinct straggler > lambda.
  t.notOk(s.conforms([1]));
  t.notOk(s.conforms([2]));
  const outcome = acceptRound([10, 30, 11], 1, s);
  t.same([outcome.accepted, outcome.waitOut, outcome.late, outcome.roundMs], [false, true, [], 30], 'non-conforming round: wait for all');
  s.onRoundResult(2, outcome.late);
  t.ok(s.decodable(1));
  const job1 = s.decoderFor(1);
  t.same(
    job1.filter((term) => term.task.kind === 'd1').map((term) => [term.worker, term.round]),
    [
      [0, 1],
      [1, 2],
      [2, 1],
    ],
    'worker 1 chunk comes from its repeat in round 2',
  );
  t.same(job1.filter((term) => term.task.kind === 'd2').map((term) => [term.worker, term.round]), [
    [0, 2],
    [2, 2],
  ]);
  // Round 3: only job 2's coded slot is left.
  t.same(tasks(3), [[d2(2)], [d2(2)], [d2(2)]]);
  t.ok(s.conforms([0]), 'worker 0 has not straggled in the window');
  s.onRoundResult(3, [0]);
  t.ok(s.decodable(2));
  t.same(s.decoderFor(2).filter((term) => term.task.kind === 'd2').map((term) => term.worker), [1, 2]);
  t.end();
});

t.test('hand-written SR-SGC trace, n = 4, B = 1, W = 2, lambda = 2 (s = 1)', (t) => {
  const s = createScheduler({ scheme: 'sr-sgc', workers: 4, jobs: 3, B: 1, W: 2, lambda: 2 });
  t.equal(s.delay, 1);
  const tasks = (r: number) => [0, 1, 2, 3].map((w) => s.tasksFor(r, w).map((task) => task.job));
  t.same(tasks(0), [[0], [0], [0], [0]]);
  t.ok(s.conforms([0, 1]));
  s.onRoundResult(0, [0, 1]);
  // Job 0 missed by 2 > s = 1 workers: the lowest one (worker 0) repeats job 0.
  t.same(tasks(1), [[0], [1], [1], [1]]);
  t.notOk(s.conforms([2]), 'a third distinct straggler in the window');
  t.notOk(s.conforms([1]), 'worker 1 again: burst of 2 > B');
  s.onRoundResult(1, []);
  // GC(4, 1) is FRC with groups {0, 1}, {2, 3}: one responder per group, coefficient 1.
  t.same(
    s.decoderFor(0).map((term) => [term.worker, term.round, term.coefficient]),
    [
      [0, 1, 1],
      [2, 0, 1],
    ],
    'job 0 from the repeat of worker 0 (round 1) and worker 2 (round 0)',
  );
  // Job 1 missed only by worker 0 (it was repeating): 1 <= s, no repetition.
  t.same(tasks(2), [[2], [2], [2], [2]]);
  s.onRoundResult(2, [3]);
  t.ok(s.decodable(1));
  t.same(tasks(3), [[], [], [], []], 'job 2 missed by 1 <= s: the tail round is idle');
  s.onRoundResult(3, []);
  t.ok(s.decodable(2));
  t.end();
});

t.test('acceptRound: the runtime rule with GC(4, 1)', (t) => {
  const gc = createScheduler({ scheme: 'gc', workers: 4, jobs: 5, s: 1 });
  let o = acceptRound([10, 12, 25, 11], 1, gc);
  t.same([o.accepted, o.waitOut, o.late, o.roundMs, o.deadlineMs], [true, false, [2], 20, 20], 'one late <= s: end at the deadline');
  o = acceptRound([10, 25, 30, 11], 1, gc);
  t.same([o.accepted, o.waitOut, o.late, o.pastDeadline, o.roundMs], [false, true, [], [1, 2], 30], 'two late > s: wait for all');
  o = acceptRound([10, 12, 19, 11], 1, gc);
  t.same([o.accepted, o.late, o.roundMs], [true, [], 19], 'nobody late: end with the slowest');
  o = acceptRound([NaN, 12, 40, NaN], 0.5, gc);
  t.same([o.late, o.fastestMs, o.roundMs], [[2], 12, 18], 'idle workers are ignored');
  t.equal(acceptRound([NaN, NaN], 1, gc).roundMs, 0, 'a round nobody works in takes no time');
  t.throws(() => acceptRound([1, -2], 1, gc), { code: 'EINVAL', message: /worker 1/ });
  t.throws(() => acceptRound([1, 2], -1, gc), { code: 'EINVAL', message: /mu/ });
  t.end();
});

t.test('accepts() never lets a due job become undecodable; forced bad patterns are refused at decode', (t) => {
  const s = createScheduler({ scheme: 'm-sgc', workers: 4, jobs: 4, B: 1, W: 2, lambda: 1 });
  s.onRoundResult(0, [0]);
  // Job 0's D1 chunk of worker 0 is missing; round 1 repeats it in worker 0's D2 slot. If worker 0 is
  // late again the job cannot be decoded: accepts refuses even though the caller might force it.
  t.notOk(s.accepts([0]));
  s.onRoundResult(1, [0]);
  t.notOk(s.decodable(0));
  t.throws(() => s.decoderFor(0), { code: 'ENUMERIC', message: /job 0 is not decodable: D1 chunk 0 of worker 0/ });
  const sr = createScheduler({ scheme: 'gc', workers: 5, jobs: 2, s: 1 });
  sr.onRoundResult(0, [1, 3]);
  t.throws(() => sr.decoderFor(0), { code: 'ENUMERIC', message: /3 of 5 workers delivered, need 4/ });
  t.end();
});

t.test('bad arguments are EINVAL and name the field', (t) => {
  t.throws(() => createScheduler({ scheme: 'sr-sgc', workers: 8, jobs: 4, B: 2, W: 4, lambda: 2 }), { code: 'EINVAL', message: /W - 1 must be divisible by B/ });
  t.throws(() => createScheduler({ scheme: 'm-sgc', workers: 4, jobs: 4, B: 1, W: 2, lambda: 4 }), { code: 'EINVAL', message: /lambda must be < n/ });
  t.throws(() => createScheduler({ scheme: 'm-sgc', workers: 4, jobs: 0, B: 1, W: 2, lambda: 1 }), { code: 'EINVAL', message: /jobs/ });
  t.throws(() => createScheduler({ scheme: 'gc', workers: 4, jobs: 4, s: 4 }), { code: 'EINVAL', message: /s \(stragglers\)/ });
  const s = createScheduler({ scheme: 'm-sgc', workers: 4, jobs: 4, B: 1, W: 2, lambda: 1 });
  t.throws(() => s.tasksFor(1, 0), { code: 'EINVAL', message: /not recorded yet/ });
  t.throws(() => s.onRoundResult(1, []), { code: 'EINVAL', message: /next round is 0/ });
  t.throws(() => s.onRoundResult(0, [4]), { code: 'EINVAL', message: /late worker 4/ });
  t.throws(() => s.tasksFor(0, 9), { code: 'EINVAL', message: /worker 9/ });
  t.throws(() => s.decodable(7), { code: 'EINVAL', message: /job 7/ });
  t.end();
});

t.test('parameterCandidates follows the authors enumeration within the delay budget', (t) => {
  const m = parameterCandidates('m-sgc', 8, 20, { maxDelay: 4 });
  const pairs = new Set(m.map((o) => (o.scheme === 'm-sgc' ? `${o.B},${o.W}` : '')));
  t.same([...pairs].sort(), ['1,2', '1,3', '1,4', '2,3']);
  t.equal(m.length, 4 * 7, 'lambda = 1..n-1');
  const sr = parameterCandidates('sr-sgc', 8, 20, { maxDelay: 2, maxW: 7 });
  t.ok(sr.every((o) => o.scheme === 'sr-sgc' && (o.W - 1) % o.B === 0 && o.B <= 2 && o.W <= 7));
  t.equal(parameterCandidates('gc', 8, 20, { maxDelay: 1 }).length, 7);
  t.end();
});
