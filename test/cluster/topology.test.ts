// Topology model: every kind builds the resource model the spec describes, bad or disconnected
// specs are ECONFIG errors naming the key, and the hash covers the model, not the spelling.
import t from 'tap';
import { buildTopology, topologyHash, type Topology } from '../../lib/cluster/topology.js';
import { linkBetween, multitreeLowerBound, routeLinks } from '../../lib/cluster/topology-routes.js';
import { parseConfig } from '../../lib/cluster/config.js';
import { topologyOfConfig } from '../../lib/cluster/topology.js';
import { isZcollError } from '../../lib/errors.js';

function neighbours(topo: Topology, s: number): number[] {
  return topo.outLinks[s].map((id) => topo.links[id].to);
}

t.test('switch is the default: one switch, one port per rank, no links', async (t) => {
  const topo = buildTopology(undefined, 6);
  t.equal(topo.kind, 'switch');
  t.equal(topo.nswitches, 1);
  t.same(topo.attach, [0, 0, 0, 0, 0, 0]);
  t.same(topo.sendCap, [1, 1, 1, 1, 1, 1]);
  t.equal(topo.links.length, 0);
  t.same(topo.switchRanks[0], [0, 1, 2, 3, 4, 5]);
});

t.test('2D torus: N, S, W, E neighbours as kncube.py, wrap only on sides > 2', async (t) => {
  const topo = buildTopology({ kind: 'torus', dims: [4, 4] }, 16);
  t.equal(topo.links.length, 64);
  t.same(topo.sendCap[5], 4, 'default 4 ports');
  // Independent reference: row-major, (row-1, row+1, col-1, col+1) modulo the side.
  for (let v = 0; v < 16; v++) {
    const row = Math.floor(v / 4);
    const col = v % 4;
    const want = [((row + 3) % 4) * 4 + col, ((row + 1) % 4) * 4 + col, row * 4 + ((col + 3) % 4), row * 4 + ((col + 1) % 4)];
    t.same(neighbours(topo, v), want, `rank ${v}`);
  }
  const small = buildTopology({ kind: 'torus', dims: [2, 3] }, 6);
  // Side 2: one neighbour in that dimension, no duplicate link.
  t.same(neighbours(small, 0), [3, 2, 1]);
  const mesh = buildTopology({ kind: 'mesh', dims: [3, 3] }, 9);
  t.same(neighbours(mesh, 0), [3, 1]);
  t.same(neighbours(mesh, 4), [1, 7, 3, 5]);
  t.equal(mesh.links.length, 24);
});

t.test('ring order follows links on tori and meshes', async (t) => {
  for (const [kind, dims] of [
    ['torus', [4, 4]],
    ['torus', [3, 4]],
    ['torus', [8, 8]],
    ['mesh', [4, 4]],
    ['mesh', [3, 6]],
    ['torus', [2, 2]],
  ] as const) {
    const n = dims[0] * dims[1];
    const topo = buildTopology({ kind, dims: [...dims] }, n);
    t.same([...topo.ringOrder].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i), `${kind} ${dims}: a permutation`);
    for (let i = 0; i < n; i++) {
      const a = topo.ringOrder[i];
      const b = topo.ringOrder[(i + 1) % n];
      t.ok(linkBetween(topo, a, b) >= 0, `${kind} ${dims}: hop ${a} -> ${b} is a link`);
    }
  }
});

t.test('fat tree: k-ary n-tree wiring, ranks on leaves, one port', async (t) => {
  const topo = buildTopology({ kind: 'fattree', k: 4 }, 16);
  t.equal(topo.nswitches, 8);
  t.equal(topo.links.length, 32, '4 leaves x 4 spines, both directions');
  for (let r = 0; r < 16; r++) t.equal(topo.attach[r], 4 + Math.floor(r / 4));
  for (let s = 4; s < 8; s++) t.same(neighbours(topo, s), [0, 1, 2, 3], 'every leaf reaches every spine');
  const three = buildTopology({ kind: 'fattree', k: 2, levels: 3 }, 8);
  t.equal(three.nswitches, 12);
  // Leaf to leaf in another half goes up two levels: 4 hops.
  t.equal(routeLinks(three, 0, 7).length, 4);
  t.equal(routeLinks(three, 0, 1).length, 0, 'same leaf');
});

t.test('hierarchical: host switches, one NIC each to a core switch', async (t) => {
  const topo = buildTopology({ kind: 'hierarchical', hosts: 3, ranksPerHost: 2, interBandwidth: 1e9, intraBandwidth: 1e10 }, 6);
  t.same(topo.attach, [0, 0, 1, 1, 2, 2]);
  t.equal(topo.nswitches, 4);
  t.equal(topo.links.length, 6);
  t.equal(routeLinks(topo, 0, 5).length, 2);
  t.equal(topo.links[0].bandwidth, 1e9);
  t.same(topo.portBandwidth, [1e10, 1e10, 1e10, 1e10, 1e10, 1e10]);
  t.equal(buildTopology({ kind: 'hierarchical', hosts: 1, ranksPerHost: 4 }, 4).links.length, 0);
});

t.test('explicit links: both directions, multiplicity, ports default to degree', async (t) => {
  const topo = buildTopology({ kind: 'links', links: [{ a: 0, b: 1, multiplicity: 2 }, { a: 1, b: 2 }, { a: 2, b: 0, bandwidth: 5e8 }] }, 3);
  t.equal(topo.links.length, 6);
  t.same(topo.sendCap, [3, 3, 2]);
  t.equal(topo.links[linkBetween(topo, 1, 0)].multiplicity, 2);
  t.equal(topo.links[linkBetween(topo, 0, 2)].bandwidth, 5e8);
});

t.test('bad specs are ECONFIG errors naming the key', async (t) => {
  const cases: Array<[unknown, number, RegExp]> = [
    [{ kind: 'ring' }, 4, /"topology.kind"/],
    ['torus', 4, /"topology"/],
    [{ kind: 'torus', dims: [4, 4] }, 15, /"topology.dims".*16 ranks.*15/],
    [{ kind: 'torus', dims: [4, 0] }, 0, /ranks/],
    [{ kind: 'torus', dims: [4, -4] }, 16, /"topology.dims\[1\]"/],
    [{ kind: 'mesh', dims: [4, 4], ports: 0 }, 16, /"topology.ports"/],
    [{ kind: 'torus', dims: [4, 4], colour: 'red' }, 16, /"topology.colour"/],
    [{ kind: 'fattree', k: 4 }, 15, /"topology.k"/],
    [{ kind: 'hierarchical', hosts: 2, ranksPerHost: 3 }, 8, /"topology.hosts"/],
    [{ kind: 'links', links: [{ a: 0, b: 0 }] }, 2, /"topology.links\[0\]".*itself/],
    [{ kind: 'links', links: [{ a: 0, b: 5 }] }, 2, /"topology.links\[0\].b"/],
    [{ kind: 'links', links: [{ a: 0, b: 1 }, { a: 1, b: 0 }] }, 2, /"topology.links\[1\]".*twice/],
    [{ kind: 'links', links: [{ a: 0, b: 1, bandwidth: -1 }] }, 2, /"topology.links\[0\].bandwidth"/],
    [{ kind: 'switch', bandwidth: 'fast' }, 2, /"topology.bandwidth"/],
  ];
  for (const [spec, n, message] of cases) {
    let caught: unknown;
    try {
      buildTopology(spec, n);
    } catch (e) {
      caught = e;
    }
    t.ok(isZcollError(caught, 'ECONFIG'), `${JSON.stringify(spec)}: ECONFIG`);
    t.match(String((caught as Error | undefined)?.message), message, JSON.stringify(spec));
  }
});

t.test('a disconnected topology is refused, never searched forever', async (t) => {
  const err = (() => {
    try {
      buildTopology({ kind: 'links', links: [{ a: 0, b: 1 }, { a: 2, b: 3 }] }, 4);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.ok(isZcollError(err, 'ECONFIG'));
  t.match((err as Error).message, /"topology" is disconnected: rank 2/);
  t.throws(() => buildTopology({ kind: 'links', links: [] }, 2), /disconnected/);
  t.ok(buildTopology({ kind: 'links', links: [] }, 1), 'one rank alone is connected');
});

t.test('topologyHash covers the model: equal for equal models, different otherwise', async (t) => {
  const a = buildTopology({ kind: 'torus', dims: [4, 4] }, 16);
  const b = buildTopology({ kind: 'torus', dims: [4, 4], ports: 4 }, 16);
  t.equal(topologyHash(a), topologyHash(b), 'explicit default');
  t.match(topologyHash(a), /^[0-9a-f]{64}$/);
  t.not(topologyHash(a), topologyHash(buildTopology({ kind: 'torus', dims: [4, 4], ports: 2 }, 16)), 'ports');
  t.not(topologyHash(a), topologyHash(buildTopology({ kind: 'mesh', dims: [4, 4] }, 16)), 'wrap');
  t.not(topologyHash(a), topologyHash(buildTopology({ kind: 'torus', dims: [2, 8] }, 16)), 'shape');
});

t.test('MULTITREE lower bound: ports, in-links and eccentricity', async (t) => {
  t.equal(multitreeLowerBound(buildTopology({ kind: 'torus', dims: [4, 4] }, 16)), 4);
  t.equal(multitreeLowerBound(buildTopology({ kind: 'torus', dims: [16, 16] }, 256)), 64);
  t.equal(multitreeLowerBound(buildTopology({ kind: 'mesh', dims: [4, 4] }, 16)), 8, 'corners have 2 in-links');
  t.equal(multitreeLowerBound(buildTopology({ kind: 'switch' }, 9)), 8);
  // A path of 6 ranks with 2 ports: eccentricity 5 beats ceil(5/2).
  const path = buildTopology({ kind: 'links', links: [0, 1, 2, 3, 4].map((a) => ({ a, b: a + 1 })), ports: 2 }, 6);
  t.equal(multitreeLowerBound(path), 5);
});

t.test('topologyOfConfig: the topology key of the config over all its ranks, errors name the file', async (t) => {
  const hosts = [
    { name: 'a', address: '10.0.0.1', ranks: 4 },
    { name: 'b', address: '10.0.0.2', ranks: 4 },
  ];
  const plain = topologyOfConfig(parseConfig({ hosts }, 'c.json'));
  t.equal(plain.kind, 'switch');
  t.equal(plain.nranks, 8);
  const torus = topologyOfConfig(parseConfig({ hosts, topology: { kind: 'torus', dims: [2, 4] } }, 'c.json'));
  t.equal(torus.links.length, 2 * 8 + 8, 'rows of 4 wrap, columns of 2 do not');
  t.throws(() => topologyOfConfig(parseConfig({ hosts, topology: { kind: 'torus', dims: [3, 3] } }, 'c.json')), /c\.json: "topology.dims"/);
});
