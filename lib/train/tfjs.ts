/**
 * The train layer's handle on tfjs-core, loaded lazily through lib/tensor/bridge.ts: importing zcoll
 * costs nothing for typed-array users, and the copy loaded is the one the caller's tfjs (any
 * backend: cpu, wasm, tfjs-node, tfjs-node-gpu) registered its kernels with, so tensors made here
 * live in the caller's engine.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import { loadTfCore } from '../tensor/bridge.js';

export type Tf = typeof tfc;
export type Variable = tfc.Variable;
export type TfTensor = tfc.Tensor;
export type Scalar = tfc.Scalar;
export type NamedTensorMap = tfc.NamedTensorMap;
export type Optimizer = tfc.Optimizer;

export function loadTf(): Promise<Tf> {
  return loadTfCore('ECONFIG', 'zcoll training needs @tensorflow/tfjs-core,');
}
