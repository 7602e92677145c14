/**
 * The explicit Byzantine set of a run: exactly `count` of the n workers, either fixed for the whole
 * run or resampled every round, chosen by a seeded PRNG (or given as a list), plus per-(round,
 * worker) noise streams. The BGMD reference tossed a coin per row (so often fewer rows than the
 * nominal fraction were corrupted) and re-seeded its noise identically every round;
 * here the count is exact and the noise of each round is fresh but reproducible. Every query is a
 * pure function of (seed, round, worker), so any rank can recompute it without communication.
 */
import { ZcollError } from '../../errors.js';
import { Prng } from '../../prng.js';
import type { GradientAttack } from './attack.js';

export type ByzantineSetMode = 'fixed' | 'resample';

export interface ByzantineSetOptions {
  /** Number of workers n. */
  workers: number;
  /** Exact number of Byzantine workers per round, 0..n. Ignored when `members` is given. */
  count?: number;
  /** An explicit fixed set of worker indices (implies mode 'fixed'). */
  members?: readonly number[];
  /** Default 'fixed'. */
  mode?: ByzantineSetMode;
  /** Default 1. */
  seed?: number;
}

/** 32-bit avalanche mix (murmur3 finaliser) of a few integers, to derive independent seeds. */
function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
  }
  return h >>> 0;
}

const PURPOSE_MEMBERS = 1;
const PURPOSE_NOISE = 2;

export class ByzantineSet {
  readonly workers: number;
  readonly count: number;
  readonly mode: ByzantineSetMode;
  readonly seed: number;
  private readonly fixed: Uint32Array | undefined;

  constructor(options: ByzantineSetOptions) {
    const op = 'ByzantineSet';
    const { workers } = options;
    if (!Number.isInteger(workers) || workers < 1) throw new ZcollError('EINVAL', `option 'workers' of ${op} must be an integer >= 1, got ${String(workers)}`, { op });
    const seed = options.seed ?? 1;
    if (!Number.isInteger(seed)) throw new ZcollError('EINVAL', `option 'seed' of ${op} must be an integer, got ${String(seed)}`, { op });
    this.workers = workers;
    this.seed = seed;
    if (options.members !== undefined) {
      const members = [...options.members].sort((a, b) => a - b);
      members.forEach((w, i) => {
        if (!Number.isInteger(w) || w < 0 || w >= workers) throw new ZcollError('EINVAL', `${op}: member ${String(w)} is not a worker index in [0, ${workers})`, { op });
        if (i > 0 && members[i - 1] === w) throw new ZcollError('EINVAL', `${op}: member ${w} is listed twice`, { op });
      });
      if (options.mode === 'resample') throw new ZcollError('EINVAL', `${op}: an explicit 'members' list cannot be resampled`, { op });
      this.mode = 'fixed';
      this.count = members.length;
      this.fixed = Uint32Array.from(members);
      return;
    }
    const count = options.count ?? 0;
    if (!Number.isInteger(count) || count < 0 || count > workers) {
      throw new ZcollError('EINVAL', `option 'count' of ${op} must be an integer in [0, ${workers}], got ${String(count)}`, { op });
    }
    const mode = options.mode ?? 'fixed';
    if (mode !== 'fixed' && mode !== 'resample') throw new ZcollError('EINVAL', `option 'mode' of ${op} must be 'fixed' or 'resample', got ${String(mode)}`, { op });
    this.mode = mode;
    this.count = count;
    this.fixed = mode === 'fixed' ? this.sample(0) : undefined;
  }

  private sample(round: number): Uint32Array {
    const prng = new Prng(mixSeed(this.seed, PURPOSE_MEMBERS, this.mode === 'fixed' ? 0 : round + 1));
    const all = Array.from({ length: this.workers }, (_, i) => i);
    prng.shuffle(all);
    return Uint32Array.from(all.slice(0, this.count)).sort();
  }

  /** The Byzantine workers of `round` (ascending indices, exactly `count` of them). */
  members(round: number): Uint32Array {
    if (!Number.isInteger(round) || round < 0) throw new ZcollError('EINVAL', `ByzantineSet: round must be an integer >= 0, got ${String(round)}`, { op: 'ByzantineSet' });
    return this.fixed !== undefined ? this.fixed.slice() : this.sample(round);
  }

  includes(round: number, worker: number): boolean {
    return this.members(round).includes(worker);
  }

  /** The noise stream of one worker in one round: fresh per round, identical on every call. */
  noise(round: number, worker: number): Prng {
    return new Prng(mixSeed(this.seed, PURPOSE_NOISE, round, worker));
  }
}

export interface CorruptedRows {
  /** The rows to aggregate: honest rows as given (same objects), Byzantine rows replaced. */
  readonly rows: Float32Array[];
  readonly byzantine: Uint32Array;
}

/**
 * Applies `attack` to the Byzantine workers of `round`: each one's honest row is replaced by the
 * attack's output, computed from the honest rows of the round (the Byzantine workers' own honest
 * rows are not shown to the attack as honest). Pure: the input rows are not modified.
 */
export function corruptRows(rows: readonly Float32Array[], set: ByzantineSet, attack: GradientAttack, round: number): CorruptedRows {
  if (rows.length !== set.workers) {
    throw new ZcollError('EINVAL', `corruptRows: ${rows.length} rows for a Byzantine set of ${set.workers} workers`, { op: 'corruptRows' });
  }
  const byzantine = set.members(round);
  const isByzantine = new Uint8Array(rows.length);
  for (const w of byzantine) isByzantine[w] = 1;
  const honest = rows.filter((_, i) => isByzantine[i] === 0);
  const out = rows.slice();
  for (const w of byzantine) out[w] = attack({ own: rows[w], honest, prng: set.noise(round, w) });
  return { rows: out, byzantine };
}
