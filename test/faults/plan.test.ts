// Fault plans as data: the short specs and the JSON file parse into one plan, bad specs fail naming
// the field, and the seam of a rank (rank-faults.ts) delays, replaces and crashes exactly as the plan says.
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { isZcollError } from '../../lib/errors.js';
import { createStragglerModel } from '../../lib/faults/stragglers.js';
import { parseByzantineSpec } from '../../lib/faults/byzantine-spec.js';
import { buildFaultPlan, parseFaultPlan, parseKillSpec, planIsEmpty, type FaultPlan } from '../../lib/faults/plan.js';
import { RankFaults } from '../../lib/faults/rank-faults.js';
import type { OutgoingMessage } from '../../lib/transport/outbox.js';
import type { DataHeader } from '../../lib/transport/wire.js';

function header(over: Partial<DataHeader>): DataHeader {
  return { kind: 'data', sender: 0, epoch: 1, seq: 0, op: 'allreduce', transfer: 0, segment: 0, dtype: 'float32', count: 4, elements: 4, redop: 'sum', root: -1, ...over };
}

function f32msg(values: number[], over: Partial<DataHeader> = {}): OutgoingMessage {
  const a = Float32Array.from(values);
  return { peer: 1, header: header({ elements: a.length, count: a.length, ...over }), payload: new Uint8Array(a.buffer) };
}

function asF32(m: OutgoingMessage | null): Float32Array {
  if (m === null || m.payload === undefined) throw new Error('no payload');
  const copy = m.payload.slice();
  return new Float32Array(copy.buffer);
}

function einval(t: Test, fn: () => unknown, field: RegExp, what: string): void {
  try {
    fn();
    t.fail(`${what}: no error`);
  } catch (e) {
    t.ok(isZcollError(e) && e.code === 'EINVAL', `${what}: EINVAL`);
    t.match((e as Error).message, field, `${what}: names the field`);
  }
}

t.test('short specs parse; bad ones name the field', async (t) => {
  t.same(parseByzantineSpec('alie:ranks=2,tau=1.5'), { attack: 'alie', ranks: [2], options: { tau: 1.5 } });
  t.same(parseByzantineSpec('signflip:ranks=1+3'), { attack: 'signflip', ranks: [1, 3], options: {} });
  t.same(parseByzantineSpec('gaussian:ranks=0,sigma=10,mu=1'), { attack: 'gaussian', ranks: [0], options: { sigma: 10, mu: 1 } });
  t.same(parseByzantineSpec('nan:ranks=3,fraction=0.5'), { attack: 'nan', ranks: [3], options: { fraction: 0.5 } });
  t.same(parseKillSpec('rank=2,at=step5'), { rank: 2, at: 5 });
  t.same(parseKillSpec('kill:rank=0,at=7'), { rank: 0, at: 7 });
  einval(t, () => parseByzantineSpec('alie:ranks=2,tau=abc'), /field 'tau'/, 'non-numeric tau');
  einval(t, () => parseByzantineSpec('alie:tau=1'), /field 'ranks'/, 'missing ranks');
  einval(t, () => parseByzantineSpec('alie:ranks=2,sigma=1'), /unknown field 'sigma'/, 'field of another attack');
  einval(t, () => parseByzantineSpec('boom:ranks=1'), /unknown attack 'boom'/, 'unknown attack');
  einval(t, () => parseByzantineSpec('gaussian:ranks=1,sigma=-1'), /field 'sigma'/, 'negative sigma');
  einval(t, () => parseByzantineSpec('signflip:ranks=1+1'), /lists a rank twice/, 'duplicate rank');
  einval(t, () => parseByzantineSpec('signflip:ranks=1,3'), /write 'signflip:ranks=1\+3'/, "the older ',' between ranks");
  einval(t, () => parseKillSpec('rank=2'), /field 'at'/, 'kill without at');
  einval(t, () => parseKillSpec('rank=x,at=step1'), /field 'rank'/, 'kill with a bad rank');
  einval(t, () => parseKillSpec('rank=1,at=soon'), /field 'at'/, 'kill with a bad step');
  einval(t, () => buildFaultPlan({ stragglers: 'ge:p=2,q=0.5,slow=3' }), /field 'p'/, 'straggler p out of range');
});

t.test('the JSON file and the short flags make one plan; a flag replaces its kind', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-plan-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'faults.json');
  writeFileSync(file, JSON.stringify({ stragglers: 'fixed:ranks=1,3,delay=50ms', byzantine: [{ attack: 'alie', ranks: [2], tau: 1.5 }, 'nan:ranks=0'], kill: { rank: 2, at: 5 }, seed: 9 }));
  const p = buildFaultPlan({ file });
  t.equal(p.stragglers?.kind, 'fixed');
  t.same(p.byzantine, [{ attack: 'alie', ranks: [2], options: { tau: 1.5 } }, { attack: 'nan', ranks: [0], options: {} }]);
  t.same(p.kill, { rank: 2, at: 5 });
  t.equal(p.seed, 9);
  const q = buildFaultPlan({ file, byzantine: ['signflip:ranks=1'], kill: 'rank=0,at=step1' });
  t.same(q.byzantine, [{ attack: 'signflip', ranks: [1], options: {} }]);
  t.same(q.kill, { rank: 0, at: 1 });
  t.equal(q.stragglers?.kind, 'fixed', 'the file\'s stragglers stay');
  t.ok(planIsEmpty(buildFaultPlan({})));
  einval(t, () => parseFaultPlan({ stragglers: 'none', byzantine: [{ attack: 'alie', ranks: 'two' }] }, 'f.json'), /byzantine\[0\].*'ranks'/, 'JSON entry');
  einval(t, () => parseFaultPlan({ crash: 1 }, 'f.json'), /unknown field 'crash'/, 'unknown top-level field');
  writeFileSync(file, '{ not json');
  einval(t, () => buildFaultPlan({ file }), /not JSON/, 'a file that is not JSON');
  einval(t, () => new RankFaults({ byzantine: [{ attack: 'nan', ranks: [4], options: {} }], seed: 1 }, 0, 4), /rank 4/, 'a rank outside the world');
});

t.test('stragglers: every message of a late step waits the modelled delay, once per step', async (t) => {
  const plan = buildFaultPlan({ stragglers: 'fixed:ranks=1,delay=50ms' });
  const slept: number[] = [];
  const sleep = (ms: number): Promise<void> => {
    slept.push(ms);
    return Promise.resolve();
  };
  let clock = 1000;
  const now = (): number => clock;
  const straggler = new RankFaults(plan, 1, 4, { sleep, now });
  const punctual = new RankFaults(plan, 0, 4, { sleep, now });
  for (let step = 0; step < 3; step++) {
    t.equal(straggler.beginStep(step, 2), 50, 'the fixed straggler is 50 ms late');
    t.equal(punctual.beginStep(step, 2), 0);
    clock += 10; // the step's first message leaves 10 ms after it began
    for (let m = 0; m < 3; m++) {
      await straggler.seam(f32msg([1, 2]));
      await punctual.seam(f32msg([1, 2]));
    }
  }
  t.equal(slept.length, 3, 'one gate per late step, shared by its messages');
  t.same(slept, [40, 40, 40], 'each waited the rest of the 50 ms');
  t.equal(straggler.counters.lateSteps, 3);
  t.equal(straggler.counters.delayedMessages, 9);
  t.equal(punctual.counters.lateSteps, 0);

  // GE: the seam's delays follow the model, step by step.
  const ge = buildFaultPlan({ stragglers: 'ge:p=0.3,q=0.5,slow=3' });
  const model = createStragglerModel(ge.stragglers!, { size: 4, seed: ge.seed });
  const rf = new RankFaults(ge, 2, 4, { sleep });
  let late = 0;
  for (let step = 0; step < 40; step++) {
    const d = rf.beginStep(step, 10);
    t.equal(d, model.isSlow(2, step) ? 20 : 0, `step ${step}`);
    if (d > 0) late++;
  }
  t.ok(late > 0 && late < 40, `GE makes some steps late (${late}/40)`);
});

t.test('byzantine: only this rank\'s own contributions are replaced', async (t) => {
  const plan: FaultPlan = buildFaultPlan({ byzantine: ['signflip:ranks=1', 'nan:ranks=2'] });
  const flip = new RankFaults(plan, 1, 4);
  const nan = new RankFaults(plan, 2, 4);
  const honest = new RankFaults(plan, 0, 4);
  for (const f of [flip, nan, honest]) f.beginStep(0, 1);
  const own = [1.5, -2, 3, 0.25];
  t.same(Array.from(asF32(await flip.seam(f32msg(own, { sender: 1, op: 'exchange', transfer: 1 })))), own.map((v) => -v), 'sign-flip of its own row (no view: -own)');
  t.same(Array.from(asF32(await honest.seam(f32msg(own, { sender: 0, op: 'exchange', transfer: 0 })))), own, 'an honest rank is untouched');
  t.ok(asF32(await nan.seam(f32msg(own, { sender: 2, op: 'exchange', transfer: 2 }))).every((v) => Number.isNaN(v)), 'nan fills every coordinate');
  t.same(Array.from(asF32(await flip.seam(f32msg(own, { sender: 1, op: 'exchange', transfer: 3 })))), own, 'a direct exchange entry of another rank is not its own');
  const ack: OutgoingMessage = { peer: 0, header: header({ sender: 1, transfer: -1, elements: 0, dtype: '' }), payload: undefined };
  t.same(await flip.seam(ack), ack, 'acknowledgements pass');
  t.same(Array.from(asF32(await flip.seam(f32msg(own, { sender: 1, op: 'allreduce', transfer: 5 })))), own.map((v) => -v), 'relayed collectives: every payload it sends');
  t.equal(flip.counters.corruptedMessages, 2);

  // An omniscient ALIE sees the honest rows: mean + tau * std (ddof 1), computed here independently.
  const alie = new RankFaults(buildFaultPlan({ byzantine: ['alie:ranks=3,tau=2'] }), 3, 4);
  alie.beginStep(0, 1);
  const rows = [
    [1, 2],
    [3, 6],
    [5, 10],
  ];
  alie.honestView = () => rows.map((r) => Float32Array.from(r));
  const out = asF32(await alie.seam(f32msg([100, 100], { sender: 3, op: 'exchange', transfer: 3 })));
  for (let j = 0; j < 2; j++) {
    const col = rows.map((r) => r[j]);
    const mean = col.reduce((a, b) => a + b, 0) / 3;
    const sd = Math.sqrt(col.reduce((a, b) => a + (b - mean) ** 2, 0) / 2);
    t.ok(Math.abs(out[j] - (mean + 2 * sd)) < 1e-5, `coordinate ${j}: ${out[j]} = mean + 2 sd`);
  }

  // int32 payloads keep their dtype.
  const i32 = Int32Array.of(4, -7, 9);
  const got = await flip.seam({ peer: 0, header: header({ sender: 1, op: 'allreduce', dtype: 'int32', elements: 3, count: 3 }), payload: new Uint8Array(i32.buffer) });
  t.same(Array.from(new Int32Array(got!.payload!.slice().buffer)), [-4, 7, -9]);
});

t.test('kill: the rank exits at its first message of the step, not before', async (t) => {
  const exits: Array<{ code: number; why: string }> = [];
  const rf = new RankFaults(buildFaultPlan({ kill: 'rank=2,at=step3' }), 2, 4, { exit: (code, why) => void exits.push({ code, why }) });
  const other = new RankFaults(buildFaultPlan({ kill: 'rank=2,at=step3' }), 1, 4, { exit: (code, why) => void exits.push({ code, why }) });
  for (let step = 0; step < 3; step++) {
    rf.beginStep(step, 1);
    other.beginStep(step, 1);
    t.not(await rf.seam(f32msg([1])), null);
  }
  t.equal(exits.length, 0);
  rf.beginStep(3, 1);
  other.beginStep(3, 1);
  t.not(await other.seam(f32msg([1])), null, 'another rank goes on');
  t.equal(await rf.seam(f32msg([1])), null);
  t.equal(exits.length, 1);
  t.equal(exits[0].code, 3);
  t.match(exits[0].why, /rank 2 killed at step 3/);
});
