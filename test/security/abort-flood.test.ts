// Issue 16 item 3, "every buffered frame kind has a window and a byte cap": a Byzantine rank of the
// job floods each peer, through its own links, with 400 aborts for far-future collectives (100 to
// 499 ahead, each with a 1 MiB message, sent in bursts of 16), and separately with 400 data frames
// (256 KiB payload) for far-future collectives. At bf22630 data frames beyond 64 collectives ahead
// were dropped, but aborts had no window: every one was kept (its message too) until that collective
// came, and then failed it. Honest ranks must drop them (counted), keep RSS within 64 MiB, and run checked
// all-reduces through all those sequence numbers without being poisoned. (An abort from a real peer
// for the current or a near collective still fails that op legitimately: not tested here.)
import t from 'tap';
import { runRanks } from '../helpers/ranks.js';
import { cleanupOutputs, lastOf } from './job-cleanup.js';

const BYZANTINE = 3;
const FLOOD = 400;
/** Far below what keeping the flood would cost (400 MiB of abort messages); measured 2-7 MiB on honest ranks. */
const RSS_BOUND_MIB = 64;

for (const scenario of ['abort-flood', 'data-flood'] as const) {
  t.test(`${scenario}: ${FLOOD} far-future frames per peer from a Byzantine rank`, async (t) => {
    const outs = await runRanks(4, { script: 'test/fixtures/security-worker.js', args: [scenario], killAfterMs: 90_000 });
    t.teardown(() => void cleanupOutputs(outs));
    for (const o of outs) {
      t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.code === 0 ? '' : o.stderr.slice(-1500)}`);
      const err = lastOf(o, 'error');
      const done = lastOf(o, 'done') as { iters: number; wrong: number; rssBefore: number; rssPeak: number; rssGrowthMiB: number; dropped: number; forged: number; aborts: number; lastDropReason: string } | undefined;
      t.comment(
        `rank ${o.rank}: ${String(done?.iters)} checked all-reduces after the flood, ${String(done?.wrong)} wrong elements, RSS ${done?.rssBefore.toFixed(0)} -> ${done?.rssPeak.toFixed(0)} MiB (+${done?.rssGrowthMiB.toFixed(1)}), dropped ${String(done?.dropped)}, forged ${String(done?.forged)}, aborts received ${String(done?.aborts)}${err ? `; error ${JSON.stringify(err).slice(0, 300)}` : ''}`,
      );
      if (o.rank === BYZANTINE) continue;
      t.equal(err, undefined, `rank ${o.rank}: not poisoned (no collective failed)`);
      t.equal(done?.iters, 510, `rank ${o.rank}: ran every collective through the flooded sequence numbers`);
      t.equal(done?.wrong, 0, `rank ${o.rank}: every result matches the serial reference`);
      t.ok((done?.rssGrowthMiB ?? Infinity) < RSS_BOUND_MIB, `rank ${o.rank}: RSS grew by ${done?.rssGrowthMiB.toFixed(1)} MiB < ${RSS_BOUND_MIB} MiB`);
      t.ok((done?.dropped ?? 0) >= FLOOD, `rank ${o.rank}: the ${FLOOD} far-future frames were dropped and counted (droppedFrames ${String(done?.dropped)})`);
    }
  });
}
