// tf.Tensor in, tf.Tensor out, on the CPU backend (which hands out its live storage) and the WASM
// backend (which hands out copies): the input is neither changed nor disposed, the output has the
// input's shape and dtype, fusion splits back in order, and no tensor leaks.
import t from 'tap';
import { runRanks } from '../helpers/ranks.js';

for (const backend of ['cpu', 'wasm']) {
  t.test(`tensors on the ${backend} backend`, async (t) => {
    const outs = await runRanks(3, { script: 'test/fixtures/collective-worker.js', args: ['tensor', backend] });
    for (const o of outs) {
      t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.code === 0 ? '' : o.stderr.slice(-1500)}`);
      const r = o.results[0] as Record<string, unknown>;
      t.match(r, { kind: 'tensor', backend, wrong: 0, fusedOk: true, bcOk: true, unchanged: true, leaked: 0 });
      t.same(r.shapes, { avg: [3, 5], gathered: [9, 5], scattered: [2, 4], dtypeSum: 'int32' });
    }
  });
}
