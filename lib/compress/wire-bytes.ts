/**
 * Bytes on the wire of one majority-vote round of d signs among M ranks, per mode (payload only; the
 * transport adds a header per message). A packed message is W = ceil(d/32) words = 4W bytes (d/8
 * nominal). Modes [issue 5]:
 *   'server'    every worker sends its bits to the server rank, which also votes (it counts itself,
 *               as the reference does), votes and sends the 1-bit result back: a worker sends d/8 up
 *               and receives d/8 down; the server receives and sends (M-1)·d/8. Trusts the server.
 *   'allgather' every rank sends its own bits directly to every other rank (never relayed) and
 *               votes locally: each rank sends and receives (M-1)·d/8. Trusts no one: a Byzantine
 *               rank controls only its own vote.
 *   'reduce'    the signs cut into M chunks of K = ceil(W/M) words; an all-to-all sends chunk j of
 *               every rank straight to rank j, which votes it, and a direct all-gather spreads the
 *               chunk votes: each rank sends and receives 2·(M-1)·4K bytes, about 2(M-1)/M·d/8 (the
 *               same as 'allgather' at M = 2, fewer from M = 3 on, and below 2·d/8 at any M). Every
 *               rank decides the vote of its chunk: refused in Byzantine mode.
 * For comparison, float32 ring all-reduce moves 2·(M-1)/M·4d bytes each way per rank: the ratio to
 * 'allgather' is 64/M.
 */
import { ZcollError } from '../errors.js';
import { chunkSpan } from '../schedule/partition.js';
import { packedBytes, packedWords } from './sign.js';

export const SIGN_VOTE_MODES = ['server', 'allgather', 'reduce'] as const;
export type SignVoteMode = (typeof SIGN_VOTE_MODES)[number];

export interface RankWireBytes {
  readonly rank: number;
  readonly sent: number;
  readonly received: number;
}

export interface VoteWireBytes {
  readonly mode: SignVoteMode;
  readonly d: number;
  readonly ranks: number;
  /** Exact payload bytes per rank (index = rank). */
  readonly perRank: readonly RankWireBytes[];
  /** Sum of bytes sent over all ranks (= sum received). */
  readonly total: number;
}

export interface VoteWireOptions {
  /** 'server': the server rank (default 0). */
  server?: number;
}

/** Exact payload bytes of one vote round; see the file comment for the formulas. */
export function signVoteWireBytes(mode: SignVoteMode, d: number, ranks: number, opts: VoteWireOptions = {}): VoteWireBytes {
  check(d, ranks);
  const m = ranks;
  const msg = packedBytes(d);
  const perRank: RankWireBytes[] = [];
  if (mode === 'server') {
    const server = opts.server ?? 0;
    if (!Number.isInteger(server) || server < 0 || server >= m) {
      throw new ZcollError('EINVAL', `option 'server' must be a rank in [0, ${m}), got ${String(server)}`, { op: 'signVoteWireBytes' });
    }
    for (let r = 0; r < m; r++) {
      const bytes = r === server ? (m - 1) * msg : msg;
      perRank.push({ rank: r, sent: bytes, received: bytes });
    }
  } else if (mode === 'allgather') {
    for (let r = 0; r < m; r++) perRank.push({ rank: r, sent: (m - 1) * msg, received: (m - 1) * msg });
  } else if (mode === 'reduce') {
    // Every chunk is K words (the signs are padded to M·K), so every rank sends and receives alike.
    const bytes = reduceVoteBytes(d, m);
    for (let r = 0; r < m; r++) perRank.push({ rank: r, sent: bytes, received: bytes });
  } else {
    throw new ZcollError('EINVAL', `vote mode must be one of ${SIGN_VOTE_MODES.join(', ')}, got ${JSON.stringify(mode)}`, {
      op: 'signVoteWireBytes',
    });
  }
  return { mode, d, ranks: m, perRank, total: perRank.reduce((s, p) => s + p.sent, 0) };
}

/**
 * Exact payload bytes per rank of a ring all-reduce of d elements of `bytesPerElement` (float32: 4),
 * chunked by chunkSpan over d: rank r sends every chunk but r (reduce-scatter) and every chunk but
 * r+1 (all-gather).
 */
export function ringAllreduceWireBytes(d: number, ranks: number, bytesPerElement = 4): RankWireBytes[] {
  check(d, ranks);
  const m = ranks;
  const len = (k: number): number => chunkSpan(d, m, ((k % m) + m) % m).length;
  const out: RankWireBytes[] = [];
  for (let r = 0; r < m; r++) {
    if (m === 1) {
      out.push({ rank: r, sent: 0, received: 0 });
      continue;
    }
    const sent = bytesPerElement * (2 * d - len(r) - len(r + 1));
    const received = bytesPerElement * (2 * d - len(r - 1) - len(r));
    out.push({ rank: r, sent, received });
  }
  return out;
}

/** The nominal formulas of the issue, in bytes per rank received (no rounding to words). */
export function nominalVoteBytesReceived(mode: SignVoteMode, d: number, ranks: number): { worker: number; server?: number } {
  check(d, ranks);
  const m = ranks;
  if (mode === 'server') return { worker: d / 8, server: ((m - 1) * d) / 8 };
  if (mode === 'allgather') return { worker: ((m - 1) * d) / 8 };
  return { worker: (2 * (m - 1) * d) / (8 * m) };
}

/** K: the words of one rank's chunk in the 'reduce' vote, ceil(ceil(d/32) / M); the signs are padded to M·K words. */
export function reduceChunkWords(d: number, ranks: number): number {
  check(d, ranks);
  return Math.ceil(packedWords(d) / ranks);
}

/** Exact payload bytes one rank sends (and receives) in one 'reduce' vote of d signs among `ranks`: its M-1 sign chunks and its chunk vote to M-1 peers. */
export function reduceVoteBytes(d: number, ranks: number): number {
  if (ranks <= 1) return 0;
  return 2 * (ranks - 1) * 4 * reduceChunkWords(d, ranks);
}

function check(d: number, ranks: number): void {
  if (!Number.isInteger(d) || d < 0) {
    throw new ZcollError('EINVAL', `d must be a non-negative integer, got ${String(d)}`, { op: 'signVoteWireBytes' });
  }
  if (!Number.isInteger(ranks) || ranks < 1) {
    throw new ZcollError('EINVAL', `ranks must be an integer >= 1, got ${String(ranks)}`, { op: 'signVoteWireBytes' });
  }
}
