// Makes the prebuilt addon that the npm package ships: native-bindings/prebuilds/<platform>-<arch>/
// node.napi[.glibc|.musl].node (the names node-gyp-build and prebuildify use: N-API, so one file
// serves every Node.js with N-API 8) plus manifest.json (its sha256, the sha256 of the sources it
// was built from, the compiler). `npm pack` / `npm publish` run it (prepack); so can `npm run prebuilds`.
//
// Reproducible: it builds in a fresh temporary copy of binding.gyp and src/ (never reusing objects
// of a checkout's build/), with the build-affecting variables (CC, CXX, CFLAGS, CXXFLAGS, LDFLAGS,
// ZCOLL_NATIVE_BASELINE, ...) removed and this node's own headers, so the same sources, compiler
// and node headers give the same bytes. `--check` rebuilds and fails unless the bytes equal the
// shipped prebuild; `--force` rebuilds even when the manifest says the prebuild is up to date.
// It builds for the machine it runs on only (no cross-compiling: no cross toolchain is assumed).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PREBUILD_MANIFEST, buildFromSource, fileSha256, sourcesHash } from './build-native.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bindings = join(root, 'native-bindings');
const args = new Set(process.argv.slice(2));

function libcTag() {
  if (process.platform !== 'linux') return undefined;
  const header = process.report?.getReport().header;
  return header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

function compilerVersion(env) {
  const cxx = env.CXX ?? 'c++';
  const r = spawnSync(cxx, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n')[0].trim() : `unknown (${cxx} --version failed)`;
}

function die(message) {
  process.stderr.write(`zcoll prebuild: ${message}\n`);
  process.exit(1);
}

/** The environment of the build: this one less whatever would change the compiled bytes. */
function buildEnv() {
  const env = { ...process.env, LC_ALL: 'C', SOURCE_DATE_EPOCH: '0' };
  for (const key of ['CC', 'CXX', 'CFLAGS', 'CXXFLAGS', 'CPPFLAGS', 'LDFLAGS', 'ZCOLL_NATIVE_BASELINE', 'npm_config_debug', 'npm_config_arch', 'npm_config_target']) delete env[key];
  // binding.gyp asks node for node-addon-api's include dir; from the temporary copy, NODE_PATH finds it.
  const addonApi = createRequire(join(root, 'package.json')).resolve('node-addon-api/package.json');
  env.NODE_PATH = dirname(dirname(addonApi));
  return env;
}

const tuple = `${process.platform}-${process.arch}`;
const libc = libcTag();
const fileName = ['node', 'napi', ...(libc ? [libc] : []), 'node'].join('.');
const outDir = join(bindings, 'prebuilds', tuple);
const outFile = join(outDir, fileName);
const manifestPath = join(outDir, PREBUILD_MANIFEST);
const env = buildEnv();
const sources = sourcesHash(bindings);
const compiler = compilerVersion(env);

function readManifest() {
  try {
    return JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch {
    return undefined;
  }
}

const existing = readManifest();
const upToDate =
  existing !== undefined && existsSync(outFile) && existing.file === fileName && existing.sources === sources && existing.compiler === compiler && existing.sha256 === fileSha256(outFile);
if (upToDate && !args.has('--force') && !args.has('--check')) {
  process.stdout.write(`zcoll prebuild: ${tuple}/${fileName} is up to date (sha256 ${existing.sha256})\n`);
  process.exit(0);
}

const stage = mkdtempSync(join(tmpdir(), 'zcoll-prebuild-'));
try {
  cpSync(join(bindings, 'binding.gyp'), join(stage, 'binding.gyp'));
  cpSync(join(bindings, 'src'), join(stage, 'src'), { recursive: true });
  const built = buildFromSource(stage, env);
  if (!built.ok) die(`build failed: ${built.reason}\n${built.output ?? ''}`);
  const sha256 = fileSha256(built.path);
  if (args.has('--check')) {
    if (!existsSync(outFile)) die(`--check: there is no ${tuple}/${fileName} to compare with`);
    const shipped = fileSha256(outFile);
    if (shipped !== sha256) die(`--check: rebuilt ${tuple}/${fileName} has sha256 ${sha256}, the shipped one ${shipped} (not reproduced)`);
    process.stdout.write(`zcoll prebuild: ${tuple}/${fileName} reproduced (sha256 ${sha256})\n`);
  } else {
    mkdirSync(outDir, { recursive: true });
    // A renamed flavour must not linger: node-gyp-build would pick among all .node files here.
    for (const name of readdirSync(outDir)) if (name.endsWith('.node')) rmSync(join(outDir, name));
    cpSync(built.path, outFile);
    const manifest = {
      file: fileName,
      platform: process.platform,
      arch: process.arch,
      ...(libc ? { libc } : {}),
      napi: 8,
      sha256,
      sources,
      compiler,
      nodeHeaders: process.version,
      ...(libc === 'glibc' ? { builtWithGlibc: process.report.getReport().header.glibcVersionRuntime } : {}),
      command: 'node scripts/prebuild.mjs',
    };
    writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    process.stdout.write(`zcoll prebuild: wrote ${tuple}/${fileName} (sha256 ${sha256})\n`);
  }
} finally {
  rmSync(stage, { recursive: true, force: true });
}
