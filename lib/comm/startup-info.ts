/**
 * The start-up lines of ZCOLL_DEBUG=info (issue 18 item 12), in the manner of NCCL_DEBUG=INFO: once
 * per communicator that init() makes, each rank tells on stderr what it runs with, so a slow or
 * refused job can be read from its log: version, kernels (native with its SIMD level, or js), poll
 * mode (and whether it spins), segment size, the transport to every peer (shm, ipc or tcp), CURVE
 * and link authentication. Silent at the default level; built only when printed.
 */
import { availableParallelism } from 'node:os';
import { debug } from '../debug.js';
import { kernels, nativeLoad } from '../kernels/index.js';
import { ZCOLL_VERSION } from '../version.js';
import { spinStyle, type PollMode } from './busy-poll.js';
import { schedYield } from '../kernels/native.js';

export type PeerTransport = 'shm' | 'ipc' | 'tcp';

export interface StartupFacts {
  rank: number;
  size: number;
  host: string;
  localSize: number;
  /** Ranks on this kernel (CommunicatorInit.machineSize): what the poll style counts against the cores. */
  machineSize?: number;
  segmentBytes: number;
  poll: PollMode;
  /** Every peer's rank and the transport its data takes. */
  peers: ReadonlyArray<{ rank: number; transport: PeerTransport }>;
  /** CURVE on the tcp sockets (security.curve in the config). */
  curve: boolean;
  /** tcp links of this rank that use CURVE (ipc and shm links need none: the socket directory is private). */
  curvePeers: number;
}

/** The lines, without the `zcoll: ` prefix debug() adds. */
export function startupLines(f: StartupFacts): string[] {
  const who = `INFO [rank ${f.rank}/${f.size} host ${f.host} pid ${process.pid}]`;
  const kernelsText = kernels.name === 'native' ? `native${nativeLoad.simd !== undefined ? ` (${nativeLoad.simd})` : ''}` : 'js';
  const style = spinStyle(f.poll, Math.max(f.localSize, f.machineSize ?? 0), schedYield() !== undefined, availableParallelism(), f.localSize < f.size);
  const counts = (['shm', 'ipc', 'tcp'] as const).map((t) => [t, f.peers.filter((p) => p.transport === t).length] as const).filter(([, n]) => n > 0);
  return [
    `${who} zcoll ${ZCOLL_VERSION}, node ${process.version}, kernels ${kernelsText}, poll ${f.poll} (${style === 'spin' ? 'spins' : style === 'yield' ? 'spins, yielding its core' : 'sleeps'}), segment ${f.segmentBytes} B`,
    `${who} peers: ${f.peers.length === 0 ? 'none' : f.peers.map((p) => `${p.rank} ${p.transport}`).join(', ')}${counts.length > 0 ? ` (${counts.map(([t, n]) => `${n} ${t}`).join(', ')})` : ''}`,
    `${who} CURVE ${f.curve ? `on (${f.curvePeers} tcp link${f.curvePeers === 1 ? '' : 's'})` : 'off'}, link auth ${f.peers.length > 0 ? 'on (X25519 pair keys, HMAC hello per link)' : 'off (no links)'}`,
  ];
}

export function logStartup(f: StartupFacts): void {
  debug('info', () => startupLines(f).join('\nzcoll: '));
}
