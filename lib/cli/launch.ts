/**
 * `zcoll launch`: starts this host's ranks with the environment init() reads, prefixes their output
 * with the rank, forwards SIGINT/SIGTERM, and when one rank fails, stops the others and exits
 * non-zero naming it (what torchrun and mpirun do).
 *
 * Each rank also gets the job's id (ZCOLL_JOB_ID: only ranks of this job are seated at the
 * rendezvous), the launcher's pid (ZCOLL_LAUNCHER_PID: a rank exits when its launcher is gone,
 * even after a SIGKILL that gave the launcher no chance to stop it) and its GPU (launch-gpus.ts).
 * A one-host world (-n) takes a free rendezvous port unless one is given (--port,
 * ZCOLL_MASTER_PORT), so two jobs on a host do not collide on the config's 29500. Once every rank
 * is gone, the launcher removes what ranks that could not clean up (SIGKILL) left: their
 * shared-memory regions and ipc socket directories.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { hostSlot, loadConfig, totalRanks } from '../cluster/config.js';
import { quietPort } from '../cluster/free-port.js';
import { removeStaleSocketDirs } from '../cluster/runtime-dir.js';
import { ZcollError } from '../errors.js';
import { removeStaleRegions, shmSupported } from '../transport/shm-region.js';
import { planGpus } from './launch-gpus.js';

export interface LaunchOptions {
  /** Number of local ranks (a one-host world of that size). */
  nprocs?: number;
  /** Start the ranks of this config host (the same config file on every host). */
  host?: string;
  config?: string;
  port?: number;
  command: readonly string[];
  /** Prefix every output line with `[rank] ` (stdout of rank 0 can be passed through as is). */
  prefixRank0Stdout?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Where to write the launcher's own messages. */
  log?: (line: string) => void;
}

export interface LaunchPlan {
  readonly world: number;
  readonly firstRank: number;
  readonly localRanks: number;
  readonly gpus: number;
  readonly hostName: string;
  readonly masterAddr: string;
  readonly masterPort: number;
  /** True when the port was given (--port, ZCOLL_MASTER_PORT) or the world spans hosts (the config's). */
  readonly portGiven: boolean;
  readonly configPath: string;
}

export function planLaunch(o: Omit<LaunchOptions, 'command'>): LaunchPlan {
  const env = o.env ?? process.env;
  const config = loadConfig(o.config, env);
  const configPath = config.source;
  const masterAddr = env.ZCOLL_MASTER_ADDR ?? config.hosts[0].address;
  const given = o.port ?? (env.ZCOLL_MASTER_PORT !== undefined && env.ZCOLL_MASTER_PORT !== '' ? Number(env.ZCOLL_MASTER_PORT) : undefined);
  const masterPort = given ?? config.port;
  if (o.nprocs !== undefined) {
    if (!Number.isInteger(o.nprocs) || o.nprocs < 1) throw new ZcollError('EINVAL', `-n must be a positive integer, got ${String(o.nprocs)}`);
    if (o.host !== undefined) throw new ZcollError('EINVAL', '-n and --host are exclusive: -n starts a one-host world, --host starts one host of the config');
    const h = config.hosts[0];
    return { world: o.nprocs, firstRank: 0, localRanks: o.nprocs, gpus: h.gpus, hostName: h.name, masterAddr, masterPort, portGiven: given !== undefined, configPath };
  }
  const name = o.host ?? (config.hosts.length === 1 ? config.hosts[0].name : undefined);
  if (name === undefined) throw new ZcollError('EINVAL', `${configPath} lists ${config.hosts.length} hosts: say which one this is with --host (one of ${config.hosts.map((h) => h.name).join(', ')})`);
  const { host, firstRank } = hostSlot(config, name);
  // Hosts of a world over several machines must agree on the port: the config's stays.
  return { world: totalRanks(config), firstRank, localRanks: host.ranks, gpus: host.gpus, hostName: host.name, masterAddr, masterPort, portGiven: given !== undefined || config.hosts.length > 1, configPath };
}

/** `zcoll bench | head` closes stdout early: stop writing, do not crash (the ranks finish or get SIGPIPE'd). */
function ignoreClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount('error') === 0) stream.on('error', (e: NodeJS.ErrnoException) => void (e.code === 'EPIPE' ? undefined : process.emitWarning(e)));
  }
}

/**
 * The job id for this launch: ZCOLL_JOB_ID when the launcher's environment has one (a world over
 * several hosts, one launcher each, must share it: set the same on every host); else a fresh random
 * 128-bit one when this launcher starts the whole world; else none (a partial world without a
 * shared id: every rank then has none, as with mpirun). Passed in the environment only: command
 * lines are world-readable, a process's environment is not.
 */
export function jobIdFor(plan: LaunchPlan, env: NodeJS.ProcessEnv): string | undefined {
  if (env.ZCOLL_JOB_ID) return env.ZCOLL_JOB_ID;
  return plan.firstRank === 0 && plan.localRanks === plan.world ? randomBytes(16).toString('hex') : undefined;
}

/**
 * After the ranks are gone: what a rank killed before it could clean up (SIGKILL, OOM kill) left in
 * /dev/shm and the runtime directory. Only leftovers of dead owners are removed (pid + start time),
 * so other jobs running on the host keep theirs.
 */
function removeLeftovers(log: (line: string) => void): void {
  try {
    const sockets = removeStaleSocketDirs();
    const regions = shmSupported() ? removeStaleRegions() : 0;
    if (sockets + regions > 0) log(`zcoll launch: removed ${regions} shared-memory region(s) and ${sockets} socket director${sockets === 1 ? 'y' : 'ies'} left by ranks that could not clean up`);
  } catch (e) {
    log(`zcoll launch: could not remove the ranks' leftovers: ${(e as Error).message}`);
  }
}

/** How long after a rank's exit its output may still be arriving (a grandchild holding its pipes). */
const STDIO_GRACE_MS = 2000;

export async function launch(o: LaunchOptions): Promise<number> {
  ignoreClosedPipes();
  const log = o.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  if (o.command.length === 0) throw new ZcollError('EINVAL', 'nothing to launch: give the command after --, e.g. zcoll launch -n 2 -- node train.js');
  const planned = planLaunch(o);
  // A world all on this host: nobody else needs to know the port, so take a free one.
  const plan = planned.portGiven || planned.localRanks !== planned.world ? planned : { ...planned, masterPort: await quietPort(planned.masterAddr).catch(() => planned.masterPort) };
  const jobId = jobIdFor(plan, o.env ?? process.env);
  const gpus = planGpus(plan.localRanks, plan.gpus, o.env ?? process.env);
  if (gpus.warning !== undefined) log(gpus.warning);
  const children: ChildProcess[] = [];
  let failure: { rank: number; code: number | null; signal: NodeJS.Signals | null } | undefined;
  let stopping = false;
  const stopAll = (signal: NodeJS.Signals): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  };
  let killTimer: NodeJS.Timeout | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    stopping = true;
    stopAll(sig);
    killTimer ??= setTimeout(() => stopAll('SIGKILL'), 5000);
  };
  const sigint = (): void => onSignal('SIGINT');
  const sigterm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);
  const exits: Promise<void>[] = [];
  for (let local = 0; local < plan.localRanks; local++) {
    const rank = plan.firstRank + local;
    const env: NodeJS.ProcessEnv = {
      ...(o.env ?? process.env),
      ZCOLL_RANK: String(rank),
      ZCOLL_WORLD_SIZE: String(plan.world),
      ZCOLL_LOCAL_RANK: String(local),
      ZCOLL_LOCAL_SIZE: String(plan.localRanks),
      ZCOLL_MASTER_ADDR: plan.masterAddr,
      ZCOLL_MASTER_PORT: String(plan.masterPort),
      ZCOLL_HOST: plan.hostName,
      ZCOLL_CONFIG: resolve(plan.configPath),
      ZCOLL_LAUNCHER_PID: String(process.pid),
    };
    if (jobId !== undefined) env.ZCOLL_JOB_ID = jobId;
    else delete env.ZCOLL_JOB_ID;
    if (gpus.devices.length > 0) env.CUDA_VISIBLE_DEVICES = gpus.devices[local];
    const child = spawn(o.command[0], o.command.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const prefix = `[${rank}] `;
    const pipe = (stream: NodeJS.ReadableStream, out: NodeJS.WritableStream, raw: boolean): void => {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => out.write(raw ? `${line}\n` : `${prefix}${line}\n`));
    };
    pipe(child.stdout!, process.stdout, rank === 0 && o.prefixRank0Stdout === false);
    pipe(child.stderr!, process.stderr, false);
    exits.push(
      new Promise<void>((done) => {
        child.on('error', (e) => {
          log(`zcoll launch: rank ${rank} could not start ${o.command[0]}: ${e.message}`);
          failure ??= { rank, code: 127, signal: null };
          stopAll('SIGTERM');
          done();
        });
        child.on('exit', (code, signal) => {
          if ((code !== 0 || signal !== null) && failure === undefined && !stopping) {
            failure = { rank, code, signal };
            log(`zcoll launch: rank ${rank} ${signal !== null ? `was killed by ${signal}` : `exited with code ${code}`}; stopping the other ranks`);
            stopAll('SIGTERM');
            killTimer ??= setTimeout(() => stopAll('SIGKILL'), 5000);
          }
          // Done once its output is relayed ('close': its pipes ended, the last lines printed), or
          // shortly after its exit when something it started still holds them open.
          setTimeout(done, STDIO_GRACE_MS).unref();
        });
        child.on('close', () => done());
      }),
    );
  }
  await Promise.all(exits);
  clearTimeout(killTimer);
  removeLeftovers(log);
  process.off('SIGINT', sigint);
  process.off('SIGTERM', sigterm);
  if (failure !== undefined) {
    log(`zcoll launch: failed: rank ${failure.rank} ${failure.signal !== null ? `killed by ${failure.signal}` : `exit code ${failure.code}`}`);
    return failure.code !== null && failure.code !== 0 ? failure.code : 1;
  }
  return stopping ? 130 : 0;
}
