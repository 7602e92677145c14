/** The element types zcoll moves and reduces, and their typed-array views. */
export const DTYPES = ['float32', 'float64', 'int32'] as const;
export type DType = (typeof DTYPES)[number];
export type NumericArray = Float32Array | Float64Array | Int32Array;

export const BYTES_PER_ELEMENT: Readonly<Record<DType, number>> = { float32: 4, float64: 8, int32: 4 };

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}

export function dtypeOf(a: NumericArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  return 'int32';
}

export function isNumericArray(x: unknown): x is NumericArray {
  return x instanceof Float32Array || x instanceof Float64Array || x instanceof Int32Array;
}

export function allocArray(dtype: DType, length: number): NumericArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(length);
    case 'float64':
      return new Float64Array(length);
    case 'int32':
      return new Int32Array(length);
  }
}

/** A typed-array view of `dtype` over bytes; the caller guarantees alignment. */
export function viewArray(dtype: DType, buffer: ArrayBufferLike, byteOffset: number, length: number): NumericArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer, byteOffset, length);
    case 'float64':
      return new Float64Array(buffer, byteOffset, length);
    case 'int32':
      return new Int32Array(buffer, byteOffset, length);
  }
}
