/**
 * The cases shared by test/robust/distributed.test.ts and its rank processes
 * (distributed-worker.ts): which aggregator in which mode, the seeded vector each rank contributes,
 * and what each Byzantine rank does. The test rebuilds the rows as an aggregator receives them and
 * computes the reference with the pure aggregators in its own process.
 */
import { createHash } from 'node:crypto';
import type { DataMessage } from '../../lib/faults/rank-faults.js';
import type { OutgoingMessage } from '../../lib/transport/outbox.js';
import { Prng } from '../../lib/prng.js';
import type { RobustAggregatorName, RobustMode, RobustReply } from '../../lib/robust/distributed.js';
import type { InvalidRowPolicy } from '../../lib/robust/aggregation.js';

/** The workers use 64 KiB segments (16384 float32): every exchange sends 3 segments per peer, the last one short. */
export const LENGTH = 40_001;
export const SEGMENT_BYTES = 65_536;
export const FLIP_SCALE = 100;
export const BGMD_ROUNDS = 3;
export const BGMD_LR = 0.5;

export interface DistributedCase {
  mode: RobustMode;
  aggregator: RobustAggregatorName;
  options?: Record<string, number | string>;
  invalid?: InvalidRowPolicy;
  reply?: RobustReply;
  rounds: number;
  /** Only in this scenario. */
  only?: Scenario;
}

export type Scenario = 'honest' | 'byzantine';

/**
 * Byzantine roles (scenario 'byzantine', 5 ranks; ranks 0 and 1 are honest, 0 is the server):
 *  - 'nan': corrupts its own vector before calling (NaN and Inf at a few coordinates);
 *  - 'wrongLength': a fault seam rewrites the count in the headers of its exchange frames (d + 3);
 *  - 'scaledFlip': a fault seam rewrites the payload bytes of its exchange frames to -100 x its vector.
 */
export type Role = 'honest' | 'nan' | 'wrongLength' | 'scaledFlip';

export const SIZES: Readonly<Record<Scenario, number>> = { honest: 4, byzantine: 5 };

export function roleOf(scenario: Scenario, rank: number): Role {
  if (scenario === 'honest') return 'honest';
  return (['honest', 'honest', 'nan', 'wrongLength', 'scaledFlip'] as const)[rank];
}

const both = (c: Omit<DistributedCase, 'mode'>): DistributedCase[] => [
  { ...c, mode: 'allgather' },
  { ...c, mode: 'server' },
];

export const CASES: readonly DistributedCase[] = [
  ...both({ aggregator: 'mean', rounds: 1 }),
  ...both({ aggregator: 'geometricMedian', rounds: 1 }),
  ...both({ aggregator: 'coordinateMedian', rounds: 1 }),
  ...both({ aggregator: 'multiKrum', options: { f: 1 }, rounds: 1 }),
  ...both({ aggregator: 'bgmd', options: { beta: 0.1 }, rounds: BGMD_ROUNDS }),
  // Memory at the workers: every rank keeps its own residual and sends lr g + memory.
  ...both({ aggregator: 'bgmd', options: { beta: 0.1, memory: 'workers' }, rounds: BGMD_ROUNDS }),
  { mode: 'server', aggregator: 'geometricMedian', reply: 'direct', rounds: 1 },
  { mode: 'allgather', aggregator: 'mean', invalid: 'zero', rounds: 1, only: 'byzantine' },
  { mode: 'server', aggregator: 'bgmd', options: { beta: 0.1 }, invalid: 'zero', rounds: BGMD_ROUNDS, only: 'byzantine' },
  // Two Byzantine rows excluded leave 3 rows: trimming 2 per side is impossible, on every rank alike.
  ...both({ aggregator: 'trimmedMean', options: { f: 2 }, rounds: 1, only: 'byzantine' }),
];

/** Rank `rank`'s own vector in round `round` of case `c`: a shared signal plus rank-specific noise. */
export function ownVector(c: number, round: number, rank: number, d = LENGTH): Float32Array {
  const signal = new Prng(1000 + 97 * c + round);
  const noise = new Prng(50_000 + 1009 * c + 31 * round + rank);
  const v = new Float32Array(d);
  // Uniform rather than normal values: 3x cheaper to draw, and the aggregators do not care.
  for (let j = 0; j < d; j++) v[j] = 2 * signal.next() - 1 + 0.3 * (2 * noise.next() - 1);
  return v;
}

/** What the rank passes to step(): its own vector, corrupted by a 'nan' rank. */
export function contributedVector(scenario: Scenario, c: number, round: number, rank: number): Float32Array {
  const v = ownVector(c, round, rank);
  if (roleOf(scenario, rank) === 'nan') {
    for (let j = 7; j < v.length; j += 9973) v[j] = Number.NaN;
    v[v.length - 1] = Number.POSITIVE_INFINITY;
  }
  return v;
}

/**
 * The row an aggregator receives from `rank` (the reference side of the seams below), when the rank
 * sends `sent` (default: the vector it contributes; BGMD with memory at the workers sends lr g + memory).
 */
export function receivedRow(scenario: Scenario, c: number, round: number, rank: number, sent?: Float32Array): Float32Array {
  const role = roleOf(scenario, rank);
  const v = sent ?? contributedVector(scenario, c, round, rank);
  if (role === 'wrongLength') return new Float32Array(v.length + 3);
  if (role === 'scaledFlip') return v.map((x) => Math.fround(-FLIP_SCALE * x));
  return v;
}

/** The fault seam of a Byzantine rank, or undefined. It touches only this rank's own exchange frames. */
export function seamFor(scenario: Scenario, rank: number): ((m: OutgoingMessage) => OutgoingMessage) | undefined {
  const role = roleOf(scenario, rank);
  const ownExchangeFrame = (m: OutgoingMessage): m is DataMessage => m.header.kind === 'data' && m.header.op.startsWith('exchange') && m.header.transfer === rank && m.payload !== undefined;
  if (role === 'wrongLength') return (m) => (ownExchangeFrame(m) ? { ...m, header: { ...m.header, count: m.header.count + 3 } } : m);
  if (role === 'scaledFlip') {
    return (m) => {
      if (!ownExchangeFrame(m)) return m;
      const bytes = new Uint8Array(m.payload!); // an aligned private copy
      const values = new Float32Array(bytes.buffer, 0, bytes.byteLength / 4);
      for (let j = 0; j < values.length; j++) values[j] = -FLIP_SCALE * values[j];
      return { ...m, payload: bytes };
    };
  }
  return undefined;
}

export function hashOf(a: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex').slice(0, 24);
}

/** One RESULT line of a rank, per case and round. */
export interface RoundResult {
  case: number;
  round: number;
  rank: number;
  /** Hash of the update, or undefined when the round threw. */
  hash?: string;
  error?: string;
  verdicts?: string[];
  invalidRanks?: number[];
  aggregatedHere?: boolean;
  /** BGMD, where the aggregation ran: hash of every rank's memory row, in rank order. */
  memoryHash?: string;
  /** BGMD with memory at the workers: hash of this rank's own memory row. */
  ownMemoryHash?: string;
}

/** Hash of rows in order (BGMD's per-worker memory). */
export function hashOfRows(rows: readonly Float32Array[]): string {
  const h = createHash('sha256');
  for (const a of rows) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex').slice(0, 24);
}
