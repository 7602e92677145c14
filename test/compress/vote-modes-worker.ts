/**
 * A rank process for test/compress/vote-modes.test.ts. `node vote-modes-worker.js <scenario> [args]`
 * runs signVote in every mode over real sockets and prints `RESULT <json>` lines. Every rank's
 * gradient is a seeded function of (seed, rank), so each rank computes all ranks' signs and the
 * local majorityVote reference itself.
 *   vote <seed> <d,d,...>        every mode and tie rule; the vote vs the reference; bytes per peer.
 *   tamper <seed> <d> <rank>     `rank` zeroes every payload it sends (its fault seam); allgather,
 *                                server and reduce votes vs the clean reference and vs the reference
 *                                where only that rank's own signs are zero, word by word inside and
 *                                outside the chunk that rank decides in 'reduce'.
 *   scratch <seed> <d,d,...> <D> every mode with a SignVoteScratch over rounds (the vote is the
 *                                scratch's, equal to the reference each round; 'keep' ties from a
 *                                copy of the last vote); the arguments it refuses; then the minor page
 *                                faults of steady-state votes at d = D with and without a scratch.
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { init, type Communicator } from '../../lib/index.js';
import { isZcollError } from '../../lib/errors.js';
import { majorityVote, type TieRule } from '../../lib/compress/majority-vote.js';
import { packSigns, packedWords } from '../../lib/compress/sign.js';
import { signVote, SignVoteScratch } from '../../lib/compress/vote-modes.js';
import { reduceChunkWords, SIGN_VOTE_MODES } from '../../lib/compress/wire-bytes.js';
import { Prng } from '../../lib/prng.js';
import type { OutgoingMessage } from '../../lib/transport/outbox.js';

const out = (x: unknown): void => void process.stdout.write(`RESULT ${JSON.stringify(x)}\n`);

/** Rank r's gradient: seeded normals, with +0 and -0 sprinkled in (both vote +1). */
export function gradientOf(seed: number, rank: number, d: number): Float32Array {
  const prng = new Prng((seed * 7919 + rank * 104729 + 17) >>> 0);
  const g = new Float32Array(d);
  for (let i = 0; i < d; i++) {
    const u = prng.nextUint32();
    g[i] = u % 97 === 0 ? (u & 1 ? -0 : 0) : u / 2 ** 32 - 0.5;
  }
  return g;
}

/**
 * Tie rules tried: all four at even M (odd M never ties; 'plus' alone there), at every d up to
 * 100,000 (several 'reduce' chunks, so 'random' and 'keep' are checked on global word indices past
 * the first chunk); only 'plus' and 'random' at larger d to keep the test fast.
 */
export function tiesFor(m: number, d: number): TieRule[] {
  if (m % 2 === 1) return ['plus'];
  return d > 100_000 ? ['plus', 'random'] : ['plus', 'minus', 'random', 'keep'];
}

function hashOf(a: Uint32Array): string {
  return createHash('sha1').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex').slice(0, 12);
}

function equalWords(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A seam that counts payload bytes per destination and passes every message unchanged. */
function countingSeam(comm: Communicator): number[] {
  const perPeer = new Array<number>(comm.size).fill(0);
  comm.setFaultSeam((msg: OutgoingMessage) => {
    perPeer[msg.peer] += msg.payload?.byteLength ?? 0;
    return msg;
  });
  return perPeer;
}

async function voteScenario(comm: Communicator, seed: number, ds: number[]): Promise<void> {
  const m = comm.size;
  for (const d of ds) {
    const rows = Array.from({ length: m }, (_, r) => packSigns(gradientOf(seed, r, d)));
    const mine = rows[comm.rank];
    const ties = tiesFor(m, d);
    for (const mode of SIGN_VOTE_MODES) {
      for (const tie of ties) {
        // 'keep' needs a previous vote: the reference of another seed's signs, the same on every rank.
        const previous = tie === 'keep' ? majorityVote(Array.from({ length: m }, (_, r) => packSigns(gradientOf(seed + 1, r, d))), d) : undefined;
        const voteOpts = { tie, seed: 99, round: 3, ...(previous !== undefined ? { previous } : {}) };
        const reference = majorityVote(rows, d, voteOpts);
        const perPeer = countingSeam(comm);
        const before = { ...comm.outbox.counters };
        const vote = await signVote(comm, mine, d, { mode, root: m - 1, ...voteOpts });
        const after = comm.outbox.counters;
        comm.setFaultSeam(undefined);
        out({
          scenario: 'vote',
          d,
          mode,
          tie,
          words: vote.length,
          match: equalWords(vote, reference),
          hash: hashOf(vote),
          sentPayload: after.payloadBytes - before.payloadBytes,
          sentHeader: after.headerBytes - before.headerBytes,
          sentMessages: after.messages - before.messages,
          perPeer,
        });
      }
    }
  }
  // 'reduce' in Byzantine mode is refused before anything is sent, on every rank.
  let refused = '';
  try {
    await signVote(comm, packSigns(gradientOf(seed, comm.rank, 40)), 40, { mode: 'reduce', byzantine: true });
  } catch (e) {
    refused = isZcollError(e) ? `${e.code}: ${e.message}` : String(e);
  }
  out({ scenario: 'refuse', refused });
}

async function tamperScenario(comm: Communicator, seed: number, d: number, tamperer: number): Promise<void> {
  const m = comm.size;
  const rows = Array.from({ length: m }, (_, r) => packSigns(gradientOf(seed, r, d)));
  const clean = majorityVote(rows, d);
  // What the tamperer can legitimately do: send zero signs (all +1) as its OWN vote.
  const ownOnly = majorityVote(rows.map((row, r) => (r === tamperer ? new Uint32Array(packedWords(d)) : row)), d);
  if (comm.rank === tamperer) {
    // Every payload it sends, its own or one it forwards, becomes zeros (a fresh buffer: the payload may be a view of live data).
    comm.setFaultSeam((msg) => (msg.payload === undefined ? msg : { ...msg, payload: new Uint8Array(msg.payload.byteLength) }));
  }
  for (const mode of SIGN_VOTE_MODES) {
    let result: Record<string, unknown>;
    try {
      const vote = await signVote(comm, rows[comm.rank], d, { mode, root: tamperer === 0 ? 1 : 0 });
      // 'reduce': the words of the tamperer's chunk (K = reduceChunkWords) are its to decide, the rest is not.
      const k = reduceChunkWords(d, m);
      const inChunk = (w: number): boolean => w >= tamperer * k && w < (tamperer + 1) * k;
      const words = Array.from(vote.keys());
      result = {
        equalsClean: equalWords(vote, clean),
        equalsOwnOnly: equalWords(vote, ownOnly),
        outsideChunkEqualsOwnOnly: words.every((w) => inChunk(w) || vote[w] === ownOnly[w]),
        chunkAllPlus: words.every((w) => !inChunk(w) || vote[w] === 0),
        hash: hashOf(vote),
      };
    } catch (e) {
      result = { error: isZcollError(e) ? e.code : String(e) };
    }
    out({ scenario: 'tamper', mode, tamperer, cleanDiffersFromOwnOnly: !equalWords(clean, ownOnly), ...result });
  }
  comm.setFaultSeam(undefined);
  // A malformed message (one word too many, sent around signVote): left out in Byzantine mode, EMISMATCH otherwise.
  const withoutTamperer = majorityVote(rows.filter((_, r) => r !== tamperer), d);
  for (const byzantine of [true, false]) {
    if (comm.rank === tamperer) {
      await comm.exchangeDirect(new Int32Array(packedWords(d) + 1));
      continue;
    }
    const excluded: number[] = [];
    let result: Record<string, unknown>;
    try {
      const vote = await signVote(comm, rows[comm.rank], d, { mode: 'allgather', byzantine, excluded });
      result = { equalsWithoutTamperer: equalWords(vote, withoutTamperer), excluded };
    } catch (e) {
      result = { error: isZcollError(e) ? e.code : String(e), excluded };
    }
    out({ scenario: 'malformed', byzantine, ...result });
  }
}

async function scratchScenario(comm: Communicator, seed: number, ds: number[], faultD: number): Promise<void> {
  const m = comm.size;
  for (const d of ds) {
    for (const mode of SIGN_VOTE_MODES) {
      const scratch = new SignVoteScratch(m, d);
      let last: Uint32Array | undefined;
      for (let round = 0; round < 3; round++) {
        const rows = Array.from({ length: m }, (_, r) => packSigns(gradientOf(seed + round, r, d)));
        // Round 2 at even M: ties keep the previous round's vote, passed as a copy (the scratch's own is refused).
        const keep = round === 2 && m % 2 === 0;
        const opts = keep ? { tie: 'keep' as const, previous: last!.slice() } : {};
        const reference = majorityVote(rows, d, opts);
        const vote = await signVote(comm, rows[comm.rank], d, { mode, root: m - 1, scratch, ...opts });
        out({ scenario: 'scratch', d, mode, round, tie: keep ? 'keep' : 'plus', isScratch: vote === scratch.vote, match: equalWords(vote, reference) });
        last = vote;
      }
    }
  }
  // Refused before anything is sent, on every rank alike.
  const d = ds[0];
  const mine = packSigns(gradientOf(seed, comm.rank, d));
  const refusals: string[] = [];
  for (const bad of [{ scratch: new SignVoteScratch(m, d + 1) }, { scratch: new SignVoteScratch(m + 1, d) }]) {
    try {
      await signVote(comm, mine, d, bad);
      refusals.push('accepted');
    } catch (e) {
      refusals.push(isZcollError(e) ? e.code : String(e));
    }
  }
  const scratch = new SignVoteScratch(m, d);
  await signVote(comm, mine, d, { scratch });
  try {
    await signVote(comm, mine, d, { scratch, tie: 'keep', previous: scratch.vote });
    refusals.push('accepted');
  } catch (e) {
    refusals.push(isZcollError(e) ? e.code : String(e));
  }
  out({ scenario: 'scratch-refusals', refusals });

  // Steady-state page faults per vote at d = faultD: the median of five rounds after two warm-up
  // rounds. The median, because a one-time first touch can fall in any round: when the server's
  // reply reaches a worker before its broadcast has started, the worker copies it out of the slot
  // into a buffer of the communicator's early-copy pool, made (2 MB, one message of page faults) the
  // first time that happens for this size and reused after; under load that first time was seen
  // in round 3. A vote that faults every round (fresh buffers) still shows in the median.
  const words = packedWords(faultD);
  const prng = new Prng(seed + comm.rank);
  const signs = Uint32Array.from({ length: words }, () => prng.nextUint32());
  for (const mode of SIGN_VOTE_MODES) {
    const faultsOf = async (withScratch: boolean): Promise<number> => {
      const s = withScratch ? new SignVoteScratch(m, faultD) : undefined;
      const faults: number[] = [];
      for (let round = 0; round < 7; round++) {
        await comm.barrier();
        const before = process.resourceUsage().minorPageFault;
        await signVote(comm, signs, faultD, { mode, root: m - 1, ...(s !== undefined ? { scratch: s } : {}) });
        if (round >= 2) faults.push(process.resourceUsage().minorPageFault - before);
      }
      return faults.sort((a, b) => a - b)[2];
    };
    const withScratch = await faultsOf(true);
    const fresh = await faultsOf(false);
    out({ scenario: 'scratch-faults', mode, pagesPerMessage: Math.ceil((4 * words) / 4096), withScratch, fresh, sharedMemory: comm.usesSharedMemory });
  }
}

async function main(): Promise<void> {
  const [scenario, ...args] = process.argv.slice(2);
  const comm = await init({ timeoutMs: Number(process.env.ZCOLL_TEST_TIMEOUT_MS ?? 30000) });
  try {
    if (scenario === 'vote') await voteScenario(comm, Number(args[0]), args[1].split(',').map(Number));
    else if (scenario === 'tamper') await tamperScenario(comm, Number(args[0]), Number(args[1]), Number(args[2]));
    else if (scenario === 'scratch') await scratchScenario(comm, Number(args[0]), args[1].split(',').map(Number), Number(args[2]));
    else throw new Error(`unknown scenario ${scenario}`);
  } finally {
    await comm.close();
  }
}

// Run only as a rank process, not when the test imports tiesFor.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`rank ${process.env.ZCOLL_RANK}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
