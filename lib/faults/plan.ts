/**
 * Fault plans as data: stragglers, Byzantine ranks and crashes of one run, from a JSON file
 * (`--faults FILE.json`) and/or short CLI specs (`--stragglers`, `--byzantine`, `--kill`), merged
 * into one FaultPlan. rank-faults.ts turns a plan into the FaultSeam of one rank
 * (lib/transport/outbox.ts), where every fault acts, so every collective and every aggregator sees
 * the same faults. Steps count from 0 over the whole run (warm-up iterations included), identically
 * on every rank.
 *
 * Short forms:  stragglers 'ge:p=0.1,q=0.7,slow=3' | 'fixed:ranks=1,3,delay=50ms' (see stragglers.ts)
 *               byzantine  'attack:ranks=R[+R...][,field=value...]', e.g. 'alie:ranks=2,tau=1.5',
 *                          'gaussian:ranks=1+3,sigma=10' (byzantine-spec.ts; attacks and fields:
 *                          attacks/registry.ts)
 *               kill       'rank=2,at=step5' (also 'kill:rank=2,at=5')
 * JSON: { "stragglers": "<spec>", "byzantine": ["<spec>" | { "attack": "alie", "ranks": [2], "tau": 1.5 }],
 *         "kill": "<spec>" | { "rank": 2, "at": 5 }, "seed": 1 }
 */
import { readFileSync } from 'node:fs';
import { ZcollError, check } from '../errors.js';
import { createStragglerModel, parseStragglerSpec, type StragglerSpec } from './stragglers.js';
import { byzantineSpecFromJson, parseByzantineSpec, type ByzantineSpec } from './byzantine-spec.js';

export interface KillFault {
  readonly rank: number;
  /** The step (0-based collective call of the run) at which the rank's process exits. */
  readonly at: number;
}

export interface FaultPlan {
  readonly stragglers?: StragglerSpec;
  readonly byzantine: readonly ByzantineSpec[];
  readonly kill?: KillFault;
  /** Seeds the attacks' noise (and replaces the straggler spec's seed when given). */
  readonly seed: number;
}

export const EMPTY_PLAN: FaultPlan = { byzantine: [], seed: 1 };

/** 'kill:f=v,g=w' (the prefix optional) into the prefix and its fields. */
function splitSpec(text: string, what: string): { kind: string; fields: Map<string, string> } {
  check(typeof text === 'string' && text.trim().length > 0, 'EINVAL', () => `${what} spec must be a non-empty string`);
  const trimmed = text.trim();
  const colon = trimmed.indexOf(':');
  const kind = colon < 0 ? '' : trimmed.slice(0, colon).trim();
  const body = colon < 0 ? trimmed : trimmed.slice(colon + 1);
  const fields = new Map<string, string>();
  for (const raw of body.split(',')) {
    const token = raw.trim();
    const eq = token.indexOf('=');
    check(eq > 0, 'EINVAL', () => `${what} spec '${text}': '${token}' is not a field=value pair`);
    const name = token.slice(0, eq).trim();
    const value = token.slice(eq + 1).trim();
    check(!fields.has(name), 'EINVAL', () => `${what} spec '${text}': field '${name}' given twice`);
    check(value.length > 0, 'EINVAL', () => `${what} spec '${text}': field '${name}' has no value`);
    fields.set(name, value);
  }
  return { kind, fields };
}

/** Parses 'rank=2,at=step5' (or 'kill:rank=2,at=5'); EINVAL names the bad field. */
export function parseKillSpec(text: string): KillFault {
  const { kind, fields } = splitSpec(text, 'kill');
  check(kind === '' || kind === 'kill', 'EINVAL', () => `kill spec '${text}': expected 'rank=R,at=stepK', got the prefix '${kind}:'`);
  for (const f of fields.keys()) check(f === 'rank' || f === 'at', 'EINVAL', () => `kill spec '${text}': unknown field '${f}' (fields: rank, at)`);
  const rawRank = fields.get('rank');
  const rawAt = fields.get('at');
  check(rawRank !== undefined, 'EINVAL', () => `kill spec '${text}': field 'rank' is required`);
  check(rawAt !== undefined, 'EINVAL', () => `kill spec '${text}': field 'at' is required (a step, like at=step5)`);
  const rank = Number(rawRank);
  check(Number.isInteger(rank) && rank >= 0, 'EINVAL', () => `kill spec '${text}': field 'rank' must be an integer >= 0, got '${rawRank}'`);
  const m = /^(?:step)?(\d+)$/.exec(rawAt);
  check(m !== null, 'EINVAL', () => `kill spec '${text}': field 'at' must be a step like 'step5' or '5', got '${rawAt}'`);
  return { rank, at: Number(m[1]) };
}

/** Validates a parsed fault-plan JSON object; `source` names it in errors. */
export function parseFaultPlan(raw: unknown, source: string): FaultPlan {
  check(typeof raw === 'object' && raw !== null && !Array.isArray(raw), 'EINVAL', () => `${source}: a fault plan must be a JSON object with stragglers, byzantine, kill, seed`);
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) check(['stragglers', 'byzantine', 'kill', 'seed', 'description'].includes(k), 'EINVAL', () => `${source}: unknown field '${k}' (fields: stragglers, byzantine, kill, seed)`);
  let stragglers: StragglerSpec | undefined;
  if (o.stragglers !== undefined) {
    check(typeof o.stragglers === 'string', 'EINVAL', () => `${source}: field 'stragglers' must be a spec string like 'ge:p=0.1,q=0.7,slow=3'`);
    stragglers = parseStragglerSpec(o.stragglers);
  }
  const byzList = o.byzantine === undefined ? [] : Array.isArray(o.byzantine) ? o.byzantine : [o.byzantine];
  const byzantine = byzList.map((b, i) => byzantineSpecFromJson(b, `${source}: byzantine[${i}]`));
  let kill: KillFault | undefined;
  if (typeof o.kill === 'string') kill = parseKillSpec(o.kill);
  else if (o.kill !== undefined) {
    check(typeof o.kill === 'object' && o.kill !== null, 'EINVAL', () => `${source}: field 'kill' must be a spec string or { "rank": R, "at": K }`);
    const k = o.kill as Record<string, unknown>;
    kill = parseKillSpec(`rank=${String(k.rank)},at=${String(k.at)}`);
  }
  const seed = o.seed === undefined ? 1 : o.seed;
  check(typeof seed === 'number' && Number.isInteger(seed) && seed >= 0, 'EINVAL', () => `${source}: field 'seed' must be an integer >= 0, got ${JSON.stringify(seed)}`);
  return { ...(stragglers !== undefined && stragglers.kind !== 'none' ? { stragglers } : {}), byzantine, ...(kill !== undefined ? { kill } : {}), seed };
}

export interface FaultFlags {
  /** --faults FILE.json */
  file?: string;
  stragglers?: string;
  byzantine?: readonly string[];
  kill?: string;
  seed?: number;
}

/** One plan from the file and the short flags; a short flag replaces the file's entry of its kind. */
export function buildFaultPlan(flags: FaultFlags): FaultPlan {
  let plan: FaultPlan = EMPTY_PLAN;
  if (flags.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(flags.file, 'utf8');
    } catch (e) {
      throw new ZcollError('EINVAL', `--faults: cannot read '${flags.file}': ${(e as Error).message}`, {}, { cause: e });
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text) as unknown;
    } catch (e) {
      throw new ZcollError('EINVAL', `--faults: '${flags.file}' is not JSON: ${(e as Error).message}`, {}, { cause: e });
    }
    plan = parseFaultPlan(raw, flags.file);
  }
  const stragglers = flags.stragglers !== undefined ? parseStragglerSpec(flags.stragglers) : plan.stragglers;
  const byzantine = flags.byzantine !== undefined && flags.byzantine.length > 0 ? flags.byzantine.map((text) => parseByzantineSpec(text)) : plan.byzantine;
  const kill = flags.kill !== undefined ? parseKillSpec(flags.kill) : plan.kill;
  const seed = flags.seed ?? plan.seed;
  return { ...(stragglers !== undefined && stragglers.kind !== 'none' ? { stragglers } : {}), byzantine, ...(kill !== undefined ? { kill } : {}), seed };
}

export function planIsEmpty(plan: FaultPlan): boolean {
  return plan.stragglers === undefined && plan.byzantine.length === 0 && plan.kill === undefined;
}

/** Ranks named by the plan must exist; a rank may follow one attack only. */
export function checkPlanForWorld(plan: FaultPlan, size: number): void {
  const seen = new Set<number>();
  for (const b of plan.byzantine) {
    for (const r of b.ranks) {
      check(r < size, 'EINVAL', () => `byzantine ${b.attack}: field 'ranks' names rank ${r}, but the world has ranks 0..${size - 1}`);
      check(!seen.has(r), 'EINVAL', () => `byzantine: rank ${r} is given two attacks`);
      seen.add(r);
    }
  }
  if (plan.kill !== undefined) check(plan.kill.rank < size, 'EINVAL', () => `kill: field 'rank' names rank ${plan.kill!.rank}, but the world has ranks 0..${size - 1}`);
  if (plan.stragglers !== undefined) createStragglerModel(plan.stragglers, { size, seed: plan.seed });
}

/** Short text of the plan for the bench's header line. */
export function describePlan(plan: FaultPlan): string {
  const parts: string[] = [];
  const s = plan.stragglers;
  if (s !== undefined) parts.push(`stragglers ${s.kind}${s.kind === 'fixed' ? ` ranks ${s.ranks.join(',')}` : ''}${'slow' in s && s.slow > 1 ? ` slow x${s.slow}` : ''}${'delayMs' in s && s.delayMs > 0 ? ` +${s.delayMs} ms` : ''}`);
  for (const b of plan.byzantine) parts.push(`byzantine ${b.attack} ranks ${b.ranks.join(',')}`);
  if (plan.kill !== undefined) parts.push(`kill rank ${plan.kill.rank} at step ${plan.kill.at}`);
  return parts.length === 0 ? 'none' : parts.join('; ');
}
