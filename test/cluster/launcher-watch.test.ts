// watchLauncher: a rank notices that its launcher is gone (within a period or two), never keeps its
// process alive, and can be stopped.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { watchLauncher } from '../../lib/cluster/launcher-watch.js';

const MODULE = fileURLToPath(new URL('../../lib/cluster/launcher-watch.js', import.meta.url));

t.test('onGone is called once when the watched process dies', async (t) => {
  const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.teardown(() => void sleeper.kill('SIGKILL'));
  let calls = 0;
  const stop = watchLauncher({ ZCOLL_LAUNCHER_PID: String(sleeper.pid) }, () => calls++);
  t.teardown(stop);
  await new Promise((r) => setTimeout(r, 1200));
  t.equal(calls, 0, 'not while it lives');
  sleeper.kill('SIGKILL');
  await new Promise((r) => sleeper.on('exit', r));
  const t0 = Date.now();
  while (calls === 0 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 50));
  t.equal(calls, 1, `called (${Date.now() - t0} ms after the death)`);
  await new Promise((r) => setTimeout(r, 1200));
  t.equal(calls, 1, 'and only once');
});

t.test('stop() stops watching; no variable, nothing to watch; a bad one is ECONFIG', async (t) => {
  const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.teardown(() => void sleeper.kill('SIGKILL'));
  let calls = 0;
  const stop = watchLauncher({ ZCOLL_LAUNCHER_PID: String(sleeper.pid) }, () => calls++);
  stop();
  sleeper.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 1200));
  t.equal(calls, 0);
  watchLauncher({}, () => calls++)();
  t.throws(() => watchLauncher({ ZCOLL_LAUNCHER_PID: 'x' }, () => undefined), { code: 'ECONFIG', message: /ZCOLL_LAUNCHER_PID="x"/ });
});

t.test('the watch never keeps the process alive', async (t) => {
  const script = `import { watchLauncher } from ${JSON.stringify(MODULE)}; watchLauncher({ ZCOLL_LAUNCHER_PID: String(process.ppid) }, () => process.exit(3)); setTimeout(() => {}, 100);`;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r.status, 0, r.stderr);
  t.ok(Date.now() - t0 < 10_000, 'exited by itself');
});
