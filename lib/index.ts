/**
 * zcoll: collective communication for multi-rank Node.js clusters (ZeroMQ transport, tfjs tensors
 * and typed arrays). `const comm = await init(); await comm.allReduce(t, { op: 'avg' })`.
 */
export { init, type InitOptions } from './comm/init.js';
export { shrink, type ShrinkOptions } from './comm/shrink.js';
export {
  Communicator,
  REDUCE_OPS,
  type AllReduceOptions,
  type AllGatherOptions,
  type BroadcastOptions,
  type ExchangeOptions,
  type CollectiveOptions,
  type ReduceScatterOptions,
  type TimeoutOptions,
  type Collectible,
  type P2POptions,
  type ReduceOp,
  type RootedOptions,
  type CommStats,
  type TraceEvent,
} from './comm/communicator.js';
export { ZcollError, isZcollError, ERROR_CODES, type ErrorCode } from './errors.js';
export { loadConfig, parseConfig, type ClusterConfig, type HostConfig } from './cluster/config.js';
export { resolveIdentity, type Identity } from './cluster/identity.js';
export type { DType, NumericArray } from './dtype.js';
export type { Schedule, Transfer } from './schedule/types.js';
export { buildRing } from './schedule/ring.js';
export { verifySchedule } from './schedule/verify.js';
export type { FaultSeam, OutgoingMessage } from './transport/outbox.js';
export { ZCOLL_VERSION } from './version.js';

// Algorithms as data: topology, builders, verifier, simulator.
export { buildTopology, topologyHash, describeTopology, type Topology, type TopologySpec } from './cluster/topology.js';
export { buildMultitree, buildMultitreeTrees, treeDepths } from './schedule/multitree.js';
export { buildTree } from './schedule/tree.js';
export { buildBroadcast, BROADCAST_ALGORITHMS, type BroadcastAlgorithm } from './schedule/broadcast.js';
export { verifyLinks, verifyTrees } from './schedule/verify-links.js';
export { simulate, simulateSizes, busbwFactor } from './schedule/simulate.js';
export { chooseAlgorithm } from './schedule/choose.js';
export { scheduleHash } from './schedule/hash.js';

// Kernels (native when built, JS otherwise).
export { kernels, kernelsByName, nativeKernelsAvailable, nativeLoad, type Kernels, type NativeLoadStatus } from './kernels/index.js';
export { allocTypedArray, allocFloat32, hugePageStatus, type HugePageStatus, type TransparentHugePageMode } from './kernels/huge-pages.js';

// signSGD / Signum with majority vote.
export { packSigns, unpackSigns, packedWords } from './compress/sign.js';
export { majorityVote, MajorityVoter } from './compress/majority-vote.js';
export { Signum } from './compress/signum.js';

// Byzantine-robust aggregation.
export { aggregate, isAggregatorName, type AggregatorName, type Aggregation } from './robust/aggregator.js';
export { Bgmd } from './robust/bgmd.js';
export { BgmdResidual, type BgmdResidualOptions } from './robust/bgmd-residual.js';

// Gradient coding for stragglers.
export { createGradientCode, GradientCode } from './coding/gradient-code.js';
export { createScheduler, acceptRound } from './coding/sequential.js';

// Fault injection.
export { createStragglerModel, parseStragglerSpec } from './faults/stragglers.js';
export { ByzantineSet, corruptRows } from './faults/attacks/byzantine-set.js';

// Distributed training with tfjs.
export * from './train/index.js';
// Robust aggregation on the communicator (server / allgather modes).
export { RobustAllReduce } from './robust/distributed.js';
export { signVote, defaultVoteMode, SignVoteScratch } from './compress/vote-modes.js';
