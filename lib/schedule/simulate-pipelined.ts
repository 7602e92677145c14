/**
 * Pipelined cost model: what a schedule costs on the dependency-driven executor (execute.ts), which
 * cuts every chunk into segments and sends a segment as soon as its own deps have landed, so a
 * schedule's steps overlap instead of running in lockstep. The time is
 *   latency + reduction + max over resources r of (head_r + busy_r + tail_r)
 * with
 *   - latency: alpha per message, on the longest dependency chain (a segment must cross it) or at
 *     the busiest rank (it sends or receives its messages one after the other), whichever is more;
 *   - reduction: gamma * the most bytes reduced at one rank (the bandwidth and reduction of one rank
 *     overlap in practice; adding them stays on the slow side);
 *   - busy_r: what resource r carries over the whole schedule: a link carrying transfers of b_i
 *     bytes is busy sum_i b_i / (multiplicity * bw), a rank's port likewise for what it sends
 *     (sendCap lanes) and receives (recvCap lanes);
 *   - head_r + tail_r: the pipeline's fill and drain around r, in segments: before r's first segment
 *     can arrive, the hops on the way to it, and after r's last one, the hops still to go, each hop
 *     one segment (min(chunk, segmentBytes)) at its slowest resource. The head is the least over r's
 *     transfers of their earliest start, the tail the least of their remaining path: a bound from
 *     below on each, so the sum holds for whichever transfer r serves last.
 * Why the fill matters: the executor sends a chunk one segment at a time, so a 1 MiB binomial tree
 * (one chunk, 1 MiB segments) crosses the hosts' link up, then down, each a whole buffer: measured
 * 17.7 MB/s busbw on 2 hosts x 2 at 200 Mbit/s (2 D/R), where the model without fill said 36 (D/R).
 * A ring fills nothing: each link is busy from the first step to the last.
 * Only hops between switches (hosts) count in the fill. Inside one, the default model's alpha and
 * beta are not calibrated to charge it: on one host, 4 ranks on 2 cores, 128 KiB (shared memory),
 * the binomial tree took 1133 us and the ring 1410 (zcoll bench -n 200, 2026-12-07), yet with a
 * same-host fill the model (beta 1 GB/s, alpha 100 us where a wake-up on a shared core costs more)
 * would move 128-512 KiB on 3-16 ranks from the tree to the ring.
 * The port a transfer uses is priced by where it goes: to a rank on the same switch (host) at the
 * port's bandwidth (shared memory, ipc), to another switch at the rank's transport rate (beta, TCP
 * between Node processes, ~1 GB/s) when that is slower: a lone rank on a host pushes all of its
 * host's cross-host bytes through its own transport, whatever the NIC could take.
 * The lockstep model (simulate.ts) charges every step its slowest transfer: right for schedules
 * whose steps are each one full round of every link (ring), wrong by up to lg n for trees, whose
 * steps leave most links idle, and the executor overlaps them (measured on 2 hosts x 2 ranks at
 * 200 Mbit/s: binomial tree 34.3 MB/s busbw at 64 MiB, ring 22.2, as this model predicts).
 * Routes as in simulate.ts (a transfer's path, else the deterministic shortest route). Every
 * dependency is costed as one segment (a dep on another chunk waits for that chunk whole in the
 * executor; no builder here has one on a path that matters). O(transfers * hops) once per
 * (schedule, topology); then O(stages) per size (timeOnLine).
 */
import { ZcollError } from '../errors.js';
import type { Topology } from '../cluster/topology.js';
import { linkBetween, routeLinks } from '../cluster/topology-routes.js';
import type { CostLine, PipelineStage, SimParams } from './sim-params.js';
import type { Schedule } from './types.js';

/** Transfers on the longest dependency chain (each one hop a segment must wait for). */
export function criticalPathLength(s: Schedule): number {
  const depth = new Int32Array(s.transfers.length);
  let longest = 0;
  for (const id of stepOrder(s)) {
    let d = 0;
    for (const dep of s.transfers[id].deps) d = Math.max(d, depth[dep]);
    depth[id] = d + 1;
    longest = Math.max(longest, d + 1);
  }
  return longest;
}

/** Transfer ids by step: a dep is always at an earlier step (verify.ts), so every dep comes first. */
function stepOrder(s: Schedule): number[] {
  return s.transfers.map((t) => t.id).sort((a, b) => s.transfers[a].step - s.transfers[b].step || a - b);
}

export function pipelinedCostLine(s: Schedule, topo: Topology, params: SimParams): CostLine {
  const n = s.nranks;
  const m = s.transfers.length;
  const linkSec = topo.links.map((l) => (l.bandwidth !== undefined ? 1 / l.bandwidth : params.betaSPerByte));
  const portSec = Array.from({ length: n }, (_, v) => (topo.portBandwidth !== undefined ? 1 / topo.portBandwidth[v] : params.betaSPerByte));
  const linkLoad = new Float64Array(topo.links.length);
  const sendBusy = new Float64Array(n);
  const recvBusy = new Float64Array(n);
  const sends = new Float64Array(n);
  const recvs = new Float64Array(n);
  const reduced = new Float64Array(n);
  // Per transfer: its links, and one byte's time at its slowest resource (a segment's hop time).
  const routes: number[][] = [];
  const hopSec = new Float64Array(m);
  for (const t of s.transfers) {
    let ids: number[];
    if (t.path !== undefined) {
      ids = [];
      for (let h = 0; h + 1 < t.path.length; h++) {
        const id = linkBetween(topo, t.path[h], t.path[h + 1]);
        if (id < 0) throw new ZcollError('EINVAL', `simulate: transfer ${t.id} hops ${t.path[h]} -> ${t.path[h + 1]}, not a link of the topology`);
        ids.push(id);
      }
    } else ids = routeLinks(topo, t.src, t.dst);
    routes[t.id] = ids;
    const across = topo.attach[t.src] !== topo.attach[t.dst];
    const srcSec = across ? Math.max(portSec[t.src], params.betaSPerByte) : portSec[t.src];
    const dstSec = across ? Math.max(portSec[t.dst], params.betaSPerByte) : portSec[t.dst];
    let hop = Math.max(srcSec, dstSec);
    for (const id of ids) {
      linkLoad[id]++;
      hop = Math.max(hop, linkSec[id]);
    }
    // Fill only between switches (see the header: on one host alpha and beta are not calibrated for it).
    hopSec[t.id] = across ? hop : 0;
    sendBusy[t.src] += srcSec;
    recvBusy[t.dst] += dstSec;
    sends[t.src]++;
    recvs[t.dst]++;
    if (t.kind === 'reduce') reduced[t.dst]++;
  }
  // Earliest start (head) and remaining path (tail) of every transfer, in seconds per segment byte.
  const order = stepOrder(s);
  const head = new Float64Array(m);
  for (const id of order) for (const dep of s.transfers[id].deps) head[id] = Math.max(head[id], head[dep] + hopSec[dep]);
  const tail = new Float64Array(m);
  for (let i = order.length - 1; i >= 0; i--) {
    const id = order[i];
    for (const dep of s.transfers[id].deps) tail[dep] = Math.max(tail[dep], hopSec[id] + tail[id]);
  }
  // Per resource: busy seconds per chunk byte, least head and least tail of the transfers using it.
  const links = topo.links.length;
  const resources = links + 2 * n; // links, then send ports, then receive ports
  const leastHead = new Float64Array(resources).fill(Infinity);
  const leastTail = new Float64Array(resources).fill(Infinity);
  const touch = (r: number, id: number): void => {
    leastHead[r] = Math.min(leastHead[r], head[id]);
    leastTail[r] = Math.min(leastTail[r], tail[id]);
  };
  for (const t of s.transfers) {
    for (const id of routes[t.id]) touch(id, t.id);
    touch(links + t.src, t.id);
    touch(links + n + t.dst, t.id);
  }
  const busy = (r: number): number =>
    r < links ? (linkLoad[r] / topo.links[r].multiplicity) * linkSec[r] : r < links + n ? sendBusy[r - links] / topo.sendCap[r - links] : recvBusy[r - links - n] / topo.recvCap[r - links - n];
  const perChunk = s.nchunks > 0 ? 1 / s.nchunks : 0;
  const all: PipelineStage[] = [];
  for (let r = 0; r < resources; r++) {
    const b = busy(r);
    if (b > 0) all.push({ busySPerByte: b * perChunk, fillSPerByte: leastHead[r] + leastTail[r] });
  }
  // Only stages that can be the worst at some size: none busier and no more filled than another.
  all.sort((a, b) => b.busySPerByte - a.busySPerByte || b.fillSPerByte - a.fillSPerByte);
  const stages: PipelineStage[] = [];
  for (const st of all) if (stages.length === 0 || st.fillSPerByte > stages[stages.length - 1].fillSPerByte) stages.push(st);
  let mostReduced = 0;
  let messages = 0;
  for (let v = 0; v < n; v++) {
    mostReduced = Math.max(mostReduced, reduced[v]);
    messages = Math.max(messages, sends[v], recvs[v]);
  }
  return {
    fixedS: params.alphaS * Math.max(criticalPathLength(s), messages),
    perByteS: (params.gammaSPerByte ?? 0) * mostReduced * perChunk,
    pipeline: { nchunks: s.nchunks, segmentBytes: params.segmentBytes ?? 0, stages },
  };
}
