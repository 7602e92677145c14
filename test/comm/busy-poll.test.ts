/**
 * How a wait polls (lib/comm/busy-poll.ts), with hooks that stand for the mailboxes: which style a
 * rank gets, and that a wait past its budget never sleeps while frames it just drained still have
 * work queued behind them (a synchronous futex sleep there held every later step of a collective
 * back by a whole sleep slice: 4 ranks parked, 4 KiB, 1.45 ms per all-reduce).
 */
import t from 'tap';
import { spinStyle, spinUntil } from '../../lib/comm/busy-poll.js';

t.test('spinStyle: spin when ranks fit the cores, yield when they do not, never with sleep', async (t) => {
  t.equal(spinStyle('auto', 2, true, 2), 'spin');
  t.equal(spinStyle('auto', 4, true, 2), 'yield');
  t.equal(spinStyle('auto', 4, false, 2), 'none');
  t.equal(spinStyle('spin', 4, false, 2), 'spin');
  t.equal(spinStyle('sleep', 1, true, 8), 'none');
});

/** A frame whose consequences take `hops` promise continuations, as the executor's next step does. */
function frameAfterHops(hops: number, onDone: () => void): void {
  let p: Promise<void> = Promise.resolve();
  for (let i = 0; i < hops; i++) p = p.then(() => undefined);
  void p.then(onDone);
}

for (const budgetMs of [0, 5]) {
  t.test(`budget ${budgetMs} ms: no sleep between a drain that delivered frames and the work they set off`, async (t) => {
    let done = false;
    let pending = 3; // three frames arrive, one per drain, each finished a few continuations later
    let sleepsWhileBusy = 0;
    let busy = false;
    let sleeps = 0;
    const settled = await new Promise<boolean>((resolve) => {
      spinUntil(() => done, budgetMs, {
        onTurn: () => {
          if (pending === 0 || busy) return 0;
          pending--;
          busy = true;
          frameAfterHops(6, () => {
            busy = false;
            if (pending === 0) done = true;
          });
          return 1;
        },
        sleep: () => {
          sleeps++;
          if (busy) sleepsWhileBusy++;
          return sleeps < 10_000; // bounded: a wait that never ends fails the test, not the runner
        },
        onStop: resolve,
      });
    });
    t.equal(settled, true, 'the wait ended because it was done');
    t.equal(pending, 0, 'every frame was drained');
    t.equal(sleepsWhileBusy, 0, 'it never slept while a delivered frame still had continuations queued');
  });
}

t.test('past the budget with nothing to drain it sleeps, and stops when it cannot', async (t) => {
  let sleeps = 0;
  const settled = await new Promise<boolean>((resolve) => {
    spinUntil(() => false, 0, { onTurn: () => 0, sleep: () => ++sleeps < 3, onStop: resolve });
  });
  t.equal(settled, false, 'not done: the spin gave up');
  t.equal(sleeps, 3, 'slept until the sleep hook refused');
});

t.test('a wait already done ends at once, without a turn', async (t) => {
  let turns = 0;
  const settled = await new Promise<boolean>((resolve) => {
    spinUntil(() => true, 5, { onTurn: () => ++turns, onStop: resolve });
  });
  t.equal(settled, true);
  t.equal(turns, 0);
});
