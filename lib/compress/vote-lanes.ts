/**
 * The layout of signVote's 'reduce' mode: vote counts in c-bit lanes of int32 words.
 * Why: the ring reduce-scatter sums int32 words; a count runs 0..M, so c = bit length of M bits
 * hold it (3 bits for M = 4..7, 4 for M = 8..15), and L = floor(32 / c) counts share a word
 * without a carry ever crossing lanes: the int32 sum of the words IS the sum of every lane. Byte
 * lanes (the previous layout) spent 8 bits per count, 2.7x the bytes at M = 4.
 * Layout: group g takes the L packed sign words [g·L, g·L + L) (32·L coordinates) to the 32 count
 * words [32g, 32g + 32); lane l of count word 32g + j counts bit j of sign word g·L + l. So one
 * spread is a bit transpose of L words (kernels.spreadVoteLanes), and the owner of a chunk turns
 * lane l of its 32 words back into vote word g·L + l (kernels.votesFromLanes): no unpacking of
 * single coordinates on either side.
 * Chunks: the groups are padded to a multiple of M, chunk k = groups [k·G, (k+1)·G), so every
 * rank's chunk is G·32 count words and its vote is G·L whole words, which the all-gather lays end
 * to end into the packed vote (the padding votes +1: its counts are 0). Bytes per rank (sent =
 * received): (M-1)·G·(128 + 4L), about (M-1)/M·d·(4/L + 1/8), i.e. (M-1)/M·d·(c/8 + 1/8) up to
 * the lanes' unused bits.
 */
import { ZcollError } from '../errors.js';
import { voteLaneBits } from '../kernels/js-vote-lanes.js';
import { packedWords } from './sign.js';

export { voteLaneBits };

export interface VoteLaneLayout {
  /** c: bits per count. */
  bits: number;
  /** L: counts per int32 word = sign words per group. */
  lanes: number;
  /** G: groups per rank's chunk. */
  groupsPerChunk: number;
  /** Count words of the whole (padded) vector: M·G·32. */
  countWords: number;
  /** Vote words of one chunk: G·L. */
  chunkVoteWords: number;
  /** Vote words of the whole (padded) vector: M·G·L >= ceil(d/32). */
  voteWords: number;
}

export function voteLaneLayout(d: number, ranks: number): VoteLaneLayout {
  if (!Number.isInteger(ranks) || ranks < 1 || ranks >= 2 ** 31) {
    throw new ZcollError('EINVAL', `ranks of the 'reduce' vote must be an integer in [1, 2^31), got ${String(ranks)}`, { op: 'voteLaneLayout' });
  }
  if (!Number.isInteger(d) || d < 0) {
    throw new ZcollError('EINVAL', `d of the 'reduce' vote must be a non-negative integer, got ${String(d)}`, { op: 'voteLaneLayout' });
  }
  const bits = voteLaneBits(ranks);
  const lanes = Math.floor(32 / bits);
  const groups = Math.ceil(packedWords(d) / lanes);
  const groupsPerChunk = Math.ceil(groups / ranks);
  return {
    bits,
    lanes,
    groupsPerChunk,
    countWords: ranks * groupsPerChunk * 32,
    chunkVoteWords: groupsPerChunk * lanes,
    voteWords: ranks * groupsPerChunk * lanes,
  };
}

/** Exact payload bytes one rank sends (and receives) in one 'reduce' vote of d signs among `ranks`. */
export function reduceVoteBytes(d: number, ranks: number): number {
  if (ranks <= 1) return 0;
  const { groupsPerChunk, lanes } = voteLaneLayout(d, ranks);
  return (ranks - 1) * groupsPerChunk * (128 + 4 * lanes);
}
