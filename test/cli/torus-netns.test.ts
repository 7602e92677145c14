// bench/torus-netns at a tiny size: a 3x3 torus of network namespaces, ring and MULTITREE, every
// result checked by the bench (#wrong column, exit code). The test reads its table: both rows
// present with 0 wrong, and nothing left behind (namespaces removed). Skipped, with the reason,
// when not root or `ip` / `tc` are missing.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const BENCH = fileURLToPath(new URL('../../bench/torus-netns.js', import.meta.url));

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot ? 'network namespaces need root' : !which('ip') || !which('tc') ? '`ip` / `tc` (iproute2) is not installed' : false;

t.test('torus-netns: ring and MULTITREE on a 3x3 torus, every result checked, namespaces removed', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-torus-bench-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'torus.md');
  const before = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  const child = spawn(process.execPath, [BENCH, '--rate', '1gbit', '--sizes', '1M', '--iters', '1', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stdout.resume();
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGTERM'), 180_000);
  const code = await new Promise<number | null>((done) => child.on('close', done));
  clearTimeout(killer);
  t.equal(code, 0, `exit 0 (stderr: ${stderr.slice(-1500)})`);
  t.notMatch(stderr, /receive steering failed/, 'every link end receives on one CPU (the emulation keeps flows in order)');
  const table = readFileSync(out, 'utf8');
  const row = table.split('\n').find((l) => l.startsWith('| 1 MiB |'));
  t.ok(row !== undefined, `a row for 1 MiB\n${table}`);
  const cells = (row ?? '').split('|').map((c) => c.trim());
  t.equal(cells[cells.length - 2], '0', 'no wrong element');
  t.match(cells[2] ?? '', /^\d/, 'ring busbw measured');
  t.match(cells[4] ?? '', /^\d/, 'MULTITREE busbw measured');
  t.match(table, /Result: every element checked, 0 wrong\./, 'the verdict');
  // Only the torus bench's own names (zt<id>...): other netns tests may run at the same time.
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => /^zt\d+/.test(l) && !before.includes(l));
  t.same(left, [], 'every namespace it made is removed');
});
