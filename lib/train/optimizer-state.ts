/**
 * Checkpoint and resume of a DistributedOptimizer: everything that carries from one step to the
 * next besides the model's weights, as plain JSON-safe data (typed arrays in base64,
 * state-codec.ts): the step count (which also drives 'coded''s ignore(step), the Byzantine noise
 * streams and Signum's 'random' tie seed), the inner tf.Optimizer's weights (getWeights: its
 * iteration counter and accumulators, e.g. Momentum's or Adam's) and the strategy's own state
 * (Signum's momentum and last vote, BGMD's memory, counters and PRNG). Restored into a
 * DistributedOptimizer made with the same options in a fresh process, the run continues bit for bit
 * as the uninterrupted one (test/train/checkpoint.test.ts).
 * Each rank saves its own state: BGMD 'workers' keeps a different residual on each rank, Signum a
 * different momentum. saveCheckpoint / loadCheckpoint write and read one file per rank, with the
 * trained variables, so a checkpoint directory is complete without model.save.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ZcollError } from '../errors.js';
import { assignVariables, flattenVariables, layoutOf } from './gradient-layout.js';
import { decodeArray, encodeArray, type EncodedArray } from './state-codec.js';
import type { Strategy, StrategyState } from './strategies/strategy.js';
import { loadTf, type Optimizer, type Variable } from './tfjs.js';
import { resolveVariables, type VariableSource } from './variables.js';

/** What a checkpoint reads and writes of a DistributedOptimizer (structural: no import cycle). */
export interface CheckpointTarget {
  readonly comm: { readonly rank: number; readonly size: number };
  readonly strategy: Strategy;
  readonly inner: Optimizer | undefined;
  iterations: number;
  state(): Promise<OptimizerState>;
  load(state: OptimizerState): Promise<void>;
}

export const OPTIMIZER_STATE_FORMAT = 'zcoll.optimizer-state/1';

export interface InnerWeight {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: EncodedArray;
}

export interface OptimizerState {
  readonly format: typeof OPTIMIZER_STATE_FORMAT;
  readonly rank: number;
  readonly size: number;
  readonly strategy: string;
  /** Steps completed. */
  readonly iterations: number;
  /** Parameters d of the trained variables. */
  readonly length: number;
  /** The inner tf.Optimizer's getWeights(), or null without one. */
  readonly inner: readonly InnerWeight[] | null;
  readonly strategyState: StrategyState | null;
}

export interface CheckpointFile {
  readonly optimizer: OptimizerState;
  /** The trained variables, flat in layout order, with their names. */
  readonly variables: { readonly names: readonly string[]; readonly data: EncodedArray } | null;
}

export async function optimizerState(opt: CheckpointTarget, vars: readonly Variable[]): Promise<OptimizerState> {
  let inner: InnerWeight[] | null = null;
  if (opt.inner !== undefined) {
    inner = [];
    for (const w of await opt.inner.getWeights()) {
      const data = await w.tensor.data();
      if (!(data instanceof Float32Array || data instanceof Int32Array)) {
        throw new ZcollError('EINVAL', `optimizer state: weight '${w.name}' of the inner optimizer has dtype ${w.tensor.dtype}; float32 and int32 are saved`, { rank: opt.comm.rank, op: 'DistributedOptimizer.state' });
      }
      inner.push({ name: w.name, shape: w.tensor.shape.slice(), data: encodeArray(data.slice()) });
    }
  }
  return {
    format: OPTIMIZER_STATE_FORMAT,
    rank: opt.comm.rank,
    size: opt.comm.size,
    strategy: opt.strategy.name,
    iterations: opt.iterations,
    length: layoutOf(vars).total,
    inner,
    strategyState: opt.strategy.saveState?.() ?? null,
  };
}

export async function loadOptimizerState(opt: CheckpointTarget, vars: readonly Variable[], state: OptimizerState): Promise<void> {
  const rank = opt.comm.rank;
  const ctx = { rank, op: 'DistributedOptimizer.load' };
  const s = state as Partial<OptimizerState> | null;
  if (typeof s !== 'object' || s === null || s.format !== OPTIMIZER_STATE_FORMAT) throw new ZcollError('EINVAL', `${ctx.op}: not an optimizer state of format '${OPTIMIZER_STATE_FORMAT}' (got ${typeof s === 'object' && s !== null ? String(s.format) : typeof s})`, ctx);
  if (s.rank !== rank || s.size !== opt.comm.size) throw new ZcollError('EINVAL', `${ctx.op}: the state was saved by rank ${String(s.rank)} of ${String(s.size)}, this is rank ${rank} of ${opt.comm.size}`, ctx);
  if (s.strategy !== opt.strategy.name) throw new ZcollError('EINVAL', `${ctx.op}: the state is of strategy '${String(s.strategy)}', this optimizer runs '${opt.strategy.name}'`, ctx);
  if (!Number.isInteger(s.iterations) || s.iterations! < 0) throw new ZcollError('EINVAL', `${ctx.op}: iterations must be an integer >= 0, got ${String(s.iterations)}`, ctx);
  const length = layoutOf(vars).total;
  if (s.length !== length) throw new ZcollError('EINVAL', `${ctx.op}: the state is of ${String(s.length)} parameters, the variables trained have ${length}`, ctx);
  if ((s.inner === null) !== (opt.inner === undefined) || (s.inner !== null && !Array.isArray(s.inner))) {
    throw new ZcollError('EINVAL', `${ctx.op}: the state ${s.inner === null ? 'has no' : 'has an'} inner optimizer, this optimizer ${opt.inner === undefined ? 'has none' : 'has one'}`, ctx);
  }
  const hasState = s.strategyState !== null && s.strategyState !== undefined;
  if (hasState !== (opt.strategy.loadState !== undefined)) {
    throw new ZcollError('EINVAL', `${ctx.op}: the state ${hasState ? 'holds a' : 'holds no'} strategy state, strategy '${opt.strategy.name}' keeps ${opt.strategy.loadState !== undefined ? 'one' : 'none'}`, ctx);
  }
  // Decode everything before changing anything: a bad state leaves the optimizer as it was.
  const tf = await loadTf();
  const weights = (s.inner ?? []).map((w, i) => {
    const dtype: 'int32' | 'float32' = (w?.data as Partial<EncodedArray> | undefined)?.dtype === 'int32' ? 'int32' : 'float32';
    const data = decodeArray(w?.data, dtype, `inner optimizer weight ${i}`, ctx);
    if (typeof w.name !== 'string' || !Array.isArray(w.shape) || w.shape.reduce((a: number, b: number) => a * b, 1) !== data.length) throw new ZcollError('EINVAL', `${ctx.op}: inner optimizer weight ${i} needs a name and a shape of ${data.length} elements`, ctx);
    return { name: w.name, data, shape: w.shape.slice(), dtype };
  });
  if (hasState) opt.strategy.loadState!(s.strategyState, { rank, size: opt.comm.size, length });
  if (opt.inner !== undefined) {
    const named = weights.map((w) => ({ name: w.name, tensor: tf.tensor(w.data, w.shape, w.dtype) }));
    try {
      await opt.inner.setWeights(named);
    } finally {
      tf.dispose(named.map((w) => w.tensor));
    }
  }
  opt.iterations = s.iterations!;
}

const fileOf = (dir: string, rank: number): string => join(dir, `rank-${rank}.json`);

/**
 * Writes this rank's checkpoint, `<dir>/rank-<rank>.json`: the optimizer's state and, when given,
 * the variables. Written to a temporary file first and renamed, so a crash mid-write leaves the
 * previous checkpoint whole. Every rank calls it with the same dir (a shared or a per-host path).
 */
export async function saveCheckpoint(dir: string, opt: CheckpointTarget, options: { variables?: VariableSource } = {}): Promise<string> {
  const rank = opt.comm.rank;
  const state = await opt.state();
  let variables: CheckpointFile['variables'] = null;
  if (options.variables !== undefined) {
    const vars = resolveVariables(options.variables, 'saveCheckpoint', rank);
    variables = { names: vars.map((v) => v.name), data: encodeArray(await flattenVariables(vars, layoutOf(vars))) };
  }
  const file: CheckpointFile = { optimizer: state, variables };
  await mkdir(dir, { recursive: true });
  const path = fileOf(dir, rank);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(file));
  await rename(tmp, path);
  return path;
}

/** Reads this rank's checkpoint of saveCheckpoint into `opt` and, when given, the variables (same names, same order). */
export async function loadCheckpoint(dir: string, opt: CheckpointTarget, options: { variables?: VariableSource } = {}): Promise<void> {
  const rank = opt.comm.rank;
  const ctx = { rank, op: 'loadCheckpoint' };
  const path = fileOf(dir, rank);
  let file: CheckpointFile;
  try {
    file = JSON.parse(await readFile(path, 'utf8')) as CheckpointFile;
  } catch (e) {
    throw new ZcollError('EINVAL', `loadCheckpoint: cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`, ctx);
  }
  let assign: (() => void) | undefined;
  if (options.variables !== undefined) {
    const vars = resolveVariables(options.variables, 'loadCheckpoint', rank);
    const layout = layoutOf(vars);
    const saved = file.variables;
    if (saved === null || saved === undefined) throw new ZcollError('EINVAL', `loadCheckpoint: ${path} holds no variables`, ctx);
    if (!Array.isArray(saved.names) || saved.names.length !== vars.length) throw new ZcollError('EINVAL', `loadCheckpoint: ${path} holds ${String(saved.names?.length)} variables, ${vars.length} given`, ctx);
    const flat = decodeArray(saved.data, 'float32', 'variables', ctx, layout.total);
    const tf = await loadTf();
    assign = () => assignVariables(tf, vars, flat, layout);
  }
  await opt.load(file.optimizer);
  assign?.();
}
