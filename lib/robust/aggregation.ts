/**
 * The contract of a robust aggregator: n rows of length d in (one gradient per worker, each received
 * directly from its worker, never through a relay, so a Byzantine worker can spoil only its own row),
 * one vector of length d and a report out. Every aggregator is a pure, deterministic function: the
 * same rows give a bitwise identical result on every rank, which the 'allgather' mode relies on
 * (each rank aggregates by itself and must agree with the others). The registry by name is in
 * aggregator.ts; this file holds only types, so implementations and the registry import it and not
 * each other.
 */

/** The aggregators the registry (aggregator.ts) knows, by name. */
export type AggregatorName = 'mean' | 'coordinateMedian' | 'trimmedMean' | 'krum' | 'multiKrum' | 'geometricMedian' | 'centeredClipping';

/** What happens to a row of the wrong length or holding NaN/Inf: dropped, or replaced by zeros. */
export type InvalidRowPolicy = 'exclude' | 'zero';

export interface AggregatorOptions {
  /** Default 'exclude'. Either way the row is counted in `report.invalidRows`. */
  invalid?: InvalidRowPolicy;
  /** Expected row length d; default: the most common length among the rows. */
  length?: number;
}

export interface AggregationReport {
  readonly aggregator: AggregatorName;
  /** Rows given. */
  readonly rows: number;
  /** Rows that entered the computation (valid rows plus, under 'zero', the zeroed ones). */
  readonly used: number;
  /** Positions of rows with the wrong length or a NaN/Inf value (treated as Byzantine). */
  readonly invalidRows: readonly number[];
  /** Iterations of an iterative rule (Weiszfeld, clipping); 1 for closed-form rules. */
  readonly iterations: number;
  /** False when an iterative rule hit its iteration cap; the value is then its last iterate. */
  readonly converged: boolean;
  /** Length of the last iterative move (0 for closed-form rules). */
  readonly lastMove: number;
  /** Krum / Multi-Krum: positions (in the caller's array) of the rows that were averaged. */
  readonly selectedRows?: readonly number[];
}

export interface Aggregation {
  readonly value: Float32Array;
  readonly report: AggregationReport;
}
