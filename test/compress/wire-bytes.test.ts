/**
 * Bytes-on-wire formulas of the three vote modes [issue 5 items 3 and 5]: exact
 * payload bytes stay within one word per message of the nominal d/8 formulas; the 'reduce' mode
 * against its two direct steps counted message by message (an all-to-all of the M chunks of K =
 * ceil(W/M) words, then every rank's chunk vote to every other rank); the float32 ring all-reduce
 * against the transfers of the real ring schedule (lib/schedule/ring.ts), summed per rank, with
 * chunks cut the same way; bytes sent = received.
 */
import t from 'tap';
import { buildRing } from '../../lib/schedule/ring.js';
import type { RingCollective } from '../../lib/schedule/ring.js';
import {
  nominalVoteBytesReceived,
  ringAllreduceWireBytes,
  signVoteWireBytes,
  reduceChunkWords,
} from '../../lib/compress/wire-bytes.js';
import { chunkSpan } from '../../lib/schedule/partition.js';

const sizes = [1, 31, 32, 33, 1000, 1_000_007, 25_000_000];

/** Per-rank [sent, received] bytes of a ring schedule whose chunk k weighs bytesOf(k). */
function scheduleBytes(m: number, collective: RingCollective, bytesOf: (chunk: number) => number): [number, number][] {
  const totals: [number, number][] = Array.from({ length: m }, () => [0, 0]);
  if (m === 1) return totals;
  for (const tr of buildRing(m, collective).transfers) {
    totals[tr.src][0] += bytesOf(tr.chunk);
    totals[tr.dst][1] += bytesOf(tr.chunk);
  }
  return totals;
}

t.test('server and allgather: exact bytes within one word of d/8 per message', async (t) => {
  for (const d of sizes) {
    for (const m of [1, 2, 4, 7, 16]) {
      const words = Math.ceil(d / 32);
      const server = signVoteWireBytes('server', d, m, { server: m - 1 });
      const nominalServer = nominalVoteBytesReceived('server', d, m);
      for (const p of server.perRank) {
        const isServer = p.rank === m - 1;
        const msgs = isServer ? m - 1 : 1;
        t.equal(p.received, msgs * 4 * words);
        t.equal(p.sent, p.received);
        const nominal = isServer ? (nominalServer.server as number) : nominalServer.worker;
        if (!(p.received >= nominal && (p.received - nominal < 4 * msgs || (msgs === 0 && p.received === 0)))) t.fail(`server d=${d} M=${m} rank ${p.rank}`);
      }
      const all = signVoteWireBytes('allgather', d, m);
      for (const p of all.perRank) {
        t.equal(p.received, (m - 1) * 4 * words);
        const nominal = nominalVoteBytesReceived('allgather', d, m).worker;
        if (!(p.received >= nominal && p.received - nominal < 4 * Math.max(1, m - 1))) t.fail(`allgather d=${d} M=${m}`);
      }
      t.equal(all.total, m * (m - 1) * 4 * words);
    }
  }
});

t.test('reduce: all-to-all of sign chunks + direct all-gather of chunk votes, message by message', async (t) => {
  for (const d of sizes) {
    for (const m of [1, 2, 3, 4, 7, 16, 200]) {
      const words = Math.ceil(d / 32);
      const k = reduceChunkWords(d, m);
      t.ok(m * k >= words && m * (k - 1) < Math.max(words, 1), `d=${d} M=${m}: K = ${k} is the smallest equal chunk covering W = ${words}`);
      // Counted per message: rank src sends its chunk j (K words) to every j != src, then its chunk vote (K words) to every rank != src.
      const sent = new Array<number>(m).fill(0);
      const received = new Array<number>(m).fill(0);
      for (let step = 0; step < 2; step++) {
        for (let src = 0; src < m; src++) {
          for (let dst = 0; dst < m; dst++) {
            if (dst === src) continue;
            sent[src] += 4 * k;
            received[dst] += 4 * k;
          }
        }
      }
      const got = signVoteWireBytes('reduce', d, m);
      for (let r = 0; r < m; r++) {
        t.equal(got.perRank[r].sent, sent[r], `d=${d} M=${m} rank ${r} sent`);
        t.equal(got.perRank[r].received, received[r], `d=${d} M=${m} rank ${r} received`);
      }
      t.equal(got.total, sent.reduce((a, b) => a + b, 0));
      if (d >= 1000 && m > 1) {
        // At most two words per message above the nominal 2(M-1)/M·d/8 (the rounding of W and K).
        const nominal = nominalVoteBytesReceived('reduce', d, m).worker;
        const slack = 2 * (m - 1) * 8; // per message 4K <= d/(8M) + 4/M + 4
        if (got.perRank[0].received < nominal || got.perRank[0].received - nominal > slack) t.fail(`reduce d=${d} M=${m}: ${got.perRank[0].received} far from nominal ${nominal}`);
      }
      if (m >= 3 && d >= 1000) t.ok(got.perRank[0].received < signVoteWireBytes('allgather', d, m).perRank[0].received, `d=${d} M=${m}: fewer bytes than allgather`);
    }
  }
});

t.test('float32 ring all-reduce against the schedule, and the 64/M ratio to allgather', async (t) => {
  for (const d of sizes) {
    for (const m of [1, 2, 4, 7, 8]) {
      const rsag = scheduleBytes(m, 'allreduce', (k) => 4 * chunkSpan(d, m, k).length);
      const got = ringAllreduceWireBytes(d, m);
      for (let r = 0; r < m; r++) {
        t.equal(got[r].sent, rsag[r][0], `d=${d} M=${m} rank ${r} sent`);
        t.equal(got[r].received, rsag[r][1], `d=${d} M=${m} rank ${r} received`);
      }
    }
  }
  const d = 32 * 8 * 1000;
  for (const m of [4, 8]) {
    const ratio = ringAllreduceWireBytes(d, m)[0].received / signVoteWireBytes('allgather', d, m).perRank[0].received;
    t.equal(ratio, 64 / m, `M=${m}: float32 ring / 1-bit allgather = 64/M`);
  }
});

t.test('bad arguments', async (t) => {
  t.throws(() => signVoteWireBytes('ring' as 'reduce', 10, 2), /one of server, allgather, reduce/);
  t.throws(() => signVoteWireBytes('server', 10, 2, { server: 2 }), /server/);
  t.throws(() => signVoteWireBytes('allgather', -1, 2), /non-negative/);
  t.throws(() => signVoteWireBytes('allgather', 10, 0), /ranks/);
});
