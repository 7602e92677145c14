/**
 * signSGD's majority vote on the Communicator (Bernstein, Zhao, Azizzadenesheli, Anandkumar, ICLR
 * 2019, Alg. 1), in three modes. Every rank passes its packed signs (sign.ts, W = ceil(d/32) words)
 * and gets the packed vote back, bit for bit what majorityVote gives on all ranks' bits.
 *
 *   'allgather'  exchangeDirect: every rank sends its own W words straight to every other rank, never
 *                relayed, and votes locally. Trusts no one: a Byzantine rank controls only its own
 *                vote (it forwards nothing, so it can alter nothing else). Bytes per rank: sends and
 *                receives (M-1)·d/8. Default in Byzantine mode, and for M <= 8 (fewer bytes than
 *                'reduce' there: (M-1)/8 < (M-1)/M·(1 + 1/8) iff M < 9).
 *   'server'     exchangeDirect to `root` (the server), which votes (counting its own signs, as the
 *                reference system does) and sends the 1-bit vote to each worker itself (a 'flat'
 *                broadcast: no tree, so the vote is never relayed either). Trusts the
 *                server (it alone decides the vote); a Byzantine worker controls only its own vote.
 *                Bytes: a worker sends d/8 up and receives d/8 down; the server receives and sends
 *                (M-1)·d/8. The reference system's parameter-server layout.
 *   'reduce'     ring reduce-scatter of per-coordinate vote COUNTS, then ring all-gather of the 1-bit
 *                chunk votes. zcoll has no int8/int16 dtype, so counts travel SWAR-packed in int32
 *                words: 4 8-bit lanes per word for M <= 127, 2 16-bit lanes for M <= 32767, one
 *                count per word beyond (the widths of wire-bytes.ts voteCountBytes). A lane never
 *                exceeds M, so int32 addition never carries between lanes and the summed words ARE the
 *                summed byte lanes; the wire carries exactly the int8/int16 bytes. The vector is
 *                padded to M·B vote words (B = ceil(W/M)) so chunk k is vote words [kB, (k+1)B):
 *                each rank sends and receives (M-1)·B·(32c + 4) bytes, c the count width, about
 *                (M-1)/M·d·(c + 1/8): cheapest for large M. Trusts every relay: a rank on the ring
 *                can rewrite the counts and votes it forwards (test/compress/vote-modes.test.ts shows
 *                it). Refused (EINVAL) in Byzantine mode.
 * A rank whose message has the wrong dtype or length ('allgather', 'server') is left out of the vote
 * in Byzantine mode (its index goes to `excluded`); in a trusted cluster it is a bug and fails with
 * the EMISMATCH naming it.
 * Cost: the vote itself is kernels.voteCount (allgather: on every rank; server: on the root);
 * 'reduce' adds one pass writing the d·c count bytes (spreadSignCounts: a table look-up per 4 or 2
 * coordinates) and one reading d/M counts (voteFromCounts).
 */
import { endianness } from 'node:os';
import type { Communicator } from '../comm/communicator.js';
import { ZcollError } from '../errors.js';
import { majorityVote, TIE_RULES, type TieRule } from './majority-vote.js';
import { packedWords } from './sign.js';
import { signCounts, voteFromCounts, type VoteCounts } from './vote-counts.js';
import { SIGN_VOTE_MODES, voteCountBytes, type SignVoteMode } from './wire-bytes.js';

export interface SignVoteOptions {
  /** Default: 'allgather' in Byzantine mode or for M <= 8, else 'reduce'. */
  mode?: SignVoteMode;
  /** 'server': the server rank (default 0). */
  root?: number;
  /** Tie rule for even M (default 'plus'); see majority-vote.ts. */
  tie?: TieRule;
  /** 'random': shared seed. */
  seed?: number;
  /** 'random': round (step) number. */
  round?: number;
  /** 'keep': the previous round's packed vote. */
  previous?: Uint32Array;
  /**
   * Byzantine mode: some ranks may be malicious. Only modes where no rank relays another's data are
   * allowed ('allgather', and 'server' which trusts the server); malformed messages are excluded.
   */
  byzantine?: boolean;
  /** Filled with the ranks left out of the vote (malformed messages, Byzantine mode). */
  excluded?: number[];
  /** Deadline of each collective, ms (default: the communicator's). */
  timeoutMs?: number;
  /**
   * Buffers for steady-state rounds (SignVoteScratch, made once for this communicator's size and d):
   * the vote allocates nothing of size d and returns scratch.vote, which the next call with the same
   * scratch overwrites. Without it every call allocates its buffers afresh.
   */
  scratch?: SignVoteScratch;
}

/**
 * What one rank's vote needs of size d, kept between rounds: the peers' messages ('allgather', and
 * the server's in 'server'), the vote and the tie mask, and for 'reduce' the SWAR count words and
 * the gathered chunk votes. A fresh buffer of several MB is paid in page faults on first touch (one
 * per 4 KiB; at d = 25M that was most of a vote's CPU time, ~5,400 faults per rank per step), a
 * reused one is already mapped. One scratch per communicator and d; not shared by concurrent votes.
 */
export class SignVoteScratch {
  readonly ranks: number;
  readonly d: number;
  /** The packed vote of the last signVote given this scratch (ceil(d/32) words). */
  readonly vote: Uint32Array;
  /** 'reduce' pads the vote to ranks·ceil(W/ranks) words: the vote is the head of this. */
  private readonly voteWords: Int32Array;
  private readonly ties: Uint32Array;
  private readonly peers: Array<Int32Array | undefined>;
  private countWords: Int32Array | undefined;
  private chunkVote: Uint32Array | undefined;

  constructor(ranks: number, d: number) {
    if (!Number.isInteger(ranks) || ranks < 1) throw new ZcollError('EINVAL', `argument 'ranks' of SignVoteScratch must be a positive integer, got ${String(ranks)}`, { op: 'SignVoteScratch' });
    if (!Number.isInteger(d) || d < 0) throw new ZcollError('EINVAL', `argument 'd' of SignVoteScratch must be a non-negative integer, got ${String(d)}`, { op: 'SignVoteScratch' });
    this.ranks = ranks;
    this.d = d;
    const words = packedWords(d);
    this.voteWords = new Int32Array(ranks * Math.ceil(words / ranks));
    this.vote = asUint32(this.voteWords.subarray(0, words));
    this.ties = new Uint32Array(words);
    this.peers = new Array<Int32Array | undefined>(ranks).fill(undefined);
  }

  /**
   * exchangeDirect's `into`: a message buffer for every rank but `self` (made on first use); none at
   * all for a rank that receives nothing (a worker of 'server' mode), whose own entry is then its
   * message itself rather than a copy.
   */
  messages(self: number, receiving: boolean): Array<Int32Array | undefined> {
    const words = this.vote.length;
    return this.peers.map((b, r) => (r === self || !receiving ? undefined : (this.peers[r] = b ?? new Int32Array(words))));
  }

  tieScratch(): Uint32Array {
    return this.ties;
  }

  /** 'reduce': the count words (zero padding kept by every round), the chunk vote and the gathered votes. */
  reduceBuffers(countLength: number, perChunk: number): { countWords: Int32Array; chunkVote: Uint32Array; gathered: Int32Array } {
    if (this.countWords?.length !== countLength) this.countWords = new Int32Array(countLength);
    if (this.chunkVote?.length !== perChunk) this.chunkVote = new Uint32Array(perChunk);
    return { countWords: this.countWords, chunkVote: this.chunkVote, gathered: this.voteWords };
  }
}

/** The mode `signVote` uses when none is given. */
export function defaultVoteMode(ranks: number, byzantine: boolean): SignVoteMode {
  return byzantine || ranks <= 8 ? 'allgather' : 'reduce';
}

function asInt32(words: Uint32Array): Int32Array {
  return new Int32Array(words.buffer, words.byteOffset, words.length);
}

function asUint32(words: Int32Array): Uint32Array {
  return new Uint32Array(words.buffer, words.byteOffset, words.length);
}

/**
 * The packed majority vote of every rank's packed signs (ceil(d/32) words each). Every rank must
 * call it with the same d and options (a collective).
 */
export async function signVote(comm: Communicator, packed: Uint32Array, d: number, opts: SignVoteOptions = {}): Promise<Uint32Array> {
  const ctx = { rank: comm.rank, op: 'signVote' };
  const byzantine = opts.byzantine === true;
  const mode = opts.mode ?? defaultVoteMode(comm.size, byzantine);
  if (!(SIGN_VOTE_MODES as readonly string[]).includes(mode)) {
    throw new ZcollError('EINVAL', `option 'mode' of signVote must be one of ${SIGN_VOTE_MODES.join(', ')}, got ${JSON.stringify(mode)}`, ctx);
  }
  if (mode === 'reduce' && byzantine) {
    throw new ZcollError(
      'EINVAL',
      `signVote mode 'reduce' is refused in Byzantine mode: its ring relays other ranks' counts, so one Byzantine relay could change the vote; use 'allgather'`,
      ctx,
    );
  }
  if (!Number.isInteger(d) || d < 0) {
    throw new ZcollError('EINVAL', `argument 'd' of signVote must be a non-negative integer, got ${String(d)}`, ctx);
  }
  const words = packedWords(d);
  if (!(packed instanceof Uint32Array) || packed.length !== words) {
    throw new ZcollError(
      'EINVAL',
      `argument 'packed' of signVote must be a Uint32Array of ${words} words for d = ${d}, got ${packed instanceof Uint32Array ? `${packed.length} words` : typeof packed}`,
      ctx,
    );
  }
  const tie = opts.tie ?? 'plus';
  if (!(TIE_RULES as readonly string[]).includes(tie)) {
    throw new ZcollError('EINVAL', `option 'tie' of signVote must be one of ${TIE_RULES.join(', ')}, got ${JSON.stringify(tie)}`, ctx);
  }
  const root = opts.root ?? 0;
  if (mode === 'server' && !(Number.isInteger(root) && root >= 0 && root < comm.size)) {
    throw new ZcollError('EINVAL', `option 'root' of signVote must be a rank in 0..${comm.size - 1}, got ${String(root)}`, ctx);
  }
  const voteOpts = {
    tie,
    rank: comm.rank,
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.round !== undefined ? { round: opts.round } : {}),
    ...(opts.previous !== undefined ? { previous: opts.previous } : {}),
  };
  const scratch = opts.scratch;
  if (scratch !== undefined) {
    if (!(scratch instanceof SignVoteScratch) || scratch.ranks !== comm.size || scratch.d !== d) {
      throw new ZcollError(
        'EINVAL',
        `option 'scratch' of signVote must be a SignVoteScratch for ${comm.size} ranks and d = ${d}, got ${scratch instanceof SignVoteScratch ? `one for ${scratch.ranks} ranks and d = ${scratch.d}` : typeof scratch}`,
        ctx,
      );
    }
    // The scratch's vote is written while the signs and the previous vote are read.
    if (packed.buffer === scratch.vote.buffer) {
      throw new ZcollError('EINVAL', `argument 'packed' of signVote must not be the scratch's own vote (this call overwrites it)`, ctx);
    }
    if (opts.previous !== undefined && opts.previous.buffer === scratch.vote.buffer) {
      throw new ZcollError('EINVAL', `option 'previous' of signVote must not be the scratch's own vote (this call overwrites it); pass a copy`, ctx);
    }
  }
  const timeout = opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {};
  const out = scratch !== undefined ? { out: scratch.vote, tieScratch: scratch.tieScratch() } : {};
  if (comm.size === 1) return majorityVote([packed], d, { ...voteOpts, ...out });

  if (mode === 'allgather' || mode === 'server') {
    const rooted = mode === 'server';
    const into = scratch !== undefined ? { into: scratch.messages(comm.rank, !rooted || comm.rank === root) } : {};
    const entries = await comm.exchangeDirect(asInt32(packed), rooted ? { root, ...timeout, ...into } : { ...timeout, ...into });
    let vote: Uint32Array;
    if (!rooted || comm.rank === root) {
      const rows: Uint32Array[] = [];
      entries.forEach((e, r) => {
        if (r === comm.rank) rows.push(packed);
        else if (e instanceof Int32Array) rows.push(asUint32(e));
        else if (e instanceof ZcollError) {
          if (!byzantine) throw e;
          opts.excluded?.push(r);
        }
      });
      vote = majorityVote(rows, d, { ...voteOpts, ...out });
      if (rooted) await comm.broadcast(asInt32(vote), { root, inPlace: true, algorithm: 'flat', ...timeout });
    } else {
      // The server's reply: a flat broadcast, straight from the server (never relayed), through
      // shared memory on one host like any collective.
      const got = await comm.broadcast(scratch !== undefined ? asInt32(scratch.vote) : new Int32Array(words), { root, inPlace: true, algorithm: 'flat', ...timeout });
      vote = scratch !== undefined ? scratch.vote : asUint32(got);
    }
    return vote;
  }
  return reduceVote(comm, packed, d, voteOpts, timeout, scratch);
}

/** 'reduce' mode: SWAR-packed ring reduce-scatter of counts, local chunk vote, ring all-gather of bits. */
async function reduceVote(
  comm: Communicator,
  packed: Uint32Array,
  d: number,
  voteOpts: { tie: TieRule; rank: number; seed?: number; round?: number; previous?: Uint32Array },
  timeout: { timeoutMs?: number },
  scratch: SignVoteScratch | undefined,
): Promise<Uint32Array> {
  const m = comm.size;
  const words = packedWords(d);
  const c = voteCountBytes(m);
  const perChunk = Math.ceil(words / m); // vote words per rank's chunk
  const coords = m * perChunk * 32; // padded coordinates; padding counts stay 0
  // coords·c bytes = m·perChunk·8c int32 words: chunk k of the reduce-scatter is exactly vote words [k·perChunk, (k+1)·perChunk).
  // Reused count words need no clearing: both fills below write every real coordinate, and the
  // padding's counts are sums of zeros, so they stay 0 through the in-place reduce-scatter.
  const reused = scratch?.reduceBuffers((coords * c) / 4, perChunk);
  const countWords = reused?.countWords ?? new Int32Array((coords * c) / 4);
  if (LITTLE_ENDIAN && c !== 4) spreadSignCounts(packed, d, countWords, c);
  else signCounts(packed, d, countView(countWords.buffer, 0, coords, c));
  const mine = await comm.reduceScatter(countWords, { op: 'sum', inPlace: true, ...timeout });
  const first = comm.rank * perChunk;
  const inChunk = Math.max(0, Math.min(32 * perChunk, d - 32 * first)); // real coordinates of my chunk
  const chunkVote = reused?.chunkVote.fill(0) ?? new Uint32Array(perChunk);
  if (inChunk > 0) {
    voteFromCounts(countView(mine.buffer, mine.byteOffset, inChunk, c), m, { ...voteOpts, firstWord: first, out: chunkVote });
  }
  if (reused !== undefined) {
    await comm.allGather(asInt32(chunkVote), { ...timeout, out: reused.gathered });
    return scratch!.vote;
  }
  const all = await comm.allGather(asInt32(chunkVote), timeout);
  return asUint32(all).slice(0, words);
}

const LITTLE_ENDIAN = endianness() === 'LE';
/** LANES8[n]: the 4 bits of nibble n spread to the low bit of 4 byte lanes; LANES16[n]: 2 bits to 2 16-bit lanes. */
const LANES8 = Int32Array.from({ length: 16 }, (_, n) => (n & 1) | ((n & 2) << 7) | ((n & 4) << 14) | ((n & 8) << 21));
const LANES16 = Int32Array.from({ length: 4 }, (_, n) => (n & 1) | ((n & 2) << 15));

/**
 * signCounts for 8- and 16-bit lanes, a word at a time: count word k holds the counts of
 * coordinates 4k..4k+3 (or 2k..2k+1) in its byte (or 16-bit) lanes, which on a little-endian machine
 * is exactly the Int8Array (Int16Array) layout signCounts writes, with 8 (16) table look-ups per
 * packed word instead of 32 bit extractions. Bits past d are masked off, as signCounts ignores them.
 */
export function spreadSignCounts(packed: Uint32Array, d: number, countWords: Int32Array, c: 1 | 2): void {
  const words = packedWords(d);
  const tail = d & 31;
  for (let w = 0; w < words; w++) {
    const word = w === words - 1 && tail !== 0 ? packed[w] & ((2 ** tail - 1) >>> 0) : packed[w];
    if (c === 1) {
      const base = w << 3;
      for (let j = 0; j < 8; j++) countWords[base + j] = LANES8[(word >>> (4 * j)) & 15];
    } else {
      const base = w << 4;
      for (let j = 0; j < 16; j++) countWords[base + j] = LANES16[(word >>> (2 * j)) & 3];
    }
  }
}

/** A view of `length` counts of width c bytes over an int32 buffer (lanes in memory order). */
function countView(buffer: ArrayBufferLike, byteOffset: number, length: number, c: 1 | 2 | 4): VoteCounts {
  return c === 1 ? new Int8Array(buffer, byteOffset, length) : c === 2 ? new Int16Array(buffer, byteOffset, length) : new Int32Array(buffer, byteOffset, length);
}

/**
 * Exact payload bytes one rank sends in one 'reduce' vote as signVote runs it (with its padding to
 * M·ceil(W/M) words): (M-1) count chunks of 32·B·c bytes and (M-1) vote chunks of 4·B bytes.
 * wire-bytes.ts gives the unpadded figure; the two differ by less than M words of counts.
 */
export function reduceVoteSentBytes(d: number, ranks: number): number {
  if (ranks <= 1) return 0;
  const perChunk = Math.ceil(packedWords(d) / ranks);
  return (ranks - 1) * perChunk * (32 * voteCountBytes(ranks) + 4);
}
