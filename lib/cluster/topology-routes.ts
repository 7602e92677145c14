/**
 * Queries over a Topology that the verifier, the simulator and the reports share: link lookup by
 * endpoints, deterministic shortest-path routes for schedules that carry no path, and the
 * MULTITREE step lower bound. Routes are breadth-first over links in neighbour order, the first
 * predecessor found winning (integer order only, so every process gets the same route); they are
 * cached per topology object. BFS from one switch costs O(switches + links).
 */
import type { Topology } from './topology.js';

interface RouteCache {
  readonly linkIds: Map<number, number>;
  /** Per source switch: predecessor link of every switch in the BFS tree (-1: none). */
  readonly predecessors: Map<number, Int32Array>;
}

const caches = new WeakMap<Topology, RouteCache>();

function cacheOf(t: Topology): RouteCache {
  let c = caches.get(t);
  if (c === undefined) {
    const linkIds = new Map<number, number>();
    t.links.forEach((l, id) => linkIds.set(l.from * t.nswitches + l.to, id));
    c = { linkIds, predecessors: new Map() };
    caches.set(t, c);
  }
  return c;
}

/** Id of the directed link from -> to, or -1 when the switches are not linked. */
export function linkBetween(t: Topology, from: number, to: number): number {
  if (!(from >= 0 && from < t.nswitches && to >= 0 && to < t.nswitches)) return -1;
  return cacheOf(t).linkIds.get(from * t.nswitches + to) ?? -1;
}

function predecessorsFrom(t: Topology, source: number): Int32Array {
  const c = cacheOf(t);
  let pred = c.predecessors.get(source);
  if (pred === undefined) {
    pred = new Int32Array(t.nswitches).fill(-1);
    const seen = new Uint8Array(t.nswitches);
    seen[source] = 1;
    const queue = [source];
    for (let i = 0; i < queue.length; i++) {
      for (const id of t.outLinks[queue[i]]) {
        const next = t.links[id].to;
        if (!seen[next]) {
          seen[next] = 1;
          pred[next] = id;
          queue.push(next);
        }
      }
    }
    c.predecessors.set(source, pred);
  }
  return pred;
}

/**
 * Link ids of a shortest route from rank src's switch to rank dst's switch (empty when both hang
 * off the same switch). The topology is connected (buildTopology checks it), so a route exists.
 */
export function routeLinks(t: Topology, src: number, dst: number): number[] {
  const from = t.attach[src];
  const to = t.attach[dst];
  if (from === to) return [];
  const pred = predecessorsFrom(t, from);
  const links: number[] = [];
  for (let s = to; s !== from; ) {
    const id = pred[s];
    if (id < 0) return [];
    links.push(id);
    s = t.links[id].from;
  }
  return links.reverse();
}

/** Switches of a path given as link ids: [s0, s1, ..., sk]. */
export function routeSwitches(t: Topology, src: number, links: readonly number[]): number[] {
  const path = [t.attach[src]];
  for (const id of links) path.push(t.links[id].to);
  return path;
}

/**
 * Lower bound on MULTITREE's construction steps T:
 *   max( max_v ceil((N-1) / recvCap[v]),  max_s ceil(ranks off s / in-link copies of s),
 *        max_root eccentricity(root) )
 * (every tree rooted off switch s must enter s over one of its in-links), where eccentricity counts tree edges: one edge reaches every rank on the parent's switch or on a
 * switch reachable through switches with no ranks attached (spines). O(N * (N + links)).
 */
export function multitreeLowerBound(t: Topology): number {
  const n = t.nranks;
  if (n <= 1) return 0;
  let bound = 0;
  for (let v = 0; v < n; v++) bound = Math.max(bound, Math.ceil((n - 1) / t.recvCap[v]));
  // Every tree rooted off switch s enters s at least once, over one of s's in-link copies.
  const inMultiplicity = new Array<number>(t.nswitches).fill(0);
  for (const l of t.links) inMultiplicity[l.to] += l.multiplicity;
  for (let s = 0; s < t.nswitches; s++) {
    const outside = n - t.switchRanks[s].length;
    if (t.switchRanks[s].length > 0 && outside > 0) bound = Math.max(bound, Math.ceil(outside / inMultiplicity[s]));
  }
  // One-edge neighbourhood of each leaf switch: the leaf switches reachable through spines only.
  const leafReach = new Map<number, number[]>();
  const reachOf = (s0: number): number[] => {
    let got = leafReach.get(s0);
    if (got !== undefined) return got;
    got = [s0];
    const seen = new Uint8Array(t.nswitches);
    seen[s0] = 1;
    const stack = [s0];
    while (stack.length > 0) {
      const s = stack.pop() as number;
      for (const id of t.outLinks[s]) {
        const next = t.links[id].to;
        if (seen[next]) continue;
        seen[next] = 1;
        if (t.switchRanks[next].length === 0) stack.push(next);
        else got.push(next);
      }
    }
    leafReach.set(s0, got);
    return got;
  };
  const dist = new Int32Array(t.nswitches);
  for (let root = 0; root < n; root++) {
    dist.fill(-1);
    const start = t.attach[root];
    dist[start] = 0;
    const queue = [start];
    let ecc = 0;
    for (let i = 0; i < queue.length; i++) {
      const s = queue[i];
      for (const next of reachOf(s)) {
        if (dist[next] < 0) {
          dist[next] = dist[s] + 1;
          ecc = Math.max(ecc, dist[next]);
          queue.push(next);
        }
      }
    }
    // Ranks sharing the root's switch are one edge away too.
    if (ecc === 0 && n > 1) ecc = 1;
    bound = Math.max(bound, ecc);
  }
  return bound;
}
