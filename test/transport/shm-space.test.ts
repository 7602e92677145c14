// A /dev/shm too small for zcoll's regions (Docker's default 64 MB): regions are reserved when they
// are made, so a rank that cannot have its region falls back to ZeroMQ with one warning (ECONFIG
// when transport 'shm' was demanded), its peers stop sending it references, and an allocBuffer
// that does not fit is an ordinary array (ECONFIG under 'shm'), never a SIGBUS. Each case runs the
// ranks in a mount namespace of their own with a small tmpfs on /dev/shm (root and unshare(1)
// needed); the namespace, and with it the tmpfs, goes away with its last process.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { shmSupported } from '../../lib/transport/shm-region.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { DIST, quietPort, REPO } from '../helpers/ranks.js';

const BIN = join(REPO, 'bin', 'zcoll.js');
const WORKER = join(DIST, 'test', 'fixtures', 'shm-space-worker.js');
const PAIR = join(DIST, 'test', 'fixtures', 'shm-pair-agreement.js');

function canUnshare(): string | false {
  if (!shmSupported()) return 'the native addon (shared memory) is not built';
  if (process.getuid?.() !== 0) return 'needs root (mount in a new mount namespace)';
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs /dev/shm'], { stdio: 'ignore' });
  return r.status === 0 ? false : 'unshare --mount with a tmpfs is not possible here';
}
const skip = canUnshare();

/** Runs `argv` in a new mount namespace whose /dev/shm is a tmpfs of `mib` MiB. */
function withShm(mib: number, argv: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const script = `mount -t tmpfs -o size=${mib}m tmpfs /dev/shm && exec "$0" "$@"`;
  return runCli(['--mount', '--propagation', 'private', '--', 'sh', '-c', script, ...argv], { command: 'unshare', env: { ZCOLL_TIMEOUT_MS: '20000', ...env }, killAfterMs: 90_000 });
}

async function launch2(mib: number, env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const port = await quietPort();
  return withShm(mib, [process.execPath, BIN, 'launch', '-n', '2', '--port', String(port), '--', process.execPath, WORKER], env);
}

interface WorkerResult {
  rank: number;
  shm: boolean;
  wrong: number;
  allocError: string | null;
  registered: boolean;
}

function results(r: CliRun): WorkerResult[] {
  return [...r.stdout.matchAll(/^\[\d+\] RESULT (.*)$/gm)].map((m) => JSON.parse(m[1]) as WorkerResult).sort((a, b) => a.rank - b.rank);
}

t.test('one region fits but not two: the rank that cannot have one warns once and uses ZeroMQ; results are right', { skip }, async (t) => {
  // Each region is 17 MiB (one peer, 4 slots of 4 MiB, mailboxes): 24 MiB hold one of them.
  const r = await launch2(24);
  t.equal(r.code, 0, r.stderr.slice(-2000));
  t.notMatch(r.stderr, /SIGBUS/);
  const res = results(r);
  t.equal(res.length, 2, r.stdout);
  for (const x of res) {
    t.equal(x.wrong, 0, `rank ${x.rank}: every element right`);
    t.equal(x.allocError, null, `rank ${x.rank}: allocBuffer did not fail under 'auto'`);
    t.equal(x.registered, false, `rank ${x.rank}: the 64 MiB buffer is ordinary memory`);
    const warnings = r.stderr.match(new RegExp(`^\\[${x.rank}\\] zcoll: rank ${x.rank}: shared memory unavailable, using ZeroMQ.*/dev/shm cannot reserve.*--shm-size`, 'gm')) ?? [];
    t.equal(warnings.length, x.shm ? 0 : 1, `rank ${x.rank} (shm ${x.shm}): one warning when it fell back, none otherwise`);
  }
  t.ok(res.some((x) => !x.shm), 'at least one rank fell back');
});

t.test('regions fit, a 64 MiB allocBuffer does not: ordinary memory with one warning, results right', { skip }, async (t) => {
  const r = await launch2(48);
  t.equal(r.code, 0, r.stderr.slice(-2000));
  t.notMatch(r.stderr, /SIGBUS/);
  const res = results(r);
  t.equal(res.length, 2, r.stdout);
  for (const x of res) {
    t.equal(x.shm, true, `rank ${x.rank} has shared memory`);
    t.equal(x.wrong, 0, `rank ${x.rank}: every element right`);
    t.equal(x.allocError, null);
    t.equal(x.registered, false, `rank ${x.rank}: the buffer is ordinary memory`);
  }
  // 14 MiB are left after the two regions: neither rank's 64 MiB buffer can be reserved.
  t.equal((r.stderr.match(/allocBuffer\(float32, 16777216\) does not fit in shared memory, using ordinary memory/g) ?? []).length, 2, 'one warning per rank');
});

t.test("transport 'shm' demanded: an allocBuffer that cannot be reserved is ECONFIG, not SIGBUS", { skip }, async (t) => {
  const r = await launch2(48, { ZCOLL_TRANSPORT: 'shm' });
  t.equal(r.code, 0, r.stderr.slice(-2000));
  const res = results(r);
  t.equal(res.length, 2, r.stdout);
  for (const x of res) {
    t.match(x.allocError ?? '', /^ECONFIG: \[rank \d allocBuffer\] allocBuffer\(float32, 16777216\) needs \d+ bytes of shared memory, which \/dev\/shm cannot reserve \(\d+ bytes free/);
    t.equal(x.wrong, 0);
  }
});

t.test("transport 'shm' demanded and no room for a region: init fails with ECONFIG naming /dev/shm", { skip }, async (t) => {
  const r = await launch2(24, { ZCOLL_TRANSPORT: 'shm' });
  t.not(r.code, 0);
  t.notMatch(r.stderr, /SIGBUS/);
  t.match(r.stderr, /ECONFIG: \[rank \d init\] the shared-memory region of rank \d \(1 same-host peer\(s\), segmentBytes 4194304\) needs \d+ bytes of shared memory, which \/dev\/shm cannot reserve/);
});

t.test('the pair agrees: a rank whose peer has no region stops sending it references', { skip }, async (t) => {
  const r = await withShm(24, [process.execPath, PAIR]);
  t.equal(r.code, 0, r.stderr);
  const m = /^RESULT (.*)$/m.exec(r.stdout);
  t.ok(m, r.stdout);
  t.same(JSON.parse(m![1]), {
    first: true,
    second: false,
    before: true,
    after: false,
    ordinary: true,
    demanded: JSON.parse(m![1]).demanded,
  });
  t.match(JSON.parse(m![1]).demanded, /^ECONFIG: \[rank 1 init\] .*\/dev\/shm cannot reserve/);
  t.equal((r.stderr.match(/zcoll: rank 1: shared memory unavailable, using ZeroMQ/g) ?? []).length, 1, 'one warning');
});
