// What 'auto' picks on the emulated clusters of bench/hosts-netns (issue 19), and whether the
// simulator orders the algorithms as they measured there. Placements 2x2, 4x1, 2x3 and 3+1, at the
// default link parameters (hosts from the rendezvous, nothing told: hostTopologySpec) and told the
// link rate as the bench's --tell does (same-host 4 GB/s; 200 Mbit/s and 1 Gbit/s between hosts).
// Any change to the cost model or the candidates that moves one of these picks fails here.
//
// Measured figures: bench/results/hosts-netns.md, busbw MB/s at 200 Mbit/s, quiet machine
// (exclusive lock), nothing told:
//   2x2  sitting O (2026-12-07T18:18:28Z and 18:22:33Z), MULTITREE's trees entering each host once
//   3+1  sitting P (2026-12-07T18:24:16Z and 18:28:39Z), the same
//   2x3  sitting Q (2026-12-07T18:30:46Z and 18:36:03Z), the same
//   4x1  sitting H (2026-12-07T15:57:11Z and 16:02:44Z, 5 iterations; one rank per host: trees unchanged)
// (1 and 4 MiB with 20 iterations, 16 and 64 MiB with 5.)
// The simulator (told 200 Mbit/s, the link the bench shapes) must order every pair of algorithms
// that measured more than 10 % apart the same way; pairs closer than that are noise on this machine
// (run to run, the same schedule moved by up to 13 %: sitting E, ring 22.2 against auto's same ring 19.4).
import t from 'tap';
import { buildTopology, hostTopologySpec, type Topology } from '../../lib/cluster/topology.js';
import { cachedSchedule } from '../../lib/schedule/cache.js';
import { AUTO_MODEL, autoAlgorithm, autoCandidates } from '../../lib/schedule/choose.js';
import { simulate } from '../../lib/schedule/simulate.js';
import type { ScheduleAlgorithm } from '../../lib/schedule/cache.js';

const MIB = 1 << 20;
const SIZES = [1, 4, 16, 64] as const;
type Size = (typeof SIZES)[number];

const PLACEMENTS: Record<string, readonly number[]> = {
  '2x2': [0, 0, 1, 1],
  '4x1': [0, 1, 2, 3],
  '2x3': [0, 0, 0, 1, 1, 1],
  '3+1': [0, 0, 0, 1],
};

function topologyOf(hostOf: readonly number[], interBandwidth?: number): Topology {
  const spec = interBandwidth === undefined ? hostTopologySpec(undefined, hostOf) : hostTopologySpec({ kind: 'hierarchical', intraBandwidth: 4e9, interBandwidth }, hostOf);
  return buildTopology(spec, hostOf.length);
}

const RATES: Record<string, number | undefined> = { default: undefined, '200 Mbit/s': 200e6 / 8, '1 Gbit/s': 1e9 / 8 };

// auto's pick per placement, the same at every rate and size here: hierarchical wherever a host has
// several ranks; on 4x1 there is nothing to be host-aware of and the ring (the same ring over hosts) stays.
const PICKS: Record<string, Record<Size, ScheduleAlgorithm>> = {
  '2x2': { 1: 'hierarchical', 4: 'hierarchical', 16: 'hierarchical', 64: 'hierarchical' },
  '4x1': { 1: 'ring', 4: 'ring', 16: 'ring', 64: 'ring' },
  '2x3': { 1: 'hierarchical', 4: 'hierarchical', 16: 'hierarchical', 64: 'hierarchical' },
  '3+1': { 1: 'hierarchical', 4: 'hierarchical', 16: 'hierarchical', 64: 'hierarchical' },
};

t.test('auto picks, per placement, rate and size', async (t) => {
  for (const [placement, hostOf] of Object.entries(PLACEMENTS)) {
    for (const [rate, bw] of Object.entries(RATES)) {
      const topo = topologyOf(hostOf, bw);
      for (const m of SIZES) t.equal(autoAlgorithm(topo, m * MIB), PICKS[placement][m], `${placement}, ${rate}, ${m} MiB`);
    }
  }
});

// 3+1 untold at 1 MiB was the ring before the model priced a lone rank's transport (measured 22.7
// MB/s against hierarchical's 31.9, sitting C): the margin is small, so say it.
t.test('3+1 untold, 1 MiB: hierarchical ahead of the ring in the model, not tied', async (t) => {
  const topo = topologyOf(PLACEMENTS['3+1']);
  const time = (a: ScheduleAlgorithm): number => simulate(cachedSchedule(topo, a), topo, MIB, AUTO_MODEL).timeS;
  t.ok(time('hierarchical') < 0.99 * time('ring'), `hierarchical ${(time('hierarchical') * 1e6).toFixed(0)} us, ring ${(time('ring') * 1e6).toFixed(0)} us`);
});

type Measured = Record<Size, Partial<Record<ScheduleAlgorithm, number>>>;
const MEASURED: Record<string, Measured> = {
  '2x2': {
    1: { ring: 23.6, tree: 18.0, multitree: 33.9, hierarchical: 33.4 },
    4: { ring: 23.1, tree: 27.5, multitree: 28.8, hierarchical: 33.9 },
    16: { ring: 23.5, tree: 32.7, multitree: 30.6, hierarchical: 34.0 },
    64: { ring: 23.6, tree: 34.7, multitree: 33.0, hierarchical: 34.3 },
  },
  '3+1': {
    1: { ring: 23.5, tree: 18.2, multitree: 33.5, hierarchical: 33.3 },
    4: { ring: 23.1, tree: 27.2, multitree: 24.9, hierarchical: 34.0 },
    16: { ring: 23.5, tree: 33.0, multitree: 29.3, hierarchical: 34.9 },
    64: { ring: 23.6, tree: 34.6, multitree: 32.8, hierarchical: 35.1 },
  },
  '2x3': {
    1: { ring: 23.4, tree: 10.0, multitree: 35.3, hierarchical: 35.1 },
    4: { ring: 23.3, tree: 13.8, multitree: 34.6, hierarchical: 35.7 },
    16: { ring: 23.3, tree: 17.3, multitree: 35.8, hierarchical: 35.1 },
    64: { ring: 23.5, tree: 18.3, multitree: 36.1, hierarchical: 37.0 },
  },
  '4x1': {
    1: { ring: 22.2, tree: 8.1, multitree: 19.7, hierarchical: 20.6 },
    4: { ring: 23.0, tree: 11.4, multitree: 20.1, hierarchical: 23.2 },
    16: { ring: 23.5, tree: 12.4, multitree: 21.5, hierarchical: 23.5 },
    64: { ring: 23.5, tree: 12.5, multitree: 20.2, hierarchical: 22.6 },
  },
};

// A model tie is no misorder when the chooser's tie rule keeps the better one (4x1: ring and
// MULTITREE cross the same 1.5 D, the model ties them, ring is the earlier candidate; measured ring
// 11-15 % ahead). One known misorder, below the pick: 3+1 at 16 MiB, MULTITREE 29.3 < tree 33.0
// measured, simulated 36.9 > 34.5 (hierarchical 34.9, picked). The model prices what each link and
// port carries, and MULTITREE's trees carry the minimum; it does not see that every tree's chunk
// crosses twice in series (up to its root, then down), which is why MULTITREE is no 'auto' candidate
// where the host-aware schedule is (choose.ts, LARGE_MESSAGE_HOST_ALGORITHMS).
const KNOWN_MISORDERS = new Set(['3+1 16 tree multitree']);

t.test('the simulator orders the algorithms as measured at 200 Mbit/s (pairs more than 10 % apart)', async (t) => {
  let pairs = 0;
  let ties = 0;
  for (const [placement, hostOf] of Object.entries(PLACEMENTS)) {
    const topo = topologyOf(hostOf, 200e6 / 8);
    for (const m of SIZES) {
      const measured = Object.entries(MEASURED[placement][m]) as [ScheduleAlgorithm, number][];
      const simulated = (a: ScheduleAlgorithm): number => simulate(cachedSchedule(topo, a), topo, m * MIB, AUTO_MODEL).busbw;
      for (const [a, ma] of measured) {
        for (const [b, mb] of measured) {
          if (!(ma > 1.1 * mb)) continue;
          pairs++;
          const sa = simulated(a);
          const sb = simulated(b);
          const tied = Math.abs(sa - sb) <= 1e-9 * sb;
          if (tied) {
            const order = autoCandidates(m * MIB, topo);
            // On 4x1 hierarchical is no candidate (no host has two ranks): its ties decide nothing.
            if (!order.includes(a) || !order.includes(b)) continue;
            ties++;
            t.ok(order.indexOf(a) < order.indexOf(b), `${placement} ${m} MiB: ${a} and ${b} tie in the model; the tie rule keeps ${a} (measured ${ma} > ${mb})`);
            continue;
          }
          const what = `${placement} ${m} MiB: ${a} measured ${ma} > ${b} ${mb}; simulated ${(sa / 1e6).toFixed(1)} vs ${(sb / 1e6).toFixed(1)}`;
          t.ok(sa > sb, what, KNOWN_MISORDERS.has(`${placement} ${m} ${a} ${b}`) ? { todo: 'known misorder, see above' } : {});
        }
      }
    }
  }
  t.ok(pairs >= 40 && ties <= 8, `${pairs} ordered pairs checked, ${ties} of them tied in the model`);
});

t.test("auto's pick measured within 5 % of the best zcoll algorithm at 200 Mbit/s (the issue's target)", async (t) => {
  for (const [placement, hostOf] of Object.entries(PLACEMENTS)) {
    const topo = topologyOf(hostOf);
    for (const m of SIZES) {
      const measured = MEASURED[placement][m];
      const best = Math.max(...Object.values(measured));
      const pick = autoAlgorithm(topo, m * MIB);
      const got = measured[pick];
      if (got === undefined) throw new Error(`${placement} ${m} MiB: no measurement of ${pick}`);
      // 3+1 at 64 MiB was the miss with three cross-host streams through the lone rank (hierarchical
      // 32.0 against the tree's 34.6, sitting F); with one stream per rank of the smallest host it holds (I: 35.3).
      t.ok(got >= 0.95 * best, `${placement} ${m} MiB: ${pick} measured ${got}, best ${best} (${(got / best).toFixed(2)})`);
    }
  }
});
