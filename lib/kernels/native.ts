/**
 * The native kernels: loads the N-API addon of native-bindings/ and wraps it into the `Kernels`
 * contract, plus
 * the POSIX shared-memory primitive the same-host transport maps its segments with.
 * Cost: one N-API call per kernel call (~0.1-0.3 us), then SIMD loops (SSE2 baseline, AVX2 when the
 * CPU has it, chosen at run time). The addon checks every argument itself (types, dtypes, lengths)
 * because it is the memory-safety boundary; this wrapper only maps the op name to its code.
 * Which file: node-gyp-build (the loader prebuildify and zeromq's ecosystem use) picks a source
 * build in build/Release when there is one (a checkout, or an install that compiled), else the
 * prebuild shipped for this platform in prebuilds/<platform>-<arch>/ (scripts/prebuild.mjs), so an
 * install with --ignore-scripts still gets the native path. The loader takes whatever .node file
 * the build produced; the list below is what it must export.
 * Loading never throws: without the addon `nativeKernels` is undefined and `nativeLoad.reason`
 * says why (index.ts decides whether to fall back or fail).
 */
import { constants as bufferConstants } from 'node:buffer';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ZcollError } from '../errors.js';
import type { NumericArray } from '../dtype.js';
import type { ColumnCandidates, ElementwiseOp, FloatArray, Kernels, ScoreCandidates } from './contract.js';

const NONE_U32 = new Uint32Array(0);
const NONE_F64 = new Float64Array(0);

/** The functions the .node file exports (see native-bindings/src/addon.cc and shm.cc). */
interface NativeAddon {
  reduceInto(dst: NumericArray, src: NumericArray, opCode: number): void;
  scale(dst: FloatArray, factor: number): void;
  divide(dst: NumericArray, divisor: number): void;
  signPack(src: Float32Array, out: Uint32Array): number;
  firstNonFinite(src: Float32Array): number;
  momentumSignPack(grad: Float32Array, momentum: Float32Array, beta: number, out: Uint32Array, params: Float32Array | undefined, wd: number): number;
  momentumSignPackTo(grad: Float32Array, momentum: Float32Array, next: Float32Array, beta: number, out: Uint32Array, params: Float32Array | undefined, wd: number): number;
  signApply(params: Float32Array, votes: Uint32Array, lr: number, wd: number): void;
  axpy(y: Float32Array, alpha: number, x: Float32Array): void;
  voteCount(packed: readonly Uint32Array[], words: number, negOut: Uint32Array, tieOut: Uint32Array): void;
  sqDistances(points: readonly Float32Array[], center: FloatArray, out: Float64Array): void;
  weightedSum(points: readonly Float32Array[], weights: Float64Array, out: FloatArray): void;
  weiszfeldStep(points: readonly Float32Array[], weights: Float64Array, divisor: number, out: Float64Array, previous: Float64Array | undefined, distances: Float64Array | undefined): number;
  selectKth(values: FloatArray, k: number): number;
  topKIndices(values: Float64Array, k: number, out: Uint32Array): void;
  allFinite(values: Float32Array): boolean;
  augmentedScores(memory: readonly Float32Array[], gradients: readonly Float32Array[], lr: number, scores: Float64Array, threshold: number, candIndex: Uint32Array, candScore: Float64Array): number;
  columnScores(rows: readonly Float32Array[], scores: Float64Array, threshold: number, candIndex: Uint32Array, candScore: Float64Array, candValues: readonly Float32Array[]): number;
  augmentRow(memory: Float32Array, gradient: Float32Array, lr: number, out: Float32Array): boolean;
  gatherColumns(rows: readonly Float32Array[], indices: Uint32Array, divisor: number, out: readonly Float32Array[]): void;
  augmentAndExtract(memory: readonly Float32Array[], gradients: readonly Float32Array[], lr: number, indices: Uint32Array, divisor: number, out: readonly Float32Array[]): void;
  simdLevel(): string;
  shmMap(name: string, bytes: number, create: boolean): ArrayBuffer;
  shmUnmap(buffer: ArrayBuffer): void;
  detachBuffer(buffer: ArrayBuffer): boolean;
  shmUnlink(name: string): boolean;
  /** Absent from addons built before src/shm_reserve.cc: not in ADDON_FUNCTIONS, so they still load. */
  shmReserve?(name: string, bytes: number): boolean;
  /** Linux only (futex.cc): absent elsewhere, where waiting ranks keep waking through ZeroMQ. */
  futexWait?(buffer: ArrayBuffer, byteOffset: number, expected: number, timeoutMicros: number): FutexWaitResult;
  futexWake?(buffer: ArrayBuffer, byteOffset: number): number;
  /** Linux only (futex.cc): sched_yield, for ranks that busy-poll on a host with more ranks than cores. */
  schedYield?(): void;
  /** Linux only (huge_pages.cc): madvise(MADV_HUGEPAGE) on the buffer's 2 MiB-aligned interior; returns the bytes advised. */
  adviseHugePages?(buffer: ArrayBuffer): number;
}

export type FutexWaitResult = 'woken' | 'timeout' | 'interrupted';

/** Sleep and wake on a 32-bit word of a shared mapping (native-bindings/src/futex.cc). */
export interface Futex {
  /** Sleeps while the word at `byteOffset` equals `expected`, at most `timeoutMicros` (<= 1 s). */
  wait(buffer: ArrayBuffer, byteOffset: number, expected: number, timeoutMicros: number): FutexWaitResult;
  /** Wakes every sleeper on the word; returns how many woke. */
  wake(buffer: ArrayBuffer, byteOffset: number): number;
}

const ADDON_FUNCTIONS: readonly (keyof NativeAddon)[] = [
  'reduceInto', 'scale', 'divide', 'signPack', 'firstNonFinite', 'momentumSignPack', 'momentumSignPackTo', 'signApply', 'axpy', 'voteCount', 'sqDistances', 'weightedSum', 'weiszfeldStep', 'selectKth',
  'topKIndices', 'allFinite', 'augmentedScores', 'columnScores', 'gatherColumns', 'augmentRow', 'augmentAndExtract', 'detachBuffer', 'simdLevel', 'shmMap', 'shmUnmap', 'shmUnlink',
];

export interface NativeLoadStatus {
  readonly loaded: boolean;
  /** The .node file loaded or tried; undefined when no native-bindings/ folder or no file for this platform was found. */
  readonly path: string | undefined;
  /** Where the file came from: a source build, the shipped prebuild, or ZCOLL_NATIVE_PATH. */
  readonly source: 'build' | 'prebuild' | 'override' | undefined;
  /** Why the addon is not loaded (undefined when it is). */
  readonly reason: string | undefined;
  /**
   * True when the addon should have been there: the install built it (build status file says ok),
   * the package ships a prebuild for this platform, or ZCOLL_NATIVE_PATH names it. index.ts only reports a fallback unasked in that case.
   */
  readonly expected: boolean;
  /** Instruction set of the vectorised loops on this CPU: 'avx2', 'sse2' or 'generic'. */
  readonly simd: string | undefined;
}

/** The part of node-gyp-build used here (it ships no types). */
interface NodeGypBuild {
  /** The .node file for this platform under `dir` (build/Release, build/Debug, then prebuilds/); throws when none. */
  path(dir: string): string;
}

function nodeGypBuild(): NodeGypBuild | string {
  try {
    return createRequire(import.meta.url)('node-gyp-build') as NodeGypBuild;
  } catch (err) {
    return `the package node-gyp-build (a dependency of zcoll) cannot be loaded: ${err instanceof Error ? err.message : String(err)}`;
  }
}
/** Written by scripts/build-native.mjs after each build attempt. */
const BUILD_STATUS_FILE = join('build', 'zcoll-build.json');

/** native-bindings/ of the package this module belongs to: the nearest one up the directory tree. */
function findBindingsDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 8; up++) {
    const candidate = join(dir, 'native-bindings');
    if (existsSync(join(candidate, 'binding.gyp'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}

function buildSucceeded(bindingsDir: string): boolean {
  try {
    const status: unknown = JSON.parse(readFileSync(join(bindingsDir, BUILD_STATUS_FILE), 'utf8'));
    return typeof status === 'object' && status !== null && (status as { ok?: unknown }).ok === true;
  } catch {
    return false;
  }
}

function loadAddon(): { addon: NativeAddon | undefined; status: NativeLoadStatus } {
  const override = process.env.ZCOLL_NATIVE_PATH;
  let path: string | undefined;
  let expected = false;
  let source: NativeLoadStatus['source'];
  if (override !== undefined && override !== '') {
    path = resolve(override);
    expected = true;
    source = 'override';
  } else {
    const none = (reason: string) => ({
      addon: undefined,
      status: { loaded: false, path: undefined, source: undefined, reason, expected: false, simd: undefined },
    });
    const bindingsDir = findBindingsDir();
    if (bindingsDir === undefined) return none('no native-bindings/ folder found');
    const loader = nodeGypBuild();
    if (typeof loader === 'string') return none(loader);
    try {
      path = loader.path(bindingsDir);
    } catch (err) {
      const first = (err instanceof Error ? err.message : String(err)).split('\n')[0];
      return none(`no addon built or prebuilt for this platform in ${bindingsDir} (${first}); build it with \`npm rebuild zcoll\``);
    }
    source = path.includes(`${sep}prebuilds${sep}`) ? 'prebuild' : 'build';
    expected = source === 'prebuild' || buildSucceeded(bindingsDir);
  }
  const fail = (reason: string) => ({
    addon: undefined,
    status: { loaded: false, path, source, reason, expected, simd: undefined },
  });
  if (!existsSync(path)) return fail(`${path} does not exist (addon not built)`);
  let loaded: unknown;
  try {
    loaded = createRequire(import.meta.url)(path);
  } catch (err) {
    return fail(`loading ${path} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  const missing = ADDON_FUNCTIONS.filter(
    (name) => typeof loaded !== 'object' || loaded === null || typeof (loaded as Record<string, unknown>)[name] !== 'function',
  );
  if (missing.length > 0) return fail(`${path} lacks ${missing.join(', ')} (stale build? run npm rebuild)`);
  const addon = loaded as NativeAddon;
  return { addon, status: { loaded: true, path, source, reason: undefined, expected, simd: addon.simdLevel() } };
}

const { addon, status } = loadAddon();

/** What happened when this module tried to load the addon. */
export const nativeLoad: NativeLoadStatus = Object.freeze(status);

function opCode(op: ElementwiseOp): number {
  switch (op) {
    case 'sum':
      return 0;
    case 'min':
      return 1;
    case 'max':
      return 2;
    default:
      throw new TypeError(`zcoll native reduceInto: argument 'op' must be 'sum', 'min' or 'max' (got ${String(op)})`);
  }
}

function wrapKernels(native: NativeAddon): Kernels {
  return Object.freeze({
    name: 'native' as const,
    reduceInto(dst: NumericArray, src: NumericArray, op: ElementwiseOp): void {
      native.reduceInto(dst, src, opCode(op));
    },
    scale(dst: FloatArray, factor: number): void {
      native.scale(dst, factor);
    },
    divide(dst: NumericArray, divisor: number): void {
      native.divide(dst, divisor);
    },
    signPack(src: Float32Array, out: Uint32Array): number {
      return native.signPack(src, out);
    },
    firstNonFinite(src: Float32Array): number {
      return native.firstNonFinite(src);
    },
    momentumSignPack(grad: Float32Array, momentum: Float32Array, beta: number, out: Uint32Array, params: Float32Array | undefined, wd: number): number {
      return native.momentumSignPack(grad, momentum, beta, out, params, wd);
    },
    momentumSignPackTo(grad: Float32Array, momentum: Float32Array, next: Float32Array, beta: number, out: Uint32Array, params: Float32Array | undefined, wd: number): number {
      return native.momentumSignPackTo(grad, momentum, next, beta, out, params, wd);
    },
    signApply(params: Float32Array, votes: Uint32Array, lr: number, wd: number): void {
      native.signApply(params, votes, lr, wd);
    },
    axpy(y: Float32Array, alpha: number, x: Float32Array): void {
      native.axpy(y, alpha, x);
    },
    voteCount(packed: readonly Uint32Array[], words: number, negOut: Uint32Array, tieOut: Uint32Array): void {
      native.voteCount(packed, words, negOut, tieOut);
    },
    sqDistances(points: readonly Float32Array[], center: FloatArray, out: Float64Array): void {
      native.sqDistances(points, center, out);
    },
    weightedSum(points: readonly Float32Array[], weights: Float64Array, out: FloatArray): void {
      native.weightedSum(points, weights, out);
    },
    weiszfeldStep(points: readonly Float32Array[], weights: Float64Array, divisor: number, out: Float64Array, previous: Float64Array | undefined, distances: Float64Array | undefined): number {
      return native.weiszfeldStep(points, weights, divisor, out, previous, distances);
    },
    selectKth(values: FloatArray, k: number): number {
      return native.selectKth(values, k);
    },
    topKIndices(values: Float64Array, k: number, out: Uint32Array): void {
      native.topKIndices(values, k, out);
    },
    allFinite(values: Float32Array): boolean {
      return native.allFinite(values);
    },
    augmentedScores(memory: readonly Float32Array[], gradients: readonly Float32Array[], lr: number, scores: Float64Array | undefined, candidates: ScoreCandidates | undefined): number {
      // The addon takes empty arrays for "none".
      return native.augmentedScores(memory, gradients, lr, scores ?? NONE_F64, candidates?.threshold ?? Number.POSITIVE_INFINITY, candidates?.index ?? NONE_U32, candidates?.score ?? NONE_F64);
    },
    columnScores(rows: readonly Float32Array[], scores: Float64Array | undefined, candidates: ColumnCandidates | undefined): number {
      return native.columnScores(rows, scores ?? NONE_F64, candidates?.threshold ?? Number.POSITIVE_INFINITY, candidates?.index ?? NONE_U32, candidates?.score ?? NONE_F64, candidates?.values ?? []);
    },
    augmentRow(memory: Float32Array, gradient: Float32Array, lr: number, out: Float32Array): boolean {
      return native.augmentRow(memory, gradient, lr, out);
    },
    gatherColumns(rows: readonly Float32Array[], indices: Uint32Array, divisor: number, out: readonly Float32Array[]): void {
      native.gatherColumns(rows, indices, divisor, out);
    },
    augmentAndExtract(memory: readonly Float32Array[], gradients: readonly Float32Array[], lr: number, indices: Uint32Array, divisor: number, out: readonly Float32Array[]): void {
      native.augmentAndExtract(memory, gradients, lr, indices, divisor, out);
    },
  });
}

/** The native implementation of the contract, or undefined when the addon is not loaded. */
export const nativeKernels: Kernels | undefined = addon === undefined ? undefined : wrapKernels(addon);

function requireAddon(what: string): NativeAddon {
  if (addon === undefined) {
    throw new ZcollError('ECONFIG', `${what} needs the native addon of native-bindings/, which is not loaded: ${nativeLoad.reason}`, {
      op: what,
    });
  }
  return addon;
}

/** POSIX names start with '/'; zcoll accepts them with or without it. */
function posixShmName(name: string): string {
  if (typeof name !== 'string') throw new TypeError(`zcoll shm: name must be a string (got ${typeof name})`);
  return name.startsWith('/') ? name : `/${name}`;
}

/** True when shmMap/shmUnmap/shmUnlink work in this process. */
export function shmAvailable(): boolean {
  return addon !== undefined && process.platform !== 'win32';
}

/**
 * Largest mapping shmMap returns: Node.js wraps external memory in an ArrayBuffer through a Buffer,
 * whose limit this is (4 GiB on Node 20). Larger sizes are a ZcollError('EINVAL'), and nothing is
 * left in /dev/shm.
 */
export const SHM_MAX_BYTES: number = bufferConstants.MAX_LENGTH;

function shmTooLarge(name: string, bytes: number, create: boolean, why: string, cause?: unknown): ZcollError {
  return new ZcollError('EINVAL', `cannot map ${bytes} bytes of shared memory '${name}'${create ? ' (create)' : ''}: ${why}`, {
    op: 'shmMap',
    details: { name, bytes, limit: SHM_MAX_BYTES },
  }, cause === undefined ? undefined : { cause });
}

/**
 * Maps the POSIX shared-memory object `name` (created and sized to `bytes` when `create`, else it
 * must exist with at least `bytes`) and returns an ArrayBuffer whose memory is the mapping: writes
 * are seen by every process mapping the same name. Unmapped when the ArrayBuffer is collected or by
 * shmUnmap. Errors from the system carry `code` ('ENOENT', 'EACCES', ...); a size over
 * SHM_MAX_BYTES is a ZcollError('EINVAL') and leaves no name behind. Never transfer the
 * ArrayBuffer (postMessage/structuredClone transfer lists): the mapping belongs to this object, so
 * its finalizer would unmap memory the transferred copy still uses; map the name again instead.
 */
export function shmMap(name: string, bytes: number, create: boolean): ArrayBuffer {
  const native = requireAddon('shmMap');
  const posix = posixShmName(name);
  // Refused here, before the addon creates (and has to remove again) a sparse object of that size.
  if (typeof bytes === 'number' && bytes > SHM_MAX_BYTES) {
    throw shmTooLarge(posix, bytes, create, `more than the ${SHM_MAX_BYTES} bytes Node.js ${process.version} lets an ArrayBuffer wrap (buffer.constants.MAX_LENGTH)`);
  }
  try {
    return native.shmMap(posix, bytes, create);
  } catch (e) {
    if ((e as { code?: unknown }).code === 'EFBIG') throw shmTooLarge(posix, bytes, create, (e as Error).message, e);
    throw e;
  }
}

/** Unmaps now; the ArrayBuffer is detached (byteLength 0) so it can no longer reach the pages. */
export function shmUnmap(buffer: ArrayBuffer): void {
  requireAddon('shmUnmap').shmUnmap(buffer);
}

/**
 * Detaches `buffer` (byteLength 0 afterwards) so that its backing store is released now instead of
 * at a later garbage collection; false without the addon or when it was already detached.
 */
export function detachBuffer(buffer: ArrayBuffer): boolean {
  return addon !== undefined && addon.detachBuffer(buffer);
}

/**
 * Allocates the first `bytes` of the existing object `name` now (posix_fallocate), so that a full
 * /dev/shm is an error here (code 'ENOSPC') rather than a SIGBUS at the first touch of a page.
 * Returns false when nothing was reserved: no such call on this platform (macOS), or an addon built
 * before it existed (rebuild it: `npm rebuild zcoll`).
 */
export function shmReserve(name: string, bytes: number): boolean {
  const native = requireAddon('shmReserve');
  return native.shmReserve === undefined ? false : native.shmReserve(posixShmName(name), bytes);
}

/** Futex wait/wake when the addon has them (Linux), else undefined. */
export function futex(): Futex | undefined {
  const wait = addon?.futexWait;
  const wake = addon?.futexWake;
  if (wait === undefined || wake === undefined) return undefined;
  return { wait: wait.bind(addon), wake: wake.bind(addon) };
}

/** sched_yield when the addon has it (Linux), else undefined: a polite spinner then sleeps instead. */
export function schedYield(): (() => void) | undefined {
  const y = addon?.schedYield;
  return y === undefined ? undefined : y.bind(addon);
}

/**
 * madvise(MADV_HUGEPAGE) on the 2 MiB-aligned interior of a buffer nothing has written yet (returns
 * the bytes advised; throws with the errno's code when madvise refuses), or undefined when the addon
 * lacks it (not loaded, not Linux, or built before huge_pages.cc). Used by huge-pages.ts only.
 */
export const adviseHugePagesNative: ((buffer: ArrayBuffer) => number) | undefined =
  addon?.adviseHugePages === undefined ? undefined : addon.adviseHugePages.bind(addon);

/** Removes the name (live mappings stay valid). Returns false when it did not exist. */
export function shmUnlink(name: string): boolean {
  return requireAddon('shmUnlink').shmUnlink(posixShmName(name));
}
