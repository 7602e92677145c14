/**
 * 'robust': Byzantine-robust aggregation of the ranks' gradients. Every rank receives every other
 * rank's gradient directly (direct all-gather, no relays: docs/architecture.md, trust boundary) and
 * aggregates them itself with a deterministic rule, so all honest ranks apply the same update.
 * Default rule: BGMD, block coordinate geometric median descent (Acharya et al., AISTATS 2022;
 * lib/robust/bgmd.ts), run with step 1 so its per-worker memory is kept in gradient units and the
 * inner tf.Optimizer applies the learning rate; any aggregator of lib/robust's registry (mean,
 * coordinateMedian, trimmedMean, krum, multiKrum, geometricMedian, centeredClipping) by name.
 * Cost per step: (n-1)·4d bytes received per rank, plus the aggregator (BGMD: O(n d) + GM on k
 * coordinates). BGMD with bgmd.memory 'workers': each rank keeps only its own residual (d floats
 * instead of n x d) and sends lr g + memory; the updates are bitwise those of 'perWorker', and the
 * aggregation reads each row once instead of three passes over g and the n x d memory.
 */
import { ZcollError } from '../../errors.js';
import { allocFloat32 } from '../../kernels/huge-pages.js';
import { Bgmd, type BgmdOptions, type BgmdReport } from '../../robust/bgmd.js';
import { BgmdResidual } from '../../robust/bgmd-residual.js';
import { aggregate, isAggregatorName, AGGREGATOR_NAMES, type AggregationReport, type AggregatorName, type AggregatorOptionsByName } from '../../robust/aggregator.js';
import { directAllGather } from '../direct-all-gather.js';
import type { PrngState } from '../../prng.js';
import { decodeArray, encodeArray } from '../state-codec.js';
import type { Strategy, StrategyLoadContext, StrategyOutcome, StrategyState, StrategyStep } from './strategy.js';

export interface RobustStrategyOptions {
  /** 'bgmd' (default) or an aggregator of lib/robust's registry. */
  aggregator?: 'bgmd' | AggregatorName;
  /** BGMD's options other than workers and length (beta default 0.1, inner 'geometricMedian'). */
  bgmd?: Omit<BgmdOptions, 'workers' | 'length'>;
  /** Options of the named aggregator (ignored for 'bgmd'). */
  aggregatorOptions?: AggregatorOptionsByName[AggregatorName];
}

export class RobustStrategy implements Strategy {
  readonly name = 'robust';
  readonly needsOptimizer = true;
  readonly aggregator: 'bgmd' | AggregatorName;
  private readonly options: RobustStrategyOptions;
  private bgmd: Bgmd<AggregatorName> | undefined;
  /** BGMD with memory 'workers': this rank's own residual. */
  private residual: BgmdResidual | undefined;
  /** Where the peers' gradients land, reused every step (the rows are only read during the step). */
  private into: (Float32Array | undefined)[] | undefined;
  /** The aggregator's report of the last step (which rows were invalid, convergence). */
  lastReport: BgmdReport | AggregationReport | undefined;

  constructor(options: RobustStrategyOptions = {}) {
    const name = options.aggregator ?? 'bgmd';
    if (name !== 'bgmd' && !isAggregatorName(name)) {
      throw new ZcollError('EINVAL', `option 'aggregator' of strategy 'robust' must be 'bgmd' or one of ${AGGREGATOR_NAMES.join(', ')}, got ${String(name)}`, { op: 'DistributedOptimizer' });
    }
    this.aggregator = name;
    this.options = options;
  }

  /** BGMD: its memory (n x d with 'perWorker'), counters and PRNG, and this rank's residual with 'workers'. Other aggregators keep nothing. */
  saveState(): StrategyState {
    if (this.bgmd === undefined) return { aggregator: this.aggregator };
    const b = this.bgmd.getState();
    return {
      aggregator: this.aggregator,
      bgmd: { workers: b.workers, length: b.length, memoryMode: b.memoryMode, memory: encodeArray(b.memory), rounds: b.rounds, notConvergedRounds: b.notConvergedRounds, prng: b.prng },
      ...(this.residual !== undefined ? { residual: encodeArray(this.residual.row) } : {}),
    };
  }

  loadState(state: StrategyState, ctx: StrategyLoadContext): void {
    const c = { rank: ctx.rank, op: 'DistributedOptimizer.load' };
    if (state.aggregator !== this.aggregator) throw new ZcollError('EINVAL', `${c.op}: the state is of aggregator '${String(state.aggregator)}', this strategy runs '${this.aggregator}'`, c);
    this.bgmd = undefined;
    this.residual = undefined;
    if (state.bgmd === undefined) return;
    const saved = state.bgmd as { workers?: unknown; length?: unknown; memoryMode?: unknown; memory?: unknown; rounds?: unknown; notConvergedRounds?: unknown; prng?: unknown };
    if (saved.workers !== ctx.size || saved.length !== ctx.length) throw new ZcollError('EINVAL', `${c.op}: the BGMD state is of ${String(saved.workers)} ranks and ${String(saved.length)} parameters, this run has ${ctx.size} and ${ctx.length}`, c);
    const options = this.options.bgmd ?? {};
    const bgmd = new Bgmd({ ...options, workers: ctx.size, length: ctx.length });
    const memory = decodeArray(saved.memory, 'float32', 'BGMD memory', c);
    bgmd.setState({ workers: ctx.size, length: ctx.length, memoryMode: saved.memoryMode as Bgmd['memoryMode'], memory, rounds: saved.rounds as number, notConvergedRounds: saved.notConvergedRounds as number, prng: saved.prng as PrngState });
    let residual: BgmdResidual | undefined;
    if (bgmd.memoryMode === 'workers') {
      residual = new BgmdResidual({ length: ctx.length, ...(options.invalid !== undefined ? { invalid: options.invalid } : {}) });
      residual.setRow(decodeArray(state.residual, 'float32', 'BGMD residual', c, ctx.length));
    }
    this.bgmd = bgmd;
    this.residual = residual;
  }

  async exchange(s: StrategyStep): Promise<StrategyOutcome> {
    // A malformed row (wrong length) becomes an empty row: the aggregators count it invalid, as Byzantine.
    const d = s.layout.total;
    if (this.into === undefined || this.into.length !== s.comm.size || this.into.some((a) => a !== undefined && a.length !== d)) {
      this.into = Array.from({ length: s.comm.size }, (_, r) => (r === s.comm.rank ? undefined : allocFloat32(d)));
    }
    const into = this.into;
    const gather = async (own: Float32Array): Promise<Float32Array[]> => (await directAllGather(s.comm, own, s.timeoutMs, into)).map((r) => r ?? new Float32Array(0));
    if (this.aggregator === 'bgmd') {
      if (this.bgmd === undefined || this.bgmd.length !== d) {
        const options = this.options.bgmd ?? {};
        this.bgmd = new Bgmd({ ...options, workers: s.comm.size, length: d });
        this.residual = this.bgmd.memoryMode === 'workers' ? new BgmdResidual({ length: d, ...(options.invalid !== undefined ? { invalid: options.invalid } : {}) }) : undefined;
      }
      const residual = this.residual;
      let step: ReturnType<Bgmd<AggregatorName>['step']>;
      try {
        step = this.bgmd.step(await gather(residual !== undefined ? residual.augment(s.grad, 1) : s.grad), 1);
      } catch (e) {
        // The exchange or the aggregation failed: this rank's memory stays as before the step.
        residual?.abort();
        throw e;
      }
      residual?.commit(step.selected, !step.report.invalidRows.includes(s.comm.rank));
      this.lastReport = step.report;
      return { kind: 'gradient', gradient: step.update }; // a fresh array every step
    }
    const rows = await gather(s.grad);
    const result = aggregate(this.aggregator, rows, { ...(this.options.aggregatorOptions ?? {}), length: d });
    this.lastReport = result.report;
    return { kind: 'gradient', gradient: result.value };
  }
}
