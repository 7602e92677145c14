/**
 * The registry of robust aggregators by name. The contract they all follow (rows in, one vector and
 * a report out, bitwise deterministic) is in aggregation.ts; its types are re-exported here so that
 * callers of aggregate() need one import.
 */
import { ZcollError } from '../errors.js';
import type { Aggregation, AggregatorName, AggregatorOptions } from './aggregation.js';
import { centeredClipping, type CenteredClippingOptions } from './centered-clipping.js';
import { coordinateMedian } from './coordinate-median.js';
import { geometricMedian, type GeometricMedianOptions } from './geometric-median.js';
import { krum, multiKrum, type KrumOptions, type MultiKrumOptions } from './krum.js';
import { mean } from './mean.js';
import { trimmedMean, type TrimmedMeanOptions } from './trimmed-mean.js';

export type { Aggregation, AggregationReport, AggregatorName, AggregatorOptions, InvalidRowPolicy } from './aggregation.js';

export interface AggregatorOptionsByName {
  mean: AggregatorOptions;
  coordinateMedian: AggregatorOptions;
  trimmedMean: TrimmedMeanOptions;
  krum: KrumOptions;
  multiKrum: MultiKrumOptions;
  geometricMedian: GeometricMedianOptions;
  centeredClipping: CenteredClippingOptions;
}

/** Compile-time tie: the options table names exactly the aggregators of AggregatorName, no more, no fewer. */
type SameKeys<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const OPTIONS_NAME_EVERY_AGGREGATOR: SameKeys<keyof AggregatorOptionsByName, AggregatorName> = true;
void OPTIONS_NAME_EVERY_AGGREGATOR;

type AggregatorFn<N extends AggregatorName> = (rows: readonly Float32Array[], options?: AggregatorOptionsByName[N]) => Aggregation;

const REGISTRY = {
  mean,
  coordinateMedian,
  trimmedMean,
  krum,
  multiKrum,
  geometricMedian,
  centeredClipping,
} as const satisfies { readonly [N in AggregatorName]: AggregatorFn<N> };

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
