/**
 * One rank's ZeroMQ presence: a ROUTER inbox bound on ipc:// (peers on this host) and, when some
 * peer is on another host, tcp://; and one DEALER link per peer. ROUTER because it tells which
 * connection each message came on: the first message of every link is a hello (link-auth.ts) that
 * binds the connection to the rank that proved its key, and every later message of that connection
 * is that rank's. The header's own `sender` is only compared with it (the inbox drops a frame that
 * claims another sender). One link per peer because ZeroMQ keeps per-connection order, which is the
 * ordering the collectives rely on. zeromq.js allows one send in flight per socket, so each link
 * keeps a promise chain.
 * With CURVE (security.curve in the config) the tcp inbox is a separate CURVE server socket behind
 * the ZAP allowlist (transport/curve.ts) and every tcp link a CURVE client of its peer's host key;
 * the ipc inbox stays plaintext, in a directory only this user can enter. A link whose handshake
 * fails is marked failed with EAUTH naming the peer: its later sends reject with it, and
 * onPeerError reports it at once.
 */
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { ZcollError } from '../errors.js';
import { markReceived, releaseFrame } from './frame-release.js';
import { acquireZap, watchHandshakes, type CurveContext, type CurveStats } from './curve.js';
import type { Link, LinkKind } from './link.js';
import { decodeHello, encodeHello, type LinkHello } from './wire.js';

export interface EndpointOptions {
  rank: number;
  /** Address to bind tcp:// on (an interface of this host); undefined: no tcp inbox. */
  tcpAddress?: string;
  /** Bind an ipc:// inbox as well, at this path (in a directory only this user may enter), or in the temp dir when true. */
  ipc: boolean | string;
  /** Largest message ZeroMQ accepts; bigger ones drop the connection before being allocated. */
  maxMessageBytes: number;
  /** How long a send may wait for queue space or for the peer to connect. */
  sendTimeoutMs: number;
  /** How long close() keeps flushing queued messages. */
  lingerMs: number;
  /** CURVE identity and allowlist: set, every tcp socket is encrypted and authenticated. */
  curve?: CurveContext;
}

export interface BoundEndpoints {
  ipc?: string;
  tcp?: string;
}

/** Decides whether a hello proves its sender (link-auth.ts); set by init() once the keys are known. */
export type HelloCheck = (hello: LinkHello) => boolean;

/** What the inbox refused before any header was read: connections that never proved a rank. */
export interface ConnectionStats {
  /** Messages on a connection that has not (or not validly) said hello. */
  unauthenticated: number;
  /** Hellos whose proof did not check, or for a rank already bound to another connection. */
  badHellos: number;
}

/** Messages kept per unknown connection until its hello may still come (a peer's early frames). */
const MAX_EARLY_MESSAGES = 10_000;

class ZmqLink implements Link {
  private tail: Promise<void> = Promise.resolve();
  /** Set when the security handshake with the peer failed: every later send rejects with it. */
  failure: ZcollError | undefined;
  constructor(
    readonly peer: number,
    readonly kind: LinkKind,
    private readonly sock: zmq.Dealer,
  ) {}

  send(frames: ReadonlyArray<Uint8Array>): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const p = this.tail.then(() => this.sock.send(frames as Uint8Array[]));
    this.tail = p.catch(() => undefined);
    return p;
  }

  close(): void {
    if (!this.sock.closed) this.sock.close();
  }
}

export class ZmqEndpoint {
  /** The ipc:// inbox (plaintext), and the tcp:// one: the same socket unless CURVE is on. */
  private readonly inbox: zmq.Router;
  private readonly secureInbox: zmq.Router | undefined;
  private readonly links = new Map<number, ZmqLink>();
  private ipcPath: string | undefined;
  private closed = false;
  private releaseZap: (() => void) | undefined;
  readonly bound: BoundEndpoints = {};
  readonly connectionStats: ConnectionStats = { unauthenticated: 0, badHellos: 0 };
  private handler: ((src: number, frames: Buffer[]) => void) | undefined;
  private helloCheck: HelloCheck | undefined;
  /** Connection (ROUTER routing id, per inbox socket) -> the rank its hello proved. */
  private readonly senders = new Map<string, number>();
  private readonly boundRanks = new Set<number>();
  /**
   * Messages that arrive before their hello can be checked (a fast peer's hello and first frames can
   * land while this rank is still between rendezvous and building its communicator) wait here.
   */
  private early: Array<{ conn: string; frames: Buffer[] }> = [];

  /**
   * Called with every authenticated message in arrival order, with the rank its connection proved
   * (and at once with those that came before).
   */
  set onMessage(handler: (src: number, frames: Buffer[]) => void) {
    this.handler = handler;
    this.replayEarly();
  }

  /** How hellos are checked; messages wait until it is set. */
  set checkHello(check: HelloCheck) {
    this.helloCheck = check;
    this.replayEarly();
  }

  /** Called once per peer whose link failed for good (today: its CURVE handshake, EAUTH). */
  onPeerError: (peer: number, err: ZcollError) => void = () => undefined;
  /**
   * Called when the connection to a peer's inbox drops (its process died or closed, or ZeroMQ's
   * heartbeats went unanswered): ZeroMQ would silently reconnect, so the communicator decides.
   */
  onPeerLost: (peer: number) => void = () => undefined;
  /** Called once after close() released the sockets (init removes the socket directory). */
  onClosed: () => void = () => undefined;

  private constructor(private readonly opts: EndpointOptions) {
    // maxMessageSize: libzmq reads a frame's length before its body and drops the connection of a
    // peer announcing more, so a forged length never becomes an allocation. handover off: a second
    // connection naming a routing id already in use is refused, never handed the first one's place.
    const inbox = { linger: 0, maxMessageSize: opts.maxMessageBytes, receiveHighWaterMark: 0, handover: false };
    this.inbox = new zmq.Router(inbox);
    if (opts.curve !== undefined && opts.tcpAddress !== undefined) {
      const curve = opts.curve;
      this.secureInbox = new zmq.Router({ ...inbox, ...curve.serverOptions() });
      watchHandshakes(this.secureInbox, (kind, address, message) => curve.noteHandshakeFailure(`rank ${opts.rank}'s inbox ${address}`, kind, message));
    }
  }

  static async open(opts: EndpointOptions): Promise<ZmqEndpoint> {
    const ep = new ZmqEndpoint(opts);
    try {
      // The ZAP handler must be up before the CURVE socket binds: without one libzmq admits any key.
      if (opts.curve !== undefined) ep.releaseZap = await acquireZap(opts.curve);
      if (opts.ipc !== false) {
        // Short path: ipc paths are limited to ~107 bytes.
        ep.ipcPath = typeof opts.ipc === 'string' ? opts.ipc : join(tmpdir(), `zcoll-${process.pid}-${opts.rank}-${randomBytes(4).toString('hex')}.sock`);
        await ep.inbox.bind(`ipc://${ep.ipcPath}`);
        ep.bound.ipc = `ipc://${ep.ipcPath}`;
      }
      if (opts.tcpAddress !== undefined) {
        const tcpInbox = ep.secureInbox ?? ep.inbox;
        await tcpInbox.bind(`tcp://${opts.tcpAddress}:*`);
        ep.bound.tcp = tcpInbox.lastEndpoint ?? undefined;
      }
    } catch (e) {
      ep.close();
      if (e instanceof ZcollError) throw e;
      throw new ZcollError('ECONFIG', `cannot bind the inbox (ipc ${String(ep.ipcPath)}, tcp ${String(opts.tcpAddress)}): ${(e as Error).message}`, { rank: opts.rank }, { cause: e });
    }
    void ep.receiveLoop(ep.inbox, 'i');
    if (ep.secureInbox !== undefined) void ep.receiveLoop(ep.secureInbox, 's');
    return ep;
  }

  /** What the CURVE side saw (admitted, refused, failed handshakes), or undefined without CURVE. */
  get security(): Readonly<CurveStats> | undefined {
    return this.opts.curve?.stats;
  }

  private async receiveLoop(sock: zmq.Router, socketTag: string): Promise<void> {
    while (!this.closed) {
      let frames: Buffer[];
      try {
        frames = await sock.receive();
      } catch {
        // Closing the socket rejects the pending receive; anything else cannot be recovered here either.
        return;
      }
      markReceived(frames);
      // Routing ids are per inbox socket: the same bytes on the plaintext and the CURVE inbox are two connections.
      this.route(socketTag + frames[0].toString('latin1'), frames.slice(1));
    }
  }

  private route(conn: string, frames: Buffer[]): void {
    const src = this.senders.get(conn);
    if (src !== undefined && this.handler !== undefined) return this.handler(src, frames);
    if (this.handler === undefined || this.helloCheck === undefined) {
      if (this.early.length < MAX_EARLY_MESSAGES) this.early.push({ conn, frames });
      else {
        this.connectionStats.unauthenticated++;
        for (const f of frames) releaseFrame(f);
      }
      return;
    }
    const hello = decodeHello(frames);
    if (hello === undefined) {
      // Refused unread: freed at once, so a stranger's flood costs no memory until the next GC.
      this.connectionStats.unauthenticated++;
      for (const f of frames) releaseFrame(f);
      return;
    }
    // One connection per rank: a second hello for a bound rank is a replay or a second process.
    if (src !== undefined || this.boundRanks.has(hello.src) || hello.src === this.opts.rank || !this.helloCheck(hello)) {
      this.connectionStats.badHellos++;
      return;
    }
    this.senders.set(conn, hello.src);
    this.boundRanks.add(hello.src);
  }

  private replayEarly(): void {
    if (this.handler === undefined || this.helloCheck === undefined) return;
    const early = this.early;
    this.early = [];
    for (const m of early) this.route(m.conn, m.frames);
  }

  /**
   * Opens the link to `peer` and queues `hello` as its first message. A tcp:// link with CURVE on
   * needs `serverKey`, the public key the peer's inbox must prove it holds (its host's key).
   */
  connect(peer: number, endpoint: string, hello: LinkHello, serverKey?: string): Link {
    const existing = this.links.get(peer);
    if (existing) return existing;
    const kind: LinkKind = endpoint.startsWith('ipc://') ? 'ipc' : 'tcp';
    const curve = kind === 'tcp' ? this.opts.curve : undefined;
    if (curve !== undefined && serverKey === undefined) throw new ZcollError('EINTERNAL', `CURVE is on but no server key was given for rank ${peer} at ${endpoint}`, { rank: this.opts.rank, peer });
    const sock = new zmq.Dealer({
      linger: this.opts.lingerMs,
      sendTimeout: this.opts.sendTimeoutMs,
      sendHighWaterMark: 0,
      immediate: false,
      // ZMTP heartbeats find peers whose host vanished without closing the connection; slower than
      // the collectives' own deadline, so a stopped (not dead) peer is a timeout first.
      heartbeatInterval: Math.min(5000, Math.max(500, Math.floor(this.opts.sendTimeoutMs / 8))),
      heartbeatTimeout: Math.floor(this.opts.sendTimeoutMs * 1.5),
      ...(curve !== undefined ? curve.clientOptions(serverKey!) : {}),
    });
    sock.events.on('disconnect', () => {
      if (!this.closed) this.onPeerLost(peer);
    });
    const link = new ZmqLink(peer, kind, sock);
    if (curve !== undefined) {
      watchHandshakes(sock, (what, _address, message) => {
        if (link.failure !== undefined || this.closed) return;
        const why = what === 'handshake:error:auth' ? 'it refused this host\'s key' : 'it does not hold the expected server key, or does not speak CURVE';
        link.failure = new ZcollError('EAUTH', `CURVE handshake with rank ${peer} at ${endpoint} failed (${message}): ${why}; check security.curve.publicKeys and each host's secret key`, { rank: this.opts.rank, peer, details: { event: what, endpoint } });
        this.onPeerError(peer, link.failure);
      });
    }
    sock.connect(endpoint);
    this.links.set(peer, link);
    // Queued before anything else, so it is the first message the peer's inbox sees on this connection.
    link.send([encodeHello(hello)]).catch(() => undefined);
    return link;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.values()) link.close();
    this.links.clear();
    if (!this.inbox.closed) this.inbox.close();
    if (this.secureInbox !== undefined && !this.secureInbox.closed) this.secureInbox.close();
    this.releaseZap?.();
    this.releaseZap = undefined;
    if (this.ipcPath !== undefined) {
      try {
        unlinkSync(this.ipcPath);
      } catch {
        // libzmq may already have removed it.
      }
    }
    this.onClosed();
  }
}
