/**
 * The contract between the DistributedOptimizer and a gradient-exchange strategy. The optimizer
 * computes this rank's flat gradient (gradient-layout.ts), lets the Byzantine hook rewrite it, and
 * hands it to `exchange`, which talks to the other ranks and either returns the gradient to apply
 * with the inner tf.Optimizer, or has already updated the variables itself (Signum is an optimizer
 * in its own right: momentum and step live with the vote).
 */
import type { Communicator } from '../../comm/communicator.js';
import type { GradientLayout } from '../gradient-layout.js';
import type { Tf, Variable } from '../tfjs.js';

export interface StrategyStep {
  readonly comm: Communicator;
  /** Steps completed before this one (0 on the first). */
  readonly step: number;
  /** This rank's contribution, length layout.total; the strategy may overwrite it. */
  readonly grad: Float32Array;
  readonly layout: GradientLayout;
  readonly variables: readonly Variable[];
  readonly tf: Tf;
  readonly timeoutMs: number | undefined;
}

export type StrategyOutcome =
  /** Apply this gradient (length layout.total) with the inner optimizer. */
  | { readonly kind: 'gradient'; readonly gradient: Float32Array }
  /** The strategy updated the variables itself. */
  | { readonly kind: 'applied' };

export interface Strategy {
  readonly name: string;
  /** False for strategies that apply their own update (no inner tf.Optimizer needed). */
  readonly needsOptimizer: boolean;
  /** Strategies that apply their own update (needsOptimizer false): their learning rate, settable between steps. */
  lr?: number;
  /**
   * Coded strategies only: the partitions of the global batch this rank computes gradients of, and
   * how it combines them into its message. Absent: one gradient, on this rank's own shard.
   */
  partitionsOf?(rank: number, size: number): number[];
  encode?(rank: number, size: number, partials: ReadonlyMap<number, Float32Array>): Float32Array;
  exchange(step: StrategyStep): Promise<StrategyOutcome>;
  /**
   * Checkpoints: what the strategy carries from step to step (Signum's momentum, BGMD's memory) as
   * plain JSON-safe data, and its restoration in a fresh strategy made with the same options.
   * Absent: the strategy keeps nothing between steps.
   */
  saveState?(): StrategyState;
  loadState?(state: StrategyState, ctx: StrategyLoadContext): void;
}

/** A strategy's checkpoint: JSON-safe data (typed arrays as EncodedArray, state-codec.ts). */
export interface StrategyState {
  readonly [key: string]: unknown;
}

export interface StrategyLoadContext {
  readonly rank: number;
  readonly size: number;
  /** Parameters d of the variables trained. */
  readonly length: number;
}
