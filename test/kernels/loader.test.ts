/**
 * Kernel selection and the fallback path, in real child processes (the choice is made once, at
 * import): a missing .node file falls back to working JS kernels and says so once; ZCOLL_KERNELS
 * forces an implementation and fails with ECONFIG when native is forced but missing; a failed build
 * (scripts/build-native.mjs on a package whose C++ does not compile) still exits 0, records the
 * failure, and the package then runs on JS kernels, silently unless ZCOLL_DEBUG is set.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';
// native.js, not index.js: importing index.js would throw here if the caller set ZCOLL_KERNELS=native.
import { nativeLoad } from '../../lib/kernels/native.js';

const here = dirname(fileURLToPath(import.meta.url));
const compiledLib = join(here, '..', '..', 'lib');
const indexUrl = pathToFileURL(join(compiledLib, 'kernels', 'index.js')).href;

/** The repository root: where scripts/build-native.mjs lives (tap runs from it). */
function repoRoot(): string {
  let dir = here;
  for (let up = 0; up < 8; up++) {
    if (existsSync(join(dir, 'scripts', 'build-native.mjs'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

/** A child that imports the kernels and prints what it got, and a sum computed with them. */
const PROBE = `
const m = await import(process.argv[1]);
const dst = new Float32Array([1, 2, 3]);
m.kernels.reduceInto(dst, new Float32Array([0.5, -4, 1e-3]), 'sum');
console.log(JSON.stringify({ name: m.kernels.name, available: m.nativeKernelsAvailable(), sum: Array.from(dst), reason: m.nativeLoad.reason ?? null, source: m.nativeLoad.source ?? null }));
`;

interface Probe {
  code: number | null;
  stderr: string;
  out: { name: string; available: boolean; sum: number[]; reason: string | null; source: string | null } | undefined;
}

function probe(url: string, env: Record<string, string | undefined>): Probe {
  const childEnv: Record<string, string | undefined> = { ...process.env };
  for (const key of ['ZCOLL_KERNELS', 'ZCOLL_DEBUG', 'ZCOLL_NATIVE_PATH']) delete childEnv[key];
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[key];
    else childEnv[key] = value;
  }
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE, url], { env: childEnv, encoding: 'utf8', timeout: 30_000 });
  const line = r.stdout.trim().split('\n').pop();
  return { code: r.status, stderr: r.stderr, out: line ? JSON.parse(line) : undefined };
}

const expectedSum = [1.5, -2, Math.fround(3 + Math.fround(1e-3))];
const count = (text: string, needle: string) => text.split(needle).length - 1;

t.test('a missing .node file falls back to JS kernels that work, and says so once', async (tt) => {
  const r = probe(indexUrl, { ZCOLL_NATIVE_PATH: '/nonexistent/zcoll_native.node' });
  tt.equal(r.code, 0, r.stderr);
  tt.equal(r.out?.name, 'js');
  tt.equal(r.out?.available, false);
  tt.same(r.out?.sum, expectedSum);
  tt.match(r.out?.reason, /nonexistent\/zcoll_native\.node does not exist/);
  // ZCOLL_NATIVE_PATH makes the addon expected, so the fallback is reported: exactly once.
  tt.equal(count(r.stderr, 'native kernels unavailable'), 1, r.stderr);
});

t.test('ZCOLL_KERNELS=native with the addon missing throws ECONFIG at import', async (tt) => {
  const r = probe(indexUrl, { ZCOLL_NATIVE_PATH: '/nonexistent/zcoll_native.node', ZCOLL_KERNELS: 'native' });
  tt.not(r.code, 0);
  tt.match(r.stderr, /ECONFIG: ZCOLL_KERNELS=native but the native addon is not loaded/);
  tt.equal(r.out, undefined);
});

t.test('ZCOLL_KERNELS rejects unknown values', async (tt) => {
  const r = probe(indexUrl, { ZCOLL_KERNELS: 'fast' });
  tt.not(r.code, 0);
  tt.match(r.stderr, /ECONFIG: ZCOLL_KERNELS must be 'js', 'native' or 'auto' \(got "fast"\)/);
});

t.test('ZCOLL_KERNELS=js forces JS even when native is there, silently', async (tt) => {
  const r = probe(indexUrl, { ZCOLL_KERNELS: 'js', ZCOLL_NATIVE_PATH: process.env.ZCOLL_NATIVE_PATH });
  tt.equal(r.code, 0, r.stderr);
  tt.equal(r.out?.name, 'js');
  tt.same(r.out?.sum, expectedSum);
  tt.equal(r.stderr, '');
});

t.test('native is the default when built', { skip: nativeLoad.loaded ? false : `native addon not built: ${nativeLoad.reason}` }, async (tt) => {
  for (const forced of [undefined, 'native', 'auto']) {
    const r = probe(indexUrl, { ZCOLL_KERNELS: forced, ZCOLL_NATIVE_PATH: process.env.ZCOLL_NATIVE_PATH });
    tt.equal(r.code, 0, r.stderr);
    tt.equal(r.out?.name, 'native', `ZCOLL_KERNELS=${forced}`);
    tt.same(r.out?.sum, expectedSum);
    tt.equal(r.stderr, '');
  }
});

/** Only what lib/kernels/index.js imports, and the dependencies (node-gyp-build) as installed. */
function copyKernelsLib(pkg: string): void {
  cpSync(join(compiledLib, 'kernels'), join(pkg, 'dist', 'lib', 'kernels'), { recursive: true });
  for (const file of ['errors.js', 'dtype.js']) cpSync(join(compiledLib, file), join(pkg, 'dist', 'lib', file));
  symlinkSync(join(repoRoot(), 'node_modules'), join(pkg, 'node_modules'), 'dir');
}

t.test('a failed build never fails the install, and the package then runs on JS kernels', async (tt) => {
  const pkg = mkdtempSync(join(tmpdir(), 'zcoll-failed-build-'));
  tt.teardown(() => rmSync(pkg, { recursive: true, force: true }));
  // A package laid out like the real one: the real build script, a binding whose C++ cannot compile.
  mkdirSync(join(pkg, 'scripts'));
  cpSync(join(repoRoot(), 'scripts', 'build-native.mjs'), join(pkg, 'scripts', 'build-native.mjs'));
  mkdirSync(join(pkg, 'native-bindings', 'src'), { recursive: true });
  writeFileSync(
    join(pkg, 'native-bindings', 'binding.gyp'),
    JSON.stringify({ targets: [{ target_name: 'zcoll_native', sources: ['src/broken.cc'] }] }),
  );
  writeFileSync(join(pkg, 'native-bindings', 'src', 'broken.cc'), '#error "this addon does not compile"\n');
  copyKernelsLib(pkg);

  const env = { ...process.env };
  delete env.ZCOLL_DEBUG;
  delete env.ZCOLL_SKIP_NATIVE;
  const build = spawnSync(process.execPath, [join(pkg, 'scripts', 'build-native.mjs')], { cwd: pkg, env, encoding: 'utf8', timeout: 120_000 });
  tt.equal(build.status, 0, 'build-native.mjs exits 0');
  tt.match(build.stderr, /zcoll: native addon not built \(.+\); using JS kernels/);
  tt.equal(count(build.stderr, 'native addon not built'), 1, 'said once');
  const status = JSON.parse(readFileSync(join(pkg, 'native-bindings', 'build', 'zcoll-build.json'), 'utf8')) as { ok: boolean; reason: string };
  tt.equal(status.ok, false);
  tt.type(status.reason, 'string');
  tt.notOk(existsSync(join(pkg, 'native-bindings', 'build', 'Release', 'zcoll_native.node')));

  const pkgIndex = pathToFileURL(join(pkg, 'dist', 'lib', 'kernels', 'index.js')).href;
  const quiet = probe(pkgIndex, {});
  tt.equal(quiet.code, 0, quiet.stderr);
  tt.equal(quiet.out?.name, 'js');
  tt.same(quiet.out?.sum, expectedSum);
  tt.equal(quiet.stderr, '', 'the install already said it; run time stays quiet');
  const debug = probe(pkgIndex, { ZCOLL_DEBUG: '1' });
  tt.equal(debug.out?.name, 'js');
  tt.equal(count(debug.stderr, 'native kernels unavailable'), 1, 'ZCOLL_DEBUG: reported once');
});

interface BuildHelpers {
  sourcesHash(dir: string): string;
  fileSha256(path: string): string;
}

t.test(
  'the install takes a prebuild made from the same sources without compiling, and compiles when the sources changed',
  { skip: nativeLoad.loaded ? false : `native addon not built: ${nativeLoad.reason}` },
  async (tt) => {
    const pkg = mkdtempSync(join(tmpdir(), 'zcoll-prebuild-choice-'));
    tt.teardown(() => rmSync(pkg, { recursive: true, force: true }));
    mkdirSync(join(pkg, 'scripts'));
    cpSync(join(repoRoot(), 'scripts', 'build-native.mjs'), join(pkg, 'scripts', 'build-native.mjs'));
    const bindings = join(pkg, 'native-bindings');
    mkdirSync(join(bindings, 'src'), { recursive: true });
    // Sources that cannot compile: a status ok afterwards can only come from the prebuild.
    writeFileSync(join(bindings, 'binding.gyp'), JSON.stringify({ targets: [{ target_name: 'zcoll_native', sources: ['src/broken.cc'] }] }));
    writeFileSync(join(bindings, 'src', 'broken.cc'), '#error "this addon does not compile"\n');
    const helpers = (await import(pathToFileURL(join(pkg, 'scripts', 'build-native.mjs')).href)) as BuildHelpers;
    const libc = process.platform === 'linux' ? '.glibc' : '';
    const prebuildDir = join(bindings, 'prebuilds', `${process.platform}-${process.arch}`);
    mkdirSync(prebuildDir, { recursive: true });
    const prebuild = join(prebuildDir, `node.napi${libc}.node`);
    cpSync(nativeLoad.path ?? '', prebuild);
    writeFileSync(join(prebuildDir, 'manifest.json'), JSON.stringify({ sources: helpers.sourcesHash(bindings), sha256: helpers.fileSha256(prebuild) }));
    copyKernelsLib(pkg);

    const env: NodeJS.ProcessEnv = { ...process.env, ZCOLL_DEBUG: '1' };
    for (const key of ['ZCOLL_SKIP_NATIVE', 'ZCOLL_BUILD_FROM_SOURCE', 'ZCOLL_NATIVE_BASELINE', 'npm_config_build_from_source', 'ZCOLL_NATIVE_PATH']) delete env[key];
    const install = () => spawnSync(process.execPath, [join(pkg, 'scripts', 'build-native.mjs')], { cwd: pkg, env, encoding: 'utf8', timeout: 120_000 });
    const statusFile = join(bindings, 'build', 'zcoll-build.json');

    const fresh = install();
    tt.equal(fresh.status, 0);
    tt.equal(fresh.stderr, '', 'nothing compiled, nothing to report');
    tt.match(JSON.parse(readFileSync(statusFile, 'utf8')), { ok: true, source: 'prebuild' });
    tt.notOk(existsSync(join(bindings, 'build', 'Release')), 'no source build');
    const pkgIndex = pathToFileURL(join(pkg, 'dist', 'lib', 'kernels', 'index.js')).href;
    const run = probe(pkgIndex, {});
    tt.equal(run.code, 0, run.stderr);
    tt.match(run.out, { name: 'native', source: 'prebuild', sum: expectedSum });

    // Edited C++ (a checkout, or a patched package): the prebuild is stale, so the install compiles.
    appendFileSync(join(bindings, 'src', 'broken.cc'), '// edited\n');
    const stale = install();
    tt.equal(stale.status, 0);
    tt.match(stale.stderr, /building the addon from source: prebuild .* was built from other sources \(stale\)/);
    tt.match(stale.stderr, /native addon not built \(node-gyp exited/);
    tt.match(JSON.parse(readFileSync(statusFile, 'utf8')), { ok: false });

    // The same with the sources unchanged but a build from source asked for.
    writeFileSync(join(bindings, 'src', 'broken.cc'), '#error "this addon does not compile"\n');
    const forced = spawnSync(process.execPath, [join(pkg, 'scripts', 'build-native.mjs')], { cwd: pkg, env: { ...env, ZCOLL_BUILD_FROM_SOURCE: '1' }, encoding: 'utf8', timeout: 120_000 });
    tt.match(forced.stderr, /native addon not built/);
    tt.equal(install().stderr, '', 'and back to the prebuild without it');
  },
);
