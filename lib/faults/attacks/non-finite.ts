/**
 * Non-finite values (ByzFL Inf, extended): the worker sends +Inf, -Inf or NaN in every coordinate,
 * or only in a random fraction of them (seeded; the others are its own gradient) to hide the damage
 * in a large vector. Aggregators must treat such a row as invalid, never crash. Cost O(d).
 */
import { ZcollError } from '../../errors.js';
import type { AttackInput, GradientAttack } from './attack.js';

export interface NonFiniteOptions {
  /** Default 'inf'. */
  value?: 'inf' | '-inf' | 'nan';
  /** Fraction of coordinates overwritten, in (0, 1]. Default 1. */
  fraction?: number;
}

export function nonFinite(options: NonFiniteOptions = {}): GradientAttack {
  const kind = options.value ?? 'inf';
  if (kind !== 'inf' && kind !== '-inf' && kind !== 'nan') {
    throw new ZcollError('EINVAL', `option 'value' of attack 'nonFinite' must be 'inf', '-inf' or 'nan', got ${String(kind)}`, { op: 'nonFinite' });
  }
  const fraction = options.fraction ?? 1;
  if (!(typeof fraction === 'number' && fraction > 0 && fraction <= 1)) {
    throw new ZcollError('EINVAL', `option 'fraction' of attack 'nonFinite' must be in (0, 1], got ${String(fraction)}`, { op: 'nonFinite' });
  }
  const bad = kind === 'inf' ? Number.POSITIVE_INFINITY : kind === '-inf' ? Number.NEGATIVE_INFINITY : Number.NaN;
  return (input: AttackInput): Float32Array => {
    const own = input.own;
    const out = new Float32Array(own.length);
    if (fraction === 1) return out.fill(bad);
    out.set(own);
    let hit = 0;
    for (let j = 0; j < own.length; j++) {
      if (input.prng.next() < fraction) {
        out[j] = bad;
        hit++;
      }
    }
    // At least one coordinate, so the row is always non-finite as the attack promises.
    if (hit === 0 && own.length > 0) out[input.prng.int(own.length)] = bad;
    return out;
  };
}
