import t from 'tap';
import { GradientCode, DECODE_RESIDUAL_LIMIT } from '../../lib/coding/gradient-code.js';
import { ZcollError } from '../../lib/errors.js';
import { Prng } from '../../lib/prng.js';

const DIM = 12;

/** Every subset of {0..n-1} of size k, in lexicographic order. */
function subsets(n: number, k: number): number[][] {
  const out: number[][] = [];
  const pick = (start: number, chosen: number[]): void => {
    if (chosen.length === k) {
      out.push([...chosen]);
      return;
    }
    for (let i = start; i < n; i++) pick(i + 1, [...chosen, i]);
  };
  pick(0, []);
  return out;
}

function randomPartials(n: number, rng: Prng): Float64Array[] {
  return Array.from({ length: n }, () => Float64Array.from({ length: DIM }, () => rng.normal()));
}

/** The reference: the plain serial sum of the partition gradients. */
function directSum(partials: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(DIM);
  for (const p of partials) for (let x = 0; x < DIM; x++) out[x] += p[x];
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

function maxAbs(a: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]));
  return worst;
}

function complement(n: number, stragglers: readonly number[]): number[] {
  return Array.from({ length: n }, (_, i) => i).filter((i) => !stragglers.includes(i));
}

t.test('exhaustive decoding, n <= 10, every straggler set of size <= s, FRC and CRC', (t) => {
  const rng = new Prng(11);
  let checked = 0;
  let worstResidual = 0;
  let worstFloat64 = 0;
  let worstFloat32Ratio = 0;
  let worstCoefficient = 0;
  for (let n = 1; n <= 10; n++) {
    for (let s = 0; s < n; s++) {
      const kinds: ('frc' | 'crc')[] = n % (s + 1) === 0 ? ['frc', 'crc'] : ['crc'];
      for (const kind of kinds) {
        // No float32 coefficient policy here: the error bound below is what is checked.
        const code = GradientCode.create(n, s, { kind, seed: 1000 * n + s, maxFloat32Coefficient: Infinity });
        const partials = randomPartials(n, rng);
        const expected = directSum(partials);
        const messages64 = Array.from({ length: n }, (_, i) => code.encode(i, partials) as Float64Array);
        const messages32 = messages64.map((m) => Float32Array.from(m));
        for (let k = 0; k <= s; k++) {
          for (const stragglers of subsets(n, k)) {
            const responders = complement(n, stragglers);
            const a = code.decodeVector(responders);
            for (const i of stragglers) if (a[i] !== 0) t.fail(`n=${n} s=${s} ${kind}: straggler ${i} has coefficient ${a[i]}`);
            const residual = code.residual(a);
            worstResidual = Math.max(worstResidual, residual);
            const got = code.decode(responders, responders.map((i) => messages64[i]));
            const err = maxAbsDiff(got, expected) / Math.max(1, maxAbs(expected));
            worstFloat64 = Math.max(worstFloat64, err);
            if (residual >= 1e-9 || err >= 1e-9) t.fail(`n=${n} s=${s} ${kind} stragglers=[${stragglers}]: residual ${residual}, error ${err}`);
            // float32 payloads: each message is rounded once (relative 2^-24), then combined in float64;
            // the error is at most sum_i |a_i| * |f_i|_inf * 2^-24, plus float64 noise.
            const got32 = code.decode(responders, responders.map((i) => messages32[i]), new Float64Array(DIM));
            let bound = 0;
            for (const i of responders) bound += Math.abs(a[i]) * maxAbs(messages64[i]) * 2 ** -24;
            bound = bound * 1.01 + 1e-12 * Math.max(1, maxAbs(expected));
            const err32 = maxAbsDiff(got32, expected);
            worstFloat32Ratio = Math.max(worstFloat32Ratio, err32 / bound);
            worstCoefficient = Math.max(worstCoefficient, maxAbs(a));
            if (err32 > bound) t.fail(`n=${n} s=${s} ${kind} float32: error ${err32} > bound ${bound}`);
            checked++;
          }
        }
      }
    }
  }
  t.ok(checked > 5000, `checked ${checked} (code, straggler set) pairs`);
  t.ok(worstResidual < 1e-9, `worst |a^T B - 1| = ${worstResidual.toExponential(2)}`);
  t.ok(worstFloat64 < 1e-9, `worst float64 relative error = ${worstFloat64.toExponential(2)}`);
  t.ok(worstFloat32Ratio <= 1, `worst float32 error / bound = ${worstFloat32Ratio.toFixed(3)} (max |a| = ${worstCoefficient.toExponential(2)})`);
  t.end();
});

t.test('float32 relative error stays within the measured bounds for float32 messages', (t) => {
  // Measured with float64 coefficients: 9e-7 at (10, 4), 5e-6 at (20, 4), d = 1000; allow 10x for other draws.
  const rng = new Prng(5);
  const d = 1000;
  for (const [n, s, limit] of [
    [10, 4, 9e-6],
    [20, 4, 5e-5],
  ] as const) {
    const code = GradientCode.create(n, s, { kind: 'crc', seed: 3 });
    const partials = Array.from({ length: n }, () => Float64Array.from({ length: d }, () => rng.normal()));
    const expected = new Float64Array(d);
    for (const p of partials) for (let x = 0; x < d; x++) expected[x] += p[x];
    const messages = Array.from({ length: n }, (_, i) => Float32Array.from(code.encode(i, partials)));
    let worst = 0;
    for (let trial = 0; trial < 10; trial++) {
      const stragglers = rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, s);
      const responders = complement(n, stragglers);
      const got = code.decode(responders, responders.map((i) => messages[i]), new Float64Array(d));
      let num = 0;
      let den = 0;
      for (let x = 0; x < d; x++) {
        num += (got[x] - expected[x]) ** 2;
        den += expected[x] ** 2;
      }
      worst = Math.max(worst, Math.sqrt(num / den));
    }
    t.ok(worst < limit, `(${n}, ${s}) float32 relative error ${worst.toExponential(2)} < ${limit}`);
  }
  t.end();
});

t.test('FRC: rows have s+1 ones, one responder per group with coefficient 1', (t) => {
  for (const [n, s] of [
    [6, 1],
    [6, 2],
    [8, 3],
    [10, 4],
    [9, 2],
  ] as const) {
    const code = GradientCode.create(n, s);
    t.equal(code.kind, 'frc', `(${n}, ${s}) picks FRC`);
    for (let i = 0; i < n; i++) {
      const row = code.row(i);
      t.equal(row.filter((v) => v === 1).length, s + 1, `row ${i} has s+1 ones`);
      t.equal(row.filter((v) => v !== 0 && v !== 1).length, 0, `row ${i} is 0/1`);
      const group = Math.floor(i / (s + 1));
      for (let j = 0; j < n; j++) if (row[j] === 1 && Math.floor(j / (s + 1)) !== group) t.fail(`row ${i} holds partition ${j} of another group`);
    }
    const rng = new Prng(n + s);
    for (let trial = 0; trial < 20; trial++) {
      const stragglers = rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, s);
      const a = code.decodeVector(complement(n, stragglers));
      const perGroup = new Array<number>(n / (s + 1)).fill(0);
      for (let i = 0; i < n; i++) {
        if (a[i] === 0) continue;
        t.equal(a[i], 1);
        perGroup[Math.floor(i / (s + 1))]++;
      }
      t.same(perGroup, new Array<number>(n / (s + 1)).fill(1), 'exactly one responder per group');
    }
  }
  t.end();
});

t.test('CRC: cyclic support, H B^T = 0, same seed gives the same B', (t) => {
  for (const [n, s] of [
    [5, 2],
    [7, 3],
    [10, 3],
    [11, 5],
  ] as const) {
    const code = GradientCode.create(n, s, { seed: 42 });
    t.equal(code.kind, 'crc', `(${n}, ${s}) picks CRC`);
    const h = code.parityCheck as Float64Array;
    for (let i = 0; i < n; i++) {
      const support = code.encodingFor(i).map((e) => e.partition).sort((x, y) => x - y);
      const expected = Array.from({ length: s + 1 }, (_, k) => (i + k) % n).sort((x, y) => x - y);
      t.same(support, expected, `row ${i} supported on i..i+s mod n`);
      t.equal(code.row(i)[i], 1);
      let scale = 0;
      for (let r = 0; r < s; r++) {
        let dot = 0;
        for (let j = 0; j < n; j++) {
          dot += h[r * n + j] * code.matrix[i * n + j];
          scale = Math.max(scale, Math.abs(h[r * n + j] * code.matrix[i * n + j]));
        }
        if (Math.abs(dot) > 1e-12 * Math.max(1, scale)) t.fail(`(H B^T)[${r}][${i}] = ${dot}`);
      }
    }
    t.same(Array.from(GradientCode.create(n, s, { seed: 42 }).matrix), Array.from(code.matrix), 'deterministic');
    t.not(GradientCode.create(n, s, { seed: 43 }).matrix[1], code.matrix[1], 'another seed, another B');
  }
  t.end();
});

t.test('the n = 3, s = 1 example of Tandon et al.', (t) => {
  const code = GradientCode.fromMatrix(3, 1, [0.5, 1, 0, 0, 1, -1, 0.5, 0, 1]);
  const expected: Record<number, number[]> = { 0: [0, 1, 2], 1: [1, 0, 1], 2: [2, -1, 0] };
  for (const straggler of [0, 1, 2]) {
    const a = code.decodeVector(complement(3, [straggler]));
    for (let i = 0; i < 3; i++) t.ok(Math.abs(a[i] - expected[straggler][i]) < 1e-12, `straggler ${straggler}: a[${i}] = ${a[i]}`);
  }
  t.end();
});

t.test('more than s stragglers is refused with ENUMERIC, never a wrong sum', (t) => {
  for (const [n, s] of [
    [6, 2],
    [7, 2],
    [8, 3],
  ] as const) {
    for (const kind of ['crc', ...(n % (s + 1) === 0 ? ['frc' as const] : [])] as const) {
      const code = GradientCode.create(n, s, { kind });
      for (const stragglers of subsets(n, s + 1)) {
        t.throws(() => code.decodeVector(complement(n, stragglers)), { code: 'ENUMERIC', message: /not decodable/ });
      }
    }
  }
  t.end();
});

t.test('an inconsistent responder set is refused, not decoded', (t) => {
  // Rows 0 and 1 are equal: from {0, 1} no combination reaches partition 2.
  const code = GradientCode.fromMatrix(3, 1, [1, 1, 0, 1, 1, 0, 0, 0, 1]);
  t.throws(() => code.decodeVector([0, 1]), { code: 'ENUMERIC', message: /‖aᵀB − 1‖∞/ });
  t.ok(code.residual(code.decodeVector([0, 2])) < DECODE_RESIDUAL_LIMIT, '{0, 2} decodes');
  t.end();
});

t.test('errors are ZcollError instances', (t) => {
  t.throws(() => GradientCode.create(3, 3), ZcollError);
  t.end();
});

t.test('cache per responder set; returned vectors are copies', (t) => {
  const code = GradientCode.create(7, 2);
  const first = code.decodeVector([0, 1, 2, 4, 6]);
  t.equal(code.cachedPatterns, 1);
  first[0] = 1e9;
  const again = code.decodeVector([6, 4, 2, 1, 0]);
  t.equal(code.cachedPatterns, 1, 'order of responders does not matter');
  t.not(again[0], 1e9, 'caller mutation does not reach the cache');
  t.ok(code.residual(again) < 1e-9);
  t.end();
});

t.test('bad arguments are EINVAL and name what was wrong', (t) => {
  const einval = (message: RegExp) => ({ name: 'ZcollError', code: 'EINVAL', message });
  t.throws(() => GradientCode.create(4, 4), einval(/s \(stragglers\)/));
  t.throws(() => GradientCode.create(0, 0), einval(/n \(workers\)/));
  t.throws(() => GradientCode.create(7, 2, { kind: 'frc' }), einval(/\(s\+1\) \| n/));
  const code = GradientCode.create(5, 1);
  t.throws(() => code.decodeVector([0, 1, 2, 2]), einval(/listed twice/));
  t.throws(() => code.decodeVector([0, 1, 2, 5]), einval(/responder 5/));
  t.throws(() => code.decode([0, 1, 2, 3], [new Float64Array(2)]), einval(/4 responders but 1 messages/));
  t.throws(() => code.encode(0, []), einval(/needs partition/));
  t.end();
});

t.test('float32 messages with huge coefficients are refused', (t) => {
  const code = GradientCode.create(7, 3, { maxFloat32Coefficient: 1e-3 });
  const responders = [0, 1, 2, 3];
  t.throws(
    () => code.decode(responders, responders.map(() => new Float32Array(3))),
    { code: 'ENUMERIC', message: /float32/ },
  );
  t.end();
});

t.test('n = 256: CRC decodes random straggler sets within 1e-8', (t) => {
  const rng = new Prng(9);
  const n = 256;
  const s = 15;
  t.equal(GradientCode.create(n, s).kind, 'frc', '16 | 256: automatic choice is FRC');
  const code = GradientCode.create(n, s, { kind: 'crc' });
  t.equal(code.kind, 'crc', 'overridden');
  const partials = Array.from({ length: n }, () => Float64Array.from({ length: 4 }, () => rng.normal()));
  const expected = new Float64Array(4);
  for (const p of partials) for (let x = 0; x < 4; x++) expected[x] += p[x];
  for (let trial = 0; trial < 2; trial++) {
    const stragglers = rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, s - trial * 5);
    const responders = complement(n, stragglers);
    const a = code.decodeVector(responders);
    t.ok(code.residual(a) < DECODE_RESIDUAL_LIMIT, `residual ${code.residual(a).toExponential(2)}`);
    const got = code.decode(responders, responders.map((i) => code.encode(i, partials) as Float64Array));
    t.ok(maxAbsDiff(got, expected) < 1e-7 * Math.max(1, maxAbs(expected)), 'decoded sum equals the direct sum');
  }
  t.end();
});
