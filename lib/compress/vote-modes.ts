/**
 * signSGD's majority vote on the Communicator (Bernstein, Zhao, Azizzadenesheli, Anandkumar, ICLR
 * 2019, Alg. 1), in three modes. Every rank passes its packed signs (sign.ts, W = ceil(d/32) words)
 * and gets the packed vote back, bit for bit what majorityVote gives on all ranks' bits.
 *
 *   'allgather'  exchangeDirect: every rank sends its own W words straight to every other rank, never
 *                relayed, and votes locally. Trusts no one: a Byzantine rank controls only its own
 *                vote (it forwards nothing, so it can alter nothing else). Bytes per rank: sends and
 *                receives (M-1)·d/8. Default in Byzantine mode, for d < 2^20, for M = 2 and on
 *                one host (see defaultVoteMode).
 *   'server'     exchangeDirect to `root` (the server), which votes (counting its own signs, as the
 *                reference system does) and sends the 1-bit vote to each worker itself (a 'flat'
 *                broadcast: no tree, so the vote is never relayed either). Trusts the
 *                server (it alone decides the vote); a Byzantine worker controls only its own vote.
 *                Bytes: a worker sends d/8 up and receives d/8 down; the server receives and sends
 *                (M-1)·d/8. The reference system's parameter-server layout.
 *   'reduce'     the 'server' mode sharded over all ranks: the packed signs are cut into M chunks of
 *                K = ceil(W/M) words (padded to M·K), comm.allToAll sends chunk j of every rank's
 *                signs straight to rank j (1 bit per coordinate, never relayed), rank j counts the
 *                vote of its chunk from the M chunks (kernels.voteCount, the tie rules of
 *                majorityVote on the GLOBAL word index), and a direct all-gather (exchangeDirect)
 *                gives every rank every chunk's vote. Bytes per rank: sends and receives
 *                2·(M-1)·4K, about 2(M-1)/M·d/8: fewer than 'allgather' from M = 3 on, flat in M.
 *                Default between hosts from M = 3 on (defaultVoteMode).
 *                Trusts every rank as the server of its chunk: a Byzantine rank decides the vote
 *                of its d/M coordinates (test/compress/vote-modes.test.ts shows it), so it is
 *                refused (EINVAL) in Byzantine mode.
 * A rank whose message has the wrong dtype or length ('allgather', 'server') is left out of the vote
 * in Byzantine mode (its index goes to `excluded`); in a trusted cluster it is a bug and fails with
 * the EMISMATCH naming it.
 * Cost: the vote itself is kernels.voteCount (allgather: on every rank over d; server: on the root
 * over d; reduce: on every rank over its d/M chunk); no unpack after the gather.
 * Through shared memory a plain buffer sent to a same-host peer is copied into a slot once per peer;
 * a SignVoteScratch registered with the communicator keeps what this rank sends (its signs, the
 * vote) in registered buffers that the peers read in place, which saves the sender (M-1)·d/8 bytes
 * of copies in 'allgather', (M-1)·d/8 on the server and 2(M-1)/M·d/8 in 'reduce'
 * (bench/results/signsgd.md). The receivers still copy each message into the scratch before
 * counting: the collectives land a peer's data in the caller's buffers and hand out no view of it.
 */
import type { Communicator } from '../comm/communicator.js';
import { ZcollError } from '../errors.js';
import { kernels } from '../kernels/index.js';
import { allocInt32, allocUint32 } from '../kernels/huge-pages.js';
import { majorityVote, tieCoinKey, tieCoinWord, TIE_RULES, type TieRule } from './majority-vote.js';
import { packedWords } from './sign.js';
import { isNoSharedMemorySpace } from '../transport/shm-region.js';
import { reduceChunkWords, reduceVoteBytes, SIGN_VOTE_MODES, type SignVoteMode } from './wire-bytes.js';

export interface SignVoteOptions {
  /** Default: defaultVoteMode(M, byzantine, d). */
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
  /** 'reduce': filled with the milliseconds of each phase of this call (for benchmarks). */
  phases?: VotePhaseTimes;
}

/**
 * The part of a communicator a scratch uses to keep its buffers in shared memory: registered
 * buffers (RankGroup.allocBuffer) that same-host peers read in place.
 */
export type BufferRegistry = Pick<Communicator, 'allocBuffer' | 'freeBuffer' | 'usesSharedMemory'>;

export interface SignVoteScratchOptions {
  /**
   * Keep the buffers this rank SENDS (its signs, the vote) as registered buffers of this
   * communicator when it has shared memory: same-host peers then read them in place, where a plain
   * buffer is copied into a shared-memory slot once per peer (d/8 bytes each time in 'allgather';
   * in 'reduce' a d/(8M) chunk per peer, twice). A /dev/shm without room
   * (ECONFIG, reason ENOSPC, e.g. a container's 64 MB) gives plain buffers instead, not an error.
   * Such a scratch is for this communicator only, and must be released (release()) when dropped;
   * closing the communicator frees its buffers too.
   */
  comm?: BufferRegistry;
}

/**
 * What one rank's vote needs of size d, kept between rounds: the peers' messages ('allgather', and
 * the server's in 'server'), the vote and the tie mask, and for 'reduce' the peers' sign chunks and
 * the gathered chunk votes. A fresh buffer of several MB is paid in page faults on first touch (one
 * per 4 KiB; at d = 25M that was most of a vote's CPU time, ~5,400 faults per rank per step), a
 * reused one is already mapped. One scratch per communicator and d; not shared by concurrent votes.
 * With `comm` (SignVoteScratchOptions) the buffers it sends are registered buffers of that
 * communicator; the peers' messages are not (they are only written, by the receive copy).
 */
export class SignVoteScratch {
  readonly ranks: number;
  readonly d: number;
  /** The packed vote of the last signVote given this scratch (ceil(d/32) words). */
  readonly vote: Uint32Array;
  /** The communicator the sent buffers are registered with (undefined: plain buffers). */
  readonly comm: BufferRegistry | undefined;
  /** 'reduce' pads the vote to M whole chunks of K words (reduceChunkWords): the vote is the head of this. */
  private readonly voteWords: Int32Array;
  private readonly ties: Uint32Array;
  private readonly peers: Array<Int32Array | undefined>;
  /** 'reduce': every rank's sign chunk for this rank, in rank order (the all-to-all's out, M·K words). */
  private chunks: Int32Array | undefined;
  /** The signs padded to M·K words ('reduce' sends chunk j to rank j); `signs` is its head. */
  private signsPadded: Int32Array | undefined;
  /** Buffers made by comm.allocBuffer (registered, or plain when the transport fell back itself). */
  private readonly allocated: Int32Array[] = [];
  private releasedFlag = false;

  constructor(ranks: number, d: number, opts: SignVoteScratchOptions = {}) {
    if (!Number.isInteger(ranks) || ranks < 1) throw new ZcollError('EINVAL', `argument 'ranks' of SignVoteScratch must be a positive integer, got ${String(ranks)}`, { op: 'SignVoteScratch' });
    if (!Number.isInteger(d) || d < 0) throw new ZcollError('EINVAL', `argument 'd' of SignVoteScratch must be a non-negative integer, got ${String(d)}`, { op: 'SignVoteScratch' });
    this.ranks = ranks;
    this.d = d;
    // Without shared memory allocBuffer gives ordinary arrays: nothing to register, nothing to free.
    this.comm = opts.comm !== undefined && opts.comm.usesSharedMemory && ranks > 1 ? opts.comm : undefined;
    const words = packedWords(d);
    const padded = Math.max(words, ranks * reduceChunkWords(d, ranks));
    this.voteWords = this.sendBuffer(padded);
    this.vote = asUint32(this.voteWords.subarray(0, words));
    // Padded, so that signs packed here are 'reduce''s all-to-all input as they lie (the padding stays 0).
    if (this.comm !== undefined) this.signsPadded = this.sendBuffer(padded);
    this.ties = allocUint32(words);
    this.peers = new Array<Int32Array | undefined>(ranks).fill(undefined);
  }

  /**
   * Where to pack this rank's signs for a vote with this scratch (Signum.signs(grad, params,
   * scratch.signs)): registered with `comm` when the scratch is, so the peers read the message in
   * place instead of this rank copying it to each. Overwritten by the caller, read by signVote.
   */
  get signs(): Uint32Array {
    return this.paddedSigns().subarray(0, packedWords(this.d));
  }

  /** 'reduce': the signs padded to M·K words, `signs` at their head (zero padding, never written). */
  paddedSigns(): Uint32Array {
    this.signsPadded ??= allocInt32(Math.max(packedWords(this.d), this.ranks * reduceChunkWords(this.d, this.ranks)));
    return asUint32(this.signsPadded);
  }

  /** Whether release() was called. */
  get released(): boolean {
    return this.releasedFlag;
  }

  /** Whether release() was called or the communicator closed (a registered scratch is then unusable). */
  get usable(): boolean {
    // A freed registered buffer is detached: its ArrayBuffer has no bytes left.
    return !this.releasedFlag && this.allocated.every((b) => b.buffer.byteLength > 0);
  }

  /**
   * Frees the registered buffers (comm.freeBuffer; they become detached, and so does `vote`). Call
   * it when dropping the scratch, once no vote with it is in flight (freeBuffer refuses otherwise,
   * EINVAL). Idempotent; a scratch without `comm` has nothing to free. The scratch is unusable after.
   */
  release(): void {
    if (this.releasedFlag) return;
    // freeBuffer refuses while a collective is in flight (EINVAL) before freeing anything: then
    // release() throws, the scratch stays as it was, and it may be called again later.
    while (this.allocated.length > 0) this.freeSendBuffer(this.allocated[this.allocated.length - 1]);
    this.releasedFlag = true;
  }

  /**
   * exchangeDirect's `into`: a message buffer for every rank but `self` (made on first use); none at
   * all for a rank that receives nothing (a worker of 'server' mode), whose own entry is then its
   * message itself rather than a copy.
   */
  messages(self: number, receiving: boolean): Array<Int32Array | undefined> {
    const words = this.vote.length;
    return this.peers.map((b, r) => (r === self || !receiving ? undefined : (this.peers[r] = b ?? allocInt32(words))));
  }

  tieScratch(): Uint32Array {
    return this.ties;
  }

  /**
   * 'reduce': where the ranks' sign chunks for this rank land (M·K words; only written, by the
   * receive copy, so plain memory) and the gathered votes (every rank's chunk in rank order,
   * registered: this rank's chunk is sent from it).
   */
  reduceBuffers(): { chunks: Int32Array; gathered: Int32Array } {
    this.chunks ??= allocInt32(this.ranks * reduceChunkWords(this.d, this.ranks));
    return { chunks: this.chunks, gathered: this.voteWords };
  }

  /**
   * A zeroed buffer of `words` int32 that this rank sends from: registered with `comm` if any, else
   * (or when /dev/shm has no room for it) a plain one.
   */
  private sendBuffer(words: number): Int32Array {
    if (this.comm === undefined || words === 0) return allocInt32(words);
    try {
      const b = this.comm.allocBuffer('int32', words) as Int32Array;
      this.allocated.push(b);
      return b;
    } catch (e) {
      // A full /dev/shm is a deployment fact, not a bug: the vote works the same from plain memory.
      if (isNoSharedMemorySpace(e)) return allocInt32(words);
      throw e;
    }
  }

  private freeSendBuffer(b: Int32Array): void {
    const i = this.allocated.indexOf(b);
    if (i < 0) return;
    // Detached already when the communicator closed (it freed every registered buffer).
    if (b.buffer.byteLength > 0) this.comm!.freeBuffer(b);
    this.allocated.splice(i, 1);
  }
}

/**
 * The mode `signVote` uses when none is given. 'allgather' in Byzantine mode (the only mode that
 * trusts no rank), below 2^20 coordinates, below 3 ranks, and when every rank is on one host; else
 * 'reduce'. Why: 'reduce' moves 2(M-1)/M·d/8 bytes per rank against (M-1)·d/8, fewer from M = 3 on,
 * but takes two dependent collectives where 'allgather' takes one. Between hosts the bytes are
 * what the network charges for, so 'reduce' is chosen by its bytes there (not measured: no
 * multi-host machine in the bench). On one host the bytes go through shared memory and are cheap;
 * measured on 2 cores (bench/results/signsgd.md, 2026-12-07 night), 'allgather' was as fast or
 * faster: d = 25M, M = 4, steps 46 vs 48 ms; d = 10M, M = 4, 22 vs 29 ms; d = 10M, M = 8, 54 vs
 * 70 ms (a rank descheduled between the two collectives delays everyone's second one).
 */
export function defaultVoteMode(ranks: number, byzantine: boolean, d = 2 ** 20, oneHost = false): SignVoteMode {
  if (byzantine || ranks < 3 || d < 2 ** 20 || oneHost) return 'allgather';
  return 'reduce';
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
  const mode = opts.mode ?? defaultVoteMode(comm.size, byzantine, Number.isInteger(d) && d >= 0 ? d : 0, comm.localSize === comm.size);
  if (!(SIGN_VOTE_MODES as readonly string[]).includes(mode)) {
    throw new ZcollError('EINVAL', `option 'mode' of signVote must be one of ${SIGN_VOTE_MODES.join(', ')}, got ${JSON.stringify(mode)}`, ctx);
  }
  if (mode === 'reduce' && byzantine) {
    throw new ZcollError(
      'EINVAL',
      `signVote mode 'reduce' is refused in Byzantine mode: every rank decides the vote of its 1/M of the coordinates (the 'server' mode sharded), so one Byzantine rank could set that chunk's vote; use 'allgather'`,
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
    if (scratch.comm !== undefined && scratch.comm !== comm) {
      throw new ZcollError('EINVAL', `option 'scratch' of signVote has buffers registered with another communicator; make one per communicator`, ctx);
    }
    if (!scratch.usable) {
      const closed = scratch.comm !== undefined && !scratch.released;
      throw new ZcollError(closed ? 'ECLOSED' : 'EINVAL', closed ? `option 'scratch' of signVote: its registered buffers were freed when the communicator closed` : `option 'scratch' of signVote was released; make a new one`, ctx);
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
    // A registered scratch: the signs go out of its registered buffer, read in place by the peers.
    // Signs packed elsewhere are copied there first when that saves copies: in 'allgather' they go
    // to M-1 >= 2 peers (one local copy instead of M-1 slot copies); a 'server' worker sends to
    // one peer, and a copy here would just replace the slot copy.
    const mine = scratch?.comm !== undefined && !rooted && comm.size >= 3 && packed.buffer !== scratch.signs.buffer ? scratch.signs : packed;
    if (mine !== packed) mine.set(packed);
    const entries = await comm.exchangeDirect(asInt32(mine), rooted ? { root, ...timeout, ...into } : { ...timeout, ...into });
    let vote: Uint32Array;
    if (!rooted || comm.rank === root) {
      const rows: Uint32Array[] = [];
      entries.forEach((e, r) => {
        if (r === comm.rank) rows.push(mine);
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
  return reduceVote(comm, packed, d, voteOpts, timeout, scratch, opts.phases);
}

/**
 * 'reduce' mode: all-to-all of the sign chunks (chunk j of every rank to rank j), the chunk's vote
 * counted here, direct all-gather of the chunk votes.
 */
async function reduceVote(
  comm: Communicator,
  packed: Uint32Array,
  d: number,
  voteOpts: { tie: TieRule; rank: number; seed?: number; round?: number; previous?: Uint32Array },
  timeout: { timeoutMs?: number },
  scratch: SignVoteScratch | undefined,
  phases: VotePhaseTimes | undefined,
): Promise<Uint32Array> {
  const m = comm.size;
  const words = packedWords(d);
  const per = reduceChunkWords(d, m);
  const first = comm.rank * per; // absolute word of this rank's chunk's first word
  const t0 = performance.now();
  const c0 = phases !== undefined ? process.cpuUsage() : undefined;
  // The all-to-all takes M equal chunks: the signs padded to M·K words. Signs packed into the
  // scratch (Signum.signs(grad, params, scratch.signs)) already are, and so are signs whose W is a
  // multiple of M; others are copied once (d/8 bytes) into the padded buffer.
  let x: Uint32Array;
  if (m * per === words) x = packed;
  else if (scratch !== undefined && packed.buffer === scratch.signs.buffer && packed.byteOffset === scratch.signs.byteOffset) x = scratch.paddedSigns();
  else {
    x = scratch?.paddedSigns() ?? new Uint32Array(m * per);
    x.set(packed);
  }
  const reused = scratch?.reduceBuffers();
  const chunks = reused?.chunks ?? new Int32Array(m * per);
  // Every rank's chunk vote lands in its place of `gathered`; this rank's is written there directly.
  const gathered = reused?.gathered ?? new Int32Array(m * per);
  const t1 = performance.now();
  const c1 = phases !== undefined ? process.cpuUsage() : undefined;
  await comm.allToAll(asInt32(x), { out: chunks, ...timeout });
  const t2 = performance.now();
  const c2 = phases !== undefined ? process.cpuUsage() : undefined;
  const rows = Array.from({ length: m }, (_, r) => asUint32(chunks.subarray(r * per, (r + 1) * per)));
  const slots = Array.from({ length: m }, (_, r) => gathered.subarray(r * per, (r + 1) * per));
  const neg = asUint32(slots[comm.rank]);
  const ties = scratch?.tieScratch().subarray(0, per) ?? new Uint32Array(per);
  kernels.voteCount(rows, per, neg, ties);
  // Odd M never ties (the kernel leaves ties at 0).
  if (m % 2 === 0) breakTies(neg, ties, first, words, voteOpts);
  // Bits past d are 0 whatever the inputs held there, as majorityVote leaves them; the owner of
  // the last word clears them before sending, so every rank holds the same vote.
  const tail = d & 31;
  if (tail !== 0 && words - 1 >= first && words - 1 < first + per) neg[words - 1 - first] &= (2 ** tail - 1) >>> 0;
  const t3 = performance.now();
  const c3 = phases !== undefined ? process.cpuUsage() : undefined;
  // Direct rather than a ring: with more ranks than cores a ring's M-1 dependent steps each wait
  // for a descheduled peer (12 ms median for 3.1 MB at M = 4 on 2 cores), while here every rank
  // sends its chunk to all at once.
  const entries = await comm.exchangeDirect(slots[comm.rank], { ...timeout, into: slots });
  const failed = entries.find((e): e is ZcollError => e instanceof ZcollError);
  if (failed !== undefined) throw failed;
  const vote = reused !== undefined ? scratch!.vote : asUint32(gathered).subarray(0, words);
  const t4 = performance.now();
  const c4 = phases !== undefined ? process.cpuUsage() : undefined;
  if (phases !== undefined) {
    phases.prepare = t1 - t0;
    phases.alltoall = t2 - t1;
    phases.vote = t3 - t2;
    phases.gather = t4 - t3;
    const ms = (a: NodeJS.CpuUsage | undefined, b: NodeJS.CpuUsage | undefined): number => (b!.user + b!.system - a!.user - a!.system) / 1000;
    phases.cpu = { prepare: ms(c0, c1), alltoall: ms(c1, c2), vote: ms(c2, c3), gather: ms(c3, c4) };
  }
  return vote;
}

/** The tie rule of majorityVote on a chunk's words (first: the chunk's first absolute word; words past `total` have no ties). */
function breakTies(neg: Uint32Array, ties: Uint32Array, first: number, total: number, o: { tie: TieRule; seed?: number; round?: number; previous?: Uint32Array }): void {
  if (o.tie === 'plus') return;
  const key = o.tie === 'random' ? tieCoinKey(o.seed ?? 0, o.round ?? 0) : 0;
  const n = Math.min(neg.length, total - first);
  for (let w = 0; w < n; w++) {
    const t = ties[w];
    if (t === 0) continue;
    if (o.tie === 'minus') neg[w] |= t;
    else if (o.tie === 'random') neg[w] |= t & tieCoinWord(key, first + w);
    else if (o.previous !== undefined) neg[w] |= t & o.previous[first + w];
  }
}

/** Milliseconds of each phase of one 'reduce' vote (signVote's `phases` option). */
export interface VotePhaseTimes {
  /** The signs padded to M equal chunks (a copy only when they are not already), buffers found. */
  prepare?: number;
  /** comm.allToAll of the sign chunks: chunk j of every rank to rank j. */
  alltoall?: number;
  /** Vote (and tie) words of this rank's chunk from the M chunks (kernels.voteCount), with the tie rule. */
  vote?: number;
  /** The direct all-gather of the chunk votes, straight into the packed vote (no unpack step). */
  gather?: number;
  /** This process's CPU time (user + system, ms) in each of the phases above (waits that spin count). */
  cpu?: { prepare: number; alltoall: number; vote: number; gather: number };
}

/** Exact payload bytes one rank sends (and receives) in one 'reduce' vote as signVote runs it. */
export function reduceVoteSentBytes(d: number, ranks: number): number {
  return reduceVoteBytes(d, ranks);
}
