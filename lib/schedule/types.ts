/**
 * Collective algorithms as data. A builder turns (ranks, topology) into a `Schedule`; one executor
 * runs it on real sockets (execute.ts), one verifier proves it (verify.ts) and one simulator costs it
 * (simulate.ts). A new algorithm is one builder file.
 *
 * Data model. The buffer of `count` elements is cut into `nchunks` chunks (partition.ts: the first
 * count % nchunks chunks get one extra element; chunks may be empty). Every transfer moves one chunk
 * from `src` to `dst`:
 *  - 'reduce': dst combines the incoming partial into its own copy of the chunk (sum/min/max);
 *  - 'copy':   dst overwrites its copy of the chunk with the incoming (final) value.
 * A transfer is sent once every transfer listed in `deps` has landed at `src`. The executor cuts each
 * chunk into segments and applies `deps` per segment, so execution is dependency-driven and
 * pipelined; `step` is the logical lockstep step used by the verifier's link checks and by the
 * simulator. Transfers into the same (rank, chunk) of kind 'reduce' are applied in `id` order, so
 * results are bitwise reproducible run to run whatever the arrival order.
 * A `snapshot` transfer carries a private copy of the chunk taken when it is released, so a 'reduce'
 * into that chunk may land while it is in flight (both partners of a recursive-doubling exchange
 * send at once); verify.ts states when that is safe.
 * A 'barrier' schedule moves no data: its one chunk has zero elements, every transfer is still one
 * (empty) message, and what it must achieve is knowledge (every rank hears, transitively, from every
 * rank before it completes), which verify.ts checks instead of data.
 */

export type CollectiveKind = 'allreduce' | 'reducescatter' | 'allgather' | 'broadcast' | 'gather' | 'barrier';
export type TransferKind = 'reduce' | 'copy';

export interface Transfer {
  /** Index of this transfer in `Schedule.transfers`. */
  readonly id: number;
  /** Logical lockstep step, 0-based. */
  readonly step: number;
  readonly src: number;
  readonly dst: number;
  readonly chunk: number;
  readonly kind: TransferKind;
  /** Ids of transfers into `src` (any chunk) that must have landed before this one is sent. */
  readonly deps: readonly number[];
  /**
   * Send a copy of the chunk taken when the transfer is released (its deps landed), not a view of
   * the working buffer: 'reduce' writes into (src, chunk) at this step or later, applied after every
   * dep of this transfer, may then land before this send has left.
   */
  readonly snapshot?: boolean;
  /** Switches traversed, for topology-aware builders (verify/simulate check it against the topology). */
  readonly path?: readonly number[];
  /** Tree (MULTITREE) or ring index this transfer belongs to, for reports. */
  readonly tree?: number;
}

export interface Schedule {
  /** Builder name, e.g. 'ring', 'multitree'. */
  readonly algorithm: string;
  readonly collective: CollectiveKind;
  readonly nranks: number;
  readonly nchunks: number;
  /** Number of logical steps (max step + 1). */
  readonly steps: number;
  readonly transfers: readonly Transfer[];
  /**
   * Where each chunk starts. 'all' (all-reduce, reduce-scatter): every rank holds its own
   * contribution to every chunk. For all-gather and gather, chunk c starts only at rank
   * `origin[c]`; for broadcast, every chunk starts at `root`. Gather must end with every chunk at
   * `root` only.
   */
  readonly origin?: readonly number[];
  readonly root?: number;
  /** For reduce-scatter: the rank that must end with chunk c fully reduced. */
  readonly owner?: readonly number[];
}
