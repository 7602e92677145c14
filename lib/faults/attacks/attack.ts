/**
 * The shared shape of gradient attacks: a Byzantine worker replaces the gradient it would send by
 * a function of its own honest gradient, of the honest workers' gradients of this round (the usual
 * omniscient adversary of ByzFL and of the BGMD paper), and of a noise source seeded for this round
 * and worker. Attacks are pure: they never modify their inputs and return a fresh Float32Array.
 */
import { ZcollError } from '../../errors.js';
import type { Prng } from '../../prng.js';

export interface AttackInput {
  /** This Byzantine worker's own honest gradient. */
  readonly own: Float32Array;
  /** The honest workers' gradients of this round (may be empty for attacks that do not use them). */
  readonly honest: readonly Float32Array[];
  /** Noise seeded for this (round, worker); see ByzantineSet.noise. */
  readonly prng: Prng;
}

export type GradientAttack = (input: AttackInput) => Float32Array;

/** Coordinate-wise mean of the honest rows in float64; throws EINVAL when there are none. */
export function honestMean(input: AttackInput, attack: string): Float64Array {
  const rows = input.honest;
  if (rows.length === 0) throw new ZcollError('EINVAL', `attack '${attack}' needs at least one honest row`, { op: attack });
  const d = input.own.length;
  const out = new Float64Array(d);
  for (const r of rows) {
    if (r.length !== d) throw new ZcollError('EINVAL', `attack '${attack}': honest row of length ${r.length}, expected ${d}`, { op: attack });
    for (let j = 0; j < d; j++) out[j] += r[j];
  }
  for (let j = 0; j < d; j++) out[j] /= rows.length;
  return out;
}

export function checkFiniteNumber(value: number, name: string, attack: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ZcollError('EINVAL', `option '${name}' of attack '${attack}' must be a finite number, got ${String(value)}`, { op: attack });
  }
}
