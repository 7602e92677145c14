/**
 * A rank process for test/compress/vote-registered.test.ts. `node vote-registered-worker.js
 * <scenario> <seed> <d,d,...>` prints `RESULT <json>` lines.
 *   compare   every mode, three rounds per d (tie rules 'plus', 'random', 'keep' in turn): the same signs voted through a plain SignVoteScratch
 *             and through one registered with the communicator (signs packed into scratch.signs in
 *             rounds 0 and 2, passed from elsewhere in round 1, which 'allgather' copies in); both
 *             votes against each other word for word and against the local majorityVote of all
 *             ranks' signs; the bytes the outbox sent by reference (in place) per call. Then the
 *             lifecycle: this rank's registered-buffer regions in /dev/shm before the scratch, with
 *             it, after release(); release() refused while a vote is in flight; a released scratch
 *             refused by signVote; and one registered scratch left unreleased for close() to free.
 *   fallback  (run with a /dev/shm too small for the buffers, transport 'shm'): a registered
 *             scratch whose buffers do not fit falls back to plain memory instead of failing, and
 *             every mode's vote is still the reference's.
 */
import { readdirSync } from 'node:fs';
import { init, type Communicator } from '../../lib/index.js';
import { isZcollError } from '../../lib/errors.js';
import { majorityVote } from '../../lib/compress/majority-vote.js';
import { packedWords } from '../../lib/compress/sign.js';
import { signVote, SignVoteScratch } from '../../lib/compress/vote-modes.js';
import { SIGN_VOTE_MODES } from '../../lib/compress/wire-bytes.js';
import { Prng } from '../../lib/prng.js';
import { regionName } from '../../lib/transport/shm-region.js';

const out = (x: unknown): void => void process.stdout.write(`RESULT ${JSON.stringify(x)}\n`);

/** Rank r's packed signs of round `round`: seeded words, the bits past d cleared (as packSigns leaves them). */
function signsOf(seed: number, rank: number, round: number, d: number): Uint32Array {
  const prng = new Prng((seed * 7919 + rank * 104729 + round * 31 + 17) >>> 0);
  const words = Uint32Array.from({ length: packedWords(d) }, () => prng.nextUint32());
  if (d % 32 !== 0) words[words.length - 1] &= 2 ** (d % 32) - 1;
  return words;
}

function equalWords(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** This rank's registered-buffer regions in /dev/shm (zcoll-<epoch>-<rank>-<k>). */
function myArenas(comm: Communicator): string[] {
  const prefix = `${regionName(comm.epoch, comm.rank)}-`;
  return readdirSync('/dev/shm').filter((n) => n.startsWith(prefix));
}

function codeOf(e: unknown): string {
  return isZcollError(e) ? e.code : String(e);
}

async function compare(comm: Communicator, seed: number, ds: number[]): Promise<void> {
  const m = comm.size;
  out({ scenario: 'world', epoch: comm.epoch, sharedMemory: comm.usesSharedMemory });
  for (const d of ds) {
    for (const mode of SIGN_VOTE_MODES) {
      const plain = new SignVoteScratch(m, d);
      const registered = new SignVoteScratch(m, d, { comm });
      let previous: Uint32Array | undefined;
      for (let round = 0; round < 3; round++) {
        const rows = Array.from({ length: m }, (_, r) => signsOf(seed + d, r, round, d));
        // A tie rule per round (ties happen at even M: the words are random): 'plus', 'random'
        // (coins keyed by the global word index), 'keep' (the previous round's vote, a copy).
        const tie = (['plus', 'random', 'keep'] as const)[round];
        const voteOpts = { tie, seed: 77, round, ...(tie === 'keep' ? { previous: previous!.slice() } : {}) };
        const reference = majorityVote(rows, d, voteOpts);
        previous = reference;
        const plainVote = (await signVote(comm, rows[comm.rank], d, { mode, root: m - 1, scratch: plain, ...voteOpts })).slice();
        // Rounds 0 and 2: packed into the registered buffer, as Signum.signs(grad, params, scratch.signs) does.
        const packedThere = round !== 1;
        if (packedThere) registered.signs.set(rows[comm.rank]);
        const before = comm.outbox.counters.sharedBytes;
        const vote = await signVote(comm, packedThere ? registered.signs : rows[comm.rank], d, { mode, root: m - 1, scratch: registered, ...voteOpts });
        out({
          scenario: 'compare',
          d,
          mode,
          round,
          tie,
          packedThere,
          isScratch: vote === registered.vote,
          equalsPlain: equalWords(vote, plainVote),
          equalsReference: equalWords(vote, reference),
          sharedBytes: comm.outbox.counters.sharedBytes - before,
        });
      }
      registered.release();
    }
  }

  // Lifecycle at the first d.
  const d = ds[0];
  const before = myArenas(comm);
  const scratch = new SignVoteScratch(m, d, { comm });
  const mine = signsOf(seed, comm.rank, 0, d);
  await signVote(comm, mine, d, { mode: 'reduce', scratch });
  const withScratch = myArenas(comm);
  // A vote in flight: freeing its buffers now is refused, and the vote is unharmed.
  const inFlight = signVote(comm, mine, d, { mode: 'allgather', scratch });
  let whileInFlight = 'accepted';
  try {
    scratch.release();
  } catch (e) {
    whileInFlight = codeOf(e);
  }
  const rows = Array.from({ length: m }, (_, r) => signsOf(seed, r, 0, d));
  const inFlightRight = equalWords(await inFlight, majorityVote(rows, d));
  scratch.release();
  scratch.release(); // idempotent
  const afterRelease = myArenas(comm);
  let reuse = 'accepted';
  try {
    await signVote(comm, mine, d, { scratch });
  } catch (e) {
    reuse = codeOf(e);
  }
  // Left for close() to free: the test checks /dev/shm once every rank exited.
  const kept = new SignVoteScratch(m, d, { comm });
  await signVote(comm, mine, d, { mode: 'server', scratch: kept });
  out({
    scenario: 'lifecycle',
    before: before.length,
    withScratch: withScratch.length,
    afterRelease: afterRelease.length,
    sameAsBefore: JSON.stringify(afterRelease.sort()) === JSON.stringify(before.sort()),
    whileInFlight,
    inFlightRight,
    usableAfterRelease: scratch.usable,
    voteDetached: scratch.vote.length === 0,
    reuse,
    keptArenas: myArenas(comm).length,
  });
  await comm.close();
  let afterClose = 'accepted';
  try {
    await signVote(comm, mine, d, { scratch: kept });
  } catch (e) {
    afterClose = codeOf(e);
  }
  out({ scenario: 'closed', arenasAfterClose: myArenas(comm).length, usable: kept.usable, afterClose });
}

async function fallback(comm: Communicator, seed: number, ds: number[]): Promise<void> {
  const m = comm.size;
  for (const d of ds) {
    const scratch = new SignVoteScratch(m, d, { comm });
    for (const mode of SIGN_VOTE_MODES) {
      const rows = Array.from({ length: m }, (_, r) => signsOf(seed, r, 0, d));
      scratch.signs.set(rows[comm.rank]);
      const vote = await signVote(comm, scratch.signs, d, { mode, root: m - 1, scratch });
      out({ scenario: 'fallback', d, mode, sharedMemory: comm.usesSharedMemory, arenas: myArenas(comm).length, equalsReference: equalWords(vote, majorityVote(rows, d)) });
    }
    scratch.release();
  }
  await comm.close();
}

const [scenario, seed, ds] = process.argv.slice(2);
const comm = await init({ timeoutMs: Number(process.env.ZCOLL_TEST_TIMEOUT_MS ?? 30000) });
try {
  if (scenario === 'compare') await compare(comm, Number(seed), ds.split(',').map(Number));
  else if (scenario === 'fallback') await fallback(comm, Number(seed), ds.split(',').map(Number));
  else throw new Error(`unknown scenario ${scenario}`);
} catch (e) {
  process.stderr.write(`rank ${comm.rank}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
  await comm.close();
}
