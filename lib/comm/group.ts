/**
 * What a Communicator is, apart from what it does: its rank and world, the Transport under it
 * (transport/transport.ts), the op engine that runs its collectives in call order (op-queue.ts) and
 * its point-to-point queues (p2p.ts), wired together once; diagnostics; registered buffers; and its
 * end: close() says goodbye and lets go, and a failed group lets go by itself once its queue drained
 * (so a script that caught the error and never called close() still exits).
 */
import { availableParallelism } from 'node:os';
import { DTYPES, type DType, type NumericArray } from '../dtype.js';
import { check, ZcollError } from '../errors.js';
import { buildTopology, hostTopologySpec, type Topology } from '../cluster/topology.js';
import type { Link } from '../transport/link.js';
import type { FaultSeam, Outbox } from '../transport/outbox.js';
import type { SharedMemoryChoice } from '../transport/shared-memory.js';
import { checkAllocation } from '../transport/shm-limits.js';
import { Transport } from '../transport/transport.js';
import type { ConnectionStats, ZmqEndpoint } from '../transport/zmq-endpoint.js';
import * as args from './args.js';
import { spinStyle, type PollMode } from './busy-poll.js';
import { Poller } from './poller.js';
import { schedYield } from '../kernels/native.js';
import { OpQueue } from './op-queue.js';
import type { CommStats, TraceEvent } from './options.js';
import { PointToPoint } from './p2p.js';

/** After a failure, how long the sockets stay open for the aborts to reach the peers. */
const POISONED_LINGER_MS = 1000;

export interface CommunicatorInit {
  readonly rank: number;
  readonly size: number;
  readonly localRank: number;
  readonly localSize: number;
  /**
   * Ranks whose processes share this rank's kernel and cores (init(): same machine key), at least
   * localSize: on 2 cores, 2 network namespaces of 2 ranks each are 4 ranks on 2 cores, and a rank
   * that busy-polls there takes the core its peer needs. Default: localSize.
   */
  readonly machineSize?: number;
  readonly host: string;
  readonly epoch: number;
  readonly endpoint: ZmqEndpoint;
  readonly links: ReadonlyMap<number, Link>;
  readonly timeoutMs: number;
  readonly segmentBytes: number;
  readonly algorithm: string;
  /** Shared memory with the same-host peers: 'auto' when available, 'shm' demanded, 'off' (init() resolves the transport). */
  readonly sharedMemory: SharedMemoryChoice;
  /** The config's "topology" (default: one switch) for MULTITREE and the 'auto' cost model. */
  readonly topology?: unknown;
  /**
   * The host of every rank (host indices, from the rendezvous's host keys): the topology's hosts
   * when the config does not place the ranks itself (hostTopologySpec). Absent: one host.
   */
  readonly hostOf?: readonly number[];
  /** Busy-poll collectives (busy-poll.ts; default 'auto'). */
  readonly poll?: PollMode;
}

/**
 * A group of ranks as one rank sees it: who it is, its transport, its op engine and its
 * point-to-point queues, and their lifecycle (close, failure). The collectives are in
 * communicator.ts, which extends this.
 */
export class RankGroup {
  readonly rank: number;
  readonly size: number;
  readonly localRank: number;
  readonly localSize: number;
  readonly host: string;
  readonly epoch: number;
  readonly timeoutMs: number;
  readonly segmentBytes: number;
  readonly algorithm: string;
  /** The network as zcoll models it (MULTITREE's input and 'auto''s cost model). */
  readonly topology: Topology;
  readonly stats: CommStats = { droppedFrames: 0, lastDropReason: '', forgedFrames: 0, abortsReceived: 0 };
  readonly outbox: Outbox;
  /** Receives timeline events when set (zcoll bench --trace); undefined costs nothing. */
  traceSink: ((e: TraceEvent) => void) | undefined;

  protected readonly transport: Transport;
  protected readonly ops: OpQueue;
  protected readonly p2p: PointToPoint;
  /** How this rank waits for frames: collectives and recv() (poller.ts). */
  private readonly poller: Poller;
  protected readonly gone = new Map<number, ZcollError>();
  private released = false;

  constructor(init: CommunicatorInit) {
    this.rank = init.rank;
    this.size = init.size;
    this.localRank = init.localRank;
    this.localSize = init.localSize;
    this.host = init.host;
    this.epoch = init.epoch;
    this.timeoutMs = init.timeoutMs;
    this.segmentBytes = init.segmentBytes;
    this.algorithm = init.algorithm;
    this.topology = buildTopology(hostTopologySpec(init.topology, init.hostOf ?? new Array<number>(init.size).fill(0)), init.size);
    const site = { rank: this.rank, size: this.size, epoch: this.epoch };
    this.transport = new Transport({ ...site, endpoint: init.endpoint, links: init.links, sharedMemory: init.sharedMemory, segmentBytes: this.segmentBytes, stats: this.stats, sink: (...f) => this.ops.frame(...f) });
    this.outbox = this.transport.outbox;
    const poll = this.transport.pollHooks();
    const yieldCpu = schedYield();
    this.poller = new Poller(poll ?? {}, poll === undefined ? 'none' : spinStyle(init.poll ?? 'auto', Math.max(this.localSize, init.machineSize ?? 0), yieldCpu !== undefined, availableParallelism(), this.localSize < this.size), this.localSize === this.size, yieldCpu);
    this.p2p = new PointToPoint({ ...site, segmentBytes: this.segmentBytes, outbox: this.outbox, assertUsable: (op) => this.ops.assertUsable(op), gone: (peer) => this.gone.get(peer), spins: (dtype, count) => this.poller.spins(dtype, count), wait: (done, spins, leavingLoop) => this.poller.wait(done, spins, leavingLoop), attach: () => poll?.attachShared() });
    this.ops = new OpQueue({
      ...site,
      outbox: this.outbox,
      poller: this.poller,
      stats: this.stats,
      hooks: {
        ...(poll !== undefined ? { attachShared: poll.attachShared, returned: poll.returned } : {}),
        p2p: (src, h, payload) => this.p2p.take(src, h, payload),
        peerGone: (peer, err) => {
          this.gone.set(peer, err);
          this.p2p.wakeAll();
        },
        trace: (e) => this.traceSink?.({ ...e, pid: this.rank, tid: 0 }),
        tracing: () => this.traceSink !== undefined,
      },
    });
    this.ops.onPoisoned = () => {
      this.p2p.wakeAll();
      void this.ops.drained().then(() => setTimeout(() => this.release(), POISONED_LINGER_MS).unref());
    };
    // Last: frames that came early are delivered at once, and the engine must exist for them.
    this.transport.start();
  }

  /** Installs the fault seam of this rank's outbox (fault injection; see faults/). */
  setFaultSeam(seam: FaultSeam | undefined): void {
    this.outbox.setFaultSeam(seam);
  }

  /** This rank's bound inbox endpoints (diagnostics). */
  get endpoints(): { ipc?: string; tcp?: string } {
    return this.transport.bound;
  }

  /** Messages refused before any header was read: connections that never proved a rank, bad hellos. */
  get connectionStats(): Readonly<ConnectionStats> {
    return this.transport.connectionStats;
  }

  /** Messages this rank sent and received through same-host mailboxes (undefined without shared memory). */
  get mailboxStats(): Readonly<{ sent: number; received: number; doorbells: number }> | undefined {
    return this.transport.mailboxStats;
  }

  /** Whether this rank sends payloads to same-host peers through shared memory. */
  get usesSharedMemory(): boolean {
    return this.transport.usesSharedMemory;
  }

  /** The peers known lost. */
  get lostPeers(): readonly number[] {
    return [...this.ops.lostPeers].sort((a, b) => a - b);
  }

  /** What CURVE saw on this rank's sockets (admitted and refused clients, failed handshakes); undefined without CURVE. */
  get security(): Transport['security'] {
    return this.transport.security;
  }

  /** Called by init(): the connection to `peer` dropped, or its link failed for good. */
  peerLost(peer: number): void {
    this.ops.peerLost(peer);
  }

  linkFailed(peer: number, err: ZcollError): void {
    this.ops.linkFailed(peer, err);
  }

  /**
   * A zeroed typed array for collectives to run on in place, registered with this communicator:
   * its memory is shared with the ranks of this host (shm-arena.ts), so they reduce and copy
   * straight from it (NCCL's user-buffer registration). Allocate once and reuse. Without shared
   * memory it is an ordinary array. Freed by `freeBuffer` or `close()`, after which it is detached.
   */
  allocBuffer(dtype: DType, count: number): NumericArray {
    const op = 'allocBuffer';
    this.ops.assertUsable(op);
    check((DTYPES as readonly string[]).includes(dtype), 'EINVAL', () => `argument 'dtype' passed to '${op}' must be one of ${DTYPES.join(', ')}, got ${String(dtype)}`, { rank: this.rank, op });
    args.checkCount(this, count, 'count', op);
    checkAllocation(dtype, count, op, this.rank);
    return this.transport.allocate(dtype, count);
  }

  /** Releases a buffer of allocBuffer (it becomes detached); false for any other array. Refused while collectives are in flight. */
  freeBuffer(a: NumericArray): boolean {
    check(this.ops.inFlight === 0, 'EINVAL', () => `freeBuffer: ${this.ops.inFlight} collective(s) still in flight on this communicator; await them first`, { rank: this.rank, op: 'freeBuffer' });
    return this.transport.free(a);
  }

  // ---------------------------------------------------------------- closing

  /** Finishes queued collectives and releases every socket and timer (queued messages are flushed, up to the linger time). */
  async close(): Promise<void> {
    if (this.ops.closed || this.released) {
      this.ops.close();
      return;
    }
    await this.ops.drained();
    // Tell the peers this is a goodbye, not a crash, before the sockets go.
    if (!this.released) await Promise.race([this.ops.sayBye(), new Promise((r) => setTimeout(r, 500).unref())]);
    this.ops.close();
    this.release();
  }

  /** Lets go of sockets and shared memory at once, without goodbyes (a dying process: the launcher is gone). */
  abandon(): void {
    this.ops.close();
    this.release();
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.transport.close();
    this.p2p.close();
  }
}
