/**
 * Byzantine ranks for training experiments, as the `--byzantine` flag writes them:
 * 'alie:ranks=2', 'scaledflip:ranks=1', 'gaussian:ranks=1,3:sigma=10' (attack, then ':key=value'
 * options; `ranks` lists the Byzantine ranks). On a Byzantine rank, `byzantineContribution` returns
 * the DistributedOptimizer's `contribution` hook: it applies an attack of lib/faults/attacks to
 * this rank's OWN gradient before it is sent, so the attack reaches the other ranks exactly as a
 * malicious process's message would, and (with the direct all-gather of 'robust' and 'signum') can
 * corrupt nothing else. Omniscient attacks (alie, ipm, signflip, mimic) need the honest ranks'
 * gradients of the round: pass `honestGradients` (an experiment can recompute them, since data
 * shards and weights are known to every rank); without it the attacker's own gradient stands in
 * for the honest mean, a weaker, non-omniscient attacker. Noise is per (seed, round, rank).
 * Why not the outbox fault seam (comm.setFaultSeam): the seam sees wire segments, including chunks
 * a rank merely relays in ring collectives, and sign words rather than gradients; attacking the
 * contribution itself is what a malicious process would send, under every strategy alike.
 */
import { ZcollError } from '../errors.js';
import { ByzantineSet } from '../faults/attacks/byzantine-set.js';
import type { GradientAttack } from '../faults/attacks/attack.js';
import { alie } from '../faults/attacks/alie.js';
import { gaussian } from '../faults/attacks/gaussian.js';
import { ipm } from '../faults/attacks/ipm.js';
import { mimic } from '../faults/attacks/mimic.js';
import { scaledFlip } from '../faults/attacks/scaled-flip.js';
import { signFlip } from '../faults/attacks/sign-flip.js';
import { zero } from '../faults/attacks/zero.js';
import type { ContributionHook } from './distributed-optimizer.js';

export interface ByzantineSpec {
  readonly attack: ByzantineAttackName;
  readonly ranks: readonly number[];
  readonly options: Readonly<Record<string, number>>;
}

const ATTACKS = {
  alie: (o: Record<string, number>) => alie(o.tau !== undefined ? { tau: o.tau } : {}),
  ipm: (o: Record<string, number>) => ipm(o.tau !== undefined ? { tau: o.tau } : {}),
  scaledflip: (o: Record<string, number>) => scaledFlip(o.scale !== undefined ? { scale: o.scale } : {}),
  signflip: () => signFlip(),
  gaussian: (o: Record<string, number>) => gaussian({ ...(o.mu !== undefined ? { mu: o.mu } : {}), ...(o.sigma !== undefined ? { sigma: o.sigma } : {}), ...(o.additive !== undefined ? { additive: o.additive !== 0 } : {}) }),
  mimic: () => mimic(),
  zero: () => zero(),
} satisfies Record<string, (o: Record<string, number>) => GradientAttack>;

export type ByzantineAttackName = keyof typeof ATTACKS;
export const BYZANTINE_ATTACKS = Object.keys(ATTACKS) as ByzantineAttackName[];
const OMNISCIENT: ReadonlySet<ByzantineAttackName> = new Set(['alie', 'ipm', 'signflip', 'mimic']);

/** Parses 'attack:ranks=1,2:key=value'; EINVAL naming the bad part. */
export function parseByzantineSpec(text: string, size?: number): ByzantineSpec {
  const op = 'parseByzantineSpec';
  if (typeof text !== 'string' || text.length === 0) throw new ZcollError('EINVAL', `--byzantine: expected 'attack:ranks=R[,R...]', got ${JSON.stringify(text)}`, { op });
  const [name, ...parts] = text.split(':');
  const attack = name.toLowerCase().replace(/[-_]/g, '');
  if (!(attack in ATTACKS)) throw new ZcollError('EINVAL', `--byzantine: unknown attack '${name}'; known: ${BYZANTINE_ATTACKS.join(', ')}`, { op });
  let ranks: number[] | undefined;
  const options: Record<string, number> = {};
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ZcollError('EINVAL', `--byzantine: '${part}' is not key=value in ${JSON.stringify(text)}`, { op });
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (key === 'ranks') {
      ranks = value.split(',').map((v) => {
        const r = Number(v);
        if (!Number.isInteger(r) || r < 0 || (size !== undefined && r >= size)) {
          throw new ZcollError('EINVAL', `--byzantine: rank '${v}' is not a rank in 0..${size !== undefined ? size - 1 : 'n-1'}`, { op });
        }
        return r;
      });
    } else {
      const x = Number(value);
      if (!Number.isFinite(x)) throw new ZcollError('EINVAL', `--byzantine: option ${key} must be a number, got '${value}'`, { op });
      options[key] = x;
    }
  }
  if (ranks === undefined || ranks.length === 0) throw new ZcollError('EINVAL', `--byzantine: ${JSON.stringify(text)} names no ranks (add ':ranks=1')`, { op });
  return { attack: attack as ByzantineAttackName, ranks: [...new Set(ranks)].sort((a, b) => a - b), options };
}

export interface ByzantineContext {
  readonly rank: number;
  readonly size: number;
  /** Seed of the noise streams (default 1). */
  readonly seed?: number;
  /** The honest ranks' gradients of this step (omniscient attacks). */
  readonly honestGradients?: (step: number) => Promise<Float32Array[]>;
}

/** The contribution hook of this rank under `spec`, or undefined when this rank is honest. */
export function byzantineContribution(spec: ByzantineSpec, ctx: ByzantineContext): ContributionHook | undefined {
  if (!spec.ranks.includes(ctx.rank)) return undefined;
  if (spec.ranks.length >= ctx.size) throw new ZcollError('EINVAL', `--byzantine: every rank is Byzantine (${spec.ranks.join(',')} of ${ctx.size})`, { rank: ctx.rank, op: 'byzantineContribution' });
  const attack = ATTACKS[spec.attack](spec.options as Record<string, number>);
  const set = new ByzantineSet({ workers: ctx.size, members: spec.ranks, seed: ctx.seed ?? 1 });
  const needsHonest = OMNISCIENT.has(spec.attack);
  return async ({ own, step }) => {
    const honest = needsHonest ? (ctx.honestGradients !== undefined ? await ctx.honestGradients(step) : [own]) : [];
    return attack({ own, honest, prng: set.noise(step, ctx.rank) });
  };
}
