/**
 * The rows of the robust-aggregation speed benches (robust-speed.ts, robust-phases.ts): n = 16 rows
 * of length d, 12 honest = a shared signal with per-coordinate log-normal scales (a few coordinates
 * carry most of the norm, as in real gradients) plus N(0, 0.5^2) noise, and 4 Gaussian Byzantine
 * rows N(0, 10^2), so the geometric median has real work to do. Seeded by the round.
 */
import { Prng } from '../lib/prng.js';

export const ROWS = 16;
export const BYZANTINE_ROWS = 4;

export function makeRows(d: number, round: number): Float32Array[] {
  const prng = new Prng(1000 + round);
  const signal = new Float32Array(d);
  for (let j = 0; j < d; j++) signal[j] = Math.exp(1.5 * prng.normal()) * (prng.next() < 0.5 ? -1 : 1) * 0.1;
  return Array.from({ length: ROWS }, (_, i) => {
    const row = new Float32Array(d);
    if (i < BYZANTINE_ROWS) for (let j = 0; j < d; j++) row[j] = 10 * prng.normal();
    else for (let j = 0; j < d; j++) row[j] = signal[j] + 0.5 * prng.normal();
    return row;
  });
}
