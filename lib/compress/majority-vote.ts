/**
 * Majority vote of M workers' packed sign messages (Bernstein et al., ICLR 2019, Alg. 1 step 3:
 * V = sign(sum_m sign(v_m))), counted on the packed words: kernels.voteCount keeps 32 bit-sliced
 * counters per word (a ripple-carry add of each worker's word), so no worker is unpacked to floats.
 * Result bit = 1 (vote -1) iff more than M/2 workers voted -1.
 * Ties (only for even M, exactly M/2 each way) follow a rule:
 *   'plus'   (default) +1, what the reference system sends (torch.sign gives 0, packed as +1);
 *   'minus'  -1;
 *   'random' a fair coin per tied coordinate: coordinate i takes bit (i & 31) of
 *            tieCoinWord(key, i >> 5), key = the first draw of lib/prng.ts Prng seeded from (seed,
 *            round). Every rank with the same seed and round breaks ties alike, a coordinate's coin
 *            does not depend on the others' ties, and a slice (the 'reduce' mode) finds its coins
 *            without drawing the words before it;
 *   'keep'   the previous round's vote for that coordinate (hysteresis). The first round has no
 *            previous vote: ties go to +1, as if the previous vote were all +1 (the 'plus' rule).
 * Bits past d in the result are 0 whatever the inputs held there.
 * Cost: O(M log2 M · d/32) word operations (+ d/32 word hashes for 'random'); reads M·d/8 bytes.
 */
import { ZcollError } from '../errors.js';
import { kernels as defaultKernels } from '../kernels/index.js';
import type { Kernels } from '../kernels/index.js';
import { Prng } from '../prng.js';
import { packedWords } from './sign.js';

export const TIE_RULES = ['plus', 'minus', 'random', 'keep'] as const;
export type TieRule = (typeof TIE_RULES)[number];

export interface MajorityVoteOptions {
  /** Tie rule for even M (default 'plus'). */
  tie?: TieRule;
  /** 'random': the shared seed, an integer in [0, 2^32) (default 0). */
  seed?: number;
  /** 'random': the round (step) number, a non-negative integer (default 0); the coin changes per round. */
  round?: number;
  /** 'keep': the previous round's packed vote; absent on the first round (ties then go to +1). */
  previous?: Uint32Array;
  /** Destination of ceil(d/32) words or more; fresh if absent. */
  out?: Uint32Array;
  /** Scratch for the tie mask, ceil(d/32) words or more (overwritten); allocated per call if absent. */
  tieScratch?: Uint32Array;
  /** This rank, named in errors. */
  rank?: number;
  /** Kernel implementation (default: the one in use). */
  kernels?: Kernels;
}

/**
 * The packed majority vote of `packed` (one message of ceil(d/32) words per worker, M >= 1).
 * The result is the same for any order of the workers.
 */
export function majorityVote(packed: readonly Uint32Array[], d: number, opts: MajorityVoteOptions = {}): Uint32Array {
  const ctx = { op: 'majorityVote', ...(opts.rank !== undefined ? { rank: opts.rank } : {}) };
  if (!Number.isInteger(d) || d < 0) {
    throw new ZcollError('EINVAL', `argument 'd' of majorityVote must be a non-negative integer, got ${String(d)}`, ctx);
  }
  if (!Array.isArray(packed) || packed.length < 1) {
    throw new ZcollError('EINVAL', `majorityVote needs at least one worker's packed signs, got ${Array.isArray(packed) ? 0 : typeof packed}`, ctx);
  }
  const words = packedWords(d);
  for (let i = 0; i < packed.length; i++) {
    const p = packed[i];
    if (!(p instanceof Uint32Array) || p.length < words) {
      throw new ZcollError(
        'EINVAL',
        `majorityVote: worker ${i}'s message must be a Uint32Array of ${words} words for ${d} signs, got ${
          p instanceof Uint32Array ? `${p.length} words` : typeof p
        }`,
        { ...ctx, details: { worker: i, expected: words, received: p instanceof Uint32Array ? p.length : undefined } },
      );
    }
  }
  const tie = opts.tie ?? 'plus';
  if (!(TIE_RULES as readonly string[]).includes(tie)) {
    throw new ZcollError('EINVAL', `option 'tie' of majorityVote must be one of ${TIE_RULES.join(', ')}, got ${JSON.stringify(tie)}`, ctx);
  }
  const seed = opts.seed ?? 0;
  const round = opts.round ?? 0;
  if (tie === 'random') {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new ZcollError('EINVAL', `option 'seed' of majorityVote must be an integer in [0, 2^32), got ${String(seed)}`, ctx);
    }
    if (!Number.isInteger(round) || round < 0) {
      throw new ZcollError('EINVAL', `option 'round' of majorityVote must be a non-negative integer, got ${String(round)}`, ctx);
    }
  }
  const previous = opts.previous;
  if (tie === 'keep' && previous !== undefined && (!(previous instanceof Uint32Array) || previous.length < words)) {
    throw new ZcollError('EINVAL', `option 'previous' of majorityVote must be a Uint32Array of ${words} words for ${d} signs`, ctx);
  }
  const out = opts.out ?? new Uint32Array(words);
  if (!(out instanceof Uint32Array) || out.length < words) {
    throw new ZcollError('EINVAL', `option 'out' of majorityVote must be a Uint32Array of at least ${words} words`, ctx);
  }
  const scratch = opts.tieScratch;
  if (scratch !== undefined && (!(scratch instanceof Uint32Array) || scratch.length < words || scratch === out)) {
    throw new ZcollError('EINVAL', `option 'tieScratch' of majorityVote must be a Uint32Array of at least ${words} words, distinct from 'out'`, ctx);
  }
  if (words === 0) return out;

  const ties = scratch ?? new Uint32Array(words);
  (opts.kernels ?? defaultKernels).voteCount(packed, words, out, ties);
  // Odd M never ties (the kernel leaves ties at 0), so only even M pays for a tie rule.
  if (packed.length % 2 === 0 && tie !== 'plus') {
    if (tie === 'minus') {
      for (let w = 0; w < words; w++) out[w] |= ties[w];
    } else if (tie === 'random') {
      const key = tieCoinKey(seed, round);
      for (let w = 0; w < words; w++) if (ties[w] !== 0) out[w] |= ties[w] & tieCoinWord(key, w);
    } else if (previous !== undefined) {
      for (let w = 0; w < words; w++) out[w] |= ties[w] & previous[w];
    }
  }
  const tail = d & 31;
  if (tail !== 0) out[words - 1] &= (2 ** tail - 1) >>> 0;
  return out;
}

/**
 * The key of the 'random' rule for one round: the first draw of a Prng whose seed mixes `seed` and
 * `round`, so consecutive rounds (and seeds) get unrelated coins.
 */
export function tieCoinKey(seed: number, round: number): number {
  // Prng's splitmix32 expansion scrambles this 32-bit mix; imul spreads the round over all bits.
  return new Prng((Math.imul((seed ^ 0x5bd1e995) >>> 0, 0x9e3779b1) + Math.imul(round, 0x85ebca6b)) >>> 0).nextUint32();
}

/**
 * The 32 coins of word w (bit j for coordinate 32w + j): splitmix32's finaliser of key + (w+1)·phi.
 * A hash rather than a stream so any word's coins cost O(1): Prng.nextUint32 per word costs ~25 ns
 * (20 ms per vote at d = 25M), this ~2 ns, and a chunk of the vector needs no skipping.
 */
export function tieCoinWord(key: number, w: number): number {
  let z = (key + Math.imul(w + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

export interface MajorityVoterOptions {
  tie?: TieRule;
  seed?: number;
  rank?: number;
  kernels?: Kernels;
}

/**
 * Majority vote across rounds: counts the rounds (for 'random') and remembers the last vote (for
 * 'keep'), so callers of a training loop only pass the messages. Every rank that votes must build
 * its voter with the same options and call vote() once per round, so all agree on round numbers.
 */
export class MajorityVoter {
  readonly d: number;
  private readonly opts: MajorityVoterOptions;
  private previousVote: Uint32Array | undefined;
  private readonly tieScratch: Uint32Array;
  private roundsDone = 0;

  constructor(d: number, opts: MajorityVoterOptions = {}) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ZcollError('EINVAL', `argument 'd' of MajorityVoter must be a non-negative integer, got ${String(d)}`, {
        op: 'MajorityVoter',
        ...(opts.rank !== undefined ? { rank: opts.rank } : {}),
      });
    }
    this.d = d;
    this.opts = { ...opts };
    this.tieScratch = new Uint32Array(packedWords(d));
  }

  /** Rounds voted so far; the next vote() is round number `round`. */
  get round(): number {
    return this.roundsDone;
  }

  /** The vote of this round (a fresh array unless `out` is given). */
  vote(packed: readonly Uint32Array[], out?: Uint32Array): Uint32Array {
    const result = majorityVote(packed, this.d, {
      ...this.opts,
      round: this.roundsDone,
      tieScratch: this.tieScratch,
      ...(this.previousVote !== undefined ? { previous: this.previousVote } : {}),
      ...(out !== undefined ? { out } : {}),
    });
    if (this.opts.tie === 'keep') {
      // A copy: the caller owns `result` and may reuse it as `out` next round.
      if (this.previousVote === undefined) this.previousVote = new Uint32Array(packedWords(this.d));
      this.previousVote.set(result.subarray(0, this.previousVote.length));
    }
    this.roundsDone++;
    return result;
  }
}
