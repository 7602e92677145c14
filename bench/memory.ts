/**
 * bench/memory: bytes allocated per all-reduce and peak RSS per rank, shared memory and ZeroMQ-only,
 * 2 ranks, 64 MiB float32 (issue target: peak RSS <= 3x the tensor per rank).
 *   node dist/bench/memory.js [--bytes 64M] [--iters 5] [--out bench/results/memory.md]
 */
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBytes } from '../lib/cli/sizes.js';
import { benchArgs, numberArg, outputPath } from './args.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const args = benchArgs({
  name: 'memory',
  summary: 'Bytes allocated per all-reduce and peak RSS per rank, 2 ranks, shm and ZeroMQ (a markdown table).',
  options: {
    bytes: { type: 'string', value: '64M', describe: 'tensor size (K, M, G suffixes)' },
    iters: { type: 'string', value: '5', describe: 'all-reduces per transport' },
    out: { type: 'string', value: 'FILE.md', describe: 'write the table here (default: bench/results/memory.md, or a fresh file beside it if that exists)' },
  },
});
const bytesText = args.bytes ?? '64M';
const bytes = parseBytes(bytesText, '--bytes');
const iters = numberArg('memory', 'iters', args.iters, 5);
const out = resolve(outputPath(args.out, join(REPO, 'bench', 'results', 'memory.md')));
const work = mkdtempSync(join(tmpdir(), 'zcoll-mem-'));
const port = (): string => execFileSync(process.execPath, ['-e', "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"]).toString().trim();

const lines = ['# Memory per all-reduce', '', `Command: \`node dist/bench/memory.js --bytes ${bytesText} --iters ${iters}\` (${new Date().toISOString()})`, ''];
lines.push('Allocated = growth of external (ArrayBuffer and native) memory during one all-reduce (no GC inside the op), averaged; peak RSS = VmHWM of the rank process (Node itself is ~50 MiB).');
lines.push('RSS counts shared pages in every process that touched them: with registered buffers (comm.allocBuffer) each rank maps the pages of its peer\'s buffer it reads, so the same physical memory shows up in both ranks.', '');
lines.push('| transport | ranks | tensor (MiB) | allocated per op, rank 0 / 1 (MiB) | peak RSS, rank 0 / 1 (MiB) | peak RSS / tensor | PSS after the ops, rank 0 / 1 (MiB) |', '|---|---|---|---|---|---|---|');
for (const column of ['shm', 'shm-registered', 'ipc']) {
  const transport = column === 'shm-registered' ? 'shm' : column;
  const json = join(work, `${column}.json`);
  const r = spawnSync(process.execPath, [join(REPO, 'bin', 'zcoll.js'), 'launch', '-n', '2', '--port', port(), '--', process.execPath, '--expose-gc', join(HERE, 'memory-worker.js'), json, String(bytes), String(iters), ...(column === 'shm-registered' ? ['registered'] : [])], {
    env: { ...process.env, ZCOLL_TRANSPORT: transport },
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (r.status !== 0) {
    lines.push(`| ${column} | failed: ${(r.stderr ?? '').slice(-200).replace(/\n/g, ' ')} |`);
    continue;
  }
  const j = JSON.parse(readFileSync(json, 'utf8')) as { transport: string; ranks: number; tensorMiB: number; perRank: number[] };
  const [a0, p0, , s0, a1, p1, , s1] = j.perRank;
  lines.push(`| ${j.transport} | ${j.ranks} | ${j.tensorMiB} | ${a0.toFixed(1)} / ${a1.toFixed(1)} | ${p0.toFixed(0)} / ${p1.toFixed(0)} | ${(Math.max(p0, p1) / j.tensorMiB).toFixed(2)}x | ${s0.toFixed(0)} / ${s1.toFixed(0)} |`);
}
writeFileSync(out, `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n(written to ${out})\n`);
