// Provides the optional N-API addon of native-bindings/ at install time (the `install` script).
// First choice: the prebuilt addon the package ships (native-bindings/prebuilds/<platform>-<arch>/,
// made by scripts/prebuild.mjs), when node-gyp-build finds one for this platform, it loads, and it
// was built from exactly the sources in the package (its manifest's sources hash). Otherwise it
// builds from source with node-gyp. With --ignore-scripts this script never runs, and the loader
// (lib/kernels/native.ts, through node-gyp-build) still finds the prebuild: the source build is
// only the fallback for platforms without one.
//
// Never fails the install: without the addon, zcoll uses its JS kernels and the ZeroMQ-only
// transport, and this script says so once. After every attempt it writes
// native-bindings/build/zcoll-build.json ({ ok, source, reason, ... }) so the loader knows whether
// the addon was expected at run time.
//
// node-gyp is taken from, in order: npm's own (npm_config_node_gyp, set when npm runs us), the copy
// bundled with the npm next to this node binary, then `npx --no-install node-gyp`. Headers come from
// npm_config_nodedir when npm set it, else from this node's own prefix when it ships them (Debian's
// nodejs does in /usr/include/node), so no header download is needed.
// ZCOLL_SKIP_NATIVE=1 skips everything; ZCOLL_BUILD_FROM_SOURCE=1 (or npm's --build-from-source)
// ignores the prebuild, and so does ZCOLL_NATIVE_BASELINE=1 (it changes what is compiled);
// ZCOLL_DEBUG=1 prints the compiler output on failure.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const BUILD_TIMEOUT_MS = 10 * 60 * 1000;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'native-bindings');

/** The file the prebuild script writes next to each prebuilt addon. */
export const PREBUILD_MANIFEST = 'manifest.json';

export function nodeGypCommand() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return { cmd: process.execPath, args: [fromNpm] };
  const prefix = join(dirname(process.execPath), '..');
  for (const candidate of [
    join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ]) {
    if (existsSync(candidate)) return { cmd: process.execPath, args: [candidate] };
  }
  return { cmd: process.platform === 'win32' ? 'npx.cmd' : 'npx', args: ['--no-install', 'node-gyp'] };
}

export function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

/**
 * sha256 over binding.gyp and every file under src/ (relative path and bytes, in sorted order):
 * what a prebuild was made from. A checkout whose C++ changed no longer matches its prebuild.
 */
export function sourcesHash(bindingsDir) {
  const files = ['binding.gyp'];
  const walk = (d) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else files.push(relative(bindingsDir, p).split(sep).join('/'));
    }
  };
  walk(join(bindingsDir, 'src'));
  const h = createHash('sha256');
  for (const f of files.sort()) h.update(`${f}\0`).update(readFileSync(join(bindingsDir, f))).update('\0');
  return h.digest('hex');
}

export function fileSha256(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function writeStatus(status) {
  try {
    mkdirSync(join(dir, 'build'), { recursive: true });
    writeFileSync(
      join(dir, 'build', 'zcoll-build.json'),
      `${JSON.stringify({ ...status, node: process.version, abi: process.versions.modules, at: new Date().toISOString() }, null, 2)}\n`,
    );
  } catch {
    // A read-only install dir only costs the loader its hint; never fail the install for it.
  }
}

function fallBack(reason, output) {
  writeStatus({ ok: false, reason });
  process.stderr.write(`zcoll: native addon not built (${reason}); using JS kernels and the ZeroMQ-only transport\n`);
  if (process.env.ZCOLL_DEBUG && output) process.stderr.write(`${output}\n`);
}

function debug(line) {
  if (process.env.ZCOLL_DEBUG) process.stderr.write(`zcoll: ${line}\n`);
}

/** Loads `code` in a fresh node (a crash or a wrong ABI must not take this script down). */
function probeIn(code, env = process.env) {
  return spawnSync(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 60_000, env });
}

/**
 * The prebuilt addon for this platform when it is usable: node-gyp-build picks it exactly as the
 * loader will (PREBUILDS_ONLY, so a stale build/ of a checkout does not count), it loads, and its
 * manifest says it was built from the sources present here. Otherwise { path: undefined, why }.
 */
function usablePrebuild() {
  if (!existsSync(join(dir, 'prebuilds'))) return { path: undefined, why: 'no prebuilds/ folder' };
  let loader;
  try {
    loader = createRequire(join(root, 'package.json')).resolve('node-gyp-build');
  } catch {
    return { path: undefined, why: 'node-gyp-build is not installed' };
  }
  const r = probeIn(
    `const p = require(${JSON.stringify(loader)}).path(${JSON.stringify(dir)}); require(p).simdLevel(); process.stdout.write(p)`,
    { ...process.env, PREBUILDS_ONLY: '1' },
  );
  if (r.status !== 0) return { path: undefined, why: `no loadable prebuild: ${(r.stderr ?? '').trim().split('\n')[0]}` };
  const path = r.stdout;
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(dirname(path), PREBUILD_MANIFEST), 'utf8'));
  } catch (err) {
    return { path: undefined, why: `prebuild ${path} has no readable ${PREBUILD_MANIFEST}: ${err.message}` };
  }
  if (manifest.sources !== sourcesHash(dir)) return { path: undefined, why: `prebuild ${path} was built from other sources (stale)` };
  if (manifest.sha256 !== fileSha256(path)) return { path: undefined, why: `prebuild ${path} does not match its manifest's sha256` };
  return { path, why: undefined };
}

function forceSource() {
  const npmFlag = process.env.npm_config_build_from_source;
  return (
    process.env.ZCOLL_BUILD_FROM_SOURCE === '1' ||
    process.env.ZCOLL_NATIVE_BASELINE === '1' ||
    (npmFlag !== undefined && npmFlag !== '' && npmFlag !== 'false')
  );
}

/** node-gyp rebuild in `bindingsDir`; returns { ok: true } or { ok: false, reason, output }. */
export function buildFromSource(bindingsDir, env = process.env) {
  const { cmd, args } = nodeGypCommand();
  const r = spawnSync(cmd, [...args, 'rebuild', '--jobs=max', ...nodedirArgs()], {
    cwd: bindingsDir,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    timeout: BUILD_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
    env,
  });
  const output = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim();
  if (r.error) return { ok: false, reason: `could not run node-gyp: ${r.error.message}`, output };
  if (r.status !== 0) {
    const lastError = output.split('\n').filter((line) => /error/i.test(line)).slice(0, 1)[0];
    return { ok: false, reason: `node-gyp exited with ${r.status ?? r.signal}${lastError ? `: ${lastError.trim()}` : ''}`, output };
  }
  // A build that links but cannot be loaded (wrong ABI, missing symbol) is a failed build too.
  const addonPath = join(bindingsDir, 'build', 'Release', 'zcoll_native.node');
  const probe = probeIn(`require(${JSON.stringify(addonPath)}).simdLevel()`, env);
  if (probe.status !== 0) return { ok: false, reason: `built addon does not load: ${(probe.stderr ?? '').split('\n')[0]}`, output: probe.stderr };
  return { ok: true, path: addonPath };
}

function main() {
  if (process.env.ZCOLL_SKIP_NATIVE === '1' || !existsSync(join(dir, 'binding.gyp'))) return;
  if (!forceSource()) {
    const prebuild = usablePrebuild();
    if (prebuild.path !== undefined) {
      writeStatus({ ok: true, source: 'prebuild', path: relative(dir, prebuild.path) });
      return;
    }
    debug(`building the addon from source: ${prebuild.why}`);
  }
  const built = buildFromSource(dir);
  if (!built.ok) return fallBack(built.reason, built.output);
  writeStatus({ ok: true, source: 'build' });
}

// Run only as a script: scripts/prebuild.mjs imports the helpers above.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main();
  } catch (err) {
    fallBack(`unexpected error: ${err instanceof Error ? err.message : String(err)}`, '');
  }
  process.exit(0);
}
