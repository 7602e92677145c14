/**
 * Learning-rate scaling for data-parallel training with a global batch n times the per-rank one:
 * the linear rule lr·n (Goyal et al., "Accurate, Large Minibatch SGD", 2017; what Horovod's
 * examples do with hvd.size()) with its gradual warm-up from lr to lr·n over the first steps, or
 * the square-root rule lr·sqrt(n) (Krizhevsky 2014, "One weird trick"; common with Adam).
 * Pure arithmetic; set the result on your optimizer (tf.train.sgd(lr), SGDOptimizer.setLearningRate).
 */
import { ZcollError } from '../errors.js';

export type LearningRateRule = 'linear' | 'sqrt';

export interface WarmupOptions {
  /** Steps over which the rate rises linearly from the base to the scaled one (default 0: none). */
  warmupSteps?: number;
  /** Default 'linear'. */
  rule?: LearningRateRule;
}

function checkScale(baseLr: number, workers: number, op: string): void {
  if (!(typeof baseLr === 'number' && baseLr > 0 && Number.isFinite(baseLr))) throw new ZcollError('EINVAL', `${op}: base learning rate must be a finite number > 0, got ${String(baseLr)}`, { op });
  if (!(Number.isInteger(workers) && workers >= 1)) throw new ZcollError('EINVAL', `${op}: the number of ranks must be an integer >= 1, got ${String(workers)}`, { op });
}

/** The learning rate for `workers` ranks (or a communicator's size) from the single-rank one. */
export function scaleLearningRate(baseLr: number, workers: number | { readonly size: number }, rule: LearningRateRule = 'linear'): number {
  const n = typeof workers === 'number' ? workers : workers.size;
  checkScale(baseLr, n, 'scaleLearningRate');
  if (rule === 'linear') return baseLr * n;
  if (rule === 'sqrt') return baseLr * Math.sqrt(n);
  throw new ZcollError('EINVAL', `scaleLearningRate: rule must be 'linear' or 'sqrt', got ${String(rule)}`, { op: 'scaleLearningRate' });
}

/** The learning rate at `step` (0-based): linear warm-up from baseLr to the scaled rate, then constant. */
export function warmupLearningRate(step: number, baseLr: number, workers: number | { readonly size: number }, options: WarmupOptions = {}): number {
  if (!(Number.isInteger(step) && step >= 0)) throw new ZcollError('EINVAL', `warmupLearningRate: step must be an integer >= 0, got ${String(step)}`, { op: 'warmupLearningRate' });
  const target = scaleLearningRate(baseLr, workers, options.rule ?? 'linear');
  const w = options.warmupSteps ?? 0;
  if (!(Number.isInteger(w) && w >= 0)) throw new ZcollError('EINVAL', `warmupLearningRate: warmupSteps must be an integer >= 0, got ${String(w)}`, { op: 'warmupLearningRate' });
  if (step >= w) return target;
  return baseLr + ((target - baseLr) * step) / w;
}

/**
 * Sets the learning rate of a tf.Optimizer between steps. SGD (and Momentum, its subclass) keep the
 * rate in a kept scalar tensor that only setLearningRate refreshes; the others (Adam, Adagrad,
 * Adadelta, Adamax, RMSProp) read their `learningRate` field at every applyGradients.
 */
export function setOptimizerLearningRate(optimizer: object, lr: number, rank?: number): void {
  const ctx = { op: 'setLearningRate', ...(rank !== undefined ? { rank } : {}) };
  if (!(typeof lr === 'number' && lr > 0 && Number.isFinite(lr))) throw new ZcollError('EINVAL', `setLearningRate: the learning rate must be a finite number > 0, got ${String(lr)}`, ctx);
  const o = optimizer as { setLearningRate?: (x: number) => void; learningRate?: unknown };
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else if (typeof o.learningRate === 'number') o.learningRate = lr;
  else throw new ZcollError('EINVAL', `setLearningRate: this optimizer has neither setLearningRate nor a numeric learningRate field`, ctx);
}

/** The learning rate of a tf.Optimizer (its `learningRate` field), or undefined when it has none. */
export function optimizerLearningRate(optimizer: object): number | undefined {
  const lr = (optimizer as { learningRate?: unknown }).learningRate;
  return typeof lr === 'number' ? lr : undefined;
}
