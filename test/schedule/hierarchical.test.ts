// Host-aware all-reduce (hierarchical.ts): the verifier proves it for many host shapes (even,
// uneven, one host, one rank per host, ranks of a host not contiguous); the chunk trees are trees;
// the bytes that leave each host, counted from the schedule, are the minimum 2(H-1)/H * D.
import t from 'tap';
import { buildHierarchical, bytesLeavingHosts, hostGroups } from '../../lib/schedule/hierarchical.js';
import { buildPlacedRing } from '../../lib/schedule/placed-ring.js';
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
    t.equal(s.steps, 2 * (H - 1) + intra, `${sizes.join('+')}: 2(H-1) + 2 steps`);
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
    // Every transfer of steps 0 and last stays inside a host; the ring steps cross.
    const H2 = hostGroups(hostOf).length;
    for (const x of s.transfers) {
      const crosses = hostOf[x.src] !== hostOf[x.dst];
      const ringStep = s.steps > 2 * (H2 - 1) ? x.step >= 1 && x.step <= 2 * (H2 - 1) : true;
      if (crosses !== ringStep) {
        t.fail(`hosts ${hostOf.join(',')}: ${JSON.stringify(x)} ${crosses ? 'crosses hosts outside' : 'stays inside a host in'} the ring steps`);
        break;
      }
    }
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

t.test('bad host assignments', async (t) => {
  t.throws(() => buildHierarchical([]), { code: 'EINVAL' });
  t.throws(() => buildHierarchical([0, -1]), { code: 'EINVAL', message: /rank 1/ });
  t.throws(() => buildHierarchical([0, 1.5]), { code: 'EINVAL' });
});
