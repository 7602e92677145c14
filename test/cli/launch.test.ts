// zcoll launch: environment per rank, output prefixed with the rank, and a failing rank stops the
// others and makes the launcher exit non-zero naming it.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { quietPort, REPO } from '../helpers/ranks.js';
import { runCli, type CliRun } from '../helpers/cli.js';

const BIN = join(REPO, 'bin', 'zcoll.js');

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return runCli([BIN, ...args], { env, command: process.execPath });
}

t.test('each rank gets its environment; lines are prefixed with the rank', async (t) => {
  const port = await quietPort();
  const script = 'const e=process.env; console.log(["r="+e.ZCOLL_RANK,"w="+e.ZCOLL_WORLD_SIZE,"l="+e.ZCOLL_LOCAL_RANK,"p="+e.ZCOLL_MASTER_PORT].join(" "))';
  const r = await run(['launch', '-n', '3', '--port', String(port), '--', process.execPath, '-e', script]);
  t.equal(r.code, 0);
  for (let rank = 0; rank < 3; rank++) t.match(r.stdout, new RegExp(`^\\[${rank}\\] r=${rank} w=3 l=${rank} p=${port}$`, 'm'));
});

t.test('a failing rank stops the others; the launcher exits non-zero naming it', async (t) => {
  const port = await quietPort();
  const script = 'if (process.env.ZCOLL_RANK === "1") { setTimeout(() => process.exit(3), 200); } else { setTimeout(() => {}, 60000); }';
  const r = await run(['launch', '-n', '3', '--port', String(port), '--', process.execPath, '-e', script]);
  t.equal(r.code, 3, 'exit code of the failed rank');
  t.match(r.stderr, /rank 1 exited with code 3; stopping the other ranks/);
  t.ok(r.ms < 30_000, `the others were stopped, not waited for (${r.ms} ms)`);
});

t.test('a rank killed by SIGKILL mid-all-reduce: the launcher exits non-zero naming it', async (t) => {
  const port = await quietPort();
  const script = `
    import { init } from 'zcoll';
    const comm = await init({ timeoutMs: 5000 });
    const buf = new Float32Array(1 << 18);
    for (let i = 0; ; i++) {
      if (comm.rank === 1 && i === 20) process.kill(process.pid, 'SIGKILL');
      await comm.allReduce(buf, { inPlace: true });
    }`;
  const r = await run(['launch', '-n', '3', '--port', String(port), '--', process.execPath, '--input-type=module', '-e', script]);
  t.not(r.code, 0, 'non-zero exit');
  t.match(r.stderr, /rank 1 was killed by SIGKILL/, 'the launcher names the killed rank');
  t.ok(r.ms < 30_000, `no hang (${r.ms} ms)`);
});

t.test('SIGTERM to the launcher reaches every rank; GPUs per host set CUDA_VISIBLE_DEVICES', async (t) => {
  const port = await quietPort();
  const dir = t.testdir({ 'gpus.json': JSON.stringify({ hosts: [{ name: 'gpuhost', address: '127.0.0.1', ranks: 2, gpus: 2 }] }) });
  // The handler before the line the test waits for: a rank descheduled between the two would get
  // the signal before it listens (seen under load).
  const script = 'process.on("SIGTERM", () => { console.log("got SIGTERM"); process.exit(0); }); console.log("cuda=" + process.env.CUDA_VISIBLE_DEVICES + " host=" + process.env.ZCOLL_HOST); setInterval(() => {}, 1000);';
  const child = spawn(process.execPath, [BIN, 'launch', '--config', join(dir, 'gpus.json'), '--port', String(port), '--', process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if ((stdout.match(/cuda=/g) ?? []).length === 2) child.kill('SIGTERM');
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(killer);
  t.match(stdout, /^\[0\] cuda=0 host=gpuhost$/m);
  t.match(stdout, /^\[1\] cuda=1 host=gpuhost$/m);
  t.equal((stdout.match(/got SIGTERM/g) ?? []).length, 2, `both ranks got the signal (stdout: ${stdout} stderr: ${stderr})`);
  t.not(code, null, 'the launcher exited by itself');
});

/** A pid that no longer runs: no such process, or a zombie nobody reaped yet (it runs nothing). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

t.test('SIGKILL of the launcher: its ranks exit by themselves (ZCOLL_LAUNCHER_PID, watchLauncher)', async (t) => {
  const port = await quietPort();
  const watch = fileURLToPath(new URL('../../lib/cluster/launcher-watch.js', import.meta.url));
  // The rank the lead's init() will be: watch the launcher, exit 1 when it is gone; otherwise sleep.
  const script = `
    import { watchLauncher } from ${JSON.stringify(watch)};
    watchLauncher(process.env, () => process.exit(1));
    console.log('pid=' + process.pid + ' launcher=' + process.env.ZCOLL_LAUNCHER_PID + ' job=' + process.env.ZCOLL_JOB_ID);
    setInterval(() => {}, 1000);`;
  const launcher = spawn(process.execPath, [BIN, 'launch', '-n', '2', '--port', String(port), '--', process.execPath, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const pids: number[] = [];
  t.teardown(() => {
    launcher.kill('SIGKILL');
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  let stdout = '';
  let stderr = '';
  launcher.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const started = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 20_000);
    launcher.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if ((stdout.match(/pid=/g) ?? []).length === 2) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    launcher.on('exit', () => resolve(false));
  });
  t.ok(started, `both ranks started: ${stdout} ${stderr.slice(-1000)}`);
  if (!started) return;
  for (const m of stdout.matchAll(/^\[\d\] pid=(\d+) launcher=(\S+) job=(\S+)$/gm)) {
    pids.push(Number(m[1]));
    t.equal(m[2], String(launcher.pid), 'each rank knows its launcher');
    t.match(m[3], /^[0-9a-f]{32}$/, 'and a fresh 128-bit job id');
  }
  t.equal(pids.length, 2);
  t.equal(new Set([...stdout.matchAll(/job=(\S+)/g)].map((m) => m[1])).size, 1, 'the same job id on both');
  await new Promise((r) => setTimeout(r, 1200));
  t.ok(pids.every((p) => !gone(p)), 'the ranks live while the launcher does');
  launcher.kill('SIGKILL');
  const t0 = Date.now();
  while (!pids.every(gone) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 100));
  t.ok(pids.every(gone), `every rank exited after the launcher was killed (${Date.now() - t0} ms)`);
});

t.test('a job id in the launcher\'s environment is passed on (one job over several hosts shares it)', async (t) => {
  const port = await quietPort();
  const r = await run(['launch', '-n', '2', '--port', String(port), '--', process.execPath, '-e', 'console.log("job=" + process.env.ZCOLL_JOB_ID)'], { ZCOLL_JOB_ID: 'shared-by-every-host' });
  t.equal(r.code, 0, r.stderr);
  t.equal((r.stdout.match(/job=shared-by-every-host$/gm) ?? []).length, 2);
});

t.test('a real training-style script: init, all-reduce a tensor, close', async (t) => {
  const port = await quietPort();
  const script = `
    import * as tf from '@tensorflow/tfjs';
    import { init } from 'zcoll';
    const comm = await init();
    const g = await comm.allReduce(tf.ones([1000]), { op: 'avg' });
    const s = await comm.allReduce(tf.ones([10]).mul(comm.rank + 1), { op: 'sum' });
    console.log('rank', comm.rank, 'of', comm.size, 'avg', g.dataSync()[0], 'sum', s.dataSync()[9]);
    await comm.close();`;
  const r = await run(['launch', '-n', '3', '--port', String(port), '--', process.execPath, '--input-type=module', '-e', script]);
  t.equal(r.code, 0, r.stderr.slice(-2000));
  for (let rank = 0; rank < 3; rank++) t.match(r.stdout, new RegExp(`\\[${rank}\\] rank ${rank} of 3 avg 1 sum 6`));
});

t.test('bench argument errors are clear and start no rank', async (t) => {
  const reversed = await run(['bench', '-b', '8M', '-e', '4K']);
  t.equal(reversed.code, 2);
  t.match(reversed.stderr, /--min-bytes \(8388608\) is larger than --max-bytes \(4096\)/);
  const badSize = await run(['bench', '-b', 'lots']);
  t.equal(badSize.code, 2);
  t.match(badSize.stderr, /"lots" is not a size/);
  const badAlgo = await run(['bench', '-a', 'telepathy']);
  t.not(badAlgo.code, 0);
  t.match(badAlgo.stderr, /telepathy/);
  const noConfig = await run(['bench', '--config', '/nonexistent/cluster.json']);
  t.equal(noConfig.code, 2);
  t.match(noConfig.stderr, /cannot read config file \/nonexistent\/cluster\.json/);
});

t.test('zcoll bench: a small sweep on 2 ranks, every result checked, JSON rows', async (t) => {
  const port = await quietPort();
  const dir = t.testdir({});
  const json = join(dir, 'rows.json');
  const r = await run(['bench', '--ranks', '2', '--port', String(port), '-b', '1K', '-e', '256K', '-f', '4', '-n', '3', '-w', '1', '--json', json]);
  t.equal(r.code, 0, r.stderr.slice(-2000));
  t.match(r.stdout, /#\s+size\s+count\s+type\s+redop\s+time\s+algbw\s+busbw\s+#wrong/);
  t.match(r.stdout, /# Avg bus bandwidth\s+: \d+\.\d+/);
  const { readFileSync } = await import('node:fs');
  const rows = JSON.parse(readFileSync(json, 'utf8')) as Array<Record<string, unknown>>;
  t.same(rows.map((x) => x.size), [1024, 4096, 16384, 65536, 262144]);
  for (const row of rows) {
    t.match(row, { count: (row.size as number) / 4, type: 'float32', redop: 'sum', wrong: 0, time_us: Number, algbw: Number, busbw: Number });
    t.ok((row.busbw as number) > 0 && Math.abs((row.busbw as number) - (row.algbw as number)) < 1e-9, 'busbw = algbw * 2(n-1)/n = algbw for 2 ranks');
  }
});
