/**
 * Gaussian attack. Default (ByzFL Gaussian): the worker sends a vector of i.i.d. N(mu, sigma^2)
 * values. With `additive: true` (the BGMD code's Additive attack): own + N(mu, sigma^2) per
 * coordinate. The robustness grid of bench/results/robust.md uses sigma = 10. Cost O(d) normal draws from the seeded
 * per-round PRNG.
 */
import { ZcollError } from '../../errors.js';
import { checkFiniteNumber, type AttackInput, type GradientAttack } from './attack.js';

export interface GaussianOptions {
  /** Default 0. */
  mu?: number;
  /** Default 1 (ByzFL); > 0. */
  sigma?: number;
  /** Add the noise to the worker's own gradient instead of replacing it. Default false. */
  additive?: boolean;
}

export function gaussian(options: GaussianOptions = {}): GradientAttack {
  const mu = options.mu ?? 0;
  const sigma = options.sigma ?? 1;
  checkFiniteNumber(mu, 'mu', 'gaussian');
  checkFiniteNumber(sigma, 'sigma', 'gaussian');
  if (sigma <= 0) throw new ZcollError('EINVAL', `option 'sigma' of attack 'gaussian' must be > 0, got ${sigma}`, { op: 'gaussian' });
  const additive = options.additive ?? false;
  return (input: AttackInput): Float32Array => {
    const own = input.own;
    const out = new Float32Array(own.length);
    for (let j = 0; j < own.length; j++) out[j] = (additive ? own[j] : 0) + mu + sigma * input.prng.normal();
    return out;
  };
}
