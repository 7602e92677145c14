/**
 * Elastic-lite: training goes on after a rank is lost. Run
 *   npx zcoll launch -n 4 -- node dist/examples/elastic.js [steps] [computeMs]
 * (the launcher stops everything when a rank dies; to see the survivors carry on, start the ranks
 * without it, e.g. with ZCOLL_RANK/ZCOLL_WORLD_SIZE set by hand, and kill or stop one.) `computeMs`
 * stands for a step's forward and backward pass (default 0).
 *
 * Each survivor catches the EPEERLOST/ETIMEDOUT error, whose `peer` is the rank that died or stopped
 * (also on a rank that heard of it from another rank's abort: that rank is `details.reportedBy`), so
 * every survivor calls shrink(comm, [lost]) with the same list and they continue on the smaller
 * communicator. Survivors can be one step apart when the loss hit (a rank that finished step s before
 * the others failed in it), so they first agree on the step from the new rank 0, as a real script
 * would broadcast its weights from it (broadcastVariables).
 */
import { init, isZcollError, shrink, type Communicator } from '../lib/index.js';

let comm: Communicator = await init();
const steps = Number(process.argv[2] ?? 50);
const computeMs = Number(process.argv[3] ?? 0);
const grad = new Float32Array(1 << 16);
let synced = true;
let step = 0;
let reducedOver = 0; // the world size of the last all-reduce that completed

while (step < steps) {
  try {
    if (!synced) {
      step = (await comm.broadcast(Int32Array.of(step), { root: 0 }))[0];
      synced = true;
      if (step >= steps) break;
    }
    if (computeMs > 0) await new Promise((r) => setTimeout(r, computeMs));
    grad.fill(comm.rank + 1);
    await comm.allReduce(grad, { op: 'avg', inPlace: true });
    reducedOver = comm.size;
  } catch (e) {
    if (!isZcollError(e) || e.peer === undefined || !['EPEERLOST', 'ETIMEDOUT'].includes(e.code)) throw e;
    const lost = e.peer;
    const via = typeof e.details?.reportedBy === 'number' ? `, reported by rank ${e.details.reportedBy}` : '';
    process.stderr.write(`rank ${comm.rank}: lost rank ${lost} at step ${step} (${e.code}${via}); shrinking\n`);
    comm = await shrink(comm, [lost]);
    synced = false;
    continue;
  }
  if (comm.rank === 0 && step % 10 === 0) process.stdout.write(`step ${step}: ${comm.size} ranks, mean ${grad[0]}\n`);
  step++;
}
// Every rank's last average, checked: the mean of 1..n over the n ranks that reduced it.
const expected = (reducedOver + 1) / 2;
process.stdout.write(`rank ${comm.rank} of ${comm.size}: done at step ${step}, mean ${grad[0]} over ${reducedOver} ranks (${grad.every((v) => v === expected) ? 'ok' : `WRONG, expected ${expected}`})\n`);
await comm.close();
