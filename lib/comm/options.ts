/**
 * What a user passes to a Communicator: the option bags of every call, the reduce ops and algorithms,
 * and what the communicator reports back (stats, trace events). Types and their key lists only; the
 * checks are in args.ts.
 */
import type { NumericArray } from '../dtype.js';
import type { BroadcastAlgorithm } from '../schedule/broadcast.js';
import { RS_AG_ALGORITHMS, SCHEDULE_ALGORITHMS, type RsAgAlgorithm, type ScheduleAlgorithm } from '../schedule/cache.js';
import type { Tensor } from '../tensor/bridge.js';

export type ReduceOp = 'sum' | 'avg' | 'min' | 'max';
export const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'avg', 'min', 'max'];
export type AllReduceAlgorithm = 'auto' | ScheduleAlgorithm;
export const ALLREDUCE_ALGORITHMS: readonly string[] = ['auto', ...SCHEDULE_ALGORITHMS];
/** reduceScatter and allGather: 'auto' (default) takes the host-aware schedule where the model finds it cheaper. */
export type RsAgCallAlgorithm = 'auto' | RsAgAlgorithm;
export const RS_AG_CALL_ALGORITHMS: readonly string[] = ['auto', ...RS_AG_ALGORITHMS];

/** A tensor or a typed array: what every collective accepts. */
export type Collectible = Tensor | NumericArray;

export interface TimeoutOptions {
  /** Deadline for this collective, in ms (default: the communicator's timeoutMs). */
  timeoutMs?: number;
}

export interface CollectiveOptions extends TimeoutOptions {
  /** Typed arrays only: write the result into the input array (a boolean; EINVAL on a tensor). */
  inPlace?: boolean;
}

export interface ReduceOptions extends CollectiveOptions {
  op?: ReduceOp;
}

export interface ReduceScatterOptions extends ReduceOptions {
  /**
   * Schedule (default 'auto': 'hierarchical' on several hosts with several ranks on some where the
   * cost model finds it cheaper, else 'ring'). Rank r gets chunk r either way. Every rank must pass the same.
   */
  algorithm?: RsAgCallAlgorithm;
}

export interface AllReduceOptions extends ReduceOptions {
  algorithm?: AllReduceAlgorithm;
}

/** gather and exchangeDirect: the result is not the input's shape, so there is no inPlace. */
export interface RootedOptions extends TimeoutOptions {
  root?: number;
}

export interface BroadcastOptions extends CollectiveOptions {
  root?: number;
  /**
   * Schedule (default: 'chain' for messages of 4 segments or more, else 'binomial'). 'flat': the root
   * sends to every rank itself, nothing is relayed (a trusted server's reply). Every rank must pass
   * the same; an explicit choice is compared between ranks (EMISMATCH).
   */
  algorithm?: BroadcastAlgorithm;
}

export interface AllGatherOptions<A extends NumericArray = NumericArray> extends TimeoutOptions {
  /** As for reduceScatter: 'auto' (default), 'ring' or 'hierarchical'; every rank must pass the same. */
  algorithm?: RsAgCallAlgorithm;
  /** Typed arrays: write the result (count x world size) into this caller-owned array instead of a fresh one. */
  out?: A;
}

export interface AllToAllOptions<A extends NumericArray = NumericArray> extends TimeoutOptions {
  /**
   * Typed arrays: write the result (x's type and length; chunk r of rank r's x at [r·k, (r+1)·k))
   * into this caller-owned array instead of a fresh one, for steady-state rounds. Must not share
   * memory with x.
   */
  out?: A;
}

export interface ExchangeOptions<A extends NumericArray = NumericArray> extends RootedOptions {
  /**
   * Caller-owned destinations for steady-state rounds, one slot per rank (length = world size):
   * rank r's contribution is written into into[r] (an array of x's type and length; undefined: a
   * fresh one) and returned as entries[r], and this rank's own entry is x itself, not a copy. Slots
   * must not share memory with x or with each other. The non-roots of a rooted exchange receive
   * nothing: for them only the last rule applies (their entry is x).
   */
  into?: ReadonlyArray<A | undefined>;
}

export interface P2POptions {
  tag?: number;
  timeoutMs?: number;
}

/**
 * The option keys each call takes. An unknown key, a typo such as { opp: 'max' }, fails with EINVAL
 * instead of silently running the default. `satisfies` ties each list to its interface: a key that
 * is not a field of the interface does not compile.
 */
export const OPTION_KEYS = {
  allReduce: ['op', 'algorithm', 'timeoutMs', 'inPlace'] satisfies ReadonlyArray<keyof AllReduceOptions>,
  reduceScatter: ['op', 'algorithm', 'timeoutMs', 'inPlace'] satisfies ReadonlyArray<keyof ReduceScatterOptions>,
  allGather: ['algorithm', 'timeoutMs', 'out'] satisfies ReadonlyArray<keyof AllGatherOptions>,
  broadcast: ['root', 'algorithm', 'timeoutMs', 'inPlace'] satisfies ReadonlyArray<keyof BroadcastOptions>,
  gather: ['root', 'timeoutMs'] satisfies ReadonlyArray<keyof RootedOptions>,
  allToAll: ['timeoutMs', 'out'] satisfies ReadonlyArray<keyof AllToAllOptions>,
  exchangeDirect: ['root', 'into', 'timeoutMs'] satisfies ReadonlyArray<keyof ExchangeOptions>,
  barrier: ['timeoutMs'] satisfies ReadonlyArray<keyof TimeoutOptions>,
  send: ['tag', 'timeoutMs'] satisfies ReadonlyArray<keyof P2POptions>,
  recv: ['tag', 'timeoutMs'] satisfies ReadonlyArray<keyof P2POptions>,
} as const;
export type CallName = keyof typeof OPTION_KEYS;

/**
 * One timeline event in the Chrome trace format (what Horovod's timeline writes): 'B'/'E' open and
 * close a collective, 'X' is a send (queued until handed to ZeroMQ) or a received frame's reduction.
 */
export interface TraceEvent {
  name: string;
  cat: 'collective' | 'send' | 'recv';
  ph: 'B' | 'E' | 'X';
  /** Microseconds since the process started (performance.now() * 1000). */
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

/** Counters a user (and the tests) can read: what was dropped and why. */
export interface CommStats {
  droppedFrames: number;
  lastDropReason: string;
  /** Of the dropped frames: those whose header named another sender than the connection or lane they came on. */
  forgedFrames: number;
  abortsReceived: number;
}
