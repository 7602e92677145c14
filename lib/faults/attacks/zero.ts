/**
 * Zero gradient: the worker sends zeros (a free-rider or a crashed-but-answering worker). It drags
 * the mean toward 0 by the Byzantine fraction. Cost O(d).
 */
import type { AttackInput, GradientAttack } from './attack.js';

export function zero(): GradientAttack {
  return (input: AttackInput): Float32Array => new Float32Array(input.own.length);
}
