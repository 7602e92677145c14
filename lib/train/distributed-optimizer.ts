/**
 * DistributedOptimizer: Horovod's DistributedOptimizer for tfjs. Wraps a tf.Optimizer so that each
 * step's gradients are exchanged across ranks (strategy 'allreduce' | 'signum' | 'robust' | 'coded'
 * or a Strategy object) before they are applied:
 *
 *   const opt = new DistributedOptimizer(comm, { optimizer: tf.train.sgd(0.1), variables: model });
 *   await broadcastVariables(comm, model, 0);
 *   for (const batch of myShard) await opt.minimize(() => loss(model, batch));
 *
 * tfjs's Optimizer.minimize is synchronous and collectives are not, so `minimize` and
 * `applyGradients` here are async; `model.fit` drives it through distributedFit (fit.ts), whose
 * callbacks run the exchange between batches.
 * One step: tf.variableGrads(lossFn) -> one flat Float32Array in variable order
 * (gradient-layout.ts) -> optional `contribution` hook (Byzantine injection for tests and
 * experiments: it rewrites this rank's OWN contribution before it is sent; see byzantine.ts) ->
 * strategy.exchange -> inner.applyGradients on fresh tensors, disposed after. Every tensor made
 * here is disposed; the user's lossFn outputs, gradients passed to applyGradients and variables are
 * never disposed.
 */
import type { Communicator } from '../comm/communicator.js';
import { ZcollError } from '../errors.js';
import { flattenGradients, gradientTensors, layoutOf, type GradientLayout } from './gradient-layout.js';
import { loadTf, type NamedTensorMap, type Optimizer, type Scalar, type Tf, type TfTensor, type Variable } from './tfjs.js';
import { loadOptimizerState, optimizerState, type OptimizerState } from './optimizer-state.js';
import { optimizerLearningRate, setOptimizerLearningRate } from './learning-rate.js';
import { resolveVariables, type VariableSource } from './variables.js';
import { AllReduceStrategy, type AllReduceStrategyOptions } from './strategies/allreduce.js';
import { CodedStrategy, type CodedStrategyOptions } from './strategies/coded.js';
import { RobustStrategy, type RobustStrategyOptions } from './strategies/robust.js';
import { SignumStrategy, type SignumStrategyOptions } from './strategies/signum.js';
import type { Strategy } from './strategies/strategy.js';

export type StrategyName = 'allreduce' | 'signum' | 'robust' | 'coded';
export const STRATEGY_NAMES: readonly StrategyName[] = ['allreduce', 'signum', 'robust', 'coded'];

/** Rewrites this rank's own contribution (its flat gradient, or its coded message) before it is sent. */
export type ContributionHook = (input: { own: Float32Array; step: number; rank: number }) => Float32Array | Promise<Float32Array>;

export interface DistributedOptimizerOptions {
  /** Default 'allreduce'. */
  strategy?: StrategyName | Strategy;
  /** The optimizer that applies the exchanged gradient (not used by 'signum'). */
  optimizer?: Optimizer;
  /** The variables trained: a tf.LayersModel, LayerVariables or tf.Variables (default: every trainable variable). */
  variables?: VariableSource;
  allreduce?: AllReduceStrategyOptions;
  signum?: SignumStrategyOptions;
  robust?: RobustStrategyOptions;
  coded?: CodedStrategyOptions;
  contribution?: ContributionHook;
  /** Deadline of each collective (default: the communicator's). */
  timeoutMs?: number;
}

export interface MinimizeOptions {
  /** Return the loss (the caller then owns and disposes it). Default false. */
  returnCost?: boolean;
  /** Variables of this step (default: the optimizer's). */
  varList?: VariableSource;
}

/** The loss of this rank's batch; for strategy 'coded', of partition `partition` of the global batch. */
export type LossFunction = (partition: number) => Scalar;

export type GradientsInput = NamedTensorMap | readonly { name: string; tensor: TfTensor }[];

export class DistributedOptimizer {
  readonly comm: Communicator;
  readonly strategy: Strategy;
  readonly inner: Optimizer | undefined;
  private readonly variableSource: VariableSource | undefined;
  private readonly contribution: ContributionHook | undefined;
  private readonly timeoutMs: number | undefined;
  private layoutCache: { vars: readonly Variable[]; layout: GradientLayout } | undefined;
  private fusionBuffer: Float32Array | undefined;
  private busy = false;
  /** Steps completed. */
  iterations = 0;

  constructor(comm: Communicator, options: DistributedOptimizerOptions = {}) {
    const ctx = { rank: comm.rank, op: 'DistributedOptimizer' };
    this.comm = comm;
    const s = options.strategy ?? 'allreduce';
    if (typeof s === 'object' && s !== null && typeof (s as Strategy).exchange === 'function') this.strategy = s as Strategy;
    else if (s === 'allreduce') this.strategy = new AllReduceStrategy(options.allreduce);
    else if (s === 'robust') this.strategy = new RobustStrategy(options.robust);
    else if (s === 'signum') {
      if (options.signum === undefined) throw new ZcollError('EINVAL', `strategy 'signum' needs options.signum with at least 'lr'`, ctx);
      this.strategy = new SignumStrategy(options.signum);
    } else if (s === 'coded') {
      if (options.coded === undefined) throw new ZcollError('EINVAL', `strategy 'coded' needs options.coded with at least 'stragglers'`, ctx);
      this.strategy = new CodedStrategy(options.coded);
    } else throw new ZcollError('EINVAL', `option 'strategy' must be one of ${STRATEGY_NAMES.join(', ')} or a Strategy object, got ${String(s)}`, ctx);
    const opt = options.optimizer;
    if (opt !== undefined && (typeof opt !== 'object' || typeof (opt as Partial<Optimizer>).applyGradients !== 'function')) {
      throw new ZcollError('EINVAL', `option 'optimizer' must be a tf.Optimizer (tf.train.sgd(...), tf.train.adam(...))`, ctx);
    }
    if (opt === undefined && this.strategy.needsOptimizer) {
      throw new ZcollError('EINVAL', `strategy '${this.strategy.name}' needs option 'optimizer' (a tf.Optimizer that applies the exchanged gradient)`, ctx);
    }
    if (options.contribution !== undefined && typeof options.contribution !== 'function') throw new ZcollError('EINVAL', `option 'contribution' must be a function`, ctx);
    this.inner = opt;
    this.variableSource = options.variables;
    this.contribution = options.contribution;
    this.timeoutMs = options.timeoutMs;
  }

  /**
   * The learning rate applied at the next step: the inner tf.Optimizer's, or Signum's (its own
   * optimizer). Settable between steps (warm-up, schedules); NaN when the inner optimizer has no
   * readable rate.
   */
  get learningRate(): number {
    if (this.strategy.lr !== undefined) return this.strategy.lr;
    return this.inner !== undefined ? (optimizerLearningRate(this.inner) ?? Number.NaN) : Number.NaN;
  }

  set learningRate(lr: number) {
    if (!(typeof lr === 'number' && lr > 0 && Number.isFinite(lr))) throw new ZcollError('EINVAL', `learningRate must be a finite number > 0, got ${String(lr)}`, { rank: this.comm.rank, op: 'DistributedOptimizer' });
    if (this.strategy.lr !== undefined) this.strategy.lr = lr;
    else if (this.inner !== undefined) setOptimizerLearningRate(this.inner, lr, this.comm.rank);
    else throw new ZcollError('EINVAL', `strategy '${this.strategy.name}' has no learning rate to set`, { rank: this.comm.rank, op: 'DistributedOptimizer' });
  }

  /**
   * This optimizer's state for a checkpoint (optimizer-state.ts): plain JSON-safe data. Call it
   * between steps. The model's weights are not in it (saveCheckpoint adds them).
   */
  async state(): Promise<OptimizerState> {
    return await optimizerState(this, this.variables(await loadTf(), undefined));
  }

  /** Restores a state of `state()` saved by this rank, into an optimizer made with the same options; between steps. */
  async load(state: OptimizerState): Promise<void> {
    if (this.busy) throw new ZcollError('EINVAL', 'DistributedOptimizer.load: a step is running; load between steps', { rank: this.comm.rank, op: 'DistributedOptimizer.load' });
    await loadOptimizerState(this, this.variables(await loadTf(), undefined), state);
  }

  private variables(tf: Tf, varList: VariableSource | undefined): readonly Variable[] {
    const source = varList ?? this.variableSource;
    const vars =
      source !== undefined
        ? resolveVariables(source, 'DistributedOptimizer', this.comm.rank)
        : Object.values(tf.engine().registeredVariables).filter((v) => v.trainable);
    if (vars.length === 0) throw new ZcollError('EINVAL', 'DistributedOptimizer: no trainable variables', { rank: this.comm.rank, op: 'DistributedOptimizer' });
    const c = this.layoutCache;
    if (c !== undefined && c.vars.length === vars.length && c.vars.every((v, i) => v === vars[i])) return c.vars;
    this.layoutCache = { vars, layout: layoutOf(vars) };
    if (this.fusionBuffer !== undefined) this.comm.freeBuffer(this.fusionBuffer);
    this.fusionBuffer = undefined;
    return vars;
  }

  /**
   * This rank's flat gradient, reused every step (Horovod's fusion buffer): registered with the
   * communicator (comm.allocBuffer), so same-host peers reduce straight from it, and allocated
   * once, since fresh pages cost a page fault each. Valid for one step: the strategy, and a
   * 'contribution' hook, must not keep it.
   */
  private flatGradient(layout: GradientLayout): Float32Array {
    if (this.fusionBuffer === undefined) this.fusionBuffer = this.comm.allocBuffer('float32', layout.total) as Float32Array;
    return this.fusionBuffer;
  }

  /**
   * Computes this rank's gradients of `lossFn`, exchanges them with the strategy and applies the
   * result. Every rank must call it once per step. For 'coded', lossFn(j) is called for each
   * partition j of the global batch this rank's code row covers.
   */
  async minimize(lossFn: LossFunction, options: MinimizeOptions = {}): Promise<Scalar | null> {
    if (typeof lossFn !== 'function') throw new ZcollError('EINVAL', `argument 'lossFn' of minimize must be a function returning a scalar loss`, { rank: this.comm.rank, op: 'minimize' });
    const tf = await loadTf();
    const vars = this.variables(tf, options.varList);
    const layout = this.layoutCache!.layout;
    const strategy = this.strategy;
    let own: Float32Array;
    let cost: Scalar;
    if (strategy.partitionsOf !== undefined && strategy.encode !== undefined) {
      const partitions = strategy.partitionsOf(this.comm.rank, this.comm.size);
      const partials = new Map<number, Float32Array>();
      const costs: Scalar[] = [];
      try {
        for (const j of partitions) {
          const { value, grads } = tf.variableGrads(() => lossFn(j), vars as Variable[]);
          costs.push(value);
          try {
            partials.set(j, await flattenGradients(grads, layout, this.comm.rank));
          } finally {
            tf.dispose(grads);
          }
        }
        cost = tf.tidy(() => tf.div(tf.addN(costs), costs.length)) as Scalar;
      } finally {
        tf.dispose(costs);
      }
      own = strategy.encode(this.comm.rank, this.comm.size, partials);
    } else {
      const { value, grads } = tf.variableGrads(() => lossFn(0), vars as Variable[]);
      cost = value;
      try {
        own = await flattenGradients(grads, layout, this.comm.rank, this.flatGradient(layout));
      } catch (e) {
        cost.dispose();
        throw e;
      } finally {
        tf.dispose(grads);
      }
    }
    try {
      await this.exchangeAndApply(tf, vars, layout, own);
    } catch (e) {
      cost.dispose();
      throw e;
    }
    if (options.returnCost === true) return cost;
    cost.dispose();
    return null;
  }

  /**
   * Exchanges gradients the caller computed (not disposed here) and applies the result. Not for
   * 'coded', whose messages combine several partitions' gradients (use minimize).
   */
  async applyGradients(grads: GradientsInput): Promise<void> {
    const ctx = { rank: this.comm.rank, op: 'applyGradients' };
    if (this.strategy.partitionsOf !== undefined) throw new ZcollError('EINVAL', `strategy '${this.strategy.name}' needs per-partition gradients: use minimize(lossFn)`, ctx);
    const tf = await loadTf();
    const vars = this.variables(tf, undefined);
    const layout = this.layoutCache!.layout;
    let map: NamedTensorMap;
    if (Array.isArray(grads)) {
      map = {};
      for (const g of grads as readonly { name: string; tensor: TfTensor }[]) {
        if (typeof g?.name !== 'string' || g.tensor === undefined) throw new ZcollError('EINVAL', `applyGradients: each entry of the list must be { name, tensor }`, ctx);
        map[g.name] = g.tensor;
      }
    } else if (typeof grads === 'object' && grads !== null) map = grads as NamedTensorMap;
    else throw new ZcollError('EINVAL', `applyGradients: expected a NamedTensorMap or a list of { name, tensor }, got ${typeof grads}`, ctx);
    const own = await flattenGradients(map, layout, this.comm.rank, this.flatGradient(layout));
    await this.exchangeAndApply(tf, vars, layout, own);
  }

  private async exchangeAndApply(tf: Tf, vars: readonly Variable[], layout: GradientLayout, own: Float32Array): Promise<void> {
    const ctx = { rank: this.comm.rank, op: 'DistributedOptimizer' };
    if (this.busy) throw new ZcollError('EINVAL', 'DistributedOptimizer: a step is already running; await each minimize/applyGradients before the next', ctx);
    this.busy = true;
    try {
      let mine = own;
      if (this.contribution !== undefined) {
        mine = await this.contribution({ own, step: this.iterations, rank: this.comm.rank });
        if (!(mine instanceof Float32Array) || mine.length !== own.length) {
          throw new ZcollError('EINVAL', `the 'contribution' hook must return a Float32Array of ${own.length} elements`, ctx);
        }
      }
      const outcome = await this.strategy.exchange({ comm: this.comm, step: this.iterations, grad: mine, layout, variables: vars, tf, timeoutMs: this.timeoutMs });
      if (outcome.kind === 'gradient') {
        const tensors = gradientTensors(tf, outcome.gradient, layout);
        try {
          this.inner!.applyGradients(tensors);
        } finally {
          tf.dispose(tensors);
        }
      }
      this.iterations++;
    } finally {
      this.busy = false;
    }
  }
}
