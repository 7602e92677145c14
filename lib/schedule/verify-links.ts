/**
 * Topology checks of a schedule, independent of every builder; the
 * data-flow proof (every rank ends with every chunk reduced exactly once, no races) is verify.ts.
 *
 * verifyLinks(schedule, topology): every path starts at the sender's switch, ends at the receiver's
 * and follows real links; per step, no directed link carries more transfers than its multiplicity
 * and no rank sends or receives more than its port budget. Transfers without a path are charged on
 * the deterministic shortest route (topology-routes.ts), so a topology-oblivious schedule (ring in
 * rank order on a torus) is flagged where it would contend. O(transfers * path length).
 *
 * verifyTrees(schedule): for all-reduce schedules made of per-chunk trees (MULTITREE, ring as N
 * chains, binomial tree): for every chunk, the reduce transfers form an in-tree spanning all ranks
 * (every rank but one root sends it exactly once, following senders' parents reaches the root, no
 * cycle), the copy transfers an out-tree from the same root, and parents join before children:
 * a reduce leaves a rank only after every reduce into it, a copy leaves a rank only after the copy
 * into it (at the root: after every reduce into it). O(transfers + ranks * chunks * depth).
 */
import type { Topology } from '../cluster/topology.js';
import { linkBetween, routeLinks } from '../cluster/topology-routes.js';
import type { Schedule, Transfer } from './types.js';
import type { VerifyResult } from './verify.js';

const MAX_ERRORS = 20;

function describe(t: Transfer): string {
  return `transfer ${t.id} (step ${t.step}, ${t.src}->${t.dst}, chunk ${t.chunk}${t.tree !== undefined ? `, tree ${t.tree}` : ''})`;
}

/** Link ids a transfer uses: its own path when it has one (checked), else the shortest route. */
function linksOf(t: Transfer, topo: Topology, fail: (msg: string) => void): number[] | undefined {
  if (t.path === undefined) return routeLinks(topo, t.src, t.dst);
  const path = t.path;
  if (path.length === 0) {
    fail(`${describe(t)}: empty path`);
    return undefined;
  }
  if (path[0] !== topo.attach[t.src]) fail(`${describe(t)}: path starts at switch ${path[0]}, but rank ${t.src} is on switch ${topo.attach[t.src]}`);
  if (path[path.length - 1] !== topo.attach[t.dst]) fail(`${describe(t)}: path ends at switch ${path[path.length - 1]}, but rank ${t.dst} is on switch ${topo.attach[t.dst]}`);
  const ids: number[] = [];
  for (let i = 0; i + 1 < path.length; i++) {
    const id = linkBetween(topo, path[i], path[i + 1]);
    if (id < 0) {
      fail(`${describe(t)}: path hop ${path[i]} -> ${path[i + 1]} is not a link of the topology`);
      return undefined;
    }
    ids.push(id);
  }
  return ids;
}

export function verifyLinks(s: Schedule, topo: Topology): VerifyResult {
  const errors: string[] = [];
  const fail = (msg: string): void => {
    if (errors.length < MAX_ERRORS) errors.push(msg);
  };
  const n = s.nranks;
  if (n !== topo.nranks) return { ok: false, errors: [`schedule has ${n} ranks but the topology has ${topo.nranks}`] };
  const ts = s.transfers;
  for (const t of ts) {
    if (!(Number.isInteger(t.src) && t.src >= 0 && t.src < n && Number.isInteger(t.dst) && t.dst >= 0 && t.dst < n)) {
      return { ok: false, errors: [`${describe(t)}: rank out of range 0..${n - 1}`] };
    }
    if (!(Number.isInteger(t.step) && t.step >= 0 && t.step < s.steps)) return { ok: false, errors: [`${describe(t)}: step out of range 0..${s.steps - 1}`] };
  }
  // Transfers bucketed by step.
  const start = new Int32Array(s.steps + 1);
  for (const t of ts) start[t.step + 1]++;
  for (let i = 0; i < s.steps; i++) start[i + 1] += start[i];
  const byStep = new Int32Array(ts.length);
  {
    const fill = start.slice();
    for (let i = 0; i < ts.length; i++) byStep[fill[ts[i].step]++] = i;
  }
  const uses = new Int32Array(topo.links.length);
  const users = new Map<number, number[]>();
  const sends = new Int32Array(n);
  const recvs = new Int32Array(n);
  for (let step = 0; step < s.steps; step++) {
    const touched: number[] = [];
    users.clear();
    for (let i = start[step]; i < start[step + 1]; i++) {
      const t = ts[byStep[i]];
      sends[t.src]++;
      recvs[t.dst]++;
      const ids = linksOf(t, topo, fail);
      if (ids === undefined) continue;
      for (const id of ids) {
        if (uses[id] === 0) touched.push(id);
        uses[id]++;
        const list = users.get(id);
        if (list === undefined) users.set(id, [t.id]);
        else list.push(t.id);
      }
    }
    for (const id of touched) {
      const l = topo.links[id];
      if (uses[id] > l.multiplicity) {
        fail(`step ${step}: link ${l.from} -> ${l.to} carries ${uses[id]} transfers (multiplicity ${l.multiplicity}): transfers ${(users.get(id) ?? []).join(', ')}`);
      }
      uses[id] = 0;
    }
    for (let i = start[step]; i < start[step + 1]; i++) {
      const t = ts[byStep[i]];
      for (const [rank, count, cap, what] of [
        [t.src, sends, topo.sendCap, 'sends'],
        [t.dst, recvs, topo.recvCap, 'receives'],
      ] as const) {
        if (count[rank] > cap[rank]) {
          fail(`step ${step}: rank ${rank} ${what} ${count[rank]} transfers, over its budget of ${cap[rank]}`);
          count[rank] = cap[rank]; // report each rank once per step
        }
      }
    }
    for (let i = start[step]; i < start[step + 1]; i++) {
      const t = ts[byStep[i]];
      sends[t.src] = 0;
      recvs[t.dst] = 0;
    }
  }
  return { ok: errors.length === 0, errors };
}

export function verifyTrees(s: Schedule): VerifyResult {
  const errors: string[] = [];
  const fail = (msg: string): void => {
    if (errors.length < MAX_ERRORS) errors.push(msg);
  };
  const n = s.nranks;
  if (s.collective !== 'allreduce') return { ok: false, errors: [`verifyTrees checks all-reduce schedules, got ${s.collective}`] };
  if (n === 1) return { ok: s.transfers.length === 0, errors: s.transfers.length === 0 ? [] : ['a 1-rank all-reduce moves nothing'] };
  const nc = s.nchunks;
  // Per (chunk, rank): the one reduce leaving it and the one copy entering it (-1: none, -2: several).
  const reduceOut = new Int32Array(nc * n).fill(-1);
  const copyIn = new Int32Array(nc * n).fill(-1);
  const lastReduceIn = new Int32Array(nc * n).fill(-1);
  const ts = s.transfers;
  for (const t of ts) {
    if (!(t.chunk >= 0 && t.chunk < nc && t.src >= 0 && t.src < n && t.dst >= 0 && t.dst < n)) {
      fail(`${describe(t)}: chunk or rank out of range`);
      continue;
    }
    const k = t.chunk * n;
    if (t.kind === 'reduce') {
      if (reduceOut[k + t.src] !== -1) {
        fail(`chunk ${t.chunk}: rank ${t.src} sends its partial twice (${describe(t)})`);
        reduceOut[k + t.src] = -2;
      } else reduceOut[k + t.src] = t.id;
      lastReduceIn[k + t.dst] = Math.max(lastReduceIn[k + t.dst], t.step);
    } else {
      if (copyIn[k + t.dst] !== -1) {
        fail(`chunk ${t.chunk}: rank ${t.dst} receives the result twice (${describe(t)})`);
        copyIn[k + t.dst] = -2;
      } else copyIn[k + t.dst] = t.id;
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  const REACHES_ROOT = 1;
  const ON_WALK = 2;
  const NEVER = 3;
  const state = new Uint8Array(n);
  const walk: number[] = [];
  for (let c = 0; c < nc; c++) {
    const k = c * n;
    const roots: number[] = [];
    for (let v = 0; v < n; v++) if (reduceOut[k + v] === -1) roots.push(v);
    if (roots.length !== 1) {
      fail(`chunk ${c}: ${roots.length} ranks never pass their partial on (${roots.slice(0, 8).join(', ')}): the reduce tree ${roots.length === 0 ? 'has a cycle' : 'does not span all ranks'}`);
      continue;
    }
    const root = roots[0];
    if (copyIn[k + root] !== -1) fail(`chunk ${c}: root ${root} receives a copy of its own result`);
    for (let v = 0; v < n; v++) {
      if (v !== root && copyIn[k + v] === -1) fail(`chunk ${c}: rank ${v} is not in the broadcast tree (never receives the result)`);
    }
    // Follow parents to the root: in both phases every rank must get there. Linear: a walk stops at
    // the first rank already known to reach the root; meeting a rank of the current walk is a cycle.
    for (const [phase, parentOf] of [
      ['reduce', (v: number): number => ts[reduceOut[k + v]].dst],
      ['copy', (v: number): number => (copyIn[k + v] >= 0 ? ts[copyIn[k + v]].src : -1)],
    ] as const) {
      state.fill(0);
      state[root] = REACHES_ROOT;
      for (let v = 0; v < n && errors.length < MAX_ERRORS; v++) {
        walk.length = 0;
        let x = v;
        while (x >= 0 && state[x] === 0) {
          state[x] = ON_WALK;
          walk.push(x);
          x = parentOf(x);
        }
        const good = x >= 0 && state[x] === REACHES_ROOT;
        const cycle = x >= 0 && state[x] === ON_WALK;
        for (const w of walk) state[w] = good ? REACHES_ROOT : NEVER;
        if (!good) {
          fail(`chunk ${c}: in the ${phase} tree rank ${v} never reaches root ${root}: ${cycle ? "a child is its parent's ancestor (cycle)" : 'its parent chain is broken'}`);
          break;
        }
      }
    }
    // Parents join before children.
    for (let v = 0; v < n; v++) {
      if (v !== root) {
        const out = ts[reduceOut[k + v]];
        if (lastReduceIn[k + v] >= out.step) fail(`chunk ${c}: rank ${v} sends its partial at step ${out.step}, not after every child's (last at step ${lastReduceIn[k + v]})`);
        const into = copyIn[k + v];
        if (into >= 0) {
          const inStep = ts[into].step;
          if (inStep <= lastReduceIn[k + root]) fail(`chunk ${c}: rank ${v} gets the result at step ${inStep}, before the root has every partial (step ${lastReduceIn[k + root]})`);
          const p = ts[into].src;
          if (p !== root && copyIn[k + p] >= 0 && ts[copyIn[k + p]].step >= inStep) {
            fail(`chunk ${c}: rank ${p} forwards the result to ${v} at step ${inStep}, before getting it (step ${ts[copyIn[k + p]].step})`);
          }
        }
      }
    }
  }
  return { ok: errors.length === 0, errors };
}
