/**
 * Time per round of robust aggregation on the Communicator (lib/robust/distributed.ts): n = 4 real
 * rank processes on this host, d = 1M float32, aggregators mean, geometric median (full GM) and
 * BGMD (beta 0.1, per-worker memory on the aggregating ranks, and kept by each rank: memory
 * 'workers'), in 'allgather' and 'server' mode, next to the plain ring
 * all-reduce (op 'avg', relayed: not Byzantine-robust) as the floor. A round = one
 * RobustAllReduce.step: the direct exchange, the aggregation (on every rank, or on the root) and,
 * in server mode, the broadcast of the update. Every rank makes a fresh seeded vector (shared signal
 * + rank noise) before each round, outside the timing; ranks meet at a barrier, time the round, and
 * the slowest rank's time counts (all-reduce max). One untimed warm-up round per configuration, then
 * `--reps` timed rounds; the median is reported. Two more rows time exchangeDirect alone (all-to-all
 * and to the root), which separates the wire from the aggregation.
 * Usage: node dist/bench/robust-distributed.js [--ranks 4] [--d 1000000] [--reps 5]
 * (the script starts its own ranks on 127.0.0.1 when ZCOLL_RANK is not set).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { init } from '../lib/comm/init.js';
import type { Communicator } from '../lib/comm/communicator.js';
import { kernels } from '../lib/kernels/index.js';
import { Prng } from '../lib/prng.js';
import { RobustAllReduce, type RobustAggregatorName, type RobustMode } from '../lib/robust/distributed.js';
import { blockSize } from '../lib/robust/bgmd.js';
import { freePort } from '../lib/cluster/free-port.js';
import { benchArgs, numberArg } from './args.js';

const args = benchArgs({
  name: 'robust-distributed',
  summary: 'Time per round of robust aggregation on the Communicator, n real ranks on this host (prints a table).',
  options: {
    ranks: { type: 'string', value: '4', describe: 'rank processes' },
    d: { type: 'string', value: '1000000', describe: 'float32 coordinates' },
    reps: { type: 'string', value: '5', describe: 'timed rounds per configuration' },
  },
});

const ranks = numberArg('robust-distributed', 'ranks', args.ranks, 4);
const d = numberArg('robust-distributed', 'd', args.d, 1000000);
const reps = numberArg('robust-distributed', 'reps', args.reps, 5);

interface Row {
  mode: RobustMode | 'ring allReduce';
  aggregator: RobustAggregatorName | 'bgmd-workers' | 'avg' | 'exchange only';
  ms: number[];
  /** Payload bytes per round, all ranks together (from the mode's formula in distributed.ts). */
  wireBytes: number;
}

function vectorOf(rank: number, round: number): Float32Array {
  const signal = new Prng(7 + round);
  const noise = new Prng(1000 * (rank + 1) + round);
  const v = new Float32Array(d);
  for (let j = 0; j < d; j++) v[j] = 0.1 * signal.normal() + 0.05 * noise.normal();
  return v;
}

async function timed(comm: Communicator, round: () => Promise<unknown>): Promise<number> {
  await comm.barrier();
  const t0 = performance.now();
  await round();
  const mine = performance.now() - t0;
  const slowest = (await comm.allReduce(Float64Array.of(mine), { op: 'max' })) as Float64Array;
  return slowest[0];
}

async function rank(): Promise<void> {
  const comm = await init({ timeoutMs: 120_000 });
  const n = comm.size;
  const rows: Row[] = [];
  let round = 0;
  {
    const ms: number[] = [];
    for (let r = 0; r <= reps; r++) {
      const v = vectorOf(comm.rank, round++);
      const t = await timed(comm, () => comm.allReduce(v, { op: 'avg' }));
      if (r > 0) ms.push(t);
    }
    rows.push({ mode: 'ring allReduce', aggregator: 'avg', ms, wireBytes: 2 * (n - 1) * 4 * d });
  }
  // The direct exchange alone (no aggregation, no reply): what the wire costs in each mode.
  for (const mode of ['allgather', 'server'] as const) {
    const ms: number[] = [];
    for (let r = 0; r <= reps; r++) {
      const v = vectorOf(comm.rank, round++);
      const t = await timed(comm, () => comm.exchangeDirect(v, mode === 'server' ? { root: 0 } : {}));
      if (r > 0) ms.push(t);
    }
    rows.push({ mode, aggregator: 'exchange only', ms, wireBytes: (mode === 'allgather' ? n : 1) * (n - 1) * 4 * d });
  }
  for (const mode of ['allgather', 'server'] as const) {
    for (const aggregator of ['mean', 'geometricMedian', 'bgmd', 'bgmd-workers'] as const) {
      const atWorkers = aggregator === 'bgmd-workers';
      const robust = atWorkers
        ? new RobustAllReduce(comm, { mode, aggregator: 'bgmd', length: d, aggregatorOptions: { beta: 0.1, memory: 'workers' } })
        : new RobustAllReduce(comm, { mode, aggregator, length: d, ...(aggregator === 'bgmd' ? { aggregatorOptions: { beta: 0.1 } } : {}) });
      const ms: number[] = [];
      for (let r = 0; r <= reps; r++) {
        const v = vectorOf(comm.rank, round++);
        const t = await timed(comm, () => robust.step(v, 0.1));
        if (r > 0) ms.push(t);
      }
      // Server replies: [update | verdicts | status], or with the memory at the workers [verdicts | status | update on I | I].
      const reply = atWorkers ? 4 * (n + 1 + 2 * blockSize(0.1, d)) : 4 * (d + n + 1);
      const wireBytes = mode === 'allgather' ? n * (n - 1) * 4 * d : (n - 1) * 4 * d + (n - 1) * reply;
      rows.push({ mode, aggregator, ms, wireBytes });
    }
  }
  if (comm.rank === 0) for (const row of rows) process.stdout.write(`RESULT ${JSON.stringify(row)}\n`);
  await comm.close();
}


function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1];
}

async function launch(): Promise<void> {
  const port = await freePort();
  const script = fileURLToPath(import.meta.url);
  const started = Date.now();
  const outputs = await Promise.all(
    Array.from(
      { length: ranks },
      (_, r) =>
        new Promise<string>((resolve, reject) => {
          const child = spawn(process.execPath, [script, ...process.argv.slice(2)], {
            env: { ...process.env, ZCOLL_RANK: String(r), ZCOLL_WORLD_SIZE: String(ranks), ZCOLL_MASTER_ADDR: '127.0.0.1', ZCOLL_MASTER_PORT: String(port) },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let out = '';
          child.stdout.on('data', (b: Buffer) => (out += b.toString()));
          child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`rank ${r} exited with ${code}`))));
        }),
    ),
  );
  const rows = outputs[0]
    .split('\n')
    .filter((l) => l.startsWith('RESULT '))
    .map((l) => JSON.parse(l.slice(7)) as Row);
  console.log(`# robust-distributed: n = ${ranks} ranks (processes on one host), d = ${d}, kernels = ${kernels.name}, node ${process.version}`);
  console.log(`# one untimed warm-up round, then ${reps} timed rounds per row; slowest rank per round; median; ${((Date.now() - started) / 1000).toFixed(1)} s wall`);
  console.log('| mode | aggregator | ms per round (median) | min..max | payload MB per round (all ranks) |');
  console.log('|---|---|---|---|---|');
  for (const row of rows) {
    const name =
      row.aggregator === 'bgmd'
        ? 'BGMD beta 0.1 (per-worker memory)'
        : row.aggregator === 'bgmd-workers'
          ? 'BGMD beta 0.1 (memory at the workers)'
          : row.aggregator === 'geometricMedian'
            ? 'GM (full)'
            : row.aggregator;
    console.log(`| ${row.mode} | ${name} | ${median(row.ms).toFixed(0)} | ${Math.min(...row.ms).toFixed(0)}..${Math.max(...row.ms).toFixed(0)} | ${(row.wireBytes / 1e6).toFixed(1)} |`);
  }
}

if (process.env.ZCOLL_RANK === undefined) await launch();
else await rank();
