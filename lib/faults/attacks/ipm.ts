/**
 * Inner Product Manipulation (Xie, Koyejo, Gupta, UAI 2019), ByzFL's definition: every Byzantine
 * worker sends -tau * mean(honest), which makes the inner product of the aggregate with the true
 * gradient negative when enough rows do it. Default tau = 2 (ByzFL); the paper uses small values
 * such as 0.1 or 0.5. Cost O(h d).
 */
import { checkFiniteNumber, honestMean, type AttackInput, type GradientAttack } from './attack.js';

export interface IpmOptions {
  /** Default 2. */
  tau?: number;
}

export function ipm(options: IpmOptions = {}): GradientAttack {
  const tau = options.tau ?? 2;
  checkFiniteNumber(tau, 'tau', 'ipm');
  return (input: AttackInput): Float32Array => {
    const m = honestMean(input, 'ipm');
    const out = new Float32Array(m.length);
    for (let j = 0; j < m.length; j++) out[j] = -tau * m[j];
    return out;
  };
}
