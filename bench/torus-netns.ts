/**
 * bench/torus-netns: MULTITREE against ring on a real (emulated) 3x3 torus.
 *
 * Nine network namespaces are nine hosts; each of the 18 torus links is a veth pair of its own with
 * its own /24 in 198.18.0.0/15, shaped with `tc ... tbf` on both ends (default 200 Mbit/s), so links,
 * not the two CPUs, are the bottleneck. An unshaped management bridge, in a tenth namespace of its
 * own, carries rendezvous and non-neighbour traffic. Nothing is attached to the machine's own
 * interfaces, there is no route out, and everything is removed at the end, pass or fail.
 * The config names each link's two addresses, so zcoll's ZeroMQ link between torus neighbours runs
 * over their veth; ring (laid along a Hamiltonian cycle of the torus) and MULTITREE then use only
 * torus links. Needs root and iproute2 (`ip`, `tc`); says so and exits 0 otherwise.
 *
 *   node dist/bench/torus-netns.js [--rate 200mbit] [--sizes 1M,4M,16M] [--iters 3] [--out bench/results/torus-netns.md]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs, numberArg, outputPath } from './args.js';
import { ip, Namespaces, requireNetnsTools, steerReceive, tbf } from './netns.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const args = benchArgs({
  name: 'torus-netns',
  summary: 'MULTITREE against ring on an emulated 3x3 torus of network namespaces (needs root; a markdown table).',
  options: {
    rate: { type: 'string', value: '200mbit', describe: 'tc rate of every torus link' },
    sizes: { type: 'string', value: '1M,4M,16M', describe: 'all-reduce sizes' },
    iters: { type: 'string', value: '3', describe: 'timed all-reduces per size' },
    out: { type: 'string', value: 'FILE.md', describe: 'the table (default: bench/results/torus-netns.md, or a fresh file beside it if that exists)' },
  },
});
const rate = args.rate ?? '200mbit';
const sizes = (args.sizes ?? '1M,4M,16M').split(',');
const iters = String(numberArg('torus-netns', 'iters', args.iters, 3));
const out = resolve(outputPath(args.out, join(REPO, 'bench', 'results', 'torus-netns.md')));
const DIM = 3;
const N = DIM * DIM;

requireNetnsTools('torus-netns');

const id = (process.pid % 900) + 100; // keeps interface names <= 15 characters
const nsName = (k: number): string => `zt${id}n${k}`;
const mgmtNs = `zt${id}m`;
const spaces = new Namespaces();

const mgmtAddr = (k: number): string => `198.19.${id % 250}.${k + 1}`;
interface Wire {
  a: number;
  b: number;
  addrA: string;
  addrB: string;
}
const wires: Wire[] = [];
const work = mkdtempSync(join(tmpdir(), 'zcoll-torus-'));
const rows: Array<{ algorithm: string; size: number; busbw: number; time_us: number; wrong: number }> = [];
try {
  spaces.add(mgmtNs);
  ip(['-n', mgmtNs, 'link', 'add', 'br0', 'type', 'bridge']);
  ip(['-n', mgmtNs, 'link', 'set', 'br0', 'up']);
  for (let k = 0; k < N; k++) {
    spaces.add(nsName(k));
    ip(['-n', nsName(k), 'link', 'set', 'lo', 'up']);
    const inner = `zt${id}m${k}`;
    const outer = `zt${id}b${k}`;
    ip(['link', 'add', inner, 'type', 'veth', 'peer', 'name', outer]);
    ip(['link', 'set', inner, 'netns', nsName(k)]);
    ip(['link', 'set', outer, 'netns', mgmtNs]);
    ip(['-n', mgmtNs, 'link', 'set', outer, 'master', 'br0']);
    ip(['-n', mgmtNs, 'link', 'set', outer, 'up']);
    ip(['-n', nsName(k), 'addr', 'add', `${mgmtAddr(k)}/24`, 'dev', inner]);
    ip(['-n', nsName(k), 'link', 'set', inner, 'up']);
  }
  // Torus links: right and down neighbour of every node (wrapping), 2N links for a 3x3 torus.
  for (let y = 0; y < DIM; y++) {
    for (let x = 0; x < DIM; x++) {
      const a = y * DIM + x;
      for (const b of [y * DIM + ((x + 1) % DIM), ((y + 1) % DIM) * DIM + x]) {
        const l = wires.length;
        const ea = `zt${id}l${l}a`;
        const eb = `zt${id}l${l}b`;
        const w = { a, b, addrA: `198.18.${l}.1`, addrB: `198.18.${l}.2` };
        ip(['link', 'add', ea, 'type', 'veth', 'peer', 'name', eb]);
        ip(['link', 'set', ea, 'netns', nsName(a)]);
        ip(['link', 'set', eb, 'netns', nsName(b)]);
        ip(['-n', nsName(a), 'addr', 'add', `${w.addrA}/24`, 'dev', ea]);
        ip(['-n', nsName(b), 'addr', 'add', `${w.addrB}/24`, 'dev', eb]);
        ip(['-n', nsName(a), 'link', 'set', ea, 'up']);
        ip(['-n', nsName(b), 'link', 'set', eb, 'up']);
        tbf(nsName(a), ea, rate);
        tbf(nsName(b), eb, rate);
        // Each end delivers in order, on its node's CPU (see steerReceive).
        for (const failed of [steerReceive(nsName(a), ea, a % availableParallelism()), steerReceive(nsName(b), eb, b % availableParallelism())]) {
          if (failed !== '') process.stderr.write(`torus-netns: receive steering failed, the emulated links may reorder packets: ${failed}\n`);
        }
        wires.push(w);
      }
    }
  }
  const config = join(work, 'torus.json');
  writeFileSync(
    config,
    JSON.stringify(
      {
        hosts: Array.from({ length: N }, (_, k) => ({ name: `h${k}`, address: mgmtAddr(k), ranks: 1 })),
        port: 29800,
        timeoutMs: 120000,
        topology: { kind: 'links', ports: 4, links: wires.map((w) => ({ a: w.a, b: w.b, addresses: [w.addrA, w.addrB] })) },
      },
      null,
      2,
    ),
  );
  for (const algorithm of ['ring', 'multitree']) {
    const json = join(work, `${algorithm}.json`);
    const runs = Array.from(
      { length: N },
      (_, k) =>
        new Promise<{ code: number | null; stderr: string }>((done) => {
          const args = ['netns', 'exec', nsName(k), process.execPath, join(REPO, 'bin', 'zcoll.js'), 'bench', '--config', config, '--host', `h${k}`, '-a', algorithm, '-b', sizes[0], '-e', sizes[sizes.length - 1], '-f', '4', '-n', iters, '-w', '1', '-q', ...(k === 0 ? ['--json', json] : [])];
          const child = spawn('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
          let stderr = '';
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          const killer = setTimeout(() => child.kill('SIGKILL'), 900_000);
          child.on('close', (code) => (clearTimeout(killer), done({ code, stderr })));
        }),
    );
    const results = await Promise.all(runs);
    const failed = results.findIndex((r) => r.code !== 0);
    if (failed >= 0) throw new Error(`${algorithm}: host h${failed} failed: ${results[failed].stderr.slice(-800)}`);
    for (const r of JSON.parse(readFileSync(json, 'utf8')) as Array<{ size: number; busbw: number; time_us: number; wrong: number }>) rows.push({ algorithm, size: r.size, busbw: r.busbw, time_us: r.time_us, wrong: r.wrong });
  }
} finally {
  spaces.removeAll();
  rmSync(work, { recursive: true, force: true });
}

const lines = [
  '# MULTITREE vs ring on an emulated 3x3 torus (network namespaces)',
  '',
  `Command (root): \`node dist/bench/torus-netns.js --rate ${rate} --sizes ${sizes.join(',')} --iters ${iters}\` (after \`npm install\`), ${new Date().toISOString()}.`,
  '',
  `9 namespaces, one rank each; 18 torus links, each a veth pair with its own /24 in 198.18.0.0/15, shaped with tbf at ${rate} on both ends;`,
  'an unshaped management bridge (own namespace, 198.19.x.0/24) for rendezvous and non-neighbour messages; no route out; all removed afterwards.',
  'Topology given to zcoll: `links` with 4 ports per node and each link\'s two addresses, so neighbour traffic runs on its own veth.',
  'Ring is laid along a Hamiltonian cycle of the torus (each step uses one link per node, one direction);',
  'MULTITREE (artifact rule) builds one tree per node using all four links per step. busbw = algbw * 2(n-1)/n.',
  '',
  '| size | ring time | ring busbw (GB/s) | MULTITREE time | MULTITREE busbw (GB/s) | MULTITREE / ring | #wrong |',
  '|---|---|---|---|---|---|---|',
];
for (const size of [...new Set(rows.map((r) => r.size))]) {
  const ring = rows.find((r) => r.algorithm === 'ring' && r.size === size);
  const mt = rows.find((r) => r.algorithm === 'multitree' && r.size === size);
  if (!ring || !mt) continue;
  lines.push(`| ${size / 2 ** 20} MiB | ${(ring.time_us / 1000).toFixed(1)} ms | ${ring.busbw.toFixed(4)} | ${(mt.time_us / 1000).toFixed(1)} ms | ${mt.busbw.toFixed(4)} | ${(mt.busbw / ring.busbw).toFixed(2)}x | ${ring.wrong + mt.wrong} |`);
}
// The verdict, as zcoll bench gives it: a wrong element or a missing row fails the run.
const wrong = rows.reduce((a, r) => a + r.wrong, 0);
const complete = rows.length === 2 * sizes.length;
lines.push('', wrong === 0 && complete ? 'Result: every element checked, 0 wrong.' : `Result: FAILED (${wrong} wrong elements, ${rows.length} of ${2 * sizes.length} rows).`);
writeFileSync(out, `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n`);
if (wrong !== 0 || !complete) process.exitCode = 1;
