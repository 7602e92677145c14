/**
 * bench/peers: zcoll beside what its users would otherwise run, on the same machine in one sitting, as
 * ratios. All-reduce (float32 SUM in place): gloo (Debian python3-torch) and OpenMPI over TCP and over
 * shared memory (vader); point-to-point latency: `zcoll bench latency` beside an osu_latency-style
 * OpenMPI ping-pong over the same two. The peer programs are in bench/peers/ (ZCOLL_PEERS_DIR
 * overrides), the C ones compiled with mpicc at run time; a missing peer is named with its Debian
 * package and its column skipped. Exits 1 when a column failed or any check found a wrong value.
 *
 *   node dist/bench/peers.js [--ranks 2,4] [--sizes 4K,64K,1M,16M,64M] [--latency 4:1M:4]
 *                            [--transports shm,shm-registered,zmq] [--iters N] [--warmup N]
 *                            [--out FILE.md]
 * --warmup gives every program the same untimed iterations per size. A JIT-compiled program (zcoll)
 * runs its first thousands of small collectives unoptimised (bench/results/latency.md section 4), so
 * a steady-state comparison gives all columns a warm-up of that order, as osu_latency skips its first
 * iterations; without it each program keeps its own rule (5, or a tenth for the ping-pong).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderSpec, sizeChartsSpec, type SizePoint } from '../lib/cli/plot.js';
import { parseBytes } from '../lib/cli/sizes.js';
import { benchArgs, numberArg, numberListArg, outputPath } from './args.js';
import { runGloo, runMpi, runMpiPingPong, runZcoll, runZcollLatency, type Outcome, type Series, type Sitting } from './peers-programs.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');

const args = benchArgs({
  name: 'peers',
  summary: "zcoll's all-reduce and send/recv latency beside gloo and OpenMPI on this machine, as ratios (markdown, JSON and SVG).",
  options: {
    ranks: { type: 'string', value: '2,4', describe: 'world sizes of the all-reduce' },
    sizes: { type: 'string', value: '4K,64K,1M,16M,64M', describe: 'all-reduce message sizes' },
    latency: { type: 'string', value: '4:1M:4', describe: "ping-pong sizes MIN:MAX:FACTOR (zcoll bench latency's -b -e -f), or 'none'" },
    transports: { type: 'string', value: 'shm,shm-registered,zmq', describe: "zcoll's transports" },
    iters: { type: 'string', value: 'N', describe: "timed iterations per size for every program (default: each program's own rule)" },
    warmup: { type: 'string', value: 'N', describe: "untimed iterations per size for every program (default: each program's own rule)" },
    out: { type: 'string', value: 'FILE.md', describe: 'the table (.json and .svg beside it; default: bench/results/peers.md, or a fresh file beside it if that exists)' },
  },
});
const ranksList = numberListArg('peers', 'ranks', args.ranks, [2, 4]);
const sizes = (args.sizes ?? '4K,64K,1M,16M,64M').split(',').map((s) => parseBytes(s, '--sizes'));
const transports = (args.transports ?? 'shm,shm-registered,zmq').split(',');
const iters = numberArg('peers', 'iters', args.iters, 0);
const warmup = numberArg('peers', 'warmup', args.warmup, 0);

function latencySweep(text: string): { min: number; max: number; factor: number; sizes: number[] } | undefined {
  if (text === 'none') return undefined;
  const parts = text.split(':');
  const [min, max] = [parseBytes(parts[0] ?? '', '--latency'), parseBytes(parts[1] ?? '', '--latency')];
  const factor = Number(parts[2] ?? '2');
  if (parts.length < 2 || parts.length > 3 || !(factor >= 2) || !Number.isInteger(factor) || min < 4 || min % 4 !== 0 || max < min) {
    process.stderr.write(`peers: --latency must be MIN:MAX[:FACTOR] with 4 <= MIN <= MAX, MIN a multiple of 4 and an integer FACTOR >= 2, or 'none'; got '${text}'\n`);
    process.exit(2);
  }
  const list: number[] = [];
  for (let s = min; s <= max; s *= factor) list.push(s);
  return { min, max, factor, sizes: list };
}
const latency = latencySweep(args.latency ?? '4:1M:4');

const out = resolve(outputPath(args.out, join(REPO, 'bench', 'results', 'peers.md')));
const sitting: Sitting = { repo: REPO, peersDir: resolve(process.env.ZCOLL_PEERS_DIR ?? join(REPO, 'bench', 'peers')), work: mkdtempSync(join(tmpdir(), 'zcoll-peers-')), iters, warmup };
process.on('exit', () => rmSync(sitting.work, { recursive: true, force: true }));

const isRows = (o: Outcome): o is Series => o instanceof Map;
const why = (o: { skipped: string } | { failed: string }): string => ('skipped' in o ? `skipped: ${o.skipped}` : o.failed);
let failed = false;
let wrongTotal = 0;
/** Runs one column, saying on stderr at once when it is skipped or failed. */
function column(name: string, outcome: Outcome): [string, Outcome] {
  if (!isRows(outcome)) {
    if ('failed' in outcome) failed = true;
    process.stderr.write(`peers: ${name} ${why(outcome)}\n`);
  }
  return [name, outcome];
}

const fmtT = (s: number): string => (s * 1e6 >= 1000 ? `${(s * 1e3).toFixed(2)} ms` : s * 1e6 >= 10 ? `${(s * 1e6).toFixed(0)} us` : `${(s * 1e6).toFixed(2)} us`);
const fmtRatio = (r: number): string => `${r >= 10 ? r.toFixed(0) : r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}x`;
const fmtSize = (b: number): string => (b >= 1 << 20 ? `${b / (1 << 20)} MiB` : b >= 1024 ? `${b / 1024} KiB` : `${b} B`);

/** The checks of every column of a table: elements compared and how many were wrong. */
function checksLine(cols: Array<[string, Outcome]>): string {
  const parts = cols.filter((c): c is [string, Series] => isRows(c[1])).map(([k, s]) => {
    const rows = [...s.values()];
    const wrong = rows.reduce((a, r) => a + r.wrong, 0);
    wrongTotal += wrong;
    return `${k} ${rows.reduce((a, r) => a + r.checked, 0)} ${rows[0]?.unit ?? 'elements'} checked, ${wrong} wrong`;
  });
  return `Checks: ${parts.join('; ')}.`;
}

function notesOf(cols: Array<[string, Outcome]>): string[] {
  return cols.flatMap(([k, o]) => (isRows(o) ? [] : [`${k}: ${why(o)}`]));
}

const loadavg = (): string => (existsSync('/proc/loadavg') ? readFileSync('/proc/loadavg', 'utf8').trim() : 'n/a');
const lines: string[] = [];
const command = `node dist/bench/peers.js --ranks ${ranksList.join(',')} --sizes ${args.sizes ?? '4K,64K,1M,16M,64M'} --latency ${args.latency ?? '4:1M:4'} --transports ${transports.join(',')}${iters > 0 ? ` --iters ${iters}` : ''}${warmup > 0 ? ` --warmup ${warmup}` : ''}`;
lines.push('# zcoll beside its peers (same machine, same sitting)', '');
lines.push(`Command: \`${command}\` (after \`npm install\`; peers from \`${sitting.peersDir.replace(`${REPO}/`, '')}\`), started ${new Date().toISOString()}.`);
lines.push('All-reduce, every column (bench/peers/*, bench/peers-zcoll-worker.ts): float32 SUM, in place; per iteration fill, barrier, time the all-reduce, barrier, check every element;');
lines.push('time = median over iterations of the max over ranks; busbw = bytes/time * 2(n-1)/n, GB = 1e9 B. Ratios are zcoll / peer busbw (> 1: zcoll faster).');
lines.push(`Machine: ${ranksList.some((n) => n > 2) ? 'runs with more ranks than cores are oversubscribed; ' : ''}load (/proc/loadavg) at the start: \`${loadavg()}\`.`);
lines.push("zcoll columns: 'shm' = shared-memory slots with an ordinary Float32Array (one copy on the sending side), 'shm-registered' = the buffer comes from comm.allocBuffer (peers read it in place), 'zmq' = ZeroMQ ipc only.", '');

const raw: Record<string, unknown> = {};
const toJson = (cols: Array<[string, Outcome]>): Record<string, unknown> => Object.fromEntries(cols.map(([k, v]) => [k, isRows(v) ? [...v.values()] : v]));
const busPoints: SizePoint[] = [];
for (const n of ranksList) {
  const cols: Array<[string, Outcome]> = [];
  for (const t of transports) cols.push(column(`zcoll-${t} (${n} ranks)`, runZcoll(sitting, n, t, sizes)));
  cols.push(column(`gloo (${n} ranks)`, runGloo(sitting, n, sizes)));
  cols.push(column(`mpi-tcp (${n} ranks)`, runMpi(sitting, n, 'tcp', sizes)));
  cols.push(column(`mpi-shm (${n} ranks)`, runMpi(sitting, n, 'shm', sizes)));
  const named = cols.map(([k, v]): [string, Outcome] => [k.replace(/ \(\d+ ranks\)$/, ''), v]);
  raw[`n${n}`] = toJson(named);
  lines.push(`## All-reduce, ${n} ranks`, '');
  const ok = named.filter((c): c is [string, Series] => isRows(c[1]));
  const zc = ok.filter(([k]) => k.startsWith('zcoll'));
  const peers = ok.filter(([k]) => !k.startsWith('zcoll'));
  const head = ['size', ...ok.map(([k]) => `${k} time / busbw`), ...zc.flatMap(([z]) => peers.map(([p]) => `${z} / ${p}`))];
  lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
  for (const size of sizes) {
    const cells = [fmtSize(size)];
    for (const [, s] of ok) {
      const r = s.get(size);
      cells.push(r ? `${fmtT(r.time_med_s)} / ${(r.busbw_GBps ?? 0).toFixed(3)}` : 'n/a');
    }
    for (const [, z] of zc) {
      for (const [, p] of peers) {
        const a = z.get(size)?.busbw_GBps;
        const b = p.get(size)?.busbw_GBps;
        cells.push(a !== undefined && b !== undefined ? fmtRatio(a / b) : 'n/a');
      }
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  for (const [k, s] of ok) for (const r of s.values()) busPoints.push({ series: k, size: r.bytes, value: r.busbw_GBps ?? 0, panel: `${n} ranks` });
  lines.push('', checksLine(named), ...notesOf(named).map((x) => `\n${x}`), '');
}

const latPoints: SizePoint[] = [];
if (latency !== undefined) {
  const cols: Array<[string, Outcome]> = [];
  // shm-registered is an all-reduce buffer choice; send/recv of an ordinary array is the 'shm' column.
  for (const t of transports.filter((x) => x !== 'shm-registered')) cols.push(column(`zcoll-${t} (latency)`, runZcollLatency(sitting, t, latency)));
  cols.push(column('mpi-tcp (ping-pong)', runMpiPingPong(sitting, 'tcp', latency.sizes)));
  cols.push(column('mpi-shm (ping-pong)', runMpiPingPong(sitting, 'shm', latency.sizes)));
  const named = cols.map(([k, v]): [string, Outcome] => [k.replace(/ \((latency|ping-pong)\)$/, ''), v]);
  raw.latency = toJson(named);
  lines.push('## Point-to-point latency, 2 ranks', '');
  lines.push('One way = half a round trip (osu_latency): rank 0 sends, rank 1 replies with as many bytes; every message checked; per iteration barrier, time, check;');
  lines.push("time = median over iterations of the max over the two ranks. zcoll: `zcoll bench latency --ranks 2` (send/recv); OpenMPI: bench/peers/mpi_pingpong.c (MPI_Send/MPI_Recv). Ratios are zcoll / peer time (> 1: zcoll slower).", '');
  const ok = named.filter((c): c is [string, Series] => isRows(c[1]));
  const zc = ok.filter(([k]) => k.startsWith('zcoll'));
  const peers = ok.filter(([k]) => !k.startsWith('zcoll'));
  const head = ['size', ...ok.map(([k]) => `${k} one way`), ...zc.flatMap(([z]) => peers.map(([p]) => `${z} / ${p}`))];
  lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
  for (const size of latency.sizes) {
    const cells = [fmtSize(size), ...ok.map(([, s]) => (s.get(size) ? fmtT(s.get(size)!.time_med_s) : 'n/a'))];
    for (const [, z] of zc) {
      for (const [, p] of peers) {
        const a = z.get(size)?.time_med_s;
        const b = p.get(size)?.time_med_s;
        cells.push(a !== undefined && b !== undefined ? fmtRatio(a / b) : 'n/a');
      }
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  for (const [k, s] of ok) for (const r of s.values()) latPoints.push({ series: k, size: r.bytes, value: r.time_med_s * 1e6 });
  lines.push('', checksLine(named), ...notesOf(named).map((x) => `\n${x}`), '');
}

const charts = [{ title: 'All-reduce bus bandwidth (float32 SUM, same sitting)', subtitle: 'busbw as nccl-tests; median over iterations of the slowest rank', yTitle: 'busbw (GB/s, log)', logY: true, points: busPoints }];
if (latPoints.length > 0) charts.push({ title: 'Point-to-point latency, 2 ranks', subtitle: 'half a round trip; median over iterations', yTitle: 'one way (us, log)', logY: true, points: latPoints });
const svgPath = out.replace(/\.md$/, '.svg');
writeFileSync(svgPath, await renderSpec(sizeChartsSpec(charts)));
lines.push(`Plot: \`${svgPath.replace(`${REPO}/`, '')}\`.`);
lines.push(`Load (/proc/loadavg) at the end: \`${loadavg()}\`, ${new Date().toISOString()}.`);
lines.push(`Result: ${wrongTotal === 0 ? 'every check passed (0 wrong)' : `${wrongTotal} WRONG values`}${failed ? '; some columns FAILED (above)' : ''}.`);
writeFileSync(out, `${lines.join('\n')}\n`);
writeFileSync(out.replace(/\.md$/, '.json'), `${JSON.stringify(raw, null, 2)}\n`);
process.stdout.write(`${lines.join('\n')}\n`);
if (failed || wrongTotal > 0) process.exitCode = 1;
