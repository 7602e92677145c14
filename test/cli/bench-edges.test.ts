// The edges of the zcoll command (issue 18, smaller items): a bare `zcoll` prints its usage and
// exits 1 instead of starting a long bench; `-b` alone above the default `-e` runs from b (and says
// so); a sweep too large for this machine's memory fails before any rank starts, with the numbers;
// a rank killed by SIGKILL is explained (out of memory), not only reported.
import { execFileSync, spawn } from 'node:child_process';
import t from 'tap';
import { sigkillNote } from '../../lib/cli/bench.js';
import { ZCOLL_MAIN, runCli, type CliRun } from '../helpers/cli.js';
import { quietPort } from '../helpers/ranks.js';

function run(args: string[]): Promise<CliRun> {
  return runCli(args, { env: { ZCOLL_TIMEOUT_MS: '20000' }, killAfterMs: 60_000 });
}

t.test('a bare zcoll prints its usage and exits 1', async (t) => {
  const r = await run([]);
  t.equal(r.code, 1, r.stderr);
  t.match(r.stdout, /zcoll bench \[collective\]/);
  t.match(r.stdout, /zcoll launch/);
  t.ok(r.ms < 20_000, `no bench started (${r.ms} ms)`);
});

t.test('flags without a command name the commands', async (t) => {
  const r = await run(['-q']);
  t.equal(r.code, 2);
  t.match(r.stderr, /name a command: bench, report, launch, topo or keys/);
  t.equal(r.stdout, '');
});

t.test('-b alone above the default -e takes e = b and says so', async (t) => {
  const r = await run(['bench', 'signsgd', '-b', '8M', '--ranks', '2', '--port', String(await quietPort()), '-n', '1', '-w', '0', '-q']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /-b 8M is larger than the default -e 4M of signsgd: taking -e 8M/);
  const rows = r.stdout.split('\n').filter((l) => /^\s+\d/.test(l));
  t.equal(rows.length, 1, 'one size');
  t.match(rows[0], /^\s+8388608\s/);
  t.match(r.stdout, /# Out of bounds values : 0 OK/);
  const both = await run(['bench', 'signsgd', '-b', '8M', '-e', '4M']);
  t.equal(both.code, 2, 'an explicit -e below -b is still an error');
  t.match(both.stderr, /--min-bytes \(8388608\) is larger than --max-bytes \(4194304\)/);
});

t.test('a sweep larger than memory fails up front, with the numbers', async (t) => {
  const r = await run(['bench', 'robust', '-b', '4096G', '-e', '4096G', '--ranks', '4']);
  t.equal(r.code, 2);
  t.match(r.stderr, /-e\/--max-bytes 4\.0 TiB: robust over 4 ranks holds at least 32\.0 TiB per rank at that size, 128\.0 TiB for the 4 ranks of this host, and [\d.]+ [KMGT]?i?B of memory is available/);
  t.equal(r.stdout, '', 'no rank started');
});

t.test('a SIGKILLed rank is explained', async (t) => {
  const launcher = spawn(process.execPath, [ZCOLL_MAIN, 'bench', '--ranks', '2', '--port', String(await quietPort()), '-b', '4K', '-e', '4K', '-n', '1000000', '-w', '0', '-q'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ZCOLL_TIMEOUT_MS: '20000' },
  });
  t.teardown(() => void launcher.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  launcher.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  launcher.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((done) => launcher.on('close', done));
  // The header is printed once the ranks have met: then kill rank 1 (a child of the launcher).
  for (let i = 0; i < 300 && !/# +size/.test(stdout); i++) await new Promise((r) => setTimeout(r, 100));
  t.match(stdout, /# +size/, 'the ranks started');
  const ranks = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(launcher.pid)], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(ZCOLL_MAIN))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
  t.equal(ranks.length, 2, 'two rank processes');
  process.kill(ranks[1], 'SIGKILL');
  const code = await exited;
  t.not(code, 0);
  t.match(stderr, /was killed by SIGKILL/);
  t.match(stderr, /zcoll bench: rank \d was killed by SIGKILL, which no zcoll process sends first: most likely the kernel's out-of-memory killer \(see dmesg\); the largest size needs at least 8\.0 KiB per rank/);
});

t.test('the OOM note says out of memory when the cgroup counted an OOM kill', async (t) => {
  const m = { perRank: 2 * 1024 ** 3, need: 4 * 1024 ** 3, available: 3 * 1024 ** 3 };
  t.match(sigkillNote(1, 4, 5, m), /^rank 1 ran out of memory: the kernel's OOM killer killed 1 process\(es\) of this cgroup during the run; the largest size needs at least 2\.0 GiB per rank \(4\.0 GiB on this host; 3\.0 GiB was available at the start\): lower -e or the ranks$/);
  t.match(sigkillNote(1, 5, 5, m), /most likely the kernel's out-of-memory killer/);
  t.match(sigkillNote(1, undefined, undefined, m), /most likely the kernel's out-of-memory killer/);
});
