// Dead and stopped peers, the Gloo way, with real processes: SIGKILL one rank mid-all-reduce and
// every other rank fails with EPEERLOST naming it within 2x the timeout; SIGSTOP one and the others
// fail with ETIMEDOUT naming it. No process hangs; the communicator is poisoned afterwards.
import t from 'tap';
import { afterPrinted, quietPort, runRanks } from '../helpers/ranks.js';

interface Res {
  kind: string;
  code?: string;
  message?: string;
  failedAt?: number;
  after?: string;
}

const TIMEOUT_MS = 3000; // the worker's per-collective timeout

for (const signal of ['SIGKILL', 'SIGSTOP'] as const) {
  t.test(`${signal} on rank 2 of 4 mid-all-reduce`, async (t) => {
    let signalledAt = 0;
    const outs = await runRanks(4, {
      script: 'test/fixtures/collective-worker.js',
      args: ['victim'],
      killAfterMs: 60_000,
      onSpawn: (rank, child) => {
        if (rank !== 2) return;
        afterPrinted(child, '"ready"', 1500, () => {
          signalledAt = Date.now();
          child.kill(signal);
          // A stopped process is killed once the others have had their say.
          if (signal === 'SIGSTOP') setTimeout(() => child.kill('SIGKILL'), 4 * TIMEOUT_MS);
        });
      },
    });
    t.ok(signalledAt > 0, 'the victim was signalled');
    for (const o of outs.filter((x) => x.rank !== 2)) {
      const r = o.results.find((x) => (x as Res).kind === 'victim') as Res | undefined;
      t.ok(r !== undefined, `rank ${o.rank} reported a failure: ${o.stdout.slice(-300)} ${o.stderr.slice(-300)}`);
      if (r === undefined) continue;
      t.equal(r.code, signal === 'SIGKILL' ? 'EPEERLOST' : 'ETIMEDOUT', `rank ${o.rank}: ${r.message}`);
      t.match(r.message ?? '', /rank 2/, `rank ${o.rank} names rank 2`);
      const elapsed = (r.failedAt ?? 0) - signalledAt;
      t.ok(elapsed < 2 * TIMEOUT_MS, `rank ${o.rank} failed ${elapsed} ms after the signal (< ${2 * TIMEOUT_MS})`);
      t.equal(r.after, 'ECLOSED', `rank ${o.rank}'s communicator is poisoned afterwards`);
      t.equal(o.signal, null, `rank ${o.rank} exited by itself`);
    }
  });
}

t.test('elastic-lite: the survivors of a lost rank shrink to a new communicator and go on', async (t) => {
  const outs = await runRanks(4, { script: 'test/fixtures/collective-worker.js', args: ['elastic'], env: { ZCOLL_TEST_SHRINK_PORT: String(await quietPort()) }, killAfterMs: 60_000 });
  t.equal(outs[3].signal, 'SIGKILL', 'rank 3 died');
  for (const o of outs.slice(0, 3)) {
    const r = o.results.find((x) => (x as Res).kind === 'elastic') as Record<string, unknown> | undefined;
    t.ok(r !== undefined, `rank ${o.rank} went on: ${JSON.stringify(o.results).slice(-400)} ${o.stderr.slice(-500)}`);
    if (r === undefined) continue;
    t.equal(r.first, 10, 'the first all-reduce had 4 ranks');
    t.match(r.lostError as string, /^EPEERLOST: .*rank 3/, 'the loss was detected and named');
    t.match(r, { newRank: o.rank, newSize: 3, sum: 6 }, 'the new communicator has the 3 survivors');
    t.equal(o.code, 0);
  }
});
