// Across machines, for real: two network namespaces are two hosts, each with its own address in
// 198.18.0.0/15 (the benchmarking range, RFC 2544), joined by a veth pair of this test's own and
// nothing else (no route out, nothing attached to the machine's interfaces). The same 2-host config
// on both, `zcoll bench --config F --host hN` in each namespace; both must finish with #wrong 0 over
// tcp:// between the hosts. The namespaces (and with them the veths) are removed pass or fail.
// Also the launcher-environment way: `mpirun -np 2 zcoll bench` when OpenMPI is installed.
// Skipped, with the reason, when not root or `ip` / `mpirun` are missing.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { freePort } from '../helpers/ranks.js';

const MAIN = fileURLToPath(new URL('../../lib/cli/main.js', import.meta.url));

function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The table's data lines' #wrong column. */
function wrongColumn(stdout: string): number[] {
  return stdout
    .split('\n')
    .filter((l) => /^\s+\d/.test(l))
    .map((l) => Number(l.trim().split(/\s+/)[7]));
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const ipPath = which('ip');
const netnsSkip = !isRoot ? 'network namespaces need root' : ipPath === undefined ? '`ip` (iproute2) is not installed' : false;

t.test('two hosts in two network namespaces: zcoll bench --host on each', { skip: netnsSkip }, async (t) => {
  const id = randomBytes(3).toString('hex');
  const ns = [`zcb-${id}-0`, `zcb-${id}-1`];
  const veth = [`zcb${id}a`, `zcb${id}b`]; // <= 15 characters
  const subnet = 1 + (parseInt(id.slice(0, 2), 16) % 254); // 198.18.<subnet>.0/24, random against parallel runs
  const addr = [`198.18.${subnet}.1`, `198.18.${subnet}.2`];
  t.teardown(() => {
    // Deleting a namespace deletes the veth end inside it, and with it the pair.
    for (const n of ns) spawnSync('ip', ['netns', 'del', n]);
    spawnSync('ip', ['link', 'del', veth[0]]); // in case it never left the root namespace
  });
  for (const n of ns) ip(['netns', 'add', n]);
  ip(['link', 'add', veth[0], 'type', 'veth', 'peer', 'name', veth[1]]);
  for (let h = 0; h < 2; h++) {
    ip(['link', 'set', veth[h], 'netns', ns[h]]);
    ip(['-n', ns[h], 'addr', 'add', `${addr[h]}/24`, 'dev', veth[h]]);
    ip(['-n', ns[h], 'link', 'set', veth[h], 'up']);
    ip(['-n', ns[h], 'link', 'set', 'lo', 'up']);
  }
  const routes = spawnSync('ip', ['-n', ns[0], 'route'], { encoding: 'utf8' }).stdout;
  t.notMatch(routes, /default/, 'no route out of the namespace');

  const dir = mkdtempSync(join(tmpdir(), 'zcoll-netns-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'cluster.config.json');
  writeFileSync(
    config,
    JSON.stringify({
      hosts: [
        { name: 'h0', address: addr[0], ranks: 2, gpus: 0 },
        { name: 'h1', address: addr[1], ranks: 1, gpus: 0 },
      ],
      port: 29500,
      timeoutMs: 20000,
    }),
  );
  const env: NodeJS.ProcessEnv = { ...process.env, ZCOLL_TIMEOUT_MS: '20000' };
  for (const k of ['ZCOLL_RANK', 'RANK', 'WORLD_SIZE', 'OMPI_COMM_WORLD_RANK', 'SLURM_PROCID', 'ZCOLL_MASTER_ADDR', 'ZCOLL_MASTER_PORT']) delete env[k];
  const args = (h: number): string[] => ['netns', 'exec', ns[h], process.execPath, MAIN, 'bench', '--config', config, '--host', `h${h}`, '-b', '4K', '-e', '1M', '-f', '16', '-n', '3', '-w', '1', '-q'];
  const [h0, h1] = await Promise.all([run('ip', args(0), env), run('ip', args(1), env)]);
  t.equal(h0.code, 0, `host h0 finished: ${h0.stderr.slice(-1500)}`);
  t.equal(h1.code, 0, `host h1 finished: ${h1.stderr.slice(-1500)}`);
  t.match(h0.stdout, /# zcoll bench allreduce: 3 ranks/, 'rank 0 (on h0) prints the table of the 3-rank world');
  const wrong = wrongColumn(h0.stdout);
  t.same(wrong, [0, 0, 0], 'three sizes, #wrong 0');
  t.match(h0.stdout, /# Out of bounds values : 0 OK/);
});

const mpirun = which('mpirun');
t.test('mpirun -np 2 zcoll bench: ranks from the launcher\'s environment', { skip: mpirun === undefined ? 'mpirun (OpenMPI) is not installed' : false }, async (t) => {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, ZCOLL_TIMEOUT_MS: '20000' };
  for (const k of ['ZCOLL_RANK', 'RANK', 'WORLD_SIZE', 'SLURM_PROCID', 'ZCOLL_MASTER_ADDR', 'ZCOLL_MASTER_PORT']) delete env[k];
  const rootFlags = isRoot ? ['--allow-run-as-root'] : [];
  const r = await run(mpirun!, [...rootFlags, '--oversubscribe', '-np', '2', '-x', `MASTER_PORT=${port}`, '-x', 'ZCOLL_TIMEOUT_MS', process.execPath, MAIN, 'bench', '-b', '4K', '-e', '64K', '-f', '4', '-n', '3', '-w', '1', '-q'], env);
  t.equal(r.code, 0, r.stderr.slice(-1500));
  t.match(r.stdout, /# zcoll bench allreduce: 2 ranks/);
  t.same(wrongColumn(r.stdout), [0, 0, 0]);
});
