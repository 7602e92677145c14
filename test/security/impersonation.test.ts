// Issue 16 item 1 (critical): a Byzantine rank sends, through its own links, exchangeDirect rows
// whose header claims src = j for each honest rank j. exchangeDirect is the transport of
// RobustAllReduce and signVote, whose whole promise is that a Byzantine rank can spoil only its own
// row. Today every honest rank of 4 takes 2 forged rows of 3 and its coordinate median is 666
// instead of 2.5 (+ 100 * round + i). The frames must be refused (counted as dropped and as forged)
// and each honest rank must aggregate exactly the rows its peers sent.
import t from 'tap';
import { runRanks } from '../helpers/ranks.js';
import { cleanupOutputs, lastOf, resultsOf } from './job-cleanup.js';

const SIZE = 4;
const BYZANTINE = 3;
const ROUNDS = 3;
const D = 8;

/** The serial reference: coordinate median of the honest rows and the Byzantine rank's own 666 row. */
function reference(round: number): number[] {
  return Array.from({ length: D }, (_, i) => {
    const col = [...Array.from({ length: BYZANTINE }, (_, r) => r + 1 + 100 * round + i), 666].sort((a, b) => a - b);
    return Math.fround((col[1] + col[2]) / 2);
  });
}

for (const [name, env] of [
  ['default transport (shared memory on one host)', {}],
  ['ZeroMQ only (ZCOLL_TRANSPORT=zmq)', { ZCOLL_TRANSPORT: 'zmq' }],
] as const) {
  t.test(`forged exchangeDirect rows claiming honest senders: ${name}`, async (t) => {
    const outs = await runRanks(SIZE, { script: 'test/fixtures/security-worker.js', args: ['impersonate'], env: { ...env }, killAfterMs: 60_000 });
    t.teardown(() => void cleanupOutputs(outs));
    for (const o of outs) {
      t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.code === 0 ? '' : o.stderr.slice(-1500)}`);
      const err = lastOf(o, 'error');
      t.equal(err, undefined, `rank ${o.rank}: no error ${JSON.stringify(err)}`);
      if (o.rank === BYZANTINE) {
        t.comment(`rank ${BYZANTINE} forged ${String(lastOf(o, 'forged')?.frames)} frames`);
        continue;
      }
      const rounds = resultsOf(o).filter((r) => r.kind === 'round') as unknown as Array<{ round: number; median: number[]; rows: number[][] }>;
      t.equal(rounds.length, ROUNDS, `rank ${o.rank}: ${ROUNDS} rounds`);
      for (const r of rounds) {
        const forgedRows = r.rows.filter((row) => row.every((v) => v === 666)).length;
        t.comment(`rank ${o.rank} round ${r.round}: median ${JSON.stringify(r.median)}, ${forgedRows} rows of 666 of ${r.rows.length}`);
        t.same(r.median, reference(r.round), `rank ${o.rank} round ${r.round}: the median of the rows its peers really sent`);
        t.notOk(r.median.includes(666), `rank ${o.rank} round ${r.round}: no forged value reaches the aggregate`);
        t.equal(forgedRows, 1, `rank ${o.rank} round ${r.round}: only the Byzantine rank's own row is 666`);
      }
      const done = lastOf(o, 'done') as { dropped: number; forged: number; lastDropReason: string } | undefined;
      t.comment(`rank ${o.rank}: droppedFrames ${String(done?.dropped)}, forgedFrames ${String(done?.forged)}, last drop: ${String(done?.lastDropReason)}`);
      t.ok((done?.dropped ?? 0) > 0, `rank ${o.rank}: forged frames counted as dropped`);
      t.ok((done?.forged ?? 0) > 0, `rank ${o.rank}: forged frames counted in stats.forgedFrames`);
    }
  });
}
