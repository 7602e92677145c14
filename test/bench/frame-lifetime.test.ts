// bench/frame-lifetime.ts runs, checks its results and says so: a short run over shared memory with
// rank 0 late (early frames kept as copies) and one over ZeroMQ only, each exact, no frame left
// alive, and the hot path over shared memory without a payload copy.
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { shmSupported } from '../../lib/transport/shm-region.js';
import { runCli } from '../helpers/cli.js';

const SCRIPT = fileURLToPath(new URL('../../bench/frame-lifetime.js', import.meta.url));

/** The table rows of its output: size, cpu, wall, copies per op, wrong. */
function rows(stdout: string): string[][] {
  return stdout.split('\n').filter((l) => /^\s+\d/.test(l)).map((l) => l.trim().split(/\s+/));
}

for (const c of [
  { label: 'shared memory, in step', args: ['--transport', 'shm'], skip: !shmSupported() },
  { label: 'shared memory, rank 0 late', args: ['--transport', 'shm', '--stagger'], skip: !shmSupported() },
  { label: 'ZeroMQ only', args: ['--transport', 'ipc'], skip: false },
]) {
  t.test(`frame-lifetime bench, ${c.label}`, { skip: c.skip ? 'the native addon (shared memory) is not built' : false }, async (t) => {
    const r = await runCli([SCRIPT, '--sizes', '64K,1M', '--iters', '3', ...c.args], { command: process.execPath, killAfterMs: 60_000 });
    t.equal(r.code, 0, `exits 0 (${r.stderr.trim()})`);
    const table = rows(r.stdout);
    t.same(table.map((row) => row[0]), ['65536', '1048576'], 'one row per size');
    t.ok(table.every((row) => row[4] === '0'), 'every result exact');
    t.match(r.stdout, /frames alive at the end: 0\n/, 'no frame left alive');
    if (c.label === 'shared memory, in step') t.ok(table.every((row) => row[3] === '0.00'), 'in step, no payload is copied: every frame is consumed during its delivery');
  });
}
