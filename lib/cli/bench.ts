/**
 * `zcoll bench`: the nccl-tests of zcoll. Outside a launcher it starts the ranks of the config (or
 * --ranks N local ranks) and runs itself in each; inside one (zcoll launch, torchrun, mpirun, srun)
 * it is a rank. Every iteration's result is checked against the closed-form expected value; time is
 * the median over iterations of the slowest rank's time; algbw = bytes / time, busbw = algbw *
 * 2(n-1)/n (the nccl-tests conventions).
 */
import { writeFileSync } from 'node:fs';
import { init } from '../comm/init.js';
import type { Communicator, ReduceOp } from '../comm/communicator.js';
import { allocArray, BYTES_PER_ELEMENT, type DType, type NumericArray } from '../dtype.js';
import { kernels } from '../kernels/index.js';
import { launch } from './launch.js';
import { sizeSweep } from './sizes.js';

export interface BenchOptions {
  minBytes: number;
  maxBytes: number;
  stepFactor: number;
  iters: number;
  warmup: number;
  check: boolean;
  op: ReduceOp;
  dtype: DType;
  algorithm: 'auto' | 'ring';
  ranks?: number;
  host?: string;
  config?: string;
  port?: number;
  json?: string;
}

export interface BenchRow {
  size: number;
  count: number;
  type: DType;
  redop: ReduceOp;
  algorithm: string;
  ranks: number;
  time_us: number;
  algbw: number;
  busbw: number;
  wrong: number;
}

const NCCL_TYPE: Record<DType, string> = { float32: 'float', float64: 'double', int32: 'int32' };

export function insideLauncher(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.ZCOLL_RANK !== undefined || (env.RANK !== undefined && env.WORLD_SIZE !== undefined) || env.OMPI_COMM_WORLD_RANK !== undefined || env.SLURM_PROCID !== undefined;
}

/** Runs the bench: as the launcher (returns the launch exit code) or as one rank. */
export async function bench(o: BenchOptions, selfCommand: readonly string[]): Promise<number> {
  if (!insideLauncher()) {
    return await launch({ nprocs: o.ranks, host: o.host, config: o.config, port: o.port, command: selfCommand, prefixRank0Stdout: false });
  }
  const comm = await init(o.config !== undefined ? { config: o.config } : {});
  try {
    const rows = await sweep(comm, o);
    if (comm.rank === 0 && o.json !== undefined) writeFileSync(o.json, `${JSON.stringify(rows, null, 2)}\n`);
    const wrong = rows.reduce((a, r) => a + r.wrong, 0);
    return wrong === 0 ? 0 : 2;
  } finally {
    await comm.close();
  }
}

/** Input of rank r at element i: (r+1)*(i%7+1), exact in every dtype for any op. */
function fill(a: NumericArray, rank: number): void {
  for (let i = 0; i < a.length; i++) a[i] = (rank + 1) * ((i % 7) + 1);
}

function expected(op: ReduceOp, n: number, i: number, dtype: DType): number {
  const base = (i % 7) + 1;
  switch (op) {
    case 'sum':
      return (base * n * (n + 1)) / 2;
    case 'avg':
      return dtype === 'int32' ? Math.trunc((base * n * (n + 1)) / 2 / n) : dtype === 'float32' ? Math.fround(Math.fround((base * n * (n + 1)) / 2) / n) : (base * n * (n + 1)) / 2 / n;
    case 'min':
      return base;
    case 'max':
      return base * n;
  }
}

function median(xs: Float64Array): number {
  const s = Array.from(xs).sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function sweep(comm: Communicator, o: BenchOptions): Promise<BenchRow[]> {
  const n = comm.size;
  const elem = BYTES_PER_ELEMENT[o.dtype];
  const sizes = [...new Set(sizeSweep(o.minBytes, o.maxBytes, o.stepFactor).map((s) => Math.floor(s / elem) * elem))];
  const print = (line: string): void => {
    if (comm.rank === 0) process.stdout.write(`${line}\n`);
  };
  print(`# zcoll bench allreduce: ${n} ranks, algorithm ${o.algorithm}, kernels ${kernels.name}, segment ${comm.segmentBytes} B, iters ${o.iters}, warmup ${o.warmup}, check ${o.check ? 'on' : 'off'}`);
  print('#');
  print(`# ${'size'.padStart(12)} ${'count'.padStart(12)} ${'type'.padStart(7)} ${'redop'.padStart(6)} ${'time'.padStart(10)} ${'algbw'.padStart(8)} ${'busbw'.padStart(8)} ${'#wrong'.padStart(7)}`);
  print(`# ${'(B)'.padStart(12)} ${'(elements)'.padStart(12)} ${''.padStart(7)} ${''.padStart(6)} ${'(us)'.padStart(10)} ${'(GB/s)'.padStart(8)} ${'(GB/s)'.padStart(8)} ${''.padStart(7)}`);
  const rows: BenchRow[] = [];
  for (const size of sizes) {
    const count = size / elem;
    const template = allocArray(o.dtype, count);
    fill(template, comm.rank);
    const expect = allocArray(o.dtype, Math.min(count, 7));
    for (let i = 0; i < expect.length; i++) expect[i] = expected(o.op, n, i, o.dtype);
    const buf = allocArray(o.dtype, count);
    for (let w = 0; w < o.warmup; w++) {
      buf.set(template);
      await comm.allReduce(buf, { op: o.op, inPlace: true, algorithm: o.algorithm });
    }
    const times = new Float64Array(o.iters);
    let wrong = 0;
    for (let it = 0; it < o.iters; it++) {
      buf.set(template);
      const t0 = process.hrtime.bigint();
      await comm.allReduce(buf, { op: o.op, inPlace: true, algorithm: o.algorithm });
      times[it] = Number(process.hrtime.bigint() - t0) / 1000;
      if (o.check) for (let i = 0; i < count; i++) if (buf[i] !== expect[i % 7]) wrong++;
    }
    const slowest = await comm.allReduce(times, { op: 'max' });
    const wrongAll = (await comm.allReduce(Int32Array.of(wrong), { op: 'sum' }))[0];
    const timeUs = median(slowest);
    const algbw = size / (timeUs * 1e-6) / 1e9;
    const busbw = (algbw * 2 * (n - 1)) / n;
    rows.push({ size, count, type: o.dtype, redop: o.op, algorithm: o.algorithm, ranks: n, time_us: timeUs, algbw, busbw, wrong: wrongAll });
    print(`  ${String(size).padStart(12)} ${String(count).padStart(12)} ${NCCL_TYPE[o.dtype].padStart(7)} ${o.op.padStart(6)} ${timeUs.toFixed(1).padStart(10)} ${algbw.toFixed(3).padStart(8)} ${busbw.toFixed(3).padStart(8)} ${String(wrongAll).padStart(7)}`);
  }
  const avgBus = rows.reduce((a, r) => a + r.busbw, 0) / Math.max(1, rows.length);
  const totalWrong = rows.reduce((a, r) => a + r.wrong, 0);
  print(`# Out of bounds values : ${totalWrong} ${totalWrong === 0 ? 'OK' : 'FAILED'}`);
  print(`# Avg bus bandwidth    : ${avgBus.toFixed(4)}`);
  print('#');
  void kernels;
  return rows;
}
