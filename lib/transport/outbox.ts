/**
 * A rank's outbox: every message this rank sends goes through here, and only here. It stamps
 * nothing and decides nothing; it is the one seam where faults are injected (delays for
 * stragglers, replaced payloads for Byzantine ranks, crashes), so every collective and every
 * aggregator sees the same faults, and where bytes on the wire are counted.
 */
import { encodeHeader, encodeHeaderTransient, mailHeader, withShm, type DataHeader, type Header } from './wire.js';
import type { Link } from './link.js';
import { SHM_MIN_BYTES, type OutRegion, type SlotRef } from './shm-region.js';
import type { SharedArenas } from './shm-arena.js';
import type { ShmMailbox } from './shm-mailbox.js';
import { MAILBOX_MAX_PAYLOAD } from './shm-mailbox-layout.js';
import { phaseClock } from '../phase-clock.js';
import { SENT } from './sent.js';

/** A private copy of a payload its owner may change before it is read. */
function copyOf(b: Uint8Array): Buffer {
  const c = Buffer.allocUnsafe(b.byteLength);
  c.set(b);
  return c;
}

/** The header-only frame that tells a peer to drain its mailbox from this rank. */
function doorbell(h: Header): Header {
  return mailHeader(h.sender, h.epoch);
}

export interface OutgoingMessage {
  readonly peer: number;
  readonly header: Header;
  readonly payload: Uint8Array | undefined;
}

/**
 * A fault seam sees each outgoing message before it is queued and returns the message to send
 * (possibly with another payload), or null to drop it. It may wait (a straggler) or throw.
 */
export type FaultSeam = (msg: OutgoingMessage) => OutgoingMessage | null | Promise<OutgoingMessage | null>;

export interface OutboxCounters {
  messages: number;
  headerBytes: number;
  /** Payload bytes sent, through sockets or shared memory. */
  payloadBytes: number;
  /** Of those, bytes that went through shared memory. */
  shmBytes: number;
  /** Of those, bytes read by the peer straight from a registered buffer (no copy on this side). */
  sharedBytes: number;
  /** Messages handed to a ZeroMQ socket (the rest went into a peer's mailbox; doorbells not counted). */
  socketMessages: number;
}

export class Outbox {
  private seam: FaultSeam | undefined;
  /** This rank's shared-memory region, for payloads to same-host peers (undefined: sockets only). */
  readonly shm: OutRegion | undefined;
  /** Small collective frames to same-host peers that busy-poll go through their mailbox (shm-mailbox.ts). */
  private readonly mailbox: ShmMailbox | undefined;
  /** Registered buffers (shm-arena.ts): payloads inside one go to same-host peers as references, uncopied. */
  readonly arenas: SharedArenas | undefined;
  readonly counters: OutboxCounters = { messages: 0, headerBytes: 0, payloadBytes: 0, shmBytes: 0, sharedBytes: 0, socketMessages: 0 };
  /**
   * Per-peer chains that keep order when a message must wait (the seam delays it, or its shared-memory
   * slot is still held by the receiver); `pending` counts messages in the chain, so that a message is
   * sent directly only when nothing before it is still waiting.
   */
  private readonly tails = new Map<number, { promise: Promise<unknown>; pending: number }>();

  constructor(
    private readonly links: ReadonlyMap<number, Link>,
    shared?: { readonly region: OutRegion; readonly mailbox: ShmMailbox; readonly arenas: SharedArenas },
  ) {
    this.shm = shared?.region;
    this.mailbox = shared?.mailbox;
    this.arenas = shared?.arenas;
  }

  /** Installs (or removes) the fault seam: fault injection, faults/. */
  setFaultSeam(seam: FaultSeam | undefined): void {
    this.seam = seam;
  }

  send(peer: number, header: Header, payload?: Uint8Array, volatile = false): Promise<void> {
    const link = this.links.get(peer);
    if (link === undefined) return Promise.reject(new Error(`no link to rank ${peer}`));
    const seam = this.seam;
    const tail = this.tails.get(peer);
    if (seam === undefined && (tail === undefined || tail.pending === 0)) {
      let head: Uint8Array | undefined;
      if (this.mailable(header, payload)) {
        // Transient: the mailbox copies it at once; any other way gets its own copy below.
        head = encodeHeaderTransient(header);
        phaseClock?.('encoded');
        if (this.viaMailbox(link, peer, header, head, payload)) {
          phaseClock?.('sent');
          return SENT;
        }
      }
      const placed = this.slotNow(link, peer, header, payload);
      if (placed !== undefined) return placed;
      if (volatile && payload !== undefined) payload = copyOf(payload); // every other way reads it later
      if (!this.viaShm(peer, header, payload)) return head !== undefined ? this.putEncoded(link, copyOf(head), payload) : this.put(link, header, payload);
    } else if (volatile && payload !== undefined) payload = copyOf(payload); // it waits in the chain below
    const chain = tail ?? { promise: Promise.resolve(), pending: 0 };
    this.tails.set(peer, chain);
    chain.pending++;
    const next = chain.promise.then(async () => {
      const out = seam === undefined ? { peer, header, payload } : await seam({ peer, header, payload });
      if (out === null) return;
      if (out.header.kind === 'data' && this.viaShm(peer, out.header, out.payload)) {
        const payload = out.payload!;
        // A registered buffer is shared as it is; anything else is copied into a slot.
        const inPlace = this.shmRoute(peer, payload) === 'arena';
        const placed = inPlace ? await this.arenas!.share(peer, payload) : await this.putInSlot(peer, payload);
        if (placed === undefined) throw new Error('the shared-memory region was closed');
        if (inPlace) this.counters.sharedBytes += payload.byteLength;
        await this.slotHeader(link, peer, out.header, payload, placed.name, placed.ref, seam === undefined);
      } else if (seam === undefined && this.mailable(out.header, out.payload)) {
        // A small frame that queued behind a slot payload (an ack after a slot-sized ring step) still
        // takes the mailbox: over ZeroMQ its peer waited a socket wake-up for it (issue 17: with
        // slotNow, 2-rank ring 512 KiB median 435 -> 118 us; latency.md section 14).
        const head = encodeHeader(out.header);
        if (!this.viaMailbox(link, peer, out.header, head, out.payload)) await this.putEncoded(link, head, out.payload);
      } else await this.put(link, out.header, out.payload);
    });
    chain.promise = next.then(
      () => void chain.pending--,
      () => void chain.pending--,
    );
    return next;
  }

  /**
   * Raw frames on the link to `peer`, bypassing headers, routes and the fault seam: for tools and
   * tests that speak the wire format themselves (a fuzzer, a Byzantine rank's forgeries).
   */
  sendFrames(peer: number, frames: ReadonlyArray<Uint8Array>): Promise<void> {
    const link = this.links.get(peer);
    if (link === undefined) return Promise.reject(new Error(`no link to rank ${peer}`));
    return link.send(frames);
  }

  /**
   * Whether a collective payload to `peer`, sent now, leaves the caller's memory alone once the
   * collective settles: it is copied into a slot before its send() resolves, or it lies in a
   * registered buffer, whose references every collective waits for before it settles. A payload
   * handed to ZeroMQ instead is read later, from the caller's memory. Only in the first two cases
   * may a caller send from memory it will change afterwards without a private copy. Not with a
   * fault seam: it may keep the payload.
   */
  copiesBeforeResolving(peer: number, payload: Uint8Array): boolean {
    return this.seam === undefined && this.shmRoute(peer, payload) !== undefined;
  }

  /**
   * A slot payload sent in the call when its lane has a free slot: copied there now, so a volatile
   * payload needs no private copy first (one per 2-rank 256 KiB all-reduce, a fresh 128 KiB Buffer:
   * ~30 page faults each, issue 17), and its header follows at once. Undefined when the payload does
   * not go to a slot or every slot is held (it then waits in the chain).
   */
  private slotNow(link: Link, peer: number, header: Header, payload: Uint8Array | undefined): Promise<void> | undefined {
    if (payload === undefined || header.kind !== 'data' || this.shmRoute(peer, payload) !== 'slot') return undefined;
    const ref = this.shm!.tryPut(peer, payload);
    return ref === undefined ? undefined : this.slotHeader(link, peer, header, payload, this.shm!.name, ref, true);
  }

  /** Counts a payload placed in shared memory and sends the header naming it: through the peer's mailbox when it polls, like any small frame. */
  private slotHeader(link: Link, peer: number, header: DataHeader, payload: Uint8Array, name: string, ref: SlotRef, mailbox: boolean): Promise<void> {
    this.counters.shmBytes += payload.byteLength;
    this.counters.payloadBytes += payload.byteLength;
    const slotHeader = withShm(header, { region: name, size: ref.size, offset: ref.offset, slot: ref.state, dataStart: ref.dataStart });
    const head = encodeHeader(slotHeader);
    if (mailbox && this.viaMailbox(link, peer, slotHeader, head, undefined)) return SENT;
    return this.putEncoded(link, head, undefined);
  }

  private async putInSlot(peer: number, payload: Uint8Array): Promise<{ name: string; ref: SlotRef } | undefined> {
    const ref = await this.shm!.put(peer, payload);
    return ref === undefined ? undefined : { name: this.shm!.name, ref };
  }

  /**
   * How a payload reaches same-host `peer` through shared memory: referenced in its registered buffer
   * (any size), copied into a slot (SHM_MIN_BYTES up to a slot), or not at all (undefined: ZeroMQ).
   */
  private shmRoute(peer: number, payload: Uint8Array): 'arena' | 'slot' | undefined {
    if (this.shm === undefined || !this.shm.hasLane(peer)) return undefined;
    if (this.arenas?.holds(peer, payload) === true) return 'arena';
    return payload.byteLength >= SHM_MIN_BYTES && payload.byteLength <= this.shm.slotBytes ? 'slot' : undefined;
  }

  /** Collective payloads only: a p2p message may be read after its sender closed and unlinked the region. */
  private viaShm(peer: number, header: Header, payload: Uint8Array | undefined): boolean {
    return header.kind === 'data' && payload !== undefined && this.shmRoute(peer, payload) !== undefined;
  }

  /** Whether a frame may go through a mailbox: a collective or p2p frame of at most MAILBOX_MAX_PAYLOAD bytes. */
  private mailable(header: Header, payload: Uint8Array | undefined): boolean {
    return this.mailbox !== undefined && (header.kind === 'data' || header.kind === 'p2p') && (payload?.byteLength ?? 0) <= MAILBOX_MAX_PAYLOAD;
  }

  /** Puts an encoded frame into the peer's mailbox if it polls (shm-mailbox.ts); false: use the link. */
  private viaMailbox(link: Link, peer: number, header: Header, head: Uint8Array, payload: Uint8Array | undefined): boolean {
    const sent = this.mailbox?.trySend(peer, head, payload) ?? 'no';
    if (sent === 'no') return false;
    this.count(head, payload);
    this.counters.shmBytes += payload?.byteLength ?? 0;
    // The receiver stopped polling just now: a header-only frame over ZeroMQ makes it drain.
    if (sent === 'ring') void link.send([encodeHeader(doorbell(header))]).catch(() => undefined);
    return true;
  }

  private put(link: Link, header: Header, payload: Uint8Array | undefined): Promise<void> {
    return this.putEncoded(link, encodeHeader(header), payload);
  }

  private putEncoded(link: Link, head: Uint8Array, payload: Uint8Array | undefined): Promise<void> {
    this.count(head, payload);
    this.counters.socketMessages++;
    return link.send(payload === undefined ? [head] : [head, payload]);
  }

  private count(head: Uint8Array, payload: Uint8Array | undefined): void {
    this.counters.messages++;
    this.counters.headerBytes += head.byteLength;
    if (payload !== undefined) this.counters.payloadBytes += payload.byteLength;
  }
}
