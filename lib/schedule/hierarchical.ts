/**
 * Host-aware ("hierarchical", two-level) all-reduce: reduce-scatter inside each host, the
 * bandwidth-optimal ring across hosts run by every local rank at once on its own share, all-gather
 * inside each host (Horovod's hierarchical all-reduce and NCCL's multi-NIC tree, but with all G local
 * ranks driving the cross-host exchange in parallel instead of one local root).
 *
 * Hosts h = 0..H-1 with members M_h (ascending ranks, G_h of them; uneven G_h allowed). The buffer
 * is cut into S = max_h G_h slices and every slice into H chunks: chunk s*H + k is piece k of slice s
 * (nchunks = S*H). On host h, slice s is owned by member M_h[s mod G_h], so on a full host every
 * local rank owns one slice and on a smaller host some own several.
 *  1. Intra-host reduce-scatter (step 0): every member sends its partial of each slice it does not
 *     own straight to that slice's owner on its host (same-host links: shared memory or ipc).
 *  2. Cross-host ring (steps 1..2(H-1)): for every slice s the owners P_s = (owner(0,s), ...,
 *     owner(H-1,s)) run the ring all-reduce of ring.ts over the H chunks of that slice. The S rings
 *     run at once, so a host's G_h local ranks share its NIC; each moves 2(H-1)/H of its slice.
 *  3. Intra-host all-gather (last step): each owner copies its finished slice to the other members.
 * Bytes leaving a host: 2(H-1)/H * D, the all-reduce minimum for H hosts on one NIC each (D for
 * 2 hosts, against 2(n-1)/n * D leaving a host on the flat ring when ranks are grouped by host, 1.5 D
 * at 2 hosts x 2). Steps: 2(H-1) + 2, against the flat ring's 2(n-1).
 * Every chunk is reduced along one fixed path (members into the owner in id order, then the ring)
 * and copied from there, so all ranks end bitwise identical.
 */
import { ZcollError } from '../errors.js';
import type { Topology } from '../cluster/topology.js';
import { chunkSpan } from './partition.js';
import type { Schedule, Transfer } from './types.js';

/** The members of each host, ascending ranks; hosts ordered by their lowest rank. */
export function hostGroups(hostOf: readonly number[]): number[][] {
  const byKey = new Map<number, number[]>();
  hostOf.forEach((h, r) => {
    if (!Number.isInteger(h) || h < 0) throw new ZcollError('EINVAL', `buildHierarchical: host of rank ${r} must be an integer >= 0, got ${String(h)}`);
    const g = byKey.get(h);
    if (g === undefined) byKey.set(h, [r]);
    else g.push(r);
  });
  return [...byKey.values()];
}

/**
 * Which host each rank is on, as the topology models it: ranks attached to the same switch share a
 * host (hierarchical: the host switch; switch: all one host; torus, mesh, links: a host per rank).
 */
export function hostsOfTopology(t: Topology): number[] {
  return [...t.attach];
}

export function buildHierarchical(hostOf: readonly number[]): Schedule {
  const n = hostOf.length;
  if (n < 1) throw new ZcollError('EINVAL', 'buildHierarchical: needs at least one rank');
  const hosts = hostGroups(hostOf);
  const H = hosts.length;
  const S = Math.max(...hosts.map((g) => g.length));
  const nchunks = S * H;
  const owner = (h: number, s: number): number => hosts[h][s % hosts[h].length];
  const transfers: Transfer[] = [];
  // Per (rank, chunk): the reduces that landed there so far, and the copy that brought the result.
  const reducesInto = new Map<number, number[]>();
  const copyInto = new Map<number, number>();
  const key = (rank: number, chunk: number): number => rank * nchunks + chunk;
  const reducesAt = (rank: number, chunk: number): number[] => reducesInto.get(key(rank, chunk)) ?? [];
  // What must have landed at `rank` before it sends chunk on: the copy of the result if one came,
  // else every partial reduced into it.
  const readyAt = (rank: number, chunk: number): number[] => {
    const c = copyInto.get(key(rank, chunk));
    return c !== undefined ? [c] : [...reducesAt(rank, chunk)];
  };
  const push = (step: number, src: number, dst: number, chunk: number, kind: 'reduce' | 'copy', tree: number): void => {
    const id = transfers.length;
    transfers.push({ id, step, src, dst, chunk, kind, deps: readyAt(src, chunk), tree });
    if (kind === 'reduce') {
      const k = key(dst, chunk);
      const list = reducesInto.get(k);
      if (list === undefined) reducesInto.set(k, [id]);
      else list.push(id);
    } else copyInto.set(key(dst, chunk), id);
  };
  const intra = hosts.some((g) => g.length > 1);
  let step = 0;
  const mod = (a: number): number => ((a % H) + H) % H;
  if (intra) {
    // In the order the cross-host ring consumes the pieces: host h's owners send piece h-1 first,
    // then h-2, ... (ring.ts), and every slice's owner needs its first piece at once. The executor
    // posts the step's sends in id order, one FIFO per peer, so slice by slice with piece 0 first
    // left the owners of the last slices, and every owner of a host whose first piece is not 0,
    // idle until the rest had crossed shared memory: on 3+1 at 64 MiB (200 Mbit/s) host 0's link
    // carried ~1 MiB instead of ~9 in the first 400 ms, and the all-reduce ended 170 ms after the tree's.
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < H; i++) {
        const k = mod(h - 1 - i);
        for (let s = 0; s < S; s++) {
          const o = owner(h, s);
          for (const m of hosts[h]) if (m !== o) push(step, m, o, s * H + k, 'reduce', s);
        }
      }
    }
    step++;
  }
  if (H > 1) {
    // Reduce-scatter then all-gather of ring.ts, position p = host p, for every slice in the same step.
    for (let i = 0; i < H - 1; i++, step++) {
      for (let s = 0; s < S; s++) {
        for (let p = 0; p < H; p++) push(step, owner(p, s), owner(mod(p + 1), s), s * H + mod(p - 1 - i), 'reduce', s);
      }
    }
    for (let j = 0; j < H - 1; j++, step++) {
      for (let s = 0; s < S; s++) {
        for (let p = 0; p < H; p++) push(step, owner(p, s), owner(mod(p + 1), s), s * H + mod(p - j), 'copy', s);
      }
    }
  }
  if (intra) {
    for (let h = 0; h < H; h++) {
      for (let s = 0; s < S; s++) {
        const o = owner(h, s);
        for (const m of hosts[h]) if (m !== o) for (let k = 0; k < H; k++) push(step, o, m, s * H + k, 'copy', s);
      }
    }
    step++;
  }
  return { algorithm: 'hierarchical', collective: 'allreduce', nranks: n, nchunks, steps: step, transfers };
}

/**
 * Bytes each host sends to other hosts in one all-reduce of `count` elements of `elemBytes`, from
 * the schedule alone (chunk sizes as partition.ts cuts them): what a host's NIC carries outbound.
 */
export function bytesLeavingHosts(s: Schedule, hostOf: readonly number[], count: number, elemBytes: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of s.transfers) {
    const from = hostOf[t.src];
    if (from === hostOf[t.dst]) continue;
    out.set(from, (out.get(from) ?? 0) + chunkSpan(count, s.nchunks, t.chunk).length * elemBytes);
  }
  return out;
}
