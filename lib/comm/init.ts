/**
 * init(): from the environment (or the config) to a connected Communicator. Binds this rank's inbox,
 * meets the others through rank 0, connects one link per peer (ipc:// on the same host, tcp://
 * across hosts), and runs a barrier so that a rank that returns from init() knows every link works.
 */
import { loadConfig, configHash, type ClusterConfig, type TransportChoice } from '../cluster/config.js';
import { bindAddressFor, resolveIdentity } from '../cluster/identity.js';
import { ZcollError } from '../errors.js';
import type { Link } from '../transport/link.js';
import { ZmqEndpoint } from '../transport/zmq-endpoint.js';
import { Communicator } from './communicator.js';
import { rendezvous } from './rendezvous.js';

export interface InitOptions {
  /** A config file path or an already-parsed config (default: ZCOLL_CONFIG, ./cluster.config.json, the embedded default). */
  config?: string | ClusterConfig;
  /** Default deadline of every collective, ms (default: ZCOLL_TIMEOUT_MS, then the config's timeoutMs, 60 s). */
  timeoutMs?: number;
  /** Segment size for pipelining, bytes (default: the config's, 1 MiB). */
  segmentBytes?: number;
  /** 'auto' (ipc on one host, tcp across), or force 'tcp' / 'ipc'. */
  transport?: TransportChoice;
  /** Environment to read rank and master from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export async function init(options: InitOptions = {}): Promise<Communicator> {
  const env = options.env ?? process.env;
  const config = typeof options.config === 'object' ? options.config : loadConfig(options.config, env);
  const id = resolveIdentity(config, env);
  const envTimeout = env.ZCOLL_TIMEOUT_MS !== undefined ? Number(env.ZCOLL_TIMEOUT_MS) : undefined;
  const timeoutMs = options.timeoutMs ?? envTimeout ?? config.timeoutMs;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) throw new ZcollError('ECONFIG', `timeoutMs must be a positive number of ms, got ${String(timeoutMs)} (option, ZCOLL_TIMEOUT_MS or the config)`, { rank: id.rank });
  const segmentBytes = options.segmentBytes ?? config.segmentBytes;
  if (!(Number.isInteger(segmentBytes) && segmentBytes >= 64 && segmentBytes % 8 === 0)) throw new ZcollError('EINVAL', `segmentBytes must be an integer >= 64 and a multiple of 8, got ${String(segmentBytes)}`, { rank: id.rank });
  const transport = options.transport ?? (env.ZCOLL_TRANSPORT as TransportChoice | undefined) ?? config.transport;
  const multi = id.worldSize > 1;
  const endpoint = await ZmqEndpoint.open({
    rank: id.rank,
    ipc: multi && transport !== 'tcp',
    ...(multi && transport !== 'ipc' ? { tcpAddress: await bindAddressFor(id, config, env) } : {}),
    maxMessageBytes: segmentBytes + 65536,
    sendTimeoutMs: timeoutMs,
    lingerMs: Math.min(timeoutMs, 5000),
  });
  let comm: Communicator | undefined;
  try {
    const rdv = await rendezvous({
      self: { rank: id.rank, hostKey: id.hostKey, hostName: id.hostName, ...endpoint.bound },
      world: id.worldSize,
      configHash: configHash({ ...config, segmentBytes }),
      masterAddr: id.masterAddr,
      masterPort: id.masterPort,
      timeoutMs,
    });
    const links = new Map<number, Link>();
    for (const peer of rdv.peers) {
      if (peer.rank === id.rank) continue;
      const sameHost = peer.hostKey === id.hostKey;
      const endpointUrl = sameHost && peer.ipc !== undefined && transport !== 'tcp' ? peer.ipc : peer.tcp;
      if (endpointUrl === undefined) {
        throw new ZcollError('ECONFIG', `no way to reach rank ${peer.rank} on host ${peer.hostName}: transport '${transport}' ${sameHost ? '' : 'cannot cross hosts'}`, { rank: id.rank, peer: peer.rank });
      }
      links.set(peer.rank, endpoint.connect(peer.rank, endpointUrl));
    }
    const local = rdv.peers.filter((p) => p.hostKey === id.hostKey).map((p) => p.rank);
    comm = new Communicator({
      rank: id.rank,
      size: id.worldSize,
      localRank: id.localRank ?? local.indexOf(id.rank),
      localSize: local.length,
      host: id.hostName,
      epoch: rdv.epoch,
      endpoint,
      links,
      timeoutMs,
      segmentBytes,
      algorithm: config.algorithm,
    });
    await comm.barrier();
    return comm;
  } catch (e) {
    endpoint.close();
    throw e;
  }
}
