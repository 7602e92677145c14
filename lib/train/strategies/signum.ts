/**
 * 'signum': Signum with majority vote (Bernstein, Zhao, Azizzadenesheli, Anandkumar, "signSGD with
 * majority vote is communication efficient and fault tolerant", ICLR 2019, Alg. 1), using
 * lib/compress: each rank keeps its momentum locally (Signum), sends sign(momentum) as 1 bit per
 * parameter, and every rank takes the majority vote of all ranks' bits and steps
 * x <- x - lr·(V + wd·x). The bits travel by direct all-gather (each rank's packet from that rank
 * itself, never relayed: the trust boundary of docs/architecture.md), so a Byzantine rank can only flip its own
 * vote; a malformed packet is left out of the vote. Signum is the optimizer: no inner tf.Optimizer is used.
 * Cost per step: d/8 bytes sent to each of the n-1 other ranks, O(n d / 32) word ops for the vote,
 * plus one read and one write of the parameters.
 */
import { Signum, type SignumOptions } from '../../compress/signum.js';
import { majorityVote, type TieRule } from '../../compress/majority-vote.js';
import { directAllGather } from '../direct-all-gather.js';
import { assignVariables, flattenVariables } from '../gradient-layout.js';
import { ZcollError } from '../../errors.js';
import { decodeArray, encodeArray } from '../state-codec.js';
import type { Strategy, StrategyLoadContext, StrategyOutcome, StrategyState, StrategyStep } from './strategy.js';

export interface SignumStrategyOptions extends Omit<SignumOptions, 'rank' | 'kernels'> {
  /** Tie rule for an even number of ranks (default 'plus', the reference's). */
  tie?: TieRule;
  /** Seed of the 'random' tie rule (default 0). */
  tieSeed?: number;
}

export class SignumStrategy implements Strategy {
  readonly name = 'signum';
  readonly needsOptimizer = false;
  private readonly options: SignumStrategyOptions;
  private signum: Signum | undefined;
  private previousVote: Uint32Array | undefined;
  /** Ranks whose packet was malformed at the last step (left out of the vote). */
  invalidVotes = 0;

  constructor(options: SignumStrategyOptions) {
    this.options = options;
    // Validate now (lr, beta, weight decay), not at the first step.
    new Signum(0, options);
  }

  /** The learning rate; settable between steps. */
  get lr(): number {
    return this.signum?.lr ?? this.options.lr;
  }

  set lr(value: number) {
    if (this.signum !== undefined) this.signum.lr = value;
    else new Signum(0, { ...this.options, lr: value });
    this.options.lr = value;
  }

  /** Momentum, the last vote (tie rule 'keep' reads it) and the learning rate. */
  saveState(): StrategyState {
    return {
      lr: this.lr,
      ...(this.signum !== undefined ? { momentum: encodeArray(this.signum.momentum) } : {}),
      ...(this.previousVote !== undefined ? { previousVote: encodeArray(this.previousVote) } : {}),
    };
  }

  loadState(state: StrategyState, ctx: StrategyLoadContext): void {
    const c = { rank: ctx.rank, op: 'DistributedOptimizer.load' };
    if (typeof state.lr !== 'number') throw new ZcollError('EINVAL', `${c.op}: signum state has no learning rate`, c);
    const momentum = state.momentum !== undefined ? decodeArray(state.momentum, 'float32', 'signum momentum', c, ctx.length) : undefined;
    const vote = state.previousVote !== undefined ? decodeArray(state.previousVote, 'uint32', 'signum previous vote', c, Math.ceil(ctx.length / 32)) : undefined;
    this.lr = state.lr;
    this.signum = undefined;
    if (momentum !== undefined) {
      this.signum = new Signum(ctx.length, { ...this.options, rank: ctx.rank });
      this.signum.momentum.set(momentum);
    }
    this.previousVote = vote;
  }

  async exchange(s: StrategyStep): Promise<StrategyOutcome> {
    const d = s.layout.total;
    if (this.signum === undefined || this.signum.d !== d) this.signum = new Signum(d, { ...this.options, rank: s.comm.rank });
    const params = await flattenVariables(s.variables, s.layout);
    const signs = this.signum.signs(s.grad, params);
    // zcoll's collectives carry Int32Array; the words are the same bits.
    const rows = await directAllGather(s.comm, new Int32Array(signs.buffer, signs.byteOffset, signs.length), s.timeoutMs);
    // A malformed packet (wrong length: a faulty or Byzantine rank) is left out of the vote.
    const packed = rows.filter((r): r is Int32Array => r !== undefined).map((r) => new Uint32Array(r.buffer, r.byteOffset, r.length));
    this.invalidVotes = rows.length - packed.length;
    const vote = majorityVote(packed, d, {
      tie: this.options.tie ?? 'plus',
      seed: this.options.tieSeed ?? 0,
      round: s.step,
      rank: s.comm.rank,
      ...(this.previousVote !== undefined ? { previous: this.previousVote } : {}),
    });
    this.previousVote = vote;
    this.signum.apply(params, vote);
    assignVariables(s.tf, s.variables, params, s.layout);
    return { kind: 'applied' };
  }
}
