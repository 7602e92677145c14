// Soak: mixed collectives (all-reduce, reduce-scatter, all-gather, broadcast, gather, barrier; three
// dtypes; sizes log-uniform from 0 to 4 MiB) on 4 rank processes, every result checked. RSS, open
// file descriptors and active handles must stay flat after warm-up, and after close() each process
// must exit by itself (nothing left open). CI runs 400 collectives; ZCOLL_SOAK=full runs 10,000
// (figures in bench/results/soak.md).
import t from 'tap';
import { runRanks } from '../helpers/ranks.js';

interface Sample {
  k: number;
  rss: number;
  fds: number;
  handles: number;
}
interface Soak {
  kind: string;
  collectives: number;
  wrong: number;
  bytes: number;
  seconds: number;
  samples: Sample[];
}

const full = process.env.ZCOLL_SOAK === 'full';
const COUNT = full ? 10_000 : 400;
const MAX_BYTES = 4 << 20;

t.test(`soak: ${COUNT} mixed collectives on 4 ranks, 0..4 MiB`, async (t) => {
  const outs = await runRanks(4, {
    script: 'test/fixtures/reliability-worker.js',
    args: ['soak', String(COUNT), String(MAX_BYTES)],
    env: { ZCOLL_TEST_TIMEOUT_MS: '60000' },
    killAfterMs: full ? 3_600_000 : 180_000,
  });
  for (const o of outs) {
    const res = o.results.find((x) => (x as Soak).kind === 'soak') as Soak | undefined;
    const closed = o.results.find((x) => (x as { kind: string }).kind === 'closed') as { fds: number; handles: number } | undefined;
    t.equal(o.signal, null, `rank ${o.rank} exited by itself after close() (not killed)`);
    t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.stderr.slice(-600)}`);
    if (res === undefined) {
      t.fail(`rank ${o.rank} did not report: ${JSON.stringify(o.results).slice(0, 500)}`);
      continue;
    }
    t.equal(res.collectives, COUNT);
    t.equal(res.wrong, 0, `rank ${o.rank}: every one of ${COUNT} results is right (${(res.bytes / 2 ** 20).toFixed(0)} MiB in ${res.seconds} s)`);
    const first = res.samples[0];
    const last = res.samples[res.samples.length - 1];
    const growMB = (Math.max(...res.samples.map((s) => s.rss)) - first.rss) / 2 ** 20;
    t.ok(growMB < 128, `rank ${o.rank}: RSS after warm-up ${(first.rss / 2 ** 20).toFixed(0)} MiB, peak growth ${growMB.toFixed(1)} MiB`, { samples: res.samples });
    t.ok(last.fds <= first.fds + 2, `rank ${o.rank}: open fds flat (${first.fds} -> ${last.fds})`);
    t.ok(last.handles <= first.handles + 2, `rank ${o.rank}: active handles flat (${first.handles} -> ${last.handles})`);
    t.ok(closed !== undefined && closed.fds < first.fds, `rank ${o.rank}: close() released its sockets (fds ${first.fds} -> ${closed?.fds})`);
    if (o.rank === 0) t.comment(`soak rank 0: ${JSON.stringify({ count: COUNT, seconds: res.seconds, mib: res.bytes / 2 ** 20, samples: res.samples, closed })}`);
  }
});
