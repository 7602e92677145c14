/**
 * The shared-memory fast path between ranks of one host (what NCCL's and OpenMPI's SHM transports
 * do). Each rank owns one POSIX shared-memory region, `zcoll-<epoch>-<rank>`, holding slotsPerPeer()
 * slots of one segment for every same-host peer, and a state word per slot. To send a payload to a
 * peer, a rank copies it into a free slot of that peer's lane (one memcpy, instead of the socket's
 * two kernel copies) and sends only the header, naming the slot (through the peer's mailbox when it
 * polls, else over ZeroMQ ipc: outbox.ts). The receiver maps the sender's region once, reduces or
 * copies straight from the slot, and marks it free again by writing its state word. A header names
 * its slot, so any free slot will do, and the receiver places a frame by the ids in its header, not by
 * the way it came (mailbox and socket are each ordered, not with each other). A payload takes
 * the lowest free slot of its lane, not the next one in turn: a lane that carries one message at a
 * time keeps reusing slot 0, whose pages are already mapped on both sides, where taking the slots in
 * turn would touch a cold 4 MiB slot on each of the first slotsPerPeer() uses (a page fault per
 * 4 KiB for the writer and again for the reader: ~1,600 faults per rank per vote step at d = 25M).
 *
 * Region layout: a 32-byte header (magic, owner pid, size, data start, mailbox start, and at byte 24
 * the owner's start time), the state words, the slots, then the small-message mailboxes of
 * shm-mailbox.ts (one ring per peer). Every region's pages are reserved when it is made
 * (createRegion): a /dev/shm too small for it (Docker's default 64 MB) is an ECONFIG error naming
 * the sizes, never a SIGBUS at the first touch of a page tmpfs cannot supply.
 * Receivers map their peers' regions at their first collective (every region exists by then: a
 * region is made before its owner's first barrier), so a region can be unlinked when its
 * communicator closes without losing a message still to be read. Regions are removed when the
 * process ends (exit-cleanup.ts); those left by processes that were SIGKILLed (owner pid gone, or
 * held by a process with another start time) are removed when the next communicator on the host
 * starts (crash recovery), and by `zcoll launch` once its ranks are gone.
 */
import { readdirSync, statSync } from 'node:fs';
import { nativeLoad, shmAvailable, shmMap, shmReserve, shmUnlink, shmUnmap } from '../kernels/native.js';
import { debug } from '../debug.js';
import { ZcollError } from '../errors.js';
import { ownerAlive, ownStartTime } from '../process/owner.js';
import { checkRegionBytes, maxSegmentBytesFor, shmFreeBytes, SHM_DIR } from './shm-limits.js';
import { REGION_NAME } from './wire.js';
import { LANE_PEER_WORD, laneControlOffset, MAILBOX_LANE_WORDS, mailboxBytes } from './shm-mailbox-layout.js';

/**
 * Slots per peer: enough segments in flight to keep the copy and the peer's reduce overlapping
 * (8 of 1 MiB), within a budget per peer, since a peer's slots are mapped, and so resident, in
 * both processes: 4 MiB segments get 4 slots (measured: peak RSS of a 64 MiB all-reduce was 2.95x
 * the tensor with 8 such slots).
 */
export const SLOT_BYTES_PER_PEER = 16 << 20;
export function slotsPerPeer(slotBytes: number): number {
  return Math.max(2, Math.min(8, Math.floor(SLOT_BYTES_PER_PEER / slotBytes)));
}
/** How long a sender waiting on a peer's release (a slot, a ticket) yields to the event loop before it sleeps 1 ms at a time. */
const RELEASE_WAIT_SPIN_MS = 1;

/**
 * One turn of waiting for a peer to write a release word: the peer frees it as it consumes (at once
 * when it busy-polls), so yield to the event loop for RELEASE_WAIT_SPIN_MS after `since`, then back
 * off to 1 ms sleeps.
 */
export function releaseWait(since: number): Promise<void> {
  return new Promise<void>((resolve) => (performance.now() - since < RELEASE_WAIT_SPIN_MS ? setImmediate(resolve) : setTimeout(resolve, 1)));
}
const MAGIC = 0x7a636f32; // 'zco2'
const HEADER_BYTES = 32;
/** Bytes of the header every zcoll region starts with (this file's slots and shm-arena.ts's buffers). */
export const REGION_HEADER_BYTES = HEADER_BYTES;
/** Regions of registered buffers (shm-arena.ts) a receiver keeps mapped, all peers together, least recently used first out. */
const MAX_MAPPED_ARENAS = 32;
/** Payloads below this go inside the ZeroMQ message: the slot bookkeeping would cost more than it saves. */
export const SHM_MIN_BYTES = 32 * 1024;

export function shmSupported(): boolean {
  return shmAvailable();
}

export function shmUnavailableReason(): string {
  return nativeLoad.reason ?? 'the native addon is not loaded';
}

/** Where a payload lives in the sender's region (header fields). */
export interface SlotRef {
  /** Region size, so the receiver can map it. */
  readonly size: number;
  /** Byte offset of the payload in the region. */
  readonly offset: number;
  /** Index of the slot's state word. */
  readonly state: number;
  /** Where the data area starts: the state words are the region's first dataStart/4 int32s. */
  readonly dataStart: number;
}

/** Byte offset of the owner's start time (a float64 of clock ticks since boot; 0: not recorded). */
const START_TIME_OFFSET = 24;

/** Writes the region header that readHeader and crash recovery read (the owner is this process). */
export function writeRegionHeader(buffer: ArrayBuffer, size: number, dataStart: number, mailboxStart: number): void {
  new Float64Array(buffer, START_TIME_OFFSET, 1)[0] = ownStartTime();
  new Int32Array(buffer, 0, 5).set([MAGIC, process.pid, size, dataStart, mailboxStart]);
}

/**
 * Creates region `name` of `bytes` and reserves its pages (posix_fallocate): shm_open + ftruncate
 * alone make a sparse object of any size, whose pages tmpfs may be unable to supply when first
 * touched, killing the process by SIGBUS with no message. A region that cannot be reserved is
 * removed again and is a ZcollError('ECONFIG') saying how much /dev/shm has, with
 * details.reason 'ENOSPC' when the space was missing (SharedMemory falls back to ZeroMQ on it).
 */
export function createRegion(name: string, bytes: number, what: string, ctx: { rank?: number; op?: string }): ArrayBuffer {
  const buffer = shmMap(name, bytes, true);
  try {
    if (!shmReserve(name, bytes)) debug('detail', () => `shared-memory region ${name}: no reservation on this platform or addon`);
  } catch (e) {
    shmUnmap(buffer);
    try {
      shmUnlink(name);
    } catch {
      // already gone
    }
    const code = (e as { code?: unknown }).code;
    const free = shmFreeBytes();
    const fix = code === 'ENOSPC' ? `; give it more room (docker run --shm-size=1g, or a memory-backed emptyDir at ${SHM_DIR} in Kubernetes), or use transport 'ipc'` : '';
    throw new ZcollError('ECONFIG', `${what} needs ${bytes} bytes of shared memory, which ${SHM_DIR} cannot reserve (${free !== undefined ? `${free} bytes free` : 'free space unknown'}: ${(e as Error).message})${fix}`, {
      ...ctx,
      details: { reason: typeof code === 'string' ? code : 'EIO', bytes, ...(free !== undefined ? { freeBytes: free } : {}) },
    }, { cause: e });
  }
  return buffer;
}

/** Whether `e` is createRegion's error for a /dev/shm without room (not a bug, not a bad argument). */
export function isNoSharedMemorySpace(e: unknown): e is ZcollError {
  return e instanceof ZcollError && e.code === 'ECONFIG' && e.details?.reason === 'ENOSPC';
}

interface RegionHeader {
  readonly pid: number;
  /** The owner's start time (process/owner.ts); 0 in regions of older versions. */
  readonly startTime: number;
  readonly size: number;
  readonly dataStart: number;
  readonly mailboxStart: number;
}

/** Reads a region's header: its owner pid and size, or undefined if it is not a zcoll region. */
function readHeader(name: string): RegionHeader | undefined {
  try {
    const head = shmMap(name, HEADER_BYTES, false);
    const h = new Int32Array(head, 0, 5);
    const startTime = new Float64Array(head, START_TIME_OFFSET, 1)[0];
    const out = h[0] === MAGIC ? { pid: h[1], startTime: Number.isSafeInteger(startTime) && startTime > 0 ? startTime : 0, size: h[2], dataStart: h[3], mailboxStart: h[4] } : undefined;
    shmUnmap(head);
    return out;
  } catch {
    return undefined;
  }
}

/** The uid of this process, or undefined where there are none (Windows). */
function ownUid(): number | undefined {
  return typeof process.getuid === 'function' ? process.getuid() : undefined;
}

/**
 * Removes this user's regions whose owner process is gone: no such pid, or the pid now held by a
 * process that started at another time (in a container the next job's ranks get the same pids).
 * Another user's regions are left alone, even for root (Linux keeps POSIX shm under /dev/shm).
 */
export function removeStaleRegions(): number {
  let removed = 0;
  let names: string[] = [];
  try {
    names = readdirSync(SHM_DIR);
  } catch {
    return 0;
  }
  const me = ownUid();
  for (const name of names) {
    if (!REGION_NAME.test(name)) continue;
    try {
      if (me !== undefined && statSync(`${SHM_DIR}/${name}`).uid !== me) continue;
    } catch {
      continue; // removed meanwhile
    }
    // No valid header yet: a region being created right now by another process; leave it.
    const h = readHeader(name);
    if (h === undefined || ownerAlive(h.pid, h.startTime)) continue;
    try {
      if (shmUnlink(name)) removed++;
    } catch {
      // another process removed it first
    }
  }
  if (removed > 0) debug('info', () => `removed ${removed} shared-memory region(s) left by dead processes`);
  return removed;
}

/** This rank's outgoing region. */
export class OutRegion {
  readonly name: string;
  readonly size: number;
  private readonly buffer: ArrayBuffer;
  private readonly states: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly lane = new Map<number, number>(); // peer -> lane index
  private readonly dataStart: number;
  /** Slots per peer lane (slotsPerPeer). */
  private readonly slots: number;
  /** Where this region's mailboxes start (shm-mailbox.ts); lane i belongs to peers[i]. */
  readonly mailboxStart: number;
  private closed = false;

  constructor(
    epoch: number,
    rank: number,
    peers: readonly number[],
    readonly slotBytes: number,
  ) {
    peers.forEach((p, i) => this.lane.set(p, i));
    this.slots = slotsPerPeer(slotBytes);
    const nslots = Math.max(1, peers.length) * this.slots;
    this.dataStart = Math.ceil((HEADER_BYTES + nslots * 4) / 64) * 64;
    this.mailboxStart = Math.ceil((this.dataStart + nslots * slotBytes) / 64) * 64;
    this.size = this.mailboxStart + mailboxBytes(peers.length);
    this.name = regionName(epoch, rank);
    checkRegionBytes(this.size, 'ECONFIG', () => {
      const most = maxSegmentBytesFor(peers.length, this.size - nslots * slotBytes);
      const fix = most >= 64 ? `segmentBytes of at most ${most}` : 'fewer ranks on this host';
      return `segmentBytes ${slotBytes} with ${peers.length} same-host peer(s) (${this.slots} slots each; use ${fix}, or transport 'ipc' for no shared memory)`;
    }, { rank, op: 'init' });
    this.buffer = createRegion(this.name, this.size, `the shared-memory region of rank ${rank} (${peers.length} same-host peer(s), segmentBytes ${slotBytes})`, { rank, op: 'init' });
    // Each mailbox lane names the peer it is for, so a reader finds its own lane without knowing
    // the order this rank listed its peers in. Counters start at 0 (a reused name keeps old bytes).
    new Uint8Array(this.buffer, this.mailboxStart, laneControlOffset(peers.length)).fill(0);
    peers.forEach((p, i) => (new Int32Array(this.buffer, this.mailboxStart + laneControlOffset(i), MAILBOX_LANE_WORDS)[LANE_PEER_WORD] = p));
    writeRegionHeader(this.buffer, this.size, this.dataStart, this.mailboxStart);
    this.states = new Int32Array(this.buffer, HEADER_BYTES, nslots);
    this.bytes = new Uint8Array(this.buffer);
  }

  hasLane(peer: number): boolean {
    return this.lane.has(peer);
  }

  /**
   * Stops using shared memory towards `peer` (its region does not exist: it fell back to ZeroMQ, so
   * it would never resolve a slot reference). Its lane's slots stay unused.
   */
  dropLane(peer: number): void {
    this.lane.delete(peer);
  }

  /** Whether any peer still takes payloads through this region. */
  get hasLanes(): boolean {
    return this.lane.size > 0;
  }

  /** The mapped region (for this rank's mailboxes); undefined once closed. */
  get mapped(): ArrayBuffer | undefined {
    return this.closed ? undefined : this.buffer;
  }

  /** Mailbox lane of `peer` in this region (shm-mailbox.ts), or -1. */
  laneOf(peer: number): number {
    return this.lane.get(peer) ?? -1;
  }

  /**
   * Copies `payload` into the lowest free slot of `peer`'s lane, and returns where. Waits (yielding
   * to the event loop) while the receiver holds every slot of the lane; returns undefined when the
   * region was closed meanwhile.
   */
  async put(peer: number, payload: Uint8Array): Promise<SlotRef | undefined> {
    const since = performance.now();
    let ref = this.tryPut(peer, payload);
    while (ref === undefined && !this.closed) {
      await releaseWait(since);
      ref = this.tryPut(peer, payload);
    }
    return ref;
  }

  /** put() without waiting: undefined when the receiver holds every slot of the lane (or the region closed). */
  tryPut(peer: number, payload: Uint8Array): SlotRef | undefined {
    if (this.closed) return undefined;
    const slot = this.freeSlot(this.lane.get(peer)! * this.slots);
    if (slot < 0) return undefined;
    const offset = this.dataStart + slot * this.slotBytes;
    this.bytes.set(payload, offset);
    this.states[slot] = 1;
    return { size: this.size, offset, state: slot, dataStart: this.dataStart };
  }

  /** The lowest free slot of the lane whose first slot is `first`, or -1 when the receiver holds all. */
  private freeSlot(first: number): number {
    for (let k = first; k < first + this.slots; k++) if (this.states[k] === 0) return k;
    return -1;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      shmUnlink(this.name);
    } catch {
      // already gone
    }
    shmUnmap(this.buffer);
  }
}

export function regionName(epoch: number, rank: number): string {
  return `zcoll-${epoch}-${rank}`;
}

/** The regions of same-host peers. */
export class InRegions {
  private readonly maps = new Map<string, { buffer: ArrayBuffer; states: Int32Array; dataStart: number; mailboxStart: number }>();

  /** Registered-buffer regions mapped, oldest use first (a peer may allocate and free many). */
  private readonly arenas: string[] = [];

  /** Maps a peer's region now (returns false if it does not exist or is not a zcoll region). */
  attach(name: string): boolean {
    if (this.maps.has(name)) {
      this.touch(name);
      return true;
    }
    const h = readHeader(name);
    if (h === undefined) return false;
    try {
      const buffer = shmMap(name, h.size, false);
      this.maps.set(name, { buffer, states: new Int32Array(buffer, HEADER_BYTES, (h.dataStart - HEADER_BYTES) >>> 2), dataStart: h.dataStart, mailboxStart: h.mailboxStart });
      if (h.mailboxStart === h.size) {
        // A registered buffer: unmap the least recently used beyond the bound, so freed buffers
        // of a peer do not stay mapped (and their memory held) here forever.
        this.arenas.push(name);
        while (this.arenas.length > MAX_MAPPED_ARENAS) {
          const old = this.arenas.shift()!;
          const m = this.maps.get(old);
          this.maps.delete(old);
          if (m !== undefined) shmUnmap(m.buffer);
        }
      }
      return true;
    } catch (e) {
      debug('info', () => `cannot map shared-memory region ${name}: ${(e as Error).message}`);
      return false;
    }
  }

  private touch(name: string): void {
    const i = this.arenas.indexOf(name);
    if (i >= 0 && i !== this.arenas.length - 1) {
      this.arenas.splice(i, 1);
      this.arenas.push(name);
    }
  }

  /**
   * A view of the payload in a peer's region (valid until release), or why it cannot be had: the
   * region cannot be mapped, the reference does not lie in its data area (the region's own header
   * says where that is, not the reference), or its state word says the sender is not lending it
   * (a stale or forged reference: what it names may be in use for another message).
   */
  view(name: string, ref: SlotRef, byteLength: number): Buffer | string {
    if (!this.attach(name)) return 'its region cannot be mapped';
    const m = this.maps.get(name)!;
    const dataEnd = m.mailboxStart;
    if (ref.size !== m.buffer.byteLength || ref.dataStart !== m.dataStart || ref.offset < m.dataStart || ref.offset + byteLength > dataEnd) return 'the reference does not lie in the region\'s data area';
    if (!(ref.state >= 0 && ref.state < m.states.length)) return 'the reference names no state word of the region';
    if (Atomics.load(m.states, ref.state) === 0) return 'the slot it names is not lent (a stale or forged reference)';
    return Buffer.from(m.buffer, ref.offset, byteLength);
  }

  /** A mapped peer region and where its mailboxes start, or undefined when it is not mapped. */
  mapped(name: string): { buffer: ArrayBuffer; mailboxStart: number } | undefined {
    return this.maps.get(name);
  }

  release(name: string, ref: SlotRef): void {
    const m = this.maps.get(name);
    if (m !== undefined && ref.state < m.states.length) m.states[ref.state] = 0;
  }

  close(): void {
    for (const m of this.maps.values()) shmUnmap(m.buffer);
    this.maps.clear();
    this.arenas.length = 0;
  }
}
