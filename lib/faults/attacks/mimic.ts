/**
 * Mimic (Karimireddy, He, Jaggi, ICLR 2022; ByzFL Mimic): every Byzantine worker sends a copy of
 * one honest worker's gradient, over-weighting that worker (harmful under non-i.i.d. data, harmless
 * in value for i.i.d.). `target` indexes the honest rows given to the attack. Cost O(d).
 */
import { ZcollError } from '../../errors.js';
import type { AttackInput, GradientAttack } from './attack.js';

export interface MimicOptions {
  /** Index into the honest rows of the round. Default 0. */
  target?: number;
}

export function mimic(options: MimicOptions = {}): GradientAttack {
  const target = options.target ?? 0;
  if (!Number.isInteger(target) || target < 0) {
    throw new ZcollError('EINVAL', `option 'target' of attack 'mimic' must be an integer >= 0, got ${String(target)}`, { op: 'mimic' });
  }
  return (input: AttackInput): Float32Array => {
    if (target >= input.honest.length) {
      throw new ZcollError('EINVAL', `attack 'mimic' targets honest row ${target}, but only ${input.honest.length} are given`, { op: 'mimic' });
    }
    return Float32Array.from(input.honest[target]);
  };
}
