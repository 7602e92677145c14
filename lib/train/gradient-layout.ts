/**
 * The flat layout of a model's gradients: variable k occupies [offsets[k], offsets[k] + sizes[k])
 * of one Float32Array, in the variable order every rank agrees on. Strategies work on that flat
 * vector (sign packing, robust aggregation and gradient codes are all defined on one vector), and
 * all-reduce cuts it into fusion buckets of at most `thresholdBytes` (Horovod's
 * HOROVOD_FUSION_THRESHOLD: fewer, larger collectives amortise per-message latency, while a bound
 * keeps the working buffer small). Cost: one copy of the gradient in, one copy out.
 */
import { ZcollError } from '../errors.js';
import type { NamedTensorMap, Tf, TfTensor, Variable } from './tfjs.js';

export interface GradientLayout {
  readonly names: readonly string[];
  readonly shapes: readonly (readonly number[])[];
  readonly offsets: readonly number[];
  readonly sizes: readonly number[];
  /** Total number of parameters d. */
  readonly total: number;
}

/** A range [start, end) of the flat vector that travels as one collective. */
export interface FusionBucket {
  readonly start: number;
  readonly end: number;
}

export const DEFAULT_FUSION_THRESHOLD_BYTES = 64 * 1024 * 1024;

export function layoutOf(vars: readonly Variable[]): GradientLayout {
  const offsets: number[] = [];
  let total = 0;
  for (const v of vars) {
    offsets.push(total);
    total += v.size;
  }
  return { names: vars.map((v) => v.name), shapes: vars.map((v) => v.shape.slice()), offsets, sizes: vars.map((v) => v.size), total };
}

/**
 * Buckets aligned on variable boundaries, in order: a bucket closes before the variable that would
 * take it past the threshold; a variable larger than the threshold travels alone. Threshold 0 means
 * no fusion (one collective per variable), as in Horovod.
 */
export function fusionBuckets(layout: GradientLayout, thresholdBytes: number): FusionBucket[] {
  if (!(Number.isFinite(thresholdBytes) && thresholdBytes >= 0)) {
    throw new ZcollError('EINVAL', `option 'fusionThresholdBytes' must be a finite number >= 0, got ${String(thresholdBytes)}`, { op: 'fusionBuckets' });
  }
  const buckets: FusionBucket[] = [];
  let start = 0;
  let end = 0;
  for (let k = 0; k < layout.sizes.length; k++) {
    const size = layout.sizes[k];
    if (size === 0) continue;
    if (end > start && (end - start + size) * 4 > thresholdBytes) {
      buckets.push({ start, end });
      start = end;
    }
    end += size;
  }
  if (end > start) buckets.push({ start, end });
  return buckets;
}

/**
 * Copies the gradients of `grads` (keyed by variable name) into one new Float32Array in layout
 * order, or into `into` (reused step after step: the optimizer's fusion buffer); a variable with no
 * gradient (not used by the loss) contributes zeros, so every rank still sends the same length.
 * The tensors of `grads` are read, never disposed.
 */
export async function flattenGradients(grads: NamedTensorMap, layout: GradientLayout, rank?: number, into?: Float32Array): Promise<Float32Array> {
  if (into !== undefined && into.length !== layout.total) {
    throw new ZcollError('EINVAL', `flattenGradients: 'into' holds ${into.length} elements, the layout ${layout.total}`, { op: 'applyGradients', ...(rank !== undefined ? { rank } : {}) });
  }
  const flat = into ?? new Float32Array(layout.total);
  const known = new Set(layout.names);
  for (const name of Object.keys(grads)) {
    if (!known.has(name)) {
      throw new ZcollError('EINVAL', `gradient for '${name}', which is not one of the trained variables (${layout.names.join(', ')})`, { op: 'applyGradients', ...(rank !== undefined ? { rank } : {}) });
    }
  }
  for (let k = 0; k < layout.names.length; k++) {
    const g = grads[layout.names[k]];
    if (g === undefined) {
      if (into !== undefined) flat.fill(0, layout.offsets[k], layout.offsets[k] + layout.sizes[k]); // a reused buffer holds last step's values
      continue;
    }
    if (g.size !== layout.sizes[k]) {
      throw new ZcollError('EINVAL', `gradient of '${layout.names[k]}' has ${g.size} elements, the variable ${layout.sizes[k]}`, { op: 'applyGradients', ...(rank !== undefined ? { rank } : {}) });
    }
    const data = await g.data();
    flat.set(data as Float32Array, layout.offsets[k]);
  }
  return flat;
}

/** New tensors (owned by the caller) over copies of the slices of `flat`, keyed by variable name. */
export function gradientTensors(tf: Tf, flat: Float32Array, layout: GradientLayout): NamedTensorMap {
  const out: NamedTensorMap = {};
  for (let k = 0; k < layout.names.length; k++) {
    const o = layout.offsets[k];
    // slice, not subarray: the CPU backend adopts the array it is given.
    out[layout.names[k]] = tf.tensor(flat.slice(o, o + layout.sizes[k]), layout.shapes[k] as number[], 'float32') as TfTensor;
  }
  return out;
}

/**
 * The current values of `vars` as one flat Float32Array (layout order): into `into` when given
 * (layout.total elements, kept by the caller: a fresh array of d floats costs a page fault per 4 KiB,
 * 24,000 at d = 25M), else a new one.
 */
export async function flattenVariables(vars: readonly Variable[], layout: GradientLayout, into?: Float32Array, rank?: number): Promise<Float32Array> {
  if (into !== undefined && into.length !== layout.total) {
    throw new ZcollError('EINVAL', `flattenVariables: 'into' holds ${into.length} elements, the layout ${layout.total}`, { op: 'flattenVariables', ...(rank !== undefined ? { rank } : {}) });
  }
  const flat = into ?? new Float32Array(layout.total);
  for (let k = 0; k < vars.length; k++) flat.set((await vars[k].data()) as Float32Array, layout.offsets[k]);
  return flat;
}

/** Assigns slices of `flat` to `vars` (layout order), disposing the temporaries. */
export function assignVariables(tf: Tf, vars: readonly Variable[], flat: Float32Array, layout: GradientLayout): void {
  for (let k = 0; k < vars.length; k++) {
    const o = layout.offsets[k];
    const t = tf.tensor(flat.slice(o, o + layout.sizes[k]), layout.shapes[k] as number[], 'float32');
    vars[k].assign(t);
    t.dispose();
  }
}
