/**
 * The kernels in use: native when the addon of native-bindings/ loaded, JS otherwise.
 * `ZCOLL_KERNELS=js|native` forces one; forcing native when it is missing throws ECONFIG at import.
 * A fallback to JS is reported once on stderr, and only when someone would want to know: ZCOLL_DEBUG
 * is set, or the addon was expected (the install built it, or ZCOLL_NATIVE_PATH names it).
 */
import { ZcollError } from '../errors.js';
import type { Kernels } from './contract.js';
import { jsKernels } from './js.js';
import { nativeKernels, nativeLoad } from './native.js';

export type { ElementwiseOp, FloatArray, Kernels } from './contract.js';
export { jsKernels } from './js.js';
export { nativeKernels, nativeLoad, shmAvailable, shmMap, shmUnlink, shmUnmap } from './native.js';
export type { NativeLoadStatus } from './native.js';

export type KernelsName = 'js' | 'native';

/** True when the native addon loaded in this process. */
export function nativeKernelsAvailable(): boolean {
  return nativeKernels !== undefined;
}

/** The implementation called `name`; 'native' throws ECONFIG when the addon is not loaded. */
export function kernelsByName(name: KernelsName): Kernels {
  if (name === 'js') return jsKernels;
  if (name !== 'native') {
    throw new ZcollError('EINVAL', `kernels must be 'js' or 'native' (got ${JSON.stringify(name)})`);
  }
  if (nativeKernels === undefined) {
    throw new ZcollError(
      'ECONFIG',
      `native kernels requested but the addon is not loaded: ${nativeLoad.reason}. ` +
        'Build it with `npm rebuild zcoll` (needs python3, make and a C++ compiler), or use ZCOLL_KERNELS=js.',
      { details: { path: nativeLoad.path } },
    );
  }
  return nativeKernels;
}

let fallbackReported = false;

function reportFallbackOnce(): void {
  if (fallbackReported) return;
  fallbackReported = true;
  if (process.env.ZCOLL_DEBUG || nativeLoad.expected) {
    process.stderr.write(`zcoll: native kernels unavailable (${nativeLoad.reason}); using JS kernels\n`);
  }
}

function chooseKernels(): Kernels {
  const forced = process.env.ZCOLL_KERNELS;
  if (forced === undefined || forced === '' || forced === 'auto') {
    if (nativeKernels !== undefined) return nativeKernels;
    reportFallbackOnce();
    return jsKernels;
  }
  if (forced !== 'js' && forced !== 'native') {
    throw new ZcollError('ECONFIG', `ZCOLL_KERNELS must be 'js', 'native' or 'auto' (got ${JSON.stringify(forced)})`);
  }
  if (forced === 'native' && nativeKernels === undefined) {
    throw new ZcollError(
      'ECONFIG',
      `ZCOLL_KERNELS=native but the native addon is not loaded: ${nativeLoad.reason}. ` +
        'Build it with `npm rebuild zcoll` (needs python3, make and a C++ compiler), or unset ZCOLL_KERNELS.',
      { details: { path: nativeLoad.path } },
    );
  }
  return kernelsByName(forced);
}

/** The kernels every hot loop of zcoll uses. */
export const kernels: Kernels = chooseKernels();
