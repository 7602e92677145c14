/**
 * The bench cases of the communicator's own collectives: all-reduce, reduce-scatter, all-gather and
 * broadcast. Every input is (rank+1)*((i%7)+1), exact in every dtype, so every result element has a
 * closed form and every iteration is checked against it. Bus bandwidth factors as nccl-tests
 * (PERFORMANCE.md): all-reduce 2(n-1)/n, reduce-scatter and all-gather (n-1)/n of the whole size S,
 * broadcast 1.
 */
import { RS_AG_CALL_ALGORITHMS, type AllReduceAlgorithm, type Communicator, type ReduceOp, type RsAgCallAlgorithm } from '../comm/communicator.js';
import { ZcollError } from '../errors.js';
import { allocArray, BYTES_PER_ELEMENT, type DType, type NumericArray } from '../dtype.js';
import type { HonestView, PayloadCodec } from '../faults/rank-faults.js';
import { chunkSpan } from '../schedule/partition.js';
import type { BenchCollective } from './bench-table.js';

/** One size of one case: the inputs, the timed call, and its check. */
export interface BenchStep {
  /** Restores the inputs (untimed). */
  reset(): void;
  /** The timed part. */
  run(): Promise<void>;
  /** Elements of the last result that differ from the reference. */
  check(): number;
  /** Vectors the last aggregation excluded (0 for collectives that do not aggregate). */
  excluded(): number;
  /**
   * robust with Byzantine ranks: the last checked result's distance from the honest mean as a
   * fraction of the aggregator's stated bound (robust-bound.ts); <= 1 is within it.
   */
  boundRatio?(): number;
  /** What a Byzantine rank sees of the honest ranks' data (omniscient attacks), if the case knows. */
  readonly honestView?: HonestView;
  /** How a Byzantine rank reads and rewrites this case's payloads, when they are not plain numbers. */
  readonly payloadCodec?: PayloadCodec;
}

export interface BenchCase {
  readonly collective: BenchCollective;
  readonly algorithm: string;
  readonly redop: string;
  readonly root: number;
  readonly type: DType;
  /** What the table's time is of one timed call (latency: 0.5, half a round trip); default 1. */
  readonly timeScale?: number;
  /** Bus bandwidth = algbw * busFactor(n). */
  busFactor(n: number): number;
  /** The size run for a requested size (rounded down to what the collective can split), 0 to skip it. */
  fitSize(bytes: number): number;
  prepare(bytes: number): BenchStep;
  /** With Byzantine ranks: what #wrong counts, in words, for the table's header lines. */
  readonly byzantineCheck?: string;
}

/** Input of rank r at element i: exact in every dtype for any op. */
export function inputValue(rank: number, i: number): number {
  return (rank + 1) * ((i % 7) + 1);
}

function fill(a: NumericArray, rank: number): void {
  for (let i = 0; i < a.length; i++) a[i] = inputValue(rank, i);
}

/** The reduction over ranks 0..n-1 of inputValue(r, i), as the dtype computes it. */
export function expectedReduction(op: ReduceOp, n: number, i: number, dtype: DType): number {
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

function reductionTable(op: ReduceOp, n: number, dtype: DType): NumericArray {
  const t = allocArray(dtype, 7);
  for (let i = 0; i < 7; i++) t[i] = expectedReduction(op, n, i, dtype);
  return t;
}

export interface CollectiveCaseOptions {
  collective: 'allreduce' | 'reducescatter' | 'allgather' | 'broadcast';
  op: ReduceOp;
  dtype: DType;
  algorithm: AllReduceAlgorithm;
  root: number;
}

/** -a for reducescatter and allgather: auto (the communicator's choice), ring or hierarchical (main.ts checked it). */
function rsAgAlgorithm(a: AllReduceAlgorithm): RsAgCallAlgorithm {
  if (!RS_AG_CALL_ALGORITHMS.includes(a)) throw new ZcollError('EINVAL', `-a/--algorithm ${a}: reducescatter and allgather run ${RS_AG_CALL_ALGORITHMS.join(', ')}`);
  return a as RsAgCallAlgorithm;
}

export function collectiveCase(comm: Communicator, o: CollectiveCaseOptions): BenchCase {
  const n = comm.size;
  const rank = comm.rank;
  const elem = BYTES_PER_ELEMENT[o.dtype];
  const base = { collective: o.collective, type: o.dtype } as const;
  switch (o.collective) {
    case 'allreduce':
      return {
        ...base,
        algorithm: o.algorithm,
        redop: o.op,
        root: -1,
        busFactor: (k) => (2 * (k - 1)) / k,
        fitSize: (bytes) => Math.floor(bytes / elem) * elem,
        prepare: (bytes) => {
          const count = bytes / elem;
          const template = allocArray(o.dtype, count);
          fill(template, rank);
          const expect = reductionTable(o.op, n, o.dtype);
          const buf = allocArray(o.dtype, count);
          return {
            reset: () => buf.set(template),
            run: async () => {
              await comm.allReduce(buf, { op: o.op, inPlace: true, algorithm: o.algorithm });
            },
            check: () => {
              let wrong = 0;
              for (let i = 0; i < count; i++) if (buf[i] !== expect[i % 7]) wrong++;
              return wrong;
            },
            excluded: () => 0,
          };
        },
      };
    case 'reducescatter':
      return {
        ...base,
        algorithm: rsAgAlgorithm(o.algorithm),
        redop: o.op,
        root: -1,
        busFactor: (k) => (k - 1) / k,
        fitSize: (bytes) => Math.floor(bytes / (elem * n)) * elem * n,
        prepare: (bytes) => {
          const total = bytes / elem;
          const template = allocArray(o.dtype, total);
          fill(template, rank);
          const expect = reductionTable(o.op, n, o.dtype);
          const span = chunkSpan(total, n, rank);
          const buf = allocArray(o.dtype, total);
          let out: NumericArray = buf;
          return {
            reset: () => buf.set(template),
            run: async () => {
              out = await comm.reduceScatter(buf, { op: o.op, inPlace: true, algorithm: rsAgAlgorithm(o.algorithm) });
            },
            check: () => {
              let wrong = out.length === span.length ? 0 : Math.abs(out.length - span.length);
              const m = Math.min(out.length, span.length);
              for (let i = 0; i < m; i++) if (out[i] !== expect[(span.offset + i) % 7]) wrong++;
              return wrong;
            },
            excluded: () => 0,
          };
        },
      };
    case 'allgather':
      return {
        ...base,
        algorithm: rsAgAlgorithm(o.algorithm),
        redop: 'none',
        root: -1,
        busFactor: (k) => (k - 1) / k,
        fitSize: (bytes) => Math.floor(bytes / (elem * n)) * elem * n,
        prepare: (bytes) => {
          const count = bytes / elem / n;
          const input = allocArray(o.dtype, count);
          fill(input, rank);
          let out: NumericArray = input;
          return {
            reset: () => undefined,
            run: async () => {
              out = await comm.allGather(input, { algorithm: rsAgAlgorithm(o.algorithm) });
            },
            check: () => {
              if (out.length !== count * n) return Math.abs(out.length - count * n) || 1;
              let wrong = 0;
              for (let r = 0; r < n; r++) for (let i = 0; i < count; i++) if (out[r * count + i] !== inputValue(r, i)) wrong++;
              return wrong;
            },
            excluded: () => 0,
          };
        },
      };
    case 'broadcast':
      return {
        ...base,
        algorithm: 'auto',
        redop: 'none',
        root: o.root,
        busFactor: () => 1,
        fitSize: (bytes) => Math.floor(bytes / elem) * elem,
        prepare: (bytes) => {
          const count = bytes / elem;
          const template = allocArray(o.dtype, count);
          if (rank === o.root) fill(template, o.root);
          const buf = allocArray(o.dtype, count);
          return {
            reset: () => buf.set(template),
            run: async () => {
              await comm.broadcast(buf, { root: o.root, inPlace: true });
            },
            check: () => {
              let wrong = 0;
              for (let i = 0; i < count; i++) if (buf[i] !== inputValue(o.root, i)) wrong++;
              return wrong;
            },
            excluded: () => 0,
          };
        },
      };
  }
}
