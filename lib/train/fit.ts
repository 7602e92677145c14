/**
 * model.fit / model.fitDataset with a DistributedOptimizer (Horovod's Keras DistributedOptimizer
 * plus its callbacks: BroadcastGlobalVariablesCallback, MetricAverageCallback,
 * LearningRateWarmupCallback).
 *
 * How tfjs-layers' fit drives an optimizer (training.ts, fitLoop): for each batch it awaits the
 * callbacks' onBatchBegin, then calls the SYNCHRONOUS train function, in which
 * optimizer.minimize(loss, true, variables) computes the gradients and calls
 * optimizer.applyGradients(grads) synchronously, then awaits onBatchEnd. A collective is async, so
 * it cannot run inside applyGradients (blocking the event loop there would also block the sockets
 * the collective needs). The design here splits the step at that boundary:
 *   - `optimizer` (a real tf.Optimizer subclass, accepted by model.compile) only keeps a copy of the
 *     gradients in applyGradients;
 *   - the `onBatchEnd` callback awaits DistributedOptimizer.applyGradients on them: exchange across
 *     ranks, then the inner optimizer's update. fit awaits onBatchEnd before the next batch's
 *     forward pass, so every batch sees the weights updated by all previous ones: the step is the
 *     custom loop's step, the same operations in the same order (test/train/fit.test.ts compares
 *     the weights bit for bit).
 * Consequences, stated: (1) pass `callbacks` to fit, or the second batch fails with EINVAL (the first
 * batch's gradients were never exchanged); (2) fit's own validation (validationData/Split) runs
 * inside the last batch's train function, before that batch's onBatchEnd, so it sees the weights
 * without the epoch's last update; evaluate after fit, or in a later onEpochEnd, for exact
 * numbers; (3) every rank must run the same number of batches (equal shard sizes), as with any
 * data-parallel loop; a rank that runs fewer leaves the others to time out (ETIMEDOUT), not hang.
 * 'coded' is refused: its messages need per-partition gradients that fit does not compute.
 */
import { ZcollError } from '../errors.js';
import { broadcastVariables } from './broadcast-variables.js';
import type { DistributedOptimizer, GradientsInput } from './distributed-optimizer.js';
import { warmupLearningRate, type LearningRateRule } from './learning-rate.js';
import { loadTf, type NamedTensorMap, type Optimizer, type TfTensor } from './tfjs.js';
import type { VariableSource } from './variables.js';

export interface DistributedFitOptions {
  /** The model (or its variables): broadcast from `root` when training begins. */
  model: VariableSource;
  /** Broadcast the initial weights (onTrainBegin, Horovod's BroadcastGlobalVariablesCallback); default true. */
  broadcast?: boolean;
  root?: number;
  /** Average the epoch's logs (loss, metrics, val_*) across ranks in onEpochEnd (MetricAverageCallback); default true. */
  averageMetrics?: boolean;
  /**
   * Learning-rate warm-up (LearningRateWarmupCallback): before each batch the rate is set to
   * warmupLearningRate(step, baseLr, ranks, { warmupSteps, rule }), step being the optimizer's
   * iterations: from baseLr to baseLr x n (linear rule) over warmupSteps batches.
   */
  warmup?: { baseLr: number; warmupSteps: number; rule?: LearningRateRule };
}

/** The callbacks to pass to fit / fitDataset (tfjs-layers' CustomCallbackArgs). */
export interface DistributedFitCallbacks {
  onTrainBegin: (logs?: Record<string, number>) => Promise<void>;
  onBatchBegin: (batch: number, logs?: Record<string, number>) => Promise<void>;
  onBatchEnd: (batch: number, logs?: Record<string, number>) => Promise<void>;
  onEpochEnd: (epoch: number, logs?: Record<string, number>) => Promise<void>;
}

export interface DistributedFit {
  /** For model.compile({ optimizer }). */
  readonly optimizer: Optimizer;
  /** For model.fit(x, y, { callbacks }) (alone or with others, before them). */
  readonly callbacks: DistributedFitCallbacks;
}

export async function distributedFit(dopt: DistributedOptimizer, options: DistributedFitOptions): Promise<DistributedFit> {
  const tf = await loadTf();
  const rank = dopt.comm.rank;
  const op = 'distributedFit';
  if (dopt.strategy.partitionsOf !== undefined) throw new ZcollError('EINVAL', `${op}: strategy '${dopt.strategy.name}' needs per-partition gradients, which fit does not compute: use a custom loop with minimize(lossFn)`, { rank, op });
  if (typeof options !== 'object' || options === null || options.model === undefined) throw new ZcollError('EINVAL', `${op}: option 'model' (the model fit trains) is required`, { rank, op });
  const warmup = options.warmup;
  if (warmup !== undefined) warmupLearningRate(0, warmup.baseLr, dopt.comm, { warmupSteps: warmup.warmupSteps, rule: warmup.rule ?? 'linear' }); // validates now
  let pending: NamedTensorMap | undefined;

  // A tf.Optimizer for compile (which checks instanceof against tfjs-core's class, hence the class
  // made here from the loaded tfjs-core) whose step is finished by onBatchEnd.
  class DeferredOptimizer extends tf.Optimizer {
    static get className(): string {
      return 'ZcollDistributedOptimizer';
    }

    applyGradients(grads: GradientsInput): void {
      if (pending !== undefined) {
        throw new ZcollError('EINVAL', `${op}: the previous batch's gradients were never exchanged: pass the callbacks of distributedFit to fit / fitDataset`, { rank, op });
      }
      const kept: NamedTensorMap = {};
      // Copies kept past fit's tidy (fit disposes the gradients right after this call).
      const list = Array.isArray(grads) ? (grads as readonly { name: string; tensor: TfTensor }[]) : Object.entries(grads as NamedTensorMap).map(([name, tensor]) => ({ name, tensor }));
      for (const { name, tensor } of list) kept[name] = tf.keep(tensor.clone());
      pending = kept;
    }

    getConfig(): Record<string, never> {
      return {};
    }
  }

  const callbacks: DistributedFitCallbacks = {
    onTrainBegin: async () => {
      if (options.broadcast ?? true) await broadcastVariables(dopt.comm, options.model, options.root ?? 0);
    },
    onBatchBegin: async () => {
      if (warmup !== undefined) dopt.learningRate = warmupLearningRate(dopt.iterations, warmup.baseLr, dopt.comm, { warmupSteps: warmup.warmupSteps, rule: warmup.rule ?? 'linear' });
    },
    onBatchEnd: async () => {
      const grads = pending;
      if (grads === undefined) throw new ZcollError('EINVAL', `${op}: a batch ended without gradients: compile the model with distributedFit's optimizer`, { rank, op });
      pending = undefined;
      try {
        await dopt.applyGradients(grads);
      } finally {
        tf.dispose(grads);
      }
    },
    onEpochEnd: async (_epoch, logs) => {
      if (!(options.averageMetrics ?? true) || logs === undefined) return;
      // Same key order on every rank; the values travel as one float64 all-reduce.
      const keys = Object.keys(logs).filter((k) => typeof logs[k] === 'number').sort();
      const values = Float64Array.from(keys, (k) => logs[k]);
      await dopt.comm.allReduce(values, { op: 'avg', inPlace: true });
      keys.forEach((k, i) => (logs[k] = values[i]));
    },
  };
  return { optimizer: new DeferredOptimizer(), callbacks };
}
