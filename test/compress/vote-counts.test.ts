/**
 * The 'reduce' mode's arithmetic: per-rank sign counts summed in the narrow count type (int8/int16,
 * as the ring reduce-scatter would), voted chunk by chunk over word-aligned chunks (the ring's
 * chunkSpan over words), and concatenated, equals majorityVote on the whole vector bit for bit for
 * every tie rule, M = 1..9, 16 and 130 (int16 counts). A count outside [0, M] is refused.
 */
import t from 'tap';
import { ZcollError } from '../../lib/errors.js';
import { Prng } from '../../lib/prng.js';
import { chunkSpan } from '../../lib/schedule/partition.js';
import { packSigns } from '../../lib/compress/sign.js';
import { majorityVote } from '../../lib/compress/majority-vote.js';
import type { TieRule } from '../../lib/compress/majority-vote.js';
import { allocVoteCounts, signCounts, voteFromCounts } from '../../lib/compress/vote-counts.js';

const prng = new Prng(31);

function randomSigns(d: number): Float32Array {
  const x = new Float32Array(d);
  for (let i = 0; i < d; i++) x[i] = prng.next() < 0.5 ? -1 : prng.next() < 0.1 ? 0 : 1;
  return x;
}

t.test('chunked votes from summed counts = majorityVote', async (t) => {
  const rules: TieRule[] = ['plus', 'minus', 'random', 'keep'];
  let cases = 0;
  for (const m of [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 130]) {
    for (const d of m > 16 ? [1, 33, 700] : [1, 31, 32, 33, 100, 1 + prng.int(4000), 20_000]) {
      const packed = Array.from({ length: m }, () => packSigns(randomSigns(d)));
      const sum = allocVoteCounts(m, d);
      t.equal(sum.BYTES_PER_ELEMENT, m <= 127 ? 1 : 2);
      const mine = allocVoteCounts(m, d);
      for (const p of packed) {
        signCounts(p, d, mine);
        for (let i = 0; i < d; i++) sum[i] += mine[i];
      }
      const words = Math.ceil(d / 32);
      const previous = packSigns(randomSigns(d));
      for (const tie of rules) {
        const opts = { tie, seed: 5, round: 9, previous };
        const whole = majorityVote(packed, d, opts);
        const chunked = new Uint32Array(words);
        for (let k = 0; k < m; k++) {
          const span = chunkSpan(words, m, k);
          const counts = sum.subarray(32 * span.offset, Math.min(d, 32 * (span.offset + span.length)));
          chunked.set(voteFromCounts(counts, m, { ...opts, firstWord: span.offset }), span.offset);
        }
        if (chunked.some((w, i) => w !== whole[i])) t.fail(`M=${m} d=${d} tie=${tie}: chunked vote differs`);
        cases++;
      }
    }
  }
  t.ok(cases > 200, `${cases} cases agree`);
});

t.test('counts outside [0, M] are refused', async (t) => {
  const counts = new Int8Array([0, 1, 5, 2]);
  try {
    voteFromCounts(counts, 4, { firstWord: 2, rank: 1 });
    t.fail('no error');
  } catch (e) {
    t.ok(e instanceof ZcollError && e.code === 'ENUMERIC' && e.rank === 1 && e.details?.index === 66, String(e));
  }
  t.throws(() => voteFromCounts(new Int8Array([-1]), 4), /outside \[0, 4\]/);
  t.throws(() => voteFromCounts(new Int8Array(1), 0), /ranks/);
  t.throws(() => signCounts(new Uint32Array(1), 33, new Int8Array(33)), /2 packed words/);
});
