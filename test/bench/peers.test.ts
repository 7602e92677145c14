// bench/peers at tiny sizes: with the peers this machine has (gloo, OpenMPI) every column of both
// tables has numbers and every check reports 0 wrong; with a peer missing (an empty ZCOLL_PEERS_DIR,
// or a PATH without mpicc) the missing peer is named and the sitting still finishes with zcoll's
// columns. And the plot: every series has its own colour and its own mark, legend names are never cut,
// both axes are log, sizes read 4K..64M.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { plotSpec, renderSpec, seriesChannels, sizeChartsSpec, type SizePoint } from '../../lib/cli/plot.js';
import type { BenchRow } from '../../lib/cli/bench-table.js';
import { runCli } from '../helpers/cli.js';

const PEERS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'peers.js');
const dir = mkdtempSync(join(tmpdir(), 'zcoll-peers-test-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const hasMpi = spawnSync('sh', ['-c', 'command -v mpicc && command -v mpirun']).status === 0;
const hasTorch = spawnSync('/usr/bin/python3', ['-c', 'import torch.distributed']).status === 0;

function peers(name: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCli([PEERS, ...args, '--out', join(dir, `${name}.md`)], { command: process.execPath, env, killAfterMs: 120_000 });
}

/** The rows of the markdown table under `heading`: header cells and body rows of cells. */
function table(md: string, heading: string): { head: string[]; rows: string[][] } {
  const at = md.indexOf(heading);
  if (at < 0) return { head: [], rows: [] };
  const block: string[] = [];
  for (const l of md.slice(at).split('\n').slice(1)) {
    if (l.startsWith('|')) block.push(l);
    else if (block.length > 0) break;
  }
  const cells = block.map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
  return { head: cells[0] ?? [], rows: cells.slice(2) };
}

function checks(md: string, heading: string): Array<{ name: string; checked: number; wrong: number }> {
  const line = md.slice(md.indexOf(heading)).split('\n').find((l) => l.startsWith('Checks:')) ?? '';
  return [...line.matchAll(/([\w-]+) (\d+) (?:elements|bytes) checked, (\d+) wrong/g)].map((m) => ({ name: m[1]!, checked: Number(m[2]), wrong: Number(m[3]) }));
}

t.test('every peer present: both tables full, every check 0 wrong', { skip: hasMpi && hasTorch ? false : 'needs mpicc/mpirun (openmpi-bin libopenmpi-dev) and /usr/bin/python3 with torch (python3-torch)' }, async (t) => {
  const r = await peers('all', ['--ranks', '2', '--sizes', '4K', '--latency', '4:64:16', '--iters', '2', '--warmup', '3']);
  t.equal(r.code, 0, r.stderr);
  const md = readFileSync(join(dir, 'all.md'), 'utf8');
  const ar = table(md, '## All-reduce, 2 ranks');
  const arCols = ['zcoll-shm', 'zcoll-shm-registered', 'zcoll-zmq', 'gloo', 'mpi-tcp', 'mpi-shm'];
  t.same(ar.head.slice(1, 7), arCols.map((c) => `${c} time / busbw`));
  t.same(ar.rows.map((row) => row[0]), ['4 KiB']);
  for (const row of ar.rows) {
    for (const cell of row.slice(1, 7)) t.match(cell, /^\d+(\.\d+)? (us|ms) \/ \d+\.\d{3}$/, `all-reduce cell '${cell}'`);
    for (const cell of row.slice(7)) t.match(cell, /^\d+(\.\d+)?(e[-+]\d+)?x$/, `ratio '${cell}'`);
  }
  const lat = table(md, '## Point-to-point latency, 2 ranks');
  t.same(lat.head.slice(1, 5), ['zcoll-shm one way', 'zcoll-zmq one way', 'mpi-tcp one way', 'mpi-shm one way']);
  t.same(lat.rows.map((row) => row[0]), ['4 B', '64 B']);
  for (const row of lat.rows) for (const cell of row.slice(1, 5)) t.match(cell, /^\d+(\.\d+)? (us|ms)$/, `latency cell '${cell}'`);
  const arChecks = checks(md, '## All-reduce, 2 ranks');
  t.same(arChecks.map((c) => c.name), arCols);
  // 1 size x (3 warmup + 2 timed) iterations x 2 ranks, every element: 1024 x 10. Every program
  // honours --warmup (a program that kept its own rule, min(5, iters) = 2, would check 1024 x 8).
  for (const c of arChecks) t.same([c.checked, c.wrong], [1024 * 10, 0], c.name);
  const latChecks = checks(md, '## Point-to-point latency');
  t.same(latChecks.map((c) => c.name), ['zcoll-shm', 'zcoll-zmq', 'mpi-tcp', 'mpi-shm']);
  for (const c of latChecks) t.ok(c.checked > 0 && c.wrong === 0, `${c.name}: ${c.checked} checked, ${c.wrong} wrong`);
  // The OpenMPI ping-pong checks every byte both ways: (4 + 64) bytes x (3 warmup + 2 timed) x 2.
  for (const c of latChecks.filter((x) => x.name.startsWith('mpi'))) t.equal(c.checked, 68 * 5 * 2, `${c.name} honours --warmup`);
  t.match(md, /--iters 2 --warmup 3/, 'the command line recorded says the warm-up');
  t.match(md, /Result: every check passed \(0 wrong\)/);
  // The JSON against its own definition: busbw = bytes / time (2 ranks: 2(n-1)/n = 1), GB = 1e9 B.
  const json = JSON.parse(readFileSync(join(dir, 'all.json'), 'utf8')) as { n2: Record<string, Array<{ bytes: number; time_med_s: number; busbw_GBps: number }>> };
  for (const c of arCols) {
    t.equal(json.n2[c]?.length, 1, c);
    for (const row of json.n2[c] ?? []) t.ok(Math.abs(row.busbw_GBps - row.bytes / row.time_med_s / 1e9) <= 1e-4 * row.busbw_GBps, `${c} ${row.bytes}: busbw`);
  }
  const svg = readFileSync(join(dir, 'all.svg'), 'utf8');
  const legend = [...svg.matchAll(/role-legend-label[\s\S]*?<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
  t.same(legend, arCols, 'one legend entry per series, each name whole');
});

t.test('peer programs missing (empty ZCOLL_PEERS_DIR): named, skipped, zcoll still measured', async (t) => {
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  const r = await peers('empty', ['--ranks', '2', '--sizes', '4K', '--latency', '4:64:16', '--transports', 'zmq', '--iters', '2'], { ZCOLL_PEERS_DIR: empty });
  t.equal(r.code, 0, r.stderr);
  for (const f of ['gloo_allreduce.py', 'mpi_allreduce.c', 'mpi_pingpong.c']) t.match(r.stderr, `${f} not found in ${empty} (ZCOLL_PEERS_DIR)`);
  const md = readFileSync(join(dir, 'empty.md'), 'utf8');
  t.match(md, /gloo: skipped: gloo_allreduce\.py not found/);
  t.match(md, /mpi-shm: skipped: mpi_pingpong\.c not found/);
  t.same(table(md, '## All-reduce').head, ['size', 'zcoll-zmq time / busbw']);
  t.match(table(md, '## All-reduce').rows[0]?.[1] ?? '', /^\d+(\.\d+)? (us|ms) \/ \d+\.\d{3}$/);
  t.same(table(md, '## Point-to-point').rows.length, 2);
  t.ok(existsSync(join(dir, 'empty.svg')));
});

t.test('no mpicc on PATH: OpenMPI named with its package, the rest measured', { skip: hasTorch ? false : 'needs /usr/bin/python3 with torch' }, async (t) => {
  const r = await peers('nompi', ['--ranks', '2', '--sizes', '4K', '--latency', 'none', '--transports', 'zmq', '--iters', '2'], { PATH: join(dir, 'no-such-dir') });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /mpi-tcp \(2 ranks\) skipped: OpenMPI: no mpicc or mpirun on PATH \(apt-get install openmpi-bin libopenmpi-dev\)/);
  const md = readFileSync(join(dir, 'nompi.md'), 'utf8');
  t.same(table(md, '## All-reduce').head.slice(1), ['zcoll-zmq time / busbw', 'gloo time / busbw', 'zcoll-zmq / gloo']);
  t.notMatch(md, /## Point-to-point/);
});

t.test('plot: own colour and mark per series, whole legend names, log axes, sizes as 4K..64M', async (t) => {
  const names = ['zcoll-shm', 'zcoll-shm-registered', 'zcoll-zmq', 'gloo', 'mpi-tcp', 'mpi-shm'].flatMap((s) => [`${s}, 2 ranks`, `${s}, 4 ranks`]);
  const { color, shape } = seriesChannels(names) as { color: { scale: { range: string[] }; legend: { labelLimit: number } }; shape: { scale: { range: string[] } } };
  t.equal(new Set(color.scale.range).size, names.length, 'twelve colours');
  t.equal(new Set(shape.scale.range).size, names.length, 'twelve shapes');
  t.equal(color.legend.labelLimit, 0, 'no truncation');
  const sizes = [4096, 65536, 1 << 20, 16 << 20, 64 << 20];
  const points: SizePoint[] = names.flatMap((series, i) => sizes.map((size, j) => ({ series, size, value: (i + 1) * (j + 1), panel: series.endsWith('2 ranks') ? '2 ranks' : '4 ranks' })));
  const spec = sizeChartsSpec([{ title: 'busbw', yTitle: 'GB/s', logY: true, points }]) as unknown as { facet: unknown; spec: { encoding: { x: { scale: { type: string } }; y: { scale: { type: string } } } } };
  t.ok(spec.facet, 'one panel per rank count');
  t.equal(spec.spec.encoding.x.scale.type, 'log');
  t.equal(spec.spec.encoding.y.scale.type, 'log');
  const svg = await renderSpec(spec as unknown as Parameters<typeof renderSpec>[0]);
  const ticks = [...svg.matchAll(/role-axis-label[\s\S]*?<\/g><\/g>/g)].flatMap((m) => [...m[0].matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((x) => x[1]));
  for (const label of ['4K', '64K', '1M', '16M', '64M']) t.ok(ticks.includes(label), `size tick ${label}`);
  t.notOk(ticks.includes('4096') || ticks.includes('67108864'), 'no raw byte counts');
  const legend = [...svg.matchAll(/role-legend-label[\s\S]*?<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
  t.same(legend, names, 'every legend name whole, none twice');
  // zcoll bench --plot draws its series the same way.
  const row = (algorithm: string): BenchRow => ({ collective: 'allreduce', algorithm, ranks: 2, size: 4096, busbw: 1, faults: 'none', times_us: [1] }) as unknown as BenchRow;
  const bench = plotSpec([row('ring'), row('multitree')]) as unknown as { encoding: { shape: { scale: { range: string[] } } } };
  t.equal(new Set(bench.encoding.shape.scale.range).size, 2);
});
