/**
 * Who am I: rank, world size, local rank and the master's address, from the environment a launcher
 * set, in this order: zcoll's own (ZCOLL_*, set by `zcoll launch`), torchrun's (RANK, WORLD_SIZE,
 * LOCAL_RANK, MASTER_ADDR, MASTER_PORT), OpenMPI's (OMPI_COMM_WORLD_*), SLURM's (SLURM_PROCID,
 * SLURM_NTASKS, SLURM_LOCALID). With none of them the process is a world of one (as Horovod does
 * when a script is run without a launcher). The master address falls back to the config's first host.
 */
import { createSocket } from 'node:dgram';
import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { ZcollError } from '../errors.js';
import type { ClusterConfig } from './config.js';

export type IdentitySource = 'zcoll' | 'torchrun' | 'openmpi' | 'slurm' | 'single';

export interface Identity {
  readonly rank: number;
  readonly worldSize: number;
  /** From the launcher when it says; otherwise derived at rendezvous from the host keys. */
  readonly localRank: number | undefined;
  readonly masterAddr: string;
  readonly masterPort: number;
  /** Ranks with the same host key share a machine (ipc:// and shared memory between them). */
  readonly hostKey: string;
  /** Host name for messages and reports. */
  readonly hostName: string;
  readonly source: IdentitySource;
}

function intVar(env: NodeJS.ProcessEnv, name: string, min: number): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ZcollError('ECONFIG', `environment variable ${name}=${JSON.stringify(v)} must be an integer >= ${min}`, { details: { variable: name } });
  return n;
}

/** The network namespace tells apart "hosts" that share a kernel (containers, test namespaces). */
function netnsId(): string {
  try {
    return readlinkSync('/proc/self/ns/net');
  } catch {
    return '';
  }
}

export function resolveIdentity(config: ClusterConfig, env: NodeJS.ProcessEnv = process.env): Identity {
  let source: IdentitySource = 'single';
  let rank = 0;
  let world = 1;
  let local: number | undefined;
  const pick = (s: IdentitySource, rankVar: string, sizeVar: string, localVar: string): boolean => {
    const r = intVar(env, rankVar, 0);
    const w = intVar(env, sizeVar, 1);
    if (r === undefined && w === undefined) return false;
    if (r === undefined || w === undefined) throw new ZcollError('ECONFIG', `${rankVar} and ${sizeVar} must be set together (got ${rankVar}=${env[rankVar] ?? '<unset>'}, ${sizeVar}=${env[sizeVar] ?? '<unset>'})`);
    if (r >= w) throw new ZcollError('ECONFIG', `${rankVar}=${r} is not below ${sizeVar}=${w}`);
    source = s;
    rank = r;
    world = w;
    local = intVar(env, localVar, 0);
    return true;
  };
  void (
    pick('zcoll', 'ZCOLL_RANK', 'ZCOLL_WORLD_SIZE', 'ZCOLL_LOCAL_RANK') ||
    pick('torchrun', 'RANK', 'WORLD_SIZE', 'LOCAL_RANK') ||
    pick('openmpi', 'OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_RANK') ||
    pick('slurm', 'SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID')
  );
  const masterAddr = env.ZCOLL_MASTER_ADDR || env.MASTER_ADDR || config.hosts[0].address;
  const masterPort = intVar(env, 'ZCOLL_MASTER_PORT', 1) ?? intVar(env, 'MASTER_PORT', 1) ?? config.port;
  if (masterPort > 65535) throw new ZcollError('ECONFIG', `master port ${masterPort} is not a TCP port`);
  const hostName = env.ZCOLL_HOST || hostname();
  const hostKey = env.ZCOLL_HOST ? `host:${env.ZCOLL_HOST}` : `${hostname()}#${netnsId()}`;
  return { rank, worldSize: world, localRank: local, masterAddr, masterPort, hostKey, hostName, source };
}

const LOOPBACK = /^(127\.|::1$|localhost$)/;

/**
 * The address this rank binds tcp:// on and advertises: ZCOLL_BIND_ADDR, else the config address of
 * the host named by ZCOLL_HOST, else loopback when the master is local, else the local interface the
 * kernel would route to the master (a UDP "connect" picks it; no packet is sent).
 */
export async function bindAddressFor(id: Identity, config: ClusterConfig, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.ZCOLL_BIND_ADDR) return env.ZCOLL_BIND_ADDR;
  if (env.ZCOLL_HOST) {
    const h = config.hosts.find((x) => x.name === env.ZCOLL_HOST);
    if (h) return h.address === 'localhost' ? '127.0.0.1' : h.address;
  }
  if (LOOPBACK.test(id.masterAddr)) return '127.0.0.1';
  return await new Promise<string>((resolveAddr) => {
    const sock = createSocket(id.masterAddr.includes(':') ? 'udp6' : 'udp4');
    sock.on('error', () => {
      sock.close();
      resolveAddr('0.0.0.0');
    });
    sock.connect(id.masterPort, id.masterAddr, () => {
      const addr = sock.address().address;
      sock.close();
      resolveAddr(addr);
    });
  });
}
