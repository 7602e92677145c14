/**
 * The shared interface of robust aggregators and a registry by name. An aggregator maps n rows of
 * length d (one gradient per worker, each received directly from its worker: see architecture.md,
 * trust boundaries) to one vector of length d plus a report. Every aggregator is a pure,
 * deterministic function: the same rows give a bitwise identical result on every rank, which the
 * 'allgather' mode relies on (each rank aggregates by itself and must agree with the others).
 */
import { ZcollError } from '../errors.js';
import { centeredClipping, type CenteredClippingOptions } from './centered-clipping.js';
import { coordinateMedian } from './coordinate-median.js';
import { geometricMedian, type GeometricMedianOptions } from './geometric-median.js';
import { krum, multiKrum, type KrumOptions, type MultiKrumOptions } from './krum.js';
import { mean } from './mean.js';
import { trimmedMean, type TrimmedMeanOptions } from './trimmed-mean.js';

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

export interface AggregatorOptionsByName {
  mean: AggregatorOptions;
  coordinateMedian: AggregatorOptions;
  trimmedMean: TrimmedMeanOptions;
  krum: KrumOptions;
  multiKrum: MultiKrumOptions;
  geometricMedian: GeometricMedianOptions;
  centeredClipping: CenteredClippingOptions;
}

export type AggregatorName = keyof AggregatorOptionsByName;

type AggregatorFn<N extends AggregatorName> = (rows: readonly Float32Array[], options?: AggregatorOptionsByName[N]) => Aggregation;

const REGISTRY: { readonly [N in AggregatorName]: AggregatorFn<N> } = {
  mean,
  coordinateMedian,
  trimmedMean,
  krum,
  multiKrum,
  geometricMedian,
  centeredClipping,
};

export const AGGREGATOR_NAMES: readonly AggregatorName[] = Object.keys(REGISTRY) as AggregatorName[];

export function isAggregatorName(name: unknown): name is AggregatorName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(REGISTRY, name);
}

/** Aggregates `rows` with the aggregator called `name`; deterministic (bitwise) for equal inputs. */
export function aggregate<N extends AggregatorName>(
  name: N,
  rows: readonly Float32Array[],
  options?: AggregatorOptionsByName[N],
): Aggregation {
  if (!isAggregatorName(name)) {
    throw new ZcollError('EINVAL', `unknown aggregator '${String(name)}'; known: ${AGGREGATOR_NAMES.join(', ')}`, { op: 'aggregate' });
  }
  const fn = REGISTRY[name] as AggregatorFn<N>;
  return fn(rows, options);
}
