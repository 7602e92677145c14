/**
 * A rank's outbox: every message this rank sends goes through here, and only here. It stamps
 * nothing and decides nothing; it is the one seam where faults are injected (delays for
 * stragglers, replaced payloads for Byzantine ranks, crashes), so every collective and every
 * aggregator sees the same faults, and where bytes on the wire are counted.
 */
import { encodeHeader, type Header } from './wire.js';
import type { Link } from './link.js';

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
  payloadBytes: number;
}

export class Outbox {
  seam: FaultSeam | undefined;
  readonly counters: OutboxCounters = { messages: 0, headerBytes: 0, payloadBytes: 0 };
  /** Per-peer chains that keep order when the seam delays a message. */
  private readonly seamTails = new Map<number, Promise<unknown>>();

  constructor(private readonly links: ReadonlyMap<number, Link>) {}

  send(peer: number, header: Header, payload?: Uint8Array): Promise<void> {
    const link = this.links.get(peer);
    if (link === undefined) return Promise.reject(new Error(`no link to rank ${peer}`));
    const seam = this.seam;
    if (seam === undefined) return this.put(link, header, payload);
    const prev = this.seamTails.get(peer) ?? Promise.resolve();
    const next = prev.then(async () => {
      const out = await seam({ peer, header, payload });
      if (out !== null) await this.put(link, out.header, out.payload);
    });
    this.seamTails.set(peer, next.catch(() => undefined));
    return next;
  }

  private put(link: Link, header: Header, payload: Uint8Array | undefined): Promise<void> {
    const head = encodeHeader(header);
    this.counters.messages++;
    this.counters.headerBytes += head.byteLength;
    if (payload === undefined) return link.send([head]);
    this.counters.payloadBytes += payload.byteLength;
    return link.send([head, payload]);
  }
}
