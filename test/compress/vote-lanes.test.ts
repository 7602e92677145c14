// The count lanes of signVote's 'reduce' mode (lib/compress/vote-lanes.ts): every rank's signs
// spread into c-bit lanes, the lanes summed as plain int32 words (what the ring reduce-scatter
// does), then each chunk's vote and tie words read back. Checked against kernels.voteCount (the
// bit-sliced count of majorityVote, an independent way to count) for M = 1..17 and wide M, with the
// JS and native kernels bit for bit; corrupted lanes are found at their first coordinate.
import t from 'tap';
import { jsKernels, nativeKernels } from '../../lib/kernels/index.js';
import type { Kernels } from '../../lib/kernels/index.js';
import { Prng } from '../../lib/prng.js';
import { packedWords } from '../../lib/compress/sign.js';
import { reduceVoteBytes, voteLaneBits, voteLaneLayout } from '../../lib/compress/vote-lanes.js';

const sets: Array<[string, Kernels]> = [['js', jsKernels]];
if (nativeKernels !== undefined) sets.push(['native', nativeKernels]);

function randomPacked(prng: Prng, d: number): Uint32Array {
  const p = new Uint32Array(packedWords(d));
  for (let w = 0; w < p.length; w++) p[w] = prng.nextUint32();
  return p; // bits past d set too: the spread must ignore them
}

t.test('lane widths: c = bit length of M', async (t) => {
  t.same([1, 2, 3, 4, 7, 8, 15, 16, 127, 128].map(voteLaneBits), [1, 2, 2, 3, 3, 4, 4, 5, 7, 8]);
  const l = voteLaneLayout(25_000_000, 4);
  t.same([l.bits, l.lanes], [3, 10]);
  t.equal(l.voteWords, 4 * l.chunkVoteWords);
  t.ok(l.voteWords >= packedWords(25_000_000));
  // (M-1)·G·(128 + 4L) at d = 25M: 9.84 MB at M = 4 (byte lanes needed 21.09 MB), below 'allgather' from M = 5.
  t.equal(reduceVoteBytes(25_000_000, 4), 3 * 19532 * (128 + 40));
  for (const m of [5, 6, 7, 8, 16]) t.ok(reduceVoteBytes(25_000_000, m) < (m - 1) * 4 * packedWords(25_000_000), `M=${m}: fewer bytes than allgather`);
  t.ok(reduceVoteBytes(25_000_000, 4) > 3 * 4 * packedWords(25_000_000), 'M=4: more bytes than allgather');
});

for (const m of [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 17, 127, 128, 300]) {
  t.test(`M = ${m}: summed lanes vote as voteCount does, JS = native`, async (t) => {
    const prng = new Prng(77 + m);
    for (const d of [1, 31, 32, 33, 321, 4097]) {
      const layout = voteLaneLayout(d, m);
      const words = packedWords(d);
      const ranks = Array.from({ length: m }, () => randomPacked(prng, d));
      const byKernel = new Map<string, { sum: Int32Array; neg: Uint32Array; ties: Uint32Array }>();
      for (const [name, k] of sets) {
        const sum = new Int32Array(layout.countWords);
        const spread = new Int32Array(layout.countWords).fill(-1); // stale contents must be overwritten
        for (const p of ranks) {
          k.spreadVoteLanes(p, d, m, spread);
          for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] + spread[i]) | 0;
        }
        const neg = new Uint32Array(layout.voteWords);
        const ties = new Uint32Array(layout.voteWords);
        const per = layout.chunkVoteWords;
        for (let c = 0; c < m; c++) {
          const bad = k.votesFromLanes(sum.subarray(c * layout.groupsPerChunk * 32, (c + 1) * layout.groupsPerChunk * 32), m, neg.subarray(c * per, (c + 1) * per), ties.subarray(c * per, (c + 1) * per));
          t.equal(bad, -1, `${name} d=${d} chunk ${c}: no bad count`);
        }
        byKernel.set(name, { sum, neg, ties });
      }
      // The reference: bit-sliced counting over the raw messages, bits past d masked off.
      const tail = d & 31;
      const masked = ranks.map((p) => {
        const q = p.slice();
        if (tail !== 0) q[words - 1] &= (2 ** tail - 1) >>> 0;
        return q;
      });
      const refNeg = new Uint32Array(words);
      const refTies = new Uint32Array(words);
      jsKernels.voteCount(masked, words, refNeg, refTies);
      for (const [name, got] of byKernel) {
        t.same(got.neg.subarray(0, words), refNeg, `${name} d=${d}: vote words`);
        t.same(got.ties.subarray(0, words), refTies, `${name} d=${d}: tie words`);
        t.ok(got.neg.subarray(words).every((w) => w === 0) && got.ties.subarray(words).every((w) => w === 0), `${name} d=${d}: padding votes +1, no ties`);
      }
      const js = byKernel.get('js')!;
      const native = byKernel.get('native');
      if (native !== undefined) t.same(native.sum, js.sum, `d=${d}: native spread = JS spread, bit for bit`);
    }
  });
}

t.test('a lane above M is reported at its first coordinate, by both kernels', async (t) => {
  const m = 4; // c = 3, 10 lanes
  for (const [name, k] of sets) {
    const counts = new Int32Array(64); // 2 groups
    counts[32 + 5] = 2 << 6; // group 1, lane 2, bit 5: count 2, fine
    counts[32 + 7] = 5 << 6; // group 1, lane 2, bit 7: count 5 > 4
    counts[32 + 9] = 7 << 9; // group 1, lane 3: later coordinate
    const neg = new Uint32Array(20);
    const ties = new Uint32Array(20);
    t.equal(k.votesFromLanes(counts, m, neg, ties), (10 + 2) * 32 + 7, `${name}: first bad coordinate`);
  }
  if (nativeKernels !== undefined) {
    t.throws(() => nativeKernels!.spreadVoteLanes(new Uint32Array(1), 32, 4, new Int32Array(31)), /multiple of 32/, 'native checks out');
    t.throws(() => nativeKernels!.votesFromLanes(new Int32Array(32), 4, new Uint32Array(10), new Uint32Array(9)), /need 10 words/, 'native checks tieOut');
  }
});
