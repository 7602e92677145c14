/**
 * The one spelling of a Byzantine fault, read by `zcoll bench --byzantine` and `--faults FILE.json`
 * (lib/faults/plan.ts) and by the training examples' `--byzantine` (lib/train/byzantine.ts):
 *     attack:ranks=R[+R...][,field=value...]      e.g. 'gaussian:ranks=1+3,sigma=10'
 * The attacks, their fields, defaults and bounds are those of lib/faults/attacks/registry.ts. Ranks
 * are joined by '+' because ',' separates fields: the two older parsers read 'ranks=1,3' as a list
 * of ranks (and then needed a rule for where the list ends) or put ':' between fields; both
 * spellings now fail with EINVAL that shows the spec rewritten in this grammar, so a script written
 * for either parser learns the fix from the error instead of silently meaning something else.
 * The JSON form of a fault plan is { "attack": "alie", "ranks": [2], "tau": 1.5 }.
 */
import { ZcollError } from '../errors.js';
import {
  ATTACK_REGISTRY,
  BYZANTINE_ATTACKS,
  attackNamed,
  describeField,
  fieldAccepts,
  fieldNames,
  type AttackOptionValue,
  type AttackOptions,
  type ByzantineAttackName,
} from './attacks/registry.js';

export const BYZANTINE_SPEC_GRAMMAR = 'attack:ranks=R[+R...][,field=value...]';
const EXAMPLE = "'gaussian:ranks=1+3,sigma=10'";

export interface ByzantineSpec {
  readonly attack: ByzantineAttackName;
  /** The Byzantine ranks, ascending, each once. */
  readonly ranks: readonly number[];
  /** Only the fields the spec gave: the registry's defaults fill the rest when the attack is made. */
  readonly options: AttackOptions;
}

/** Where a spec came from and how to spell it right, for the errors of one parse. */
interface Source {
  /** "byzantine spec 'x'" or "f.json: byzantine[0]". */
  readonly subject: string;
  /** The grammar (text specs) or the JSON shape (file entries). */
  readonly hint: string;
}

function fail(src: Source, problem: string): never {
  throw new ZcollError('EINVAL', `${src.subject}: ${problem} (${src.hint})`);
}

/**
 * Parses 'alie:ranks=2,tau=1.5' and the like. With `size`, every rank must be below it. EINVAL
 * names the spec, the bad part and the grammar.
 */
export function parseByzantineSpec(text: string, size?: number): ByzantineSpec {
  const src: Source = { subject: `byzantine spec ${JSON.stringify(text)}`, hint: `grammar: ${BYZANTINE_SPEC_GRAMMAR}, e.g. ${EXAMPLE}` };
  if (typeof text !== 'string' || text.trim().length === 0) fail(src, 'must be a non-empty string');
  const trimmed = text.trim();
  const colon = trimmed.indexOf(':');
  if (colon < 0) fail(src, `expected an attack name, ':' and at least 'ranks=R'`);
  const kind = trimmed.slice(0, colon).trim();
  const body = trimmed.slice(colon + 1);
  // The older spellings ('ranks=1,3', 'ranks=1:tau=2'): when the rewrite parses, the error shows it.
  const olderSpelling = (): string => {
    const rewrite = modernSpelling(kind, body);
    return rewrite !== undefined ? `; write '${rewrite}'` : '';
  };
  if (body.includes(':')) fail(src, `fields are separated by ',', not ':'${olderSpelling()}`);
  const fields = new Map<string, string>();
  let previous = '';
  for (const raw of body.split(',')) {
    const token = raw.trim();
    if (token.length === 0) fail(src, 'empty field');
    const eq = token.indexOf('=');
    if (eq < 0) fail(src, `'${token}' is not a field=value pair${previous === 'ranks' ? `; several ranks are joined with '+'${olderSpelling()}` : ''}`);
    const name = token.slice(0, eq).trim();
    const value = token.slice(eq + 1).trim();
    if (fields.has(name)) fail(src, `field '${name}' given twice`);
    if (value.length === 0) fail(src, `field '${name}' has no value`);
    fields.set(name, value);
    previous = name;
  }
  const ranks = fields.get('ranks');
  fields.delete('ranks');
  return buildSpec(src, kind, ranks === undefined ? undefined : ranks.split('+'), fields, size);
}

/** One entry of a fault plan's "byzantine" list: a spec string or { "attack", "ranks": [...], fields }. */
export function byzantineSpecFromJson(value: unknown, where: string, size?: number): ByzantineSpec {
  if (typeof value === 'string') return parseByzantineSpec(value, size);
  const src: Source = { subject: where, hint: 'written like { "attack": "alie", "ranks": [2], "tau": 1.5 } or as a spec string' };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(src, 'must be a spec string or an object');
  const o = value as Record<string, unknown>;
  if (typeof o.attack !== 'string') fail(src, `field 'attack' must be one of ${BYZANTINE_ATTACKS.join(', ')}`);
  if (!Array.isArray(o.ranks)) fail(src, "field 'ranks' must be an array of rank numbers");
  const fields = new Map<string, string>();
  for (const [k, v] of Object.entries(o)) {
    if (k === 'attack' || k === 'ranks') continue;
    if (typeof v !== 'number' && typeof v !== 'boolean') fail(src, `field '${k}' must be a number${typeof v === 'string' ? ` (or a boolean), got the string '${v}'` : ''}`);
    fields.set(k, String(v));
  }
  return buildSpec(src, o.attack, (o.ranks as unknown[]).map(String), fields, size);
}

/** The spec in the grammar above; parseByzantineSpec(formatByzantineSpec(s)) equals s. */
export function formatByzantineSpec(spec: ByzantineSpec): string {
  return `${spec.attack}:ranks=${spec.ranks.join('+')}${Object.entries(spec.options)
    .map(([k, v]) => `,${k}=${String(v)}`)
    .join('')}`;
}

function buildSpec(src: Source, kind: string, rankTokens: readonly string[] | undefined, fields: ReadonlyMap<string, string>, size: number | undefined): ByzantineSpec {
  const attack = attackNamed(kind);
  if (attack === undefined) fail(src, `unknown attack '${kind}' (attacks: ${BYZANTINE_ATTACKS.join(', ')})`);
  const entry = ATTACK_REGISTRY[attack];
  if (rankTokens === undefined || rankTokens.length === 0) fail(src, "field 'ranks' is required");
  const ranks = rankTokens.map((token) => {
    const r = Number(token);
    if (token.trim().length === 0 || !Number.isInteger(r) || r < 0) fail(src, `field 'ranks' must list integers >= 0, got ${token === '' ? 'an empty rank' : `'${token}'`}`);
    if (size !== undefined && r >= size) fail(src, `field 'ranks' names rank ${r}, but the world has ranks 0..${size - 1}`);
    return r;
  });
  if (new Set(ranks).size !== ranks.length) fail(src, "field 'ranks' lists a rank twice");
  const options: Record<string, AttackOptionValue> = {};
  for (const [name, raw] of fields) {
    const field = entry.fields.find((f) => f.name === name);
    if (field === undefined) fail(src, `unknown field '${name}' for ${attack} (fields: ranks${entry.fields.length > 0 ? `, ${fieldNames(entry)}` : ''})`);
    const value = field.kind === 'flag' ? flagValue(raw) : Number(raw);
    if (value === undefined || !fieldAccepts(field, value)) fail(src, `field '${name}' must be ${describeField(field)}, got '${raw}'`);
    options[name] = value;
  }
  return { attack, ranks: ranks.sort((a, b) => a - b), options };
}

function flagValue(raw: string): boolean | undefined {
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  return undefined;
}

/**
 * The older spellings rewritten: ':' between fields becomes ',' and a bare value after 'ranks=...'
 * joins the rank list with '+'. Undefined when the rewrite would not parse either.
 */
function modernSpelling(kind: string, body: string): string | undefined {
  const parts: string[] = [];
  for (const raw of body.split(/[:,]/)) {
    const token = raw.trim();
    if (token.length === 0) return undefined;
    if (token.includes('=')) parts.push(token);
    else if (parts.length > 0 && parts[parts.length - 1].startsWith('ranks=')) parts[parts.length - 1] += `+${token}`;
    else return undefined;
  }
  const rewrite = `${kind}:${parts.join(',')}`;
  try {
    parseByzantineSpec(rewrite);
    return rewrite;
  } catch {
    return undefined;
  }
}
