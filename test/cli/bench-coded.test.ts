// zcoll bench coded: the #wrong check counts what it should (the reference tables against a brute-force
// sum of the samples, one perturbed element counted once); gc and msgc runs on 4 real ranks with an
// always-late worker complete with #wrong 0 and counters that follow from the straggler plan; the
// uncoded 'none' (float64) never drops a worker; a bad scheme or parameter is a clear EINVAL that comes
// before any rank starts (one line on stderr, nothing on stdout).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { quietPort } from '../helpers/ranks.js';
import { countWrong, referenceTables, sampleGradient, SAMPLES } from '../../lib/cli/bench-coded.js';
import type { BenchRow } from '../../lib/cli/bench-table.js';
import { createScheduler } from '../../lib/coding/sequential.js';
import { runCli, type CliRun } from '../helpers/cli.js';

const DIR = mkdtempSync(join(tmpdir(), 'zcoll-bench-coded-'));
t.teardown(() => rmSync(DIR, { recursive: true, force: true }));

function run(args: string[]): Promise<CliRun> {
  return runCli(args, { env: { ZCOLL_TIMEOUT_MS: '20000' }, killAfterMs: 30_000 });
}

/** The table's data lines (not comments), split into cells. */
function tableRows(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter((l) => l.trim().length > 0 && !l.startsWith('#'))
    .map((l) => l.trim().split(/\s+/));
}

t.test('the #wrong check: exact sum passes, a perturbed element is counted', async (t) => {
  const d = 50;
  const job = 3;
  const brute = new Float64Array(d);
  for (let i = 0; i < SAMPLES; i++) for (let k = 0; k < d; k++) brute[k] += sampleGradient(job, i, k);
  const scheduler = createScheduler({ scheme: 'gc', workers: 3, jobs: 4, s: 1 });
  for (let r = 0; r <= job; r++) {
    for (let w = 0; w < 3; w++) scheduler.tasksFor(r, w);
    scheduler.onRoundResult(r, r === job ? [1] : []);
  }
  const ref = referenceTables();
  t.equal(countWrong(job, brute, scheduler, 'float64', ref), 0, 'the brute-force sum is within the bound');
  t.equal(countWrong(job, brute, scheduler, 'float32', ref), 0);
  const off = Float64Array.from(brute);
  off[17] += 1; // a partition's sample gradient is an integer: any decoding slip moves an element by >= 1 x coefficient
  t.equal(countWrong(job, off, scheduler, 'float64', ref), 1, 'one wrong element (float64 bound)');
  t.equal(countWrong(job, off, scheduler, 'float32', ref), 1, 'one wrong element (float32 bound)');
  const nan = Float64Array.from(brute);
  nan[0] = Number.NaN;
  t.equal(countWrong(job, nan, scheduler, 'float32', ref), 1, 'NaN is wrong');
});

async function codedRun(t: Test, name: string, args: string[]): Promise<{ rows: BenchRow[]; stdout: string }> {
  const json = join(DIR, `${name}.json`);
  const port = await quietPort();
  const r = await run(['bench', 'coded', '--ranks', '4', '--port', String(port), '-b', '16K', '-e', '16K', '-w', '0', '-q', '--json', json, ...args]);
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr.slice(-1500)})`);
  return { rows: r.code === 0 ? (JSON.parse(readFileSync(json, 'utf8')) as BenchRow[]) : [], stdout: r.stdout };
}

const JOBS = 6;
// Rank 2 (worker 1) is 500 ms late in every round: far past the deadline (1 + mu) x fastest.
const ALWAYS_LATE = ['--stragglers', 'fixed:ranks=2,delay=500ms', '--mu', '2', '--jobs', String(JOBS), '--work-ms', '10'];

t.test('gc: one always-late worker is dropped every round, results exact', async (t) => {
  const { rows, stdout } = await codedRun(t, 'gc', ['--scheme', 'gc', '--s', '1', ...ALWAYS_LATE]);
  t.equal(rows.length, 1);
  const row = rows[0];
  if (row === undefined) return;
  t.match(row, { collective: 'coded', algorithm: 'gc', ranks: 4, size: 16384, count: 4096, type: 'float32', redop: 'sum', wrong: 0, jobs: JOBS });
  // GC(3, 1) accepts any single late worker, so a round ends without rank 2 unless noise also made
  // another worker miss the deadline (a wait-out); rank 2 misses it in every round either way.
  t.equal(row.late_rounds! + row.wait_outs!, JOBS, 'every round is a late round or a wait-out');
  t.ok(row.late_rounds! >= JOBS / 2, `most rounds end without the late worker (${row.late_rounds})`);
  t.equal(row.late_steps, JOBS, 'the seam delayed the straggler in each of its rounds');
  t.equal(row.delayed_msgs, JOBS, 'one task, so one held-back message, per round');
  t.equal(row.times_us.length, JOBS, 'a time per round (T = 0)');
  const table = tableRows(stdout);
  t.same(table.map((c) => Number(c[0])), [16384]);
  t.same(table.map((c) => [Number(c[7]), Number(c[8]), Number(c[9]), Number(c[10])]), [[row.wrong, row.jobs, row.wait_outs, row.late_rounds]], 'table columns: #wrong, jobs, wait-out, late-rnd');
  t.match(stdout, /scheme gc s=1 \(delay T=0, load 0\.667\)/);
  t.match(stdout, /# Out of bounds values : 0 OK/);
});

t.test('msgc: an always-late worker breaks the burst model: wait-outs, results exact', async (t) => {
  const { rows } = await codedRun(t, 'msgc', ['--scheme', 'msgc', '--B', '1', '--W', '2', '--lambda', '1', ...ALWAYS_LATE]);
  const row = rows[0];
  if (row === undefined) return t.fail('no row');
  const rounds = JOBS + 1; // T = W - 2 + B = 1
  t.match(row, { collective: 'coded', algorithm: 'msgc', wrong: 0, jobs: JOBS });
  t.equal(row.times_us.length, rounds, 'a time per round (jobs + T)');
  // A lone straggler is tolerated at most every other round (B = 1, W = 2): some rounds drop it, the
  // ones right after must wait for it.
  t.ok(row.late_rounds! >= 1, `some rounds end without the late worker (${row.late_rounds})`);
  t.ok(row.wait_outs! >= 1, `a straggler in consecutive rounds forces wait-outs (${row.wait_outs})`);
  t.ok(row.late_rounds! + row.wait_outs! <= rounds);
  t.ok(row.late_steps >= JOBS && row.late_steps <= rounds, `the straggler was delayed in its working rounds (${row.late_steps})`);
});

t.test('none (uncoded, float64): never drops a worker, results exact', async (t) => {
  const { rows } = await codedRun(t, 'none', ['--scheme', 'none', '-d', 'float64', '--jobs', '4', '--work-ms', '5']);
  const row = rows[0];
  if (row === undefined) return t.fail('no row');
  t.match(row, { algorithm: 'none', type: 'float64', count: 2048, wrong: 0, jobs: 4, late_rounds: 0, late_steps: 0, delayed_msgs: 0, faults: 'none' });
});

const ERRORS: Array<[string, string[], RegExp]> = [
  ['unknown scheme', ['--scheme', 'lt'], /--scheme: unknown scheme 'lt' \(one of none, gc, srsgc, msgc\)/],
  ['s not below the workers', ['--scheme', 'gc', '--s', '3'], /--scheme gc: --s 3 must be < the 3 workers/],
  ['a parameter of another scheme', ['--scheme', 'gc', '--B', '2'], /--scheme gc: --B does not apply \(gc takes --s\)/],
  ['lambda too large for msgc', ['--scheme', 'msgc', '--lambda', '3'], /--scheme msgc: m-sgc: lambda must be < n = 3/],
  ['W - 1 not divisible by B', ['--scheme', 'srsgc', '--B', '2', '--W', '4'], /--scheme srsgc: sr-sgc: W - 1 must be divisible by B/],
  ['negative mu', ['--scheme', 'none', '--mu', '-1'], /--mu must be a finite number >= 0, got -1/],
  ['master as straggler', ['--stragglers', 'fixed:ranks=0,delay=5ms'], /rank 0 is the master/],
];

for (const [what, args, message] of ERRORS) {
  t.test(`EINVAL before any rank starts: ${what}`, async (t) => {
    const r = await run(['bench', 'coded', '--ranks', '4', ...args]);
    t.equal(r.code, 2, `exit 2 (stderr: ${r.stderr.trim()})`);
    t.match(r.stderr, message);
    t.match(r.stderr, /^zcoll: EINVAL: [^\n]*\n$/, 'one EINVAL line: no rank reported anything');
    t.equal(r.stdout, '', 'no table: no rank started');
  });
}

t.test('a code parameter on another collective is refused', async (t) => {
  const r = await run(['bench', 'allreduce', '--ranks', '2', '--scheme', 'gc']);
  t.equal(r.code, 2);
  t.match(r.stderr, /--scheme applies to zcoll bench coded only, not allreduce/);
});
