/**
 * Straggler models as data: how long rank r's work of round k takes when undisturbed work takes
 * `baseMs`. All randomness is a pure function of (seed, rank, round), so every process, and every call
 * order, sees the same stragglers.
 *
 * - fixed:     the listed ranks are always slow (factor `slow` and/or an added `delay`).
 * - bernoulli: each rank is slow in each round independently with probability p.
 * - ge:        per-rank Gilbert-Elliott chain (good→bad with probability p, bad→good with q per round,
 *              started from its stationary law p/(p+q)); slow while bad. This is the two-state process
 *              of the SGC precursor code (erfanhss/SequentialGradientCoding: p = 0.2, q = 0.8, ×10) and of
 *              the 'frequent' regime of bench/results/stragglers.md (p = 0.08, q = 0.7, ×3, ±10 % jitter).
 * - trace:     replayed per-round, per-rank added delays in ms (JSON rounds × ranks), cycled.
 * A multiplicative jitter, uniform in [1 − jitter, 1 + jitter], applies to every rank and round.
 *
 * CLI form: 'ge:p=0.1,q=0.7,slow=3' | 'fixed:ranks=1,3,delay=50ms' | 'bernoulli:p=0.2,slow=4' |
 * 'trace:file=delays.json' | 'none'; extra fields: jitter=0.1, seed=7, delay=20ms|0.5s.
 * Cost: O(1) per call (a GE chain is advanced lazily once per rank and round, then cached).
 */
import { readFileSync } from 'node:fs';
import { ZcollError, check } from '../errors.js';
import { Prng } from '../prng.js';

export type StragglerSpec =
  | { readonly kind: 'none' }
  | { readonly kind: 'fixed'; readonly ranks: readonly number[]; readonly slow: number; readonly delayMs: number; readonly jitter: number; readonly seed: number }
  | { readonly kind: 'bernoulli'; readonly p: number; readonly slow: number; readonly delayMs: number; readonly jitter: number; readonly seed: number }
  | { readonly kind: 'ge'; readonly p: number; readonly q: number; readonly slow: number; readonly delayMs: number; readonly jitter: number; readonly seed: number }
  | { readonly kind: 'trace'; readonly file?: string; readonly delaysMs?: readonly (readonly number[])[]; readonly jitter: number; readonly seed: number };

export type StragglerKind = StragglerSpec['kind'];

export interface StragglerModel {
  readonly spec: StragglerSpec;
  /** Whether `rank` is in its slow state in `round` (for trace: whether it gets a positive delay). */
  isSlow(rank: number, round: number): boolean;
  /** Modelled duration of work that takes `baseMs` undisturbed. */
  durationFor(rank: number, round: number, baseMs: number): number;
  /** Extra time to inject at the fault seam: max(0, durationFor − baseMs). */
  delayFor(rank: number, round: number, baseMs: number): number;
}

const FIELDS: Readonly<Record<Exclude<StragglerKind, 'none'>, readonly string[]>> = {
  fixed: ['ranks', 'slow', 'delay', 'jitter', 'seed'],
  bernoulli: ['p', 'slow', 'delay', 'jitter', 'seed'],
  ge: ['p', 'q', 'slow', 'delay', 'jitter', 'seed'],
  trace: ['file', 'jitter', 'seed'],
};

/** Parses the CLI form; throws EINVAL naming the bad field. */
export function parseStragglerSpec(text: string): StragglerSpec {
  check(typeof text === 'string' && text.trim().length > 0, 'EINVAL', () => `straggler spec must be a non-empty string like 'ge:p=0.1,q=0.7,slow=3'`);
  const trimmed = text.trim();
  const colon = trimmed.indexOf(':');
  const kind = (colon < 0 ? trimmed : trimmed.slice(0, colon)).trim();
  if (kind === 'none') {
    check(colon < 0 || trimmed.slice(colon + 1).trim() === '', 'EINVAL', () => `straggler spec 'none' takes no fields, got '${text}'`);
    return { kind: 'none' };
  }
  check(kind in FIELDS, 'EINVAL', () => `straggler spec '${text}': unknown model '${kind}' (none, fixed, bernoulli, ge, trace)`);
  const model = kind as Exclude<StragglerKind, 'none'>;
  const allowed = FIELDS[model];
  const fields = new Map<string, string>();
  const ranks: string[] = [];
  let lastField = '';
  const body = colon < 0 ? '' : trimmed.slice(colon + 1);
  for (const rawToken of body.split(',')) {
    const token = rawToken.trim();
    check(token.length > 0, 'EINVAL', () => `straggler spec '${text}': empty field`);
    const eq = token.indexOf('=');
    if (eq < 0) {
      // 'ranks=1,3' continues a list after the field separator.
      check(lastField === 'ranks', 'EINVAL', () => `straggler spec '${text}': '${token}' is not a field=value pair`);
      ranks.push(token);
      continue;
    }
    const name = token.slice(0, eq).trim();
    const value = token.slice(eq + 1).trim();
    check(allowed.includes(name), 'EINVAL', () => `straggler spec '${text}': unknown field '${name}' for ${model} (fields: ${allowed.join(', ')})`);
    check(!fields.has(name), 'EINVAL', () => `straggler spec '${text}': field '${name}' given twice`);
    check(value.length > 0, 'EINVAL', () => `straggler spec '${text}': field '${name}' has no value`);
    fields.set(name, value);
    if (name === 'ranks') ranks.push(value);
    lastField = name;
  }

  const num = (name: string, lo: number, hi: number, fallback?: number): number => {
    const raw = fields.get(name);
    if (raw === undefined) {
      if (fallback === undefined) throw new ZcollError('EINVAL', `straggler spec '${text}': field '${name}' is required for ${model}`);
      return fallback;
    }
    const v = Number(raw);
    check(Number.isFinite(v) && v >= lo && v <= hi, 'EINVAL', () => `straggler spec '${text}': field '${name}' must be a number in [${lo}, ${hi}], got '${raw}'`);
    return v;
  };
  const jitter = num('jitter', 0, 0.99, 0);
  const seed = num('seed', 0, 0xffffffff, 0);
  check(Number.isInteger(seed), 'EINVAL', () => `straggler spec '${text}': field 'seed' must be an integer`);

  if (model === 'trace') {
    const file = fields.get('file');
    if (file === undefined) throw new ZcollError('EINVAL', `straggler spec '${text}': field 'file' is required for trace`);
    return { kind: 'trace', file, jitter, seed };
  }
  const slow = num('slow', 1, 1e6, 1);
  const delayMs = fields.has('delay') ? parseDuration(fields.get('delay') as string, text) : 0;
  check(slow > 1 || delayMs > 0, 'EINVAL', () => `straggler spec '${text}': field 'slow' (factor > 1) or 'delay' is required, else ${model} stragglers are not slower`);
  if (model === 'fixed') {
    check(ranks.length > 0, 'EINVAL', () => `straggler spec '${text}': field 'ranks' is required for fixed`);
    const list = ranks.map((r) => {
      const v = Number(r);
      check(r.length > 0 && Number.isInteger(v) && v >= 0, 'EINVAL', () => `straggler spec '${text}': field 'ranks' must list integers >= 0, got '${r}'`);
      return v;
    });
    check(new Set(list).size === list.length, 'EINVAL', () => `straggler spec '${text}': field 'ranks' lists a rank twice`);
    return { kind: 'fixed', ranks: list, slow, delayMs, jitter, seed };
  }
  const p = num('p', 0, 1);
  if (model === 'bernoulli') return { kind: 'bernoulli', p, slow, delayMs, jitter, seed };
  const q = num('q', 0, 1);
  check(p + q > 0, 'EINVAL', () => `straggler spec '${text}': fields 'p' and 'q' cannot both be 0`);
  return { kind: 'ge', p, q, slow, delayMs, jitter, seed };
}

function parseDuration(raw: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|us)?$/.exec(raw);
  check(m !== null, 'EINVAL', () => `straggler spec '${text}': field 'delay' must be a duration like 50ms, 0.5s or 200us, got '${raw}'`);
  const v = Number(m[1]);
  const unit = m[2] ?? 'ms';
  return unit === 's' ? v * 1000 : unit === 'us' ? v / 1000 : v;
}

export interface StragglerModelOptions {
  /** World size: when given, fixed ranks are checked against it. */
  size?: number;
  /** Replaces the seed of the spec (e.g. the job's seed). */
  seed?: number;
  /** Reads a trace file (default: fs.readFileSync as UTF-8). */
  readTrace?: (file: string) => string;
}

/** A model from a parsed spec or from its CLI text. */
export function createStragglerModel(spec: StragglerSpec | string, options: StragglerModelOptions = {}): StragglerModel {
  const parsed = typeof spec === 'string' ? parseStragglerSpec(spec) : spec;
  switch (parsed.kind) {
    case 'none':
      return new NoStragglers(parsed);
    case 'fixed':
      if (options.size !== undefined) {
        const size = options.size;
        for (const r of parsed.ranks) check(r < size, 'EINVAL', () => `straggler model fixed: rank ${r} is not in [0, ${size})`);
      }
      return new ModelledStragglers(parsed, options.seed ?? parsed.seed, (rank) => parsed.ranks.includes(rank), parsed.slow, parsed.delayMs, parsed.jitter);
    case 'bernoulli': {
      checkProbability('bernoulli', 'p', parsed.p);
      const seed = options.seed ?? parsed.seed;
      return new ModelledStragglers(parsed, seed, (rank, round) => uniformAt(seed, rank, round, 1) < parsed.p, parsed.slow, parsed.delayMs, parsed.jitter);
    }
    case 'ge': {
      checkProbability('ge', 'p', parsed.p);
      checkProbability('ge', 'q', parsed.q);
      const seed = options.seed ?? parsed.seed;
      const chains = new GilbertElliottChains(parsed.p, parsed.q, seed);
      return new ModelledStragglers(parsed, seed, (rank, round) => chains.isBad(rank, round), parsed.slow, parsed.delayMs, parsed.jitter);
    }
    case 'trace':
      return new TraceStragglers(parsed, options.seed ?? parsed.seed, loadTrace(parsed, options.readTrace));
  }
}

/** The rounds a GE or Bernoulli model marks slow, as late sets (for tests and simulations). */
export function slowRanks(model: StragglerModel, size: number, round: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < size; r++) if (model.isSlow(r, round)) out.push(r);
  return out;
}

class NoStragglers implements StragglerModel {
  constructor(readonly spec: StragglerSpec) {}
  isSlow(rank: number, round: number): boolean {
    checkRankRound(rank, round);
    return false;
  }
  durationFor(rank: number, round: number, baseMs: number): number {
    checkRankRound(rank, round);
    checkBase(baseMs);
    return baseMs;
  }
  delayFor(rank: number, round: number, baseMs: number): number {
    return this.durationFor(rank, round, baseMs) - baseMs;
  }
}

class ModelledStragglers implements StragglerModel {
  constructor(
    readonly spec: StragglerSpec,
    private readonly seed: number,
    private readonly slowAt: (rank: number, round: number) => boolean,
    private readonly slow: number,
    private readonly delayMs: number,
    private readonly jitter: number,
  ) {}

  isSlow(rank: number, round: number): boolean {
    checkRankRound(rank, round);
    return this.slowAt(rank, round);
  }

  durationFor(rank: number, round: number, baseMs: number): number {
    checkBase(baseMs);
    const slow = this.isSlow(rank, round);
    const work = slow ? baseMs * this.slow + this.delayMs : baseMs;
    return work * jitterFactor(this.seed, rank, round, this.jitter);
  }

  delayFor(rank: number, round: number, baseMs: number): number {
    return Math.max(0, this.durationFor(rank, round, baseMs) - baseMs);
  }
}

class TraceStragglers implements StragglerModel {
  constructor(
    readonly spec: StragglerSpec,
    private readonly seed: number,
    private readonly delaysMs: readonly (readonly number[])[],
  ) {}

  private added(rank: number, round: number): number {
    checkRankRound(rank, round);
    const row = this.delaysMs[round % this.delaysMs.length];
    return rank < row.length ? row[rank] : 0;
  }

  isSlow(rank: number, round: number): boolean {
    return this.added(rank, round) > 0;
  }

  durationFor(rank: number, round: number, baseMs: number): number {
    checkBase(baseMs);
    const jitter = this.spec.kind === 'trace' ? this.spec.jitter : 0;
    return (baseMs + this.added(rank, round)) * jitterFactor(this.seed, rank, round, jitter);
  }

  delayFor(rank: number, round: number, baseMs: number): number {
    return Math.max(0, this.durationFor(rank, round, baseMs) - baseMs);
  }
}

/**
 * One two-state chain per rank, advanced lazily and cached; each rank has its own stream, so a rank's
 * states do not depend on which other ranks were asked about.
 */
class GilbertElliottChains {
  private readonly states = new Map<number, { rng: Prng; bad: number[] }>();
  constructor(
    private readonly p: number,
    private readonly q: number,
    private readonly seed: number,
  ) {}

  isBad(rank: number, round: number): boolean {
    let chain = this.states.get(rank);
    if (chain === undefined) {
      const rng = new Prng(mix(this.seed, rank, 0x6e11, 2));
      chain = { rng, bad: [rng.next() < this.p / (this.p + this.q) ? 1 : 0] };
      this.states.set(rank, chain);
    }
    const bad = chain.bad;
    while (bad.length <= round) {
      const was = bad[bad.length - 1];
      const u = chain.rng.next();
      bad.push(was === 1 ? (u < this.q ? 0 : 1) : u < this.p ? 1 : 0);
    }
    return bad[round] === 1;
  }
}

function loadTrace(spec: Extract<StragglerSpec, { kind: 'trace' }>, readTrace?: (file: string) => string): readonly (readonly number[])[] {
  let data: unknown = spec.delaysMs;
  if (data === undefined) {
    check(spec.file !== undefined, 'EINVAL', () => `straggler trace: give 'file' or 'delaysMs'`);
    const file = spec.file;
    let text: string;
    try {
      text = readTrace !== undefined ? readTrace(file) : readFileSync(file, 'utf8');
    } catch (e) {
      throw new ZcollError('EINVAL', `straggler trace: cannot read file '${file}': ${(e as Error).message}`, {}, { cause: e });
    }
    try {
      data = JSON.parse(text) as unknown;
    } catch (e) {
      throw new ZcollError('EINVAL', `straggler trace: file '${file}' is not JSON: ${(e as Error).message}`, {}, { cause: e });
    }
    if (data !== null && typeof data === 'object' && !Array.isArray(data) && 'delaysMs' in data) data = (data as { delaysMs: unknown }).delaysMs;
  }
  check(Array.isArray(data) && data.length > 0, 'EINVAL', () => `straggler trace: expected a non-empty array of rounds, each an array of per-rank delays in ms`);
  return (data as unknown[]).map((row, round) => {
    check(Array.isArray(row), 'EINVAL', () => `straggler trace: round ${round} is not an array of per-rank delays`);
    return (row as unknown[]).map((v, rank) => {
      check(typeof v === 'number' && Number.isFinite(v) && v >= 0, 'EINVAL', () => `straggler trace: delay of rank ${rank} in round ${round} must be a number >= 0, got ${JSON.stringify(v)}`);
      return v;
    });
  });
}

function checkProbability(model: string, field: string, v: number): void {
  check(Number.isFinite(v) && v >= 0 && v <= 1, 'EINVAL', () => `straggler model ${model}: field '${field}' must be in [0, 1], got ${v}`);
}

function checkRankRound(rank: number, round: number): void {
  check(Number.isInteger(rank) && rank >= 0, 'EINVAL', () => `straggler model: rank must be an integer >= 0, got ${String(rank)}`);
  check(Number.isInteger(round) && round >= 0, 'EINVAL', () => `straggler model: round must be an integer >= 0, got ${String(round)}`, { rank });
}

function checkBase(baseMs: number): void {
  check(Number.isFinite(baseMs) && baseMs >= 0, 'EINVAL', () => `straggler model: baseMs must be a finite number >= 0, got ${String(baseMs)}`);
}

function jitterFactor(seed: number, rank: number, round: number, jitter: number): number {
  return jitter === 0 ? 1 : 1 + jitter * (2 * uniformAt(seed, rank, round, 3) - 1);
}

/** Uniform [0, 1) as a pure function of (seed, rank, round, stream). */
function uniformAt(seed: number, rank: number, round: number, stream: number): number {
  return new Prng(mix(seed, rank, round, stream)).next();
}

/** Hashes four 32-bit words into one seed (murmur3 block mixing, then its finaliser). */
function mix(seed: number, rank: number, round: number, stream: number): number {
  // Each word is folded in after the previous one was mixed, so (seed, rank) pairs never alias the way
  // seed ^ rank would (seeds 101 and 102 would then just permute ranks 0..255).
  let h = 0x2545f491;
  for (const word of [seed, rank, round, stream]) {
    h = Math.imul(h ^ (word >>> 0), 0xcc9e2d51) >>> 0;
    h = ((h << 15) | (h >>> 17)) >>> 0;
    h = (Math.imul(h, 0x1b873593) + 0xe6546b64) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
