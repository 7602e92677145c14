// bench/latency-phases.ts runs, checks its results and says so: a short run of 2 ranks stamps every
// phase of every all-reduce (a phase point lost in a refactor makes a step 'n/a' and the run FAILED),
// and every element is the exact sum.
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { shmSupported } from '../../lib/transport/shm-region.js';
import { runCli } from '../helpers/cli.js';

const SCRIPT = fileURLToPath(new URL('../../bench/latency-phases.js', import.meta.url));

t.test('latency-phases: every step stamped, every result exact', { skip: shmSupported() ? false : 'the native addon (shared memory) is not built' }, async (t) => {
  const r = await runCli([SCRIPT, '--iters', '200', '--warmup', '20'], { command: process.execPath, killAfterMs: 90_000 });
  t.equal(r.code, 0, `exits 0 (${r.stderr.trim()})`);
  const steps = r.stdout.split('\n').filter((l) => /^\| \w+ -> \w+ \|/.test(l));
  t.equal(steps.length, 11, 'one row per step, and the whole op');
  t.notOk(steps.some((l) => l.includes('n/a')), 'no step without a median');
  t.match(r.stdout, /Checked: 0 wrong element\(s\) in 880; 0 step\(s\) never stamped\. OK/, 'checked and OK');
});

t.test('latency-phases --op pingpong: two sizes interleaved, every step stamped, every element the sender\'s', { skip: shmSupported() ? false : 'the native addon (shared memory) is not built' }, async (t) => {
  const r = await runCli([SCRIPT, '--op', 'pingpong', '--iters', '200', '--warmup', '20', '--count', '2,1024'], { command: process.execPath, killAfterMs: 90_000 });
  t.equal(r.code, 0, `exits 0 (${r.stderr.trim()})`);
  const steps = r.stdout.split('\n').filter((l) => /^\| [\w-]+ -> [\w-]+ \|/.test(l));
  t.equal(steps.length, 9, 'one row per step of a ping-pong');
  t.notOk(steps.some((l) => l.includes('n/a')), 'no step without a median');
  t.match(r.stdout, /\| step \| what \| 8 B: rank 0 \/ rank 1 \(us\) \| 4096 B: rank 0 \/ rank 1 \(us\) \|/, 'a column per size');
  t.match(r.stdout, /^\| one way \| .* \| [\d.]+ \| [\d.]+ \|$/m, 'one way per size');
  // 220 ops alternate 2 and 1024 elements; each rank checks every element it received.
  t.match(r.stdout, /Checked: 0 wrong element\(s\) in 225720; 0 step\(s\) never stamped\. OK/, 'checked and OK');
});

t.test('latency-phases refuses an unknown --op before starting ranks', async (t) => {
  const r = await runCli([SCRIPT, '--op', 'broadcast'], { command: process.execPath, killAfterMs: 30_000 });
  t.equal(r.code, 2);
  t.match(r.stderr, /--op must be allreduce or pingpong, got 'broadcast'/);
});

t.test('latency-phases refuses bad arguments before starting ranks', async (t) => {
  const r = await runCli([SCRIPT, '--iters', '0'], { command: process.execPath, killAfterMs: 30_000 });
  t.equal(r.code, 2);
  t.match(r.stderr, /--iters must be an integer >= 1, got 0/);
});

t.test('latency-phases refuses an unknown poll mode before starting ranks', async (t) => {
  const r = await runCli([SCRIPT, '--poll', 'busy'], { command: process.execPath, killAfterMs: 30_000 });
  t.equal(r.code, 2);
  t.match(r.stderr, /--poll must be auto, spin, sleep, got 'busy'/);
});
