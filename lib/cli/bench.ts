/**
 * `zcoll bench`: the nccl-tests of zcoll. Outside a launcher it starts the ranks of the config (or
 * --ranks N local ranks) and runs itself in each; inside one (zcoll launch, torchrun, mpirun, srun)
 * it is a rank. Every iteration's result is checked against its reference (closed forms for the
 * collectives, the fault-free computation for signsgd and robust); time is the median over
 * iterations of the slowest rank's time; algbw = size / time, busbw = algbw * the collective's bus
 * factor (nccl-tests' PERFORMANCE.md). Faults of the plan (lib/faults/plan.ts) act at each rank's
 * outbox seam; the table gains what they did. `coded` is not a symmetric collective (a master and
 * workers, one run of many rounds per size): bench-coded.ts runs it with its own sweep.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init } from '../comm/init.js';
import type { AllReduceAlgorithm, Communicator, ReduceOp } from '../comm/communicator.js';
import type { DType } from '../dtype.js';
import { ZcollError } from '../errors.js';
import { buildFaultPlan, describePlan, planIsEmpty, type FaultFlags, type FaultPlan } from '../faults/plan.js';
import { RankFaults } from '../faults/rank-faults.js';
import { kernels } from '../kernels/index.js';
import { loadConfig, totalRanks } from '../cluster/config.js';
import { checkCodedParams, checkCodedPlan, codedSchedulerOptions, codedSweep, type CodedBenchParams } from './bench-coded.js';
import { collectiveCase, type BenchCase } from './bench-collectives.js';
import { latencyCase } from './bench-latency.js';
import { robustCase } from './bench-robust.js';
import { signsgdCase } from './bench-signsgd.js';
import { tableFooter, tableHeader, tableRow, toCsv, type BenchCollective, type BenchRow } from './bench-table.js';
import { launch, planLaunch } from './launch.js';
import { availableBytes, formatBytes, oomKills, rankBytesNeeded } from './bench-memory.js';
import { PROGRESS_ENV, rankProgress, TerminalBar, watchProgress } from './progress.js';
import { sizeSweep } from './sizes.js';
import { TraceRecorder, writeTrace } from './trace.js';

export type { BenchRow } from './bench-table.js';

export interface BenchOptions {
  collective: BenchCollective;
  minBytes: number;
  maxBytes: number;
  stepFactor: number;
  iters: number;
  warmup: number;
  check: boolean;
  op: ReduceOp;
  dtype: DType;
  algorithm: AllReduceAlgorithm;
  /** broadcast, signsgd server: the root rank. */
  root?: number;
  /** signsgd: server | allgather | reduce. */
  mode?: string;
  /** robust: the aggregator (mean, median, trimmed-mean, krum, multi-krum, gm, cc, bgmd). */
  aggregator?: string;
  /** robust: Byzantine rows the rule assumes. */
  f?: number;
  /** coded: the scheme (none, gc, srsgc, msgc). */
  scheme?: string;
  /** coded: the code's parameters and the runtime's (s, B, W, lambda, mu, jobs, workMs). */
  coded?: Omit<CodedBenchParams, 'scheme'>;
  seed?: number;
  faults?: FaultFlags;
  quiet?: boolean;
  ranks?: number;
  host?: string;
  config?: string;
  port?: number;
  json?: string;
  csv?: string;
  plot?: string;
  trace?: string;
}

export function insideLauncher(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.ZCOLL_RANK !== undefined || (env.RANK !== undefined && env.WORLD_SIZE !== undefined) || env.OMPI_COMM_WORLD_RANK !== undefined || env.SLURM_PROCID !== undefined;
}

/** Checks what can be checked before any rank starts; returns the fault plan. */
export function validateBench(o: BenchOptions): FaultPlan {
  sizeSweep(o.minBytes, o.maxBytes, o.stepFactor);
  if (!Number.isInteger(o.iters) || o.iters < 1) throw new ZcollError('EINVAL', `-n/--iters must be a positive integer, got ${o.iters}`);
  if (!Number.isInteger(o.warmup) || o.warmup < 0) throw new ZcollError('EINVAL', `-w/--warmup must be a non-negative integer, got ${o.warmup}`);
  if ((o.collective === 'robust' || o.collective === 'signsgd') && o.dtype !== 'float32') throw new ZcollError('EINVAL', `zcoll bench ${o.collective} runs on float32 gradients, got -d ${o.dtype}`);
  const plan = buildFaultPlan(o.faults ?? {});
  const codedFlags = [...(o.scheme !== undefined ? ['scheme'] : []), ...Object.entries(o.coded ?? {}).filter(([, v]) => v !== undefined).map(([k]) => (k === 'workMs' ? 'work-ms' : k))];
  if (o.collective !== 'coded') {
    if (codedFlags.length > 0) throw new ZcollError('EINVAL', `--${codedFlags[0]} applies to zcoll bench coded only, not ${o.collective}`);
    return plan;
  }
  if (o.dtype !== 'float32' && o.dtype !== 'float64') throw new ZcollError('EINVAL', `zcoll bench coded: messages are float32 or float64, got -d ${o.dtype}`);
  if (o.op !== 'sum') throw new ZcollError('EINVAL', `zcoll bench coded decodes the sum of the gradients, got -o ${o.op}`);
  // The world size is known here unless a launcher started this process: check the code against it.
  const ranks = insideLauncher() ? undefined : (o.ranks ?? totalRanks(loadConfig(o.config)));
  if (ranks !== undefined) codedSchedulerOptions(codedParams(o), ranks, o.iters);
  else checkCodedParams(codedParams(o));
  checkCodedPlan(plan, ranks);
  return plan;
}

function codedParams(o: BenchOptions): CodedBenchParams {
  return { ...(o.coded ?? {}), ...(o.scheme !== undefined ? { scheme: o.scheme } : {}) };
}

/** Runs the bench: as the launcher (returns the launch exit code) or as one rank. */
export async function bench(o: BenchOptions, selfCommand: readonly string[]): Promise<number> {
  validateBench(o);
  // vega is large and optional: loaded only when a plot is asked for, and before any benchmark time is spent.
  if (o.plot !== undefined) await (await import('./plot.js')).loadPlotting();
  if (!insideLauncher()) {
    const plan = planLaunch({ nprocs: o.ranks, host: o.host, config: o.config, port: o.port });
    const perRank = rankBytesNeeded(o.collective, o.maxBytes, plan.world);
    const need = perRank * plan.localRanks;
    const available = availableBytes();
    if (need > available) {
      throw new ZcollError(
        'EINVAL',
        `-e/--max-bytes ${formatBytes(o.maxBytes)}: ${o.collective} over ${plan.world} ranks holds at least ${formatBytes(perRank)} per rank at that size, ${formatBytes(need)} for the ${plan.localRanks} ranks of this host, and ${formatBytes(available)} of memory is available: lower -e or the ranks`,
      );
    }
    const oomBefore = oomKills();
    let sigkilled: string | undefined;
    const log = (line: string): void => {
      sigkilled ??= /rank (\d+) was killed by SIGKILL/.exec(line)?.[1];
      process.stderr.write(`${line}\n`);
    };
    // The bar lives here (the terminal's process); rank 0 reports to it through a file.
    const dir = TerminalBar.wanted(o.quiet === true) ? mkdtempSync(join(tmpdir(), 'zcoll-bench-')) : undefined;
    const file = dir !== undefined ? join(dir, 'progress.json') : undefined;
    const watcher = file !== undefined ? watchProgress(file) : undefined;
    try {
      const code = await launch({
        nprocs: o.ranks,
        host: o.host,
        config: o.config,
        port: o.port,
        command: selfCommand,
        prefixRank0Stdout: false,
        env: { ...process.env, [PROGRESS_ENV]: file ?? '' },
        log,
      });
      if (sigkilled !== undefined) process.stderr.write(`zcoll bench: ${sigkillNote(Number(sigkilled), oomBefore, oomKills(), { perRank, need, available })}\n`);
      return code;
    } finally {
      watcher?.stop();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    }
  }
  const comm = await init(o.config !== undefined ? { config: o.config } : {});
  try {
    const rows =
      o.collective === 'coded'
        ? await codedSweep(comm, {
            minBytes: o.minBytes,
            maxBytes: o.maxBytes,
            stepFactor: o.stepFactor,
            warmup: o.warmup,
            iters: o.iters,
            check: o.check,
            dtype: o.dtype,
            coded: codedParams(o),
            plan: buildFaultPlan(o.faults ?? {}),
            ...(o.quiet !== undefined ? { quiet: o.quiet } : {}),
            ...(o.trace !== undefined ? { trace: o.trace } : {}),
          })
        : await sweep(comm, o);
    if (comm.rank === 0) {
      if (o.json !== undefined) writeFileSync(o.json, `${JSON.stringify(rows, null, 2)}\n`);
      if (o.csv !== undefined) writeFileSync(o.csv, toCsv(rows));
      // vega is large: loaded only when a plot is asked for.
      if (o.plot !== undefined) await (await import('./plot.js')).writePlot(o.plot, rows);
    }
    // The exit code follows the printed verdict ('Out of bounds values : N OK|FAILED'), Byzantine
    // runs included: their #wrong counts results outside the stated bound of a robust rule (or, for
    // a plain collective, any difference from the fault-free result: it has no bound to hold).
    const wrong = rows.reduce((a, r) => a + r.wrong, 0);
    return wrong === 0 ? 0 : 2;
  } finally {
    await comm.close();
  }
}

/**
 * What a SIGKILLed rank most likely means: no zcoll process sends SIGKILL to a rank first (the
 * launcher sends SIGTERM), so it is the kernel's out-of-memory killer, certainly so when the
 * cgroup's oom_kill count rose during the run.
 */
export function sigkillNote(rank: number, oomBefore: number | undefined, oomAfter: number | undefined, memory: { perRank: number; need: number; available: number }): string {
  const sizes = `the largest size needs at least ${formatBytes(memory.perRank)} per rank (${formatBytes(memory.need)} on this host; ${formatBytes(memory.available)} was available at the start)`;
  if (oomBefore !== undefined && oomAfter !== undefined && oomAfter > oomBefore) {
    return `rank ${rank} ran out of memory: the kernel's OOM killer killed ${oomAfter - oomBefore} process(es) of this cgroup during the run; ${sizes}: lower -e or the ranks`;
  }
  return `rank ${rank} was killed by SIGKILL, which no zcoll process sends first: most likely the kernel's out-of-memory killer (see dmesg); ${sizes}`;
}

function benchCase(comm: Communicator, o: BenchOptions, plan: FaultPlan): BenchCase {
  const root = o.root ?? 0;
  if (!(Number.isInteger(root) && root >= 0 && root < comm.size)) throw new ZcollError('EINVAL', `--root must be a rank in 0..${comm.size - 1}, got ${root}`, { rank: comm.rank });
  switch (o.collective) {
    case 'allreduce':
    case 'reducescatter':
    case 'allgather':
    case 'broadcast':
      return collectiveCase(comm, { collective: o.collective, op: o.op, dtype: o.dtype, algorithm: o.algorithm, root });
    case 'robust':
      return robustCase(comm, { aggregator: o.aggregator ?? 'mean', ...(o.f !== undefined ? { f: o.f } : {}), plan, seed: o.seed ?? 1 });
    case 'signsgd':
      return signsgdCase(comm, o.mode ?? 'allgather', root, o.seed ?? 1, plan.byzantine.flatMap((b) => b.ranks));
    case 'latency':
      return latencyCase(comm, o.dtype);
    case 'coded':
      throw new ZcollError('EINTERNAL', 'zcoll bench coded runs codedSweep (bench-coded.ts), not a BenchCase', { rank: comm.rank });
  }
}

function median(xs: Float64Array): number {
  const s = Array.from(xs).sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The sweep on one rank (collective: every rank calls it); rank 0 prints; every rank returns the rows. */
export async function sweep(comm: Communicator, o: BenchOptions): Promise<BenchRow[]> {
  const n = comm.size;
  const plan = buildFaultPlan(o.faults ?? {});
  const faulty = !planIsEmpty(plan);
  const planText = describePlan(plan);
  const bc = benchCase(comm, o, plan);
  const faults = faulty ? new RankFaults(plan, comm.rank, n) : undefined;
  if (faults !== undefined) comm.setFaultSeam(faults.seam);
  const sizes = [...new Set(sizeSweep(o.minBytes, o.maxBytes, o.stepFactor).map((s) => bc.fitSize(s)))].filter((s) => s > 0);
  if (sizes.length === 0) throw new ZcollError('EINVAL', `no size in ${o.minBytes}..${o.maxBytes} bytes fits ${o.collective} over ${n} ranks (each rank needs whole elements)`, { rank: comm.rank });
  const style = { faults: faulty || o.collective === 'robust', bound: o.check && bc.byzantineCheck !== undefined && o.collective === 'robust' };
  const print = (line: string): void => {
    if (comm.rank === 0) process.stdout.write(`${line}\n`);
  };
  const what = o.collective === 'robust' ? `aggregator ${bc.algorithm}` : o.collective === 'signsgd' ? `mode ${bc.algorithm}` : `algorithm ${bc.algorithm}`;
  print(`# zcoll bench ${o.collective}: ${n} ranks, ${what}${bc.root >= 0 ? `, root ${bc.root}` : ''}, kernels ${kernels.name}, segment ${comm.segmentBytes} B, iters ${o.iters}, warmup ${o.warmup}, check ${o.check ? 'on' : 'off'}`);
  if (faulty) print(`# faults: ${planText}${plan.byzantine.length > 0 ? ` (#wrong: ${bc.byzantineCheck ?? 'differences from the fault-free result'})` : ''}`);
  print('#');
  for (const l of tableHeader(style)) print(l);

  const progress = comm.rank === 0 ? rankProgress(o.quiet === true) : undefined;
  const totalSteps = sizes.length * (o.warmup + o.iters);
  let step = 0;
  const recorder = o.trace !== undefined ? new TraceRecorder(comm) : undefined;
  if (recorder !== undefined) {
    await comm.barrier();
    recorder.start();
  }
  const rows: BenchRow[] = [];
  let baseMs = 0; // the fastest time seen at this size so far: the work the straggler model stretches
  try {
    for (const size of sizes) {
      const st = bc.prepare(size);
      if (faults !== undefined) {
        faults.honestView = st.honestView;
        faults.payloadCodec = st.payloadCodec;
      }
      recorder?.mark(`size ${size}`, { size });
      const label = `${o.collective} ${size} B`;
      baseMs = 0;
      const once = async (): Promise<number> => {
        st.reset();
        // Every rank starts the timed call together, as the peers' scripts do (fill, barrier, time):
        // otherwise a rank still resetting or checking its last result counts as collective time on
        // the others. The barrier is not measured: no fault seam, no trace events.
        comm.setFaultSeam(undefined);
        recorder?.pause();
        await comm.barrier();
        recorder?.resume();
        if (faults !== undefined) comm.setFaultSeam(faults.seam);
        faults?.beginStep(step, baseMs);
        const t0 = process.hrtime.bigint();
        await st.run();
        const us = (Number(process.hrtime.bigint() - t0) / 1000) * (bc.timeScale ?? 1);
        step++;
        baseMs = baseMs === 0 ? us / 1000 : Math.min(baseMs, us / 1000);
        progress?.update({ done: step, total: totalSteps, label });
        return us;
      };
      for (let w = 0; w < o.warmup; w++) await once();
      const before = faults !== undefined ? { ...faults.counters } : undefined;
      const times = new Float64Array(o.iters);
      let wrong = 0;
      let excluded = 0;
      let ratio = 0;
      for (let it = 0; it < o.iters; it++) {
        times[it] = await once();
        if (o.check) {
          wrong += st.check();
          ratio = Math.max(ratio, st.boundRatio?.() ?? 0);
        }
        excluded = Math.max(excluded, st.excluded());
      }
      const c = faults?.counters;
      const local = Float64Array.of(wrong, c !== undefined ? c.lateSteps - before!.lateSteps : 0, c !== undefined ? c.delayedMessages - before!.delayedMessages : 0, c !== undefined ? c.corruptedMessages - before!.corruptedMessages : 0);
      // The reductions of the results run without the fault seam: they report, they are not measured.
      comm.setFaultSeam(undefined);
      recorder?.pause();
      const slowest = await comm.allReduce(times, { op: 'max' });
      const sums = await comm.allReduce(local, { op: 'sum' });
      const [maxExcluded, maxRatio] = await comm.allReduce(Float64Array.of(excluded, ratio), { op: 'max' });
      if (faults !== undefined) comm.setFaultSeam(faults.seam);
      recorder?.resume();
      const timeUs = median(slowest);
      const algbw = size / (timeUs * 1e-6) / 1e9;
      const row: BenchRow = {
        collective: o.collective,
        algorithm: bc.algorithm,
        ranks: n,
        size,
        count: size / (bc.type === 'float64' ? 8 : 4),
        type: bc.type,
        redop: bc.redop,
        root: bc.root,
        time_us: timeUs,
        algbw,
        busbw: algbw * bc.busFactor(n),
        wrong: sums[0],
        late_steps: sums[1],
        delayed_msgs: sums[2],
        corrupted_msgs: sums[3],
        excluded: maxExcluded,
        times_us: Array.from(slowest),
        faults: planText,
        // JSON has no Infinity: a result with no bound, or a non-finite one, leaves the field out.
        ...(style.bound && Number.isFinite(maxRatio) ? { bound_ratio: maxRatio } : {}),
      };
      rows.push(row);
      print(tableRow(row, style, maxRatio));
    }
  } finally {
    progress?.stop();
  }
  comm.setFaultSeam(undefined);
  for (const l of tableFooter(rows)) print(l);
  if (recorder !== undefined) {
    const events = await recorder.gather();
    if (events !== null) writeTrace(o.trace!, events);
  }
  return rows;
}
