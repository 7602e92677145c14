/**
 * `zcoll bench signsgd`: one signSGD majority-vote round (Bernstein et al., ICLR 2019) of a float32
 * gradient of S = 4d bytes, packed to 1 bit per coordinate by lib/compress and voted by the
 * library's signVote (lib/compress/vote-modes.ts), so the command times what a training step runs,
 * in one of its three modes:
 *   allgather  each rank sends its packed signs directly to every rank (exchangeDirect) and votes
 *              locally: (n-1) d/8 bytes each way per rank, trusts no one;
 *   server     every rank sends its signs to the root, which votes and sends the 1-bit vote to each
 *              rank itself (never relayed);
 *   reduce     an all-to-all of sign chunks: each rank votes its 1/n of the coordinates, then the
 *              chunk votes go straight to every rank: 2(n-1)/n d/8 bytes each way per rank.
 * The timed step is pack + exchange + vote. The check compares the vote bit for bit with the vote
 * of the fault-free rows, regenerated on every rank. With b Byzantine ranks it holds each honest
 * rank's vote to the bound majority vote states instead: on every coordinate where the honest ranks'
 * margin (votes + minus votes -) exceeds b, the vote is the honest majority's (b votes cannot
 * overturn it); other coordinates are free. A Byzantine rank attacks its +-1 signs (the
 * payload is unpacked for the attack and packed again; NaN packs as -1); in the 'reduce' mode every
 * rank decides its chunk's vote, so it is refused with Byzantine ranks (as signVote refuses it); with
 * them the vote runs in signVote's Byzantine mode (a malformed message is left out, not a failure).
 * algbw = S / time and busbw = algbw * 2(n-1)/n:
 * the bandwidth of the float32 all-reduce this round replaces.
 */
import type { Communicator } from '../comm/communicator.js';
import { ZcollError } from '../errors.js';
import { majorityVote } from '../compress/majority-vote.js';
import { packSigns, packedWords, unpackSigns } from '../compress/sign.js';
import { signVote, SignVoteScratch } from '../compress/vote-modes.js';
import { SIGN_VOTE_MODES, type SignVoteMode } from '../compress/wire-bytes.js';
import { privateCopy, type PayloadCodec } from '../faults/rank-faults.js';
import type { BenchCase, BenchStep } from './bench-collectives.js';
import { Prng } from '../prng.js';

/**
 * Rank r's gradient: a shared signal ((i%7) - 3, so both signs and zeros) plus N(0, 1) noise of its
 * own, so ranks disagree on the small coordinates and the vote is not unanimous.
 */
export function signRow(rank: number, d: number, seed: number): Float32Array {
  const prng = new Prng((seed * 6007 + rank * 15485863 + 3) >>> 0);
  const row = new Float32Array(d);
  for (let i = 0; i < d; i++) row[i] = (i % 7) - 3 + prng.normal();
  return row;
}

/** Packed sign words <-> +-1 floats, for a Byzantine rank's attack. */
const SIGN_CODEC: PayloadCodec = {
  decode: (msg) => {
    const words = new Uint32Array(privateCopy(msg.payload!).buffer);
    return unpackSigns(words, words.length * 32);
  },
  encode: (values) => {
    const clean = values.map((v) => (Number.isFinite(v) ? v : -1));
    const packed = packSigns(clean);
    return new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength);
  },
};

/**
 * The honest rows' majority per coordinate (bit 1 = minus, as packSigns) and the coordinates where
 * its margin |plus - minus| exceeds `byzantine`, so that no `byzantine` votes can change the vote.
 */
export function decidedByHonest(honestRows: readonly Float32Array[], d: number, byzantine: number): { decided: Uint32Array; honestVote: Uint32Array } {
  const words = packedWords(d);
  const minus = new Int32Array(d);
  for (const row of honestRows) {
    const packed = packSigns(row);
    for (let i = 0; i < d; i++) minus[i] += (packed[i >>> 5] >>> (i & 31)) & 1;
  }
  const decided = new Uint32Array(words);
  const honestVote = new Uint32Array(words);
  for (let i = 0; i < d; i++) {
    const margin = honestRows.length - 2 * minus[i]; // plus - minus
    if (Math.abs(margin) > byzantine) decided[i >>> 5] |= 1 << (i & 31);
    if (margin < 0) honestVote[i >>> 5] |= 1 << (i & 31);
  }
  return { decided, honestVote };
}

export function signsgdCase(comm: Communicator, mode: string, root: number, seed: number, byzantineRanks: readonly number[] = []): BenchCase {
  const byzantine = new Set(byzantineRanks);
  if (!(SIGN_VOTE_MODES as readonly string[]).includes(mode)) throw new ZcollError('EINVAL', `--mode: unknown signsgd mode '${mode}' (one of ${SIGN_VOTE_MODES.join(', ')})`);
  const m = mode as SignVoteMode;
  if (byzantine.size > 0 && m === 'reduce') throw new ZcollError('EINVAL', `--mode reduce lets every rank decide the vote of its chunk of the coordinates: refused with --byzantine ranks (use allgather or server)`, { rank: comm.rank });
  const n = comm.size;
  return {
    collective: 'signsgd',
    algorithm: m,
    redop: 'vote',
    root: m === 'server' ? root : -1,
    type: 'float32',
    busFactor: (k) => (2 * (k - 1)) / k,
    // Whole 32-bit words, so every rank's packed message is the same length.
    fitSize: (bytes) => Math.floor(bytes / 128) * 128,
    ...(byzantine.size > 0 ? { byzantineCheck: `coordinates of honest ranks' votes against an honest margin > ${byzantine.size}` } : {}),
    prepare: (bytes): BenchStep => {
      const d = bytes / 4;
      const words = packedWords(d);
      const rows = Array.from({ length: n }, (_, r) => signRow(r, d, seed));
      const reference = majorityVote(rows.map((r) => packSigns(r)), d);
      // With Byzantine ranks: the honest margin per coordinate, and which coordinates it decides.
      const { decided, honestVote } = byzantine.size > 0 ? decidedByHonest(rows.filter((_, r) => !byzantine.has(r)), d, byzantine.size) : { decided: undefined, honestVote: reference };
      const judged = !byzantine.has(comm.rank);
      const mine = rows[comm.rank];
      // One scratch per size, as a training loop keeps one (steady-state buffers, nothing of size d per round).
      const scratch = new SignVoteScratch(n, d);
      const excluded: number[] = [];
      let vote: Uint32Array = scratch.vote;
      return {
        reset: () => undefined,
        run: async () => {
          const packed = packSigns(mine, { rank: comm.rank });
          excluded.length = 0;
          vote = await signVote(comm, packed, d, { mode: m, root, scratch, excluded, ...(byzantine.size > 0 ? { byzantine: true } : {}) });
        },
        check: () => {
          if (!judged) return 0;
          let wrong = 0;
          for (let w = 0; w < words; w++) {
            let x = (vote[w] ^ honestVote[w]) >>> 0;
            if (decided !== undefined) x = (x & decided[w]) >>> 0;
            while (x !== 0) {
              x &= x - 1;
              wrong++;
            }
          }
          return wrong;
        },
        excluded: () => excluded.length,
        ...(m !== 'reduce' ? { payloadCodec: SIGN_CODEC } : {}),
      };
    },
  };
}
