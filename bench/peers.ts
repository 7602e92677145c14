/**
 * bench/peers: zcoll's all-reduce beside what its users would otherwise run, on the same machine in
 * one sitting, as ratios: gloo (Debian python3-torch) and OpenMPI over TCP and with shared memory
 * (openmpi-bin, libopenmpi-dev), with the peer scripts in ZCOLL_PEERS_DIR (default:
 * ../shared/peers beside the repository). A missing peer is named with its
 * Debian package; nothing is installed from here.
 *
 *   node dist/bench/peers.js [--ranks 2,4] [--sizes 4K,64K,1M,16M,64M] [--out bench/results/peers.md]
 *                            [--transports shm,shm-registered,zmq]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { parseBytes } from '../lib/cli/sizes.js';
import { benchArgs, numberListArg, outputPath } from './args.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const PEERS = process.env.ZCOLL_PEERS_DIR ?? resolve(REPO, '..', 'shared', 'peers');

const args = benchArgs({
  name: 'peers',
  summary: "zcoll's all-reduce beside gloo and OpenMPI on this machine, as ratios (markdown, JSON and SVG).",
  options: {
    ranks: { type: 'string', value: '2,4', describe: 'world sizes' },
    sizes: { type: 'string', value: '4K,64K,1M,16M,64M', describe: 'message sizes' },
    transports: { type: 'string', value: 'shm,shm-registered,zmq', describe: "zcoll's transports" },
    out: { type: 'string', value: 'FILE.md', describe: 'the table (.json and .svg beside it; default: bench/results/peers.md, or a fresh file beside it if that exists)' },
  },
});
const ranksList = numberListArg('peers', 'ranks', args.ranks, [2, 4]);
const sizes = (args.sizes ?? '4K,64K,1M,16M,64M').split(',').map((s) => parseBytes(s, '--sizes'));
const transports = (args.transports ?? 'shm,shm-registered,zmq').split(',');
const out = resolve(outputPath(args.out, join(REPO, 'bench', 'results', 'peers.md')));
const work = mkdtempSync(join(tmpdir(), 'zcoll-peers-'));

interface Row {
  bytes: number;
  time_med_s: number;
  busbw_GBps: number;
}
type Series = Map<number, Row>;

function load(path: string): Series {
  const j = JSON.parse(readFileSync(path, 'utf8')) as { results: Row[] };
  return new Map(j.results.map((r) => [r.bytes, r]));
}

function freePortSync(): number {
  return Number(execFileSync(process.execPath, ['-e', "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"]).toString().trim());
}

/**
 * One zcoll column. `transport`: 'zmq' (ZeroMQ ipc only), 'shm' (shared-memory slots: the buffer is
 * an ordinary Float32Array), 'shm-registered' (the buffer comes from comm.allocBuffer, so peers
 * read it in place), or any ZCOLL_TRANSPORT value.
 */
function runZcoll(n: number, transport: string): Series | string {
  const json = join(work, `zcoll-${transport}-${n}.json`);
  const registered = transport === 'shm-registered';
  const env: NodeJS.ProcessEnv = { ...process.env, ZCOLL_TRANSPORT: transport === 'zmq' ? 'ipc' : registered ? 'shm' : transport };
  const workerArgs = [join(HERE, 'peers-zcoll-worker.js'), json, sizes.join(','), ...(registered ? ['registered'] : [])];
  const r = spawnSync(process.execPath, [join(REPO, 'bin', 'zcoll.js'), 'launch', '-n', String(n), '--port', String(freePortSync()), '--', process.execPath, ...workerArgs], { env, encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) return `zcoll (${transport}) failed: ${(r.stderr ?? '').slice(-400)}`;
  return load(json);
}

function sweepArgs(): string[] {
  // The peers sweep min..max by a factor; x4 from 4K contains every size of the default list.
  const min = Math.min(...sizes);
  const max = Math.max(...sizes);
  return [String(min), String(max), '4'];
}

function runGloo(n: number): Series | string {
  if (!existsSync('/usr/bin/python3') || spawnSync('/usr/bin/python3', ['-c', 'import torch.distributed'], { encoding: 'utf8' }).status !== 0) {
    return 'gloo missing: apt-get install python3-torch python3-numpy';
  }
  const json = join(work, `gloo-${n}.json`);
  const [min, max, factor] = sweepArgs();
  const r = spawnSync('/usr/bin/python3', [join(PEERS, 'gloo_allreduce.py'), '-n', String(n), '--min-bytes', min, '--max-bytes', max, '--factor', factor, '--port', String(freePortSync()), '--json', json], { encoding: 'utf8', timeout: 900_000 });
  if (r.status !== 0) return `gloo failed: ${(r.stderr ?? '').slice(-400)}`;
  return load(json);
}

function runMpi(n: number, mode: 'tcp' | 'shm'): Series | string {
  if (spawnSync('which', ['mpicc']).status !== 0 || spawnSync('which', ['mpirun']).status !== 0) return 'OpenMPI missing: apt-get install openmpi-bin libopenmpi-dev';
  const binDir = join(tmpdir(), 'zcoll-peers-bin');
  mkdirSync(binDir, { recursive: true });
  const bin = join(binDir, 'mpi_allreduce');
  if (!existsSync(bin)) execFileSync('mpicc', ['-O2', '-o', bin, join(PEERS, 'mpi_allreduce.c')]);
  const json = join(work, `mpi-${mode}-${n}.json`);
  const [min, max, factor] = sweepArgs();
  const common = ['--allow-run-as-root', '--oversubscribe', '-np', String(n), '--mca', 'oob_tcp_if_include', 'lo', '--mca', 'btl_tcp_if_include', 'lo'];
  const modeArgs = mode === 'tcp' ? ['--mca', 'pml', 'ob1', '--mca', 'btl', 'tcp,self'] : ['-x', 'UCX_NET_DEVICES=lo'];
  const r = spawnSync('mpirun', [...common, ...modeArgs, bin, json, min, max, factor], { encoding: 'utf8', timeout: 900_000 });
  if (r.status !== 0) return `OpenMPI (${mode}) failed: ${(r.stderr ?? '').slice(-400)}`;
  return load(json);
}

const fmtT = (s: number): string => (s * 1e6 >= 1000 ? `${(s * 1e3).toFixed(2)} ms` : `${(s * 1e6).toFixed(0)} us`);
const lines: string[] = [];
const started = new Date().toISOString();
lines.push('# zcoll all-reduce beside its peers (same machine, same sitting)', '');
lines.push(`Command: \`node dist/bench/peers.js --ranks ${ranksList.join(',')} --sizes ${args.sizes ?? '4K,64K,1M,16M,64M'} --transports ${transports.join(',')}\` (after \`npm install\`), started ${started}.`);
lines.push('Method for every column (shared/peers/gloo_allreduce.py): float32 SUM, in place; per iteration fill, barrier, time the all-reduce, check;');
lines.push('time = median over iterations of the max over ranks; busbw = bytes/time * 2(n-1)/n, GB = 1e9 B. Ratios are zcoll / peer busbw (> 1: zcoll faster).');
const loadavg = (): string => (existsSync('/proc/loadavg') ? readFileSync('/proc/loadavg', 'utf8').trim() : 'n/a');
lines.push(`Machine: 2 cores; ${ranksList.some((n) => n > 2) ? 'runs with more ranks than cores are oversubscribed.' : ''} Load (/proc/loadavg) at the start: \`${loadavg()}\`.`);
lines.push("zcoll columns: 'shm' = shared-memory slots with an ordinary Float32Array (one copy on the sending side), 'shm-registered' = the buffer comes from comm.allocBuffer (peers read it in place), 'zmq' = ZeroMQ ipc only.", '');
const raw: Record<string, unknown> = {};
for (const n of ranksList) {
  const series: Array<[string, Series | string]> = [];
  for (const t of transports) series.push([`zcoll-${t}`, runZcoll(n, t)]);
  series.push(['gloo', runGloo(n)]);
  series.push(['mpi-tcp', runMpi(n, 'tcp')]);
  series.push(['mpi-shm', runMpi(n, 'shm')]);
  raw[`n${n}`] = Object.fromEntries(series.map(([k, v]) => [k, typeof v === 'string' ? v : [...v.values()]]));
  lines.push(`## ${n} ranks`, '');
  const ok = series.filter((s): s is [string, Series] => typeof s[1] !== 'string');
  const zc = ok.filter(([k]) => k.startsWith('zcoll'));
  const peers = ok.filter(([k]) => !k.startsWith('zcoll'));
  const head = ['size', ...ok.map(([k]) => `${k} time / busbw`), ...zc.flatMap(([z]) => peers.map(([p]) => `${z} / ${p}`))];
  lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
  for (const size of sizes) {
    const cells = [size >= 1 << 20 ? `${size / (1 << 20)} MiB` : `${size / 1024} KiB`];
    for (const [, s] of ok) {
      const r = s.get(size);
      cells.push(r ? `${fmtT(r.time_med_s)} / ${r.busbw_GBps.toFixed(3)}` : 'n/a');
    }
    for (const [, z] of zc) {
      for (const [, p] of peers) {
        const a = z.get(size);
        const b = p.get(size);
        cells.push(a && b ? `${(a.busbw_GBps / b.busbw_GBps).toFixed(2)}x` : 'n/a');
      }
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  for (const [k, v] of series) if (typeof v === 'string') lines.push('', `${k}: ${v}`);
  lines.push('');
}
// The plot: busbw vs size, one line per (ranks, implementation), drawn with vega-lite.
const points: Array<{ series: string; size: number; busbw: number }> = [];
for (const [n, bySeries] of Object.entries(raw)) {
  for (const [name, rows] of Object.entries(bySeries as Record<string, unknown>)) {
    if (!Array.isArray(rows)) continue;
    for (const r of rows as Row[]) if (sizes.includes(r.bytes)) points.push({ series: `${name}, ${n.slice(1)} ranks`, size: r.bytes, busbw: r.busbw_GBps });
  }
}
const spec: vl.TopLevelSpec = {
  $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
  title: 'All-reduce bus bandwidth on this machine (float32, same sitting)',
  width: 560,
  height: 340,
  data: { values: points },
  mark: { type: 'line', point: true },
  encoding: {
    x: { field: 'size', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'message size (bytes)' },
    y: { field: 'busbw', type: 'quantitative', title: 'busbw (GB/s)' },
    color: { field: 'series', type: 'nominal', title: null },
  },
};
const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
const svgPath = out.replace(/\.md$/, '.svg');
writeFileSync(svgPath, await view.toSVG());
lines.push(`Plot: \`${svgPath.replace(`${REPO}/`, '')}\`.`);
lines.push(`Load (/proc/loadavg) at the end: \`${loadavg()}\`, ${new Date().toISOString()}.`);
writeFileSync(out, `${lines.join('\n')}\n`);
writeFileSync(out.replace(/\.md$/, '.json'), `${JSON.stringify(raw, null, 2)}\n`);
process.stdout.write(`${lines.join('\n')}\n`);
