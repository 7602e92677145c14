/**
 * Pipelined cost model: what a schedule costs on the dependency-driven executor (execute.ts), which
 * cuts every chunk into segments and sends a segment as soon as its own deps have landed, so a
 * schedule's steps overlap instead of running in lockstep. The time is then bounded by
 *   - latency: alpha per message, on the longest dependency chain (a segment must cross it) or at
 *     the busiest rank (it sends or receives its messages one after the other), whichever is more;
 *   - bandwidth: the busiest resource over the whole schedule: a link carrying transfers of b_i
 *     bytes over its whole run is busy sum_i b_i / (multiplicity * bw), a rank's port likewise for
 *     what it sends (sendCap lanes) and receives (recvCap lanes);
 *   - reduction: gamma * the most bytes reduced at one rank;
 * and this model charges latency + bandwidth + reduction (the bandwidth and reduction of one rank
 * overlap in practice; adding them stays on the slow side). The lockstep model (simulate.ts) charges
 * every step its slowest transfer: right for schedules whose steps are each one full round of every
 * link (ring), wrong by up to lg n for trees, whose steps leave most links idle, and the executor
 * overlaps them (measured on 2 hosts x 2 ranks at 200 Mbit/s: binomial tree 34.3 MB/s busbw, ring
 * 22.2, as this model predicts and the lockstep one does not). The fill of the pipeline (one segment
 * per hop) is left out: it is what the latency term's alpha per hop stands for.
 * Routes as in simulate.ts (a transfer's path, else the deterministic shortest route). Affine in the
 * size, like the lockstep model: O(transfers * hops) once per (schedule, topology).
 */
import { ZcollError } from '../errors.js';
import type { Topology } from '../cluster/topology.js';
import { linkBetween, routeLinks } from '../cluster/topology-routes.js';
import type { CostLine, SimParams } from './sim-params.js';
import type { Schedule } from './types.js';

/** Transfers on the longest dependency chain (each one hop a segment must wait for). */
export function criticalPathLength(s: Schedule): number {
  const depth = new Int32Array(s.transfers.length);
  // A dep is always at an earlier step (verify.ts), so in step order every dep is done first.
  const order = s.transfers.map((t) => t.id).sort((a, b) => s.transfers[a].step - s.transfers[b].step || a - b);
  let longest = 0;
  for (const id of order) {
    let d = 0;
    for (const dep of s.transfers[id].deps) d = Math.max(d, depth[dep]);
    depth[id] = d + 1;
    longest = Math.max(longest, d + 1);
  }
  return longest;
}

export function pipelinedCostLine(s: Schedule, topo: Topology, params: SimParams): CostLine {
  const n = s.nranks;
  const linkSec = topo.links.map((l) => (l.bandwidth !== undefined ? 1 / l.bandwidth : params.betaSPerByte));
  const portSec = Array.from({ length: n }, (_, v) => (topo.portBandwidth !== undefined ? 1 / topo.portBandwidth[v] : params.betaSPerByte));
  const linkLoad = new Float64Array(topo.links.length);
  const sends = new Float64Array(n);
  const recvs = new Float64Array(n);
  const reduced = new Float64Array(n);
  for (const t of s.transfers) {
    if (t.path !== undefined) {
      for (let h = 0; h + 1 < t.path.length; h++) {
        const id = linkBetween(topo, t.path[h], t.path[h + 1]);
        if (id < 0) throw new ZcollError('EINVAL', `simulate: transfer ${t.id} hops ${t.path[h]} -> ${t.path[h + 1]}, not a link of the topology`);
        linkLoad[id]++;
      }
    } else for (const id of routeLinks(topo, t.src, t.dst)) linkLoad[id]++;
    sends[t.src]++;
    recvs[t.dst]++;
    if (t.kind === 'reduce') reduced[t.dst]++;
  }
  // Busy seconds per byte of one chunk, for the busiest resource.
  let wire = 0;
  linkLoad.forEach((load, id) => (wire = Math.max(wire, (load / topo.links[id].multiplicity) * linkSec[id])));
  let mostReduced = 0;
  for (let v = 0; v < n; v++) {
    wire = Math.max(wire, (sends[v] / topo.sendCap[v]) * portSec[v], (recvs[v] / topo.recvCap[v]) * portSec[v]);
    mostReduced = Math.max(mostReduced, reduced[v]);
  }
  const perChunkByte = wire + (params.gammaSPerByte ?? 0) * mostReduced;
  let messages = 0;
  for (let v = 0; v < n; v++) messages = Math.max(messages, sends[v], recvs[v]);
  return { fixedS: params.alphaS * Math.max(criticalPathLength(s), messages), perByteS: s.nchunks > 0 ? perChunkByte / s.nchunks : 0 };
}
