/**
 * Typed arrays as plain, JSON-safe data for checkpoints: the bytes in base64 with dtype and length.
 * Why bytes and not number lists: a float32 array round-trips bit for bit (NaN payloads and -0
 * included), and a d = 10M memory is 53 MB of base64 rather than ~200 MB of decimal text.
 */
import { ZcollError } from '../errors.js';

export type EncodedDtype = 'float32' | 'float64' | 'uint32' | 'int32';

export interface EncodedArray {
  readonly dtype: EncodedDtype;
  readonly length: number;
  readonly base64: string;
}

type ArrayOf<D extends EncodedDtype> = D extends 'float32' ? Float32Array : D extends 'float64' ? Float64Array : D extends 'int32' ? Int32Array : Uint32Array;

const CTORS = { float32: Float32Array, float64: Float64Array, uint32: Uint32Array, int32: Int32Array } as const;

export function encodeArray(a: Float32Array | Float64Array | Uint32Array | Int32Array): EncodedArray {
  const dtype: EncodedDtype = a instanceof Float32Array ? 'float32' : a instanceof Float64Array ? 'float64' : a instanceof Int32Array ? 'int32' : 'uint32';
  return { dtype, length: a.length, base64: Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64') };
}

/** A new array of `dtype` from `e`; EINVAL naming `what` when e is not one (wrong dtype, or `length` when given differs). */
export function decodeArray<D extends EncodedDtype>(e: unknown, dtype: D, what: string, ctx: { op: string; rank?: number }, length?: number): ArrayOf<D> {
  const x = e as Partial<EncodedArray> | null;
  if (typeof x !== 'object' || x === null || x.dtype !== dtype || typeof x.base64 !== 'string' || !Number.isInteger(x.length)) {
    throw new ZcollError('EINVAL', `${ctx.op}: ${what} must be an encoded ${dtype} array ({ dtype, length, base64 })`, ctx);
  }
  if (length !== undefined && x.length !== length) throw new ZcollError('EINVAL', `${ctx.op}: ${what} holds ${x.length!} elements, ${length} expected`, ctx);
  const bytes = Buffer.from(x.base64, 'base64');
  const Ctor = CTORS[dtype];
  if (bytes.length !== x.length! * Ctor.BYTES_PER_ELEMENT) throw new ZcollError('EINVAL', `${ctx.op}: ${what} has ${bytes.length} bytes for ${x.length!} ${dtype} elements`, ctx);
  const out = new Ctor(x.length!);
  new Uint8Array(out.buffer).set(bytes);
  return out as ArrayOf<D>;
}
