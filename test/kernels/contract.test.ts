/**
 * One kernel suite, two implementations: every case runs against the JS kernels and the native
 * addon, each checked against an independent reference (per-element formula, BigInt wrap, bit
 * unpacking, sorting), then native is compared with JS bit for bit, including the order selectKth
 * leaves behind and the guard elements around unaligned views. Inputs: seeded random sizes
 * including 0, 1, 7, tails that are not multiples of 8/32/64, views whose byteOffset is not a
 * multiple of 16, NaN/Inf/-0, int32 overflow, voteCount for M = 0..17.
 * NaN payloads are not part of the contract: two NaNs compare equal whatever their bits.
 * Without the addon the native half is skipped with the loader's reason, never passed silently.
 */
import t from 'tap';
import type { NumericArray } from '../../lib/dtype.js';
import type { ElementwiseOp, FloatArray, Kernels } from '../../lib/kernels/contract.js';
import { jsKernels } from '../../lib/kernels/js.js';
import { nativeKernels, nativeLoad } from '../../lib/kernels/native.js';
import { prng } from '../helpers/prng.js';

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor | Int32ArrayConstructor;
/** What `placed` can lay out: the numeric dtypes and the packed sign words. */
type PlacedCtor = Ctor | Uint32ArrayConstructor;
type Typed = NumericArray | Uint32Array;

const GUARD = -12345;
const GUARD_ELEMENTS = 3;

/**
 * A view of `values` at element offset `offset` inside a larger buffer whose other elements hold
 * GUARD, so a kernel writing outside the view is caught. Returns the view and the whole buffer.
 */
function placed<C extends PlacedCtor>(ctor: C, values: ArrayLike<number>, offset: number): { view: InstanceType<C>; whole: InstanceType<C> } {
  const buffer = new ArrayBuffer((values.length + offset + GUARD_ELEMENTS) * ctor.BYTES_PER_ELEMENT);
  const whole = new ctor(buffer) as InstanceType<C>;
  whole.fill(GUARD);
  const view = new ctor(buffer, offset * ctor.BYTES_PER_ELEMENT, values.length) as InstanceType<C>;
  view.set(values);
  return { view, whole };
}

/** First position where a and b differ in value bits (any NaN equals any NaN), or undefined. */
function firstDifference(a: Typed, b: Typed): string | undefined {
  if (a.constructor !== b.constructor) return `types ${a.constructor.name} vs ${b.constructor.name}`;
  if (a.length !== b.length) return `lengths ${a.length} vs ${b.length}`;
  const float = a instanceof Float32Array || a instanceof Float64Array;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (float && Number.isNaN(x) && Number.isNaN(y)) continue;
    if (!Object.is(x, y)) return `[${i}]: ${Object.is(x, -0) ? '-0' : x} vs ${Object.is(y, -0) ? '-0' : y}`;
  }
  return undefined;
}

/** What a kernel call produced: every buffer it could touch (whole, guards included) and its return value. */
interface Outcome {
  arrays: Typed[];
  result: number | undefined;
}

interface Case {
  kernel: string;
  name: string;
  run(k: Kernels): Outcome;
  /** Checks an outcome against the independent reference; returns a failure message or undefined. */
  check(o: Outcome): string | undefined;
}

function compareOutcomes(got: Outcome, want: Outcome): string | undefined {
  if (!Object.is(got.result, want.result) && !(Number.isNaN(got.result) && Number.isNaN(want.result))) {
    return `returned ${got.result}, expected ${want.result}`;
  }
  for (let i = 0; i < want.arrays.length; i++) {
    const diff = firstDifference(got.arrays[i], want.arrays[i]);
    if (diff !== undefined) return `array ${i} differs at ${diff}`;
  }
  return undefined;
}

const cases: Case[] = [];
const rng = prng(0x5eed2026);

const SIZES = [0, 1, 2, 7, 8, 15, 31, 32, 33, 63, 64, 65, 100, 257, 1023, 4099];
for (let i = 0; i < 4; i++) SIZES.push(1 + Math.floor(rng() * 20000));
const DTYPES: { name: string; ctor: Ctor; offsets: number[] }[] = [
  { name: 'float32', ctor: Float32Array, offsets: [0, 1, 3] },
  { name: 'float64', ctor: Float64Array, offsets: [0, 1] },
  { name: 'int32', ctor: Int32Array, offsets: [0, 1, 3] },
];

/** Floats with ties, signed zeros and (when asked) NaN and infinities sprinkled in. */
function floatValues(n: number, specials: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = rng();
    if (specials && r < 0.03) out.push(Number.NaN);
    else if (specials && r < 0.05) out.push(rng() < 0.5 ? Infinity : -Infinity);
    else if (r < 0.1) out.push(rng() < 0.5 ? 0 : -0);
    else if (r < 0.3) out.push(Math.floor(rng() * 7) - 3);
    else out.push((rng() - 0.5) * 2000 * rng());
  }
  return out;
}

/** Full-range int32 values, extremes included, so sums overflow often. */
function intValues(n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = rng();
    if (r < 0.1) out.push(2147483647 - Math.floor(rng() * 3));
    else if (r < 0.2) out.push(-2147483648 + Math.floor(rng() * 3));
    else if (r < 0.4) out.push(Math.floor(rng() * 21) - 10);
    else out.push(Math.floor(rng() * 4294967296) - 2147483648);
  }
  return out;
}

function valuesFor(ctor: Ctor, n: number, specials: boolean): number[] {
  return ctor === Int32Array ? intValues(n) : floatValues(n, specials);
}

/** Rounds a double the way storing into `ctor` does. */
function store(ctor: Ctor, x: number): number {
  if (ctor === Float32Array) return Math.fround(x);
  if (ctor === Float64Array) return x;
  return toInt32(x);
}

/** ECMAScript ToInt32 through BigInt (independent of `| 0`). */
function toInt32(x: number): number {
  if (!Number.isFinite(x)) return 0;
  return Number(BigInt.asIntN(32, BigInt(Math.trunc(x))));
}

function referenceReduce(ctor: Ctor, op: ElementwiseOp, x: number, y: number): number {
  if (op === 'sum') {
    if (ctor === Int32Array) return Number(BigInt.asIntN(32, BigInt(x) + BigInt(y)));
    return store(ctor, x + y);
  }
  // NaN in src replaces dst; NaN in dst stays; -0 is below +0 (IEEE 754-2019 minimum/maximum).
  if (Number.isNaN(x)) return x;
  if (Number.isNaN(y)) return y;
  if (x === 0 && y === 0) return signedZeroReference(op, x, y);
  if (op === 'min') return y < x ? y : x;
  return y > x ? y : x;
}

/** min of two zeros is -0 if either is, max is +0 if either is: an independent spelling. */
function signedZeroReference(op: 'min' | 'max', x: number, y: number): number {
  const negative = [x, y].filter((z) => Object.is(z, -0)).length;
  if (op === 'min') return negative > 0 ? -0 : 0;
  return negative === 2 ? -0 : 0;
}

// reduceInto: every dtype x op x size x misalignment; src sometimes longer than dst.
for (const { name, ctor, offsets } of DTYPES) {
  for (const op of ['sum', 'min', 'max'] as const) {
    for (const n of SIZES) {
      for (const offset of offsets) {
        const a = valuesFor(ctor, n, true);
        const extra = rng() < 0.3 ? 5 : 0;
        const b = valuesFor(ctor, n + extra, true);
        const srcOffset = offsets[(offsets.indexOf(offset) + 1) % offsets.length];
        const run = (k: Kernels): Outcome => {
          const dst = placed(ctor, a, offset);
          const src = placed(ctor, b, srcOffset);
          k.reduceInto(dst.view, src.view, op);
          return { arrays: [dst.whole, src.whole], result: undefined };
        };
        cases.push({
          kernel: 'reduceInto',
          name: `${name} ${op} n=${n} dst@${offset} src@${srcOffset}${extra ? ' src longer' : ''}`,
          run,
          check: (o) => {
            const want = a.map((x, i) => referenceReduce(ctor, op, store(ctor, x), store(ctor, b[i])));
            return compareOutcomes(o, {
              arrays: [placed(ctor, want, offset).whole, placed(ctor, b, srcOffset).whole],
              result: undefined,
            });
          },
        });
      }
    }
  }
}

// int32 sums at the edges: wrap both ways, exactly.
{
  const a = [2147483647, -2147483648, 2147483647, -1, 1 << 30, -2147483648];
  const b = [1, -1, 2147483647, -2147483648, 1 << 30, -2147483648];
  cases.push({
    kernel: 'reduceInto',
    name: 'int32 sum wraps modulo 2^32',
    run: (k) => {
      const dst = placed(Int32Array, a, 1);
      k.reduceInto(dst.view, Int32Array.from(b), 'sum');
      return { arrays: [dst.whole], result: undefined };
    },
    check: (o) => compareOutcomes(o, { arrays: [placed(Int32Array, [-2147483648, 2147483647, -2, 2147483647, -2147483648, 0], 1).whole], result: undefined }),
  });
}

// min/max of -0 and +0: the same bits whatever the order of the arguments (every rank of an
// all-reduce combines the values in another order), NaN still as before: a NaN in src replaces
// dst and a NaN in dst stays. Every ordered pair of {-0, +0, NaN, -1, 1}, as dst and as src.
for (const { name, ctor } of DTYPES.filter((d) => d.ctor !== Int32Array)) {
  const specials = [-0, 0, Number.NaN, -1, 1];
  const dstValues = specials.flatMap((x) => specials.map(() => x));
  const srcValues = specials.flatMap(() => specials);
  // Object.is, because indexOf would find -0 for +0.
  const slot = (v: number): number => specials.findIndex((z) => Object.is(z, v));
  for (const op of ['min', 'max'] as const) {
    cases.push({
      kernel: 'reduceInto',
      name: `${name} ${op} of signed zeros and NaN, both orders`,
      run: (k) => {
        const dst = placed(ctor, dstValues, 1);
        k.reduceInto(dst.view, ctor.from(srcValues), op);
        return { arrays: [dst.whole], result: undefined };
      },
      check: (o) => {
        const got = o.arrays[0] as FloatArray;
        for (let i = 0; i < dstValues.length; i++) {
          const x = dstValues[i];
          const y = srcValues[i];
          const value = got[i + 1];
          const want = Number.isNaN(x) || Number.isNaN(y) ? Number.NaN : x === 0 && y === 0 ? signedZeroReference(op, x, y) : op === 'min' ? Math.min(x, y) : Math.max(x, y);
          if (!Object.is(value, want)) return `${op}(${Object.is(x, -0) ? '-0' : x}, ${Object.is(y, -0) ? '-0' : y}) = ${Object.is(value, -0) ? '-0' : value}, expected ${Object.is(want, -0) ? '-0' : want}`;
        }
        // The bit patterns too: dst op src and src op dst store the same bits at every signed-zero pair.
        const bits = ctor === Float32Array ? new Uint32Array(got.buffer) : new BigUint64Array(got.buffer);
        for (let i = 0; i < dstValues.length; i++) {
          const j = slot(srcValues[i]) * specials.length + slot(dstValues[i]);
          if (dstValues[i] === 0 && srcValues[i] === 0 && bits[i + 1] !== bits[j + 1]) return `${op}: the bits of pair ${i} and its swap ${j} differ`;
        }
        return undefined;
      },
    });
  }
}

// scale and divide.
// scale and divide.
for (const { name, ctor, offsets } of DTYPES) {
  for (const n of [0, 1, 7, 33, 1000, 4099]) {
    const offset = offsets[offsets.length - 1];
    const a = valuesFor(ctor, n, true);
    if (ctor !== Int32Array) {
      for (const factor of [0.1, -3, 1 / 3, 1e-40, 1e300, -0]) {
        cases.push({
          kernel: 'scale',
          name: `${name} n=${n} x ${factor}`,
          run: (k) => {
            const dst = placed(ctor, a, offset);
            k.scale(dst.view as FloatArray, factor);
            return { arrays: [dst.whole], result: undefined };
          },
          check: (o) => compareOutcomes(o, { arrays: [placed(ctor, a.map((x) => store(ctor, store(ctor, x) * factor)), offset).whole], result: undefined }),
        });
      }
    }
    for (const divisor of [3, -2, 0.5, -1, 1, 7.5, 1e-10, 0, Number.NaN, 4, Infinity, -Infinity]) {
      cases.push({
        kernel: 'divide',
        name: `${name} n=${n} / ${divisor}`,
        run: (k) => {
          const dst = placed(ctor, a, offset);
          k.divide(dst.view, divisor);
          return { arrays: [dst.whole], result: undefined };
        },
        check: (o) => compareOutcomes(o, { arrays: [placed(ctor, a.map((x) => store(ctor, store(ctor, x) / divisor)), offset).whole], result: undefined }),
      });
    }
  }
}
// -2^31 / -1 = 2^31 wraps to -2^31, as Int32Array stores it.
cases.push({
  kernel: 'divide',
  name: 'int32 -2^31 / -1 wraps',
  run: (k) => {
    const dst = Int32Array.from([-2147483648, 2147483647, -7, 7]);
    k.divide(dst, -1);
    return { arrays: [dst], result: undefined };
  },
  check: (o) => compareOutcomes(o, { arrays: [Int32Array.from([-2147483648, -2147483647, 7, -7])], result: undefined }),
});

// signPack: tails, misalignment, non-finite values at chosen places (first one wins).
for (const n of [0, 1, 7, 31, 32, 33, 64, 95, 100, 1000, 4099, 20000]) {
  for (const bad of ['none', 'early', 'late', 'tail'] as const) {
    if (bad !== 'none' && n === 0) continue;
    const a = floatValues(n, false);
    let firstBad = -1;
    if (bad !== 'none') {
      const at = bad === 'early' ? Math.floor(rng() * Math.min(n, 40)) : bad === 'late' ? Math.floor(n * 0.7) : n - 1;
      a[at] = [Number.NaN, Infinity, -Infinity][Math.floor(rng() * 3)];
      if (at + 1 < n) a[n - 1] = Number.NaN; // a later one must not win
      firstBad = at;
    }
    const words = (n + 31) >>> 5;
    cases.push({
      kernel: 'signPack',
      name: `n=${n} non-finite ${bad}`,
      run: (k) => {
        const src = placed(Float32Array, a, 1);
        const out = new Uint32Array(words + 2).fill(0xdeadbeef);
        const result = k.signPack(src.view, out.subarray(0, words));
        return { arrays: [out, src.whole], result };
      },
      check: (o) => {
        const want = new Uint32Array(words + 2).fill(0xdeadbeef);
        for (let w = 0; w < words; w++) want[w] = 0;
        for (let i = 0; i < n; i++) if (Math.fround(a[i]) < 0) want[i >>> 5] = (want[i >>> 5] | (1 << (i & 31))) >>> 0;
        let wantBad = -1;
        for (let i = 0; i < n && wantBad < 0; i++) if (!Number.isFinite(a[i])) wantBad = i;
        if (wantBad !== firstBad) return `test bug: planted ${firstBad}, found ${wantBad}`;
        return compareOutcomes(o, { arrays: [want, placed(Float32Array, a, 1).whole], result: wantBad });
      },
    });
  }
}

// voteCount: M = 0..17 workers, word counts around the native loops' steps (8-word AVX2 vectors
// for M <= 15, then a tail; 64-word blocks otherwise).
for (let m = 0; m <= 17; m++) {
  for (const words of [0, 1, 3, 7, 8, 17, 64, 65, 130]) {
    const rows: Uint32Array[] = [];
    for (let i = 0; i < m; i++) {
      const row = new Uint32Array(words + 1); // longer than `words`: only the first words count
      // Skewed bit densities so that majorities, minorities and ties all occur.
      const density = 0.2 + 0.6 * rng();
      for (let w = 0; w <= words; w++) {
        let x = 0;
        for (let b = 0; b < 32; b++) if (rng() < density) x |= 1 << b;
        row[w] = x >>> 0;
      }
      rows.push(row);
    }
    cases.push({
      kernel: 'voteCount',
      name: `M=${m} words=${words}`,
      run: (k) => {
        const neg = new Uint32Array(words + 1).fill(0xabcdef01);
        const tie = new Uint32Array(words + 1).fill(0xabcdef01);
        k.voteCount(rows, words, neg, tie);
        return { arrays: [neg, tie], result: undefined };
      },
      check: (o) => {
        const neg = new Uint32Array(words + 1).fill(0xabcdef01);
        const tie = new Uint32Array(words + 1).fill(0xabcdef01);
        for (let w = 0; w < words; w++) {
          let negWord = 0;
          let tieWord = 0;
          for (let b = 0; b < 32; b++) {
            let count = 0;
            for (const row of rows) count += (row[w] >>> b) & 1;
            if (2 * count > m) negWord |= 1 << b;
            if (2 * count === m) tieWord |= 1 << b;
          }
          neg[w] = negWord >>> 0;
          tie[w] = tieWord >>> 0;
        }
        return compareOutcomes(o, { arrays: [neg, tie], result: undefined });
      },
    });
  }
}

// The Signum passes and axpy (contract.ts). Sizes straddle words (31, 32, 33) and the native
// loops' 2048-element chunks; views are misaligned; every reference is a plain serial loop per
// element in double, rounded once with Math.fround, with the bits built one coordinate at a time.
const PASS_SIZES = [0, 1, 2, 31, 32, 33, 63, 64, 65, 1000, 2047, 2048, 2049, 4099, 1 + Math.floor(rng() * 20000)];

/** Packed bits of `negative` (one flag per coordinate), ceil(n/32) words then `extra` guard words. */
function packedFlags(negative: boolean[], extra: number, guard: number): Uint32Array {
  const words = (negative.length + 31) >>> 5;
  const out = new Uint32Array(words + extra).fill(guard);
  for (let w = 0; w < words; w++) out[w] = 0;
  negative.forEach((neg, i) => {
    if (neg) out[i >>> 5] = (out[i >>> 5] | (1 << (i & 31))) >>> 0;
  });
  return out;
}

/** Random words with every bit possibly set, also past n: kernels must ignore those. */
function randomWords(count: number): number[] {
  return Array.from({ length: count }, () => Math.floor(rng() * 4294967296));
}

// firstNonFinite: NaN/Inf planted early, late, at the last element or just past a chunk boundary.
for (const n of PASS_SIZES) {
  for (const bad of ['none', 'early', 'late', 'tail', 'chunk'] as const) {
    if (bad !== 'none' && n === 0) continue;
    if (bad === 'chunk' && n <= 2049) continue;
    const a = floatValues(n, false);
    if (bad !== 'none') {
      const at = bad === 'early' ? Math.floor(rng() * Math.min(n, 40)) : bad === 'late' ? Math.floor(n * 0.7) : bad === 'tail' ? n - 1 : 2049;
      a[at] = [Number.NaN, Infinity, -Infinity][Math.floor(rng() * 3)];
      if (at + 1 < n) a[n - 1] = Number.NaN; // a later one must not win
    }
    cases.push({
      kernel: 'firstNonFinite',
      name: `n=${n} non-finite ${bad}`,
      run: (k) => {
        const src = placed(Float32Array, a, 3);
        return { arrays: [src.whole], result: k.firstNonFinite(src.view) };
      },
      check: (o) => {
        let want = -1;
        for (let i = 0; i < n && want < 0; i++) if (!Number.isFinite(Math.fround(a[i]))) want = i;
        return compareOutcomes(o, { arrays: [placed(Float32Array, a, 3).whole], result: want });
      },
    });
  }
}

// momentumSignPack: signSGD (beta 0), ICLR'19 (no params) and ICML'18 (params, wd); 'overflow'
// plants finite inputs whose new momentum leaves fp32 at a chosen index (and again later).
for (const n of PASS_SIZES) {
  for (const beta of [0, 0.5, 0.9]) {
    for (const decay of ['none', 'params', 'overflow'] as const) {
      if (decay === 'overflow' && n === 0) continue;
      const g = floatValues(n, false);
      const m0 = floatValues(n, false).map((v) => v * 1e-3);
      const x = floatValues(n, false);
      const wd = decay === 'none' ? 0 : 1.7;
      let planted = -1;
      if (decay === 'overflow') {
        planted = Math.floor(rng() * n);
        for (const at of [planted, n - 1]) {
          // gain·(g + wd·x) > 3.4e38 for every beta here, with finite fp32 g and x.
          g[at] = 3e38;
          x[at] = 3e38;
          m0[at] = 3e38;
        }
      }
      const words = (n + 31) >>> 5;
      const withParams = decay !== 'none';
      cases.push({
        kernel: 'momentumSignPack',
        name: `n=${n} beta=${beta} ${decay}`,
        run: (k) => {
          const grad = placed(Float32Array, g, 1);
          const momentum = placed(Float32Array, m0, 2);
          const params = placed(Float32Array, x, 3);
          const out = new Uint32Array(words + 2).fill(0xdeadbeef);
          const result = k.momentumSignPack(grad.view, momentum.view, beta, out.subarray(0, words), withParams ? params.view : undefined, wd);
          return { arrays: [momentum.whole, out, grad.whole, params.whole], result };
        },
        check: (o) => {
          // fp32 after every operation (contract.ts), coefficients rounded once.
          const m = m0.map((v) => Math.fround(v));
          const [b, a, w] = [beta, 1 - beta, wd].map(Math.fround);
          let firstBad = -1;
          for (let i = 0; i < n; i++) {
            const gi = Math.fround(g[i]);
            const term = withParams ? Math.fround(gi + Math.fround(w * Math.fround(x[i]))) : gi;
            m[i] = Math.fround(Math.fround(b * m[i]) + Math.fround(a * term));
            if (firstBad < 0 && !Number.isFinite(m[i])) firstBad = i;
          }
          if (decay === 'overflow' && firstBad !== planted) return `test bug: planted ${planted}, overflow at ${firstBad}`;
          const want = [placed(Float32Array, m, 2).whole, packedFlags(m.map((v) => v < 0), 2, 0xdeadbeef), placed(Float32Array, g, 1).whole, placed(Float32Array, x, 3).whole];
          return compareOutcomes(o, { arrays: want, result: firstBad });
        },
      });
    }
  }
}

// signApply: both formulas (wd = 0 and -0 take the short one), non-finite params pass through.
for (const n of PASS_SIZES) {
  for (const [lr, wd] of [[1e-3, 0], [0.7, -0], [1e-4, 1e-4], [0.3, 2.5]] as const) {
    const x = floatValues(n, true);
    const votes = randomWords(((n + 31) >>> 5) + 1);
    cases.push({
      kernel: 'signApply',
      name: `n=${n} lr=${lr} wd=${Object.is(wd, -0) ? '-0' : wd}`,
      run: (k) => {
        const params = placed(Float32Array, x, 1);
        const packed = placed(Uint32Array, votes, 1);
        k.signApply(params.view, packed.view, lr, wd);
        return { arrays: [params.whole, packed.whole], result: undefined };
      },
      check: (o) => {
        const want = x.map((v) => Math.fround(v));
        const [l, w] = [lr, wd].map(Math.fround);
        for (let i = 0; i < n; i++) {
          const s = (votes[i >>> 5] >>> (i & 31)) & 1 ? -1 : 1;
          want[i] = wd === 0 ? Math.fround(want[i] - l * s) : Math.fround(want[i] - Math.fround(l * Math.fround(s + Math.fround(w * want[i]))));
        }
        const packed = placed(Uint32Array, votes, 1).whole;
        return compareOutcomes(o, { arrays: [placed(Float32Array, want, 1).whole, packed], result: undefined });
      },
    });
  }
}

// axpy: x longer than y (only y.length elements count), specials included.
for (const n of PASS_SIZES) {
  for (const alpha of [-1e-4, 0.5, -0, 1e30]) {
    const y = floatValues(n, true);
    const x = floatValues(n + 2, true);
    cases.push({
      kernel: 'axpy',
      name: `n=${n} alpha=${Object.is(alpha, -0) ? '-0' : alpha}`,
      run: (k) => {
        const dst = placed(Float32Array, y, 3);
        const src = placed(Float32Array, x, 1);
        k.axpy(dst.view, alpha, src.view);
        return { arrays: [dst.whole, src.whole], result: undefined };
      },
      check: (o) => {
        const want = y.map((v, i) => Math.fround(Math.fround(v) + alpha * Math.fround(x[i])));
        return compareOutcomes(o, { arrays: [placed(Float32Array, want, 3).whole, placed(Float32Array, x, 1).whole], result: undefined });
      },
    });
  }
}

/** Float32 points, some longer than d (only the first d coordinates count), misaligned. */
function pointsOf(np: number, d: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < np; i++) out.push(floatValues(d + (rng() < 0.3 ? 3 : 0), false));
  return out;
}
function placePoints(points: number[][]): Float32Array[] {
  return points.map((p, i) => placed(Float32Array, p, i % 4).view);
}

// sqDistances: reference accumulates left to right in double, as the contract says.
for (const np of [0, 1, 3, 4, 5, 9]) {
  for (const d of [0, 1, 7, 33, 1001]) {
    for (const centerCtor of [Float32Array, Float64Array]) {
      const points = pointsOf(np, d);
      const center = floatValues(d, false);
      cases.push({
        kernel: 'sqDistances',
        name: `n=${np} d=${d} center ${centerCtor.name}`,
        run: (k) => {
          const out = placed(Float64Array, new Array<number>(np).fill(7), 1);
          k.sqDistances(placePoints(points), placed(centerCtor, center, 1).view, out.view);
          return { arrays: [out.whole], result: undefined };
        },
        check: (o) => {
          const c = centerCtor.from(center);
          const want = points.map((p) => {
            const pf = Float32Array.from(p);
            let acc = 0;
            for (let j = 0; j < d; j++) {
              const diff = pf[j] - c[j];
              acc += diff * diff;
            }
            return acc;
          });
          return compareOutcomes(o, { arrays: [placed(Float64Array, want, 1).whole], result: undefined });
        },
      });
    }
  }
}

// weightedSum: out overwritten; d crosses the native 2048-column blocks.
for (const np of [0, 1, 2, 5, 8, 11]) {
  for (const d of [0, 1, 7, 2047, 2049, 4100]) {
    for (const outCtor of [Float32Array, Float64Array]) {
      const points = pointsOf(np, d);
      const weights = floatValues(np + 1, false);
      cases.push({
        kernel: 'weightedSum',
        name: `n=${np} d=${d} out ${outCtor.name}`,
        run: (k) => {
          const out = placed(outCtor, new Array<number>(d).fill(3), 1);
          k.weightedSum(placePoints(points), placed(Float64Array, weights, 1).view, out.view);
          return { arrays: [out.whole], result: undefined };
        },
        check: (o) => {
          const want: number[] = [];
          const pf = points.map((p) => Float32Array.from(p));
          for (let j = 0; j < d; j++) {
            let acc = 0;
            for (let i = 0; i < np; i++) acc += weights[i] * pf[i][j];
            want.push(acc);
          }
          return compareOutcomes(o, { arrays: [placed(outCtor, want, 1).whole], result: undefined });
        },
      });
    }
  }
}

// weiszfeldStep: out = weighted sum / divisor, the move from `previous`, the distances to out; d
// crosses the native 8192-column blocks and 16-float prefetch lines, the point count crosses the
// groups of four; previous and distances each present or absent. Reference: the formulas, in order.
for (const np of [0, 1, 2, 3, 4, 5, 7, 8, 16, 17]) {
  for (const d of [0, 1, 7, 16, 17, 8191, 8192, 8193, 16400, 20000]) {
    for (const mode of ['both', 'previous', 'distances', 'neither'] as const) {
      if (d > 8193 && mode !== 'both' && np !== 5) continue;
      const points = pointsOf(np, d);
      const weights = Array.from({ length: np + 1 }, () => rng() * 2);
      const previous = floatValues(d, false);
      const divisor = [1, 3.7, 0.1][Math.floor(rng() * 3)];
      const withPrevious = mode === 'both' || mode === 'previous';
      const withDistances = mode === 'both' || mode === 'distances';
      cases.push({
        kernel: 'weiszfeldStep',
        name: `n=${np} d=${d} ${mode} / ${divisor}`,
        run: (k) => {
          const out = placed(Float64Array, new Array<number>(d).fill(3), 1);
          const prev = placed(Float64Array, previous, 1);
          const dist = placed(Float64Array, new Array<number>(np).fill(9), 1);
          const move = k.weiszfeldStep(placePoints(points), placed(Float64Array, weights, 1).view, divisor, out.view, withPrevious ? prev.view : undefined, withDistances ? dist.view : undefined);
          return { arrays: [out.whole, dist.whole, prev.whole], result: move };
        },
        check: (o) => {
          const pf = points.map((p) => Float32Array.from(p));
          const out: number[] = [];
          for (let j = 0; j < d; j++) {
            let acc = 0;
            for (let i = 0; i < np; i++) acc += weights[i] * pf[i][j];
            out.push(acc / divisor);
          }
          let move = 0;
          if (withPrevious) {
            for (let j = 0; j < d; j++) move += (out[j] - previous[j]) * (out[j] - previous[j]);
          }
          const dist = pf.map((p) => {
            let acc = 0;
            for (let j = 0; j < d; j++) acc += (p[j] - out[j]) * (p[j] - out[j]);
            return acc;
          });
          return compareOutcomes(o, {
            arrays: [placed(Float64Array, out, 1).whole, placed(Float64Array, withDistances ? dist : new Array<number>(np).fill(9), 1).whole, placed(Float64Array, previous, 1).whole],
            result: move,
          });
        },
      });
    }
  }
}

// selectKth: against a sort with NaN last; the array must stay a permutation, partitioned at k.
for (const ctor of [Float32Array, Float64Array]) {
  for (const n of [1, 2, 3, 7, 100, 1001, 5000]) {
    for (const kind of ['random', 'ties', 'nan', 'sorted']) {
      const values =
        kind === 'ties' ? Array.from({ length: n }, () => Math.floor(rng() * 4))
        : kind === 'sorted' ? Array.from({ length: n }, (_, i) => i - n / 2)
        : floatValues(n, kind === 'nan').map((x) => (Number.isFinite(x) || Number.isNaN(x) ? x : 0));
      const k = [0, n - 1, Math.floor(rng() * n), n >>> 1][Math.floor(rng() * 4)];
      cases.push({
        kernel: 'selectKth',
        name: `${ctor.name} n=${n} ${kind} k=${k}`,
        run: (impl) => {
          const v = placed(ctor, values, 1);
          const result = impl.selectKth(v.view as FloatArray, k);
          return { arrays: [v.whole], result };
        },
        check: (o) => {
          // The contract's order: numbers ascending (-0 and +0 equal), NaN last.
          const byValue = (x: number, y: number) => (Number.isNaN(x) ? (Number.isNaN(y) ? 0 : 1) : Number.isNaN(y) ? -1 : x - y);
          // A total order (-0 before +0) to compare multisets exactly.
          const total = (x: number, y: number) => byValue(x, y) || (Object.is(x, -0) ? 0 : 1) - (Object.is(y, -0) ? 0 : 1);
          const sorted = Array.from(ctor.from(values)).sort(byValue);
          const kth = o.result ?? Number.NaN;
          if (byValue(kth, sorted[k]) !== 0) return `returned ${kth}, sorted[k] = ${sorted[k]}`;
          const after = Array.from((o.arrays[0] as FloatArray).subarray(1, 1 + n));
          const perm = firstDifference(ctor.from([...after].sort(total)), ctor.from(Array.from(ctor.from(values)).sort(total)));
          if (perm !== undefined) return `not a permutation of the input: ${perm}`;
          if (!Object.is(after[k], kth) && !(Number.isNaN(after[k]) && Number.isNaN(kth))) return `values[k] = ${after[k]}, returned ${kth}`;
          for (let i = 0; i < n; i++) {
            if (i < k && byValue(after[i], kth) > 0) return `values[${i}] = ${after[i]} > kth ${kth}`;
            if (i > k && byValue(after[i], kth) < 0) return `values[${i}] = ${after[i]} < kth ${kth}`;
          }
          return undefined;
        },
      });
    }
  }
}

/** A standard normal draw from rng (Box-Muller). */
function normal(): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

// topKIndices: against a stable sort (value descending, NaN first, index ascending on ties); values
// must be left unchanged. Few distinct values make ties at the threshold the common case. The
// native radix select splits the range min..max of the keys into buckets and refines the boundary
// bucket's candidates: 'scores' are BGMD-like (non-negative, many binades; they and 'zeros', with
// -0 and +0 tied, take the native path for values without sign or NaN); 'outlier' packs the
// values into a few ulps next to 1 plus one +Inf, so the first buckets are useless and the
// candidates need several refining rounds; 'ulps' adds ties inside such a cluster; 'allnan' and
// 'nanmix' put NaN (the largest key) at the threshold.
const TOPK_KINDS = ['random', 'ties', 'nan', 'signed', 'constant', 'scores', 'zeros', 'outlier', 'ulps', 'allnan', 'nanmix'] as const;
function topKValues(n: number, kind: (typeof TOPK_KINDS)[number]): number[] {
  const near1 = (ulps: number) => 1 + ulps * 2 ** -52;
  switch (kind) {
    case 'ties': return Array.from({ length: n }, () => Math.floor(rng() * 4));
    case 'constant': return new Array<number>(n).fill(rng() < 0.5 ? 0 : -0);
    case 'signed': return Array.from({ length: n }, () => (rng() < 0.5 ? -1 : 1) * [0, 1e-310, 1, 2.5, Infinity][Math.floor(rng() * 5)]);
    case 'scores': return Array.from({ length: n }, () => (rng() < 0.01 ? 0 : Math.exp(4 * normal())));
    case 'zeros': return Array.from({ length: n }, () => [0, -0, 5e-324, 2, Infinity][Math.floor(rng() * 5)]);
    case 'outlier': return Array.from({ length: n }, (_, j) => (j === n >> 1 ? Infinity : near1(Math.floor(rng() * 5000))));
    case 'ulps': return Array.from({ length: n }, () => near1(Math.floor(rng() * 40)));
    case 'allnan': return new Array<number>(n).fill(Number.NaN);
    case 'nanmix': return Array.from({ length: n }, () => (rng() < 0.7 ? Number.NaN : rng() - 0.5));
    default: return floatValues(n, kind === 'nan');
  }
}
for (const n of [0, 1, 2, 7, 100, 1001, 5000, 20000]) {
  for (const kind of TOPK_KINDS) {
    if (n === 20000 && !['scores', 'zeros', 'outlier', 'ulps', 'nanmix'].includes(kind)) continue;
    const values = topKValues(n, kind);
    for (const k of new Set([0, n, Math.floor(rng() * (n + 1)), n >>> 1, Math.min(n, 1), Math.max(0, n - 1), Math.ceil(n / 10)])) {
      cases.push({
        kernel: 'topKIndices',
        name: `n=${n} ${kind} k=${k}`,
        run: (impl) => {
          const v = placed(Float64Array, values, 1);
          const out = new Uint32Array(k + 2).fill(0xdeadbeef);
          impl.topKIndices(v.view, k, out.subarray(0, k));
          return { arrays: [out, v.whole], result: undefined };
        },
        check: (o) => {
          const rank = (x: number) => (Number.isNaN(x) ? Infinity : x);
          const order = values.map((_, j) => j).sort((a, b) => {
            const x = values[a];
            const y = values[b];
            if (Number.isNaN(x) !== Number.isNaN(y)) return Number.isNaN(x) ? -1 : 1;
            // Equal values (Infinity - Infinity is NaN, also falsy) fall through to the index.
            return rank(y) - rank(x) || a - b;
          });
          const want = new Uint32Array(k + 2).fill(0xdeadbeef);
          want.set(order.slice(0, k).sort((a, b) => a - b));
          return compareOutcomes(o, { arrays: [want, placed(Float64Array, values, 1).whole], result: undefined });
        },
      });
    }
  }
}

// allFinite: one NaN or +-Inf anywhere (first, last, middle, in the unrolled tail) makes it false.
for (const n of [0, 1, 7, 8, 9, 31, 1000, 4099]) {
  for (const at of ['none', 'first', 'middle', 'last']) {
    if (at !== 'none' && n === 0) continue;
    for (const bad of at === 'none' ? [0] : [Number.NaN, Infinity, -Infinity]) {
      const a = floatValues(n, false).map((x) => (Number.isFinite(x) ? x : 0));
      if (at !== 'none') a[at === 'first' ? 0 : at === 'last' ? n - 1 : n >>> 1] = bad;
      cases.push({
        kernel: 'allFinite',
        name: `n=${n} ${at} ${bad}`,
        run: (impl) => {
          const v = placed(Float32Array, a, 3);
          // The guards around the view are finite; a NaN just outside must not count.
          v.whole[0] = Number.NaN;
          return { arrays: [v.whole], result: impl.allFinite(v.view) ? 1 : 0 };
        },
        check: (o) => {
          const want = placed(Float32Array, a, 3).whole;
          want[0] = Number.NaN;
          return compareOutcomes(o, { arrays: [want], result: a.every((x) => Number.isFinite(Math.fround(x))) ? 1 : 0 });
        },
      });
    }
  }
}

/**
 * The independent reference of augmentedScores and columnScores: s_j summed in float32 over the rows
 * in order from `augmented(p, j)`, the candidates (s_j >= fround(threshold) or NaN) and the expected
 * return value (-2 non-finite, -1 past the capacity, else the candidate count, 0 without candidates).
 */
function scoreReference(n: number, length: number, augmented: (p: number, j: number) => number, threshold: number, capacity: number) {
  const refScores = new Float64Array(length);
  for (let j = 0; j < length; j++) {
    let sum = 0;
    for (let p = 0; p < n; p++) {
      const a = augmented(p, j);
      sum = Math.fround(sum + Math.fround(a * a));
    }
    refScores[j] = sum;
  }
  const finite = refScores.every(Number.isFinite);
  const hits: number[] = [];
  for (let j = 0; j < length; j++) if (!(refScores[j] < Math.fround(threshold))) hits.push(j);
  const overflow = capacity > 0 && hits.length > capacity;
  const expected = !finite ? -2 : capacity === 0 ? 0 : overflow ? -1 : hits.length;
  return { refScores, finite, hits, overflow, expected };
}

// augmentedScores: d crosses the native and JS 16384-coordinate blocks, the row count crosses the
// native sweeps of four rows (and the eight-lane AVX2 groups); lr that is and is not a float32.
// Reads only: memory and gradients (guards included) must come back unchanged. Candidates: none, a
// few (high threshold), many, and past the capacity (-1: the candidate arrays are then not compared,
// which ones were written before the overflow depends on the blocking); with and without the full
// scores. Special kinds: a NaN or +-Inf gradient anywhere (the result must be -2: it is BGMD's NaN
// screen), an Inf in the memory, an augmented value that overflows float32, and one gradient array
// passed for several rows (read-only sharing is allowed). The reference is a plain loop over j, then rows.
const SCORE_KINDS = ['finite', 'nanGrad', 'infGrad', 'infMemory', 'overflow', 'sharedGrad'] as const;
for (const np of [0, 1, 2, 3, 4, 5, 8, 16, 17]) {
  for (const d of [0, 1, 7, 9, 16383, 16385, 40001]) {
    for (const lr of [0.25, Math.fround(0.1), 0.1, 3]) {
      for (const kind of SCORE_KINDS) {
        if (kind !== 'finite' && (d === 0 || np === 0 || lr !== 0.1 || ![1, 5, 16].includes(np) || ![7, 16385].includes(d))) continue;
        if (np >= 8 && d > 16385 && lr !== 0.25) continue;
        const mem = Array.from({ length: np }, () => floatValues(d, false).map((x) => (Number.isFinite(x) ? x : 0)));
        const grad = Array.from({ length: np }, () => floatValues(d, false).map((x) => (Number.isFinite(x) ? x * 0.01 : 0)));
        const row = Math.floor(rng() * np);
        const at = Math.floor(rng() * d);
        if (kind === 'nanGrad') grad[row][at] = Number.NaN;
        if (kind === 'infGrad') grad[row][at] = rng() < 0.5 ? Infinity : -Infinity;
        if (kind === 'infMemory') mem[row][at] = -Infinity;
        if (kind === 'overflow') {
          mem[row][at] = 3.4e38;
          grad[row][at] = 3e38 / lr;
        }
        const cands = (['none', 'few', 'many', 'overflow'] as const)[Math.floor(rng() * 4)];
        const withScores = cands === 'none' || rng() < 0.5;
        const threshold = cands === 'few' ? 4e6 : cands === 'many' ? 100 : 0;
        const capacity = cands === 'none' ? 0 : cands === 'overflow' ? Math.max(0, Math.floor(d / 3) - 1) : d + 2;
        // The reference: plain loops, float32 as Math.fround. Without rows, d is the scores' length (0 without scores).
        const lr32 = Math.fround(lr);
        const augmented = (p: number, j: number): number => Math.fround(Math.fround(lr32 * Math.fround((kind === 'sharedGrad' ? grad[0] : grad[p])[j])) + Math.fround(mem[p][j]));
        const { refScores, finite, hits, overflow, expected } = scoreReference(np, np === 0 && !withScores ? 0 : d, augmented, threshold, capacity);
        cases.push({
          kernel: 'augmentedScores',
          name: `n=${np} d=${d} lr=${lr} ${kind} candidates=${cands} (${hits.length} hits, capacity ${capacity}) scores=${withScores}`,
          run: (impl) => {
            const m = mem.map((r, p) => placed(Float32Array, r, p % 3));
            const g = grad.map((r, p) => placed(Float32Array, r, (p + 1) % 3));
            const scores = placed(Float64Array, new Array<number>(d).fill(7), 1);
            const index = placed(Uint32Array, new Array<number>(capacity).fill(3), 1);
            const score = placed(Float64Array, new Array<number>(capacity).fill(3), 2);
            const gViews = g.map((x) => (kind === 'sharedGrad' ? g[0].view : x.view));
            const result = impl.augmentedScores(m.map((x) => x.view), gViews, lr, withScores ? scores.view : undefined, cands === 'none' ? undefined : { threshold, index: index.view, score: score.view });
            const candidateArrays = overflow || cands === 'none' ? [] : [index.whole, score.whole];
            return { arrays: [scores.whole, ...m.map((x) => x.whole), ...g.map((x) => x.whole), ...candidateArrays], result };
          },
          check: (o) => {
            if (kind !== 'finite' && kind !== 'sharedGrad' && finite) return 'the special value did not reach the scores';
            const index = new Array<number>(capacity).fill(3);
            const score = new Array<number>(capacity).fill(3);
            if (capacity > 0 && !overflow) {
              hits.forEach((j, c) => {
                index[c] = j;
                score[c] = refScores[j];
              });
            }
            const candidateArrays = overflow || cands === 'none' ? [] : [placed(Uint32Array, index, 1).whole, placed(Float64Array, score, 2).whole];
            return compareOutcomes(o, {
              arrays: [
                placed(Float64Array, withScores ? Array.from(refScores) : new Array<number>(d).fill(7), 1).whole,
                ...mem.map((r, p) => placed(Float32Array, r, p % 3).whole),
                ...grad.map((r, p) => placed(Float32Array, r, (p + 1) % 3).whole),
                ...candidateArrays,
              ],
              result: expected,
            });
          },
        });
      }
    }
  }
}

// columnScores: augmentedScores over rows already augmented (a = rows[p][j]), with the candidates'
// columns copied out when asked. Same shapes as above; special kinds: a NaN or +-Inf value (-2), a
// value whose square overflows float32 (-2), one array passed for several rows. The reference is a
// plain loop over j, then rows; the columns are read back from the reference's hits.
for (const np of [0, 1, 3, 4, 5, 16, 17]) {
  for (const d of [0, 7, 16385, 40001]) {
    for (const kind of ['finite', 'nan', 'inf', 'overflow', 'shared'] as const) {
      if (kind !== 'finite' && (d === 0 || np === 0 || ![1, 5, 16].includes(np) || ![7, 16385].includes(d))) continue;
      const src = Array.from({ length: np }, () => floatValues(d, false).map((x) => (Number.isFinite(x) ? x : 0)));
      const row = Math.floor(rng() * np);
      const at = Math.floor(rng() * d);
      if (kind === 'nan') src[row][at] = Number.NaN;
      if (kind === 'inf') src[row][at] = rng() < 0.5 ? Infinity : -Infinity;
      if (kind === 'overflow') src[row][at] = -2e19;
      const input = kind === 'shared' ? src.map(() => src[0]) : src;
      const cands = (['none', 'few', 'many', 'overflow'] as const)[Math.floor(rng() * 4)];
      const withValues = cands !== 'none' && rng() < 0.7;
      const withScores = cands === 'none' || rng() < 0.5;
      const threshold = cands === 'few' ? 4e8 : cands === 'many' ? 100 : 0;
      const capacity = cands === 'none' ? 0 : cands === 'overflow' ? Math.max(0, Math.floor(d / 3) - 1) : d + 2;
      const { refScores, finite, hits, overflow, expected } = scoreReference(np, np === 0 && !withScores ? 0 : d, (p, j) => Math.fround(input[p][j]), threshold, capacity);
      cases.push({
        kernel: 'columnScores',
        name: `n=${np} d=${d} ${kind} candidates=${cands} (${hits.length} hits, capacity ${capacity}) values=${withValues} scores=${withScores}`,
        run: (impl) => {
          const r = src.map((x, p) => placed(Float32Array, x, p % 3));
          const views = r.map((x) => (kind === 'shared' ? r[0].view : x.view));
          const scores = placed(Float64Array, new Array<number>(d).fill(7), 1);
          const index = placed(Uint32Array, new Array<number>(capacity).fill(3), 1);
          const score = placed(Float64Array, new Array<number>(capacity).fill(3), 2);
          const values = src.map((_, p) => placed(Float32Array, new Array<number>(capacity).fill(9), p % 2));
          const candidates = cands === 'none' ? undefined : { threshold, index: index.view, score: score.view, ...(withValues ? { values: values.map((v) => v.view) } : {}) };
          const result = impl.columnScores(views, withScores ? scores.view : undefined, candidates);
          const candidateArrays = overflow || cands === 'none' || !finite ? [] : [index.whole, score.whole, ...(withValues ? values.map((v) => v.whole) : [])];
          return { arrays: [scores.whole, ...r.map((x) => x.whole), ...candidateArrays], result };
        },
        check: (o) => {
          if (kind !== 'finite' && kind !== 'shared' && finite) return 'the special value did not reach the scores';
          const index = new Array<number>(capacity).fill(3);
          const score = new Array<number>(capacity).fill(3);
          const values = src.map(() => new Array<number>(capacity).fill(9));
          if (capacity > 0 && !overflow) {
            hits.forEach((j, c) => {
              index[c] = j;
              score[c] = refScores[j];
              values.forEach((v, p) => (v[c] = input[p][j]));
            });
          }
          const candidateArrays =
            overflow || cands === 'none' || !finite
              ? []
              : [placed(Uint32Array, index, 1).whole, placed(Float64Array, score, 2).whole, ...(withValues ? values.map((v, p) => placed(Float32Array, v, p % 2).whole) : [])];
          return compareOutcomes(o, {
            arrays: [placed(Float64Array, withScores ? Array.from(refScores) : new Array<number>(d).fill(7), 1).whole, ...src.map((x, p) => placed(Float32Array, x, p % 3).whole), ...candidateArrays],
            result: expected,
          });
        },
      });
    }
  }
}

// augmentRow: lengths across the eight-lane groups, and one past 8 MiB (native then stores around
// the cache, from the first 32-byte aligned element of out); a NaN or +-Inf gradient (false), an Inf
// in the memory (still true: only g is checked), lr that is and is not a float32.
for (const d of [0, 1, 7, 8, 9, 1000, 4099, (1 << 21) + 13]) {
  for (const kind of ['finite', 'nanGrad', 'infGrad', 'infMemory'] as const) {
    if (kind !== 'finite' && d === 0) continue;
    for (const lr of [0.25, 0.1]) {
      if (d > 4099 && (lr !== 0.1 || kind === 'infMemory')) continue;
      const mem = floatValues(d, false).map((x) => (Number.isFinite(x) ? x : 0));
      const grad = floatValues(d, false).map((x) => (Number.isFinite(x) ? x * 0.01 : 0));
      const at = Math.floor(rng() * d);
      if (kind === 'nanGrad') grad[at] = Number.NaN;
      if (kind === 'infGrad') grad[at] = -Infinity;
      if (kind === 'infMemory') mem[at] = Infinity;
      const outAt = d > 4099 ? 3 : 0; // an unaligned head before the aligned stores
      cases.push({
        kernel: 'augmentRow',
        name: `d=${d} ${kind} lr=${lr}`,
        run: (impl) => {
          const m = placed(Float32Array, mem, 1);
          const g = placed(Float32Array, grad, 2);
          const out = placed(Float32Array, new Array<number>(d).fill(5), outAt);
          const result = impl.augmentRow(m.view, g.view, lr, out.view) ? 1 : 0;
          return { arrays: [m.whole, g.whole, out.whole], result };
        },
        check: (o) => {
          const lr32 = Math.fround(lr);
          const want = Array.from(mem, (m, j) => Math.fround(Math.fround(lr32 * Math.fround(grad[j])) + Math.fround(m)));
          return compareOutcomes(o, {
            arrays: [placed(Float32Array, mem, 1).whole, placed(Float32Array, grad, 2).whole, placed(Float32Array, want, outAt).whole],
            result: grad.every((x) => Number.isFinite(Math.fround(x))) ? 1 : 0,
          });
        },
      });
    }
  }
}

// gatherColumns: rows of their own lengths (indices below the shortest), indices none, all, random
// ascending subsets; divisors that are and are not float32. The reference divides in double and rounds once.
for (const np of [0, 1, 3, 16]) {
  for (const d of [1, 9, 1000, 5000]) {
    for (const kind of ['subset', 'all', 'none']) {
      const lengths = Array.from({ length: np }, (_, p) => d + (p % 2) * 3);
      const indices = Uint32Array.from(Array.from({ length: d }, (_, j) => j).filter(() => (kind === 'all' ? true : kind === 'none' ? false : rng() < 0.3)));
      const k = indices.length;
      const src = lengths.map((len) => floatValues(len, false));
      for (const divisor of [0.5, Math.fround(0.1), 3]) {
        cases.push({
          kernel: 'gatherColumns',
          name: `n=${np} d=${d} ${kind} k=${k} / ${divisor}`,
          run: (impl) => {
            const r = src.map((x, p) => placed(Float32Array, x, p % 2));
            const out = src.map((_, p) => placed(Float32Array, new Array<number>(k).fill(5), (p + 1) % 3));
            impl.gatherColumns(r.map((x) => x.view), indices, divisor, out.map((x) => x.view));
            return { arrays: [...r.map((x) => x.whole), ...out.map((x) => x.whole)], result: undefined };
          },
          check: (o) =>
            compareOutcomes(o, {
              arrays: [
                ...src.map((x, p) => placed(Float32Array, x, p % 2).whole),
                ...src.map((x, p) => placed(Float32Array, Array.from(indices, (j) => Math.fround(x[j]) / divisor), (p + 1) % 3).whole),
              ],
              result: undefined,
            }),
        });
      }
    }
  }
}

// augmentAndExtract: rows of their own lengths (the augment covers each memory row in full),
// gradients as long or longer; indices none, all, random ascending subsets, and ones sitting on the
// native 2048-coordinate chunk edges; divisors that are and are not float32.
for (const np of [0, 1, 3, 16]) {
  for (const d of [1, 9, 1000, 2048, 2049, 5000]) {
    for (const kind of ['subset', 'all', 'none', 'edges']) {
      const lengths = Array.from({ length: np }, (_, p) => d + (p % 2) * 3);
      const pick = (j: number) => (kind === 'all' ? true : kind === 'none' ? false : kind === 'edges' ? [0, 2047, 2048, 4095, 4096, d - 1].includes(j) : rng() < 0.2);
      const indices = Uint32Array.from(Array.from({ length: d }, (_, j) => j).filter(pick));
      const k = indices.length;
      const mem = lengths.map((len) => floatValues(len, false).map((x) => (Number.isFinite(x) ? x : 0)));
      const grad = lengths.map((len) => floatValues(len + (rng() < 0.5 ? 2 : 0), false).map((x) => (Number.isFinite(x) ? x * 0.01 : 0)));
      for (const [lr, divisor] of [[0.25, 0.5], [Math.fround(0.1), Math.fround(0.1)], [0.1, 3]] as const) {
        cases.push({
          kernel: 'augmentAndExtract',
          name: `n=${np} d=${d} ${kind} k=${k} lr=${lr} / ${divisor}`,
          run: (impl) => {
            const m = mem.map((x, p) => placed(Float32Array, x, p % 2));
            const g = grad.map((x, p) => placed(Float32Array, x, (p + 1) % 3));
            const out = mem.map(() => placed(Float32Array, new Array<number>(k).fill(5), 1));
            const idx = new Uint32Array(k + 1);
            idx.set(indices, 1);
            impl.augmentAndExtract(m.map((x) => x.view), g.map((x) => x.view), lr, idx.subarray(1), divisor, out.map((x) => x.view));
            return { arrays: [...m.map((x) => x.whole), ...g.map((x) => x.whole), ...out.map((x) => x.whole)], result: undefined };
          },
          check: (o) => {
            const m = mem.map((x) => Float32Array.from(x));
            m.forEach((row, p) => {
              const g = Float32Array.from(grad[p]);
              for (let j = 0; j < row.length; j++) row[j] = Math.fround(Math.fround(lr) * g[j]) + row[j];
            });
            const out = m.map((row) =>
              Array.from(indices, (j) => {
                const v = row[j] / divisor;
                row[j] = 0;
                return v;
              }),
            );
            return compareOutcomes(o, {
              arrays: [
                ...m.map((x, p) => placed(Float32Array, x, p % 2).whole),
                ...grad.map((x, p) => placed(Float32Array, x, (p + 1) % 3).whole),
                ...out.map((x) => placed(Float32Array, x, 1).whole),
              ],
              result: undefined,
            });
          },
        });
      }
    }
  }
}

const KERNEL_NAMES = [
  'reduceInto', 'scale', 'divide', 'signPack', 'firstNonFinite', 'momentumSignPack', 'signApply', 'axpy',
  'voteCount', 'sqDistances', 'weightedSum', 'weiszfeldStep', 'selectKth', 'topKIndices', 'allFinite', 'augmentedScores', 'columnScores', 'gatherColumns', 'augmentRow', 'augmentAndExtract',
];
const nativeSkip = nativeKernels === undefined ? `native addon not built: ${nativeLoad.reason}` : false;

for (const [label, impl] of [['js', jsKernels], ['native', nativeKernels]] as const) {
  t.test(`${label} kernels match the references`, { skip: impl === undefined ? nativeSkip : false }, async (tt) => {
    if (impl === undefined) return;
    tt.equal(impl.name, label);
    for (const kernel of KERNEL_NAMES) {
      const mine = cases.filter((c) => c.kernel === kernel);
      tt.ok(mine.length > 0, `${kernel} has cases`);
      const failures = mine.map((c) => [c.name, c.check(c.run(impl))] as const).filter(([, f]) => f !== undefined);
      tt.same(failures, [], `${kernel}: ${mine.length} cases`);
    }
  });
}

t.test('native equals js bit for bit (outputs, guards, selectKth order)', { skip: nativeSkip }, async (tt) => {
  if (nativeKernels === undefined) return;
  const native = nativeKernels;
  for (const kernel of KERNEL_NAMES) {
    const mine = cases.filter((c) => c.kernel === kernel);
    const failures = mine
      .map((c) => [c.name, compareOutcomes(c.run(native), c.run(jsKernels))] as const)
      .filter(([, f]) => f !== undefined);
    tt.same(failures, [], `${kernel}: ${mine.length} cases`);
  }
});

t.test('native rejects bad arguments with TypeError/RangeError, never crashes', { skip: nativeSkip }, async (tt) => {
  if (nativeKernels === undefined) return;
  const k = nativeKernels;
  const f32 = new Float32Array(8);
  const bad = (x: unknown) => x as never;
  tt.throws(() => k.reduceInto(f32, new Float64Array(8), 'sum'), { name: 'TypeError', message: /same type.*Float32Array and Float64Array/ });
  tt.throws(() => k.reduceInto(f32, new Float32Array(4), 'sum'), { name: 'RangeError', message: /src has 4 elements, dst has 8/ });
  tt.throws(() => k.reduceInto(bad(new Uint8Array(8)), f32, 'sum'), { name: 'TypeError', message: /'dst' must be .*got Uint8Array/ });
  tt.throws(() => k.reduceInto(f32, f32, bad('mean')), { name: 'TypeError', message: /'op' must be 'sum', 'min' or 'max'/ });
  tt.throws(() => k.reduceInto(bad([1, 2]), f32, 'sum'), { name: 'TypeError', message: /got Array/ });
  tt.throws(() => k.scale(bad(new Int32Array(2)), 2), { name: 'TypeError', message: /scale: argument 'dst'/ });
  tt.throws(() => k.scale(f32, bad('2')), { name: 'TypeError', message: /'factor' must be a number \(got string\)/ });
  tt.throws(() => k.divide(f32, bad(undefined)), { name: 'TypeError', message: /'divisor' must be a number \(got undefined\)/ });
  tt.throws(() => k.signPack(new Float32Array(33), new Uint32Array(1)), { name: 'RangeError', message: /33 signs need 2/ });
  tt.throws(() => k.voteCount([new Uint32Array(2)], 3, new Uint32Array(3), new Uint32Array(3)), { name: 'RangeError', message: /packed\[0\] has 2 elements, needs at least 3/ });
  tt.throws(() => k.voteCount([bad(new Int32Array(3))], 3, new Uint32Array(3), new Uint32Array(3)), { name: 'TypeError', message: /packed\[0\] must be a Uint32Array \(got Int32Array\)/ });
  tt.throws(() => k.voteCount([], 3, new Uint32Array(2), new Uint32Array(3)), { name: 'RangeError', message: /need 3 words/ });
  tt.throws(() => k.voteCount([], -1, new Uint32Array(2), new Uint32Array(3)), { name: 'RangeError', message: /'words' must be an integer/ });
  tt.throws(() => k.sqDistances([new Float32Array(3)], new Float32Array(4), new Float64Array(1)), { name: 'RangeError', message: /points\[0\] has 3 elements/ });
  tt.throws(() => k.sqDistances([f32, f32], f32, new Float64Array(1)), { name: 'RangeError', message: /out has 1 elements for 2 points/ });
  tt.throws(() => k.weightedSum([f32, f32], new Float64Array(1), f32), { name: 'RangeError', message: /weights has 1 elements for 2 points/ });
  tt.throws(() => k.weightedSum(bad(f32), new Float64Array(1), f32), { name: 'TypeError', message: /'points' must be an Array of Float32Array/ });
  const f64 = (len: number) => new Float64Array(len);
  tt.throws(() => k.weiszfeldStep([new Float32Array(3)], f64(1), 1, f64(4), undefined, undefined), { name: 'RangeError', message: /weiszfeldStep: points\[0\] has 3 elements, needs at least 4/ });
  tt.throws(() => k.weiszfeldStep([f32, f32], f64(1), 1, f64(8), undefined, undefined), { name: 'RangeError', message: /weights has 1 elements for 2 points/ });
  tt.throws(() => k.weiszfeldStep([f32], f64(1), 1, f64(8), f64(7), undefined), { name: 'RangeError', message: /previous has 7 elements, needs at least 8/ });
  tt.throws(() => k.weiszfeldStep([f32, f32], f64(2), 1, f64(8), undefined, f64(1)), { name: 'RangeError', message: /distances has 1 elements, needs at least 2/ });
  tt.throws(() => k.weiszfeldStep([f32], f64(1), 1, bad(f32), undefined, undefined), { name: 'TypeError', message: /'out' must be a Float64Array/ });
  tt.throws(() => k.weiszfeldStep([f32], f64(1), 1, f64(8), bad(f32), undefined), { name: 'TypeError', message: /'previous' must be a Float64Array or undefined \(got Float32Array\)/ });
  tt.throws(() => k.weiszfeldStep([f32], f64(1), bad('1'), f64(8), undefined, undefined), { name: 'TypeError', message: /'divisor' must be a number/ });
  tt.throws(() => k.weiszfeldStep(bad(f32), f64(1), 1, f64(8), undefined, undefined), { name: 'TypeError', message: /'points' must be an Array of Float32Array/ });
  const both = new Float64Array(24);
  tt.throws(() => k.weiszfeldStep([f32], f64(1), 1, both.subarray(0, 8), both.subarray(4, 12), undefined), { name: 'RangeError', message: /shares memory/ });
  tt.throws(() => k.weiszfeldStep([f32], f64(1), 1, both.subarray(0, 8), undefined, both.subarray(7, 8)), { name: 'RangeError', message: /shares memory/ });
  tt.doesNotThrow(() => k.weiszfeldStep([f32, f32], f64(2), 1, f64(8), f64(8), f64(2)), 'points may be the same array');
  tt.throws(() => k.selectKth(new Float64Array(0), 0), { name: 'RangeError', message: /empty/ });
  tt.throws(() => k.selectKth(new Float64Array(3), 3), { name: 'RangeError', message: /'k' must be an integer in \[0, 3\)/ });
  tt.throws(() => k.selectKth(new Float64Array(3), 1.5), { name: 'RangeError' });
  const u32 = (n: number) => new Uint32Array(n);
  tt.throws(() => k.topKIndices(new Float64Array(3), 4, u32(4)), { name: 'RangeError', message: /'k' must be an integer in \[0, 3\]/ });
  tt.throws(() => k.topKIndices(new Float64Array(3), 2, u32(1)), { name: 'RangeError', message: /out has 1 elements, k is 2/ });
  tt.throws(() => k.topKIndices(bad(f32), 1, u32(1)), { name: 'TypeError', message: /'values' must be a Float64Array \(got Float32Array\)/ });
  tt.throws(() => k.topKIndices(new Float64Array(3), 1, bad(new Int32Array(1))), { name: 'TypeError', message: /'out' must be a Uint32Array/ });
  tt.throws(() => k.allFinite(bad(new Float64Array(2))), { name: 'TypeError', message: /allFinite: argument 'values' must be a Float32Array/ });
  const scores = new Float64Array(8);
  const cand = (capacity: number, scoreLength = capacity) => ({ threshold: 0, index: new Uint32Array(capacity), score: new Float64Array(scoreLength) });
  tt.throws(() => k.augmentedScores([f32, f32], [f32], 0.1, scores, undefined), { name: 'RangeError', message: /augmentedScores: memory has 2 entries, gradients has 1/ });
  tt.throws(() => k.augmentedScores([f32, new Float32Array(7)], [f32, f32], 0.1, scores, undefined), { name: 'RangeError', message: /memory\[1\] has 7 elements, memory\[0\] has 8; every row must have the same length/ });
  tt.throws(() => k.augmentedScores([f32], [new Float32Array(7)], 0.1, scores, undefined), { name: 'RangeError', message: /gradients\[0\] has 7 elements/ });
  tt.throws(() => k.augmentedScores([f32], [bad(new Float64Array(8))], 0.1, scores, undefined), { name: 'TypeError', message: /gradients\[0\] must be a Float32Array \(got Float64Array\)/ });
  tt.throws(() => k.augmentedScores([f32], [f32], bad('0.1'), scores, undefined), { name: 'TypeError', message: /'lr' must be a number/ });
  tt.throws(() => k.augmentedScores([f32], [f32], 0.1, bad(f32), undefined), { name: 'TypeError', message: /'scores' must be a Float64Array/ });
  tt.throws(() => k.augmentedScores([f32], [f32], 0.1, new Float64Array(7), undefined), { name: 'RangeError', message: /scores has 7 elements, the rows have 8/ });
  tt.throws(() => k.augmentedScores([f32], [f32], 0.1, undefined, cand(4, 3)), { name: 'RangeError', message: /candScore has 3 elements, candIndex \(the capacity\) 4/ });
  const shared = new ArrayBuffer(256);
  tt.throws(() => k.augmentedScores([new Float32Array(shared, 0, 8)], [f32], 0.1, new Float64Array(shared, 16, 8), undefined), { name: 'RangeError', message: /shares memory with another argument/ });
  tt.throws(() => k.augmentedScores([f32], [f32], 0.1, undefined, { threshold: 0, index: new Uint32Array(shared, 0, 4), score: new Float64Array(shared, 8, 4) }), { name: 'RangeError', message: /shares memory/ });
  tt.equal(k.augmentedScores([f32, f32], [f32, f32], 0.1, scores, undefined), 0, 'rows may share memory with each other (read only)');
  tt.throws(() => k.columnScores([f32, new Float32Array(7)], scores, undefined), { name: 'RangeError', message: /columnScores: rows\[1\] has 7 elements, rows\[0\] has 8/ });
  tt.throws(() => k.columnScores([f32], new Float64Array(7), undefined), { name: 'RangeError', message: /columnScores: scores has 7 elements, the rows have 8/ });
  tt.throws(() => k.columnScores([f32, f32], undefined, { ...cand(4), values: [new Float32Array(4)] }), { name: 'RangeError', message: /columnScores: rows has 2 entries, candValues has 1/ });
  tt.throws(() => k.columnScores([f32], undefined, { ...cand(4), values: [new Float32Array(3)] }), { name: 'RangeError', message: /candValues\[0\] has 3 elements, needs at least 4/ });
  tt.throws(() => k.columnScores([f32], undefined, { ...cand(4), values: [bad(new Float64Array(4))] }), { name: 'TypeError', message: /candValues\[0\] must be a Float32Array/ });
  tt.throws(() => k.columnScores([new Float32Array(shared, 0, 8)], undefined, { ...cand(4), values: [new Float32Array(shared, 16, 4)] }), { name: 'RangeError', message: /columnScores: scores or a candidate array shares memory/ });
  const u = (...xs: number[]) => Uint32Array.from(xs);
  tt.throws(() => k.augmentRow(f32, new Float32Array(7), 0.1, new Float32Array(8)), { name: 'RangeError', message: /augmentRow: memory, gradient and out have 8, 7 and 8 elements/ });
  tt.throws(() => k.augmentRow(f32, new Float32Array(8), 0.1, f32), { name: 'RangeError', message: /augmentRow: out shares memory/ });
  tt.throws(() => k.augmentRow(f32, bad(new Float64Array(8)), 0.1, new Float32Array(8)), { name: 'TypeError', message: /augmentRow: argument 'gradient' must be a Float32Array/ });
  tt.throws(() => k.gatherColumns([f32], u(1, 1), 1, [f32]), { name: 'RangeError', message: /gatherColumns: indices must be strictly ascending/ });
  tt.throws(() => k.gatherColumns([f32, new Float32Array(3)], u(3), 1, [f32, f32]), { name: 'RangeError', message: /gatherColumns: index 3 is out of range for a row of 3/ });
  tt.throws(() => k.gatherColumns([f32], u(1), 1, [f32, f32]), { name: 'RangeError', message: /gatherColumns: rows has 1 entries, out has 2/ });
  tt.throws(() => k.gatherColumns([f32], u(1, 2), 1, [new Float32Array(1)]), { name: 'RangeError', message: /out\[0\] has 1 elements, needs at least 2/ });
  tt.throws(() => k.gatherColumns([f32], u(1), 1, [f32]), { name: 'RangeError', message: /gatherColumns: an out row shares memory/ });
  const rows = (count: number, len = 8) => Array.from({ length: count }, () => new Float32Array(len));
  tt.throws(() => k.augmentAndExtract(rows(1), rows(1), 0.1, u(2, 8), 1, rows(1)), { name: 'RangeError', message: /index 8 is out of range for a row of 8 elements/ });
  tt.throws(() => k.augmentAndExtract([f32, new Float32Array(3)], rows(2), 0.1, u(3), 1, rows(2)), { name: 'RangeError', message: /index 3 is out of range for a row of 3/ });
  tt.throws(() => k.augmentAndExtract(rows(1), rows(1), 0.1, u(3, 1), 1, rows(1)), { name: 'RangeError', message: /strictly ascending \(indices\[1\] = 1 after 3\)/ });
  tt.throws(() => k.augmentAndExtract(rows(1), rows(1), 0.1, u(2, 2), 1, rows(1)), { name: 'RangeError', message: /strictly ascending/ });
  tt.throws(() => k.augmentAndExtract(rows(1), rows(1), 0.1, u(1, 2), 1, [new Float32Array(1)]), { name: 'RangeError', message: /out\[0\] has 1 elements, needs at least 2/ });
  tt.throws(() => k.augmentAndExtract(rows(1), rows(2), 0.1, u(1), 1, rows(1)), { name: 'RangeError', message: /memory has 1 entries, gradients has 2/ });
  tt.throws(() => k.augmentAndExtract(rows(1), rows(1), 0.1, u(1), 1, rows(2)), { name: 'RangeError', message: /memory has 1 entries, out has 2/ });
  tt.throws(() => k.augmentAndExtract(rows(1), [new Float32Array(7)], 0.1, u(1), 1, rows(1)), { name: 'RangeError', message: /gradients\[0\] has 7 elements, memory\[0\] has 8/ });
  tt.throws(() => k.augmentAndExtract(rows(1), rows(1), 0.1, bad(Int32Array.from([1])), 1, rows(1)), { name: 'TypeError', message: /'indices' must be a Uint32Array/ });
  tt.throws(() => k.augmentAndExtract(bad(f32), rows(1), 0.1, u(1), 1, rows(1)), { name: 'TypeError', message: /'memory' must be an Array of Float32Array/ });
  tt.throws(() => k.augmentAndExtract(rows(1), rows(1), bad(undefined), u(1), 1, rows(1)), { name: 'TypeError', message: /'lr' must be a number \(got undefined\)/ });
  tt.throws(() => k.augmentAndExtract(rows(1), rows(1), 0.1, u(1), bad(null), rows(1)), { name: 'TypeError', message: /'divisor' must be a number \(got null\)/ });
  const mine = rows(2);
  tt.throws(() => k.augmentAndExtract(mine, rows(2), 0.1, u(1), 1, [mine[0], new Float32Array(8)]), { name: 'RangeError', message: /shares memory/ });
  tt.throws(() => k.augmentAndExtract([mine[0], mine[0]], rows(2), 0.1, u(1), 1, rows(2)), { name: 'RangeError', message: /shares memory/ });
  tt.throws(() => k.augmentAndExtract([new Float32Array(shared, 0, 8)], [new Float32Array(shared, 28, 8)], 0.1, u(1), 1, rows(1)), { name: 'RangeError', message: /shares memory/ });
  tt.doesNotThrow(() => k.augmentAndExtract(mine, [f32, f32], 0.1, u(1), 1, rows(2)), 'gradients may share memory with each other');
  tt.throws(() => k.firstNonFinite(bad(new Float64Array(2))), { name: 'TypeError', message: /firstNonFinite: argument 'src' must be a Float32Array \(got Float64Array\)/ });
  tt.throws(() => k.momentumSignPack(new Float32Array(3), f32, 0.9, new Uint32Array(1), undefined, 0), { name: 'RangeError', message: /momentumSignPack: grad has 3 elements, needs at least 8/ });
  tt.throws(() => k.momentumSignPack(f32, new Float32Array(33), 0.9, new Uint32Array(1), undefined, 0), { name: 'RangeError', message: /grad has 8 elements, needs at least 33/ });
  tt.throws(() => k.momentumSignPack(new Float32Array(33), new Float32Array(33), 0.9, new Uint32Array(1), undefined, 0), { name: 'RangeError', message: /out has 1 words, needs at least 2/ });
  tt.throws(() => k.momentumSignPack(f32, f32, 0.9, new Uint32Array(1), new Float32Array(7), 0.1), { name: 'RangeError', message: /params has 7 elements, needs at least 8/ });
  tt.throws(() => k.momentumSignPack(f32, f32, 0.9, new Uint32Array(1), bad(new Float64Array(8)), 0.1), { name: 'TypeError', message: /'params' must be a Float32Array or undefined \(got Float64Array\)/ });
  tt.throws(() => k.momentumSignPack(f32, f32, bad('0.9'), new Uint32Array(1), undefined, 0), { name: 'TypeError', message: /'beta' must be a number \(got string\)/ });
  tt.throws(() => k.momentumSignPack(f32, f32, 0.9, bad(new Int32Array(1)), undefined, 0), { name: 'TypeError', message: /'out' must be a Uint32Array \(got Int32Array\)/ });
  tt.throws(() => k.momentumSignPack(f32, f32, 0.9, new Uint32Array(1), undefined, bad(undefined)), { name: 'TypeError', message: /'wd' must be a number \(got undefined\)/ });
  tt.throws(() => k.signApply(new Float32Array(33), new Uint32Array(1), 0.1, 0), { name: 'RangeError', message: /signApply: votes has 1 words, needs at least 2/ });
  tt.throws(() => k.signApply(bad(new Float64Array(8)), new Uint32Array(1), 0.1, 0), { name: 'TypeError', message: /signApply: argument 'params' must be a Float32Array/ });
  tt.throws(() => k.signApply(f32, new Uint32Array(1), 0.1, bad(null)), { name: 'TypeError', message: /'wd' must be a number \(got null\)/ });
  tt.throws(() => k.axpy(f32, -0.1, new Float32Array(4)), { name: 'RangeError', message: /axpy: x has 4 elements, needs at least 8/ });
  tt.throws(() => k.axpy(f32, bad(undefined), f32), { name: 'TypeError', message: /axpy: argument 'alpha' must be a number/ });
  tt.throws(() => k.axpy(f32, -0.1, bad([1, 2, 3])), { name: 'TypeError', message: /axpy: argument 'x' must be a Float32Array \(got Array\)/ });
  // A detached buffer is a zero-length array: a no-op, not a crash.
  const detached = new Float32Array(16);
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  tt.doesNotThrow(() => k.reduceInto(detached, detached, 'sum'));
  tt.equal(k.momentumSignPack(detached, detached, 0.9, new Uint32Array(0), detached, 0.1), -1);
  tt.doesNotThrow(() => k.signApply(detached, new Uint32Array(0), 0.1, 0.1));
  tt.equal(detached.length, 0);
});
