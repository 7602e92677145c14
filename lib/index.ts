/**
 * zcoll: collective communication for multi-rank Node.js clusters (ZeroMQ transport, tfjs tensors
 * and typed arrays). `const comm = await init(); await comm.allReduce(t, { op: 'avg' })`.
 */
export { init, type InitOptions } from './comm/init.js';
export {
  Communicator,
  REDUCE_OPS,
  type AllReduceOptions,
  type CollectiveOptions,
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
