/**
 * Elastic-lite: training goes on after a rank is lost. Run
 *   npx zcoll launch -n 4 -- node dist/examples/elastic.js
 * (the launcher stops everything when a rank dies; to see the survivors carry on, start the ranks
 * without it, e.g. with ZCOLL_RANK/ZCOLL_WORLD_SIZE set by hand, and kill one.) Each survivor
 * catches the EPEERLOST/ETIMEDOUT error that names the lost rank, calls shrink(comm, [lost]) and
 * continues on the smaller communicator.
 */
import { init, isZcollError, shrink, type Communicator } from '../lib/index.js';

let comm: Communicator = await init();
const steps = Number(process.argv[2] ?? 50);
const grad = new Float32Array(1 << 16);
for (let step = 0; step < steps; step++) {
  grad.fill(comm.rank + 1);
  try {
    await comm.allReduce(grad, { op: 'avg', inPlace: true });
  } catch (e) {
    if (!isZcollError(e) || e.peer === undefined || !['EPEERLOST', 'ETIMEDOUT'].includes(e.code)) throw e;
    const lost = e.peer;
    process.stderr.write(`rank ${comm.rank}: lost rank ${lost} at step ${step} (${e.code}); shrinking\n`);
    comm = await shrink(comm, [lost]);
    continue;
  }
  if (comm.rank === 0 && step % 10 === 0) process.stdout.write(`step ${step}: ${comm.size} ranks, mean ${grad[0]}\n`);
}
await comm.close();
