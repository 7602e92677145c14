/**
 * Scaled flip, the BGMD code's "bit flip" (BitFlipAttack): the worker sends -scale * its own
 * gradient; scale 5 in every result dump of the paper (the slides say 100). Cost O(d).
 */
import { checkFiniteNumber, type AttackInput, type GradientAttack } from './attack.js';

export interface ScaledFlipOptions {
  /** Default 5. */
  scale?: number;
}

export function scaledFlip(options: ScaledFlipOptions = {}): GradientAttack {
  const scale = options.scale ?? 5;
  checkFiniteNumber(scale, 'scale', 'scaledFlip');
  return (input: AttackInput): Float32Array => {
    const own = input.own;
    const out = new Float32Array(own.length);
    for (let j = 0; j < own.length; j++) out[j] = -scale * own[j];
    return out;
  };
}
