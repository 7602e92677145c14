// The straggler seam holds a round's result messages as long as the model says, lets other messages
// through, and releases held messages when the next round starts (rounds are independent).
import t from 'tap';
import { createStragglerSeam } from '../../lib/coding/straggler-seam.js';
import { createStragglerModel } from '../../lib/faults/stragglers.js';
import type { OutgoingMessage } from '../../lib/transport/outbox.js';
import { p2pHeader } from '../../lib/transport/wire.js';

function message(tag: number): OutgoingMessage {
  const header = p2pHeader(1, 0, 0, tag, 'float32', 1, 1, 0, 1);
  return { peer: 0, header, payload: new Uint8Array(4) };
}

const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return done;
};

t.test('held until the next round, only the selected messages', async (t) => {
  // Worker 1 is delayed 60 s in round 0 only (a trace), far longer than the test.
  const model = createStragglerModel({ kind: 'trace', delaysMs: [[0, 60_000], [0, 0]], jitter: 0, seed: 0 });
  const seam = createStragglerSeam(model, 1, { delays: (m) => m.header.kind === 'p2p' && m.header.tag === 7 });
  seam.startRound(0);
  t.equal(seam.workDone(5), 60_000, 'the model delay is injected');
  const held = Promise.resolve(seam.seam(message(7)));
  const other = Promise.resolve(seam.seam(message(8)));
  t.ok(await settled(other), 'a message the seam does not select passes');
  t.notOk(await settled(held), 'the result message is held');
  seam.startRound(1);
  t.ok(await settled(held), 'released when the next round starts');
  t.same(await held, message(7), 'unchanged');
  t.equal(seam.workDone(5), 0, 'round 1: no delay');
  t.ok(await settled(Promise.resolve(seam.seam(message(7)))), 'round 1 results pass at once');
  t.same(seam.counters, { delayedRounds: 1, delayMs: 60_000, delayedMessages: 1, releasedEarly: 1 });
  t.throws(() => seam.startRound(1), { code: 'EINVAL' }, 'rounds must increase');
});

t.test('a GE model from its spec text delays the rounds it marks slow', async (t) => {
  const spec = 'ge:p=0.3,q=0.5,slow=4,seed=3';
  const model = createStragglerModel(spec);
  const seam = createStragglerSeam(spec, 2);
  for (let r = 0; r < 40; r++) {
    seam.startRound(r);
    const d = seam.workDone(10);
    t.equal(d, model.isSlow(2, r) ? 30 : 0, `round ${r}`);
  }
  seam.releaseHeld();
  t.throws(() => createStragglerSeam(spec, -1), { code: 'EINVAL' });
  t.throws(() => createStragglerSeam(model, 0).workDone(1), { code: 'EINVAL' }, 'workDone before startRound');
});
