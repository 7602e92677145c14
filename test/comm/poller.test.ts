// The Poller's promise about the mailboxes (poller.ts): while some wait of this rank does not poll
// (a large collective across hosts, asleep on ZeroMQ), the mailboxes end closed, so no peer publishes
// into a lane nobody drains. The case that hung: a small op's spin has settled but its last turn is
// still queued (setImmediate) when the next op, which does not poll, starts; the close must then come
// when that turn ends. The hooks here record what the Poller asks of the transport; the real mailboxes
// and sockets of the same case run in test/schedule/hierarchical-ranks.test.ts (2 hosts x 2: the first
// 1 MiB all-reduce after a barrier).
import t from 'tap';
import { Poller } from '../../lib/comm/poller.js';

/** Hooks that only record the polling word's state as the Poller sets it. */
function recorder(): { hooks: { startPolling(): void; stopPolling(): void; drain(): void }; state: () => 'open' | 'closed'; closes: () => number } {
  let open = false;
  let closes = 0;
  return {
    hooks: {
      startPolling: () => void (open = true),
      stopPolling: () => {
        open = false;
        closes++;
      },
      drain: () => undefined,
    },
    state: () => (open ? 'open' : 'closed'),
    closes: () => closes,
  };
}

const turns = async (k: number): Promise<void> => {
  for (let i = 0; i < k; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

t.test('a wait that does not poll, started while a settled spin still counts, closes the mailboxes when that spin ends', async (t) => {
  const r = recorder();
  const p = new Poller(r.hooks, 'spin', false, undefined);
  let smallDone = false;
  p.wait(() => smallDone, true); // first slice runs now (0.2 ms) and finds nothing: a turn is queued
  t.equal(r.state(), 'open', 'a polling wait opens the mailboxes');
  smallDone = true; // settled through ZeroMQ, say, before the queued turn ran
  p.wait(() => false, false); // the next op: large, does not poll
  await turns(3);
  t.equal(r.state(), 'closed', 'closed once the settled spin ended, not left open for peers to publish into');
});

t.test('a polling wait that settles with nobody else waiting leaves the mailboxes open (the next small op finds them open)', async (t) => {
  const r = recorder();
  const p = new Poller(r.hooks, 'spin', false, undefined);
  let done = false;
  p.wait(() => done, true);
  done = true;
  await turns(3);
  t.equal(r.state(), 'open');
  t.equal(r.closes(), 0);
});

t.test('a wait that does not poll with no spin running closes at once; a later polling wait reopens', async (t) => {
  const r = recorder();
  const p = new Poller(r.hooks, 'spin', false, undefined);
  p.open();
  p.wait(() => false, false);
  t.equal(r.state(), 'closed');
  let done = false;
  p.wait(() => done, true);
  t.equal(r.state(), 'open');
  done = true;
  await turns(3);
  t.equal(r.state(), 'open', 'and the close asked for earlier is not replayed on it');
});
