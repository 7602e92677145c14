/**
 * Rendezvous through rank 0 (the torch.distributed TCPStore / Gloo rendezvous role). Rank 0 binds a
 * ROUTER on the master address; every rank (rank 0 included) says hello with its version, world
 * size, config hash, host key and inbox endpoints. Rank 0 answers with the table of all ranks, or
 * with one error sent to every rank that showed up: another zcoll version, another config, another
 * world size, a duplicate rank, or ranks that never came (named) before the deadline.
 */
import { randomInt } from 'node:crypto';
import * as zmq from 'zeromq';
import { Packr } from 'msgpackr';
import { ZcollError, type ErrorCode } from '../errors.js';
import { ZCOLL_VERSION } from '../version.js';
import { PROTOCOL_VERSION } from '../transport/wire.js';
import { rendezvousCurveOptions, type CurveContext } from '../transport/curve.js';

export interface PeerInfo {
  readonly rank: number;
  readonly hostKey: string;
  readonly hostName: string;
  readonly ipc?: string;
  readonly tcp?: string;
}

export interface Hello extends PeerInfo {
  readonly t: 'hello';
  readonly version: string;
  readonly proto: number;
  readonly world: number;
  readonly config: string;
  /** Hash of the MULTITREE schedule built for the configured topology, when there is one. */
  readonly schedule?: string;
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
  readonly masterPort: number;
  readonly timeoutMs: number;
  /** CURVE keys when `security.curve` is configured: the rendezvous is authenticated like every tcp link. */
  readonly curve?: CurveContext;
}

export interface RendezvousResult {
  readonly epoch: number;
  readonly peers: readonly PeerInfo[];
}

const packr = new Packr({ useRecords: false });
const RDV = 'rendezvous';

function masterBind(addr: string): string {
  if (addr === 'localhost') return '127.0.0.1';
  return /^[0-9.]+$/.test(addr) || addr.includes(':') ? addr : '0.0.0.0';
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
  };
  if (p.world === 1) return { epoch: randomInt(1, 0x7fffffff), peers: [p.self] };
  return p.self.rank === 0 ? serve(p, hello) : join(p, hello);
}

async function join(p: RendezvousParams, hello: Hello): Promise<RendezvousResult> {
  const rank = p.self.rank;
  const master = `tcp://${p.masterAddr}:${p.masterPort}`;
  // Wait longer than the master does: when a rank is missing, the master's error (which names it)
  // must reach every rank before their own, vaguer, timeout.
  const waitMs = p.timeoutMs + Math.min(Math.max(p.timeoutMs / 2, 1000), 10_000);
  const sock = new zmq.Dealer({ linger: 0, receiveTimeout: waitMs, sendTimeout: waitMs, ...rendezvousCurveOptions(p, 'client') });
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
      if (reply?.t === 'table' && Array.isArray(reply.peers) && reply.peers.length === p.world) return { epoch: reply.epoch, peers: reply.peers };
    }
  } finally {
    sock.close();
  }
}

function isHello(x: unknown): x is Hello {
  const h = x as Hello;
  return typeof h === 'object' && h !== null && h.t === 'hello' && Number.isInteger(h.rank) && typeof h.version === 'string' && typeof h.hostKey === 'string';
}

async function serve(p: RendezvousParams, own: Hello): Promise<RendezvousResult> {
  const bindTo = `tcp://${masterBind(p.masterAddr)}:${p.masterPort}`;
  const sock = new zmq.Router({ linger: 2000, sendTimeout: 1000, receiveTimeout: 100, handover: false, ...rendezvousCurveOptions(p, 'server') });
  try {
    try {
      await sock.bind(bindTo);
    } catch (e) {
      throw new ZcollError('ECONFIG', `cannot bind the rendezvous at ${bindTo}: ${(e as Error).message} (another job on this port?)`, { rank: 0, op: RDV }, { cause: e });
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
    for (let r = 0; r < p.world; r++) {
      const { hello } = byRank.get(r)!;
      peers.push({ rank: r, hostKey: hello.hostKey, hostName: hello.hostName, ...(hello.ipc ? { ipc: hello.ipc } : {}), ...(hello.tcp ? { tcp: hello.tcp } : {}) });
    }
    const epoch = randomInt(1, 0x7fffffff);
    const body = packr.pack({ t: 'table', epoch, peers } satisfies TableReply);
    for (let r = 1; r < p.world; r++) await sock.send([byRank.get(r)!.id, body]);
    return { epoch, peers };
  } finally {
    sock.close();
  }
}
