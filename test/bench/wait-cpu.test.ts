// bench/wait-cpu.ts runs, checks its results and says so: ranks waiting for a late peer stay within
// the CPU bound (spin budget, then asleep), and the late all-reduces are exact. Two ranks and four
// (more ranks than this machine's cores: the yielding spin, then asleep). The bound here allows 30 %
// of a core while parked (the bench's default is 10 %): tap runs two files at once on two cores, which
// makes each wake-up dearer (12.5 % seen under CI); a rank that spun through the wait uses ~100 %.
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { shmSupported } from '../../lib/transport/shm-region.js';
import { runCli } from '../helpers/cli.js';

const SCRIPT = fileURLToPath(new URL('../../bench/wait-cpu.js', import.meta.url));

for (const ranks of [2, 4]) {
  t.test(`wait-cpu, ${ranks} ranks: within the bound, exact`, { skip: shmSupported() ? false : 'the native addon (shared memory) is not built' }, async (t) => {
    const r = await runCli([SCRIPT, '--ranks', String(ranks), '--late', '300', '--rounds', '2', '--max-share', '0.3'], { command: process.execPath, killAfterMs: 90_000 });
    t.equal(r.code, 0, `exits 0 (${r.stderr.trim()})\n${r.stdout}`);
    t.equal(r.stdout.split('\n').filter((l) => /^\| \d+ \|/.test(l)).length, ranks - 1, 'one row per waiting rank');
    t.match(r.stdout, /Checked: 0 wrong element\(s\); 0 rank\(s\) over the bound\. OK/);
  });
}

t.test('wait-cpu refuses bad arguments before starting ranks', async (t) => {
  const r = await runCli([SCRIPT, '--ranks', '1'], { command: process.execPath, killAfterMs: 30_000 });
  t.equal(r.code, 2);
  t.match(r.stderr, /--ranks must be an integer >= 2/);
});
