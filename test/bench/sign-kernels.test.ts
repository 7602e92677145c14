// bench/sign-kernels.ts runs, checks native against JS bit for bit before timing and says so; a
// short run prints every row of the table (the fused Signum pass among them) and exits 0.
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { nativeKernels } from '../../lib/kernels/index.js';
import { runCli } from '../helpers/cli.js';

const SCRIPT = fileURLToPath(new URL('../../bench/sign-kernels.js', import.meta.url));

t.test('sign-kernels bench, d = 100003', async (t) => {
  const r = await runCli([SCRIPT, '--d', '100003', '--reps', '1', '--m', '4'], { command: process.execPath, killAfterMs: 120_000 });
  t.equal(r.code, 0, `exits 0 (${r.stderr.trim()})`);
  if (nativeKernels !== undefined) t.match(r.stdout, /^# check: native equals js bit for bit .*: 0 wrong\n/, 'the check ran and passed');
  for (const op of ['momentumSignPackTo (check + momentum + pack, one pass)', 'firstNonFinite + momentumSignPack (the two passes before)', 'signApply (wd 0)', 'Signum.signs (momentumSignPackTo)']) {
    t.ok(r.stdout.includes(`| js | ${op} |`), `a JS row for ${op}`);
    if (nativeKernels !== undefined) t.match(r.stdout, new RegExp(`\\| native \\([^)]*\\) \\| ${op.replace(/[()+']/g, (c) => `\\${c}`)} \\|`), `a native row for ${op}`);
  }
});
