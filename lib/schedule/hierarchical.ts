/**
 * Host-aware ("hierarchical", two-level) all-reduce: reduce-scatter inside each host, the
 * bandwidth-optimal ring across hosts run by S local ranks of every host at once, each on its own
 * share, all-gather inside each host (Horovod's hierarchical all-reduce and NCCL's multi-NIC tree,
 * but with several local ranks driving the cross-host exchange in parallel instead of one local root).
 *
 * Hosts h = 0..H-1 with members M_h (ascending ranks, G_h of them; uneven G_h allowed). There are
 * S = min_h G_h cross-host streams: stream s runs between the owners o_h(s) = M_h[s], one per host,
 * so every host sends S streams and the smallest host's every rank drives one. Why the smallest and
 * not the largest host: with S = max G_h, on hosts of 3 and 1 ranks (200 Mbit/s, bench/hosts-netns)
 * the three streams of host 0 all ended at the lone rank 3 and shared its TCP connections unevenly,
 * the last stream finishing alone: 32.0 MB/s busbw at 64 MiB against the binomial tree's 34.6; one
 * stream measured 35.2 (bench/results/hosts-netns.md, sittings C and F).
 * On a larger host the other ranks take the reduction off the owners: every piece of the buffer is
 * reduced on its host by a reducer r, a member other than its stream's owner (the G_h - S helpers
 * first, then the other streams' owners), and the owner only adds the reducer's sum, or hands the
 * cross-host partial on to it (on a host of S ranks, r is the owner).
 *
 * The buffer is cut into S streams x H pieces x Q sub-pieces, chunk (s*H + k)*Q + q; a stream's H*Q
 * (piece, sub-piece) pairs go round its reducers in turn, Q the least that shares them evenly (see
 * subPieces). Piece k of every stream ends reduced on host k. On host h, for a chunk of stream s, piece k,
 * owner o and reducer r:
 *  1. Intra-host reduce-scatter (step 0): every member but o and r sends its partial to r.
 *     If r != o, then (step 1) r adds its sum into o, for every piece but k = h.
 *  2. Cross-host ring (ring.ts, position p = host p, per stream and sub-piece), reduce-scatter half:
 *     o sends piece h-1 first, then each piece it received, reduced.
 *  3. Piece h, the one that ends on host h (only if r != o): o adds the partial that came across
 *     into its own and hands it to r, which then holds the result; r copies it to o and to the other
 *     members. So o reduces one partial per piece (the reducer's sum, or the one from across), not
 *     G_h - 1 of them, and its own stream costs its ports D/S each way inside the host, whatever G_h
 *     (the least: the host's sum of what it sends, or the result, must come in; the rest go out).
 *  4. Cross-host ring, all-gather half.
 *  5. Intra-host all-gather: o copies every other piece to r, and r to the other members.
 * With no helpers anywhere (every host the same size: 2x2, 2x3, 4x1, one host), Q = 1, r = o and
 * steps 1, 3 and the second half of 5 do not exist: members send straight to the owner, which
 * copies the result straight back (the schedule this file built before helpers, transfer for transfer).
 * Bytes leaving a host: 2(H-1)/H * D, the all-reduce minimum for H hosts on one NIC each (D for
 * 2 hosts, against 2(n-1)/n * D leaving a host on the flat ring when ranks are grouped by host, 1.5 D
 * at 2 hosts x 2). Steps: 2(H-1) + 2, plus 4 with helpers, against the flat ring's 2(n-1).
 * Every chunk is reduced along one fixed tree and copied from its root, so all ranks end bitwise identical.
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

/**
 * Sub-pieces Q per (stream, piece): the least Q for which the H*Q (piece, sub-piece) pairs of a
 * stream split evenly over every stream's reducers (H*Q a multiple of every reducer count), so each
 * reducer gets as many; Q = 1 where the pieces already do (3+1: two helpers, two pieces). Every
 * sub-piece is one more message per hop for the owners, which is what costs at 1 MiB (alpha 100 us
 * per message in the model; 3+1 with Q = 2: 8 messages at the owner against the ring's 6, and
 * 'auto' kept the ring there). Above MAX_SUB_PIECES (many hosts of coprime sizes): the largest
 * count, and the reducers of smaller groups take turns unevenly.
 */
const MAX_SUB_PIECES = 12;
function subPieces(counts: readonly number[], pieces: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let l = 1;
  for (const c of counts) l = (l / gcd(l, c)) * c;
  const q = l / gcd(l, pieces);
  return q <= MAX_SUB_PIECES ? q : Math.max(...counts);
}

export function buildHierarchical(hostOf: readonly number[]): Schedule {
  const n = hostOf.length;
  if (n < 1) throw new ZcollError('EINVAL', 'buildHierarchical: needs at least one rank');
  const hosts = hostGroups(hostOf);
  const H = hosts.length;
  const S = Math.min(...hosts.map((g) => g.length));
  const owner = (h: number, s: number): number => hosts[h][s];
  // reducers[h][s]: on a host of S ranks, the owner of stream s alone; on a larger one, every member
  // but that owner, the helpers (M_h[S..]) first: each owner carries its own stream's reduce and
  // cross-host traffic, so it takes a share of the others' reduction only where helpers are too few
  // (3+2 with the helper serving stream 0 only: the owner of stream 1 reduced 1.25 D, the others 0.75;
  // with every non-owner: 0.75, 0.75, 1.0).
  const reducers = hosts.map((g) =>
    Array.from({ length: S }, (_, s) => (g.length === S ? [g[s]] : [...g.slice(S), ...g.slice(0, S).filter((_, j) => j !== s)])),
  );
  const Q = subPieces(reducers.flat().map((rs) => rs.length), H);
  const nchunks = S * H * Q;
  const chunkOf = (s: number, k: number, q: number): number => (s * H + k) * Q + q;
  // The H*Q (piece, sub-piece) pairs of a stream go round the reducers in turn.
  const reducer = (h: number, s: number, k: number, q: number): number => reducers[h][s][(k * Q + q) % reducers[h][s].length];
  const helped = hosts.some((g) => g.length > S);
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
  // Pieces in the order host h's owners consume them: h-1 first (sent at the ring's first step), then h-2, ...
  const piecesInRingOrder = (h: number): number[] => Array.from({ length: H }, (_, i) => mod(h - 1 - i));
  if (intra) {
    // In the order the cross-host ring consumes the pieces: host h's owners send piece h-1 first,
    // then h-2, ... (ring.ts), and every stream's owner needs its first piece at once. The executor
    // posts the step's sends in id order, one FIFO per peer, so slice by slice with piece 0 first
    // left the owners of the last slices, and every owner of a host whose first piece is not 0,
    // idle until the rest had crossed shared memory: on 3+1 at 64 MiB (200 Mbit/s) host 0's link
    // carried ~1 MiB instead of ~9 in the first 400 ms, and the all-reduce ended 170 ms after the tree's.
    for (let h = 0; h < H; h++) {
      for (const k of piecesInRingOrder(h)) {
        for (let s = 0; s < S; s++) {
          const o = owner(h, s);
          for (let q = 0; q < Q; q++) {
            const r = reducer(h, s, k, q);
            for (const m of hosts[h]) if (m !== o && m !== r) push(step, m, r, chunkOf(s, k, q), 'reduce', s);
          }
        }
      }
    }
    step++;
  }
  if (helped) {
    // The reducer's sum into the owner, for every piece the owner sends across before its end.
    for (let h = 0; h < H; h++) {
      for (const k of piecesInRingOrder(h)) {
        if (H > 1 && k === h) continue;
        for (let s = 0; s < S; s++) {
          for (let q = 0; q < Q; q++) {
            const r = reducer(h, s, k, q);
            if (r !== owner(h, s)) push(step, r, owner(h, s), chunkOf(s, k, q), 'reduce', s);
          }
        }
      }
    }
    step++;
  }
  if (H > 1) {
    // Reduce-scatter then all-gather of ring.ts, position p = host p, for every stream in the same step.
    for (let i = 0; i < H - 1; i++, step++) {
      for (let s = 0; s < S; s++) {
        for (let q = 0; q < Q; q++) {
          for (let p = 0; p < H; p++) push(step, owner(p, s), owner(mod(p + 1), s), chunkOf(s, mod(p - 1 - i), q), 'reduce', s);
        }
      }
    }
    if (helped) {
      // Piece h on host h: the owner hands the partial that came across, plus its own, to the reducer,
      // which adds the host's sum and holds the result; it copies the result back to the owner (which
      // sends it across next) and to the other members.
      for (let h = 0; h < H; h++) {
        for (let s = 0; s < S; s++) {
          for (let q = 0; q < Q; q++) {
            const r = reducer(h, s, h, q);
            if (r !== owner(h, s)) push(step, owner(h, s), r, chunkOf(s, h, q), 'reduce', s);
          }
        }
      }
      step++;
      for (let h = 0; h < H; h++) {
        for (let s = 0; s < S; s++) {
          const o = owner(h, s);
          for (let q = 0; q < Q; q++) {
            const r = reducer(h, s, h, q);
            if (r === o) continue;
            push(step, r, o, chunkOf(s, h, q), 'copy', s);
            for (const m of hosts[h]) if (m !== o && m !== r) push(step, r, m, chunkOf(s, h, q), 'copy', s);
          }
        }
      }
      step++;
    }
    for (let j = 0; j < H - 1; j++, step++) {
      for (let s = 0; s < S; s++) {
        for (let q = 0; q < Q; q++) {
          for (let p = 0; p < H; p++) push(step, owner(p, s), owner(mod(p + 1), s), chunkOf(s, mod(p - j), q), 'copy', s);
        }
      }
    }
  }
  if (intra) {
    // The owner copies each piece that ended elsewhere to its reducer, or, with no helper, to every member.
    for (let h = 0; h < H; h++) {
      for (let s = 0; s < S; s++) {
        const o = owner(h, s);
        for (let q = 0; q < Q; q++) {
          for (const m of hosts[h]) {
            if (m === o) continue;
            for (let k = 0; k < H; k++) {
              const r = reducer(h, s, k, q);
              if (r === o || (m === r && k !== h)) push(step, o, m, chunkOf(s, k, q), 'copy', s);
            }
          }
        }
      }
    }
    step++;
  }
  if (helped) {
    for (let h = 0; h < H; h++) {
      for (let s = 0; s < S; s++) {
        const o = owner(h, s);
        for (let q = 0; q < Q; q++) {
          for (const m of hosts[h]) {
            if (m === o) continue;
            for (let k = 0; k < H; k++) {
              const r = reducer(h, s, k, q);
              if (r !== o && m !== r && k !== h) push(step, r, m, chunkOf(s, k, q), 'copy', s);
            }
          }
        }
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
