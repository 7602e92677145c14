/**
 * Who sent a frame is a property of the connection it came on, never of what the frame says.
 *
 * Every rank makes a fresh X25519 key pair per communicator and publishes the public half at the
 * rendezvous. Ranks i and j then share a key k_ij = HKDF(X25519(i, j), job, epoch) that no third
 * rank can compute. The first message on every link from j to r is a hello carrying
 * HMAC(k_jr, "j->r" and the epoch); the receiver binds the connection the hello came on to rank j,
 * and from then on every frame of that connection is j's, whatever its header claims (a frame
 * whose header names another sender is dropped and counted as forged). A Byzantine rank knows only
 * its own pair keys, so it can open connections as itself and nobody else; a process of another job
 * or an earlier epoch holds none of these keys.
 *
 * What this does not give: secrecy or integrity against someone on the network path of a tcp link
 * (they could read the hello and splice the stream); that is CURVE's job (transport/curve.ts). The
 * rendezvous master relays the public keys, so it is trusted to seat ranks, as torch's TCPStore is.
 * Cost: one X25519 agreement per peer at init, one HMAC per connection; nothing per message.
 */
import { createHmac, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, timingSafeEqual, type KeyObject } from 'node:crypto';

/** DER prefix of a raw X25519 public key in SubjectPublicKeyInfo form (RFC 8410). */
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const MAC_BYTES = 32;

export class LinkKeys {
  private readonly privateKey: KeyObject;
  /** This rank's public key, base64 of the raw 32 bytes: what the rendezvous carries. */
  readonly publicKey: string;

  constructor() {
    const pair = generateKeyPairSync('x25519');
    this.privateKey = pair.privateKey;
    const spki = pair.publicKey.export({ format: 'der', type: 'spki' });
    this.publicKey = spki.subarray(spki.length - 32).toString('base64');
  }

  /**
   * The key this rank shares with the owner of `peerPublicKey`, bound to the job and the epoch, or
   * undefined when the peer's key is not a valid X25519 public key.
   */
  pairKey(peerPublicKey: string, job: string, epoch: number): Buffer | undefined {
    const raw = Buffer.from(peerPublicKey, 'base64');
    if (raw.length !== 32) return undefined;
    let shared: Buffer;
    try {
      const publicKey = createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, raw]), format: 'der', type: 'spki' });
      shared = diffieHellman({ privateKey: this.privateKey, publicKey });
    } catch {
      return undefined;
    }
    // An all-zero secret means a low-order public key: anyone could compute it.
    if (shared.every((b) => b === 0)) return undefined;
    return Buffer.from(hkdfSync('sha256', shared, Buffer.from(`zcoll-job:${job}`), Buffer.from(`zcoll-link-key:${epoch}`), 32));
  }
}

/** The proof rank `from` sends on its link to rank `to` (direction-bound: it cannot be reflected). */
export function helloProof(pairKey: Buffer, epoch: number, from: number, to: number): Buffer {
  return createHmac('sha256', pairKey).update(`zcoll-hello:${epoch}:${from}->${to}`).digest();
}

/** Whether `proof` is the hello `from` owes `to`, compared in constant time. */
export function checkHelloProof(pairKey: Buffer, epoch: number, from: number, to: number, proof: Uint8Array): boolean {
  if (proof.byteLength !== MAC_BYTES) return false;
  return timingSafeEqual(helloProof(pairKey, epoch, from, to), proof);
}
