// spreadSignCounts (the word-at-a-time signCounts of signVote's 'reduce' mode) writes, in its int32
// count words, exactly the Int8Array / Int16Array counts that signCounts writes coordinate by
// coordinate, for 8- and 16-bit lanes, lengths with and without a partial last word, and garbage
// bits past d; and summing count words as int32 equals summing the lanes (no carry between lanes).
import t from 'tap';
import { endianness } from 'node:os';
import { spreadSignCounts } from '../../lib/compress/vote-modes.js';
import { signCounts } from '../../lib/compress/vote-counts.js';
import { packedWords } from '../../lib/compress/sign.js';
import { Prng } from '../../lib/prng.js';

t.test('spreadSignCounts equals signCounts', { skip: endianness() !== 'LE' ? 'lane layout is little-endian only' : false }, async (t) => {
  const prng = new Prng(5);
  for (const d of [1, 31, 32, 33, 100, 1025]) {
    for (const c of [1, 2] as const) {
      const words = packedWords(d);
      const packed = Uint32Array.from({ length: words }, () => prng.nextUint32()); // bits past d are garbage
      const lanes = words * 32;
      const got = new Int32Array((lanes * c) / 4);
      spreadSignCounts(packed, d, got, c);
      const ref = c === 1 ? new Int8Array(lanes) : new Int16Array(lanes);
      signCounts(packed, d, ref);
      const view = c === 1 ? new Int8Array(got.buffer) : new Int16Array(got.buffer);
      t.same(Array.from(view), Array.from(ref), `d=${d}, ${8 * c}-bit lanes`);
    }
  }
  // Lane-wise sums of M <= 127 (8-bit) rows through int32 addition.
  const d = 200;
  const m = 127;
  const sum = new Int32Array(packedWords(d) * 8);
  const ref = new Int32Array(d);
  for (let r = 0; r < m; r++) {
    const packed = Uint32Array.from({ length: packedWords(d) }, () => prng.nextUint32());
    const words = new Int32Array(sum.length);
    spreadSignCounts(packed, d, words, 1);
    for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] + words[i]) | 0;
    for (let i = 0; i < d; i++) ref[i] += (packed[i >>> 5] >>> (i & 31)) & 1;
  }
  t.same(Array.from(new Int8Array(sum.buffer).subarray(0, d)), Array.from(ref), '127 rows summed as int32 words = per-coordinate counts');
});
