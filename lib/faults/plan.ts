/**
 * Fault plans as data: stragglers, Byzantine ranks and crashes of one run, from a JSON file
 * (`--faults FILE.json`) and/or short CLI specs (`--stragglers`, `--byzantine`, `--kill`), merged
 * into one FaultPlan, and turned into the FaultSeam of one rank (lib/transport/outbox.ts). Every
 * fault acts at that seam only, so every collective and every aggregator sees the same faults:
 *  - stragglers: at the start of each step (one collective call of the bench) the straggler model
 *    (lib/faults/stragglers.ts) says how much longer this rank's work takes; every message the
 *    rank sends during the step waits until that extra time has passed since the step began;
 *  - Byzantine ranks: the payload of this rank's own contributions is replaced by the attack's
 *    output (lib/faults/attacks). In direct exchanges (robust aggregation, sign votes) that is the
 *    message whose transfer is the rank itself; in relayed collectives (ring, trees) every data
 *    payload the rank sends carries its contribution, so all of them are replaced: a relay that
 *    lies corrupts what it forwards, which is why robust aggregation never relays;
 *  - crashes: the rank's process exits at its first message of the given step.
 * Steps count from 0 over the whole run (warm-up iterations included), identically on every rank.
 * Cost: O(1) per message, plus O(payload) to decode, attack and re-encode a Byzantine payload.
 *
 * Short forms:  stragglers 'ge:p=0.1,q=0.7,slow=3' | 'fixed:ranks=1,3,delay=50ms' (see stragglers.ts)
 *               byzantine  'alie:ranks=2,tau=1.5' | 'signflip:ranks=1' | 'gaussian:ranks=1,sigma=10,mu=0'
 *                          | 'nan:ranks=1,fraction=0.5' | 'inf:ranks=0'
 *               kill       'rank=2,at=step5' (also 'kill:rank=2,at=5')
 * JSON: { "stragglers": "<spec>", "byzantine": ["<spec>" | { "attack": "alie", "ranks": [2], "tau": 1.5 }],
 *         "kill": "<spec>" | { "rank": 2, "at": 5 }, "seed": 1 }
 */
import { readFileSync } from 'node:fs';
import { ZcollError, check } from '../errors.js';
import { Prng } from '../prng.js';
import type { FaultSeam, OutgoingMessage } from '../transport/outbox.js';
import { createStragglerModel, parseStragglerSpec, type StragglerModel, type StragglerSpec } from './stragglers.js';
import type { GradientAttack } from './attacks/attack.js';
import { alie } from './attacks/alie.js';
import { gaussian } from './attacks/gaussian.js';
import { nonFinite } from './attacks/non-finite.js';
import { signFlip } from './attacks/sign-flip.js';

export const BYZANTINE_ATTACKS = ['alie', 'signflip', 'gaussian', 'nan', 'inf'] as const;
export type ByzantineAttackName = (typeof BYZANTINE_ATTACKS)[number];

export interface ByzantineFault {
  readonly attack: ByzantineAttackName;
  readonly ranks: readonly number[];
  /** alie: the multiple of the honest standard deviation (default 1.5). */
  readonly tau?: number;
  /** gaussian: mean and standard deviation of the sent values (defaults 0 and 1). */
  readonly mu?: number;
  readonly sigma?: number;
  /** nan / inf: fraction of coordinates overwritten (default 1). */
  readonly fraction?: number;
}

export interface KillFault {
  readonly rank: number;
  /** The step (0-based collective call of the run) at which the rank's process exits. */
  readonly at: number;
}

export interface FaultPlan {
  readonly stragglers?: StragglerSpec;
  readonly byzantine: readonly ByzantineFault[];
  readonly kill?: KillFault;
  /** Seeds the attacks' noise (and replaces the straggler spec's seed when given). */
  readonly seed: number;
}

export const EMPTY_PLAN: FaultPlan = { byzantine: [], seed: 1 };

const BYZ_FIELDS: Readonly<Record<ByzantineAttackName, readonly string[]>> = {
  alie: ['ranks', 'tau'],
  signflip: ['ranks'],
  gaussian: ['ranks', 'mu', 'sigma'],
  nan: ['ranks', 'fraction'],
  inf: ['ranks', 'fraction'],
};

/** 'name:f=v,g=w' into the name and its fields; a bare value after 'ranks=' continues the list. */
function splitSpec(text: string, what: string, listField: string): { kind: string; fields: Map<string, string>; list: string[] } {
  check(typeof text === 'string' && text.trim().length > 0, 'EINVAL', () => `${what} spec must be a non-empty string`);
  const trimmed = text.trim();
  const colon = trimmed.indexOf(':');
  const kind = colon < 0 ? '' : trimmed.slice(0, colon).trim();
  const body = colon < 0 ? trimmed : trimmed.slice(colon + 1);
  const fields = new Map<string, string>();
  const list: string[] = [];
  let last = '';
  for (const raw of body.split(',')) {
    const token = raw.trim();
    check(token.length > 0, 'EINVAL', () => `${what} spec '${text}': empty field`);
    const eq = token.indexOf('=');
    if (eq < 0) {
      check(last === listField, 'EINVAL', () => `${what} spec '${text}': '${token}' is not a field=value pair`);
      list.push(token);
      continue;
    }
    const name = token.slice(0, eq).trim();
    const value = token.slice(eq + 1).trim();
    check(!fields.has(name), 'EINVAL', () => `${what} spec '${text}': field '${name}' given twice`);
    check(value.length > 0, 'EINVAL', () => `${what} spec '${text}': field '${name}' has no value`);
    fields.set(name, value);
    if (name === listField) list.push(value);
    last = name;
  }
  return { kind, fields, list };
}

function rankList(values: readonly unknown[], text: string, what: string): number[] {
  const ranks = values.map((r) => {
    const v = typeof r === 'number' ? r : Number(r);
    check(String(r).length > 0 && Number.isInteger(v) && v >= 0, 'EINVAL', () => `${what} spec '${text}': field 'ranks' must list integers >= 0, got '${String(r)}'`);
    return v;
  });
  check(ranks.length > 0, 'EINVAL', () => `${what} spec '${text}': field 'ranks' is required`);
  check(new Set(ranks).size === ranks.length, 'EINVAL', () => `${what} spec '${text}': field 'ranks' lists a rank twice`);
  return ranks;
}

function finiteField(fields: Map<string, string>, name: string, text: string, test: (v: number) => boolean, range: string): number | undefined {
  const raw = fields.get(name);
  if (raw === undefined) return undefined;
  const v = Number(raw);
  check(Number.isFinite(v) && test(v), 'EINVAL', () => `byzantine spec '${text}': field '${name}' must be ${range}, got '${raw}'`);
  return v;
}

/** Parses 'alie:ranks=2,tau=1.5' and the like; EINVAL names the bad field. */
export function parseByzantineSpec(text: string): ByzantineFault {
  const { kind, fields, list } = splitSpec(text, 'byzantine', 'ranks');
  const attack = kind === 'sign-flip' ? 'signflip' : kind;
  check((BYZANTINE_ATTACKS as readonly string[]).includes(attack), 'EINVAL', () => `byzantine spec '${text}': unknown attack '${kind}' (${BYZANTINE_ATTACKS.join(', ')}), written like 'alie:ranks=2,tau=1.5'`);
  const name = attack as ByzantineAttackName;
  for (const f of fields.keys()) check(BYZ_FIELDS[name].includes(f), 'EINVAL', () => `byzantine spec '${text}': unknown field '${f}' for ${name} (fields: ${BYZ_FIELDS[name].join(', ')})`);
  const ranks = rankList(list, text, 'byzantine');
  const tau = finiteField(fields, 'tau', text, () => true, 'a finite number');
  const mu = finiteField(fields, 'mu', text, () => true, 'a finite number');
  const sigma = finiteField(fields, 'sigma', text, (v) => v > 0, 'a number > 0');
  const fraction = finiteField(fields, 'fraction', text, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  return {
    attack: name,
    ranks,
    ...(tau !== undefined ? { tau } : {}),
    ...(mu !== undefined ? { mu } : {}),
    ...(sigma !== undefined ? { sigma } : {}),
    ...(fraction !== undefined ? { fraction } : {}),
  };
}

/** Parses 'rank=2,at=step5' (or 'kill:rank=2,at=5'); EINVAL names the bad field. */
export function parseKillSpec(text: string): KillFault {
  const { kind, fields } = splitSpec(text, 'kill', '');
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

function byzantineFromJson(v: unknown, where: string): ByzantineFault {
  if (typeof v === 'string') return parseByzantineSpec(v);
  check(typeof v === 'object' && v !== null && !Array.isArray(v), 'EINVAL', () => `${where}: must be a spec string or an object like { "attack": "alie", "ranks": [2] }`);
  const o = v as Record<string, unknown>;
  check(typeof o.attack === 'string', 'EINVAL', () => `${where}: field 'attack' must be one of ${BYZANTINE_ATTACKS.join(', ')}`);
  check(Array.isArray(o.ranks), 'EINVAL', () => `${where}: field 'ranks' must be an array of rank numbers`);
  const parts = [`ranks=${(o.ranks as unknown[]).map(String).join(',')}`];
  for (const [k, val] of Object.entries(o)) {
    if (k === 'attack' || k === 'ranks') continue;
    check(typeof val === 'number', 'EINVAL', () => `${where}: field '${k}' must be a number`);
    parts.push(`${k}=${val}`);
  }
  return parseByzantineSpec(`${o.attack}:${parts.join(',')}`);
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
  const byzantine = byzList.map((b, i) => byzantineFromJson(b, `${source}: byzantine[${i}]`));
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
  const byzantine = flags.byzantine !== undefined && flags.byzantine.length > 0 ? flags.byzantine.map(parseByzantineSpec) : plan.byzantine;
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

function attackOf(b: ByzantineFault): GradientAttack {
  switch (b.attack) {
    case 'alie':
      return alie(b.tau !== undefined ? { tau: b.tau } : {});
    case 'signflip':
      return signFlip();
    case 'gaussian':
      return gaussian({ ...(b.mu !== undefined ? { mu: b.mu } : {}), ...(b.sigma !== undefined ? { sigma: b.sigma } : {}) });
    case 'nan':
    case 'inf':
      return nonFinite({ value: b.attack, ...(b.fraction !== undefined ? { fraction: b.fraction } : {}) });
  }
}

/** A copy with its own aligned ArrayBuffer (a Buffer's slice() shares memory, maybe at an odd offset). */
export function privateCopy(payload: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(payload.byteLength);
  bytes.set(payload);
  return bytes;
}

/** What the faults of one rank did so far (the bench sums them over ranks per row). */
export interface FaultCounters {
  /** Steps in which this rank was a straggler (a positive delay). */
  lateSteps: number;
  /** Messages held back by a straggler delay. */
  delayedMessages: number;
  /** Total straggler delay injected, ms. */
  delayMs: number;
  /** Payloads replaced by an attack. */
  corruptedMessages: number;
}

export interface RankFaultsOptions {
  /** Exits the process for a kill (default: process.exit after a message on stderr). */
  exit?: (code: number, why: string) => void;
  /** Sleeps (default setTimeout). */
  sleep?: (ms: number) => Promise<void>;
  /** Clock in ms (default performance.now). */
  now?: () => number;
}

/**
 * The honest rows an omniscient attacker sees for a message (ALIE and sign-flip use the honest
 * workers' gradients, as ByzFL's attacks do). The bench knows every rank's input and provides them;
 * without a view the attacker sees only its own payload.
 */
export type HonestView = (msg: OutgoingMessage, own: Float32Array) => Float32Array[] | undefined;

/**
 * How a payload that is not a plain vector of numbers becomes one for the attack and back (signSGD's
 * packed sign words: the attacker works on the +-1 signs and sends its result packed again).
 */
export interface PayloadCodec {
  decode(msg: OutgoingMessage): Float32Array;
  encode(values: Float32Array, msg: OutgoingMessage): Uint8Array;
}

const DIRECT_OPS = new Set(['exchange', 'exchange-to', 'gather']);

/** The faults of one rank: its FaultSeam, a step clock the driver advances, and counters. */
export class RankFaults {
  readonly counters: FaultCounters = { lateSteps: 0, delayedMessages: 0, delayMs: 0, corruptedMessages: 0 };
  /** Set by the driver to give attackers the honest rows (see HonestView). */
  honestView: HonestView | undefined;
  /** Set by the driver when payloads are encoded (see PayloadCodec). */
  payloadCodec: PayloadCodec | undefined;
  private readonly model: StragglerModel | undefined;
  private readonly attack: GradientAttack | undefined;
  private readonly exit: (code: number, why: string) => void;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private step = -1;
  private stepDelayMs = 0;
  private stepStart = 0;
  private gate: Promise<void> | undefined;
  private messageIndex = 0;

  constructor(
    readonly plan: FaultPlan,
    readonly rank: number,
    readonly size: number,
    options: RankFaultsOptions = {},
  ) {
    checkPlanForWorld(plan, size);
    this.model = plan.stragglers !== undefined ? createStragglerModel(plan.stragglers, { size, seed: plan.seed }) : undefined;
    const mine = plan.byzantine.find((b) => b.ranks.includes(rank));
    this.attack = mine !== undefined ? attackOf(mine) : undefined;
    this.exit =
      options.exit ??
      ((code, why) => {
        process.stderr.write(`zcoll: fault plan: ${why}\n`);
        process.exit(code);
      });
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? (() => performance.now());
  }

  get byzantine(): boolean {
    return this.attack !== undefined;
  }

  /** The current step (-1 before the first). */
  get currentStep(): number {
    return this.step;
  }

  /**
   * Starts step `step`; `baseMs` is the undisturbed duration of the step's work (the bench passes
   * the fault-free time of the collective), which the straggler model stretches. Returns the delay.
   */
  beginStep(step: number, baseMs: number): number {
    check(Number.isInteger(step) && step > this.step, 'EINVAL', () => `fault plan: steps must increase, got ${step} after ${this.step}`, { rank: this.rank });
    this.step = step;
    this.gate = undefined;
    this.stepStart = this.now();
    this.stepDelayMs = this.model !== undefined ? this.model.delayFor(this.rank, step, Math.max(0, baseMs)) : 0;
    if (this.stepDelayMs > 0) {
      this.counters.lateSteps++;
      this.counters.delayMs += this.stepDelayMs;
    }
    return this.stepDelayMs;
  }

  /**
   * The seam to install with comm.setFaultSeam(). A failure inside it would only drop the message
   * (and hang the peers until their timeout), so it ends the process loudly instead.
   */
  readonly seam: FaultSeam = async (msg) => {
    try {
      return await this.apply(msg);
    } catch (e) {
      this.exit(70, `rank ${this.rank}: fault injection failed at step ${this.step}: ${(e as Error).message}`);
      return null;
    }
  };

  private async apply(msg: OutgoingMessage): Promise<OutgoingMessage | null> {
    const kill = this.plan.kill;
    if (kill !== undefined && kill.rank === this.rank && this.step >= kill.at) {
      this.exit(3, `rank ${this.rank} killed at step ${this.step} (kill: rank=${kill.rank},at=step${kill.at})`);
      return null;
    }
    if (this.stepDelayMs > 0) {
      // One gate per step, started when the step began: the rank's work took that much longer.
      const now = this.now();
      this.gate ??= this.sleep(Math.max(0, this.stepStart + this.stepDelayMs - now));
      const waited = now < this.stepStart + this.stepDelayMs;
      await this.gate;
      if (waited) this.counters.delayedMessages++;
    }
    if (this.attack === undefined || msg.payload === undefined || msg.header.k !== 'data' || msg.header.x < 0 || msg.header.c === 0) return msg;
    if (DIRECT_OPS.has(msg.header.op) && msg.header.x !== this.rank) return msg;
    const replaced = this.corrupt(msg);
    if (replaced === undefined) return msg;
    this.counters.corruptedMessages++;
    return { ...msg, payload: replaced };
  }

  private corrupt(msg: OutgoingMessage): Uint8Array | undefined {
    if (this.payloadCodec !== undefined) {
      const own = this.payloadCodec.decode(msg);
      return this.payloadCodec.encode(this.attack!({ own, honest: this.honestView?.(msg, own) ?? [own], prng: this.noise() }), msg);
    }
    const dt = msg.header.dt;
    const bytes = privateCopy(msg.payload!);
    const view = dt === 'float32' ? new Float32Array(bytes.buffer) : dt === 'float64' ? new Float64Array(bytes.buffer) : dt === 'int32' ? new Int32Array(bytes.buffer) : undefined;
    if (view === undefined) return undefined;
    const own = view instanceof Float32Array ? view.slice() : Float32Array.from(view);
    const honest = this.honestView?.(msg, own) ?? [own];
    const bad = this.attack!({ own, honest, prng: this.noise() });
    if (view instanceof Int32Array) for (let i = 0; i < view.length; i++) view[i] = Number.isFinite(bad[i]) ? Math.round(bad[i]) : 0x7fffffff;
    else view.set(bad);
    return bytes;
  }

  /** Fresh noise per message, reproducible from (seed, step, rank, message index). */
  private noise(): Prng {
    return new Prng((Math.imul(this.plan.seed ^ 0x5bd1e995, 0x01000193) ^ Math.imul(this.step + 1, 0x9e3779b1) ^ Math.imul(this.rank + 1, 0x85ebca6b) ^ this.messageIndex++) >>> 0);
  }
}
