/**
 * ALIE, "A Little Is Enough" (Baruch, Baruch, Goldberg, NeurIPS 2019), ByzFL's definition: every
 * Byzantine worker sends mean(honest) + tau * std(honest) per coordinate (std with ddof 1; 0 when
 * there is a single honest row). Default tau = 1.5; the BGMD code's DriftAttack is tau = -1.
 * Cost O(h d).
 */
import { checkFiniteNumber, honestMean, type AttackInput, type GradientAttack } from './attack.js';

export interface AlieOptions {
  /** Default 1.5. */
  tau?: number;
}

export function alie(options: AlieOptions = {}): GradientAttack {
  const tau = options.tau ?? 1.5;
  checkFiniteNumber(tau, 'tau', 'alie');
  return (input: AttackInput): Float32Array => {
    const m = honestMean(input, 'alie');
    const h = input.honest.length;
    const d = m.length;
    const variance = new Float64Array(d);
    for (const r of input.honest) {
      for (let j = 0; j < d; j++) {
        const diff = r[j] - m[j];
        variance[j] += diff * diff;
      }
    }
    const out = new Float32Array(d);
    for (let j = 0; j < d; j++) out[j] = m[j] + tau * (h > 1 ? Math.sqrt(variance[j] / (h - 1)) : 0);
    return out;
  };
}
