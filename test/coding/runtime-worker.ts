/**
 * A rank of the coded-runtime end-to-end test: rank 0 is the master, ranks 1..5 are workers. Each run
 * of RUNS (runtime-data.ts) is executed in turn on the same communicator; the master prints every
 * decoded gradient and its round records, the workers their straggler counters.
 */
import { init, isZcollError, type Communicator } from '../../lib/index.js';
import { createScheduler, type SchedulerOptions } from '../../lib/coding/sequential.js';
import { runCodedMaster, runCodedWorker } from '../../lib/coding/runtime.js';
import { DIM, JOBS, RUNS, WORKERS, jobParameters, sliceGradient, traceOf } from './runtime-data.js';

const out = (x: unknown): void => void process.stdout.write(`RESULT ${JSON.stringify(x)}\n`);
const EMULATED_MS = 30;
const MU = 2;

async function master(comm: Communicator): Promise<void> {
  // A scheduler for the wrong number of workers is refused before anything is sent.
  try {
    await runCodedMaster(comm, { scheduler: createScheduler({ scheme: 'gc', workers: WORKERS - 1, jobs: 1, s: 1 }), dimension: DIM });
    out({ kind: 'bad-config', code: 'none' });
  } catch (e) {
    out({ kind: 'bad-config', code: isZcollError(e) ? e.code : 'other', message: (e as Error).message });
  }
  for (const run of RUNS) {
    const scheduler = createScheduler({ ...run.scheduler, workers: WORKERS, jobs: JOBS } as SchedulerOptions);
    const gradients: Record<number, number[]> = {};
    const report = await runCodedMaster(comm, {
      scheduler,
      dimension: DIM,
      dtype: run.dtype,
      mu: MU,
      jobInput: (job) => jobParameters(job),
      onJob: (job, g) => void (gradients[job] = Array.from(g)),
    });
    out({ kind: 'master', run: run.name, gradients, report });
  }
}

async function worker(comm: Communicator): Promise<void> {
  for (const run of RUNS) {
    const report = await runCodedWorker(comm, {
      dimension: DIM,
      dtype: run.dtype,
      stragglers: { kind: 'trace', delaysMs: traceOf(run), jitter: 0, seed: 0 },
      emulatedWorkMs: () => EMULATED_MS,
      ...(run.callback === 'partition'
        ? { partitionGradient: (job: number, slice: { start: number; end: number }, input: Float64Array | undefined) => sliceGradient(job, slice.start, slice.end, input!) }
        : {
            computeGradient: (job: number, terms: readonly { slice: { start: number; end: number }; coefficient: number }[], input: Float64Array | undefined) => {
              const acc = new Float64Array(DIM);
              for (const t of terms) {
                const g = sliceGradient(job, t.slice.start, t.slice.end, input!);
                for (let k = 0; k < DIM; k++) acc[k] += t.coefficient * g[k];
              }
              return acc;
            },
          }),
    });
    out({ kind: 'worker', run: run.name, report });
  }
}

let comm: Communicator | undefined;
try {
  comm = await init({ timeoutMs: Number(process.env.ZCOLL_TEST_TIMEOUT_MS ?? 20000) });
  if (comm.rank === 0) await master(comm);
  else await worker(comm);
  await comm.close();
} catch (e) {
  out({ kind: 'error', code: isZcollError(e) ? e.code : 'other', message: (e as Error).message });
  await comm?.close().catch(() => undefined);
  process.exitCode = 1;
}
