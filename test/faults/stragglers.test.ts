import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createStragglerModel, parseStragglerSpec, slowRanks } from '../../lib/faults/stragglers.js';

t.test('parses the CLI forms', (t) => {
  t.same(parseStragglerSpec('ge:p=0.1,q=0.7,slow=3'), { kind: 'ge', p: 0.1, q: 0.7, slow: 3, delayMs: 0, jitter: 0, seed: 0 });
  t.same(parseStragglerSpec('fixed:ranks=1,3,delay=50ms'), { kind: 'fixed', ranks: [1, 3], slow: 1, delayMs: 50, jitter: 0, seed: 0 });
  t.same(parseStragglerSpec('bernoulli:p=0.2,slow=4'), { kind: 'bernoulli', p: 0.2, slow: 4, delayMs: 0, jitter: 0, seed: 0 });
  t.same(parseStragglerSpec('trace:file=/tmp/x.json'), { kind: 'trace', file: '/tmp/x.json', jitter: 0, seed: 0 });
  t.same(parseStragglerSpec('none'), { kind: 'none' });
  t.same(parseStragglerSpec(' ge:p=0.08, q=0.7, slow=3, jitter=0.1, seed=12 '), { kind: 'ge', p: 0.08, q: 0.7, slow: 3, delayMs: 0, jitter: 0.1, seed: 12 });
  t.equal((parseStragglerSpec('fixed:ranks=2,delay=0.5s') as { delayMs: number }).delayMs, 500);
  t.equal((parseStragglerSpec('fixed:ranks=2,delay=250us') as { delayMs: number }).delayMs, 0.25);
  t.end();
});

t.test('bad specs are EINVAL naming the bad field', (t) => {
  const cases: [string, RegExp][] = [
    ['ge:p=0.1,slow=3', /field 'q' is required/],
    ['ge:p=1.5,q=0.7,slow=3', /field 'p' must be a number in \[0, 1\]/],
    ['ge:p=0.1,q=abc,slow=3', /field 'q' must be a number/],
    ['ge:p=0.1,q=0.7', /field 'slow' \(factor > 1\) or 'delay' is required/],
    ['ge:p=0.1,q=0.7,slow=3,colour=red', /unknown field 'colour'/],
    ['ge:p=0.1,p=0.2,q=0.7,slow=3', /field 'p' given twice/],
    ['ge:p=0,q=0,slow=3', /'p' and 'q' cannot both be 0/],
    ['fixed:delay=50ms', /field 'ranks' is required/],
    ['fixed:ranks=1,x,delay=50ms', /field 'ranks' must list integers/],
    ['fixed:ranks=1,1,delay=50ms', /lists a rank twice/],
    ['fixed:ranks=1,delay=50 parsecs', /field 'delay' must be a duration/],
    ['bernoulli:p=0.2,slow=0.5', /field 'slow' must be a number in \[1,/],
    ['bernoulli:p=0.2,slow=2,jitter=1.5', /field 'jitter'/],
    ['bernoulli:p=0.2,slow=2,seed=1.5', /field 'seed'/],
    ['bernoulli:p=0.2,slow=2,,', /empty field/],
    ['bernoulli:p=0.2,4', /'4' is not a field=value pair/],
    ['trace:', /empty field/],
    ['trace:seed=1', /field 'file' is required/],
    ['gamma:p=1', /unknown model 'gamma'/],
    ['none:p=1', /takes no fields/],
    ['', /non-empty/],
  ];
  for (const [spec, message] of cases) t.throws(() => parseStragglerSpec(spec), { name: 'ZcollError', code: 'EINVAL', message }, spec);
  t.throws(() => createStragglerModel('fixed:ranks=1,7,delay=5ms', { size: 4 }), { code: 'EINVAL', message: /rank 7 is not in \[0, 4\)/ });
  t.end();
});

t.test('fixed: the listed ranks, every round', (t) => {
  const model = createStragglerModel('fixed:ranks=1,3,delay=50ms');
  for (let round = 0; round < 5; round++) {
    t.same(slowRanks(model, 5, round), [1, 3]);
    t.equal(model.delayFor(1, round, 20), 50);
    t.equal(model.durationFor(0, round, 20), 20);
    t.equal(model.delayFor(0, round, 20), 0);
  }
  const factor = createStragglerModel('fixed:ranks=0,slow=3');
  t.equal(factor.durationFor(0, 9, 10), 30);
  t.throws(() => model.durationFor(-1, 0, 10), { code: 'EINVAL', message: /rank/ });
  t.throws(() => model.durationFor(0, 1.5, 10), { code: 'EINVAL', message: /round/ });
  t.throws(() => model.durationFor(0, 0, -1), { code: 'EINVAL', message: /baseMs/ });
  t.end();
});

t.test('bernoulli: frequency p, independent of call order, seeded', (t) => {
  const model = createStragglerModel('bernoulli:p=0.2,slow=4,seed=5');
  let slow = 0;
  const ranks = 50;
  const rounds = 400;
  for (let round = 0; round < rounds; round++) slow += slowRanks(model, ranks, round).length;
  const rate = slow / (ranks * rounds);
  // 20000 draws: standard deviation of the rate is 0.0028.
  t.ok(Math.abs(rate - 0.2) < 0.015, `slow rate ${rate}`);
  const again = createStragglerModel('bernoulli:p=0.2,slow=4,seed=5');
  t.same(slowRanks(again, ranks, 123), slowRanks(model, ranks, 123), 'same seed, same stragglers, asked in another order');
  const other = createStragglerModel('bernoulli:p=0.2,slow=4', { seed: 6 });
  let differ = 0;
  for (let round = 0; round < 20; round++) if (slowRanks(other, ranks, round).join() !== slowRanks(model, ranks, round).join()) differ++;
  t.ok(differ > 15, 'another seed, other stragglers');
  // Seeds must not just permute the ranks (seed ^ rank hashing would make seeds 101 and 102 give the
  // same per-round straggler counts over 256 ranks).
  const counts = (seed: number) =>
    Array.from({ length: 10 }, (_, round) => slowRanks(createStragglerModel('ge:p=0.08,q=0.7,slow=3', { seed }), 256, round).length).join();
  t.not(counts(101), counts(102), 'seeds 101 and 102 give different straggler counts');
  const r = slowRanks(model, ranks, 7)[0];
  t.equal(model.durationFor(r, 7, 10), 40, 'slow ranks take slow × base');
  t.end();
});

t.test('Gilbert-Elliott: stationary fraction p/(p+q), mean burst 1/q, mean gap 1/p', (t) => {
  const p = 0.08;
  const q = 0.7;
  const model = createStragglerModel(`ge:p=${p},q=${q},slow=3,jitter=0.1,seed=3`);
  const ranks = 64;
  const rounds = 1500;
  let bad = 0;
  let bursts = 0;
  let burstRounds = 0;
  let toBad = 0;
  let goodRounds = 0;
  for (let rank = 0; rank < ranks; rank++) {
    let prev = false;
    for (let round = 0; round < rounds; round++) {
      const now = model.isSlow(rank, round);
      if (now) bad++;
      if (now && !prev) bursts++;
      if (now) burstRounds++;
      if (round > 0 && !prev) {
        goodRounds++;
        if (now) toBad++;
      }
      prev = now;
    }
  }
  const fraction = bad / (ranks * rounds);
  t.ok(Math.abs(fraction - p / (p + q)) < 0.01, `bad fraction ${fraction.toFixed(4)} vs ${(p / (p + q)).toFixed(4)}`);
  t.ok(Math.abs(burstRounds / bursts - 1 / q) < 0.05, `mean burst ${(burstRounds / bursts).toFixed(3)} vs ${(1 / q).toFixed(3)}`);
  t.ok(Math.abs(toBad / goodRounds - p) < 0.006, `good->bad rate ${(toBad / goodRounds).toFixed(4)}`);
  // Jitter: good ranks within ±10 % of base, bad ranks within ±10 % of 3 × base.
  let jitterSeen = false;
  for (let round = 0; round < 50; round++) {
    for (let rank = 0; rank < 8; rank++) {
      const d = model.durationFor(rank, round, 100);
      const centre = model.isSlow(rank, round) ? 300 : 100;
      if (Math.abs(d - centre) > 0.1 * centre + 1e-9) t.fail(`rank ${rank} round ${round}: ${d} outside ±10 % of ${centre}`);
      if (d !== centre) jitterSeen = true;
      t.equal(model.delayFor(rank, round, 100), Math.max(0, d - 100));
    }
  }
  t.ok(jitterSeen, 'jitter applied');
  // A rank's chain does not depend on which ranks were asked first.
  const fresh = createStragglerModel(`ge:p=${p},q=${q},slow=3,jitter=0.1,seed=3`);
  t.equal(fresh.durationFor(40, 900, 100), model.durationFor(40, 900, 100));
  t.end();
});

t.test('trace: replayed from a JSON file, cycled', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-trace-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'delays.json');
  writeFileSync(file, JSON.stringify({ delaysMs: [[0, 30], [5, 0, 7]] }));
  const model = createStragglerModel(`trace:file=${file}`);
  t.equal(model.durationFor(1, 0, 10), 40);
  t.equal(model.durationFor(2, 0, 10), 10, 'ranks past the row get no delay');
  t.equal(model.durationFor(2, 1, 10), 17);
  t.equal(model.durationFor(1, 2, 10), 40, 'cycled');
  t.same(slowRanks(model, 3, 1), [0, 2]);
  writeFileSync(file, '[[1, -3]]');
  t.throws(() => createStragglerModel(`trace:file=${file}`), { code: 'EINVAL', message: /rank 1 in round 0 must be a number >= 0/ });
  writeFileSync(file, 'not json');
  t.throws(() => createStragglerModel(`trace:file=${file}`), { code: 'EINVAL', message: /is not JSON/ });
  t.throws(() => createStragglerModel(`trace:file=${join(dir, 'missing.json')}`), { code: 'EINVAL', message: /cannot read file/ });
  t.end();
});

t.test('none: no delay', (t) => {
  const model = createStragglerModel('none');
  t.equal(model.durationFor(3, 4, 12), 12);
  t.equal(model.delayFor(3, 4, 12), 0);
  t.notOk(model.isSlow(0, 0));
  t.end();
});
