/**
 * One worker's BGMD residual, for `Bgmd` with memory 'workers' (a per-worker memory can live in two
 * places: on the aggregator as an n x d buffer, or on each worker once I is sent
 * back). Each round the worker sends a_i = fround(fround(lr g_i) + memory_i) instead of g_i; the
 * aggregator scores and selects I from the a_i, aggregates the block and returns the update and I;
 * the worker keeps a_i with I set to 0 (or its old memory when its row was not used). The rounds are
 * bitwise those of `Bgmd` with memory 'perWorker' (test/robust/bgmd-residual.test.ts).
 *
 * Why the worker: with the memory on the aggregator, every round reads g and the n x d memory twice
 * and writes the memory once there (three streaming passes over n x d floats on one machine); here
 * the aggregator reads each row once and holds no n x d buffer, and each worker does a d-length
 * augment in parallel with the others, as error-feedback compressors (EF-SGD, PowerSGD) keep their
 * residual where the gradient is. Robustness is unchanged: a Byzantine worker chooses its a_i
 * either way (with the memory on the aggregator it picks g_i = (a_i - memory_i) / lr).
 *
 * Protocol, per round: `augment(g, lr)` -> send the returned row; then `commit(selected, used)`
 * with the aggregator's I and whether it used this row (false when the row is among its
 * invalidRows), or `abort()` when the round failed (the memory is then as before the round).
 */
import { ZcollError } from '../errors.js';
import { kernels } from '../kernels/index.js';
import type { InvalidRowPolicy } from './aggregation.js';
import { checkInvalidPolicy } from './row-screen.js';

export interface BgmdResidualOptions {
  /** Vector length d. */
  length: number;
  /**
   * The aggregator's 'invalid' policy, for this worker's own NaN/Inf gradient: 'exclude' (default)
   * sends the non-finite row, which the aggregator leaves out, and the memory stays as it was;
   * 'zero' sends the memory alone (g_i = 0), as `Bgmd` 'perWorker' does with such a row.
   */
  invalid?: InvalidRowPolicy;
}

export class BgmdResidual {
  readonly length: number;
  private readonly invalid: InvalidRowPolicy;
  /** memory_i. */
  private memory: Float32Array;
  /** a_i of the round in flight; swapped with `memory` when the row was used. */
  private augmented: Float32Array;
  private pending = false;
  /** Whether this worker's last gradient was finite (set by `augment`). */
  private lastFinite = true;

  constructor(options: BgmdResidualOptions) {
    const op = 'BgmdResidual';
    const length = options.length;
    if (!Number.isInteger(length) || length < 1) throw new ZcollError('EINVAL', `option 'length' of ${op} must be an integer >= 1, got ${String(length)}`, { op });
    this.invalid = checkInvalidPolicy(options.invalid, op);
    this.length = length;
    this.memory = new Float32Array(length);
    this.augmented = new Float32Array(length);
  }

  /**
   * a_i = fround(fround(lr g) + memory) for this round, to send to the aggregator (an internal
   * buffer: valid until `commit` or `abort`). The memory itself is not changed yet.
   */
  augment(gradient: Float32Array, lr: number): Float32Array {
    const op = 'BgmdResidual.augment';
    if (this.pending) throw new ZcollError('EINVAL', `${op}: the previous round was neither committed nor aborted`, { op });
    if (!(gradient instanceof Float32Array && gradient.length === this.length)) {
      throw new ZcollError('EINVAL', `${op}: gradient must be a Float32Array of length ${this.length}, got ${gradient instanceof Float32Array ? `length ${gradient.length}` : typeof gradient}`, { op });
    }
    if (!(typeof lr === 'number' && lr > 0 && Number.isFinite(lr))) throw new ZcollError('EINVAL', `${op}: lr must be a finite number > 0, got ${String(lr)}`, { op });
    const a = this.augmented;
    this.lastFinite = kernels.augmentRow(this.memory, gradient, lr, a);
    // 'zero': g = 0, and fround(fround(lr 0) + m) = 0 + m, computed as Bgmd computes it (-0 -> +0).
    if (!this.lastFinite && this.invalid === 'zero') for (let j = 0; j < a.length; j++) a[j] = 0 + this.memory[j];
    this.pending = true;
    return a;
  }

  /** Whether the gradient given to the last `augment` was finite. */
  get gradientFinite(): boolean {
    return this.lastFinite;
  }

  /**
   * Ends the round: `selected` is the aggregator's I (ascending, each < length), `used` whether it
   * aggregated this worker's row (false when the row is among its report's invalidRows). Used: the
   * memory becomes a_i with I set to 0; not used: the memory stays as it was.
   */
  commit(selected: Uint32Array, used: boolean): void {
    const op = 'BgmdResidual.commit';
    if (!this.pending) throw new ZcollError('EINVAL', `${op}: no round in flight (call augment first)`, { op });
    if (!(selected instanceof Uint32Array)) throw new ZcollError('EINVAL', `${op}: selected must be a Uint32Array, got ${typeof selected}`, { op });
    const t = firstOutOfOrder(selected, this.length);
    if (t >= 0) throw new ZcollError('EINVAL', `${op}: selected must be ascending indices below ${this.length}; selected[${t}] = ${selected[t]}`, { op });
    this.pending = false;
    if (!used) return;
    const a = this.augmented;
    this.augmented = this.memory;
    this.memory = a;
    for (let t = 0; t < selected.length; t++) a[selected[t]] = 0;
  }

  /** Ends a round that failed: the memory stays as it was before `augment`. */
  abort(): void {
    this.pending = false;
  }

  /** memory_i (a view; do not modify). */
  get row(): Float32Array {
    return this.memory;
  }

  /** Clears the memory (for example after the model was reloaded). */
  reset(): void {
    this.memory.fill(0);
  }

  /** Restores memory_i saved from `row` (a checkpoint); not while a round is in flight. */
  setRow(memory: Float32Array): void {
    const op = 'BgmdResidual.setRow';
    if (this.pending) throw new ZcollError('EINVAL', `${op}: a round is in flight`, { op });
    if (!(memory instanceof Float32Array && memory.length === this.length)) throw new ZcollError('EINVAL', `${op}: memory must be a Float32Array of length ${this.length}`, { op });
    this.memory.set(memory);
  }
}

/** The first t where I is not strictly ascending below `length` (I[t] >= length or I[t] <= I[t - 1]), or -1. */
export function firstOutOfOrder(selected: Uint32Array, length: number): number {
  for (let t = 0; t < selected.length; t++) {
    if (selected[t] >= length || (t > 0 && selected[t] <= selected[t - 1])) return t;
  }
  return -1;
}
