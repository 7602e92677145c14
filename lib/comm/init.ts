/**
 * init(): from the environment (or the config) to a connected Communicator. Binds this rank's inbox,
 * meets the others through rank 0, connects one link per peer (ipc:// on the same host, tcp://
 * across hosts), and runs a barrier so that a rank that returns from init() knows every link works.
 * With security.curve in the config, every tcp:// socket (inbox, links, rendezvous) uses CURVE
 * behind the ZAP allowlist, and a failed handshake fails init() with EAUTH naming the peer.
 * Every option and environment variable is checked here: EINVAL for options, ECONFIG for the
 * environment and the config, each naming what was wrong.
 */
import { loadConfig, configHash, type TransportChoice } from '../cluster/config.js';
import { bindAddressFor, resolveIdentity } from '../cluster/identity.js';
import { isZcollError, ZcollError } from '../errors.js';
import { loadCurveContext } from '../cluster/curve-keys.js';
import type { CurveContext, CurveStats } from '../transport/curve.js';
import type { Link } from '../transport/link.js';
import { ZmqEndpoint } from '../transport/zmq-endpoint.js';
import { checkHelloProof, helloProof, LinkKeys } from '../transport/link-auth.js';
import { jobSocketDir, removeStaleSocketDirs } from '../cluster/runtime-dir.js';
import { watchLauncher } from '../cluster/launcher-watch.js';
import { Communicator } from './communicator.js';
import { ALLREDUCE_ALGORITHMS } from './options.js';
import { POLL_MODES, type PollMode } from './busy-poll.js';
import { logStartup } from './startup-info.js';
import { buildTopology, hasLinkAddresses, linkAddress, topologyNeedsHosts } from '../cluster/topology.js';
import { cachedSchedule } from '../schedule/cache.js';
import { scheduleHash } from '../schedule/hash.js';
import { rememberOrigin, type InitOptions } from './origin.js';
import { shmSupported } from '../transport/shm-region.js';
import { rendezvous, type PeerInfo, type RendezvousParams } from './rendezvous.js';
import { join } from 'node:path';

/** The options of init(), defined in origin.ts (shrink() keeps them to call init() again) and exported here as before. */
export type { InitOptions } from './origin.js';

/** Default segments: ZeroMQ is fastest with ~1 MiB messages; shared-memory slots with larger ones. */
const SOCKET_SEGMENT_BYTES = 1 << 20;
const SHARED_MEMORY_SEGMENT_BYTES = 4 << 20;

const OPTION_KEYS: ReadonlySet<string> = new Set(['config', 'timeoutMs', 'segmentBytes', 'transport', 'env', 'poll']);
const TRANSPORTS: readonly TransportChoice[] = ['auto', 'tcp', 'ipc', 'shm', 'zmq'];

/** What CURVE saw on this communicator's sockets; the same as comm.security, kept for callers of the older name. */
export function transportSecurity(comm: Communicator): Readonly<CurveStats> | undefined {
  return comm.security;
}

function checkOptions(options: unknown): asserts options is InitOptions {
  const bad = (what: string): ZcollError => new ZcollError('EINVAL', `init(): ${what}`, { op: 'init' });
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw bad(`options must be an object, got ${options === null ? 'null' : typeof options}`);
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!OPTION_KEYS.has(k)) throw bad(`unknown option '${k}' (known: ${[...OPTION_KEYS].join(', ')})`);
  if (o.config !== undefined && typeof o.config !== 'string' && (typeof o.config !== 'object' || o.config === null)) throw bad(`option 'config' must be a file path or a parsed config (parseConfig), got ${typeof o.config}`);
  if (o.timeoutMs !== undefined && !(typeof o.timeoutMs === 'number' && Number.isFinite(o.timeoutMs) && o.timeoutMs > 0)) throw bad(`option 'timeoutMs' must be a positive number of ms, got ${String(o.timeoutMs)}`);
  if (o.segmentBytes !== undefined && !(typeof o.segmentBytes === 'number' && Number.isInteger(o.segmentBytes) && o.segmentBytes >= 64 && o.segmentBytes % 8 === 0 && o.segmentBytes <= 1 << 28)) {
    throw bad(`option 'segmentBytes' must be an integer in [64, 2^28] and a multiple of 8, got ${String(o.segmentBytes)}`);
  }
  if (o.transport !== undefined && !TRANSPORTS.includes(o.transport as TransportChoice)) throw bad(`option 'transport' must be one of ${TRANSPORTS.join(', ')}, got ${JSON.stringify(o.transport)}`);
  if (o.env !== undefined && (typeof o.env !== 'object' || o.env === null)) throw bad(`option 'env' must be an object of environment variables, got ${typeof o.env}`);
  if (o.poll !== undefined && !POLL_MODES.includes(o.poll as PollMode)) throw bad(`option 'poll' must be one of ${POLL_MODES.join(', ')}, got ${JSON.stringify(o.poll)}`);
}

/**
 * The hash of the MULTITREE schedule this rank builds for the configured topology: every rank builds
 * its own, so rendezvous compares them (a builder that differed between versions or machines would
 * otherwise run mismatched schedules).
 */
function multitreeHash(spec: unknown, world: number): string {
  return scheduleHash(cachedSchedule(buildTopology(spec, world), 'multitree'));
}

/**
 * Which host each rank runs on, as host indices numbered by each host's lowest rank: ranks share a
 * host when they share a host key (the same machine and network namespace, or the same ZCOLL_HOST).
 * The rendezvous gives every rank the same table, so every rank derives the same answer.
 */
export function hostIndices(peers: readonly PeerInfo[], world: number): number[] {
  const byRank = [...peers].sort((a, b) => a.rank - b.rank);
  const index = new Map<string, number>();
  const hostOf = new Array<number>(world).fill(0);
  for (const p of byRank) {
    let h = index.get(p.hostKey);
    if (h === undefined) index.set(p.hostKey, (h = index.size));
    hostOf[p.rank] = h;
  }
  return hostOf;
}

/** Communicators of this process, for a launcher that is gone (weakly held: a dropped one is collected). */
const live: Array<WeakRef<Communicator>> = [];
let watching = false;

function isLoopback(addr: string): boolean {
  return addr === 'localhost' || addr === '::1' || /^127\.\d+\.\d+\.\d+$/.test(addr);
}

export async function init(options: InitOptions = {}): Promise<Communicator> {
  checkOptions(options);
  const env = options.env ?? process.env;
  const config = typeof options.config === 'object' ? options.config : loadConfig(options.config, env);
  if (!ALLREDUCE_ALGORITHMS.includes(config.algorithm)) {
    throw new ZcollError('ECONFIG', `${config.source}: "algorithm" must be one of ${ALLREDUCE_ALGORITHMS.join(', ')}, got ${JSON.stringify(config.algorithm)}`, { details: { file: config.source, key: 'algorithm' } });
  }
  const id = resolveIdentity(config, env);
  let envTimeout: number | undefined;
  if (env.ZCOLL_TIMEOUT_MS !== undefined && env.ZCOLL_TIMEOUT_MS !== '') {
    envTimeout = Number(env.ZCOLL_TIMEOUT_MS);
    if (!(Number.isFinite(envTimeout) && envTimeout > 0)) throw new ZcollError('ECONFIG', `environment variable ZCOLL_TIMEOUT_MS=${JSON.stringify(env.ZCOLL_TIMEOUT_MS)} must be a positive number of ms`, { rank: id.rank, details: { variable: 'ZCOLL_TIMEOUT_MS' } });
  }
  const timeoutMs = options.timeoutMs ?? envTimeout ?? config.timeoutMs;
  const chosenSegmentBytes = options.segmentBytes ?? config.segmentBytes;
  const envTransport = env.ZCOLL_TRANSPORT === '' ? undefined : env.ZCOLL_TRANSPORT;
  if (envTransport !== undefined && !TRANSPORTS.includes(envTransport as TransportChoice)) {
    throw new ZcollError('ECONFIG', `environment variable ZCOLL_TRANSPORT=${JSON.stringify(envTransport)} must be one of ${TRANSPORTS.join(', ')}`, { rank: id.rank, details: { variable: 'ZCOLL_TRANSPORT' } });
  }
  const transport = options.transport ?? (envTransport as TransportChoice | undefined) ?? config.transport;
  const envPoll = env.ZCOLL_POLL === '' ? undefined : env.ZCOLL_POLL;
  if (envPoll !== undefined && !POLL_MODES.includes(envPoll as PollMode)) {
    throw new ZcollError('ECONFIG', `environment variable ZCOLL_POLL=${JSON.stringify(envPoll)} must be one of ${POLL_MODES.join(', ')}`, { rank: id.rank, details: { variable: 'ZCOLL_POLL' } });
  }
  const poll = options.poll ?? (envPoll as PollMode | undefined) ?? 'auto';
  const multi = id.worldSize > 1;
  // Loaded whenever ranks talk: the rendezvous is tcp even when the ranks' links are ipc.
  const curve = multi ? loadCurveContext(config, id.hostName, env) : undefined;
  const multiHomed = hasLinkAddresses(config.topology);
  // Every rank reaches a loopback master from this machine, so unless the config or ZCOLL_HOST
  // describes several hosts (a cluster emulated on one machine), every peer is local: no tcp
  // listener at all (another user of the host could connect to one), unless tcp is asked for.
  const allLocal = isLoopback(id.masterAddr) && config.hosts.length <= 1 && (env.ZCOLL_HOST ?? '') === '';
  const tcpInbox = multi && transport !== 'ipc' && (transport === 'tcp' || !allLocal);
  const hostAddress = tcpInbox ? (allLocal ? '127.0.0.1' : await bindAddressFor(id, config, env)) : '127.0.0.1';
  const mayShareMemory = (transport === 'auto' || transport === 'shm') && shmSupported();
  // ipc sockets live in a directory only this user may enter (cluster/runtime-dir.ts); leftovers of
  // ranks that were killed are removed first.
  let socketDir: ReturnType<typeof jobSocketDir> | undefined;
  if (multi && transport !== 'tcp') {
    removeStaleSocketDirs();
    socketDir = jobSocketDir();
  }
  let endpoint: ZmqEndpoint;
  try {
    endpoint = await ZmqEndpoint.open({
      rank: id.rank,
      ipc: socketDir === undefined ? false : join(socketDir.path, `r${id.rank}.sock`),
      // With links on wires of their own (topology link addresses), listen on every interface.
      ...(tcpInbox ? { tcpAddress: multiHomed ? '0.0.0.0' : hostAddress } : {}),
      // Known before the rendezvous only as an upper bound: a larger frame is refused by libzmq.
      maxMessageBytes: (chosenSegmentBytes ?? (mayShareMemory ? SHARED_MEMORY_SEGMENT_BYTES : SOCKET_SEGMENT_BYTES)) + 65536,
      sendTimeoutMs: timeoutMs,
      // Collectives finish only once their bytes are delivered; linger flushes p2p sends, aborts and byes.
      lingerMs: Math.min(timeoutMs, 1000),
      ...(curve !== undefined ? { curve } : {}),
    });
  } catch (e) {
    socketDir?.remove();
    throw e;
  }
  const dir = socketDir;
  if (dir !== undefined) endpoint.onClosed = () => dir.remove();
  const keys = new LinkKeys();
  // A failed CURVE handshake with a peer during init fails init with EAUTH naming it, at once,
  // instead of a timeout of the first barrier.
  let authFailed: (e: ZcollError) => void = () => undefined;
  const authFailure = new Promise<never>((_, reject) => (authFailed = reject));
  authFailure.catch(() => undefined);
  endpoint.onPeerError = (_peer, err) => authFailed(err);
  let comm: Communicator | undefined;
  try {
    // `curve` reaches the rendezvous sockets through rendezvousCurveOptions(p, role) (transport/curve.ts).
    const params: RendezvousParams & { readonly curve?: CurveContext } = {
      self: { rank: id.rank, hostKey: id.hostKey, hostName: id.hostName, machineKey: id.machineKey, linkKey: keys.publicKey, ...endpoint.bound, ...(endpoint.bound.tcp !== undefined && multiHomed ? { tcp: endpoint.bound.tcp.replace('0.0.0.0', hostAddress) } : {}) },
      ...(id.jobId !== undefined ? { job: id.jobId } : {}),
      world: id.worldSize,
      // The effective transport too: ranks that would pick different segment sizes must not meet.
      configHash: configHash({ ...config, segmentBytes: chosenSegmentBytes, transport }),
      // A topology whose hosts come from the rendezvous is only known after it (and every rank derives it from the same table).
      ...(config.topology !== undefined && !topologyNeedsHosts(config.topology) ? { scheduleHash: multitreeHash(config.topology, id.worldSize) } : {}),
      masterAddr: id.masterAddr,
      ...(id.masterAddrFrom !== undefined ? { masterAddrFrom: id.masterAddrFrom } : {}),
      masterPort: id.masterPort,
      timeoutMs,
      ...(curve !== undefined ? { curve } : {}),
    };
    const rdv = await rendezvous(params);
    // Who sent a frame is the connection it came on: each link opens with a hello that only its
    // sender can make (transport/link-auth.ts), and the inbox binds the connection to that rank.
    const job = id.jobId ?? '';
    const pairKeys = rdv.peers.map((peer) => (peer.rank === id.rank || peer.linkKey === undefined ? undefined : keys.pairKey(peer.linkKey, job, rdv.epoch)));
    for (const peer of rdv.peers) {
      if (peer.rank !== id.rank && pairKeys[peer.rank] === undefined) throw new ZcollError('EPROTO', `rank ${peer.rank} (host ${peer.hostName}) published no valid link key at the rendezvous`, { rank: id.rank, op: 'init', peer: peer.rank });
    }
    endpoint.checkHello = (h) => h.epoch === rdv.epoch && h.src < id.worldSize && pairKeys[h.src] !== undefined && checkHelloProof(pairKeys[h.src]!, rdv.epoch, h.src, id.rank, h.proof);
    const links = new Map<number, Link>();
    const urls = new Map<number, string>();
    for (const peer of rdv.peers) {
      if (peer.rank === id.rank) continue;
      const sameHost = peer.hostKey === id.hostKey;
      const wire = linkAddress(config.topology, id.rank, peer.rank);
      const viaWire = wire !== undefined && peer.tcp !== undefined ? peer.tcp.replace(/^tcp:\/\/.*:(\d+)$/, `tcp://${wire}:$1`) : undefined;
      const endpointUrl = sameHost && peer.ipc !== undefined && transport !== 'tcp' ? peer.ipc : (viaWire ?? peer.tcp);
      if (endpointUrl === undefined) {
        throw new ZcollError('ECONFIG', `no way to reach rank ${peer.rank} on host ${peer.hostName}: transport '${transport}' ${sameHost ? '' : 'cannot cross hosts'}`, { rank: id.rank, peer: peer.rank });
      }
      const serverKey = curve !== undefined && endpointUrl.startsWith('tcp://') ? curve.serverKeyFor(peer) : undefined;
      const hello = { epoch: rdv.epoch, src: id.rank, proof: helloProof(pairKeys[peer.rank]!, rdv.epoch, id.rank, peer.rank) };
      links.set(peer.rank, endpoint.connect(peer.rank, endpointUrl, hello, serverKey));
      urls.set(peer.rank, endpointUrl);
    }
    const local = rdv.peers.filter((p) => p.hostKey === id.hostKey).map((p) => p.rank);
    // Ranks on this kernel, this host's and those of other namespaces or ZCOLL_HOST hosts of the machine: they share its cores.
    const machineSize = rdv.peers.filter((p) => p.hostKey === id.hostKey || (p.machineKey !== undefined && p.machineKey === id.machineKey)).length;
    // Every rank derives the same choice: from the peers' hosts, the (compared) transport and the build.
    const sharedMemory = mayShareMemory && local.length === id.worldSize && id.worldSize > 1;
    const segmentBytes = chosenSegmentBytes ?? (sharedMemory ? SHARED_MEMORY_SEGMENT_BYTES : SOCKET_SEGMENT_BYTES);
    comm = new Communicator({
      hostOf: hostIndices(rdv.peers, id.worldSize),
      rank: id.rank,
      size: id.worldSize,
      localRank: id.localRank ?? local.indexOf(id.rank),
      localSize: local.length,
      machineSize,
      host: id.hostName,
      epoch: rdv.epoch,
      endpoint,
      links,
      timeoutMs,
      segmentBytes,
      algorithm: config.algorithm,
      sharedMemory: transport === 'shm' ? 'shm' : transport === 'auto' ? 'auto' : 'off',
      poll,
      ...(config.topology !== undefined ? { topology: config.topology } : {}),
    });
    rememberOrigin(comm, { options, env, peers: rdv.peers, masterPort: id.masterPort, generation: 0 });
    const lostTo = comm;
    endpoint.onPeerLost = (peer) => lostTo.peerLost(peer);
    await Promise.race([comm.barrier(), authFailure]);
    endpoint.onPeerError = (peer, err) => comm?.linkFailed(peer, err);
    const peers = [...urls].map(([rank, url]) => ({ rank, transport: sharedMemory ? ('shm' as const) : url.startsWith('ipc://') ? ('ipc' as const) : ('tcp' as const) }));
    const curvePeers = curve !== undefined ? [...urls.values()].filter((u) => u.startsWith('tcp://')).length : 0;
    logStartup({ rank: id.rank, size: id.worldSize, host: id.hostName, localSize: local.length, machineSize, segmentBytes, poll, peers, curve: curve !== undefined, curvePeers });
    const launched = comm;
    // A rank of `zcoll launch` exits with its launcher, even when the launcher was SIGKILLed (once
    // per process: a communicator made by shrink() is watched by the first one's watch).
    live.push(new WeakRef(launched));
    if (!watching) {
      watching = true;
      watchLauncher(env, () => {
        process.stderr.write(`zcoll: rank ${id.rank}: the launcher (pid ${env.ZCOLL_LAUNCHER_PID}) is gone; exiting\n`);
        for (const c of live) c.deref()?.abandon();
        process.exit(1);
      });
    }
    return launched;
  } catch (e) {
    comm?.abandon();
    endpoint.close();
    if (isZcollError(e, 'EAUTH') && e.rank === undefined) throw new ZcollError('EAUTH', e.message, { rank: id.rank, op: 'init', ...(e.peer !== undefined ? { peer: e.peer } : {}) }, { cause: e });
    throw e;
  }
}
