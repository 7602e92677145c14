/**
 * Every argument check of the public calls, in the spirit of tfjs's convertToTensor(x, 'x', 'add'):
 * each error is EINVAL and names the argument, the call, this rank and what was passed.
 */
import { allocArray, DTYPES, dtypeOf, isNumericArray, type DType, type NumericArray } from '../dtype.js';
import { check, ZcollError } from '../errors.js';
import { isTensor, tensorDType, type Tensor } from '../tensor/bridge.js';
import { ALLREDUCE_ALGORITHMS, OPTION_KEYS, REDUCE_OPS, RS_AG_CALL_ALGORITHMS, type AllReduceAlgorithm, type CallName, type ReduceOp, type RsAgCallAlgorithm } from './options.js';

/**
 * The longest typed array this process may allocate, in elements: V8's limit for any typed array
 * (2^32 elements on 64-bit Node 20+, less on 32-bit), so that a count past it is an argument error,
 * not a RangeError from deep inside.
 */
const MAX_ELEMENTS = 2 ** 32;

/** What a call needs to know about the rank it runs on. */
export interface CallSite {
  readonly rank: number;
  readonly size: number;
}

/** An input, classified without reading it: its dtype and size are known at the call. */
export type Input = { kind: 'tensor'; tensor: Tensor; dtype: DType; count: number; shape: number[] } | { kind: 'array'; array: NumericArray; dtype: DType; count: number };

export function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array of numbers (use a typed array)';
  if (ArrayBuffer.isView(x)) return x.constructor.name;
  return typeof x;
}

/** Whether two typed arrays share any byte of memory. */
export function overlaps(a: NumericArray, b: NumericArray): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

/** Options must be an object with known keys only (OPTION_KEYS); `op` is the internal op name for the error context. */
export function checkOptions(site: CallSite, options: unknown, call: CallName, op: string): void {
  check(typeof options === 'object' && options !== null && !Array.isArray(options), 'EINVAL', () => `argument 'options' passed to '${call}' must be an object, got ${describe(options)}`, { rank: site.rank, op });
  const known: readonly string[] = OPTION_KEYS[call];
  for (const key of Object.keys(options as object)) {
    check(known.includes(key), 'EINVAL', () => `unknown option '${key}' passed to '${call}' (known: ${known.join(', ')})`, { rank: site.rank, op });
  }
}

export function timeoutOf(site: CallSite, o: { timeoutMs?: number }, fallback: number, op: string): number {
  const t = o.timeoutMs ?? fallback;
  check(typeof t === 'number' && Number.isFinite(t) && t > 0, 'EINVAL', () => `option 'timeoutMs' passed to '${op}' must be a positive number of ms, got ${String(t)}`, { rank: site.rank, op });
  return t;
}

export function checkRoot(site: CallSite, root: unknown, op: string): number {
  check(typeof root === 'number' && Number.isInteger(root) && root >= 0 && root < site.size, 'EINVAL', () => `option 'root' passed to '${op}' must be a rank in 0..${site.size - 1}, got ${String(root)}`, { rank: site.rank, op });
  return root as number;
}

export function checkRedop(site: CallSite, redop: unknown, call: CallName, op: string): ReduceOp {
  check(REDUCE_OPS.includes(redop as ReduceOp), 'EINVAL', () => `option 'op' passed to '${call}' must be one of ${REDUCE_OPS.join(', ')}, got ${String(redop)}`, { rank: site.rank, op });
  return redop as ReduceOp;
}

export function checkRsAgAlgorithm(site: CallSite, algorithm: unknown, call: CallName, op: string): RsAgCallAlgorithm {
  check(RS_AG_CALL_ALGORITHMS.includes(algorithm as string), 'EINVAL', () => `option 'algorithm' passed to '${call}' must be one of ${RS_AG_CALL_ALGORITHMS.join(', ')}, got ${String(algorithm)}`, { rank: site.rank, op });
  return algorithm as RsAgCallAlgorithm;
}

export function checkAlgorithm(site: CallSite, algorithm: unknown, op: string): AllReduceAlgorithm {
  check(ALLREDUCE_ALGORITHMS.includes(algorithm as string), 'EINVAL', () => `option 'algorithm' passed to 'allReduce' must be one of ${ALLREDUCE_ALGORITHMS.join(', ')}, got ${String(algorithm)}`, { rank: site.rank, op });
  return algorithm as AllReduceAlgorithm;
}

/** `inPlace` is a boolean, and means something only for a typed array (a tensor's result is always new). */
export function checkInPlace(site: CallSite, inPlace: unknown, input: Input | Input[], call: CallName, op: string): boolean {
  if (inPlace === undefined) return false;
  check(typeof inPlace === 'boolean', 'EINVAL', () => `option 'inPlace' passed to '${call}' must be a boolean, got ${describe(inPlace)}`, { rank: site.rank, op });
  const tensors = (Array.isArray(input) ? input : [input]).some((i) => i.kind === 'tensor');
  check(!(inPlace && (tensors || Array.isArray(input))), 'EINVAL', () => `option 'inPlace' passed to '${call}' is for one typed array; a tensor or a list gets a new result`, { rank: site.rank, op });
  return inPlace as boolean;
}

/** Classifies x (a tensor or a typed array) without reading its values. */
export function input(site: CallSite, x: unknown, op: string): Input {
  if (isTensor(x)) {
    const dtype = tensorDType(x, op);
    return { kind: 'tensor', tensor: x, dtype, count: x.size, shape: x.shape.slice() };
  }
  if (isNumericArray(x)) return { kind: 'array', array: x, dtype: dtypeOf(x), count: x.length };
  throw new ZcollError('EINVAL', `argument 'x' passed to '${op}' must be a tf.Tensor, a Float32Array, Float64Array or Int32Array, or a list of them; got ${describe(x)}`, { rank: site.rank, op });
}

/** A list argument (fused collectives): each entry classified, the list non-empty. */
export function inputs(site: CallSite, xs: unknown[], op: string): Input[] {
  return xs.map((x, i) => {
    try {
      return input(site, x, op);
    } catch (e) {
      throw new ZcollError('EINVAL', `entry ${i} of the list passed to '${op}': ${(e as Error).message}`, { rank: site.rank, op }, { cause: e });
    }
  });
}

/** `{ dtype, count }` as recv's `like`: a dtype zcoll knows and a count a typed array can hold. */
export function checkShapeLike(site: CallSite, like: unknown, op: string): { dtype: DType; count: number } {
  const l = like as { dtype?: unknown; count?: unknown } | null;
  check(l !== null && typeof l === 'object' && (DTYPES as readonly unknown[]).includes(l.dtype) && Number.isSafeInteger(l.count) && (l.count as number) >= 0, 'EINVAL', () => `argument 'like' passed to '${op}' must be a tensor, a typed array or { dtype, count } with dtype one of ${DTYPES.join(', ')}`, { rank: site.rank, op });
  checkCount(site, l!.count as number, 'like.count', op);
  return { dtype: l!.dtype as DType, count: l!.count as number };
}

/** recv's `like`: a typed array (filled), a tensor (a new one of its shape) or { dtype, count }. */
export function recvTarget(site: CallSite, like: unknown, op: string): { target: NumericArray; dtype: DType; shape?: number[] } {
  if (isNumericArray(like)) return { target: like, dtype: dtypeOf(like) };
  if (isTensor(like)) {
    const dtype = tensorDType(like, op);
    return { target: allocArray(dtype, like.size), dtype, shape: like.shape.slice() };
  }
  const l = checkShapeLike(site, like, op);
  return { target: allocArray(l.dtype, l.count), dtype: l.dtype };
}

/** A count of elements this process can hold in one typed array. */
export function checkCount(site: CallSite, count: number, what: string, op: string): void {
  check(Number.isSafeInteger(count) && count >= 0 && count <= MAX_ELEMENTS, 'EINVAL', () => `argument '${what}' passed to '${op}' must be an integer in 0..${MAX_ELEMENTS} (the longest typed array), got ${String(count)}`, { rank: site.rank, op });
}

/** send's `dst` and recv's `src`: another rank of this world. */
export function checkPeer(site: CallSite, peer: unknown, what: 'dst' | 'src', op: string): number {
  check(typeof peer === 'number' && Number.isInteger(peer) && peer >= 0 && peer < site.size && peer !== site.rank, 'EINVAL', () => `argument '${what}' passed to '${op}' must be another rank in 0..${site.size - 1}, got ${String(peer)}`, { rank: site.rank, op });
  return peer as number;
}

export function checkTag(site: CallSite, tag: unknown, op: string): number {
  check(typeof tag === 'number' && Number.isInteger(tag) && tag >= 0 && tag <= 0x7fffffff, 'EINVAL', () => `option 'tag' passed to '${op}' must be an integer in [0, 2^31), got ${String(tag)}`, { rank: site.rank, op });
  return tag as number;
}

/** exchangeDirect's `into`: one slot per rank, each undefined or an array like x, none sharing memory with x or another. */
export function checkInto(site: CallSite, into: unknown, x: NumericArray, receiving: boolean, op: string): void {
  const ctx = { rank: site.rank, op };
  check(Array.isArray(into) && into.length === site.size, 'EINVAL', () => `option 'into' passed to 'exchangeDirect' must be an array of ${site.size} entries (one per rank), got ${Array.isArray(into) ? `${into.length} entries` : describe(into)}`, ctx);
  if (!receiving) return;
  const used: NumericArray[] = [x];
  for (let r = 0; r < site.size; r++) {
    const a = (into as unknown[])[r];
    if (r === site.rank || a === undefined) continue;
    check(isNumericArray(a) && dtypeOf(a) === dtypeOf(x) && a.length === x.length, 'EINVAL', () => `option 'into' passed to 'exchangeDirect': entry ${r} must be a ${x.constructor.name} of ${x.length} elements like x, got ${isNumericArray(a) ? `a ${a.constructor.name} of ${a.length}` : describe(a)}`, ctx);
    const arr = a as NumericArray;
    check(!used.some((u) => overlaps(u, arr)), 'EINVAL', () => `option 'into' passed to 'exchangeDirect': entry ${r} shares memory with x or with another entry`, ctx);
    used.push(arr);
  }
}
