/**
 * Which variables a distributed step trains, in a fixed order every rank agrees on: raw
 * tf.Variables as given, or a tf.LayersModel's (or a list of LayerVariables') `trainableWeights`,
 * whose `.read()` is the backing tf.Variable. The order is the list order (for a model, layer
 * order), which is what fuses gradients into identical buffers on every rank.
 */
import { ZcollError } from '../errors.js';
import type { Variable } from './tfjs.js';

/** What tfjs-layers' LayerVariable offers: read() returns its backing tf.Variable. */
export interface LayerVariableLike {
  read(): unknown;
  readonly trainable?: boolean;
}

/** A tf.LayersModel (or anything with trainableWeights). */
export interface ModelLike {
  readonly trainableWeights: readonly LayerVariableLike[];
}

export type VariableSource = ModelLike | readonly (Variable | LayerVariableLike)[];

function isVariable(x: unknown): x is Variable {
  if (typeof x !== 'object' || x === null) return false;
  const v = x as Partial<Variable>;
  return typeof v.assign === 'function' && typeof v.name === 'string' && Array.isArray(v.shape) && typeof v.dataSync === 'function';
}

/** The tf.Variables of `source`, in order; EINVAL naming the bad entry otherwise. */
export function resolveVariables(source: VariableSource, op = 'resolveVariables', rank?: number): Variable[] {
  const ctx = rank !== undefined ? { op, rank } : { op };
  const list: readonly unknown[] = Array.isArray(source)
    ? source
    : typeof source === 'object' && source !== null && Array.isArray((source as ModelLike).trainableWeights)
      ? (source as ModelLike).trainableWeights
      : (() => {
          throw new ZcollError('EINVAL', `${op}: expected a tf.LayersModel, or a list of tf.Variables or LayerVariables, got ${typeof source}`, ctx);
        })();
  const seen = new Set<string>();
  return list.map((entry, i) => {
    const v = isVariable(entry) ? entry : typeof (entry as LayerVariableLike | null)?.read === 'function' ? (entry as LayerVariableLike).read() : undefined;
    if (!isVariable(v)) throw new ZcollError('EINVAL', `${op}: entry ${i} is neither a tf.Variable nor a LayerVariable`, ctx);
    if (v.dtype !== 'float32') throw new ZcollError('EINVAL', `${op}: variable '${v.name}' has dtype ${v.dtype}; distributed training handles float32 variables`, ctx);
    if (seen.has(v.name)) throw new ZcollError('EINVAL', `${op}: variable '${v.name}' is listed twice`, ctx);
    seen.add(v.name);
    return v;
  });
}
