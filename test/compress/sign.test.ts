/**
 * The 1-bit wire format: unpack(pack(x)) = sign(x) with sign(+-0) = +1,
 * the message length, zero padding past d, and NaN/+-Inf refused with the rank and the FIRST bad
 * index. Every case runs with the kernels in use, the JS kernels and (when loaded) the native ones;
 * the reference is a per-element loop that never calls a kernel.
 */
import t from 'tap';
import type { Test } from 'tap';
import { ZcollError } from '../../lib/errors.js';
import { jsKernels, kernels, nativeKernels } from '../../lib/kernels/index.js';
import type { Kernels } from '../../lib/kernels/index.js';
import { Prng } from '../../lib/prng.js';
import { packedBytes, packedWords, packSigns, signAt, unpackSigns } from '../../lib/compress/sign.js';


/** Runs fn, expecting a ZcollError that satisfies `matches`. */
function expectError(t: Test, fn: () => unknown, matches: (e: ZcollError) => boolean, what: string): void {
  try {
    fn();
    t.fail(`${what}: no error thrown`);
  } catch (e) {
    t.ok(e instanceof ZcollError && matches(e), `${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const kernelSets: [string, Kernels][] = [['in use', kernels], ['js', jsKernels]];
if (nativeKernels !== undefined) kernelSets.push(['native', nativeKernels]);

/** Random floats: normals of mixed scale, with +0, -0, tiny and huge values sprinkled in. */
function randomVector(d: number, prng: Prng): Float32Array {
  const special = [0, -0, 1e-30, -1e-30, 3e38, -3e38, 1e-45, -1e-45];
  const x = new Float32Array(d);
  for (let i = 0; i < d; i++) {
    x[i] = prng.next() < 0.1 ? special[prng.int(special.length)] : prng.normal() * 10 ** prng.int(6);
  }
  return x;
}

/** Reference encoding: the bit of coordinate i is 1 iff x[i] < 0, read back from the words bit by bit. */
function referenceBit(x: Float32Array, i: number): number {
  return x[i] < 0 ? 1 : 0;
}

const sizes = [0, 1, 2, 31, 32, 33, 63, 64, 65, 100, 1000, 4097, 1_000_007];
const prng = new Prng(20261122);
for (let k = 0; k < 6; k++) sizes.push(1 + prng.int(5000));

for (const [name, ks] of kernelSets) {
  t.test(`round trip and layout (${name} kernels)`, async (t) => {
    for (const d of sizes) {
      const x = randomVector(d, prng);
      const packed = packSigns(x, { kernels: ks });
      t.equal(packed.length, Math.ceil(d / 32), `d=${d}: ceil(d/32) words`);
      t.equal(packedBytes(d), 4 * Math.ceil(d / 32));
      const signs = unpackSigns(packed, d);
      let wrong = 0;
      let wrongBits = 0;
      for (let i = 0; i < d; i++) {
        const expected = x[i] < 0 ? -1 : 1;
        if (signs[i] !== expected) wrong++;
        if (((packed[i >>> 5] >>> (i & 31)) & 1) !== referenceBit(x, i)) wrongBits++;
        if (signAt(packed, i) !== expected) wrongBits++;
      }
      t.equal(wrong, 0, `d=${d}: unpack(pack(x)) = sign(x)`);
      t.equal(wrongBits, 0, `d=${d}: bit (i&31) of word i>>5, LSB first`);
      if (d % 32 !== 0) t.equal(packed[packed.length - 1] >>> (d % 32), 0, `d=${d}: padding bits are 0`);
    }
  });

  t.test(`+0 and -0 vote +1 (${name} kernels)`, async (t) => {
    const x = new Float32Array([+0, -0, 0.5, -1e-30]);
    t.same(Array.from(unpackSigns(packSigns(x, { kernels: ks }), 4)), [1, 1, 1, -1]);
    const zeros = new Float32Array(70).fill(-0);
    t.same(Array.from(packSigns(zeros, { kernels: ks })), [0, 0, 0]);
  });

  t.test(`NaN and +-Inf name the rank and the first bad index (${name} kernels)`, async (t) => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const [d, first, second] of [[1, 0, -1], [40, 33, 35], [100, 5, 64], [1000, 999, -1], [64, 31, 32]] as const) {
        const x = randomVector(d, prng);
        for (let i = 0; i < d; i++) if (x[i] - x[i] !== 0) x[i] = 1; // only the planted values are bad
        x[first] = bad;
        if (second >= 0) x[second] = NaN;
        expectError(
          t,
          () => packSigns(x, { rank: 3, kernels: ks }),
          (e) =>
            e.code === 'ENUMERIC' &&
            e.rank === 3 &&
            e.details?.index === first &&
            e.message.includes(`element ${first} of ${d}`) &&
            e.message.includes('rank 3'),
          `${String(bad)} at ${first} of ${d}`,
        );
      }
    }
  });
}

t.test('out options are used and checked', async (t) => {
  const x = new Float32Array([-1, 2, -3]);
  const out = new Uint32Array(2).fill(0xffffffff);
  t.equal(packSigns(x, { out }), out);
  t.equal(out[0], 0b101);
  t.equal(out[1], 0xffffffff, 'words past ceil(d/32) are left alone');
  const dst = new Float32Array(5).fill(7);
  t.equal(unpackSigns(out, 3, dst), dst);
  t.same(Array.from(dst), [-1, 1, -1, 7, 7]);
  t.throws(() => packSigns(new Float32Array(33), { out: new Uint32Array(1) }), /at least 2 words/);
  t.throws(() => unpackSigns(new Uint32Array(1), 33), /33 signs need 2 packed words, got 1/);
  t.throws(() => unpackSigns(new Uint32Array(1), -1), /non-negative integer/);
  t.throws(() => packSigns(new Float64Array(3) as unknown as Float32Array), /must be a Float32Array/);
  t.equal(packedWords(0), 0);
});

t.test('unpack ignores bits past d that a peer set', async (t) => {
  const words = new Uint32Array([0xffffffff, 0xffffffff]);
  const signs = unpackSigns(words, 33);
  t.equal(signs.length, 33);
  t.ok(signs.every((s) => s === -1));
});
