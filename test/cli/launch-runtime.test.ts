// zcoll launch on a shared host: two one-host jobs at once each take a free rendezvous port; Ctrl-C
// (SIGINT to the launcher) leaves no shared-memory region and no socket directory; what a SIGKILL
// left is removed by the next job while a live job's files stay; GPUs are pinned per rank from
// nvidia-smi or CUDA_VISIBLE_DEVICES (issue 18 items 9, 8, 7).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { runCli, type CliRun } from '../helpers/cli.js';
import { REPO } from '../helpers/ranks.js';
import { shmSupported } from '../../lib/transport/shm-region.js';

const BIN = join(REPO, 'bin', 'zcoll.js');
const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
const shmSkip = shmSupported() ? false : 'the native addon (shared memory) is not built';

/** A rank that joins, all-reduces a 4 MiB array (through shared-memory slots) until stopped, checking each result. */
const LOOP = `
  import { init } from 'zcoll';
  const comm = await init({ timeoutMs: 20000 });
  const a = new Float32Array(1 << 20).fill(comm.rank + 1);
  const want = comm.size * (comm.size + 1) / 2;
  const first = await comm.allReduce(a);
  if (first[0] !== want || first[a.length - 1] !== want) { console.log('WRONG ' + first[0]); process.exit(2); }
  console.log('ready pid=' + process.pid + ' shm=' + comm.usesSharedMemory);
  for (;;) await comm.allReduce(a);`;

/** A rank that joins, all-reduces once, checks and closes. */
const ONCE = `
  import { init } from 'zcoll';
  const comm = await init({ timeoutMs: 20000 });
  const r = await comm.allReduce(new Float32Array(1 << 20).fill(comm.rank + 1));
  console.log('sum=' + r[0] + ' port=' + process.env.ZCOLL_MASTER_PORT);
  await comm.close();`;

function privateTmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-launch-rt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A running launcher and the pids of its ranks once they printed 'ready'. */
interface Job {
  readonly launcher: ChildProcess;
  readonly pids: number[];
  stdout: string;
  stderr: string;
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startJob(t: Test, env: NodeJS.ProcessEnv, ranks = 2): Promise<Job> {
  const launcher = spawn(process.execPath, [BIN, 'launch', '-n', String(ranks), '--', process.execPath, '--input-type=module', '-e', LOOP], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ZCOLL_MASTER_PORT: '', ...env } });
  const job: Job = { launcher, pids: [], stdout: '', stderr: '', closed: new Promise((resolve) => launcher.on('close', (code, signal) => resolve({ code, signal }))) };
  t.teardown(() => {
    launcher.kill('SIGKILL');
    for (const pid of job.pids) killQuietly(pid);
  });
  launcher.stderr!.on('data', (d: Buffer) => (job.stderr += d.toString()));
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 40_000);
    launcher.stdout!.on('data', (d: Buffer) => {
      job.stdout += d.toString();
      if ((job.stdout.match(/ready pid=/g) ?? []).length === ranks) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    launcher.on('exit', () => resolve(false));
  });
  for (const m of job.stdout.matchAll(/ready pid=(\d+)/g)) job.pids.push(Number(m[1]));
  t.ok(ready, `the job's ranks are running: ${job.stdout} ${job.stderr.slice(-1500)}`);
  return job;
}

function killQuietly(pid: number, sig: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** /dev/shm regions whose header names one of `pids` as owner (word 1 of the zcoll header). */
function regionsOf(pids: readonly number[]): string[] {
  const found: string[] = [];
  for (const name of readdirSync('/dev/shm')) {
    if (!name.startsWith('zcoll-')) continue;
    try {
      const fd = openSync(`/dev/shm/${name}`, 'r');
      const head = Buffer.alloc(8);
      readSync(fd, head, 0, 8, 0);
      closeSync(fd);
      if (pids.includes(head.readInt32LE(4))) found.push(name);
    } catch {
      // removed meanwhile
    }
  }
  return found;
}

/** Socket directories of `pids` in the runtime directory under `tmp`. */
function socketDirsOf(tmp: string, pids: readonly number[]): string[] {
  const dir = join(tmp, `zcoll-${uid}`);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((n) => pids.some((p) => n.startsWith(`p${p}-`)));
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!cond() && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 100));
  return cond();
}

t.test('two one-host launches at once without --port both succeed', async (t) => {
  const run = (): Promise<CliRun> => runCli([BIN, 'launch', '-n', '2', '--', process.execPath, '--input-type=module', '-e', ONCE], { command: process.execPath, env: { ZCOLL_MASTER_PORT: '' } });
  const [a, b] = await Promise.all([run(), run()]);
  for (const r of [a, b]) {
    t.equal(r.code, 0, r.stderr.slice(-2000));
    t.equal((r.stdout.match(/^\[\d\] sum=3 port=\d+$/gm) ?? []).length, 2, r.stdout);
  }
  const port = (r: CliRun): string => /port=(\d+)/.exec(r.stdout)![1];
  t.not(port(a), port(b), 'each job took its own port');
  t.not(port(a), '29500', 'not the config\'s fixed port');
});

t.test('SIGINT to the launcher mid-run leaves no shared-memory region and no socket directory', { skip: shmSkip }, async (t) => {
  const tmp = privateTmp(t);
  const job = await startJob(t, { TMPDIR: tmp });
  if (job.pids.length !== 2) return;
  t.match(job.stdout, /shm=true/, 'the ranks use shared memory');
  t.equal(regionsOf(job.pids).length, 2, 'each rank has its region while running');
  t.equal(socketDirsOf(tmp, job.pids).length, 2, 'and its socket directory');
  job.launcher.kill('SIGINT');
  const end = await job.closed;
  t.not(end.code, 0, `the launcher reports the interruption (${JSON.stringify(end)})`);
  t.notMatch(job.stderr, /removed \d+ shared-memory region/, 'the ranks cleaned up themselves (nothing left for the launcher)');
  t.same(regionsOf(job.pids), [], 'no region left');
  t.same(socketDirsOf(tmp, job.pids), [], 'no socket directory left');
});

t.test("SIGKILL leftovers are removed by the next job; a live job's files are untouched", { skip: shmSkip }, async (t) => {
  const tmp = privateTmp(t);
  const live = await startJob(t, { TMPDIR: tmp });
  const killed = await startJob(t, { TMPDIR: tmp });
  if (live.pids.length !== 2 || killed.pids.length !== 2) return;
  // Everything at once, as the OOM killer would: nobody gets to clean up. The ranks first: a rank
  // that outlived its launcher by a moment would see it go and clean up (as it should).
  for (const pid of killed.pids) killQuietly(pid);
  killQuietly(killed.launcher.pid!);
  await killed.closed;
  t.ok(await waitFor(() => killed.pids.every((p) => !existsSync(`/proc/${p}`)), 10_000), 'the killed ranks are gone');
  t.equal(regionsOf(killed.pids).length, 2, 'the killed ranks left their regions');
  t.equal(socketDirsOf(tmp, killed.pids).length, 2, 'and their socket directories');
  const next = await runCli([BIN, 'launch', '-n', '2', '--', process.execPath, '--input-type=module', '-e', ONCE], { command: process.execPath, env: { TMPDIR: tmp, ZCOLL_MASTER_PORT: '' } });
  t.equal(next.code, 0, next.stderr.slice(-2000));
  t.same(regionsOf(killed.pids), [], 'the next job removed the dead ranks\' regions');
  t.same(socketDirsOf(tmp, killed.pids), [], 'and their socket directories');
  t.equal(regionsOf(live.pids).length, 2, 'the live job\'s regions are untouched');
  t.equal(socketDirsOf(tmp, live.pids).length, 2, 'and its socket directories');
  t.ok(live.pids.every((p) => existsSync(`/proc/${p}`)), 'and it still runs');
  t.notMatch(live.stdout, /WRONG/);
  live.launcher.kill('SIGINT');
  await live.closed;
  t.same(regionsOf(live.pids), [], 'the live job, interrupted, cleaned up too');
});

t.test('GPUs: pinned from nvidia-smi -L, within CUDA_VISIBLE_DEVICES, none without either; a warning when ranks outnumber them', async (t) => {
  const tmp = privateTmp(t);
  const fake = join(tmp, 'bin');
  const empty = join(tmp, 'empty');
  mkdirSync(fake);
  mkdirSync(empty);
  writeFileSync(join(fake, 'nvidia-smi'), '#!/bin/sh\n[ "$1" = "-L" ] || exit 2\necho "GPU 0: Fake GPU (UUID: GPU-0000)"\necho "GPU 1: Fake GPU (UUID: GPU-0001)"\n');
  chmodSync(join(fake, 'nvidia-smi'), 0o755);
  const script = 'console.log("cuda=" + process.env.CUDA_VISIBLE_DEVICES)';
  const run = (env: NodeJS.ProcessEnv): Promise<CliRun> => runCli([BIN, 'launch', '-n', '3', '--', process.execPath, '-e', script], { command: process.execPath, env: { CUDA_VISIBLE_DEVICES: '', ...env } });
  const cuda = (r: CliRun): string[] => [0, 1, 2].map((i) => new RegExp(`^\\[${i}\\] cuda=(.*)$`, 'm').exec(r.stdout)?.[1] ?? '?');

  const smi = await run({ PATH: fake });
  t.equal(smi.code, 0, smi.stderr);
  t.same(cuda(smi), ['0', '1', '0'], 'rank i gets GPU i mod 2');
  t.match(smi.stderr, /zcoll launch: 3 ranks share 2 GPUs \(from nvidia-smi\)/);

  const visible = await run({ PATH: empty, CUDA_VISIBLE_DEVICES: '5,7' });
  t.equal(visible.code, 0, visible.stderr);
  t.same(cuda(visible), ['5', '7', '5'], 'spread within the devices the launcher was given');
  t.match(visible.stderr, /3 ranks share 2 GPUs \(from CUDA_VISIBLE_DEVICES\)/);

  const none = await run({ PATH: empty });
  t.equal(none.code, 0, none.stderr);
  t.same(cuda(none), ['', '', ''], 'no GPU: nothing set (an empty value as the launcher had)');
  t.notMatch(none.stderr, /GPU/);

  const cfg = join(tmp, 'gpus.json');
  writeFileSync(cfg, JSON.stringify({ hosts: [{ name: 'h', address: '127.0.0.1', ranks: 3, gpus: 3 }] }));
  const explicit = await run({ PATH: fake, ZCOLL_CONFIG: cfg });
  t.equal(explicit.code, 0, explicit.stderr);
  t.same(cuda(explicit), ['0', '1', '2'], 'gpus in the config wins over nvidia-smi');
  t.notMatch(explicit.stderr, /share/);
});

