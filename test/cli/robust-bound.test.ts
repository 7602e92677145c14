// The bound `zcoll bench` holds robust results to under Byzantine ranks (robust-bound.ts) and the
// coordinates a majority vote must get right (bench-signsgd.ts' decidedByHonest), against values
// worked out by hand.
import t from 'tap';
import { boundRatio, robustBound, withinBound } from '../../lib/cli/robust-bound.js';
import { decidedByHonest } from '../../lib/cli/bench-signsgd.js';

t.test('kappa of each rule, and the rules with none', async (t) => {
  // n = 5, f = 1: f / (n - 2f) = 1/3.
  t.equal(robustBound('median', 5, 1, undefined).kappa, 4 * (4 / 3) ** 2);
  t.equal(robustBound('gm', 5, 1, undefined).kappa, 4 * (4 / 3) ** 2);
  t.equal(robustBound('trimmed-mean', 5, 1, 1).kappa, 6 * (1 / 3) * (4 / 3));
  t.equal(robustBound('krum', 5, 1, 2).kappa, 6 * (1 + 2 / 1), 'the rule\'s f (2) sets kappa');
  for (const rule of ['mean', 'multi-krum', 'cc', 'bgmd']) t.equal(robustBound(rule, 5, 1, undefined).kappa, undefined, `${rule}: none`);
  t.match(robustBound('mean', 5, 1, undefined).text, /mean: no bound/);
  const short = robustBound('krum', 5, 2, 1);
  t.equal(short.kappa, undefined, 'a rule told f = 1 facing 2 Byzantine rows states nothing');
  t.match(short.text, /tolerates f = 1 < 2 Byzantine rows/);
  t.equal(robustBound('median', 4, 2, undefined).kappa, undefined, 'n = 2f: no bound');
});

t.test('distance from the honest mean over sqrt(kappa * spread)', async (t) => {
  // Honest rows (0,0) and (2,0): mean (1,0), spread (1 + 1) / 2 = 1.
  const honest = [Float32Array.of(0, 0), Float32Array.of(2, 0)];
  t.equal(boundRatio(Float32Array.of(1, 0), honest, 4), 0, 'the mean itself');
  t.equal(boundRatio(Float32Array.of(1, 2), honest, 4), 1, 'distance 2 = sqrt(4 * 1): on the bound');
  t.equal(boundRatio(Float32Array.of(1, 4), honest, 4), 2);
  t.ok(withinBound(1) && !withinBound(1.01));
  t.equal(boundRatio(Float32Array.of(1, NaN), honest, 4), Infinity, 'NaN: outside');
  t.equal(boundRatio(Float32Array.of(1), honest, 4), Infinity, 'wrong length: outside');
  t.equal(boundRatio(Float32Array.of(1, 0), honest, undefined), Infinity, 'no bound: outside');
  const same = [Float32Array.of(3, 3), Float32Array.of(3, 3)];
  t.equal(boundRatio(Float32Array.of(3, 3), same, 4), 0, 'identical honest rows, exact result');
  t.equal(boundRatio(Float32Array.of(3, 4), same, 4), Infinity, 'identical honest rows, any other result');
});

t.test('the coordinates b Byzantine votes cannot overturn', async (t) => {
  // Three honest rows; margins (plus - minus) per coordinate: +3, -3, +1, -1.
  const honest = [Float32Array.of(1, -1, 1, -1), Float32Array.of(1, -1, 1, -1), Float32Array.of(1, -1, -1, 1)];
  const one = decidedByHonest(honest, 4, 1);
  t.equal(one.decided[0], 0b0011, 'b = 1: margins 3 decide, margins 1 do not');
  t.equal(one.honestVote[0] & 0b1111, 0b1010, 'minus where the honest margin is negative (bit 1 = minus)');
  t.equal(decidedByHonest(honest, 4, 0).decided[0], 0b1111, 'b = 0: every coordinate');
  t.equal(decidedByHonest(honest, 4, 3).decided[0], 0, 'b = 3: none');
});
