/**
 * The npm package as a user gets it: `npm pack` of this checkout (after scripts/prebuild.mjs, which
 * `npm pack` runs itself as prepack), its file list, then an install of the tarball with
 * --ignore-scripts (pnpm's default) into a fresh project, which must still load the native kernels
 * from the shipped prebuild on linux-x64, import as ESM and through require(), and answer
 * `zcoll bench --plot` without vega (an optional peer dependency, so not installed) with the
 * command to install it. npm takes the dependencies from its cache first (--prefer-offline).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const here = dirname(fileURLToPath(import.meta.url));

function repoRoot(): string {
  let dir = here;
  for (let up = 0; up < 8; up++) {
    if (existsSync(join(dir, 'scripts', 'prebuild.mjs'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

const root = repoRoot();
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const prebuiltHere = process.platform === 'linux' && process.arch === 'x64';

function run(cmd: string, args: readonly string[], cwd: string, timeoutMs = 120_000): SpawnSyncReturns<string> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of ['ZCOLL_NATIVE_PATH', 'ZCOLL_KERNELS', 'ZCOLL_DEBUG', 'ZCOLL_SKIP_NATIVE']) delete env[key];
  return spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
}

const PROBE_ESM = `
import * as z from 'zcoll';
const dst = new Float32Array([0.1, -2.5, 3e-3, 7]);
z.kernels.reduceInto(dst, new Float32Array([0.2, 1.25, -1e-3, 1 / 3]), 'sum');
console.log(JSON.stringify({ kernels: z.kernels.name, load: z.nativeLoad, sum: Array.from(dst) }));
`;
const PROBE_CJS = `
const z = require('zcoll');
console.log(JSON.stringify({ kernels: z.kernels.name, native: z.nativeKernelsAvailable(), communicator: typeof z.Communicator, requireModule: process.features.require_module === true }));
`;

t.test('npm pack ships the prebuild and the library, no build objects or tests; the tarball installs with --ignore-scripts', async (tt) => {
  const work = mkdtempSync(join(tmpdir(), 'zcoll-pack-'));
  tt.teardown(() => rmSync(work, { recursive: true, force: true }));

  const prebuild = run(process.execPath, [join(root, 'scripts', 'prebuild.mjs')], root, 300_000);
  tt.equal(prebuild.status, 0, `prebuild.mjs: ${prebuild.stderr}`);
  // --ignore-scripts: prepack (the prebuild, just run) and prepare (tsc; the tests run over its output) are done.
  const pack = run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', work], root);
  tt.equal(pack.status, 0, pack.stderr);
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  if (info === undefined) return;
  const files = info.files.map((f) => f.path);

  tt.ok(files.includes('dist/lib/index.js') && files.includes('dist/lib/index.d.ts'), 'the compiled library');
  tt.ok(files.includes('bin/zcoll.js'), 'the command');
  tt.ok(files.includes('cluster.config.json') && files.includes('cluster.config.schema.json'), 'the default config and its schema');
  tt.ok(files.includes('native-bindings/binding.gyp') && files.includes('native-bindings/src/addon.cc'), 'the sources for the fallback build');
  tt.ok(files.includes('scripts/build-native.mjs'), 'the install script');
  if (prebuiltHere) {
    tt.ok(files.includes('native-bindings/prebuilds/linux-x64/node.napi.glibc.node'), 'the linux-x64 prebuild');
    tt.ok(files.includes('native-bindings/prebuilds/linux-x64/manifest.json'), 'and its manifest');
  }
  tt.same(files.filter((f) => f.startsWith('native-bindings/build/')), [], 'nothing of a local build/');
  tt.same(files.filter((f) => /(^|\/)(Makefile|config\.gypi)$|\.(o|mk|a)$/.test(f)), [], 'no object files or Makefiles');
  tt.same(files.filter((f) => /(^|\/)test\/|\.test\.(js|ts|d\.ts)$|(^|\/)fixtures\//.test(f)), [], 'no tests');
  tt.same(files.filter((f) => f.startsWith('bench/') || f.startsWith('dist/bench/')), [], 'no benchmarks');

  const project = join(work, 'app');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'zcoll-consumer', version: '1.0.0', private: true }));
  const install = run(npm, ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', join(work, info.filename)], project, 300_000);
  tt.equal(install.status, 0, install.stderr);
  const installed = join(project, 'node_modules', 'zcoll');
  tt.ok(existsSync(join(installed, 'dist', 'lib', 'index.js')), 'zcoll is installed');
  tt.notOk(existsSync(join(installed, 'native-bindings', 'build')), 'no install script ran: nothing was compiled');
  tt.notOk(existsSync(join(project, 'node_modules', 'vega')) || existsSync(join(project, 'node_modules', 'vega-lite')), 'vega and vega-lite are not installed');

  const esm = run(process.execPath, ['--input-type=module', '-e', PROBE_ESM], project);
  tt.equal(esm.status, 0, esm.stderr);
  const probe = JSON.parse(esm.stdout.trim()) as { kernels: string; load: { loaded: boolean; source?: string; path?: string }; sum: number[] };
  const reference = [0.1, -2.5, 3e-3, 7].map((x, i) => Math.fround(Math.fround(x) + Math.fround([0.2, 1.25, -1e-3, 1 / 3][i] ?? 0)));
  tt.same(probe.sum, reference, 'the kernels compute the float32 sum');
  if (prebuiltHere) {
    tt.equal(probe.kernels, 'native', `native kernels loaded: ${JSON.stringify(probe.load)}`);
    tt.equal(probe.load.source, 'prebuild');
    tt.match(probe.load.path, /node_modules\/zcoll\/native-bindings\/prebuilds\/linux-x64\/node\.napi\.glibc\.node$/);
    tt.equal(esm.stderr, '', 'quietly');
  }

  const cjs = run(process.execPath, ['-e', PROBE_CJS], project);
  tt.equal(cjs.status, 0, `require('zcoll'): ${cjs.stderr}`);
  const required = JSON.parse(cjs.stdout.trim() || '{}') as { kernels?: string; native?: boolean; communicator?: string; requireModule?: boolean };
  tt.equal(required.requireModule, true, `this Node.js (${process.version}) loads ES modules with require()`);
  tt.equal(required.communicator, 'function', 'require() gives the whole API');
  if (prebuiltHere) tt.equal(required.kernels, 'native');

  const svg = join(project, 'out.svg');
  const plot = run(process.execPath, [join(installed, 'bin', 'zcoll.js'), 'bench', '--ranks', '2', '-q', '--plot', svg], project, 60_000);
  tt.equal(plot.status, 2, `exit code 2 (ECONFIG): ${plot.stderr}`);
  tt.match(plot.stderr, /ECONFIG: \[plot\] --plot needs the packages vega and vega-lite, which are not installed .*npm install vega@\^6\.4\.0 vega-lite@\^6\.4\.3/);
  tt.notOk(existsSync(svg), 'no plot, and no benchmark ran for it');
});
