/**
 * Step-synchronous alpha-beta simulator with per-link bandwidth and contention. Every step costs
 *   alpha + max( max over links l: load(l) / bw(l),  max over ranks v: port load(v) / portBw(v) )
 *         + gamma * (largest number of bytes reduced at one rank in the step)
 * and the schedule's time is the sum over its steps (lockstep: a step starts when the slowest
 * transfer of the previous one has landed, the co-designed NI of the MULTITREE paper).
 * Loads are fluid over parallel copies: a link of multiplicity m carrying transfers of b_1..b_k
 * bytes is busy max(max_i b_i, sum_i b_i / m) / bw; a rank with p ports likewise for what it sends
 * and for what it receives. A transfer moves its chunk's share of the buffer, bytes / nchunks
 * (fluid, so closed forms hold exactly: a contention-free ring costs 2(n-1)(alpha + D/n*beta)).
 * Transfers with a path use it; others the deterministic shortest route. O(transfers * hops) to
 * route and load a schedule, then O(steps) per size (simulateSizes costs a whole sweep at once).
 */
import { ZcollError } from '../errors.js';
import type { Topology } from '../cluster/topology.js';
import { linkBetween, routeLinks } from '../cluster/topology-routes.js';
import { pipelinedCostLine } from './simulate-pipelined.js';
import { timeOnLine, type CostLine, type SimParams } from './sim-params.js';
import type { Schedule } from './types.js';

export { timeOnLine } from './sim-params.js';
export type { CostLine, SimParams } from './sim-params.js';

export interface SimResult {
  readonly timeS: number;
  /** bytes / time (nccl-tests algbw), bytes per second. */
  readonly algbw: number;
  /** algbw * 2(n-1)/n for all-reduce, (n-1)/n for reduce-scatter/all-gather, 1 for broadcast. */
  readonly busbw: number;
  readonly steps: number;
  readonly perStep?: number[];
}

/**
 * nccl-tests bus bandwidth factor of a collective over n ranks ((n-1)/n for gather as for
 * all-gather: the root's link carries n-1 of the n chunks; a barrier moves no bytes).
 */
export function busbwFactor(collective: Schedule['collective'], n: number): number {
  if (n <= 1) return 1;
  if (collective === 'allreduce') return (2 * (n - 1)) / n;
  if (collective === 'broadcast' || collective === 'barrier') return 1;
  return (n - 1) / n;
}

/**
 * Per step, what does not depend on the size: every transfer of a schedule moves one chunk of
 * bytes/nchunks, so a step's wire time is chunkBytes * wire[step] and its reduction time
 * gamma * chunkBytes * reduces[step] (the most chunks reduced at one rank). Computed once per
 * (schedule, topology, beta), then any number of sizes cost O(steps).
 */
interface StepProfile {
  readonly busy: Uint8Array;
  readonly wire: Float64Array;
  readonly reduces: Float64Array;
}

function profile(s: Schedule, topo: Topology, betaSPerByte: number): StepProfile {
  const n = s.nranks;
  const linkSec = topo.links.map((l) => (l.bandwidth !== undefined ? 1 / l.bandwidth : betaSPerByte));
  const portSec = Array.from({ length: n }, (_, v) => (topo.portBandwidth !== undefined ? 1 / topo.portBandwidth[v] : betaSPerByte));
  const start = new Int32Array(s.steps + 1);
  for (const t of s.transfers) start[t.step + 1]++;
  for (let i = 0; i < s.steps; i++) start[i + 1] += start[i];
  const byStep = new Int32Array(s.transfers.length);
  {
    const fill = start.slice();
    s.transfers.forEach((t, i) => (byStep[fill[t.step]++] = i));
  }
  const linkCount = new Int32Array(topo.links.length);
  const sends = new Int32Array(n);
  const recvs = new Int32Array(n);
  const reduced = new Int32Array(n);
  const busy = new Uint8Array(s.steps);
  const wire = new Float64Array(s.steps);
  const reduces = new Float64Array(s.steps);
  for (let step = 0; step < s.steps; step++) {
    const touched: number[] = [];
    const ranks: number[] = [];
    for (let i = start[step]; i < start[step + 1]; i++) {
      const t = s.transfers[byStep[i]];
      let ids: number[];
      if (t.path !== undefined) {
        ids = [];
        for (let h = 0; h + 1 < t.path.length; h++) {
          const id = linkBetween(topo, t.path[h], t.path[h + 1]);
          if (id < 0) throw new ZcollError('EINVAL', `simulate: transfer ${t.id} hops ${t.path[h]} -> ${t.path[h + 1]}, not a link of the topology`);
          ids.push(id);
        }
      } else ids = routeLinks(topo, t.src, t.dst);
      for (const id of ids) {
        if (linkCount[id]++ === 0) touched.push(id);
      }
      ranks.push(t.src, t.dst);
      sends[t.src]++;
      recvs[t.dst]++;
      if (t.kind === 'reduce') reduced[t.dst]++;
    }
    // Fluid over parallel lanes: k equal transfers on m lanes keep them busy max(1, k/m) chunks long.
    let w = 0;
    for (const id of touched) {
      w = Math.max(w, Math.max(1, linkCount[id] / topo.links[id].multiplicity) * linkSec[id]);
      linkCount[id] = 0;
    }
    let r = 0;
    for (const v of ranks) {
      if (sends[v] > 0) w = Math.max(w, Math.max(1, sends[v] / topo.sendCap[v]) * portSec[v]);
      if (recvs[v] > 0) w = Math.max(w, Math.max(1, recvs[v] / topo.recvCap[v]) * portSec[v]);
      r = Math.max(r, reduced[v]);
    }
    for (const v of ranks) {
      sends[v] = 0;
      recvs[v] = 0;
      reduced[v] = 0;
    }
    busy[step] = start[step + 1] > start[step] ? 1 : 0;
    wire[step] = w;
    reduces[step] = r;
  }
  return { busy, wire, reduces };
}

function checkInputs(s: Schedule, topo: Topology, params: SimParams): void {
  if (s.nranks !== topo.nranks) throw new ZcollError('EINVAL', `simulate: schedule has ${s.nranks} ranks, topology ${topo.nranks}`);
  if (!(params.alphaS >= 0 && params.betaSPerByte >= 0 && (params.gammaSPerByte ?? 0) >= 0)) throw new ZcollError('EINVAL', 'simulate: alphaS, betaSPerByte and gammaSPerByte must be >= 0');
}

function costAt(s: Schedule, p: StepProfile, bytes: number, params: SimParams): SimResult {
  if (!(bytes >= 0 && Number.isFinite(bytes))) throw new ZcollError('EINVAL', `simulate: bytes must be a finite number >= 0, got ${bytes}`);
  const gamma = params.gammaSPerByte ?? 0;
  const chunkBytes = s.nchunks > 0 ? bytes / s.nchunks : 0;
  const perStep: number[] = [];
  let total = 0;
  for (let step = 0; step < s.steps; step++) {
    const stepTime = p.busy[step] === 1 ? params.alphaS + chunkBytes * p.wire[step] + gamma * chunkBytes * p.reduces[step] : 0;
    if (params.perStep === true) perStep.push(stepTime);
    total += stepTime;
  }
  const algbw = total > 0 ? bytes / total : Infinity;
  return {
    timeS: total,
    algbw,
    busbw: algbw * busbwFactor(s.collective, s.nranks),
    steps: s.steps,
    ...(params.perStep === true ? { perStep } : {}),
  };
}

export function simulate(s: Schedule, topo: Topology, bytes: number, params: SimParams): SimResult {
  checkInputs(s, topo, params);
  if (!(bytes >= 0 && Number.isFinite(bytes))) throw new ZcollError('EINVAL', `simulate: bytes must be a finite number >= 0, got ${bytes}`);
  if (params.model === 'pipelined') return onLine(s, pipelinedCostLine(s, topo, params), bytes);
  return costAt(s, profile(s, topo, params.betaSPerByte), bytes, params);
}

/** A result from a cost line (the pipelined model has no per-step times). */
function onLine(s: Schedule, line: CostLine, bytes: number): SimResult {
  if (!(bytes >= 0 && Number.isFinite(bytes))) throw new ZcollError('EINVAL', `simulate: bytes must be a finite number >= 0, got ${bytes}`);
  const timeS = s.transfers.length > 0 ? timeOnLine(line, bytes) : 0;
  const algbw = timeS > 0 ? bytes / timeS : Infinity;
  return { timeS, algbw, busbw: algbw * busbwFactor(s.collective, s.nranks), steps: s.steps };
}

/**
 * The lockstep time is affine in the size: every busy step costs alpha + chunkBytes * (wire +
 * gamma * reduces) with chunkBytes = bytes / nchunks, so timeS(bytes) = fixedS + perByteS * bytes
 * (up to rounding). The pipelined one adds its stages (sim-params.ts, CostLine: affine below and
 * above one segment per chunk). One profile gives the line; timeOnLine then costs any size in
 * O(stages), so choosing among schedules takes O(candidates) per size (choose.ts).
 */

export function costLine(s: Schedule, topo: Topology, params: SimParams): CostLine {
  checkInputs(s, topo, params);
  if (params.model === 'pipelined') return pipelinedCostLine(s, topo, params);
  const p = profile(s, topo, params.betaSPerByte);
  const gamma = params.gammaSPerByte ?? 0;
  let fixedS = 0;
  let perChunkByte = 0;
  for (let step = 0; step < s.steps; step++) {
    if (p.busy[step] !== 1) continue;
    fixedS += params.alphaS;
    perChunkByte += p.wire[step] + gamma * p.reduces[step];
  }
  return { fixedS, perByteS: s.nchunks > 0 ? perChunkByte / s.nchunks : 0 };
}

/** simulate() for many sizes at once: the schedule is routed and loaded once. */
export function simulateSizes(s: Schedule, topo: Topology, sizes: readonly number[], params: SimParams): SimResult[] {
  checkInputs(s, topo, params);
  if (params.model === 'pipelined') {
    const line = pipelinedCostLine(s, topo, params);
    return sizes.map((bytes) => onLine(s, line, bytes));
  }
  const p = profile(s, topo, params.betaSPerByte);
  return sizes.map((bytes) => costAt(s, p, bytes, params));
}
