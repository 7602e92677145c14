import t from 'tap';
import { Prng } from '../../lib/prng.js';
import { alie } from '../../lib/faults/attacks/alie.js';
import { ByzantineSet, corruptRows } from '../../lib/faults/attacks/byzantine-set.js';
import { gaussian } from '../../lib/faults/attacks/gaussian.js';
import { ipm } from '../../lib/faults/attacks/ipm.js';
import { labelFlip } from '../../lib/faults/attacks/label-flip.js';
import { mimic } from '../../lib/faults/attacks/mimic.js';
import { nonFinite } from '../../lib/faults/attacks/non-finite.js';
import { scaledFlip } from '../../lib/faults/attacks/scaled-flip.js';
import { signFlip } from '../../lib/faults/attacks/sign-flip.js';
import { zero } from '../../lib/faults/attacks/zero.js';

const honest = [Float32Array.from([1, 2, -3]), Float32Array.from([3, 2, -1]), Float32Array.from([2, 8, -2])];
const own = Float32Array.from([0.5, -1, 4]);
const input = { own, honest, prng: new Prng(1) };
const close = (a: ArrayLike<number>, b: number[]): boolean => b.every((v, j) => Math.abs(a[j] - v) < 1e-5);

t.test('value attacks on a 3 x 3 example', async (t) => {
  // honest mean (2, 4, -2); std (ddof 1): (1, sqrt(12), 1)
  t.ok(close(signFlip()(input), [-2, -4, 2]), 'sign flip = -mean(honest)');
  t.ok(close(ipm()(input), [-4, -8, 4]), 'IPM tau 2');
  t.ok(close(ipm({ tau: 0.5 })(input), [-1, -2, 1]), 'IPM tau 0.5');
  t.ok(close(alie()(input), [3.5, 4 + 1.5 * Math.sqrt(12), -0.5]), 'ALIE tau 1.5');
  t.ok(close(alie({ tau: -1 })(input), [1, 4 - Math.sqrt(12), -3]), 'ALIE tau -1 (the BGMD DriftAttack)');
  t.ok(close(scaledFlip()(input), [-2.5, 5, -20]), 'scaled flip -5 g');
  t.ok(close(mimic({ target: 2 })(input), [2, 8, -2]));
  t.same(Array.from(zero()(input)), [0, 0, 0]);
  t.same(Array.from(own), [0.5, -1, 4], 'inputs untouched');
  t.throws(() => signFlip()({ own, honest: [], prng: new Prng(1) }), { code: 'EINVAL' });
  t.throws(() => mimic({ target: 3 })(input), { code: 'EINVAL' });
  t.throws(() => scaledFlip({ scale: NaN }), { code: 'EINVAL' });
});

t.test('gaussian: seeded, moments, additive', async (t) => {
  const big = { own: new Float32Array(20000).fill(1), honest: [], prng: new Prng(5) };
  const v = gaussian({ sigma: 10 })(big);
  const m = v.reduce((a, x) => a + x, 0) / v.length;
  const sd = Math.sqrt(v.reduce((a, x) => a + (x - m) ** 2, 0) / (v.length - 1));
  t.ok(Math.abs(m) < 0.3 && Math.abs(sd - 10) < 0.3, `mean ${m.toFixed(3)}, sd ${sd.toFixed(3)}`);
  const a = gaussian({ sigma: 10, additive: true })({ ...big, prng: new Prng(5) });
  t.ok(a.every((x, j) => Math.abs(x - (1 + v[j])) < 1e-4), 'additive = own + the same noise draws');
  t.same(Array.from(gaussian()({ ...input, prng: new Prng(9) })), Array.from(gaussian()({ ...input, prng: new Prng(9) })));
  t.throws(() => gaussian({ sigma: 0 }), { code: 'EINVAL' });
});

t.test('non-finite: all or a fraction of the coordinates', async (t) => {
  t.ok(nonFinite()(input).every((x) => x === Infinity));
  t.ok(nonFinite({ value: 'nan' })(input).every(Number.isNaN));
  const long = { own: new Float32Array(1000).fill(2), honest: [], prng: new Prng(3) };
  const part = nonFinite({ value: '-inf', fraction: 0.1 })(long);
  const hit = part.filter((x) => x === -Infinity).length;
  t.ok(hit > 50 && hit < 150, `${hit} of 1000 coordinates hit`);
  t.ok(part.every((x) => x === -Infinity || x === 2));
  t.throws(() => nonFinite({ fraction: 0 }), { code: 'EINVAL' });
});

t.test('label flip', async (t) => {
  t.same(Array.from(labelFlip(Int32Array.from([0, 3, 9, 5]), 10)), [9, 6, 0, 4]);
  t.throws(() => labelFlip(Int32Array.from([10]), 10), { code: 'EINVAL' });
});

t.test('Byzantine set: exact count, fixed or resampled, seeded', async (t) => {
  const fixed = new ByzantineSet({ workers: 16, count: 6, seed: 3 });
  const m0 = Array.from(fixed.members(0));
  t.equal(m0.length, 6);
  t.equal(new Set(m0).size, 6);
  t.ok(m0.every((w) => w >= 0 && w < 16));
  t.same(Array.from(fixed.members(17)), m0, 'fixed: same set every round');
  t.same(Array.from(new ByzantineSet({ workers: 16, count: 6, seed: 3 }).members(0)), m0, 'seeded');
  const re = new ByzantineSet({ workers: 16, count: 6, mode: 'resample', seed: 3 });
  const sets = new Set<string>();
  for (let r = 0; r < 20; r++) {
    const m = re.members(r);
    t.equal(m.length, 6);
    sets.add(m.join());
  }
  t.ok(sets.size > 15, `resampled: ${sets.size} distinct sets in 20 rounds`);
  t.same(Array.from(re.members(4)), Array.from(new ByzantineSet({ workers: 16, count: 6, mode: 'resample', seed: 3 }).members(4)));
  t.same(Array.from(new ByzantineSet({ workers: 8, members: [5, 1] }).members(2)), [1, 5]);
  t.equal(new ByzantineSet({ workers: 4, count: 0 }).members(0).length, 0);
  t.throws(() => new ByzantineSet({ workers: 4, count: 5 }), { code: 'EINVAL' });
  t.throws(() => new ByzantineSet({ workers: 4, members: [1, 1] }), { code: 'EINVAL' });
  t.throws(() => new ByzantineSet({ workers: 4, members: [4] }), { code: 'EINVAL' });
  // Noise: fresh per round, identical per (round, worker).
  t.not(fixed.noise(1, 2).nextUint32(), fixed.noise(2, 2).nextUint32());
  t.equal(fixed.noise(1, 2).nextUint32(), fixed.noise(1, 2).nextUint32());
});

t.test('corruptRows replaces exactly the Byzantine rows, from the honest ones only', async (t) => {
  const rows = Array.from({ length: 6 }, (_, i) => Float32Array.from([i, 2 * i]));
  const set = new ByzantineSet({ workers: 6, members: [1, 4] });
  const { rows: out, byzantine } = corruptRows(rows, set, signFlip(), 0);
  t.same(Array.from(byzantine), [1, 4]);
  // honest = rows 0, 2, 3, 5: mean (2.5, 5)
  t.same(Array.from(out[1]), [-2.5, -5]);
  t.same(Array.from(out[4]), [-2.5, -5]);
  for (const i of [0, 2, 3, 5]) t.equal(out[i], rows[i]);
  t.same(Array.from(rows[1]), [1, 2], 'input rows untouched');
  t.throws(() => corruptRows(rows.slice(1), set, signFlip(), 0), { code: 'EINVAL' });
});
