/**
 * The tfjs bridge: the only module that touches tfjs. Tensors come in from any backend and leave as
 * new tensors that the caller owns; the input is never disposed or changed. tfjs-core is imported
 * lazily, so typed-array users need no tfjs at all, and it is the copy the caller's tfjs already
 * loaded (one engine), because both resolve to the same installed @tensorflow/tfjs-core.
 *
 * Reading: `await t.data()` (async, so a GPU backend is not blocked on). The CPU backend hands out
 * its live storage and WASM a copy; zcoll always copies into its own working buffer, so neither can
 * be changed by a collective.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import { ZcollError, type ErrorCode } from '../errors.js';
import type { DType, NumericArray } from '../dtype.js';

export type Tensor = tfc.Tensor;

let core: typeof tfc | undefined;

/**
 * tfjs-core, loaded on first use (every layer that needs tfjs comes here). `why` says, in the
 * error, what needed it; `code` is the error's code when it cannot be loaded.
 */
export async function loadTfCore(code: ErrorCode = 'EINVAL', why = 'a tensor was passed'): Promise<typeof tfc> {
  if (core === undefined) {
    try {
      core = await import('@tensorflow/tfjs-core');
    } catch (e) {
      throw new ZcollError(code, `${why} but @tensorflow/tfjs-core cannot be loaded; install @tensorflow/tfjs (or tfjs-node / tfjs-node-gpu)`, {}, { cause: e });
    }
  }
  return core;
}

/** Structural check: works whatever copy of tfjs-core made the tensor. */
export function isTensor(x: unknown): x is Tensor {
  if (typeof x !== 'object' || x === null) return false;
  const t = x as Partial<Tensor>;
  return typeof t.dataSync === 'function' && typeof t.data === 'function' && Array.isArray(t.shape) && typeof t.dtype === 'string' && typeof t.dataId === 'object';
}

export function tensorDType(t: Tensor, op: string): DType {
  if (t.isDisposed) throw new ZcollError('EINVAL', `argument 'x' passed to '${op}' is a disposed tensor`);
  if (t.dtype === 'float32' || t.dtype === 'int32') return t.dtype;
  throw new ZcollError('EINVAL', `argument 'x' passed to '${op}' has dtype ${t.dtype}; zcoll reduces float32 and int32 tensors (and float64 typed arrays)`);
}

/** A private copy of the tensor's values, in zcoll's working layout. */
export async function readTensor(t: Tensor): Promise<NumericArray> {
  const data = await t.data();
  if (data instanceof Float32Array) return new Float32Array(data);
  if (data instanceof Int32Array) return new Int32Array(data);
  throw new ZcollError('EINVAL', `tensor of dtype ${t.dtype} cannot be read as numbers`);
}

/** A new tensor over `values` (ownership passes to the tensor). */
export async function makeTensor(values: NumericArray, shape: readonly number[], dtype: 'float32' | 'int32'): Promise<Tensor> {
  const tf = await loadTfCore();
  return tf.tensor(values as Float32Array | Int32Array, shape as number[], dtype);
}
