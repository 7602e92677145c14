/**
 * Signum against a float64 reference [issue 5 item 4]: M workers with local
 * momenta, a majority vote, and the update, over several steps, for both weight-decay forms
 * ('decoupled' ICLR'19: x -= lr(V + wd x); 'voted' ICML'18: wd x inside the momentum and the sign).
 * beta = 0 equals signSGD exactly; a worked example computed by hand; runs are bitwise
 * deterministic; a NaN gradient is refused with rank and index and leaves the momentum unchanged.
 */
import t from 'tap';
import type { Test } from 'tap';
import { ZcollError } from '../../lib/errors.js';
import { Prng } from '../../lib/prng.js';
import { majorityVote } from '../../lib/compress/majority-vote.js';
import { Signum } from '../../lib/compress/signum.js';
import type { WeightDecayMode } from '../../lib/compress/signum.js';
import { jsKernels, nativeKernels, nativeLoad } from '../../lib/kernels/index.js';


/** Runs fn, expecting a ZcollError that satisfies `matches`. */
function expectError(t: Test, fn: () => unknown, matches: (e: ZcollError) => boolean, what: string): void {
  try {
    fn();
    t.fail(`${what}: no error thrown`);
  } catch (e) {
    t.ok(e instanceof ZcollError && matches(e), `${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const prng = new Prng(77);

function randomVector(d: number, scale = 1): Float32Array {
  const x = new Float32Array(d);
  for (let i = 0; i < d; i++) x[i] = scale * prng.normal();
  return x;
}

/** Float64 Signum with majority vote, written from the papers' formulas; returns the final params. */
function reference(
  x0: Float32Array,
  grads: Float32Array[][], // grads[step][worker]
  lr: number,
  beta: number,
  wd: number,
  wdMode: WeightDecayMode,
): { x: Float64Array; minMomentum: number } {
  const d = x0.length;
  const m = grads[0].length;
  const x = Float64Array.from(x0);
  const momenta = Array.from({ length: m }, () => new Float64Array(d));
  let minMomentum = Infinity;
  for (const stepGrads of grads) {
    const sum = new Float64Array(d);
    for (let w = 0; w < m; w++) {
      for (let i = 0; i < d; i++) {
        const g = stepGrads[w][i] + (wdMode === 'voted' ? wd * x[i] : 0);
        momenta[w][i] = beta * momenta[w][i] + (1 - beta) * g;
        minMomentum = Math.min(minMomentum, Math.abs(momenta[w][i]));
        sum[i] += momenta[w][i] < 0 ? -1 : 1;
      }
    }
    for (let i = 0; i < d; i++) {
      const vote = sum[i] < 0 ? -1 : 1; // odd M in this test: no ties
      x[i] -= lr * (vote + (wdMode === 'decoupled' ? wd * x[i] : 0));
    }
  }
  return { x, minMomentum };
}

for (const wdMode of ['decoupled', 'voted'] as WeightDecayMode[]) {
  t.test(`Signum with majority vote = float64 reference (${wdMode})`, async (t) => {
    const d = 37;
    const steps = 6;
    for (const m of [1, 3, 5]) {
      const lr = 0.01;
      const beta = 0.9;
      const wd = 0.05;
      const x0 = randomVector(d);
      const grads = Array.from({ length: steps }, () => Array.from({ length: m }, () => randomVector(d)));
      const ref = reference(x0, grads, lr, beta, wd, wdMode);
      // fp32 state against float64 reference: signs agree as long as no |m| is near fp32 rounding.
      t.ok(ref.minMomentum > 1e-6, `test data keeps momenta away from 0 (${ref.minMomentum})`);
      // Every worker holds its own replica of x, as in data-parallel training.
      const replicas = Array.from({ length: m }, () => Float32Array.from(x0));
      const workers = Array.from({ length: m }, (_, rank) => new Signum(d, { lr, beta, weightDecay: wd, wdMode, rank }));
      for (let s = 0; s < steps; s++) {
        const packed = workers.map((w, i) => Uint32Array.from(w.signs(grads[s][i], replicas[i])));
        const vote = majorityVote(packed, d);
        workers.forEach((w, i) => w.apply(replicas[i], vote));
      }
      let maxErr = 0;
      for (const r of replicas) for (let i = 0; i < d; i++) maxErr = Math.max(maxErr, Math.abs(r[i] - ref.x[i]));
      t.ok(maxErr < 1e-5, `M=${m}: max |x - x_ref| = ${maxErr.toExponential(2)}`);
      for (const r of replicas) t.same(r, replicas[0], `M=${m}: replicas stay identical`);
    }
  });
}

t.test('beta = 0 is signSGD', async (t) => {
  const d = 100;
  for (const wdMode of ['decoupled', 'voted'] as WeightDecayMode[]) {
    const lr = 0.003;
    const wd = 0.1;
    const opt = new Signum(d, { lr, beta: 0, weightDecay: wd, wdMode });
    const x = randomVector(d);
    const y = Float32Array.from(x);
    for (let s = 0; s < 5; s++) {
      const g = randomVector(d);
      g[s] = s % 2 === 0 ? 0 : -0; // sign(+-0) = +1
      opt.stepLocal(x, g);
      // signSGD: x -= lr (sign(g) + wd x) decoupled, or x -= lr sign(g + wd x) voted; fp32 after
      // every operation (lr and wd rounded to fp32 first).
      const [l, w] = [lr, wd].map(Math.fround);
      for (let i = 0; i < d; i++) {
        const yi = y[i];
        if (wdMode === 'decoupled') y[i] = yi - Math.fround(l * Math.fround((g[i] < 0 ? -1 : 1) + Math.fround(w * yi)));
        else y[i] = yi - l * (Math.fround(g[i] + Math.fround(w * yi)) < 0 ? -1 : 1);
      }
      t.same(x, y, `${wdMode} step ${s}`);
    }
  }
});

t.test('a worked Signum example: momentum, signs, weight decay and step by hand', async (t) => {
  const lr = 0.01;
  const wd = 0.5;
  const opt = new Signum(3, { lr, beta: 0.9, weightDecay: wd });
  const x = new Float32Array([1, 2, 3]);
  const signs = opt.signs(new Float32Array([1, -2, 0]));
  t.same(Array.from(opt.momentum), [Math.fround(0.1), Math.fround(-0.2), 0]);
  t.equal(signs[0], 0b010, 'transmitted (+, -, +)');
  opt.apply(x, signs);
  // x - l·(s + w·x) with l = fp32(0.01), w = 0.5: fp32 after every operation.
  const l = Math.fround(lr);
  const expected = [1, 2, 3].map((xi, i) => Math.fround(xi - Math.fround(l * Math.fround([1, -1, 1][i] + wd * xi))));
  t.same(Array.from(x), expected);
});

t.test('deterministic: two runs are bitwise equal', async (t) => {
  const d = 1000;
  const grads = Array.from({ length: 4 }, () => randomVector(d));
  const run = (): Float32Array => {
    const x = new Float32Array(d).fill(0.5);
    const opt = new Signum(d, { lr: 1e-3, weightDecay: 1e-4 });
    for (const g of grads) opt.stepLocal(x, g);
    return x;
  };
  t.same(run(), run());
});

t.test('JS and native kernels: the same momentum, messages and parameters bit for bit', { skip: nativeKernels === undefined ? `native addon not built: ${nativeLoad.reason}` : false }, async (t) => {
  if (nativeKernels === undefined) return;
  const d = 4099; // past two of the native loops' 2048-element chunks, with a partial last word
  for (const wdMode of ['decoupled', 'voted'] as WeightDecayMode[]) {
    for (const beta of [0, 0.9]) {
      const grads = Array.from({ length: 4 }, () => randomVector(d, 3));
      const x0 = randomVector(d);
      const run = (kernels: typeof jsKernels): { x: Float32Array; m: Float32Array; sent: Uint32Array[] } => {
        const opt = new Signum(d, { lr: 1e-3, beta, weightDecay: 0.01, wdMode, kernels });
        const x = Float32Array.from(x0);
        const sent: Uint32Array[] = [];
        for (const g of grads) {
          const signs = Uint32Array.from(opt.signs(g, x));
          sent.push(signs);
          // A vote that differs from the own signs, so both signs of s reach the update.
          opt.apply(x, signs.map((w, i) => (i % 2 === 0 ? ~w >>> 0 : w)));
        }
        return { x, m: opt.momentum, sent };
      };
      const js = run(jsKernels);
      const native = run(nativeKernels);
      t.same(new Uint32Array(native.x.buffer), new Uint32Array(js.x.buffer), `${wdMode} beta=${beta}: parameters`);
      t.same(new Uint32Array(native.m.buffer), new Uint32Array(js.m.buffer), `${wdMode} beta=${beta}: momentum`);
      t.same(native.sent, js.sent, `${wdMode} beta=${beta}: messages`);
    }
  }
});

t.test('step() with an asynchronous exchange', async (t) => {
  const d = 40;
  const a = new Signum(d, { lr: 0.1, beta: 0.5 });
  const b = new Signum(d, { lr: 0.1, beta: 0.5 });
  const x = randomVector(d);
  const y = Float32Array.from(x);
  const g = randomVector(d);
  await a.step(x, g, async (signs) => majorityVote([signs], d));
  b.stepLocal(y, g);
  t.same(x, y);
});

t.test('errors', async (t) => {
  const opt = new Signum(50, { lr: 0.1, rank: 4 });
  const g = randomVector(50);
  opt.signs(g);
  const before = Float32Array.from(opt.momentum);
  const bad = randomVector(50);
  bad[17] = NaN;
  bad[30] = Infinity;
  expectError(t, () => opt.signs(bad), (e) =>
    e.code === 'ENUMERIC' && e.rank === 4 && e.details?.index === 17 && /element 17 of 50/.test(e.message), 'NaN gradient');
  t.same(opt.momentum, before, 'momentum unchanged after the refused gradient');
  t.throws(() => opt.signs(new Float32Array(49)), /50 elements, got 49/);
  // Finite inputs whose momentum leaves fp32: refused at the first overflowing coordinate.
  const huge = new Float32Array([1, 3e38, -3e38, 3e38]);
  const voted = new Signum(4, { lr: 0.1, beta: 0.5, weightDecay: 2, wdMode: 'voted', rank: 2 });
  const votedBefore = Float32Array.from(voted.momentum);
  expectError(t, () => voted.signs(huge, huge), (e) =>
    e.code === 'ENUMERIC' && e.rank === 2 && e.op === 'Signum.signs' && e.details?.index === 1 && /element 1 of 4 overflowed fp32 to Infinity; .* the momentum was left unchanged/.test(e.message), 'momentum overflow');
  t.same(voted.momentum, votedBefore, 'momentum unchanged after an overflow too (the pass writes a second buffer)');
  // 'voted': a bad parameter is named as such, at its index.
  const badParams = new Float32Array([1, 2, -Infinity, 4]);
  expectError(t, () => voted.signs(new Float32Array(4), badParams), (e) =>
    e.code === 'ENUMERIC' && e.details?.index === 2 && /'params' element 2 of 4 is -Infinity; the momentum was left unchanged/.test(e.message), 'non-finite parameter');
  t.same(voted.momentum, votedBefore, 'momentum unchanged after the refused parameters');
  // signSGD (beta = 0) checks the gradient in its pack.
  const sign = new Signum(40, { lr: 0.1, beta: 0, rank: 1 });
  const nanAt33 = randomVector(40);
  nanAt33[33] = NaN;
  expectError(t, () => sign.signs(nanAt33), (e) => e.code === 'ENUMERIC' && e.rank === 1 && e.details?.index === 33 && /'grad' element 33 of 40 is NaN/.test(e.message), 'signSGD NaN gradient');
  t.throws(() => new Signum(3, { lr: 0 }), /lr/);
  t.throws(() => new Signum(3, { lr: 1, beta: 1 }), /beta/);
  t.throws(() => new Signum(3, { lr: 1, weightDecay: -1 }), /weightDecay/);
  t.throws(() => new Signum(3, { lr: 1, wdMode: 'inside' as WeightDecayMode }), /wdMode/);
  t.throws(() => new Signum(3, { lr: 1, weightDecay: 0.1, wdMode: 'voted' }).signs(new Float32Array(3)), /needs 'params'/);
  t.throws(() => opt.apply(new Float32Array(50), new Uint32Array(1)), /2 words/);
  t.throws(() => { opt.lr = NaN; }, /lr/);
  // lr and wd are used in fp32: values that round to 0, a subnormal or Inf are refused by name.
  expectError(t, () => new Signum(3, { lr: 1e-40, rank: 3 }), (e) =>
    e.code === 'EINVAL' && e.rank === 3 && /option 'lr' of Signum is used in fp32 and must be between 1\.17\d*e-38 and 3\.40\d*e\+38, got 1e-40/.test(e.message), 'lr below fp32');
  t.throws(() => { opt.lr = 1e39; }, { code: 'EINVAL', message: /'lr' of Signum is used in fp32 .* got 1e\+39/ });
  t.throws(() => new Signum(3, { lr: 1, weightDecay: 1e-300 }), { code: 'EINVAL', message: /'weightDecay' of Signum is used in fp32 and must be 0 or between .* got 1e-300/ });
  t.doesNotThrow(() => new Signum(3, { lr: 1.2e-38, weightDecay: 3.4e38 }), 'the normal fp32 range is accepted');
  opt.lr = 0.5;
  t.equal(opt.lr, 0.5);
});

t.test("signs(grad, params, out): packs into the caller's buffer, the same words and momentum as without", async (t) => {
  // A registered vote scratch's `signs` is such a buffer (vote-modes.ts); here a plain one suffices:
  // the contract is where the words go. Momentum, signSGD and 'voted' paths, d not a multiple of 32.
  const d = 1001;
  for (const opts of [{ beta: 0.9 }, { beta: 0 }, { beta: 0.5, weightDecay: 0.01, wdMode: 'voted' as const }]) {
    const a = new Signum(d, { lr: 0.1, ...opts });
    const b = new Signum(d, { lr: 0.1, ...opts });
    const out = new Uint32Array(32).fill(0xdeadbeef);
    for (let step = 0; step < 3; step++) {
      const g = randomVector(d);
      const x = randomVector(d);
      const own = a.signs(g, x).slice();
      const got = b.signs(g, x, out);
      t.equal(got, out, `${JSON.stringify(opts)} step ${step}: returns out`);
      t.same(got, own, `${JSON.stringify(opts)} step ${step}: the same words`);
      t.same(b.momentum, a.momentum, `${JSON.stringify(opts)} step ${step}: the same momentum`);
    }
  }
  const opt = new Signum(d, { lr: 0.1, rank: 5 });
  expectError(t, () => opt.signs(randomVector(d), undefined, new Uint32Array(31)), (e) =>
    e.code === 'EINVAL' && e.rank === 5 && /'out' must be a Uint32Array of 32 words for 1001 parameters, got 31 words/.test(e.message), 'an out of the wrong length');
  expectError(t, () => opt.signs(randomVector(d), undefined, new Int32Array(32) as unknown as Uint32Array), (e) => e.code === 'EINVAL' && /got object/.test(e.message), 'an out of the wrong type');
});
