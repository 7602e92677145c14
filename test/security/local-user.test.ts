// Issue 16 item 3: a local user who is not part of the job must not be able to disturb it. A
// 3-rank job started the default way on one host (shared memory, ipc links, tcp inboxes on
// 127.0.0.1, a rendezvous port) runs checked all-reduces while an attacker process running as
// uid/gid 65534 (nobody) finds the job's endpoints as any local user can (/proc/net/tcp, the
// /dev/shm names that carry the epoch, the ipc socket files) and for a bounded time sends forged
// data frames (claimed sources 0-2, the epoch read from /dev/shm), forged aborts, 400 far-future
// aborts, and a rendezvous hello claiming rank 1. Every result must be right on every rank, no rank
// may fail, and each rank's RSS growth stays bounded. What the attacker reached is printed.
// Needs root (to start a process as another user); skipped otherwise.
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { DIST, quietPort, runRanks } from '../helpers/ranks.js';
import { cleanupJob, cleanupOutputs, lastOf, type Ready } from './job-cleanup.js';

const NOBODY = 65534;
const SIZE = 3;
const RSS_BOUND_MIB = 64;
const ATTACK_MS = 8_000;

/** tcp ports in LISTEN owned by `pids` (as root: their fds' socket inodes, matched in /proc/net/tcp). */
function listeningPorts(pids: readonly number[]): number[] {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]);
      } catch {
        // closed meanwhile
      }
    }
  }
  const ports = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === '0A' && inodes.has(f[9])) ports.add(parseInt(f[1].split(':')[1], 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

interface AttackerRun {
  code: number | null;
  stdout: string;
  stderr: string;
  report: Record<string, unknown> | undefined;
}

function runAttacker(plan: object, killAfterMs: number): Promise<AttackerRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(DIST, 'test/fixtures/local-attacker.js'), JSON.stringify(plan)], {
      uid: NOBODY,
      gid: NOBODY,
      cwd: '/',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
      resolve({ code, stdout, stderr, report: line === undefined ? undefined : (JSON.parse(line.slice(7)) as Record<string, unknown>) });
    });
  });
}

const isRoot = process.getuid?.() === 0;

t.test('a local user (uid 65534) attacks a job started the default way', { skip: isRoot ? false : 'needs root to start the attacker as uid 65534 (nobody)' }, async (t) => {
  // The attacker must be able to read its script, the library and node_modules as nobody: probe
  // with an attack of no duration on nothing.
  const probe = await runAttacker({ ports: [], pids: [], rendezvousPort: 1, durationMs: 0 }, 20_000);
  if (probe.report?.kind !== 'attacker') {
    t.comment(`skipped: uid ${NOBODY} cannot run ${join(DIST, 'test/fixtures/local-attacker.js')} (is the tree readable by others?): ${probe.stderr.slice(-300)}`);
    t.pass('skipped');
    return;
  }
  const port = await quietPort();
  const ready: Ready[] = [];
  let allReady!: () => void;
  const readyP = new Promise<void>((r) => (allReady = r));
  const job = runRanks(SIZE, {
    script: 'test/fixtures/security-worker.js',
    args: ['local-job'],
    port,
    // 1.5 s for the attacker to start, then 12 s of checked all-reduces; killed at 60 s.
    env: { ZCOLL_SEC_DURATION_MS: '12000', ZCOLL_SEC_DELAY_MS: '1500' },
    killAfterMs: 60_000,
    onSpawn: (_rank, child) => {
      let buf = '';
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        for (const line of buf.split('\n').slice(0, -1)) {
          if (!line.startsWith('RESULT ')) continue;
          const r = JSON.parse(line.slice(7)) as Ready;
          if (r.kind === 'ready' && !ready.some((x) => x.rank === r.rank)) {
            ready.push(r);
            if (ready.length === SIZE) allReady();
          }
        }
        buf = buf.slice(buf.lastIndexOf('\n') + 1);
      });
    },
  });
  t.teardown(() => void cleanupJob(ready.map((r) => r.epoch), ready.map((r) => r.pid)));
  const started = await Promise.race([readyP.then(() => true), job.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(false), 30_000).unref())]);
  let attacker: AttackerRun | undefined;
  if (started) {
    const pids = ready.map((r) => r.pid);
    const ports = listeningPorts(pids);
    t.comment(`job: ranks' pids ${pids.join(', ')}, epoch ${ready[0].epoch}, listening tcp ports ${ports.join(', ')}, rendezvous port ${port}`);
    attacker = await runAttacker({ ports, pids, rendezvousPort: port, durationMs: ATTACK_MS }, ATTACK_MS + 15_000);
  }
  const outs = await job;
  t.teardown(() => void cleanupOutputs(outs));
  t.ok(started, 'every rank started');
  t.ok(attacker?.report?.kind === 'attacker', `the attacker ran ${attacker?.stderr.slice(-300) ?? ''}`);
  const rep = attacker?.report ?? {};
  t.comment(`attacker (uid ${String(rep.uid)}): saw ${String(rep.listeningSeen)} listening ports on 127.0.0.1, the job's visible: ${JSON.stringify(rep.jobPortsVisible)}`);
  t.comment(`attacker: /dev/shm zcoll regions ${String(rep.shmNames)} (readable ${String(rep.shmReadable)}, writable ${String(rep.shmWritable)}), epochs ${JSON.stringify(rep.epochs)}, the job's ipc sockets ${String(rep.ipcSockets)}`);
  t.comment(`attacker: connects that succeeded: ${JSON.stringify(rep.connected)}`);
  t.comment(`attacker: ${String(rep.sent)} messages queued, ${String(rep.sendFailures)} refused, in ${String(rep.rounds)} rounds`);
  t.equal(rep.shmWritable, 0, 'no shared-memory region of any job is writable by another user');
  for (const o of outs) {
    t.equal(o.code, 0, `rank ${o.rank} exits 0 ${o.code === 0 ? '' : o.stderr.slice(-1500)}`);
    const err = lastOf(o, 'error');
    const done = lastOf(o, 'done') as { iters: number; wrong: number; rssStart: number; rssPeak: number; rssGrowthMiB: number; dropped: number; forged: number; aborts: number; lastDropReason: string } | undefined;
    t.comment(
      `rank ${o.rank}: ${String(done?.iters)} all-reduces, ${String(done?.wrong)} wrong, RSS ${done?.rssStart.toFixed(0)} -> ${done?.rssPeak.toFixed(0)} MiB (+${done?.rssGrowthMiB.toFixed(1)}), dropped ${String(done?.dropped)}, forged ${String(done?.forged)}, aborts received ${String(done?.aborts)}, last drop: ${String(done?.lastDropReason).slice(0, 100)}${err ? `; error ${JSON.stringify(err).slice(0, 300)}` : ''}`,
    );
    t.equal(err, undefined, `rank ${o.rank}: no collective failed`);
    t.ok((done?.iters ?? 0) > 0, `rank ${o.rank}: ran checked all-reduces`);
    t.equal(done?.wrong, 0, `rank ${o.rank}: every result matches the serial reference`);
    t.ok((done?.rssGrowthMiB ?? Infinity) < RSS_BOUND_MIB, `rank ${o.rank}: RSS grew by ${done?.rssGrowthMiB.toFixed(1)} MiB < ${RSS_BOUND_MIB} MiB`);
  }
});
