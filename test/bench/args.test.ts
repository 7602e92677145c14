// Every script of bench/ speaks one argument parser (bench/args.ts): `--help` prints its usage and
// exits 0 at once, a mistyped option fails with a message naming it (exit 2) before anything runs,
// and an output whose default is a file in bench/results/ goes to a fresh file when that one exists.
// The scripts are found by listing bench/: a new script is covered as soon as it exists (helpers
// that are not scripts are named below, with why).
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { numberListArg, outputPath } from '../../bench/args.js';
import { runCli, type CliRun } from '../helpers/cli.js';

const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench');
const NOT_SCRIPTS: Record<string, string> = {
  'args.js': 'the parser itself',
  'netns.js': 'the namespace tools of hosts-netns and torus-netns',
  'robust-rows.js': 'a module of robust-experiment',
  'memory-worker.js': 'a rank of memory.js, started with positional arguments',
  'peers-zcoll-worker.js': 'a rank of peers.js, started with positional arguments',
  'latency-phases-worker.js': 'a rank of latency-phases.js, started with positional arguments',
  'wait-cpu-worker.js': 'a rank of wait-cpu.js, started with positional arguments',
  'local-ranks.js': 'the launcher of latency-phases and wait-cpu',
  'peers-programs.js': 'a module of peers.js (its columns)',
};
const scripts = readdirSync(BENCH)
  .filter((f) => f.endsWith('.js') && NOT_SCRIPTS[f] === undefined)
  .sort();

function node(script: string, args: string[]): Promise<CliRun> {
  // ZCOLL_RANK unset: a script that ignored its arguments would start its ranks; the kill bounds it.
  return runCli([join(BENCH, script), ...args], { command: process.execPath, killAfterMs: 20_000 });
}

t.ok(scripts.length >= 14, `${scripts.length} bench scripts: ${scripts.join(', ')}`);

// Two at a time (2 cores); each script twice.
const jobs = scripts.flatMap((s) => [
  [s, ['--help']],
  [s, ['--typo-option', '1']],
] as const);
const results = new Map<string, Promise<CliRun>>();
const pending = [...jobs];
const lane = async (): Promise<void> => {
  for (let j = pending.shift(); j !== undefined; j = pending.shift()) {
    const p = node(j[0], [...j[1]]);
    results.set(`${j[0]} ${j[1][0]}`, p);
    await p;
  }
};
const lanes = Promise.all([lane(), lane()]);
t.teardown(() => lanes);

async function result(key: string): Promise<CliRun> {
  while (!results.has(key)) await new Promise((r) => setTimeout(r, 20));
  return results.get(key)!;
}

for (const s of scripts) {
  const name = s.replace(/\.js$/, '');
  t.test(`${name} --help`, async (t) => {
    const r = await result(`${s} --help`);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, new RegExp(`^usage: node dist/bench/${name}\\.js \\[options\\]\\n`));
    t.match(r.stdout, /--help +print this and exit/);
  });
  t.test(`${name} --typo-option`, async (t) => {
    const r = await result(`${s} --typo-option`);
    t.equal(r.code, 2, `exit 2 (stdout: ${r.stdout.slice(0, 200)})`);
    t.match(r.stderr, new RegExp(`^${name}: Unknown option '--typo-option'`));
    t.match(r.stderr, /usage: node dist\/bench\//);
    t.equal(r.stdout, '', 'nothing ran');
  });
}

t.test('outputs never replace an existing default file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zcoll-bench-args-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dflt = join(dir, 'peers.md');
  const now = new Date('2031-02-03T04:05:06Z');
  t.equal(outputPath(undefined, dflt, now), dflt, 'the default while nothing is there');
  writeFileSync(dflt, 'committed');
  t.equal(outputPath(undefined, dflt, now), join(dir, 'peers-20310203-040506.md'), 'a fresh sibling once it exists');
  writeFileSync(join(dir, 'peers-20310203-040506.md'), 'earlier run');
  t.equal(outputPath(undefined, dflt, now), join(dir, 'peers-20310203-040506-2.md'));
  t.equal(outputPath(dflt, dflt, now), dflt, 'a path given is used as is');
});

t.test('a bad number names its option', async (t) => {
  t.same(numberListArg('x', 'ranks', '2,4', [1]), [2, 4]);
  t.same(numberListArg('x', 'ranks', undefined, [1]), [1]);
  const r = await node('sign-kernels.js', ['--reps', 'five']);
  t.equal(r.code, 2);
  t.match(r.stderr, /sign-kernels: --reps must be a number, got 'five'/);
});
