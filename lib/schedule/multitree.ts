/**
 * MULTITREE all-reduce (Huang, Majumder, Kim, Muzahid, Yum, Kim, "Communication Algorithm-Architecture
 * Co-Design for Distributed Deep Learning", ISCA 2021), built exactly as the authors' simulator does
 * (the tree construction and `generate_schedule` of their artifact's multitree_allreduce.py).
 *
 * One spanning tree per rank r, rooted at r, carrying chunk r (1/N of the buffer). The trees grow
 * top-down together, one construction step at a time. In a step every directed link may be used
 * `multiplicity` times and every rank may send/receive `sendCap`/`recvCap` times, summed over all
 * trees; the trees take turns round-robin, each turn adding at most one edge (parent -> new child):
 * the parent must have been in the tree when the step began; a child on the parent's own switch is
 * taken first, otherwise a depth-first search over free links (passing through switches with no
 * ranks, stopping at switches with ranks) finds the first eligible child. All ties are broken by
 * integer order (turn order, parent join order, switch rank order, neighbour order), so every
 * process builds the same trees.
 *
 * Step end: rule 'artifact' continues a step after a round of N turns only if the last tree of the
 * round added an edge (the artifact's literal logic); rule 'clean' continues while any tree of the
 * round added one and keeps the turn order ascending (same T on tori, better on meshes: 4x4 mesh 8
 * instead of 10). Under 'artifact' the turn order is ascending root id for the first round, then
 * roots sorted by (priority, id) descending (priority is zero except on meshes, where it is the
 * artifact's, typo included, largest distance to a corner).
 *
 * Schedule: with T construction steps, tree r's edge (c, p, t) becomes a reduce c -> p of chunk r at
 * step T-1-t (after everything c's children sent it) and a copy p -> c at step T+t (after p got the
 * final chunk, or, at the root, after all its reduces landed). 2T steps; every busy link carries one
 * chunk of D/N per step. On a 2D torus with 4 ports T ~ (N-1)/4, so the bandwidth term is ~ D*beta/2
 * against 2(N-1)/N*D*beta for a one-direction ring; on one-port switched networks T = N-1 = ring.
 *
 * Budgets: the reduce-scatter replays the steps backwards, so a link's budget is the smaller of
 * its two directions and a rank's the smaller of its send and receive ports (no effect on the
 * symmetric topologies of cluster/topology.ts, which are all the artifact had).
 *
 * Hosts: on a 'hierarchical' topology (hosts as switches, their NICs as the links to a core switch)
 * the artifact's rule lets a tree enter a host several times: with one port per rank every tree
 * grows as a star from its root (0 -> 1 local, then 0 -> 2 and 0 -> 3 across), so on 2 hosts x 2
 * ranks each byte of a chunk crosses the NIC twice per direction: 2 D per direction against the
 * 1 D that any all-reduce across two hosts must move (bench/results/hosts-netns.md). With
 * `enterOnce` (the default there) the search skips a host the tree is already on, the host's
 * member adds the other local ranks itself, and every tree crosses each host's NIC once per
 * direction and phase: 2 (H-1)/H x D per NIC direction when the trees balance, the minimum for H
 * hosts (1 D for H = 2). Trees get one level deeper inside a host, which shared memory pays for
 * cheaply. Other kinds keep the artifact's trees: on a switch or fat tree several ranks per leaf are
 * peers of equal links, not a host behind one NIC.
 *
 * Speed: membership is a byte matrix, every tree keeps a frontier of parents that can still have a
 * child (parents whose whole one-edge neighbourhood is in the tree are dropped for good at step
 * start; parents that fail are skipped for the rest of the step, since resources only shrink and
 * trees only grow). 32x32 torus (1024 ranks, ~1M edges): trees in ~1.5 s, the Schedule objects in 1-3 s more.
 */
import { ZcollError } from '../errors.js';
import type { Topology } from '../cluster/topology.js';
import type { Schedule, Transfer } from './types.js';

export type MultitreeRule = 'artifact' | 'clean';

export interface MultitreeOptions {
  readonly rule?: MultitreeRule;
  /**
   * Re-sort the turn order after every round by (priority, root) descending, as the artifact's
   * simulate.py calls it (sort=True). Default: true for 'artifact', false for 'clean' (which keeps
   * ascending root order: re-sorting only matters on meshes, where the artifact's priority has a typo).
   */
  readonly sort?: boolean;
  /**
   * A tree enters each switch that holds ranks at most once: the search passes over a switch where
   * the tree already has a member (that member adds the switch's other ranks as local children).
   * Default: true on 'hierarchical' topologies (a switch is a host, its uplink the host's NIC), false
   * elsewhere (the artifact's trees). See the file comment.
   */
  readonly enterOnce?: boolean;
}

/** The raw construction: edge e of tree tree[e] joins child[e] under parent[e] at step step[e]. */
export interface MultitreeTrees {
  readonly nranks: number;
  readonly nswitches: number;
  readonly rule: MultitreeRule;
  /** Number of construction steps. */
  readonly T: number;
  readonly tree: Int32Array;
  readonly child: Int32Array;
  readonly parent: Int32Array;
  readonly step: Int32Array;
  /** Switches of edge e's path (parent's switch first): pathSwitches[pathStart[e] .. pathStart[e+1]). */
  readonly pathStart: Int32Array;
  readonly pathSwitches: Int32Array;
}

/** Safety net: construction adds at least one edge per step on a connected topology. */
function stepLimit(n: number): number {
  return n * (n - 1) + 1;
}

/** The artifact's mesh priority: largest (typo'd, see kncube.py) distance to a corner. */
function meshPriority(t: Topology): Int32Array {
  const priority = new Int32Array(t.nranks);
  const s = t.spec;
  if (s.kind !== 'mesh' || s.dims.length !== 2) return priority;
  const cols = s.dims[1];
  const corners = [0, cols - 1, t.nranks - cols, t.nranks - 1];
  for (let v = 0; v < t.nranks; v++) {
    const vx = Math.floor(v / cols);
    let depth = 0;
    for (const c of corners) {
      const cx = Math.floor(c / cols);
      const cy = c % cols;
      // kncube.py: abs(src_x - dest_x) + abs(dest_x - dest_y); the second term should be src_y - dest_y.
      depth = Math.max(depth, Math.abs(vx - cx) + Math.abs(cx - cy));
    }
    priority[v] = depth;
  }
  return priority;
}

/** Growable Int32 buffer (edges of a 1024-rank torus: ~1M). */
class IntList {
  data: Int32Array;
  length = 0;
  constructor(capacity: number) {
    this.data = new Int32Array(Math.max(16, capacity));
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new Int32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }
  view(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

export function buildMultitreeTrees(t: Topology, options: MultitreeOptions = {}): MultitreeTrees {
  const rule: MultitreeRule = options.rule ?? 'artifact';
  if (rule !== 'artifact' && rule !== 'clean') throw new ZcollError('EINVAL', `multitree rule must be 'artifact' or 'clean', got ${JSON.stringify(rule)}`);
  const n = t.nranks;
  const nsw = t.nswitches;
  const nlinks = t.links.length;
  for (let v = 0; v < n; v++) {
    if (!(t.sendCap[v] >= 1 && t.recvCap[v] >= 1)) throw new ZcollError('ECONFIG', `rank ${v} has no port (sendCap ${t.sendCap[v]}, recvCap ${t.recvCap[v]})`, { rank: v });
  }
  const attach = Int32Array.from(t.attach);
  const linkTo = Int32Array.from(t.links, (l) => l.to);
  // The reduce-scatter replays every step in reverse: a link a->b used k times needs b->a k times,
  // and a rank's sends become its receives. So a link's budget is the smaller of its two directions
  // (0 without a reverse link) and a rank's the smaller of its two port counts. Symmetric topologies
  // (all the spec kinds) are unaffected.
  const reverseMultiplicity = new Map<number, number>();
  for (const l of t.links) reverseMultiplicity.set(l.from * nsw + l.to, l.multiplicity);
  const linkCap = Int32Array.from(t.links, (l) => Math.min(l.multiplicity, reverseMultiplicity.get(l.to * nsw + l.from) ?? 0));
  // CSR copies of the topology for tight loops.
  const outStart = new Int32Array(nsw + 1);
  for (let s = 0; s < nsw; s++) outStart[s + 1] = outStart[s] + t.outLinks[s].length;
  const outIds = new Int32Array(outStart[nsw]);
  for (let s = 0; s < nsw; s++) outIds.set(t.outLinks[s], outStart[s]);
  const ranksStart = new Int32Array(nsw + 1);
  for (let s = 0; s < nsw; s++) ranksStart[s + 1] = ranksStart[s] + t.switchRanks[s].length;
  const ranksAt = new Int32Array(ranksStart[nsw]);
  for (let s = 0; s < nsw; s++) ranksAt.set(t.switchRanks[s], ranksStart[s]);

  // One-edge neighbourhood (ranks reachable through spines only) of each switch, when small: a
  // parent all of whose neighbourhood is in the tree can never have a child again.
  const NEIGHBOURHOOD_LIMIT = 64;
  const hoodStart = new Int32Array(nsw + 1);
  const hood: number[] = [];
  const hoodSmall = new Uint8Array(nsw);
  {
    const seen = new Int32Array(nsw).fill(-1);
    for (let s0 = 0; s0 < nsw; s0++) {
      hoodStart[s0] = hood.length;
      const ranks: number[] = [];
      const stack = [s0];
      seen[s0] = s0;
      let small = true;
      while (stack.length > 0 && small) {
        const s = stack.pop() as number;
        for (let i = ranksStart[s]; i < ranksStart[s + 1]; i++) ranks.push(ranksAt[i]);
        if (ranks.length > NEIGHBOURHOOD_LIMIT) small = false;
        if (s !== s0 && ranksStart[s + 1] > ranksStart[s]) continue; // leaf: do not pass through
        for (let i = outStart[s]; i < outStart[s + 1]; i++) {
          const next = linkTo[outIds[i]];
          if (seen[next] !== s0) {
            seen[next] = s0;
            stack.push(next);
          }
        }
      }
      if (small) {
        hoodSmall[s0] = 1;
        for (const r of ranks) hood.push(r);
      }
    }
    hoodStart[nsw] = hood.length;
  }
  const hoodRanks = Int32Array.from(hood);

  const inTree = new Uint8Array(n * n);
  // onSwitch[r*nsw + s]: members of tree r on switch s (only kept with enterOnce).
  const enterOnce = options.enterOnce ?? t.kind === 'hierarchical';
  const onSwitch = new Int32Array(enterOnce ? n * nsw : 0);
  if (enterOnce) for (let r = 0; r < n; r++) onSwitch[r * nsw + attach[r]] = 1;
  const size = new Int32Array(n);
  // alive[r*n + i]: parents of tree r that may still get a child, in join order.
  const alive = new Int32Array(n * n);
  const aliveLen = new Int32Array(n);
  const frontier = new Int32Array(n);
  const scanFrom = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    inTree[r * n + r] = 1;
    size[r] = 1;
    alive[r * n] = r;
    aliveLen[r] = 1;
  }
  const send = new Int32Array(n);
  const recv = new Int32Array(n);
  const free = new Int32Array(nlinks);
  const sendCap = Int32Array.from(t.sendCap, (c, v) => Math.min(c, t.recvCap[v]));
  const recvCap = sendCap;

  const eTree = new IntList(n * (n - 1));
  const eChild = new IntList(n * (n - 1));
  const eParent = new IntList(n * (n - 1));
  const eStep = new IntList(n * (n - 1));
  const ePathStart = new IntList(n * (n - 1) + 1);
  const ePath = new IntList(2 * n * (n - 1));
  ePathStart.push(0);

  // DFS state, reused across searches; `stamp` marks switches on the current stack.
  const onStack = new Int32Array(nsw);
  let stamp = 0;
  const stackSw = new Int32Array(nsw + 1);
  const stackLink = new Int32Array(nsw + 1);
  const stackPtr = new Int32Array(nsw + 1);

  const eligibleAt = (s: number, rowBase: number): number => {
    for (let i = ranksStart[s]; i < ranksStart[s + 1]; i++) {
      const c = ranksAt[i];
      if (recv[c] > 0 && inTree[rowBase + c] === 0) return c;
    }
    return -1;
  };

  let step = 0;
  const commit = (r: number, p: number, c: number, depth: number, lastLink: number, lastSwitch: number): void => {
    send[p]--;
    recv[c]--;
    // Path switches: the DFS stack (stackSw[0..depth)) then the child's switch.
    for (let i = 1; i < depth; i++) free[stackLink[i]]--;
    if (lastLink >= 0) free[lastLink]--;
    for (let i = 0; i < depth; i++) ePath.push(stackSw[i]);
    if (lastLink >= 0) ePath.push(lastSwitch);
    ePathStart.push(ePath.length);
    eTree.push(r);
    eChild.push(c);
    eParent.push(p);
    eStep.push(step);
    inTree[r * n + c] = 1;
    if (enterOnce) onSwitch[r * nsw + attach[c]]++;
    alive[r * n + aliveLen[r]] = c;
    aliveLen[r]++;
    size[r]++;
  };

  /** One turn of tree r: add at most one edge. */
  const tryAdd = (r: number): boolean => {
    const rowBase = r * n;
    const aliveBase = r * n;
    for (let i = scanFrom[r]; i < frontier[r]; i++) {
      const p = alive[aliveBase + i];
      if (send[p] > 0) {
        const s0 = attach[p];
        // Local first: a rank on the parent's own switch.
        const local = eligibleAt(s0, rowBase);
        if (local >= 0) {
          stackSw[0] = s0;
          commit(r, p, local, 1, -1, -1);
          return true;
        }
        // Depth-first over free links; spines are passed through, leaves are endpoints.
        stamp++;
        let depth = 1;
        stackSw[0] = s0;
        stackPtr[0] = outStart[s0];
        onStack[s0] = stamp;
        while (depth > 0) {
          const s = stackSw[depth - 1];
          let advanced = false;
          while (stackPtr[depth - 1] < outStart[s + 1]) {
            const l = outIds[stackPtr[depth - 1]++];
            if (free[l] <= 0) continue;
            const next = linkTo[l];
            if (onStack[next] === stamp) continue;
            if (ranksStart[next + 1] === ranksStart[next]) {
              onStack[next] = stamp;
              stackSw[depth] = next;
              stackLink[depth] = l;
              stackPtr[depth] = outStart[next];
              depth++;
              advanced = true;
              break;
            }
            // enterOnce: the tree's member on `next` brings in the rest of that host locally.
            if (enterOnce && onSwitch[r * nsw + next] > 0) continue;
            const c = eligibleAt(next, rowBase);
            if (c >= 0) {
              commit(r, p, c, depth, l, next);
              return true;
            }
          }
          if (!advanced) {
            onStack[s] = 0;
            depth--;
          }
        }
      }
      scanFrom[r] = i + 1;
    }
    return false;
  };

  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const priority = meshPriority(t);
  const sort = options.sort ?? rule === 'artifact';
  const reordered = sort ? Array.from({ length: n }, (_, i) => i).sort((a, b) => priority[b] - priority[a] || b - a) : Array.from(order);
  let complete = n === 1 ? 1 : 0;
  const limit = stepLimit(n);
  while (complete < n) {
    if (step >= limit) throw new ZcollError('EINTERNAL', `multitree construction made no progress after ${step} steps`);
    send.set(sendCap);
    recv.set(recvCap);
    for (let l = 0; l < nlinks; l++) free[l] = linkCap[l];
    for (let r = 0; r < n; r++) {
      if (size[r] < n) {
        // Drop parents whose one-edge neighbourhood is all in the tree (they can never add).
        const base = r * n;
        let kept = 0;
        for (let i = 0; i < aliveLen[r]; i++) {
          const p = alive[base + i];
          const s = attach[p];
          let dead = hoodSmall[s] === 1;
          if (dead) {
            for (let j = hoodStart[s]; j < hoodStart[s + 1]; j++) {
              if (inTree[base + hoodRanks[j]] === 0) {
                dead = false;
                break;
              }
            }
          }
          if (!dead) alive[base + kept++] = p;
        }
        aliveLen[r] = kept;
      }
      frontier[r] = aliveLen[r];
      scanFrom[r] = 0;
    }
    let stepAdded = 0;
    for (;;) {
      let lastAdded = false;
      let anyAdded = false;
      for (let i = 0; i < n && complete < n; i++) {
        const r = order[i];
        lastAdded = size[r] < n && tryAdd(r);
        if (lastAdded) {
          anyAdded = true;
          stepAdded++;
          if (size[r] === n) complete++;
        }
      }
      if (complete === n) break;
      for (let i = 0; i < n; i++) order[i] = reordered[i];
      if (rule === 'artifact' ? !lastAdded : !anyAdded) break;
    }
    if (stepAdded === 0) throw new ZcollError('ECONFIG', `multitree: construction step ${step} added no edge: some rank cannot be reached over links usable in both directions`, { details: { key: 'topology' } });
    step++;
  }
  return {
    nranks: n,
    nswitches: nsw,
    rule,
    T: step,
    tree: eTree.view(),
    child: eChild.view(),
    parent: eParent.view(),
    step: eStep.view(),
    pathStart: ePathStart.view(),
    pathSwitches: ePath.view(),
  };
}

/**
 * The all-reduce schedule of a set of trees (the artifact's `generate_schedule`). Transfer ids: reduce-scatter steps
 * 0..T-1 then all-gather steps T..2T-1; inside a step, edges in construction order.
 */
export function multitreeSchedule(trees: MultitreeTrees): Schedule {
  const n = trees.nranks;
  const T = trees.T;
  const m = trees.tree.length;
  // Edges bucketed by construction step, in construction order.
  const byStep = new Int32Array(T + 1);
  for (let e = 0; e < m; e++) byStep[trees.step[e] + 1]++;
  for (let s = 0; s < T; s++) byStep[s + 1] += byStep[s];
  const stepOrder = new Int32Array(m);
  {
    const fill = byStep.slice();
    for (let e = 0; e < m; e++) stepOrder[fill[trees.step[e]]++] = e;
  }
  // Children of (tree, parent), and the edge into (tree, child).
  const edgeInto = new Int32Array(n * n).fill(-1);
  const kidsStart = new Int32Array(n * n + 1);
  for (let e = 0; e < m; e++) {
    edgeInto[trees.tree[e] * n + trees.child[e]] = e;
    kidsStart[trees.tree[e] * n + trees.parent[e] + 1]++;
  }
  for (let k = 0; k < n * n; k++) kidsStart[k + 1] += kidsStart[k];
  const kids = new Int32Array(m);
  {
    const fill = kidsStart.slice(0, n * n);
    for (let e = 0; e < m; e++) kids[fill[trees.tree[e] * n + trees.parent[e]]++] = e;
  }
  // Paths are interned: a torus has 4N distinct one-hop paths for ~N^2 transfers, so sharing the
  // arrays keeps a 1024-rank schedule small and cheap to build.
  const nsw = trees.nswitches;
  const interned = new Map<number, readonly number[]>();
  const pathOf = (e: number, reverse: boolean): readonly number[] => {
    const from = trees.pathStart[e];
    const to = trees.pathStart[e + 1];
    const len = to - from;
    const at = (i: number): number => trees.pathSwitches[reverse ? to - 1 - i : from + i];
    if (len === 1 || len === 2) {
      const key = len === 1 ? at(0) : nsw + at(0) * nsw + at(1);
      let got = interned.get(key);
      if (got === undefined) {
        got = len === 1 ? [at(0)] : [at(0), at(1)];
        interned.set(key, got);
      }
      return got;
    }
    const path: number[] = [];
    for (let i = 0; i < len; i++) path.push(at(i));
    return path;
  };

  const transfers: Transfer[] = [];
  const rsId = new Int32Array(m);
  const agId = new Int32Array(m);
  const noDeps: readonly number[] = [];
  // deps of every send out of (tree, node) in reduce-scatter: the reduces into it. Shared arrays.
  const rsInto = (r: number, v: number): readonly number[] => {
    const from = kidsStart[r * n + v];
    const to = kidsStart[r * n + v + 1];
    if (from === to) return noDeps;
    const ids: number[] = [];
    for (let i = from; i < to; i++) ids.push(rsId[kids[i]]);
    return ids;
  };
  let id = 0;
  for (let t = T - 1; t >= 0; t--) {
    for (let i = byStep[t]; i < byStep[t + 1]; i++) {
      const e = stepOrder[i];
      const r = trees.tree[e];
      const c = trees.child[e];
      rsId[e] = id;
      transfers.push({ id, step: T - 1 - t, src: c, dst: trees.parent[e], chunk: r, kind: 'reduce', deps: rsInto(r, c), path: pathOf(e, true), tree: r });
      id++;
    }
  }
  // deps of the all-gather sends out of (tree, node), shared by all its children.
  const agDeps: Array<readonly number[] | undefined> = new Array<readonly number[] | undefined>(n * n);
  for (let t = 0; t < T; t++) {
    for (let i = byStep[t]; i < byStep[t + 1]; i++) {
      const e = stepOrder[i];
      const r = trees.tree[e];
      const p = trees.parent[e];
      const key = r * n + p;
      let deps = agDeps[key];
      if (deps === undefined) {
        deps = p === r ? rsInto(r, r) : [agId[edgeInto[key]]];
        agDeps[key] = deps;
      }
      agId[e] = id;
      transfers.push({ id, step: T + t, src: p, dst: trees.child[e], chunk: r, kind: 'copy', deps, path: pathOf(e, false), tree: r });
      id++;
    }
  }
  return { algorithm: 'multitree', collective: 'allreduce', nranks: n, nchunks: n, steps: 2 * T, transfers };
}

/** MULTITREE all-reduce schedule for a topology (chunk r is reduced at, and broadcast from, rank r). */
export function buildMultitree(t: Topology, options: MultitreeOptions = {}): Schedule {
  return multitreeSchedule(buildMultitreeTrees(t, options));
}

/** Depth of every tree (edges on the longest root-to-leaf path); depth <= T. */
export function treeDepths(trees: MultitreeTrees): number[] {
  const n = trees.nranks;
  const depth = new Int32Array(n * n);
  const maxDepth = new Array<number>(n).fill(0);
  // Edges are recorded parent-before-child, so one pass in order suffices.
  for (let e = 0; e < trees.tree.length; e++) {
    const r = trees.tree[e];
    const d = depth[r * n + trees.parent[e]] + 1;
    depth[r * n + trees.child[e]] = d;
    if (d > maxDepth[r]) maxDepth[r] = d;
  }
  return maxDepth;
}
