// Public API of zcoll's training layer (re-exported by lib/index.ts).
export {
  DistributedOptimizer,
  STRATEGY_NAMES,
  type StrategyName,
  type DistributedOptimizerOptions,
  type MinimizeOptions,
  type LossFunction,
  type GradientsInput,
  type ContributionHook,
} from './distributed-optimizer.js';
export { broadcastVariables } from './broadcast-variables.js';
export { distributedFit, type DistributedFit, type DistributedFitOptions, type DistributedFitCallbacks } from './fit.js';
export { saveCheckpoint, loadCheckpoint, OPTIMIZER_STATE_FORMAT, type OptimizerState, type CheckpointFile, type InnerWeight } from './optimizer-state.js';
export { encodeArray, decodeArray, type EncodedArray, type EncodedDtype } from './state-codec.js';
export { scaleLearningRate, warmupLearningRate, setOptimizerLearningRate, optimizerLearningRate, type LearningRateRule, type WarmupOptions } from './learning-rate.js';
export { resolveVariables, type VariableSource, type ModelLike, type LayerVariableLike } from './variables.js';
export { DEFAULT_FUSION_THRESHOLD_BYTES, fusionBuckets, layoutOf, type GradientLayout, type FusionBucket } from './gradient-layout.js';
export { directAllGather } from './direct-all-gather.js';
export { byzantineContribution, type ByzantineContext } from './byzantine.js';
export { parseByzantineSpec, formatByzantineSpec, BYZANTINE_SPEC_GRAMMAR, type ByzantineSpec } from '../faults/byzantine-spec.js';
export { BYZANTINE_ATTACKS, ATTACK_REGISTRY, createAttack, type ByzantineAttackName, type AttackEntry, type AttackField } from '../faults/attacks/registry.js';
export type { Strategy, StrategyStep, StrategyOutcome, StrategyState, StrategyLoadContext } from './strategies/strategy.js';
export { AllReduceStrategy, type AllReduceStrategyOptions } from './strategies/allreduce.js';
export { SignumStrategy, type SignumStrategyOptions } from './strategies/signum.js';
export { RobustStrategy, type RobustStrategyOptions } from './strategies/robust.js';
export { CodedStrategy, type CodedStrategyOptions } from './strategies/coded.js';
