/**
 * Elastic-lite: after ranks are lost, the survivors build a new communicator over themselves and go
 * on (what torchrun's elastic agent and Horovod's elastic mode do, minus adding ranks). Every
 * survivor calls `shrink(comm, lost)` with the same list of lost ranks (the EPEERLOST/ETIMEDOUT
 * errors name them); ranks are renumbered in their old order, and the lowest surviving rank hosts a
 * new rendezvous: on `masterPort` when given (the same on every survivor), else on the old master
 * port + the generation number. The default needs no agreement, but that port may be taken by then
 * on a busy host (the rendezvous then fails naming it); launchers that own a port range pass one.
 */
import { ZcollError } from '../errors.js';
import type { Communicator } from './communicator.js';
import { init } from './init.js';
import { originOf, rememberOrigin } from './origin.js';

export interface ShrinkOptions {
  /** Deadline of the new rendezvous, ms (default: the old communicator's timeoutMs). */
  timeoutMs?: number;
  /** Port of the new rendezvous on the lowest survivor's host (default: old master port + generation). */
  masterPort?: number;
}

export async function shrink(comm: Communicator, lost: readonly number[], options: ShrinkOptions = {}): Promise<Communicator> {
  const origin = originOf(comm);
  if (origin === undefined) throw new ZcollError('EINVAL', 'shrink() needs a communicator made by init()', { rank: comm.rank, op: 'shrink' });
  const gone = new Set(lost);
  for (const r of gone) {
    if (!(Number.isInteger(r) && r >= 0 && r < comm.size)) throw new ZcollError('EINVAL', `lost rank ${String(r)} is not a rank of this world of ${comm.size}`, { rank: comm.rank, op: 'shrink' });
  }
  if (gone.has(comm.rank)) throw new ZcollError('EINVAL', `rank ${comm.rank} is in the lost list: only survivors shrink`, { rank: comm.rank, op: 'shrink' });
  const survivors = Array.from({ length: comm.size }, (_, r) => r).filter((r) => !gone.has(r));
  const master = origin.peers.find((p) => p.rank === survivors[0]);
  const tcp = master?.tcp !== undefined ? /^tcp:\/\/(.*):\d+$/.exec(master.tcp)?.[1] : undefined;
  const masterAddr = tcp === undefined || tcp === '0.0.0.0' ? '127.0.0.1' : tcp;
  const generation = origin.generation + 1;
  if (options.masterPort !== undefined && !(Number.isInteger(options.masterPort) && options.masterPort > 0 && options.masterPort < 65536)) {
    throw new ZcollError('EINVAL', `shrink: masterPort must be a TCP port (1-65535), got ${String(options.masterPort)}`, { rank: comm.rank, op: 'shrink' });
  }
  const masterPort = options.masterPort ?? origin.masterPort + generation;
  await comm.close();
  const env: NodeJS.ProcessEnv = {
    ...origin.env,
    ZCOLL_RANK: String(survivors.indexOf(comm.rank)),
    ZCOLL_WORLD_SIZE: String(survivors.length),
    ZCOLL_MASTER_ADDR: masterAddr,
    ZCOLL_MASTER_PORT: String(masterPort),
  };
  const next = await init({ ...origin.options, env, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : { timeoutMs: comm.timeoutMs }) });
  const o = originOf(next);
  if (o !== undefined) rememberOrigin(next, { ...o, generation, masterPort: origin.masterPort });
  return next;
}
