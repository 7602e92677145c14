// The main of a rank process in a multi-process test: init, run the scenario named by argv[2] with
// the arguments after it, close; any error goes to stderr with the rank and exits 1 (the test reads
// both). Timeout from ZCOLL_TEST_TIMEOUT_MS (60 s when unset), segment size from
// ZCOLL_TEST_SEGMENT_BYTES when set.
import { init, type Communicator } from '../../lib/index.js';

export type Scenario = (comm: Communicator, args: readonly string[]) => Promise<void>;

export function runWorker(scenarios: Readonly<Record<string, Scenario>>): void {
  const main = async (): Promise<void> => {
    const [scenario, ...args] = process.argv.slice(2);
    const run = Object.hasOwn(scenarios, scenario) ? scenarios[scenario] : undefined;
    if (run === undefined) throw new Error(`unknown scenario ${scenario}`);
    const segmentBytes = process.env.ZCOLL_TEST_SEGMENT_BYTES;
    const comm = await init({ timeoutMs: Number(process.env.ZCOLL_TEST_TIMEOUT_MS ?? 60_000), ...(segmentBytes !== undefined ? { segmentBytes: Number(segmentBytes) } : {}) });
    try {
      await run(comm, args);
    } finally {
      await comm.close();
    }
  };
  main().catch((e: unknown) => {
    process.stderr.write(`rank ${process.env.ZCOLL_RANK}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
