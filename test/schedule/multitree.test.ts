// MULTITREE builder: regression values of the authors' artifact (tree edges, step counts), its schedule mapping,
// and every schedule through the three independent verifiers (data flow, links/ports, tree shape).
import t from 'tap';
import type { Test } from 'tap';
import { buildTopology, type Topology, type TopologySpec } from '../../lib/cluster/topology.js';
import { multitreeLowerBound } from '../../lib/cluster/topology-routes.js';
import { buildMultitree, buildMultitreeTrees, multitreeSchedule, treeDepths } from '../../lib/schedule/multitree.js';
import { verifyLinks, verifyTrees } from '../../lib/schedule/verify-links.js';
import { verifySchedule } from '../../lib/schedule/verify.js';
import type { Schedule } from '../../lib/schedule/types.js';

function allVerifiers(t: Test, s: Schedule, topo: Topology, label: string, dataflow = true): void {
  const links = verifyLinks(s, topo);
  t.ok(links.ok, `${label}: links/ports ${links.errors.join('; ')}`);
  const trees = verifyTrees(s);
  t.ok(trees.ok, `${label}: trees ${trees.errors.join('; ')}`);
  if (dataflow) {
    const flow = verifySchedule(s);
    t.ok(flow.ok, `${label}: data flow ${flow.errors.join('; ')}`);
  }
}

t.test('2D torus with 4 ports: T = 5, 17, 64 for 4x4, 8x8, 16x16 (both rules)', async (t) => {
  for (const [side, T] of [
    [4, 5],
    [8, 17],
    [16, 64],
  ]) {
    const topo = buildTopology({ kind: 'torus', dims: [side, side] }, side * side);
    for (const rule of ['artifact', 'clean'] as const) {
      const trees = buildMultitreeTrees(topo, { rule });
      t.equal(trees.T, T, `${side}x${side} ${rule}`);
      t.ok(trees.T >= multitreeLowerBound(topo) && trees.T <= multitreeLowerBound(topo) + 1, 'optimal or one above the bound');
    }
    if (side <= 8) allVerifiers(t, buildMultitree(topo), topo, `${side}x${side}`);
    else allVerifiers(t, buildMultitree(topo), topo, `${side}x${side}`, false);
  }
});

t.test('4x4 torus: tree 0 edges and link use per step as the MULTITREE construction gives them (Huang et al., ISCA 2021)', async (t) => {
  const topo = buildTopology({ kind: 'torus', dims: [4, 4] }, 16);
  const trees = buildMultitreeTrees(topo);
  const groups = new Map<string, number[]>();
  for (let e = 0; e < trees.tree.length; e++) {
    if (trees.tree[e] !== 0) continue;
    const key = `${trees.parent[e]}@${trees.step[e]}`;
    groups.set(key, [...(groups.get(key) ?? []), trees.child[e]]);
  }
  const listed = [...groups].map(([key, kids]) => `${kids.join(',')}<-${key}`).join('; ');
  t.equal(listed, '12,4,3,1<-0@0; 8,15,13<-12@1; 7<-3@1; 5<-4@2; 2<-3@2; 11<-15@2; 9<-8@3; 14<-15@3; 6<-2@3; 10<-11@4');
  const use = new Array<number>(trees.T).fill(0);
  for (let e = 0; e < trees.tree.length; e++) use[trees.step[e]] += trees.pathStart[e + 1] - trees.pathStart[e] - 1;
  t.same(use, [64, 64, 48, 48, 16]);
  t.equal(trees.tree.length, 240, 'N(N-1) edges');
  t.same(treeDepths(trees), new Array<number>(16).fill(4), 'deepest tree has 4 levels');
});

t.test('one-port switched networks: T = N-1, like ring', async (t) => {
  const cases: Array<[TopologySpec, number]> = [
    [{ kind: 'switch' }, 2],
    [{ kind: 'switch' }, 8],
    [{ kind: 'switch' }, 16],
    [{ kind: 'fattree', k: 4 }, 16],
    [{ kind: 'fattree', k: 2, levels: 3 }, 8],
    [{ kind: 'fattree', k: 8 }, 64],
    [{ kind: 'torus', dims: [4, 4], ports: 1 }, 16],
    [{ kind: 'torus', dims: [6, 6], ports: 1 }, 36],
  ];
  for (const [spec, n] of cases) {
    const topo = buildTopology(spec, n);
    const trees = buildMultitreeTrees(topo);
    t.equal(trees.T, n - 1, `${JSON.stringify(spec)} N=${n}`);
    allVerifiers(t, multitreeSchedule(trees), topo, JSON.stringify(spec), n <= 16);
  }
});

t.test('one port, N not a power of two: the greedy pairing overshoots N-1 but still verifies', async (t) => {
  // On one switch every rank's first free receiver is taken in rank order; with an odd count one tree
  // per round finds nobody, so T exceeds N-1 (artifact rule: N=9 -> 10, fat tree 3x3 -> 9).
  for (const [spec, n, T] of [
    [{ kind: 'switch' }, 9, 10],
    [{ kind: 'fattree', k: 3 }, 9, 9],
  ] as const) {
    const topo = buildTopology(spec, n);
    const trees = buildMultitreeTrees(topo);
    t.equal(trees.T, T, `${spec.kind} N=${n}`);
    allVerifiers(t, multitreeSchedule(trees), topo, spec.kind);
  }
});

t.test('mesh 4x4: T = 10 with the artifact rule, 8 with the clean rule (= the lower bound)', async (t) => {
  const topo = buildTopology({ kind: 'mesh', dims: [4, 4] }, 16);
  t.equal(buildMultitreeTrees(topo, { rule: 'artifact' }).T, 10);
  t.equal(buildMultitreeTrees(topo, { rule: 'clean' }).T, 8);
  t.equal(multitreeLowerBound(topo), 8);
  for (const rule of ['artifact', 'clean'] as const) allVerifiers(t, buildMultitree(topo, { rule }), topo, `mesh ${rule}`);
  t.throws(() => buildMultitreeTrees(topo, { rule: 'fast' as 'clean' }), /rule/);
});

t.test('schedule mapping: RS at T-1-t child->parent, AG at T+t parent->child, deps as specified', async (t) => {
  const topo = buildTopology({ kind: 'torus', dims: [3, 3] }, 9);
  const trees = buildMultitreeTrees(topo);
  const s = multitreeSchedule(trees);
  const n = 9;
  const T = trees.T;
  t.equal(s.steps, 2 * T);
  t.equal(s.nchunks, n);
  t.equal(s.transfers.length, 2 * n * (n - 1));
  // Index the edges, then check every transfer against its edge.
  const edgeOf = new Map<string, number>();
  for (let e = 0; e < trees.tree.length; e++) edgeOf.set(`${trees.tree[e]}:${trees.child[e]}`, e);
  for (const x of s.transfers) {
    t.equal(x.tree, x.chunk);
    if (x.kind === 'reduce') {
      const e = edgeOf.get(`${x.chunk}:${x.src}`) as number;
      t.equal(trees.parent[e], x.dst);
      t.equal(x.step, T - 1 - trees.step[e]);
      const kids = s.transfers.filter((y) => y.kind === 'reduce' && y.chunk === x.chunk && y.dst === x.src).map((y) => y.id);
      t.same([...x.deps].sort((a, b) => a - b), kids.sort((a, b) => a - b));
      t.same(x.path, Array.from(trees.pathSwitches.subarray(trees.pathStart[e], trees.pathStart[e + 1])).reverse());
    } else {
      const e = edgeOf.get(`${x.chunk}:${x.dst}`) as number;
      t.equal(trees.parent[e], x.src);
      t.equal(x.step, T + trees.step[e]);
      const want =
        x.src === x.chunk
          ? s.transfers.filter((y) => y.kind === 'reduce' && y.chunk === x.chunk && y.dst === x.chunk).map((y) => y.id)
          : s.transfers.filter((y) => y.kind === 'copy' && y.chunk === x.chunk && y.dst === x.src).map((y) => y.id);
      t.same([...x.deps].sort((a, b) => a - b), want.sort((a, b) => a - b));
    }
  }
  // Each rank sends and receives exactly N-1 chunks per phase.
  for (let v = 0; v < n; v++) {
    for (const kind of ['reduce', 'copy'] as const) {
      t.equal(s.transfers.filter((x) => x.kind === kind && x.src === v).length, n - 1);
      t.equal(s.transfers.filter((x) => x.kind === kind && x.dst === v).length, n - 1);
    }
  }
});

t.test('degenerate sizes: 1 rank is empty, 2 ranks one exchange per phase', async (t) => {
  const one = buildMultitree(buildTopology({ kind: 'switch' }, 1));
  t.equal(one.steps, 0);
  t.equal(one.transfers.length, 0);
  t.ok(verifySchedule(one).ok);
  const two = buildMultitree(buildTopology({ kind: 'switch' }, 2));
  t.equal(two.steps, 2);
  t.ok(verifySchedule(two).ok);
});

t.test('bit-identical when built twice (no hidden state between builds)', async (t) => {
  const topo = buildTopology({ kind: 'fattree', k: 4 }, 16);
  const a = buildMultitree(topo);
  buildMultitree(buildTopology({ kind: 'mesh', dims: [4, 4] }, 16));
  t.same(buildMultitree(topo), a);
});

// Hosts (issue 19): on a 'hierarchical' topology a tree enters each host once (enterOnce, the default
// there), so the NICs carry what an all-reduce across H hosts must move and no more: 2 (H-1)/H x D per
// NIC and direction (1 D on 2 hosts). The artifact's rule grows one-port trees as stars from their
// roots and crossed 2 D per direction on 2 x 2 (measured, bench/results/hosts-netns.md, sitting A).
t.test("hierarchical topologies: every tree enters each host once; each NIC carries 2(H-1)/H x D per direction", async (t) => {
  // hostOf specs are what init() builds from the rendezvous (buildTopology validates them).
  const placements: Array<[string, unknown, number]> = [
    ['2x2', { kind: 'hierarchical', hosts: 2, ranksPerHost: 2 }, 4],
    ['2x3', { kind: 'hierarchical', hosts: 2, ranksPerHost: 3 }, 6],
    ['2x4', { kind: 'hierarchical', hosts: 2, ranksPerHost: 4 }, 8],
    ['3x2', { kind: 'hierarchical', hosts: 3, ranksPerHost: 2 }, 6],
    ['4x2', { kind: 'hierarchical', hosts: 4, ranksPerHost: 2 }, 8],
    ['8x4', { kind: 'hierarchical', hosts: 8, ranksPerHost: 4 }, 32],
    ['3+1', { kind: 'hierarchical', hostOf: [0, 0, 0, 1] }, 4],
    ['2+3', { kind: 'hierarchical', hostOf: [0, 0, 1, 1, 1] }, 5],
    ['1+2 interleaved', { kind: 'hierarchical', hostOf: [1, 0, 1] }, 3],
  ];
  for (const [label, spec, n] of placements) {
    const topo = buildTopology(spec, n);
    const hostOf = topo.attach;
    const hosts = Math.max(...hostOf) + 1;
    const s = buildMultitree(topo);
    allVerifiers(t, s, topo, label);
    // Entries into each host, per tree and phase: one for every host but the root's, none into the root's.
    const entries = new Map<string, number>();
    const out = new Array<number>(hosts).fill(0);
    const into = new Array<number>(hosts).fill(0);
    for (const x of s.transfers) {
      const a = hostOf[x.src];
      const b = hostOf[x.dst];
      if (a === b) continue;
      const key = `${x.chunk} ${x.kind} ${x.kind === 'copy' ? b : a}`;
      entries.set(key, (entries.get(key) ?? 0) + 1);
      out[a] += 1 / n;
      into[b] += 1 / n;
    }
    t.same([...entries.values()].filter((c) => c !== 1), [], `${label}: no tree crosses into (or out of) a host twice`);
    t.equal(entries.size, 2 * n * (hosts - 1), `${label}: every tree reaches every other host in both phases`);
    const bound = (2 * (hosts - 1)) / hosts;
    const hostsWithBound = hostOf.every((h, _r, all) => all.filter((x) => x === h).length === n / hosts) || hosts === 2;
    if (hostsWithBound) {
      for (let h = 0; h < hosts; h++) {
        t.ok(Math.abs(out[h] - bound) < 1e-9 && Math.abs(into[h] - bound) < 1e-9, `${label}: host ${h} NIC ${out[h].toFixed(3)} D out, ${into[h].toFixed(3)} D in (bound ${bound.toFixed(3)})`);
      }
    }
  }
  // The artifact's trees, asked for: stars from each root, 2 D per direction on 2 x 2.
  const topo = buildTopology({ kind: 'hierarchical', hosts: 2, ranksPerHost: 2 }, 4);
  const artifact = buildMultitree(topo, { enterOnce: false });
  const crossing = artifact.transfers.filter((x) => topo.attach[x.src] !== topo.attach[x.dst] && topo.attach[x.src] === 0).length / 4;
  t.equal(crossing, 2, 'enterOnce: false: the artifact crosses 2 D out of host 0');
  t.same(treeDepths(buildMultitreeTrees(topo, { enterOnce: false })), [1, 1, 1, 1], 'enterOnce: false: one-port trees are stars');
});

t.test('enterOnce is the default only for hosts: switch, fat tree and torus keep the artifact trees', async (t) => {
  const specs: Array<[TopologySpec, number]> = [
    [{ kind: 'switch' }, 6],
    [{ kind: 'fattree', k: 4 }, 16],
    [{ kind: 'torus', dims: [4, 4] }, 16],
  ];
  for (const [spec, n] of specs) {
    const topo = buildTopology(spec, n);
    t.same(buildMultitreeTrees(topo), buildMultitreeTrees(topo, { enterOnce: false }), `${spec.kind}: same trees as the artifact's rule`);
  }
  // And the host rule is not a no-op on a fat tree (several ranks per leaf): it would change the trees.
  const fat = buildTopology({ kind: 'fattree', k: 4 }, 16);
  const once = buildMultitree(fat, { enterOnce: true });
  allVerifiers(t, once, fat, 'fat tree with enterOnce');
});
