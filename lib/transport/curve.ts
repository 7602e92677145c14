/**
 * CURVE on zcoll's tcp:// sockets, with an allowlist. CurveZMQ (RFC 26) gives every connection
 * Curve25519 key agreement and XSalsa20-Poly1305 encryption; the server authenticates clients
 * through ZAP (RFC 27): libzmq asks whoever is bound at inproc://zeromq.zap.01 in the socket's
 * context. zeromq.js ships no ZAP handler, and without one a CURVE server admits ANY client key,
 * so this file runs one per context: a ROUTER that answers 200 only for the public keys listed in
 * the allowlist (one public key per host), 400 otherwise. Where the keys come from (the config's
 * security.curve, key files, environment variables) is cluster/curve-keys.ts's business: this file
 * takes them as plain strings.
 * Cost: one X25519 handshake per connection (once), then ~1 crypto_box per message part.
 *
 * Trust: a host is its key pair. Ranks of one host share it (their secret key comes from the same
 * file or variable); ipc:// between ranks of one host stays plaintext (same kernel, the socket file
 * is only reachable by the same user).
 */
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import * as zmq from 'zeromq';
import { debug } from '../debug.js';
import { ZcollError } from '../errors.js';
import { z85Decode, z85Encode } from './z85.js';

/** Where libzmq sends ZAP requests (RFC 27): fixed by the protocol, one per context. */
export const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';

/** The subset of socket options CURVE needs, spreadable into any zeromq.js socket constructor. */
export interface CurveSocketOptions {
  curveServer?: boolean;
  curvePublicKey?: string;
  curveSecretKey?: string;
  curveServerKey?: string;
  zapDomain?: string;
}

/** What the accepting side saw: admitted and refused clients (ZAP) and failed handshakes. */
export interface CurveStats {
  admitted: number;
  refused: number;
  handshakeFailures: number;
  /** The last client ZAP refused: its address and public key. */
  lastRefusal: string;
  /** The last failed handshake on an accepting socket (plaintext clients, clients expecting another server key). */
  lastHandshakeFailure: string;
}

/** The public key of a Z85 secret key (X25519 scalar multiplication by the base point). */
export function publicKeyOf(secretKey: string): string {
  const secret = z85Decode(secretKey);
  if (secret === undefined || secret.length !== 32) throw new ZcollError('EINVAL', 'not a Z85 CURVE secret key (40 characters)');
  // PKCS#8 wrapping of a raw X25519 private key (RFC 8410): a fixed 16-byte prefix.
  const der = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), secret]);
  const spki = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
  return z85Encode(spki.subarray(spki.length - 32));
}

interface PeerLocation {
  readonly rank: number;
  readonly hostName: string;
  readonly tcp?: string;
}

/**
 * What a CurveContext is built from: this host's key pair and every host's public key, already read
 * and checked (cluster/curve-keys.ts does that from the config).
 */
export interface CurveKeys {
  readonly publicKey: string;
  readonly secretKey: string;
  /** The host this key pair belongs to (the name publicKeys lists it under). */
  readonly hostName: string;
  /** Every host's public key by host name: the allowlist, and the key each peer's inbox must prove. */
  readonly publicKeys: Readonly<Record<string, string>>;
  /** Every host's name and address; the first host runs rank 0. */
  readonly hosts: readonly { readonly name: string; readonly address: string }[];
  /** Where the keys were configured (a config file path), named in errors. */
  readonly source: string;
}

/** This process's CURVE identity and the cluster's allowlist. */
export class CurveContext {
  readonly stats: CurveStats = { admitted: 0, refused: 0, handshakeFailures: 0, lastRefusal: '', lastHandshakeFailure: '' };
  /** ZAP domain of this context's server sockets: requests of other domains are not judged by its list. */
  readonly domain = `zcoll-${randomBytes(6).toString('hex')}`;
  readonly allowed: ReadonlySet<string>;
  readonly publicKey: string;
  readonly secretKey: string;
  /** The host this key pair belongs to. */
  readonly hostName: string;

  constructor(private readonly keys: CurveKeys) {
    this.publicKey = keys.publicKey;
    this.secretKey = keys.secretKey;
    this.hostName = keys.hostName;
    this.allowed = new Set(Object.values(keys.publicKeys));
  }

  /** Options of a socket that accepts connections (a rank's tcp inbox, the rendezvous ROUTER). */
  serverOptions(): CurveSocketOptions {
    return { curveServer: true, curvePublicKey: this.publicKey, curveSecretKey: this.secretKey, zapDomain: this.domain };
  }

  /** Options of a socket that connects to a server holding `serverKey`. */
  clientOptions(serverKey: string): CurveSocketOptions {
    return { curveServer: false, curveServerKey: serverKey, curvePublicKey: this.publicKey, curveSecretKey: this.secretKey };
  }

  /**
   * The public key a peer's inbox must prove it holds: its host's key, found by the host name it
   * announced, else by the address of its tcp endpoint, else the only key there is.
   */
  serverKeyFor(peer: PeerLocation): string {
    const byName = this.keys.publicKeys[peer.hostName];
    if (byName !== undefined) return byName;
    const addr = peer.tcp === undefined ? undefined : /^tcp:\/\/\[?([^\]]+?)\]?:\d+$/.exec(peer.tcp)?.[1];
    const found = this.keyForAddress(addr);
    if (found !== undefined) return found;
    throw new ZcollError('ECONFIG', `${this.keys.source}: cannot tell which public key rank ${peer.rank} (host "${peer.hostName}", ${peer.tcp ?? 'no tcp endpoint'}) must hold: its host name is not in security.curve.publicKeys and its address matches no single host (set ZCOLL_HOST to its config host name)`, { peer: peer.rank, details: { file: this.keys.source, key: 'security.curve.publicKeys' } });
  }

  /** The rendezvous master's key: the host at `masterAddr`, else the first host (rank 0 runs there). */
  masterKey(masterAddr: string): string {
    return this.keyForAddress(masterAddr) ?? this.keys.publicKeys[this.keys.hosts[0].name];
  }

  private keyForAddress(addr: string | undefined): string | undefined {
    const keys = this.keys.publicKeys;
    const norm = (a: string): string => (a === 'localhost' || a === '::1' ? '127.0.0.1' : a);
    if (addr !== undefined) {
      const at = new Set(this.keys.hosts.filter((h) => norm(h.address) === norm(addr)).map((h) => keys[h.name]));
      if (at.size === 1) return [...at][0];
    }
    const all = new Set(Object.values(keys));
    return all.size === 1 ? [...all][0] : undefined;
  }

  /** Counts and logs a failed handshake seen by an accepting socket. */
  noteHandshakeFailure(where: string, kind: string, message: string): void {
    this.stats.handshakeFailures++;
    this.stats.lastHandshakeFailure = `${kind} on ${where}: ${message}`;
    debug('info', () => `CURVE handshake failed on ${where} (${kind}): ${message}`);
  }
}

// ---------------------------------------------------------------- ZAP handler (RFC 27)

interface ZapState {
  readonly router: zmq.Router;
  readonly domains: Map<string, CurveContext>;
  readonly loop: Promise<void>;
}

let zap: Promise<ZapState> | undefined;

async function startZap(): Promise<ZapState> {
  const router = new zmq.Router({ linger: 0 });
  // A handler this process just released unbinds asynchronously: retry briefly before concluding
  // that a foreign one holds the endpoint.
  for (let attempt = 0; ; attempt++) {
    try {
      await router.bind(ZAP_ENDPOINT);
      break;
    } catch (e) {
      if ((e as { code?: string }).code === 'EADDRINUSE' && attempt < 20) {
        await new Promise((r) => setTimeout(r, 25));
        continue;
      }
      router.close();
      throw new ZcollError('ECONFIG', `cannot bind the ZAP handler at ${ZAP_ENDPOINT}: ${(e as Error).message} (another ZAP handler in this process?)`, {}, { cause: e });
    }
  }
  const domains = new Map<string, CurveContext>();
  const loop = (async () => {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await router.receive();
      } catch {
        return; // closed
      }
      await answer(router, domains, frames).catch(() => undefined);
    }
  })();
  return { router, domains, loop };
}

/** ZAP request: [routing id, '', version, request id, domain, address, identity, mechanism, credentials...]. */
async function answer(router: zmq.Router, domains: ReadonlyMap<string, CurveContext>, f: Buffer[]): Promise<void> {
  if (f.length < 8) return;
  const [id, , version, requestId, domainB, addressB, , mechanismB, ...credentials] = f;
  const domain = domainB.toString();
  const mechanism = mechanismB.toString();
  const address = addressB.toString();
  let status = '400';
  let text = 'not admitted';
  let user = '';
  if (version.toString() !== '1.0') text = 'unsupported ZAP version';
  else if (mechanism !== 'CURVE') {
    // Not a zcoll CURVE socket (plaintext sockets of this process that set no domain): not ours to judge.
    if (mechanism === 'NULL' && !domains.has(domain)) [status, text] = ['200', 'OK'];
    else text = `mechanism ${mechanism} refused`;
  } else {
    const ctx = domains.get(domain);
    const key = credentials[0]?.length === 32 ? z85Encode(credentials[0]) : '';
    if (ctx === undefined) text = `unknown ZAP domain ${domain}`;
    else if (ctx.allowed.has(key)) {
      [status, text, user] = ['200', 'OK', key];
      ctx.stats.admitted++;
    } else {
      ctx.stats.refused++;
      ctx.stats.lastRefusal = `client ${address} with public key ${key} is not in security.curve.publicKeys`;
      debug('info', () => `CURVE: refused ${ctx.stats.lastRefusal}`);
      text = 'public key not listed';
    }
  }
  await router.send([id, Buffer.alloc(0), Buffer.from('1.0'), requestId, Buffer.from(status), Buffer.from(text), Buffer.from(user), Buffer.alloc(0)]);
}

/**
 * Registers `ctx`'s allowlist with this process's ZAP handler (starting it on first use) and returns
 * the function that unregisters it; the handler closes with the last one, so close() leaves no socket.
 */
export async function acquireZap(ctx: CurveContext): Promise<() => void> {
  const p = (zap ??= startZap());
  let state: ZapState;
  try {
    state = await p;
  } catch (e) {
    if (zap === p) zap = undefined;
    throw e;
  }
  state.domains.set(ctx.domain, ctx);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    state.domains.delete(ctx.domain);
    if (state.domains.size === 0 && zap === p) {
      zap = undefined;
      state.router.close();
    }
  };
}

export type HandshakeFailureKind = 'handshake:error:auth' | 'handshake:error:protocol' | 'handshake:error:other';
const HANDSHAKE_FAILURES: readonly HandshakeFailureKind[] = ['handshake:error:auth', 'handshake:error:protocol', 'handshake:error:other'];

/** Calls `onFailure` for every failed security handshake on `sock` (libzmq's socket monitor). */
export function watchHandshakes(sock: zmq.Socket, onFailure: (kind: HandshakeFailureKind, address: string, message: string) => void): void {
  for (const kind of HANDSHAKE_FAILURES) {
    sock.events.on(kind, (e) => onFailure(kind, e.address, e.error.message));
  }
}

/**
 * CURVE options for the rendezvous sockets (the ROUTER on rank 0 is a server, every DEALER a client
 * of the master's host key); none when `p.curve` is unset. Used by comm/rendezvous.ts as
 * `new zmq.Router({ ..., ...rendezvousCurveOptions(p, 'server') })`.
 */
export function rendezvousCurveOptions(p: { readonly masterAddr: string; readonly curve?: CurveContext }, role: 'server' | 'client'): CurveSocketOptions {
  const curve = p.curve;
  if (curve === undefined) return {};
  return role === 'server' ? curve.serverOptions() : curve.clientOptions(curve.masterKey(p.masterAddr));
}
