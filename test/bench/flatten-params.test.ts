// bench/flatten-params.ts runs the three ways of SignumStrategy's flat parameter copy, checks every
// copy against the variables, prints one row per way and exits 0.
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { runCli } from '../helpers/cli.js';

const SCRIPT = fileURLToPath(new URL('../../bench/flatten-params.js', import.meta.url));

t.test('flatten-params bench, d = 200003', async (t) => {
  const r = await runCli([SCRIPT, '--d', '200003', '--reps', '2'], { command: process.execPath, killAfterMs: 120_000 });
  t.equal(r.code, 0, `exits 0 (${r.stderr.trim()})`);
  for (const way of ['fresh', 'kept-plain', 'kept-huge']) t.match(r.stdout, new RegExp(`^\\| ${way} \\| [0-9.]+ / [0-9.]+ \\| [0-9.]+ \\| 0 \\|$`, 'm'), `a checked row for ${way}`);
  t.match(r.stdout, /^# check: every copy equals the variables .*: 0 wrong$/m, 'the check ran and passed');
  t.match(r.stdout, /^# .*d = 200003, 2 steps/m, 'the header names d and the steps');
});
