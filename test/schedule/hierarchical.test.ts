// Host-aware all-reduce (hierarchical.ts): the verifier proves it for many host shapes (even,
// uneven, one host, one rank per host, ranks of a host not contiguous); the chunk trees are trees;
// the bytes that leave each host, counted from the schedule, are the minimum 2(H-1)/H * D; as many
// cross-host streams as the smallest host has ranks, the reduction of a larger host spread over its ranks.
import t from 'tap';
import { buildHierarchical, bytesLeavingHosts, hostGroups } from '../../lib/schedule/hierarchical.js';
import { buildPlacedRing } from '../../lib/schedule/placed-ring.js';
import { chunkSpan } from '../../lib/schedule/partition.js';
import { scheduleHash } from '../../lib/schedule/hash.js';
import { verifySchedule } from '../../lib/schedule/verify.js';
import { verifyTrees } from '../../lib/schedule/verify-links.js';
import { buildTopology } from '../../lib/cluster/topology.js';
import { prng } from '../helpers/prng.js';

/** Host index per rank for contiguous hosts of the given sizes. */
function contiguous(sizes: readonly number[]): number[] {
  return sizes.flatMap((g, h) => new Array<number>(g).fill(h));
}

const shapes: number[][] = [[1], [2], [5], [1, 1], [2, 2], [3, 3], [3, 1], [1, 3], [2, 2, 2], [4, 4], [1, 2, 3], [4, 1, 2, 3], [8, 8], [2, 2, 2, 2, 2], [7, 1, 1], [1, 1, 1, 1, 1, 1, 1]];

t.test('verifies (data and trees) for many host shapes', async (t) => {
  for (const sizes of shapes) {
    const s = buildHierarchical(contiguous(sizes));
    const v = verifySchedule(s);
    t.ok(v.ok, `${sizes.join('+')}: ${v.errors.join('; ')}`);
    const tr = verifyTrees(s);
    t.ok(tr.ok, `${sizes.join('+')} trees: ${tr.errors.join('; ')}`);
    const H = sizes.length;
    const intra = sizes.some((g) => g > 1) ? 2 : 0;
    // Helpers (ranks beyond the smallest host's count) add four steps: reducer to owner before the
    // ring, the two around piece h between its halves, reducer to the other members at the end.
    const helpers = Math.max(...sizes) > Math.min(...sizes) ? 4 : 0;
    t.equal(s.steps, 2 * (H - 1) + intra + helpers, `${sizes.join('+')}: 2(H-1) + ${intra} + ${helpers} steps`);
  }
});

t.test('random host assignments (ranks of a host not contiguous) verify', async (t) => {
  const rng = prng(19);
  for (let trial = 0; trial < 60; trial++) {
    const n = 1 + Math.floor(rng() * 12);
    const H = 1 + Math.floor(rng() * Math.min(n, 4));
    const hostOf = Array.from({ length: n }, (_, r) => (r < H ? r : Math.floor(rng() * H)));
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [hostOf[i], hostOf[j]] = [hostOf[j], hostOf[i]];
    }
    const s = buildHierarchical(hostOf);
    const v = verifySchedule(s);
    t.ok(v.ok, `hosts ${hostOf.join(',')}: ${v.errors.join('; ')}`);
    // The ring's 2(H-1) steps cross hosts and nothing else does; no step mixes the two; and every
    // transfer across hosts goes between the owners of one stream (M_h[s], s < min G_h).
    const groups = hostGroups(hostOf);
    const H2 = groups.length;
    const S = Math.min(...groups.map((g) => g.length));
    const streamOf = new Map<number, number>();
    for (const g of groups) g.forEach((r, j) => streamOf.set(r, j < S ? j : -1));
    const crossing = new Set<number>();
    const staying = new Set<number>();
    for (const x of s.transfers) {
      if (hostOf[x.src] === hostOf[x.dst]) staying.add(x.step);
      else {
        crossing.add(x.step);
        if (streamOf.get(x.src)! < 0 || streamOf.get(x.src) !== streamOf.get(x.dst)) t.fail(`hosts ${hostOf.join(',')}: ${JSON.stringify(x)} crosses hosts outside a stream`);
      }
    }
    t.equal(crossing.size, 2 * (H2 - 1), `hosts ${hostOf.join(',')}: ${crossing.size} steps cross hosts`);
    t.same([...crossing].filter((st) => staying.has(st)), [], `hosts ${hostOf.join(',')}: no step both crosses and stays`);
  }
});

t.test('bytes leaving each host = 2(H-1)/H * D, the minimum (ring grouped by host: more)', async (t) => {
  const elem = 4;
  for (const sizes of [[2, 2], [3, 3], [3, 1], [4, 4], [2, 2, 2], [4, 1, 2, 3]]) {
    const hostOf = contiguous(sizes);
    const H = sizes.length;
    // A count every chunk divides, so the bound is exact; and an odd count, within one element per transfer.
    for (const count of [12 * 16 * 1024, 1_000_003]) {
      const s = buildHierarchical(hostOf);
      const out = bytesLeavingHosts(s, hostOf, count, elem);
      const D = count * elem;
      const minimum = ((2 * (H - 1)) / H) * D;
      const crossing = s.transfers.filter((x) => hostOf[x.src] !== hostOf[x.dst]).length;
      for (let h = 0; h < H; h++) {
        const got = out.get(h) ?? 0;
        t.ok(Math.abs(got - minimum) <= (crossing / H) * elem, `${sizes.join('+')} count ${count}: host ${h} sends ${got} B, minimum ${minimum}`);
      }
    }
  }
  // The flat ring over hosts 2 x 2 (ranks grouped by host) sends 1.5 D out of each host: what this replaces.
  const hostOf = contiguous([2, 2]);
  const ring = buildPlacedRing(buildTopology({ kind: 'hierarchical', hosts: 2, ranksPerHost: 2 }, 4));
  const D = 4096 * 4;
  t.same([...bytesLeavingHosts(ring, hostOf, 4096, 4).values()], [1.5 * D, 1.5 * D], 'ring: 1.5 D per host');
  t.same([...bytesLeavingHosts(buildHierarchical(hostOf), hostOf, 4096, 4).values()], [D, D], 'hierarchical: 1 D per host');
});

t.test('every local rank of a full host drives its own cross-host stream', async (t) => {
  const hostOf = contiguous([3, 3]);
  const s = buildHierarchical(hostOf);
  const senders = new Set(s.transfers.filter((x) => hostOf[x.src] !== hostOf[x.dst]).map((x) => x.src));
  t.same([...senders].sort(), [0, 1, 2, 3, 4, 5], 'all six ranks send across');
});

t.test('cross-host streams: as many as the smallest host has ranks', async (t) => {
  for (const [sizes, streams] of [
    [[3, 1], 1],
    [[1, 3], 1],
    [[4, 1, 2, 3], 1],
    [[3, 2], 2],
    [[5, 3, 4], 3],
    [[2, 2], 2],
  ] as const) {
    const hostOf = contiguous(sizes);
    const s = buildHierarchical(hostOf);
    const across = s.transfers.filter((x) => hostOf[x.src] !== hostOf[x.dst]);
    for (let h = 0; h < sizes.length; h++) {
      const senders = new Set(across.filter((x) => hostOf[x.src] === h).map((x) => x.src));
      t.equal(senders.size, streams, `${sizes.join('+')}: host ${h} sends across from ${[...senders].join(', ')}`);
    }
  }
});

// What one stream must not do: put the larger host's whole reduction on its owner (on 3+1 that owner
// reduced 2.5 D and moved 3 D through its ports, priced by the model at 0.7x the ring). Counted from
// the schedule in units of D (a count every nchunks here divides): on 2 hosts a host reduces
// (G_h - 1/2) D in all (its members' partials, and the other host's partial of its half), an even
// share of (G_h - 1/2)/G_h D per rank; no rank may reduce more than D (1.2x the share on 3+1).
// With one stream, its owner moves D each way inside its host, the least it can: the host's sum of
// the half it sends, or that half's result, comes in; the other half's result or partial goes out.
t.test('uneven hosts: the reduction spread over the larger host, the owner at its lower bound', async (t) => {
  const count = 4 * 3 * 5 * 7 * 64;
  for (const sizes of [[3, 1], [1, 3], [4, 1], [3, 2], [5, 3], [5, 2]]) {
    const hostOf = contiguous(sizes);
    const s = buildHierarchical(hostOf);
    const D = count;
    const len = (c: number): number => chunkSpan(count, s.nchunks, c).length;
    const reduced = new Array<number>(hostOf.length).fill(0);
    for (const x of s.transfers) if (x.kind === 'reduce') reduced[x.dst] += len(x.chunk);
    const label = sizes.join('+');
    const S = Math.min(...sizes);
    for (const [h, g] of hostGroups(hostOf).entries()) {
      const total = g.reduce((a, r) => a + reduced[r], 0);
      t.equal(total / D, g.length - 0.5, `${label}: host ${h} reduces ${total / D} D in all`);
      for (const r of g) t.ok(reduced[r] > 0 && reduced[r] <= D, `${label}: rank ${r} of host ${h} reduces ${(reduced[r] / D).toFixed(2)} D`);
      if (g.length === S || S > 1) continue;
      const o = g[0];
      const inside = (pick: (x: { src: number; dst: number }) => boolean): number =>
        s.transfers.filter((x) => hostOf[x.src] === hostOf[x.dst] && pick(x)).reduce((a, x) => a + len(x.chunk), 0);
      t.equal(inside((x) => x.dst === o) / D, 1, `${label}: owner ${o} receives D inside its host`);
      t.equal(inside((x) => x.src === o) / D, 1, `${label}: owner ${o} sends D inside its host`);
    }
  }
});

// Hosts of one size have no helpers: the schedule is the one this file built before helpers existed,
// transfer for transfer (the fingerprints of a150b67's builder), which sittings A (2x2), D and G (2x3)
// and H (4x1) of bench/results/hosts-netns.md measured.
t.test('even hosts: the schedule of before, unchanged', async (t) => {
  for (const [sizes, hash] of [
    [[2, 2], '3387bda571cb1c44'],
    [[3, 3], '780dec7a46ac43f7'],
    [[1, 1, 1, 1], '111517e473c5cb9d'],
  ] as const) {
    t.equal(scheduleHash(buildHierarchical(contiguous(sizes))).slice(0, 16), hash, sizes.join('+'));
  }
});

t.test('bad host assignments', async (t) => {
  t.throws(() => buildHierarchical([]), { code: 'EINVAL' });
  t.throws(() => buildHierarchical([0, -1]), { code: 'EINVAL', message: /rank 1/ });
  t.throws(() => buildHierarchical([0, 1.5]), { code: 'EINVAL' });
});
