/** Seeded test inputs and float64 references shared by the robust/ tests. */
import { Prng } from '../../lib/prng.js';

export function randomRows(n: number, d: number, seed: number, scale = 1, offset = 0): Float32Array[] {
  const prng = new Prng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: d }, () => offset + scale * prng.normal()));
}

export function rowsOf(values: number[][]): Float32Array[] {
  return values.map((v) => Float32Array.from(v));
}

/** sum_i ||y - x_i||, float64. */
export function gmObjective(rows: readonly ArrayLike<number>[], y: ArrayLike<number>): number {
  let total = 0;
  for (const r of rows) {
    let acc = 0;
    for (let j = 0; j < y.length; j++) acc += (y[j] - r[j]) ** 2;
    total += Math.sqrt(acc);
  }
  return total;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let j = 0; j < a.length; j++) m = Math.max(m, Math.abs(a[j] - b[j]));
  return m;
}

export function bitwiseEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let j = 0; j < ua.length; j++) if (ua[j] !== ub[j]) return false;
  return true;
}
