// issue 18 item 4: a Byzantine `zcoll bench` exits with the code of what it prints. Real ranks, real
// attacks at the outbox seam: a robust rule within its stated bound prints OK and exits 0; the mean
// under the same attack states no bound, prints FAILED and exits 2; a majority vote under a sign-flip
// is held to the coordinates the honest ranks decide, and passes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { quietPort } from '../helpers/ranks.js';
import { runCli, type CliRun } from '../helpers/cli.js';

async function bench(args: string[]): Promise<CliRun> {
  const base = ['--ranks', '4', '--port', String(await quietPort()), '-b', '4K', '-e', '4K', '-n', '2', '-w', '1', '-q'];
  return runCli(['bench', ...args, ...base], { env: { ZCOLL_TIMEOUT_MS: '20000' }, killAfterMs: 60_000 });
}

/** The dist/bnd column of each table row. */
function ratios(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((l) => /^\s+\d/.test(l))
    .map((l) => l.trim().split(/\s+/).at(-1)!);
}

t.test('median under a Gaussian attack: within its bound, OK, exit 0', async (t) => {
  const r = await bench(['robust', '--aggregator', 'median', '--byzantine', 'gaussian:ranks=2,sigma=10']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /median kappa = 9\.000 \(n = 4, f = 1\)/);
  t.match(r.stdout, /# Out of bounds values : 0 OK/);
  const rs = ratios(r.stdout);
  t.ok(rs.length === 1 && Number(rs[0]) > 0 && Number(rs[0]) <= 1, `distance / bound ${rs.join(', ')}`);
});

t.test('mean under the same attack: no bound, FAILED, exit 2 (and zcoll report of it too)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-bench-byz-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const json = join(dir, 'mean.json');
  const r = await bench(['robust', '--aggregator', 'mean', '--byzantine', 'gaussian:ranks=2,sigma=10', '--json', json]);
  t.equal(r.code, 2, r.stderr);
  t.match(r.stdout, /mean: no bound/);
  // Every honest rank's result (3 ranks x 2 iterations x 1024 elements) counts as wrong.
  t.match(r.stdout, /# Out of bounds values : 6144 FAILED/);
  t.same(ratios(r.stdout), ['inf']);
  const rep = await runCli(['report', json]);
  t.equal(rep.code, 2, 'zcoll report of a FAILED run exits 2');
  t.match(rep.stdout, /# Out of bounds values : 6144 FAILED/);
});

t.test('signsgd allgather under a sign-flip: the honest-decided coordinates are right, exit 0', async (t) => {
  const r = await bench(['signsgd', '--byzantine', 'signflip:ranks=1']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /honest margin > 1/);
  t.match(r.stdout, /# Out of bounds values : 0 OK/);
});
