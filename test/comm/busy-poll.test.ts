// How a wait polls (lib/comm/busy-poll.ts). spinStyle: how a rank waits, from the poll mode, the ranks
// on its machine (all of its kernel's ranks, other network namespaces included: init() counts them by
// machine key), whether it can yield, the cores, and whether some ranks are on other hosts; the table
// is the rule as written. spinUntil, with hooks that stand for the mailboxes: a wait past its budget
// never sleeps while frames it just drained still have work queued behind them (a synchronous futex
// sleep there held every later step of a collective back by a whole sleep slice: 4 ranks parked,
// 4 KiB, 1.45 ms per all-reduce).
import t from 'tap';
import { spinStyle, spinUntil, type PollMode, type SpinStyle } from '../../lib/comm/busy-poll.js';

const cases: Array<[PollMode, number, boolean, number, boolean, SpinStyle, string]> = [
  ['auto', 2, true, 2, false, 'spin', 'no more ranks than cores: spin'],
  ['auto', 2, true, 2, true, 'spin', 'across hosts too, with a core each'],
  ['auto', 4, true, 2, false, 'yield', 'one host, oversubscribed: spin politely'],
  ['auto', 4, true, 2, true, 'none', 'oversubscribed with peers on other hosts (2 namespaces x 2 on 2 cores): sleep'],
  ['auto', 4, false, 2, false, 'none', 'oversubscribed and cannot yield: sleep'],
  ['spin', 4, true, 2, true, 'yield', "'spin' asked: still polls, yielding"],
  ['spin', 4, false, 2, true, 'spin', "'spin' asked and cannot yield: spins"],
  ['sleep', 1, true, 2, false, 'none', "'sleep' never spins"],
];

for (const [mode, ranks, canYield, cores, acrossHosts, want, why] of cases) {
  t.equal(spinStyle(mode, ranks, canYield, cores, acrossHosts), want, `${mode}, ${ranks} ranks on ${cores} cores${acrossHosts ? ', across hosts' : ''}${canYield ? '' : ', no yield'}: ${why}`);
}

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
