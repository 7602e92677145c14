// Every `zcoll bench` subcommand, run for real with checking on: each collective, signsgd in every
// mode, robust with EVERY aggregator (bgmd included: it is stateful, and its check must replay the
// warm-up rounds too, issue 18 item 1), coded with every scheme. Tiny sizes, one warm-up and two
// timed iterations (a warm-up round is what put bgmd's reference a round behind), one run after the
// other on a fresh port each (2 ranks, 3 for robust and coded: spawning the ranks is most of the
// ~2 s a run takes on 2 cores); each must exit 0 with 0 wrong values in the #wrong column of every
// row and in the 'Out of bounds values' line. The lists come from the CLI's own tables, so a new
// collective, mode, aggregator or scheme is covered as soon as it exists.
import t from 'tap';
import { CODED_SCHEMES } from '../../lib/cli/bench-coded.js';
import { ROBUST_AGGREGATORS } from '../../lib/cli/bench-robust.js';
import { BENCH_COLLECTIVES } from '../../lib/cli/bench-table.js';
import { SIGN_VOTE_MODES } from '../../lib/compress/wire-bytes.js';
import { quietPort } from '../helpers/ranks.js';
import { runCli, type CliRun } from '../helpers/cli.js';

interface BenchRun {
  collective: string;
  extra: readonly string[];
  ranks: number;
}

const RUNS: readonly BenchRun[] = [
  { collective: 'allreduce', extra: [], ranks: 2 },
  { collective: 'reducescatter', extra: [], ranks: 2 },
  { collective: 'allgather', extra: [], ranks: 2 },
  { collective: 'broadcast', extra: ['--root', '1'], ranks: 2 },
  // 3 ranks: one pair ping-pongs, the odd rank sits out and must not stall the sweep.
  { collective: 'latency', extra: [], ranks: 3 },
  ...SIGN_VOTE_MODES.map((mode): BenchRun => ({ collective: 'signsgd', extra: ['--mode', mode], ranks: 2 })),
  ...Object.keys(ROBUST_AGGREGATORS).map((aggregator): BenchRun => ({ collective: 'robust', extra: ['--aggregator', aggregator], ranks: 3 })),
  // coded: a master and two workers, which every scheme's default code (s = 1, B = 1, W = 2, lambda = 1) fits.
  ...CODED_SCHEMES.map((scheme): BenchRun => ({ collective: 'coded', extra: ['--scheme', scheme, '--work-ms', '1'], ranks: 3 })),
];

/** The #wrong column of every table row, and the total of the 'Out of bounds values' line. */
function wrongCounts(stdout: string): { rows: number[]; total: number | undefined } {
  const lines = stdout.split('\n');
  const header = lines.find((l) => l.startsWith('#') && /\s#wrong(\s|$)/.test(l));
  if (header === undefined) return { rows: [], total: undefined };
  const column = header.replace(/^#/, '').trim().split(/\s+/).indexOf('#wrong');
  const rows = lines
    .filter((l) => l.trim() !== '' && !l.startsWith('#') && /^\s*\d/.test(l))
    .map((l) => Number(l.trim().split(/\s+/)[column]));
  const m = /^# Out of bounds values : (\d+) (OK|FAILED)$/m.exec(stdout);
  return { rows, total: m !== null ? Number(m[1]) : undefined };
}

t.test('the parser reads the #wrong column and the Out of bounds line', async (t) => {
  const sample = [
    '#         size        count    type  redop       time    algbw    busbw  #wrong     late',
    '#          (B)   (elements)                      (us)   (GB/s)   (GB/s)          (steps)',
    '         65536        16384   float   none     7239.0    0.009    0.014   26224        0',
    '        262144        65536   float   none    63292.7    0.004    0.006       0        0',
    '# Out of bounds values : 26224 FAILED',
  ].join('\n');
  t.same(wrongCounts(sample), { rows: [26224, 0], total: 26224 });
  t.same(wrongCounts('nothing'), { rows: [], total: undefined });
});

t.test('every bench subcommand runs with checking on and finds 0 wrong values', async (t) => {
  const covered = new Set(RUNS.map((r) => r.collective));
  t.same([...BENCH_COLLECTIVES].filter((c) => !covered.has(c)), [], 'every collective of zcoll bench is run');
  const t0 = Date.now();
  for (const r of RUNS) {
    const what = `${r.collective} ${r.extra.join(' ')}`.trim();
    const args = ['bench', r.collective, ...r.extra, '--ranks', String(r.ranks), '--port', String(await quietPort()), '-b', '64K', '-e', '64K', '-n', '2', '-w', '1', '-c', '1', '-q'];
    const run: CliRun = await runCli(args, { env: { ZCOLL_TIMEOUT_MS: '20000' }, killAfterMs: 30_000 });
    const { rows, total } = wrongCounts(run.stdout);
    t.equal(run.code, 0, `${what}: exit 0 (${run.ms} ms)${run.code !== 0 ? `\n${run.stdout}\n${run.stderr}` : ''}`);
    t.match(run.stdout, /check on/, `${what}: checking on`);
    t.equal(rows.length, 1, `${what}: one table row`);
    t.ok(rows.every((w) => w === 0), `${what}: #wrong ${rows.join(', ')}`);
    t.equal(total, 0, `${what}: Out of bounds values 0`);
  }
  t.comment(`${RUNS.length} bench runs in ${Date.now() - t0} ms`);
});
