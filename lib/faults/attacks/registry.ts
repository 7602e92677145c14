/**
 * The one registry of Byzantine gradient attacks: name -> factory over the pure attacks of this
 * folder, the option fields each takes (kind, default, bounds) and what it needs of the honest
 * ranks' vectors. Both places that inject attacks read it: the outbox fault seam of `zcoll bench
 * --byzantine` (lib/faults/rank-faults.ts) and the training contribution hook (lib/train/byzantine.ts),
 * so an attack name, a field and a default mean the same in both.
 *
 * Spec grammar (lib/faults/byzantine-spec.ts parses it, for both places):
 *     attack:ranks=R[+R...][,field=value...]
 * e.g. 'alie:ranks=2,tau=1.5', 'gaussian:ranks=1+3,sigma=10', 'nan:ranks=0,fraction=0.5'.
 * Ranks are joined by '+', fields by ',', so a list of ranks can never be read as a field. Attack
 * names ignore case, '-' and '_' ('scaled-flip' = 'scaledflip'). The spellings of the two older
 * parsers that listed several ranks with ',' ('signflip:ranks=1,3') or put ':' between fields
 * ('alie:ranks=2:tau=1.5') fail with EINVAL that shows the spec rewritten in this grammar.
 *
 * Honest vectors: 'required' attacks (alie, ipm, mimic) are defined by the honest ranks' vectors of
 * the round and run only where a site knows them (the training hook with `honestGradients`; the
 * bench's robust case); elsewhere they are refused with EINVAL. 'own-fallback' (signflip) sends
 * -mean(honest) where they are known and -own where not, still an attack on the rank's own vector.
 * label-flip.ts is a data-side attack (it changes labels, not vectors) and is not in the registry.
 */
import { ZcollError } from '../../errors.js';
import type { GradientAttack } from './attack.js';
import { alie } from './alie.js';
import { gaussian } from './gaussian.js';
import { ipm } from './ipm.js';
import { mimic } from './mimic.js';
import { nonFinite } from './non-finite.js';
import { scaledFlip } from './scaled-flip.js';
import { signFlip } from './sign-flip.js';
import { zero } from './zero.js';

export const BYZANTINE_ATTACKS = ['alie', 'ipm', 'signflip', 'mimic', 'scaledflip', 'gaussian', 'zero', 'nan', 'inf'] as const;
export type ByzantineAttackName = (typeof BYZANTINE_ATTACKS)[number];

/** A value of an attack's option field: numbers, and 'flag' fields as booleans. */
export type AttackOptionValue = number | boolean;
export type AttackOptions = Readonly<Record<string, AttackOptionValue>>;

export interface AttackField {
  readonly name: string;
  /** 'number': any finite number within the bounds; 'integer': also whole; 'flag': true/false (or 1/0). */
  readonly kind: 'number' | 'integer' | 'flag';
  readonly default: AttackOptionValue;
  /** Lower bound, inclusive unless `minExclusive`. */
  readonly min?: number;
  readonly minExclusive?: boolean;
  /** Upper bound, inclusive. */
  readonly max?: number;
  readonly doc: string;
}

/** What an attack needs of the honest ranks' vectors of the round (see the header). */
export type HonestNeed = 'none' | 'required' | 'own-fallback';

export interface AttackEntry {
  readonly name: ByzantineAttackName;
  readonly doc: string;
  readonly fields: readonly AttackField[];
  readonly honest: HonestNeed;
  /** Builds the attack from options already checked and completed with the defaults. */
  readonly make: (options: ResolvedOptions) => GradientAttack;
}

/** Typed reads of checked options (every field of the entry is present). */
export interface ResolvedOptions {
  number(name: string): number;
  flag(name: string): boolean;
}

export const ATTACK_REGISTRY: Readonly<Record<ByzantineAttackName, AttackEntry>> = {
  alie: {
    name: 'alie',
    doc: 'A Little Is Enough: mean(honest) + tau * std(honest)',
    fields: [{ name: 'tau', kind: 'number', default: 1.5, doc: 'multiple of the honest standard deviation' }],
    honest: 'required',
    make: (o) => alie({ tau: o.number('tau') }),
  },
  ipm: {
    name: 'ipm',
    doc: 'inner product manipulation: -tau * mean(honest)',
    fields: [{ name: 'tau', kind: 'number', default: 2, doc: 'scale of the negated honest mean' }],
    honest: 'required',
    make: (o) => ipm({ tau: o.number('tau') }),
  },
  signflip: {
    name: 'signflip',
    doc: '-mean(honest), or -own where the honest vectors are not known',
    fields: [],
    honest: 'own-fallback',
    make: () => signFlip(),
  },
  mimic: {
    name: 'mimic',
    doc: 'a copy of one honest rank\'s vector',
    fields: [{ name: 'target', kind: 'integer', default: 0, min: 0, doc: 'index into the honest vectors of the round' }],
    honest: 'required',
    make: (o) => mimic({ target: o.number('target') }),
  },
  scaledflip: {
    name: 'scaledflip',
    doc: '-scale * own (the BGMD code\'s bit flip)',
    fields: [{ name: 'scale', kind: 'number', default: 5, doc: 'multiple of the negated own vector' }],
    honest: 'none',
    make: (o) => scaledFlip({ scale: o.number('scale') }),
  },
  gaussian: {
    name: 'gaussian',
    doc: 'i.i.d. N(mu, sigma^2) values, or own + that noise with additive=true',
    fields: [
      { name: 'mu', kind: 'number', default: 0, doc: 'mean of the noise' },
      { name: 'sigma', kind: 'number', default: 1, min: 0, minExclusive: true, doc: 'standard deviation of the noise' },
      { name: 'additive', kind: 'flag', default: false, doc: 'add the noise to the own vector instead of replacing it' },
    ],
    honest: 'none',
    make: (o) => gaussian({ mu: o.number('mu'), sigma: o.number('sigma'), additive: o.flag('additive') }),
  },
  zero: {
    name: 'zero',
    doc: 'zeros (a free rider)',
    fields: [],
    honest: 'none',
    make: () => zero(),
  },
  nan: {
    name: 'nan',
    doc: 'NaN in a fraction of the coordinates',
    fields: [{ name: 'fraction', kind: 'number', default: 1, min: 0, minExclusive: true, max: 1, doc: 'fraction of coordinates overwritten' }],
    honest: 'none',
    make: (o) => nonFinite({ value: 'nan', fraction: o.number('fraction') }),
  },
  inf: {
    name: 'inf',
    doc: '+Inf in a fraction of the coordinates',
    fields: [{ name: 'fraction', kind: 'number', default: 1, min: 0, minExclusive: true, max: 1, doc: 'fraction of coordinates overwritten' }],
    honest: 'none',
    make: (o) => nonFinite({ value: 'inf', fraction: o.number('fraction') }),
  },
};

/** 'Scaled-Flip' -> 'scaledflip'; undefined when no attack has that name. */
export function attackNamed(name: string): ByzantineAttackName | undefined {
  const key = name.trim().toLowerCase().replace(/[-_]/g, '');
  return (BYZANTINE_ATTACKS as readonly string[]).includes(key) ? (key as ByzantineAttackName) : undefined;
}

/** The bounds of a field in words, for error messages: 'a number in (0, 1]'. */
export function describeField(field: AttackField): string {
  if (field.kind === 'flag') return 'true or false (1 or 0)';
  const what = field.kind === 'integer' ? 'an integer' : 'a finite number';
  if (field.min !== undefined && field.max !== undefined) return `${what} in ${field.minExclusive === true ? '(' : '['}${field.min}, ${field.max}]`;
  if (field.min !== undefined) return `${what} ${field.minExclusive === true ? '>' : '>='} ${field.min}`;
  if (field.max !== undefined) return `${what} <= ${field.max}`;
  return what;
}

/** Whether `value` is a valid value of `field`; flags must already be booleans here. */
export function fieldAccepts(field: AttackField, value: AttackOptionValue): boolean {
  if (field.kind === 'flag') return typeof value === 'boolean';
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  if (field.kind === 'integer' && !Number.isInteger(value)) return false;
  if (field.min !== undefined && (field.minExclusive === true ? value <= field.min : value < field.min)) return false;
  return field.max === undefined || value <= field.max;
}

/**
 * The attack `name` with `options` (fields the spec gave; the defaults fill the rest). The spec
 * parser has checked them already; this checks again so that a hand-built spec cannot slip through.
 */
export function createAttack(name: ByzantineAttackName, options: AttackOptions = {}): GradientAttack {
  const entry = ATTACK_REGISTRY[name];
  if (entry === undefined) throw new ZcollError('EINVAL', `unknown attack '${String(name)}' (${BYZANTINE_ATTACKS.join(', ')})`, { op: 'createAttack' });
  const values = new Map<string, AttackOptionValue>();
  for (const f of entry.fields) values.set(f.name, f.default);
  for (const [key, value] of Object.entries(options)) {
    const field = entry.fields.find((f) => f.name === key);
    if (field === undefined) throw new ZcollError('EINVAL', `attack '${name}' has no field '${key}' (fields: ${fieldNames(entry)})`, { op: 'createAttack' });
    if (!fieldAccepts(field, value)) throw new ZcollError('EINVAL', `field '${key}' of attack '${name}' must be ${describeField(field)}, got ${String(value)}`, { op: 'createAttack' });
    values.set(key, value);
  }
  const read = (key: string): AttackOptionValue => {
    const v = values.get(key);
    if (v === undefined) throw new ZcollError('EINTERNAL', `attack '${name}' reads field '${key}', which its registry entry does not declare`, { op: 'createAttack' });
    return v;
  };
  return entry.make({ number: (key) => Number(read(key)), flag: (key) => read(key) === true });
}

export function fieldNames(entry: AttackEntry): string {
  return entry.fields.length === 0 ? 'none' : entry.fields.map((f) => f.name).join(', ');
}

/** Attacks that cannot run without the honest vectors, for error messages. */
export function attacksNeedingHonest(): ByzantineAttackName[] {
  return BYZANTINE_ATTACKS.filter((a) => ATTACK_REGISTRY[a].honest === 'required');
}
