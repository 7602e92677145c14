// Gradient coding on real processes (1 master + 5 workers on loopback): for GC, SR-SGC and M-SGC, with
// stragglers injected at the workers' fault seams, every job is decoded and equals the uncoded float64
// sum of its samples' gradients; designed straggler sets make rounds end without the late workers,
// and sets that break the scheme's model force wait-outs. Late results keep arriving after their round
// was closed (they are counted as stale) and never change a later job.
import t from 'tap';
import { runRanks } from '../helpers/ranks.js';
import type { CodedRunReport, CodedWorkerReport } from '../../lib/coding/runtime.js';
import { JOBS, RUNS, WORKERS, referenceGradient } from './runtime-data.js';

interface MasterOut {
  kind: 'master';
  run: string;
  gradients: Record<string, number[]>;
  report: CodedRunReport;
}
interface WorkerOut {
  kind: 'worker';
  run: string;
  report: CodedWorkerReport;
}

t.test('coded runtime end to end: GC, SR-SGC, M-SGC with injected stragglers', async (t) => {
  const outs = await runRanks(WORKERS + 1, { script: 'test/coding/runtime-worker.js', killAfterMs: 80_000 });
  for (const o of outs) t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.stderr.slice(-1500)} ${o.stdout.slice(-1500)}`);
  const masterResults = outs[0].results as Array<{ kind: string; code?: string }>;
  const bad = masterResults.find((r) => r.kind === 'bad-config');
  t.equal(bad?.code, 'EINVAL', 'a scheduler for the wrong number of workers is refused');

  for (const run of RUNS) {
    t.test(run.name, async (t) => {
      const m = masterResults.find((r): r is MasterOut => r.kind === 'master' && (r as MasterOut).run === run.name);
      if (m === undefined) return t.fail(`no master result for ${run.name}`);
      const { report, gradients } = m;
      // Exactness: every job decoded, equal to the direct float64 sum.
      t.same(Object.keys(gradients).map(Number).sort((a, b) => a - b), Array.from({ length: JOBS }, (_, j) => j), 'every job decoded once');
      const rel = run.dtype === 'float64' ? 1e-9 : 2e-5;
      let worst = 0;
      for (let job = 0; job < JOBS; job++) {
        const { sum, abs } = referenceGradient(job);
        const got = gradients[job];
        for (let k = 0; k < sum.length; k++) worst = Math.max(worst, Math.abs(got[k] - sum[k]) / (abs[k] + 1e-300));
      }
      t.ok(worst <= rel, `decoded gradients equal the uncoded sum (worst error ${worst.toExponential(2)} of the magnitude sum, bound ${rel})`);
      // Decoding happened in job order at rounds t + T.
      const order = report.rounds.flatMap((r) => r.decodedJobs.map((job) => [job, r.round - job]));
      t.same(order.map(([job]) => job), Array.from({ length: JOBS }, (_, j) => j), 'jobs delivered in order');
      t.ok(order.every(([, lag]) => lag === report.delay), `each job decoded at the end of round t + T (T = ${report.delay})`);
      // The rule at work.
      for (const r of run.violating) t.ok(report.rounds[r].waitOut, `round ${r}: late set ${JSON.stringify(run.late[r])} breaks the model: wait-out`);
      t.ok(report.lateRounds >= 1, `some rounds ended without their late workers (${report.lateRounds})`);
      for (const r of report.rounds) {
        if (r.late.length > 0) t.ok(r.late.every((w) => r.pastDeadline.includes(w)) && !r.waitOut, `round ${r.round}: dropped workers were past the deadline`);
        if (r.waitOut) t.same(r.late, [], `round ${r.round}: a wait-out drops nobody`);
      }
      t.ok(report.staleResults >= report.lateRounds, `late results arrived after their round and were discarded (${report.staleResults})`);
      // The seam injected exactly the designed delays.
      const workers = outs.slice(1).map((o) => (o.results as WorkerOut[]).find((r) => r.kind === 'worker' && r.run === run.name));
      const injected = workers.reduce((a, w) => a + (w?.report.stragglers?.delayedRounds ?? 0), 0);
      const designed = run.late.reduce((a, set) => a + set.length, 0);
      t.equal(injected, designed, 'every designed straggler was injected at a fault seam');
    });
  }
});
