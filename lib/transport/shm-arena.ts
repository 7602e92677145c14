/**
 * Registered buffers: typed arrays whose memory is a shared-memory region of this rank, so that
 * same-host peers read payloads straight out of them (NCCL's user-buffer registration, MPI's
 * MPI_Alloc_mem / MPI_Win_allocate_shared). `Communicator.allocBuffer(dtype, count)` maps one region
 * `zcoll-<epoch>-<rank>-<k>` per buffer; a collective on such a buffer sends its segments to
 * same-host peers as references (region, offset) instead of copying them into a slot: the receiver
 * reduces or copies straight from this rank's memory, so a 2-rank ring all-reduce does 3 memory
 * passes per byte instead of 5 (no sender copy in the reduce-scatter, none in the all-gather).
 *
 * Region layout: the 32-byte region header of shm-region.ts (magic, owner pid, size, data start,
 * mailbox start = size: no mailboxes), TICKETS_PER_PEER ticket words per same-host peer, then the
 * data, 64-byte aligned. A ticket says "a peer may still read": the sender sets it to 1 before the
 * reference leaves, the receiver sets it back to 0 once it has consumed the payload (the same
 * release as a slot's state word, so receivers need no new code). The executor already finishes a
 * collective only once every peer has its bytes; the tickets make the same guarantee for every op
 * that sends from a buffer (`returned()` is awaited before a collective resolves), and tell a
 * sender whose peer never consumed which peer holds what.
 * A registered buffer is an ordinary typed array to everything else; it is unmapped (and detached:
 * its length becomes 0) by `free` or when the communicator closes.
 */
import { shmUnlink, shmUnmap } from '../kernels/native.js';
import { viewArray, BYTES_PER_ELEMENT, type DType, type NumericArray } from '../dtype.js';
import { ZcollError } from '../errors.js';
import { createRegion, REGION_HEADER_BYTES, regionName, releaseWait, writeRegionHeader, type SlotRef } from './shm-region.js';
import { checkRegionBytes } from './shm-limits.js';

/** References one peer may hold at once from one buffer (a 64 MiB buffer in 4 MiB segments sends 16). */
export const TICKETS_PER_PEER = 256;

export function arenaName(epoch: number, rank: number, index: number): string {
  return `${regionName(epoch, rank)}-${index}`;
}

/** Whether `name` is a region (main or registered buffer) of rank `rank` in communicator `epoch`. */
export function isRegionOf(name: string, epoch: number, rank: number): boolean {
  const main = regionName(epoch, rank);
  return name === main || (name.startsWith(`${main}-`) && /^\d+$/.test(name.slice(main.length + 1)));
}

interface Arena {
  readonly name: string;
  readonly buffer: ArrayBuffer;
  readonly dataStart: number;
  readonly tickets: Int32Array;
  /** Per lane: the next ticket to use. */
  readonly next: Int32Array;
}

export interface SharedRef {
  readonly name: string;
  readonly ref: SlotRef;
}

export class SharedArenas {
  private readonly byBuffer = new WeakMap<ArrayBufferLike, Arena>();
  private readonly live = new Set<Arena>();
  private readonly lane = new Map<number, number>();
  /** Tickets handed out and not yet seen back: (arena, ticket index). */
  private readonly issued: Array<{ arena: Arena; ticket: number; peer: number }> = [];
  private nextIndex = 0;
  private closed = false;

  constructor(
    private readonly epoch: number,
    private readonly rank: number,
    peers: readonly number[],
  ) {
    peers.forEach((p, i) => this.lane.set(p, i));
  }

  /** A zeroed typed array of `count` elements living in a new shared-memory region of this rank. */
  allocate(dtype: DType, count: number): NumericArray {
    if (this.closed) throw new ZcollError('ECLOSED', 'the communicator is closed', { rank: this.rank, op: 'allocBuffer' });
    const lanes = Math.max(1, this.lane.size);
    const dataStart = Math.ceil((REGION_HEADER_BYTES + lanes * TICKETS_PER_PEER * 4) / 64) * 64;
    const size = dataStart + Math.max(1, count) * BYTES_PER_ELEMENT[dtype];
    checkRegionBytes(size, 'EINVAL', () => `allocBuffer(${dtype}, ${count}) in shared memory`, { rank: this.rank, op: 'allocBuffer' });
    const name = arenaName(this.epoch, this.rank, this.nextIndex++);
    const buffer = createRegion(name, size, `allocBuffer(${dtype}, ${count})`, { rank: this.rank, op: 'allocBuffer' });
    writeRegionHeader(buffer, size, dataStart, size);
    const arena: Arena = { name, buffer, dataStart, tickets: new Int32Array(buffer, REGION_HEADER_BYTES, lanes * TICKETS_PER_PEER), next: new Int32Array(lanes) };
    this.byBuffer.set(buffer, arena);
    this.live.add(arena);
    return viewArray(dtype, buffer, dataStart, count);
  }

  /** Unmaps and removes a registered buffer (it becomes detached); false if `a` is not one. */
  free(a: NumericArray): boolean {
    const arena = this.byBuffer.get(a.buffer);
    if (arena === undefined || !this.live.has(arena)) return false;
    this.release(arena);
    return true;
  }

  /** Whether `payload` lies in a registered buffer this rank can share with `peer`. */
  holds(peer: number, payload: Uint8Array): boolean {
    if (!this.lane.has(peer)) return false;
    const arena = this.byBuffer.get(payload.buffer);
    return arena !== undefined && this.live.has(arena);
  }

  /**
   * Takes a ticket of `peer`'s lane in the buffer holding `payload` (waiting while that ticket is
   * still held) and returns the reference to send instead of the bytes; undefined when the buffer
   * was freed or the communicator closed meanwhile.
   */
  async share(peer: number, payload: Uint8Array): Promise<SharedRef | undefined> {
    const arena = this.byBuffer.get(payload.buffer);
    const lane = this.lane.get(peer);
    if (arena === undefined || lane === undefined) return undefined;
    const ticket = lane * TICKETS_PER_PEER + arena.next[lane];
    arena.next[lane] = (arena.next[lane] + 1) % TICKETS_PER_PEER;
    const since = performance.now();
    while (arena.tickets[ticket] !== 0) {
      if (!this.live.has(arena)) return undefined;
      await releaseWait(since);
    }
    if (!this.live.has(arena)) return undefined;
    arena.tickets[ticket] = 1;
    this.issued.push({ arena, ticket, peer });
    return { name: arena.name, ref: { size: arena.buffer.byteLength, offset: payload.byteOffset, state: ticket, dataStart: arena.dataStart } };
  }

  /** Peers still holding a reference this rank sent (empty: every buffer may be written again). */
  holders(): number[] {
    let kept = 0;
    for (const x of this.issued) if (this.live.has(x.arena) && x.arena.tickets[x.ticket] !== 0) this.issued[kept++] = x;
    this.issued.length = kept;
    return [...new Set(this.issued.map((x) => x.peer))];
  }

  /** Whether any reference sent may still be held by a peer (none: the common case, on every collective). */
  get outstanding(): boolean {
    return this.issued.length > 0;
  }

  /**
   * Resolves once every reference sent so far was consumed; rejects with ETIMEDOUT naming the peers
   * that still hold one at `deadline` (a Date.now() time).
   */
  async returned(deadline: number, op: string): Promise<void> {
    if (this.issued.length === 0) return; // the common case, on every collective: nothing shared in place
    const since = performance.now();
    for (;;) {
      const holders = this.holders();
      if (holders.length === 0) return;
      if (Date.now() >= deadline) {
        throw new ZcollError('ETIMEDOUT', `${op}: rank${holders.length > 1 ? 's' : ''} ${holders.join(', ')} did not release this rank's shared buffer before the deadline`, { rank: this.rank, op, peer: holders[0] });
      }
      await releaseWait(since);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const arena of [...this.live]) this.release(arena);
  }

  private release(arena: Arena): void {
    this.live.delete(arena);
    try {
      shmUnlink(arena.name);
    } catch {
      // already gone
    }
    shmUnmap(arena.buffer);
  }
}
