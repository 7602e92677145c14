// The topology checks catch what they claim to (mutation tests), and pass the
// ring on topologies where a ring fits.
import t from 'tap';
import { buildTopology } from '../../lib/cluster/topology.js';
import { ALGORITHM_CLAIMS, buildSchedule, SCHEDULE_ALGORITHMS } from '../../lib/schedule/cache.js';
import { buildMultitree } from '../../lib/schedule/multitree.js';
import { buildPlacedRing, relabelRanks } from '../../lib/schedule/placed-ring.js';
import { buildRing } from '../../lib/schedule/ring.js';
import { buildTree } from '../../lib/schedule/tree.js';
import type { Schedule, Transfer } from '../../lib/schedule/types.js';
import { verifyLinks, verifyTrees } from '../../lib/schedule/verify-links.js';
import { verifySchedule } from '../../lib/schedule/verify.js';

const torus = buildTopology({ kind: 'torus', dims: [4, 4] }, 16);
const mt = buildMultitree(torus);

function withTransfers(s: Schedule, ts: Transfer[]): Schedule {
  return { ...s, transfers: ts };
}

/** Drops transfers and renumbers ids and deps (deps on dropped transfers disappear). */
function dropTransfers(s: Schedule, drop: (x: Transfer) => boolean): Schedule {
  const newId = new Map<number, number>();
  const kept = s.transfers.filter((x) => !drop(x));
  kept.forEach((x, i) => newId.set(x.id, i));
  return withTransfers(
    s,
    kept.map((x, i) => ({ ...x, id: i, deps: x.deps.filter((d) => newId.has(d)).map((d) => newId.get(d) as number) })),
  );
}

t.test('the unmutated schedules pass every check', async (t) => {
  t.same(verifyLinks(mt, torus), { ok: true, errors: [] });
  t.same(verifyTrees(mt), { ok: true, errors: [] });
  t.same(verifySchedule(mt), { ok: true, errors: [] });
});

t.test('a duplicated link use in one step is flagged', async (t) => {
  // Two all-gather sends of different trees leaving the same rank in the same step: point the
  // first down the second's link.
  const copies = mt.transfers.filter((x) => x.kind === 'copy');
  let a: Transfer | undefined;
  let b: Transfer | undefined;
  for (const x of copies) {
    b = copies.find((y) => y.step === x.step && y.src === x.src && y.chunk !== x.chunk && y.dst !== x.dst);
    if (b !== undefined) {
      a = x;
      break;
    }
  }
  t.ok(a !== undefined && b !== undefined, 'found two sends from one rank in one step');
  const aa = a as Transfer;
  const bb = b as Transfer;
  const mutated = withTransfers(
    mt,
    mt.transfers.map((x) => (x.id === aa.id ? { ...x, dst: bb.dst, path: bb.path } : x)),
  );
  const v = verifyLinks(mutated, torus);
  t.notOk(v.ok);
  t.match(v.errors.join('\n'), new RegExp(`step ${aa.step}: link ${aa.src} -> ${bb.dst} carries 2 transfers`));
  // A second copy of a transfer also overloads its link (and counts a contribution twice).
  const rs = mt.transfers.find((x) => x.kind === 'reduce') as Transfer;
  // The copy is ordered like the original (whoever waited for it waits for both), so the only
  // fault left is the double count.
  const dupId = mt.transfers.length;
  const doubled = withTransfers(mt, [...mt.transfers.map((x) => (x.deps.includes(rs.id) ? { ...x, deps: [...x.deps, dupId] } : x)), { ...rs, id: dupId }]);
  t.match(verifyLinks(doubled, torus).errors.join('\n'), /carries 2 transfers/);
  t.match(verifySchedule(doubled).errors.join('\n'), /counts rank \d+'s contribution to chunk \d+ twice/, 'the data-flow verifier sees the double count');
  t.match(verifyTrees(doubled).errors.join('\n'), /twice/);
});

t.test('port budgets are enforced per step, in both phases', async (t) => {
  const narrow = buildTopology({ kind: 'torus', dims: [4, 4], ports: 2 }, 16);
  const v = verifyLinks(mt, narrow);
  t.notOk(v.ok, 'a 4-port schedule does not fit 2 ports');
  t.match(v.errors.join('\n'), /rank \d+ (sends|receives) [34] transfers, over its budget of 2/);
  t.ok(verifyLinks(buildMultitree(narrow), narrow).ok, 'built for 2 ports, it fits');
});

t.test('paths must start and end at the right switches and follow links', async (t) => {
  const x = mt.transfers[0];
  const wrongEnd = withTransfers(mt, mt.transfers.map((y) => (y.id === x.id ? { ...y, path: [x.path?.[0] as number, (x.dst + 2) % 16] } : y)));
  t.match(verifyLinks(wrongEnd, torus).errors.join('\n'), /(path ends at switch|not a link)/);
  // Two columns over in the same row: never a neighbour on a 4x4 torus.
  const far = Math.floor(x.src / 4) * 4 + ((x.src % 4) + 2) % 4;
  const jump = withTransfers(mt, mt.transfers.map((y) => (y.id === x.id ? { ...y, dst: far, path: [x.src, far] } : y)));
  t.match(verifyLinks(jump, torus).errors.join('\n'), new RegExp(`hop ${x.src} -> ${far} is not a link`));
  t.notOk(verifyLinks({ ...mt, nranks: 9 }, torus).ok, 'rank count must match');
});

t.test('a child that is its parent\'s ancestor is flagged (both phases)', async (t) => {
  // Pick x in tree r with a parent p != root and a child y: make y x's parent.
  const copies = mt.transfers.filter((x) => x.kind === 'copy');
  const into = new Map(copies.map((x) => [`${x.chunk}:${x.dst}`, x]));
  const target = copies.find((x) => x.src !== x.chunk && copies.some((y) => y.chunk === x.chunk && y.src === x.dst)) as Transfer;
  const child = copies.find((y) => y.chunk === target.chunk && y.src === target.dst) as Transfer;
  t.ok(into.size > 0 && target !== undefined && child !== undefined);
  const x = target.dst;
  const y = child.dst;
  const agCycle = withTransfers(mt, mt.transfers.map((z) => (z.id === target.id ? { ...z, src: y, path: [y, x] } : z)));
  const tv = verifyTrees(agCycle);
  t.notOk(tv.ok);
  t.match(tv.errors.join('\n'), /ancestor \(cycle\)/);
  t.notOk(verifySchedule(agCycle).ok, 'data-flow verifier refuses it too');
  // Reduce phase: x sends its partial to its own child instead of its parent.
  const rsOut = mt.transfers.find((z) => z.kind === 'reduce' && z.chunk === target.chunk && z.src === x) as Transfer;
  const rsCycle = withTransfers(mt, mt.transfers.map((z) => (z.id === rsOut.id ? { ...z, dst: y, path: [x, y] } : z)));
  t.match(verifyTrees(rsCycle).errors.join('\n'), /reduce tree .*cycle|never pass their partial on/);
  t.notOk(verifySchedule(rsCycle).ok);
});

t.test('a dropped node is flagged', async (t) => {
  // Leaf v of tree r: drop its reduce and the copy into it.
  const copies = mt.transfers.filter((x) => x.kind === 'copy');
  const leaf = copies.find((x) => !copies.some((y) => y.chunk === x.chunk && y.src === x.dst)) as Transfer;
  const r = leaf.chunk;
  const v = leaf.dst;
  const dropped = dropTransfers(mt, (x) => x.chunk === r && (x.src === v || x.dst === v));
  t.equal(dropped.transfers.length, mt.transfers.length - 2);
  const tv = verifyTrees(dropped);
  t.notOk(tv.ok);
  t.match(tv.errors.join('\n'), new RegExp(`chunk ${r}: .*${v}`));
  const fv = verifySchedule(dropped);
  t.notOk(fv.ok, 'rank v never gets chunk r');
  t.ok(verifyLinks(dropped, torus).ok, 'fewer transfers never overload a link');
});

t.test('ring passes the link checks where a ring fits, and is flagged where it crosses itself', async (t) => {
  for (const n of [2, 3, 8]) {
    const cycle = buildTopology({ kind: 'links', links: Array.from({ length: n === 2 ? 1 : n }, (_, a) => ({ a, b: (a + 1) % n })) }, n);
    const ring = buildRing(n);
    t.ok(verifyLinks(ring, cycle).ok, `rank-order ring on a ${n}-cycle`);
    t.ok(verifyTrees(ring).ok, 'ring is N chains: a tree per chunk');
    t.ok(verifyLinks(ring, buildTopology({ kind: 'switch' }, n)).ok, 'ring on a one-port switch');
  }
  for (const spec of [{ kind: 'torus', dims: [4, 4] }, { kind: 'torus', dims: [3, 5] }, { kind: 'mesh', dims: [4, 4] }] as const) {
    const topo = buildTopology(spec, spec.dims[0] * spec.dims[1]);
    const ring = buildPlacedRing(topo);
    t.ok(verifySchedule(ring).ok);
    const v = verifyLinks(ring, topo);
    t.ok(v.ok, `ring along the ${spec.kind} ${spec.dims.join('x')} ring order: ${v.errors.join('; ')}`);
  }
  // Path 0-1-2-3 with the ring visiting 0, 2, 1, 3: hops 0->2 and 1->3 both need link 1->2.
  const path = buildTopology({ kind: 'links', links: [{ a: 0, b: 1 }, { a: 1, b: 2 }, { a: 2, b: 3 }], ports: 2 }, 4);
  const crossed = relabelRanks(buildRing(4), [0, 2, 1, 3]);
  t.ok(verifySchedule(crossed).ok, 'still a correct all-reduce');
  t.match(verifyLinks(crossed, path).errors.join('\n'), /link 1 -> 2 carries 2 transfers/);
});

t.test('the binomial tree is a tree per chunk too', async (t) => {
  for (const n of [1, 2, 5, 16]) t.ok(verifyTrees(buildTree(n)).ok, `n=${n}`);
  t.notOk(verifyTrees({ ...buildRing(4, 'reducescatter') }).ok, 'only all-reduce schedules are tree-checked');
});

t.test('every builder keeps the claims cache.ts makes for it (ALGORITHM_CLAIMS)', async (t) => {
  const topologies = [
    buildTopology({ kind: 'switch' }, 8),
    buildTopology({ kind: 'torus', dims: [4, 4] }, 16),
    buildTopology({ kind: 'torus', dims: [3, 5] }, 15),
  ];
  for (const topo of topologies) {
    for (const algorithm of SCHEDULE_ALGORITHMS) {
      const s = buildSchedule(topo, algorithm);
      const claims = ALGORITHM_CLAIMS[algorithm];
      t.ok(verifySchedule(s).ok, `${algorithm} on ${topo.nranks} ranks: data flow`);
      if (claims.trees) t.ok(verifyTrees(s).ok, `${algorithm} on ${topo.nranks} ranks: a tree per chunk`);
      if (claims.contentionFree) t.ok(verifyLinks(s, topo).ok, `${algorithm} on ${topo.nranks} ranks: contention-free`);
    }
  }
  // The claim that recursive doubling does not make is one it would fail: not vacuous.
  t.notOk(verifyTrees(buildSchedule(topologies[1], 'recursive-doubling')).ok);
  t.notOk(verifyLinks(buildSchedule(topologies[1], 'recursive-doubling'), topologies[1]).ok);
});
