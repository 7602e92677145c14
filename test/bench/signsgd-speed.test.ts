// bench/signsgd-speed.ts runs, checks its results and says so: a short run (3 rank processes, d not
// a multiple of 32, every variant, the chunked one in 3 chunks) prints the table, the memory bound
// and "Checks: 0 wrong", exits 0.
// The timings are not asserted (never timed assertions in tests); the checks are the bench's own:
// f32 against a double-precision mean (with momentum: its momentum and parameters against JS), Signum's
// momentum, signs, vote and parameters against JS references (the chunked variant's on its whole vectors).
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { runCli } from '../helpers/cli.js';

const SCRIPT = fileURLToPath(new URL('../../bench/signsgd-speed.js', import.meta.url));

t.test('signsgd-speed bench, 3 ranks, d = 100003', async (t) => {
  // d = 100003 is 3126 words: 3 chunks of 1042, the last ending mid-word.
  const r = await runCli([SCRIPT, '--d', '100003', '--ranks', '3', '--reps', '2', '--chunks', '3'], { command: process.execPath, killAfterMs: 120_000 });
  t.equal(r.code, 0, `exits 0 (${r.stderr.trim()})`);
  for (const v of ['allreduce-f32', 'allreduce-f32-registered', 'allreduce-f32-momentum', 'signum-allgather', 'signum-server', 'signum-reduce', 'signum-allgather-plain', 'signum-server-plain', 'signum-reduce-plain', 'signum-allgather-chunked']) {
    t.match(r.stdout, new RegExp(`\\n\\| ${v} \\| \\d+ / \\d+ \\|`), `a row for ${v}`);
  }
  t.match(r.stdout, /\n\| signum-allgather-chunked \| \d+ \/ \d+ \| - \| - \| - \|/, 'no exchange figures for the overlapped variant');
  t.match(r.stdout, /extra: step speed-up vs f32 SGD with momentum/, 'the extra baseline column');
  t.match(r.stdout, /\n\| signum-server \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|\n/, 'the CPU split of one rank\'s step');
  t.match(r.stdout, /\n# CPU taken by other processes during the run: [\d.]+ s of \d+ s \(\d+ % of \d+ cores/, 'the quiet check');
  t.match(r.stdout, /\n\| signum-allgather \|(?: [^|]+ \|){9} \d+, \d+ % \|/, 'the CPU of all ranks and its share of the cores');
  t.match(r.stdout, /\nMemory: in-place streaming pass .* all 3 ranks at once [\d.]+ GB\/s/, 'the streaming bandwidth');
  t.match(r.stdout, /Bound at [\d.]+ GB\/s for 3 ranks: Signum \d+ ms/, 'the memory bound of the local passes');
  t.match(r.stdout, /\nChecks: 0 wrong in every variant \(10 variants x 3 ranks/, 'every check passed');
});

t.test('signsgd-speed bench, a subset of variants', async (t) => {
  const r = await runCli([SCRIPT, '--d', '4099', '--ranks', '2', '--reps', '1', '--variants', 'signum-reduce'], { command: process.execPath, killAfterMs: 120_000 });
  t.equal(r.code, 0, `exits 0 (${r.stderr.trim()})`);
  t.match(r.stdout, /\nChecks: 0 wrong in every variant \(2 variants x 2 ranks/, 'the baseline always runs, and both are checked');
  t.match(r.stdout, /'reduce' phases.*\n\| signum-reduce \| \d+ \/ \d+ \|/, 'the phase breakdown of reduce');
});
