/**
 * One rank's ZeroMQ presence: a PULL inbox bound on ipc:// (peers on this host) and tcp:// (peers on
 * other hosts), and one PUSH socket per peer. PUSH/PULL because every message is one-way and
 * matched by its header; one PUSH socket per peer because ZeroMQ keeps per-socket-pair order, which
 * is the ordering the collectives rely on (messages from one peer arrive in the order sent).
 * zeromq.js allows one send in flight per socket, so each link keeps a promise chain.
 * With CURVE (security.curve in the config) the tcp inbox is a separate CURVE server socket behind
 * the ZAP allowlist (transport/curve.ts) and every tcp link a CURVE client of its peer's host key;
 * the ipc inbox stays plaintext (same host). A link whose handshake fails is marked failed with
 * EAUTH naming the peer: its later sends reject with it, and onPeerError reports it at once.
 */
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { ZcollError } from '../errors.js';
import { markReceived } from './frame-release.js';
import { acquireZap, watchHandshakes, type CurveContext, type CurveStats } from './curve.js';
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
  /** CURVE identity and allowlist: set, every tcp socket is encrypted and authenticated. */
  curve?: CurveContext;
}

export interface BoundEndpoints {
  ipc?: string;
  tcp?: string;
}

class ZmqLink implements Link {
  private tail: Promise<void> = Promise.resolve();
  /** Set when the security handshake with the peer failed: every later send rejects with it. */
  failure: ZcollError | undefined;
  constructor(
    readonly peer: number,
    readonly kind: LinkKind,
    private readonly sock: zmq.Push,
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
  private readonly pull: zmq.Pull;
  private readonly securePull: zmq.Pull | undefined;
  private readonly links = new Map<number, ZmqLink>();
  private ipcPath: string | undefined;
  private closed = false;
  private releaseZap: (() => void) | undefined;
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
  /** Called once per peer whose link failed for good (today: its CURVE handshake, EAUTH). */
  onPeerError: (peer: number, err: ZcollError) => void = () => undefined;
  /**
   * Called when the connection to a peer's inbox drops (its process died or closed, or ZeroMQ's
   * heartbeats went unanswered): ZeroMQ would silently reconnect, so the communicator decides.
   */
  onPeerLost: (peer: number) => void = () => undefined;

  private constructor(private readonly opts: EndpointOptions) {
    // maxMessageSize: libzmq reads a frame's length before its body and drops the connection of a
    // peer announcing more, so a forged length never becomes an allocation.
    const inbox = { linger: 0, maxMessageSize: opts.maxMessageBytes, receiveHighWaterMark: 0 };
    this.pull = new zmq.Pull(inbox);
    if (opts.curve !== undefined && opts.tcpAddress !== undefined) {
      const curve = opts.curve;
      this.securePull = new zmq.Pull({ ...inbox, ...curve.serverOptions() });
      watchHandshakes(this.securePull, (kind, address, message) => curve.noteHandshakeFailure(`rank ${opts.rank}'s inbox ${address}`, kind, message));
    }
  }

  static async open(opts: EndpointOptions): Promise<ZmqEndpoint> {
    const ep = new ZmqEndpoint(opts);
    try {
      // The ZAP handler must be up before the CURVE socket binds: without one libzmq admits any key.
      if (opts.curve !== undefined) ep.releaseZap = await acquireZap(opts.curve);
      if (opts.ipc) {
        // Short path: ipc paths are limited to ~107 bytes.
        ep.ipcPath = join(tmpdir(), `zcoll-${process.pid}-${opts.rank}-${randomBytes(4).toString('hex')}.sock`);
        await ep.pull.bind(`ipc://${ep.ipcPath}`);
        ep.bound.ipc = `ipc://${ep.ipcPath}`;
      }
      if (opts.tcpAddress !== undefined) {
        const tcpInbox = ep.securePull ?? ep.pull;
        await tcpInbox.bind(`tcp://${opts.tcpAddress}:*`);
        ep.bound.tcp = tcpInbox.lastEndpoint ?? undefined;
      }
    } catch (e) {
      ep.close();
      if (e instanceof ZcollError) throw e;
      throw new ZcollError('ECONFIG', `cannot bind the inbox (ipc ${String(ep.ipcPath)}, tcp ${String(opts.tcpAddress)}): ${(e as Error).message}`, { rank: opts.rank }, { cause: e });
    }
    void ep.receiveLoop(ep.pull);
    if (ep.securePull !== undefined) void ep.receiveLoop(ep.securePull);
    return ep;
  }

  /** What the CURVE side saw (admitted, refused, failed handshakes), or undefined without CURVE. */
  get security(): Readonly<CurveStats> | undefined {
    return this.opts.curve?.stats;
  }

  private async receiveLoop(pull: zmq.Pull): Promise<void> {
    while (!this.closed) {
      let frames: Buffer[];
      try {
        frames = await pull.receive();
      } catch {
        // Closing the socket rejects the pending receive; anything else cannot be recovered here either.
        return;
      }
      markReceived(frames);
      if (this.handler !== undefined) this.handler(frames);
      else if (this.early.length < 10_000) this.early.push(frames);
    }
  }

  /**
   * Opens the link to `peer`. A tcp:// link with CURVE on needs `serverKey`, the public key the
   * peer's inbox must prove it holds (its host's key).
   */
  connect(peer: number, endpoint: string, serverKey?: string): Link {
    const existing = this.links.get(peer);
    if (existing) return existing;
    const kind: LinkKind = endpoint.startsWith('ipc://') ? 'ipc' : 'tcp';
    const curve = kind === 'tcp' ? this.opts.curve : undefined;
    if (curve !== undefined && serverKey === undefined) throw new ZcollError('EINTERNAL', `CURVE is on but no server key was given for rank ${peer} at ${endpoint}`, { rank: this.opts.rank, peer });
    const sock = new zmq.Push({
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
    return link;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.values()) link.close();
    this.links.clear();
    if (!this.pull.closed) this.pull.close();
    if (this.securePull !== undefined && !this.securePull.closed) this.securePull.close();
    this.releaseZap?.();
    this.releaseZap = undefined;
    if (this.ipcPath !== undefined) {
      try {
        unlinkSync(this.ipcPath);
      } catch {
        // libzmq may already have removed it.
      }
    }
  }
}
