/**
 * The code an older x86-64 CPU runs: builds the addon a second time with ZCOLL_NATIVE_BASELINE=1
 * (no AVX2 clones, SSE2 signPack) through the real scripts/build-native.mjs in a temporary copy,
 * then runs the whole contract suite (contract.test.js) and Signum's passes (signum-passes.test.js) against that build. On this AVX2 machine
 * the normal build only exercises the AVX2 variants; this covers the default ones.
 * Skipped when the normal addon is not built (no toolchain here).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { nativeLoad } from '../../lib/kernels/native.js';

const here = dirname(fileURLToPath(import.meta.url));

function repoRoot(): string {
  let dir = here;
  for (let up = 0; up < 8; up++) {
    if (existsSync(join(dir, 'native-bindings', 'binding.gyp'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

const skip = nativeLoad.loaded ? false : `native addon not built: ${nativeLoad.reason}`;

t.test('baseline (non-AVX2) build passes the whole contract suite', { skip }, async (tt) => {
  const root = repoRoot();
  const pkg = mkdtempSync(join(tmpdir(), 'zcoll-baseline-'));
  tt.teardown(() => rmSync(pkg, { recursive: true, force: true }));
  mkdirSync(join(pkg, 'scripts'));
  cpSync(join(root, 'scripts', 'build-native.mjs'), join(pkg, 'scripts', 'build-native.mjs'));
  mkdirSync(join(pkg, 'native-bindings'));
  cpSync(join(root, 'native-bindings', 'binding.gyp'), join(pkg, 'native-bindings', 'binding.gyp'));
  cpSync(join(root, 'native-bindings', 'src'), join(pkg, 'native-bindings', 'src'), { recursive: true });

  // NODE_PATH lets binding.gyp find node-addon-api from the temporary copy.
  const env = { ...process.env, ZCOLL_NATIVE_BASELINE: '1', ZCOLL_DEBUG: '1', NODE_PATH: join(root, 'node_modules') };
  const build = spawnSync(process.execPath, [join(pkg, 'scripts', 'build-native.mjs')], { cwd: pkg, env, encoding: 'utf8', timeout: 180_000 });
  tt.equal(build.status, 0);
  const status = JSON.parse(readFileSync(join(pkg, 'native-bindings', 'build', 'zcoll-build.json'), 'utf8')) as { ok: boolean; reason?: string };
  tt.equal(status.ok, true, `baseline build: ${status.reason ?? ''}\n${build.stderr.slice(-2000)}`);
  if (!status.ok) return;

  const addonPath = join(pkg, 'native-bindings', 'build', 'Release', 'zcoll_native.node');
  const level = spawnSync(process.execPath, ['-e', `process.stdout.write(require(${JSON.stringify(addonPath)}).simdLevel())`], { encoding: 'utf8' });
  tt.match(level.stdout, process.arch === 'x64' ? /^sse2$/ : /^generic$/, 'the AVX2 paths are compiled out');

  const suite = spawnSync(process.execPath, [join(here, 'contract.test.js')], {
    env: { ...process.env, ZCOLL_NATIVE_PATH: addonPath },
    encoding: 'utf8',
    timeout: 120_000,
  });
  tt.equal(suite.status, 0, suite.stdout.split('\n').filter((l) => /not ok/.test(l)).join('\n'));
  tt.match(suite.stdout, /\nok \d+ - native equals js bit for bit/, 'the bit-for-bit comparison ran');
  tt.notMatch(suite.stdout, /# SKIP/, 'nothing skipped');
  // Signum's passes have explicit AVX2 paths; their portable loops run only in this build.
  const passes = spawnSync(process.execPath, [join(here, 'signum-passes.test.js')], {
    env: { ...process.env, ZCOLL_NATIVE_PATH: addonPath },
    encoding: 'utf8',
    timeout: 120_000,
  });
  tt.equal(passes.status, 0, passes.stdout.split('\n').filter((l) => /not ok/.test(l)).join('\n'));
  tt.match(passes.stdout, /\nok \d+ - native equals js bit for bit on the same random steps/, 'the portable Signum passes ran');
  tt.notMatch(passes.stdout, /# SKIP/, 'nothing skipped');
});
