/**
 * 'allreduce': the gradient average of data-parallel SGD (Horovod's DistributedOptimizer). The
 * flat gradient is cut into fusion buckets of at most `fusionThresholdBytes` on variable
 * boundaries (HOROVOD_FUSION_THRESHOLD; default 64 MiB, 0 = one collective per variable) and each
 * bucket is all-reduced in place with op 'avg' (ring; algorithm 'auto' lets the communicator
 * choose). Cost per step: 2(n-1)/n · 4d bytes sent per rank, one collective per bucket.
 * Trusts every rank (relays add partial sums): not for Byzantine settings, see robust.ts.
 */
import { ZcollError } from '../../errors.js';
import type { AllReduceAlgorithm } from '../../comm/communicator.js';
import { DEFAULT_FUSION_THRESHOLD_BYTES, fusionBuckets, type FusionBucket, type GradientLayout } from '../gradient-layout.js';
import type { Strategy, StrategyOutcome, StrategyStep } from './strategy.js';

export interface AllReduceStrategyOptions {
  /** Largest fused bucket in bytes (default 64 MiB); 0 disables fusion. */
  fusionThresholdBytes?: number;
  /** 'avg' (default) applies the mean gradient; 'sum' the sum (then scale the learning rate yourself). */
  op?: 'avg' | 'sum';
  algorithm?: AllReduceAlgorithm;
}

export class AllReduceStrategy implements Strategy {
  readonly name = 'allreduce';
  readonly needsOptimizer = true;
  readonly fusionThresholdBytes: number;
  readonly op: 'avg' | 'sum';
  readonly algorithm: AllReduceAlgorithm;
  /** Collectives issued by the last step (one per bucket). */
  lastBuckets = 0;
  private cached: { layout: GradientLayout; buckets: FusionBucket[] } | undefined;

  constructor(options: AllReduceStrategyOptions = {}) {
    const threshold = options.fusionThresholdBytes ?? DEFAULT_FUSION_THRESHOLD_BYTES;
    if (!(Number.isFinite(threshold) && threshold >= 0)) {
      throw new ZcollError('EINVAL', `option 'fusionThresholdBytes' of strategy 'allreduce' must be a finite number >= 0, got ${String(threshold)}`, { op: 'DistributedOptimizer' });
    }
    const op = options.op ?? 'avg';
    if (op !== 'avg' && op !== 'sum') throw new ZcollError('EINVAL', `option 'op' of strategy 'allreduce' must be 'avg' or 'sum', got ${String(op)}`, { op: 'DistributedOptimizer' });
    this.fusionThresholdBytes = threshold;
    this.op = op;
    this.algorithm = options.algorithm ?? 'auto';
  }

  async exchange(s: StrategyStep): Promise<StrategyOutcome> {
    if (this.cached?.layout !== s.layout) this.cached = { layout: s.layout, buckets: fusionBuckets(s.layout, this.fusionThresholdBytes) };
    const buckets = this.cached.buckets;
    for (const b of buckets) {
      const opts = { op: this.op, algorithm: this.algorithm, inPlace: true, ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}) };
      await s.comm.allReduce(s.grad.subarray(b.start, b.end), opts);
    }
    this.lastBuckets = buckets.length;
    return { kind: 'gradient', gradient: s.grad };
  }
}
