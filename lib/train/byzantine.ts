/**
 * Byzantine ranks for training experiments. The spec is the one of `zcoll bench --byzantine`
 * (lib/faults/byzantine-spec.ts: 'scaledflip:ranks=1', 'gaussian:ranks=1+3,sigma=10'; attacks and
 * fields in lib/faults/attacks/registry.ts). On a Byzantine rank, `byzantineContribution` returns
 * the DistributedOptimizer's `contribution` hook: it applies the attack to this rank's OWN gradient
 * before it is sent, so the attack reaches the other ranks exactly as a malicious process's message
 * would, and (with the direct all-gather of 'robust' and 'signum') can corrupt nothing else.
 * Attacks made of the honest ranks' gradients (alie, ipm, mimic) need `honestGradients` (an
 * experiment can recompute them, since data shards and weights are known to every rank) and are
 * refused without it; signflip uses them when given and negates the rank's own gradient otherwise.
 * Noise is per (seed, round, rank).
 * Why not the outbox fault seam (comm.setFaultSeam): the seam sees wire segments, including chunks
 * a rank merely relays in ring collectives, and sign words rather than gradients; attacking the
 * contribution itself is what a malicious process would send, under every strategy alike.
 */
import { ZcollError } from '../errors.js';
import { ByzantineSet } from '../faults/attacks/byzantine-set.js';
import { ATTACK_REGISTRY, createAttack } from '../faults/attacks/registry.js';
import { formatByzantineSpec, type ByzantineSpec } from '../faults/byzantine-spec.js';
import type { ContributionHook } from './distributed-optimizer.js';

export interface ByzantineContext {
  readonly rank: number;
  readonly size: number;
  /** Seed of the noise streams (default 1). */
  readonly seed?: number;
  /** The honest ranks' gradients of this step (required by alie, ipm and mimic). */
  readonly honestGradients?: (step: number) => Promise<Float32Array[]>;
}

/**
 * The contribution hook of this rank under `spec`, or undefined when this rank is honest. The
 * checks run on every rank, so that a spec that cannot run fails everywhere alike.
 */
export function byzantineContribution(spec: ByzantineSpec, ctx: ByzantineContext): ContributionHook | undefined {
  const op = 'byzantineContribution';
  const need = ATTACK_REGISTRY[spec.attack].honest;
  if (need === 'required' && ctx.honestGradients === undefined) {
    throw new ZcollError('EINVAL', `byzantine spec '${formatByzantineSpec(spec)}': ${spec.attack} is made of the honest ranks' gradients: pass honestGradients`, { rank: ctx.rank, op });
  }
  for (const r of spec.ranks) {
    if (r >= ctx.size) throw new ZcollError('EINVAL', `byzantine spec '${formatByzantineSpec(spec)}': rank ${r} is not in the world of ranks 0..${ctx.size - 1}`, { rank: ctx.rank, op });
  }
  if (spec.ranks.length >= ctx.size) throw new ZcollError('EINVAL', `byzantine spec '${formatByzantineSpec(spec)}': every rank is Byzantine (${spec.ranks.join(',')} of ${ctx.size})`, { rank: ctx.rank, op });
  if (!spec.ranks.includes(ctx.rank)) return undefined;
  const attack = createAttack(spec.attack, spec.options);
  const set = new ByzantineSet({ workers: ctx.size, members: spec.ranks, seed: ctx.seed ?? 1 });
  const honestGradients = ctx.honestGradients;
  return async ({ own, step }) => {
    // signflip without the honest gradients negates the own one: [own] stands in for them.
    const honest = need === 'none' ? [] : honestGradients !== undefined ? await honestGradients(step) : [own];
    return attack({ own, honest, prng: set.noise(step, ctx.rank) });
  };
}
