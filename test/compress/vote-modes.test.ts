// signVote on real rank processes (issue 5 items 3 and 5): every mode gives, on every rank, the vote
// majorityVote computes locally from all ranks' signs (each rank regenerates every rank's seeded
// gradient), bit for bit, for M = 2..7 and d = 1, 33, 4099, 70,001, 1,000,007 (none a multiple of
// 32; their word counts W are multiples of some M and not of others, so 'reduce' runs both with
// the signs as they are and padded to M equal chunks), with every tie rule at even M ('plus' and
// 'random' only at d = 1,000,007); bytes on the wire counted by the outbox (and per destination by
// a counting fault seam) equal the formulas of wire-bytes.ts; a rank that zeroes everything it
// sends changes only its own vote in 'allgather' and 'server' modes but in 'reduce' also the vote
// of the chunk it decides; a malformed message is left out of an 'allgather' vote in Byzantine
// mode and fails with EMISMATCH otherwise.
import t from 'tap';
import { runRanks } from '../helpers/ranks.js';
import { packedBytes } from '../../lib/compress/sign.js';
import { signVoteWireBytes, SIGN_VOTE_MODES, type SignVoteMode } from '../../lib/compress/wire-bytes.js';
import { reduceVoteSentBytes, defaultVoteMode } from '../../lib/compress/vote-modes.js';
import { tiesFor } from './vote-modes-worker.js';

interface VoteResult {
  scenario: 'vote';
  d: number;
  mode: SignVoteMode;
  tie: string;
  match: boolean;
  hash: string;
  sentPayload: number;
  sentHeader: number;
  sentMessages: number;
  perPeer: number[];
}

const DS = [1, 33, 4099, 70_001, 1_000_007];

t.test('default mode', async (t) => {
  t.equal(defaultVoteMode(7, true), 'allgather');
  t.equal(defaultVoteMode(64, true), 'allgather');
  // Between hosts: 'reduce' from M = 3 on (fewer bytes), above 2^20 coordinates, not in Byzantine mode.
  t.equal(defaultVoteMode(2, false, 25_000_000), 'allgather');
  t.equal(defaultVoteMode(3, false, 25_000_000), 'reduce');
  t.equal(defaultVoteMode(4, false, 25_000_000), 'reduce');
  t.equal(defaultVoteMode(8, false, 25_000_000), 'reduce');
  t.equal(defaultVoteMode(8, true, 25_000_000), 'allgather');
  t.equal(defaultVoteMode(64, false, 1000), 'allgather');
  // One host: 'allgather' (measured as fast or faster at M = 4 and 8 on 2 cores, bench/results/signsgd.md).
  t.equal(defaultVoteMode(4, false, 25_000_000, true), 'allgather');
  t.equal(defaultVoteMode(8, false, 10_000_000, true), 'allgather');
});

for (let m = 2; m <= 7; m++) {
  t.test(`M = ${m}: every mode equals the local majority vote; bytes match the formulas`, async (t) => {
    const outs = await runRanks(m, { script: 'test/compress/vote-modes-worker.js', args: ['vote', String(m * 31), DS.join(',')], killAfterMs: 90_000 });
    for (const o of outs) t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.stderr.slice(-1500)}`);
    if (outs.some((o) => o.code !== 0)) return;
    const server = m - 1;
    const byRank = outs.map((o) => o.results.filter((r) => (r as { scenario: string }).scenario === 'vote') as VoteResult[]);
    const cases = byRank[0].length;
    t.equal(cases, SIGN_VOTE_MODES.length * DS.reduce((n, d) => n + tiesFor(m, d).length, 0), 'every case ran');
    for (let k = 0; k < cases; k++) {
      const { d, mode, tie } = byRank[0][k];
      const name = `d=${d} ${mode} tie=${tie}`;
      const msg = packedBytes(d);
      const formula = signVoteWireBytes(mode, d, m, { server });
      for (let r = 0; r < m; r++) {
        const res = byRank[r][k];
        t.ok(res.d === d && res.mode === mode && res.tie === tie, `rank ${r} case ${k} is ${name}`);
        t.ok(res.match, `${name}: rank ${r}'s vote equals majorityVote of all ranks' signs`);
        t.equal(res.hash, byRank[0][k].hash, `${name}: rank ${r} has rank 0's vote`);
        t.ok(res.sentHeader <= 256 * res.sentMessages, `${name}: rank ${r} header overhead ${res.sentHeader} B in ${res.sentMessages} messages`);
        // Received by r = what every other rank's seam saw addressed to r.
        const received = byRank.reduce((s, rows, src) => s + (src === r ? 0 : rows[k].perPeer[r]), 0);
        if (mode === 'reduce') {
          t.equal(res.sentPayload, reduceVoteSentBytes(d, m), `${name}: rank ${r} sends the padded reduce bytes`);
          // Exact: every chunk is K words (the signs padded to M·K), twice (sign chunks, chunk votes).
          t.equal(res.sentPayload, formula.perRank[r].sent, `${name}: rank ${r} payload sent = formula`);
          t.equal(received, formula.perRank[r].received, `${name}: rank ${r} payload received = formula`);
        } else {
          t.equal(res.sentPayload, formula.perRank[r].sent, `${name}: rank ${r} payload sent = formula`);
          t.equal(received, formula.perRank[r].received, `${name}: rank ${r} payload received = formula`);
          if (mode === 'allgather') {
            t.equal(received, (m - 1) * msg, `${name}: allgather rank ${r} receives (M-1)·d/8 (whole words)`);
          } else if (r !== server) {
            t.equal(res.sentPayload, msg, `${name}: worker ${r} sends d/8 up`);
            t.equal(received, msg, `${name}: worker ${r} receives d/8 down`);
          }
        }
      }
    }
    for (const o of outs) {
      const refuse = o.results.find((r) => (r as { scenario: string }).scenario === 'refuse') as { refused: string } | undefined;
      t.match(refuse?.refused ?? '', /^EINVAL: .*'reduce' is refused in Byzantine mode/, `rank ${o.rank}: reduce refused in Byzantine mode`);
    }
  });
}

t.test('a rank that tampers with all it sends changes only its own vote, except in reduce mode (its chunk)', async (t) => {
  const m = 5;
  const tamperer = 2;
  const outs = await runRanks(m, { script: 'test/compress/vote-modes-worker.js', args: ['tamper', '7', '4099', String(tamperer)], killAfterMs: 60_000 });
  for (const o of outs) t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.stderr.slice(-1500)}`);
  for (const o of outs) {
    if (o.rank === tamperer) continue;
    const all = o.results as Array<{ scenario: string }>;
    const res = all.filter((r) => r.scenario === 'tamper') as unknown as Array<{ mode: string; equalsClean?: boolean; equalsOwnOnly?: boolean; outsideChunkEqualsOwnOnly?: boolean; chunkAllPlus?: boolean; error?: string; cleanDiffersFromOwnOnly: boolean }>;
    t.equal(res.length, 3, `rank ${o.rank}: three modes`);
    const malformed = all.filter((r) => r.scenario === 'malformed') as unknown as Array<{ byzantine: boolean; equalsWithoutTamperer?: boolean; excluded: number[]; error?: string }>;
    t.same(malformed, [
      { scenario: 'malformed', byzantine: true, equalsWithoutTamperer: true, excluded: [tamperer] },
      { scenario: 'malformed', byzantine: false, error: 'EMISMATCH', excluded: [] },
    ], `rank ${o.rank}: a malformed message is left out in Byzantine mode, EMISMATCH otherwise`);
    for (const r of res) {
      // The test can only tell the two apart if zeroing the tamperer's own signs changes the vote.
      t.ok(r.cleanDiffersFromOwnOnly, 'the tamperer\'s own vote matters to the result');
      if (r.mode === 'reduce') {
        // The tamperer decides its chunk's vote and sends it as zeros: more than its own vote changes.
        t.ok(r.error === undefined && r.equalsClean === false && r.equalsOwnOnly === false, `rank ${o.rank}: reduce vote corrupted by the chunk's owner (${JSON.stringify(r)})`);
        // ... and only that chunk: its words are the zeros it sent, every other word is what its own signs alone could do.
        t.equal(r.chunkAllPlus, true, `rank ${o.rank}: the tamperer's chunk is the all-+1 vote it sent`);
        t.equal(r.outsideChunkEqualsOwnOnly, true, `rank ${o.rank}: outside its chunk the tamperer changed only its own vote`);
      } else {
        t.equal(r.equalsOwnOnly, true, `rank ${o.rank}: ${r.mode} vote = vote with only the tamperer's own signs zeroed`);
      }
    }
  }
});
