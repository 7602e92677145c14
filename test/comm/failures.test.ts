// What goes wrong between ranks fails loudly and names who: a silent peer (timeout), a peer that
// called something else (mismatch), garbage on a rank's port (dropped, next collective fine).
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRanks } from '../helpers/ranks.js';

interface Res {
  kind: string;
  code?: string;
  message?: string;
  after?: string;
  elapsedMs?: number;
  dropped?: number;
  sent?: number;
  wrong?: number;
}

t.test('a rank that never calls: the others fail with ETIMEDOUT naming it, then ECLOSED', async (t) => {
  const outs = await runRanks(3, { script: 'test/fixtures/collective-worker.js', args: ['timeout', '2'] });
  const byRank = outs.map((o) => o.results[0] as Res);
  t.equal(byRank[2].kind, 'silent');
  for (const r of [0, 1]) {
    t.equal(byRank[r].code, 'ETIMEDOUT', `rank ${r} times out`);
    t.match(byRank[r].message ?? '', new RegExp(`rank ${r} allreduce #1`), 'the error names this rank and the op');
    t.match(byRank[r].message ?? '', /rank 2/, 'the error names the silent peer');
    t.equal(byRank[r].after, 'ECLOSED', 'the communicator is poisoned afterwards');
    t.ok((byRank[r].elapsedMs ?? 0) < 5000, 'fails within the timeout, not a hang');
  }
  // Rank 0 waits on rank 2 directly (its ring neighbour).
  t.match(byRank[0].message ?? '', /no message from rank 2 within 1500 ms/);
});

for (const variant of ['count', 'dtype', 'op', 'broadcast']) {
  t.test(`mismatched ${variant}: EMISMATCH on every rank with both values`, async (t) => {
    const outs = await runRanks(3, { script: 'test/fixtures/collective-worker.js', args: ['mismatch', variant] });
    const want: Record<string, [string, string]> = {
      count: ['count 1000', 'count 1001'],
      dtype: ['float32', 'float64'],
      op: ['op sum', 'op max'],
      broadcast: ['broadcast', 'allreduce'],
    };
    for (const o of outs) {
      const r = o.results[0] as Res;
      t.equal(r.code, 'EMISMATCH', `rank ${o.rank} fails with EMISMATCH: ${r.message}`);
      for (const s of want[variant]) t.ok((r.message ?? '').includes(s), `rank ${o.rank}'s message names ${s}`);
    }
  });
}

t.test('garbage frames from a peer are dropped and counted, a stranger\'s connection delivers nothing; the next collective is right', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-garbage-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const outs = await runRanks(3, { script: 'test/fixtures/collective-worker.js', args: ['garbage'], env: { GARBAGE_DIR: dir } });
  for (const o of outs) {
    t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.stderr.slice(-1000)}`);
    t.equal((o.results[0] as Res).wrong, 0, `rank ${o.rank}: all-reduce after the garbage is right`);
  }
  const r0 = outs[0].results[0] as Res & { unauthenticated?: number };
  t.equal((outs[1].results[0] as Res).sent, 200);
  t.equal(r0.dropped, 200, 'every garbage message of the peer was dropped, none delivered');
  t.equal((outs[2].results[0] as Res & { strangers?: number }).strangers, 50);
  t.equal(r0.unauthenticated, 50, 'every message on the stranger\'s connection was refused before decoding');
});
