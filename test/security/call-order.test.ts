// Issue 16 item 7: collectives must run in call order. Today a tensor argument (or a list) is read
// with an await before the call takes its sequence number, so a typed-array call made right after it
// (not awaited in between) takes the earlier number: rank 0 calling allReduce(tensor [1]) then
// allReduce(Float32Array [1000]), rank 1 two arrays, gives 1001 and 1001 instead of 2 and 2000,
// with no error. The same with a list argument first, and with the other collectives mixed with
// typed arrays (there the swap shows as EMISMATCH, or as wrong data).
import t from 'tap';
import { runRanks } from '../helpers/ranks.js';
import { cleanupOutputs, lastOf } from './job-cleanup.js';

/** Per case: what ranks 0 and 1 must get from the first and the second call. */
const CASES: Record<string, Array<{ first: number[] | null; second: number[] | null }>> = {
  // allReduce([1] + [1]), allReduce([1000] + [1000])
  'allreduce-tensor': [{ first: [2], second: [2000] }, { first: [2], second: [2000] }],
  'allreduce-list': [{ first: [2], second: [2000] }, { first: [2], second: [2000] }],
  // reduceScatter([1, 2] + [1, 2]): rank r gets element r; allGather of 1000 + rank
  'reducescatter-allgather': [{ first: [2], second: [1000, 1001] }, { first: [4], second: [1000, 1001] }],
  // allGather of rank + 1; broadcast from root 1 of 10 * (rank + 1)
  'allgather-broadcast': [{ first: [1, 2], second: [20] }, { first: [1, 2], second: [20] }],
  // broadcast from root 0 (rank 0 passes a tensor [7], rank 1 an array [3]); gather 100 + rank at root 0
  'broadcast-gather': [{ first: [7], second: [100, 101] }, { first: [7], second: null }],
  // allReduce([1] + [1]); gather 100 + rank at root 0
  'allreduce-gather': [{ first: [2], second: [100, 101] }, { first: [2], second: null }],
};

for (const [name, expect] of Object.entries(CASES)) {
  t.test(`call order: ${name}, rank 0 passes a tensor first`, async (t) => {
    const outs = await runRanks(2, { script: 'test/fixtures/security-worker.js', args: ['call-order', name], killAfterMs: 60_000, env: { ZCOLL_SEC_TIMEOUT_MS: '3000' } });
    t.teardown(() => void cleanupOutputs(outs));
    for (const o of outs) {
      t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.code === 0 ? '' : o.stderr.slice(-1500)}`);
      const done = lastOf(o, 'done');
      t.comment(`rank ${o.rank}: first ${JSON.stringify(done?.first)}, second ${JSON.stringify(done?.second)}`);
      t.same(done?.first, expect[o.rank].first, `rank ${o.rank}: the first call's result`);
      t.same(done?.second, expect[o.rank].second, `rank ${o.rank}: the second call's result`);
    }
  });
}
