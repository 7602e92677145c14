// The DistributedOptimizer's 'signum' strategy in each vote mode (allgather, server, reduce) on 4
// real rank processes: after 6 steps with known gradients (zeros, -0 and 2-2 ties between ranks
// mixed in), every rank's weights equal, bit for bit, the serial computation from the formulas
// (all ranks' momenta, the majority vote with tie +1, x -= lr(s + wd x)) that each rank also runs.
// Also: an unknown vote mode is refused when the optimizer is made.
import t from 'tap';
import { runRanks } from '../helpers/ranks.js';
import { SignumStrategy } from '../../lib/train/strategies/signum.js';
import type { SignVoteMode } from '../../lib/compress/wire-bytes.js';

interface Row {
  kind: string;
  voteMode: string;
  wrong: number;
  d: number;
  steps: number;
  invalidVotes: number;
}

t.test('every vote mode gives the serial result on every rank', async (t) => {
  const outs = await runRanks(4, { script: 'test/train/train-worker.js', args: ['signum-modes', '6'] });
  for (const o of outs) {
    t.equal(o.code, 0, `rank ${o.rank} exits 0${o.code === 0 ? '' : `: ${o.stderr.slice(-2000)}`}`);
    const rows = o.results as Row[];
    t.same(rows.map((r) => r.voteMode), ['allgather', 'server', 'reduce'], `rank ${o.rank} ran every mode`);
    for (const r of rows) {
      t.equal(r.wrong, 0, `rank ${o.rank}, ${r.voteMode}: ${r.d} weights after ${r.steps} steps equal the serial result`);
      t.equal(r.invalidVotes, 0, `rank ${o.rank}, ${r.voteMode}: no packet left out`);
    }
  }
});

t.test('an unknown vote mode is refused', async (t) => {
  t.throws(() => new SignumStrategy({ lr: 0.1, voteMode: 'ring' as SignVoteMode }), { code: 'EINVAL', message: /option 'signum.voteMode' must be one of server, allgather, reduce, got "ring"/ });
});
