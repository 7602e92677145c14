// The per-user runtime directory for ipc sockets: created 0700, refused when someone else could have
// prepared it, and what dead processes left behind is removed while live processes' is kept. Every
// test runs under a TMPDIR of its own, so nothing real is touched.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { jobSocketDir, removeStaleSocketDirs, userRuntimeDir } from '../../lib/cluster/runtime-dir.js';
import { processStartTime } from '../../lib/process/owner.js';

const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
const isRoot = uid === 0;

/** A fresh TMPDIR for one test, restored and removed in teardown. */
function privateTmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-rtd-test-'));
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  t.teardown(() => {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** A pid that is certainly dead: a child that already exited (and was reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

t.test('userRuntimeDir creates zcoll-<uid> with mode 0700 and accepts it again', async (t) => {
  const tmp = privateTmp(t);
  const dir = userRuntimeDir();
  t.equal(dir, join(tmp, `zcoll-${uid}`));
  t.equal(statSync(dir).mode & 0o777, 0o700);
  t.equal(userRuntimeDir(), dir, 'the existing one is accepted');
});

t.test('a squatted directory open to others is refused with ECONFIG naming it', async (t) => {
  const tmp = privateTmp(t);
  const dir = join(tmp, `zcoll-${uid}`);
  mkdirSync(dir);
  chmodSync(dir, 0o777);
  t.throws(() => userRuntimeDir(), { code: 'ECONFIG', message: new RegExp(`${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} has mode 0777`) });
  chmodSync(dir, 0o750);
  t.throws(() => userRuntimeDir(), { code: 'ECONFIG', message: /has mode 0750/ }, 'group access alone is refused too');
});

t.test('a symlink in its place is refused with ECONFIG, not followed', async (t) => {
  const tmp = privateTmp(t);
  const target = join(tmp, 'elsewhere');
  mkdirSync(target, { mode: 0o700 });
  symlinkSync(target, join(tmp, `zcoll-${uid}`));
  t.throws(() => userRuntimeDir(), { code: 'ECONFIG', message: /is a symbolic link/ });
});

t.test('a file in its place is refused with ECONFIG', async (t) => {
  const tmp = privateTmp(t);
  writeFileSync(join(tmp, `zcoll-${uid}`), '');
  t.throws(() => userRuntimeDir(), { code: 'ECONFIG', message: /is not a directory/ });
});

t.test("a directory of another user is refused with ECONFIG", { skip: isRoot ? false : 'needs root to give a directory away' }, async (t) => {
  const tmp = privateTmp(t);
  const dir = join(tmp, `zcoll-${uid}`);
  mkdirSync(dir, { mode: 0o700 });
  spawnSync('chown', ['65534', dir]);
  t.throws(() => userRuntimeDir(), { code: 'ECONFIG', message: /is owned by uid 65534/ });
});

t.test('jobSocketDir: a fresh 0700 p<pid>-t<start time>-<random> directory; remove() is idempotent', async (t) => {
  privateTmp(t);
  const a = jobSocketDir();
  const b = jobSocketDir();
  t.not(a.path, b.path, 'fresh each time');
  t.match(a.path, new RegExp(`/zcoll-${uid}/p${process.pid}-t${processStartTime(process.pid) ?? 0}-[0-9a-f]+$`));
  t.equal(statSync(a.path).mode & 0o777, 0o700);
  writeFileSync(join(a.path, 'inbox.sock'), '');
  a.remove();
  t.notOk(existsSync(a.path), 'removed with its contents');
  a.remove();
  b.remove();
  t.notOk(existsSync(b.path));
});

t.test('jobSocketDir is removed when its process exits', async (t) => {
  const tmp = privateTmp(t);
  const url = new URL('../../lib/cluster/runtime-dir.js', import.meta.url).href;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { jobSocketDir } from ${JSON.stringify(url)}; console.log(jobSocketDir().path);`], { encoding: 'utf8', env: { ...process.env, TMPDIR: tmp } });
  t.equal(r.status, 0, r.stderr);
  const path = r.stdout.trim();
  t.match(path, new RegExp(`^${tmp}/zcoll-${uid}/p\\d+-`));
  t.notOk(existsSync(path), 'gone at exit');
});

t.test('removeStaleSocketDirs removes dead pids\' directories and legacy sockets, keeps live ones', async (t) => {
  const tmp = privateTmp(t);
  const root = userRuntimeDir();
  const dead = deadPid();
  const stale = join(root, `p${dead}-00ff00ff`);
  mkdirSync(stale, { mode: 0o700 });
  writeFileSync(join(stale, 'x.sock'), '');
  const mine = jobSocketDir();
  t.teardown(() => mine.remove());
  // A live process other than this one: a sleeping child, killed in teardown.
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.teardown(() => void child.kill('SIGKILL'));
  const live = join(root, `p${child.pid}-abcdef01`);
  mkdirSync(live, { mode: 0o700 });
  const other = join(root, 'not-a-socket-dir');
  mkdirSync(other);
  // Legacy names in TMPDIR itself: a real socket of a dead pid, one of a live pid, and a plain file
  // of a dead pid's name (not a socket: not ours to judge).
  const listen = (path: string): Promise<ReturnType<typeof createServer>> =>
    new Promise((resolve) => {
      const s = createServer();
      s.listen(path, () => resolve(s));
    });
  const legacyDead = join(tmp, `zcoll-${dead}-1-0a0b0c0d.sock`);
  const legacyLive = join(tmp, `zcoll-${child.pid}-0-0a0b0c0d.sock`);
  const s1 = await listen(legacyDead);
  const s2 = await listen(legacyLive);
  // The servers stay open through the checks (closing one unlinks its file); closed in teardown.
  t.teardown(() => {
    s1.close();
    s2.close();
  });
  const notSocket = join(tmp, `zcoll-${dead}-2-0a0b0c0d.sock`);
  writeFileSync(notSocket, '');

  const n = removeStaleSocketDirs();
  t.equal(n, 2, 'the dead pid\'s directory and its legacy socket');
  t.notOk(existsSync(stale), 'dead pid: directory removed');
  t.notOk(existsSync(legacyDead), 'dead pid: legacy socket removed');
  t.ok(existsSync(mine.path), 'this process: kept');
  t.ok(existsSync(live), 'live pid: kept');
  t.ok(existsSync(legacyLive), 'live pid: legacy socket kept');
  t.ok(existsSync(other), 'unknown names: kept');
  t.ok(existsSync(notSocket), 'a plain file named like a socket: kept');
  t.equal(removeStaleSocketDirs(), 0, 'nothing more the second time');
});

t.test('jobSocketDir is removed on SIGINT, SIGTERM and an uncaught error, and the process still ends as before', async (t) => {
  const tmp = privateTmp(t);
  const url = new URL('../../lib/cluster/runtime-dir.js', import.meta.url).href;
  const cases: Array<{ how: string; code: string; status: number | null; signal: NodeJS.Signals | null }> = [
    { how: 'SIGINT', code: "process.kill(process.pid, 'SIGINT'); setTimeout(() => {}, 5000);", status: null, signal: 'SIGINT' },
    { how: 'SIGTERM', code: "process.kill(process.pid, 'SIGTERM'); setTimeout(() => {}, 5000);", status: null, signal: 'SIGTERM' },
    { how: 'uncaught error', code: "setTimeout(() => { throw new Error('boom'); }, 10);", status: 1, signal: null },
    // A program with its own SIGINT handler decides itself; its exit still runs the cleanup.
    { how: 'own SIGINT handler', code: "process.on('SIGINT', () => process.exit(7)); process.kill(process.pid, 'SIGINT'); setTimeout(() => {}, 5000);", status: 7, signal: null },
  ];
  for (const c of cases) {
    const script = `import { jobSocketDir } from ${JSON.stringify(url)}; console.log(jobSocketDir().path); ${c.code}`;
    // Under tap the child also has signal-exit's listeners (tap's process-info hook): they must not
    // count as the program's own handler.
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, TMPDIR: tmp }, timeout: 20_000 });
    t.equal(r.status, c.status, `${c.how}: exit status`);
    t.equal(r.signal, c.signal, `${c.how}: killed by the same signal as without the cleanup`);
    const path = r.stdout.trim();
    t.match(path, new RegExp(`^${tmp}/zcoll-${uid}/p\\d+-t\\d+-`), c.how);
    t.notOk(existsSync(path), `${c.how}: removed`);
  }
});

t.test('removeStaleSocketDirs: a live pid with another start time is a reused pid (removed), with its own it is kept', { skip: processStartTime(process.pid) === undefined ? 'no /proc start times' : false }, async (t) => {
  privateTmp(t);
  const root = userRuntimeDir();
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.teardown(() => void child.kill('SIGKILL'));
  await new Promise((resolve) => child.once('spawn', resolve));
  const start = processStartTime(child.pid!)!;
  const reused = join(root, `p${child.pid}-t${start + 1}-00ff00ff`);
  const owned = join(root, `p${child.pid}-t${start}-00ff00ff`);
  mkdirSync(reused, { mode: 0o700 });
  mkdirSync(owned, { mode: 0o700 });
  t.equal(removeStaleSocketDirs(), 1);
  t.notOk(existsSync(reused), 'the pid now belongs to a process started later: the owner is gone');
  t.ok(existsSync(owned), 'the owner itself: kept');
});
