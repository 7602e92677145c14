// Random topologies (seeded): the MULTITREE builder always terminates within its bound and every
// schedule passes the three verifiers. Covers switch graphs with spines
// (the depth-first search through rank-less switches) and parallel links.
import t from 'tap';
import type { Test } from 'tap';
import { buildTopology, type Topology } from '../../lib/cluster/topology.js';
import { multitreeLowerBound } from '../../lib/cluster/topology-routes.js';
import { isZcollError } from '../../lib/errors.js';
import { Prng } from '../../lib/prng.js';
import { buildMultitreeTrees, multitreeSchedule } from '../../lib/schedule/multitree.js';
import { verifyLinks, verifyTrees } from '../../lib/schedule/verify-links.js';
import { verifySchedule } from '../../lib/schedule/verify.js';

/** Connected random graph over `count` vertices: a random spanning tree plus extra edges. */
function randomEdges(rng: Prng, count: number, extra: number): Array<[number, number]> {
  const edges: Array<[number, number]> = [];
  const seen = new Set<number>();
  const add = (a: number, b: number): void => {
    const key = Math.min(a, b) * count + Math.max(a, b);
    if (a === b || seen.has(key)) return;
    seen.add(key);
    edges.push([a, b]);
  };
  const order = rng.shuffle(Array.from({ length: count }, (_, i) => i));
  for (let i = 1; i < count; i++) add(order[i], order[rng.int(i)]);
  for (let i = 0; i < extra; i++) add(rng.int(count), rng.int(count));
  return edges;
}

/**
 * A random switch network, built as a plain Topology (the spec kinds have no free-form switches):
 * some switches carry ranks, the others are spines; random multiplicities and port budgets.
 */
function randomSwitchTopology(rng: Prng): Topology {
  const nswitches = 2 + rng.int(7);
  const spines = rng.int(Math.max(1, nswitches - 1));
  const leaves = nswitches - spines;
  const nranks = leaves + rng.int(10);
  const attach = Array.from({ length: nranks }, (_, r) => (r < leaves ? r : rng.int(leaves)));
  const links: Array<{ from: number; to: number; multiplicity: number }> = [];
  const outLinks: number[][] = Array.from({ length: nswitches }, () => []);
  for (const [a, b] of randomEdges(rng, nswitches, rng.int(nswitches))) {
    const multiplicity = 1 + rng.int(3);
    for (const [x, y] of [
      [a, b],
      [b, a],
    ]) {
      outLinks[x].push(links.length);
      links.push({ from: x, to: y, multiplicity });
    }
  }
  const switchRanks: number[][] = Array.from({ length: nswitches }, () => []);
  attach.forEach((s, r) => switchRanks[s].push(r));
  return {
    kind: 'links',
    spec: { kind: 'links', links: [] },
    nranks,
    nswitches,
    attach,
    sendCap: Array.from({ length: nranks }, () => 1 + rng.int(3)),
    recvCap: Array.from({ length: nranks }, () => 1 + rng.int(3)),
    switchRanks,
    links,
    outLinks,
    ringOrder: Array.from({ length: nranks }, (_, r) => r),
  };
}

function check(t: Test, topo: Topology, label: string): void {
  for (const rule of ['artifact', 'clean'] as const) {
    const trees = buildMultitreeTrees(topo, { rule });
    const n = topo.nranks;
    t.ok(trees.T >= multitreeLowerBound(topo) && trees.T <= Math.max(0, n * (n - 1)), `${label} ${rule}: T=${trees.T} within [bound, N(N-1)]`);
    const s = multitreeSchedule(trees);
    const errors = [...verifyLinks(s, topo).errors, ...verifyTrees(s).errors, ...verifySchedule(s).errors];
    t.same(errors, [], `${label} ${rule}: verifies`);
  }
}


t.test('random rank-to-rank graphs (links kind), random multiplicities and ports', async (t) => {
  const rng = new Prng(20261122);
  for (let trial = 0; trial < 60; trial++) {
    const n = 2 + rng.int(11);
    const links = randomEdges(rng, n, rng.int(2 * n)).map(([a, b]) => ({ a, b, multiplicity: 1 + rng.int(2) }));
    const ports = rng.int(3) === 0 ? undefined : 1 + rng.int(4);
    const topo = buildTopology({ kind: 'links', links, ...(ports !== undefined ? { ports } : {}) }, n);
    check(t, topo, `trial ${trial} n=${n}`);
  }
});

t.test('random switch networks with spines', async (t) => {
  const rng = new Prng(7);
  for (let trial = 0; trial < 60; trial++) check(t, randomSwitchTopology(rng), `switch trial ${trial}`);
});

t.test('random tori, meshes, fat trees and hierarchies', async (t) => {
  const rng = new Prng(99);
  for (let trial = 0; trial < 12; trial++) {
    const a = 1 + rng.int(5);
    const b = 1 + rng.int(5);
    check(t, buildTopology({ kind: rng.int(2) === 0 ? 'torus' : 'mesh', dims: [a, b], ports: 1 + rng.int(4) }, a * b), `cube ${a}x${b}`);
  }
  check(t, buildTopology({ kind: 'fattree', k: 2, levels: 3 }, 8), 'fat tree 2^3');
  check(t, buildTopology({ kind: 'fattree', k: 3, levels: 2 }, 9), 'fat tree 3^2');
  check(t, buildTopology({ kind: 'hierarchical', hosts: 3, ranksPerHost: 3, nics: 2 }, 9), 'hierarchical 3x3');
});

t.test('disconnected random graphs are ECONFIG at build time, before any search', async (t) => {
  const rng = new Prng(3);
  for (let trial = 0; trial < 20; trial++) {
    const n = 4 + rng.int(8);
    const cut = 1 + rng.int(n - 1);
    // Two random connected halves [0, cut) and [cut, n), nothing between them.
    const left = randomEdges(rng, cut, rng.int(n)).map(([x, y]) => ({ a: x, b: y }));
    const right = randomEdges(rng, n - cut, rng.int(n)).map(([x, y]) => ({ a: x + cut, b: y + cut }));
    let caught: unknown;
    try {
      buildTopology({ kind: 'links', links: [...left, ...right] }, n);
    } catch (e) {
      caught = e;
    }
    t.ok(isZcollError(caught, 'ECONFIG'), `n=${n} cut=${cut}`);
  }
});
