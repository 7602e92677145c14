/**
 * Rendezvous through rank 0 (the torch.distributed TCPStore / Gloo rendezvous role). Rank 0 binds a
 * ROUTER on the master address; every rank (rank 0 included) says hello with its version, world
 * size, config hash, host key and inbox endpoints. Rank 0 answers with the table of all ranks, or
 * with one error sent to every rank that showed up: another zcoll version, another config, another
 * world size, a duplicate rank, or ranks that never came (named) before the deadline.
 *
 * Only processes of this job take part: the hello carries a digest of the job id (a secret from the
 * launcher's environment), and the master ignores (neither seats nor answers, nor refuses the job
 * for) a hello of another job: a leftover rank of an earlier failed start on the same port, or
 * another user's process, so the real rank still gets its seat.
 */
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import * as zmq from 'zeromq';
import { Packr } from 'msgpackr';
import { localAddressesOf, resolveHost, type ResolvedAddress } from '../cluster/identity.js';
import { debug } from '../debug.js';
import { ZcollError, type ErrorCode } from '../errors.js';
import { ZCOLL_VERSION } from '../version.js';
import { PROTOCOL_VERSION } from '../transport/wire.js';
import { rendezvousCurveOptions, type CurveContext } from '../transport/curve.js';

export interface PeerInfo {
  readonly rank: number;
  readonly hostKey: string;
  readonly hostName: string;
  /** The kernel the rank runs on (Identity.machineKey): how many ranks share its cores. */
  readonly machineKey?: string;
  readonly ipc?: string;
  readonly tcp?: string;
  /** This rank's X25519 public key (base64), opaque here: the master carries it verbatim into the table. */
  readonly linkKey?: string;
}

export interface Hello extends PeerInfo {
  readonly t: 'hello';
  readonly version: string;
  readonly proto: number;
  readonly world: number;
  readonly config: string;
  /** Hash of the MULTITREE schedule built for the configured topology, when there is one. */
  readonly schedule?: string;
  /** Digest of the job id (jobDigest), absent without one: the secret itself never goes on the wire. */
  readonly job?: string;
}

interface TableReply {
  readonly t: 'table';
  readonly epoch: number;
  readonly peers: PeerInfo[];
}

interface ErrorReply {
  readonly t: 'error';
  readonly code: ErrorCode;
  readonly msg: string;
}

export interface RendezvousParams {
  readonly self: PeerInfo;
  readonly world: number;
  readonly configHash: string;
  readonly scheduleHash?: string;
  readonly masterAddr: string;
  /** Where masterAddr came from (a variable or a config key), named when it does not resolve. */
  readonly masterAddrFrom?: string;
  readonly masterPort: number;
  readonly timeoutMs: number;
  /** This job's id (Identity.jobId): hellos of another job (or without one, when this has one) are ignored. */
  readonly job?: string;
  /** CURVE keys when `security.curve` is configured: the rendezvous is authenticated like every tcp link. */
  readonly curve?: CurveContext;
}

export interface RendezvousResult {
  readonly epoch: number;
  readonly peers: readonly PeerInfo[];
  /** On rank 0: hellos ignored because they were of another job. */
  readonly strangers?: number;
}

const packr = new Packr({ useRecords: false });
const RDV = 'rendezvous';

/** A zmq tcp endpoint; IPv6 addresses in brackets. */
function tcpEndpoint(a: ResolvedAddress, port: number): string {
  return a.family === 6 ? `tcp://[${a.address}]:${port}` : `tcp://${a.address}:${port}`;
}

/**
 * Where rank 0 listens: an IP literal as given; a host name at the addresses it resolves to that are
 * this host's, never 0.0.0.0, which would open the rendezvous on every network.
 */
async function masterBind(addr: string, from: string): Promise<ResolvedAddress[]> {
  // A literal (0.0.0.0 included) is the user's explicit choice: bound as given.
  if (isIP(addr) !== 0) return [{ address: addr, family: isIP(addr) as 4 | 6 }];
  const local = await localAddressesOf(addr, from);
  // Joiners connect to the first address they resolve, IPv4 first (resolveHost): so the IPv4 ones
  // when the name has some (a host without IPv6 would fail on the ::1 it may still list), else the IPv6 ones.
  const v4 = local.filter((a) => a.family === 4);
  return v4.length > 0 ? v4 : local;
}

const JOB_DOMAIN = 'zcoll-rendezvous-job\0';

/**
 * What the hello carries instead of the job id: a digest, so the id itself never goes on the wire
 * (a process squatting the port before rank 0 learns only this digest, good for this rendezvous alone).
 */
export function jobDigest(job: string): string {
  return createHash('sha256').update(JOB_DOMAIN).update(job).digest('hex');
}

/**
 * Same job digest in constant time (sha256 of both, so the lengths are equal whatever a stranger
 * sent); "no job" only matches "no job".
 */
function sameJob(a: string | undefined, b: unknown): boolean {
  if (b !== undefined && typeof b !== 'string') return false;
  const d = (x: string | undefined): Buffer => createHash('sha256').update(x === undefined ? 'none' : `job:${x}`).digest();
  return timingSafeEqual(d(a), d(b));
}

export async function rendezvous(p: RendezvousParams): Promise<RendezvousResult> {
  const hello: Hello = {
    t: 'hello',
    ...p.self,
    version: ZCOLL_VERSION,
    proto: PROTOCOL_VERSION,
    world: p.world,
    config: p.configHash,
    ...(p.scheduleHash !== undefined ? { schedule: p.scheduleHash } : {}),
    ...(p.job !== undefined ? { job: jobDigest(p.job) } : {}),
  };
  if (p.world === 1) return { epoch: randomInt(1, 0x7fffffff), peers: [p.self] };
  return p.self.rank === 0 ? serve(p, hello) : join(p, hello);
}

async function join(p: RendezvousParams, hello: Hello): Promise<RendezvousResult> {
  const rank = p.self.rank;
  // Resolved here: ZeroMQ would retry an unresolvable name silently until the timeout.
  const to = (await resolveHost(p.masterAddr, p.masterAddrFrom ?? 'the master address'))[0];
  const master = tcpEndpoint(to, p.masterPort);
  // Wait longer than the master does: when a rank is missing, the master's error (which names it)
  // must reach every rank before their own, vaguer, timeout.
  const waitMs = p.timeoutMs + Math.min(Math.max(p.timeoutMs / 2, 1000), 10_000);
  const sock = new zmq.Dealer({ linger: 0, receiveTimeout: waitMs, sendTimeout: waitMs, ipv6: to.family === 6, ...rendezvousCurveOptions(p, 'client') });
  try {
    sock.connect(master);
    await sock.send(packr.pack(hello));
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await sock.receive();
      } catch (e) {
        if ((e as { code?: string }).code === 'EAGAIN') {
          throw new ZcollError('ETIMEDOUT', `no answer from the master (rank 0) at ${master} within ${waitMs} ms: is rank 0 running, and is the address right?`, { rank, op: RDV, peer: 0 });
        }
        throw e;
      }
      let reply: TableReply | ErrorReply;
      try {
        reply = packr.unpack(frames[frames.length - 1]) as TableReply | ErrorReply;
      } catch {
        continue; // not from a zcoll master: ignore
      }
      if (reply?.t === 'error') throw new ZcollError(reply.code, `refused by the master: ${reply.msg}`, { rank, op: RDV, peer: 0 });
      if (reply?.t === 'table') {
        const bad = tableProblem(reply, hello, p.world);
        if (bad !== undefined) throw new ZcollError('EPROTO', `the master's table is not sane: ${bad}`, { rank, op: RDV, peer: 0 });
        return { epoch: reply.epoch, peers: reply.peers };
      }
    }
  } finally {
    sock.close();
  }
}

const optString = (v: unknown): boolean => v === undefined || typeof v === 'string';

function isPeerInfo(x: unknown): x is PeerInfo {
  const h = x as PeerInfo;
  return typeof h === 'object' && h !== null && Number.isInteger(h.rank) && typeof h.hostKey === 'string' && typeof h.hostName === 'string' && optString(h.machineKey) && optString(h.ipc) && optString(h.tcp) && optString(h.linkKey);
}

function isHello(x: unknown): x is Hello {
  const h = x as Hello;
  return isPeerInfo(h) && h.t === 'hello' && typeof h.version === 'string';
}

/** The fields of a PeerInfo that the table carries, and only those (a hello has more). */
function peerOf(h: PeerInfo): PeerInfo {
  return {
    rank: h.rank,
    hostKey: h.hostKey,
    hostName: h.hostName,
    ...(h.machineKey !== undefined ? { machineKey: h.machineKey } : {}),
    ...(h.ipc ? { ipc: h.ipc } : {}),
    ...(h.tcp ? { tcp: h.tcp } : {}),
    ...(h.linkKey !== undefined ? { linkKey: h.linkKey } : {}),
  };
}

function samePeer(a: PeerInfo, b: PeerInfo): boolean {
  const x = peerOf(a);
  const y = peerOf(b);
  return x.rank === y.rank && x.hostKey === y.hostKey && x.hostName === y.hostName && x.machineKey === y.machineKey && x.ipc === y.ipc && x.tcp === y.tcp && x.linkKey === y.linkKey;
}

/**
 * Why a table from the master cannot be used, or undefined: the links are built from it, so a table
 * of the wrong size, out of rank order, or that does not hold this rank as it said hello (someone
 * else's endpoints or key under its rank) is refused instead of trusted.
 */
function tableProblem(reply: TableReply, own: Hello, world: number): string | undefined {
  if (!Number.isInteger(reply.epoch)) return `epoch ${String(reply.epoch)} is not an integer`;
  if (!Array.isArray(reply.peers) || reply.peers.length !== world) return `${Array.isArray(reply.peers) ? reply.peers.length : 'no'} entries for a world of ${world}`;
  for (let r = 0; r < world; r++) {
    const e: unknown = reply.peers[r];
    if (!isPeerInfo(e)) return `entry ${r} is not a peer`;
    if (e.rank !== r) return `entry ${r} is for rank ${e.rank}`;
  }
  if (!samePeer(reply.peers[own.rank], own)) return `its entry for this rank (${JSON.stringify(peerOf(reply.peers[own.rank]))}) is not what this rank sent (${JSON.stringify(peerOf(own))})`;
  return undefined;
}

async function serve(p: RendezvousParams, own: Hello): Promise<RendezvousResult> {
  const addrs = await masterBind(p.masterAddr, p.masterAddrFrom ?? 'the master address');
  const sock = new zmq.Router({ linger: 2000, sendTimeout: 1000, receiveTimeout: 100, handover: false, ipv6: addrs.some((a) => a.family === 6), ...rendezvousCurveOptions(p, 'server') });
  let strangers = 0;
  try {
    for (const a of addrs) {
      const bindTo = tcpEndpoint(a, p.masterPort);
      try {
        await sock.bind(bindTo);
      } catch (e) {
        throw new ZcollError('ECONFIG', `cannot bind the rendezvous at ${bindTo}${bindTo.includes(p.masterAddr) ? '' : ` (${p.masterAddr})`}: ${(e as Error).message} (another job on this port?)`, { rank: 0, op: RDV }, { cause: e });
      }
    }
    const byRank = new Map<number, { hello: Hello; id: Buffer }>();
    const everyone = new Map<string, { id: Buffer; rank: number }>();
    byRank.set(0, { hello: own, id: Buffer.alloc(0) });
    const deadline = Date.now() + p.timeoutMs;
    // Once refused, the master stays until every rank has heard why (or the deadline), so a rank
    // that says hello after the refusal is told too, instead of timing out without a reason.
    let refusal: ErrorReply | undefined;
    const told = new Set<number>();
    const tell = async (id: Buffer, rank: number): Promise<void> => {
      told.add(rank);
      await sock.send([id, packr.pack(refusal)]).catch(() => undefined);
    };
    const refuse = async (code: ErrorCode, msg: string): Promise<void> => {
      refusal = { t: 'error', code, msg };
      for (const { id, rank } of everyone.values()) await tell(id, rank);
    };
    for (;;) {
      if (refusal !== undefined && told.size >= p.world - 1) break;
      if (refusal === undefined && byRank.size === p.world) break;
      if (Date.now() > deadline) {
        if (refusal !== undefined) break;
        const missing = [];
        for (let r = 0; r < p.world; r++) if (!byRank.has(r)) missing.push(r);
        await refuse('ETIMEDOUT', `rank${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${p.world} never joined within ${p.timeoutMs} ms`);
        break;
      }
      let frames: Buffer[];
      try {
        frames = await sock.receive();
      } catch (e) {
        if ((e as { code?: string }).code === 'EAGAIN') continue;
        throw e;
      }
      if (frames.length !== 2) continue;
      let h: unknown;
      try {
        h = packr.unpack(frames[1]);
      } catch {
        continue; // garbage from a stranger: ignore
      }
      if (!isHello(h)) continue;
      if (!sameJob(own.job, h.job)) {
        // Not refused (that would let any process end this job) and not answered: ignored.
        strangers++;
        continue;
      }
      everyone.set(frames[0].toString('hex'), { id: frames[0], rank: h.rank });
      if (refusal !== undefined) {
        await tell(frames[0], h.rank);
        continue;
      }
      if (h.version !== own.version || h.proto !== own.proto) await refuse('EMISMATCH', `rank ${h.rank} runs zcoll ${h.version} (protocol ${h.proto}), rank 0 runs ${own.version} (protocol ${own.proto})`);
      else if (h.world !== p.world) await refuse('EMISMATCH', `rank ${h.rank} was started with world size ${h.world}, rank 0 with ${p.world}`);
      else if (h.config !== p.configHash) await refuse('EMISMATCH', `rank ${h.rank} (host ${h.hostName}) has another cluster config (hash ${h.config}, rank 0 has ${p.configHash})`);
      else if (h.schedule !== own.schedule) await refuse('EMISMATCH', `rank ${h.rank} (host ${h.hostName}) built another MULTITREE schedule for the topology (hash ${h.schedule ?? 'none'}, rank 0 has ${own.schedule ?? 'none'})`);
      else if (!(h.rank >= 0 && h.rank < p.world)) await refuse('ECONFIG', `a process claims rank ${h.rank}, outside 0..${p.world - 1}`);
      else if (byRank.has(h.rank)) await refuse('ECONFIG', `two processes claim rank ${h.rank} (hosts ${byRank.get(h.rank)!.hello.hostName} and ${h.hostName})`);
      else byRank.set(h.rank, { hello: h, id: frames[0] });
    }
    if (refusal !== undefined) throw new ZcollError(refusal.code, refusal.msg, { rank: 0, op: RDV });
    const peers: PeerInfo[] = [];
    for (let r = 0; r < p.world; r++) peers.push(peerOf(byRank.get(r)!.hello));
    const epoch = randomInt(1, 0x7fffffff);
    const body = packr.pack({ t: 'table', epoch, peers } satisfies TableReply);
    for (let r = 1; r < p.world; r++) await sock.send([byRank.get(r)!.id, body]);
    return { epoch, peers, strangers };
  } finally {
    sock.close();
    if (strangers > 0) debug('info', () => `rendezvous on port ${p.masterPort}: ignored ${strangers} hello${strangers > 1 ? 's' : ''} of another job (a leftover rank of an earlier start, or a process not of this job)`);
  }
}
