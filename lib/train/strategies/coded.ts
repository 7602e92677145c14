/**
 * 'coded': gradient coding (Tandon, Lei, Dimakis, Karampatziakis, "Gradient Coding", ICML 2017;
 * lib/coding/gradient-code.ts). The global batch is cut into n partitions; rank i computes the
 * gradients of the s+1 partitions of its code row and sends one coded message
 * f_i = sum_j B[i][j] g_j. From the messages of any n-s ranks every rank decodes sum_j g_j exactly
 * (FRC when (s+1) | n, else CRC by a checked least-squares solve) and applies the mean gradient
 * (sum_j g_j) / n with the inner tf.Optimizer.
 * Scope here: messages travel by one all-gather, which waits for every rank, so the decode
 * tolerates *ignored* ranks (`ignore(step)`, at most s of them: ranks whose messages are known to
 * be late or lost) but the collective itself does not return early for stragglers; the point it
 * proves is that the applied gradient is the full-batch gradient from any n-s messages.
 * Cost per step: (s+1)x the gradient computation, one all-gather of 4d bytes per rank, one decode
 * (a weighted sum of n-s vectors).
 */
import { ZcollError } from '../../errors.js';
import { GradientCode, type GradientCodeOptions } from '../../coding/gradient-code.js';
import { decodeArray, encodeArray } from '../state-codec.js';
import type { Strategy, StrategyLoadContext, StrategyOutcome, StrategyState, StrategyStep } from './strategy.js';

export interface CodedStrategyOptions {
  /** Stragglers tolerated s, 0 <= s < n. */
  stragglers: number;
  /** Code construction ('auto': FRC when (s+1) | n, CRC otherwise) and CRC seed; same on every rank. */
  code?: GradientCodeOptions;
  /** Ranks whose messages are left out of the decode at this step (at most s; default none). */
  ignore?: (step: number) => readonly number[];
}

export class CodedStrategy implements Strategy {
  readonly name = 'coded';
  readonly needsOptimizer = true;
  readonly stragglers: number;
  private readonly options: CodedStrategyOptions;
  private code: GradientCode | undefined;
  /** Responders used by the last decode. */
  lastResponders: number[] = [];

  constructor(options: CodedStrategyOptions) {
    const s = options.stragglers;
    if (!Number.isInteger(s) || s < 0) throw new ZcollError('EINVAL', `option 'stragglers' of strategy 'coded' must be an integer >= 0, got ${String(s)}`, { op: 'DistributedOptimizer' });
    this.stragglers = s;
    this.options = options;
  }

  private codeFor(size: number): GradientCode {
    if (this.code === undefined || this.code.n !== size) {
      if (this.stragglers >= size) throw new ZcollError('EINVAL', `strategy 'coded': stragglers ${this.stragglers} must be < the number of ranks ${size}`, { op: 'DistributedOptimizer' });
      this.code = GradientCode.create(size, this.stragglers, this.options.code ?? {});
    }
    return this.code;
  }

  partitionsOf(rank: number, size: number): number[] {
    return this.codeFor(size).encodingFor(rank).map((t) => t.partition);
  }

  encode(rank: number, size: number, partials: ReadonlyMap<number, Float32Array>): Float32Array {
    const code = this.codeFor(size);
    const list: (Float32Array | undefined)[] = Array.from({ length: size }, (_, j) => partials.get(j));
    const first = partials.values().next().value;
    const out = new Float32Array(first === undefined ? 0 : first.length);
    return code.encode(rank, list, out) as Float32Array;
  }

  /**
   * The code is a function of (n, s, options), remade identically in a fresh process, and which
   * ranks are ignored is a function of the step (the optimizer's iterations, saved with it): the
   * state records (n, s) and the code's encoding matrix, so that resuming under another code fails
   * instead of decoding wrong sums.
   */
  saveState(): StrategyState {
    return { stragglers: this.stragglers, ...(this.code !== undefined ? { ranks: this.code.n, matrix: encodeArray(this.code.matrix) } : {}) };
  }

  loadState(state: StrategyState, ctx: StrategyLoadContext): void {
    const c = { rank: ctx.rank, op: 'DistributedOptimizer.load' };
    if (state.stragglers !== this.stragglers) throw new ZcollError('EINVAL', `${c.op}: the state is of a code for ${String(state.stragglers)} stragglers, this strategy tolerates ${this.stragglers}`, c);
    if (state.ranks === undefined) return;
    if (state.ranks !== ctx.size) throw new ZcollError('EINVAL', `${c.op}: the state is of a code for ${String(state.ranks)} ranks, this world has ${ctx.size}`, c);
    const saved = decodeArray(state.matrix, 'float64', 'code matrix', c, ctx.size * ctx.size);
    const mine = this.codeFor(ctx.size).matrix;
    if (mine.some((x, i) => !Object.is(x, saved[i]))) throw new ZcollError('EINVAL', `${c.op}: the saved code matrix differs from the one these options make (code construction or CRC seed changed)`, c);
  }

  async exchange(s: StrategyStep): Promise<StrategyOutcome> {
    const n = s.comm.size;
    const code = this.codeFor(n);
    const d = s.layout.total;
    const all = await s.comm.allGather(s.grad, s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {});
    const ignored = new Set(this.options.ignore?.(s.step) ?? []);
    if (ignored.size > this.stragglers) {
      throw new ZcollError('EINVAL', `strategy 'coded': ${ignored.size} ranks ignored at step ${s.step}, the code tolerates ${this.stragglers}`, { rank: s.comm.rank, op: 'DistributedOptimizer' });
    }
    const responders: number[] = [];
    const messages: Float32Array[] = [];
    for (let r = 0; r < n; r++) {
      if (ignored.has(r)) continue;
      responders.push(r);
      messages.push(all.subarray(r * d, (r + 1) * d));
    }
    // Decode in float64 (the sum of n partition gradients), then average.
    const sum = code.decode(responders, messages, new Float64Array(d));
    const gradient = new Float32Array(d);
    for (let x = 0; x < d; x++) gradient[x] = sum[x] / n;
    this.lastResponders = responders;
    return { kind: 'gradient', gradient };
  }
}
