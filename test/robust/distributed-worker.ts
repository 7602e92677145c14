/**
 * One rank of test/robust/distributed.test.ts: runs every case of distributed-cases.ts through
 * RobustAllReduce on real sockets and prints one `RESULT <json>` line per case and round.
 * Usage: node distributed-worker.js <honest|byzantine>
 */
import { init } from '../../lib/comm/init.js';
import type { Communicator } from '../../lib/comm/communicator.js';
import { isZcollError } from '../../lib/errors.js';
import { RobustAllReduce, type RobustAggregatorName, type RobustAllReduceOptions } from '../../lib/robust/distributed.js';
import { BGMD_LR, CASES, LENGTH, SEGMENT_BYTES, contributedVector, hashOf, hashOfRows, seamFor, type RoundResult, type Scenario } from './distributed-cases.js';

function out(r: RoundResult): void {
  process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
}

async function run(comm: Communicator, scenario: Scenario): Promise<void> {
  const seam = seamFor(scenario, comm.rank);
  if (seam !== undefined) comm.setFaultSeam(seam);
  for (let c = 0; c < CASES.length; c++) {
    const k = CASES[c];
    if (k.only !== undefined && k.only !== scenario) continue;
    const options: RobustAllReduceOptions<RobustAggregatorName> = {
      mode: k.mode,
      aggregator: k.aggregator,
      length: LENGTH,
      ...(k.options !== undefined ? { aggregatorOptions: k.options } : {}),
      ...(k.invalid !== undefined ? { invalid: k.invalid } : {}),
      ...(k.reply !== undefined ? { reply: k.reply } : {}),
    };
    const robust = new RobustAllReduce(comm, options);
    for (let round = 0; round < k.rounds; round++) {
      const vector = contributedVector(scenario, c, round, comm.rank);
      try {
        const { update, report } = await robust.step(vector, BGMD_LR);
        const last = round === k.rounds - 1;
        const atWorkers = k.options?.memory === 'workers';
        const memoryHash =
          k.aggregator === 'bgmd' && report.aggregatedHere && last && !atWorkers
            ? hashOfRows(Array.from({ length: comm.size }, (_, r) => robust.memoryRow(r)))
            : undefined;
        const ownMemoryHash = atWorkers && last ? hashOf(robust.memoryRow(comm.rank)) : undefined;
        out({
          case: c,
          round,
          rank: comm.rank,
          hash: hashOf(update),
          verdicts: [...report.verdicts],
          invalidRanks: [...report.invalidRanks],
          aggregatedHere: report.aggregatedHere,
          ...(memoryHash !== undefined ? { memoryHash } : {}),
          ...(ownMemoryHash !== undefined ? { ownMemoryHash } : {}),
        });
      } catch (e) {
        if (!isZcollError(e)) throw e;
        out({ case: c, round, rank: comm.rank, error: e.code });
      }
    }
  }
}

const scenario = process.argv[2] as Scenario;
let comm: Communicator | undefined;
try {
  comm = await init({ timeoutMs: Number(process.env.ZCOLL_TEST_TIMEOUT_MS ?? 20000), segmentBytes: SEGMENT_BYTES });
  await run(comm, scenario);
  comm.setFaultSeam(undefined);
  await comm.close();
} catch (e) {
  process.stdout.write(`RESULT ${JSON.stringify({ fatal: isZcollError(e) ? e.code : 'other', message: (e as Error).message })}\n`);
  await comm?.close().catch(() => undefined);
  process.exitCode = 1;
}
