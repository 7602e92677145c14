/**
 * The (B, W, λ) bursty straggler model of sequential gradient coding (Krishnan, Ebrahimi, Khisti,
 * ICLR 2023; checker as in the authors' `follows_straggler_model`): in every window of W consecutive
 * rounds, (i) at most λ distinct workers straggle, and (ii) each worker's straggling rounds inside the
 * window fit in one burst of at most B consecutive rounds.
 *
 * A pattern is a list of late sets, one per round (wait-out rounds count as "no stragglers", as in the
 * authors' simulators). Cost of one check: O(W · stragglers per round).
 */
import { check } from '../errors.js';

export interface BurstModel {
  /** Longest burst of one worker's straggling rounds inside a window. */
  readonly B: number;
  /** Window length in rounds. */
  readonly W: number;
  /** Most distinct stragglers inside a window. */
  readonly lambda: number;
}

export function checkBurstModel(model: BurstModel, workers?: number): void {
  const { B, W, lambda } = model;
  check(Number.isInteger(B) && B >= 1, 'EINVAL', () => `straggler model: B must be an integer >= 1, got ${String(B)}`);
  check(Number.isInteger(W) && W > B, 'EINVAL', () => `straggler model: W must be an integer > B = ${B}, got ${String(W)}`);
  check(Number.isInteger(lambda) && lambda >= 0, 'EINVAL', () => `straggler model: lambda must be an integer >= 0, got ${String(lambda)}`);
  if (workers !== undefined) {
    check(lambda <= workers, 'EINVAL', () => `straggler model: lambda = ${lambda} exceeds the ${workers} workers`);
  }
}

/**
 * Does the round with late set `current`, appended to `history` (late sets of the earlier rounds,
 * oldest first), keep the pattern inside the (B, W, λ) model? Only the last W − 1 history rounds matter.
 */
export function conformsWindow(history: readonly (readonly number[])[], current: readonly number[], model: BurstModel): boolean {
  const start = Math.max(0, history.length - (model.W - 1));
  // Per worker: first and last round (index inside the window) it straggled in.
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const note = (worker: number, at: number): void => {
    if (!first.has(worker)) first.set(worker, at);
    last.set(worker, at);
  };
  for (let r = start; r < history.length; r++) for (const w of history[r]) note(w, r);
  for (const w of current) note(w, history.length);
  if (first.size > model.lambda) return false;
  for (const [w, f] of first) {
    if ((last.get(w) as number) - f + 1 > model.B) return false;
  }
  return true;
}

/** Does every round of `pattern` conform, given the rounds before it? */
export function conformsPattern(pattern: readonly (readonly number[])[], model: BurstModel): boolean {
  for (let r = 0; r < pattern.length; r++) {
    if (!conformsWindow(pattern.slice(0, r), pattern[r], model)) return false;
  }
  return true;
}

/** Checks a late set: distinct integer worker indices in [0, workers). Returns a sorted copy. */
export function normaliseLateSet(late: readonly number[], workers: number, what: string): number[] {
  check(Array.isArray(late), 'EINVAL', () => `${what}: late workers must be an array of worker indices`);
  const seen = new Uint8Array(workers);
  for (const w of late) {
    check(Number.isInteger(w) && w >= 0 && w < workers, 'EINVAL', () => `${what}: late worker ${String(w)} is not in [0, ${workers})`);
    check(seen[w] === 0, 'EINVAL', () => `${what}: late worker ${w} listed twice`);
    seen[w] = 1;
  }
  return [...late].sort((a, b) => a - b);
}
