/**
 * The arithmetic of the 'reduce' vote mode (wire-bytes.ts): each rank turns its packed signs into
 * per-coordinate counts (1 where it votes -1, else 0), a ring reduce-scatter sums the counts (int8
 * for M <= 127, int16 for M <= 32767), the owner of a word-aligned chunk turns the summed counts
 * into vote bits with the same tie rules as majorityVote, and a ring all-gather spreads the bits.
 * The concatenated chunk votes equal majorityVote on the whole vector bit for bit, 'random' and
 * 'keep' included (same coins: tieCoinWord(tieCoinKey(seed, round), w) for absolute word w).
 * Trust: relays can change counts, so this mode is for trusted clusters only; a count outside
 * [0, M] (a corrupted relay or a wrong M) fails with ENUMERIC.
 * Cost: signCounts writes d counts; voteFromCounts reads a chunk of n counts and writes n/8 bytes
 * (+ n/32 word hashes for 'random').
 */
import { ZcollError } from '../errors.js';
import { tieCoinKey, tieCoinWord } from './majority-vote.js';
import type { TieRule } from './majority-vote.js';
import { packedWords } from './sign.js';
import { voteCountBytes } from './wire-bytes.js';

export type VoteCounts = Int8Array | Int16Array | Int32Array;

/** A zeroed count array of `length` elements, as narrow as M allows (see voteCountBytes). */
export function allocVoteCounts(ranks: number, length: number): VoteCounts {
  const width = voteCountBytes(ranks);
  return width === 1 ? new Int8Array(length) : width === 2 ? new Int16Array(length) : new Int32Array(length);
}

/** counts[i] = 1 iff coordinate i of the packed message votes -1, for i < d (out.length >= d). */
export function signCounts(packed: Uint32Array, d: number, out: VoteCounts): VoteCounts {
  if (!Number.isInteger(d) || d < 0 || !(packed instanceof Uint32Array) || packed.length < packedWords(d) || out.length < d) {
    throw new ZcollError(
      'EINVAL',
      `signCounts needs ${packedWords(d)} packed words and ${d} counts for d = ${String(d)}, got ${packed?.length} and ${out?.length}`,
      { op: 'signCounts' },
    );
  }
  for (let i = 0; i < d; i++) out[i] = (packed[i >>> 5] >>> (i & 31)) & 1;
  return out;
}

export interface VoteFromCountsOptions {
  tie?: TieRule;
  seed?: number;
  round?: number;
  /** 'keep': the previous round's packed vote of the WHOLE vector (indexed by absolute word). */
  previous?: Uint32Array;
  /** Word index of the chunk's first coordinate in the whole vector (default 0). */
  firstWord?: number;
  /** Destination of ceil(counts.length / 32) words; fresh if absent. */
  out?: Uint32Array;
  rank?: number;
}

/**
 * Vote bits of a chunk from its summed counts: bit = 1 iff 2·count > M; 2·count = M is a tie, broken
 * as majorityVote does. counts[j] belongs to coordinate 32·firstWord + j.
 */
export function voteFromCounts(counts: VoteCounts, ranks: number, opts: VoteFromCountsOptions = {}): Uint32Array {
  const ctx = { op: 'voteFromCounts', ...(opts.rank !== undefined ? { rank: opts.rank } : {}) };
  if (!Number.isInteger(ranks) || ranks < 1) {
    throw new ZcollError('EINVAL', `argument 'ranks' of voteFromCounts must be an integer >= 1, got ${String(ranks)}`, ctx);
  }
  const firstWord = opts.firstWord ?? 0;
  if (!Number.isInteger(firstWord) || firstWord < 0) {
    throw new ZcollError('EINVAL', `option 'firstWord' of voteFromCounts must be a non-negative integer, got ${String(firstWord)}`, ctx);
  }
  const n = counts.length;
  const words = packedWords(n);
  const out = opts.out ?? new Uint32Array(words);
  if (out.length < words) {
    throw new ZcollError('EINVAL', `option 'out' of voteFromCounts needs ${words} words, got ${out.length}`, ctx);
  }
  const tie = opts.tie ?? 'plus';
  const previous = opts.previous;
  if (tie === 'keep' && previous !== undefined && previous.length < firstWord + words) {
    throw new ZcollError('EINVAL', `option 'previous' of voteFromCounts must cover words up to ${firstWord + words}, got ${previous.length}`, ctx);
  }
  const key = tie === 'random' ? tieCoinKey(opts.seed ?? 0, opts.round ?? 0) : undefined;
  const half = ranks / 2;
  for (let w = 0; w < words; w++) {
    const base = w << 5;
    const end = Math.min(32, n - base);
    let neg = 0;
    let ties = 0;
    for (let j = 0; j < end; j++) {
      const c = counts[base + j];
      if (c < 0 || c > ranks) {
        throw new ZcollError('ENUMERIC', `vote count of coordinate ${32 * firstWord + base + j} is ${c}, outside [0, ${ranks}]`, {
          ...ctx,
          details: { index: 32 * firstWord + base + j, count: c, ranks },
        });
      }
      if (c > half) neg |= 1 << j;
      else if (c === half) ties |= 1 << j;
    }
    if (ties !== 0) {
      if (tie === 'minus') neg |= ties;
      else if (tie === 'keep' && previous !== undefined) neg |= ties & previous[firstWord + w];
      else if (key !== undefined) neg |= ties & tieCoinWord(key, firstWord + w);
    }
    out[w] = neg >>> 0;
  }
  return out;
}
