/**
 * One rank's ZeroMQ presence: a PULL inbox bound on ipc:// (peers on this host) and tcp:// (peers on
 * other hosts), and one PUSH socket per peer. PUSH/PULL because every message is one-way and
 * matched by its header; one PUSH socket per peer because ZeroMQ keeps per-socket-pair order, which
 * is the ordering the collectives rely on (messages from one peer arrive in the order sent).
 * zeromq.js allows one send in flight per socket, so each link keeps a promise chain.
 */
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { ZcollError } from '../errors.js';
import type { Link, LinkKind } from './link.js';

export interface EndpointOptions {
  rank: number;
  /** Address to bind tcp:// on (an interface of this host); undefined: no tcp inbox. */
  tcpAddress?: string;
  /** Bind an ipc:// inbox as well. */
  ipc: boolean;
  /** Largest message ZeroMQ accepts; bigger ones drop the connection before being allocated. */
  maxMessageBytes: number;
  /** How long a send may wait for queue space or for the peer to connect. */
  sendTimeoutMs: number;
  /** How long close() keeps flushing queued messages. */
  lingerMs: number;
}

export interface BoundEndpoints {
  ipc?: string;
  tcp?: string;
}

class ZmqLink implements Link {
  private tail: Promise<void> = Promise.resolve();
  constructor(
    readonly peer: number,
    readonly kind: LinkKind,
    private readonly sock: zmq.Push,
  ) {}

  send(frames: ReadonlyArray<Uint8Array>): Promise<void> {
    const p = this.tail.then(() => this.sock.send(frames as Uint8Array[]));
    this.tail = p.catch(() => undefined);
    return p;
  }

  close(): void {
    if (!this.sock.closed) this.sock.close();
  }
}

export class ZmqEndpoint {
  private readonly pull: zmq.Pull;
  private readonly links = new Map<number, ZmqLink>();
  private ipcPath: string | undefined;
  private closed = false;
  readonly bound: BoundEndpoints = {};
  private handler: ((frames: Buffer[]) => void) | undefined;
  /**
   * Messages that arrive before anyone listens (a fast peer's first collective can land while this
   * rank is still between rendezvous and building its communicator) wait here instead of being lost.
   */
  private early: Buffer[][] = [];

  /** Called with every message received, in arrival order (and at once with those that came before). */
  set onMessage(handler: (frames: Buffer[]) => void) {
    this.handler = handler;
    const early = this.early;
    this.early = [];
    for (const frames of early) handler(frames);
  }

  private constructor(private readonly opts: EndpointOptions) {
    this.pull = new zmq.Pull({ linger: 0, maxMessageSize: opts.maxMessageBytes, receiveHighWaterMark: 0 });
  }

  static async open(opts: EndpointOptions): Promise<ZmqEndpoint> {
    const ep = new ZmqEndpoint(opts);
    try {
      if (opts.ipc) {
        // Short path: ipc paths are limited to ~107 bytes.
        ep.ipcPath = join(tmpdir(), `zcoll-${process.pid}-${opts.rank}-${randomBytes(4).toString('hex')}.sock`);
        await ep.pull.bind(`ipc://${ep.ipcPath}`);
        ep.bound.ipc = `ipc://${ep.ipcPath}`;
      }
      if (opts.tcpAddress !== undefined) {
        await ep.pull.bind(`tcp://${opts.tcpAddress}:*`);
        ep.bound.tcp = ep.pull.lastEndpoint ?? undefined;
      }
    } catch (e) {
      ep.close();
      throw new ZcollError('ECONFIG', `cannot bind the inbox (ipc ${String(ep.ipcPath)}, tcp ${String(opts.tcpAddress)}): ${(e as Error).message}`, { rank: opts.rank }, { cause: e });
    }
    void ep.receiveLoop();
    return ep;
  }

  private async receiveLoop(): Promise<void> {
    while (!this.closed) {
      let frames: Buffer[];
      try {
        frames = await this.pull.receive();
      } catch {
        // Closing the socket rejects the pending receive; anything else cannot be recovered here either.
        return;
      }
      if (this.handler !== undefined) this.handler(frames);
      else if (this.early.length < 10_000) this.early.push(frames);
    }
  }

  connect(peer: number, endpoint: string): Link {
    const existing = this.links.get(peer);
    if (existing) return existing;
    const kind: LinkKind = endpoint.startsWith('ipc://') ? 'ipc' : 'tcp';
    const sock = new zmq.Push({
      linger: this.opts.lingerMs,
      sendTimeout: this.opts.sendTimeoutMs,
      sendHighWaterMark: 0,
      immediate: false,
    });
    sock.connect(endpoint);
    const link = new ZmqLink(peer, kind, sock);
    this.links.set(peer, link);
    return link;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.values()) link.close();
    this.links.clear();
    if (!this.pull.closed) this.pull.close();
    if (this.ipcPath !== undefined) {
      try {
        unlinkSync(this.ipcPath);
      } catch {
        // libzmq may already have removed it.
      }
    }
  }
}
