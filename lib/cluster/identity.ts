/**
 * Who am I: rank, world size, local rank and the master's address, from the environment a launcher
 * set, in this order: zcoll's own (ZCOLL_*, set by `zcoll launch`), torchrun's (RANK, WORLD_SIZE,
 * LOCAL_RANK, MASTER_ADDR, MASTER_PORT), OpenMPI's (OMPI_COMM_WORLD_*), SLURM's (SLURM_PROCID,
 * SLURM_NTASKS, SLURM_LOCALID). With none of them the process is a world of one (as Horovod does
 * when a script is run without a launcher). The master address falls back to the config's first host.
 * The job id (ZCOLL_JOB_ID from `zcoll launch`, else torchrun's TORCHELASTIC_RUN_ID) lets the
 * rendezvous admit only processes of this job.
 */
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { readFileSync, readlinkSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { ZcollError } from '../errors.js';
import type { ClusterConfig } from './config.js';

export type IdentitySource = 'zcoll' | 'torchrun' | 'openmpi' | 'slurm' | 'single';

export interface Identity {
  readonly rank: number;
  readonly worldSize: number;
  /** From the launcher when it says; otherwise derived at rendezvous from the host keys. */
  readonly localRank: number | undefined;
  readonly masterAddr: string;
  /** Where masterAddr came from (a variable or a config key), for error messages. */
  readonly masterAddrFrom?: string;
  readonly masterPort: number;
  /**
   * A secret shared by the ranks of one job and nobody else (the environment of a process is readable
   * only by its user; command lines are not): the rendezvous seats only hellos with the same job, so a
   * leftover rank of an earlier start, or another user's process, never takes a seat.
   */
  readonly jobId?: string;
  /** Ranks with the same host key share a machine (ipc:// and shared memory between them). */
  readonly hostKey: string;
  /** Host name for messages and reports. */
  readonly hostName: string;
  /**
   * Ranks with the same machine key share a kernel, and so its cores, whatever their host keys say:
   * network namespaces and ZCOLL_HOST hosts on one machine are different hosts to the network model
   * but not to the CPU. The kernel's boot id (unique per boot, the same in every namespace), else the
   * host name.
   */
  readonly machineKey: string;
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

/** The kernel this process runs on (see Identity.machineKey). */
function machineKeyOf(): string {
  try {
    return `boot:${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}`;
  } catch {
    return `name:${hostname()}`;
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
  const masterAddrFrom = env.ZCOLL_MASTER_ADDR ? 'ZCOLL_MASTER_ADDR' : env.MASTER_ADDR ? 'MASTER_ADDR' : `${config.source}: "hosts[0].address"`;
  const jobId = env.ZCOLL_JOB_ID || env.TORCHELASTIC_RUN_ID || undefined;
  const masterPort = intVar(env, 'ZCOLL_MASTER_PORT', 1) ?? intVar(env, 'MASTER_PORT', 1) ?? config.port;
  if (masterPort > 65535) throw new ZcollError('ECONFIG', `master port ${masterPort} is not a TCP port`);
  const hostName = env.ZCOLL_HOST || hostname();
  const hostKey = env.ZCOLL_HOST ? `host:${env.ZCOLL_HOST}` : `${hostname()}#${netnsId()}`;
  return { rank, worldSize: world, localRank: local, masterAddr, masterAddrFrom, masterPort, hostKey, hostName, machineKey: machineKeyOf(), source, ...(jobId !== undefined ? { jobId } : {}) };
}

const LOOPBACK = /^(127\.|::1$|localhost$)/;

export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/**
 * All addresses of a host name (an IP literal is its own), IPv4 first. A name that does not resolve
 * is ECONFIG at once, naming the name and where it came from (`from`: a variable or a config key):
 * handed to ZeroMQ it would only retry forever and surface as a vague timeout. Names under the
 * reserved .invalid TLD fail without a lookup (RFC 6761: never resolvable, and no query leaves the host).
 */
export async function resolveHost(name: string, from: string): Promise<ResolvedAddress[]> {
  const literal = isIP(name);
  if (literal !== 0) return [{ address: name, family: literal as 4 | 6 }];
  const fail = (why: string, cause?: unknown): ZcollError =>
    new ZcollError('ECONFIG', `the host name ${JSON.stringify(name)} (from ${from}) ${why}`, { details: { name, from } }, cause !== undefined ? { cause } : undefined);
  if (name === '' || /(^|\.)invalid\.?$/i.test(name)) throw fail('does not resolve (reserved .invalid name)');
  let found: { address: string; family: number }[];
  try {
    found = await lookup(name, { all: true });
  } catch (e) {
    throw fail(`does not resolve: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, e);
  }
  const out = found.filter((a) => a.family === 4 || a.family === 6).map((a) => ({ address: a.address, family: a.family as 4 | 6 }));
  if (out.length === 0) throw fail('resolves to no IPv4 or IPv6 address');
  return out.sort((a, b) => a.family - b.family);
}

function isLoopback(a: ResolvedAddress): boolean {
  return a.family === 4 ? a.address.startsWith('127.') : a.address === '::1';
}

/**
 * The addresses of `name` that this host can bind: its interfaces' or loopback. A name is never bound
 * as 0.0.0.0 (that listens on every network, the rendezvous included); a name none of whose addresses
 * is here is ECONFIG: this process is not on the host the name designates.
 */
export async function localAddressesOf(name: string, from: string): Promise<ResolvedAddress[]> {
  const all = await resolveHost(name, from);
  const mine = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) mine.add(i.address);
  const local = all.filter((a) => isLoopback(a) || mine.has(a.address));
  if (local.length === 0) {
    throw new ZcollError('ECONFIG', `the host name ${JSON.stringify(name)} (from ${from}) resolves to ${all.map((a) => a.address).join(', ')}, none of which is an interface of this host (${hostname()}): cannot bind it here`, { details: { name, from } });
  }
  return local;
}

/**
 * The address this rank binds tcp:// on and advertises: ZCOLL_BIND_ADDR, else the config address of
 * the host named by ZCOLL_HOST, else loopback when the master is local, else the local interface the
 * kernel would route to the master (a UDP "connect" picks it; no packet is sent). IP literals are
 * taken as given; a host name is resolved to an address of this host (never 0.0.0.0), and one that
 * does not resolve is ECONFIG naming it and its variable or config key.
 */
export async function bindAddressFor(id: Identity, config: ClusterConfig, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.ZCOLL_BIND_ADDR) return isIP(env.ZCOLL_BIND_ADDR) !== 0 ? env.ZCOLL_BIND_ADDR : (await localAddressesOf(env.ZCOLL_BIND_ADDR, 'ZCOLL_BIND_ADDR'))[0].address;
  if (env.ZCOLL_HOST) {
    const i = config.hosts.findIndex((x) => x.name === env.ZCOLL_HOST);
    if (i >= 0) {
      const address = config.hosts[i].address;
      return isIP(address) !== 0 ? address : (await localAddressesOf(address, `${config.source}: "hosts[${i}].address"`))[0].address;
    }
  }
  if (LOOPBACK.test(id.masterAddr)) return '127.0.0.1';
  const from = id.masterAddrFrom ?? 'the master address';
  const master = (await resolveHost(id.masterAddr, from))[0];
  if (isLoopback(master)) return master.family === 4 ? '127.0.0.1' : '::1';
  return await new Promise<string>((resolveAddr, reject) => {
    const sock = createSocket(master.family === 6 ? 'udp6' : 'udp4');
    sock.on('error', (e) => {
      sock.close();
      // Not 0.0.0.0: that would listen on every network for a rank that cannot even route to the master.
      reject(new ZcollError('ECONFIG', `no route from this host to the master ${id.masterAddr} (${master.address}, from ${from}): ${e.message}; set ZCOLL_BIND_ADDR to the address to use`, { rank: id.rank, details: { name: id.masterAddr, from } }, { cause: e }));
    });
    sock.connect(id.masterPort, master.address, () => {
      const addr = sock.address().address;
      sock.close();
      resolveAddr(addr);
    });
  });
}
