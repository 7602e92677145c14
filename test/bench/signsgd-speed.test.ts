// bench/signsgd-speed.ts runs, checks its results and says so: a short run (3 rank processes, d not
// a multiple of 32, every variant) prints the table, the memory bound and "Checks: 0 wrong", exits 0.
// The timings are not asserted (never timed assertions in tests); the checks are the bench's own:
// f32 against a double-precision mean, Signum's momentum, signs, vote and parameters against JS references.
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { runCli } from '../helpers/cli.js';

const SCRIPT = fileURLToPath(new URL('../../bench/signsgd-speed.js', import.meta.url));

t.test('signsgd-speed bench, 3 ranks, d = 100003', async (t) => {
  const r = await runCli([SCRIPT, '--d', '100003', '--ranks', '3', '--reps', '2'], { command: process.execPath, killAfterMs: 120_000 });
  t.equal(r.code, 0, `exits 0 (${r.stderr.trim()})`);
  for (const v of ['allreduce-f32', 'allreduce-f32-registered', 'signum-allgather', 'signum-server', 'signum-reduce']) {
    t.match(r.stdout, new RegExp(`\\n\\| ${v} \\| \\d+ / \\d+ \\|`), `a row for ${v}`);
  }
  t.match(r.stdout, /\nMemory: in-place streaming pass .* all 3 ranks at once [\d.]+ GB\/s/, 'the streaming bandwidth');
  t.match(r.stdout, /Bound at [\d.]+ GB\/s for 3 ranks: Signum \d+ ms/, 'the memory bound of the local passes');
  t.match(r.stdout, /\nChecks: 0 wrong in every variant \(5 variants x 3 ranks/, 'every check passed');
});

t.test('signsgd-speed bench, a subset of variants', async (t) => {
  const r = await runCli([SCRIPT, '--d', '4099', '--ranks', '2', '--reps', '1', '--variants', 'signum-reduce'], { command: process.execPath, killAfterMs: 120_000 });
  t.equal(r.code, 0, `exits 0 (${r.stderr.trim()})`);
  t.match(r.stdout, /\nChecks: 0 wrong in every variant \(2 variants x 2 ranks/, 'the baseline always runs, and both are checked');
  t.match(r.stdout, /'reduce' phases/, 'the phase breakdown of reduce');
});
