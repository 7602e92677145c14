/**
 * Sign flipping (ByzFL SignFlipping): every Byzantine worker sends -mean(honest). Cost O(h d) for h
 * honest rows. Note: plain negation does not break the mean below 50 % Byzantine (with b flippers
 * the mean is (h - b)/n · mean(honest), still a descent direction while h > b); use scaled-flip or
 * Gaussian to show the mean's breakdown.
 */
import { honestMean, type AttackInput, type GradientAttack } from './attack.js';

export function signFlip(): GradientAttack {
  return (input: AttackInput): Float32Array => {
    const m = honestMean(input, 'signFlip');
    const out = new Float32Array(m.length);
    for (let j = 0; j < m.length; j++) out[j] = -m[j];
    return out;
  };
}
