// bench/hosts-netns at a tiny size: 2 emulated hosts x 2 ranks (network namespaces, shaped links
// into a bridge), hierarchical and ring. The bench checks every result (#wrong 0, exit 0); this
// test reads its JSON and checks what the links carried (`ip -s link`): the host-aware schedule puts
// about 1 D on each host's link per direction (the minimum; headers and acks on top), the ring about
// 1.5 D. Also: nothing is left behind (namespaces removed). Skipped, with the reason, when not root
// or `ip` / `tc` are missing.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Test } from 'tap';

const BENCH = fileURLToPath(new URL('../../bench/hosts-netns.js', import.meta.url));

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot ? 'network namespaces need root' : !which('ip') || !which('tc') ? '`ip` / `tc` (iproute2) is not installed' : false;

interface Report {
  bound: number;
  warmup: number;
  steeringFailures: string[];
  rows: Array<{ algorithm: string; size: number; busbwMBs: number; wrong: number }>;
  links: Array<{ algorithm: string; txPerD: number[]; rxPerD: number[]; retransmits: number[] }>;
}

t.test('hosts-netns: 2 hosts x 2, hierarchical puts ~1 D on each link per direction, ring ~1.5 D', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-hosts-bench-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const json = join(dir, 'report.json');
  const before = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  const child = spawn(process.execPath, [BENCH, '--hosts', '2', '--ranks', '2', '--rate', '1gbit', '--sizes', '1M', '--iters', '1', '--algorithms', 'hierarchical,ring', '--json', json], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGTERM'), 240_000);
  const code = await new Promise<number | null>((done) => child.on('close', done));
  clearTimeout(killer);
  t.equal(code, 0, `bench exits 0 ${code === 0 ? '' : stderr.slice(-1500)}`);
  t.match(stdout, /\| 1 MiB \| [\d.]+ \| [\d.]+ \| [\d.]+ \|/, 'prints the busbw table with the bound');
  const report = JSON.parse(readFileSync(json, 'utf8')) as Report;
  t.equal(report.rows.length, 2);
  t.ok(report.rows.every((r) => r.wrong === 0 && r.busbwMBs > 0), 'every result checked right');
  t.ok(Math.abs(report.bound - 1.5 * 125e6) < 1, 'bound 1.5 R');
  // Bytes per D divide by every iteration run, warm-up included (5 by default, as every program runs).
  t.equal(report.warmup, 5, 'default warm-up: 5 iterations');
  // Receive steering keeps each emulated flow in order; without it the kernel's veth reorders
  // packets and TCP retransmits thousands of segments per run.
  t.same(report.steeringFailures, [], 'each link end receives on one CPU (rps_cpus written and read back)');
  t.match(stdout, /Each link end receives on one CPU/, 'the report says the links are steered');
  t.ok(report.links.every((l) => l.retransmits.every((r) => Number.isInteger(r) && r >= 0)), 'retransmitted segments are counted per host');
  const link = (a: string): Report['links'][number] => report.links.find((l) => l.algorithm === a)!;
  for (const per of [...link('hierarchical').txPerD, ...link('hierarchical').rxPerD]) t.ok(per >= 0.98 && per < 1.2, `hierarchical: ${per.toFixed(3)} D on a link direction`);
  for (const per of [...link('ring').txPerD, ...link('ring').rxPerD]) t.ok(per >= 1.48 && per < 1.75, `ring: ${per.toFixed(3)} D on a link direction`);
  const after = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  t.same(after.split('\n').filter((l) => /^zh\d+/.test(l) && !before.includes(l)), [], 'namespaces removed');
});

/** Runs the bench (2 hosts x 2 at 1 Gbit/s, 1 MiB, one iteration) with `extra`; its exit code, stderr tail and JSON report. */
async function runBench(t: Test, extra: string[]): Promise<{ code: number | null; stderr: string; report: Report | undefined }> {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-hosts-bench-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const json = join(dir, 'report.json');
  const child = spawn(process.execPath, [BENCH, '--hosts', '2', '--ranks', '2', '--rate', '1gbit', '--sizes', '1M', '--iters', '1', ...extra, '--json', json], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const killer = setTimeout(() => child.kill('SIGTERM'), 240_000);
  const code = await new Promise<number | null>((done) => child.on('close', done));
  clearTimeout(killer);
  let report: Report | undefined;
  try {
    report = JSON.parse(readFileSync(json, 'utf8')) as Report;
  } catch {
    report = undefined;
  }
  return { code, stderr: stderr.slice(-1500), report };
}

t.test('hosts-netns --collective: reduce-scatter and all-gather, hierarchical ~0.5 D on each link per direction, ring ~0.75 D', { skip }, async (t) => {
  for (const collective of ['reducescatter', 'allgather']) {
    const { code, stderr, report: got } = await runBench(t, ['--algorithms', 'hierarchical,ring', '--collective', collective]);
    t.equal(code, 0, `${collective}: bench exits 0 ${code === 0 ? '' : stderr}`);
    if (got === undefined) return t.fail(`${collective}: no JSON report`);
    const report = got;
    t.ok(report.rows.length === 2 && report.rows.every((r) => r.wrong === 0 && r.busbwMBs > 0), `${collective}: every result checked right`);
    t.ok(Math.abs(report.bound - 1.5 * 125e6) < 1, `${collective}: bound 1.5 R (0.5 D per direction at (n-1)/n busbw)`);
    const link = (a: string): Report['links'][number] => report.links.find((l) => l.algorithm === a)!;
    for (const per of [...link('hierarchical').txPerD, ...link('hierarchical').rxPerD]) t.ok(per >= 0.49 && per < 0.62, `${collective} hierarchical: ${per.toFixed(3)} D on a link direction`);
    for (const per of [...link('ring').txPerD, ...link('ring').rxPerD]) t.ok(per >= 0.74 && per < 0.9, `${collective} ring: ${per.toFixed(3)} D on a link direction`);
  }
});

t.test("hosts-netns --collective signsgd: each mode's vote checked; 'reduce' and 'server' put half of 'allgather''s bytes on a host's link", { skip }, async (t) => {
  const { code, stderr, report } = await runBench(t, ['--collective', 'signsgd']);
  t.equal(code, 0, `bench exits 0 ${code === 0 ? '' : stderr}`);
  if (report === undefined) return t.fail('no JSON report');
  t.same(report.rows.map((r) => r.algorithm), ['allgather', 'server', 'reduce'], 'the three modes by default');
  t.ok(report.rows.every((r) => r.wrong === 0 && r.busbwMBs > 0), 'every vote checked right');
  // Per byte of float32 gradient (D = 4d): 'allgather' sends each rank's d/8 to the 2 remote ranks,
  // 2 ranks per host: d/2 = D/8 per direction; 'reduce' (all-to-all of d/32 chunks, then the chunk
  // votes) and 'server' (2 workers up, the vote down to 2) D/16. Headers and acks on top.
  const link = (a: string): Report['links'][number] => report.links.find((l) => l.algorithm === a)!;
  for (const per of [...link('allgather').txPerD, ...link('allgather').rxPerD]) t.ok(per >= 0.124 && per < 0.15, `allgather: ${per.toFixed(4)} D on a link direction`);
  for (const mode of ['reduce', 'server']) for (const per of [...link(mode).txPerD, ...link(mode).rxPerD]) t.ok(per >= 0.062 && per < 0.08, `${mode}: ${per.toFixed(4)} D on a link direction`);
});
