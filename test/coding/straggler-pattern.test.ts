import t from 'tap';
import { checkBurstModel, conformsPattern, conformsWindow } from '../../lib/coding/straggler-pattern.js';
import { Prng } from '../../lib/prng.js';

const model = { B: 1, W: 2, lambda: 1 };

t.test('the (B, W, lambda) straggler-pattern cases of Krishnan et al. (W = 2, B = 1, lambda = 1)', (t) => {
  t.notOk(conformsPattern([[0], [0]], model), 'one worker straggling in two consecutive rounds is rejected');
  t.notOk(conformsPattern([[0], [1]], model), 'two different workers in consecutive rounds: 2 distinct > lambda');
  t.ok(conformsPattern([[0], [], [0], [], [0]], model), 'one worker every other round is accepted');
  t.ok(conformsPattern([[2], [], [1], [], [0]], model), 'different workers with a gap are accepted');
  t.notOk(conformsWindow([[0]], [0, 1], model), 'two at once exceed lambda');
  t.end();
});

t.test('bursts and windows', (t) => {
  const bursty = { B: 2, W: 4, lambda: 2 };
  t.ok(conformsPattern([[0], [0], [], [], [], [0]], bursty), 'burst of 2, then quiet until the window has passed it');
  t.notOk(conformsPattern([[0], [0], [], [], [0]], bursty), 'a burst of 2 and one more round in the same window of 4');
  t.notOk(conformsPattern([[0], [0], [0]], bursty), 'burst of 3 > B');
  t.notOk(conformsPattern([[0], [], [0]], bursty), 'rounds 0 and 2 do not fit in a burst of 2 inside a window of 4');
  t.notOk(conformsPattern([[0], [], [], [0]], bursty), 'rounds 0 and 3 share a window of 4');
  t.ok(conformsPattern([[0], [], [], [], [0]], bursty), 'rounds 0 and 4 are in different windows');
  t.notOk(conformsPattern([[0], [1], [2]], bursty), '3 distinct workers in a window of 4 > lambda = 2');
  t.ok(conformsPattern([[0, 1], [0, 1], [], [], [], [2]], bursty), 'two workers bursting together, then a third once the window moved');
  t.notOk(conformsPattern([[0, 1], [0, 1], [], [], [2]], bursty), 'a third worker while the pair is still in the window');
  t.end();
});

t.test('conformsWindow matches a brute-force check of every window', (t) => {
  // Independent reference: enumerate every window of W rounds ending at each round and test the
  // definition literally (distinct count, and span of each worker's rounds).
  const brute = (pattern: number[][], B: number, W: number, lambda: number): boolean => {
    for (let end = 0; end < pattern.length; end++) {
      const rounds = new Map<number, number[]>();
      for (let r = Math.max(0, end - W + 1); r <= end; r++) for (const w of pattern[r]) rounds.set(w, [...(rounds.get(w) ?? []), r]);
      if (rounds.size > lambda) return false;
      for (const rs of rounds.values()) if (Math.max(...rs) - Math.min(...rs) + 1 > B) return false;
    }
    return true;
  };
  const rng = new Prng(3);
  let agreeTrue = 0;
  let agreeFalse = 0;
  let mismatches = 0;
  for (let trial = 0; trial < 3000; trial++) {
    const B = 1 + rng.int(3);
    const W = B + 1 + rng.int(4);
    const lambda = rng.int(4);
    const n = 2 + rng.int(4);
    const pattern = Array.from({ length: 1 + rng.int(8) }, () => Array.from({ length: n }, (_, i) => i).filter(() => rng.next() < 0.2));
    const want = brute(pattern, B, W, lambda);
    if (conformsPattern(pattern, { B, W, lambda }) !== want) {
      mismatches++;
      t.comment(JSON.stringify({ B, W, lambda, pattern, want }));
    }
    if (want) agreeTrue++;
    else agreeFalse++;
  }
  t.equal(mismatches, 0, 'conformsPattern agrees with the brute force on 3000 random patterns');
  t.ok(agreeTrue > 300 && agreeFalse > 300, `both outcomes exercised (${agreeTrue} conform, ${agreeFalse} do not)`);
  t.end();
});

t.test('model parameters are checked', (t) => {
  t.throws(() => checkBurstModel({ B: 0, W: 2, lambda: 1 }), { code: 'EINVAL', message: /B must be/ });
  t.throws(() => checkBurstModel({ B: 2, W: 2, lambda: 1 }), { code: 'EINVAL', message: /W must be/ });
  t.throws(() => checkBurstModel({ B: 1, W: 2, lambda: -1 }), { code: 'EINVAL', message: /lambda must be/ });
  t.throws(() => checkBurstModel({ B: 1, W: 2, lambda: 5 }, 4), { code: 'EINVAL', message: /lambda = 5 exceeds/ });
  t.end();
});
