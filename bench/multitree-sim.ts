/**
 * Reproduction of MULTITREE's communication speedup over ring (Huang et al., ISCA 2021) with the
 * step-synchronous alpha-beta simulator (lib/schedule/simulate.ts; results: bench/results/multitree-sim.md):
 * 2D tori 4x4 .. 32x32 with 4 ports per node and 2-level fat trees with one port, 32 KB .. 256 MB.
 * Ring is the one-direction ring laid along the topology's ring order (a Hamiltonian cycle on the
 * tori, so it never contends); MULTITREE uses its own contention-free paths. Prints Markdown.
 *
 *   node dist/bench/multitree-sim.js [--alpha-us 5] [--gbps 12.5] [--max-side 32]
 */
import { buildTopology, describeTopology, type Topology, type TopologySpec } from '../lib/cluster/topology.js';
import { multitreeLowerBound } from '../lib/cluster/topology-routes.js';
import { buildMultitreeTrees, multitreeSchedule } from '../lib/schedule/multitree.js';
import { buildPlacedRing } from '../lib/schedule/placed-ring.js';
import { simulateSizes, type SimParams, type SimResult } from '../lib/schedule/simulate.js';
import { buildTree } from '../lib/schedule/tree.js';
import type { Schedule } from '../lib/schedule/types.js';
import { verifyLinks } from '../lib/schedule/verify-links.js';
import { benchArgs, numberArg } from './args.js';

const args = benchArgs({
  name: 'multitree-sim',
  summary: 'MULTITREE vs ring on simulated tori and fat trees (prints Markdown; bench/results/multitree-sim.md holds one).',
  options: {
    'alpha-us': { type: 'string', value: '5', describe: 'per-message latency, microseconds' },
    gbps: { type: 'string', value: '12.5', describe: 'link bandwidth, GB/s' },
    'max-side': { type: 'string', value: '32', describe: 'largest torus side' },
  },
});

function flag(name: 'alpha-us' | 'gbps' | 'max-side', fallback: number): number {
  const v = numberArg('multitree-sim', name, args[name], fallback);
  if (!(v > 0)) throw new Error(`--${name} needs a positive number`);
  return v;
}

const alphaUs = flag('alpha-us', 5);
const gbps = flag('gbps', 12.5);
const maxSide = flag('max-side', 32);
const params: SimParams = { alphaS: alphaUs * 1e-6, betaSPerByte: 1 / (gbps * 1e9) };
const sizes: number[] = [];
for (let b = 32 << 10; b <= 256 << 20; b *= 2) sizes.push(b);

interface Row {
  readonly name: string;
  readonly topo: Topology;
  readonly T: number;
  readonly bound: number;
  readonly buildMs: number;
  readonly ring: Schedule;
  readonly multitree: Schedule;
  readonly tree: Schedule;
  readonly linksOk: boolean;
}

const specs: Array<[string, TopologySpec, number]> = [];
for (const side of [4, 8, 16, 32]) if (side <= maxSide) specs.push([`torus ${side}x${side}`, { kind: 'torus', dims: [side, side] }, side * side]);
specs.push(['fat tree 8x8', { kind: 'fattree', k: 8 }, 64]);
if (maxSide >= 16) specs.push(['fat tree 16x16', { kind: 'fattree', k: 16 }, 256]);

const rows: Row[] = specs.map(([name, spec, n]) => {
  const topo = buildTopology(spec, n);
  const started = performance.now();
  const trees = buildMultitreeTrees(topo);
  const multitree = multitreeSchedule(trees);
  const buildMs = performance.now() - started;
  const ring = buildPlacedRing(topo);
  const linksOk = verifyLinks(multitree, topo).ok && verifyLinks(ring, topo).ok;
  return { name, topo, T: trees.T, bound: multitreeLowerBound(topo), buildMs, ring, multitree, tree: buildTree(n), linksOk };
});

const fmtSize = (b: number): string => (b >= 1 << 20 ? `${b / (1 << 20)} MB` : `${b / 1024} KB`);
const out: string[] = [];
out.push(`Simulated with alpha = ${alphaUs} us per step, ${gbps} GB/s per link and port, no reduction cost (gamma = 0).`);
out.push('');
out.push('| topology | N | ports | T (MULTITREE) | lower bound | build (trees + schedule) | links verified | alpha-beta bound on speedup, (N-1)/T |');
out.push('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const n = r.topo.nranks;
  out.push(`| ${describeTopology(r.topo)} | ${n} | ${r.topo.sendCap[0]} | ${r.T} | ${r.bound} | ${(r.buildMs / 1000).toFixed(2)} s | ${r.linksOk ? 'yes' : 'NO'} | ${((n - 1) / r.T).toFixed(2)}x |`);
}
out.push('');
out.push('MULTITREE speedup over the one-direction ring (ring time / MULTITREE time):');
out.push('');
out.push(`| size | ${rows.map((r) => r.name).join(' | ')} |`);
out.push(`|---|${rows.map(() => '---').join('|')}|`);
// Every schedule is routed once and costed at all sizes (simulateSizes).
const allSizes = [...new Set([...sizes, 32 << 10, 1 << 20, 256 << 20])];
const results = new Map<Schedule, Map<number, SimResult>>();
const time = (s: Schedule, topo: Topology, bytes: number): number => {
  let m = results.get(s);
  if (m === undefined) {
    const byBytes = new Map<number, SimResult>();
    simulateSizes(s, topo, allSizes, params).forEach((r, i) => byBytes.set(allSizes[i], r));
    results.set(s, (m = byBytes));
  }
  return (m.get(bytes) as SimResult).timeS;
};
for (const bytes of sizes) {
  out.push(`| ${fmtSize(bytes)} | ${rows.map((r) => `${(time(r.ring, r.topo, bytes) / time(r.multitree, r.topo, bytes)).toFixed(2)}x`).join(' | ')} |`);
}
out.push('');
out.push('Fastest of ring / MULTITREE / binomial tree (what algorithm \'auto\' picks with these parameters):');
out.push('');
out.push(`| size | ${rows.map((r) => r.name).join(' | ')} |`);
out.push(`|---|${rows.map(() => '---').join('|')}|`);
for (const bytes of sizes) {
  const pick = (r: Row): string => {
    const cands: Array<[string, number]> = [
      ['ring', time(r.ring, r.topo, bytes)],
      ['multitree', time(r.multitree, r.topo, bytes)],
      ['tree', time(r.tree, r.topo, bytes)],
    ];
    return cands.reduce((best, c) => (c[1] < best[1] * (1 - 1e-9) ? c : best))[0];
  };
  out.push(`| ${fmtSize(bytes)} | ${rows.map(pick).join(' | ')} |`);
}
out.push('');
out.push('Absolute times (ms) at 32 KB / 1 MB / 256 MB, and the binomial tree for reference:');
out.push('');
out.push('| topology | ring | MULTITREE | binomial tree | MULTITREE busbw at 256 MB (GB/s) |');
out.push('|---|---|---|---|---|');
for (const r of rows) {
  const cell = (s: Schedule): string => [32 << 10, 1 << 20, 256 << 20].map((b) => (time(s, r.topo, b) * 1e3).toFixed(3)).join(' / ');
  const busbw = (256 << 20) / time(r.multitree, r.topo, 256 << 20) * ((2 * (r.topo.nranks - 1)) / r.topo.nranks);
  out.push(`| ${r.name} | ${cell(r.ring)} | ${cell(r.multitree)} | ${cell(r.tree)} | ${(busbw / 1e9).toFixed(1)} |`);
}
process.stdout.write(`${out.join('\n')}\n`);
