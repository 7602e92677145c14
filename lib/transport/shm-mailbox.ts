/**
 * Shared-memory mailboxes: the latency path between ranks of one host. A small message over ZeroMQ
 * costs three thread wake-ups (the sender's I/O thread, the receiver's I/O thread, the receiver's
 * main thread), ~80-120 us on this kind of machine, where the bytes of a 4 KiB all-reduce take 2 us.
 * A mailbox message costs none while its receiver busy-polls: the sender copies header and payload
 * into the next slot of its lane to that peer and bumps the lane's head; the receiver, polling
 * (comm/busy-poll.ts), sees the head move, hands the message to the same dispatch as a ZeroMQ one,
 * and bumps the tail to free the slot. OpenMPI's shared-memory BTL works the same way.
 *
 * The mailbox is used only when it is sure to be read, and the ZeroMQ path stays the default:
 *  - a sender uses it only while the receiver's polling word says it polls, and only when the lane
 *    has a free slot; otherwise the message goes over ZeroMQ as before;
 *  - after publishing, the sender reads the polling word again. The receiver clears that word and
 *    then drains once more; the sender publishes and then re-reads the word (both with seq-cst
 *    atomics). So either the receiver's last drain sees the message, or the sender sees the word
 *    cleared and rings a doorbell over ZeroMQ (a header-only 'mail' frame) that makes the receiver
 *    drain (the Dekker pattern). A message is never left unread, and a spurious doorbell is harmless.
 * A rank that waits long, or shares its cores with more ranks than it has, sleeps instead of spinning
 * (`sleep`): it marks its polling word ASLEEP, looks at its lanes once more, and sleeps on the word
 * with a futex. A sender that publishes and then reads ASLEEP swaps it back to POLLING and wakes it:
 * one system call, where a ZeroMQ wake-up crosses three threads. The same Dekker argument holds (the
 * sleeper writes the word then reads the heads; the sender writes a head then reads the word), and
 * the futex sleeps only while the word still says ASLEEP, so a wake cannot be lost between the two.
 * Collective 'data' frames and point-to-point frames use it. Either may overtake frames on the
 * ZeroMQ link: collective frames are matched by (op, seq, transfer, segment), and point-to-point
 * frames are put back in their sender's order by (message, segment) (comm/p2p.ts). Abort, bye and
 * stuck frames keep ZeroMQ's order.
 * Atomics on the (non-shared) ArrayBuffer of a mapping: V8 still emits real atomic loads/stores.
 */
import {
  LANE_HEAD_WORD,
  LANE_PEER_WORD,
  LANE_TAIL_WORD,
  laneControlOffset,
  MAILBOX_LANE_WORDS,
  MAILBOX_MAX_HEADER,
  MAILBOX_MAX_PAYLOAD,
  MAILBOX_SLOTS,
  POLLING_WORD,
  slotOffset,
} from './shm-mailbox-layout.js';
import type { InRegions, OutRegion } from './shm-region.js';
import type { Futex } from '../kernels/native.js';

/** Values of a rank's polling word: peers may use its mailbox while it is not CLOSED. */
const CLOSED = 0;
const POLLING = 1;
/** Asleep on the word (futex): a sender that publishes sets it back to POLLING and wakes it. */
const ASLEEP = 2;

/** 'sent': in the mailbox; 'ring': in the mailbox, and the receiver needs a doorbell; 'no': use ZeroMQ. */
export type MailResult = 'sent' | 'ring' | 'no';

/** Receives one message from a mailbox: the encoded header and a payload view valid during the call. */
export type MailHandler = (peer: number, head: Buffer, payload: Buffer | undefined) => void;

interface PeerLanes {
  /** The peer's polling word (in its region). */
  readonly polling: Int32Array;
  /** The peer's lane to this rank (in its region): head written by the peer, tail by this rank. */
  readonly inbound: Int32Array;
  readonly inboundSlots: (slot: number) => number;
  readonly peerBuffer: ArrayBuffer;
  /** The peer's whole region as words, for a slot's two size words (one view per peer, not one per message). */
  readonly peerWords: Int32Array;
  /** Byte offset of the peer's polling word in its region (the futex word to wake). */
  readonly pollingAt: number;
}

export class ShmMailbox {
  private readonly own: ArrayBuffer;
  private readonly ownPolling: Int32Array;
  /** Byte offset of this rank's polling word in its own region (the futex word). */
  private readonly ownPollingAt: number;
  private readonly outbound = new Map<number, { lane: Int32Array; slot: (k: number) => number }>();
  private readonly peers = new Map<number, PeerLanes>();
  private readonly u8: Uint8Array;
  /** This rank's region as words: a slot's two size words are written through it (no view per message). */
  private readonly words: Int32Array;
  private draining = false;
  private closed = false;
  /** Messages sent and received through mailboxes (diagnostics and tests). */
  readonly counters = { sent: 0, received: 0, doorbells: 0, sleeps: 0, wakes: 0 };

  constructor(
    private readonly rank: number,
    out: OutRegion,
    private readonly ins: InRegions,
    private readonly regionOf: (peer: number) => string,
    private readonly localPeers: readonly number[],
    /** Futex wait/wake (Linux, native addon); without it this rank never sleeps on its mailbox. */
    private readonly futex: Futex | undefined,
  ) {
    this.own = out.mapped!;
    this.u8 = new Uint8Array(this.own);
    this.words = new Int32Array(this.own, 0, Math.floor(this.own.byteLength / 4));
    this.ownPolling = new Int32Array(this.own, out.mailboxStart, 16);
    this.ownPollingAt = out.mailboxStart + POLLING_WORD * 4;
    for (const p of localPeers) {
      const lane = out.laneOf(p);
      const nlanes = localPeers.length;
      this.outbound.set(p, { lane: new Int32Array(this.own, out.mailboxStart + laneControlOffset(lane), MAILBOX_LANE_WORDS), slot: (k) => out.mailboxStart + slotOffset(nlanes, lane, k) });
    }
  }

  /** The peer's side, once its region is mapped (after the first collective); undefined before. */
  private peer(p: number): PeerLanes | undefined {
    const known = this.peers.get(p);
    if (known !== undefined) return known;
    const m = this.ins.mapped(this.regionOf(p));
    if (m === undefined) return undefined;
    // The peer's lanes: one per peer of its own, each naming that peer; find the one for this rank.
    const nlanes = this.localPeers.length; // every rank of the host has the same number of local peers
    for (let lane = 0; lane < nlanes; lane++) {
      const control = new Int32Array(m.buffer, m.mailboxStart + laneControlOffset(lane), MAILBOX_LANE_WORDS);
      if (control[LANE_PEER_WORD] !== this.rank) continue;
      const found: PeerLanes = {
        polling: new Int32Array(m.buffer, m.mailboxStart, 16),
        inbound: control,
        inboundSlots: (k) => m.mailboxStart + slotOffset(nlanes, lane, k),
        peerBuffer: m.buffer,
        peerWords: new Int32Array(m.buffer, 0, Math.floor(m.buffer.byteLength / 4)),
        pollingAt: m.mailboxStart + POLLING_WORD * 4,
      };
      this.peers.set(p, found);
      return found;
    }
    return undefined;
  }

  /** Puts a message into `peer`'s mailbox if it polls and a slot is free (see the file comment). */
  trySend(peer: number, head: Uint8Array, payload: Uint8Array | undefined): MailResult {
    if (this.closed) return 'no';
    const bytes = payload?.byteLength ?? 0;
    if (bytes > MAILBOX_MAX_PAYLOAD || head.byteLength > MAILBOX_MAX_HEADER) return 'no';
    const out = this.outbound.get(peer);
    const theirs = this.peer(peer);
    if (out === undefined || theirs === undefined || Atomics.load(theirs.polling, POLLING_WORD) === CLOSED) return 'no';
    const headCount = Atomics.load(out.lane, LANE_HEAD_WORD);
    if (((headCount - Atomics.load(out.lane, LANE_TAIL_WORD)) | 0) >= MAILBOX_SLOTS) return 'no';
    const at = out.slot(((headCount % MAILBOX_SLOTS) + MAILBOX_SLOTS) % MAILBOX_SLOTS);
    // Slots start at multiples of 4 (a 64-aligned mailbox area, shm-mailbox-layout.ts): their size words are words of the region.
    this.words[at / 4] = head.byteLength;
    this.words[at / 4 + 1] = bytes;
    this.u8.set(head, at + 8);
    if (payload !== undefined) this.u8.set(payload, at + 8 + align8(head.byteLength));
    Atomics.store(out.lane, LANE_HEAD_WORD, (headCount + 1) | 0); // publishes the slot
    this.counters.sent++;
    const state = Atomics.load(theirs.polling, POLLING_WORD);
    if (state === POLLING) return 'sent';
    if (state === ASLEEP) {
      // Swapped before the wake: a sleeper that has not reached the futex yet then finds POLLING
      // and does not sleep. Waking after a failed swap is harmless (another sender just did it).
      Atomics.compareExchange(theirs.polling, POLLING_WORD, ASLEEP, POLLING);
      this.futex?.wake(theirs.peerBuffer, theirs.pollingAt);
      this.counters.wakes++;
      return 'sent';
    }
    this.counters.doorbells++;
    return 'ring';
  }

  /** Whether sleeping is possible at all here (futex wait/wake available). */
  get canSleep(): boolean {
    return this.futex !== undefined && !this.closed;
  }

  /**
   * Sleeps until a peer publishes into one of this rank's lanes or `micros` pass, and returns true;
   * returns false at once when it cannot sleep (no futex, not polling, closed). Blocks the event loop
   * for at most `micros`: callers keep it short so timers and sockets still turn (see busy-poll.ts).
   */
  sleep(micros: number): boolean {
    if (this.futex === undefined || this.closed) return false;
    if (Atomics.compareExchange(this.ownPolling, POLLING_WORD, POLLING, ASLEEP) !== POLLING) return false;
    if (this.anyPublished()) {
      Atomics.compareExchange(this.ownPolling, POLLING_WORD, ASLEEP, POLLING);
      return true;
    }
    this.counters.sleeps++;
    this.futex.wait(this.own, this.ownPollingAt, ASLEEP, micros);
    // A sender may have swapped it already; either way this rank is polling again.
    Atomics.compareExchange(this.ownPolling, POLLING_WORD, ASLEEP, POLLING);
    return true;
  }

  /**
   * True when some peer's lane holds a message not drained yet. Indexed and allocation-free: a
   * spinning rank asks this millions of times a second (an iterator per call was a waiting rank's
   * largest source of garbage).
   */
  private anyPublished(): boolean {
    const peers = this.localPeers;
    for (let i = 0; i < peers.length; i++) {
      const lane = this.peers.get(peers[i]) ?? this.peer(peers[i]);
      if (lane !== undefined && Atomics.load(lane.inbound, LANE_HEAD_WORD) !== Atomics.load(lane.inbound, LANE_TAIL_WORD)) return true;
    }
    return false;
  }

  /** Says "this rank polls its mailboxes": peers may now send through them. */
  startPolling(): void {
    if (!this.closed) Atomics.store(this.ownPolling, POLLING_WORD, POLLING);
  }

  /** Stops polling, then drains once more, so nothing published meanwhile is left behind. */
  stopPolling(handler: MailHandler): void {
    if (this.closed) return;
    Atomics.store(this.ownPolling, POLLING_WORD, CLOSED);
    this.drain(handler);
  }

  /** Hands every published message of every peer's lane to `handler`, in each lane's order; returns how many. */
  drain(handler: MailHandler): number {
    if (this.draining || this.closed || !this.anyPublished()) return 0;
    this.draining = true;
    let delivered = 0;
    try {
      for (const p of this.localPeers) {
        const lane = this.peer(p);
        if (lane === undefined) continue;
        for (;;) {
          const tail = Atomics.load(lane.inbound, LANE_TAIL_WORD);
          if (Atomics.load(lane.inbound, LANE_HEAD_WORD) === tail) break;
          const at = lane.inboundSlots(((tail % MAILBOX_SLOTS) + MAILBOX_SLOTS) % MAILBOX_SLOTS);
          const headBytes = lane.peerWords[at / 4];
          const payloadBytes = lane.peerWords[at / 4 + 1];
          // A peer's region is trusted no more than its socket: out-of-range sizes are a corrupt slot.
          const ok = headBytes > 0 && headBytes <= MAILBOX_MAX_HEADER && payloadBytes >= 0 && payloadBytes <= MAILBOX_MAX_PAYLOAD;
          try {
            this.counters.received++;
            delivered++;
            if (!ok) handler(p, EMPTY, undefined); // an empty header: dropped and counted by the receiver
            else {
              const head = Buffer.from(lane.peerBuffer, at + 8, headBytes);
              const payload = payloadBytes > 0 ? Buffer.from(lane.peerBuffer, at + 8 + align8(headBytes), payloadBytes) : undefined;
              handler(p, head, payload);
            }
          } finally {
            Atomics.store(lane.inbound, LANE_TAIL_WORD, (tail + 1) | 0); // frees the slot
          }
          if (this.closed) return delivered;
        }
      }
    } finally {
      this.draining = false;
    }
    return delivered;
  }

  close(): void {
    if (this.closed) return;
    Atomics.store(this.ownPolling, POLLING_WORD, CLOSED);
    this.closed = true;
  }
}

const EMPTY = Buffer.alloc(0);

function align8(n: number): number {
  return (n + 7) & ~7;
}
