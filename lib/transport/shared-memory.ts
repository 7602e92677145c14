/**
 * Shared memory between the ranks of one host, as one transport object: this rank's region (slots
 * it lends to its peers and its mailbox lanes), the peers' regions it reads, the mailboxes, and
 * registered buffers (allocBuffer). Opened together at connect, closed together (also when the
 * process ends: exit-cleanup.ts); which peers use it is decided once, here (NCCL's canConnect), not
 * per message.
 *
 * A /dev/shm too small for this rank's region (Docker's default 64 MB) is not fatal under 'auto':
 * the rank warns once and uses ZeroMQ, and its peers, finding no region of it at their first
 * collective (attachPeers), stop sending it shared-memory references, so every pair agrees on its
 * transport without a message about it. Under 'shm' it is an ECONFIG error.
 */
import { type DType, type NumericArray } from '../dtype.js';
import { allocTypedArray } from '../kernels/huge-pages.js';
import { debug } from '../debug.js';
import { ZcollError } from '../errors.js';
import { onProcessExit } from '../process/exit-cleanup.js';
import { isRegionOf, SharedArenas } from './shm-arena.js';
import { futex } from '../kernels/native.js';
import { ShmMailbox } from './shm-mailbox.js';
import { InRegions, isNoSharedMemorySpace, OutRegion, regionName, removeStaleRegions, shmSupported, shmUnavailableReason, type SlotRef } from './shm-region.js';

export type SharedMemoryChoice = 'auto' | 'shm' | 'off';

/** One warning per process for a /dev/shm without room (each later allocBuffer would repeat it). */
const warned = new Set<string>();
function warnOnce(kind: string, line: string): void {
  if (warned.has(kind)) return;
  warned.add(kind);
  process.stderr.write(`${line}\n`);
}

export class SharedMemory {
  readonly region: OutRegion;
  readonly peers: InRegions = new InRegions();
  readonly mailbox: ShmMailbox;
  readonly arenas: SharedArenas;
  private attached = false;
  private readonly unregister: () => void;

  private constructor(
    private readonly choice: SharedMemoryChoice,
    private readonly epoch: number,
    private readonly rank: number,
    private readonly localPeers: readonly number[],
    segmentBytes: number,
  ) {
    removeStaleRegions();
    this.region = new OutRegion(epoch, rank, localPeers, segmentBytes);
    this.mailbox = new ShmMailbox(rank, this.region, this.peers, (p) => regionName(epoch, p), localPeers, futex());
    this.arenas = new SharedArenas(epoch, rank, localPeers);
    // Ctrl-C, SIGTERM or an uncaught error must not leave the regions in /dev/shm until the next job.
    this.unregister = onProcessExit(() => this.close());
  }

  /**
   * Shared memory with `localPeers`, or undefined when there are none or it is off or unavailable
   * ('shm' demands it: ECONFIG then).
   */
  static open(choice: SharedMemoryChoice, epoch: number, rank: number, localPeers: readonly number[], segmentBytes: number): SharedMemory | undefined {
    if (choice === 'off' || localPeers.length === 0) return undefined;
    if (!shmSupported()) {
      if (choice === 'shm') throw new ZcollError('ECONFIG', `transport 'shm' was asked for but shared memory is unavailable: ${shmUnavailableReason()}`, { rank });
      return undefined;
    }
    try {
      return new SharedMemory(choice, epoch, rank, localPeers, segmentBytes);
    } catch (e) {
      if (!isNoSharedMemorySpace(e) || choice === 'shm') throw e;
      warnOnce('region', `zcoll: rank ${rank}: shared memory unavailable, using ZeroMQ for this host's peers: ${e.message.replace(/^ECONFIG: \[[^\]]*\] /, '')}`);
      return undefined;
    }
  }

  /**
   * Maps the peers' regions. Called at the first collective after init's barrier (every peer made
   * its region before entering that barrier); mapping early means a peer may unlink its region when
   * it closes without losing a payload this rank has not read yet.
   */
  attachPeers(): void {
    if (this.attached) return;
    this.attached = true;
    for (const p of this.localPeers) {
      if (this.peers.attach(regionName(this.epoch, p))) continue;
      // No region: the peer fell back to ZeroMQ (its /dev/shm had no room) and would drop references.
      this.region.dropLane(p);
      debug('info', () => `rank ${this.rank}: rank ${p} has no shared-memory region; using ZeroMQ towards it`);
    }
  }

  /**
   * The payload a reference of `src` names, or why it is refused. Validated before anything is done
   * with it: the region must be one of `src`'s own (the sender the transport established, not the
   * header), the range inside its data area, and the slot lent right now.
   */
  resolve(src: number, name: string, ref: SlotRef, byteLength: number): Buffer | string {
    if (!isRegionOf(name, this.epoch, src)) return `rank ${src} names shared-memory region ${name}, not one of its own`;
    return this.peers.view(name, ref, byteLength);
  }

  /** Hands a slot or a registered-buffer reference back to its sender (only after resolve() accepted it). */
  release(name: string, ref: SlotRef): void {
    this.peers.release(name, ref);
  }

  /**
   * allocBuffer: a registered buffer, or an ordinary array when no peer takes shared memory or
   * /dev/shm cannot hold one (warned once; an ECONFIG error when transport 'shm' was demanded).
   */
  allocate(dtype: DType, count: number): NumericArray {
    // Ordinary memory (kept by the caller like a registered buffer) in huge pages where offered.
    if (this.attached && !this.region.hasLanes) return allocTypedArray(dtype, count);
    try {
      return this.arenas.allocate(dtype, count);
    } catch (e) {
      if (e instanceof ZcollError && e.code === 'ECLOSED') throw e;
      if (isNoSharedMemorySpace(e)) {
        if (this.choice === 'shm') throw e;
        warnOnce('buffer', `zcoll: rank ${this.rank}: allocBuffer(${dtype}, ${count}) does not fit in shared memory, using ordinary memory (for later ones that do not fit too, without this warning): ${e.message.replace(/^ECONFIG: \[[^\]]*\] /, '')}`);
        return allocTypedArray(dtype, count);
      }
      debug('info', () => `rank ${this.rank}: allocBuffer(${dtype}, ${count}) in shared memory failed (${(e as Error).message}); using ordinary memory`);
      return allocTypedArray(dtype, count);
    }
  }

  free(a: NumericArray): boolean {
    return this.arenas.free(a);
  }

  close(): void {
    this.unregister();
    this.mailbox.close();
    this.region.close();
    this.arenas.close();
    this.peers.close();
  }
}
