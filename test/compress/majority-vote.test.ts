/**
 * The packed majority vote against the float reference [issue 5 item 2]:
 * per coordinate, the sum of the M workers' +-1 (from the float vectors, sign(+-0) = +1), its sign,
 * and the tie rule, for M = 1..17 and d = 1, 31, 32, 33, random d and 1_000_007 (a few M), with
 * every tie rule and every kernel implementation. Also: worker order does not matter, M = 1 gives
 * the worker's own sign, 'random' is reproducible from (seed, round) and fair, 'keep' keeps the
 * previous vote and starts at +1, bits a peer set past d do not leak, sign-flippers below half
 * cannot change a unanimous honest coordinate and at half or more they invert it.
 */
import t from 'tap';
import type { Test } from 'tap';
import { ZcollError } from '../../lib/errors.js';
import { jsKernels, kernels, nativeKernels } from '../../lib/kernels/index.js';
import type { Kernels } from '../../lib/kernels/index.js';
import { Prng } from '../../lib/prng.js';
import { packSigns, unpackSigns } from '../../lib/compress/sign.js';
import { MajorityVoter, majorityVote, tieCoinKey, tieCoinWord } from '../../lib/compress/majority-vote.js';
import type { TieRule } from '../../lib/compress/majority-vote.js';


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

function randomVector(d: number, prng: Prng): Float32Array {
  const x = new Float32Array(d);
  for (let i = 0; i < d; i++) {
    const u = prng.next();
    x[i] = u < 0.05 ? 0 : u < 0.1 ? -0 : prng.normal();
  }
  return x;
}

/**
 * Float reference: s = sum of +-1 per coordinate; vote = sign(s); s = 0 goes to the tie rule.
 * 'random' reads coordinate i's coin as bit (i & 31) of the coin word i >> 5 of the round's key.
 */
function referenceVote(
  xs: readonly Float32Array[],
  d: number,
  tie: TieRule,
  opts: { seed?: number; round?: number; previous?: Float32Array } = {},
): Float32Array {
  const out = new Float32Array(d);
  let coins: Uint32Array | undefined;
  if (tie === 'random') {
    const key = tieCoinKey(opts.seed ?? 0, opts.round ?? 0);
    coins = new Uint32Array(Math.ceil(d / 32));
    for (let w = 0; w < coins.length; w++) coins[w] = tieCoinWord(key, w);
  }
  for (let i = 0; i < d; i++) {
    let s = 0;
    for (const x of xs) s += x[i] < 0 ? -1 : 1;
    if (s !== 0) out[i] = Math.sign(s);
    else if (tie === 'plus') out[i] = 1;
    else if (tie === 'minus') out[i] = -1;
    else if (tie === 'keep') out[i] = opts.previous !== undefined ? opts.previous[i] : 1;
    else out[i] = ((coins as Uint32Array)[i >>> 5] >>> (i & 31)) & 1 ? -1 : 1;
  }
  return out;
}

function countMismatches(a: Float32Array, b: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

const prng = new Prng(5);
const smallSizes = [1, 31, 32, 33, 64, 65];
for (let k = 0; k < 3; k++) smallSizes.push(1 + prng.int(3000));
const rules: TieRule[] = ['plus', 'minus', 'random', 'keep'];

for (const [name, ks] of kernelSets) {
  t.test(`packed vote = float reference, M = 1..17 (${name} kernels)`, async (t) => {
    for (let m = 1; m <= 17; m++) {
      for (const d of smallSizes) {
        const xs = Array.from({ length: m }, () => randomVector(d, prng));
        const packed = xs.map((x) => packSigns(x, { kernels: ks }));
        const previous = randomVector(d, prng).map((v) => (v < 0 ? -1 : 1));
        for (const tie of rules) {
          const seed = prng.int(1000);
          const round = prng.int(50);
          const opts = tie === 'keep' ? { previous: packSigns(previous) } : { seed, round };
          const vote = majorityVote(packed, d, { tie, ...opts, kernels: ks });
          const ref = referenceVote(xs, d, tie, { seed, round, previous });
          const bad = countMismatches(unpackSigns(vote, d), ref);
          if (bad !== 0) t.fail(`M=${m} d=${d} tie=${tie}: ${bad} coordinates differ from the float reference`);
          if (d % 32 !== 0 && vote[vote.length - 1] >>> (d % 32) !== 0) t.fail(`M=${m} d=${d}: padding bits set`);
        }
      }
    }
    t.pass('all M = 1..17, all d, all tie rules');
  });
}

t.test('packed vote = float reference at d = 1_000_007 (M = 4, 7)', async (t) => {
  const d = 1_000_007;
  for (const m of [4, 7]) {
    const xs = Array.from({ length: m }, () => randomVector(d, prng));
    const packed = xs.map((x) => packSigns(x));
    for (const tie of m % 2 === 0 ? (['plus', 'random'] as TieRule[]) : (['plus'] as TieRule[])) {
      const vote = majorityVote(packed, d, { tie, seed: 9, round: 2 });
      t.equal(countMismatches(unpackSigns(vote, d), referenceVote(xs, d, tie, { seed: 9, round: 2 })), 0, `M=${m} tie=${tie}`);
      if (nativeKernels !== undefined) {
        t.same(majorityVote(packed, d, { tie, seed: 9, round: 2, kernels: jsKernels }), vote, `M=${m}: JS kernels agree`);
      }
    }
  }
});

t.test('majority-vote examples worked by hand: ties and an even number of voters', async (t) => {
  const column = (signs: number[]): Uint32Array[] => signs.map((s) => packSigns(new Float32Array([s])));
  const voteOf = (signs: number[]): number => unpackSigns(majorityVote(column(signs), 1), 1)[0];
  t.equal(voteOf([1, 1, 1, -1, -1]), 1);
  t.equal(voteOf([-1, -1, -1, 1, 1]), -1);
  t.equal(voteOf([1, 1, 1, 1, 1]), 1);
  t.equal(voteOf([1, 1, -1, -1]), 1, 'M = 4 tie goes to +1 by default');
  t.equal(voteOf([-1, -1, -1, 1]), -1);
});

t.test('worker order does not matter; M = 1 is the own sign', async (t) => {
  const d = 777;
  for (let m = 2; m <= 9; m++) {
    const packed = Array.from({ length: m }, () => packSigns(randomVector(d, prng)));
    const shuffled = prng.shuffle([...packed]);
    for (const tie of rules) {
      t.same(majorityVote(shuffled, d, { tie, seed: 1 }), majorityVote(packed, d, { tie, seed: 1 }), `M=${m} ${tie}`);
    }
  }
  for (const d of [1, 32, 33, 999]) {
    const x = randomVector(d, prng);
    for (const tie of rules) t.same(majorityVote([packSigns(x)], d, { tie }), packSigns(x), `M=1 d=${d} ${tie}`);
  }
});

t.test("tie rules on a column of ties (M = 2, d = 4096)", async (t) => {
  const d = 4096;
  const a = randomVector(d, prng);
  const b = a.map((v) => (v < 0 ? 1 : -1)); // b disagrees with a everywhere: every coordinate ties
  const packed = [packSigns(a), packSigns(b)];
  t.ok(unpackSigns(majorityVote(packed, d), d).every((s) => s === 1), "'plus'");
  t.ok(unpackSigns(majorityVote(packed, d, { tie: 'minus' }), d).every((s) => s === -1), "'minus'");
  const r1 = majorityVote(packed, d, { tie: 'random', seed: 42, round: 7 });
  t.same(majorityVote(packed, d, { tie: 'random', seed: 42, round: 7 }), r1, "'random' is reproducible");
  const minus = unpackSigns(r1, d).filter((s) => s === -1).length;
  t.ok(minus > 0.45 * d && minus < 0.55 * d, `'random' is fair: ${minus} of ${d} ties went to -1`);
  t.not(countMismatches(unpackSigns(majorityVote(packed, d, { tie: 'random', seed: 42, round: 8 }), d), unpackSigns(r1, d)), 0, 'a new round draws new coins');
  t.not(countMismatches(unpackSigns(majorityVote(packed, d, { tie: 'random', seed: 43, round: 7 }), d), unpackSigns(r1, d)), 0, 'a new seed draws new coins');
  const prev = packSigns(randomVector(d, prng));
  t.same(majorityVote(packed, d, { tie: 'keep', previous: prev }), prev, "'keep' returns the previous vote on full ties");
  t.ok(unpackSigns(majorityVote(packed, d, { tie: 'keep' }), d).every((s) => s === 1), "'keep' on the first round is +1");
});

t.test('MajorityVoter: rounds and the previous vote', async (t) => {
  const d = 300;
  for (const tie of ['random', 'keep'] as TieRule[]) {
    const a = new MajorityVoter(d, { tie, seed: 11 });
    const b = new MajorityVoter(d, { tie, seed: 11 });
    let previous: Float32Array | undefined;
    for (let round = 0; round < 5; round++) {
      const xs = Array.from({ length: 4 }, () => randomVector(d, prng));
      const packed = xs.map((x) => packSigns(x));
      t.equal(a.round, round);
      const va = a.vote(packed);
      const vb = b.vote(packed.slice().reverse());
      t.same(va, vb, `${tie} round ${round}: two ranks with the same seed agree`);
      const ref = referenceVote(xs, d, tie, { seed: 11, round, ...(previous !== undefined ? { previous } : {}) });
      t.equal(countMismatches(unpackSigns(va, d), ref), 0, `${tie} round ${round} = reference`);
      previous = unpackSigns(va, d);
      va.fill(0); // the caller owns the result; the voter must have kept its own copy
    }
  }
});

t.test('bits a Byzantine peer sets past d do not leak into the vote', async (t) => {
  for (const d of [1, 33, 70]) {
    const xs = Array.from({ length: 3 }, () => randomVector(d, prng));
    const packed = xs.map((x) => packSigns(x));
    packed[0][packed[0].length - 1] |= 0x80000000;
    packed[1][packed[1].length - 1] |= 0x80000000;
    const vote = majorityVote(packed, d);
    t.equal(vote[vote.length - 1] >>> (d % 32), 0, `d=${d}`);
    t.equal(countMismatches(unpackSigns(vote, d), referenceVote(xs, d, 'plus')), 0);
  }
});

t.test('sign-flippers: below half cannot move a unanimous honest coordinate, half or more invert it', async (t) => {
  const d = 500;
  for (const m of [3, 4, 5, 7, 8]) {
    const honestSign = randomVector(d, prng);
    const below = Math.floor((m - 1) / 2);
    const flip = (x: Float32Array): Float32Array => x.map((v) => (v < 0 ? 1 : -1));
    const voteWith = (flippers: number): Float32Array => {
      const packed = Array.from({ length: m }, (_, i) => packSigns(i < flippers ? flip(honestSign) : honestSign));
      return unpackSigns(majorityVote(packed, d, { tie: 'minus' }), d);
    };
    const expected = unpackSigns(packSigns(honestSign), d);
    t.equal(countMismatches(voteWith(below), expected), 0, `M=${m}, ${below} flippers`);
    const over = Math.floor(m / 2) + 1;
    t.equal(countMismatches(voteWith(over), unpackSigns(packSigns(flip(honestSign)), d)), 0, `M=${m}, ${over} flippers invert`);
  }
});

t.test('bad arguments', async (t) => {
  const p = packSigns(new Float32Array(40));
  expectError(t, () => majorityVote([], 40), (e) => e.code === 'EINVAL', 'no workers');
  expectError(t, () => majorityVote([p, new Uint32Array(1)], 40, { rank: 2 }), (e) =>
    e.code === 'EINVAL' && e.rank === 2 && e.details?.worker === 1 && /worker 1's message/.test(e.message), 'short message');
  t.throws(() => majorityVote([p], 40, { tie: 'coin' as TieRule }), /one of plus, minus, random, keep/);
  t.throws(() => majorityVote([p], 40, { tie: 'random', seed: -1 }), /seed/);
  t.throws(() => majorityVote([p], 40, { tie: 'keep', previous: new Uint32Array(1) }), /previous/);
  t.throws(() => majorityVote([p], 40, { out: new Uint32Array(1) }), /out/);
  const shared = new Uint32Array(2);
  t.throws(() => majorityVote([p, p], 40, { out: shared, tieScratch: shared }), /tieScratch/);
  t.same(majorityVote([new Uint32Array(0)], 0), new Uint32Array(0), 'd = 0 is an empty vote');
});

t.test("'random' coins: balanced, and unrelated across words, rounds and seeds", async (t) => {
  const words = 4000;
  const popcount = (x: number): number => {
    let n = 0;
    for (let v = x >>> 0; v !== 0; v &= v - 1) n++;
    return n;
  };
  const key = tieCoinKey(3, 10);
  const others = [tieCoinKey(3, 11), tieCoinKey(4, 10)];
  let ones = 0;
  let sameAsNextWord = 0;
  const sameAsOther = [0, 0];
  for (let w = 0; w < words; w++) {
    const c = tieCoinWord(key, w);
    ones += popcount(c);
    sameAsNextWord += 32 - popcount(c ^ tieCoinWord(key, w + 1));
    others.forEach((k, i) => (sameAsOther[i] += 32 - popcount(c ^ tieCoinWord(k, w))));
  }
  const bits = 32 * words;
  const near = (x: number): boolean => Math.abs(x / bits - 0.5) < 0.01; // ~ 7 standard deviations
  t.ok(near(ones), `ones: ${ones / bits}`);
  t.ok(near(sameAsNextWord), `agreement with the next word: ${sameAsNextWord / bits}`);
  t.ok(near(sameAsOther[0]), `agreement with the next round: ${sameAsOther[0] / bits}`);
  t.ok(near(sameAsOther[1]), `agreement with another seed: ${sameAsOther[1] / bits}`);
});
