/**
 * 'signum': Signum with majority vote (Bernstein, Zhao, Azizzadenesheli, Anandkumar, "signSGD with
 * majority vote is communication efficient and fault tolerant", ICLR 2019, Alg. 1), using
 * lib/compress: each rank keeps its momentum locally (Signum), sends sign(momentum) as 1 bit per
 * parameter, and every rank takes the majority vote of all ranks' bits and steps
 * x <- x - lr·(V + wd·x). The vote goes through lib/compress/vote-modes.ts (signVote, option
 * `voteMode`):
 *   'allgather' (default) each rank's packet straight from that rank, never relayed (the trust
 *               boundary of docs/architecture.md): a Byzantine rank can only flip its own vote, and a
 *               malformed packet is left out of the vote. Each rank sends d/8 bytes to each of n-1 ranks;
 *   'server'    workers send to rank 0, which votes and sends the vote back to each (trusts rank 0;
 *               malformed worker packets are left out): d/8 up and down per worker;
 *   'reduce'    the 'server' mode sharded: an all-to-all sends rank j the j-th chunk of every rank's
 *               signs, rank j votes it, and every rank gets every chunk's vote straight from its
 *               owner: about 2(n-1)/n·d/8 bytes per rank, fewer than 'allgather' from n = 3 on;
 *               trusts every rank with its chunk's vote (a malformed message fails the step with
 *               EMISMATCH).
 * Signum is the optimizer: no inner tf.Optimizer is used. Local work per step: Signum's two kernel
 * passes (check + momentum + pack; update from the packed vote: 20d bytes of memory traffic), and
 * the vote's buffers (SignVoteScratch) and the parameters' flat copy are kept between steps, so a step
 * allocates nothing of size d; the buffers the vote sends (signs, vote) are
 * registered with the communicator when it has shared memory, so same-host peers read them in place.
 */
import { Signum, type SignumOptions } from '../../compress/signum.js';
import type { TieRule } from '../../compress/majority-vote.js';
import { signVote, SignVoteScratch } from '../../compress/vote-modes.js';
import { SIGN_VOTE_MODES, type SignVoteMode } from '../../compress/wire-bytes.js';
import { assignVariables, flattenVariables } from '../gradient-layout.js';
import { ZcollError } from '../../errors.js';
import { allocFloat32 } from '../../kernels/huge-pages.js';
import { decodeArray, encodeArray } from '../state-codec.js';
import type { Strategy, StrategyLoadContext, StrategyOutcome, StrategyState, StrategyStep } from './strategy.js';

export interface SignumStrategyOptions extends Omit<SignumOptions, 'rank' | 'kernels'> {
  /** Tie rule for an even number of ranks (default 'plus', the reference's). */
  tie?: TieRule;
  /** Seed of the 'random' tie rule (default 0). */
  tieSeed?: number;
  /** How the vote travels (default 'allgather'; see the file comment for trust and bytes). */
  voteMode?: SignVoteMode;
}

export class SignumStrategy implements Strategy {
  readonly name = 'signum';
  readonly needsOptimizer = false;
  private readonly options: SignumStrategyOptions;
  private signum: Signum | undefined;
  private previousVote: Uint32Array | undefined;
  private scratch: SignVoteScratch | undefined;
  /** The parameters' flat copy, kept between steps (allocFloat32: huge pages where offered). */
  private paramsFlat: Float32Array | undefined;
  /** Ranks whose packet was malformed at the last step (left out of the vote). */
  invalidVotes = 0;

  constructor(options: SignumStrategyOptions) {
    this.options = options;
    // Validate now (lr, beta, weight decay, vote mode), not at the first step.
    new Signum(0, options);
    if (options.voteMode !== undefined && !(SIGN_VOTE_MODES as readonly string[]).includes(options.voteMode)) {
      throw new ZcollError('EINVAL', `option 'signum.voteMode' must be one of ${SIGN_VOTE_MODES.join(', ')}, got ${JSON.stringify(options.voteMode)}`, { op: 'DistributedOptimizer' });
    }
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
    if (this.scratch === undefined || this.scratch.d !== d || this.scratch.ranks !== s.comm.size || (this.scratch.comm !== undefined && this.scratch.comm !== s.comm) || !this.scratch.usable) {
      // The old one's registered buffers go back to /dev/shm now, not when the communicator closes.
      if (this.scratch?.comm !== undefined && this.scratch.usable) this.scratch.release();
      this.scratch = new SignVoteScratch(s.comm.size, d, { comm: s.comm });
    }
    // Into a kept buffer: a fresh one of d floats each step cost 48 ms of wall time at d = 25M in
    // page faults and collection, against 6-7 ms for the copy itself (bench/results/signsgd.md).
    if (this.paramsFlat?.length !== d) this.paramsFlat = allocFloat32(d);
    const params = await flattenVariables(s.variables, s.layout, this.paramsFlat, s.comm.rank);
    // Packed straight into the scratch's registered buffer: same-host peers read it in place.
    const signs = this.signum.signs(s.grad, params, this.scratch.signs);
    const mode = this.options.voteMode ?? 'allgather';
    const excluded: number[] = [];
    const vote = await signVote(s.comm, signs, d, {
      mode,
      root: 0,
      // Modes without relays leave a malformed packet (a faulty or Byzantine rank) out of the vote.
      byzantine: mode !== 'reduce',
      excluded,
      tie: this.options.tie ?? 'plus',
      seed: this.options.tieSeed ?? 0,
      round: s.step,
      scratch: this.scratch,
      ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
      ...(this.previousVote !== undefined ? { previous: this.previousVote } : {}),
    });
    this.invalidVotes = excluded.length;
    // The scratch's vote is overwritten by the next step; tie rule 'keep' and the state need this one.
    if (this.previousVote?.length !== vote.length) this.previousVote = new Uint32Array(vote.length);
    this.previousVote.set(vote);
    this.signum.apply(params, vote);
    assignVariables(s.tf, s.variables, params, s.layout);
    return { kind: 'applied' };
  }
}
