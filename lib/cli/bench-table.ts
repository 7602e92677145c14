/**
 * The rows of `zcoll bench` and how they are printed: the nccl-tests table (size, count, type, redop,
 * time, algbw, busbw, #wrong), the fault columns when a fault plan is active, the footer, CSV and
 * the JSON array of rows (its schema: bench/bench-results.schema.json).
 */
import type { DType } from '../dtype.js';

export const BENCH_COLLECTIVES = ['allreduce', 'reducescatter', 'allgather', 'broadcast', 'signsgd', 'robust', 'coded', 'latency'] as const;
export type BenchCollective = (typeof BENCH_COLLECTIVES)[number];

export interface BenchRow {
  collective: BenchCollective;
  /** Algorithm, vote mode or aggregator. */
  algorithm: string;
  ranks: number;
  /** Bytes, as nccl-tests counts them: the whole vector (all-gather: the output, reduce-scatter: the input). */
  size: number;
  /** Elements of `size`. */
  count: number;
  type: DType;
  /** Reduction op, or 'none'. */
  redop: string;
  /** Root rank of rooted collectives, -1 otherwise. */
  root: number;
  /** Median over timed iterations of the slowest rank's time. */
  time_us: number;
  algbw: number;
  busbw: number;
  /** Elements that differed from the reference, summed over ranks and iterations. */
  wrong: number;
  /** Straggler steps (rank-steps with an injected delay) during the timed iterations. */
  late_steps: number;
  /** Messages held back by straggler delays. */
  delayed_msgs: number;
  /** Payloads replaced by Byzantine ranks. */
  corrupted_msgs: number;
  /** Vectors an aggregator excluded (invalid or not selected), per iteration, max over iterations. */
  excluded: number;
  /** Time of every timed iteration (slowest rank), in order: time per round. */
  times_us: number[];
  /** The fault plan in words ('none' without faults). */
  faults: string;
  /** coded: jobs of the timed run. */
  jobs?: number;
  /** coded: rounds whose late set the scheme could not accept, so the master waited for all. */
  wait_outs?: number;
  /** coded: rounds that ended at the deadline without their late workers. */
  late_rounds?: number;
  /**
   * robust with Byzantine ranks: the largest distance of an honest rank's result from the honest
   * mean, as a fraction of the aggregator's stated bound (<= 1: within it); absent when infinite.
   */
  bound_ratio?: number;
}

export const NCCL_TYPE: Record<DType, string> = { float32: 'float', float64: 'double', int32: 'int32' };

export interface TableStyle {
  /** Print the fault columns. */
  faults: boolean;
  /** Print the coded-computing columns (jobs, wait-outs, late rounds, straggler rounds and messages). */
  coded?: boolean;
  /** With the fault columns: the distance / bound column of robust runs with Byzantine ranks. */
  bound?: boolean;
}

const BOUND_COL = ['dist/bnd', '(ratio)', 8] as const;

const COLS = [
  ['size', '(B)', 12],
  ['count', '(elements)', 12],
  ['type', '', 7],
  ['redop', '', 6],
  ['time', '(us)', 10],
  ['algbw', '(GB/s)', 8],
  ['busbw', '(GB/s)', 8],
  ['#wrong', '', 7],
] as const;

const FAULT_COLS = [
  ['late', '(steps)', 8],
  ['delayed', '(msgs)', 8],
  ['corrupt', '(msgs)', 8],
  ['excl', '(vecs)', 6],
] as const;

/** coded: the runtime's counters, then what the straggler seam did (the fault runs' late and delayed). */
const CODED_COLS = [
  ['jobs', '', 6],
  ['wait-out', '(rounds)', 8],
  ['late-rnd', '(rounds)', 8],
  ['late', '(steps)', 8],
  ['delayed', '(msgs)', 8],
] as const;

export function tableHeader(style: TableStyle): string[] {
  const cols = style.coded === true ? [...COLS, ...CODED_COLS] : style.faults ? [...COLS, ...FAULT_COLS, ...(style.bound === true ? [BOUND_COL] : [])] : COLS;
  return [`# ${cols.map(([n, , w]) => n.padStart(w)).join(' ')}`, `# ${cols.map(([, u, w]) => u.padStart(w)).join(' ')}`];
}

/** `ratio` overrides r.bound_ratio for the bound column (the row's field leaves out an infinite one). */
export function tableRow(r: BenchRow, style: TableStyle, ratio: number | undefined = r.bound_ratio): string {
  const cells = [
    String(r.size).padStart(12),
    String(r.count).padStart(12),
    NCCL_TYPE[r.type].padStart(7),
    r.redop.padStart(6),
    r.time_us.toFixed(1).padStart(10),
    r.algbw.toFixed(3).padStart(8),
    r.busbw.toFixed(3).padStart(8),
    String(r.wrong).padStart(7),
  ];
  if (style.coded === true) cells.push(String(r.jobs ?? 0).padStart(6), String(r.wait_outs ?? 0).padStart(8), String(r.late_rounds ?? 0).padStart(8), String(r.late_steps).padStart(8), String(r.delayed_msgs).padStart(8));
  else if (style.faults) {
    cells.push(String(r.late_steps).padStart(8), String(r.delayed_msgs).padStart(8), String(r.corrupted_msgs).padStart(8), String(r.excluded).padStart(6));
    if (style.bound === true) cells.push((ratio === undefined || !Number.isFinite(ratio) ? 'inf' : ratio.toFixed(3)).padStart(8));
  }
  return `  ${cells.join(' ')}`;
}

export function tableFooter(rows: readonly BenchRow[]): string[] {
  const avgBus = rows.reduce((a, r) => a + r.busbw, 0) / Math.max(1, rows.length);
  const totalWrong = rows.reduce((a, r) => a + r.wrong, 0);
  return [`# Out of bounds values : ${totalWrong} ${totalWrong === 0 ? 'OK' : 'FAILED'}`, `# Avg bus bandwidth    : ${avgBus.toFixed(4)}`, '#'];
}

const CSV_FIELDS = ['collective', 'algorithm', 'ranks', 'size', 'count', 'type', 'redop', 'root', 'time_us', 'algbw', 'busbw', 'wrong', 'late_steps', 'delayed_msgs', 'corrupted_msgs', 'excluded'] as const;

/** Appended when some row is a coded run. */
const CODED_CSV_FIELDS = ['jobs', 'wait_outs', 'late_rounds'] as const;

/** One header line and one line per row; no field needs quoting (names and numbers only). */
export function toCsv(rows: readonly BenchRow[]): string {
  const fields: readonly (keyof BenchRow)[] = rows.some((r) => r.collective === 'coded') ? [...CSV_FIELDS, ...CODED_CSV_FIELDS] : CSV_FIELDS;
  return `${[fields.join(','), ...rows.map((r) => fields.map((f) => String(r[f] ?? '')).join(','))].join('\n')}\n`;
}
