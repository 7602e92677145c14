/**
 * The programs bench/peers runs, one function per column, each returning its rows or, when it cannot
 * run, a sentence naming what is missing or what failed (the column is then skipped, the sitting goes
 * on). The peers' sources are in bench/peers/ (ZCOLL_PEERS_DIR overrides); the C ones are compiled with
 * mpicc into this sitting's temporary directory, so a clone needs nothing else than the Debian packages
 * named below.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One size of one column: the JSON row every program of bench/peers writes. */
export interface Row {
  bytes: number;
  time_med_s: number;
  /** All-reduce rows only. */
  busbw_GBps?: number;
  /** Elements (bytes for ping-pong) that were not what they should be, over ranks and iterations. */
  wrong: number;
  checked: number;
  /** What `wrong` and `checked` count: float32 elements (default) or bytes (the MPI ping-pong). */
  unit?: 'elements' | 'bytes';
}
export type Series = Map<number, Row>;
/** Rows, or why the column has none. */
export type Outcome = Series | { skipped: string } | { failed: string };

export interface Sitting {
  repo: string;
  peersDir: string;
  /** Scratch for JSON files and the compiled MPI programs; removed by the caller. */
  work: string;
  /** Timed iterations per size for every program; 0: each program's own rule. */
  iters: number;
  /** Untimed iterations per size before them, for every program; 0: each program's own rule. */
  warmup: number;
}

const OPENMPI = 'apt-get install openmpi-bin libopenmpi-dev';
const GLOO = 'apt-get install python3-torch python3-numpy';
const PYTHON = '/usr/bin/python3';

function load(path: string): Series {
  const j = JSON.parse(readFileSync(path, 'utf8')) as { results: Row[] };
  return new Map(j.results.map((r) => [r.bytes, r]));
}

function freePortSync(): number {
  return Number(execFileSync(process.execPath, ['-e', "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"]).toString().trim());
}

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

/** Runs a program that writes `json`; its rows, or the failure with the end of its stderr. */
function run(what: string, cmd: string, argv: string[], json: string, env?: NodeJS.ProcessEnv): Outcome {
  // SIGTERM, not SIGKILL: mpirun and the gloo launcher pass it on to their ranks.
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 900_000, killSignal: 'SIGTERM', env: env ?? process.env });
  if (r.status !== 0 || !existsSync(json)) {
    const why = r.error?.message ?? (r.signal !== null ? `killed by ${r.signal}` : `exit code ${r.status}`);
    return { failed: `${what} failed (${why}): ${(r.stderr ?? '').trim().slice(-400)}` };
  }
  return load(json);
}

function peerSource(s: Sitting, file: string): string | { skipped: string } {
  const p = join(s.peersDir, file);
  return existsSync(p) ? p : { skipped: `${file} not found in ${s.peersDir} (ZCOLL_PEERS_DIR)` };
}

/**
 * One zcoll column. `transport`: 'zmq' (ZeroMQ ipc only), 'shm' (shared-memory slots: the buffer is
 * an ordinary Float32Array), 'shm-registered' (the buffer comes from comm.allocBuffer, so peers
 * read it in place), or any ZCOLL_TRANSPORT value.
 */
export function runZcoll(s: Sitting, n: number, transport: string, sizes: readonly number[]): Outcome {
  const json = join(s.work, `zcoll-${transport}-${n}.json`);
  const registered = transport === 'shm-registered';
  const env: NodeJS.ProcessEnv = { ...process.env, ZCOLL_TRANSPORT: transport === 'zmq' ? 'ipc' : registered ? 'shm' : transport };
  const worker = [join(s.repo, 'dist', 'bench', 'peers-zcoll-worker.js'), json, sizes.join(','), String(s.iters), String(s.warmup), ...(registered ? ['registered'] : [])];
  const launch = [join(s.repo, 'bin', 'zcoll.js'), 'launch', '-n', String(n), '--port', String(freePortSync()), '--', process.execPath, ...worker];
  return run(`zcoll (${transport})`, process.execPath, launch, json, env);
}

export function runGloo(s: Sitting, n: number, sizes: readonly number[]): Outcome {
  const src = peerSource(s, 'gloo_allreduce.py');
  if (typeof src !== 'string') return src;
  if (!existsSync(PYTHON) || spawnSync(PYTHON, ['-c', 'import torch.distributed'], { encoding: 'utf8' }).status !== 0) {
    return { skipped: `gloo: ${PYTHON} cannot import torch.distributed (${GLOO})` };
  }
  const json = join(s.work, `gloo-${n}.json`);
  const argv = [src, '-n', String(n), '--sizes', sizes.join(','), '--iters', String(s.iters), '--warmup', String(s.warmup), '--port', String(freePortSync()), '--json', json, '--timeout', '840'];
  return run('gloo', PYTHON, argv, json);
}

const built = new Map<string, string | { skipped: string } | { failed: string }>();

/** bench/peers/<name>.c compiled with mpicc into the sitting's directory (once per sitting). */
function mpiProgram(s: Sitting, name: string): string | { skipped: string } | { failed: string } {
  const known = built.get(name);
  if (known !== undefined) return known;
  let result: string | { skipped: string } | { failed: string };
  const src = peerSource(s, `${name}.c`);
  if (typeof src !== 'string') result = src;
  else if (!onPath('mpicc') || !onPath('mpirun')) result = { skipped: `OpenMPI: no mpicc or mpirun on PATH (${OPENMPI})` };
  else {
    const bin = join(s.work, name);
    const r = spawnSync('mpicc', ['-O2', '-o', bin, src], { encoding: 'utf8' });
    result = r.status === 0 ? bin : { failed: `mpicc ${src} failed: ${(r.stderr ?? '').trim().slice(-400)}` };
  }
  built.set(name, result);
  return result;
}

/** mpirun's arguments for one of the two OpenMPI columns; loopback only, ob1 so the btl list is what runs. */
function mpirunArgs(n: number, mode: 'tcp' | 'shm'): string[] {
  const common = ['--allow-run-as-root', '--oversubscribe', '-np', String(n), '--mca', 'oob_tcp_if_include', 'lo', '--mca', 'pml', 'ob1'];
  return mode === 'tcp' ? [...common, '--mca', 'btl', 'tcp,self', '--mca', 'btl_tcp_if_include', 'lo'] : [...common, '--mca', 'btl', 'vader,self'];
}

export function runMpi(s: Sitting, n: number, mode: 'tcp' | 'shm', sizes: readonly number[]): Outcome {
  const bin = mpiProgram(s, 'mpi_allreduce');
  if (typeof bin !== 'string') return bin;
  const json = join(s.work, `mpi-${mode}-${n}.json`);
  return run(`OpenMPI all-reduce (${mode})`, 'mpirun', [...mpirunArgs(n, mode), bin, json, sizes.join(','), String(s.iters), String(s.warmup)], json);
}

export function runMpiPingPong(s: Sitting, mode: 'tcp' | 'shm', sizes: readonly number[]): Outcome {
  const bin = mpiProgram(s, 'mpi_pingpong');
  if (typeof bin !== 'string') return bin;
  const json = join(s.work, `mpi-pingpong-${mode}.json`);
  const rows = run(`OpenMPI ping-pong (${mode})`, 'mpirun', [...mpirunArgs(2, mode), bin, json, sizes.join(','), String(s.iters), String(s.warmup)], json);
  if (rows instanceof Map) for (const r of rows.values()) r.unit = 'bytes';
  return rows;
}

/** `zcoll bench latency` on 2 ranks (half round trip of send/recv, every message checked). */
export function runZcollLatency(s: Sitting, transport: string, sweep: { min: number; max: number; factor: number }): Outcome {
  const json = join(s.work, `zcoll-latency-${transport}.json`);
  const env: NodeJS.ProcessEnv = { ...process.env, ZCOLL_TRANSPORT: transport === 'zmq' ? 'ipc' : transport };
  const timed = s.iters > 0 ? s.iters : 100;
  const iters = ['-n', String(timed), '-w', String(s.warmup > 0 ? s.warmup : s.iters > 0 ? Math.min(5, s.iters) : 10)];
  const argv = [join(s.repo, 'bin', 'zcoll.js'), 'bench', 'latency', '--ranks', '2', '--port', String(freePortSync()), '-b', String(sweep.min), '-e', String(sweep.max), '-f', String(sweep.factor), ...iters, '-q', '--json', json];
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8', timeout: 900_000, killSignal: 'SIGTERM', env });
  if (r.status !== 0 || !existsSync(json)) return { failed: `zcoll bench latency (${transport}) failed (exit code ${r.status}): ${(r.stderr ?? '').trim().slice(-400)}` };
  const rows = JSON.parse(readFileSync(json, 'utf8')) as Array<{ size: number; count: number; time_us: number; wrong: number; times_us: number[] }>;
  // wrong counts elements (float32: 4 bytes each) over ranks and iterations.
  return new Map(rows.map((r) => [r.size, { bytes: r.size, time_med_s: r.time_us / 1e6, wrong: r.wrong, checked: r.count * r.times_us.length * 2 }]));
}
