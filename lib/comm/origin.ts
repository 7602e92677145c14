/**
 * How a communicator was made: the init() options, the environment and the peer table of its
 * rendezvous. shrink() needs them to build the next communicator over the survivors. Kept apart from
 * both init.ts (which records an origin) and shrink.ts (which reads one, then calls init()), so that
 * neither imports the other in a circle; InitOptions lives here for the same reason (init.ts
 * re-exports it).
 */
import type { ClusterConfig, TransportChoice } from '../cluster/config.js';
import type { PollMode } from './busy-poll.js';
import type { Communicator } from './communicator.js';
import type { PeerInfo } from './rendezvous.js';

export interface InitOptions {
  /** A config file path or an already-parsed config (default: ZCOLL_CONFIG, ./cluster.config.json, the embedded default). */
  config?: string | ClusterConfig;
  /** Default deadline of every collective, ms (default: ZCOLL_TIMEOUT_MS, then the config's timeoutMs, 60 s). */
  timeoutMs?: number;
  /**
   * Segment size for pipelining, bytes (default: the config's, else 1 MiB, or 4 MiB when every rank
   * is on one host with shared memory: fewer, larger slots keep the copy loops long and the
   * per-segment messages few, 1.5-2x faster at 64 MiB there; ZeroMQ prefers ~1 MiB messages).
   */
  segmentBytes?: number;
  /** 'auto' (ipc on one host, tcp across), or force 'tcp' / 'ipc'. */
  transport?: TransportChoice;
  /** Environment to read rank and master from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /**
   * Busy-poll small collectives instead of sleeping between messages: 'auto' (default: when this host
   * runs no more ranks than cores), 'spin' or 'sleep'. Default: ZCOLL_POLL, then 'auto'.
   */
  poll?: PollMode;
}

export interface Origin {
  readonly options: InitOptions;
  readonly env: NodeJS.ProcessEnv;
  readonly peers: readonly PeerInfo[];
  /** The master port of generation 0; shrink() adds the generation to it by default. */
  readonly masterPort: number;
  /** 0 for a communicator made by init() directly, k after k shrinks. */
  readonly generation: number;
}

/** Weakly held: a communicator the caller drops is collected with its origin. */
const origins = new WeakMap<Communicator, Origin>();

/** Recorded by init() for every communicator it builds, and overwritten by shrink() with the generation. */
export function rememberOrigin(comm: Communicator, origin: Origin): void {
  origins.set(comm, origin);
}

/** The origin of a communicator made by init() or shrink(); undefined for one built by hand. */
export function originOf(comm: Communicator): Origin | undefined {
  return origins.get(comm);
}
